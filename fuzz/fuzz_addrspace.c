/* The address space: the input is a program of operations (add a range whose
 * bytes are a slice of the input, a slice of a fixed pattern or a hole; read,
 * read from the core only, take a pointer, read a C string, find a range),
 * run against struct pl_as and against a plain model: the list of ranges in
 * the order they were added, where for any address the first range that
 * covers it decides. Checked after every step:
 *   - the ranges are sorted, non-empty, never overlap, and each one is a piece
 *     of exactly one added range (the first to cover it) with that range's
 *     data pointer and source; together they cover what the model covers;
 *   - a read returns -1, or 0 with exactly the model's bytes; it returns 0
 *     whenever the model has every byte;
 *   - pl_as_ptr returns NULL or the model's own pointer for those bytes (never
 *     a pointer outside the ranges' data);
 *   - pl_as_cstr returns the model's string or -1, and its buffer (exactly max
 *     bytes on the heap) is NUL-terminated. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "coredump/addrspace.h"

#define MAX_RANGES 24
#define MAX_OPS 96
#define PAT_SIZE 65536

struct mrange {
	uint64_t start, end;
	const uint8_t *data;
	uint32_t src;
};

struct model {
	struct mrange r[MAX_RANGES];
	size_t n;
};

struct reader {
	const uint8_t *p;
	size_t n, i;
};

static uint8_t pattern[PAT_SIZE];
static const uint8_t *in_data;
static size_t in_size;

#define FAIL(what) fz_fail(what, in_data, in_size, NULL, 0)

static uint8_t get8(struct reader *r)
{
	return r->i < r->n ? r->p[r->i++] : 0;
}

static uint64_t getn(struct reader *r, int bytes)
{
	uint64_t v = 0;
	for (int k = 0; k < bytes; k++)
		v |= (uint64_t)get8(r) << (8 * k);
	return v;
}

/* Addresses cluster around a few bases so that operations meet. */
static uint64_t get_addr(struct reader *r)
{
	static const uint64_t bases[] = {
		0, 0x1000, 0x10000, 0x7f0000000000ull, UINT64_MAX - 0xffff, 1ull << 63,
		UINT64_MAX - 0x1000,
	};
	uint8_t sel = get8(r);
	if (sel >= 0xf0)
		return getn(r, 8);
	return bases[sel % (sizeof(bases) / sizeof(bases[0]))] + getn(r, 2);
}

/* Index of the model range that owns addr, or -1. */
static int owner(const struct model *m, uint64_t addr)
{
	for (size_t k = 0; k < m->n; k++)
		if (addr >= m->r[k].start && addr < m->r[k].end)
			return (int)k;
	return -1;
}

/* Owners of addr..addr+len-1 (addresses wrap) into own[]. */
static void owners(const struct model *m, uint64_t addr, size_t len, int *own)
{
	for (size_t b = 0; b < len; b++)
		own[b] = -1;
	for (size_t k = 0; k < m->n; k++) {
		const struct mrange *r = &m->r[k];
		for (size_t b = 0; b < len; b++) {
			uint64_t a = addr + b;
			if (own[b] < 0 && a >= r->start && a < r->end)
				own[b] = (int)k;
		}
	}
}

static void check_structure(struct pl_as *as, const struct model *m)
{
	uint64_t covered = 0;
	for (size_t i = 0; i < as->n; i++) {
		const struct pl_as_range *r = &as->r[i];
		if (r->start >= r->end)
			FAIL("empty range");
		if (i && as->r[i - 1].end > r->start)
			FAIL("ranges overlap or are not sorted");
		int k = owner(m, r->start);
		if (k < 0)
			FAIL("range covers memory no add gave");
		const struct mrange *mr = &m->r[k];
		if (r->end > mr->end)
			FAIL("range runs past the range it came from");
		for (int j = 0; j < k; j++)   /* an earlier add must not claim any of it */
			if (m->r[j].start < r->end && m->r[j].end > r->start)
				FAIL("later add overrides an earlier one");
		if (r->src != mr->src || (r->data == NULL) != (mr->data == NULL))
			FAIL("range source or hole-ness differs from its add");
		if (r->data && r->data != mr->data + (r->start - mr->start))
			FAIL("range data pointer is not the add's data at that offset");
		covered += r->end - r->start;
	}
	/* measure of the union of the model's ranges (few: quadratic is fine) */
	uint64_t total = 0;
	for (size_t k = 0; k < m->n; k++) {
		/* the part of range k that no earlier range covers */
		uint64_t cur = m->r[k].start;
		while (cur < m->r[k].end) {
			uint64_t next = m->r[k].end;
			bool hit = false;
			for (size_t j = 0; j < k; j++) {
				if (cur >= m->r[j].start && cur < m->r[j].end) {
					cur = m->r[j].end;
					hit = true;
					break;
				}
				if (m->r[j].start > cur && m->r[j].start < next)
					next = m->r[j].start;
			}
			if (hit)
				continue;
			total += next - cur;
			cur = next;
		}
	}
	if (total != covered)
		FAIL("ranges do not cover exactly what was added");
}

static void op_read(struct pl_as *as, const struct model *m, uint64_t addr, size_t len,
		    bool core_only)
{
	uint8_t *buf = malloc(len ? len : 1);
	int *own = malloc((len ? len : 1) * sizeof(*own));
	if (!buf || !own)
		abort();
	owners(m, addr, len, own);
	bool ok = true;
	for (size_t b = 0; b < len && ok; b++)
		ok = own[b] >= 0 && m->r[own[b]].data && (!core_only || m->r[own[b]].src == PL_SRC_CORE);
	int rc = core_only ? pl_as_read_core(as, addr, buf, len) : pl_as_read(as, addr, buf, len);
	if (rc != 0 && rc != -1)
		FAIL("read returned neither 0 nor -1");
	if (ok && rc != 0)
		FAIL("read failed although every byte is there");
	if (!ok && rc == 0)
		FAIL("read succeeded over missing bytes");
	for (size_t b = 0; rc == 0 && b < len; b++) {
		const struct mrange *r = &m->r[own[b]];
		if (buf[b] != r->data[addr + b - r->start])
			FAIL("read gave other bytes than the backing range's");
	}
	free(own);
	free(buf);
}

static void op_ptr(struct pl_as *as, const struct model *m, uint64_t addr, size_t len)
{
	const uint8_t *p = pl_as_ptr(as, addr, len);
	if (!p)
		return;
	if (len == 0) {
		/* must still point into the data of the range holding addr */
		int k = owner(m, addr);
		if (k < 0 || !m->r[k].data || p != m->r[k].data + (addr - m->r[k].start))
			FAIL("pl_as_ptr(len 0) outside the ranges' data");
		return;
	}
	int *own = malloc(len * sizeof(*own));
	if (!own)
		abort();
	owners(m, addr, len, own);
	for (size_t b = 0; b < len; b++) {
		if (own[b] < 0 || !m->r[own[b]].data)
			FAIL("pl_as_ptr returned a pointer over missing bytes");
		const struct mrange *r = &m->r[own[b]];
		if (p + b != r->data + (addr + b - r->start))
			FAIL("pl_as_ptr points outside the range's data");
	}
	free(own);
	uint64_t v;
	if (len >= 8 && (pl_as_u64(as, addr, &v) != 0 || memcmp(&v, p, 8)))
		FAIL("pl_as_u64 disagrees with pl_as_ptr");
}

static void op_cstr(struct pl_as *as, const struct model *m, uint64_t addr, size_t max)
{
	char *buf = malloc(max ? max : 1);
	if (!buf)
		abort();
	/* the model's answer */
	long want = -1;
	for (size_t i = 0; i < max; i++) {
		uint64_t a = addr + i;
		if (a < addr)
			break;
		int k = owner(m, a);
		if (k < 0 || !m->r[k].data)
			break;
		if (m->r[k].data[a - m->r[k].start] == 0) {
			want = (long)i;
			break;
		}
	}
	long got = pl_as_cstr(as, addr, buf, max);
	if (got != want)
		FAIL("pl_as_cstr length differs from the model");
	if (max && !memchr(buf, 0, max))
		FAIL("pl_as_cstr left its buffer unterminated");
	for (long i = 0; i < got; i++) {
		int k = owner(m, addr + (uint64_t)i);
		if ((uint8_t)buf[i] != m->r[k].data[addr + (uint64_t)i - m->r[k].start])
			FAIL("pl_as_cstr gave other bytes than the range's");
	}
	if (got >= 0 && buf[got] != 0)
		FAIL("pl_as_cstr string not terminated at its length");
	free(buf);
}

static void op_find(struct pl_as *as, const struct model *m, uint64_t addr)
{
	const struct pl_as_range *r = pl_as_find(as, addr);
	int k = owner(m, addr);
	if ((r == NULL) != (k < 0))
		FAIL("pl_as_find disagrees with the model about coverage");
	if (!r)
		return;
	if (r < as->r || r >= as->r + as->n || addr < r->start || addr >= r->end)
		FAIL("pl_as_find returned a range not holding addr");
	if (r->src != m->r[k].src || (r->data == NULL) != (m->r[k].data == NULL))
		FAIL("pl_as_find: wrong range");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!pattern[1])
		for (size_t i = 0; i < PAT_SIZE; i++)
			pattern[i] = (uint8_t)((i * 131u) ^ (i >> 8) ^ 0x5a);
	in_data = data;
	in_size = size;
	struct reader rd = { data, size, 0 };
	struct model m = { .n = 0 };
	struct pl_as as;
	pl_as_init(&as);
	for (int ops = 0; rd.i < rd.n && ops < MAX_OPS; ops++) {
		uint8_t op = get8(&rd);
		switch (op % 8) {
		case 0: {   /* add */
			uint64_t start = get_addr(&rd);
			uint8_t mode = get8(&rd);
			uint64_t len = (mode & 0x10) ? getn(&rd, 8) : getn(&rd, 2);
			uint32_t src = (mode & 0x20) ? 1 + (get8(&rd) & 3) : PL_SRC_CORE;
			const uint8_t *d = NULL;
			if ((mode & 3) == 1) {            /* a slice of the input itself */
				size_t off = (size_t)getn(&rd, 2) % (size + 1);
				if (len > size - off)
					len = size - off;
				d = data + off;
			} else if ((mode & 3) == 2) {     /* a slice of the pattern */
				size_t off = (size_t)getn(&rd, 2) % PAT_SIZE;
				if (len > PAT_SIZE - off)
					len = PAT_SIZE - off;
				d = pattern + off;
			}   /* else a hole of any length */
			uint64_t end = start + len;
			if (m.n == MAX_RANGES)
				break;
			struct pl_error *err = pl_as_add(&as, start, end, d, src);
			if (err) {
				fprintf(stderr, "pl_as_add: %s\n", err->msg);
				FAIL("pl_as_add failed");
			}
			if (end > start)
				m.r[m.n++] = (struct mrange){ start, end, d, src };
			check_structure(&as, &m);
			break;
		}
		case 1:
		case 2: {
			uint64_t a = get_addr(&rd);
			op_read(&as, &m, a, (size_t)getn(&rd, 2) % 2049, op % 8 == 2);
			break;
		}
		case 3:
		case 4: {
			uint64_t a = get_addr(&rd);
			op_ptr(&as, &m, a, op % 8 == 3 ? (size_t)get8(&rd) % 65 : (size_t)getn(&rd, 2) % 4097);
			break;
		}
		case 5: {
			uint64_t a = get_addr(&rd);
			op_cstr(&as, &m, a, (size_t)getn(&rd, 2) % 700);
			break;
		}
		case 6:
			op_find(&as, &m, get_addr(&rd));
			break;
		case 7: {
			uint64_t core = pl_as_bytes(&as, true), files = pl_as_bytes(&as, false), c = 0, f = 0;
			for (size_t i = 0; i < as.n; i++)
				if (as.r[i].data)
					*(as.r[i].src == PL_SRC_CORE ? &c : &f) += as.r[i].end - as.r[i].start;
			if (core != c || files != f)
				FAIL("pl_as_bytes");
			break;
		}
		}
	}
	pl_as_release(&as);
	return 0;
}
