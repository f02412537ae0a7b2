/* pl_dominators against the definition, on random graphs: d dominates v
 * when every path from the super-root (whose successors are the roots) to v
 * passes through d; the immediate dominator is the strict dominator that
 * every other strict dominator of v dominates. And the retained bytes per
 * type against theirs, on random dominator trees. */
#include "config.h"

#include <check.h>

#include "check_run.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/dominators.h"
#include "graph/retained.h"

#define MAXN 48

struct g {
	uint32_t n, off[MAXN + 1], dst[MAXN * MAXN], roff[MAXN + 1], rsrc[MAXN * MAXN];
	uint32_t roots[2 * MAXN];
	size_t nroots;
};

static void make(struct g *g, unsigned seed)
{
	srand(seed);
	memset(g, 0, sizeof(*g));
	g->n = 1 + (uint32_t)(rand() % MAXN);
	uint32_t m = 0, indeg[MAXN + 1] = { 0 };
	int density = 1 + rand() % 4;
	/* a hub or two, referred to from most nodes (as a type is from its
	 * instances): more referrers than the dominators look at in order */
	uint32_t hub[2] = { UINT32_MAX, UINT32_MAX };
	for (int k = rand() % 3; k-- > 0;)
		hub[k] = (uint32_t)(rand() % (int)g->n);
	for (uint32_t v = 0; v < g->n; v++) {
		g->off[v] = m;
		for (uint32_t w = 0; w < g->n; w++) {
			bool to_hub = (w == hub[0] || w == hub[1]) && rand() % 4;
			if (to_hub || rand() % (int)(g->n + 1) < density) {
				g->dst[m++] = w;
				indeg[w]++;
			}
		}
	}
	g->off[g->n] = m;
	for (uint32_t v = 0; v < g->n; v++)
		g->roff[v + 1] = g->roff[v] + indeg[v];
	uint32_t fill[MAXN];
	memcpy(fill, g->roff, sizeof(fill));
	for (uint32_t v = 0; v < g->n; v++)
		for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++)
			g->rsrc[fill[g->dst[e]]++] = v;
	g->nroots = 1 + (size_t)(rand() % 3);
	for (size_t i = 0; i < g->nroots; i++)
		g->roots[i] = (uint32_t)(rand() % (int)g->n);
}

/* reachable from the super-root without passing through `cut` */
static void reach(const struct g *g, uint32_t cut, bool *seen)
{
	uint32_t stack[MAXN], sp = 0;
	memset(seen, 0, MAXN);
	for (size_t i = 0; i < g->nroots; i++)
		if (g->roots[i] != cut && !seen[g->roots[i]]) {
			seen[g->roots[i]] = true;
			stack[sp++] = g->roots[i];
		}
	while (sp) {
		uint32_t v = stack[--sp];
		for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
			uint32_t w = g->dst[e];
			if (w != cut && !seen[w]) {
				seen[w] = true;
				stack[sp++] = w;
			}
		}
	}
}

/* Two results of pl_dominators for one graph are the same: idom2 (and its
 * order) as idom1 (the one wanted) */
static void same(unsigned seed, uint32_t n, const uint32_t *idom1, const uint32_t *order1,
		 uint32_t n1, const uint32_t *idom2, const uint32_t *order2, uint32_t n2)
{
	ck_assert_uint_eq(n1, n2);
	for (uint32_t v = 0; v < n; v++)
		ck_assert_msg(idom1[v] == idom2[v], "seed %u: idom(%u) %u, want %u", seed, v, idom2[v],
			      idom1[v]);
	for (uint32_t i = 0; i < n1; i++)
		ck_assert_uint_eq(order1[i], order2[i]);
}

START_TEST(random_graphs)
{
	for (unsigned seed = 1; seed <= 3000; seed++) {
		struct g g;
		make(&g, seed);
		uint32_t idom[MAXN], order[MAXN + 1], norder = 0;
		ck_assert(pl_dominators(g.n, g.off, g.dst, g.roff, g.rsrc, g.roots, g.nroots, NULL, NULL,
					idom, order, &norder) == NULL);
		bool all[MAXN], dominates[MAXN][MAXN];   /* dominates[d][v] */
		reach(&g, UINT32_MAX, all);
		uint32_t reached = 0;
		for (uint32_t d = 0; d < g.n; d++) {
			bool seen[MAXN];
			reach(&g, d, seen);
			for (uint32_t v = 0; v < g.n; v++)
				dominates[d][v] = all[v] && (v == d || !seen[v]);
			reached += all[d];
		}
		ck_assert_uint_eq(norder, reached);
		for (uint32_t v = 0; v < g.n; v++) {
			if (!all[v]) {
				ck_assert_msg(idom[v] == UINT32_MAX, "seed %u: %u unreachable", seed, v);
				continue;
			}
			uint32_t want = PL_DOM_SUPER;
			for (uint32_t d = 0; d < g.n; d++) {
				if (d == v || !dominates[d][v])
					continue;
				bool closest = true;   /* every other strict dominator dominates d */
				for (uint32_t e = 0; e < g.n && closest; e++)
					if (e != v && e != d && dominates[e][v] && !dominates[e][d])
						closest = false;
				if (closest)
					want = d;
			}
			ck_assert_msg(idom[v] == want, "seed %u: idom(%u) = %u, want %u", seed, v, idom[v], want);
		}
		/* the same with working memory lent (full of garbage: its contents
		 * are not kept), and with the idle entry point */
		static uint32_t lend[4][MAXN + 2];
		memset(lend, 0xa5, sizeof(lend));
		const struct pl_dom_scratch scratch = { lend[0], lend[1], lend[2], lend[3] };
		uint32_t idom2[MAXN], order2[MAXN + 1], norder2 = 0;
		ck_assert(pl_dominators_idle(g.n, g.off, g.dst, g.roff, g.rsrc, g.roots, g.nroots, NULL,
					     NULL, idom2, order2, &norder2, NULL, &scratch) == NULL);
		same(seed, g.n, idom, order, norder, idom2, order2, norder2);
		/* preorder: a node's dominator comes before it */
		uint32_t pos[MAXN];
		for (uint32_t i = 0; i < norder; i++)
			pos[order[i]] = i;
		for (uint32_t i = 0; i < norder; i++) {
			uint32_t v = order[i];
			if (idom[v] != PL_DOM_SUPER)
				ck_assert(pos[idom[v]] < i);
		}
	}
}
END_TEST

static bool picked(void *ctx, uint32_t v)
{
	return ((const bool *)ctx)[v];
}

/* Roots added by a predicate among the nodes the others do not reach (the
 * refcount residue) give what the same roots given in a list give. */
START_TEST(more_roots)
{
	unsigned nontrivial = 0;
	for (unsigned seed = 1; seed <= 3000; seed++) {
		struct g g;
		make(&g, seed);
		bool pick[MAXN], all[MAXN];
		for (uint32_t v = 0; v < g.n; v++)
			pick[v] = rand() % 4 == 0;
		reach(&g, UINT32_MAX, all);
		uint32_t idom1[MAXN], order1[MAXN + 1], n1 = 0, idom2[MAXN], order2[MAXN + 1], n2 = 0;
		ck_assert(pl_dominators(g.n, g.off, g.dst, g.roff, g.rsrc, g.roots, g.nroots, picked, pick,
					idom1, order1, &n1) == NULL);
		size_t before = g.nroots;
		for (uint32_t v = 0; v < g.n; v++)
			if (pick[v] && !all[v])
				g.roots[g.nroots++] = v;
		nontrivial += g.nroots > before;
		ck_assert(pl_dominators(g.n, g.off, g.dst, g.roff, g.rsrc, g.roots, g.nroots, NULL, NULL,
					idom2, order2, &n2) == NULL);
		same(seed, g.n, idom2, order2, n2, idom1, order1, n1);   /* the list is the reference */
	}
	ck_assert_uint_gt(nontrivial, 500);
}
END_TEST

struct taker {
	struct pl_idle *idle;
};

static void *take(void *arg)
{
	pl_idle_take(((struct taker *)arg)->idle);
	return NULL;
}

/* The part offered to an idle thread (the nodes left out of the search)
 * gives the same whether that thread or the caller does it; the offer is
 * never left half done. */
START_TEST(idle_thread)
{
	unsigned by_thread = 0, by_owner = 0;
	for (unsigned seed = 1; seed <= 2000; seed++) {
		struct g g;
		make(&g, seed);
		uint32_t idom1[MAXN], order1[MAXN + 1], n1 = 0, idom2[MAXN], order2[MAXN + 1], n2 = 0;
		ck_assert(pl_dominators(g.n, g.off, g.dst, g.roff, g.rsrc, g.roots, g.nroots, NULL, NULL,
					idom1, order1, &n1) == NULL);
		struct pl_idle idle = { 0 };
		struct taker t = { &idle };
		pl_idle_open(&idle);
		pthread_t tid;
		ck_assert_int_eq(pthread_create(&tid, NULL, take, &t), 0);
		ck_assert(pl_dominators_idle(g.n, g.off, g.dst, g.roff, g.rsrc, g.roots, g.nroots, NULL,
					     NULL, idom2, order2, &n2, &idle, NULL) == NULL);
		int st = atomic_load(&idle.job);
		ck_assert(st == PL_JOB_DONE || st == PL_JOB_OWNER);
		by_thread += st == PL_JOB_DONE;
		by_owner += st == PL_JOB_OWNER;
		pl_idle_close(&idle);
		pthread_join(tid, NULL);
		same(seed, g.n, idom1, order1, n1, idom2, order2, n2);
	}
	/* which of the two did it depends on timing: both are checked above */
	fprintf(stderr, "idle_thread: the job ran %u times on the idle thread, %u on the owner\n",
		by_thread, by_owner);
}
END_TEST

/* A random dominator tree: node v's parent is below v, or the super-root;
 * few types, so that instances nest in instances of their own type. */
#define TN 3000
#define TT 6

struct ttree {
	struct pl_obj objs[TN];
	uint32_t idom[TN + 1], coff[TN + 2], child[TN + 1];
	uint64_t retained[TN + 1], want[TT + 1];
	struct pl_heap h;
	struct pl_graph g;
	struct pl_retained rt;
};

static void make_tree(struct ttree *t, unsigned seed)
{
	srand(seed);
	memset(t, 0, sizeof(*t));
	uint32_t n = 1 + (uint32_t)(rand() % TN), ntypes = 1 + (uint32_t)(rand() % TT);
	int tops = 1 + rand() % 20;   /* in 1000: how often a node is a top */
	for (uint32_t v = 0; v < n; v++) {
		t->objs[v].type = (uint32_t)(rand() % (int)ntypes);
		/* a few large ones, so that units are opened at several depths */
		t->objs[v].size = rand() % 50 == 0 ? (uint32_t)(rand() % 100000) : (uint32_t)(rand() % 500);
		t->idom[v] = v == 0 || rand() % 1000 < tops ? PL_DOM_SUPER : (uint32_t)(rand() % (int)v);
	}
	/* a few unreachable nodes, outside the tree */
	for (uint32_t v = 1; v < n; v++)
		if (rand() % 200 == 0 && t->idom[v] == PL_DOM_SUPER)
			t->idom[v] = UINT32_MAX;
	for (uint32_t v = 0; v < n; v++)
		if (t->idom[v] != UINT32_MAX && t->idom[v] != PL_DOM_SUPER &&
		    t->idom[t->idom[v]] == UINT32_MAX)
			t->idom[v] = UINT32_MAX;   /* (under an unreachable one: unreachable) */
	for (uint32_t v = 0; v < n; v++)
		t->retained[v] = t->idom[v] == UINT32_MAX ? 0 : t->objs[v].size;
	for (uint32_t v = n; v-- > 0;)   /* children have higher numbers */
		if (t->idom[v] < n)
			t->retained[t->idom[v]] += t->retained[v];
	for (uint32_t v = 0; v < n; v++) {
		if (t->idom[v] < n)
			t->coff[t->idom[v] + 1]++;
		if (t->idom[v] == PL_DOM_SUPER)
			t->rt.reachable_bytes += t->retained[v];
	}
	for (uint32_t v = 0; v < n; v++)
		t->coff[v + 1] += t->coff[v];
	uint32_t fill[TN + 1];
	memcpy(fill, t->coff, sizeof(fill));
	for (uint32_t v = 0; v < n; v++)
		if (t->idom[v] < n)
			t->child[fill[t->idom[v]]++] = v;
	/* the definition: an instance counts unless an ancestor is of its type */
	for (uint32_t v = 0; v < n; v++) {
		if (t->idom[v] == UINT32_MAX)
			continue;
		bool inner = false;
		for (uint32_t a = t->idom[v]; a < n && !inner; a = t->idom[a])
			inner = t->objs[a].type == t->objs[v].type;
		if (!inner)
			t->want[t->objs[v].type] += t->retained[v];
	}
	t->h.objs = t->objs;
	t->h.nobjs = n;
	t->h.ntypes = ntypes;
	t->g.h = &t->h;
	t->g.n = n;
	t->rt.idom = t->idom;
	t->rt.retained = t->retained;
	t->rt.coff = t->coff;
	t->rt.child = t->child;
}

static void *types_run(void *arg)
{
	return pl_retained_types_run(arg);
}

/* The retained bytes per type, alone and on two threads (the dominator tree
 * cut into units, some of its nodes opened), against the definition. */
START_TEST(types_retained)
{
	static struct ttree t;
	for (unsigned seed = 1; seed <= 300; seed++) {
		make_tree(&t, seed);
		for (int threads = 1; threads <= 2; threads++) {
			t.rt.type_retained = NULL;
			if (threads == 1) {
				ck_assert(pl_retained_types(&t.g, &t.rt) == NULL);
			} else {
				struct pl_types_work *w = pl_retained_types_new(&t.g, &t.rt);
				ck_assert(w != NULL);
				pthread_t tid;
				void *err;
				ck_assert_int_eq(pthread_create(&tid, NULL, types_run, w), 0);
				ck_assert(pl_retained_types_help(w) == NULL);
				pthread_join(tid, &err);
				ck_assert(err == NULL);
				ck_assert(pl_retained_types_done(w) == NULL);
				pl_retained_types_free(w);
			}
			for (uint32_t k = 0; k < t.h.ntypes; k++)
				ck_assert_msg(t.rt.type_retained[k] == t.want[k],
					      "seed %u, %d thread(s): type %u retains %llu, want %llu", seed,
					      threads, k, (unsigned long long)t.rt.type_retained[k],
					      (unsigned long long)t.want[k]);
			free(t.rt.type_retained);
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dominators");
	TCase *tc = tcase_create("dominators");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, random_graphs);
	tcase_add_test(tc, more_roots);
	tcase_add_test(tc, idle_thread);
	tcase_add_test(tc, types_retained);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
