#include "config.h"
#include "diff.h"

#include <stdlib.h>
#include <string.h>

#include "coredump/program.h"

/* containers without an address match whose paths are looked up */
#define MAX_PATH_CANDIDATES 256
#define MIN_PATH_LEN 8

int64_t pl_container_len(struct pl_heap *h, uint32_t i)
{
	const struct pl_type *t = &h->types[h->objs[i].type];
	if (t->kind == PL_K_TUPLE || t->kind == PL_K_BYTES)
		return -1;   /* sized once: they do not grow */
	return pl_obj_len(h, h->objs[i].addr, t);
}

struct name_total {
	const char *name;
	int64_t count, bytes;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct name_total *)a)->name, ((const struct name_total *)b)->name);
}

/* Per type name (two types may share one), sorted by name. */
static struct name_total *totals(const struct pl_heap *h, size_t *n)
{
	struct name_total *t = calloc(h->ntypes ? h->ntypes : 1, sizeof(*t));
	if (!t)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < h->ntypes; i++)
		if (h->types[i].valid && h->types[i].count)
			t[k++] = (struct name_total){ h->types[i].name, (int64_t)h->types[i].count,
						      (int64_t)h->types[i].bytes };
	qsort(t, k, sizeof(*t), by_name);
	size_t m = 0;   /* merge equal names */
	for (size_t i = 0; i < k; i++) {
		if (m && !strcmp(t[m - 1].name, t[i].name)) {
			t[m - 1].count += t[i].count;
			t[m - 1].bytes += t[i].bytes;
		} else {
			t[m++] = t[i];
		}
	}
	*n = m;
	return t;
}

static int by_growth(const void *a, const void *b)
{
	const struct pl_type_delta *x = a, *y = b;
	int64_t dx = x->new_count - x->old_count, dy = y->new_count - y->old_count;
	if (dx != dy)
		return dx > dy ? -1 : 1;
	int64_t bx = x->new_bytes - x->old_bytes, by = y->new_bytes - y->old_bytes;
	if (bx != by)
		return bx > by ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct pl_error *type_deltas(const struct pl_heap *oh, const struct pl_heap *nh,
				    struct pl_diff *d)
{
	size_t no, nn;
	struct name_total *o = totals(oh, &no), *n = totals(nh, &nn);
	d->types = calloc(no + nn + 1, sizeof(*d->types));
	if (!o || !n || !d->types) {
		free(o);
		free(n);
		return pl_error(PL_E_NOMEM, "out of memory comparing types");
	}
	size_t i = 0, j = 0;
	while (i < no || j < nn) {
		int c = i == no ? 1 : j == nn ? -1 : strcmp(o[i].name, n[j].name);
		struct pl_type_delta td = { 0 };
		if (c <= 0) {
			td.name = o[i].name;
			td.old_count = o[i].count;
			td.old_bytes = o[i].bytes;
			i++;
		}
		if (c >= 0) {
			td.name = n[j].name;
			td.new_count = n[j].count;
			td.new_bytes = n[j].bytes;
			j++;
		}
		if (td.old_count != td.new_count || td.old_bytes != td.new_bytes)
			d->types[d->ntypes++] = td;
	}
	qsort(d->types, d->ntypes, sizeof(*d->types), by_growth);
	free(o);
	free(n);
	return NULL;
}

struct path_len {
	char *path;
	int64_t len;
	uint64_t addr;
};

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct path_len *)a)->path, ((const struct path_len *)b)->path);
}

static int by_len_desc(const void *a, const void *b)
{
	const struct pl_growth *x = a, *y = b;
	return x->new_len > y->new_len ? -1 : x->new_len < y->new_len;
}

static bool add_growth(struct pl_diff *d, size_t *cap, const struct pl_growth *g)
{
	if (d->ngrew == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct pl_growth *n = realloc(d->grew, nc * sizeof(*n));
		if (!n)
			return false;
		d->grew = n;
		*cap = nc;
	}
	d->grew[d->ngrew++] = *g;
	return true;
}

/* A path that can name the same container in another process: not through
 * an anonymous root (held from C) and without addresses in it. */
static bool path_names_one(const char *path)
{
	return path[0] && strncmp(path, "<held from C", 12) != 0 && !strstr(path, "0x");
}

static char *path_of(struct pl_analysis *a, uint32_t node)
{
	char buf[1024];
	pl_roots_path(&a->g, &a->roots, node, buf, sizeof(buf));
	return strdup(buf);
}

/* Containers of the new core that the old one does not hold at the same
 * address (cand, with their paths in cpath): look them up by path among the
 * old core's containers of the same types. */
static struct pl_error *match_by_path(struct pl_analysis *old, struct pl_analysis *new,
				      const struct pl_growth *cand, char **cpath, size_t ncand,
				      struct pl_diff *d, size_t *cap)
{
	struct pl_heap *oh = &old->h, *nh = &new->h;
	/* the old core's types with the candidates' names, flagged once */
	bool *want = calloc(oh->ntypes + 1, sizeof(*want));
	struct path_len *olds = NULL;
	size_t nold = 0, capold = 0;
	struct pl_error *err = NULL;
	if (!want)
		return pl_error(PL_E_NOMEM, "out of memory comparing containers");
	for (size_t t = 0; t < oh->ntypes; t++)
		for (size_t i = 0; i < ncand && !want[t] && oh->types[t].valid; i++)
			want[t] = !strcmp(oh->types[t].name, nh->types[nh->objs[cand[i].node].type].name);
	for (uint32_t i = 0; i < old->g.ntracked; i++) {
		int64_t len;
		if (!want[oh->objs[i].type] || old->roots.root[i] == PL_NONE ||
		    (len = pl_container_len(oh, i)) < 0)
			continue;
		if (nold == capold) {
			capold = capold ? capold * 2 : 256;
			struct path_len *n = realloc(olds, capold * sizeof(*n));
			if (!n) {
				err = pl_error(PL_E_NOMEM, "out of memory comparing containers");
				goto out;
			}
			olds = n;
		}
		olds[nold] = (struct path_len){ path_of(old, i), len, oh->objs[i].addr };
		if (olds[nold].path && olds[nold].path[0])
			nold++;
		else
			free(olds[nold].path);
	}
	if (nold)
		qsort(olds, nold, sizeof(*olds), by_path);
	for (size_t i = 0; i < ncand; i++) {
		struct path_len key = { cpath[i], 0, 0 };
		if (!path_names_one(key.path))
			continue;
		bool unique = true;
		for (size_t k = 0; k < ncand && unique; k++)
			unique = k == i || strcmp(cpath[k], key.path) != 0;
		const struct path_len *m = unique && nold ?
			bsearch(&key, olds, nold, sizeof(*olds), by_path) : NULL;
		/* the path must name one container in the old core too */
		if (!m || (m > olds && !strcmp(m[-1].path, key.path)) ||
		    (m + 1 < olds + nold && !strcmp(m[1].path, key.path)) || m->len >= cand[i].new_len)
			continue;
		struct pl_growth g = cand[i];
		g.old_len = m->len;
		g.old_addr = m->addr;
		g.by_path = true;
		if (!add_growth(d, cap, &g)) {
			err = pl_error(PL_E_NOMEM, "out of memory comparing containers");
			goto out;
		}
	}
out:
	for (size_t i = 0; i < nold; i++)
		free(olds[i].path);
	free(olds);
	free(want);
	return err;
}

static int by_delta(const void *a, const void *b)
{
	const struct pl_growth *x = a, *y = b;
	int64_t dx = x->new_len - x->old_len, dy = y->new_len - y->old_len;
	if (dx != dy)
		return dx > dy ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

static struct pl_error *container_growth(struct pl_analysis *old, struct pl_analysis *new,
					 struct pl_diff *d)
{
	struct pl_heap *oh = &old->h, *nh = &new->h;
	struct pl_growth *cand = NULL;
	char **cpath = NULL;
	size_t ncand = 0, capcand = 0, cap = 0;
	struct pl_error *err = NULL;
	for (uint32_t i = 0; i < new->g.ntracked; i++) {
		int64_t len = pl_container_len(nh, i);
		if (len <= 0)
			continue;
		uint32_t k = pl_heap_find(oh, nh->objs[i].addr);
		if (k != UINT32_MAX && !strcmp(oh->types[oh->objs[k].type].name,
					       nh->types[nh->objs[i].type].name)) {
			int64_t olen = pl_container_len(oh, k);
			if (olen >= 0 && olen < len) {
				struct pl_growth g = { i, oh->objs[k].addr, olen, len, false };
				if (!add_growth(d, &cap, &g)) {
					err = pl_error(PL_E_NOMEM, "out of memory comparing containers");
					goto out;
				}
			}
			continue;
		}
		if (len < MIN_PATH_LEN || new->roots.root[i] == PL_NONE)
			continue;
		if (ncand == capcand) {   /* keep the largest unmatched ones */
			if (capcand == MAX_PATH_CANDIDATES * 4) {
				qsort(cand, ncand, sizeof(*cand), by_len_desc);
				ncand = MAX_PATH_CANDIDATES;
			} else {
				capcand = capcand ? capcand * 2 : 64;
				struct pl_growth *n = realloc(cand, capcand * sizeof(*n));
				if (!n) {
					err = pl_error(PL_E_NOMEM, "out of memory comparing containers");
					goto out;
				}
				cand = n;
			}
		}
		cand[ncand++] = (struct pl_growth){ i, 0, 0, len, true };
	}
	if (ncand)
		qsort(cand, ncand, sizeof(*cand), by_len_desc);
	if (ncand > MAX_PATH_CANDIDATES)
		ncand = MAX_PATH_CANDIDATES;
	if (ncand && !(cpath = calloc(ncand, sizeof(*cpath)))) {
		err = pl_error(PL_E_NOMEM, "out of memory comparing containers");
		goto out;
	}
	for (size_t i = 0; i < ncand; i++)
		if (!(cpath[i] = path_of(new, cand[i].node))) {
			err = pl_error(PL_E_NOMEM, "out of memory comparing containers");
			goto out;
		}
	if (ncand)
		err = match_by_path(old, new, cand, cpath, ncand, d, &cap);
	if (!err && d->ngrew)
		qsort(d->grew, d->ngrew, sizeof(*d->grew), by_delta);
out:
	for (size_t i = 0; cpath && i < ncand; i++)
		free(cpath[i]);
	free(cpath);
	free(cand);
	return err;
}

struct pl_error *pl_diff_compute(struct pl_analysis *old, struct pl_analysis *new,
				 struct pl_diff *d)
{
	memset(d, 0, sizeof(*d));
	const struct pl_program *op = old->h.p, *np = new->h.p;
	d->old_objects = (int64_t)old->h.nobjs;
	d->new_objects = (int64_t)new->h.nobjs;
	d->old_bytes = (int64_t)old->h.total_bytes;
	d->new_bytes = (int64_t)new->h.total_bytes;
	d->same_build = op->pyfile->build_id_len == np->pyfile->build_id_len &&
			!memcmp(op->pyfile->build_id, np->pyfile->build_id, op->pyfile->build_id_len);
	d->same_process = op->core->has_prpsinfo && np->core->has_prpsinfo &&
			  op->core->pid == np->core->pid;
	struct pl_error *err = type_deltas(&old->h, &new->h, d);
	if (!err)
		err = container_growth(old, new, d);
	return err;
}

void pl_diff_release(struct pl_diff *d)
{
	free(d->grew);
	free(d->types);
	memset(d, 0, sizeof(*d));
}
