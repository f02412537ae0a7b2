/* Work offered to a thread that has finished its own: pages another thread
 * will write, to map in ahead of it, and one job. The offering thread (the
 * owner) keeps its schedule whatever the idle one does: it closes the
 * offer of pages before it writes them itself or frees them, and takes
 * back a job nobody started to run it itself. Mapping in changes no data. */
#ifndef PYLEAK_IDLE_H
#define PYLEAK_IDLE_H

#include <stdbool.h>
#include <stddef.h>

#define PL_IDLE_PAGES 4

enum { PL_JOB_NONE, PL_JOB_OFFERED, PL_JOB_RUNNING, PL_JOB_DONE, PL_JOB_OWNER };

struct pl_idle {
	_Atomic bool open;          /* the owner will offer, then close */
	_Atomic unsigned npages;    /* ranges offered */
	_Atomic bool pages_closed;
	struct {
		void *p;
		size_t bytes;
	} pages[PL_IDLE_PAGES];
	_Atomic int job;            /* PL_JOB_* */
	void (*fn)(void *arg);
	void *arg;
};

/* (the owner's) Offers will come, and a close after them: from now on
 * the idle thread may wait for them. */
void pl_idle_open(struct pl_idle *w);
/* (the owner's) false: no room, nothing offered */
bool pl_idle_offer_pages(struct pl_idle *w, void *p, size_t bytes);
/* (the owner's) fn(arg) for the idle thread; at most one job */
void pl_idle_offer_job(struct pl_idle *w, void (*fn)(void *), void *arg);
/* (the owner's) No more offers: the idle thread stops mapping in pages
 * (close before writing or freeing them) and waiting for a job. */
void pl_idle_close(struct pl_idle *w);
/* (the owner's) The job is needed now: run it here if nobody started it,
 * else wait until it is done. */
void pl_idle_finish_job(struct pl_idle *w);
/* (the idle thread's) Nothing if the owner has not opened the offer yet.
 * Else map in the pages offered until that offer closes, then wait for the
 * job (or the close) and run it. */
void pl_idle_take(struct pl_idle *w);
/* A wait for another thread, one round of it (spins: 0 at first): spin,
 * then give the CPU away, then sleep a little when it goes on */
void pl_idle_pause(unsigned *spins);

#endif
