/* Integration: for every scenario under every CPython on the machine, the
 * census of a core must equal what that process's own gc reported right
 * after the core was taken (gc.get_objects per generation, type names,
 * refcounts, gc state, threads).
 *
 * Allowance: the scenario blocks in os.read() while the core is taken and
 * records gc.get_objects() as the first thing after the read returns, in the
 * same frame, so no tracked object is born or freed in between: object sets,
 * generations and types must match exactly. Refcounts may differ on a few
 * objects that the blocked call holds on its value stack at core time and
 * releases when it returns (the os.read function object and the like):
 * at most REFCNT_ALLOWANCE. In kernel mode the core is of a fork child, after
 * the at-fork hooks ran (threading and friends reset their locks and thread
 * records): up to FORK_ALLOWANCE objects may differ there. */
#include "config.h"

#include <check.h>

#include "check_run.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coredump/objects.h"
#include "coredump/program.h"
#include "oracle.h"

#define REFCNT_ALLOWANCE 4
#define FORK_ALLOWANCE 64

static struct target targets[16];
static size_t ntargets;
static struct scenario scenarios[64];
static size_t nscenarios;

static void compare(const struct target *t, const struct scenario *s, bool kernel)
{
	char dir[1200];
	ck_assert_msg(ensure_core(t, s, kernel, dir, sizeof(dir)) != NULL,
		      "could not make a core of %s under %s (see its scenario.log)", s->name, t->name);
	struct oracle o;
	ck_assert_msg(oracle_load(&o, dir) == 0, "no oracle in %s", dir);
	char core[1300];
	snprintf(core, sizeof(core), "%s/core", dir);

	struct pl_program *p = NULL;
	struct pl_error *err = pl_program_open(core, &(struct pl_options){ 0 }, &p);
	ck_assert_msg(!err, "%s: %s", core, err ? err->msg : "");
	struct pl_heap h;
	/* the lists walked in segments by two threads, as on any machine with
	 * two CPUs or more */
	setenv("PYLEAK_THREADS", "2", 1);
	err = pl_census(p, &h);
	unsetenv("PYLEAK_THREADS");
	ck_assert_msg(!err, "%s: census: %s", core, err ? err->msg : "");
	ck_assert_msg(!h.damaged, "%s: gc lists reported damaged", core);
	ck_assert_msg(h.segmented, "%s: the segmented walk fell back to one node at a time", core);
	/* the same census as the walk one node at a time */
	struct pl_heap h1 = { 0 };
	err = pl_census_one_by_one(p, &h1);
	ck_assert_msg(!err, "%s: census one by one: %s", core, err ? err->msg : "");
	ck_assert_msg(!h1.segmented, "%s: the one-by-one census says it was segmented", core);
	ck_assert_uint_eq(h1.nobjs, h.nobjs);
	ck_assert_uint_eq(h1.total_bytes, h.total_bytes);
	size_t differ = 0;
	for (size_t i = 0; i < h.nobjs; i++) {
		const struct pl_obj *a = &h.objs[i], *b = &h1.objs[i];
		if ((a->addr != b->addr || a->gen != b->gen || a->size != b->size || a->refcnt != b->refcnt ||
		     a->flags != b->flags || strcmp(h.types[a->type].name, h1.types[b->type].name)) &&
		    differ++ < 5)
			fprintf(stderr, "  object %zu: segmented 0x%" PRIx64 " gen %u, one by one 0x%" PRIx64
				" gen %u\n", i, a->addr, a->gen, b->addr, b->gen);
	}
	ck_assert_msg(differ == 0, "%s: %zu objects differ between the segmented and one-by-one census",
		      core, differ);
	for (int g = 0; g < 5; g++)
		ck_assert_uint_eq(h1.gen_objects[g], h.gen_objects[g]);
	pl_heap_release(&h1);
	/* an intact heap has no implausible length or capacity (a size read
	 * from the wrong field looks like one) */
	ck_assert_msg(h.bad_sizes == 0, "%s: %llu objects with an implausible size", core,
		      (unsigned long long)h.bad_sizes);
	/* ids follow addresses */
	size_t unordered = 0;
	for (size_t i = 1; i < h.nobjs; i++)
		unordered += h.objs[i - 1].addr >= h.objs[i].addr;
	ck_assert_msg(unordered == 0, "%s: %zu objects out of address order", core, unordered);

	/* version */
	ck_assert_str_eq(p->rt.version, oracle_meta(&o, "version"));

	size_t missing = 0, extra = 0, badtype = 0, badgen = 0, badrc = 0, compared = 0;
	for (size_t i = 0; i < o.n; i++) {
		const struct oracle_obj *ob = &o.objs[i];
		uint32_t k = pl_heap_find(&h, ob->addr);
		if (k == UINT32_MAX) {
			if (missing++ < 5)
				fprintf(stderr, "  missing 0x%" PRIx64 " %s gen %d\n", ob->addr, ob->type, ob->gen);
			continue;
		}
		const struct pl_obj *po = &h.objs[k];
		const char *name = h.types[po->type].name;
		compared++;
		if (strcmp(name, ob->type) != 0 && badtype++ < 5)
			fprintf(stderr, "  type of 0x%" PRIx64 ": ours %s, gc's %s\n", ob->addr, name, ob->type);
		if (po->gen != ob->gen && badgen++ < 5)
			fprintf(stderr, "  gen of 0x%" PRIx64 " (%s): ours %u, gc's %d\n", ob->addr, name,
				po->gen, ob->gen);
		bool immortal = (po->flags & PL_OF_IMMORTAL) != 0;
		if ((immortal != ob->immortal || (!immortal && (int64_t)po->refcnt != ob->refcnt)) && badrc++ < 8)
			fprintf(stderr, "  refcnt of 0x%" PRIx64 " (%s): ours %" PRIu32 "%s, gc's %" PRId64 "\n",
				ob->addr, name, po->refcnt, immortal ? " (immortal)" : "", ob->refcnt);
	}
	bool have_permanent = false;
	for (size_t i = 0; i < o.n && !have_permanent; i++)
		have_permanent = o.objs[i].gen == 3;
	for (size_t i = 0; i < h.nobjs; i++) {
		if (h.objs[i].gen == PL_GEN_PERMANENT && !have_permanent)
			continue;   /* the oracle did not list the permanent generation */
		if (pl_addrmap_get(&o.index, h.objs[i].addr) == UINT32_MAX && extra++ < 5)
			fprintf(stderr, "  extra 0x%" PRIx64 " %s gen %u\n", h.objs[i].addr,
				h.types[h.objs[i].type].name, h.objs[i].gen);
	}
	const char *freeze = oracle_meta(&o, "gc_freeze_count");
	if (freeze)
		ck_assert_msg(h.gen_objects[3] == strtoull(freeze, NULL, 10),
			      "permanent generation: ours %" PRIu64 ", gc.get_freeze_count() %s",
			      h.gen_objects[3], freeze);

	fprintf(stderr, "%s %s%s: %zu objects, %zu compared, %zu missing, %zu extra, %zu wrong type, "
		"%zu wrong gen, %zu refcnt differ\n", t->name, s->name, kernel ? " (kernel core)" : "",
		h.nobjs, compared, missing, extra, badtype, badgen, badrc);
	size_t allow = kernel ? FORK_ALLOWANCE : 0;
	ck_assert_msg(missing <= allow && extra <= allow,
		      "%s %s: object sets differ (%zu missing, %zu extra)", t->name, s->name, missing, extra);
	/* in kernel mode the at-fork hooks free and reallocate a few objects,
	 * sometimes at the same address with another type */
	ck_assert_msg(badtype <= allow, "%s %s: %zu objects with a different type", t->name, s->name,
		      badtype);
	ck_assert_msg(badgen <= allow, "%s %s: %zu objects in another generation", t->name, s->name, badgen);
	ck_assert_msg(badrc <= (kernel ? FORK_ALLOWANCE : REFCNT_ALLOWANCE),
		      "%s %s: %zu refcounts differ", t->name, s->name, badrc);

	/* gc state */
	const struct pl_gcstate *gc = &p->rt.gc;
	ck_assert_int_eq(gc->enabled, atoi(oracle_meta(&o, "gc_enabled")));
	ck_assert_int_eq(gc->debug, atoi(oracle_meta(&o, "gc_debug")));
	char thr[64];
	snprintf(thr, sizeof(thr), "%d,%d,%d", gc->gen[0].threshold, gc->gen[1].threshold,
		 gc->gen[2].threshold);
	ck_assert_str_eq(thr, oracle_meta(&o, "gc_threshold"));
	if (!kernel) {
		ck_assert_int_eq(gc->garbage_len, atoll(oracle_meta(&o, "gc_garbage_len")));
		/* threads: same count, and every native id the oracle saw is ours */
		ck_assert_uint_eq(p->rt.nthreads, strtoull(oracle_meta(&o, "threads"), NULL, 10));
		const char *tl;
		for (size_t n = 0; (tl = oracle_meta_nth(&o, "thread", n)); n++) {
			const char *c1 = strrchr(tl, ',');
			const char *c0 = c1;
			while (c0 > tl && c0[-1] != ',')
				c0--;
			uint64_t native = strtoull(c0, NULL, 10);
			bool found = false;
			for (size_t i = 0; i < p->rt.nthreads; i++)
				found |= p->rt.threads[i].native_id == native;
			ck_assert_msg(found, "thread %s not found", tl);
		}
	}
	pl_heap_release(&h);
	pl_program_free(p);
	oracle_free(&o);
}

START_TEST(census_gcore)
{
	compare(&targets[_i / nscenarios], &scenarios[_i % nscenarios], false);
}
END_TEST

/* Kernel-written cores do not hold read-only file mappings (.rodata): the
 * type names of static types then come from the files on disk. */
START_TEST(census_kernel)
{
	static const char *const picks[] = { "cache_growth", "cycles" };
	const struct scenario *s = NULL;
	for (size_t i = 0; i < nscenarios && !s; i++)
		if (!strcmp(scenarios[i].name, picks[_i % 2]))
			s = &scenarios[i];
	if (!s) {
		fprintf(stderr, "SKIP kernel core test: scenario %s not found\n", picks[_i % 2]);
		return;
	}
	compare(&targets[_i / 2], s, true);
}
END_TEST

int main(void)
{
	ntargets = discover_targets(targets, 16);
	nscenarios = discover_scenarios(scenarios, 64);
	fprintf(stderr, "integration: %zu CPython builds, %zu scenarios\n", ntargets, nscenarios);
	Suite *su = suite_create("census");
	TCase *tc = tcase_create("census");
	tcase_set_timeout(tc, 600);
	if (ntargets && nscenarios) {
		tcase_add_loop_test(tc, census_gcore, 0, (int)(ntargets * nscenarios));
		tcase_add_loop_test(tc, census_kernel, 0, (int)(ntargets * 2));
	} else {
		fprintf(stderr, "FAIL: no CPython build or no scenario found: nothing to compare\n");
		return 1;
	}
	suite_add_tcase(su, tc);
	return run_suite(su);
}
