/* Retained sizes: what freeing an object would free, from the dominator tree
 * of the heap under one super-root whose successors are the roots; and the
 * leak suspects found by walking that tree down to accumulation points. */
#ifndef PYLEAK_RETAINED_H
#define PYLEAK_RETAINED_H

#include <stdbool.h>
#include <stdint.h>

#include "coredump/idle.h"
#include "graph.h"
#include "roots.h"

struct pl_retained {
	uint32_t *idom;          /* per node, see pl_dominators */
	uint64_t *retained;      /* per node: bytes it alone keeps alive */
	uint64_t *type_retained; /* per type: retained by its outermost instances */
	uint64_t reachable_bytes, reachable_objects;
	/* dominator tree children, CSR */
	uint32_t *coff, *child;
};

/* The dominator tree from roots (the nodes pl_roots_collect found), with
 * the refcount residue (pl_roots_held_from_c) added as pl_roots_reach adds
 * it: so it needs neither the BFS nor its result, and runs beside it.
 * idle (or NULL): the arrays it writes after the dominators are offered there
 * while the dominators are computed, for a thread that has finished its
 * own work (the BFS) to map in, and part of the dominators' work; the offer
 * is closed when they are done, and on every way out. */
struct pl_error *pl_retained_compute(struct pl_graph *g, const uint32_t *roots, size_t nroots,
				     struct pl_retained *out, struct pl_idle *idle);
/* type_retained, from the tree pl_retained_compute made. */
struct pl_error *pl_retained_types(const struct pl_graph *g, struct pl_retained *rt);
/* The same on two threads: one makes the work (new) and runs it (run), the
 * other helps once it can (help; it waits for run to have cut the work into
 * units); when both are back, done adds up their sums. new: NULL when out
 * of memory. */
struct pl_types_work;
struct pl_types_work *pl_retained_types_new(const struct pl_graph *g, struct pl_retained *rt);
struct pl_error *pl_retained_types_run(struct pl_types_work *w);
struct pl_error *pl_retained_types_help(struct pl_types_work *w);
struct pl_error *pl_retained_types_done(struct pl_types_work *w);
void pl_retained_types_free(struct pl_types_work *w);
void pl_retained_release(struct pl_retained *rt);

struct pl_suspect {
	uint32_t node;           /* the accumulation point */
	uint64_t retained;
	uint64_t items;          /* its items (list/dict/set/deque length) or dominated children */
	uint32_t part_type;      /* the type that makes up most of what it holds */
	uint64_t part_count;
	char part_via[64];       /* ".__self__" when each child holds it through that edge */
	bool long_lived;         /* an old-generation container holding mostly young objects */
};

/* Suspects: objects reached from a global, a frame or C that retain at least
 * min_share of the reachable heap (and min_bytes), walked down while one child
 * holds most of it. Sorted by retained bytes. */
struct pl_error *pl_suspects(struct pl_graph *g, const struct pl_roots *r,
			     const struct pl_retained *rt, double min_share, uint64_t min_bytes,
			     struct pl_suspect **out, size_t *n);

#endif
