#include "config.h"
#include "idle.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "bigarray.h"

void pl_idle_open(struct pl_idle *w)
{
	atomic_store_explicit(&w->open, true, memory_order_release);
}

bool pl_idle_offer_pages(struct pl_idle *w, void *p, size_t bytes)
{
	unsigned n = atomic_load_explicit(&w->npages, memory_order_relaxed);
	if (n == PL_IDLE_PAGES || atomic_load_explicit(&w->pages_closed, memory_order_relaxed))
		return false;
	w->pages[n].p = p;
	w->pages[n].bytes = bytes;
	atomic_store_explicit(&w->npages, n + 1, memory_order_release);
	return true;
}

static void close_pages(struct pl_idle *w)
{
	atomic_store_explicit(&w->pages_closed, true, memory_order_relaxed);
}

void pl_idle_offer_job(struct pl_idle *w, void (*fn)(void *), void *arg)
{
	if (atomic_load_explicit(&w->job, memory_order_relaxed) != PL_JOB_NONE)
		return;
	w->fn = fn;
	w->arg = arg;
	atomic_store_explicit(&w->job, PL_JOB_OFFERED, memory_order_release);
}

void pl_idle_close(struct pl_idle *w)
{
	close_pages(w);
	int none = PL_JOB_NONE;
	atomic_compare_exchange_strong(&w->job, &none, PL_JOB_OWNER);
}

void pl_idle_pause(unsigned *spins)
{
	if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
		return;
	}
	if (*spins < 1024) {
		sched_yield();
		return;
	}
	struct timespec ts = { 0, 20 * 1000 };
	nanosleep(&ts, NULL);
}

void pl_idle_finish_job(struct pl_idle *w)
{
	int offered = PL_JOB_OFFERED;
	if (atomic_compare_exchange_strong(&w->job, &offered, PL_JOB_OWNER)) {
		w->fn(w->arg);
		return;
	}
	unsigned spins = 0;
	while (atomic_load_explicit(&w->job, memory_order_acquire) == PL_JOB_RUNNING)
		pl_idle_pause(&spins);
}

#define PAGES_STEP ((size_t)1 << 20)

/* (pl_big_populate does nothing where it cannot, or under ASan) */
static void take_pages(struct pl_idle *w)
{
	unsigned n = atomic_load_explicit(&w->npages, memory_order_acquire);
	long ps = sysconf(_SC_PAGESIZE);
	uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
	for (unsigned i = 0; i < n; i++) {
		uintptr_t a = ((uintptr_t)w->pages[i].p + page - 1) / page * page;
		uintptr_t e = ((uintptr_t)w->pages[i].p + w->pages[i].bytes) / page * page;
		for (; a < e; a += PAGES_STEP) {
			if (atomic_load_explicit(&w->pages_closed, memory_order_relaxed))
				return;
			size_t len = e - a < PAGES_STEP ? e - a : PAGES_STEP;
			pl_big_populate((void *)a, 0, len);
		}
	}
}

void pl_idle_take(struct pl_idle *w)
{
	if (!atomic_load_explicit(&w->open, memory_order_acquire))
		return;   /* (nobody will close it: the owner may run after us) */
	take_pages(w);
	unsigned spins = 0;
	for (;;) {
		int st = atomic_load_explicit(&w->job, memory_order_acquire);
		if (st == PL_JOB_OFFERED) {
			if (!atomic_compare_exchange_strong(&w->job, &st, PL_JOB_RUNNING))
				continue;   /* the owner took it back */
			w->fn(w->arg);
			atomic_store_explicit(&w->job, PL_JOB_DONE, memory_order_release);
			return;
		}
		if (st != PL_JOB_NONE)
			return;   /* closed, or the owner's */
		pl_idle_pause(&spins);
	}
}
