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
#include "../graph/retained.h"
#include "../render/dot.h"

#include <errno.h>
#include <sys/stat.h>
#include "options.h"

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

int main(int argc, char **argv)
{
	struct cli c;
	int rc = pl_cli_parse(&c, argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;

	struct pl_options opt = {
		.exe = c.exe, .sysroot = c.sysroot, .debug_dirs = c.debug_dirs, .force = c.force,
	};
	struct pl_program *p PL_CLEANUP(pl_program_freep) = NULL;
	struct pl_error *err = pl_program_open(c.core, &opt, &p);
	if (err)
		return fail(err);

	struct pl_heap h = { .p = p };
	/* info reports a core taken mid-collection instead of refusing it */
	bool info = !strcmp(c.command, "info");
	bool need_heap = !info || (!p->rt.gc.collecting && !c.layout);
	if (need_heap && (err = pl_census(p, &h))) {
		print_warnings(p);
		pl_heap_release(&h);
		return fail(err);
	}
	struct pl_graph g = { 0 };
	struct pl_cycles cyc = { 0 };
	bool types = !strcmp(c.command, "types"), report = !strcmp(c.command, "report");
	bool need_graph = !info && (!types || c.retained) &&
			  (strcmp(c.command, "objects") != 0 || c.format == PL_FMT_JSONL || c.format == PL_FMT_JSON);
	bool need_retained = report || (types && c.retained);
	struct pl_roots roots = { 0 };
	struct pl_retained ret = { 0 };
	struct pl_suspect *suspects = NULL;
	size_t nsuspects = 0;
	if (need_graph) {
		if (!(err = pl_graph_build(&h, &g)) && !(err = pl_graph_gc(&g)))
			err = pl_cycles_find(&g, &cyc);
		if (!err && c.addr)
			err = pl_graph_reverse(&g);
		if (!err && need_retained && !(err = pl_roots_find(&g, &roots)) &&
		    !(err = pl_retained_compute(&g, &roots, &ret)) && report)
			err = pl_suspects(&g, &roots, &ret, c.min_share, 32 * 1024, &suspects, &nsuspects);
		if (err) {
			free(suspects);
			pl_retained_release(&ret);
			pl_roots_release(&roots);
			print_warnings(p);
			pl_cycles_release(&cyc);
			pl_graph_release(&g);
			pl_heap_release(&h);
			return fail(err);
		}
	}
	if (info) {
		pl_render_info(stdout, p, need_heap ? &h : NULL, c.format);
		if (c.layout)
			pl_layout_dump(&p->L, stdout);
	} else if (types) {
		if (c.retained)
			pl_render_types_retained(stdout, &g, &ret, c.top, c.format);
		else
			pl_render_types(stdout, &h, c.top, c.format);
	} else if (!strcmp(c.command, "objects")) {
		if (need_graph)
			pl_render_objects_graph(stdout, &g, c.type, c.format);
		else
			pl_render_objects(stdout, &h, c.type, c.format);
	} else if (!strcmp(c.command, "cycles")) {
		pl_render_cycles(stdout, &g, &cyc, c.top, c.format);
		size_t nw;
		int prc = c.svg_dir ? make_dir(c.svg_dir) : 0;
		if (!prc && c.svg_dir)
			prc = cycle_pictures(&g, &cyc, c.svg_dir, c.top ? c.top : SIZE_MAX, &nw);
		if (prc) {
			pl_cycles_release(&cyc);
			pl_graph_release(&g);
			pl_heap_release(&h);
			return prc;
		}
	} else if (!strcmp(c.command, "chain")) {
		uint32_t node = PL_NONE;
		if ((err = pl_roots_find(&g, &roots))) {
			pl_cycles_release(&cyc);
			pl_graph_release(&g);
			pl_heap_release(&h);
			return fail(err);
		}
		if (c.addr) {
			node = pl_graph_node(&g, strtoull(c.addr, NULL, 16));
		} else {   /* the object of that type nearest to a root */
			for (uint32_t k = 0; k < roots.nordered && node == PL_NONE; k++)
				if (!strcmp(h.types[h.objs[roots.order[k]].type].name, c.type))
					node = roots.order[k];
		}
		int prc = 0;
		if (node != PL_NONE) {
			pl_render_chain(stdout, &g, &roots, node, c.format);
			if ((c.dot || c.svg) && roots.root[node] == PL_NONE)
				fprintf(stderr, "pyleak-core: no picture: 0x%llx is reached from no root\n",
					(unsigned long long)h.objs[node].addr);
			else if (c.dot || c.svg)
				prc = picture(pl_dot_chain(&g, &roots, node), c.dot, c.svg, "the chain");
		}
		if (prc) {
			pl_roots_release(&roots);
			pl_cycles_release(&cyc);
			pl_graph_release(&g);
			pl_heap_release(&h);
			return prc;
		}
		if (node == PL_NONE) {
			pl_roots_release(&roots);
			if (c.addr)
				fprintf(stderr, "pyleak-core: no object at %s in %s (addresses come from "
						"'pyleak-core objects' or a report)\n", c.addr, c.core);
			else
				fprintf(stderr, "pyleak-core: no object of type %s reachable from a root in %s "
						"(names as in 'pyleak-core types')\n", c.type, c.core);
			pl_cycles_release(&cyc);
			pl_graph_release(&g);
			pl_heap_release(&h);
			return 2;
		}
	} else if (c.addr) {
		uint64_t a = strtoull(c.addr, NULL, 16);
		uint32_t node = pl_graph_node(&g, a);
		bool back = !strcmp(c.command, "backrefs");
		if (node != PL_NONE && back) {
			if ((err = pl_roots_find(&g, &roots))) {
				pl_cycles_release(&cyc);
				pl_graph_release(&g);
				pl_heap_release(&h);
				return fail(err);
			}
			pl_render_backrefs(stdout, &g, &roots, node, c.max_depth, c.too_many, c.format);
			if (c.dot || c.svg) {
				struct pl_dot_opts o = { .max_depth = c.max_depth, .too_many = c.too_many };
				int prc = picture(pl_dot_backrefs(&g, &roots, node, &o), c.dot, c.svg,
						  "the referrers");
				if (prc) {
					pl_roots_release(&roots);
					pl_cycles_release(&cyc);
					pl_graph_release(&g);
					pl_heap_release(&h);
					return prc;
				}
			}
		}
		if (node == PL_NONE) {
			fprintf(stderr, "pyleak-core: no object at %s in %s (addresses come from "
					"'pyleak-core objects' or a report)\n", c.addr, c.core);
			pl_cycles_release(&cyc);
			pl_graph_release(&g);
			pl_heap_release(&h);
			return 2;
		}
		if (!back)
			pl_render_refs(stdout, &g, node, !strcmp(c.command, "referrers"), c.format);
	} else {
		struct pl_report rep = { &g, &cyc, &roots, &ret, suspects, nsuspects,
					 c.top ? c.top : SIZE_MAX, c.svg_dir, 0, 0 };
		int prc = 0;
		if (c.svg_dir && !(prc = make_dir(c.svg_dir))) {
			for (size_t i = 0; i < nsuspects && i < rep.top && !prc; i++) {
				char path[4096];
				snprintf(path, sizeof(path), "%s/suspect-%zu.svg", c.svg_dir, i + 1);
				if (!(prc = picture(pl_dot_chain(&g, &roots, suspects[i].node), NULL, path,
						    "a suspect's chain")))
					rep.nsuspect_svgs++;
			}
			if (!prc)
				prc = cycle_pictures(&g, &cyc, c.svg_dir, 10, &rep.ncycle_svgs);
		}
		if (prc) {
			free(suspects);
			pl_retained_release(&ret);
			pl_roots_release(&roots);
			pl_cycles_release(&cyc);
			pl_graph_release(&g);
			pl_heap_release(&h);
			return prc;
		}
		pl_render_report(stdout, &rep, c.format);
	}
	free(suspects);
	pl_retained_release(&ret);
	pl_roots_release(&roots);
	pl_cycles_release(&cyc);
	pl_graph_release(&g);
	print_warnings(p);
	pl_heap_release(&h);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pyleak-core: writing output failed: %s\n", strerror(errno));
		return 10;
	}
	return 0;
}
