#include "config.h"
#include "roots.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coredump/program.h"
#include "coredump/frames.h"
#include "coredump/traverse.h"

#define MAX_FRAMES 100000

const char *pl_root_kind_name(uint8_t kind)
{
	static const char *n[] = { "global", "frame", "thread", "interpreter", "held from C" };
	return kind <= PL_ROOT_C ? n[kind] : "?";
}

void pl_roots_release(struct pl_roots *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->r[i].label);
		free(r->r[i].where);
	}
	free(r->r);
	free(r->parent);
	free(r->root);
	free(r->order);
	memset(r, 0, sizeof(*r));
}

__attribute__((format(printf, 4, 5)))
static void add_root(struct pl_roots *r, uint32_t node, uint8_t kind, const char *fmt, ...)
{
	if (node == PL_NONE)
		return;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		struct pl_root *n = realloc(r->r, cap * sizeof(*n));
		if (!n)
			return;
		r->r = n;
		r->cap = cap;
	}
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->r[r->n] = (struct pl_root){ node, kind, strdup(buf), NULL };
	if (r->r[r->n].label)
		r->n++;
}

struct frame_ctx {
	const struct pl_graph *g;
	struct pl_roots *r;
	const char *prefix;   /* "<thread worker-1> worker()" */
	const char *where;    /* "native id 123, app.py:12" */
};

static int frame_visit(void *ctx, uint64_t target, const struct pl_edge *e)
{
	struct frame_ctx *f = ctx;
	char lab[200];
	bool local = e->kind == PL_E_LOCAL || e->kind == PL_E_STACK;
	bool flocals = e->kind == PL_E_FIELD && e->name && !strcmp(e->name, "f_locals");
	if (!local && !flocals)
		return 0;
	pl_edge_label(f->g->h, 0, e, lab, sizeof(lab));
	size_t n = f->r->n;
	add_root(f->r, pl_graph_node(f->g, target), PL_ROOT_FRAME, "%s%s", f->prefix,
		 flocals ? " f_locals" : lab);
	if (f->r->n > n)
		f->r->r[n].where = strdup(f->where);
	return 0;
}

/* A thread's exception state: the exception being raised, the ones being
 * handled (the exc_info stack) and its contextvars context. */
static void exception_roots(const struct pl_graph *g, struct pl_roots *r,
			    const struct pl_pythread *th, const char *name)
{
	struct pl_program *p = g->h->p;
	const struct pl_layout *L = &p->L;
	uint64_t v = 0, item = 0;
	if (L->ts_curexc >= 0 && pl_as_u64(&p->as, th->tstate + (uint64_t)L->ts_curexc, &v) == 0)
		add_root(r, pl_graph_node(g, v), PL_ROOT_THREAD, "<thread %s> exception being raised", name);
	if (L->ts_exc_info >= 0 && L->exinfo_value >= 0 &&
	    pl_as_u64(&p->as, th->tstate + (uint64_t)L->ts_exc_info, &item) == 0) {
		for (int depth = 0; item && depth < 1000; depth++) {
			if (pl_as_u64(&p->as, item + (uint64_t)L->exinfo_value, &v) != 0)
				break;
			add_root(r, pl_graph_node(g, v), PL_ROOT_THREAD, "<thread %s> exception being "
				 "handled", name);
			uint64_t prev = 0;
			if (L->exinfo_previous < 0 ||
			    pl_as_u64(&p->as, item + (uint64_t)L->exinfo_previous, &prev) != 0 || prev == item)
				break;
			item = prev;
		}
	}
	if (L->ts_context >= 0 && pl_as_u64(&p->as, th->tstate + (uint64_t)L->ts_context, &v) == 0)
		add_root(r, pl_graph_node(g, v), PL_ROOT_THREAD, "<thread %s> contextvars context", name);
}

/* "native id 123, app.py:12" for a frame of thread th */
static void frame_where(struct pl_heap *h, const struct pl_pythread *th, uint64_t frame,
			char *buf, size_t len)
{
	struct pl_pyframe pf;
	char file[512];
	if (pl_frame_read(h, frame, &pf) != 0) {
		snprintf(buf, len, "native id %" PRIu64, th->native_id);
		return;
	}
	pl_code_file(h, pf.code, file, sizeof(file));
	snprintf(buf, len, "native id %" PRIu64 ", %s:%d", th->native_id, file, pf.line);
}

static void thread_roots(const struct pl_graph *g, struct pl_roots *r, uint64_t active)
{
	struct pl_heap *h = g->h;
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	int64_t cstack = L->owned_by_cstack;
	for (size_t t = 0; t < p->rt.nthreads; t++) {
		const struct pl_pythread *th = &p->rt.threads[t];
		char name[128], fname[160], prefix[400], where[700];
		pl_thread_name(h, active, th->thread_id, name, sizeof(name));
		uint64_t f = th->top_frame;
		for (int depth = 0; f && depth < MAX_FRAMES; depth++) {
			uint64_t code = 0, next = 0;
			if (L->if_previous >= 0) {   /* 3.11+: interpreter frames */
				uint8_t owner = 0;
				pl_as_read(&p->as, f + (uint64_t)L->if_owner, &owner, 1);
				pl_as_u64(&p->as, f + (uint64_t)L->if_code, &code);
				if (pl_as_u64(&p->as, f + (uint64_t)L->if_previous, &next))
					break;
				if (cstack < 0 || owner != cstack) {
					pl_code_func(h, code, fname, sizeof(fname));
					snprintf(prefix, sizeof(prefix), "<thread %s> %s()", name, fname);
					frame_where(h, th, f, where, sizeof(where));
					struct frame_ctx fc = { g, r, prefix, where };
					pl_traverse_iframe(h, f, frame_visit, &fc);
				}
			} else {                     /* <=3.10: frame objects */
				int64_t rc;
				uint64_t ty;
				struct pl_type *tp;
				if (pl_obj_header(p, f, &rc, &ty) || !(tp = pl_type_get(h, ty)))
					break;
				pl_as_u64(&p->as, f + (uint64_t)L->fo_code, &code);
				pl_as_u64(&p->as, f + (uint64_t)L->fo_back, &next);
				pl_code_func(h, code, fname, sizeof(fname));
				snprintf(prefix, sizeof(prefix), "<thread %s> %s()", name, fname);
				frame_where(h, th, f, where, sizeof(where));
				struct frame_ctx fc = { g, r, prefix, where };
				pl_traverse(h, f, tp, frame_visit, &fc, NULL);
			}
			if (next == f)
				break;
			f = next;
		}
		add_root(r, pl_graph_node(g, th->dict), PL_ROOT_THREAD, "<thread %s> thread state dict", name);
		exception_roots(g, r, th, name);
	}
}

static void module_roots(const struct pl_graph *g, struct pl_roots *r)
{
	struct pl_heap *h = g->h;
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	for (int pass = 0; pass < 2; pass++) {
		struct pl_dict_iter it;
		uint64_t k, v;
		if (pl_dict_iter_init(&it, p, p->rt.modules))
			return;
		while (pl_dict_iter_next(&it, &k, &v) == 1) {
			char mod[256], key[256];
			if (pl_str_read(h, k, mod, sizeof(mod)) < 0)
				continue;
			if ((pass == 0) != !strcmp(mod, "__main__"))
				continue;
			uint32_t mn = pl_graph_node(g, v);
			if (mn == PL_NONE || h->types[h->objs[mn].type].kind != PL_K_MODULE)
				continue;
			uint64_t md = 0;
			if (pl_as_u64(&p->as, v + (uint64_t)L->mod_dict, &md) || !md)
				continue;
			struct pl_dict_iter mi;
			uint64_t mk, mv;
			if (pl_dict_iter_init(&mi, p, md))
				continue;
			while (pl_dict_iter_next(&mi, &mk, &mv) == 1) {
				if (pl_str_read(h, mk, key, sizeof(key)) < 0)
					continue;
				/* dunders are module machinery; modules are reached as
				 * such through sys.modules */
				if (key[0] == '_' && key[1] == '_')
					continue;
				add_root(r, pl_graph_node(g, mv), PL_ROOT_GLOBAL, "%s.%s", mod, key);
			}
		}
	}
}

static void bfs(const struct pl_graph *g, struct pl_roots *r, size_t from_root)
{
	uint32_t qt = r->nordered, qh = qt;
	for (size_t i = from_root; i < r->n; i++) {
		uint32_t n = r->r[i].node;
		if (r->root[n] != PL_NONE)
			continue;
		r->root[n] = (uint32_t)i;
		r->parent[n] = PL_NONE;
		r->order[qt++] = n;
	}
	while (qh < qt) {
		uint32_t v = r->order[qh++];
		for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
			uint32_t w = g->dst[e];
			if (r->root[w] != PL_NONE)
				continue;
			r->root[w] = r->root[v];
			r->parent[w] = v;
			r->order[qt++] = w;
		}
	}
	r->nordered = qt;
}

struct pl_error *pl_roots_collect(struct pl_graph *g, struct pl_roots *r)
{
	memset(r, 0, sizeof(*r));
	struct pl_heap *h = g->h;
	struct pl_program *p = h->p;
	r->parent = malloc(((size_t)g->n + 1) * sizeof(*r->parent));
	r->root = malloc(((size_t)g->n + 1) * sizeof(*r->root));
	r->order = malloc(((size_t)g->n + 1) * sizeof(*r->order));
	if (!r->parent || !r->root || !r->order)
		return pl_error(PL_E_NOMEM, "out of memory finding roots");
	module_roots(g, r);
	thread_roots(g, r, pl_threading_active(g->h));
	add_root(r, pl_graph_node(g, p->rt.modules), PL_ROOT_INTERP, "sys.modules");
	add_root(r, pl_graph_node(g, p->rt.sysdict), PL_ROOT_INTERP, "sys.__dict__");
	add_root(r, pl_graph_node(g, p->rt.builtins), PL_ROOT_INTERP, "builtins.__dict__");
	return NULL;
}

bool pl_roots_held_from_c(void *graph, uint32_t i)
{
	const struct pl_graph *g = graph;
	return pl_graph_collectable(g, i) && g->ext && g->ext[i] > 0 && !pl_unreachable(g, i);
}

void pl_roots_reach(struct pl_graph *g, struct pl_roots *r)
{
	memset(r->root, 0xff, (size_t)g->n * sizeof(*r->root));
	bfs(g, r, 0);
	/* The refcount residue: objects gc would treat as roots (references
	 * from outside the gc'd heap) that nothing above explains. */
	size_t first_c = r->n;
	for (uint32_t i = 0; i < g->n; i++)
		if (r->root[i] == PL_NONE && pl_roots_held_from_c(g, i)) {
			add_root(r, i, PL_ROOT_C, "<held from C: %d reference%s not from a Python object>",
				 g->ext[i], g->ext[i] == 1 ? "" : "s");
			r->nheld_from_c++;
		}
	bfs(g, r, first_c);
}

struct pl_error *pl_roots_find(struct pl_graph *g, struct pl_roots *r)
{
	struct pl_error *err = pl_roots_collect(g, r);
	if (!err)
		pl_roots_reach(g, r);
	return err;
}

uint32_t pl_roots_chain(const struct pl_roots *r, uint32_t node, uint32_t *out, uint32_t max)
{
	if (r->root[node] == PL_NONE)
		return 0;
	uint32_t n = 0;
	for (uint32_t v = node; v != PL_NONE && n < max; v = r->parent[v])
		out[n++] = v;
	for (uint32_t i = 0; i < n / 2; i++) {   /* root first */
		uint32_t t = out[i];
		out[i] = out[n - 1 - i];
		out[n - 1 - i] = t;
	}
	return n;
}

/* Name of free variable i of the function at node fn. */
static bool freevar_name(struct pl_heap *h, uint64_t func, int64_t i, char *buf, size_t len)
{
	const struct pl_layout *L = &h->p->L;
	struct pl_as *as = &h->p->as;
	uint64_t code = 0, names = 0;
	int64_t n = 0;
	if (pl_as_u64(as, func + (uint64_t)L->func_code, &code) || !code)
		return false;
	if (L->co_freevars >= 0) {
		if (pl_as_u64(as, code + (uint64_t)L->co_freevars, &names))
			return false;
	} else if (L->co_localsplusnames >= 0 && L->co_nfreevars >= 0) {
		int32_t nfree = 0;
		if (pl_as_u64(as, code + (uint64_t)L->co_localsplusnames, &names) ||
		    pl_as_read(as, code + (uint64_t)L->co_nfreevars, &nfree, 4) ||
		    pl_as_u64(as, names + (uint64_t)L->ob_size, (uint64_t *)&n))
			return false;
		i += n - nfree;
	} else {
		return false;
	}
	uint64_t name;
	if (!names || pl_as_u64(as, names + (uint64_t)L->ob_size, (uint64_t *)&n) || i < 0 || i >= n ||
	    pl_as_u64(as, names + (uint64_t)L->tuple_items + (uint64_t)(8 * i), &name))
		return false;
	return pl_str_read(h, name, buf, len) >= 0;
}

const char *pl_roots_path(const struct pl_graph *g, const struct pl_roots *r, uint32_t node,
			  char *buf, size_t len)
{
	uint32_t chain[256];
	uint32_t n = pl_roots_chain(r, node, chain, 256);
	buf[0] = 0;
	if (!n)
		return buf;
	struct pl_heap *h = g->h;
	size_t used = (size_t)snprintf(buf, len, "%s", r->r[r->root[node]].label);
	if (n == 256 && used < len)
		used += (size_t)snprintf(buf + used, len - used, "…");
	for (uint32_t i = 0; i + 1 < n && used + 1 < len; i++) {
		char lab[256], lab2[256], lab3[256], name[128];
		uint32_t a = chain[i], b = chain[i + 1];
		pl_graph_edge_label(g, a, b, lab, sizeof(lab));
		/* x.__dict__['k'] reads as x.k */
		if (!strcmp(lab, ".__dict__") && i + 2 < n && h->types[h->objs[b].type].kind == PL_K_DICT) {
			pl_graph_edge_label(g, b, chain[i + 2], lab2, sizeof(lab2));
			size_t l2 = strlen(lab2);
			if (lab2[0] == '[' && lab2[1] == '\'' && l2 > 4) {
				snprintf(lab, sizeof(lab), ".%.*s", (int)(l2 - 4), lab2 + 2);
				i++;
			}
		}
		/* f.__closure__[i].cell_contents reads as f.<closure name> */
		else if (!strcmp(lab, ".__closure__") && i + 3 < n) {
			pl_graph_edge_label(g, b, chain[i + 2], lab2, sizeof(lab2));
			pl_graph_edge_label(g, chain[i + 2], chain[i + 3], lab3, sizeof(lab3));
			long idx;
			if (sscanf(lab2, "[%ld]", &idx) == 1 && !strcmp(lab3, ".cell_contents") &&
			    freevar_name(h, h->objs[a].addr, idx, name, sizeof(name))) {
				snprintf(lab, sizeof(lab), ".<closure %s>", name);
				i += 2;
			}
		}
		/* <=3.10 gen.gi_frame local x reads as gen local x, as on 3.11+
		 * where the frame lives inside the generator */
		else if ((!strcmp(lab, ".gi_frame") || !strcmp(lab, ".cr_frame") ||
			  !strcmp(lab, ".ag_frame")) && i + 2 < n) {
			pl_graph_edge_label(g, b, chain[i + 2], lab2, sizeof(lab2));
			if (!strncmp(lab2, " local ", 7)) {
				snprintf(lab, sizeof(lab), "%s", lab2);
				i++;
			}
		}
		used += (size_t)snprintf(buf + used, len - used, "%s", lab);
	}
	return buf;
}
