#include "config.h"
#include "retained.h"

#include <stdatomic.h>
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

static struct pl_error *nomem(void)
{
	return pl_error(PL_E_NOMEM, "out of memory computing retained sizes");
}

/* The dominator tree's children (CSR, in preorder), beside the sums. */
struct children {
	struct pl_retained *rt;
	const uint32_t *order;
	uint32_t n, norder;
};

static void *children(void *arg)
{
	struct children *c = arg;
	struct pl_retained *rt = c->rt;
	uint32_t n = c->n;
	/* zeroed (it was the dominators' scratch) */
	memset(rt->coff, 0, ((size_t)n + 2) * sizeof(*rt->coff));
	/* counted one place on (coff[v + 2]), summed so that coff[v + 1] is
	 * where v's children start; placing them moves it to where they end,
	 * which is where v + 1's start: no second array */
	for (uint32_t i = 0; i < c->norder; i++)
		if (rt->idom[c->order[i]] < n)
			rt->coff[rt->idom[c->order[i]] + 2]++;
	for (uint32_t i = 0; i < n; i++)
		rt->coff[i + 2] += rt->coff[i + 1];
	for (uint32_t i = 0; i < c->norder; i++)
		if (rt->idom[c->order[i]] < n)
			rt->child[rt->coff[rt->idom[c->order[i]] + 1]++] = c->order[i];
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
	/* (n + 2: as the dominators' scratch, two arrays of n + 2) */
	rt->retained = malloc(((size_t)n + 2) * sizeof(*rt->retained));
	rt->coff = malloc(((size_t)n + 2) * sizeof(*rt->coff));
	/* the tree's children are fewer than n + 1 (the super-root's and
	 * unreached nodes' are not kept) */
	rt->child = malloc(((size_t)n + 2) * sizeof(*rt->child));
	if (!order || !rt->idom || !rt->retained || !rt->coff || !rt->child) {
		err = nomem();
		goto out;
	}
	/* the dominators write idom at their end, the sums write retained
	 * and the tree's children coff: fresh pages, mapped in beside if a
	 * thread is idle */
	if (idle) {
		pl_idle_open(idle);
		pl_idle_offer_pages(idle, rt->idom, ((size_t)n + 1) * sizeof(*rt->idom));
		pl_idle_offer_pages(idle, rt->retained, ((size_t)n + 2) * sizeof(*rt->retained));
		pl_idle_offer_pages(idle, rt->coff, ((size_t)n + 2) * sizeof(*rt->coff));
	}
	/* the search works in the memory of what is written after it: its
	 * pages are fresh once, not twice */
	const struct pl_dom_scratch scratch = {
		.dfn = rt->child,
		.ancestor = (uint32_t *)rt->retained,
		.label = (uint32_t *)rt->retained + ((size_t)n + 2),
		.cursor = rt->coff,
	};
	err = pl_dominators_idle(n, g->off, g->dst, g->roff, g->rsrc, roots, nroots,
				 pl_roots_held_from_c, g, rt->idom, order, &norder, idle, &scratch);
	if (idle)
		pl_idle_close(idle);
	if (err)
		goto out;
	struct children c = { rt, order, n, norder };
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
out:
	free(order);
	if (idle)   /* (on every way out: the idle thread waits for it) */
		pl_idle_close(idle);
	if (err)
		pl_retained_release(rt);
	return err;
}

#define TYPES_AHEAD 8   /* children whose data is fetched ahead */
#define TYPES_UNITS 64  /* a unit of the work: about 1/TYPES_UNITS of the bytes */

/* Per type: an instance counts unless another instance of its type
 * dominates it (then its bytes are already in that one's). A DFS of the
 * dominator tree keeps, per type, how many of its instances are on the
 * current path. The sums do not depend on the order of the DFS.
 *
 * The work is cut into units that threads take in turn: runs of children
 * of one parent (or of the tops: the super-root's children), each about
 * 1/TYPES_UNITS of the retained bytes or less. A child that retains more
 * is opened instead: it is counted on its own (its ancestors, all opened
 * too, are few), and its children are cut in turn. A unit's DFS starts with
 * the types of its parent's path active. */
struct tunit {
	uint32_t parent;         /* PL_DOM_SUPER: the tops */
	uint32_t a, b;           /* [a, b) in child[] (in tops for the tops) */
};

struct pl_types_work {
	const struct pl_graph *g;
	struct pl_retained *rt;
	uint32_t *tops;
	struct tunit *u;
	size_t nu, capu;
	_Atomic size_t next;     /* the first unit nobody took */
	_Atomic int ready;       /* 1: units made; -1: failed (out of memory) */
	uint64_t *sum[2];        /* per type, each thread's (0: the maker's) */
};

/* One thread's DFS state */
struct tdfs {
	uint32_t *active, *stack, *in;
	uint64_t *sum;
};

static bool unit_add(struct pl_types_work *w, uint32_t parent, uint32_t a, uint32_t b)
{
	if (a == b)
		return true;
	if (w->nu == w->capu) {
		size_t cap = w->capu ? w->capu * 2 : 256;
		struct tunit *n = realloc(w->u, cap * sizeof(*n));
		if (!n)
			return false;
		w->u = n;
		w->capu = cap;
	}
	w->u[w->nu++] = (struct tunit){ parent, a, b };
	return true;
}

/* The types of x and of its dominators (up to the super-root) counted in
 * active by delta */
static void path_types(const struct pl_heap *h, const uint32_t *idom, uint32_t x, uint32_t *active,
		       int delta)
{
	for (; x != PL_DOM_SUPER && x != UINT32_MAX; x = idom[x])
		active[h->objs[x].type] += (uint32_t)delta;
}

/* Is v (an opened node) the outermost of its type on its path? */
static bool outermost(const struct pl_heap *h, const uint32_t *idom, uint32_t v)
{
	uint32_t t = h->objs[v].type;
	for (uint32_t x = idom[v]; x != PL_DOM_SUPER && x != UINT32_MAX; x = idom[x])
		if (h->objs[x].type == t)
			return false;
	return true;
}

/* Cut the run list[a..b) (children of parent) into units, opening the
 * children that retain more than `unit`; opened ones go on the stack. */
static bool cut_run(struct pl_types_work *w, uint32_t parent, const uint32_t *list, uint32_t a,
		    uint32_t b, uint64_t unit, uint32_t **open, size_t *nopen, size_t *capopen)
{
	const struct pl_retained *rt = w->rt;
	uint32_t start = a;
	uint64_t weight = 0;
	for (uint32_t k = a; k < b; k++) {
		uint32_t c = list[k];
		uint64_t r = rt->retained[c];
		if (r > unit && rt->coff[c] < rt->coff[c + 1]) {
			if (!unit_add(w, parent, start, k))
				return false;
			start = k + 1;
			weight = 0;
			if (*nopen == *capopen) {
				size_t cap = *capopen ? *capopen * 2 : 64;
				uint32_t *n = realloc(*open, cap * sizeof(*n));
				if (!n)
					return false;
				*open = n;
				*capopen = cap;
			}
			(*open)[(*nopen)++] = c;
			continue;
		}
		if ((weight += r) > unit) {
			if (!unit_add(w, parent, start, k + 1))
				return false;
			start = k + 1;
			weight = 0;
		}
	}
	return unit_add(w, parent, start, b);
}

/* The units, and the opened nodes counted (in sum[0]) */
static bool make_units(struct pl_types_work *w)
{
	const struct pl_graph *g = w->g;
	const struct pl_heap *h = g->h;
	struct pl_retained *rt = w->rt;
	uint32_t n = g->n, ntops = 0;
	w->tops = malloc(((size_t)n + 1) * sizeof(*w->tops));
	if (!w->tops)
		return false;
	for (uint32_t v = 0; v < n; v++)
		if (rt->idom[v] == PL_DOM_SUPER)
			w->tops[ntops++] = v;
	uint64_t unit = rt->reachable_bytes / TYPES_UNITS + 1;
	uint32_t *open = NULL;
	size_t nopen = 0, capopen = 0;
	bool ok = cut_run(w, PL_DOM_SUPER, w->tops, 0, ntops, unit, &open, &nopen, &capopen);
	while (ok && nopen) {
		uint32_t v = open[--nopen];
		if (outermost(h, rt->idom, v))
			w->sum[0][h->objs[v].type] += rt->retained[v];
		ok = cut_run(w, v, rt->child, rt->coff[v], rt->coff[v + 1], unit, &open, &nopen,
			     &capopen);
	}
	free(open);
	return ok;
}

/* The DFS of a unit's children, its parent's path active */
static void do_unit(const struct pl_types_work *w, const struct tunit *u, struct tdfs *d)
{
	const struct pl_heap *h = w->g->h;
	const struct pl_retained *rt = w->rt;
	const uint32_t *list = u->parent == PL_DOM_SUPER ? w->tops : rt->child;
	path_types(h, rt->idom, u->parent, d->active, 1);
	for (uint32_t k = u->a; k < u->b; k++) {
		uint32_t sp = 0;
		d->stack[sp] = list[k];
		d->in[sp++] = UINT32_MAX;
		while (sp) {
			uint32_t v = d->stack[sp - 1];
			if (d->in[sp - 1] != UINT32_MAX) {
				d->active[d->in[--sp]]--;
				continue;
			}
			uint32_t t = h->objs[v].type;
			d->in[sp - 1] = t;
			if (!d->active[t])
				d->sum[t] += rt->retained[v];
			d->active[t]++;
			/* children that are leaves of the tree (most) are counted
			 * here, their data fetched a few ahead. A leaf retains
			 * its own size: its record has both. */
			uint32_t k0 = rt->coff[v], k1 = rt->coff[v + 1];
			for (uint32_t c0 = k0; c0 < k1; c0++) {
				if (c0 + TYPES_AHEAD < k1) {
					uint32_t f = rt->child[c0 + TYPES_AHEAD];
					__builtin_prefetch(&h->objs[f].type);
					__builtin_prefetch(&rt->coff[f]);
				}
				uint32_t c = rt->child[c0];
				if (rt->coff[c] == rt->coff[c + 1]) {
					const struct pl_obj *o = &h->objs[c];
					if (!d->active[o->type])
						d->sum[o->type] += o->size;
					continue;
				}
				d->stack[sp] = c;
				d->in[sp++] = UINT32_MAX;
			}
		}
	}
	path_types(h, rt->idom, u->parent, d->active, -1);
}

/* Take units until none is left; false when out of memory */
static bool take_units(struct pl_types_work *w, uint64_t *sum)
{
	size_t n = (size_t)w->g->n + 1, nt = w->g->h->ntypes + 1;
	struct tdfs d = { calloc(nt, sizeof(uint32_t)), malloc(n * sizeof(uint32_t)),
			  malloc(n * sizeof(uint32_t)), sum };
	bool ok = d.active && d.stack && d.in;
	for (size_t i; ok && (i = atomic_fetch_add(&w->next, 1)) < w->nu;)
		do_unit(w, &w->u[i], &d);
	free(d.active);
	free(d.stack);
	free(d.in);
	return ok;
}

struct pl_types_work *pl_retained_types_new(const struct pl_graph *g, struct pl_retained *rt)
{
	struct pl_types_work *w = calloc(1, sizeof(*w));
	size_t nt = g->h->ntypes + 1;
	if (!w)
		return NULL;
	w->g = g;
	w->rt = rt;
	if (!(w->sum[0] = calloc(nt, sizeof(uint64_t))) || !(w->sum[1] = calloc(nt, sizeof(uint64_t)))) {
		pl_retained_types_free(w);
		return NULL;
	}
	return w;
}

struct pl_error *pl_retained_types_run(struct pl_types_work *w)
{
	bool ok = make_units(w);
	atomic_store_explicit(&w->ready, ok ? 1 : -1, memory_order_release);
	if (ok)
		ok = take_units(w, w->sum[0]);
	return ok ? NULL : nomem();
}

struct pl_error *pl_retained_types_help(struct pl_types_work *w)
{
	unsigned spins = 0;
	int r;
	while ((r = atomic_load_explicit(&w->ready, memory_order_acquire)) == 0)
		pl_idle_pause(&spins);
	if (r < 0 || take_units(w, w->sum[1]))
		return NULL;   /* (the maker says why it failed) */
	return nomem();
}

struct pl_error *pl_retained_types_done(struct pl_types_work *w)
{
	size_t nt = w->g->h->ntypes + 1;
	free(w->rt->type_retained);
	if (!(w->rt->type_retained = malloc(nt * sizeof(uint64_t))))
		return nomem();
	for (size_t t = 0; t < nt; t++)
		w->rt->type_retained[t] = w->sum[0][t] + w->sum[1][t];
	return NULL;
}

void pl_retained_types_free(struct pl_types_work *w)
{
	if (!w)
		return;
	free(w->tops);
	free(w->u);
	free(w->sum[0]);
	free(w->sum[1]);
	free(w);
}

struct pl_error *pl_retained_types(const struct pl_graph *g, struct pl_retained *rt)
{
	struct pl_types_work *w = pl_retained_types_new(g, rt);
	if (!w)
		return nomem();
	struct pl_error *err = pl_retained_types_run(w);
	if (!err)
		err = pl_retained_types_done(w);
	pl_retained_types_free(w);
	return err;
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
