/* What grew between two cores of one program (objgraph's show_growth, done
 * offline): count and bytes per type, and the containers that gained items,
 * matched between the cores by address (two dumps of one process) or, when
 * the address moved or the process restarted, by their path from a root. */
#ifndef PYLEAK_DIFF_H
#define PYLEAK_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"

struct pl_type_delta {
	const char *name;          /* points into one of the heaps' type records */
	int64_t old_count, new_count;
	int64_t old_bytes, new_bytes;
};

struct pl_growth {
	uint32_t node;             /* in the new core */
	uint64_t old_addr;
	int64_t old_len, new_len;
	bool by_path;              /* matched by path, not by address; its path from
	                            * a root in the new core: pl_roots_path */
};

struct pl_diff {
	struct pl_type_delta *types;   /* every type whose count or bytes changed,
	                                * largest count growth first */
	size_t ntypes;
	struct pl_growth *grew;        /* containers that gained items, most first */
	size_t ngrew;
	int64_t old_objects, new_objects, old_bytes, new_bytes;
	bool same_process, same_build;
};

/* Both analyses need PL_AN_ROOTS. */
struct pl_error *pl_diff_compute(struct pl_analysis *old, struct pl_analysis *new,
				 struct pl_diff *d);
void pl_diff_release(struct pl_diff *d);

/* Items in a container (list, dict, set, frozenset and their subclasses;
 * deque), or -1 for anything else. */
int64_t pl_container_len(struct pl_heap *h, uint32_t i);

#endif
