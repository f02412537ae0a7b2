#include "config.h"
#include "cycles.h"

#include <stdlib.h>
#include <string.h>

#include "coredump/program.h"

void pl_cycles_release(struct pl_cycles *c)
{
	for (uint32_t i = 0; i < c->ngroups; i++)
		free(c->groups[i].types);
	free(c->groups);
	free(c->comp);
	memset(c, 0, sizeof(*c));
}

/* Iterative Tarjan over the unreachable nodes only. Scratch arrays are
 * indexed by a compact numbering of those nodes (U[k] = node), and comp[]
 * serves as the node -> local map until it receives the component ids. */
static struct pl_error *tarjan(struct pl_graph *g, uint32_t *comp, uint32_t *ncomp,
			       const uint32_t *U, uint32_t m)
{
	uint32_t *index = malloc(((size_t)m + 1) * sizeof(*index));
	uint32_t *low = malloc(((size_t)m + 1) * sizeof(*low));
	uint32_t *stack = malloc(((size_t)m + 1) * sizeof(*stack));
	uint32_t *cs_node = malloc(((size_t)m + 1) * sizeof(*cs_node));   /* call stack */
	uint32_t *cs_edge = malloc(((size_t)m + 1) * sizeof(*cs_edge));
	uint32_t *lcomp = malloc(((size_t)m + 1) * sizeof(*lcomp));
	uint8_t *on = calloc((size_t)m + 1, 1);
	struct pl_error *err = NULL;
	if (!index || !low || !stack || !cs_node || !cs_edge || !lcomp || !on) {
		err = pl_error(PL_E_NOMEM, "out of memory finding cycles");
		goto out;
	}
	for (uint32_t i = 0; i < m; i++)
		index[i] = PL_NONE;
	uint32_t next = 0, sp = 0;
	*ncomp = 0;
	for (uint32_t root = 0; root < m; root++) {
		if (index[root] != PL_NONE)
			continue;
		uint32_t csp = 0;
		cs_node[csp] = root;
		cs_edge[csp++] = g->off[U[root]];
		index[root] = low[root] = next++;
		stack[sp++] = root;
		on[root] = 1;
		while (csp) {
			uint32_t v = cs_node[csp - 1];
			uint32_t e = cs_edge[csp - 1];
			if (e < g->off[U[v] + 1]) {
				cs_edge[csp - 1]++;
				uint32_t wn = g->dst[e];
				if (!pl_unreachable(g, wn))
					continue;
				uint32_t w = comp[wn];
				if (index[w] == PL_NONE) {
					index[w] = low[w] = next++;
					stack[sp++] = w;
					on[w] = 1;
					cs_node[csp] = w;
					cs_edge[csp++] = g->off[wn];
				} else if (on[w] && index[w] < low[v]) {
					low[v] = index[w];
				}
				continue;
			}
			csp--;
			if (csp && low[v] < low[cs_node[csp - 1]])
				low[cs_node[csp - 1]] = low[v];
			if (low[v] != index[v])
				continue;
			/* v roots an SCC: a cycle if it has more than one member or
			 * an edge to itself */
			uint32_t size = 0, k = sp;
			do
				size++;
			while (stack[--k] != v);
			bool self = false;
			for (uint32_t f = g->off[U[v]]; f < g->off[U[v] + 1] && !self; f++)
				self = g->dst[f] == U[v];
			uint32_t id = size > 1 || self ? (*ncomp)++ : PL_NONE;
			uint32_t w;
			do {
				w = stack[--sp];
				on[w] = 0;
				lcomp[w] = id;
			} while (w != v);
		}
	}
	for (uint32_t k = 0; k < m; k++)
		comp[U[k]] = lcomp[k];
out:
	free(index);
	free(low);
	free(stack);
	free(cs_node);
	free(cs_edge);
	free(lcomp);
	free(on);
	return err;
}

struct sig_entry {
	uint64_t hash;
	uint32_t group;
};

static int cmp_u32pair(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int cmp_group(const void *a, const void *b)
{
	const struct pl_cycle_group *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->sample < y->sample ? -1 : x->sample > y->sample;
}

/* A type before another in a group's list: more members first, then by
 * name and address, so that the list does not depend on the order the
 * types were met in (which differs with the number of threads) */
static bool type_before(const struct pl_heap *h, const uint32_t *x, const uint32_t *y)
{
	if (x[1] != y[1])
		return x[1] > y[1];
	return pl_type_cmp(&h->types[x[0]], &h->types[y[0]]) < 0;
}

/* (once grouped: the pairs are sorted by type index until then, for the
 * signatures) */
static void order_types(const struct pl_heap *h, struct pl_cycle_group *grp)
{
	uint32_t *p = grp->types;
	for (uint32_t i = 1; i < grp->ntypes; i++) {   /* a few types per group */
		uint32_t t0 = p[2 * i], t1 = p[2 * i + 1], j = i;
		const uint32_t cur[2] = { t0, t1 };
		for (; j > 0 && type_before(h, cur, &p[2 * (j - 1)]); j--) {
			p[2 * j] = p[2 * (j - 1)];
			p[2 * j + 1] = p[2 * (j - 1) + 1];
		}
		p[2 * j] = t0;
		p[2 * j + 1] = t1;
	}
}

struct pl_error *pl_cycles_find(struct pl_graph *g, struct pl_cycles *c)
{
	memset(c, 0, sizeof(*c));
	uint32_t n = g->n;
	struct pl_heap *h = g->h;
	uint32_t m = g->nunreachable;
	if (m == 0)
		return NULL;   /* nothing unreachable: no cycles, no scratch */
	c->comp = malloc(((size_t)n + 1) * sizeof(*c->comp));
	uint32_t *U = malloc(((size_t)m + 1) * sizeof(*U));
	if (!c->comp || !U) {
		free(U);
		return pl_error(PL_E_NOMEM, "out of memory finding cycles");
	}
	m = 0;
	for (uint32_t i = 0; i < n; i++) {
		c->comp[i] = PL_NONE;
		if (pl_unreachable(g, i)) {
			c->comp[i] = m;
			U[m++] = i;
		}
	}
	struct pl_error *err = tarjan(g, c->comp, &c->ncomp, U, m);
	if (err) {
		free(U);
		return err;
	}
	/* What each cycle alone holds: a multi-source BFS from all cycle
	 * members over unreachable non-cycle nodes; each goes to the first
	 * cycle that reaches it. owner[] is indexed by node but only touched
	 * for unreachable ones, so it is allocated for those (via rank). */
	uint32_t *rank = malloc(((size_t)n + 1) * sizeof(*rank));
	uint32_t *owner = malloc(((size_t)m + 1) * sizeof(*owner));
	uint32_t *queue = malloc(((size_t)m + 1) * sizeof(*queue));
	uint64_t *cobj = calloc((size_t)c->ncomp + 1, sizeof(*cobj));
	uint64_t *cbytes = calloc((size_t)c->ncomp + 1, sizeof(*cbytes));
	uint32_t *cmembers = calloc((size_t)c->ncomp + 1, sizeof(*cmembers));
	uint32_t *first = malloc(((size_t)c->ncomp + 1) * sizeof(*first));
	if (!rank || !owner || !queue || !cobj || !cbytes || !cmembers || !first) {
		err = pl_error(PL_E_NOMEM, "out of memory finding cycles");
		goto out;
	}
	uint32_t qh = 0, qt = 0;
	for (uint32_t i = 0; i < c->ncomp; i++)
		first[i] = PL_NONE;
	for (uint32_t k = 0; k < m; k++) {
		uint32_t i = U[k];
		rank[i] = k;
		owner[k] = c->comp[i];
		if (c->comp[i] != PL_NONE) {
			queue[qt++] = i;
			cmembers[c->comp[i]]++;
			if (first[c->comp[i]] == PL_NONE)
				first[c->comp[i]] = i;
			c->cyclic_objects++;
		}
	}
	while (qh < qt) {
		uint32_t v = queue[qh++];
		for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
			uint32_t w = g->dst[e];
			if (pl_unreachable(g, w) && owner[rank[w]] == PL_NONE) {
				owner[rank[w]] = owner[rank[v]];
				queue[qt++] = w;
				c->held_objects++;
			}
		}
	}
	for (uint32_t k = 0; k < m; k++)
		if (owner[k] != PL_NONE) {
			cobj[owner[k]]++;
			cbytes[owner[k]] += h->objs[U[k]].size;
		}
	/* Group cycles by shape: sorted (type, count) of their members. */
	c->groups = calloc((size_t)c->ncomp + 1, sizeof(*c->groups));
	struct sig_entry *sigs = calloc((size_t)c->ncomp * 2 + 2, sizeof(*sigs));
	size_t sigcap = (size_t)c->ncomp * 2 + 2;
	uint32_t *members_by_comp = malloc(((size_t)c->cyclic_objects + 1) * sizeof(*members_by_comp));
	uint32_t *cstart = calloc((size_t)c->ncomp + 2, sizeof(*cstart));
	if (!c->groups || !sigs || !members_by_comp || !cstart) {
		free(sigs);
		free(members_by_comp);
		free(cstart);
		err = pl_error(PL_E_NOMEM, "out of memory grouping cycles");
		goto out;
	}
	for (uint32_t i = 0; i < c->ncomp; i++)
		cstart[i + 1] = cstart[i] + cmembers[i];
	for (uint32_t i = 0, *fill = cmembers; i < n; i++)
		if (c->comp[i] != PL_NONE)
			members_by_comp[cstart[c->comp[i]] + --fill[c->comp[i]]] = i;
	const struct pl_layout *L = &h->p->L;
	for (uint32_t k = 0; k < c->ncomp; k++) {
		uint32_t nm = cstart[k + 1] - cstart[k];
		uint32_t *pairs = malloc((size_t)nm * 2 * sizeof(*pairs) + 8);
		if (!pairs) {
			err = pl_error(PL_E_NOMEM, "out of memory grouping cycles");
			break;
		}
		uint32_t np = 0;
		for (uint32_t j = 0; j < nm; j++) {
			uint32_t t = h->objs[members_by_comp[cstart[k] + j]].type;
			pairs[2 * np] = t;
			pairs[2 * np + 1] = 1;
			np++;
		}
		qsort(pairs, np, 2 * sizeof(*pairs), cmp_u32pair);
		uint32_t u = 0;
		for (uint32_t j = 0; j < np; j++) {
			if (u && pairs[2 * (u - 1)] == pairs[2 * j])
				pairs[2 * (u - 1) + 1]++;
			else {
				pairs[2 * u] = pairs[2 * j];
				pairs[2 * u + 1] = 1;
				u++;
			}
		}
		uint64_t hash = 1469598103934665603ull;
		for (uint32_t j = 0; j < 2 * u; j++)
			hash = (hash ^ pairs[j]) * 1099511628211ull;
		size_t s = hash % sigcap;
		uint32_t gi = PL_NONE;
		while (sigs[s].hash) {
			struct pl_cycle_group *cand = &c->groups[sigs[s].group];
			if (sigs[s].hash == hash && cand->ntypes == u &&
			    memcmp(cand->types, pairs, (size_t)u * 2 * sizeof(*pairs)) == 0) {
				gi = sigs[s].group;
				break;
			}
			s = (s + 1) % sigcap;
		}
		struct pl_cycle_group *grp;
		if (gi == PL_NONE) {
			gi = c->ngroups++;
			sigs[s].hash = hash;
			sigs[s].group = gi;
			grp = &c->groups[gi];
			grp->types = pairs;
			grp->ntypes = u;
			grp->sample = first[k];
		} else {
			grp = &c->groups[gi];
			free(pairs);
		}
		grp->ncycles++;
		grp->members += nm;
		grp->objects += cobj[k];
		grp->bytes += cbytes[k];
		for (uint32_t j = 0; j < nm; j++) {
			const struct pl_obj *o = &h->objs[members_by_comp[cstart[k] + j]];
			const struct pl_type *t = &h->types[o->type];
			grp->has_finalizers |= t->finalize != 0;
			grp->legacy_finalizer |= t->del != 0;
			grp->finalized += (o->flags & PL_OF_FINALIZED) != 0;
		}
	}
	(void)L;
	free(sigs);
	free(members_by_comp);
	free(cstart);
	if (!err) {
		for (uint32_t gi = 0; gi < c->ngroups; gi++)
			order_types(h, &c->groups[gi]);
		qsort(c->groups, c->ngroups, sizeof(*c->groups), cmp_group);
	}
out:
	free(U);
	free(rank);
	free(owner);
	free(queue);
	free(cobj);
	free(cbytes);
	free(cmembers);
	free(first);
	return err;
}

uint32_t pl_cycle_path(const struct pl_graph *g, const struct pl_cycles *c, uint32_t start,
		       uint32_t *path, uint32_t max)
{
	/* BFS inside the cycle from start back to start. */
	uint32_t id = c->comp[start];
	if (id == PL_NONE || max == 0)
		return 0;
	uint32_t n = g->n;
	uint32_t *prev = malloc((size_t)n * sizeof(*prev));
	uint32_t *queue = malloc((size_t)n * sizeof(*queue));
	uint32_t len = 0;
	if (!prev || !queue)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		prev[i] = PL_NONE;
	uint32_t qh = 0, qt = 0, found = PL_NONE;
	queue[qt++] = start;
	while (qh < qt && found == PL_NONE) {
		uint32_t v = queue[qh++];
		for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
			uint32_t w = g->dst[e];
			if (c->comp[w] != id)
				continue;
			if (w == start) {
				found = v;
				break;
			}
			if (prev[w] == PL_NONE) {
				prev[w] = v;
				queue[qt++] = w;
			}
		}
	}
	if (found == PL_NONE)
		goto out;
	/* walk back from found to start */
	uint32_t tmp[4096], k = 0;
	for (uint32_t v = found; v != start && k < 4096; v = prev[v])
		tmp[k++] = v;
	path[len++] = start;
	while (k && len < max)
		path[len++] = tmp[--k];
out:
	free(prev);
	free(queue);
	return len;
}
