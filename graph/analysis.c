#include "config.h"
#include "analysis.h"

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

double pl_now_s(void)
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
	c->t = pl_now_s();
	if (c->on)
		getrusage(RUSAGE_SELF, &c->ru);
}

static void step_done(const char *name, struct clock *c)
{
	if (!c->on)
		return;
	double n = pl_now_s();
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
 * the gc analysis runs. The BFS from the roots (the shortest chains) and the
 * dominators only read the graph: with a second CPU the BFS runs beside the
 * retained sizes, and the retained bytes per type beside the suspects. */
struct job {
	struct pl_graph *g;
	struct pl_roots *r;
	struct pl_retained *rt;
	struct pl_idle idle;     /* taken when done, if any */
	struct pl_types_work *tw;
	struct pl_error *err;
	struct pl_beside b;
};

static void *reverse_thread(void *arg)
{
	struct job *j = arg;
	j->err = pl_graph_reverse(j->g);
	return NULL;
}

/* The BFS is shorter than the dominators: then it maps in the pages of
 * what the retained sizes write next, and does the part of the dominators
 * they offer */
static void *reach_thread(void *arg)
{
	struct job *j = arg;
	pl_roots_reach(j->g, j->r);
	pl_idle_take(&j->idle);
	return NULL;
}

static void *types_thread(void *arg)
{
	struct job *j = arg;
	j->err = pl_retained_types_run(j->tw);
	return NULL;
}

static void job_start(struct job *j, void *(*fn)(void *))
{
	j->err = NULL;
	pl_beside_start(&j->b, fn, j);
}

static struct pl_error *job_wait(struct job *j)
{
	pl_beside_wait(&j->b);
	struct pl_error *err = j->err;
	j->err = NULL;
	return err;
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
	struct job rev = { .g = &a->g }, reach = { .g = &a->g, .r = &a->roots },
		   types = { .g = &a->g, .rt = &a->ret };
	uint32_t *roots = NULL;
#define STEP(name, call)                                \
	do {                                            \
		if ((err = (call)) != NULL)             \
			goto fail;                      \
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
		if (clk.on)
			fprintf(stderr, "timing: (graph: %u nodes, %u gc-tracked, %llu edges)\n",
				a->g.n, a->g.ntracked, (unsigned long long)a->g.nedges);
		if (steps & (PL_AN_REVERSE | PL_AN_RETAINED))
			job_start(&rev, reverse_thread);
		STEP("gc", pl_graph_gc(&a->g));
		STEP("cycles", pl_cycles_find(&a->g, &a->cyc));
	}
	if (steps & PL_AN_ROOTS)
		STEP("roots", pl_roots_collect(&a->g, &a->roots));
	if (steps & (PL_AN_REVERSE | PL_AN_RETAINED))
		STEP("reverse", job_wait(&rev));   /* the wait for it, if any */
	if (steps & PL_AN_RETAINED) {
		/* the roots named so far: the BFS adds the residue to the list */
		size_t nroots = a->roots.n;
		roots = malloc((nroots + 1) * sizeof(*roots));
		if (!roots) {
			err = pl_error(PL_E_NOMEM, "out of memory computing retained sizes");
			goto fail;
		}
		for (size_t i = 0; i < nroots; i++)
			roots[i] = a->roots.r[i].node;
		job_start(&reach, reach_thread);
		/* (alone, the BFS is done already: nothing is offered) */
		err = pl_retained_compute(&a->g, roots, nroots, &a->ret,
					  reach.b.running ? &reach.idle : NULL);
		job_wait(&reach);
		if (err)
			goto fail;
		step_done("retained", &clk);   /* and the BFS beside it */
	} else if (steps & PL_AN_ROOTS) {
		pl_roots_reach(&a->g, &a->roots);
		step_done("reach", &clk);
	}
	/* the retained bytes per type beside the suspects, which do not need
	 * them; then this thread helps */
	if (steps & PL_AN_RETAINED) {
		if (!(types.tw = pl_retained_types_new(&a->g, &a->ret))) {
			err = pl_error(PL_E_NOMEM, "out of memory computing retained sizes");
			goto fail;
		}
		job_start(&types, types_thread);
	}
	if (steps & PL_AN_SUSPECTS)
		STEP("suspects", pl_suspects(&a->g, &a->roots, &a->ret, min_share, SUSPECT_MIN_BYTES,
					     &a->suspects, &a->nsuspects));
	if (steps & PL_AN_RETAINED) {
		struct pl_error *help = pl_retained_types_help(types.tw);
		if ((err = job_wait(&types)) || (err = help) || (err = pl_retained_types_done(types.tw))) {
			if (err != help)
				pl_error_free(help);
			goto fail;
		}
		pl_retained_types_free(types.tw);
		step_done("types", &clk);
	}
#undef STEP
	free(roots);
	return NULL;
fail:
	pl_error_free(job_wait(&rev));
	job_wait(&reach);
	pl_error_free(job_wait(&types));
	pl_retained_types_free(types.tw);
	free(roots);
	return err;
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
