#include "config.h"
#include "graph.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coredump/bigarray.h"
#include "coredump/idle.h"
#include "coredump/program.h"
#include "coredump/traverse.h"

/* The build's growing arrays (the objects, the edges, their offsets) need
 * a fresh page every few hundred entries. With a second CPU a helper maps
 * them in a little ahead of where the build writes (pl_big_populate), so
 * that the build does not stop at each page fault. The build moves an array
 * (grows it) only while holding `mu`, which the helper holds while it maps. */
#define AHEAD_BYTES (4u << 20)
#define AHEAD_STEP (1u << 20)
/* The same for the core's pages, read in address order (except for what
 * objects point to): the helper maps them in ahead of the build from the
 * page cache, and gives back those behind it when the build asks. */
#define CORE_AHEAD (8u << 20)

struct pipe;

struct ahead {
	pthread_t tid;
	bool running;
	pthread_mutex_t mu;           /* the arrays' part */
	pthread_mutex_t core_mu;      /* the core's part: one thread at a time */
	_Atomic bool stop;
	struct pipe *pipe;            /* the thread produces for it first (below) */
	struct {
		char *base;               /* under mu */
		size_t cap;               /* bytes, under mu */
		_Atomic size_t pos;       /* bytes written so far */
		size_t done;              /* bytes mapped in (the helper's) */
	} a[3];
	struct {
		const struct pl_core *core;
		_Atomic(const uint8_t *) pos;    /* where the build reads */
		const uint8_t *done;             /* mapped in up to here (the helper's) */
		_Atomic(const uint8_t *) below;  /* give back the pages below this */
		_Atomic uint64_t asked;          /* ... each time this grows */
		uint64_t answered;               /* (the helper's) */
	} core;
};

enum { AH_OBJS, AH_DST, AH_OFF };

#define BATCH 128   /* objects traversed before their targets are resolved */

/* Give back the core's pages below where the build reads next (NULL: it
 * reads here and there now, all of them). */
static void release_behind(const struct pl_core *core, const uint8_t *next)
{
	if (next)
		pl_core_release_below(core, next);
	else
		pl_core_release_pages(core);
}

/* (under mu) */
static bool ahead_arrays(struct ahead *A)
{
	bool worked = false;
	for (int k = 0; k < 3; k++) {
		size_t want = atomic_load_explicit(&A->a[k].pos, memory_order_relaxed) + AHEAD_BYTES;
		if (want > A->a[k].cap)
			want = A->a[k].cap;
		if (A->a[k].done < want) {
			size_t to = A->a[k].done + AHEAD_STEP < want ? A->a[k].done + AHEAD_STEP : want;
			pl_big_populate(A->a[k].base, A->a[k].done, to);
			A->a[k].done = to;
			worked = true;
		}
	}
	return worked;
}

/* (under core_mu) */
static bool ahead_core(struct ahead *A)
{
	bool worked = false;
	uint64_t asked = atomic_load_explicit(&A->core.asked, memory_order_acquire);
	if (asked != A->core.answered) {
		release_behind(A->core.core,
			       atomic_load_explicit(&A->core.below, memory_order_relaxed));
		A->core.answered = asked;
		worked = true;
	}
	const uint8_t *pos = atomic_load_explicit(&A->core.pos, memory_order_relaxed);
	if (pos) {
		if (A->core.done < pos || A->core.done > pos + CORE_AHEAD)
			A->core.done = pos;
		if (A->core.done < pos + CORE_AHEAD - AHEAD_STEP) {
			pl_core_populate(A->core.core, A->core.done, A->core.done + AHEAD_STEP);
			A->core.done += AHEAD_STEP;
			worked = true;
		}
	}
	return worked;
}

/* One step of the helper's mapping in and giving back, by whichever thread
 * has nothing better to do; false: nothing to do (or another is at it) */
static bool ahead_step(struct ahead *A)
{
	bool worked = false;
	if (pthread_mutex_trylock(&A->mu) == 0) {
		worked = ahead_arrays(A);
		pthread_mutex_unlock(&A->mu);
	}
	/* (not under mu: the build takes mu to grow an array, and must not
	 * wait for a page-in of the core) */
	if (pthread_mutex_trylock(&A->core_mu) == 0) {
		worked |= ahead_core(A);
		pthread_mutex_unlock(&A->core_mu);
	}
	return worked;
}

/* Set array k's place (after a resize, or at the start), under mu. */
static void ahead_set(struct ahead *A, int k, void *base, size_t cap, size_t pos)
{
	A->a[k].base = base;
	A->a[k].cap = cap;
	if (A->a[k].done < pos)
		A->a[k].done = pos;
	atomic_store_explicit(&A->a[k].pos, pos, memory_order_relaxed);
}

static void ahead_lock(struct ahead *A)
{
	if (A->running)
		pthread_mutex_lock(&A->mu);
}

static void ahead_unlock(struct ahead *A)
{
	if (A->running)
		pthread_mutex_unlock(&A->mu);
}

static void ahead_stop(struct ahead *A)
{
	if (!A->running)
		return;
	atomic_store(&A->stop, true);
	pthread_join(A->tid, NULL);
	pthread_mutex_destroy(&A->mu);
	pthread_mutex_destroy(&A->core_mu);
	A->running = false;
}

/* An object the build adds (not on a gc list) with nothing to traverse, as
 * gc.get_referents sees it: one whose type has no tp_traverse (str, int
 * ...), or a type that is not a heap type (type_is_gc: gc never traverses
 * static types). Static objects of other types are traversed as gc does:
 * the deep-frozen tuples of 3.11+ hold strs and ints. Its record says so
 * once it is added. */
static bool nothing_to_traverse(const struct pl_heap *h, const struct pl_obj *o)
{
	const struct pl_type *t = &h->types[o->type];
	if (!t->traverse)
		return true;
	if (t->kind != PL_K_TYPE)
		return false;
	const struct pl_program *p = h->p;
	uint64_t flags;   /* (a read changes nothing in the address space) */
	return pl_as_u64((struct pl_as *)&p->as, o->addr + (uint64_t)p->L.tp_flags, &flags) != 0 ||
	       !(flags & p->L.tpf_heaptype);
}

/* ---- the tracked objects, taken and traversed a few batches ahead ----
 * With a second CPU the helper thread takes the staged objects from the
 * census (header, type, size) and traverses them a few batches ahead of the
 * build, which then only resolves their targets to ids, in the same order
 * as alone: the graph, the ids and the types are the same. While the build
 * waits for a batch it takes and traverses the next free one itself.
 * Taking and traversing change nothing in the heap. They use only the types
 * the build has published (made ready with pl_traverse_ready_type, never
 * changed after), and leave to the build's own turn each object they cannot
 * do alone: one of a type not published yet (so the types are still made
 * in the build's order), one with an implausible size (counted in the
 * heap), one whose traversal asks which objects are known (inferred edges:
 * the answer depends on where the build is), and one whose header cannot
 * be read.
 *
 * The untracked objects the build adds after them (str, int, and the
 * containers gc does not track) come next, in blocks of BATCH numbered on
 * from the tracked batches: a block can be taken once all its objects are
 * there (the build publishes how many are). The build looks at each block
 * as it reaches it, object by object (its own batches are not aligned to
 * them): one nobody took yet is its own, one taken it waits for. */
#define PIPE_SLOTS 32
#define PIPE_AHEAD 8     /* objects whose headers are fetched ahead */
#define PD_DEFER 0x80    /* in state[]: the build takes this one itself */
#define PD_SKIP 0x40     /* in state[]: untracked, nothing in it to traverse */

struct pipe_batch {
	_Atomic size_t ready;         /* q + 1 once batch q is in here */
	struct pl_obj obj[BATCH];     /* as pl_census_take would store them */
	uint8_t state[BATCH];         /* enum pl_trav, or PD_DEFER, PD_SKIP */
	uint32_t counts[BATCH];       /* targets of each */
	uint32_t first[BATCH];        /* where they start in targets */
	uint64_t ahead[PIPE_AHEAD];   /* the next batch's first objects */
	uint64_t *targets;
	size_t ntargets, cap;
};

/* what each thread that takes batches keeps for itself */
struct worker {
	struct pipe *P;
	struct pl_addrmap ready;              /* published types: address -> index */
	uint32_t nready;                      /* pub entries in ready */
	uint64_t ckey[16];                    /* a cache of ready: type address -> */
	uint32_t cidx[16];                    /* ... index */
	bool defer;                           /* the object at hand is the build's */
	struct pipe_batch *cur;
};

struct pipe {
	struct pl_heap *h;
	size_t staged, nbatches;
	pthread_mutex_t objs_mu;              /* h->objs moves only under it */
	_Atomic size_t next;                  /* the first batch nobody took yet */
	_Atomic size_t consumed;              /* batches the build is done with */
	_Atomic size_t nobjs;                 /* objects whose records are final */
	/* the published types (indices into h->types) */
	uint32_t *pub;
	_Atomic uint32_t npub;
	size_t scanned;                       /* the build's: types looked at */
	struct worker w[2];                   /* the helper's, the build's */
	struct pipe_batch slot[PIPE_SLOTS];
};

static unsigned pipe_cslot(uint64_t addr)
{
	return (unsigned)((addr >> 4) ^ (addr >> 10)) & 15;
}

/* The index of the type at addr among those this worker knows to be
 * published, or UINT32_MAX */
static uint32_t ready_index(struct worker *W, uint64_t addr)
{
	unsigned c = pipe_cslot(addr);
	return addr && addr == W->ckey[c] ? W->cidx[c] : pl_addrmap_get(&W->ready, addr);
}

/* the lookup for taking and traversing: published types only, changing
 * nothing shared */
static struct pl_type *pipe_type(void *ctx, uint64_t addr)
{
	struct worker *W = ctx;
	struct pipe *P = W->P;
	uint32_t i = ready_index(W, addr);
	if (i == UINT32_MAX) {
		uint32_t n = atomic_load_explicit(&P->npub, memory_order_acquire);
		for (; W->nready < n; W->nready++) {
			uint32_t t = P->pub[W->nready];
			pl_addrmap_put(&W->ready, P->h->types[t].addr, t, NULL);   /* else deferred */
		}
		if ((i = pl_addrmap_get(&W->ready, addr)) == UINT32_MAX) {
			W->defer = true;
			return NULL;
		}
	}
	unsigned c = pipe_cslot(addr);
	W->ckey[c] = addr;
	W->cidx[c] = i;
	return &P->h->types[i];
}

static bool pipe_is_object(void *ctx, uint64_t addr)
{
	struct worker *W = ctx;
	(void)addr;
	W->defer = true;
	return false;
}

static int pipe_visit(void *ctx, uint64_t target, const struct pl_edge *e)
{
	struct worker *W = ctx;
	struct pipe_batch *s = W->cur;
	(void)e;
	if (s->ntargets == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint64_t *t = realloc(s->targets, cap * sizeof(*t));
		if (!t) {   /* the build tries again, and says so if it fails too */
			W->defer = true;
			return 1;
		}
		s->targets = t;
		s->cap = cap;
	}
	s->targets[s->ntargets++] = target;
	return 0;
}

/* The len bytes at addr fetched ahead, first and last line (len <= 64):
 * an object's header may start the line after its gc head's, or end in
 * the line after its start */
static void fetch_lines(struct pl_as *as, uint64_t addr, size_t len)
{
	const uint8_t *q = pl_as_ptr(as, addr, len);
	if (q) {
		__builtin_prefetch(q);
		__builtin_prefetch(q + len - 1);
	}
}

/* Header fetched ahead, and the table of the one after (if its type is
 * published already) */
static void pipe_prefetch(struct worker *W, uint64_t next, uint64_t later)
{
	struct pl_heap *h = W->P->h;
	struct pl_program *p = h->p;
	if (next)
		fetch_lines(&p->as, next - (uint64_t)p->L.sizeof_gc_head, 64);
	uint64_t type;
	uint32_t t;
	if (later && pl_as_u64(&p->as, later + (uint64_t)p->L.ob_type, &type) == 0 &&
	    (t = ready_index(W, type)) != UINT32_MAX)
		pl_traverse_prefetch(h, later, &h->types[t]);
}

/* An untracked object of a type with something to traverse (a tuple, a
 * dict gc does not track): its first lines fetched ahead */
static void untracked_prefetch(const struct pl_heap *h, const struct pl_obj *o)
{
	if (h->types[o->type].traverse)
		fetch_lines(&h->p->as, o->addr, 64);
}

/* Take the next free batch, if there is one and room for it: true when one
 * was taken (and is ready) */
static bool pipe_take_batch(struct worker *W)
{
	struct pipe *P = W->P;
	struct pl_heap *h = P->h;
	size_t q = atomic_load_explicit(&P->next, memory_order_relaxed);
	bool tracked = q < P->nbatches;
	size_t first = q * BATCH, there = tracked ? P->staged : atomic_load_explicit(&P->nobjs, memory_order_acquire);
	if ((!tracked && first + BATCH > there) ||
	    q - atomic_load_explicit(&P->consumed, memory_order_acquire) >= PIPE_SLOTS ||
	    !atomic_compare_exchange_strong(&P->next, &q, q + 1))
		return false;
	const struct pl_trav_fns fns = { pipe_visit, pipe_is_object, pipe_type };
	struct pipe_batch *s = &P->slot[q % PIPE_SLOTS];
	uint32_t n = (uint32_t)(there - first < BATCH ? there - first : BATCH);
	pthread_mutex_lock(&P->objs_mu);
	for (uint32_t j = 0; j < n; j++) {
		if (tracked) {
			s->obj[j].addr = h->objs[first + j].addr;
			s->obj[j].gen = h->objs[first + j].gen;
		} else {
			s->obj[j] = h->objs[first + j];
		}
	}
	for (uint32_t j = 0; j < PIPE_AHEAD; j++)
		s->ahead[j] = first + n + j < there ? h->objs[first + n + j].addr : 0;
	pthread_mutex_unlock(&P->objs_mu);
	W->cur = s;
	s->ntargets = 0;
	for (uint32_t j = 0; j < n; j++) {
		struct pl_obj *o = &s->obj[j];
		size_t before = s->ntargets;
		uint64_t bad = 0;
		uint8_t st = PD_DEFER;
		W->defer = false;
		s->first[j] = (uint32_t)before;
		const struct pl_type *t = NULL;   /* the type to traverse it with */
		if (!tracked && j + PIPE_AHEAD < n)
			untracked_prefetch(h, &s->obj[j + PIPE_AHEAD]);
		if (tracked) {
			pipe_prefetch(W, j + PIPE_AHEAD < n ? s->obj[j + PIPE_AHEAD].addr : s->ahead[j + PIPE_AHEAD - n],
				      j + PIPE_AHEAD / 2 < n ? s->obj[j + PIPE_AHEAD / 2].addr : 0);
			if (pl_census_peek(h, o, pipe_type, W, &bad) && !bad)
				t = &h->types[o->type];
		} else if (nothing_to_traverse(h, o)) {
			/* as the build would: a record's type was made before the
			 * record was published, and its traverse never changes */
			st = PD_SKIP;
		} else {
			t = pipe_type(W, h->types[o->type].addr);
		}
		if (t) {
			enum pl_trav r = pl_traverse_fns(h, o->addr, t, &fns, W);
			if (!W->defer)
				st = (uint8_t)r;
		}
		if (st == PD_DEFER)
			s->ntargets = before;
		s->state[j] = st;
		s->counts[j] = (uint32_t)(s->ntargets - before);
	}
	atomic_store_explicit(&s->ready, q + 1, memory_order_release);
	return true;
}

/* The helper's part: it returns when the build stops. While there is no
 * batch to take it maps ahead. */
static void pipe_produce(struct pipe *P, struct ahead *A)
{
	unsigned spins = 0;
	while (!atomic_load_explicit(&A->stop, memory_order_relaxed))
		if (pipe_take_batch(&P->w[0]))
			spins = 0;
		else if (!ahead_step(A))
			pl_idle_pause(&spins);
}

/* Make the types met since last time ready, and let the producer use them */
static void pipe_publish(struct pipe *P)
{
	struct pl_heap *h = P->h;
	uint32_t n = atomic_load_explicit(&P->npub, memory_order_relaxed);
	for (; P->scanned < h->ntypes; P->scanned++) {
		struct pl_type *t = &h->types[P->scanned];
		if (!t->valid)
			continue;   /* not a type: never will be */
		pl_traverse_ready_type(h, t);
		P->pub[n++] = (uint32_t)P->scanned;
	}
	atomic_store_explicit(&P->npub, n, memory_order_release);
}

/* (the helper's thread stopped first) */
static void pipe_free(struct pipe *P)
{
	if (!P)
		return;
	pthread_mutex_destroy(&P->objs_mu);
	for (int k = 0; k < PIPE_SLOTS; k++)
		free(P->slot[k].targets);
	free(P->pub);
	pl_addrmap_release(&P->w[0].ready);
	pl_addrmap_release(&P->w[1].ready);
	free(P);
}

/* A producer for the first `staged` objects, or NULL (no memory for it:
 * the build then does it all) */
static struct pipe *pipe_new(struct pl_heap *h, size_t staged)
{
	struct pipe *P = calloc(1, sizeof(*P));
	if (!P)
		return NULL;
	P->h = h;
	P->staged = staged;
	P->nbatches = (staged + BATCH - 1) / BATCH;
	P->w[0].P = P->w[1].P = P;
	P->pub = malloc(PL_MAX_TYPES * sizeof(*P->pub));
	if (!P->pub || pthread_mutex_init(&P->objs_mu, NULL) != 0) {
		free(P->pub);
		free(P);
		return NULL;
	}
	pl_traverse_init(h);
	pipe_publish(P);
	return P;
}

static void *ahead_thread(void *arg)
{
	struct ahead *A = arg;
	if (A->pipe)
		pipe_produce(A->pipe, A);
	while (!atomic_load_explicit(&A->stop, memory_order_relaxed))
		if (!ahead_step(A)) {
			struct timespec ts = { 0, 50 * 1000 };
			nanosleep(&ts, NULL);
		}
	return NULL;
}

/* Batch q, once the producer is done with it */
static struct pipe_batch *pipe_wait(struct pipe *P, struct ahead *A, size_t q)
{
	unsigned spins = 0;
	struct pipe_batch *s = &P->slot[q % PIPE_SLOTS];
	while (atomic_load_explicit(&s->ready, memory_order_acquire) != q + 1)
		if (!pipe_take_batch(&P->w[1]) && !ahead_step(A))
			pl_idle_pause(&spins);
	return s;
}

/* The untracked block q, as the build reaches it: NULL when it is the
 * build's own (nobody took it: the build takes it now), else the batch
 * once ready */
static struct pipe_batch *pipe_block(struct pipe *P, struct ahead *A, size_t q)
{
	if (q < P->nbatches)
		return NULL;   /* untracked objects after the last tracked ones */
	/* blocks are taken in order, and the build passed those before q */
	size_t n = atomic_load_explicit(&P->next, memory_order_relaxed);
	if (n <= q && atomic_compare_exchange_strong(&P->next, &n, q + 1))
		return NULL;
	return pipe_wait(P, A, q);
}

struct build {
	struct pl_graph *g;
	struct pl_heap *h;
	uint64_t n, cap;         /* edges in g->dst, its room */
	struct pl_error *err;
	struct { uint64_t lo, hi; } *statics;   /* statics_init */
	size_t nstatics;
	struct ahead ahead;
	uint64_t *pend;          /* targets collected for the current batch */
	uint32_t *pid;           /* their ids, UINT32_MAX: not known yet */
	size_t npend, cappend;
	struct pipe *pipe;       /* the producer, if any */
	/* census totals of the objects it took (count, bytes per type), added
	 * to the types at the end: the types' records stay as it reads them */
	uint64_t (*tc)[2];
	size_t ntc;
};

#define RELEASE_BATCHES 128   /* 16 K objects: the kernel maps 64 KiB around each
                               * fault, so scattered reads re-map the core fast */

uint32_t pl_graph_node(const struct pl_graph *g, uint64_t addr)
{
	uint32_t i = pl_heap_find(g->h, addr);
	return i < g->n ? i : PL_NONE;
}

/* The address ranges of the mapped ELF files, sorted and merged (the
 * build asks for every object it adds); false when out of memory. */
static bool statics_init(struct build *b)
{
	struct pl_program *p = b->h->p;
	b->statics = malloc((p->nfiles ? p->nfiles : 1) * sizeof(*b->statics));
	if (!b->statics)
		return false;
	size_t n = 0;
	for (size_t i = 0; i < p->nfiles; i++) {
		if (!p->files[i].elf || p->files[i].lo >= p->files[i].hi)
			continue;
		/* insertion sort by start: a few dozen files */
		size_t k = n++;
		for (; k > 0 && b->statics[k - 1].lo > p->files[i].lo; k--)
			b->statics[k] = b->statics[k - 1];
		b->statics[k].lo = p->files[i].lo;
		b->statics[k].hi = p->files[i].hi;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m && b->statics[i].lo <= b->statics[m - 1].hi) {
			if (b->statics[i].hi > b->statics[m - 1].hi)
				b->statics[m - 1].hi = b->statics[i].hi;
		} else {
			b->statics[m++] = b->statics[i];
		}
	}
	b->nstatics = m;
	return true;
}

/* Is addr a file-backed or static object (libpython's .data: None, True,
 * static types)? Those are part of no one's size. */
static bool is_static(const struct build *b, uint64_t addr)
{
	/* the last range starting at or below addr */
	size_t lo = 0, hi = b->nstatics;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->statics[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && addr < b->statics[lo - 1].hi;
}

/* Add an object gc does not track, after checking it is one. */
static uint32_t add_untracked(struct build *b, uint64_t addr)
{
	struct pl_heap *h = b->h;
	struct pl_program *p = h->p;
	int64_t refcnt;
	uint64_t type;
	struct pl_type *t;
	if ((addr & 7) || pl_obj_header(p, addr, &refcnt, &type) != 0 || !(t = pl_type_get(h, type)))
		return PL_NONE;
	struct pl_obj o = { .addr = addr, .refcnt = pl_refcnt_clamp(refcnt),
			    .type = (uint32_t)(t - h->types), .gen = PL_GEN_UNTRACKED };
	if (p->L.immortal_refcnt && (int32_t)(uint32_t)refcnt < 0)
		o.flags |= PL_OF_IMMORTAL;
	if (is_static(b, addr)) {
		o.flags |= PL_OF_STATIC;
	} else {
		bool gc = (t->flags & p->L.tpf_have_gc) && t->kind != PL_K_TYPE;
		o.size = (uint32_t)pl_obj_size(h, addr, t, gc);
	}
	bool dup;
	uint32_t id = pl_heap_add(h, &o, &dup);
	if (id != PL_NONE && !dup) {
		t->untracked_count++;
		t->untracked_bytes += o.size;
	}
	return id;
}

/* Room for `more` targets in the current batch; false (b->err set) when
 * out of memory. */
static bool pend_room(struct build *b, size_t more)
{
	if (b->npend + more <= b->cappend)
		return true;
	size_t cap = b->cappend ? b->cappend * 2 : 4096;
	while (cap < b->npend + more)
		cap *= 2;
	uint64_t *p = realloc(b->pend, cap * sizeof(*p));
	if (p)
		b->pend = p;
	uint32_t *q = p ? realloc(b->pid, cap * sizeof(*q)) : NULL;
	if (!q) {
		b->err = pl_error(PL_E_NOMEM, "out of memory building the graph");
		return false;
	}
	b->pid = q;
	b->cappend = cap;
	return true;
}

/* Traversal only collects target addresses; they are resolved to node ids
 * a batch at a time, after prefetching, so the random accesses into the
 * index overlap instead of stalling one by one. */
static int on_edge(void *ctx, uint64_t target, const struct pl_edge *e)
{
	struct build *b = ctx;
	(void)e;
	if (b->npend == b->cappend && !pend_room(b, 1))
		return 1;
	b->pend[b->npend++] = target;
	return 0;
}

/* Room for `more` edges and objects (a batch's resolution adds at most one
 * of each per target); false (b->err set) when out of memory. */
static bool make_room(struct build *b, size_t more)
{
	struct pl_heap *h = b->h;
	struct pl_graph *g = b->g;
	if (b->n + more > b->cap) {
		uint64_t cap = b->cap ? b->cap + b->cap / 2 : (1u << 20);
		if (cap < b->n + more)
			cap = b->n + more;
		if (cap > UINT32_MAX) {
			b->err = pl_error(PL_E_NOMEM, "more than 2^32 references; too large a heap");
			return false;
		}
		ahead_lock(&b->ahead);
		uint32_t *d = pl_big_resize(g->dst, g->dst_bytes, cap * sizeof(*d));
		if (d) {
			g->dst = d;
			g->dst_bytes = cap * sizeof(*d);
			b->cap = cap;
			ahead_set(&b->ahead, AH_DST, d, g->dst_bytes, b->n * sizeof(*d));
		}
		ahead_unlock(&b->ahead);
		if (!d) {
			b->err = pl_error(PL_E_NOMEM, "out of memory at %llu references",
					  (unsigned long long)b->n);
			return false;
		}
	}
	if (h->nobjs + more > h->capobjs) {
		ahead_lock(&b->ahead);
		if (b->pipe)
			pthread_mutex_lock(&b->pipe->objs_mu);
		bool ok = pl_heap_reserve(h, h->nobjs + more);
		if (b->pipe)
			pthread_mutex_unlock(&b->pipe->objs_mu);
		if (ok)
			ahead_set(&b->ahead, AH_OBJS, h->objs, h->capobjs * sizeof(*h->objs),
				  h->nobjs * sizeof(*h->objs));
		ahead_unlock(&b->ahead);
		if (!ok) {
			b->err = pl_error(PL_E_NOMEM, "out of memory at %zu objects", h->nobjs);
			return false;
		}
	}
	return true;
}

static bool known_object(void *ctx, uint64_t addr)
{
	struct build *b = ctx;
	return pl_heap_find(b->h, addr) != UINT32_MAX;
}

/* The objects are read one after the other, each with what it keeps apart
 * (a dict's keys, a list's items): fetch a few ahead into the cache. */
static void prefetch_ahead(struct pl_heap *h, size_t k, size_t staged)
{
	struct pl_program *p = h->p;
	/* (an object taken already is read only if it is a container) */
	if (k + 8 < h->nobjs && (k + 8 < staged || h->types[h->objs[k + 8].type].traverse)) {
		uint64_t a = h->objs[k + 8].addr;
		fetch_lines(&p->as, a - (k + 8 < staged ? (uint64_t)p->L.sizeof_gc_head : 0), 64);
	}
	if (k + 4 < h->nobjs) {
		const struct pl_obj *o = &h->objs[k + 4];
		uint32_t t = o->type;
		uint64_t type;
		if (k + 4 < staged)   /* not taken yet: a type met before, if it is one */
			t = pl_as_u64(&p->as, o->addr + (uint64_t)p->L.ob_type, &type) == 0 ?
				    pl_addrmap_get(&h->type_index, type) : UINT32_MAX;
		if (t != UINT32_MAX)
			pl_traverse_prefetch(h, o->addr, &h->types[t]);
	}
}

/* The c targets at t, as the producer found them, added to the batch's;
 * false (b->err set) when out of memory */
static bool add_targets(struct build *b, const uint64_t *t, uint32_t c)
{
	if (!c)   /* (and the arrays may not be there yet) */
		return true;
	if (!pend_room(b, c))
		return false;
	memcpy(b->pend + b->npend, t, c * sizeof(*b->pend));
	b->npend += c;
	return true;
}

/* Object k as the producer took it (batch s, its j-th): stored and counted
 * as pl_census_take would, its targets added to the batch's */
static bool take_produced(struct build *b, const struct pipe_batch *s, size_t k, size_t j,
			  size_t *from, bool copy)
{
	struct pl_heap *h = b->h;
	struct pl_obj *o = &h->objs[k];
	*o = s->obj[j];
	if (o->type >= b->ntc) {
		size_t n = h->ntypes > o->type ? h->ntypes : (size_t)o->type + 1;
		uint64_t(*tc)[2] = realloc(b->tc, n * sizeof(*tc));
		if (!tc) {
			b->err = pl_error(PL_E_NOMEM, "out of memory building the graph");
			return false;
		}
		memset(tc + b->ntc, 0, (n - b->ntc) * sizeof(*tc));
		b->tc = tc;
		b->ntc = n;
	}
	b->tc[o->type][0]++;
	b->tc[o->type][1] += o->size;
	h->total_bytes += o->size;
	h->gen_objects[o->gen]++;
	uint32_t c = s->counts[j];
	if (!copy)
		b->npend += c;   /* read where they are */
	else if (!add_targets(b, s->targets + *from, c))
		return false;
	*from += c;
	return true;
}

/* After a failure: the helper stopped, everything given back. */
static void build_free(struct build *b)
{
	ahead_stop(&b->ahead);
	pipe_free(b->pipe);
	free(b->tc);
	free(b->pend);
	free(b->pid);
	free(b->statics);
	pl_graph_release(b->g);
}

/* staged: the first `staged` objects are still to be taken from the
 * census (pl_census_stage); *damaged is set when one of them cannot be. */
static struct pl_error *build(struct pl_heap *h, struct pl_graph *g, size_t staged, bool *damaged)
{
	memset(g, 0, sizeof(*g));
	g->h = h;
	g->ntracked = (uint32_t)h->nobjs;
	struct build b = { .g = g, .h = h };
	struct pl_program *p = h->p;
	uint64_t bad_sizes = h->bad_sizes, census_bad = 0;
	/* a census read the whole core: start without its pages, unless it
	 * is staged, and the build reads them in address order */
	if (!staged)
		pl_core_release_pages(h->p->core);
	size_t cap = h->nobjs + 1024;
	if (!statics_init(&b))
		return pl_error(PL_E_NOMEM, "out of memory");
	g->off = pl_big_resize(NULL, 0, (cap + 1) * sizeof(*g->off));
	if (!g->off) {
		free(b.statics);
		return pl_error(PL_E_NOMEM, "out of memory");
	}
	g->off_bytes = (cap + 1) * sizeof(*g->off);
	bool helper = pl_threads() > 1 && pthread_mutex_init(&b.ahead.mu, NULL) == 0;
	if (helper && pthread_mutex_init(&b.ahead.core_mu, NULL) != 0) {
		pthread_mutex_destroy(&b.ahead.mu);
		helper = false;
	}
	if (helper) {
		ahead_set(&b.ahead, AH_OBJS, h->objs, h->capobjs * sizeof(*h->objs),
			  h->nobjs * sizeof(*h->objs));
		ahead_set(&b.ahead, AH_OFF, g->off, g->off_bytes, 0);
		b.ahead.core.core = p->core;
		if (staged)
			b.pipe = b.ahead.pipe = pipe_new(h, staged);
		b.ahead.running = pthread_create(&b.ahead.tid, NULL, ahead_thread, &b.ahead) == 0;
		if (!b.ahead.running) {
			pthread_mutex_destroy(&b.ahead.mu);
			pthread_mutex_destroy(&b.ahead.core_mu);
			pipe_free(b.pipe);
			b.pipe = NULL;
		}
	}
	/* h->nobjs grows while we go: untracked referents are traversed too
	 * (their edges matter for reachability and retained sizes). */
	uint32_t counts[BATCH];
	size_t batches = 0;
	/* the untracked block the build is in, and the producer's batch of it */
	size_t ublock = SIZE_MAX;
	struct pipe_batch *u = NULL;
	for (size_t i = 0; i < h->nobjs;) {
		size_t end = i + BATCH < h->nobjs ? i + BATCH : h->nobjs;
		if (end + 1 >= cap) {
			while (end + 1 >= cap)
				cap += cap / 2;
			ahead_lock(&b.ahead);
			uint32_t *o = pl_big_resize(g->off, g->off_bytes, (cap + 1) * sizeof(*o));
			if (o) {
				g->off = o;
				g->off_bytes = (cap + 1) * sizeof(*o);
				ahead_set(&b.ahead, AH_OFF, o, g->off_bytes, i * sizeof(*o));
			}
			ahead_unlock(&b.ahead);
			if (!o) {
				build_free(&b);
				return pl_error(PL_E_NOMEM, "out of memory");
			}
		}
		b.npend = 0;
		/* the producer's batch, when it has the tracked ones */
		struct pipe_batch *s = b.pipe && i < staged ? pipe_wait(b.pipe, &b.ahead, i / BATCH) : NULL;
		size_t from = 0;
		/* when it has them all, their targets are read where they are */
		bool whole = s && i % BATCH == 0 && end <= staged;
		for (size_t k = i; whole && k < end; k++)
			whole = !(s->state[k - i] & PD_DEFER);
		for (size_t k = i; k < end; k++) {
			size_t before = b.npend;
			struct pl_obj *o = &h->objs[k];
			enum pl_trav r = PL_TRAV_EXACT;
			if (b.pipe && k >= staged && k / BATCH != ublock) {
				ublock = k / BATCH;
				u = pipe_block(b.pipe, &b.ahead, ublock);
			}
			uint8_t ust = u && k >= staged ? u->state[k % BATCH] : PD_DEFER;
			if (s && k < staged && !(s->state[k - i] & PD_DEFER)) {
				if (!take_produced(&b, s, k, k - i, &from, !whole)) {
					build_free(&b);
					return b.err;
				}
				r = (enum pl_trav)s->state[k - i];
			} else if (ust == PD_SKIP) {
				counts[k - i] = 0;   /* as below */
				continue;
			} else if (!(ust & PD_DEFER)) {
				if (!add_targets(&b, u->targets + u->first[k % BATCH], u->counts[k % BATCH])) {
					build_free(&b);
					return b.err;
				}
				r = (enum pl_trav)ust;
			} else {
				if (!s && !u)
					prefetch_ahead(h, k, staged);
				if (k >= g->ntracked && nothing_to_traverse(h, o)) {
					counts[k - i] = 0;   /* nothing in it: exact as added */
					continue;
				}
				if (k < staged) {
					uint64_t bad = h->bad_sizes;
					if (!pl_census_take(h, (uint32_t)k)) {
						build_free(&b);
						*damaged = true;
						return NULL;
					}
					census_bad += h->bad_sizes - bad;
				}
				r = pl_traverse(h, o->addr, &h->types[o->type], on_edge, &b, known_object);
				if (b.err) {
					build_free(&b);
					return b.err;
				}
			}
			o->flags = (uint8_t)((o->flags & ~PL_OF_TRAV_MASK) | ((unsigned)r << PL_OF_TRAV_SHIFT));
			g->ninferred += r == PL_TRAV_INFERRED;
			g->nerrors += r == PL_TRAV_ERROR;
			counts[k - i] = (uint32_t)(b.npend - before);
		}
		if (!make_room(&b, b.npend) || (whole && !pend_room(&b, b.npend))) {
			build_free(&b);
			return b.err;
		}
		const uint64_t *tg = whole ? s->targets : b.pend;
		for (size_t j = 0; j < b.npend; j++)
			pl_heap_prefetch(h, tg[j]);
		/* the objects met for the first time are read next: their headers
		 * are fetched ahead too */
		for (size_t j = 0; j < b.npend; j++) {
			if ((b.pid[j] = pl_heap_find(h, tg[j])) != UINT32_MAX)
				continue;
			fetch_lines(&p->as, tg[j], 32);
		}
		size_t j = 0;
		for (size_t k = i; k < end; k++) {
			g->off[k] = (uint32_t)b.n;
			for (uint32_t c = 0; c < counts[k - i]; c++) {
				uint64_t target = tg[j];
				uint32_t id = b.pid[j++];
				if (id == UINT32_MAX && (id = pl_heap_find(h, target)) == UINT32_MAX)
					id = add_untracked(&b, target);
				if (id == PL_NONE) {
					g->wild++;
					continue;
				}
				g->dst[b.n++] = id;   /* make_room made room */
			}
		}
		if (b.pipe)   /* the slots of the batches passed are free again */
			atomic_store_explicit(&b.pipe->consumed, end / BATCH, memory_order_release);
		i = end;
		if (b.pipe) {   /* the types met so far, and the objects, for the producer */
			pipe_publish(b.pipe);
			atomic_store_explicit(&b.pipe->nobjs, h->nobjs, memory_order_release);
		}
		atomic_store_explicit(&b.ahead.a[AH_OBJS].pos, h->nobjs * sizeof(*h->objs), memory_order_relaxed);
		atomic_store_explicit(&b.ahead.a[AH_DST].pos, b.n * sizeof(*g->dst), memory_order_relaxed);
		atomic_store_explicit(&b.ahead.a[AH_OFF].pos, i * sizeof(*g->off), memory_order_relaxed);
		/* the core's pages are read once per object: do not let them all
		 * stay resident next to the growing arrays. The gc objects come in
		 * address order: those before the next one are done with (reads
		 * of them here and there fault them in again). */
		const uint8_t *next = i < g->ntracked ? pl_as_ptr(&p->as, h->objs[i].addr, 1) : NULL;
		if (b.ahead.running)
			atomic_store_explicit(&b.ahead.core.pos, next, memory_order_relaxed);
		if (++batches % RELEASE_BATCHES == 0) {
			if (b.ahead.running) {   /* the helper does it (NULL: all) */
				atomic_store_explicit(&b.ahead.core.below, next, memory_order_relaxed);
				atomic_fetch_add_explicit(&b.ahead.core.asked, 1, memory_order_release);
			} else {
				release_behind(p->core, next);
			}
		}
	}
	ahead_stop(&b.ahead);
	pipe_free(b.pipe);
	free(b.pend);
	free(b.pid);
	free(b.statics);
	for (size_t t = 0; t < b.ntc; t++) {
		h->types[t].count += b.tc[t][0];
		h->types[t].bytes += b.tc[t][1];
	}
	free(b.tc);
	/* read through: later steps read the core only here and there (roots,
	 * labels), and its pages would stay next to their arrays */
	pl_core_release_pages(h->p->core);
	if (staged)   /* as pl_census and pl_graph_build would have, one after the other */
		pl_warn_bad_sizes(h, h->bad_sizes - census_bad);
	pl_warn_bad_sizes(h, bad_sizes + census_bad);
	g->n = (uint32_t)h->nobjs;
	g->off[g->n] = (uint32_t)b.n;
	g->nedges = b.n;
	/* give back the growth slack */
	uint32_t *d = pl_big_resize(g->dst, g->dst_bytes, b.n * sizeof(*d));
	if (d) {
		g->dst = d;
		g->dst_bytes = b.n * sizeof(*d);
	}
	uint32_t *o = pl_big_resize(g->off, g->off_bytes, ((size_t)g->n + 1) * sizeof(*o));
	if (o) {
		g->off = o;
		g->off_bytes = ((size_t)g->n + 1) * sizeof(*o);
	}
	pl_heap_shrink(h);
	return NULL;
}

struct pl_error *pl_graph_build(struct pl_heap *h, struct pl_graph *g)
{
	bool damaged = false;
	return build(h, g, 0, &damaged);
}

struct pl_error *pl_graph_build_staged(struct pl_heap *h, struct pl_graph *g, size_t staged)
{
	struct pl_program *p = h->p;
	size_t nwarnings = p->nwarnings;
	bool damaged = false;
	struct pl_error *err = build(h, g, staged, &damaged);
	if (err || !damaged)
		return err;
	/* an object's header or type is unreadable: start over one step after
	 * the other, and the census walks the lists one node at a time and
	 * says where they are damaged */
	while (p->nwarnings > nwarnings)
		free(p->warnings[--p->nwarnings]);
	if ((err = pl_census_one_by_one(p, h)))
		return err;
	return build(h, g, 0, &damaged);
}

void pl_graph_release(struct pl_graph *g)
{
	pl_big_free(g->off, g->off_bytes);
	pl_big_free(g->dst, g->dst_bytes);
	free(g->roff);
	free(g->rsrc);
	free(g->ext);
	memset(g, 0, sizeof(*g));
}

struct pl_error *pl_graph_reverse(struct pl_graph *g)
{
	if (g->roff)
		return NULL;
	/* n + 2: counted one place on, so that placing the referrers moves
	 * roff[v + 1] from where v's start to where they end (pl_retained's
	 * children likewise) */
	g->roff = calloc((size_t)g->n + 2, sizeof(*g->roff));
	g->rsrc = malloc((g->nedges ? g->nedges : 1) * sizeof(*g->rsrc));
	if (!g->roff || !g->rsrc)
		return pl_error(PL_E_NOMEM, "out of memory building referrers");
	for (uint64_t e = 0; e < g->nedges; e++)
		g->roff[g->dst[e] + 2]++;
	for (uint32_t i = 0; i < g->n; i++)
		g->roff[i + 2] += g->roff[i + 1];
	for (uint32_t s = 0; s < g->n; s++)
		for (uint32_t e = g->off[s]; e < g->off[s + 1]; e++)
			g->rsrc[g->roff[g->dst[e] + 1]++] = s;
	return NULL;
}

bool pl_graph_collectable(const struct pl_graph *g, uint32_t i)
{
	const struct pl_obj *o = &g->h->objs[i];
	return i < g->ntracked && o->gen <= 2 && !(o->flags & PL_OF_IMMORTAL);
}

#define GC_AHEAD 8   /* queue entries whose edges are fetched ahead */

static int32_t ext_start(const struct pl_obj *o)
{
	return o->refcnt > INT32_MAX ? INT32_MAX : (int32_t)o->refcnt;
}

/* subtract_refs for the targets in [lo, hi): each exact edge from a
 * collectable node (tent[s], or if tent is NULL pl_graph_collectable) takes
 * one off its target's ext. Only exact edges are subtracted: a guessed
 * (inferred) edge that is not a real reference would make a live object
 * look dead. */
static void subtract_refs(struct pl_graph *g, const uint8_t *tent, uint32_t lo, uint32_t hi)
{
	const uint32_t nt = g->ntracked;
	const uint32_t nte = g->off[nt];   /* the tracked nodes' edges */
	for (uint32_t s = 0; s < nt; s++)
		if ((tent ? tent[s] : pl_graph_collectable(g, s)) && pl_trav_of(g, s) != PL_TRAV_INFERRED)
			for (uint32_t e = g->off[s]; e < g->off[s + 1]; e++) {
				if (e + GC_AHEAD * 2 < nte) {   /* targets are all over */
					uint32_t a = g->dst[e + GC_AHEAD * 2];
					if (a >= lo && a < hi)
						__builtin_prefetch(&g->ext[a], 1);
				}
				uint32_t d = g->dst[e];
				if (d >= lo && d < hi && g->ext[d] != INT32_MAX)
					g->ext[d]--;
			}
}

void pl_graph_ext_untracked(struct pl_graph *g)
{
	if (!g->gc_done || g->ext_untracked)
		return;
	const struct pl_obj *objs = g->h->objs;
	for (uint32_t i = g->ntracked; i < g->n; i++)
		g->ext[i] = ext_start(&objs[i]);
	subtract_refs(g, NULL, g->ntracked, g->n);
	g->ext_untracked = true;
}

struct pl_error *pl_graph_gc(struct pl_graph *g)
{
	free(g->ext);
	g->ext = malloc(((size_t)g->n + 1) * sizeof(*g->ext));   /* refcnt fits: saturated u32 */
	struct pl_obj *objs = g->h->objs;
	/* only collectable nodes are ever queued, each once; they are among
	 * the tracked ones */
	uint32_t *queue = malloc(((size_t)g->ntracked + 1) * sizeof(*queue));
	/* 1: collectable and (still) tentatively unreachable. A byte per node
	 * stays in cache where the nodes' records would not. */
	uint8_t *tent = calloc((size_t)g->ntracked + 1, 1);
	if (!g->ext || !queue || !tent) {
		free(queue);
		free(tent);
		return pl_error(PL_E_NOMEM, "out of memory in the gc analysis");
	}
	/* update_refs: ext = refcnt (of the tracked nodes: gc looks at no
	 * other; pl_graph_ext_untracked does the rest when it is wanted) */
	const uint32_t nt = g->ntracked;
	for (uint32_t i = 0; i < nt; i++) {
		g->ext[i] = ext_start(&objs[i]);
		objs[i].flags &= (uint8_t)~PL_OF_UNREACHABLE;
		tent[i] = pl_graph_collectable(g, i);
	}
	g->ext_untracked = false;
	/* Inferred edges, not subtracted, still carry reachability below,
	 * which errs towards alive. */
	subtract_refs(g, tent, 0, nt);
	/* move_unreachable: ext > 0 are roots; what they reach is alive.
	 * Breadth first, so that a node's edges can be fetched ahead of
	 * their turn (a queue, not a stack: nodes are taken long after they
	 * are put). */
	uint32_t qtail = 0;
	g->nnegative = 0;
	for (uint32_t i = 0; i < g->ntracked; i++) {
		if (!tent[i])
			continue;
		if (g->ext[i] < 0)
			g->nnegative++;
		if (g->ext[i] > 0) {
			tent[i] = 0;
			queue[qtail++] = i;
		}
	}
	for (uint32_t q = 0; q < qtail; q++) {
		if (q + GC_AHEAD < qtail)
			__builtin_prefetch(&g->dst[g->off[queue[q + GC_AHEAD]]]);
		uint32_t s = queue[q];
		for (uint32_t e = g->off[s]; e < g->off[s + 1]; e++) {
			uint32_t d = g->dst[e];
			if (d < g->ntracked && tent[d]) {
				tent[d] = 0;
				__builtin_prefetch(&g->off[d]);
				queue[qtail++] = d;
			}
		}
	}
	g->nunreachable = 0;
	g->unreachable_bytes = 0;
	for (uint32_t i = 0; i < g->ntracked; i++)
		if (tent[i]) {
			objs[i].flags |= PL_OF_UNREACHABLE;
			g->nunreachable++;
			g->unreachable_bytes += objs[i].size;
		}
	free(queue);
	free(tent);
	g->gc_done = true;
	return NULL;
}

struct find_edge {
	uint64_t target;
	struct pl_edge e;
	bool found;
	char name[64];
};

static int find_edge_visit(void *ctx, uint64_t target, const struct pl_edge *e)
{
	struct find_edge *f = ctx;
	if (target != f->target)
		return 0;
	f->e = *e;
	if (e->name) {   /* names are static strings or in the core: copy */
		snprintf(f->name, sizeof(f->name), "%s", e->name);
		f->e.name = f->name;
	}
	f->found = true;
	return 1;
}

static bool known_node(void *ctx, uint64_t addr)
{
	const struct pl_graph *g = ctx;
	return pl_graph_node(g, addr) != PL_NONE;
}

struct find_ctx {
	struct find_edge f;
	const struct pl_graph *g;
};

static int find_visit(void *ctx, uint64_t target, const struct pl_edge *e)
{
	return find_edge_visit(&((struct find_ctx *)ctx)->f, target, e);
}

static bool find_known(void *ctx, uint64_t addr)
{
	return known_node((void *)((struct find_ctx *)ctx)->g, addr);
}

const char *pl_graph_edge_label(const struct pl_graph *g, uint32_t src, uint32_t dst, char *buf,
				size_t len)
{
	struct pl_heap *h = g->h;
	struct find_ctx fc = { .f = { .target = h->objs[dst].addr }, .g = g };
	const struct pl_obj *o = &h->objs[src];
	pl_traverse(h, o->addr, &h->types[o->type], find_visit, &fc, find_known);
	if (!fc.f.found) {
		snprintf(buf, len, ".?");
		return buf;
	}
	return pl_edge_label(h, o->addr, &fc.f.e, buf, len);
}
