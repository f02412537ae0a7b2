#include "config.h"
#include "graphout.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "coredump/program.h"
#include "json.h"

const char *pl_short_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot + 1 : name;
}

static const char *tname(const struct pl_graph *g, uint32_t i)
{
	return g->h->types[g->h->objs[i].type].name;
}

static const char *gen_str(uint8_t gen, char *buf, size_t len)
{
	if (gen <= 2)
		snprintf(buf, len, "%u", gen);
	else
		snprintf(buf, len, "%s", gen == PL_GEN_PERMANENT ? "permanent" : "untracked");
	return buf;
}

void pl_render_refs(FILE *out, const struct pl_graph *g, uint32_t node, bool referrers,
		    enum pl_format fmt)
{
	const struct pl_heap *h = g->h;
	uint32_t b = referrers ? g->roff[node] : g->off[node];
	uint32_t e = referrers ? g->roff[node + 1] : g->off[node + 1];
	char label[256], gb[16];
	if (fmt == PL_FMT_TEXT || fmt == PL_FMT_MARKDOWN)
		fprintf(out, "%s of 0x%" PRIx64 " (%s, %u bytes, refcnt %" PRIu32 "): %u\n",
			referrers ? "referrers" : "referents", h->objs[node].addr, tname(g, node),
			h->objs[node].size, h->objs[node].refcnt, e - b);
	for (uint32_t k = b; k < e; k++) {
		uint32_t other = referrers ? g->rsrc[k] : g->dst[k];
		uint32_t src = referrers ? other : node, dst = referrers ? node : other;
		pl_graph_edge_label(g, src, dst, label, sizeof(label));
		const struct pl_obj *o = &h->objs[other];
		if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL) {
			fprintf(out, "{\"addr\":\"0x%" PRIx64 "\",\"type\":", o->addr);
			pl_json_cstr(out, tname(g, other));
			fprintf(out, ",\"edge\":");
			pl_json_cstr(out, label);
			fprintf(out, ",\"size\":%u,\"gen\":\"%s\"%s}\n", o->size, gen_str(o->gen, gb, sizeof(gb)),
				pl_trav_of(g, src) == PL_TRAV_INFERRED ? ",\"inferred\":true" : "");
		} else {
			fprintf(out, "  %-28s 0x%" PRIx64 "  %s%s\n", label, o->addr, tname(g, other),
				pl_trav_of(g, src) == PL_TRAV_INFERRED ? "  (inferred)" : "");
		}
	}
}

const char *pl_cycle_path_str(const struct pl_graph *g, const struct pl_cycles *c, uint32_t start,
			      char *buf, size_t len)
{
	uint32_t path[64];
	uint32_t n = pl_cycle_path(g, c, start, path, 64);
	size_t used = 0;
	buf[0] = 0;
	for (uint32_t i = 0; i < n && used + 1 < len; i++) {
		uint32_t a = path[i], b = path[(i + 1) % n];
		char lab[256], lab2[256];
		pl_graph_edge_label(g, a, b, lab, sizeof(lab));
		const char *seg = lab;
		/* an instance's __dict__ hop reads better as the attribute */
		if (!strcmp(lab, ".__dict__") && g->h->types[g->h->objs[b].type].kind == PL_K_DICT) {
			uint32_t c2 = path[(i + 2) % n];
			pl_graph_edge_label(g, b, c2, lab2, sizeof(lab2));
			size_t l2 = strlen(lab2);
			if (lab2[0] == '[' && lab2[1] == '\'' && l2 > 4) {
				snprintf(lab, sizeof(lab), ".%.*s", (int)(l2 - 4), lab2 + 2);
				i++;
			}
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s%s", used ? " → " : "",
					 pl_short_type(tname(g, a)), seg);
	}
	if (n && used + 1 < len)
		snprintf(buf + used, len - used, " → %s", pl_short_type(tname(g, path[0])));
	return buf;
}

void pl_render_gc_summary(FILE *out, const struct pl_graph *g, const struct pl_cycles *c,
			  enum pl_format fmt)
{
	const struct pl_gcstate *gc = &g->h->p->rt.gc;
	char hb[32];
	pl_human_bytes(g->unreachable_bytes, hb, sizeof(hb));
	const char *pre = fmt == PL_FMT_MARKDOWN ? "- " : "";
	if (!gc->enabled)
		fprintf(out, "%sgc is DISABLED; %u objects in %u cycles (%s) would be freed by "
			"gc.collect()\n", pre, g->nunreachable, c->ncomp, hb);
	else if (g->nunreachable)
		fprintf(out, "%s%u unreachable objects in %u cycles (%s) wait for the next collection\n",
			pre, g->nunreachable, c->ncomp, hb);
	else
		fprintf(out, "%sno unreachable objects: gc.collect() would free nothing\n", pre);
	if (gc->debug & 32)
		fprintf(out, "%sgc.set_debug(DEBUG_SAVEALL) is on: every collected object is kept in "
			"gc.garbage instead of being freed\n", pre);
	if (gc->garbage_len > 0) {
		fprintf(out, "%sgc.garbage holds %" PRId64 " objects", pre, gc->garbage_len);
		/* what it holds: the three most common types */
		struct pl_heap *h = g->h;
		struct pl_program *p = h->p;
		uint64_t items = 0;
		uint32_t *count = calloc(h->ntypes + 1, sizeof(*count));
		if (count && pl_as_u64(&p->as, gc->garbage + (uint64_t)p->L.list_items, &items) == 0) {
			for (int64_t i = 0; i < gc->garbage_len && i < (1 << 24); i++) {
				uint64_t o, ty;
				int64_t rc;
				uint32_t id;
				if (pl_as_u64(&p->as, items + (uint64_t)(8 * i), &o) || !o ||
				    pl_obj_header(p, o, &rc, &ty) || !pl_type_get(h, ty) ||
				    (id = pl_addrmap_get(&h->type_index, ty)) == UINT32_MAX)
					continue;
				count[id]++;
			}
			fprintf(out, ":");
			uint32_t top[3];
			size_t nt = pl_top_types(h, count, 3, top);
			for (size_t k = 0; k < nt; k++)
				fprintf(out, "%s %u × %s", k ? "," : "", count[top[k]], h->types[top[k]].name);
		}
		free(count);
		fputc('\n', out);
	}
	if (gc->enabled && gc->gen[0].threshold == 0)
		fprintf(out, "%sgc threshold 0 is 0: automatic collection never runs\n", pre);
	if (gc->collecting)
		fprintf(out, "%sthe core was taken during a collection\n", pre);
}

/* "edges of 412 objects were inferred (their tp_traverse is not emulated):
 * xml.etree.ElementTree.Element 301, ..." */
static void inferred_summary(FILE *out, const struct pl_graph *g, const char *pre)
{
	if (!g->ninferred)
		return;
	const struct pl_heap *h = g->h;
	uint32_t *count = calloc(h->ntypes + 1, sizeof(*count));
	if (!count)
		return;
	for (uint32_t i = 0; i < g->ntracked; i++)
		if (pl_trav_of(g, i) == PL_TRAV_INFERRED)
			count[h->objs[i].type]++;
	fprintf(out, "%sedges of %u objects were inferred by scanning their memory (their type's "
		"tp_traverse is not emulated, as for C extension types):", pre, g->ninferred);
	uint32_t top[5];
	size_t nt = pl_top_types(h, count, 5, top);
	for (size_t k = 0; k < nt; k++)
		fprintf(out, "%s %s %u", k ? "," : "", h->types[top[k]].name, count[top[k]]);
	fputc('\n', out);
	free(count);
}

/* Cycle groups as one JSON object (no trailing newline), or with lines set
 * as JSON Lines, one group a line. */
static void cycles_json(FILE *out, const struct pl_graph *g, const struct pl_cycles *c, size_t top,
			bool lines)
{
	const struct pl_heap *h = g->h;
	size_t n = c->ngroups;
	if (top && top < n)
		n = top;
	char path[1024];
	if (!lines)
		fprintf(out, "{\"unreachable\":%u,\"unreachable_bytes\":%" PRIu64
			",\"inferred_objects\":%u,\"cycles\":[", g->nunreachable, g->unreachable_bytes,
			g->ninferred);
	for (size_t i = 0; i < n; i++) {
		const struct pl_cycle_group *grp = &c->groups[i];
		fprintf(out, "%s{\"count\":%u,\"objects\":%" PRIu64 ",\"bytes\":%" PRIu64
			",\"members\":%" PRIu64 ",\"types\":{", i && !lines ? "," : "",
			grp->ncycles, grp->objects, grp->bytes, grp->members);
		for (uint32_t k = 0; k < grp->ntypes; k++) {
			fprintf(out, "%s", k ? "," : "");
			pl_json_cstr(out, h->types[grp->types[2 * k]].name);
			fprintf(out, ":%u", grp->types[2 * k + 1]);
		}
		fprintf(out, "},\"has_finalizers\":%s,\"uncollectable\":%s,\"finalized\":%u,"
			"\"sample\":\"0x%" PRIx64 "\",\"sample_path\":",
			grp->has_finalizers ? "true" : "false", grp->legacy_finalizer ? "true" : "false",
			grp->finalized, h->objs[grp->sample].addr);
		pl_json_cstr(out, pl_cycle_path_str(g, c, grp->sample, path, sizeof(path)));
		fprintf(out, "}%s", lines ? "\n" : "");
	}
	if (!lines)
		fputs("]}", out);
}

void pl_json_cycles(FILE *out, const struct pl_graph *g, const struct pl_cycles *c, size_t top)
{
	cycles_json(out, g, c, top, false);
}

void pl_render_cycles(FILE *out, const struct pl_graph *g, const struct pl_cycles *c, size_t top,
		      enum pl_format fmt)
{
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL) {
		cycles_json(out, g, c, top, fmt == PL_FMT_JSONL);
		if (fmt == PL_FMT_JSON)
			fputc('\n', out);
		return;
	}
	pl_render_gc_summary(out, g, c, fmt);
	inferred_summary(out, g, fmt == PL_FMT_MARKDOWN ? "- " : "");
	pl_render_cycles_table(out, g, c, top, fmt);
}

void pl_render_cycles_table(FILE *out, const struct pl_graph *g, const struct pl_cycles *c,
			    size_t top, enum pl_format fmt)
{
	const struct pl_heap *h = g->h;
	size_t n = c->ngroups;
	if (top && top < n)
		n = top;
	char path[1024], hb[32];
	if (!c->ngroups) {
		fprintf(out, "%snone\n", fmt == PL_FMT_MARKDOWN ? "- " : "  ");
		return;
	}
	fprintf(out, "%s%8s %8s %12s  %s\n", fmt == PL_FMT_MARKDOWN ? "\n```\n" : "\n", "cycles",
		"objects", "bytes", "shape, sample path");
	for (size_t i = 0; i < n; i++) {
		const struct pl_cycle_group *grp = &c->groups[i];
		fprintf(out, "%8u %8" PRIu64 " %12s  ", grp->ncycles, grp->objects,
			pl_human_bytes(grp->bytes, hb, sizeof(hb)));
		for (uint32_t k = 0; k < grp->ntypes && k < 6; k++)
			fprintf(out, "%s%s×%u", k ? ", " : "", pl_short_type(h->types[grp->types[2 * k]].name),
				grp->types[2 * k + 1]);
		if (grp->ntypes > 6)
			fprintf(out, ", …");
		if (grp->legacy_finalizer)
			fprintf(out, "  UNCOLLECTABLE (tp_del)");
		else if (grp->has_finalizers)
			fprintf(out, "  [finalizers%s]", grp->finalized ? ", some already run" : "");
		fprintf(out, "\n%*s  e.g. 0x%" PRIx64 ": %s\n", 30, "", h->objs[grp->sample].addr,
			pl_cycle_path_str(g, c, grp->sample, path, sizeof(path)));
	}
	if (n < c->ngroups)
		fprintf(out, "… %zu more shapes (--top)\n", c->ngroups - n);
	if (fmt == PL_FMT_MARKDOWN)
		fprintf(out, "```\n");
}

void pl_render_objects_graph(FILE *out, const struct pl_graph *g, const char *type_filter,
			     enum pl_format fmt)
{
	const struct pl_heap *h = g->h;
	char gb[16];
	for (uint32_t i = 0; i < g->n; i++) {
		const struct pl_obj *o = &h->objs[i];
		const struct pl_type *t = &h->types[o->type];
		if (type_filter && strcmp(t->name, type_filter) != 0)
			continue;
		if (fmt != PL_FMT_JSONL && fmt != PL_FMT_JSON) {
			fprintf(out, "0x%" PRIx64 " %-40s size %-8u refcnt %-8" PRIu32 " gen %-9s ext %" PRId32
				"%s%s\n", o->addr, t->name, o->size, o->refcnt, gen_str(o->gen, gb, sizeof(gb)),
				g->ext[i], pl_unreachable(g, i) ? " UNREACHABLE" : "",
				pl_trav_of(g, i) == PL_TRAV_INFERRED ? " (edges inferred)" : "");
			continue;
		}
		pl_json_obj_head(out, h, o);
		fputs(",\"referents\":[", out);
		for (uint32_t e = g->off[i]; e < g->off[i + 1]; e++)
			fprintf(out, "%s\"0x%" PRIx64 "\"", e > g->off[i] ? "," : "", h->objs[g->dst[e]].addr);
		fprintf(out, "]%s,\"unreachable\":%s,\"ext_refs\":%" PRId32 "}\n",
			pl_trav_of(g, i) == PL_TRAV_INFERRED ? ",\"inferred\":true" : "",
			pl_unreachable(g, i) ? "true" : "false", g->ext[i]);
	}
}

void pl_json_root_chain(FILE *out, const struct pl_graph *g, const struct pl_roots *r,
			uint32_t node)
{
	const struct pl_heap *h = g->h;
	uint32_t chain[256];
	char lab[256];
	uint32_t n = pl_roots_chain(r, node, chain, 256);
	fprintf(out, ",\"root\":");
	if (n) {
		const struct pl_root *root = &r->r[r->root[node]];
		fprintf(out, "{\"kind\":");
		pl_json_cstr(out, pl_root_kind_name(root->kind));
		fprintf(out, ",\"label\":");
		pl_json_cstr(out, root->label);
		if (root->where) {
			fprintf(out, ",\"where\":");
			pl_json_cstr(out, root->where);
		}
		fputc('}', out);
	} else {
		fputs("null", out);
	}
	fprintf(out, ",\"chain\":[");
	for (uint32_t i = 0; i < n; i++) {
		fprintf(out, "%s{\"addr\":\"0x%" PRIx64 "\",\"type\":", i ? "," : "", h->objs[chain[i]].addr);
		pl_json_cstr(out, tname(g, chain[i]));
		fprintf(out, ",\"edge\":");
		if (i + 1 < n)
			pl_json_cstr(out, pl_graph_edge_label(g, chain[i], chain[i + 1], lab, sizeof(lab)));
		else
			fputs("null", out);
		fputc('}', out);
	}
	fputc(']', out);
}

void pl_render_chain(FILE *out, const struct pl_graph *g, const struct pl_roots *r, uint32_t node,
		     enum pl_format fmt)
{
	const struct pl_heap *h = g->h;
	char path[4096], lab[256];
	uint32_t chain[256];
	uint32_t n = pl_roots_chain(r, node, chain, 256);
	pl_roots_path(g, r, node, path, sizeof(path));
	const struct pl_root *root = n ? &r->r[r->root[node]] : NULL;
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL) {
		fprintf(out, "{\"addr\":\"0x%" PRIx64 "\",\"type\":", h->objs[node].addr);
		pl_json_cstr(out, tname(g, node));
		fprintf(out, ",\"path\":");
		pl_json_cstr(out, path);
		pl_json_root_chain(out, g, r, node);
		fprintf(out, "}\n");
		return;
	}
	if (!n) {
		fprintf(out, "0x%" PRIx64 " (%s) is reached from no root%s\n", h->objs[node].addr,
			tname(g, node), g->gc_done && pl_unreachable(g, node) ?
			": it is unreachable garbage (see 'cycles')" : "");
		return;
	}
	fprintf(out, "%s\n  root: %s (%s%s%s)\n", path, root->label, pl_root_kind_name(root->kind),
		root->where ? ": " : "", root->where ? root->where : "");
	for (uint32_t i = 0; i < n; i++) {
		fprintf(out, "  0x%" PRIx64 "  %-32s %s\n", h->objs[chain[i]].addr, tname(g, chain[i]),
			i + 1 < n ? pl_graph_edge_label(g, chain[i], chain[i + 1], lab, sizeof(lab)) : "");
	}
}

void pl_render_backrefs(FILE *out, const struct pl_graph *g, const struct pl_roots *r,
			uint32_t node, size_t max_depth, size_t too_many, enum pl_format fmt)
{
	const struct pl_heap *h = g->h;
	bool json = fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL;
	/* DFS over referrers with an explicit stack of (node, depth, next
	 * referrer, shown); a node is expanded once */
	struct frame { uint32_t node, depth, next, shown; } *st = malloc(sizeof(*st) * (max_depth + 2));
	uint8_t *seen = calloc(g->n + 1, 1);
	if (!st || !seen) {
		free(st);
		free(seen);
		return;
	}
	char lab[256];
	if (!json)
		fprintf(out, "0x%" PRIx64 " %s\n", h->objs[node].addr, tname(g, node));
	size_t sp = 0;
	st[sp++] = (struct frame){ node, 0, g->roff[node], 0 };
	seen[node] = 1;
	while (sp) {
		struct frame *f = &st[sp - 1];
		uint32_t end = g->roff[f->node + 1];
		if (f->depth >= max_depth || f->next >= end) {
			sp--;
			continue;
		}
		if (f->shown >= too_many) {
			uint32_t rest = end - f->next;
			if (json)
				fprintf(out, "{\"to\":\"0x%" PRIx64 "\",\"more_referrers\":%u}\n",
					h->objs[f->node].addr, rest);
			else
				fprintf(out, "%*s… %u more referrer%s\n", (int)(2 * f->depth + 2), "", rest,
					rest == 1 ? "" : "s");
			sp--;
			continue;
		}
		uint32_t src = g->rsrc[f->next++];
		f->shown++;
		pl_graph_edge_label(g, src, f->node, lab, sizeof(lab));
		const struct pl_root *root = NULL;
		if (r && r->root[src] != PL_NONE && r->r[r->root[src]].node == src)
			root = &r->r[r->root[src]];
		bool again = seen[src];
		if (json) {
			fprintf(out, "{\"from\":\"0x%" PRIx64 "\",\"type\":", h->objs[src].addr);
			pl_json_cstr(out, tname(g, src));
			fprintf(out, ",\"to\":\"0x%" PRIx64 "\",\"edge\":", h->objs[f->node].addr);
			pl_json_cstr(out, lab);
			fprintf(out, ",\"depth\":%u", f->depth + 1);
			if (root) {
				fprintf(out, ",\"root\":");
				pl_json_cstr(out, root->label);
			}
			fprintf(out, "}\n");
		} else {
			fprintf(out, "%*s<- %-20s 0x%" PRIx64 " %s%s%s%s\n", (int)(2 * f->depth + 2), "", lab,
				h->objs[src].addr, tname(g, src), root ? "   [root: " : "", root ? root->label : "",
				root ? "]" : again ? "   (shown above)" : "");
		}
		if (again || root)
			continue;
		seen[src] = 1;
		if (f->depth + 1 < max_depth && sp < max_depth + 1)
			st[sp++] = (struct frame){ src, f->depth + 1, g->roff[src], 0 };
	}
	free(st);
	free(seen);
}
