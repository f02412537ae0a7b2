/* Open-addressing hash map from 64-bit addresses to 32-bit indices. Keys are
 * object addresses (16-byte aligned), so a multiplicative hash of addr >> 4
 * spreads them well. 0 is never a valid key. */
#ifndef PYLEAK_ADDRMAP_H
#define PYLEAK_ADDRMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pl_addrmap {
	uint64_t *keys;
	uint32_t *vals;
	size_t cap;     /* power of two */
	size_t n;
};

static inline size_t pl_addrmap_slot(const struct pl_addrmap *m, uint64_t key)
{
	return (size_t)(((key >> 4) * 0x9E3779B97F4A7C15ull) >> 20) & (m->cap - 1);
}

static inline bool pl_addrmap_reserve(struct pl_addrmap *m, size_t want)
{
	if (want * 2 < m->cap)
		return true;
	size_t cap = m->cap ? m->cap : 64;
	while (want * 2 >= cap)
		cap *= 2;
	uint64_t *keys = calloc(cap, sizeof(*keys));
	uint32_t *vals = malloc(cap * sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return false;
	}
	struct pl_addrmap nm = { keys, vals, cap, 0 };
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t s = pl_addrmap_slot(&nm, m->keys[i]);
		while (nm.keys[s])
			s = (s + 1) & (cap - 1);
		nm.keys[s] = m->keys[i];
		nm.vals[s] = m->vals[i];
		nm.n++;
	}
	free(m->keys);
	free(m->vals);
	*m = nm;
	return true;
}

/* Index for key, or UINT32_MAX. */
static inline uint32_t pl_addrmap_get(const struct pl_addrmap *m, uint64_t key)
{
	if (!m->cap || !key)
		return UINT32_MAX;
	size_t s = pl_addrmap_slot(m, key);
	while (m->keys[s]) {
		if (m->keys[s] == key)
			return m->vals[s];
		s = (s + 1) & (m->cap - 1);
	}
	return UINT32_MAX;
}

/* Insert; returns false on allocation failure. An existing key keeps its
 * value and *existing is set. */
static inline bool pl_addrmap_put(struct pl_addrmap *m, uint64_t key, uint32_t val, bool *existing)
{
	if (existing)
		*existing = false;
	if (!pl_addrmap_reserve(m, m->n + 1))
		return false;
	size_t s = pl_addrmap_slot(m, key);
	while (m->keys[s]) {
		if (m->keys[s] == key) {
			if (existing)
				*existing = true;
			return true;
		}
		s = (s + 1) & (m->cap - 1);
	}
	m->keys[s] = key;
	m->vals[s] = val;
	m->n++;
	return true;
}

static inline void pl_addrmap_release(struct pl_addrmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

#endif
