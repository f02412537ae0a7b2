#include "config.h"
#include "report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "coredump/program.h"
#include "graphout.h"
#include "json.h"

static const struct pl_retained *sort_rt;
static const struct pl_heap *sort_h;

static int by_retained(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint64_t rx = sort_rt->type_retained[x], ry = sort_rt->type_retained[y];
	if (rx != ry)
		return rx < ry ? 1 : -1;
	return pl_type_cmp(&sort_h->types[x], &sort_h->types[y]);
}

static size_t sorted_types(const struct pl_heap *h, const struct pl_retained *rt, uint32_t **out)
{
	uint32_t *idx = malloc((h->ntypes + 1) * sizeof(*idx));
	size_t n = 0;
	if (!idx)
		return 0;
	for (size_t i = 0; i < h->ntypes; i++)
		if (h->types[i].valid &&
		    (h->types[i].count || h->types[i].untracked_count || rt->type_retained[i]))
			idx[n++] = (uint32_t)i;
	sort_rt = rt;
	sort_h = h;
	qsort(idx, n, sizeof(*idx), by_retained);
	*out = idx;
	return n;
}

/* One type's JSON fields after its name: its gc objects (count, bytes),
 * the untracked ones the graph holds, and what its instances retain. */
static void json_type_fields(FILE *out, const struct pl_type *t, uint64_t retained)
{
	fprintf(out, ",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"untracked_count\":%" PRIu64
		",\"untracked_bytes\":%" PRIu64 ",\"retained_bytes\":%" PRIu64 "}",
		t->count, t->bytes, t->untracked_count, t->untracked_bytes, retained);
}

/* Text and markdown count every object of a type in the graph, as the
 * retained bytes do: the gc objects and the untracked ones they reach. */
void pl_render_types_retained(FILE *out, const struct pl_graph *g, const struct pl_retained *rt,
			      size_t top, enum pl_format fmt)
{
	const struct pl_heap *h = g->h;
	uint32_t *idx = NULL;
	size_t n = sorted_types(h, rt, &idx);
	if (top && top < n)
		n = top;
	char a[32], b[32];
	bool untracked = false;
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL) {
		if (fmt == PL_FMT_JSON)
			fputs("{\"types\":[", out);
		for (size_t i = 0; i < n; i++) {
			const struct pl_type *t = &h->types[idx[i]];
			fprintf(out, "%s{\"type\":", i && fmt == PL_FMT_JSON ? "," : "");
			pl_json_cstr(out, t->name);
			json_type_fields(out, t, rt->type_retained[idx[i]]);
			if (fmt == PL_FMT_JSONL)
				fputc('\n', out);
		}
		if (fmt == PL_FMT_JSON)
			fputs("]}\n", out);
	} else if (fmt == PL_FMT_MARKDOWN) {
		fputs("| type | objects | bytes | retained |\n|---|---:|---:|---:|\n", out);
		for (size_t i = 0; i < n; i++) {
			const struct pl_type *t = &h->types[idx[i]];
			untracked |= t->untracked_count != 0;
			fprintf(out, "| `%s` | %" PRIu64 " | %s | %s |\n", t->name,
				t->count + t->untracked_count,
				pl_human_bytes(t->bytes + t->untracked_bytes, a, sizeof(a)),
				pl_human_bytes(rt->type_retained[idx[i]], b, sizeof(b)));
		}
	} else {
		fprintf(out, "%10s %12s %12s  %s\n", "objects", "bytes", "retained", "type");
		for (size_t i = 0; i < n; i++) {
			const struct pl_type *t = &h->types[idx[i]];
			untracked |= t->untracked_count != 0;
			fprintf(out, "%10" PRIu64 " %12s %12s  %s\n", t->count + t->untracked_count,
				pl_human_bytes(t->bytes + t->untracked_bytes, a, sizeof(a)),
				pl_human_bytes(rt->type_retained[idx[i]], b, sizeof(b)), t->name);
		}
	}
	if (untracked && fmt == PL_FMT_MARKDOWN)
		fputs("\nObjects and bytes count the gc objects and the untracked ones they reach "
		      "(str, int ...), as retained bytes do; `gc.get_objects()` lists gc objects only.\n",
		      out);
	else if (untracked && fmt == PL_FMT_TEXT)
		fputs("  (includes untracked objects: str, int ...; gc.get_objects() has gc objects only)\n",
		      out);
	free(idx);
}

static const char *tname(const struct pl_graph *g, uint32_t i)
{
	return g->h->types[g->h->objs[i].type].name;
}

/* "`__main__.BUS.listeners` (list, 400 items) retains 1.1 MiB (12% of the
 * reachable heap): 400 × `__main__.Handler` via `.__self__`" */
static void suspect_sentence(FILE *out, const struct pl_report *r, const struct pl_suspect *s,
			     const char *q)
{
	const struct pl_graph *g = r->g;
	char path[2048], hb[32];
	pl_roots_path(g, r->roots, s->node, path, sizeof(path));
	double share = r->rt->reachable_bytes ? 100.0 * (double)s->retained / (double)r->rt->reachable_bytes : 0;
	fprintf(out, "%s%s%s (%s, %" PRIu64 " items) retains %s (%.0f%% of the reachable heap)", q,
		path[0] ? path : "?", q, pl_short_type(tname(g, s->node)), s->items,
		pl_human_bytes(s->retained, hb, sizeof(hb)), share);
	if (s->part_count)
		fprintf(out, ": %" PRIu64 " × %s%s%s%s%s%s%s", s->part_count, q,
			g->h->types[s->part_type].name, q, s->part_via[0] ? " via " : "", q, s->part_via,
			s->part_via[0] ? q : "");
	if (s->long_lived)
		fprintf(out, "; an old-generation container holding mostly young objects");
	fputc('\n', out);
}

static void json_suspect(FILE *out, const struct pl_report *r, const struct pl_suspect *s)
{
	const struct pl_graph *g = r->g;
	const struct pl_heap *h = g->h;
	char path[2048];
	pl_roots_path(g, r->roots, s->node, path, sizeof(path));
	fprintf(out, "{\"addr\":\"0x%" PRIx64 "\",\"type\":", h->objs[s->node].addr);
	pl_json_cstr(out, tname(g, s->node));
	fprintf(out, ",\"retained_bytes\":%" PRIu64 ",\"count\":%" PRIu64 ",\"items_type\":", s->retained,
		s->part_count);
	pl_json_cstr(out, s->part_count ? h->types[s->part_type].name : "");
	fprintf(out, ",\"items_via\":");
	pl_json_cstr(out, s->part_via);
	fprintf(out, ",\"reason\":");
	pl_json_cstr(out, s->long_lived ? "long-lived referrer: old container holding young objects"
				       : "retains a large share of the reachable heap");
	fprintf(out, ",\"path\":");
	pl_json_cstr(out, path);
	pl_json_root_chain(out, g, r->roots, s->node);
	fputc('}', out);
}

void pl_render_report(FILE *out, const struct pl_report *r, enum pl_format fmt)
{
	const struct pl_graph *g = r->g;
	struct pl_heap *h = g->h;
	struct pl_program *p = h->p;
	const struct pl_gcstate *gc = &p->rt.gc;
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL) {
		char a[81];
		fprintf(out, "{\"schema_version\":%d,\"core\":", PL_REPORT_SCHEMA);
		pl_json_cstr(out, p->core->path);
		fprintf(out, ",\"python\":{\"version\":");
		pl_json_cstr(out, p->rt.version);
		fprintf(out, ",\"executable\":");
		pl_json_cstr(out, p->main && p->main->disk_path ? p->main->disk_path : "");
		fprintf(out, ",\"libpython\":");
		pl_json_cstr(out, p->pyfile->disk_path);
		fprintf(out, ",\"build_id\":");
		pl_json_cstr(out, pl_build_id_hex(p->pyfile->build_id, p->pyfile->build_id_len, a));
		fprintf(out, ",\"threads\":%zu},\"gc\":{\"enabled\":%s,\"debug\":%d,\"saveall\":%s,"
			"\"collecting\":%s,\"thresholds\":[%d,%d,%d],\"counts\":[%d,%d,%d],"
			"\"garbage\":%" PRId64 ",\"unreachable_objects\":%u,\"unreachable_bytes\":%" PRIu64
			",\"cycles\":%u},", p->rt.nthreads, gc->enabled ? "true" : "false", gc->debug,
			gc->debug & 32 ? "true" : "false", gc->collecting ? "true" : "false",
			gc->gen[0].threshold, gc->gen[1].threshold, gc->gen[2].threshold, gc->gen[0].count,
			gc->gen[1].count, gc->gen[2].count, gc->garbage_len, g->nunreachable,
			g->unreachable_bytes, r->cycles->ncomp);
		fprintf(out, "\"heap\":{\"objects\":%zu,\"gc_objects\":%u,\"bytes\":%" PRIu64
			",\"reachable_bytes\":%" PRIu64 ",\"inferred_objects\":%u,\"held_from_c\":%u},",
			h->nobjs, g->ntracked, h->total_bytes, r->rt->reachable_bytes, g->ninferred,
			r->roots->nheld_from_c);
		uint32_t *idx = NULL;
		size_t nt = sorted_types(h, r->rt, &idx);
		if (nt > r->top)
			nt = r->top;
		fputs("\"types\":[", out);
		for (size_t i = 0; i < nt; i++) {
			const struct pl_type *t = &h->types[idx[i]];
			fprintf(out, "%s{\"type\":", i ? "," : "");
			pl_json_cstr(out, t->name);
			json_type_fields(out, t, r->rt->type_retained[idx[i]]);
		}
		free(idx);
		fputs("],\"suspects\":[", out);
		for (size_t i = 0; i < r->nsuspects && i < r->top; i++) {
			if (i)
				fputc(',', out);
			json_suspect(out, r, &r->suspects[i]);
		}
		fputs("],\"cycles\":", out);
		pl_json_cycles(out, g, r->cycles, r->top);
		fputs("}\n", out);
		return;
	}
	bool md = fmt == PL_FMT_MARKDOWN;
	const char *q = md ? "`" : "";
	char hb[32], hb2[32];
	fprintf(out, md ? "## pyleak-core report: `%s`\n\n" : "pyleak-core report: %s\n", p->core->path);
	fprintf(out, "%sPython %s, %s, %zu thread%s; %u gc objects, %s; %s reachable from roots\n",
		md ? "- " : "", p->rt.version, p->main && p->main->disk_path ? p->main->disk_path : "?",
		p->rt.nthreads, p->rt.nthreads == 1 ? "" : "s", g->ntracked,
		pl_human_bytes(h->total_bytes, hb, sizeof(hb)),
		pl_human_bytes(r->rt->reachable_bytes, hb2, sizeof(hb2)));
	if (p->core->has_siginfo && p->core->sig_signo && p->core->sig_signo != 19)
		fprintf(out, "%sthe process died of %s\n", md ? "- " : "", pl_signal_name(p->core->sig_signo));
	fprintf(out, md ? "\n### Garbage collector\n\n" : "\ngc:\n");
	pl_render_gc_summary(out, g, r->cycles, md ? PL_FMT_MARKDOWN : PL_FMT_TEXT);
	if (g->ninferred)
		fprintf(out, "%sedges of %u objects were inferred (types whose tp_traverse is not "
			"emulated; see 'cycles')\n", md ? "- " : "", g->ninferred);
	if (r->roots->nheld_from_c)
		fprintf(out, "%s%u objects are held from outside Python objects (C extensions, C stack, "
			"or leaked references): see 'chain'\n", md ? "- " : "", r->roots->nheld_from_c);
	fprintf(out, md ? "\n### Leak suspects\n\n" : "\nleak suspects:\n");
	if (!r->nsuspects)
		fprintf(out, "%snone: no single object reached from a global, a thread or C retains a "
			"large share of the heap\n", md ? "- " : "  ");
	for (size_t i = 0; i < r->nsuspects && i < r->top; i++) {
		fprintf(out, md ? "%zu. " : "  %zu. ", i + 1);
		suspect_sentence(out, r, &r->suspects[i], q);
		if (r->svg_dir && i < r->nsuspect_svgs && md)
			fprintf(out, "   ![chain to suspect %zu](%s/suspect-%zu.svg)\n", i + 1, r->svg_dir, i + 1);
		else if (r->svg_dir && i < r->nsuspect_svgs)
			fprintf(out, "     picture: %s/suspect-%zu.svg\n", r->svg_dir, i + 1);
	}
	fprintf(out, md ? "\n### Largest types by retained bytes\n\n" : "\nlargest types by retained bytes:\n");
	pl_render_types_retained(out, g, r->rt, r->top < 15 ? r->top : 15, fmt);
	fprintf(out, md ? "\n### Unreachable cycles\n\n" : "\nunreachable cycles:\n");
	pl_render_cycles_table(out, g, r->cycles, 10, fmt);
	for (size_t i = 0; r->svg_dir && i < r->ncycle_svgs; i++) {
		if (md)
			fprintf(out, "- ![cycle group %zu](%s/cycle-%zu.svg)\n", i + 1, r->svg_dir, i + 1);
		else
			fprintf(out, "  picture: %s/cycle-%zu.svg\n", r->svg_dir, i + 1);
	}
}
