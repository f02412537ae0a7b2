#include "config.h"
#include "objects.h"

#include <inttypes.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "bigarray.h"
#include "idle.h"
#include "program.h"
#include "traverse.h"

#define MAX_DICT_ENTRIES (1ll << 28)
#define MAX_TYPE_CHAIN 64

int pl_obj_header(struct pl_program *p, uint64_t addr, int64_t *refcnt, uint64_t *type)
{
	const struct pl_layout *L = &p->L;
	const uint8_t *h = pl_as_ptr(&p->as, addr, (size_t)L->sizeof_object);
	if (!h)   /* absent, or straddling two ranges */
		return pl_as_read(&p->as, addr + (uint64_t)L->ob_refcnt, refcnt, 8) ||
		       pl_as_read(&p->as, addr + (uint64_t)L->ob_type, type, 8) ? -1 : 0;
	memcpy(refcnt, h + L->ob_refcnt, 8);
	memcpy(type, h + L->ob_type, 8);
	return 0;
}

static uint64_t bits(const uint8_t *obj, struct pl_bitfield f)
{
	uint64_t w;
	memcpy(&w, obj + f.bit_offset / 8, 8);
	w >>= f.bit_offset % 8;
	return f.bit_size >= 64 ? w : w & ((1ull << f.bit_size) - 1);
}

static void init_kinds(struct pl_heap *h)
{
	static const struct { enum pl_kind k; const char *sym; } syms[] = {
		{ PL_K_TUPLE, "PyTuple_Type" }, { PL_K_LIST, "PyList_Type" },
		{ PL_K_DICT, "PyDict_Type" }, { PL_K_SET, "PySet_Type" },
		{ PL_K_FROZENSET, "PyFrozenSet_Type" }, { PL_K_STR, "PyUnicode_Type" },
		{ PL_K_BYTES, "PyBytes_Type" }, { PL_K_INT, "PyLong_Type" },
		{ PL_K_FLOAT, "PyFloat_Type" }, { PL_K_TYPE, "PyType_Type" },
		{ PL_K_MODULE, "PyModule_Type" }, { PL_K_FUNCTION, "PyFunction_Type" },
		{ PL_K_CELL, "PyCell_Type" }, { PL_K_METHOD, "PyMethod_Type" },
		{ PL_K_CFUNCTION, "PyCFunction_Type" }, { PL_K_FRAME, "PyFrame_Type" },
		{ PL_K_CODE, "PyCode_Type" }, { PL_K_GEN, "PyGen_Type" },
		{ PL_K_COROUTINE, "PyCoro_Type" }, { PL_K_ASYNCGEN, "PyAsyncGen_Type" },
		{ PL_K_WEAKREF, "_PyWeakref_RefType" }, { PL_K_TRACEBACK, "PyTraceBack_Type" },
		{ PL_K_GETSET_DESCR, "PyGetSetDescr_Type" }, { PL_K_MEMBER_DESCR, "PyMemberDescr_Type" },
		{ PL_K_BYTEARRAY, "PyByteArray_Type" },
		{ PL_K_OBJECT, "PyBaseObject_Type" },
	};
	if (h->kind_type[PL_K_OBJECT])
		return;
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		uint64_t a;
		if (pl_symbol(h->p, h->p->pyfile, syms[i].sym, &a, NULL) == 0)
			h->kind_type[syms[i].k] = a;
	}
	pl_symbol(h->p, h->p->pyfile, "_Py_NoneStruct", &h->none, NULL);
	pl_symbol(h->p, h->p->pyfile, "_Py_TrueStruct", &h->true_, NULL);
	pl_symbol(h->p, h->p->pyfile, "_Py_FalseStruct", &h->false_, NULL);
	if (!h->kind_type[PL_K_OBJECT])
		h->kind_type[PL_K_OBJECT] = 1;   /* never matches; marks "initialized" */
}

static enum pl_kind kind_of(struct pl_heap *h, uint64_t type)
{
	struct pl_program *p = h->p;
	for (int depth = 0; type && depth < MAX_TYPE_CHAIN; depth++) {
		for (int k = 1; k < PL_K__COUNT; k++)
			if (k != PL_K_OBJECT && h->kind_type[k] == type)
				return (enum pl_kind)k;
		if (pl_as_u64(&p->as, type + (uint64_t)p->L.tp_base, &type) != 0)
			break;
	}
	return PL_K_OTHER;
}

static char *static_type_name(struct pl_program *p, uint64_t tp_name)
{
	char buf[512];
	if (!tp_name || pl_as_cstr(&p->as, tp_name, buf, sizeof(buf)) < 0)
		return strdup("?");
	if (strchr(buf, '.'))
		return strdup(buf);
	char *s = malloc(strlen(buf) + 10);
	if (s)
		sprintf(s, "builtins.%s", buf);
	return s;
}

static uint64_t type_of(struct pl_program *p, uint64_t obj)
{
	uint64_t t = 0;
	if (pl_as_u64(&p->as, obj + (uint64_t)p->L.ob_type, &t) != 0)
		return 0;
	return t;
}

static bool is_data_descr(struct pl_heap *h, uint64_t obj)
{
	uint64_t t = type_of(h->p, obj);
	return t && (t == h->kind_type[PL_K_GETSET_DESCR] || t == h->kind_type[PL_K_MEMBER_DESCR]);
}

/* tp_name's dotted prefix, as Python uses for static types. */
static void tp_name_module(struct pl_program *p, uint64_t tp_name, char *mod, size_t len)
{
	char tpn[512];
	const char *dot;
	if (tp_name && pl_as_cstr(&p->as, tp_name, tpn, sizeof(tpn)) >= 0 && (dot = strrchr(tpn, '.')))
		snprintf(mod, len, "%.*s", (int)(dot - tpn), tpn);
	else
		snprintf(mod, len, "builtins");
}

/* What f"{t.__module__}" gives for a heap type, following type_getattro:
 * a data descriptor named __module__ on the metatype wins (Cython's types
 * have one; it answers with the tp_name prefix); otherwise type.__module__
 * returns the type's own __dict__ entry, which str() formats. */
static void heap_type_module(struct pl_heap *h, uint64_t type, uint64_t dict, uint64_t tp_name,
			     char *mod, size_t len)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	uint64_t meta = type_of(p, type), mro = 0;
	if (meta && meta != h->kind_type[PL_K_TYPE] &&
	    pl_as_u64(&p->as, meta + (uint64_t)L->tp_mro, &mro) == 0 && mro) {
		int64_t n = 0;
		pl_as_u64(&p->as, mro + (uint64_t)L->ob_size, (uint64_t *)&n);
		for (int64_t i = 0; i < n && i < MAX_TYPE_CHAIN; i++) {
			uint64_t c, cdict, v;
			if (pl_as_u64(&p->as, mro + (uint64_t)L->tuple_items + (uint64_t)(8 * i), &c) ||
			    c == h->kind_type[PL_K_TYPE])
				break;
			if (pl_as_u64(&p->as, c + (uint64_t)L->tp_dict, &cdict) || !cdict ||
			    !(v = pl_dict_get_str(h, cdict, "__module__")))
				continue;
			if (is_data_descr(h, v)) {
				tp_name_module(p, tp_name, mod, len);
				return;
			}
			break;   /* a plain attribute: the type's own entry decides */
		}
	}
	uint64_t m = dict ? pl_dict_get_str(h, dict, "__module__") : 0;
	if (!m) {
		snprintf(mod, len, "builtins");
	} else if (pl_str_read(h, m, mod, len) >= 0) {
		return;
	} else if (is_data_descr(h, m)) {
		/* str() of a descriptor: <attribute 'name' of 'Type' objects> */
		uint64_t dtype = 0, dname = 0, dtpn = 0;
		char name[256] = "?", tname[256] = "?";
		pl_as_u64(&p->as, m + (uint64_t)L->descr_type, &dtype);
		pl_as_u64(&p->as, m + (uint64_t)L->descr_name, &dname);
		pl_str_read(h, dname, name, sizeof(name));
		if (dtype && pl_as_u64(&p->as, dtype + (uint64_t)L->tp_name, &dtpn) == 0)
			pl_as_cstr(&p->as, dtpn, tname, sizeof(tname));
		snprintf(mod, len, "<%s '%s' of '%s' objects>",
			 type_of(p, m) == h->kind_type[PL_K_GETSET_DESCR] ? "attribute" : "member", name, tname);
	} else {
		tp_name_module(p, tp_name, mod, len);
	}
}

static char *heap_type_name(struct pl_heap *h, uint64_t type, uint64_t dict, uint64_t tp_name)
{
	struct pl_program *p = h->p;
	char qual[512], mod[768];
	uint64_t q = 0;
	if (pl_as_u64(&p->as, type + (uint64_t)p->L.ht_qualname, &q) != 0 ||
	    pl_str_read(h, q, qual, sizeof(qual)) < 0) {
		/* fall back on tp_name (a C string in the heap) */
		if (!tp_name || pl_as_cstr(&p->as, tp_name, qual, sizeof(qual)) < 0)
			snprintf(qual, sizeof(qual), "?");
	}
	heap_type_module(h, type, dict, tp_name, mod, sizeof(mod));
	char *s = malloc(strlen(mod) + strlen(qual) + 2);
	if (s)
		sprintf(s, "%s.%s", mod, qual);
	return s;
}

struct pl_type *pl_type_get(struct pl_heap *h, uint64_t type_addr)
{
	/* most objects in a row share a type */
	if (type_addr && type_addr == h->last_type && h->types[h->last_type_idx].valid)
		return &h->types[h->last_type_idx];
	uint32_t idx = pl_addrmap_get(&h->type_index, type_addr);
	if (idx != UINT32_MAX && h->types[idx].valid) {
		h->last_type = type_addr;
		h->last_type_idx = idx;
	}
	if (idx != UINT32_MAX)
		return h->types[idx].valid ? &h->types[idx] : NULL;
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	init_kinds(h);
	/* Type records never move: callers hold pl_type pointers across calls
	 * that meet new types (a traversal walking tp_base chains). The array
	 * is one reservation of address space, backed only where touched. */
	if (!h->types) {
		void *m = mmap(NULL, PL_MAX_TYPES * sizeof(*h->types), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		h->types = m;
		h->captypes = PL_MAX_TYPES;
	}
	if (h->ntypes == h->captypes) {
		if (!h->types_full)
			pl_warn(p, "more than %u distinct types; objects of further types are skipped",
				PL_MAX_TYPES);
		h->types_full = true;
		return NULL;
	}
	struct pl_type *t = &h->types[h->ntypes];
	memset(t, 0, sizeof(*t));
	t->addr = type_addr;
	t->handler = -1;
	t->nslot_offs = -1;
	t->nfields = -1;
	if (!pl_addrmap_put(&h->type_index, type_addr, (uint32_t)h->ntypes, NULL))
		return NULL;
	h->ntypes++;
	/* a copy: a static type may straddle two segments of the core */
	uint8_t b[2048];
	if ((size_t)L->sizeof_type > sizeof(b) || pl_as_read(&p->as, type_addr, b, (size_t)L->sizeof_type))
		return NULL;
	uint64_t tp_name;
	memcpy(&tp_name, b + L->tp_name, 8);
	memcpy(&t->flags, b + L->tp_flags, 8);
	memcpy(&t->basicsize, b + L->tp_basicsize, 8);
	memcpy(&t->itemsize, b + L->tp_itemsize, 8);
	memcpy(&t->dictoffset, b + L->tp_dictoffset, 8);
	memcpy(&t->weaklistoffset, b + L->tp_weaklistoffset, 8);
	memcpy(&t->base, b + L->tp_base, 8);
	memcpy(&t->dict, b + L->tp_dict, 8);
	memcpy(&t->traverse, b + L->tp_traverse, 8);
	memcpy(&t->is_gc, b + L->tp_is_gc, 8);
	memcpy(&t->del, b + L->tp_del, 8);
	memcpy(&t->finalize, b + L->tp_finalize, 8);
	memcpy(&t->mro, b + L->tp_mro, 8);
	memcpy(&t->members, b + L->tp_members, 8);
	memcpy(&t->nslots, b + L->ob_size, 8);
	if (t->basicsize <= 0 || t->basicsize > (1 << 24) || t->itemsize < -(1 << 16) ||
	    t->itemsize > (1 << 16))
		return NULL;   /* not a type object */
	t->heap = (t->flags & L->tpf_heaptype) != 0;
	if (t->heap)
		pl_as_u64(&p->as, type_addr + (uint64_t)L->ht_cached_keys, &t->ht_cached_keys);
	t->kind = kind_of(h, type_addr);
	t->name = t->heap ? heap_type_name(h, type_addr, t->dict, tp_name) : static_type_name(p, tp_name);
	if (!t->name)
		return NULL;
	/* (records never move: t is still valid here) */
	t = &h->types[pl_addrmap_get(&h->type_index, type_addr)];
	t->valid = true;
	return t;
}

long pl_str_read(struct pl_heap *h, uint64_t addr, char *buf, size_t max)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	int64_t refcnt;
	uint64_t type;
	if (max == 0 || !addr || pl_obj_header(p, addr, &refcnt, &type) != 0)
		return -1;
	init_kinds(h);
	uint64_t flags = 0;
	if (type != h->kind_type[PL_K_STR] &&
	    (pl_as_u64(&p->as, type + (uint64_t)L->tp_flags, &flags) != 0 || !(flags & (1ull << 28))))
		return -1;   /* not a str or str subclass */
	uint8_t o[256];
	if ((size_t)L->sizeof_ascii > sizeof(o) || pl_as_read(&p->as, addr, o, (size_t)L->sizeof_ascii))
		return -1;
	int64_t len;
	memcpy(&len, o + L->str_length, 8);
	unsigned kind = (unsigned)bits(o, L->str_kind);
	bool compact = bits(o, L->str_compact), ascii = bits(o, L->str_ascii);
	if (len < 0 || (kind != 1 && kind != 2 && kind != 4))
		return -1;
	uint64_t data;
	if (compact)
		data = addr + (uint64_t)(ascii ? L->sizeof_ascii : L->sizeof_compact);
	else if (pl_as_u64(&p->as, addr + (uint64_t)L->ustr_data, &data) != 0)
		return -1;
	size_t out = 0;
	int64_t want = len;
	if ((uint64_t)want > max)   /* at most max code points can fit anyway */
		want = (int64_t)max;
	const uint8_t *d = pl_as_ptr(&p->as, data, (size_t)want * kind);
	uint8_t *copy = NULL;
	if (!d && want) {
		copy = malloc((size_t)want * kind);
		if (!copy || pl_as_read(&p->as, data, copy, (size_t)want * kind)) {
			free(copy);
			return -1;
		}
		d = copy;
	}
	for (int64_t i = 0; i < want; i++) {
		uint32_t c;
		if (kind == 1)
			c = d[i];
		else if (kind == 2) {
			uint16_t u;
			memcpy(&u, d + 2 * i, 2);
			c = u;
		} else
			memcpy(&c, d + 4 * i, 4);
		char enc[4];
		size_t n;
		if (c < 0x80) {
			enc[0] = (char)c;
			n = 1;
		} else if (c < 0x800) {
			enc[0] = (char)(0xc0 | (c >> 6));
			enc[1] = (char)(0x80 | (c & 0x3f));
			n = 2;
		} else if (c < 0x10000) {
			enc[0] = (char)(0xe0 | (c >> 12));
			enc[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			enc[2] = (char)(0x80 | (c & 0x3f));
			n = 3;
		} else {
			c &= 0x1fffff;
			enc[0] = (char)(0xf0 | (c >> 18));
			enc[1] = (char)(0x80 | ((c >> 12) & 0x3f));
			enc[2] = (char)(0x80 | ((c >> 6) & 0x3f));
			enc[3] = (char)(0x80 | (c & 0x3f));
			n = 4;
		}
		if (out + n >= max)
			break;
		memcpy(buf + out, enc, n);
		out += n;
	}
	buf[out] = 0;
	free(copy);
	return (long)len;
}

int pl_dict_iter_init(struct pl_dict_iter *it, struct pl_program *p, uint64_t dict)
{
	const struct pl_layout *L = &p->L;
	memset(it, 0, sizeof(*it));
	it->p = p;
	if (pl_as_u64(&p->as, dict + (uint64_t)L->dict_keys, &it->keys) != 0 ||
	    pl_as_u64(&p->as, dict + (uint64_t)L->dict_values, &it->values) != 0 || !it->keys)
		return -1;
	int64_t size;
	if (L->dict_log2) {
		uint8_t log2_size, log2_index, kind;
		if (pl_as_read(&p->as, it->keys + (uint64_t)L->dk_log2_size, &log2_size, 1) ||
		    pl_as_read(&p->as, it->keys + (uint64_t)L->dk_log2_index_bytes, &log2_index, 1) ||
		    pl_as_read(&p->as, it->keys + (uint64_t)L->dk_kind, &kind, 1) || log2_size > 40 ||
		    log2_index > 43)
			return -1;
		size = 1ll << log2_size;
		it->entries = it->keys + (uint64_t)L->dk_indices + (1ull << log2_index);
		bool general = kind != (uint8_t)L->dk_unicode_kind && kind != (uint8_t)L->dk_split_kind;
		it->esize = general ? L->sizeof_dk_entry : L->sizeof_du_entry;
		it->koff = general ? L->dke_key : L->due_key;
		it->voff = general ? L->dke_value : L->due_value;
	} else {
		if (pl_as_u64(&p->as, it->keys + (uint64_t)L->dk_size, (uint64_t *)&size) || size <= 0 ||
		    size > MAX_DICT_ENTRIES || (size & (size - 1)))
			return -1;
		int width = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffll ? 4 : 8;
		it->entries = it->keys + (uint64_t)L->dk_indices + (uint64_t)(size * width);
		it->esize = L->sizeof_dk_entry;
		it->koff = L->dke_key;
		it->voff = L->dke_value;
	}
	if (pl_as_read(&p->as, it->keys + (uint64_t)L->dk_nentries, &it->nentries, 8) ||
	    it->nentries < 0 || it->nentries > size || it->esize <= 0)
		return -1;
	it->split = it->values != 0;
	return 0;
}

int pl_dict_iter_next(struct pl_dict_iter *it, uint64_t *key, uint64_t *value)
{
	struct pl_program *p = it->p;
	const struct pl_layout *L = &p->L;
	while (it->i < it->nentries) {
		int64_t i = it->i++;
		uint64_t e = it->entries + (uint64_t)(i * it->esize);
		if (pl_as_u64(&p->as, e + (uint64_t)it->koff, key) != 0)
			return -1;
		if (it->split) {
			uint64_t vbase = it->values + (uint64_t)(L->dv_values >= 0 ? L->dv_values : 0);
			if (pl_as_u64(&p->as, vbase + (uint64_t)(8 * i), value) != 0)
				return -1;
		} else if (pl_as_u64(&p->as, e + (uint64_t)it->voff, value) != 0) {
			return -1;
		}
		if (*key && *value)
			return 1;
	}
	return 0;
}

uint64_t pl_dict_get_str(struct pl_heap *h, uint64_t dict, const char *key)
{
	struct pl_dict_iter it;
	uint64_t k, v;
	char buf[256];
	size_t klen = strlen(key);
	if (pl_dict_iter_init(&it, h->p, dict) != 0)
		return 0;
	while (pl_dict_iter_next(&it, &k, &v) == 1)
		if (pl_str_read(h, k, buf, sizeof(buf)) == (long)klen && strcmp(buf, key) == 0)
			return v;
	return 0;
}

int pl_int_value(struct pl_heap *h, uint64_t addr, int64_t *v)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	int64_t n;
	int sign = 1;
	if (L->long_tagged) {
		uint64_t tag;
		if (pl_as_u64(&p->as, addr + (uint64_t)L->long_tag, &tag))
			return -1;
		n = (int64_t)(tag >> 3);
		sign = 1 - (int)(tag & 3);
	} else {
		if (pl_as_u64(&p->as, addr + (uint64_t)L->ob_size, (uint64_t *)&n))
			return -1;
		if (n < 0) {
			if (n < -2)
				return -1;   /* beyond 60 bits (or INT64_MIN) */
			sign = -1;
			n = -n;
		}
	}
	if (n > 2)
		return -1;   /* beyond 60 bits: not needed here */
	uint64_t acc = 0;
	for (int64_t i = n - 1; i >= 0; i--) {
		uint32_t d;
		if (pl_as_read(&p->as, addr + (uint64_t)L->long_digit + (uint64_t)(4 * i), &d, 4))
			return -1;
		acc = (acc << 30) | (d & 0x3fffffff);
	}
	*v = sign * (int64_t)acc;
	return 0;
}

int64_t pl_obj_len(struct pl_heap *h, uint64_t addr, const struct pl_type *t)
{
	const struct pl_layout *L = &h->p->L;
	int32_t off = -1;
	switch (t->kind) {
	case PL_K_TUPLE:
	case PL_K_LIST:
	case PL_K_BYTES:
		off = L->ob_size;
		break;
	case PL_K_DICT:
		off = L->dict_used;
		break;
	case PL_K_SET:
	case PL_K_FROZENSET:
		off = L->set_used;
		break;
	default: {
		const char *tn = pl_traverse_name(h, t->traverse);
		if (tn && !strcmp(tn, "deque_traverse"))
			off = L->ob_size;
	}
	}
	int64_t n = -1;
	if (off < 0 || pl_as_read(&h->p->as, addr + (uint64_t)off, &n, 8) != 0 || n < 0)
		return -1;
	return n;
}

const char *pl_short_repr(struct pl_heap *h, uint64_t addr, char *buf, size_t len)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	int64_t rc, iv;
	uint64_t ty;
	char s[64];
	init_kinds(h);
	if (addr && addr == h->none)
		return snprintf(buf, len, "None"), buf;
	if (addr && (addr == h->true_ || addr == h->false_))
		return snprintf(buf, len, addr == h->true_ ? "True" : "False"), buf;
	struct pl_type *t = addr && pl_obj_header(p, addr, &rc, &ty) == 0 ? pl_type_get(h, ty) : NULL;
	if (!t) {
		snprintf(buf, len, "<? 0x%" PRIx64 ">", addr);
		return buf;
	}
	bool exact = t->addr == h->kind_type[t->kind];
	long n;
	double d;
	switch (exact ? t->kind : PL_K_OTHER) {
	case PL_K_STR:
		if ((n = pl_str_read(h, addr, s, 44)) < 0)
			break;
		for (char *c = s; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == '\'' || *c == '\\')
				*c = '?';
		snprintf(buf, len, "'%s%s'", s, n > 40 ? "..." : "");
		return buf;
	case PL_K_INT:
		if (pl_int_value(h, addr, &iv) == 0)
			snprintf(buf, len, "%" PRId64, iv);
		else
			snprintf(buf, len, "<int (large)>");
		return buf;
	case PL_K_FLOAT:
		if (pl_as_read(&p->as, addr + (uint64_t)L->float_val, &d, 8) != 0)
			break;
		snprintf(buf, len, "%.17g", d);
		return buf;
	case PL_K_BYTES:
		snprintf(buf, len, "<bytes len=%" PRId64 ">", pl_obj_len(h, addr, t));
		return buf;
	case PL_K_TUPLE:
	case PL_K_LIST:
		snprintf(buf, len, "<%s len=%" PRId64 ">", t->kind == PL_K_TUPLE ? "tuple" : "list",
			 pl_obj_len(h, addr, t));
		return buf;
	case PL_K_DICT:
		snprintf(buf, len, "<dict len=%" PRId64 ">", pl_obj_len(h, addr, t));
		return buf;
	case PL_K_SET:
	case PL_K_FROZENSET:
		snprintf(buf, len, "<%s len=%" PRId64 ">", t->kind == PL_K_SET ? "set" : "frozenset",
			 pl_obj_len(h, addr, t));
		return buf;
	default:
		break;
	}
	snprintf(buf, len, "<%s 0x%" PRIx64 ">", t->name, addr);
	return buf;
}

static uint64_t round8(uint64_t n)
{
	return (n + 7) & ~7ull;
}

/* Out-of-line dict storage owned by this dict. */
static uint64_t dict_extra(struct pl_program *p, uint64_t dict)
{
	const struct pl_layout *L = &p->L;
	uint64_t keys, values;
	int64_t refcnt;
	if (pl_as_u64(&p->as, dict + (uint64_t)L->dict_keys, &keys) ||
	    pl_as_u64(&p->as, dict + (uint64_t)L->dict_values, &values) || !keys ||
	    pl_as_u64(&p->as, keys + (uint64_t)L->dk_refcnt, (uint64_t *)&refcnt))
		return 0;
	uint64_t size, index_bytes, esize;
	if (L->dict_log2) {
		uint8_t l2, li, kind;
		if (pl_as_read(&p->as, keys + (uint64_t)L->dk_log2_size, &l2, 1) ||
		    pl_as_read(&p->as, keys + (uint64_t)L->dk_log2_index_bytes, &li, 1) ||
		    pl_as_read(&p->as, keys + (uint64_t)L->dk_kind, &kind, 1) || l2 > 40 || li > 43)
			return 0;
		size = 1ull << l2;
		index_bytes = 1ull << li;
		esize = (uint64_t)(kind == 0 ? L->sizeof_dk_entry : L->sizeof_du_entry);
	} else {
		int64_t s;
		if (pl_as_u64(&p->as, keys + (uint64_t)L->dk_size, (uint64_t *)&s) || s <= 0 || s > MAX_DICT_ENTRIES)
			return 0;
		size = (uint64_t)s;
		index_bytes = size * (size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffull ? 4 : 8);
		esize = (uint64_t)L->sizeof_dk_entry;
	}
	uint64_t usable = (size << 1) / 3, extra = 0;
	if (refcnt == 1)   /* shared keys are counted by nobody in particular */
		extra += (uint64_t)L->sizeof_dk + index_bytes + usable * esize;
	if (values) {
		if (L->dv_capacity >= 0) {   /* 3.13: embedded values belong to the instance */
			uint8_t cap = 0, embedded = 0;
			pl_as_read(&p->as, values + (uint64_t)L->dv_capacity, &cap, 1);
			pl_as_read(&p->as, values + (uint64_t)L->dv_embedded, &embedded, 1);
			if (!embedded)
				extra += (uint64_t)L->dv_values + cap * 8ull + round8(cap);
		} else if (L->dv_values >= 0) {   /* 3.11/3.12: order prefix + values */
			extra += round8(usable + 2) + usable * 8;
		} else {
			extra += usable * 8;
		}
	}
	return extra;
}

/* A count or capacity read from the core: false (and counted) when no live
 * object could have it. */
static bool plausible(uint64_t *bad, int64_t v)
{
	if (v >= 0 && v < (1ll << 40))
		return true;
	(*bad)++;
	return false;
}

uint64_t pl_obj_size(struct pl_heap *h, uint64_t addr, const struct pl_type *t, bool gc)
{
	return pl_obj_size_counted(h, addr, t, gc, &h->bad_sizes);
}

uint64_t pl_obj_size_counted(struct pl_heap *h, uint64_t addr, const struct pl_type *t, bool gc,
			     uint64_t *bad)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	uint64_t size = 0;
	if (gc) {
		size += (uint64_t)L->sizeof_gc_head;
		if (t->flags & (L->tpf_managed_dict | L->tpf_managed_weakref))
			size += (uint64_t)L->preheader_words * 8;
	}
	int64_t n = 0;
	/* 3.11+ generators (and coroutines, async generators) and frame
	 * objects hold a frame's slots after their fields but have no ob_size
	 * (the word there is a field): the slots are the code's locals and
	 * stack, as gen_sizeof and frame_sizeof count them */
	uint64_t code = 0, iframe = 0;
	bool slots_of_code = false;
	if (t->itemsize && L->gen_iframe >= 0 &&
	    (t->kind == PL_K_GEN || t->kind == PL_K_COROUTINE || t->kind == PL_K_ASYNCGEN)) {
		slots_of_code = true;
		pl_as_u64(&p->as, addr + (uint64_t)L->gen_code, &code);
	} else if (t->itemsize && t->kind == PL_K_FRAME && L->fo_frame >= 0) {
		slots_of_code = true;
		if (pl_as_u64(&p->as, addr + (uint64_t)L->fo_frame, &iframe) == 0 && iframe)
			pl_as_u64(&p->as, iframe + (uint64_t)L->if_code, &code);
	}
	if (slots_of_code) {
		int32_t nl = 0, ss = 0;
		if (code && L->co_nlocalsplus >= 0 && L->co_stacksize >= 0 &&
		    pl_as_read(&p->as, code + (uint64_t)L->co_nlocalsplus, &nl, 4) == 0 &&
		    pl_as_read(&p->as, code + (uint64_t)L->co_stacksize, &ss, 4) == 0 && nl >= 0 && ss >= 0)
			n = (int64_t)nl + ss;
	} else if (t->itemsize) {
		if (t->kind == PL_K_INT && L->long_tagged) {
			uint64_t tag;
			if (pl_as_u64(&p->as, addr + (uint64_t)L->long_tag, &tag) == 0)
				n = (int64_t)(tag >> 3);
		} else if (pl_as_u64(&p->as, addr + (uint64_t)L->ob_size, (uint64_t *)&n) == 0) {
			/* ints keep their sign in ob_size; INT64_MIN has no negation */
			n = n >= 0 ? n : n < -(1ll << 40) ? INT64_MAX : -n;
		}
		if (n > (1ll << 40)) {
			n = 0;   /* damaged */
			(*bad)++;
		}
	}
	size += round8((uint64_t)t->basicsize + (uint64_t)n * (uint64_t)(t->itemsize < 0 ? -t->itemsize : t->itemsize));
	if (t->flags & L->tpf_inline_values) {
		uint8_t cap = 0;
		if (pl_as_read(&p->as, addr + (uint64_t)t->basicsize + (uint64_t)L->dv_capacity, &cap, 1) == 0)
			size += (uint64_t)L->dv_values + cap * 8ull + round8(cap);
	}
	switch (t->kind) {
	case PL_K_LIST: {
		int64_t alloc;
		if (pl_as_u64(&p->as, addr + (uint64_t)L->list_allocated, (uint64_t *)&alloc) == 0 &&
		    plausible(bad, alloc))
			size += (uint64_t)alloc * 8;
		break;
	}
	case PL_K_DICT:
		size += dict_extra(p, addr);
		break;
	case PL_K_BYTEARRAY: {   /* its buffer (ob_alloc bytes, as sys.getsizeof) */
		int64_t alloc;
		if (pl_as_u64(&p->as, addr + (uint64_t)L->bytearray_alloc, (uint64_t *)&alloc) == 0 &&
		    plausible(bad, alloc))
			size += (uint64_t)alloc;
		break;
	}
	case PL_K_SET:
	case PL_K_FROZENSET: {
		uint64_t table;
		int64_t mask;
		if (pl_as_u64(&p->as, addr + (uint64_t)L->set_table, &table) == 0 &&
		    table != addr + (uint64_t)L->set_smalltable &&
		    pl_as_u64(&p->as, addr + (uint64_t)L->set_mask, (uint64_t *)&mask) == 0 &&
		    plausible(bad, mask))
			size += (uint64_t)(mask + 1) * (uint64_t)L->sizeof_setentry;
		break;
	}
	default:
		break;
	}
	return size > UINT32_MAX ? UINT32_MAX : size;
}

static void index_release(struct pl_heap *h);

void pl_heap_release(struct pl_heap *h)
{
	for (size_t i = 0; i < h->ntypes; i++) {
		free(h->types[i].name);
		free(h->types[i].slot_offs);
		free(h->types[i].slot_names);
		for (int32_t k = 0; k < h->types[i].nfields; k++)
			free(h->types[i].fields[k].name);
		free(h->types[i].fields);
	}
	if (h->types)
		munmap(h->types, h->captypes * sizeof(*h->types));
	pl_big_free(h->objs, h->capobjs * sizeof(*h->objs));
	pl_addrmap_release(&h->type_index);
	index_release(h);
	for (size_t i = 0; i < h->ntrav; i++)
		free(h->trav_names[i]);
	free(h->trav_names);
	pl_addrmap_release(&h->trav_index);
	struct pl_program *p = h->p;
	memset(h, 0, sizeof(*h));
	h->p = p;
}

static uint64_t heap_hash(uint64_t addr)
{
	return (addr >> 3) * 0x9E3779B97F4A7C15ull;
}

static size_t islot(const struct pl_heap *h, uint64_t addr)
{
	return (size_t)(heap_hash(addr) >> 17) & (h->icap - 1);
}

static uint16_t itag(uint64_t addr)
{
	return (uint16_t)(heap_hash(addr) >> 1);
}

uint32_t pl_heap_find_hashed(const struct pl_heap *h, uint64_t addr)
{
	if (!h->icap)
		return UINT32_MAX;
	uint16_t tag = itag(addr);
	for (size_t s = islot(h, addr);; s = (s + 1) & (h->icap - 1)) {
		uint32_t i = h->islots[s];
		if (i == UINT32_MAX || (h->itags[s] == tag && h->objs[i].addr == addr))
			return i;
	}
}

static bool index_resize(struct pl_heap *h, size_t cap)
{
	uint32_t *slots = malloc(cap * sizeof(*slots));
	uint16_t *tags = malloc(cap * sizeof(*tags));
	if (!slots || !tags) {
		free(slots);
		free(tags);
		return false;
	}
	memset(slots, 0xff, cap * sizeof(*slots));
	uint32_t *old = h->islots;
	size_t oldcap = h->icap;
	h->islots = slots;
	free(h->itags);
	h->itags = tags;
	h->icap = cap;
	for (size_t k = 0; k < oldcap; k++) {
		if (old[k] == UINT32_MAX)
			continue;
		uint64_t addr = h->objs[old[k]].addr;
		size_t s = islot(h, addr);
		while (slots[s] != UINT32_MAX)
			s = (s + 1) & (cap - 1);
		slots[s] = old[k];
		tags[s] = itag(addr);
	}
	free(old);
	return true;
}

/* The slot for addr in the hashed index, made room for: its current id
 * (UINT32_MAX: free), or NULL when out of memory. */
static uint32_t *hashed_slot(struct pl_heap *h, uint64_t addr, uint16_t **tagp)
{
	if ((h->icount + 1) * 10 > h->icap * 7 && !index_resize(h, h->icap ? h->icap * 2 : 1024))
		return NULL;   /* load <= 0.7 */
	uint16_t tag = itag(addr);
	size_t s = islot(h, addr);
	for (; h->islots[s] != UINT32_MAX; s = (s + 1) & (h->icap - 1))
		if (h->itags[s] == tag && h->objs[h->islots[s]].addr == addr)
			break;
	*tagp = &h->itags[s];
	return &h->islots[s];
}

/* Reserve the chunks of the direct index: a chunk per MiB of the address
 * space that holds memory (objects are nowhere else). */
static void index_pool(struct pl_heap *h)
{
	h->ipool_tried = true;
	if (!h->p)
		return;
	const struct pl_as *as = &h->p->as;
	size_t n = 0;
	uint64_t last = UINT64_MAX;
	for (size_t i = 0; i < as->n; i++) {
		uint64_t lo = as->r[i].start >> 20, hi = (as->r[i].end - 1) >> 20;
		if (lo == last)
			lo++;
		if (hi >= lo)
			n += (size_t)(hi - lo + 1);
		last = hi;
	}
	size_t size = n * (sizeof(uint32_t) << PL_IDX_CHUNK_BITS);
	void *m = size ? mmap(NULL, size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) : MAP_FAILED;
	if (m != MAP_FAILED) {
		h->ipool = m;
		h->ipool_size = size;
	}
}

/* The chunk for addr's MiB, made if need be; NULL when out of memory. */
static struct pl_idx_chunk *index_chunk(struct pl_heap *h, uint64_t addr)
{
	if (!h->idir && !(h->idir = calloc((size_t)1 << PL_IDX_L1_BITS, sizeof(*h->idir))))
		return NULL;
	struct pl_idx_chunk **l2 = &h->idir[addr >> 32];
	if (!*l2 && !(*l2 = calloc((size_t)1 << PL_IDX_L2_BITS, sizeof(**l2))))
		return NULL;
	struct pl_idx_chunk *ch = &(*l2)[(addr >> 20) & ((1u << PL_IDX_L2_BITS) - 1)];
	if (!ch->slots) {
		/* zero, and its pages appear as they are written */
		const size_t chunk = sizeof(uint32_t) << PL_IDX_CHUNK_BITS;
		if (!h->ipool_tried)
			index_pool(h);
		void *m;
		if (h->ipool && h->ipool_used + chunk <= h->ipool_size) {
			m = h->ipool + h->ipool_used;
			h->ipool_used += chunk;
		} else if ((m = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
				     0)) == MAP_FAILED) {
			return NULL;
		}
		ch->slots = m;
	}
	return ch;
}

/* The slot for addr in chunk ch, its part written (to 0) if it never was. */
static uint32_t *chunk_slot(struct pl_idx_chunk *ch, uint64_t addr)
{
	uint32_t k = pl_idx_slot(addr);
	uint64_t part = (uint64_t)1 << (k >> PL_IDX_PART_BITS);
	if (!(ch->written & part)) {
		ch->written |= part;
		ch->slots[k] = 0;   /* a write first: the page is faulted once */
	}
	return &ch->slots[k];
}

/* The direct slot for addr, its chunk made if need be, its part written
 * (to 0) if it never was; NULL when out of memory. */
static uint32_t *direct_slot(struct pl_heap *h, uint64_t addr)
{
	struct pl_idx_chunk *ch = index_chunk(h, addr);
	return ch ? chunk_slot(ch, addr) : NULL;
}

static void index_release(struct pl_heap *h)
{
	if (h->idir) {
		for (size_t i = 0; i < (size_t)1 << PL_IDX_L1_BITS; i++) {
			if (!h->idir[i])
				continue;
			for (size_t j = 0; j < (size_t)1 << PL_IDX_L2_BITS; j++) {
				uint8_t *c = (uint8_t *)h->idir[i][j].slots;
				if (c && !(c >= h->ipool && c < h->ipool + h->ipool_size))
					munmap(c, sizeof(uint32_t) << PL_IDX_CHUNK_BITS);
			}
			free(h->idir[i]);
		}
		free(h->idir);
	}
	if (h->ipool)
		munmap(h->ipool, h->ipool_size);
	free(h->islots);
	free(h->itags);
}

bool pl_heap_reserve(struct pl_heap *h, size_t n)
{
	if (n <= h->capobjs)
		return true;
	size_t cap = h->capobjs ? h->capobjs + h->capobjs / 2 : 65536;
	if (cap < n)
		cap = n;
	if (cap >= PL_IDX_ID - 1)   /* 1 + an index fits in a slot */
		cap = PL_IDX_ID - 1;
	if (cap < n)
		return false;
	struct pl_obj *o = pl_big_resize(h->objs, h->capobjs * sizeof(*o), cap * sizeof(*o));
	if (!o)
		return false;
	h->objs = o;
	h->capobjs = cap;
	return true;
}

uint32_t pl_heap_add(struct pl_heap *h, const struct pl_obj *o, bool *dup)
{
	*dup = false;
	uint32_t *dslot = NULL, *hslot = NULL, *shared = NULL;
	uint16_t *tag = NULL;
	if (pl_heap_direct(o->addr)) {
		if (!(dslot = direct_slot(h, o->addr)))
			return UINT32_MAX;
		uint32_t s = *dslot;
		if (pl_idx_holds(s, o->addr)) {
			*dup = true;
			return (s & PL_IDX_ID) - 1;
		}
		/* another object in these 32 bytes, now or before: addr may be
		 * hashed already */
		if (s & (PL_IDX_ID | PL_IDX_SHARED)) {
			if (!(hslot = hashed_slot(h, o->addr, &tag)))
				return UINT32_MAX;
			if (*hslot != UINT32_MAX) {
				*dup = true;
				return *hslot;
			}
			if (s & PL_IDX_ID) {   /* taken: hashed, the slot marked shared */
				shared = dslot;
				dslot = NULL;
			} else {               /* free: there */
				hslot = NULL;
			}
		}
	} else {
		if (!(hslot = hashed_slot(h, o->addr, &tag)))
			return UINT32_MAX;
		if (*hslot != UINT32_MAX) {
			*dup = true;
			return *hslot;
		}
	}
	if (h->nobjs == h->capobjs && !pl_heap_reserve(h, h->nobjs + 1))
		return UINT32_MAX;
	uint32_t id = (uint32_t)h->nobjs++;
	h->objs[id] = *o;
	if (dslot) {
		*dslot = (id + 1) | pl_idx_half(o->addr) | (*dslot & PL_IDX_SHARED);
	} else {
		*hslot = id;
		*tag = itag(o->addr);
		h->icount++;
		if (shared)
			*shared |= PL_IDX_SHARED;
	}
	return id;
}

/* A radix sort pass: turn a 16-bit digit histogram into each digit's first
 * position. false when one digit (some element's, `any`) holds all n: the
 * pass would change nothing. */
static bool radix_starts(size_t *count, size_t n, size_t any)
{
	if (count[any] == n)
		return false;
	size_t sum = 0;
	for (size_t d = 0; d < 65536; d++) {
		size_t c = count[d];
		count[d] = sum;
		sum += c;
	}
	return true;
}

/* Index the objects that are not in the direct map again, from scratch. */
static void reindex_hashed(struct pl_heap *h)
{
	if (!h->icount)
		return;
	memset(h->islots, 0xff, h->icap * sizeof(*h->islots));
	h->icount = 0;
	for (size_t i = 0; i < h->nobjs; i++) {
		uint64_t a = h->objs[i].addr;
		const uint32_t *d = pl_heap_direct(a) ? pl_heap_dslot(h, a) : NULL;
		if (d && pl_idx_holds(*d, a))
			continue;
		size_t s = islot(h, a);
		while (h->islots[s] != UINT32_MAX)
			s = (s + 1) & (h->icap - 1);
		h->islots[s] = (uint32_t)i;
		h->itags[s] = itag(a);
		h->icount++;
	}
}

/* LSD radix sort, 16-bit digits of addr >> 3; a digit all objects share
 * costs no pass. */
bool pl_heap_sort(struct pl_heap *h)
{
	size_t n = h->nobjs, k = 1;
	while (k < n && h->objs[k - 1].addr < h->objs[k].addr)
		k++;
	if (k >= n)
		return true;   /* in order already */
	struct pl_obj *tmp = malloc(n * sizeof(*tmp));
	size_t *count = malloc(65536 * sizeof(*count));
	if (!tmp || !count) {
		free(tmp);
		free(count);
		return false;
	}
	struct pl_obj *from = h->objs, *to = tmp;
	for (int shift = 3; shift < 64; shift += 16) {
		memset(count, 0, 65536 * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[(from[i].addr >> shift) & 0xffff]++;
		if (!radix_starts(count, n, (from[0].addr >> shift) & 0xffff))
			continue;   /* one digit for all: already in order by it */
		for (size_t i = 0; i < n; i++)
			to[count[(from[i].addr >> shift) & 0xffff]++] = from[i];
		struct pl_obj *x = from;
		from = to;
		to = x;
	}
	if (from != h->objs)
		memcpy(h->objs, from, n * sizeof(*from));
	free(tmp);
	free(count);
	/* the ids changed: so do the index's slots (those of the objects
	 * there: the other half's are hashed) */
	for (size_t i = 0; i < n; i++) {
		uint64_t a = h->objs[i].addr;
		if (!pl_heap_direct(a))
			continue;
		uint32_t *s = (uint32_t *)pl_heap_dslot(h, a);
		if (pl_idx_holds(*s, a))
			*s = (uint32_t)(i + 1) | (*s & ~PL_IDX_ID);
	}
	reindex_hashed(h);   /* the few other addresses */
	return true;
}

void pl_heap_shrink(struct pl_heap *h)
{
	if (h->nobjs && h->nobjs < h->capobjs) {
		struct pl_obj *n = pl_big_resize(h->objs, h->capobjs * sizeof(*n), h->nobjs * sizeof(*n));
		if (n) {
			h->objs = n;
			h->capobjs = h->nobjs;
		}
	}
}

static const char *gen_name(int g)
{
	static const char *n[] = { "generation 0", "generation 1", "generation 2",
				   "the permanent generation" };
	return n[g];
}

/* The rest of a listed object's record, from its header (refcnt, type t)
 * and _gc_prev word */
static void fill_listed(struct pl_heap *h, struct pl_obj *o, const struct pl_type *t, int64_t refcnt,
			uint64_t gprev, uint64_t *bad)
{
	o->type = (uint32_t)(t - h->types);
	o->refcnt = pl_refcnt_clamp(refcnt);
	o->flags = 0;
	if (gprev & 1)
		o->flags |= PL_OF_FINALIZED;
	if (h->p->L.immortal_refcnt && (int32_t)(uint32_t)refcnt < 0)
		o->flags |= PL_OF_IMMORTAL;
	o->size = (uint32_t)pl_obj_size_counted(h, o->addr, t, true, bad);
}

/* o in the census totals (undone by uncount) */
static void count(struct pl_heap *h, const struct pl_obj *o)
{
	struct pl_type *t = &h->types[o->type];
	t->count++;
	t->bytes += o->size;
	h->total_bytes += o->size;
}

/* Read the header, type and size of the object of gc list node `node`
 * (gprev: its _gc_prev word) into *o and count it in the census totals
 * (undone by uncount). false when its header or type (*type, for the
 * warning) is unreadable. */
static bool read_listed(struct pl_heap *h, uint64_t node, uint64_t gprev, struct pl_obj *o,
			uint64_t *type)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	uint64_t addr = node + (uint64_t)L->sizeof_gc_head;
	int64_t refcnt = 0;
	struct pl_type *t;
	o->addr = addr;
	*type = 0;
	if (pl_obj_header(p, addr, &refcnt, type) != 0 || !(t = pl_type_get(h, *type)))
		return false;
	fill_listed(h, o, t, refcnt, gprev, &h->bad_sizes);
	count(h, o);
	return true;
}

static void uncount(struct pl_heap *h, const struct pl_obj *o)
{
	struct pl_type *t = &h->types[o->type];
	t->count--;
	t->bytes -= o->size;
	h->total_bytes -= o->size;
}

/* Add the object of gc list node `node` (gprev: its _gc_prev word). *stop
 * is set when the list is damaged there (warned). */
static struct pl_error *take_node(struct pl_heap *h, uint64_t node, uint64_t gprev, int gen,
				  bool quiet, int *stop)
{
	struct pl_program *p = h->p;
	*stop = 1;
	struct pl_obj o = { .gen = (uint8_t)gen };
	uint64_t type;
	if (!read_listed(h, node, gprev, &o, &type)) {
		if (quiet)
			return NULL;
		pl_warn(p, "%s list: object 0x%llx has an unreadable header or type 0x%llx; "
			"stopped", gen_name(gen), (unsigned long long)o.addr, (unsigned long long)type);
		h->damaged = true;
		return NULL;
	}
	bool seen;
	if (pl_heap_add(h, &o, &seen) == UINT32_MAX)
		return pl_error(PL_E_NOMEM, "out of memory at %zu objects", h->nobjs);
	if (seen) {
		if (!quiet) {
			pl_warn(p, "%s list: object 0x%llx was already listed; list damaged, stopped",
				gen_name(gen), (unsigned long long)o.addr);
			h->damaged = true;
		}
		uncount(h, &o);
		return NULL;
	}
	h->gen_objects[gen]++;
	*stop = 0;
	return NULL;
}

/* Walk one gc list. Stops (with a warning) at an unreadable node, a broken
 * back link, or more nodes than the core could hold. */
static struct pl_error *walk_list_seq(struct pl_heap *h, uint64_t head, int gen, uint64_t limit)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	const uint64_t mask = ~(uint64_t)L->gc_list_mask;
	const bool check_prev = !p->rt.gc.collecting;
	uint64_t node, prev = head, n = 0;
	if (pl_as_u64(&p->as, head + (uint64_t)L->gc_next, &node) != 0) {
		pl_warn(p, "%s list head 0x%llx is not in the core", gen_name(gen), (unsigned long long)head);
		h->damaged = true;
		return NULL;
	}
	node &= mask;
	while (node != head) {
		uint8_t gbuf[64];
		const uint8_t *g = node ? pl_as_ptr(&p->as, node, (size_t)L->sizeof_gc_head) : NULL;
		if (!g && node && (size_t)L->sizeof_gc_head <= sizeof(gbuf) &&
		    pl_as_read(&p->as, node, gbuf, (size_t)L->sizeof_gc_head) == 0)
			g = gbuf;
		if (!g) {
			pl_warn(p, "%s list: node 0x%llx after 0x%llx is not in the core; %llu objects "
				"read, the rest of the list is lost", gen_name(gen),
				(unsigned long long)node, (unsigned long long)prev, (unsigned long long)n);
			h->damaged = true;
			break;
		}
		uint64_t next, gprev;
		memcpy(&next, g + L->gc_next, 8);
		memcpy(&gprev, g + L->gc_prev, 8);
		if (check_prev && (gprev & mask) != prev) {
			pl_warn(p, "%s list: node 0x%llx does not link back to 0x%llx; list damaged, "
				"%llu objects read", gen_name(gen), (unsigned long long)node,
				(unsigned long long)prev, (unsigned long long)n);
			h->damaged = true;
			break;
		}
		if (++n > limit) {
			pl_warn(p, "%s list does not end after %llu nodes (cyclic?); stopped",
				gen_name(gen), (unsigned long long)limit);
			h->damaged = true;
			break;
		}
		int stop;
		struct pl_error *err = take_node(h, node, gprev, gen, false, &stop);
		if (err)
			return err;
		if (stop)
			break;
		prev = node;
		node = next & mask;
	}
	/* A well-formed list is a ring: the head's back link names the last
	 * node. Otherwise part of the list is hidden (a head pointing at itself
	 * hides a whole generation). */
	uint64_t head_prev;
	if (node == head && check_prev &&
	    pl_as_u64(&p->as, head + (uint64_t)L->gc_prev, &head_prev) == 0 && (head_prev & mask) != prev) {
		pl_warn(p, "%s list: the head 0x%llx links back to 0x%llx, not to the last node 0x%llx; "
			"list damaged, %llu objects read", gen_name(gen), (unsigned long long)head,
			(unsigned long long)(head_prev & mask), (unsigned long long)prev, (unsigned long long)n);
		h->damaged = true;
	}
	return NULL;
}

unsigned pl_threads(void)
{
	const char *e = getenv("PYLEAK_THREADS");
	if (e && *e) {
		char *end;
		long n = strtol(e, &end, 10);
		return *end || n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
	}
	cpu_set_t set;
	return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 1 ? (unsigned)CPU_COUNT(&set) : 1;
}

void pl_beside_start(struct pl_beside *b, void *(*fn)(void *), void *arg)
{
	b->running = pl_threads() > 1 && pthread_create(&b->tid, NULL, fn, arg) == 0;
	if (!b->running)
		fn(arg);
}

void pl_beside_wait(struct pl_beside *b)
{
	if (b->running)
		pthread_join(b->tid, NULL);
	b->running = false;
}

/* Drop the objects from `before` on (index entries, census totals). */
static void heap_truncate(struct pl_heap *h, size_t before)
{
	for (size_t i = before; i < h->nobjs; i++) {
		const struct pl_obj *o = &h->objs[i];
		uncount(h, o);
		h->gen_objects[o->gen]--;
		if (pl_heap_direct(o->addr)) {
			uint32_t *s = (uint32_t *)pl_heap_dslot(h, o->addr);
			if (pl_idx_holds(*s, o->addr))   /* (else hashed) */
				*s &= PL_IDX_SHARED;
		}
	}
	h->nobjs = before;
	reindex_hashed(h);   /* open addressing has no delete */
}

/* The gc lists are doubly linked rings, and walking one is a chain of
 * dependent loads: its time is memory latency. With two or more CPUs the
 * rings are cut into segments, and each thread walks many segments at once,
 * a step of each in turn, so that their loads overlap.
 *
 * A segment starts at a seed: the first node of a ring, or a node found by
 * sampling the core's memory at evenly spaced places (a 16-byte aligned
 * pair of words, next and prev, where next links back to it and prev
 * forward). Such a seed may belong to no gc list at all (another doubly
 * linked list looks the same); it is used only if a ring's walk arrives at
 * it. The seeds are claimed in a bitmap (a bit per 16 bytes of the core
 * file) before the walk starts. Each walker goes forward from its seed,
 * checks every node's link back, claims the node (atomically) and stops at
 * a list head or at a node already claimed: the seed of another segment.
 * A node has one link back, so no two walkers pass the same node, and a
 * walker that started off the rings never reaches one. The rings are then
 * put together from their heads, segment after segment; segments no ring
 * reaches are dropped. The segments off the largest ring are walked again
 * the same way, to mark their nodes' generation in two more bitmaps, or to
 * take back the claims of those on no ring. The claimed bits, read in
 * address order, are then the census.
 *
 * Anything unusual on a ring (a link that does not point back, a node
 * outside the core's own data or not 16-byte aligned, a segment that ends
 * elsewhere than at a seed or at its own head, too many nodes) abandons the
 * walk, and the lists are walked again one node after the other, which
 * reports the damage as it always did. */
#define WALK_SLOTS 16        /* segments a thread walks at once */
#define WALK_SAMPLES 4096    /* places of the core sampled for seeds */
#define WALK_SCAN 32         /* 16-byte granules looked at from each place */

struct segment {
	uint64_t seed;
	uint64_t prev0;          /* the seed's link back, checked if check0 */
	size_t n;                /* its nodes */
	uint64_t last;           /* the last node */
	uint64_t end;            /* the node after the last: a seed or a head */
	int gen;                 /* the ring it is part of; -1: none */
	bool check0, fail;
};

struct walk {
	const struct pl_as *as;
	const struct pl_layout *L;
	const uint8_t *base;     /* the core's data */
	size_t size;
	_Atomic uint64_t *claimed;
	size_t words;            /* in claimed (and in each gx) */
	uint64_t heads[4], mask, limit;
	struct segment *segs;
	size_t nsegs, capsegs;
	_Atomic size_t next_seg;
	size_t nring;            /* the nodes on the rings */
	/* the walk again (walk_again) of the segments off the largest ring,
	 * whose generation is main_gen: each node's generation xor main_gen
	 * in two bitmaps laid out as claimed; gsum: a bit per 4 KiB of them,
	 * set where any of their bits is */
	bool again;
	int main_gen;
	_Atomic uint64_t *gx[2], *gsum;
	_Atomic bool again_failed;
};

struct slot {
	struct segment *s;
	uint64_t prev, node;
	const uint8_t *g;        /* node's gc head, or NULL: not in the core's data */
	size_t off;              /* its offset in the core file */
	size_t hint;             /* for pl_as_find_hinted */
	size_t k;                /* (walk again) nodes passed */
	bool first;
};

static int walk_head(const struct walk *w, uint64_t node)
{
	for (int g = 0; g < 4; g++)
		if (node == w->heads[g])
			return g;
	return -1;
}

/* The gc head of a node, in the core's own data, or NULL. Nodes are 32 or
 * more bytes apart: off >> 4 is theirs in the bitmap. */
static const uint8_t *walk_node(const struct walk *w, size_t *hint, uint64_t node, size_t *off)
{
	if (node & 15)
		return NULL;
	const struct pl_as_range *r = pl_as_find_hinted(w->as, hint, node);
	if (!r || !r->data || r->src != PL_SRC_CORE ||
	    node + (uint64_t)w->L->sizeof_gc_head > r->end)
		return NULL;
	const uint8_t *g = r->data + (node - r->start);
	if (g < w->base || (size_t)(g - w->base) >= w->size)
		return NULL;
	*off = (size_t)(g - w->base);
	return g;
}

static bool claim(_Atomic uint64_t *claimed, size_t off)
{
	uint64_t bit = 1ull << ((off >> 4) & 63);
	return !(atomic_fetch_or_explicit(&claimed[off >> 10], bit, memory_order_relaxed) & bit);
}

/* Append a segment from seed; false when out of memory. */
static bool push_seed(struct walk *w, uint64_t seed, uint64_t prev0, bool check0)
{
	if (w->nsegs == w->capsegs) {
		size_t cap = w->capsegs ? w->capsegs * 2 : 256;
		struct segment *n = realloc(w->segs, cap * sizeof(*n));
		if (!n)
			return false;
		w->segs = n;
		w->capsegs = cap;
	}
	w->segs[w->nsegs++] = (struct segment){ .seed = seed, .prev0 = prev0, .gen = -1, .check0 = check0 };
	return true;
}

/* A new segment from seed (claimed here); false when out of memory. A
 * seed claimed already is left out. */
static bool add_seed(struct walk *w, uint64_t seed, uint64_t prev0, bool check0)
{
	size_t hint = 0, off;
	if (!walk_node(w, &hint, seed, &off) || !claim(w->claimed, off))
		return true;
	return push_seed(w, seed, prev0, check0);
}

static bool walk_u64(const struct walk *w, size_t *hint, uint64_t addr, uint64_t *v)
{
	const struct pl_as_range *r = pl_as_find_hinted(w->as, hint, addr);
	if (!r || !r->data || addr + 8 > r->end)
		return false;
	memcpy(v, r->data + (addr - r->start), 8);
	return true;
}

/* Is the 16-byte aligned cand a node of some doubly linked list: does its
 * next link back to it and its prev forward? */
static bool seed_like(const struct walk *w, size_t *hint, uint64_t cand, const uint8_t *g)
{
	const struct pl_layout *L = w->L;
	uint64_t next, prev, v;
	memcpy(&next, g + L->gc_next, 8);
	memcpy(&prev, g + L->gc_prev, 8);
	next &= w->mask;
	prev &= w->mask;
	if (!next || !prev || next == cand || prev == cand)
		return false;
	if (((next & 15) && walk_head(w, next) < 0) || ((prev & 15) && walk_head(w, prev) < 0))
		return false;
	return walk_u64(w, hint, next + (uint64_t)L->gc_prev, &v) && (v & w->mask) == cand &&
	       walk_u64(w, hint, prev + (uint64_t)L->gc_next, &v) && (v & w->mask) == cand;
}

/* The seeds a thread found at its share of the sampled places (claimed) */
struct sampler {
	struct walk *w;
	unsigned part, parts;    /* it looks at every parts-th place, from part */
	uint64_t *seeds;
	size_t n, cap;
	bool nomem;
};

/* Seeds at WALK_SAMPLES evenly spaced places of the core's memory: the
 * sampler's share of them. */
static void sample_part(struct sampler *S)
{
	const struct walk *w = S->w;
	const struct pl_as *as = w->as;
	uint64_t total = 0;
	for (size_t i = 0; i < as->n; i++)
		if (as->r[i].src == PL_SRC_CORE && as->r[i].data)
			total += as->r[i].end - as->r[i].start;
	uint64_t step = total / WALK_SAMPLES + 1, pos = step / 2, seen = 0, place = 0;
	size_t hint = 0;
	for (size_t i = 0; i < as->n && !S->nomem; i++) {
		const struct pl_as_range *r = &as->r[i];
		if (r->src != PL_SRC_CORE || !r->data)
			continue;
		uint64_t len = r->end - r->start;
		for (; pos < seen + len && !S->nomem; pos += step) {
			if (place++ % S->parts != S->part)
				continue;
			uint64_t cand = (r->start + (pos - seen) + 15) & ~(uint64_t)15;
			for (int k = 0; k < WALK_SCAN; k++, cand += 16) {
				size_t off;
				const uint8_t *g = walk_node(w, &hint, cand, &off);
				if (!g)
					break;
				if (walk_head(w, cand) < 0 && seed_like(w, &hint, cand, g)) {
					if (!claim(w->claimed, off))
						break;
					if (S->n == S->cap) {
						size_t cap = S->cap ? S->cap * 2 : 256;
						uint64_t *ns = realloc(S->seeds, cap * sizeof(*ns));
						if (!ns) {
							S->nomem = true;
							break;
						}
						S->seeds = ns;
						S->cap = cap;
					}
					S->seeds[S->n++] = cand;
					break;
				}
			}
		}
		seen += len;
	}
}

static void *sample_thread(void *arg)
{
	sample_part(arg);
	return NULL;
}

/* The samples on two threads (each sampled place faults in a piece of the
 * core) */
static bool sample_seeds(struct walk *w)
{
	struct sampler S[2] = { { .w = w, .part = 0, .parts = 2 }, { .w = w, .part = 1, .parts = 2 } };
	struct pl_beside b;
	pl_beside_start(&b, sample_thread, &S[1]);
	sample_part(&S[0]);
	pl_beside_wait(&b);
	bool ok = !S[0].nomem && !S[1].nomem;
	for (int t = 0; t < 2; t++) {
		for (size_t i = 0; i < S[t].n && ok; i++)
			ok = push_seed(w, S[t].seeds[i], 0, false);
		free(S[t].seeds);
	}
	return ok;
}

/* The slot moves on to node: its gc head found in the core's data, and
 * fetched ahead with its claimed bit */
static void slot_goto(const struct walk *w, struct slot *sl, uint64_t node)
{
	sl->node = node;
	sl->g = walk_node(w, &sl->hint, node, &sl->off);
	if (sl->g) {
		__builtin_prefetch(sl->g);
		__builtin_prefetch((const void *)&w->claimed[sl->off >> 10]);
	}
}

static bool slot_start(struct walk *w, struct slot *sl)
{
	size_t i;
	do
		i = atomic_fetch_add_explicit(&w->next_seg, 1, memory_order_relaxed);
	while (w->again && i < w->nsegs && w->segs[i].gen == w->main_gen);
	if (i >= w->nsegs)
		return false;
	struct segment *s = &w->segs[i];
	*sl = (struct slot){ .s = s, .prev = s->prev0, .first = true };
	slot_goto(w, sl, s->seed);
	return true;
}

/* One step of a walk again: node sl->k of its segment gets its
 * generation's bits, or leaves the claimed ones when its segment is on no
 * ring. false when the segment ended. */
static bool again_step(struct walk *w, struct slot *sl)
{
	const struct segment *s = sl->s;
	size_t i = sl->off >> 10;
	uint64_t bit = 1ull << ((sl->off >> 4) & 63);
	if (!sl->g || !(atomic_load_explicit(&w->claimed[i], memory_order_relaxed) & bit)) {
		atomic_store_explicit(&w->again_failed, true, memory_order_relaxed);
		return false;   /* not where the first walk went */
	}
	if (s->gen < 0) {
		atomic_fetch_and_explicit(&w->claimed[i], ~bit, memory_order_relaxed);
	} else {
		unsigned x = (unsigned)(s->gen ^ w->main_gen);
		for (int b = 0; b < 2; b++)
			if (x & (1u << b))
				atomic_fetch_or_explicit(&w->gx[b][i], bit, memory_order_relaxed);
		uint64_t sb = 1ull << ((i >> 9) & 63);
		if (!(atomic_load_explicit(&w->gsum[i >> 15], memory_order_relaxed) & sb))
			atomic_fetch_or_explicit(&w->gsum[i >> 15], sb, memory_order_relaxed);
	}
	if (++sl->k >= s->n) {   /* (a segment whose first step failed: its seed alone) */
		if (s->n && sl->node != s->last)
			atomic_store_explicit(&w->again_failed, true, memory_order_relaxed);
		return false;
	}
	uint64_t next;
	memcpy(&next, sl->g + w->L->gc_next, 8);
	slot_goto(w, sl, next & w->mask);
	return true;
}

/* One step of a walker: false when its segment ended. */
static bool slot_step(struct walk *w, struct slot *sl)
{
	struct segment *s = sl->s;
	const struct pl_layout *L = w->L;
	if (w->again)
		return again_step(w, sl);
	if (!sl->g) {
		s->fail = true;
		return false;
	}
	uint64_t next, gprev;
	memcpy(&next, sl->g + L->gc_next, 8);
	memcpy(&gprev, sl->g + L->gc_prev, 8);
	if ((!sl->first || s->check0) && (gprev & w->mask) != sl->prev) {
		s->fail = true;
		return false;
	}
	if (s->n > w->limit) {   /* (before the claim: a node claimed is counted) */
		s->fail = true;
		return false;
	}
	if (!sl->first && !claim(w->claimed, sl->off)) {
		s->end = sl->node;   /* another segment's seed */
		return false;
	}
	sl->first = false;
	s->last = sl->node;
	s->n++;
	uint64_t nx = next & w->mask;
	if (walk_head(w, nx) >= 0) {
		s->end = nx;
		return false;
	}
	sl->prev = sl->node;
	slot_goto(w, sl, nx);
	return true;
}

static void *walk_thread(void *arg)
{
	struct walk *w = arg;
	struct slot sl[WALK_SLOTS];
	size_t active = 0;
	while (active < WALK_SLOTS && slot_start(w, &sl[active]))
		active++;
	while (active) {
		for (size_t k = 0; k < active;) {
			if (slot_step(w, &sl[k]) || slot_start(w, &sl[k]))
				k++;
			else
				sl[k] = sl[--active];
		}
	}
	return NULL;
}

/* The segments walked by up to 8 threads (those pl_threads allows), each
 * many at once */
static void run_walkers(struct walk *w)
{
	unsigned nthreads = pl_threads(), started = 0;
	pthread_t tids[7];
	if (nthreads > 8)
		nthreads = 8;
	atomic_store_explicit(&w->next_seg, 0, memory_order_relaxed);
	while (started + 1 < nthreads && pthread_create(&tids[started], NULL, walk_thread, w) == 0)
		started++;
	walk_thread(w);
	for (unsigned t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
}

/* Put ring g together from its head; false if it does not close. */
static bool stitch(struct walk *w, const struct pl_addrmap *by_seed, int g, size_t *n)
{
	uint64_t head = w->heads[g], first, last;
	size_t hint = 0;
	if (!walk_u64(w, &hint, head + (uint64_t)w->L->gc_next, &first) ||
	    !walk_u64(w, &hint, head + (uint64_t)w->L->gc_prev, &last))
		return false;
	first &= w->mask;
	last &= w->mask;
	if (first == head)
		return last == head;
	uint64_t cur = first, prev = head, count = 0;
	for (size_t k = 0; k <= w->nsegs; k++) {
		uint32_t i = pl_addrmap_get(by_seed, cur);
		if (i == UINT32_MAX)
			return false;
		struct segment *s = &w->segs[i];
		if (s->fail || s->gen >= 0 || !s->n || (count += s->n) > w->limit)
			return false;
		s->gen = g;
		prev = s->last;
		cur = s->end;
		if (cur == head)
			break;
		if (walk_head(w, cur) >= 0)
			return false;
	}
	*n += count;
	return cur == head && last == prev;
}

/* The segmented walk of every gc list (see above): its nodes claimed in
 * w->claimed, its segments put together in rings (w->nring nodes). false
 * when the lists must be walked one node at a time instead. The caller
 * frees the walk with walk_free, whatever the answer. */
static bool walk_lists(struct pl_heap *h, uint64_t limit, struct walk *w)
{
	struct pl_program *p = h->p;
	const struct pl_gcstate *gc = &p->rt.gc;
	const struct pl_core *c = p->core;
	*w = (struct walk){ .as = &p->as, .L = &p->L, .base = c->map, .size = c->size,
			    .words = c->size / 1024 + 1, .mask = ~(uint64_t)p->L.gc_list_mask,
			    .limit = limit };
	if (gc->collecting || !c->map || c->size < 16 || pl_threads() < 2)
		return false;
	for (int g = 0; g < 4; g++)
		w->heads[g] = g < 3 ? gc->gen[g].head : gc->permanent.head;
	struct pl_addrmap by_seed = { 0 };
	bool ok = (w->claimed = calloc(w->words, sizeof(*w->claimed))) != NULL;
	/* the first node of each ring first: its link back to the head is checked */
	for (int g = 0; g < 4 && ok; g++) {
		uint64_t first;
		size_t hint = 0;
		ok = walk_u64(w, &hint, w->heads[g] + (uint64_t)p->L.gc_next, &first);
		first &= w->mask;
		if (ok && first != w->heads[g])
			ok = add_seed(w, first, w->heads[g], true);
	}
	ok = ok && sample_seeds(w);
	if (ok)
		run_walkers(w);
	for (size_t i = 0; i < w->nsegs && ok; i++)
		ok = pl_addrmap_put(&by_seed, w->segs[i].seed, (uint32_t)i, NULL);
	for (int g = 0; g < 4 && ok; g++)
		ok = stitch(w, &by_seed, g, &w->nring);
	pl_addrmap_release(&by_seed);
	return ok;
}

static void walk_free(struct walk *w)
{
	free(w->segs);
	free(w->claimed);
	free(w->gx[0]);
	free(w->gx[1]);
	free(w->gsum);
}

/* The segments off the ring of generation main_gen walked again (as the
 * first walk, on all threads, many at once each): their nodes get their
 * generation in w->gx (xor main_gen), or lose their claimed bit when their
 * segment is on no ring. A segment's seed is claimed even when its first
 * step failed. false when out of memory, or when a walk again does not go
 * where the first one did. */
static bool walk_again(struct walk *w, int main_gen)
{
	w->main_gen = main_gen;
	bool any = false;
	for (size_t i = 0; i < w->nsegs && !any; i++)
		any = w->segs[i].gen != main_gen;
	if (!any)
		return true;
	/* (calloc'd: pages of them read and never written are not faulted in;
	 * the reader looks at gsum first) */
	if (!(w->gx[0] = calloc(w->words, sizeof(*w->gx[0]))) ||
	    !(w->gx[1] = calloc(w->words, sizeof(*w->gx[1]))) ||
	    !(w->gsum = calloc((w->words >> 15) + 1, sizeof(*w->gsum))))
		return false;
	w->again = true;
	run_walkers(w);
	return !atomic_load_explicit(&w->again_failed, memory_order_relaxed);
}

/* The segmented walk and the walk again, ready to be read in address
 * order: the nodes of the largest ring have generation w->main_gen, the
 * others theirs in w->gx. false when the lists must be walked one node at
 * a time instead. The caller frees the walk with walk_free, whatever the
 * answer. */
static bool claimed_walk(struct pl_heap *h, uint64_t limit, struct walk *w)
{
	if (!walk_lists(h, limit, w))
		return false;
	uint64_t per[4] = { 0 };
	int main_gen = 0;
	for (size_t i = 0; i < w->nsegs; i++)
		if (w->segs[i].gen >= 0)
			per[w->segs[i].gen] += w->segs[i].n;
	for (int g = 1; g < 4; g++)
		if (per[g] > per[main_gen])
			main_gen = g;
	return walk_again(w, main_gen);
}

/* Call fn(ctx, node, gen) for each node on a ring, in address order: the
 * bitmap (a bit per 16 bytes of the core file) read range by range. false
 * when fn says so. Inlined, so that fn is too. */
static inline __attribute__((always_inline)) bool
claimed_each(const struct walk *w, bool (*fn)(void *ctx, uint64_t node, int gen), void *ctx)
{
	const struct pl_as *as = w->as;
	const uint64_t head = (uint64_t)w->L->sizeof_gc_head;
	for (size_t i = 0; i < as->n; i++) {
		const struct pl_as_range *r = &as->r[i];
		if (r->src != PL_SRC_CORE || !r->data || r->end <= r->start || r->data < w->base ||
		    (size_t)(r->data - w->base) >= w->size)
			continue;
		size_t lo = (size_t)(r->data - w->base), hi = lo + (size_t)(r->end - r->start);
		if (hi > w->size)
			hi = w->size;
		/* a node's bit is its gc head's offset in the file >> 4: the low
		 * bits of that offset are the same for all of a range's nodes,
		 * whose addresses are 16-aligned (the file's need not be) */
		size_t delta = (lo - (size_t)r->start) & 15;
		size_t first = lo >> 4, last = (hi - 1) >> 4;   /* bits */
		for (size_t wi = first >> 6; wi <= last >> 6; wi++) {
			uint64_t word = atomic_load_explicit(&w->claimed[wi], memory_order_relaxed);
			if (wi == first >> 6)
				word &= ~(uint64_t)0 << (first & 63);
			if (wi == last >> 6 && (last & 63) != 63)
				word &= ((uint64_t)1 << ((last & 63) + 1)) - 1;
			uint64_t x0 = 0, x1 = 0;   /* generation xor main_gen, bits 0 and 1 */
			if (word && w->gsum &&
			    (atomic_load_explicit(&w->gsum[wi >> 15], memory_order_relaxed) >> ((wi >> 9) & 63) & 1)) {
				x0 = atomic_load_explicit(&w->gx[0][wi], memory_order_relaxed);
				x1 = atomic_load_explicit(&w->gx[1][wi], memory_order_relaxed);
			}
			for (; word; word &= word - 1) {
				unsigned b = (unsigned)__builtin_ctzll(word);
				size_t off = ((wi << 6) + b) << 4 | delta;
				if (off < lo || off + head > hi)
					continue;   /* another range's, at the ends (a node's
					             * gc head is in its range: walk_node) */
				int gen = w->main_gen ^ (int)((x0 >> b & 1) | (x1 >> b & 1) << 1);
				if (!fn(ctx, r->start + (off - lo), gen))
					return false;
			}
		}
	}
	return true;
}

struct number {
	struct pl_heap *h;
	size_t id, n;
};

/* (claimed_each's fn for claimed_number) */
static bool number_node(void *ctx, uint64_t node, int gen)
{
	struct number *nb = ctx;
	uint64_t a = node + (uint64_t)nb->h->p->L.sizeof_gc_head;
	uint32_t *slot;
	if (nb->id == nb->n || !pl_heap_direct(a) || !(slot = direct_slot(nb->h, a)) || *slot)
		return false;
	nb->h->objs[nb->id] = (struct pl_obj){ .addr = a, .gen = (uint8_t)gen };
	*slot = (uint32_t)++nb->id | pl_idx_half(a);
	return true;
}

/* Number the nodes on the rings, in address order, into h->objs (room for
 * w->nring): objs[id] gets the object's address and generation, its
 * direct slot id + 1. false when that is not w->nring objects, or when the
 * bits are not what a sound walk leaves: an object outside the direct
 * index, two in one slot's 32 bytes. */
static bool claimed_number(struct pl_heap *h, const struct walk *w)
{
	struct number nb = { .h = h, .n = w->nring };
	bool ok = claimed_each(w, number_node, &nb);
	h->nobjs = nb.id;
	return ok && nb.id == w->nring;
}

struct take {
	struct pl_heap *h;
	struct pl_error *err;
	int stop;
};

/* (claimed_each's fn for census_segmented) */
static bool take_claimed(void *ctx, uint64_t node, int gen)
{
	struct take *t = ctx;
	struct pl_program *p = t->h->p;
	uint64_t gprev = 0;
	pl_as_u64(&p->as, node + (uint64_t)p->L.gc_prev, &gprev);
	t->err = take_node(t->h, node, gprev, gen, true, &t->stop);
	return !t->err && !t->stop;
}

/* The census from the segmented walk: 1 when done; 0 when the lists
 * must be walked one node at a time (nothing is left behind); or an error.
 * The objects are taken in address order, so they end up in the order the
 * census leaves them in, and the core is read front to back. Damage met
 * here (an unreadable header, an object on two lists) undoes it all: the
 * one-by-one walk then stops where it always did, with its warning. */
static struct pl_error *census_segmented(struct pl_heap *h, uint64_t limit, int *done)
{
	struct walk w;
	struct take t = { .h = h };
	uint64_t bad_sizes = h->bad_sizes;
	*done = 0;
	bool ok = claimed_walk(h, limit, &w) && pl_heap_reserve(h, w.nring) &&
		  claimed_each(&w, take_claimed, &t) && h->nobjs == w.nring;
	walk_free(&w);
	if (t.err)
		return t.err;
	if (!ok) {
		heap_truncate(h, 0);
		h->bad_sizes = bad_sizes;
		return NULL;
	}
	*done = 1;
	h->segmented = true;
	return NULL;
}

/* Before any list is read: a core taken during a collection stops here
 * unless forced. The bound on a list's length. */
static struct pl_error *census_start(struct pl_program *p, struct pl_heap *h, uint64_t *limit)
{
	memset(h, 0, sizeof(*h));
	h->p = p;
	const struct pl_gcstate *gc = &p->rt.gc;
	if (gc->collecting && !p->opt.force)
		return pl_error(PL_E_STATE, "%s was taken while the garbage collector was running "
				"(gc collecting=%d): the generation lists are split; --force reads them "
				"anyway, but objects under collection will be missing", p->core->path,
				gc->collecting);
	if (gc->collecting)
		pl_warn(p, "core taken during a collection: objects under collection are missing");
	*limit = pl_as_bytes(&p->as, true) / (uint64_t)(p->L.sizeof_gc_head + p->L.sizeof_object) + 1;
	return NULL;
}

/* The census after census_start; segmented: try the segmented walk first. */
static struct pl_error *census_lists(struct pl_program *p, struct pl_heap *h, uint64_t limit,
				     bool segmented)
{
	struct pl_error *err;
	int done = 0;
	if (segmented && (err = census_segmented(h, limit, &done)))
		return err;
	const struct pl_gcstate *gc = &p->rt.gc;
	for (int g = 0; g < 4 && !done; g++) {
		uint64_t head = g < 3 ? gc->gen[g].head : gc->permanent.head;
		if ((err = walk_list_seq(h, head, g, limit)))
			return err;
	}
	pl_warn_bad_sizes(h, 0);
	/* in address order, the graph build (which reads objects in id order)
	 * reads the core front to back: each page is faulted in about once,
	 * and neighbours share cache lines. The lists were read through: the
	 * core's pages go first, so that they and the sort's copy of the
	 * objects are not resident at once. */
	pl_core_release_pages(p->core);
	if (!pl_heap_sort(h))
		return pl_error(PL_E_NOMEM, "out of memory at %zu objects", h->nobjs);
	return NULL;
}

struct pl_error *pl_census(struct pl_program *p, struct pl_heap *h)
{
	uint64_t limit;
	struct pl_error *err = census_start(p, h, &limit);
	return err ? err : census_lists(p, h, limit, true);
}

struct pl_error *pl_census_one_by_one(struct pl_program *p, struct pl_heap *h)
{
	pl_heap_release(h);
	uint64_t limit;
	struct pl_error *err = census_start(p, h, &limit);
	return err ? err : census_lists(p, h, limit, false);
}

struct populate {
	void *p;
	size_t bytes;
};

/* (the helper's, beside the numbering) */
static void *populate_thread(void *arg)
{
	const struct populate *f = arg;
	pl_big_populate(f->p, 0, f->bytes);
	return NULL;
}

struct pl_error *pl_census_stage(struct pl_program *p, struct pl_heap *h, size_t *staged)
{
	*staged = 0;
	uint64_t limit;
	struct pl_error *err = census_start(p, h, &limit);
	if (err)
		return err;
	/* The walkers claim each node in a bitmap (a bit per 16 bytes of the
	 * core file). Once the segments are put together in rings, the segments
	 * off the largest ring (the oldest generation, as a rule) are walked
	 * again to mark their nodes' generation (or to take back their claims:
	 * their segment is on no ring). Then the bitmap, read in address order,
	 * numbers the objects, writes their direct slots, in order, while the
	 * helper maps in the objects' array the numbering fills. (The walk
	 * touched every object's page: the build reads them again in that
	 * order and gives back those behind it.) */
	struct walk w;   /* (freed whether or not the walk is made) */
	bool ok = claimed_walk(h, limit, &w);
	size_t n = w.nring;
	if (ok && (ok = (h->objs = pl_big_resize(NULL, 0, (n ? n : 1) * sizeof(*h->objs))) != NULL)) {
		h->capobjs = n;
		struct populate f = { h->objs, n * sizeof(*h->objs) };
		struct pl_beside b;
		pl_beside_start(&b, populate_thread, &f);
		ok = claimed_number(h, &w);
		pl_beside_wait(&b);
	}
	walk_free(&w);
	if (!ok) {   /* the one-by-one walk does it, and says where it fails */
		pl_heap_release(h);
		return census_lists(p, h, limit, false);
	}
	*staged = n;
	h->segmented = true;
	return NULL;
}

static struct pl_type *heap_type(void *h, uint64_t type_addr)
{
	return pl_type_get(h, type_addr);
}

bool pl_census_take(struct pl_heap *h, uint32_t id)
{
	struct pl_obj *o = &h->objs[id];
	if (!pl_census_peek(h, o, heap_type, h, &h->bad_sizes))
		return false;
	count(h, o);
	h->gen_objects[o->gen]++;
	return true;
}

bool pl_census_peek(struct pl_heap *h, struct pl_obj *o,
		    struct pl_type *(*type)(void *ctx, uint64_t type_addr), void *ctx, uint64_t *bad)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	uint64_t gprev = 0, ta;
	int64_t refcnt;
	struct pl_type *t;
	pl_as_u64(&p->as, o->addr - (uint64_t)L->sizeof_gc_head + (uint64_t)L->gc_prev, &gprev);
	if (pl_obj_header(p, o->addr, &refcnt, &ta) != 0 || !(t = type(ctx, ta)))
		return false;
	fill_listed(h, o, t, refcnt, gprev, bad);
	return true;
}

void pl_warn_bad_sizes(struct pl_heap *h, uint64_t before)
{
	if (h->bad_sizes > before)
		pl_warn(h->p, "%llu objects have an implausible length or capacity (damaged memory?); "
			"their sizes leave out their items", (unsigned long long)(h->bad_sizes - before));
}
