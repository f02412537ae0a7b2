#include "config.h"
#include "bigarray.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#if !defined(__SANITIZE_ADDRESS__)
static size_t pages(size_t bytes)
{
	static size_t page;
	if (!page) {
		long ps = sysconf(_SC_PAGESIZE);
		page = ps > 0 ? (size_t)ps : 4096;
	}
	if (!bytes)
		bytes = 1;
	return bytes > SIZE_MAX - page ? 0 : (bytes + page - 1) / page * page;
}
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <stdlib.h>

void *pl_big_resize(void *p, size_t old_bytes, size_t new_bytes)
{
	(void)old_bytes;
	return realloc(p, new_bytes ? new_bytes : 1);
}

void pl_big_free(void *p, size_t bytes)
{
	(void)bytes;
	free(p);
}

void pl_big_populate(void *p, size_t from, size_t to)
{
	(void)p;
	(void)from;
	(void)to;
}
#else
void *pl_big_resize(void *p, size_t old_bytes, size_t new_bytes)
{
	size_t n = pages(new_bytes);
	if (!n)
		return NULL;
	void *m;
	if (!p) {
		m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
	} else {
		size_t o = pages(old_bytes);
		if (o == n)
			return p;
		m = mremap(p, o, n, MREMAP_MAYMOVE);
	}
	return m == MAP_FAILED ? NULL : m;
}

void pl_big_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, pages(bytes));
}
void pl_big_populate(void *p, size_t from, size_t to)
{
#ifdef MADV_POPULATE_WRITE
	size_t page = pages(1);
	from = from / page * page;
	if (p && to > from)
		madvise((char *)p + from, to - from, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)from;
	(void)to;
#endif
}
#endif

bool pl_prefault_offer(struct pl_prefault *pf, void *p, size_t bytes)
{
	unsigned n = atomic_load_explicit(&pf->n, memory_order_relaxed);
	if (n == PL_PREFAULT_MAX || atomic_load_explicit(&pf->closed, memory_order_relaxed))
		return false;
	pf->r[n].p = p;
	pf->r[n].bytes = bytes;
	atomic_store_explicit(&pf->n, n + 1, memory_order_release);
	return true;
}

void pl_prefault_close(struct pl_prefault *pf)
{
	atomic_store_explicit(&pf->closed, true, memory_order_relaxed);
}

#define PREFAULT_STEP ((size_t)1 << 20)

void pl_prefault_take(struct pl_prefault *pf)
{
#if defined(MADV_POPULATE_WRITE) && !defined(__SANITIZE_ADDRESS__)
	unsigned n = atomic_load_explicit(&pf->n, memory_order_acquire);
	long ps = sysconf(_SC_PAGESIZE);
	uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
	for (unsigned i = 0; i < n; i++) {
		uintptr_t a = ((uintptr_t)pf->r[i].p + page - 1) / page * page;
		uintptr_t e = ((uintptr_t)pf->r[i].p + pf->r[i].bytes) / page * page;
		for (; a < e; a += PREFAULT_STEP) {
			if (atomic_load_explicit(&pf->closed, memory_order_relaxed))
				return;
			size_t len = e - a < PREFAULT_STEP ? e - a : PREFAULT_STEP;
			madvise((void *)a, len, MADV_POPULATE_WRITE);
		}
	}
#else
	(void)pf;
#endif
}
