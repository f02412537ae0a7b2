/* The object graph of the dead process: dense node ids (the census's gc
 * objects first, then every object they reach that gc does not track: str,
 * int, code, static types ...), edges in CSR form exactly as tp_traverse
 * visits them, and what gc.collect() would do with it. */
#ifndef PYLEAK_GRAPH_H
#define PYLEAK_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "coredump/error.h"
#include "coredump/objects.h"
#include "coredump/traverse.h"

#define PL_NONE UINT32_MAX

struct pl_graph {
	struct pl_heap *h;
	uint32_t n;              /* nodes: h->objs[0..n) */
	uint32_t ntracked;       /* the first ntracked are on gc lists */
	uint32_t *off;           /* n + 1 */
	uint32_t *dst;           /* edges */
	size_t off_bytes, dst_bytes; /* their arrays' sizes (coredump/bigarray.h) */
	uint64_t nedges;
	/* per node, in h->objs[i].flags: how its edges were found (pl_trav_of)
	 * and whether gc would free it (pl_unreachable) */
	uint32_t ninferred;      /* nodes whose edges are inferred */
	uint32_t nerrors;        /* nodes whose traversal hit unreadable memory */
	uint64_t wild;           /* referents that were not readable objects (dropped) */
	/* reverse edges, built by pl_graph_reverse() */
	uint32_t *roff, *rsrc;
	/* gc arithmetic (pl_graph_gc) */
	int32_t *ext;            /* refcnt - references from collectable objects,
	                          * saturated at INT32_MAX (immortal objects) */
	bool gc_done;            /* pl_graph_gc ran: ext (of the tracked nodes)
	                          * and unreachable are set */
	bool ext_untracked;      /* pl_graph_ext_untracked ran: all of ext is */
	uint32_t nunreachable;
	uint64_t unreachable_bytes;
	uint32_t nnegative;      /* objects with ext < 0 (damage or a missed edge) */
};

static inline enum pl_trav pl_trav_of(const struct pl_graph *g, uint32_t i)
{
	return (enum pl_trav)((g->h->objs[i].flags & PL_OF_TRAV_MASK) >> PL_OF_TRAV_SHIFT);
}

static inline bool pl_unreachable(const struct pl_graph *g, uint32_t i)
{
	return (g->h->objs[i].flags & PL_OF_UNREACHABLE) != 0;
}

/* Build nodes and edges from a census. */
struct pl_error *pl_graph_build(struct pl_heap *h, struct pl_graph *g);
/* The same from a staged census (pl_census_stage, which set `staged`): its
 * objects are taken as the build reaches them. When one cannot be, the
 * census is done again one node at a time (pl_census_one_by_one) and the
 * graph built from it. */
struct pl_error *pl_graph_build_staged(struct pl_heap *h, struct pl_graph *g, size_t staged);
void pl_graph_release(struct pl_graph *g);
struct pl_error *pl_graph_reverse(struct pl_graph *g);
/* Is node i one gc would examine in a full collection (generations 0-2,
 * not immortal)? */
bool pl_graph_collectable(const struct pl_graph *g, uint32_t i);
/* Reproduce gc.collect(2): ext refs (of the gc-tracked nodes, the only
 * ones gc looks at), roots, the unreachable set. */
struct pl_error *pl_graph_gc(struct pl_graph *g);
/* After pl_graph_gc: the untracked nodes' ext refs too (for an export). */
void pl_graph_ext_untracked(struct pl_graph *g);
/* Node id of an address, or PL_NONE. */
uint32_t pl_graph_node(const struct pl_graph *g, uint64_t addr);



/* Label of the edge src -> dst (the first such edge in traversal order),
 * computed by traversing src again: ".children", "[3]", "['key']"... */
const char *pl_graph_edge_label(const struct pl_graph *g, uint32_t src, uint32_t dst, char *buf,
				size_t len);
#endif
