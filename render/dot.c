#include "config.h"
#include "dot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <graphviz/gvc.h>

#include "coredump/addrspace.h"
#include "coredump/layout.h"
#include "coredump/program.h"
#include "graphout.h"
#include "json.h"

/* ---- escaping ---------------------------------------------------------- */

/* Does the '&' at s[0] start something Graphviz would take for an entity:
 * "&#..." or "&name;"? */
static bool entity_like(const unsigned char *s, size_t n)
{
	if (n < 2)
		return false;
	if (s[1] == '#')
		return true;
	size_t i = 1;
	while (i < n && i < 40 && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
				   (s[i] >= '0' && s[i] <= '9')))
		i++;
	return i > 1 && i < n && s[i] == ';';
}

size_t pl_dot_escape(char *dst, size_t len, const char *src, size_t n, size_t max_chars,
		     char quote)
{
	static const char ellipsis[] = "\xe2\x80\xa6";   /* … */
	const size_t ell = sizeof(ellipsis) - 1;
	if (!len)
		return 0;
	if (!src)
		n = 0;
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0, chars = 0;
	while (i < n) {
		if (max_chars && chars >= max_chars)
			break;
		char tmp[16];
		const char *piece = tmp;
		size_t plen, adv = 1;
		unsigned c = s[i];
		uint32_t cp;
		if (c == '\\') {
			plen = (size_t)snprintf(tmp, sizeof(tmp), "\\\\");
		} else if (quote && c == (unsigned char)quote) {
			plen = (size_t)snprintf(tmp, sizeof(tmp), "\\\\%c", quote);
		} else if (c == '\n' || c == '\r' || c == '\t') {
			plen = (size_t)snprintf(tmp, sizeof(tmp), "\\\\%c",
						c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		} else if (c < 0x20 || c == 0x7f) {
			plen = (size_t)snprintf(tmp, sizeof(tmp), "\\\\x%02x", c);
		} else if (c == '&' && entity_like(s + i, n - i)) {
			plen = (size_t)snprintf(tmp, sizeof(tmp), "\\\\x26");
		} else if (c < 0x80) {
			piece = (const char *)s + i;
			plen = 1;
		} else if ((adv = pl_utf8_decode(s + i, n - i, &cp)) == 0) {
			adv = 1;
			plen = (size_t)snprintf(tmp, sizeof(tmp), "\\\\x%02x", c);
		} else if (cp < 0xa0) {   /* C1 controls */
			plen = (size_t)snprintf(tmp, sizeof(tmp), "\\\\x%02x", (unsigned)cp);
		} else if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff) {
			plen = (size_t)snprintf(tmp, sizeof(tmp), "\\\\u%04x", (unsigned)cp);
		} else {
			piece = (const char *)s + i;
			plen = adv;
		}
		/* keep room for the ellipsis unless this is the last piece */
		bool last = i + adv >= n;
		if (o + plen + (last ? 0 : ell) >= len)
			break;
		memcpy(dst + o, piece, plen);
		o += plen;
		i += adv;
		chars++;
	}
	if (i < n && o + ell < len) {
		memcpy(dst + o, ellipsis, ell);
		o += ell;
	}
	dst[o] = 0;
	return o;
}

static size_t escape_cstr(char *dst, size_t len, const char *s, size_t max_chars)
{
	return pl_dot_escape(dst, len, s, s ? strlen(s) : 0, max_chars, 0);
}

/* ---- node labels --------------------------------------------------------- */

/* Appends to a bounded buffer. */
struct sbuf {
	char *b;
	size_t len, used;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	if (sb->used + 1 >= sb->len)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(sb->b + sb->used, sb->len - sb->used, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	sb->used += (size_t)k;
	if (sb->used >= sb->len)
		sb->used = sb->len - 1;
}

/* Untrusted text, escaped. */
static void sb_esc(struct sbuf *sb, const char *s, size_t n, size_t max_chars, char quote)
{
	if (sb->used + 1 >= sb->len)
		return;
	sb->used += pl_dot_escape(sb->b + sb->used, sb->len - sb->used, s, n, max_chars, quote);
}

static const struct pl_type *type_of(const struct pl_graph *g, uint32_t node)
{
	const struct pl_heap *h = g->h;
	uint32_t t = h->objs[node].type;
	return t < h->ntypes ? &h->types[t] : NULL;
}

static const char *type_name(const struct pl_type *t)
{
	return t && t->name ? t->name : "?";
}

static bool rd_u64(struct pl_heap *h, uint64_t addr, int32_t off, uint64_t *v)
{
	return off >= 0 && addr && pl_as_u64(&h->p->as, addr + (uint64_t)off, v) == 0;
}

/* A str at addr, decoded and cut (UTF-8, not escaped): its length in
 * characters, or -1. */
static long rd_str(struct pl_heap *h, uint64_t addr, char *buf, size_t len)
{
	if (!addr)
		return -1;
	long n = pl_str_read(h, addr, buf, len);
	if (n < 0)
		buf[0] = 0;
	return n;
}

/* A C string (tp_name, ml_name) of at most max - 1 bytes: its length. */
static size_t rd_cstr(struct pl_heap *h, uint64_t addr, char *buf, size_t max)
{
	size_t n = 0;
	while (addr && n + 1 < max && pl_as_read(&h->p->as, addr + n, &buf[n], 1) == 0 && buf[n])
		n++;
	buf[n] = 0;
	return n;
}

/* The str at the pointer at addr + off, escaped into sb; false if unreadable. */
static bool sb_str_at(struct sbuf *sb, struct pl_heap *h, uint64_t addr, int32_t off,
		      size_t max_chars)
{
	uint64_t s;
	char tmp[4 * 64 + 8];
	if (!rd_u64(h, addr, off, &s) || rd_str(h, s, tmp, sizeof(tmp)) < 0)
		return false;
	sb_esc(sb, tmp, strlen(tmp), max_chars, 0);
	return true;
}

/* "file.py:42" of a code object. */
static void sb_code_where(struct sbuf *sb, struct pl_heap *h, uint64_t code)
{
	const struct pl_layout *L = &h->p->L;
	uint64_t fn;
	char tmp[1024];
	if (!rd_u64(h, code, L->co_filename, &fn) || rd_str(h, fn, tmp, sizeof(tmp)) < 0)
		return;
	const char *base = strrchr(tmp, '/');
	base = base ? base + 1 : tmp;
	sb_printf(sb, "\\n");
	sb_esc(sb, base, strlen(base), 40, 0);
	int32_t line;
	if (L->co_firstlineno >= 0 &&
	    pl_as_read(&h->p->as, code + (uint64_t)L->co_firstlineno, &line, sizeof(line)) == 0)
		sb_printf(sb, ":%" PRId32, line);
}

/* The qualified name of a function object (or its name). */
static bool sb_func_name(struct sbuf *sb, struct pl_heap *h, uint64_t func)
{
	const struct pl_layout *L = &h->p->L;
	return sb_str_at(sb, h, func, L->func_qualname, 60) || sb_str_at(sb, h, func, L->func_name, 60);
}

static bool node_detail(const struct pl_graph *g, uint32_t node, const struct pl_type *t,
			const char *st, struct sbuf *sb)
{
	struct pl_heap *h = g->h;
	const struct pl_layout *L = &h->p->L;
	uint64_t addr = h->objs[node].addr, v;
	char tmp[4 * 48];
	switch (t->kind) {
	case PL_K_STR: {
		long n = rd_str(h, addr, tmp, sizeof(tmp));
		if (n < 0)
			return false;
		size_t l = strlen(tmp);
		char q = memchr(tmp, '\'', l) && !memchr(tmp, '"', l) ? '"' : '\'';
		sb_printf(sb, "%s %c", st, q);
		sb_esc(sb, tmp, l, 40, q);
		if (n > 40 && !(sb->used >= 3 && !memcmp(sb->b + sb->used - 3, "\xe2\x80\xa6", 3)))
			sb_printf(sb, "\xe2\x80\xa6");
		sb_printf(sb, "%c", q);
		if (n > 40)
			sb_printf(sb, "\\n%ld chars", n);
		return true;
	}
	case PL_K_INT: {
		int64_t iv;
		if (pl_int_value(h, addr, &iv) != 0)
			return false;
		if (!strcmp(st, "bool") && (iv == 0 || iv == 1))
			sb_printf(sb, "bool %s", iv ? "True" : "False");
		else
			sb_printf(sb, "%s %" PRId64, st, iv);
		return true;
	}
	case PL_K_LIST:
	case PL_K_TUPLE:
	case PL_K_BYTES:
		if (!rd_u64(h, addr, L->ob_size, &v) || (int64_t)v < 0)
			return false;
		sb_printf(sb, "%s\\n%" PRIu64 " %s", st, v,
			  t->kind == PL_K_BYTES ? (v == 1 ? "byte" : "bytes") : (v == 1 ? "item" : "items"));
		return true;
	case PL_K_DICT:
		if (!rd_u64(h, addr, L->dict_used, &v) || (int64_t)v < 0)
			return false;
		sb_printf(sb, "%s\\n%" PRIu64 " %s", st, v, v == 1 ? "key" : "keys");
		return true;
	case PL_K_FUNCTION: {
		sb_printf(sb, "%s ", st);
		if (!sb_func_name(sb, h, addr))
			return false;
		if (rd_u64(h, addr, L->func_code, &v))
			sb_code_where(sb, h, v);
		return true;
	}
	case PL_K_METHOD:
		sb_printf(sb, "%s\\n", st);
		return rd_u64(h, addr, L->meth_func, &v) && sb_func_name(sb, h, v);
	case PL_K_CODE:
		sb_printf(sb, "%s ", st);
		if (!sb_str_at(sb, h, addr, L->co_qualname, 60) && !sb_str_at(sb, h, addr, L->co_name, 60))
			return false;
		sb_code_where(sb, h, addr);
		return true;
	case PL_K_CFUNCTION: {
		uint64_t ml, name;
		size_t k;
		if (!rd_u64(h, addr, L->cfunc_ml, &ml) || !rd_u64(h, ml, L->ml_name, &name) ||
		    !(k = rd_cstr(h, name, tmp, 65)))
			return false;
		sb_printf(sb, "%s\\n", st);
		sb_esc(sb, tmp, k, 60, 0);
		return true;
	}
	case PL_K_MODULE: {
		sb_printf(sb, "%s\\n", st);
		if (sb_str_at(sb, h, addr, L->mod_name, 60))
			return true;
		uint64_t d, s;
		if (!rd_u64(h, addr, L->mod_dict, &d) || !(s = pl_dict_get_str(h, d, "__name__")) ||
		    rd_str(h, s, tmp, sizeof(tmp)) < 0)
			return false;
		sb_esc(sb, tmp, strlen(tmp), 60, 0);
		return true;
	}
	case PL_K_TYPE: {
		/* a type we decoded (read-only: pl_type_get may grow h->types) */
		uint32_t k = pl_addrmap_get(&h->type_index, addr);
		if (k < h->ntypes && h->types[k].name) {
			sb_printf(sb, "%s\\n", st);
			sb_esc(sb, h->types[k].name, strlen(h->types[k].name), 60, 0);
			return true;
		}
		/* else its tp_name */
		uint64_t name;
		size_t n;
		if (!rd_u64(h, addr, L->tp_name, &name) || !(n = rd_cstr(h, name, tmp, 65)))
			return false;
		sb_printf(sb, "%s\\n", st);
		sb_esc(sb, tmp, n, 60, 0);
		return true;
	}
	default:
		return false;
	}
}

const char *pl_dot_node_label(const struct pl_graph *g, uint32_t node, char *buf, size_t len)
{
	if (!len)
		return buf;
	buf[0] = 0;
	if (!g || !g->h || node >= g->n)
		return buf;
	const struct pl_heap *h = g->h;
	const struct pl_type *t = type_of(g, node);
	char st[128];
	escape_cstr(st, sizeof(st), pl_short_type(type_name(t)), 48);
	struct sbuf sb = { buf, len, 0 };
	if (t && h->p && node_detail(g, node, t, st, &sb))
		return buf;
	sb.used = 0;
	buf[0] = 0;
	/* from the graph alone: a set by its number of referents (its items),
	 * when its edges are tp_traverse's own */
	uint32_t deg = g->off[node + 1] - g->off[node];
	bool counted = node < g->ntracked && pl_trav_of(g, node) == PL_TRAV_EXACT;
	if (t && counted && (t->kind == PL_K_SET || t->kind == PL_K_FROZENSET ||
			     (!h->p && (t->kind == PL_K_LIST || t->kind == PL_K_TUPLE))))
		sb_printf(&sb, "%s\\n%" PRIu32 " %s", st, deg, deg == 1 ? "item" : "items");
	else
		sb_printf(&sb, "%s\\n0x%" PRIx64, st, h->objs[node].addr);
	return buf;
}

/* ---- pictures ------------------------------------------------------------ */

struct pic {
	const struct pl_graph *g;
	const struct pl_roots *r;
	pl_dot_edge_label_fn edge_label;
	size_t max_nodes;
	uint32_t target;
	Agraph_t *G;
	Agsym_t *n_label, *n_shape, *n_style, *n_fill, *n_color, *n_pen, *n_font;
	Agsym_t *e_label, *e_style, *e_color;
	/* node id -> picture index, open addressing */
	uint32_t *keys, *vals;
	size_t cap;
	/* picture index -> node id (PL_NONE for an overflow node) and its Agnode */
	uint32_t *ids;
	Agnode_t **nodes;
	size_t n;
};

static const char *edge_label_default(const struct pl_graph *g, uint32_t src, uint32_t dst,
				      char *buf, size_t len)
{
	return pl_graph_edge_label(g, src, dst, buf, len);
}

static void pic_free(struct pic *P)
{
	free(P->keys);
	free(P->vals);
	free(P->ids);
	free(P->nodes);
}

static Agraph_t *pic_fail(struct pic *P, int err)
{
	if (P->G)
		agclose(P->G);
	P->G = NULL;
	pic_free(P);
	errno = err;
	return NULL;
}

static bool pic_init(struct pic *P, const struct pl_graph *g, const struct pl_roots *r,
		     const struct pl_dot_opts *o, size_t default_max, const char *name,
		     uint32_t target)
{
	memset(P, 0, sizeof(*P));
	P->g = g;
	P->r = r;
	P->target = target;
	P->edge_label = o && o->edge_label ? o->edge_label : edge_label_default;
	P->max_nodes = o && o->max_nodes ? o->max_nodes : default_max;
	if (P->max_nodes < 3)
		P->max_nodes = 3;
	if (P->max_nodes > 100000)
		P->max_nodes = 100000;
	P->cap = 16;
	while (P->cap < 2 * P->max_nodes)
		P->cap <<= 1;
	P->keys = malloc(P->cap * sizeof(*P->keys));
	P->vals = malloc(P->cap * sizeof(*P->vals));
	P->ids = malloc(P->max_nodes * sizeof(*P->ids));
	P->nodes = malloc(P->max_nodes * sizeof(*P->nodes));
	if (!P->keys || !P->vals || !P->ids || !P->nodes)
		return false;
	memset(P->keys, 0xff, P->cap * sizeof(*P->keys));
	P->G = agopen((char *)name, Agdirected, NULL);
	if (!P->G)
		return false;
	Agraph_t *G = P->G;
	agattr(G, AGRAPH, "fontname", "Helvetica");
	agattr(G, AGRAPH, "fontsize", "10");
	agattr(G, AGRAPH, "labelloc", "b");
	P->n_label = agattr(G, AGNODE, "label", "\\N");
	P->n_shape = agattr(G, AGNODE, "shape", "box");
	P->n_style = agattr(G, AGNODE, "style", "filled");
	P->n_fill = agattr(G, AGNODE, "fillcolor", "white");
	P->n_color = agattr(G, AGNODE, "color", "black");
	P->n_pen = agattr(G, AGNODE, "penwidth", "1");
	P->n_font = agattr(G, AGNODE, "fontcolor", "black");
	agattr(G, AGNODE, "fontname", "Helvetica");
	agattr(G, AGNODE, "fontsize", "10");
	P->e_label = agattr(G, AGEDGE, "label", "");
	P->e_style = agattr(G, AGEDGE, "style", "solid");
	P->e_color = agattr(G, AGEDGE, "color", "black");
	agattr(G, AGEDGE, "fontname", "Helvetica");
	agattr(G, AGEDGE, "fontsize", "9");
	return P->n_label && P->n_shape && P->n_style && P->n_fill && P->n_color && P->n_pen &&
	       P->n_font && P->e_label && P->e_style && P->e_color;
}

static size_t pic_slot(const struct pic *P, uint32_t id)
{
	size_t s = (size_t)((id * 2654435761u) & (P->cap - 1));
	while (P->keys[s] != PL_NONE && P->keys[s] != id)
		s = (s + 1) & (P->cap - 1);
	return s;
}

/* Picture index of node id, or -1. */
static long pic_find(const struct pic *P, uint32_t id)
{
	size_t s = pic_slot(P, id);
	return P->keys[s] == id ? (long)P->vals[s] : -1;
}

static bool pic_is_root(const struct pic *P, uint32_t id)
{
	const struct pl_roots *r = P->r;
	return r && r->root && r->parent && r->root[id] != PL_NONE && r->root[id] < r->n &&
	       r->parent[id] == PL_NONE;
}

/* Add object id as a node (which must not be there yet): its picture index,
 * or -1 (full, out of memory). */
static long pic_add(struct pic *P, uint32_t id)
{
	if (P->n >= P->max_nodes)
		return -1;
	const struct pl_graph *g = P->g;
	const struct pl_obj *ob = &g->h->objs[id];
	const struct pl_type *t = type_of(g, id);
	char name[40], label[1024];
	snprintf(name, sizeof(name), "0x%" PRIx64, ob->addr);
	Agnode_t *an = agnode(P->G, name, 1);
	if (!an)
		return -1;
	size_t s = pic_slot(P, id);
	P->keys[s] = id;
	P->vals[s] = (uint32_t)P->n;
	P->ids[P->n] = id;
	P->nodes[P->n] = an;

	struct sbuf sb = { label, sizeof(label), 0 };
	bool root = pic_is_root(P, id);
	if (root) {
		const char *rl = P->r->r[P->r->root[id]].label;
		sb_esc(&sb, rl ? rl : "?", rl ? strlen(rl) : 1, 60, 0);
		sb_printf(&sb, "\\n");
	}
	pl_dot_node_label(g, id, label + sb.used, sizeof(label) - sb.used);
	agxset(an, P->n_label, label);

	bool del = t && t->del, fin = t && t->finalize, unreach = pl_unreachable(g, id);
	if (del)
		agxset(an, P->n_shape, "doubleoctagon");
	else if (fin)
		agxset(an, P->n_shape, "octagon");
	if (del)
		agxset(an, P->n_fill, "#ff9c9c");
	else if (fin)
		agxset(an, P->n_fill, "#ffd8a8");
	else if (unreach)
		agxset(an, P->n_fill, "lightgrey");
	else if (root)
		agxset(an, P->n_fill, "lightblue");
	if (root)
		agxset(an, P->n_style, "filled,bold");
	else if (unreach)
		agxset(an, P->n_style, "filled,dashed");
	if (unreach)
		agxset(an, P->n_font, "gray30");
	if (id == P->target) {
		agxset(an, P->n_color, "red");
		agxset(an, P->n_pen, "2.5");
	}
	return (long)P->n++;
}

/* An overflow node, named after the object it hangs off. */
static Agnode_t *pic_more(struct pic *P, uint32_t next_to, const char *label)
{
	if (P->n >= P->max_nodes)
		return NULL;
	char name[48];
	snprintf(name, sizeof(name), "more:0x%" PRIx64, P->g->h->objs[next_to].addr);
	Agnode_t *an = agnode(P->G, name, 1);
	if (!an)
		return NULL;
	P->ids[P->n] = PL_NONE;
	P->nodes[P->n++] = an;
	agxset(an, P->n_label, (char *)label);
	agxset(an, P->n_shape, "note");
	agxset(an, P->n_style, "filled,dashed");
	agxset(an, P->n_font, "gray30");
	return an;
}

static bool pic_edge(struct pic *P, Agnode_t *t, Agnode_t *h, uint32_t src, uint32_t dst)
{
	Agedge_t *e = agedge(P->G, t, h, NULL, 1);
	if (!e)
		return false;
	if (src == PL_NONE || dst == PL_NONE) {
		agxset(e, P->e_style, "dashed");
		agxset(e, P->e_color, "gray40");
		return true;
	}
	char raw[512], esc[512];
	raw[0] = 0;
	const char *l = P->edge_label(P->g, src, dst, raw, sizeof(raw));
	escape_cstr(esc, sizeof(esc), l ? l : "", 60);
	agxset(e, P->e_label, esc);
	return true;
}

static void pic_caption(struct pic *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pic_caption(struct pic *P, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	agsafeset(P->G, "label", buf, "");
}

/* "0x7f.. (Handler)", escaped */
static const char *obj_str(const struct pl_graph *g, uint32_t id, char *buf, size_t len)
{
	char st[128];
	escape_cstr(st, sizeof(st), pl_short_type(type_name(type_of(g, id))), 48);
	snprintf(buf, len, "0x%" PRIx64 " (%s)", g->h->objs[id].addr, st);
	return buf;
}

/* ---- the chain ------------------------------------------------------------ */

Agraph_t *pl_dot_chain(const struct pl_graph *g, const struct pl_roots *r, uint32_t node)
{
	return pl_dot_chain_with(g, r, node, NULL);
}

Agraph_t *pl_dot_chain_with(const struct pl_graph *g, const struct pl_roots *r, uint32_t node,
			    const struct pl_dot_opts *o)
{
	struct pic P;
	if (!g || !g->h || !r || !r->root || !r->parent || node >= g->n) {
		errno = EINVAL;
		return NULL;
	}
	if (r->root[node] == PL_NONE) {
		errno = ENOENT;
		return NULL;
	}
	if (!pic_init(&P, g, r, o, PL_DOT_MAX_NODES, "chain", node))
		return pic_fail(&P, ENOMEM);
	/* walk up: the nearest keep nodes, the total length and the far end
	 * (a parent loop or a bad id in damaged data ends the walk) */
	size_t keep = P.max_nodes - 2;
	uint32_t *near = malloc(keep * sizeof(*near));
	if (!near)
		return pic_fail(&P, ENOMEM);
	uint64_t len = 0;
	uint32_t top = node;
	for (uint32_t v = node; v != PL_NONE && v < g->n && len <= g->n; v = r->parent[v]) {
		if (len < keep)
			near[len] = v;
		len++;
		top = v;
	}
	bool ok = true;
	long prev = -1;
	uint32_t prev_id = PL_NONE;
	if (len <= P.max_nodes) {
		/* the whole chain, root first */
		uint32_t *all = malloc((size_t)len * sizeof(*all));
		if (!all) {
			free(near);
			return pic_fail(&P, ENOMEM);
		}
		uint64_t k = 0;
		for (uint32_t v = node; k < len; v = r->parent[v])
			all[len - 1 - k++] = v;
		for (uint64_t i = 0; i < len && ok; i++) {
			long idx = pic_find(&P, all[i]);
			if (idx < 0)
				idx = pic_add(&P, all[i]);
			ok = idx >= 0;
			if (ok && prev >= 0)
				ok = pic_edge(&P, P.nodes[prev], P.nodes[idx], prev_id, all[i]);
			prev = idx;
			prev_id = all[i];
		}
		free(all);
	} else {
		/* the root, "N more objects", then the nearest keep */
		char lab[64];
		long ti = pic_add(&P, top);
		snprintf(lab, sizeof(lab), "%" PRIu64 " more objects", len - 1 - keep);
		Agnode_t *more = ti >= 0 ? pic_more(&P, top, lab) : NULL;
		ok = more && pic_edge(&P, P.nodes[ti], more, PL_NONE, PL_NONE);
		prev = -1;
		for (size_t i = keep; i-- > 0 && ok;) {
			long idx = pic_find(&P, near[i]);
			if (idx < 0)
				idx = pic_add(&P, near[i]);
			ok = idx >= 0;
			if (ok && prev < 0)
				ok = pic_edge(&P, more, P.nodes[idx], PL_NONE, PL_NONE);
			else if (ok)
				ok = pic_edge(&P, P.nodes[prev], P.nodes[idx], prev_id, near[i]);
			prev = idx;
			prev_id = near[i];
		}
	}
	free(near);
	if (!ok)
		return pic_fail(&P, ENOMEM);
	char rl[256], os[200];
	const char *label = pic_is_root(&P, top) ? r->r[r->root[top]].label : NULL;
	escape_cstr(rl, sizeof(rl), label ? label : "?", 80);
	pic_caption(&P, "chain of %" PRIu64 " objects from %s %s to %s%s", len,
		    label ? pl_root_kind_name(r->r[r->root[top]].kind) : "object", rl,
		    obj_str(g, node, os, sizeof(os)), len > P.max_nodes ? " (cut)" : "");
	Agraph_t *G = P.G;
	pic_free(&P);
	return G;
}

/* ---- referrers -------------------------------------------------------- */

Agraph_t *pl_dot_backrefs(const struct pl_graph *g, const struct pl_roots *r, uint32_t node,
			  const struct pl_dot_opts *o)
{
	struct pic P;
	if (!g || !g->h || !g->roff || !g->rsrc || node >= g->n) {
		errno = EINVAL;
		return NULL;
	}
	if (r && (!r->root || !r->parent))
		r = NULL;
	size_t max_depth = o && o->max_depth ? o->max_depth : PL_DOT_MAX_DEPTH;
	size_t too_many = o && o->too_many ? o->too_many : PL_DOT_TOO_MANY;
	if (!pic_init(&P, g, r, o, PL_DOT_MAX_NODES, "backrefs", node))
		return pic_fail(&P, ENOMEM);
	uint32_t *depth = malloc(P.max_nodes * sizeof(*depth));
	if (!depth || pic_add(&P, node) != 0) {
		free(depth);
		return pic_fail(&P, ENOMEM);
	}
	depth[0] = 0;
	bool ok = true, cut = false;
	uint64_t hidden = 0;
	/* the picture's node list is the BFS queue */
	for (size_t q = 0; q < P.n && ok; q++) {
		uint32_t v = P.ids[q];
		if (v == PL_NONE || depth[q] >= max_depth || (v != node && pic_is_root(&P, v)))
			continue;
		uint32_t b = g->roff[v], e = g->roff[v + 1];
		if (b > e || e > g->nedges)
			continue;   /* damaged */
		/* the parent on the shortest chain, if it really is a referrer */
		uint32_t first = r && r->parent[v] < g->n ? r->parent[v] : PL_NONE;
		bool is_ref = false;
		for (uint32_t k = b; k < e && first != PL_NONE && !is_ref; k++)
			is_ref = g->rsrc[k] == first;
		if (!is_ref)
			first = PL_NONE;
		size_t drawn = 0;
		uint64_t more = 0;
		/* the referrer on the shortest chain first, then the others in order */
		for (uint64_t k = 0; k <= (uint64_t)(e - b) && ok; k++) {
			uint32_t u;
			if (k == 0) {
				if (first == PL_NONE)
					continue;
				u = first;
			} else {
				u = g->rsrc[b + k - 1];
				if (u >= g->n || u == first || (k > 1 && u == g->rsrc[b + k - 2]))
					continue;
			}
			long ui = pic_find(&P, u);
			/* room for u and for v's overflow node */
			if (drawn >= too_many || (ui < 0 && P.n + 2 > P.max_nodes)) {
				more++;
				cut |= drawn < too_many;
				continue;
			}
			if (ui < 0) {
				ui = pic_add(&P, u);
				if (ui < 0) {
					ok = false;
					break;
				}
				depth[ui] = depth[q] + 1;
			}
			drawn++;
			ok = pic_edge(&P, P.nodes[ui], P.nodes[q], u, v);
		}
		if (ok && more) {
			/* no room left for the overflow node itself: the caption says so */
			char lab[64];
			snprintf(lab, sizeof(lab), "%" PRIu64 " more referrer%s", more, more == 1 ? "" : "s");
			Agnode_t *m = P.n < P.max_nodes ? pic_more(&P, v, lab) : NULL;
			if (m)
				ok = pic_edge(&P, m, P.nodes[q], PL_NONE, PL_NONE);
			else
				cut = true;
			hidden += more;
		}
	}
	free(depth);
	if (!ok)
		return pic_fail(&P, ENOMEM);
	char os[200];
	pic_caption(&P, "referrers of %s: %zu level%s, %zu per object%s%s", obj_str(g, node, os, sizeof(os)),
		    max_depth, max_depth == 1 ? "" : "s", too_many, hidden ? ", some collapsed" : "",
		    cut ? ", cut at the node limit" : "");
	Agraph_t *G = P.G;
	pic_free(&P);
	return G;
}

/* ---- one cycle ------------------------------------------------------------ */

/* The shortest way around the cycle from start back to it, as
 * pl_cycle_path, but in memory proportional to what it explores (at most
 * CYCLE_BFS objects) and checking every id: up to max nodes from start into
 * path, or 0. */
#define CYCLE_BFS 65536
static uint32_t cycle_path(const struct pl_graph *g, const struct pl_cycles *c, uint32_t start,
			   uint32_t *path, uint32_t max)
{
	uint32_t id = c->comp[start];
	size_t cap = 2 * CYCLE_BFS;
	uint32_t *key = malloc(cap * sizeof(*key)), *prev = malloc(cap * sizeof(*prev));
	uint32_t *queue = malloc(CYCLE_BFS * sizeof(*queue));
	uint32_t len = 0, qh = 0, qt = 0, found = PL_NONE;
	if (!key || !prev || !queue || !max)
		goto out;
	memset(key, 0xff, cap * sizeof(*key));
	queue[qt++] = start;
	while (qh < qt && found == PL_NONE) {
		uint32_t v = queue[qh++];
		uint32_t b = g->off[v], e = g->off[v + 1];
		if (b > e || e > g->nedges)
			continue;
		for (uint32_t k = b; k < e && found == PL_NONE; k++) {
			uint32_t w = g->dst[k];
			if (w >= g->n || c->comp[w] != id)
				continue;
			if (w == start) {
				found = v;
				break;
			}
			size_t s = (size_t)((w * 2654435761u) & (cap - 1));
			while (key[s] != PL_NONE && key[s] != w)
				s = (s + 1) & (cap - 1);
			if (key[s] == w || qt >= CYCLE_BFS)
				continue;
			key[s] = w;
			prev[s] = v;
			queue[qt++] = w;
		}
	}
	if (found == PL_NONE)
		goto out;
	/* walk back from found to start into queue (free now), then reverse */
	uint32_t k = 0;
	for (uint32_t v = found; v != start && k < CYCLE_BFS;) {
		queue[k++] = v;
		size_t s = (size_t)((v * 2654435761u) & (cap - 1));
		while (key[s] != PL_NONE && key[s] != v)
			s = (s + 1) & (cap - 1);
		if (key[s] != v)
			break;
		v = prev[s];
	}
	path[len++] = start;
	while (k && len < max)
		path[len++] = queue[--k];
out:
	free(key);
	free(prev);
	free(queue);
	return len;
}

Agraph_t *pl_dot_cycle(const struct pl_graph *g, const struct pl_cycles *c, uint32_t sample)
{
	return pl_dot_cycle_with(g, c, sample, NULL);
}

Agraph_t *pl_dot_cycle_with(const struct pl_graph *g, const struct pl_cycles *c, uint32_t sample,
			    const struct pl_dot_opts *o)
{
	struct pic P;
	if (!g || !g->h || !c || !c->comp || sample >= g->n) {
		errno = EINVAL;
		return NULL;
	}
	uint32_t id = c->comp[sample];
	if (id == PL_NONE) {
		errno = ENOENT;
		return NULL;
	}
	if (!pic_init(&P, g, NULL, o, PL_DOT_CYCLE_MAX_NODES, "cycle", sample))
		return pic_fail(&P, ENOMEM);
	uint64_t members = 0;
	bool fin = false, del = false;
	for (uint32_t i = 0; i < g->n; i++)
		if (c->comp[i] == id) {
			members++;
			const struct pl_type *t = type_of(g, i);
			fin |= t && t->finalize;
			del |= t && t->del;
		}
	/* members drawn: keep one node for the overflow if they do not all fit */
	size_t room = members <= P.max_nodes ? (size_t)members : P.max_nodes - 1;
	bool ok = pic_add(&P, sample) == 0;
	/* a way around the cycle through sample (at most room of it) */
	if (ok) {
		uint32_t *path = malloc(room * sizeof(*path));
		uint32_t n = path ? cycle_path(g, c, sample, path, (uint32_t)room) : 0;
		for (uint32_t i = 1; i < n && ok && P.n < room; i++)
			if (pic_find(&P, path[i]) < 0)
				ok = pic_add(&P, path[i]) >= 0;
		free(path);
	}
	/* then breadth first from sample over members (the node list is the queue) */
	for (size_t q = 0; q < P.n && P.n < room && ok; q++) {
		uint32_t v = P.ids[q];
		uint32_t b = g->off[v], e = g->off[v + 1];
		if (b > e || e > g->nedges)
			continue;
		for (uint32_t k = b; k < e && P.n < room && ok; k++) {
			uint32_t w = g->dst[k];
			if (w < g->n && c->comp[w] == id && pic_find(&P, w) < 0)
				ok = pic_add(&P, w) >= 0;
		}
	}
	/* every edge between drawn members, once per pair; members not drawn are
	 * one overflow node */
	size_t drawn = P.n;
	Agnode_t *more = NULL;
	if (ok && members > drawn) {
		char lab[64];
		snprintf(lab, sizeof(lab), "%" PRIu64 " more objects\\nin this cycle", members - drawn);
		ok = (more = pic_more(&P, sample, lab)) != NULL;
	}
	unsigned char *seen = calloc(drawn + 1, 1);
	if (!seen)
		ok = false;
	for (size_t a = 0; a < drawn && ok; a++) {
		uint32_t v = P.ids[a];
		uint32_t b = g->off[v], e = g->off[v + 1];
		if (b > e || e > g->nedges)
			continue;
		memset(seen, 0, drawn + 1);
		for (uint32_t k = b; k < e && ok; k++) {
			uint32_t w = g->dst[k];
			if (w >= g->n || c->comp[w] != id)
				continue;
			long wi = pic_find(&P, w);
			size_t slot = wi < 0 ? drawn : (size_t)wi;
			if (seen[slot])
				continue;
			seen[slot] = 1;
			if (wi >= 0)
				ok = pic_edge(&P, P.nodes[a], P.nodes[wi], v, w);
			else if (more)
				ok = pic_edge(&P, P.nodes[a], more, PL_NONE, PL_NONE);
		}
	}
	free(seen);
	if (!ok)
		return pic_fail(&P, ENOMEM);
	char os[200];
	pic_caption(&P, "reference cycle of %" PRIu64 " objects through %s%s%s%s", members,
		    obj_str(g, sample, os, sizeof(os)), members > drawn ? ", cut" : "",
		    fin ? ", with __del__" : "", del ? ", UNCOLLECTABLE (tp_del)" : "");
	Agraph_t *G = P.G;
	pic_free(&P);
	return G;
}

/* ---- output ------------------------------------------------------------- */

void pl_dot_free(Agraph_t *G)
{
	if (G)
		agclose(G);
}

char *pl_dot_string(Agraph_t *G)
{
	if (!G) {
		errno = EINVAL;
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	int rc = agwrite(G, f);
	if (fclose(f) != 0 || rc != 0) {
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	return buf;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* one line */
	for (char *s = err; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
	size_t l = strlen(err);
	while (l && err[l - 1] == ' ')
		err[--l] = 0;
}

static FILE *open_out(const char *path, char *err, size_t errlen)
{
	if (!path) {
		errno = EINVAL;
		set_err(err, errlen, "no output path");
		return NULL;
	}
	if (!strcmp(path, "-"))
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f) {
		int e = errno;
		set_err(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
	}
	return f;
}

static int close_out(FILE *f, const char *path, int rc, char *err, size_t errlen)
{
	int e = errno;
	bool bad = ferror(f) != 0;
	if (f == stdout)
		bad |= fflush(f) != 0;
	else
		bad |= fclose(f) != 0;
	if (bad && rc == 0) {
		e = errno ? errno : EIO;
		set_err(err, errlen, "%s: %s", path, strerror(e));
		rc = -1;
	}
	errno = rc ? e : 0;
	return rc;
}

int pl_dot_write(Agraph_t *G, const char *path, char *err, size_t errlen)
{
	if (!G) {
		errno = EINVAL;
		set_err(err, errlen, "no graph");
		return -1;
	}
	FILE *f = open_out(path, err, errlen);
	if (!f)
		return -1;
	errno = 0;
	int rc = agwrite(G, f) == 0 ? 0 : -1;
	if (rc) {
		errno = errno ? errno : EIO;
		set_err(err, errlen, "%s: %s", path, strerror(errno));
	}
	return close_out(f, path, rc, err, errlen);
}

/* Graphviz reports through a global handler: keep its first message. */
static char gv_msg[512];

/* One Graphviz context for the whole process, never freed: every
 * gvContext() leaks its plugin configuration, and the pango plugin caches
 * the last font name across contexts, which a gvFreeContext() leaves
 * dangling (valgrind: invalid read in the next layout). */
static GVC_t *gv_context(void)
{
	static GVC_t *gvc;
	if (!gvc)
		gvc = gvContext();
	return gvc;
}

static int gv_errf(char *msg)
{
	if (!gv_msg[0] && msg)
		snprintf(gv_msg, sizeof(gv_msg), "%s", msg);
	return 0;
}

int pl_dot_svg(Agraph_t *G, const char *path, char *err, size_t errlen)
{
	if (!G) {
		errno = EINVAL;
		set_err(err, errlen, "no graph");
		return -1;
	}
	gv_msg[0] = 0;
	agusererrf old = agseterrf(gv_errf);
	agerrlevel_t oldlevel = agseterr(AGERR);   /* warnings (fonts...) are not failures */
	int rc = -1, e = EIO;
	/* lay out a copy: layout leaves pos, width, bb ... on the graph */
	char *text = pl_dot_string(G);
	Agraph_t *C = text ? agmemread(text) : NULL;
	free(text);
	GVC_t *gvc = NULL;
	FILE *f = NULL;
	if (!C) {
		set_err(err, errlen, "cannot copy the graph: %s", gv_msg[0] ? gv_msg : "out of memory");
		e = gv_msg[0] ? EINVAL : ENOMEM;
		goto out;
	}
	gvc = gv_context();
	if (!gvc) {
		set_err(err, errlen, "cannot start Graphviz");
		e = ENOMEM;
		goto out;
	}
	if (gvLayout(gvc, C, "dot") != 0) {
		set_err(err, errlen, "Graphviz layout failed: %s", gv_msg[0] ? gv_msg : "no dot layout plugin");
		goto out;
	}
	f = open_out(path, err, errlen);
	if (!f) {
		e = errno;
		gvFreeLayout(gvc, C);
		goto out;
	}
	errno = 0;
	rc = gvRender(gvc, C, "svg", f) == 0 ? 0 : -1;
	if (rc)
		set_err(err, errlen, "Graphviz cannot render SVG: %s", gv_msg[0] ? gv_msg : "no svg plugin");
	gvFreeLayout(gvc, C);
	rc = close_out(f, path, rc, err, errlen);
	e = errno ? errno : EIO;
out:
	if (C)
		agclose(C);
	agseterr(oldlevel);
	agseterrf(old);
	errno = rc ? e : 0;
	return rc;
}
