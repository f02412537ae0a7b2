#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../coredump/objects.h"
#include "../coredump/program.h"
#include "../render/census.h"
#include "../render/graphout.h"
#include "../render/report.h"
#include "../graph/analysis.h"
#include "../render/dot.h"
#include "../render/stacks.h"
#include "../render/diffout.h"
#include "../graph/diff.h"

#include <sys/stat.h>
#include "exit.h"
#include "options.h"
#include "triage.h"
#include <unistd.h>

static int fail(struct pl_error *err)
{
	int code = pl_error_exit_code(err);
	fprintf(stderr, "pyleak-core: %s\n", err->msg);
	pl_error_free(err);
	return code;
}

/* Write a picture; 0, or the exit code after a one-line message. */
static int picture(Agraph_t *G, const char *dot, const char *svg, const char *what)
{
	char err[512];
	if (!G) {
		fprintf(stderr, "pyleak-core: cannot draw %s: %s\n", what, strerror(errno));
		return errno == ENOMEM ? 9 : 8;
	}
	int rc = 0;
	if ((dot && pl_dot_write(G, dot, err, sizeof(err)) != 0) ||
	    (svg && pl_dot_svg(G, svg, err, sizeof(err)) != 0)) {
		fprintf(stderr, "pyleak-core: %s\n", err);
		rc = 10;
	}
	pl_dot_free(G);
	return rc;
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "pyleak-core: cannot create --svg-dir %s: %s\n", dir, strerror(errno));
		return 10;
	}
	return 0;
}

/* One SVG per cycle group (the first n), DIR/cycle-<i>.svg. */
static int cycle_pictures(const struct pl_graph *g, const struct pl_cycles *c, const char *dir,
			  size_t n, size_t *written)
{
	*written = 0;
	for (size_t i = 0; i < c->ngroups && i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/cycle-%zu.svg", dir, i + 1);
		int rc = picture(pl_dot_cycle(g, c, c->groups[i].sample), NULL, path, "a cycle");
		if (rc)
			return rc;
		(*written)++;
	}
	return 0;
}

static void print_warnings(const struct pl_program *p)
{
	for (size_t i = 0; i < p->nwarnings; i++)
		fprintf(stderr, "pyleak-core: warning: %s\n", p->warnings[i]);
}

static int no_object(const struct cli *c)
{
	if (c->addr)
		fprintf(stderr, "pyleak-core: no object at %s in %s (addresses come from "
				"'pyleak-core objects' or a report)\n", c->addr, c->core);
	else
		fprintf(stderr, "pyleak-core: no object of type %s reachable from a root in %s "
				"(names as in 'pyleak-core types')\n", c->type, c->core);
	return 2;
}

/* The report's pictures: the chain to each suspect, then the cycle groups. */
static int report_pictures(struct pl_analysis *r, struct pl_report *rep, const char *dir)
{
	int rc = make_dir(dir);
	for (size_t i = 0; !rc && i < r->nsuspects && i < rep->top; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/suspect-%zu.svg", dir, i + 1);
		if (!(rc = picture(pl_dot_chain(&r->g, &r->roots, r->suspects[i].node), NULL, path,
				   "a suspect's chain")))
			rep->nsuspect_svgs++;
	}
	if (!rc)
		rc = cycle_pictures(&r->g, &r->cyc, dir, 10, &rep->ncycle_svgs);
	return rc;
}

static int finish_output(struct pl_program *p)
{
	print_warnings(p);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pyleak-core: writing output failed: %s\n", strerror(errno));
		return 10;
	}
	return 0;
}

/* stacks: needs no census unless --tasks, so it also reads cores taken
 * during a collection. */
static int stacks(struct pl_program *p, const struct cli *c)
{
	struct pl_analysis r;
	struct pl_error *err = pl_analyse(p, c->tasks ? PL_AN_CENSUS : 0, c->min_share, &r);
	if (err) {
		pl_analysis_release(&r);
		print_warnings(p);
		return fail(err);
	}
	struct pl_stacks_opts o = { .locals = c->locals, .tasks = c->tasks };
	pl_render_stacks(stdout, &r.h, &o, c->format);
	pl_analysis_release(&r);
	return finish_output(p);
}

/* diff OLD NEW: both cores analysed up to the roots (paths), then compared. */
static int diff(const struct cli *c, const struct pl_options *opt)
{
	struct pl_program *p[2] = { NULL, NULL };
	struct pl_analysis a[2];
	memset(a, 0, sizeof(a));
	struct pl_error *err = NULL;
	int rc = 0;
	for (int i = 0; i < 2 && !err; i++)
		if (!(err = pl_program_open(c->cores[i], opt, &p[i])))
			err = pl_analyse(p[i], PL_AN_ROOTS, c->min_share, &a[i]);
	struct pl_diff d = { 0 };
	if (!err)
		err = pl_diff_compute(&a[0], &a[1], &d);
	if (!err) {
		struct pl_diff_view v = { c->cores[0], c->cores[1], c->top, false };
		pl_render_diff(stdout, &d, &a[1], &v, c->format);
	}
	pl_diff_release(&d);
	for (int i = 0; i < 2; i++) {
		pl_analysis_release(&a[i]);
		if (p[i])
			print_warnings(p[i]);
		pl_program_free(p[i]);
	}
	if (err)
		return fail(err);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pyleak-core: writing output failed: %s\n", strerror(errno));
		rc = 10;
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct cli c;
	int rc = pl_cli_parse(&c, argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;

	/* every command but stacks (without --tasks) and info --layout reads
	 * the whole heap */
	bool stacks_only = !strcmp(c.command, "stacks") && !c.tasks;
	struct pl_options opt = {
		.exe = c.exe, .sysroot = c.sysroot, .debug_dirs = c.debug_dirs, .force = c.force,
		.read_all = !stacks_only && !(!strcmp(c.command, "info") && c.layout),
	};
	if (!strcmp(c.command, "diff"))
		return diff(&c, &opt);
	if (!strcmp(c.command, "triage"))
		return pl_triage(&c, &opt);

	struct pl_program *p PL_CLEANUP(pl_program_freep) = NULL;
	struct pl_error *err = pl_program_open(c.core, &opt, &p);
	if (err)
		return fail(err);

	if (!strcmp(c.command, "stacks"))
		return stacks(p, &c);

	/* info reports a core taken mid-collection instead of refusing it */
	bool info = !strcmp(c.command, "info");
	bool types = !strcmp(c.command, "types"), report = !strcmp(c.command, "report");
	bool need_heap = !info || (!p->rt.gc.collecting && !c.layout);
	bool need_graph = !info && (!types || c.retained) &&
			  (strcmp(c.command, "objects") != 0 || c.format == PL_FMT_JSONL || c.format == PL_FMT_JSON);
	unsigned steps = (need_heap ? PL_AN_CENSUS : 0) | (need_graph ? PL_AN_GRAPH : 0) |
			 (c.addr ? PL_AN_REVERSE : 0) |
			 (!strcmp(c.command, "chain") || !strcmp(c.command, "backrefs") ? PL_AN_ROOTS : 0) |
			 (types && c.retained ? PL_AN_RETAINED : 0) | (report ? PL_AN_SUSPECTS : 0);
	struct pl_analysis r;
	if ((err = pl_analyse(p, steps, c.min_share, &r)))
		goto done;

	if (info) {
		pl_render_info(stdout, p, need_heap ? &r.h : NULL, c.format);
		if (c.layout)
			pl_layout_dump(&p->L, stdout);
	} else if (types) {
		if (c.retained)
			pl_render_types_retained(stdout, &r.g, &r.ret, c.top, c.format);
		else
			pl_render_types(stdout, &r.h, c.top, c.format);
	} else if (!strcmp(c.command, "objects")) {
		if (need_graph) {
			pl_graph_ext_untracked(&r.g);
			pl_render_objects_graph(stdout, &r.g, c.type, c.format);
		}
		else
			pl_render_objects(stdout, &r.h, c.type, c.format);
	} else if (!strcmp(c.command, "cycles")) {
		pl_render_cycles(stdout, &r.g, &r.cyc, c.top, c.format);
		size_t nw;
		if (c.svg_dir && !(rc = make_dir(c.svg_dir)))
			rc = cycle_pictures(&r.g, &r.cyc, c.svg_dir, c.top ? c.top : SIZE_MAX, &nw);
	} else if (!strcmp(c.command, "chain")) {
		uint32_t node = PL_NONE;
		if (c.addr) {
			node = pl_graph_node(&r.g, strtoull(c.addr, NULL, 16));
		} else {   /* the object of that type nearest to a root */
			for (uint32_t k = 0; k < r.roots.nordered && node == PL_NONE; k++)
				if (!strcmp(r.h.types[r.h.objs[r.roots.order[k]].type].name, c.type))
					node = r.roots.order[k];
		}
		if (node == PL_NONE) {
			rc = no_object(&c);
			goto done;
		}
		pl_render_chain(stdout, &r.g, &r.roots, node, c.format);
		if ((c.dot || c.svg) && r.roots.root[node] == PL_NONE)
			fprintf(stderr, "pyleak-core: no picture: 0x%llx is reached from no root\n",
				(unsigned long long)r.h.objs[node].addr);
		else if (c.dot || c.svg)
			rc = picture(pl_dot_chain(&r.g, &r.roots, node), c.dot, c.svg, "the chain");
	} else if (c.addr) {
		uint32_t node = pl_graph_node(&r.g, strtoull(c.addr, NULL, 16));
		if (node == PL_NONE) {
			rc = no_object(&c);
			goto done;
		}
		if (!strcmp(c.command, "backrefs")) {
			pl_render_backrefs(stdout, &r.g, &r.roots, node, c.max_depth, c.too_many, c.format);
			struct pl_dot_opts o = { .max_depth = c.max_depth, .too_many = c.too_many };
			if (c.dot || c.svg)
				rc = picture(pl_dot_backrefs(&r.g, &r.roots, node, &o), c.dot, c.svg,
					     "the referrers");
		} else {
			pl_render_refs(stdout, &r.g, node, !strcmp(c.command, "referrers"), c.format);
		}
	} else {
		struct pl_report rep = { &r.g, &r.cyc, &r.roots, &r.ret, r.suspects, r.nsuspects,
					 c.top ? c.top : SIZE_MAX, c.svg_dir, 0, 0 };
		if (c.svg_dir)
			rc = report_pictures(&r, &rep, c.svg_dir);
		if (!rc)
			pl_render_report(stdout, &rep, c.format);
	}
done:
	if (err || rc || !FAST_EXIT)
		pl_analysis_release(&r);
	if (err) {
		print_warnings(p);
		return fail(err);
	}
	if (rc)
		return rc;
	print_warnings(p);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pyleak-core: writing output failed: %s\n", strerror(errno));
		return 10;
	}
	if (FAST_EXIT) {
		/* the output is out: the kernel takes the heap's arrays and the
		 * core's mappings back at once, faster than freeing them one by
		 * one (about 0.1 s for a 2.5M-object core), and after this
		 * process is gone */
		fflush(stderr);
		pl_exit_detached(0);
	}
	return 0;
}
