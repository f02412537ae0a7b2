/* Thread stacks (pyleak-core stacks): every Python thread with its name,
 * native id, the GIL and the fatal signal, its frames innermost first with
 * file:line and, on request, locals; suspended generators and asyncio tasks
 * with their frames. */
#ifndef PYLEAK_RENDER_STACKS_H
#define PYLEAK_RENDER_STACKS_H

#include <stdbool.h>
#include <stdio.h>

#include "census.h"

struct pl_heap;

struct pl_stacks_opts {
	bool locals;          /* --locals */
	bool tasks;           /* --tasks: needs the census in h */
	size_t max_frames;    /* per thread; 0 = all */
};

void pl_render_stacks(FILE *out, struct pl_heap *h, const struct pl_stacks_opts *o,
		      enum pl_format fmt);

/* The Python thread the fatal signal hit (or, without a signal, the one
 * holding the GIL, else the main thread): its index in p->rt.threads, or -1. */
int pl_crashing_pythread(struct pl_heap *h);

#endif
