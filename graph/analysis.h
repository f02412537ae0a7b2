/* The whole analysis of a program, built step by step as a command needs it,
 * and released in one place: census, object graph with gc arithmetic and
 * cycles, reverse edges, roots and chains, retained sizes, suspects. */
#ifndef PYLEAK_ANALYSIS_H
#define PYLEAK_ANALYSIS_H

#include "coredump/objects.h"
#include "cycles.h"
#include "graph.h"
#include "retained.h"
#include "roots.h"

enum {
	PL_AN_CENSUS = 1,      /* the gc lists */
	PL_AN_GRAPH = 2,       /* edges, gc arithmetic, cycles */
	PL_AN_REVERSE = 4,     /* referrers */
	PL_AN_ROOTS = 8,       /* roots and shortest chains */
	PL_AN_RETAINED = 16,   /* dominators, retained sizes */
	PL_AN_SUSPECTS = 32,   /* leak suspects */
};

struct pl_analysis {
	struct pl_heap h;
	struct pl_graph g;
	struct pl_cycles cyc;
	struct pl_roots roots;
	struct pl_retained ret;
	struct pl_suspect *suspects;
	size_t nsuspects;
};

/* Build the steps asked for and those they need. A suspect retains at least
 * min_share of the reachable heap. On error, what was built stays for
 * pl_analysis_release. */
struct pl_error *pl_analyse(struct pl_program *p, unsigned steps, double min_share,
			    struct pl_analysis *a);
void pl_analysis_release(struct pl_analysis *a);
/* Seconds on CLOCK_MONOTONIC (step timings, deadlines). */
double pl_now_s(void);

#endif
