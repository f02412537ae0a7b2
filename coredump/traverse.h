/* What each object's tp_traverse would visit, emulated offline, in the same
 * order as CPython's. The handler is chosen by the identity of the type's
 * tp_traverse function (its symbol name in libpython), so a subclass that
 * inherits list_traverse is traversed as a list. Types whose traverse is not
 * known (C extensions) fall back on a scan of the object's body for words
 * that are addresses of known objects; those edges are marked inferred.
 *
 * Each visit carries a cheap edge description from which a label is made
 * only when one is printed (pl_edge_label). */
#ifndef PYLEAK_TRAVERSE_H
#define PYLEAK_TRAVERSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pl_heap;
struct pl_type;

enum pl_edge_kind {
	PL_E_FIELD,       /* name: a C field / Python attribute name ("__dict__") */
	PL_E_INDEX,       /* a: index in a tuple / list / deque */
	PL_E_DICT_KEY,    /* a: key object (the key itself is the referent) */
	PL_E_DICT_VALUE,  /* a: key object */
	PL_E_SET_ITEM,
	PL_E_ATTR,        /* a: key str object of an instance attribute (inline values) */
	PL_E_SLOT,        /* a: address of the PyMemberDef name (C string) */
	PL_E_LOCAL,       /* a: index in localsplus; b: code object */
	PL_E_STACK,       /* a: value stack position */
	PL_E_INFERRED,    /* a: byte offset of the word in the object */
	PL_E_MODSTATE,    /* a: byte offset in the module's md_state */
};

struct pl_edge {
	uint8_t kind;
	const char *name;
	uint64_t a, b;
};

/* Return non-zero to stop the traversal. */
typedef int (*pl_visit_fn)(void *ctx, uint64_t referent, const struct pl_edge *e);

enum pl_trav {
	PL_TRAV_EXACT = 0,    /* emulated tp_traverse */
	PL_TRAV_INFERRED = 1, /* fallback scan: edges are guesses */
	PL_TRAV_ERROR = 2,    /* a read failed part way; edges so far were given */
};

/* Visit the referents of obj (of type t). The fallback scan accepts a word
 * as a referent when is_object(ctx, word) says so. */
enum pl_trav pl_traverse(struct pl_heap *h, uint64_t obj, const struct pl_type *t,
			 pl_visit_fn visit, void *ctx,
			 bool (*is_object)(void *ctx, uint64_t addr));

/* The same with the types met on the way (a subclass's bases) looked up by
 * f->type (NULL: pl_type_get). A traversal changes nothing in the heap when
 * f->type changes nothing and every type it meets is ready (see below):
 * then other threads may traverse at once, while one builds the types. */
struct pl_trav_fns {
	pl_visit_fn visit;
	bool (*is_object)(void *ctx, uint64_t addr);
	struct pl_type *(*type)(void *ctx, uint64_t type_addr);
};
enum pl_trav pl_traverse_fns(struct pl_heap *h, uint64_t obj, const struct pl_type *t,
			     const struct pl_trav_fns *f, void *ctx);
/* What every traversal needs first (the names of libpython's traverse
 * functions), and what one would work out once and keep in t (its
 * handler, its __slots__). */
void pl_traverse_init(struct pl_heap *h);
void pl_traverse_ready_type(struct pl_heap *h, struct pl_type *t);

/* Hint the cache ahead of pl_traverse(h, obj, t) (obj's own first bytes
 * should be in it already): the table a dict, list or set keeps apart. */
void pl_traverse_prefetch(struct pl_heap *h, uint64_t obj, const struct pl_type *t);

/* Visit what a 3.11+ _PyInterpreterFrame (not an object: it lives on a
 * thread's data stack) holds: f_locals, func, code and its locals and stack,
 * as _PyFrame_Traverse does. */
enum pl_trav pl_traverse_iframe(struct pl_heap *h, uint64_t iframe, pl_visit_fn visit, void *ctx);

/* The symbol name of a type's tp_traverse ("list_traverse"), or NULL. */
const char *pl_traverse_name(struct pl_heap *h, uint64_t fn);

/* A printable label for an edge into buf: ".children", "[3]", "['key']",
 * ".<closure cache>", "local x" ... */
const char *pl_edge_label(struct pl_heap *h, uint64_t src, const struct pl_edge *e, char *buf,
			  size_t len);

#endif
