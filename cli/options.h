#ifndef PYLEAK_OPTIONS_H
#define PYLEAK_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "../coredump/program.h"
#include "../render/census.h"

struct cli {
	const char *command;     /* "info", "types", "objects", "report" */
	const char *core;
	const char *exe;
	const char **cores;      /* diff: OLD NEW; triage: every core */
	size_t ncores;
	bool locals, tasks;      /* stacks */
	unsigned jobs;           /* triage --jobs */
	double timeout;          /* triage --timeout: seconds per core, 0: none */
	const char *sysroot;
	const char *debug_dirs[33];
	size_t ndebug_dirs;
	bool force;
	bool layout;             /* info --layout */
	bool retained;           /* types --retained */
	double min_share;        /* report: suspects retain at least this share */
	size_t max_depth, too_many;  /* backrefs */
	const char *dot, *svg;       /* chain, backrefs: picture files */
	const char *svg_dir;         /* cycles, report: one picture per finding */
	size_t top;
	const char *type;
	const char *addr;        /* referents / referrers ADDR */
	enum pl_format format;
	bool format_set;
};

/* 0 to go on; otherwise the exit code (help and version print and return -1
 * for "exit 0 now"). */
int pl_cli_parse(struct cli *c, int argc, char **argv);
void pl_cli_usage(FILE *out);

#endif
