/* Rendering of graph answers: referents and referrers of an object, cycle
 * groups, the gc summary and the object export with edges. */
#ifndef PYLEAK_RENDER_GRAPHOUT_H
#define PYLEAK_RENDER_GRAPHOUT_H

#include <stdio.h>

#include "census.h"
#include "graph/cycles.h"
#include "graph/graph.h"
#include "graph/roots.h"

void pl_render_refs(FILE *out, const struct pl_graph *g, uint32_t node, bool referrers,
		    enum pl_format fmt);
void pl_render_cycles(FILE *out, const struct pl_graph *g, const struct pl_cycles *c, size_t top,
		      enum pl_format fmt);
/* The cycles JSON object without a trailing newline (for the report). */
void pl_json_cycles(FILE *out, const struct pl_graph *g, const struct pl_cycles *c, size_t top);
/* The same table without the summary lines (the report prints those once). */
void pl_render_cycles_table(FILE *out, const struct pl_graph *g, const struct pl_cycles *c,
			    size_t top, enum pl_format fmt);
/* One sentence on what gc.collect() would free now, with warnings about the
 * gc state ("gc is disabled; ..."). */
void pl_render_gc_summary(FILE *out, const struct pl_graph *g, const struct pl_cycles *c,
			  enum pl_format fmt);
void pl_render_objects_graph(FILE *out, const struct pl_graph *g, const char *type_filter,
			     enum pl_format fmt);
/* "Node.children → list[0] → Node.parent" into buf */
const char *pl_cycle_path_str(const struct pl_graph *g, const struct pl_cycles *c, uint32_t start,
			      char *buf, size_t len);
/* ,"root":{"kind":..,"label":..}|null,"chain":[{"addr","type","edge"}...] */
void pl_json_root_chain(FILE *out, const struct pl_graph *g, const struct pl_roots *r,
			uint32_t node);
/* The shortest chain from a root to node, as a path and hop by hop. */
void pl_render_chain(FILE *out, const struct pl_graph *g, const struct pl_roots *r, uint32_t node,
		     enum pl_format fmt);
/* objgraph's show_backrefs as text: the referrers of node, their referrers...
 * up to max_depth, at most too_many per object (the rest counted), stopping
 * at roots (named) and at objects already shown. */
void pl_render_backrefs(FILE *out, const struct pl_graph *g, const struct pl_roots *r,
			uint32_t node, size_t max_depth, size_t too_many, enum pl_format fmt);
/* "list", "Node": the type name without its module */
const char *pl_short_type(const char *name);

#endif
