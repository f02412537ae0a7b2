#include "config.h"
#include "addrspace.h"

#include <stdlib.h>

void pl_as_init(struct pl_as *as)
{
	memset(as, 0, sizeof(*as));
}

void pl_as_release(struct pl_as *as)
{
	free(as->r);
	memset(as, 0, sizeof(*as));
}

/* index of the first range with end > addr */
static size_t lower(const struct pl_as *as, uint64_t addr)
{
	size_t lo = 0, hi = as->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (as->r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct pl_as_range *pl_as_find_hinted(const struct pl_as *as, size_t *hint, uint64_t addr)
{
	size_t h = *hint;
	if (h < as->n && addr >= as->r[h].start && addr < as->r[h].end)
		return &as->r[h];
	size_t i = lower(as, addr);
	if (i < as->n && as->r[i].start <= addr) {
		*hint = i;
		return &as->r[i];
	}
	return NULL;
}

_Thread_local uint32_t pl_as_cache[1u << PL_AS_CACHE_BITS];

const struct pl_as_range *pl_as_find(const struct pl_as *as, uint64_t addr)
{
	unsigned k = pl_as_cache_index(addr);
	size_t hint = pl_as_cache[k];
	const struct pl_as_range *r = pl_as_find_hinted(as, &hint, addr);
	pl_as_cache[k] = (uint32_t)hint;
	return r;
}

static struct pl_error *insert(struct pl_as *as, size_t at, uint64_t s, uint64_t e,
			       const uint8_t *data, uint32_t src)
{
	if (as->n == as->cap) {
		size_t cap = as->cap ? as->cap * 2 : 64;
		struct pl_as_range *r = realloc(as->r, cap * sizeof(*r));
		if (!r)
			return pl_error(PL_E_NOMEM, "out of memory building the address space");
		as->r = r;
		as->cap = cap;
	}
	memmove(&as->r[at + 1], &as->r[at], (as->n - at) * sizeof(*as->r));
	as->r[at] = (struct pl_as_range){ s, e, data, src };
	as->n++;
	return NULL;
}

struct pl_error *pl_as_add(struct pl_as *as, uint64_t start, uint64_t end,
			   const uint8_t *data, uint32_t src)
{
	/* Fill the gaps of [start, end) that no existing range covers. */
	uint64_t cur = start;
	while (cur < end) {
		size_t i = lower(as, cur);
		if (i < as->n && as->r[i].start <= cur) {
			cur = as->r[i].end;   /* covered already */
			continue;
		}
		uint64_t gap_end = (i < as->n && as->r[i].start < end) ? as->r[i].start : end;
		struct pl_error *err = insert(as, i, cur, gap_end, data ? data + (cur - start) : NULL, src);
		if (err)
			return err;
		cur = gap_end;
	}
	return NULL;
}

static int read_from(struct pl_as *as, uint64_t addr, void *buf, size_t len, bool core_only)
{
	uint8_t *out = buf;
	while (len) {
		const struct pl_as_range *r = pl_as_find(as, addr);
		if (!r || !r->data || (core_only && r->src != PL_SRC_CORE))
			return -1;
		uint64_t n = r->end - addr;
		if (n > len)
			n = len;
		memcpy(out, r->data + (addr - r->start), n);
		out += n;
		addr += n;
		len -= n;
		if (len && addr == 0)
			return -1;  /* wrapped */
	}
	return 0;
}

int pl_as_read_spanning(struct pl_as *as, uint64_t addr, void *buf, size_t len)
{
	return read_from(as, addr, buf, len, false);
}

int pl_as_read_core(struct pl_as *as, uint64_t addr, void *buf, size_t len)
{
	return read_from(as, addr, buf, len, true);
}

long pl_as_cstr(struct pl_as *as, uint64_t addr, char *buf, size_t max)
{
	if (max == 0)
		return -1;
	size_t n = 0;   /* bytes copied; the NUL may sit at position max-1 */
	while (n < max) {
		const struct pl_as_range *r = pl_as_find(as, addr + n);
		if (!r || !r->data || addr + n < addr)
			break;
		const uint8_t *p = r->data + (addr + n - r->start);
		size_t avail = r->end - (addr + n);
		if (avail > max - n)
			avail = max - n;
		const uint8_t *z = memchr(p, 0, avail);
		if (z) {
			memcpy(buf + n, p, (size_t)(z - p));
			n += (size_t)(z - p);
			buf[n] = 0;
			return (long)n;
		}
		size_t take = avail < max - 1 - n ? avail : max - 1 - n;
		memcpy(buf + n, p, take);
		n += avail;
	}
	buf[n < max ? n : max - 1] = 0;
	return -1;   /* not terminated within max bytes, or ran into a hole */
}

uint64_t pl_as_bytes(const struct pl_as *as, bool core)
{
	uint64_t t = 0;
	for (size_t i = 0; i < as->n; i++)
		if (as->r[i].data && (as->r[i].src == PL_SRC_CORE) == core)
			t += as->r[i].end - as->r[i].start;
	return t;
}
