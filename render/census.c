#include "config.h"
#include "census.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../coredump/objects.h"
#include "../coredump/program.h"
#include "json.h"

const char *pl_human_bytes(unsigned long long n, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", n);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

static const char *gen_label(uint8_t g)
{
	static const char *n[] = { "0", "1", "2", "permanent", "untracked" };
	return g < 5 ? n[g] : "?";
}

static void info_text(FILE *out, struct pl_program *p, const struct pl_heap *h)
{
	const struct pl_runtime *rt = &p->rt;
	const struct pl_gcstate *gc = &rt->gc;
	char a[81], b[81], flags[128];
	fprintf(out, "core:          %s", p->core->path);
	if (p->core->has_prpsinfo)
		fprintf(out, " (pid %d, %s)", p->core->pid, p->core->psargs);
	fputc('\n', out);
	if (p->core->has_siginfo && p->core->sig_signo)
		fprintf(out, "signal:        %s (%d)\n", pl_signal_name(p->core->sig_signo), p->core->sig_signo);
	fprintf(out, "python:        %s (from %s)\n", rt->version, rt->version_source);
	if (p->main)
		fprintf(out, "executable:    %s (build-id %s)\n",
			p->main->disk_path ? p->main->disk_path : p->main->core_path,
			pl_build_id_hex(p->main->build_id, p->main->build_id_len, a));
	if (p->pyfile != p->main)
		fprintf(out, "libpython:     %s (build-id %s)\n", p->pyfile->disk_path,
			pl_build_id_hex(p->pyfile->build_id, p->pyfile->build_id_len, b));
	fprintf(out, "debug info:    %s (%s)\n", p->debug_path, p->debug_how);
	if (rt->debug_offsets_checked)
		fprintf(out, "debug offsets: _Py_DebugOffsets agrees with the debug info%s\n",
			rt->debug_offsets_mismatches ? " EXCEPT on some fields (see warnings)" : "");
	fprintf(out, "_PyRuntime:    0x%" PRIx64 ", %d interpreter(s), main 0x%" PRIx64 "\n",
		rt->addr, rt->ninterps, rt->interp);
	fprintf(out, "threads:       %zu Python, %zu in the core\n", rt->nthreads, p->core->nthreads);
	for (size_t i = 0; i < rt->nthreads; i++) {
		const struct pl_pythread *t = &rt->threads[i];
		fprintf(out, "  thread %" PRId64 ": native id %" PRIu64 ", ident 0x%" PRIx64 "%s\n",
			t->id, t->native_id, t->thread_id,
			t->core_thread >= 0 && p->core->threads[t->core_thread].cursig ? " (received the signal)" : "");
	}
	fprintf(out, "gc:            %s, debug %s%s\n", gc->enabled ? "enabled" : "DISABLED",
		pl_gc_debug_flags(gc->debug, flags, sizeof(flags)),
		gc->collecting ? ", COLLECTING when the core was taken" : "");
	for (int i = 0; i < 3; i++) {
		fprintf(out, "  generation %d: threshold %d, count %d, collections %" PRIu64
			", collected %" PRIu64 ", uncollectable %" PRIu64 "%s",
			i, gc->gen[i].threshold, gc->gen[i].count, gc->gen[i].collections,
			gc->gen[i].collected, gc->gen[i].uncollectable, h ? "" : "\n");
		if (h)
			fprintf(out, ", %" PRIu64 " objects\n", h->gen_objects[i]);
	}
	if (h)
		fprintf(out, "  permanent:    %" PRIu64 " objects (gc.freeze)\n", h->gen_objects[3]);
	fprintf(out, "  gc.garbage:   %" PRId64 " objects\n", gc->garbage_len);
	if (h) {
		char hb[32];
		fprintf(out, "objects:       %zu tracked, %s, %zu types%s\n", h->nobjs,
			pl_human_bytes(h->total_bytes, hb, sizeof(hb)), h->ntypes,
			h->damaged ? " (lists damaged: incomplete)" : "");
	}
}

static void info_json(FILE *out, struct pl_program *p, const struct pl_heap *h)
{
	const struct pl_runtime *rt = &p->rt;
	const struct pl_gcstate *gc = &rt->gc;
	char a[81];
	fprintf(out, "{\"core\":");
	pl_json_cstr(out, p->core->path);
	fprintf(out, ",\"pid\":%d,\"signal\":%d,\"python\":{\"version\":", p->core->pid,
		p->core->has_siginfo ? p->core->sig_signo : 0);
	pl_json_cstr(out, rt->version);
	fprintf(out, ",\"hexversion\":%u,\"executable\":", rt->hexversion);
	pl_json_cstr(out, p->main && p->main->disk_path ? p->main->disk_path : "");
	fprintf(out, ",\"executable_build_id\":");
	pl_json_cstr(out, p->main ? pl_build_id_hex(p->main->build_id, p->main->build_id_len, a) : "");
	fprintf(out, ",\"libpython\":");
	pl_json_cstr(out, p->pyfile->disk_path);
	fprintf(out, ",\"libpython_build_id\":");
	pl_json_cstr(out, pl_build_id_hex(p->pyfile->build_id, p->pyfile->build_id_len, a));
	fprintf(out, ",\"debug_info\":");
	pl_json_cstr(out, p->debug_path);
	fprintf(out, "},\"threads\":[");
	for (size_t i = 0; i < rt->nthreads; i++)
		fprintf(out, "%s{\"id\":%" PRId64 ",\"native_id\":%" PRIu64 ",\"ident\":%" PRIu64 "}",
			i ? "," : "", rt->threads[i].id, rt->threads[i].native_id, rt->threads[i].thread_id);
	fprintf(out, "],\"gc\":{\"enabled\":%s,\"debug\":%d,\"collecting\":%d,\"garbage\":%" PRId64
		",\"generations\":[", gc->enabled ? "true" : "false", gc->debug, gc->collecting,
		gc->garbage_len);
	for (int i = 0; i < 3; i++) {
		fprintf(out, "%s{\"threshold\":%d,\"count\":%d,\"collections\":%" PRIu64, i ? "," : "",
			gc->gen[i].threshold, gc->gen[i].count, gc->gen[i].collections);
		if (h)
			fprintf(out, ",\"objects\":%" PRIu64, h->gen_objects[i]);
		fputc('}', out);
	}
	fputc(']', out);
	if (h)
		fprintf(out, ",\"permanent\":%" PRIu64, h->gen_objects[3]);
	fputc('}', out);
	if (h)
		fprintf(out, ",\"objects\":%zu,\"bytes\":%" PRIu64 ",\"damaged\":%s", h->nobjs,
			h->total_bytes, h->damaged ? "true" : "false");
	fprintf(out, ",\"warnings\":[");
	for (size_t i = 0; i < p->nwarnings; i++) {
		if (i)
			fputc(',', out);
		pl_json_cstr(out, p->warnings[i]);
	}
	fprintf(out, "]}\n");
}

void pl_render_info(FILE *out, struct pl_program *p, const struct pl_heap *h, enum pl_format fmt)
{
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL)
		info_json(out, p, h);
	else
		info_text(out, p, h);
}

static const struct pl_heap *sort_heap;

static int by_bytes(const void *a, const void *b)
{
	const struct pl_type *x = &sort_heap->types[*(const uint32_t *)a];
	const struct pl_type *y = &sort_heap->types[*(const uint32_t *)b];
	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return pl_type_cmp(x, y);
}

void pl_render_types(FILE *out, const struct pl_heap *h, size_t top, enum pl_format fmt)
{
	uint32_t *idx = malloc((h->ntypes ? h->ntypes : 1) * sizeof(*idx));
	size_t n = 0;
	if (!idx)
		return;
	for (size_t i = 0; i < h->ntypes; i++)
		if (h->types[i].valid && h->types[i].count)
			idx[n++] = (uint32_t)i;
	sort_heap = h;
	qsort(idx, n, sizeof(*idx), by_bytes);
	if (top && top < n)
		n = top;
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL) {
		fputs(fmt == PL_FMT_JSON ? "{\"types\":[" : "", out);
		for (size_t i = 0; i < n; i++) {
			const struct pl_type *t = &h->types[idx[i]];
			if (fmt == PL_FMT_JSON && i)
				fputc(',', out);
			fputs("{\"type\":", out);
			pl_json_cstr(out, t->name);
			fprintf(out, ",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}%s", t->count, t->bytes,
				fmt == PL_FMT_JSONL ? "\n" : "");
		}
		fputs(fmt == PL_FMT_JSON ? "]}\n" : "", out);
	} else if (fmt == PL_FMT_MARKDOWN) {
		fputs("| type | count | bytes |\n|---|---:|---:|\n", out);
		for (size_t i = 0; i < n; i++) {
			const struct pl_type *t = &h->types[idx[i]];
			fprintf(out, "| `%s` | %" PRIu64 " | %" PRIu64 " |\n", t->name, t->count, t->bytes);
		}
	} else {
		fprintf(out, "%12s %14s  %s\n", "count", "bytes", "type");
		for (size_t i = 0; i < n; i++) {
			const struct pl_type *t = &h->types[idx[i]];
			fprintf(out, "%12" PRIu64 " %14" PRIu64 "  %s\n", t->count, t->bytes, t->name);
		}
	}
	free(idx);
}

void pl_json_obj_head(FILE *out, const struct pl_heap *h, const struct pl_obj *o)
{
	const struct pl_type *t = &h->types[o->type];
	fprintf(out, "{\"addr\":\"0x%" PRIx64 "\",\"type\":", o->addr);
	pl_json_cstr(out, t->name);
	fprintf(out, ",\"type_addr\":\"0x%" PRIx64 "\",\"size\":%u,\"refcnt\":%" PRIu32, t->addr, o->size,
		o->refcnt);
	if (o->gen == PL_GEN_PERMANENT)
		fputs(",\"gen\":\"permanent\"", out);
	else if (o->gen <= 2)
		fprintf(out, ",\"gen\":%u", o->gen);
	else
		fputs(",\"gen\":null", out);
	fprintf(out, ",\"tracked\":%s", o->gen == PL_GEN_UNTRACKED ? "false" : "true");
	if (o->flags & PL_OF_IMMORTAL)
		fputs(",\"immortal\":true", out);
	if (o->flags & PL_OF_FINALIZED)
		fputs(",\"finalized\":true", out);
	if (o->flags & PL_OF_STATIC)
		fputs(",\"static\":true", out);
}

size_t pl_top_types(const struct pl_heap *h, const uint32_t *count, size_t k, uint32_t *top)
{
	size_t n = 0;
	for (; n < k; n++) {
		size_t best = h->ntypes;
		for (size_t t = 0; t < h->ntypes; t++) {
			bool taken = false;
			for (size_t j = 0; j < n && !taken; j++)
				taken = top[j] == t;
			if (!taken && count[t] &&
			    (best == h->ntypes || count[t] > count[best] ||
			     (count[t] == count[best] && pl_type_cmp(&h->types[t], &h->types[best]) < 0)))
				best = t;
		}
		if (best == h->ntypes)
			break;
		top[n] = (uint32_t)best;
	}
	return n;
}

void pl_render_objects(FILE *out, const struct pl_heap *h, const char *type_filter,
		       enum pl_format fmt)
{
	for (size_t i = 0; i < h->nobjs; i++) {
		const struct pl_obj *o = &h->objs[i];
		const struct pl_type *t = &h->types[o->type];
		if (type_filter && strcmp(t->name, type_filter) != 0)
			continue;
		if (fmt == PL_FMT_JSONL || fmt == PL_FMT_JSON) {
			pl_json_obj_head(out, h, o);
			fputs("}\n", out);
		} else {
			fprintf(out, "0x%" PRIx64 " %-40s size %-8u refcnt %-8" PRIu32 " gen %s\n", o->addr,
				t->name, o->size, o->refcnt, gen_label(o->gen));
		}
	}
}
