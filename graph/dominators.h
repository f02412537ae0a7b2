/* Immediate dominators over a graph with a virtual super-root whose
 * successors are the given roots: Semi-NCA (Lengauer-Tarjan semidominators
 * with path compression, then nearest common ancestors), iterative, O(E log V).
 * Nodes with no successors and one predecessor (most of a heap's str and
 * int objects) are left out of the search and given that predecessor;
 * searched nodes with one predecessor skip the semidominator step.
 * A pure function of CSR arrays, so it is tested on its own. */
#ifndef PYLEAK_DOMINATORS_H
#define PYLEAK_DOMINATORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coredump/error.h"
#include "coredump/idle.h"

#define PL_DOM_SUPER UINT32_MAX - 1   /* "dominated by the super-root only" */

/* idom[v] receives: the node that immediately dominates v; PL_DOM_SUPER when
 * only the super-root does (v is a root or reached from several roots);
 * UINT32_MAX when v is not reachable from the roots. order receives the
 * reached nodes, each after its immediate dominator: the searched ones in
 * DFS preorder, then the nodes left out of the search (no successors, one
 * predecessor: their dominator is it). *norder is their count.
 * off/dst: successors; roff/rsrc: predecessors (reverse CSR).
 * more, if not NULL, adds roots after the search from roots: every node
 * those do not reach for which more(ctx, node) is true, taken in node order
 * (the refcount residue, which is defined by what the other roots reach). */
struct pl_error *pl_dominators(uint32_t n, const uint32_t *off, const uint32_t *dst,
			       const uint32_t *roff, const uint32_t *rsrc, const uint32_t *roots,
			       size_t nroots, bool (*more)(void *ctx, uint32_t v), void *ctx,
			       uint32_t *idom, uint32_t *order, uint32_t *norder);
/* Working memory the caller lends (memory it writes only later, so that
 * the search needs fewer fresh pages): each pointer is NULL (allocated
 * here) or an array of n + 2 elements whose contents are not kept. */
struct pl_dom_scratch {
	uint32_t *dfn, *ancestor, *label, *cursor;
};
/* The same; idle (or NULL): part of the work (the nodes left out of the
 * search) is offered there to a thread with nothing else to do; scratch
 * (or NULL) lends working memory. */
struct pl_error *pl_dominators_idle(uint32_t n, const uint32_t *off, const uint32_t *dst,
				    const uint32_t *roff, const uint32_t *rsrc, const uint32_t *roots,
				    size_t nroots, bool (*more)(void *ctx, uint32_t v), void *ctx,
				    uint32_t *idom, uint32_t *order, uint32_t *norder,
				    struct pl_idle *idle, const struct pl_dom_scratch *scratch);

#endif
