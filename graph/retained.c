#include "config.h"
#include "retained.h"

#include <stdlib.h>
#include <string.h>

#include "coredump/program.h"
#include "dominators.h"

void pl_retained_release(struct pl_retained *rt)
{
	free(rt->idom);
	free(rt->retained);
	free(rt->type_retained);
	free(rt->coff);
	free(rt->child);
	memset(rt, 0, sizeof(*rt));
}

/* The dominator tree's children (CSR, in preorder), beside the sums. */
struct children {
	struct pl_retained *rt;
	const uint32_t *order;
	uint32_t n, norder;
	bool nomem;
};

static void *children(void *arg)
{
	struct children *c = arg;
	struct pl_retained *rt = c->rt;
	uint32_t n = c->n;
	/* written before read: fresh zero pages read first would each be
	 * faulted twice (the zero page, then a copy) */
	memset(rt->coff, 0, ((size_t)n + 2) * sizeof(*rt->coff));
	for (uint32_t i = 0; i < c->norder; i++)
		if (rt->idom[c->order[i]] < n)
			rt->coff[rt->idom[c->order[i]] + 1]++;
	for (uint32_t i = 0; i < n; i++)
		rt->coff[i + 1] += rt->coff[i];
	rt->child = malloc(((size_t)rt->coff[n] + 1) * sizeof(*rt->child));
	uint32_t *fill = malloc(((size_t)n + 1) * sizeof(*fill));
	if (!rt->child || !fill) {
		free(fill);
		c->nomem = true;
		return NULL;
	}
	memcpy(fill, rt->coff, ((size_t)n + 1) * sizeof(*fill));
	for (uint32_t i = 0; i < c->norder; i++)
		if (rt->idom[c->order[i]] < n)
			rt->child[fill[rt->idom[c->order[i]]]++] = c->order[i];
	free(fill);
	return NULL;
}

#define SUM_AHEAD 8   /* nodes whose data is fetched ahead of the sums */

struct pl_error *pl_retained_compute(struct pl_graph *g, const uint32_t *roots, size_t nroots,
				     struct pl_retained *rt, struct pl_idle *idle)
{
	memset(rt, 0, sizeof(*rt));
	struct pl_heap *h = g->h;
	struct pl_error *err = pl_graph_reverse(g);
	if (err)
		return err;
	uint32_t n = g->n, norder = 0;
	uint32_t *order = malloc(((size_t)n + 2) * sizeof(*order));
	rt->idom = malloc(((size_t)n + 1) * sizeof(*rt->idom));
	rt->retained = malloc(((size_t)n + 1) * sizeof(*rt->retained));
	rt->coff = malloc(((size_t)n + 2) * sizeof(*rt->coff));
	if (!order || !rt->idom || !rt->retained || !rt->coff) {
		err = pl_error(PL_E_NOMEM, "out of memory computing retained sizes");
		goto out;
	}
	/* the dominators write idom at their end, the sums write retained
	 * and the tree's children coff: fresh pages, mapped in beside if a
	 * thread is idle */
	if (idle) {
		pl_idle_open(idle);
		pl_idle_offer_pages(idle, rt->idom, ((size_t)n + 1) * sizeof(*rt->idom));
		pl_idle_offer_pages(idle, rt->retained, ((size_t)n + 1) * sizeof(*rt->retained));
		pl_idle_offer_pages(idle, rt->coff, ((size_t)n + 2) * sizeof(*rt->coff));
	}
	err = pl_dominators_idle(n, g->off, g->dst, g->roff, g->rsrc, roots, nroots,
				 pl_roots_held_from_c, g, rt->idom, order, &norder, idle);
	if (idle)
		pl_idle_close(idle);
	if (err)
		goto out;
	struct children c = { rt, order, n, norder, false };
	struct pl_beside b;
	pl_beside_start(&b, children, &c);
	/* retained: each reached node's own size (in node order, written
	 * before read), then children before parents (reverse preorder), with
	 * the data of the ones to come fetched ahead */
	const struct pl_obj *objs = h->objs;
	uint64_t *ret = rt->retained;
	const uint32_t *idom = rt->idom;
	for (uint32_t v = 0; v < n; v++)
		ret[v] = idom[v] == UINT32_MAX ? 0 : objs[v].size;
	ret[n] = 0;
	for (uint32_t i = norder; i-- > 0;) {
		if (i >= 2 * SUM_AHEAD) {
			uint32_t a = order[i - 2 * SUM_AHEAD];
			__builtin_prefetch(&idom[a]);
			__builtin_prefetch(&ret[a]);
		}
		if (i >= SUM_AHEAD && idom[order[i - SUM_AHEAD]] < n)
			__builtin_prefetch(&ret[idom[order[i - SUM_AHEAD]]]);
		uint32_t v = order[i];
		if (idom[v] < n)
			ret[idom[v]] += ret[v];
		else
			rt->reachable_bytes += ret[v];
	}
	rt->reachable_objects = norder;
	pl_beside_wait(&b);
	if (c.nomem)
		err = pl_error(PL_E_NOMEM, "out of memory computing retained sizes");
out:
	free(order);
	if (idle)   /* (on every way out: the idle thread waits for it) */
		pl_idle_close(idle);
	if (err)
		pl_retained_release(rt);
	return err;
}

#define TYPES_AHEAD 8   /* children whose data is fetched ahead */

struct pl_error *pl_retained_types(const struct pl_graph *g, struct pl_retained *rt)
{
	const struct pl_heap *h = g->h;
	uint32_t n = g->n;
	/* per type: an instance counts unless another instance of its type
	 * dominates it (then its bytes are already in that one's). A DFS of
	 * the dominator tree keeps, per type, how many of its instances are on
	 * the current path. The sums do not depend on the order of the tops. */
	rt->type_retained = calloc(h->ntypes + 1, sizeof(*rt->type_retained));
	uint32_t *active = calloc(h->ntypes + 1, sizeof(*active));
	/* the DFS stack: nodes, and beside each the type once it is entered
	 * (UINT32_MAX before), so that leaving it reads neither the node's
	 * object nor a per-node flag */
	uint32_t *stack = malloc(((size_t)n + 1) * sizeof(*stack));
	uint32_t *in = malloc(((size_t)n + 1) * sizeof(*in));
	if (!rt->type_retained || !active || !stack || !in) {
		free(active);
		free(stack);
		free(in);
		return pl_error(PL_E_NOMEM, "out of memory computing retained sizes");
	}
	for (uint32_t top = 0; top < n; top++) {
		if (rt->idom[top] != PL_DOM_SUPER)
			continue;   /* start from the super-root's children */
		uint32_t sp = 0;
		stack[sp] = top;
		in[sp++] = UINT32_MAX;
		while (sp) {
			uint32_t v = stack[sp - 1];
			if (in[sp - 1] == UINT32_MAX) {
				uint32_t t = h->objs[v].type;
				in[sp - 1] = t;
				if (!active[t])
					rt->type_retained[t] += rt->retained[v];
				active[t]++;
				/* children that are leaves of the tree (most) are
				 * counted here, their data fetched a few ahead. A
				 * leaf retains its own size: its record has both. */
				uint32_t k0 = rt->coff[v], k1 = rt->coff[v + 1];
				for (uint32_t k = k0; k < k1; k++) {
					if (k + TYPES_AHEAD < k1) {
						uint32_t f = rt->child[k + TYPES_AHEAD];
						__builtin_prefetch(&h->objs[f].type);
						__builtin_prefetch(&rt->coff[f]);
					}
					uint32_t c = rt->child[k];
					if (rt->coff[c] == rt->coff[c + 1]) {
						const struct pl_obj *o = &h->objs[c];
						if (!active[o->type])
							rt->type_retained[o->type] += o->size;
						continue;
					}
					stack[sp] = c;
					in[sp++] = UINT32_MAX;
				}
			} else {
				active[in[--sp]]--;
			}
		}
	}
	free(active);
	free(stack);
	free(in);
	return NULL;
}

static bool is_container(enum pl_kind k)
{
	return k == PL_K_LIST || k == PL_K_DICT || k == PL_K_SET || k == PL_K_FROZENSET ||
	       k == PL_K_TUPLE;
}

static uint64_t items_of(struct pl_heap *h, uint32_t v, const struct pl_retained *rt)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	uint64_t addr = h->objs[v].addr;
	int64_t n = -1;
	switch (h->types[h->objs[v].type].kind) {
	case PL_K_LIST:
	case PL_K_TUPLE:
		pl_as_u64(&p->as, addr + (uint64_t)L->ob_size, (uint64_t *)&n);
		break;
	case PL_K_DICT:
		pl_as_u64(&p->as, addr + (uint64_t)L->dict_used, (uint64_t *)&n);
		break;
	default:
		break;
	}
	return n >= 0 ? (uint64_t)n : rt->coff[v + 1] - rt->coff[v];
}

/* What a child of an accumulation point stands for: itself when it is an
 * object of a user type, else (a bound method, a cell, a dict, a tuple) the
 * largest thing it alone holds. */
static uint32_t principal(const struct pl_graph *g, const struct pl_retained *rt, uint32_t c)
{
	struct pl_heap *h = g->h;
	const struct pl_type *t = &h->types[h->objs[c].type];
	if (t->heap && !is_container(t->kind))
		return c;
	uint32_t best = PL_NONE;
	for (uint32_t k = rt->coff[c]; k < rt->coff[c + 1]; k++)
		if (best == PL_NONE || rt->retained[rt->child[k]] > rt->retained[best])
			best = rt->child[k];
	if (best == PL_NONE || !h->types[h->objs[best].type].heap)
		return c;
	return best;
}

static int by_retained(const void *a, const void *b)
{
	const struct pl_suspect *x = a, *y = b;
	return x->retained < y->retained ? 1 : x->retained > y->retained ? -1 : 0;
}

/* Program structure, never a suspect itself: modules, classes, functions,
 * code, and the namespace dict of a module or class. */
static bool structural(const struct pl_graph *g, const struct pl_roots *r, uint32_t v)
{
	const struct pl_heap *h = g->h;
	enum pl_kind k = h->types[h->objs[v].type].kind;
	if (k == PL_K_MODULE || k == PL_K_TYPE || k == PL_K_FUNCTION || k == PL_K_CODE)
		return true;
	uint32_t par = r->parent[v];
	return k == PL_K_DICT && par != PL_NONE &&
	       (h->types[h->objs[par].type].kind == PL_K_MODULE ||
		h->types[h->objs[par].type].kind == PL_K_TYPE);
}

struct pl_error *pl_suspects(struct pl_graph *g, const struct pl_roots *r,
			     const struct pl_retained *rt, double min_share, uint64_t min_bytes,
			     struct pl_suspect **out, size_t *nout)
{
	struct pl_heap *h = g->h;
	uint64_t threshold = (uint64_t)((double)rt->reachable_bytes * min_share);
	if (threshold < min_bytes)
		threshold = min_bytes;
	struct pl_suspect *s = NULL;
	size_t n = 0, cap = 0;
	uint32_t *counts = calloc(h->ntypes + 1, sizeof(*counts));
	if (!counts)
		return pl_error(PL_E_NOMEM, "out of memory finding suspects");
	for (uint32_t v = 0; v < g->n; v++) {
		if (rt->retained[v] < threshold || structural(g, r, v))
			continue;
		/* dominated by the super-root alone, or through program structure
		 * only (a class attribute: class -> namespace -> list) */
		uint32_t up = rt->idom[v];
		for (int depth = 0; up != PL_DOM_SUPER && up != PL_NONE && depth < 64 &&
		     structural(g, r, up); depth++)
			up = rt->idom[up];
		if (up != PL_DOM_SUPER)
			continue;
		uint8_t kind = r->root[v] != PL_NONE ? r->r[r->root[v]].kind : PL_ROOT_INTERP;
		if (kind == PL_ROOT_INTERP)
			continue;   /* sys.modules and friends hold the program itself */
		/* walk down while one child holds most of it */
		uint32_t at = v;
		for (int depth = 0; depth < 64; depth++) {
			uint32_t best = PL_NONE;
			for (uint32_t c = rt->coff[at]; c < rt->coff[at + 1]; c++)
				if (best == PL_NONE || rt->retained[rt->child[c]] > rt->retained[best])
					best = rt->child[c];
			if (best == PL_NONE || rt->retained[best] * 10 < rt->retained[at] * 8)
				break;
			at = best;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct pl_suspect *ns = realloc(s, cap * sizeof(*ns));
			if (!ns) {
				free(s);
				free(counts);
				return pl_error(PL_E_NOMEM, "out of memory finding suspects");
			}
			s = ns;
		}
		struct pl_suspect *sp = &s[n++];
		memset(sp, 0, sizeof(*sp));
		sp->node = at;
		sp->retained = rt->retained[at];
		sp->items = items_of(h, at, rt);
		/* composition: the most common principal type among its children;
		 * the edge label ("via .__self__") only for that type's example */
		uint32_t best_t = UINT32_MAX, ex_child = PL_NONE, ex_princ = PL_NONE;
		for (uint32_t c = rt->coff[at]; c < rt->coff[at + 1]; c++) {
			uint32_t pn = principal(g, rt, rt->child[c]);
			uint32_t t = h->objs[pn].type;
			if (++counts[t] > (best_t == UINT32_MAX ? 0 : counts[best_t])) {
				best_t = t;
				ex_child = rt->child[c];
				ex_princ = pn;
			}
		}
		if (best_t != UINT32_MAX) {
			sp->part_type = best_t;
			sp->part_count = counts[best_t];
			if (ex_princ != ex_child) {
				pl_graph_edge_label(g, ex_child, ex_princ, sp->part_via, sizeof(sp->part_via));
				if (!strcmp(sp->part_via, ".?"))
					sp->part_via[0] = 0;
			}
		} else {
			sp->part_type = h->objs[at].type;
		}
		for (uint32_t c = rt->coff[at]; c < rt->coff[at + 1]; c++)
			counts[h->objs[principal(g, rt, rt->child[c])].type] = 0;
		/* long-lived referrer: old container, mostly young children */
		if (h->objs[at].gen == 2) {
			uint64_t young = 0, all = 0;
			for (uint32_t e = g->off[at]; e < g->off[at + 1]; e++) {
				uint8_t gen = h->objs[g->dst[e]].gen;
				all += gen <= 2;
				young += gen == 0;
			}
			sp->long_lived = all >= 16 && young * 2 > all;
		}
	}
	free(counts);
	if (n)
		qsort(s, n, sizeof(*s), by_retained);
	*out = s;
	*nout = n;
	return NULL;
}
