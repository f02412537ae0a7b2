#include "config.h"
#include "dominators.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* dfn values of the nodes not reached (yet); reached ones are below N */
#define NONE UINT32_MAX
#define SKIP (UINT32_MAX - 1)   /* left out of the search */
#define ONE (UINT32_MAX - 2)    /* one predecessor, not a root: its semi is known */

#define DOM_AHEAD 8     /* predecessors whose data is fetched ahead */
#define PROBE_LAST 16   /* more predecessors: the last one is looked at first */

/* is_root: a bit per node */
static void bit_set(uint64_t *bits, uint32_t v)
{
	bits[v / 64] |= (uint64_t)1 << (v % 64);
}

static bool bit_test(const uint64_t *bits, uint32_t v)
{
	return bits[v / 64] >> (v % 64) & 1;
}

/* Path compression on the forest of processed vertices (dfs numbers): after
 * it, label[v] is the vertex of least semi on the path from v up to (not
 * including) the root of its tree. Iterative, with an explicit stack. */
static void compress(uint32_t v, uint32_t *ancestor, uint32_t *label, const uint32_t *semi,
		     uint32_t *stack)
{
	uint32_t sp = 0;
	while (ancestor[ancestor[v]] != NONE) {
		stack[sp++] = v;
		v = ancestor[v];
	}
	while (sp) {
		uint32_t x = stack[--sp];
		uint32_t a = ancestor[x];
		if (semi[label[a]] < semi[label[x]])
			label[x] = label[a];
		ancestor[x] = ancestor[a];
	}
}

/* The iterative DFS from the super-root's successors roots[from..nroots)
 * (numbers from *N on). order[d - 1] receives the node numbered d (the
 * super-root, 0, has no entry). The stack holds dfs numbers; cursor[k] is
 * the next edge to look at for stack entry k (for the super-root: next root).
 * A node's semi starts as its own number, or, when its one predecessor is
 * the parent the search reached it from, as the parent's: final already. */
static void search(const uint32_t *off, const uint32_t *dst, const uint32_t *roots, size_t from,
		   size_t nroots, uint32_t *dfn, uint32_t *order, uint32_t *parent, uint32_t *semi,
		   uint32_t *cursor, uint32_t *stack, uint32_t n, uint32_t *N)
{
	uint32_t sp = 0, next = *N;
	stack[sp] = 0;
	cursor[sp++] = 0;
	size_t ri = from;
	while (sp) {
		uint32_t v = stack[sp - 1];
		uint32_t w = NONE, d = NONE;
		if (v == 0) {
			while (ri < nroots && w == NONE) {
				uint32_t r = roots[ri++];
				if (r < n && dfn[r] == NONE)   /* roots are never ONE */
					w = r;
			}
		} else {
			uint32_t node = order[v - 1];
			while (cursor[sp - 1] < off[node + 1] && w == NONE) {
				uint32_t t = dst[cursor[sp - 1]++];
				if ((d = dfn[t]) == NONE || d == ONE)
					w = t;
			}
		}
		if (w == NONE) {
			sp--;
			continue;
		}
		dfn[w] = next;
		order[next - 1] = w;
		parent[next] = v;
		semi[next] = d == ONE ? v : next;
		stack[sp] = next;
		cursor[sp++] = off[w];
		next++;
	}
	*N = next;
}

/* The nodes left out of the search, once it is over (dfn final): each
 * reached one gets its predecessor as dominator, and goes after the
 * searched ones in order; idom starts as NONE for all the others. Alone of
 * the rest: another thread may do it while the semidominators are found. */
struct skip_pass {
	uint32_t n, N;
	const uint32_t *dfn, *roff, *rsrc;
	uint32_t *idom, *tail;   /* tail: order + N - 1 */
	uint32_t ntail;
};

static void skip_pass(void *arg)
{
	struct skip_pass *k = arg;
	uint32_t nt = 0;
	for (uint32_t v = 0; v < k->n; v++) {
		uint32_t d = NONE;
		if (k->dfn[v] == SKIP) {
			uint32_t p = k->rsrc[k->roff[v]];
			if (k->dfn[p] < k->N) {   /* reached: p was searched (it has a successor) */
				d = p;
				k->tail[nt++] = v;
			}
		}
		k->idom[v] = d;
	}
	k->ntail = nt;
}

struct pl_error *pl_dominators(uint32_t n, const uint32_t *off, const uint32_t *dst,
			       const uint32_t *roff, const uint32_t *rsrc, const uint32_t *roots,
			       size_t nroots, bool (*more)(void *ctx, uint32_t v), void *ctx,
			       uint32_t *idom, uint32_t *order, uint32_t *norder)
{
	return pl_dominators_idle(n, off, dst, roff, rsrc, roots, nroots, more, ctx, idom, order,
				  norder, NULL, NULL);
}

struct pl_error *pl_dominators_idle(uint32_t n, const uint32_t *off, const uint32_t *dst,
				    const uint32_t *roff, const uint32_t *rsrc, const uint32_t *roots,
				    size_t nroots, bool (*more)(void *ctx, uint32_t v), void *ctx,
				    uint32_t *idom, uint32_t *order, uint32_t *norder,
				    struct pl_idle *idle, const struct pl_dom_scratch *scratch)
{
	const struct pl_dom_scratch none = { 0 };
	const struct pl_dom_scratch *lent = scratch ? scratch : &none;
	/* dfs numbers: 0 is the super-root, 1..N-1 reached nodes */
	uint32_t *dfn = lent->dfn ? lent->dfn : malloc(((size_t)n + 2) * sizeof(*dfn));
	uint32_t *parent = malloc(((size_t)n + 2) * sizeof(*parent));
	uint32_t *semi = malloc(((size_t)n + 2) * sizeof(*semi));
	uint32_t *ancestor = lent->ancestor ? lent->ancestor : malloc(((size_t)n + 2) * sizeof(*ancestor));
	uint32_t *label = lent->label ? lent->label : malloc(((size_t)n + 2) * sizeof(*label));
	/* DFS stack, then scratch */
	uint32_t *cursor = lent->cursor ? lent->cursor : malloc(((size_t)n + 2) * sizeof(*cursor));
	/* a bit per node */
	uint64_t *is_root = malloc(((size_t)n / 64 + 1) * sizeof(*is_root));
	struct pl_error *err = NULL;
	/* dom starts as the DFS parent and parents are only read before the
	 * NCA pass rewrites them: one array serves both */
	uint32_t *dom = parent;
	if (n >= ONE) {
		err = pl_error(PL_E_NOMEM, "too many objects for the dominator tree (%u)", n);
		goto out;
	}
	if (!dfn || !parent || !semi || !ancestor || !label || !cursor || !is_root) {
		err = pl_error(PL_E_NOMEM, "out of memory computing dominators");
		goto out;
	}
	/* roots are successors of the super-root: mark them (in zeroed
	 * memory written before read: fresh zero pages read first would be
	 * faulted twice, once more when a root is marked) */
	memset(is_root, 0, ((size_t)n / 64 + 1) * sizeof(*is_root));
	for (size_t i = 0; i < nroots; i++)
		if (roots[i] < n)
			bit_set(is_root, roots[i]);
	/* A node with one predecessor (and not a root) is dominated by it:
	 * most of a heap's nodes. With no successors either (most str, int
	 * and float objects) it dominates nothing: it is left out of the
	 * search (dfn SKIP) and given its dominator at the end. With some it
	 * is searched (ONE until reached), but its semidominator needs no
	 * look at its predecessors. */
	for (uint32_t v = 0; v < n; v++)
		dfn[v] = roff[v + 1] - roff[v] != 1 || bit_test(is_root, v) ? NONE
			 : off[v] == off[v + 1]                   ? SKIP
								  : ONE;
	uint32_t N = 1;
	parent[0] = NONE;
	semi[0] = 0;
	/* order[d - 1] is the node numbered d (the vertex of Lengauer-Tarjan)
	 * from the search on, and ancestor, set only after it, is its stack */
	search(off, dst, roots, 0, nroots, dfn, order, parent, semi, cursor, ancestor, n, &N);
	if (more) {
		/* more roots: the nodes the predicate picks among those the roots
		 * do not reach, all chosen before the search goes on from them.
		 * A left-out node is reached when its one predecessor is. */
		uint32_t *extra = NULL;
		size_t nextra = 0, cap = 0;
		for (uint32_t v = 0; v < n; v++) {
			if (dfn[v] == SKIP ? dfn[rsrc[roff[v]]] < N : dfn[v] < N)
				continue;
			if (!more(ctx, v))
				continue;
			if (nextra == cap) {
				cap = cap ? cap * 2 : 256;
				uint32_t *ne = realloc(extra, cap * sizeof(*ne));
				if (!ne) {
					free(extra);
					err = pl_error(PL_E_NOMEM, "out of memory computing dominators");
					goto out;
				}
				extra = ne;
			}
			extra[nextra++] = v;
		}
		for (size_t i = 0; i < nextra; i++) {
			bit_set(is_root, extra[i]);
			dfn[extra[i]] = NONE;   /* from SKIP or ONE: a root now */
		}
		search(off, dst, extra, 0, nextra, dfn, order, parent, semi, cursor, ancestor, n, &N);
		free(extra);
	}
	/* the search is over: order is free from N - 1 on */
	struct skip_pass sk = { n, N, dfn, roff, rsrc, idom, order + N - 1, 0 };
	if (idle)
		pl_idle_offer_job(idle, skip_pass, &sk);
	for (uint32_t i = 0; i < N; i++) {
		label[i] = i;
		ancestor[i] = NONE;
	}
	for (uint32_t w = N - 1; w >= 1; w--) {
		if (semi[w] == w) {   /* else one predecessor, the parent: semi is final */
			uint32_t node = order[w - 1];
			if (bit_test(is_root, node))
				semi[w] = 0;
			/* a type object has as many predecessors as instances: their
			 * data is fetched ahead, in two stages, and the look stops
			 * as soon as one of them gives the super-root */
			uint32_t end = roff[node + 1];
			/* the referrer that gives the super-root is often the
			 * last one (a type's instances, then the held-from-C
			 * object that holds it): looked at first */
			if (end - roff[node] > PROBE_LAST) {
				uint32_t v = dfn[rsrc[end - 1]];
				if (v < N && ancestor[v] != NONE) {
					compress(v, ancestor, label, semi, cursor);
					if (semi[label[v]] == 0)
						semi[w] = 0;
				}
			}
			for (uint32_t e = roff[node]; e < end && semi[w]; e++) {
				if (e + 2 * DOM_AHEAD < end)
					__builtin_prefetch(&dfn[rsrc[e + 2 * DOM_AHEAD]]);
				if (e + DOM_AHEAD < end) {
					uint32_t a = dfn[rsrc[e + DOM_AHEAD]];
					if (a < N) {
						__builtin_prefetch(&ancestor[a]);
						__builtin_prefetch(&label[a]);
					}
				}
				uint32_t v = dfn[rsrc[e]];
				if (v >= N)   /* not reached */
					continue;
				/* v itself when not processed yet (its semi may
				 * be set ahead, when it has one predecessor) */
				uint32_t sv = v;
				if (ancestor[v] != NONE) {
					compress(v, ancestor, label, semi, cursor);
					sv = semi[label[v]];
				}
				if (sv < semi[w] && (semi[w] = sv) == 0)
					break;   /* the least there is: the super-root */
			}
		}
		ancestor[w] = parent[w];
	}
	/* idom: the nearest common ancestor step */
	for (uint32_t w = 1; w < N; w++)
		while (dom[w] > semi[w])
			dom[w] = dom[dom[w]];
	if (idle)
		pl_idle_finish_job(idle);
	else
		skip_pass(&sk);
	for (uint32_t w = 1; w < N; w++)
		idom[order[w - 1]] = dom[w] == 0 ? PL_DOM_SUPER : order[dom[w] - 1];
	*norder = N - 1 + sk.ntail;
out:
	free(is_root);
	free(parent);
	free(semi);
	if (dfn != lent->dfn)
		free(dfn);
	if (ancestor != lent->ancestor)
		free(ancestor);
	if (label != lent->label)
		free(label);
	if (cursor != lent->cursor)
		free(cursor);
	return err;
}
