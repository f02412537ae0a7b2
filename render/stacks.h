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

/* A signal that kills the process (not a stop signal or SIGTRAP, which mark
 * a dump of a live process). */
bool pl_signal_fatal(int sig);

/* The Python thread the fatal signal hit (or, without a signal, the one
 * holding the GIL, else the main thread): its index in p->rt.threads, or -1. */
int pl_crashing_pythread(struct pl_heap *h);

/* Frames of one thread as a JSON array [{"function","file","line"}],
 * innermost first, at most max. */
void pl_json_thread_frames(FILE *out, struct pl_heap *h, int thread, size_t max);
/* The innermost frame of a thread: "func (file:line)" into buf; false when
 * the thread has no Python frame. */
bool pl_thread_top_frame(struct pl_heap *h, int thread, char *buf, size_t len);

#endif
