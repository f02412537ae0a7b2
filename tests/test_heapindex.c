/* The address -> object index of a heap (coredump/objects.c), against a
 * model: objects at random addresses of every kind the index treats apart
 * (16-byte aligned ones in the direct map: dense, scattered, and 16-byte
 * objects side by side, two to a slot of 32 bytes, the second of them
 * hashed; 8-byte aligned ones and addresses above 2^48 in the hashed part),
 * duplicates, near misses, and the renumbering in address order the census
 * ends with. */
#include "config.h"

#include <check.h>

#include "check_run.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coredump/objects.h"

#define N 200000

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* An address of kind k: dense pymalloc-like runs, scattered 16-byte aligned
 * ones, 8-byte aligned ones, ones above 2^48, and 16-byte objects side by
 * side in random order (a plain 3.12+ instance is 16 bytes after its gc
 * head). */
static uint64_t pick(int k, uint64_t i)
{
	switch (k) {
	case 4: return 0x7e0000000000ull + (next() & 0xffff0ull);       /* 16 apart */
	case 0: return 0x7f0000000000ull + i * 48;                      /* dense */
	case 1: return 0x550000000000ull + ((next() & 3) << 32) +        /* scattered */
		       (next() & 0x03fffff0ull);
	case 2: return ((next() & 0x7ffffffffff0ull) | 0x10) + 8;       /* 8-aligned */
	default: return (next() | (1ull << 48)) & ~7ull;                 /* > 2^48 */
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t tag(uint64_t addr)
{
	return (uint32_t)(addr * 0x9E3779B97F4A7C15ull >> 40);
}

START_TEST(index_against_model)
{
	struct pl_heap h;
	memset(&h, 0, sizeof(h));
	uint64_t *addrs = malloc(N * sizeof(*addrs));
	ck_assert_ptr_nonnull(addrs);
	size_t n = 0;
	size_t wrong = 0;
	for (uint64_t i = 0; n < N; i++) {
		uint64_t a = pick((int)(i % 5), i);
		struct pl_obj o = { .addr = a, .refcnt = tag(a), .type = (uint32_t)i };
		bool dup;
		uint32_t id = pl_heap_add(&h, &o, &dup);
		ck_assert_uint_ne(id, UINT32_MAX);
		if (dup) {   /* a random address met twice: the first one stays */
			wrong += h.objs[id].addr != a;
			continue;
		}
		wrong += id != n;
		addrs[n++] = a;
	}
	ck_assert_uint_eq(wrong, 0);
	ck_assert_uint_eq(h.nobjs, N);
	ck_assert_uint_gt(h.icount, N / 5);   /* the hashed part is exercised */
	/* (counted, not asserted one by one: each check assertion costs a
	 * write in fork mode) */
	size_t bad = 0;
	for (size_t i = 0; i < N; i++) {
		bool dup;
		struct pl_obj o = { .addr = addrs[i] };
		bad += pl_heap_find(&h, addrs[i]) != i;
		bad += pl_heap_add(&h, &o, &dup) != i || !dup;
	}
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(h.nobjs, N);
	/* near misses and never-written chunks */
	qsort(addrs, N, sizeof(*addrs), cmp_u64);
	size_t pairs = 0;   /* two objects in a slot's 32 bytes: one hashed */
	for (size_t i = 1; i < N; i++)
		pairs += (addrs[i] & 31) == 16 && addrs[i - 1] == addrs[i] - 16;
	ck_assert_uint_gt(pairs, 1000);
	for (size_t i = 0; i < N; i++) {
		static const int64_t d[] = { -16, -8, 8, 16, 4096 };
		for (size_t k = 0; k < 5; k++) {
			uint64_t a = addrs[i] + (uint64_t)d[k];
			if (!bsearch(&a, addrs, N, sizeof(*addrs), cmp_u64))
				bad += pl_heap_find(&h, a) != UINT32_MAX;
		}
	}
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(pl_heap_find(&h, 0), UINT32_MAX);
	ck_assert_uint_eq(pl_heap_find(&h, 0x1000), UINT32_MAX);
	ck_assert_uint_eq(pl_heap_find(&h, UINT64_MAX & ~15ull), UINT32_MAX);

	/* renumbered in address order, each object whole, the index along */
	ck_assert(pl_heap_sort(&h));
	ck_assert_uint_eq(h.nobjs, N);
	for (size_t i = 0; i < N; i++)
		bad += h.objs[i].addr != addrs[i] || h.objs[i].refcnt != tag(addrs[i]) ||
		       pl_heap_find(&h, addrs[i]) != i;
	ck_assert_uint_eq(bad, 0);
	/* and it keeps working: new objects, duplicates */
	bool dup;
	struct pl_obj o = { .addr = addrs[N / 2] };
	ck_assert_uint_eq(pl_heap_add(&h, &o, &dup), N / 2);
	ck_assert(dup);
	uint64_t fresh[] = { 0x10, 0x18, 1ull << 49 };
	for (size_t k = 0; k < 3; k++) {
		o.addr = fresh[k];
		if (pl_heap_find(&h, fresh[k]) != UINT32_MAX)
			continue;
		uint32_t id = pl_heap_add(&h, &o, &dup);
		ck_assert(!dup);
		ck_assert_uint_eq(pl_heap_find(&h, fresh[k]), id);
	}
	free(addrs);
	pl_heap_release(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("heapindex");
	TCase *tc = tcase_create("index");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, index_against_model);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
