#include "config.h"
#include "dominators.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define SKIP (UINT32_MAX - 1)   /* dfn of a node left out of the search */

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
 * (numbers from *N on). The stack holds dfs numbers; cursor[k] is the next
 * edge to look at for stack entry k (for the super-root: next root). */
static void search(const uint32_t *off, const uint32_t *dst, const uint32_t *roots, size_t from,
		   size_t nroots, uint32_t *dfn, uint32_t *vertex, uint32_t *parent,
		   uint32_t *cursor, uint32_t *stack, uint32_t n, uint32_t *N)
{
	uint32_t sp = 0, next = *N;
	stack[sp] = 0;
	cursor[sp++] = 0;
	size_t ri = from;
	while (sp) {
		uint32_t v = stack[sp - 1];
		uint32_t w = NONE;
		if (v == 0) {
			while (ri < nroots && w == NONE) {
				uint32_t r = roots[ri++];
				if (r < n && dfn[r] == NONE)
					w = r;
			}
		} else {
			uint32_t node = vertex[v];
			while (cursor[sp - 1] < off[node + 1] && w == NONE) {
				uint32_t t = dst[cursor[sp - 1]++];
				if (dfn[t] == NONE)
					w = t;
			}
		}
		if (w == NONE) {
			sp--;
			continue;
		}
		dfn[w] = next;
		vertex[next] = w;
		parent[next] = v;
		stack[sp] = next;
		cursor[sp++] = off[w];
		next++;
	}
	*N = next;
}

struct pl_error *pl_dominators(uint32_t n, const uint32_t *off, const uint32_t *dst,
			       const uint32_t *roff, const uint32_t *rsrc, const uint32_t *roots,
			       size_t nroots, bool (*more)(void *ctx, uint32_t v), void *ctx,
			       uint32_t *idom, uint32_t *order, uint32_t *norder)
{
	/* dfs numbers: 0 is the super-root, 1..N-1 reached nodes */
	uint32_t *dfn = malloc(((size_t)n + 1) * sizeof(*dfn));
	uint32_t *vertex = malloc(((size_t)n + 2) * sizeof(*vertex));
	uint32_t *parent = malloc(((size_t)n + 2) * sizeof(*parent));
	uint32_t *semi = malloc(((size_t)n + 2) * sizeof(*semi));
	uint32_t *ancestor = malloc(((size_t)n + 2) * sizeof(*ancestor));
	uint32_t *label = malloc(((size_t)n + 2) * sizeof(*label));
	uint32_t *cursor = malloc(((size_t)n + 2) * sizeof(*cursor));  /* DFS stack, then scratch */
	bool *is_root = calloc(n ? n : 1, 1);
	struct pl_error *err = NULL;
	/* dom starts as the DFS parent and parents are only read before the
	 * NCA pass rewrites them: one array serves both */
	uint32_t *dom = parent;
	if (!dfn || !vertex || !parent || !semi || !ancestor || !label || !cursor || !is_root) {
		err = pl_error(PL_E_NOMEM, "out of memory computing dominators");
		goto out;
	}
	/* roots are successors of the super-root: mark them */
	for (size_t i = 0; i < nroots; i++)
		if (roots[i] < n)
			is_root[roots[i]] = true;
	/* A node without successors and with one predecessor (most str, int
	 * and float objects) is dominated by that predecessor and dominates
	 * nothing: it is left out of the search (dfn SKIP) and given its
	 * dominator at the end. */
	for (uint32_t v = 0; v < n; v++)
		dfn[v] = off[v] == off[v + 1] && roff[v + 1] - roff[v] == 1 && !is_root[v] ? SKIP : NONE;
	uint32_t N = 1;
	vertex[0] = NONE;
	parent[0] = NONE;
	/* order doubles as the DFS stack: it is only filled at the end */
	search(off, dst, roots, 0, nroots, dfn, vertex, parent, cursor, order, n, &N);
	if (more) {
		/* more roots: the nodes the predicate picks among those the roots
		 * do not reach, all chosen before the search goes on from them.
		 * A left-out node is reached when its one predecessor is. */
		uint32_t *extra = NULL;
		size_t nextra = 0, cap = 0;
		for (uint32_t v = 0; v < n; v++) {
			if (dfn[v] == SKIP ? dfn[rsrc[roff[v]]] < N : dfn[v] != NONE)
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
			is_root[extra[i]] = true;
			if (dfn[extra[i]] == SKIP)
				dfn[extra[i]] = NONE;
		}
		search(off, dst, extra, 0, nextra, dfn, vertex, parent, cursor, order, n, &N);
		free(extra);
	}
	for (uint32_t i = 0; i < N; i++) {
		semi[i] = i;
		label[i] = i;
		ancestor[i] = NONE;
	}
	for (uint32_t w = N - 1; w >= 1; w--) {
		uint32_t node = vertex[w];
		if (is_root[node])
			semi[w] = 0;
		for (uint32_t e = roff[node]; e < roff[node + 1]; e++) {
			uint32_t v = dfn[rsrc[e]];
			if (v == NONE)
				continue;
			uint32_t u = v;
			if (ancestor[v] != NONE) {
				compress(v, ancestor, label, semi, cursor);
				u = label[v];
			}
			if (semi[u] < semi[w])
				semi[w] = semi[u];
		}
		label[w] = w;
		ancestor[w] = parent[w];
	}
	/* idom: the nearest common ancestor step */
	for (uint32_t w = 1; w < N; w++)
		while (dom[w] > semi[w])
			dom[w] = dom[dom[w]];
	for (uint32_t i = 0; i < n; i++)
		idom[i] = NONE;
	for (uint32_t w = 1; w < N; w++)
		idom[vertex[w]] = dom[w] == 0 ? PL_DOM_SUPER : vertex[dom[w]];
	for (uint32_t w = 1; w < N; w++)
		order[w - 1] = vertex[w];
	uint32_t no = N - 1;
	/* the left-out nodes: after every node that can dominate them */
	for (uint32_t v = 0; v < n; v++) {
		if (dfn[v] != SKIP)
			continue;
		uint32_t p = rsrc[roff[v]];
		if (dfn[p] < N) {   /* reached: p was searched (it has a successor) */
			idom[v] = p;
			order[no++] = v;
		}
	}
	*norder = no;
out:
	free(is_root);
	free(dfn);
	free(vertex);
	free(parent);
	free(semi);
	free(ancestor);
	free(label);
	free(cursor);
	return err;
}
