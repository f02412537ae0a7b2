#include "config.h"
#include "analysis.h"

#include <stdlib.h>
#include <string.h>

/* suspects below this many bytes are noise whatever their share */
#define SUSPECT_MIN_BYTES (32 * 1024)

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
	if ((steps & PL_AN_CENSUS) && (err = pl_census(p, &a->h)))
		return err;
	if ((steps & PL_AN_GRAPH) &&
	    ((err = pl_graph_build(&a->h, &a->g)) || (err = pl_graph_gc(&a->g)) ||
	     (err = pl_cycles_find(&a->g, &a->cyc))))
		return err;
	if ((steps & PL_AN_REVERSE) && (err = pl_graph_reverse(&a->g)))
		return err;
	if ((steps & PL_AN_ROOTS) && (err = pl_roots_find(&a->g, &a->roots)))
		return err;
	if ((steps & PL_AN_RETAINED) && (err = pl_retained_compute(&a->g, &a->roots, &a->ret)))
		return err;
	if (steps & PL_AN_SUSPECTS)
		err = pl_suspects(&a->g, &a->roots, &a->ret, min_share, SUSPECT_MIN_BYTES,
				  &a->suspects, &a->nsuspects);
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
