#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../coredump/objects.h"
#include "../coredump/program.h"
#include "../render/census.h"
#include "options.h"

static int fail(struct pl_error *err)
{
	int code = pl_error_exit_code(err);
	fprintf(stderr, "pyleak-core: %s\n", err->msg);
	pl_error_free(err);
	return code;
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
	if (info) {
		pl_render_info(stdout, p, need_heap ? &h : NULL, c.format);
		if (c.layout)
			pl_layout_dump(&p->L, stdout);
	} else if (!strcmp(c.command, "types")) {
		pl_render_types(stdout, &h, c.top, c.format);
	} else if (!strcmp(c.command, "objects")) {
		pl_render_objects(stdout, &h, c.type, c.format_set ? c.format : PL_FMT_TEXT);
	} else {
		pl_render_info(stdout, p, &h, c.format);
		if (c.format == PL_FMT_TEXT)
			fputs("\nlargest types:\n", stdout);
		pl_render_types(stdout, &h, c.top < 20 && c.top ? c.top : 20, c.format);
	}
	print_warnings(p);
	pl_heap_release(&h);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pyleak-core: writing output failed: %s\n", strerror(errno));
		return 10;
	}
	return 0;
}
