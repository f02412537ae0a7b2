/* Why is it alive: the roots of the heap and the shortest chain from one of
 * them to any object, printed as a Python access path. */
#ifndef PYLEAK_ROOTS_H
#define PYLEAK_ROOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"

enum pl_root_kind {
	PL_ROOT_GLOBAL,    /* a module global: "__main__._cache" */
	PL_ROOT_FRAME,     /* a thread's frame local: "<thread worker-1> worker() local data" */
	PL_ROOT_THREAD,    /* thread state: dict, exception, context */
	PL_ROOT_INTERP,    /* sys.modules, sys.__dict__, builtins */
	PL_ROOT_C,         /* refcount residue: held from C or a leaked reference */
};

struct pl_root {
	uint32_t node;
	uint8_t kind;
	char *label;
	char *where;        /* frame roots: "native id 123, app.py:12"; else NULL */
};

struct pl_roots {
	struct pl_root *r;
	size_t n, cap;
	uint32_t *parent;   /* per node: predecessor on a shortest chain, PL_NONE at a root */
	uint32_t *root;     /* per node: index of its root, PL_NONE if unreached */
	uint32_t *order;    /* nodes in BFS order (nearest to a root first) */
	uint32_t nordered;
	uint32_t nheld_from_c;
};

/* Find the roots and run the multi-source BFS: pl_roots_collect, then
 * pl_roots_reach. */
struct pl_error *pl_roots_find(struct pl_graph *g, struct pl_roots *r);
/* The roots Python names: module globals, thread frames and state, and the
 * interpreter's (sys.modules, sys.__dict__, builtins). */
struct pl_error *pl_roots_collect(struct pl_graph *g, struct pl_roots *r);
/* The BFS from those, then the refcount residue as roots (PL_ROOT_C: what
 * pl_roots_held_from_c picks among the objects they do not reach), then the
 * BFS from these. */
void pl_roots_reach(struct pl_graph *g, struct pl_roots *r);
/* Object i (of the pl_graph at graph) has references gc cannot explain from
 * the heap: a tracked, collectable object with gc_refs left over that gc
 * would keep. A root when no other root reaches it. */
bool pl_roots_held_from_c(void *graph, uint32_t i);
void pl_roots_release(struct pl_roots *r);

/* The access path to node: "__main__.BUS.listeners[17].__self__" (empty if
 * unreached). Returns buf. */
const char *pl_roots_path(const struct pl_graph *g, const struct pl_roots *r, uint32_t node,
			  char *buf, size_t len);
/* The chain of nodes from the root to node into out (at most max); returns
 * its length. */
uint32_t pl_roots_chain(const struct pl_roots *r, uint32_t node, uint32_t *out, uint32_t max);
const char *pl_root_kind_name(uint8_t kind);

#endif
