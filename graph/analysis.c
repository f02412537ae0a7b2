#include "config.h"
#include "analysis.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

/* suspects below this many bytes are noise whatever their share */
#define SUSPECT_MIN_BYTES (32 * 1024)

/* PYLEAK_TIMING=1 in the environment: each step's wall time, the CPU time
 * of all threads and the minor page faults during it, and the peak RSS so
 * far, on stderr (bench/run.sh prints them). */
struct clock {
	bool on;
	double t;
	struct rusage ru;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_s(struct timeval a, struct timeval b)
{
	return (double)(a.tv_sec - b.tv_sec) + (double)(a.tv_usec - b.tv_usec) * 1e-6;
}

static void clock_start(struct clock *c)
{
	const char *e = getenv("PYLEAK_TIMING");
	c->on = e && *e && strcmp(e, "0") != 0;
	c->t = now_s();
	if (c->on)
		getrusage(RUSAGE_SELF, &c->ru);
}

static void step_done(const char *name, struct clock *c)
{
	if (!c->on)
		return;
	double n = now_s();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr, "timing: %-10s %7.3f s  user %6.3f sys %6.3f  faults %7ld  peak %5ld MiB\n",
		name, n - c->t, tv_s(ru.ru_utime, c->ru.ru_utime), tv_s(ru.ru_stime, c->ru.ru_stime),
		ru.ru_minflt - c->ru.ru_minflt, ru.ru_maxrss / 1024);
	c->t = n;
	c->ru = ru;
}

/* The referrers (reverse edges) are only needed from the retained sizes
 * on, and nothing before reads them: with a second CPU they are built while
 * the gc analysis and the roots are found. */
struct reverse_job {
	struct pl_graph *g;
	struct pl_error *err;
};

static void *reverse_thread(void *arg)
{
	struct reverse_job *j = arg;
	j->err = pl_graph_reverse(j->g);
	return NULL;
}

struct pl_error *pl_analyse(struct pl_program *p, unsigned steps, double min_share,
			    struct pl_analysis *a)
{
	memset(a, 0, sizeof(*a));
	a->h.p = p;
	/* each step needs the ones before it */
	if (steps & PL_AN_SUSPECTS)
		steps |= PL_AN_RETAINED;
	if (steps & PL_AN_RETAINED)
		steps |= PL_AN_ROOTS;
	if (steps & (PL_AN_ROOTS | PL_AN_REVERSE))
		steps |= PL_AN_GRAPH;
	if (steps & PL_AN_GRAPH)
		steps |= PL_AN_CENSUS;
	struct pl_error *err = NULL;
	struct clock clk;
	clock_start(&clk);
	struct reverse_job rj = { &a->g, NULL };
	pthread_t rtid;
	bool rthread = false;
#define STEP(name, call)                                \
	do {                                            \
		if ((err = (call)) != NULL) {           \
			if (rthread) {                  \
				pthread_join(rtid, NULL);   \
				pl_error_free(rj.err);  \
			}                               \
			return err;                     \
		}                                       \
		step_done(name, &clk);                  \
	} while (0)
	/* with the graph, the census is staged: the build takes each object
	 * from it as it reads it, so that the core is read once for both */
	size_t staged = 0;
	if (steps & PL_AN_GRAPH)
		STEP("census", pl_census_stage(p, &a->h, &staged));
	else if (steps & PL_AN_CENSUS)
		STEP("census", pl_census(p, &a->h));
	if (steps & PL_AN_GRAPH) {
		STEP("graph", pl_graph_build_staged(&a->h, &a->g, staged));
		if ((steps & (PL_AN_REVERSE | PL_AN_RETAINED)) && pl_threads() > 1)
			rthread = pthread_create(&rtid, NULL, reverse_thread, &rj) == 0;
		STEP("gc", pl_graph_gc(&a->g));
		STEP("cycles", pl_cycles_find(&a->g, &a->cyc));
	}
	if (steps & PL_AN_ROOTS)
		STEP("roots", pl_roots_find(&a->g, &a->roots));
	if (rthread) {
		rthread = false;
		pthread_join(rtid, NULL);
		STEP("reverse", rj.err);   /* the wait for it, if any */
	} else if (steps & PL_AN_REVERSE) {
		STEP("reverse", pl_graph_reverse(&a->g));
	}
	if (steps & PL_AN_RETAINED)
		STEP("retained", pl_retained_compute(&a->g, &a->roots, &a->ret));
	if (steps & PL_AN_SUSPECTS)
		STEP("suspects", pl_suspects(&a->g, &a->roots, &a->ret, min_share, SUSPECT_MIN_BYTES,
					     &a->suspects, &a->nsuspects));
#undef STEP
	return NULL;
}

void pl_analysis_release(struct pl_analysis *a)
{
	free(a->suspects);
	pl_retained_release(&a->ret);
	pl_roots_release(&a->roots);
	pl_cycles_release(&a->cyc);
	pl_graph_release(&a->g);
	pl_heap_release(&a->h);
	memset(a, 0, sizeof(*a));
}
