/* Unit tests for coredump/addrspace.c. */
#include "config.h"

#include <check.h>

#include "check_run.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coredump/addrspace.h"
#include "coredump/error.h"

#define TOP UINT64_MAX

/* For hot loops: Check's assertions record their location on every success,
 * which is slow under valgrind; this one only acts on failure. */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + 1);
}

static void add_ok(struct pl_as *as, uint64_t s, uint64_t e, const uint8_t *d, uint32_t src)
{
	struct pl_error *err = pl_as_add(as, s, e, d, src);
	ck_assert_msg(err == NULL, "pl_as_add: %s", err ? err->msg : "");
}

/* ranges sorted, non-empty, non-overlapping */
static void check_invariants(const struct pl_as *as)
{
	ck_assert_uint_le(as->n, as->cap);
	for (size_t i = 0; i < as->n; i++) {
		ck_assert_uint_lt(as->r[i].start, as->r[i].end);
		if (i + 1 < as->n)
			ck_assert_uint_le(as->r[i].end, as->r[i + 1].start);
	}
}

static void expect_range(const struct pl_as *as, size_t i, uint64_t s, uint64_t e,
			 const uint8_t *d, uint32_t src)
{
	ck_assert_uint_lt(i, as->n);
	ck_assert_uint_eq(as->r[i].start, s);
	ck_assert_uint_eq(as->r[i].end, e);
	ck_assert_ptr_eq(as->r[i].data, d);
	ck_assert_uint_eq(as->r[i].src, src);
}

/* ---- pl_as_add ------------------------------------------------------------- */

START_TEST(add_disjoint_sorted)
{
	struct pl_as as;
	pl_as_init(&as);
	ck_assert_uint_eq(as.n, 0);
	ck_assert_ptr_null(pl_as_find(&as, 0));
	ck_assert_ptr_null(pl_as_ptr(&as, 0x1000, 1));
	uint8_t a[0x100], b[0x100], c[0x100];
	add_ok(&as, 0x3000, 0x3100, c, 0);
	add_ok(&as, 0x1000, 0x1100, a, 0);
	add_ok(&as, 0x2000, 0x2100, b, 2);
	check_invariants(&as);
	ck_assert_uint_eq(as.n, 3);
	expect_range(&as, 0, 0x1000, 0x1100, a, 0);
	expect_range(&as, 1, 0x2000, 0x2100, b, 2);
	expect_range(&as, 2, 0x3000, 0x3100, c, 0);
	pl_as_release(&as);
	ck_assert_uint_eq(as.n, 0);
	ck_assert_ptr_null(as.r);
	ck_assert_ptr_null(pl_as_ptr(&as, 0x1000, 1));
}
END_TEST

START_TEST(add_overlap_earlier_wins)
{
	struct pl_as as;
	pl_as_init(&as);
	uint8_t a[0x1000], b[0x1800];
	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	add_ok(&as, 0x1000, 0x2000, a, 0);
	/* overlaps the end of a: only [0x2000, 0x2800) is new */
	add_ok(&as, 0x1000 + 0x800, 0x2800, b + 0x800, 1);
	check_invariants(&as);
	ck_assert_uint_eq(as.n, 2);
	expect_range(&as, 0, 0x1000, 0x2000, a, 0);
	expect_range(&as, 1, 0x2000, 0x2800, b + 0x800 + 0x800, 1);
	uint8_t x;
	ck_assert_int_eq(pl_as_read(&as, 0x1fff, &x, 1), 0);
	ck_assert_uint_eq(x, a[0xfff]);
	ck_assert_int_eq(pl_as_read(&as, 0x2000, &x, 1), 0);
	ck_assert_uint_eq(x, b[0x1000]);

	/* overlaps the start of a */
	uint8_t c[0x800];
	fill(c, sizeof(c), 3);
	add_ok(&as, 0x0c00, 0x1400, c, 2);
	check_invariants(&as);
	ck_assert_uint_eq(as.n, 3);
	expect_range(&as, 0, 0x0c00, 0x1000, c, 2);
	expect_range(&as, 1, 0x1000, 0x2000, a, 0);

	/* entirely covered: nothing changes */
	uint8_t d[0x100];
	add_ok(&as, 0x1100, 0x1200, d, 3);
	add_ok(&as, 0x0c00, 0x2800, d, 3);   /* d is too short, but no byte is used */
	check_invariants(&as);
	ck_assert_uint_eq(as.n, 3);
	expect_range(&as, 0, 0x0c00, 0x1000, c, 2);
	expect_range(&as, 1, 0x1000, 0x2000, a, 0);
	expect_range(&as, 2, 0x2000, 0x2800, b + 0x1000, 1);

	/* empty and inverted ranges add nothing */
	add_ok(&as, 0x5000, 0x5000, d, 0);
	add_ok(&as, 0x6000, 0x5000, d, 0);
	ck_assert_uint_eq(as.n, 3);
	ck_assert_ptr_null(pl_as_find(&as, 0x5000));
	pl_as_release(&as);
}
END_TEST

START_TEST(add_fills_gaps_with_offsets)
{
	/* [0x1000,0x2000) and [0x3000,0x4000) exist; [0x800,0x5000) fills the
	 * three gaps, each pointing at the right offset of its data */
	struct pl_as as;
	pl_as_init(&as);
	static uint8_t a[0x1000], b[0x1000], c[0x4800];
	fill(a, sizeof(a), 10);
	fill(b, sizeof(b), 20);
	fill(c, sizeof(c), 30);
	add_ok(&as, 0x3000, 0x4000, b, 0);
	add_ok(&as, 0x1000, 0x2000, a, 0);
	add_ok(&as, 0x800, 0x5000, c, 4);
	check_invariants(&as);
	ck_assert_uint_eq(as.n, 5);
	expect_range(&as, 0, 0x800, 0x1000, c, 4);
	expect_range(&as, 1, 0x1000, 0x2000, a, 0);
	expect_range(&as, 2, 0x2000, 0x3000, c + 0x1800, 4);
	expect_range(&as, 3, 0x3000, 0x4000, b, 0);
	expect_range(&as, 4, 0x4000, 0x5000, c + 0x3800, 4);

	/* every byte reads back from the right source */
	static uint8_t got[0x4800];
	ck_assert_int_eq(pl_as_read(&as, 0x800, got, sizeof(got)), 0);
	for (uint64_t addr = 0x800; addr < 0x5000; addr++) {
		uint8_t want;
		if (addr >= 0x1000 && addr < 0x2000)
			want = a[addr - 0x1000];
		else if (addr >= 0x3000 && addr < 0x4000)
			want = b[addr - 0x3000];
		else
			want = c[addr - 0x800];
		REQUIRE(got[addr - 0x800] == want, "byte at %#llx", (unsigned long long)addr);
	}
	ck_assert_uint_eq(pl_as_bytes(&as, true), 0x2000);
	ck_assert_uint_eq(pl_as_bytes(&as, false), 0x800 + 0x1000 + 0x1000);
	pl_as_release(&as);
}
END_TEST

START_TEST(add_adjacent_not_merged)
{
	struct pl_as as;
	pl_as_init(&as);
	uint8_t a[16], b[16];
	add_ok(&as, 0x100, 0x110, a, 0);
	add_ok(&as, 0x110, 0x120, b, 0);
	add_ok(&as, 0xf0, 0x100, b, 1);
	check_invariants(&as);
	ck_assert_uint_eq(as.n, 3);
	expect_range(&as, 0, 0xf0, 0x100, b, 1);
	expect_range(&as, 1, 0x100, 0x110, a, 0);
	expect_range(&as, 2, 0x110, 0x120, b, 0);
	pl_as_release(&as);
}
END_TEST

START_TEST(add_many_grows)
{
	/* more ranges than the initial capacity, added in descending order */
	struct pl_as as;
	pl_as_init(&as);
	enum { N = 300 };
	static uint8_t data[N][8];
	for (int i = N - 1; i >= 0; i--) {
		memset(data[i], i & 0xff, 8);
		add_ok(&as, 0x10000 + 0x10 * (uint64_t)i, 0x10000 + 0x10 * (uint64_t)i + 8,
		       data[i], (uint32_t)(i % 3));
	}
	check_invariants(&as);
	ck_assert_uint_eq(as.n, N);
	ck_assert_uint_ge(as.cap, N);
	for (int i = 0; i < N; i++) {
		const uint8_t *p = pl_as_ptr(&as, 0x10000 + 0x10 * (uint64_t)i + 3, 5);
		ck_assert_ptr_eq(p, data[i] + 3);
		ck_assert_ptr_null(pl_as_ptr(&as, 0x10000 + 0x10 * (uint64_t)i + 3, 6));
		ck_assert_ptr_null(pl_as_ptr(&as, 0x10000 + 0x10 * (uint64_t)i + 8, 1));
	}
	/* one range over everything fills the N - 1 holes and both ends */
	static uint8_t all[0x10 * N + 0x20];
	add_ok(&as, 0x10000 - 0x10, 0x10000 + 0x10 * N + 0x10, all, 9);
	check_invariants(&as);
	ck_assert_uint_eq(as.n, 2 * N + 1);
	/* i % 3 == 0 (100 of the small ranges) are core, the rest of them and
	 * the fill are files */
	ck_assert_uint_eq(pl_as_bytes(&as, true), 8 * 100);
	ck_assert_uint_eq(pl_as_bytes(&as, false), 8 * 200 + (0x10 * N + 0x20 - 8 * N));
	pl_as_release(&as);
}
END_TEST

/* ---- pl_as_find / pl_as_ptr ------------------------------------------------ */

START_TEST(find_and_ptr)
{
	struct pl_as as;
	pl_as_init(&as);
	uint8_t a[0x100], b[0x100], c[0x100];
	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	fill(c, sizeof(c), 3);
	add_ok(&as, 0x1000, 0x1100, a, 0);
	add_ok(&as, 0x1100, 0x1200, b, 0);   /* adjacent to a */
	add_ok(&as, 0x2000, 0x2100, c, 0);   /* hole before */

	const struct pl_as_range *r = pl_as_find(&as, 0x1100);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->start, 0x1100);
	ck_assert_ptr_eq(pl_as_find(&as, 0x10ff)->data, a);
	ck_assert_ptr_eq(pl_as_find(&as, 0x20ff)->data, c);
	ck_assert_ptr_null(pl_as_find(&as, 0x0fff));
	ck_assert_ptr_null(pl_as_find(&as, 0x1200));
	ck_assert_ptr_null(pl_as_find(&as, 0x1fff));
	ck_assert_ptr_null(pl_as_find(&as, 0x2100));
	ck_assert_ptr_null(pl_as_find(&as, TOP));

	/* within one range, up to its last byte */
	ck_assert_ptr_eq(pl_as_ptr(&as, 0x1000, 0x100), a);
	ck_assert_ptr_eq(pl_as_ptr(&as, 0x1010, 8), a + 0x10);
	ck_assert_ptr_eq(pl_as_ptr(&as, 0x10ff, 1), a + 0xff);
	ck_assert_ptr_eq(pl_as_ptr(&as, 0x1180, 0x80), b + 0x80);
	ck_assert_ptr_eq(pl_as_ptr(&as, 0x2000, 16), c);
	/* straddling two adjacent ranges */
	ck_assert_ptr_null(pl_as_ptr(&as, 0x10f8, 16));
	ck_assert_ptr_null(pl_as_ptr(&as, 0x10ff, 2));
	ck_assert_ptr_null(pl_as_ptr(&as, 0x1000, 0x101));
	/* running into a hole */
	ck_assert_ptr_null(pl_as_ptr(&as, 0x11f8, 16));
	ck_assert_ptr_null(pl_as_ptr(&as, 0x20f8, 9));
	/* outside */
	ck_assert_ptr_null(pl_as_ptr(&as, 0xff8, 8));
	ck_assert_ptr_null(pl_as_ptr(&as, 0xfff, 1));
	ck_assert_ptr_null(pl_as_ptr(&as, 0x1800, 1));
	ck_assert_ptr_null(pl_as_ptr(&as, 0x2100, 1));
	ck_assert_ptr_null(pl_as_ptr(&as, 0, 8));
	ck_assert_ptr_null(pl_as_ptr(&as, TOP - 7, 8));
	/* huge lengths never wrap */
	ck_assert_ptr_null(pl_as_ptr(&as, 0x1000, SIZE_MAX));
	ck_assert_ptr_null(pl_as_ptr(&as, 0x10ff, SIZE_MAX - 0x10));

	/* the hint is only a hint: alternate between ranges */
	for (int i = 0; i < 4; i++) {
		ck_assert_ptr_eq(pl_as_ptr(&as, 0x2004, 4), c + 4);
		ck_assert_ptr_eq(pl_as_ptr(&as, 0x1004, 4), a + 4);
		ck_assert_ptr_null(pl_as_ptr(&as, 0x1500, 4));
		ck_assert_ptr_eq(pl_as_ptr(&as, 0x1104, 4), b + 4);
		check_invariants(&as);
	}

	uint64_t v, want;
	memcpy(&want, a + 0x20, 8);
	ck_assert_int_eq(pl_as_u64(&as, 0x1020, &v), 0);
	ck_assert_uint_eq(v, want);
	/* pl_as_u64 across adjacent ranges falls back to a copy */
	uint8_t both[8];
	memcpy(both, a + 0xfc, 4);
	memcpy(both + 4, b, 4);
	memcpy(&want, both, 8);
	ck_assert_int_eq(pl_as_u64(&as, 0x10fc, &v), 0);
	ck_assert_uint_eq(v, want);
	ck_assert_int_eq(pl_as_u64(&as, 0x11fc, &v), -1);
	pl_as_release(&as);
}
END_TEST

/* ---- pl_as_read / pl_as_read_core ------------------------------------------ */

START_TEST(read_across_ranges)
{
	struct pl_as as;
	pl_as_init(&as);
	uint8_t a[0x40], b[0x40], c[0x40];
	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	fill(c, sizeof(c), 3);
	add_ok(&as, 0x1000, 0x1040, a, 0);
	add_ok(&as, 0x1040, 0x1080, b, 1);
	add_ok(&as, 0x10c0, 0x1100, c, 0);    /* hole [0x1080, 0x10c0) */

	uint8_t buf[0x100], want[0x100];
	/* across adjacent ranges */
	memset(buf, 0xcc, sizeof(buf));
	ck_assert_int_eq(pl_as_read(&as, 0x1030, buf, 0x20), 0);
	memcpy(want, a + 0x30, 0x10);
	memcpy(want + 0x10, b, 0x10);
	ck_assert_mem_eq(buf, want, 0x20);
	ck_assert_uint_eq(buf[0x20], 0xcc);
	/* all of both */
	ck_assert_int_eq(pl_as_read(&as, 0x1000, buf, 0x80), 0);
	ck_assert_mem_eq(buf, a, 0x40);
	ck_assert_mem_eq(buf + 0x40, b, 0x40);
	/* across the hole */
	ck_assert_int_eq(pl_as_read(&as, 0x1070, buf, 0x20), -1);
	ck_assert_int_eq(pl_as_read(&as, 0x1000, buf, 0x100), -1);
	ck_assert_int_eq(pl_as_read(&as, 0x107f, buf, 2), -1);
	/* starting in the hole, ending in a range */
	ck_assert_int_eq(pl_as_read(&as, 0x10bf, buf, 2), -1);
	/* exactly up to the hole, and from its end */
	ck_assert_int_eq(pl_as_read(&as, 0x1070, buf, 0x10), 0);
	ck_assert_mem_eq(buf, b + 0x30, 0x10);
	ck_assert_int_eq(pl_as_read(&as, 0x10c0, buf, 0x40), 0);
	ck_assert_mem_eq(buf, c, 0x40);
	/* past the last range */
	ck_assert_int_eq(pl_as_read(&as, 0x10c0, buf, 0x41), -1);
	ck_assert_int_eq(pl_as_read(&as, 0x2000, buf, 1), -1);
	/* nothing to read */
	ck_assert_int_eq(pl_as_read(&as, 0x1000, buf, 0), 0);
	pl_as_release(&as);
}
END_TEST

START_TEST(read_core_refuses_files)
{
	struct pl_as as;
	pl_as_init(&as);
	uint8_t core[0x40], file[0x80];
	fill(core, sizeof(core), 5);
	fill(file, sizeof(file), 6);
	add_ok(&as, 0x1000, 0x1040, core, PL_SRC_CORE);
	add_ok(&as, 0x1000, 0x1080, file, 1);    /* only [0x1040, 0x1080) is new */
	add_ok(&as, 0x2000, 0x2040, file, 2);
	ck_assert_uint_eq(as.n, 3);

	uint8_t buf[0x80];
	ck_assert_int_eq(pl_as_read_core(&as, 0x1000, buf, 0x40), 0);
	ck_assert_mem_eq(buf, core, 0x40);
	ck_assert_int_eq(pl_as_read_core(&as, 0x1010, buf, 8), 0);
	ck_assert_mem_eq(buf, core + 0x10, 8);
	/* ends in the file-backed part */
	ck_assert_int_eq(pl_as_read_core(&as, 0x1030, buf, 0x20), -1);
	ck_assert_int_eq(pl_as_read_core(&as, 0x1040, buf, 1), -1);
	ck_assert_int_eq(pl_as_read_core(&as, 0x2000, buf, 8), -1);
	ck_assert_int_eq(pl_as_read_core(&as, 0x3000, buf, 8), -1);
	/* pl_as_read takes both */
	ck_assert_int_eq(pl_as_read(&as, 0x1030, buf, 0x20), 0);
	ck_assert_mem_eq(buf, core + 0x30, 0x10);
	ck_assert_mem_eq(buf + 0x10, file + 0x40, 0x10);
	ck_assert_int_eq(pl_as_read(&as, 0x2000, buf, 0x40), 0);
	ck_assert_mem_eq(buf, file, 0x40);

	ck_assert_uint_eq(pl_as_bytes(&as, true), 0x40);
	ck_assert_uint_eq(pl_as_bytes(&as, false), 0x40 + 0x40);
	pl_as_release(&as);
}
END_TEST

/* ---- pl_as_cstr -------------------------------------------------------------- */

START_TEST(cstr_terminated)
{
	struct pl_as as;
	pl_as_init(&as);
	static const uint8_t a[] = "hello\0world";
	static const uint8_t b[] = "mid";        /* no NUL in the range */
	static const uint8_t c[] = "dle\0rest";
	add_ok(&as, 0x1000, 0x1000 + sizeof(a), a, 0);
	add_ok(&as, 0x2000, 0x2003, b, 0);
	add_ok(&as, 0x2003, 0x2003 + sizeof(c), c, 1);

	char buf[64];
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(pl_as_cstr(&as, 0x1000, buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "hello");
	ck_assert_int_eq(pl_as_cstr(&as, 0x1006, buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "world");
	ck_assert_int_eq(pl_as_cstr(&as, 0x1003, buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "lo");
	/* the empty string */
	ck_assert_int_eq(pl_as_cstr(&as, 0x1005, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	/* over two adjacent ranges */
	ck_assert_int_eq(pl_as_cstr(&as, 0x2000, buf, sizeof(buf)), 6);
	ck_assert_str_eq(buf, "middle");
	ck_assert_int_eq(pl_as_cstr(&as, 0x2002, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "ddle");
	/* with one byte to spare */
	ck_assert_int_eq(pl_as_cstr(&as, 0x1000, buf, 7), 5);
	ck_assert_str_eq(buf, "hello");
	pl_as_release(&as);
}
END_TEST

START_TEST(cstr_unterminated)
{
	struct pl_as as;
	pl_as_init(&as);
	static const uint8_t a[] = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h' };  /* no NUL */
	static const uint8_t b[] = "0123456789abcdef0123456789";
	add_ok(&as, 0x1000, 0x1008, a, 0);       /* followed by a hole */
	add_ok(&as, 0x3000, 0x3000 + sizeof(b), b, 0);

	char buf[64];
	/* longer than max: -1, the buffer still holds a terminated prefix */
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(pl_as_cstr(&as, 0x3000, buf, 8), -1);
	ck_assert_str_eq(buf, "0123456");
	ck_assert_uint_eq(buf[8], 'x');          /* nothing written past max */
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(pl_as_cstr(&as, 0x1000, buf, 4), -1);
	ck_assert_str_eq(buf, "abc");
	ck_assert_uint_eq(buf[4], 'x');
	/* runs into the hole */
	ck_assert_int_eq(pl_as_cstr(&as, 0x1000, buf, sizeof(buf)), -1);
	ck_assert_int_eq(pl_as_cstr(&as, 0x1007, buf, sizeof(buf)), -1);
	/* starts in a hole */
	ck_assert_int_eq(pl_as_cstr(&as, 0x2000, buf, sizeof(buf)), -1);
	ck_assert_int_eq(pl_as_cstr(&as, 0x1008, buf, sizeof(buf)), -1);
	/* no room at all */
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(pl_as_cstr(&as, 0x3000, buf, 0), -1);
	ck_assert_uint_eq(buf[0], 'x');
	pl_as_release(&as);
}
END_TEST

START_TEST(cstr_exact_fit)
{
	/* "Read a NUL-terminated string of at most max-1 bytes": a string of
	 * exactly max-1 bytes fits in buf with its NUL and must be returned. */
	struct pl_as as;
	pl_as_init(&as);
	static const uint8_t s[] = "abc\0";
	add_ok(&as, 0x1000, 0x1000 + sizeof(s), s, 0);
	char buf[8], buf1[8];
	memset(buf, 'x', sizeof(buf));
	memset(buf1, 'x', sizeof(buf1));
	long n = pl_as_cstr(&as, 0x1000, buf, 4);
	long n1 = pl_as_cstr(&as, 0x1003, buf1, 1);    /* the empty string, max 1 */
	pl_as_release(&as);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(buf, "abc");
	ck_assert_int_eq(n1, 0);
	ck_assert_str_eq(buf1, "");
}
END_TEST

/* ---- the top of the address space --------------------------------------------- */

START_TEST(top_of_address_space)
{
	struct pl_as as;
	pl_as_init(&as);
	/* [TOP - 16, TOP): the last 16 bytes an end-exclusive range can hold */
	uint8_t top[16], low[16];
	fill(top, sizeof(top), 40);
	top[15] = 'z';
	fill(low, sizeof(low), 50);
	add_ok(&as, TOP - 16, TOP, top, 0);
	add_ok(&as, 0, 16, low, 0);          /* a wrap would land here */
	check_invariants(&as);
	ck_assert_uint_eq(as.n, 2);
	ck_assert_uint_eq(pl_as_bytes(&as, true), 32);

	ck_assert_ptr_eq(pl_as_ptr(&as, TOP - 16, 16), top);
	ck_assert_ptr_eq(pl_as_ptr(&as, TOP - 1, 1), top + 15);
	ck_assert_ptr_null(pl_as_ptr(&as, TOP - 16, 17));
	ck_assert_ptr_null(pl_as_ptr(&as, TOP - 1, 2));
	ck_assert_ptr_null(pl_as_ptr(&as, TOP - 8, SIZE_MAX));
	ck_assert_ptr_null(pl_as_ptr(&as, TOP, 1));
	ck_assert_ptr_null(pl_as_ptr(&as, TOP, 0));
	ck_assert_ptr_null(pl_as_find(&as, TOP));

	uint8_t buf[64];
	ck_assert_int_eq(pl_as_read(&as, TOP - 8, buf, 8), 0);
	ck_assert_mem_eq(buf, top + 8, 8);
	ck_assert_int_eq(pl_as_read(&as, TOP - 8, buf, 9), -1);
	ck_assert_int_eq(pl_as_read(&as, TOP - 8, buf, 8 + 1 + 16), -1);
	ck_assert_int_eq(pl_as_read(&as, TOP - 1, buf, 2), -1);
	ck_assert_int_eq(pl_as_read(&as, TOP, buf, 1), -1);
	ck_assert_int_eq(pl_as_read_core(&as, TOP - 4, buf, 4), 0);
	ck_assert_int_eq(pl_as_read_core(&as, TOP - 4, buf, 5), -1);
	uint64_t v;
	ck_assert_int_eq(pl_as_u64(&as, TOP - 8, &v), 0);
	ck_assert_int_eq(pl_as_u64(&as, TOP - 7, &v), -1);
	ck_assert_int_eq(pl_as_u64(&as, TOP, &v), -1);

	/* no NUL up to the top: does not wrap to address 0 */
	char s[64];
	ck_assert_int_eq(pl_as_cstr(&as, TOP - 4, s, sizeof(s)), -1);
	ck_assert_int_eq(pl_as_cstr(&as, TOP - 1, s, sizeof(s)), -1);

	/* adding over the top range only fills below it */
	uint8_t more[32];
	fill(more, sizeof(more), 60);
	add_ok(&as, TOP - 32, TOP, more, 1);
	check_invariants(&as);
	ck_assert_uint_eq(as.n, 3);
	expect_range(&as, 1, TOP - 32, TOP - 16, more, 1);
	expect_range(&as, 2, TOP - 16, TOP, top, 0);
	ck_assert_int_eq(pl_as_read(&as, TOP - 20, buf, 20), 0);
	ck_assert_mem_eq(buf, more + 12, 4);
	ck_assert_mem_eq(buf + 4, top, 16);
	pl_as_release(&as);
}
END_TEST

/* ---- a model-based random test -------------------------------------------------- */

enum { SPACE = 640, ADDS = 40 };

static uint64_t rng(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

START_TEST(random_against_model)
{
	uint64_t x = 0x2545f4914f6cdd1du + (uint64_t)_i;
	static uint8_t data[ADDS][SPACE];
	int owner[SPACE];              /* index of the add that owns a byte, or -1 */
	uint32_t srcs[ADDS];
	uint64_t starts[ADDS];
	for (int i = 0; i < SPACE; i++)
		owner[i] = -1;

	struct pl_as as;
	pl_as_init(&as);
	const uint64_t base = 0x7f0000000000;
	for (int k = 0; k < ADDS; k++) {
		uint64_t s = rng(&x) % (SPACE - 1);
		uint64_t len = rng(&x) % 96;
		if (s + len > SPACE)
			len = SPACE - s;
		srcs[k] = (uint32_t)(rng(&x) % 3);
		starts[k] = s;
		for (uint64_t i = 0; i < len; i++)
			data[k][i] = (uint8_t)rng(&x);
		add_ok(&as, base + s, base + s + len, data[k], srcs[k]);
		for (uint64_t i = s; i < s + len; i++)
			if (owner[i] < 0)
				owner[i] = k;
		check_invariants(&as);

		/* every byte in its model place */
		uint64_t core = 0, files = 0;
		for (int a = 0; a < SPACE; a++) {
			const struct pl_as_range *r = pl_as_find(&as, base + (uint64_t)a);
			if (owner[a] < 0) {
				REQUIRE(r == NULL, "add %d: byte %d should be unmapped", k, a);
				continue;
			}
			REQUIRE(r != NULL, "add %d: byte %d should be mapped", k, a);
			int o = owner[a];
			REQUIRE(r->src == srcs[o], "add %d: byte %d src %u, expected %u", k, a,
				r->src, srcs[o]);
			REQUIRE(r->data + (base + (uint64_t)a - r->start) ==
				&data[o][(uint64_t)a - starts[o]],
				"add %d: byte %d comes from the wrong data", k, a);
			if (srcs[o] == PL_SRC_CORE)
				core++;
			else
				files++;
		}
		ck_assert_uint_eq(pl_as_bytes(&as, true), core);
		ck_assert_uint_eq(pl_as_bytes(&as, false), files);
	}

	/* random reads */
	for (int q = 0; q < 2000; q++) {
		uint64_t a = rng(&x) % (SPACE + 16);
		size_t len = (size_t)(rng(&x) % 48);
		bool all = true, core_only = true;
		for (uint64_t i = a; i < a + len; i++) {
			if (i >= SPACE || owner[i] < 0) {
				all = false;
				break;
			}
			if (srcs[owner[i]] != PL_SRC_CORE)
				core_only = false;
		}
		uint8_t buf[48];
		int rc = pl_as_read(&as, base + a, buf, len);
		REQUIRE(rc == (all ? 0 : -1), "read %zu at %llu: %d", len, (unsigned long long)a, rc);
		if (all)
			for (size_t i = 0; i < len; i++)
				REQUIRE(buf[i] == data[owner[a + i]][a + i - starts[owner[a + i]]],
					"read %zu at %llu: byte %zu", len, (unsigned long long)a, i);
		rc = pl_as_read_core(&as, base + a, buf, len);
		REQUIRE(rc == (all && core_only ? 0 : -1), "read_core %zu at %llu: %d", len,
			(unsigned long long)a, rc);

		/* pl_as_ptr: only within one range */
		const struct pl_as_range *r = NULL;
		for (size_t i = 0; i < as.n; i++)
			if (as.r[i].start <= base + a && base + a < as.r[i].end)
				r = &as.r[i];
		const uint8_t *p = pl_as_ptr(&as, base + a, len);
		if (r && len <= r->end - (base + a))
			REQUIRE(p == r->data + (base + a - r->start), "ptr %zu at %llu", len,
				(unsigned long long)a);
		else
			REQUIRE(p == NULL, "ptr %zu at %llu should be NULL", len,
				(unsigned long long)a);
	}
	pl_as_release(&as);
}
END_TEST

static Suite *addrspace_suite(void)
{
	Suite *s = suite_create("addrspace");
	TCase *tc = tcase_create("add");
	tcase_add_test(tc, add_disjoint_sorted);
	tcase_add_test(tc, add_overlap_earlier_wins);
	tcase_add_test(tc, add_fills_gaps_with_offsets);
	tcase_add_test(tc, add_adjacent_not_merged);
	tcase_add_test(tc, add_many_grows);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_test(tc, find_and_ptr);
	tcase_add_test(tc, read_across_ranges);
	tcase_add_test(tc, read_core_refuses_files);
	tcase_add_test(tc, top_of_address_space);
	suite_add_tcase(s, tc);

	tc = tcase_create("cstr");
	tcase_add_test(tc, cstr_terminated);
	tcase_add_test(tc, cstr_unterminated);
	tcase_add_test(tc, cstr_exact_fit);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, random_against_model, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(addrspace_suite());
}
