/* What the live process's gc said, as recorded by testdata/oracle.py after
 * the core was taken (formats: testdata/README.md), and the discovery of the
 * CPython builds and scenarios the integration tests run over. */
#ifndef PYLEAK_TEST_ORACLE_H
#define PYLEAK_TEST_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coredump/addrmap.h"

struct oracle_obj {
	uint64_t addr;
	int gen;                 /* 0, 1, 2; 3 = permanent */
	int64_t refcnt;
	bool immortal;
	char *type;
	uint64_t *refs;
	size_t nrefs;
};

struct oracle_untracked {    /* untracked.tsv */
	uint64_t addr;
	char *type;
	uint64_t from;           /* the object it was first reached from */
};

struct oracle {
	struct oracle_obj *objs;
	size_t n;
	struct pl_addrmap index;
	char **meta;             /* "key=value" lines */
	size_t nmeta;
	uint64_t *garbage;
	size_t ngarbage;
	struct pl_addrmap garbage_index;
	/* the untracked objects gens 0-2 reach; has_untracked false when the
	 * core's oracle predates untracked.tsv */
	struct oracle_untracked *untracked;
	size_t nuntracked;
	bool has_untracked;
	struct pl_addrmap untracked_index;
};

int oracle_load(struct oracle *o, const char *dir);
void oracle_free(struct oracle *o);
const char *oracle_meta(const struct oracle *o, const char *key);
/* The n-th value of a repeated key (thread=...), or NULL. */
const char *oracle_meta_nth(const struct oracle *o, const char *key, size_t n);

struct target {
	char name[64];
	char python[512];
};

struct scenario {
	char name[64];
	char path[1024];
};

/* Fill from tests/pythons.sh and the .py files of testdata/scenarios. Returns counts. */
size_t discover_targets(struct target *t, size_t max);
size_t discover_scenarios(struct scenario *s, size_t max);
/* Make (or reuse) the core and oracle of a scenario under a python, in
 * <builddir>/tests/cores/<target>/<scenario>; returns the directory or NULL. */
const char *ensure_core(const struct target *t, const struct scenario *s, bool kernel,
			char *dir, size_t dirlen);
const char *test_srcdir(void);

#endif
