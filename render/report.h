/* The default report: runtime summary, gc warnings, leak suspects with their
 * chains, the largest types by retained bytes, unreachable cycle groups. */
#ifndef PYLEAK_RENDER_REPORT_H
#define PYLEAK_RENDER_REPORT_H

#include <stdio.h>

#include "census.h"
#include "graph/cycles.h"
#include "graph/retained.h"
#include "graph/roots.h"

#define PL_REPORT_SCHEMA 1

struct pl_report {
	struct pl_graph *g;
	struct pl_cycles *cycles;
	struct pl_roots *roots;
	struct pl_retained *rt;
	struct pl_suspect *suspects;
	size_t nsuspects;
	size_t top;
	const char *svg_dir;     /* pictures were written there: link them */
	size_t nsuspect_svgs, ncycle_svgs;
};

void pl_render_report(FILE *out, const struct pl_report *r, enum pl_format fmt);
/* types with retained bytes (types --retained) */
void pl_render_types_retained(FILE *out, const struct pl_graph *g, const struct pl_retained *rt,
			      size_t top, enum pl_format fmt);

#endif
