/* Integration: the thread stacks and generator states read from a core must
 * equal what the process itself reported after the core (stacks.txt, written
 * by testdata/oracle.py from sys._current_frames() and gc.get_objects()):
 * for every thread, its name and every frame innermost first (function,
 * file, line, the names of its bound locals and, for None/bool/int/short
 * str values, their repr); for every generator, coroutine and async
 * generator, its state, what it delegates to (gi_yieldfrom, cr_await) and
 * its frame. The oracle's own frames (oracle.py)
 * are left out on both sides. Every scenario, every CPython on the machine. */
#include "config.h"

#include <check.h>

#include "check_run.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coredump/frames.h"
#include "coredump/objects.h"
#include "coredump/program.h"
#include "oracle.h"

static struct target targets[16];
static size_t ntargets;
static struct scenario scenarios[64];
static size_t nscenarios;

#define MAXF 64

struct line {
	char *kind, *f[MAXF];
	size_t nf;
};

static size_t split(char *s, struct line *l)
{
	l->nf = 0;
	char *save = NULL;
	for (char *t = strtok_r(s, "\t\n", &save); t && l->nf < MAXF; t = strtok_r(NULL, "\t\n", &save))
		l->f[l->nf++] = t;
	l->kind = l->nf ? l->f[0] : "";
	return l->nf;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* Compare one of our frames with an oracle "frame" row (fields from f[1]:
 * function, file, line, locals...). */
static void check_frame(struct pl_heap *h, const struct pl_pyframe *fr, struct line *l,
			const char *where)
{
	char func[256], file[1024], msg[1600];
	pl_code_func(h, fr->code, func, sizeof(func));
	pl_code_file(h, fr->code, file, sizeof(file));
	snprintf(msg, sizeof(msg), "%s: frame %s (%s:%d)", where, func, file, fr->line);
	ck_assert_msg(l->nf >= 4, "%s: short oracle row", msg);
	ck_assert_msg(!strcmp(func, l->f[1]), "%s: oracle says function %s", msg, l->f[1]);
	ck_assert_msg(!strcmp(file, l->f[2]), "%s: oracle says file %s", msg, l->f[2]);
	ck_assert_msg(fr->line == atoi(l->f[3]), "%s: oracle says line %s", msg, l->f[3]);
	if (!pl_code_is_function(h, fr->code)) {
		ck_assert_msg(l->nf == 4, "%s: oracle has locals for a non-function frame", msg);
		return;
	}
	/* every bound local of ours is in the oracle row, with the same repr
	 * where the oracle gives one, and the counts agree */
	size_t ours = 0;
	for (int64_t i = 0; i < fr->nlocals; i++) {
		char name[256], repr[256];
		uint64_t v;
		if (pl_frame_local(h, fr, i, name, sizeof(name), &v) != 0 || !v)
			continue;
		ours++;
		size_t nl = strlen(name);
		bool found = false;
		for (size_t k = 4; k < l->nf && !found; k++) {
			if (strncmp(l->f[k], name, nl) || (l->f[k][nl] && l->f[k][nl] != '='))
				continue;
			found = true;
			if (l->f[k][nl] == '=')
				ck_assert_msg(!strcmp(pl_short_repr(h, v, repr, sizeof(repr)), l->f[k] + nl + 1),
					      "%s: local %s = %s, oracle says %s", msg, name, repr,
					      l->f[k] + nl + 1);
		}
		ck_assert_msg(found, "%s: local %s is not in the oracle's f_locals", msg, name);
	}
	ck_assert_msg(ours == l->nf - 4, "%s: %zu bound locals, the oracle has %zu", msg, ours,
		      l->nf - 4);
}

static int pythread_by_ident(const struct pl_program *p, uint64_t ident)
{
	for (size_t i = 0; i < p->rt.nthreads; i++)
		if (p->rt.threads[i].thread_id == ident)
			return (int)i;
	return -1;
}

/* Our frames of a thread, without the oracle's own. */
static int next_frame(struct pl_heap *h, struct pl_frame_iter *it, struct pl_pyframe *f)
{
	int rc;
	char file[1024];
	while ((rc = pl_frames_next(it, f)) == 1) {
		pl_code_file(h, f->code, file, sizeof(file));
		if (!ends_with(file, "/oracle.py"))
			break;
	}
	return rc;
}

static void compare(const struct target *t, const struct scenario *s)
{
	char dir[1200], path[1300], where[1500];
	ck_assert_msg(ensure_core(t, s, false, dir, sizeof(dir)) != NULL,
		      "could not make a core of %s under %s (see its scenario.log)", s->name, t->name);
	snprintf(path, sizeof(path), "%s/stacks.txt", dir);
	FILE *in = fopen(path, "r");
	ck_assert_msg(in != NULL, "no %s", path);
	snprintf(path, sizeof(path), "%s/core", dir);
	struct pl_program *p = NULL;
	struct pl_error *err = pl_program_open(path, &(struct pl_options){ 0 }, &p);
	ck_assert_msg(!err, "%s: %s", path, err ? err->msg : "");
	struct pl_heap h;
	err = pl_census(p, &h);
	ck_assert_msg(!err, "%s: census: %s", path, err ? err->msg : "");
	uint64_t active = pl_threading_active(&h);

	char *buf = NULL;
	size_t cap = 0, nthreads = 0, nframes = 0, ngens = 0, nyf = 0;
	struct pl_frame_iter it;
	bool in_thread = false;
	struct line l;
	while (getline(&buf, &cap, in) > 0) {
		split(buf, &l);
		if (!strcmp(l.kind, "thread") || !strcmp(l.kind, "gen")) {
			if (in_thread) {   /* the previous thread must have no more frames */
				struct pl_pyframe f;
				ck_assert_msg(next_frame(&h, &it, &f) == 0, "%s: more frames than the oracle's",
					      where);
			}
			in_thread = false;
		}
		if (!strcmp(l.kind, "thread")) {
			ck_assert(l.nf >= 2);
			uint64_t ident = strtoull(l.f[1], NULL, 10);
			int k = pythread_by_ident(p, ident);
			snprintf(where, sizeof(where), "%s/%s thread %s", t->name, s->name,
				 l.nf > 2 ? l.f[2] : "?");
			ck_assert_msg(k >= 0, "%s: no such thread in the core", where);
			char name[256];
			pl_thread_name(&h, active, ident, name, sizeof(name));
			ck_assert_msg(l.nf < 3 || !strcmp(name, l.f[2]), "%s: we name it %s", where, name);
			pl_frames_begin(&it, &h, p->rt.threads[k].top_frame);
			in_thread = true;
			nthreads++;
		} else if (!strcmp(l.kind, "frame")) {
			struct pl_pyframe f;
			ck_assert_msg(next_frame(&h, &it, &f) == 1, "%s: fewer frames than the oracle's "
				      "(missing %s %s:%s)", where, l.f[1], l.f[2], l.f[3]);
			l.f[0] = "frame";
			check_frame(&h, &f, &l, where);
			nframes++;
		} else if (!strcmp(l.kind, "gen")) {
			ck_assert(l.nf >= 6);
			uint64_t addr = strtoull(l.f[1], NULL, 16), frame;
			snprintf(where, sizeof(where), "%s/%s %s %s at %s", t->name, s->name, l.f[2], l.f[3], l.f[1]);
			ck_assert_msg(pl_heap_find(&h, addr) != UINT32_MAX, "%s: not in the census", where);
			enum pl_gen_state st = pl_gen_state(&h, addr, &frame);
			ck_assert_msg(!strcmp(pl_gen_state_name(st), l.f[4]), "%s: state %s, oracle says %s",
				      where, pl_gen_state_name(st), l.f[4]);
			uint64_t yf = pl_gen_yieldfrom(&h, addr);
			uint64_t want = strcmp(l.f[5], "-") ? strtoull(l.f[5], NULL, 16) : 0;
			ck_assert_msg(yf == want, "%s: delegates to 0x%" PRIx64 ", oracle says %s", where, yf,
				      l.f[5]);
			nyf += yf != 0;
			if (l.nf > 6) {   /* its frame: shift so that f[1] is the function */
				struct pl_pyframe f;
				ck_assert_msg(pl_frame_read(&h, frame, &f) == 0, "%s: frame unreadable", where);
				struct line fl = { "frame", { 0 }, 0 };
				for (size_t k = 5; k < l.nf; k++)
					fl.f[fl.nf++] = l.f[k];
				check_frame(&h, &f, &fl, where);
			}
			ngens++;
		}
	}
	if (in_thread) {
		struct pl_pyframe f;
		ck_assert_msg(next_frame(&h, &it, &f) == 0, "%s: more frames than the oracle's", where);
	}
	ck_assert_msg(nthreads == p->rt.nthreads, "%s/%s: %zu threads in the oracle, %zu in the core",
		      t->name, s->name, nthreads, p->rt.nthreads);
	ck_assert_msg(nframes > 0, "%s/%s: no frame compared", t->name, s->name);
	if (!strcmp(s->name, "thread_stacks") || !strcmp(s->name, "suspended")) {
		ck_assert_msg(ngens >= 2, "%s/%s: %zu generators in the oracle", t->name, s->name, ngens);
		ck_assert_msg(nyf >= 1, "%s/%s: no coroutine awaits anything", t->name, s->name);
	}
	free(buf);
	fclose(in);
	pl_heap_release(&h);
	pl_program_free(p);
}

START_TEST(stacks_gcore)
{
	compare(&targets[_i / nscenarios], &scenarios[_i % nscenarios]);
}
END_TEST

int main(void)
{
	ntargets = discover_targets(targets, 16);
	nscenarios = discover_scenarios(scenarios, 64);
	fprintf(stderr, "integration: %zu CPython builds, %zu scenarios\n", ntargets, nscenarios);
	if (!ntargets || !nscenarios) {
		fprintf(stderr, "FAIL: no CPython build or no scenario found: nothing to compare\n");
		return 1;
	}
	Suite *su = suite_create("stacks");
	TCase *tc = tcase_create("stacks");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, stacks_gcore, 0, (int)(ntargets * nscenarios));
	suite_add_tcase(su, tc);
	return run_suite(su);
}
