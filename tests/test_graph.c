/* Integration: for every scenario under every CPython on the machine,
 *  - the referents of every gc object, in order, equal gc.get_referents()
 *    of the live process, wherever our traversal is exact (types with an
 *    emulated tp_traverse); objects whose traverse is unknown (C extension
 *    types) are counted and reported, not compared;
 *  - the objects our gc arithmetic finds unreachable are exactly those the
 *    live gc.collect() put in gc.garbage under DEBUG_SAVEALL (in a fork taken
 *    after the core);
 *  - the graph the commands build (the census staged into the build, the
 *    gc lists walked by two threads) is node for node and edge for edge
 *    the one built step after step with the lists walked one node at a
 *    time. */
#include "config.h"

#include <check.h>

#include "check_run.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coredump/objects.h"
#include "coredump/program.h"
#include "coredump/traverse.h"
#include "graph/analysis.h"
#include "graph/graph.h"
#include "graph/retained.h"
#include "graph/roots.h"
#include "oracle.h"

#include <regex.h>

static struct target targets[16];
static size_t ntargets;
static struct scenario scenarios[64];
static size_t nscenarios;

/* Two builds of one core's graph are the same: nodes, census totals, edges. */
static void same_graph(const struct pl_graph *a, const struct pl_graph *b)
{
	const struct pl_heap *ha = a->h, *hb = b->h;
	ck_assert_uint_eq(a->n, b->n);
	ck_assert_uint_eq(a->ntracked, b->ntracked);
	ck_assert_uint_eq(a->nedges, b->nedges);
	ck_assert_uint_eq(ha->total_bytes, hb->total_bytes);
	ck_assert(memcmp(ha->gen_objects, hb->gen_objects, sizeof(ha->gen_objects)) == 0);
	for (uint32_t i = 0; i < a->n; i++) {
		const struct pl_obj *x = &ha->objs[i], *y = &hb->objs[i];
		const struct pl_type *tx = &ha->types[x->type], *ty = &hb->types[y->type];
		ck_assert_msg(x->addr == y->addr && x->size == y->size && x->refcnt == y->refcnt &&
			      x->gen == y->gen && x->flags == y->flags && tx->addr == ty->addr &&
			      tx->count == ty->count && tx->bytes == ty->bytes,
			      "node %u differs: 0x%" PRIx64 " %s size %u refcnt %u gen %u flags %#x, type "
			      "count %" PRIu64 " bytes %" PRIu64 "; vs 0x%" PRIx64 " %s size %u refcnt %u gen %u "
			      "flags %#x, type count %" PRIu64 " bytes %" PRIu64, i, x->addr, tx->name,
			      x->size, x->refcnt, x->gen, x->flags, tx->count, tx->bytes, y->addr, ty->name,
			      y->size, y->refcnt, y->gen, y->flags, ty->count, ty->bytes);
		ck_assert_uint_eq(a->off[i + 1], b->off[i + 1]);
	}
	ck_assert(memcmp(a->dst, b->dst, a->nedges * sizeof(*a->dst)) == 0);
}

/* Are v's edges ones gc.get_referents gives? Not when they are inferred. */
static bool followed(const struct pl_graph *g, uint32_t v)
{
	return pl_trav_of(g, v) == PL_TRAV_EXACT;
}

/* Did gc reach u, first, through an object whose edges the graph does not
 * follow? (Up u's chain of first referrers, to the first object that is a
 * node; that chain only goes back to objects found earlier.) */
static bool from_inferred(const struct oracle *o, const struct pl_graph *g,
			  const struct oracle_untracked *u)
{
	for (size_t steps = 0; steps <= o->nuntracked; steps++) {
		uint32_t from = pl_graph_node(g, u->from);
		if (from != PL_NONE)
			return !followed(g, from);
		uint32_t k = pl_addrmap_get(&o->untracked_index, u->from);
		if (k == UINT32_MAX)
			return false;
		u = &o->untracked[k];
	}
	return false;
}

/* The untracked nodes (str, int, code, untracked tuples and dicts ...) that
 * the gc objects of generations 0-2 reach, directly or through other
 * untracked nodes, against untracked.tsv: the same objects, of the same
 * types. Edges are followed from exactly traversed nodes only; an object
 * gc reached first from a node whose edges are inferred is excused. */
static void same_untracked(const struct target *t, const struct scenario *s, const struct oracle *o,
			   const struct pl_graph *g)
{
	ck_assert_msg(o->has_untracked, "%s %s: the oracle has no untracked.tsv", t->name, s->name);
	const struct pl_heap *h = g->h;
	uint8_t *seen = calloc(g->n, 1);
	uint32_t *stack = malloc(((size_t)g->n + 1) * sizeof(*stack));
	ck_assert(seen && stack);
	size_t sp = 0, ours = 0, extra = 0, missed = 0, excused = 0, wrong_type = 0;
	for (uint32_t i = 0; i < g->ntracked; i++)
		if (h->objs[i].gen <= 2)
			stack[sp++] = i;
	while (sp) {
		uint32_t v = stack[--sp];
		if (!followed(g, v))
			continue;
		for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
			uint32_t d = g->dst[e];
			if (d < g->ntracked || seen[d])
				continue;
			seen[d] = 1;
			stack[sp++] = d;
			ours++;
			const struct pl_obj *ob = &h->objs[d];
			uint32_t k = pl_addrmap_get(&o->untracked_index, ob->addr);
			if (k == UINT32_MAX) {
				if (extra++ < 4)
					fprintf(stderr, "  we reach untracked 0x%" PRIx64 " (%s) from 0x%" PRIx64
						" (%s); gc does not\n", ob->addr, h->types[ob->type].name,
						h->objs[v].addr, h->types[h->objs[v].type].name);
			} else if (strcmp(o->untracked[k].type, h->types[ob->type].name) != 0 &&
				   wrong_type++ < 4) {
				fprintf(stderr, "  untracked 0x%" PRIx64 " is a %s, we say %s\n", ob->addr,
					o->untracked[k].type, h->types[ob->type].name);
			}
		}
	}
	for (size_t k = 0; k < o->nuntracked; k++) {
		const struct oracle_untracked *u = &o->untracked[k];
		uint32_t id = pl_graph_node(g, u->addr);
		if (id != PL_NONE && id >= g->ntracked && seen[id])
			continue;
		if (from_inferred(o, g, u)) {
			excused++;
			continue;
		}
		uint32_t from = pl_graph_node(g, u->from);
		if (missed++ < 4)
			fprintf(stderr, "  gc reaches untracked 0x%" PRIx64 " (%s) from 0x%" PRIx64
				" (%s); we do not\n", u->addr, u->type, u->from,
				from == PL_NONE ? "not a node" : h->types[h->objs[from].type].name);
	}
	/* the per-type totals of the untracked nodes the reports print */
	uint64_t *count = calloc(h->ntypes + 1, sizeof(*count)), *bytes = calloc(h->ntypes + 1, sizeof(*bytes));
	ck_assert(count && bytes);
	for (uint32_t i = g->ntracked; i < g->n; i++) {
		count[h->objs[i].type]++;
		bytes[h->objs[i].type] += h->objs[i].size;
	}
	for (size_t k = 0; k < h->ntypes; k++)
		ck_assert_msg(count[k] == h->types[k].untracked_count && bytes[k] == h->types[k].untracked_bytes,
			      "%s %s: %s has %" PRIu64 " untracked nodes of %" PRIu64 " bytes, its totals say %"
			      PRIu64 " and %" PRIu64, t->name, s->name, h->types[k].name, count[k], bytes[k],
			      h->types[k].untracked_count, h->types[k].untracked_bytes);
	free(count);
	free(bytes);
	fprintf(stderr, "%s %s: %zu untracked objects reached vs gc's %zu (%zu extra, %zu missed, "
		"%zu excused: reached from inferred edges, %zu of another type)\n", t->name, s->name,
		ours, o->nuntracked, extra, missed, excused, wrong_type);
	free(seen);
	free(stack);
	ck_assert_msg(extra == 0 && missed == 0 && wrong_type == 0,
		      "%s %s: untracked objects differ from gc's (%zu extra, %zu missed, %zu of another "
		      "type)", t->name, s->name, extra, missed, wrong_type);
}

START_TEST(referents_and_garbage)
{
	const struct target *t = &targets[_i / nscenarios];
	const struct scenario *s = &scenarios[_i % nscenarios];
	char dir[1200], core[1300];
	ck_assert_msg(ensure_core(t, s, false, dir, sizeof(dir)) != NULL, "no core for %s under %s",
		      s->name, t->name);
	struct oracle o;
	ck_assert_msg(oracle_load(&o, dir) == 0, "no oracle in %s", dir);
	snprintf(core, sizeof(core), "%s/core", dir);
	struct pl_program *p = NULL;
	struct pl_error *err = pl_program_open(core, &(struct pl_options){ 0 }, &p);
	ck_assert_msg(!err, "%s", err ? err->msg : "");
	/* the graph as the commands build it: the census staged, the lists
	 * walked by two threads */
	struct pl_heap h;
	struct pl_graph g;
	size_t staged;
	setenv("PYLEAK_THREADS", "2", 1);
	ck_assert_msg(!(err = pl_census_stage(p, &h, &staged)), "%s", err ? err->msg : "");
	ck_assert_msg(!(err = pl_graph_build_staged(&h, &g, staged)), "%s", err ? err->msg : "");
	/* the same as the census and the build one after the other, the
	 * lists walked one node at a time */
	struct pl_heap h1;
	struct pl_graph g1;
	setenv("PYLEAK_THREADS", "1", 1);
	ck_assert_msg(!(err = pl_census(p, &h1)), "%s", err ? err->msg : "");
	ck_assert_msg(!(err = pl_graph_build(&h1, &g1)), "%s", err ? err->msg : "");
	unsetenv("PYLEAK_THREADS");
	ck_assert_uint_eq(staged, g.ntracked);
	same_graph(&g1, &g);
	pl_graph_release(&g1);
	pl_heap_release(&h1);
	ck_assert_msg(!(err = pl_graph_gc(&g)), "%s", err ? err->msg : "");

	size_t exact = 0, inferred = 0, bad = 0, inferred_match = 0;
	for (size_t i = 0; i < o.n; i++) {
		const struct oracle_obj *ob = &o.objs[i];
		uint32_t id = pl_graph_node(&g, ob->addr);
		if (id == PL_NONE || id >= g.ntracked)
			continue;   /* the census test reports set differences */
		size_t n = g.off[id + 1] - g.off[id];
		bool same = n == ob->nrefs;
		for (size_t k = 0; same && k < n; k++)
			same = h.objs[g.dst[g.off[id] + k]].addr == ob->refs[k];
		if (pl_trav_of(&g, id) != PL_TRAV_EXACT) {
			inferred++;
			inferred_match += same;
			continue;
		}
		exact++;
		if (same)
			continue;
		if (bad++ < 6) {
			const struct pl_type *ty = &h.types[h.objs[id].type];
			const char *tn = pl_traverse_name(&h, ty->traverse);
			fprintf(stderr, "  referents of 0x%" PRIx64 " (%s, %s): ours %zu [", ob->addr, ty->name,
				tn ? tn : "?", n);
			for (size_t k = 0; k < n && k < 8; k++)
				fprintf(stderr, " %s", h.types[h.objs[g.dst[g.off[id] + k]].type].name);
			fprintf(stderr, " ], gc's %zu [", ob->nrefs);
			for (size_t k = 0; k < ob->nrefs && k < 8; k++) {
				uint32_t r = pl_graph_node(&g, ob->refs[k]);
				fprintf(stderr, " %s", r == PL_NONE ? "(unknown)" : h.types[h.objs[r].type].name);
			}
			fprintf(stderr, " ]\n");
		}
	}
	/* unreachable vs garbage.txt */
	size_t missed = 0, spurious = 0;
	for (size_t k = 0; k < o.ngarbage; k++) {
		uint32_t id = pl_graph_node(&g, o.garbage[k]);
		if (id == PL_NONE || !pl_unreachable(&g, id)) {
			if (missed++ < 4)
				fprintf(stderr, "  gc frees 0x%" PRIx64 " (%s), we say reachable (ext %" PRId32 ")\n",
					o.garbage[k], id == PL_NONE ? "?" : h.types[h.objs[id].type].name,
					id == PL_NONE ? 0 : g.ext[id]);
		}
	}
	for (uint32_t i = 0; i < g.n; i++)
		if (pl_unreachable(&g, i) && pl_addrmap_get(&o.garbage_index, h.objs[i].addr) == UINT32_MAX &&
		    spurious++ < 4)
			fprintf(stderr, "  we say 0x%" PRIx64 " (%s) is unreachable, gc keeps it\n",
				h.objs[i].addr, h.types[h.objs[i].type].name);
	fprintf(stderr, "%s %s: %u nodes, %" PRIu64 " edges, %zu exact (%zu differ), %zu inferred "
		"(%zu happen to match), %u unreachable vs gc's %zu (%zu missed, %zu spurious), "
		"%u negative ext, %" PRIu64 " wild\n", t->name, s->name, g.n, g.nedges, exact, bad,
		inferred, inferred_match, g.nunreachable, o.ngarbage, missed, spurious, g.nnegative, g.wild);
	ck_assert_msg(bad == 0, "%s %s: %zu objects whose referents differ from gc.get_referents",
		      t->name, s->name, bad);
	same_untracked(t, s, &o, &g);
	ck_assert_msg(missed == 0 && spurious == 0, "%s %s: unreachable set differs (%zu missed, %zu spurious)",
		      t->name, s->name, missed, spurious);
	pl_graph_release(&g);
	pl_heap_release(&h);
	pl_program_free(p);
	oracle_free(&o);
}
END_TEST

/* Why is it alive: for each leak pattern (shared/leak-patterns.md, the
 * scenarios' "Expect:" blocks), some object of the leaked type must have a
 * shortest chain from a root that reads as the documented Python path. */
static const struct {
	const char *scenario, *type, *path;
} chains[] = {
	{ "cache_growth", "__main__.Request", "^__main__\\._cache\\[[0-9]+\\]$" },
	{ "class_registry", "__main__.Plugin", "^__main__\\.Plugin\\.instances\\[[0-9]+\\]$" },
	{ "closure_capture", "__main__.Blob", "^__main__\\.HANDLE\\.<closure cache>\\[[0-9]+\\]$" },
	{ "conn_pool", "__main__.Connection", "^__main__\\.POOL\\.in_use\\[[0-9]+\\]$" },
	{ "listeners", "__main__.Handler", "^__main__\\.BUS\\.listeners\\[[0-9]+\\]\\.__self__$" },
	{ "demo_leak", "__main__.Handler", "^__main__\\.BUS\\.listeners\\[[0-9]+\\]\\.__self__$" },
	{ "lru_unbounded", "__main__.Page", "^__main__\\.render\\.<lru_cache>\\['/item/[0-9]+'\\]$" },
	{ "thread_local", "__main__.Record",
	  "^<thread worker-1> worker\\(\\) local local_data\\[[0-9]+\\]$" },
	{ "saved_exception", "__main__.Row",
	  "^__main__\\.LAST_ERROR\\.__traceback__(\\.tb_next)*\\.tb_frame local rows\\[[0-9]+\\]$" },
	{ "saveall", "__main__.Temp", "^gc\\.garbage\\[[0-9]+\\]$" },
	{ "suspended", "__main__.Item", "^__main__\\.GEN(\\.gi_frame)? local buf\\[[0-9]+\\]$" },
	{ "suspended", "__main__.Item", "^__main__\\.TASK\\.<task_coro> local rows\\[[0-9]+\\]$" },
};
#define NCHAINS (sizeof(chains) / sizeof(chains[0]))

/* A scenario's core under a build, read up to its roots; NULL (with a SKIP
 * line) when the scenario is not among those selected. */
struct loaded {
	struct pl_program *p;
	struct pl_analysis a;
};

static struct loaded *load_share(const struct target *t, const char *name, const char *what,
				 unsigned steps, double share)
{
	const struct scenario *s = NULL;
	for (size_t i = 0; i < nscenarios && !s; i++)
		if (!strcmp(scenarios[i].name, name))
			s = &scenarios[i];
	if (!s) {
		fprintf(stderr, "SKIP %s %s: scenario not selected\n", what, name);
		return NULL;
	}
	char dir[1200], core[1300];
	ck_assert_msg(ensure_core(t, s, false, dir, sizeof(dir)) != NULL, "no core");
	snprintf(core, sizeof(core), "%s/core", dir);
	struct loaded *l = calloc(1, sizeof(*l));
	ck_assert(l != NULL);
	struct pl_error *err = pl_program_open(core, &(struct pl_options){ 0 }, &l->p);
	ck_assert_msg(!err, "%s", err ? err->msg : "");
	err = pl_analyse(l->p, steps, share, &l->a);
	ck_assert_msg(!err, "%s", err ? err->msg : "");
	return l;
}

static struct loaded *load(const struct target *t, const char *name, const char *what,
			   unsigned steps)
{
	return load_share(t, name, what, steps, 0.10);   /* the report's default share */
}

static void unload(struct loaded *l)
{
	pl_analysis_release(&l->a);
	pl_program_free(l->p);
	free(l);
}

START_TEST(chain_paths)
{
	const struct target *t = &targets[_i / NCHAINS];
	size_t k = _i % NCHAINS;
	struct loaded *l = load(t, chains[k].scenario, "chain", PL_AN_ROOTS);
	if (!l)
		return;
	struct pl_heap *h = &l->a.h;
	struct pl_graph *g = &l->a.g;
	regex_t re;
	ck_assert_int_eq(regcomp(&re, chains[k].path, REG_EXTENDED | REG_NOSUB), 0);
	size_t objects = 0, matched = 0;
	char path[4096], sample[4096] = "";
	for (uint32_t i = 0; i < g->n; i++) {
		if (strcmp(h->types[h->objs[i].type].name, chains[k].type))
			continue;
		objects++;
		pl_roots_path(g, &l->a.roots, i, path, sizeof(path));
		if (regexec(&re, path, 0, NULL, 0) == 0)
			matched++;
		else if (!sample[0])
			snprintf(sample, sizeof(sample), "%s", path);
	}
	fprintf(stderr, "%s %s %s: %zu of %zu objects have a chain like %s%s%s\n", t->name,
		chains[k].scenario, chains[k].type, matched, objects, chains[k].path,
		sample[0] ? "; e.g. not: " : "", sample);
	ck_assert_msg(matched > 0, "%s %s: no %s reached as %s", t->name, chains[k].scenario,
		      chains[k].type, chains[k].path);
	regfree(&re);
	unload(l);
}
END_TEST

/* Leak suspects with the report's default threshold (10% of the reachable
 * heap): each leak below must be found at its documented path, holding the
 * documented type; the negative controls (weak references, a bounded cache,
 * a heap of ordinary stdlib state) must produce none. Three scenarios leak
 * less than 10% of a small interpreter's heap (about 150 KiB of 2 MiB):
 * they are checked at the --min-share they need, given here. */
static const struct {
	const char *scenario, *path, *items;
	double share;
} suspects[] = {
	{ "cache_growth", "^__main__\\._cache$", "__main__.Request", 0.10 },
	{ "closure_capture", "^__main__\\.CALLBACKS$", "builtins.function", 0.10 },
	{ "demo_leak", "^__main__\\.BUS\\.listeners$", "__main__.Handler", 0.10 },
	{ "listeners", "^__main__\\.BUS\\.listeners$", "__main__.Handler", 0.10 },
	{ "conn_pool", "^__main__\\.POOL\\.in_use$", "__main__.Connection", 0.10 },
	{ "class_registry", "^__main__\\.Plugin\\.instances$", "__main__.Plugin", 0.04 },
	{ "lru_unbounded", "^__main__\\.render\\.<lru_cache>$", "__main__.Page", 0.10 },
	{ "saved_exception", "^__main__\\.LAST_ERROR\\.__traceback__(\\.tb_next)*\\.tb_frame local rows$",
	  "__main__.Row", 0.10 },
	{ "thread_local", "^<thread worker-1> worker\\(\\) local local_data$", "__main__.Record", 0.10 },
	{ "suspended", "^__main__\\.GEN local buf$", "__main__.Item", 0.015 },
	{ "suspended", "^__main__\\.TASK\\.<task_coro> local rows$", "__main__.Item", 0.015 },
	{ "weakref_fixed", NULL, NULL, 0.10 },
	{ "bounded_cache", NULL, NULL, 0.10 },
	{ "stdlib_mix", NULL, NULL, 0.10 },
};
#define NSUSPECTS (sizeof(suspects) / sizeof(suspects[0]))

START_TEST(leak_suspects)
{
	const struct target *t = &targets[_i / NSUSPECTS];
	size_t k = _i % NSUSPECTS;
	const char *sname = suspects[k].scenario;
	struct loaded *l = load_share(t, sname, "suspects", PL_AN_SUSPECTS, suspects[k].share);
	if (!l)
		return;
	const struct pl_heap *h = &l->a.h;
	const struct pl_suspect *sus = l->a.suspects;
	size_t n = l->a.nsuspects;
	char path[4096];
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		pl_roots_path(&l->a.g, &l->a.roots, sus[i].node, path, sizeof(path));
		fprintf(stderr, "%s %s: suspect %s retains %llu, %llu x %s\n", t->name, sname, path,
			(unsigned long long)sus[i].retained, (unsigned long long)sus[i].part_count,
			h->types[sus[i].part_type].name);
		if (suspects[k].path) {
			regex_t re;
			ck_assert_int_eq(regcomp(&re, suspects[k].path, REG_EXTENDED | REG_NOSUB), 0);
			if (regexec(&re, path, 0, NULL, 0) == 0 &&
			    !strcmp(h->types[sus[i].part_type].name, suspects[k].items))
				found = true;
			regfree(&re);
		}
	}
	if (suspects[k].path)
		ck_assert_msg(found, "%s %s: no suspect at %s holding %s", t->name, sname,
			      suspects[k].path, suspects[k].items);
	else
		ck_assert_msg(n == 0, "%s %s: a negative control produced %zu suspects", t->name,
			      sname, n);
	unload(l);
}
END_TEST

int main(void)
{
	ntargets = discover_targets(targets, 16);
	nscenarios = discover_scenarios(scenarios, 64);
	if (!ntargets || !nscenarios) {
		fprintf(stderr, "FAIL: no CPython build or no scenario found\n");
		return 1;
	}
	Suite *su = suite_create("graph");
	TCase *tc = tcase_create("graph");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, referents_and_garbage, 0, (int)(ntargets * nscenarios));
	tcase_add_loop_test(tc, chain_paths, 0, (int)(ntargets * NCHAINS));
	tcase_add_loop_test(tc, leak_suspects, 0, (int)(ntargets * NSUSPECTS));
	suite_add_tcase(su, tc);
	return run_suite(su);
}
