#include "config.h"
#include "oracle.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

const char *test_srcdir(void)
{
	const char *s = getenv("PYLEAK_SRCDIR");
	return s ? s : ".";
}

static uint64_t hex(const char *s)
{
	return strtoull(s, NULL, 16);
}

static char *read_line(FILE *f, char **buf, size_t *cap)
{
	ssize_t n = getline(buf, cap, f);
	if (n < 0)
		return NULL;
	while (n && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
		(*buf)[--n] = 0;
	return *buf;
}

static int load_objects(struct oracle *o, const char *path, int force_gen)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return force_gen >= 0 ? 0 : -1;   /* permanent.tsv is optional */
	char *line = NULL;
	size_t cap = 0;
	while (read_line(f, &line, &cap)) {
		if (line[0] == '#' || !line[0])
			continue;
		char *save = NULL;
		char *addr = strtok_r(line, "\t", &save);
		char *gen = strtok_r(NULL, "\t", &save);
		char *rc = strtok_r(NULL, "\t", &save);
		char *type = strtok_r(NULL, "\t", &save);
		char *refs = strtok_r(NULL, "\t", &save);
		if (!addr || !gen || !rc || !type)
			continue;
		struct oracle_obj *ob = realloc(o->objs, (o->n + 1) * sizeof(*ob));
		if (!ob)
			abort();
		o->objs = ob;
		ob = &ob[o->n];
		memset(ob, 0, sizeof(*ob));
		ob->addr = hex(addr);
		ob->gen = force_gen >= 0 ? force_gen : !strcmp(gen, "permanent") ? 3 : atoi(gen);
		ob->immortal = !strcmp(rc, "immortal");
		ob->refcnt = ob->immortal ? -1 : strtoll(rc, NULL, 10);
		ob->type = strdup(type);
		if (refs && strcmp(refs, "-") != 0) {
			size_t k = 1;
			for (char *c = refs; *c; c++)
				k += *c == ',';
			ob->refs = calloc(k, sizeof(*ob->refs));
			char *s2 = NULL;
			for (char *r = strtok_r(refs, ",", &s2); r; r = strtok_r(NULL, ",", &s2))
				ob->refs[ob->nrefs++] = hex(r);
		}
		pl_addrmap_put(&o->index, ob->addr, (uint32_t)o->n, NULL);
		o->n++;
	}
	free(line);
	fclose(f);
	return 0;
}

int oracle_load(struct oracle *o, const char *dir)
{
	memset(o, 0, sizeof(*o));
	char path[1200];
	snprintf(path, sizeof(path), "%s/objects.tsv", dir);
	if (load_objects(o, path, -1) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/permanent.tsv", dir);
	load_objects(o, path, 3);
	snprintf(path, sizeof(path), "%s/meta.txt", dir);
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	if (!f)
		return -1;
	while (read_line(f, &line, &cap)) {
		o->meta = realloc(o->meta, (o->nmeta + 1) * sizeof(*o->meta));
		o->meta[o->nmeta++] = strdup(line);
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/garbage.txt", dir);
	f = fopen(path, "r");
	while (f && read_line(f, &line, &cap)) {
		if (!line[0] || line[0] == '#')
			continue;
		o->garbage = realloc(o->garbage, (o->ngarbage + 1) * sizeof(*o->garbage));
		o->garbage[o->ngarbage] = hex(line);
		pl_addrmap_put(&o->garbage_index, o->garbage[o->ngarbage], (uint32_t)o->ngarbage, NULL);
		o->ngarbage++;
	}
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/untracked.tsv", dir);
	f = fopen(path, "r");
	o->has_untracked = f != NULL;
	while (f && read_line(f, &line, &cap)) {
		if (!line[0] || line[0] == '#')
			continue;
		char *save = NULL;
		char *addr = strtok_r(line, "\t", &save);
		char *type = strtok_r(NULL, "\t", &save);
		char *from = strtok_r(NULL, "\t", &save);
		if (!addr || !type || !from)
			continue;
		struct oracle_untracked *u = realloc(o->untracked, (o->nuntracked + 1) * sizeof(*u));
		if (!u)
			abort();
		o->untracked = u;
		u[o->nuntracked] = (struct oracle_untracked){ hex(addr), strdup(type), hex(from) };
		pl_addrmap_put(&o->untracked_index, hex(addr), (uint32_t)o->nuntracked, NULL);
		o->nuntracked++;
	}
	if (f)
		fclose(f);
	free(line);
	return 0;
}

void oracle_free(struct oracle *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->objs[i].type);
		free(o->objs[i].refs);
	}
	free(o->objs);
	for (size_t i = 0; i < o->nmeta; i++)
		free(o->meta[i]);
	free(o->meta);
	free(o->garbage);
	for (size_t i = 0; i < o->nuntracked; i++)
		free(o->untracked[i].type);
	free(o->untracked);
	pl_addrmap_release(&o->untracked_index);
	pl_addrmap_release(&o->index);
	pl_addrmap_release(&o->garbage_index);
	memset(o, 0, sizeof(*o));
}

const char *oracle_meta_nth(const struct oracle *o, const char *key, size_t n)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < o->nmeta; i++)
		if (!strncmp(o->meta[i], key, kl) && o->meta[i][kl] == '=' && n-- == 0)
			return o->meta[i] + kl + 1;
	return NULL;
}

const char *oracle_meta(const struct oracle *o, const char *key)
{
	return oracle_meta_nth(o, key, 0);
}

size_t discover_targets(struct target *t, size_t max)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "bash '%s/tests/pythons.sh'", test_srcdir());
	FILE *f = popen(cmd, "r");   /* its SKIP lines go to our stderr, the log */
	size_t n = 0;
	char *line = NULL;
	size_t cap = 0;
	while (f && n < max && read_line(f, &line, &cap)) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = 0;
		snprintf(t[n].name, sizeof(t[n].name), "%s", line);
		snprintf(t[n].python, sizeof(t[n].python), "%s", tab + 1);
		n++;
	}
	free(line);
	if (f)
		pclose(f);
	return n;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct scenario *)a)->name, ((const struct scenario *)b)->name);
}

size_t discover_scenarios(struct scenario *s, size_t max)
{
	char dir[900];
	snprintf(dir, sizeof(dir), "%s/testdata/scenarios", test_srcdir());
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;
	const char *only = getenv("PYLEAK_SCENARIOS");   /* comma-separated subset */
	while (d && n < max && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 4 || strcmp(e->d_name + l - 3, ".py") != 0 || e->d_name[0] == '_')
			continue;
		snprintf(s[n].name, sizeof(s[n].name), "%.*s", (int)(l - 3), e->d_name);
		if (only) {
			char pat[80];
			snprintf(pat, sizeof(pat), ",%s,", s[n].name);
			char list[1024];
			snprintf(list, sizeof(list), ",%s,", only);
			if (!strstr(list, pat))
				continue;
		}
		snprintf(s[n].path, sizeof(s[n].path), "%.800s/%.200s", dir, e->d_name);
		n++;
	}
	if (d)
		closedir(d);
	qsort(s, n, sizeof(*s), by_name);
	return n;
}

/* Test programs run in parallel (make -j check) and share the cores: the
 * check-and-make is done under an exclusive lock per core directory. */
static const char *ensure_core_locked(const struct target *t, const struct scenario *s, bool kernel,
				      char *dir, size_t dirlen)
{
	char probe[1200];
	struct stat st_core, st_scen;
	snprintf(probe, sizeof(probe), "%s/meta.txt", dir);
	if (access(probe, R_OK) == 0) {
		snprintf(probe, sizeof(probe), "%s/core", dir);
		/* reuse unless the scenario or the harness changed since */
		const char *deps[] = { "testdata/oracle.py", "tests/mkcore.sh" };
		bool fresh = stat(probe, &st_core) == 0 && stat(s->path, &st_scen) == 0 &&
			     st_core.st_mtime >= st_scen.st_mtime;
		for (size_t i = 0; i < 2 && fresh; i++) {
			char dep[1200];
			snprintf(dep, sizeof(dep), "%s/%s", test_srcdir(), deps[i]);
			fresh = stat(dep, &st_scen) == 0 && st_core.st_mtime >= st_scen.st_mtime;
		}
		if (fresh)
			return dir;
	}
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && bash '%s/tests/mkcore.sh' '%s' '%s' '%s'%s",
		 dir, dir, test_srcdir(), t->python, s->path, dir, kernel ? " --kernel" : "");
	if (system(cmd) != 0)
		return NULL;
	(void)dirlen;
	return dir;
}

const char *ensure_core(const struct target *t, const struct scenario *s, bool kernel, char *dir,
			size_t dirlen)
{
	const char *build = getenv("PYLEAK_BUILDDIR");
	snprintf(dir, dirlen, "%s/tests/cores/%s/%s%s", build ? build : ".", t->name, s->name,
		 kernel ? "-kernel" : "");
	char lock[1300], parent[1300];
	snprintf(parent, sizeof(parent), "mkdir -p '%s/tests/cores/%s'", build ? build : ".", t->name);
	if (system(parent) != 0)
		return NULL;
	snprintf(lock, sizeof(lock), "%s.lock", dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	const char *r = ensure_core_locked(t, s, kernel, dir, dirlen);
	flock(fd, LOCK_UN);
	close(fd);
	return r;
}
