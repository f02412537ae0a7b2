/* Rendering of `pyleak-core diff`: type deltas and grown containers. */
#ifndef PYLEAK_RENDER_DIFFOUT_H
#define PYLEAK_RENDER_DIFFOUT_H

#include <stdbool.h>
#include <stdio.h>

#include "census.h"
#include "graph/diff.h"

struct pl_diff_view {
	const char *old_path, *new_path;
	size_t top;       /* rows per table; 0 = all */
	bool all;         /* text: also types that shrank */
};

void pl_render_diff(FILE *out, const struct pl_diff *d, const struct pl_analysis *new,
		    const struct pl_diff_view *v, enum pl_format fmt);

#endif
