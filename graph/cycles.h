/* Unreachable objects grouped into cycles: strongly connected components of
 * the unreachable subgraph, each with what it alone holds (unreachable
 * objects it reaches that belong to no cycle), then cycles of the same shape
 * (same type composition) grouped for the report. */
#ifndef PYLEAK_CYCLES_H
#define PYLEAK_CYCLES_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"

struct pl_cycle_group {
	uint32_t ncycles;          /* cycles of this shape */
	uint32_t sample;           /* a node of one of them */
	uint64_t objects, bytes;   /* all cycles of the group, members and what they hold */
	uint64_t members;          /* objects in the cycles themselves */
	uint32_t *types;           /* type index, count pairs of one cycle (2 * ntypes) */
	uint32_t ntypes;
	bool has_finalizers;       /* a member's type has tp_finalize (__del__) */
	bool legacy_finalizer;     /* a member's type has tp_del: uncollectable */
	uint32_t finalized;        /* members whose finalizer already ran */
	uint32_t in_garbage;       /* members already in gc.garbage */
};

struct pl_cycles {
	uint32_t *comp;            /* per node: cycle id, or PL_NONE */
	uint32_t ncomp;            /* cycles (SCCs of size > 1, or with a self edge) */
	struct pl_cycle_group *groups;
	uint32_t ngroups;          /* sorted by bytes, largest first */
	uint64_t cyclic_objects, held_objects;
};

struct pl_error *pl_cycles_find(struct pl_graph *g, struct pl_cycles *c);
void pl_cycles_release(struct pl_cycles *c);

/* A path around the cycle containing node `start`: fills up to max node ids
 * (the first repeated at the end is implied); returns the length. */
uint32_t pl_cycle_path(const struct pl_graph *g, const struct pl_cycles *c, uint32_t start,
		       uint32_t *path, uint32_t max);

#endif
