/* Object decoders: headers, types and their qualified names, str and dict
 * contents, and the census of the gc generation lists. All reads go through
 * the address space and can fail; a failure is a value, never a crash. */
#ifndef PYLEAK_OBJECTS_H
#define PYLEAK_OBJECTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addrmap.h"
#include "error.h"

struct pl_program;

/* What a type is at heart, from its static builtin base (walking tp_base). */
enum pl_kind {
	PL_K_OTHER = 0, PL_K_TUPLE, PL_K_LIST, PL_K_DICT, PL_K_SET, PL_K_FROZENSET,
	PL_K_STR, PL_K_BYTES, PL_K_INT, PL_K_FLOAT, PL_K_TYPE, PL_K_MODULE,
	PL_K_FUNCTION, PL_K_CELL, PL_K_METHOD, PL_K_CFUNCTION, PL_K_FRAME, PL_K_CODE,
	PL_K_GEN, PL_K_COROUTINE, PL_K_ASYNCGEN, PL_K_WEAKREF, PL_K_BASEEXC,
	PL_K_TRACEBACK, PL_K_GETSET_DESCR, PL_K_MEMBER_DESCR, PL_K_BYTEARRAY, PL_K_OBJECT, PL_K__COUNT
};

struct pl_field {
	int64_t off;
	char *name;
};

struct pl_type {
	uint64_t addr;
	uint64_t flags;
	int64_t basicsize, itemsize, dictoffset, weaklistoffset;
	uint64_t base, dict, traverse, is_gc, del, finalize, mro, members;
	int64_t nslots;         /* heap types: Py_SIZE(type) = number of __slots__ members */
	uint64_t ht_cached_keys;
	enum pl_kind kind;
	int16_t handler;        /* traverse handler, -1 until resolved */
	/* this type's own T_OBJECT_EX __slots__ (not its bases'), decoded once */
	int32_t nslot_offs;     /* -1 until decoded */
	int32_t *slot_offs;
	uint64_t *slot_names;
	/* C types: the pointer members of the struct tp_traverse takes, from
	 * DWARF, sorted by offset, to name inferred edges; loaded when first
	 * asked for (nfields -1 until then) */
	int32_t nfields;
	struct pl_field *fields;
	bool heap, valid;
	char *name;             /* f"{__module__}.{__qualname__}" */
	/* census totals */
	uint64_t count, bytes;
	/* the graph's: objects gc does not track that the build added (str,
	 * int, code ... reached from the gc objects) */
	uint64_t untracked_count, untracked_bytes;
};

struct pl_obj {              /* 24 bytes: millions of these */
	uint64_t addr;
	uint32_t refcnt;        /* ob_refcnt, saturated at UINT32_MAX (immortal) */
	uint32_t type;          /* index into heap->types */
	uint32_t size;          /* shallow bytes, see SIZES in pyleak-core(1) */
	uint8_t gen;            /* 0, 1, 2, PL_GEN_PERMANENT, PL_GEN_UNTRACKED */
	uint8_t flags;          /* PL_OF_* */
};

static inline uint32_t pl_refcnt_clamp(int64_t rc)
{
	return rc < 0 ? 0 : rc > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)rc;
}

#define PL_GEN_PERMANENT 3
#define PL_GEN_UNTRACKED 4
#define PL_OF_FINALIZED 1   /* _gc_prev FINALIZED bit: tp_finalize already ran */
#define PL_OF_IMMORTAL  2
#define PL_OF_STATIC    4   /* lives in a mapped file's data (None, static types) */
#define PL_OF_UNREACHABLE 8 /* graph: gc.collect() would free it */
#define PL_OF_TRAV_SHIFT 4  /* graph: enum pl_trav of its edges, 2 bits */
#define PL_OF_TRAV_MASK (3u << PL_OF_TRAV_SHIFT)

/* Distinct types a heap may have: a reservation of address space (about
 * 200 MB, touched only as used), so that pl_type pointers stay valid. */
#define PL_MAX_TYPES (1u << 20)

/* A chunk of the direct index, and which of its 32 parts (a page each)
 * were written: a part never written holds no object, and is not read (a
 * fresh page read first is faulted twice: the zero page, then a copy) */
struct pl_idx_chunk {
	uint32_t *slots;
	uint64_t written;
};

struct pl_heap {
	struct pl_program *p;
	struct pl_type *types;            /* never moves; see PL_MAX_TYPES */
	size_t ntypes, captypes;
	bool types_full;
	struct pl_addrmap type_index;     /* type addr -> index */
	/* object addr -> index in objs. pymalloc and malloc align objects to
	 * 16 bytes, so nearly all addresses index directly: a directory over
	 * the 48-bit address space (bits 47..32, then 31..20) names a chunk of
	 * 32 K slots per MiB, one per 32 bytes, made when first written; its
	 * untouched pages cost nothing. A slot holds 1 + the index of the
	 * object there (0: none) and which 16 bytes of the 32 it starts at; a
	 * second object in the same 32 bytes (two 16-byte objects side by
	 * side; gc objects, with their gc head, are 32 bytes at least) goes to
	 * the hashed part, and the slot says so. Neighbours in memory share
	 * cache lines, and a lookup never compares keys. */
	struct pl_idx_chunk **idir;
	/* the chunks, cut from one reservation over as many MiB as the
	 * address space touches (its untouched pages cost nothing, and it is
	 * given back at once); chunks beyond it are mappings of their own */
	uint8_t *ipool;
	size_t ipool_size, ipool_used;
	bool ipool_tried;
	/* other addresses (8-byte aligned static objects, or above 2^48, and
	 * the second object of a direct slot's 32 bytes): open addressing over
	 * slots that hold indices, keys compared via objs */
	uint32_t *islots;
	uint16_t *itags;                  /* 16 more hash bits per slot */
	size_t icap, icount;
	uint64_t last_type;               /* one-entry cache for pl_type_get */
	uint32_t last_type_idx;
	struct pl_obj *objs;
	size_t nobjs, capobjs;
	uint64_t gen_objects[5];
	uint64_t total_bytes;
	bool damaged;                     /* a list walk stopped early */
	bool segmented;                   /* the lists were walked in segments, by
	                                   * threads (not one node at a time) */
	uint64_t bad_sizes;               /* sizes read as implausible (damage):
	                                   * those objects count without their items */
	/* tp_traverse function address -> name index (coredump/traverse.c) */
	struct pl_addrmap trav_index;
	char **trav_names;
	size_t ntrav;
	bool trav_loaded;
	int32_t frame_cleared, owned_by_frame_object; /* enums from DWARF */
	uint64_t lookdict;                /* <=3.10: dict keys with keys visited */
	uint64_t set_dummy;               /* the <dummy key> of sets (_PySet_Dummy) */
	/* static type addresses by kind, from libpython's symbols */
	uint64_t kind_type[PL_K__COUNT];
	uint64_t none, true_, false_;     /* the singletons' addresses */
	uint64_t opcode_deopt;            /* _PyOpcode_Deopt (3.11+), 0 if unknown */
	bool opcode_deopt_loaded;
};

/* Threads pyleak-core may use: PYLEAK_THREADS, else the CPUs it may run on.
 * With 2 or more, the census walks the gc lists in segments, many at once. */
unsigned pl_threads(void);
/* Work run beside the caller: fn(arg) on a thread of its own when
 * pl_threads() allows more than one and one can be started, else at once in
 * pl_beside_start. pl_beside_wait returns when it is done. */
struct pl_beside {
	pthread_t tid;
	bool running;
};
void pl_beside_start(struct pl_beside *b, void *(*fn)(void *), void *arg);
void pl_beside_wait(struct pl_beside *b);

/* Read the gc generation lists (and the permanent generation). Fails with
 * PL_E_STATE if the core was taken during a collection, unless forced.
 * The objects are then in address order (ids follow addresses). */
struct pl_error *pl_census(struct pl_program *p, struct pl_heap *h);
/* The same with each list walked one node at a time (after damage met in a
 * segmented one, which need not be walked again); h is released first. */
struct pl_error *pl_census_one_by_one(struct pl_program *p, struct pl_heap *h);
/* The census in two stages, for the graph build, which then reads the core
 * once for both: pl_census_stage walks the lists and indexes their objects
 * by address (ids final, in address order) and sets *staged to their
 * number; pl_census_take(h, id) reads the header, type and size of one of
 * them (false: unreadable; the caller then starts over with
 * pl_census_one_by_one).
 * When the lists cannot be walked in segments (one CPU, damage, a
 * collection under way), it does the whole census and *staged is 0. */
struct pl_error *pl_census_stage(struct pl_program *p, struct pl_heap *h, size_t *staged);
bool pl_census_take(struct pl_heap *h, uint32_t id);
/* What pl_census_take would store in *o (its addr and gen set), for a
 * thread beside the one building the types: it reads the core and changes
 * nothing. The types come from type(ctx, addr), NULL: not there; *bad
 * counts implausible sizes. false: unreadable header, or no type. The
 * census totals are the caller's to count. */
bool pl_census_peek(struct pl_heap *h, struct pl_obj *o,
		    struct pl_type *(*type)(void *ctx, uint64_t type_addr), void *ctx, uint64_t *bad);
void pl_heap_release(struct pl_heap *h);

#define PL_IDX_L1_BITS 16
#define PL_IDX_L2_BITS 12
#define PL_IDX_GRAIN_BITS 5    /* a slot per 32 bytes */
#define PL_IDX_CHUNK_BITS 15   /* slots per chunk: 32-byte granules of 1 MiB */
#define PL_IDX_PART_BITS 10    /* slots per part of a chunk: 4 KiB */
/* a slot: 1 + the object's index, the object's half of the 32 bytes, and
 * whether another object there is in the hashed part */
#define PL_IDX_ID ((1u << 30) - 1)
#define PL_IDX_SHARED (1u << 30)
#define PL_IDX_HIGH (1u << 31)

static inline bool pl_heap_direct(uint64_t addr)
{
	return (addr & 15) == 0 && addr >> 48 == 0;
}

/* The high-half bit a slot has for an object at addr */
static inline uint32_t pl_idx_half(uint64_t addr)
{
	return (uint32_t)(addr >> 4 & 1) << 31;
}

/* Where addr's 32 bytes have their slot in their chunk (its part:
 * k >> PL_IDX_PART_BITS) */
static inline uint32_t pl_idx_slot(uint64_t addr)
{
	return (uint32_t)(addr >> PL_IDX_GRAIN_BITS) & ((1u << PL_IDX_CHUNK_BITS) - 1);
}

/* The direct slot of addr's 32 bytes, or NULL when its part of a chunk was
 * never written (then no object is there). */
static inline const uint32_t *pl_heap_dslot(const struct pl_heap *h, uint64_t addr)
{
	const struct pl_idx_chunk *l2 = h->idir ? h->idir[addr >> 32] : NULL;
	if (!l2)
		return NULL;
	const struct pl_idx_chunk *c = &l2[(addr >> 20) & ((1u << PL_IDX_L2_BITS) - 1)];
	uint32_t k = pl_idx_slot(addr);
	return c->written >> (k >> PL_IDX_PART_BITS) & 1 ? &c->slots[k] : NULL;
}

/* Whether slot value s is the object at addr (then its index is
 * (s & PL_IDX_ID) - 1) */
static inline bool pl_idx_holds(uint32_t s, uint64_t addr)
{
	return (s & PL_IDX_ID) && (s & PL_IDX_HIGH) == pl_idx_half(addr);
}

uint32_t pl_heap_find_hashed(const struct pl_heap *h, uint64_t addr);

/* Index of the object at addr, or UINT32_MAX. */
static inline uint32_t pl_heap_find(const struct pl_heap *h, uint64_t addr)
{
	if (__builtin_expect(pl_heap_direct(addr), 1)) {
		const uint32_t *s = pl_heap_dslot(h, addr);
		if (!s)
			return UINT32_MAX;
		uint32_t v = *s;
		if (pl_idx_holds(v, addr))
			return (v & PL_IDX_ID) - 1;
		if (!(v & PL_IDX_SHARED))
			return UINT32_MAX;
	}
	return pl_heap_find_hashed(h, addr);
}

/* Hint the cache ahead of a pl_heap_find of addr. */
static inline void pl_heap_prefetch(const struct pl_heap *h, uint64_t addr)
{
	if (__builtin_expect(pl_heap_direct(addr), 1)) {
		const uint32_t *s = pl_heap_dslot(h, addr);
		if (s)
			__builtin_prefetch(s);
	}
}
/* Append an object and index it. Returns its index, UINT32_MAX when out of
 * memory, or the existing index (with *dup set) when addr is already there. */
uint32_t pl_heap_add(struct pl_heap *h, const struct pl_obj *o, bool *dup);
/* Room for n objects in all, so that adding up to n does not move h->objs;
 * false when out of memory. */
bool pl_heap_reserve(struct pl_heap *h, size_t n);
/* Renumber the objects in address order, index included; false when out of
 * memory (nothing changed). The census ends with it. */
bool pl_heap_sort(struct pl_heap *h);
/* Give back the slack of the growing arrays. */
void pl_heap_shrink(struct pl_heap *h);

/* The type record for a type object address (decoded and cached); NULL if
 * the address is not a readable type object. */
struct pl_type *pl_type_get(struct pl_heap *h, uint64_t type_addr);
/* Two types in a list's order when nothing else tells them apart: by name,
 * then (two classes may share a name) by address; never by index, which
 * follows the order the types were met in (another with more threads). */
static inline int pl_type_cmp(const struct pl_type *a, const struct pl_type *b)
{
	int c = strcmp(a->name, b->name);
	return c ? c : a->addr < b->addr ? -1 : a->addr > b->addr;
}
/* Header of an object: 0 or -1. */
int pl_obj_header(struct pl_program *p, uint64_t addr, int64_t *refcnt, uint64_t *type);

/* Decode a str object into UTF-8 (cut at max-1 bytes, NUL-terminated).
 * Returns the full length in characters, or -1 if addr is not a readable str. */
long pl_str_read(struct pl_heap *h, uint64_t addr, char *buf, size_t max);

/* Value of a Python int of up to 60 bits: 0, or -1 (unreadable, too big). */
int pl_int_value(struct pl_heap *h, uint64_t addr, int64_t *v);

/* len() of a tuple, list, bytes, dict, set, frozenset or deque (subclasses
 * too), or -1 for anything else or when unreadable. */
int64_t pl_obj_len(struct pl_heap *h, uint64_t addr, const struct pl_type *t);

/* A short repr for display: None, True, 42, 1.5, 'text', b'..',
 * <list len=3>, <mymod.Foo 0x7f..>. Never fails (unreadable: <? 0x..>). */
const char *pl_short_repr(struct pl_heap *h, uint64_t addr, char *buf, size_t len);

/* Dict iteration over (key, value) pairs, in insertion order. */
struct pl_dict_iter {
	struct pl_program *p;
	uint64_t keys, values, entries;
	int64_t nentries, i;
	int32_t esize, koff, voff;
	bool split;
};
int pl_dict_iter_init(struct pl_dict_iter *it, struct pl_program *p, uint64_t dict);
/* 1 with key and value set, 0 at the end, -1 on a read failure. */
int pl_dict_iter_next(struct pl_dict_iter *it, uint64_t *key, uint64_t *value);
/* Look a str key up by walking the dict: the value, or 0. */
uint64_t pl_dict_get_str(struct pl_heap *h, uint64_t dict, const char *key);

/* Warn once about the implausible sizes met since bad_sizes was before. */
void pl_warn_bad_sizes(struct pl_heap *h, uint64_t before);

/* Shallow size of an object of this type (see SIZES in the man page). */
uint64_t pl_obj_size(struct pl_heap *h, uint64_t addr, const struct pl_type *t, bool gc);
/* The same counting implausible sizes in *bad instead of h->bad_sizes. */
uint64_t pl_obj_size_counted(struct pl_heap *h, uint64_t addr, const struct pl_type *t, bool gc,
			     uint64_t *bad);

#endif
