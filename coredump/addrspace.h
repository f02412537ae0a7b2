/* One address space for the dead process: the core's PT_LOAD data first, then
 * the file-backed mappings (NT_FILE) read from the files on disk for the parts
 * the core does not hold (.rodata and .text are usually not dumped). Ranges
 * are sorted and never overlap. Reads never touch memory outside a range. */
#ifndef PYLEAK_ADDRSPACE_H
#define PYLEAK_ADDRSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"

#define PL_SRC_CORE 0u

struct pl_as_range {
	uint64_t start, end;   /* [start, end) */
	const uint8_t *data;   /* bytes for start..end; NULL: a hole (memory the
	                        * core should hold but lost to truncation) */
	uint32_t src;          /* PL_SRC_CORE or 1 + index of the file */
};

struct pl_as {
	struct pl_as_range *r;
	size_t n, cap;
};

/* Each thread remembers, for each 1 MiB of address (PL_AS_CACHE slots,
 * picked by address bits), the range it last found there: an object, its
 * values and its keys often lie in different ranges. Only a hint: the
 * range is checked before it is used, so any value is safe. */
#define PL_AS_CACHE_BITS 6
extern _Thread_local uint32_t pl_as_cache[1u << PL_AS_CACHE_BITS]
	__attribute__((tls_model("initial-exec")));

/* (the table is indexed, never read through a pointer to an element: with
 * that pointer inlined into a large function, gcc 12's UBSan null check
 * of it tested stale flags and fired) */
static inline unsigned pl_as_cache_index(uint64_t addr)
{
	return (unsigned)(addr >> 20) & ((1u << PL_AS_CACHE_BITS) - 1);
}

void pl_as_init(struct pl_as *as);
void pl_as_release(struct pl_as *as);
/* Add a range, keeping whatever already covers part of it (earlier adds win). */
struct pl_error *pl_as_add(struct pl_as *as, uint64_t start, uint64_t end,
			   const uint8_t *data, uint32_t src);

/* The range holding addr, or NULL. */
const struct pl_as_range *pl_as_find(const struct pl_as *as, uint64_t addr);
/* The same with the caller's own hint instead of the thread's table: for
 * a walker that keeps its place in one range. */
const struct pl_as_range *pl_as_find_hinted(const struct pl_as *as, size_t *hint, uint64_t addr);

/* Pointer to len contiguous bytes at addr, or NULL if any of them is missing
 * or they straddle two ranges. The hot path for object headers. */
static inline const uint8_t *pl_as_ptr(struct pl_as *as, uint64_t addr, size_t len)
{
	uint32_t i = pl_as_cache[pl_as_cache_index(addr)];
	const struct pl_as_range *r = i < as->n ? &as->r[i] : NULL;
	if (!r || addr < r->start || addr >= r->end) {
		r = pl_as_find(as, addr);
		if (!r)
			return NULL;
	}
	if (len > r->end - addr || !r->data)
		return NULL;
	return r->data + (addr - r->start);
}

/* Copy len bytes (which may span ranges); 0 or -1 (EFAULT) */
int pl_as_read_spanning(struct pl_as *as, uint64_t addr, void *buf, size_t len);
static inline int pl_as_read(struct pl_as *as, uint64_t addr, void *buf, size_t len)
{
	const uint8_t *p = pl_as_ptr(as, addr, len);
	if (!p)
		return pl_as_read_spanning(as, addr, buf, len);
	memcpy(buf, p, len);
	return 0;
}
/* Same, but only from the core itself (build-id checks must not be answered
 * by the file they check). */
int pl_as_read_core(struct pl_as *as, uint64_t addr, void *buf, size_t len);

static inline int pl_as_u64(struct pl_as *as, uint64_t addr, uint64_t *out)
{
	const uint8_t *p = pl_as_ptr(as, addr, 8);
	if (!p)
		return pl_as_read_spanning(as, addr, out, 8);
	memcpy(out, p, 8);
	return 0;
}

/* Read a NUL-terminated string of at most max-1 bytes; returns its length or -1. */
long pl_as_cstr(struct pl_as *as, uint64_t addr, char *buf, size_t max);

/* Total bytes covered from the core / from files. */
uint64_t pl_as_bytes(const struct pl_as *as, bool core);

#endif
