#include "config.h"
#include "bigarray.h"

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
