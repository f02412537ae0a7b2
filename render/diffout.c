#include "config.h"
#include "diffout.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../coredump/program.h"
#include "json.h"

static const char *signed_bytes(int64_t n, char *buf, size_t len)
{
	char h[32];
	pl_human_bytes(n < 0 ? -(unsigned long long)n : (unsigned long long)n, h, sizeof(h));
	snprintf(buf, len, "%s%s", n < 0 ? "-" : "+", h);
	return buf;
}

static const char *type_of_node(const struct pl_analysis *a, uint32_t node)
{
	return a->h.types[a->h.objs[node].type].name;
}

static void text(FILE *out, const struct pl_diff *d, const struct pl_analysis *new,
		 const struct pl_diff_view *v, bool md)
{
	char b1[40], b2[40];
	size_t top = v->top ? v->top : SIZE_MAX;
	fprintf(out, md ? "## Growth from `%s` to `%s`\n\n" : "Growth from %s to %s\n", v->old_path,
		v->new_path);
	fprintf(out, "%sobjects: %" PRId64 " -> %" PRId64 " (%+" PRId64 "), bytes %s\n",
		md ? "- " : "  ", d->old_objects, d->new_objects, d->new_objects - d->old_objects,
		signed_bytes(d->new_bytes - d->old_bytes, b1, sizeof(b1)));
	if (!d->same_build)
		fprintf(out, "%sthe two cores come from different Python builds: types are matched "
			"by name\n", md ? "- " : "  ");
	if (!d->same_process)
		fprintf(out, "%snot the same process: containers are matched by their path only\n",
			md ? "- " : "  ");
	fprintf(out, md ? "\n### Types (largest growth first)\n\n| count | bytes | type |\n|---:|---:|---|\n"
			: "\nTypes, largest growth first (objgraph's show_growth):\n");
	size_t shown = 0;
	for (size_t i = 0; i < d->ntypes && shown < top; i++) {
		const struct pl_type_delta *t = &d->types[i];
		int64_t dc = t->new_count - t->old_count;
		if (!v->all && dc <= 0)
			continue;
		if (md)
			fprintf(out, "| %+" PRId64 " | %s | `%s` |\n", dc,
				signed_bytes(t->new_bytes - t->old_bytes, b2, sizeof(b2)), t->name);
		else
			fprintf(out, "  %-40s %10" PRId64 " %+10" PRId64 "  %s\n", t->name, t->new_count, dc,
				signed_bytes(t->new_bytes - t->old_bytes, b2, sizeof(b2)));
		shown++;
	}
	if (!shown)
		fprintf(out, md ? "| | | (no type grew) |\n" : "  (no type grew)\n");
	fprintf(out, md ? "\n### Containers that grew\n\n" : "\nContainers that grew:\n");
	for (size_t i = 0; i < d->ngrew && i < top; i++) {
		const struct pl_growth *g = &d->grew[i];
		char buf[1024];
		const char *path = pl_roots_path(&new->g, &new->roots, g->node, buf, sizeof(buf));
		path = path[0] ? path : NULL;
		if (md)
			fprintf(out, "- `%s` %+" PRId64 " (%s, %" PRId64 " -> %" PRId64 " items%s)\n",
				path ? path : "(not reached from a root)", g->new_len - g->old_len,
				type_of_node(new, g->node), g->old_len, g->new_len,
				g->by_path ? ", matched by path" : "");
		else
			fprintf(out, "  %s %+" PRId64 "  (%s 0x%" PRIx64 ", %" PRId64 " -> %" PRId64 " items%s)\n",
				path ? path : "(not reached from a root)", g->new_len - g->old_len,
				type_of_node(new, g->node), new->h.objs[g->node].addr, g->old_len, g->new_len,
				g->by_path ? ", matched by path" : "");
	}
	if (!d->ngrew)
		fprintf(out, md ? "(none)\n" : "  (none)\n");
}

static void json(FILE *out, const struct pl_diff *d, const struct pl_analysis *new,
		 const struct pl_diff_view *v)
{
	size_t top = SIZE_MAX;   /* scripts get every row */
	fprintf(out, "{\"schema_version\":1,\"old\":");
	pl_json_cstr(out, v->old_path);
	fprintf(out, ",\"new\":");
	pl_json_cstr(out, v->new_path);
	fprintf(out, ",\"same_process\":%s,\"same_build\":%s,\"objects_delta\":%" PRId64
		",\"bytes_delta\":%" PRId64 ",\"types\":[", d->same_process ? "true" : "false",
		d->same_build ? "true" : "false", d->new_objects - d->old_objects,
		d->new_bytes - d->old_bytes);
	size_t shown = 0;
	for (size_t i = 0; i < d->ntypes && shown < top; i++) {
		const struct pl_type_delta *t = &d->types[i];
		fprintf(out, "%s{\"type\":", shown++ ? "," : "");
		pl_json_cstr(out, t->name);
		fprintf(out, ",\"count_delta\":%" PRId64 ",\"bytes_delta\":%" PRId64 ",\"old_count\":%" PRId64
			",\"new_count\":%" PRId64 "}", t->new_count - t->old_count, t->new_bytes - t->old_bytes,
			t->old_count, t->new_count);
	}
	fprintf(out, "],\"containers\":[");
	for (size_t i = 0; i < d->ngrew && i < top; i++) {
		const struct pl_growth *g = &d->grew[i];
		char buf[1024];
		fprintf(out, "%s{\"path\":", i ? "," : "");
		pl_json_cstr(out, pl_roots_path(&new->g, &new->roots, g->node, buf, sizeof(buf)));
		fprintf(out, ",\"type\":");
		pl_json_cstr(out, type_of_node(new, g->node));
		fprintf(out, ",\"addr\":\"0x%" PRIx64 "\",\"old_addr\":\"0x%" PRIx64 "\",\"old_len\":%" PRId64
			",\"new_len\":%" PRId64 ",\"delta\":%" PRId64 ",\"matched_by\":\"%s\"}",
			new->h.objs[g->node].addr, g->old_addr, g->old_len, g->new_len,
			g->new_len - g->old_len, g->by_path ? "path" : "address");
	}
	fprintf(out, "]}\n");
}

void pl_render_diff(FILE *out, const struct pl_diff *d, const struct pl_analysis *new,
		    const struct pl_diff_view *v, enum pl_format fmt)
{
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL)
		json(out, d, new, v);
	else
		text(out, d, new, v, fmt == PL_FMT_MARKDOWN);
}
