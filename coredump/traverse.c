#include "config.h"
#include "traverse.h"
#include "frames.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf.h"
#include "objects.h"
#include "program.h"

#define MAX_ITEMS (1ll << 28)      /* bound on any item count read from the core */
#define MAX_SCAN_BYTES 65536       /* fallback scan of an unknown object body */
#define MAX_CHAIN 64               /* tp_base walks */
#define MAX_DEQUE_BLOCKS (1 << 22)
#define MAX_ODICT_NODES (1 << 26)

enum handler {
	H_UNKNOWN = 0, H_TUPLE, H_LIST, H_DICT, H_SET, H_SUBTYPE, H_TYPE, H_FUNC, H_CELL,
	H_METHOD, H_CFUNC, H_MODULE, H_FRAME, H_GEN, H_AGEN, H_EXC, H_TB, H_WEAKREF,
	H_PROPERTY, H_CM, H_SM, H_DESCR, H_ODICT, H_DEFDICT, H_DEQUE, H_PARTIAL,
	H_NAMESPACE, H_MAPPINGPROXY, H_WRAPPER, H_SLICE, H_ABC_DATA, H_LOCK, H_TUPLEGETTER,
	H_PATTERN, H_AST, H_LRU,
};

static const struct { const char *name; enum handler h; } handlers[] = {
	{ "tupletraverse", H_TUPLE }, { "list_traverse", H_LIST }, { "dict_traverse", H_DICT },
	{ "set_traverse", H_SET }, { "subtype_traverse", H_SUBTYPE }, { "type_traverse", H_TYPE },
	{ "func_traverse", H_FUNC }, { "cell_traverse", H_CELL }, { "method_traverse", H_METHOD },
	{ "meth_traverse", H_CFUNC }, { "module_traverse", H_MODULE }, { "frame_traverse", H_FRAME },
	{ "gen_traverse", H_GEN }, { "async_gen_traverse", H_AGEN },
	{ "BaseException_traverse", H_EXC }, { "tb_traverse", H_TB }, { "gc_traverse", H_WEAKREF },
	{ "property_traverse", H_PROPERTY }, { "cm_traverse", H_CM }, { "sm_traverse", H_SM },
	{ "descr_traverse", H_DESCR }, { "odict_traverse", H_ODICT },
	{ "defdict_traverse", H_DEFDICT }, { "deque_traverse", H_DEQUE },
	{ "partial_traverse", H_PARTIAL }, { "namespace_traverse", H_NAMESPACE },
	{ "mappingproxy_traverse", H_MAPPINGPROXY }, { "wrapper_traverse", H_WRAPPER },
	{ "slice_traverse", H_SLICE }, { "abc_data_traverse", H_ABC_DATA },
	{ "lock_traverse", H_LOCK }, { "rlock_traverse", H_LOCK },
	{ "tuplegetter_traverse", H_TUPLEGETTER }, { "pattern_traverse", H_PATTERN },
	{ "ast_traverse", H_AST }, { "ast_type_traverse", H_AST },
	{ "lru_cache_tp_traverse", H_LRU },
};

struct tctx {
	struct pl_heap *h;
	struct pl_program *p;
	const struct pl_layout *L;
	pl_visit_fn visit;
	void *ctx;
	bool (*is_object)(void *ctx, uint64_t addr);
	enum pl_trav result;
	int stop;
	struct pl_type *(*type)(void *ctx, uint64_t addr);   /* NULL: pl_type_get */
};

/* The type at type_addr, as the caller wants types met on the way looked up */
static struct pl_type *type_at(struct tctx *c, uint64_t type_addr)
{
	return c->type ? c->type(c->ctx, type_addr) : pl_type_get(c->h, type_addr);
}

static void add_trav(void *vh, const char *name, uint64_t addr)
{
	struct pl_heap *h = vh;
	if (pl_addrmap_get(&h->trav_index, addr) != UINT32_MAX)
		return;
	char **n = realloc(h->trav_names, (h->ntrav + 1) * sizeof(*n));
	if (!n)
		return;
	h->trav_names = n;
	if (!(n[h->ntrav] = strdup(name)))
		return;
	if (pl_addrmap_put(&h->trav_index, addr, (uint32_t)h->ntrav, NULL))
		h->ntrav++;
	else
		free(n[h->ntrav]);
}

static void load_traverse_names(struct pl_heap *h)
{
	if (h->trav_loaded)
		return;
	h->trav_loaded = true;
	struct pl_program *p = h->p;
	pl_symbols_with_suffix(p, p->pyfile, "traverse", add_trav, h);
	h->frame_cleared = p->L.frame_cleared;
	h->owned_by_frame_object = p->L.owned_by_frame_object;
	uint64_t a;
	if (pl_symbol(p, p->pyfile, "lookdict", &a, NULL) == 0)
		h->lookdict = a;
	if (pl_symbol(p, p->pyfile, "_PySet_Dummy", &a, NULL) == 0)
		pl_as_u64(&p->as, a, &h->set_dummy);
}

const char *pl_traverse_name(struct pl_heap *h, uint64_t fn)
{
	load_traverse_names(h);
	uint32_t i = pl_addrmap_get(&h->trav_index, fn);
	return i == UINT32_MAX ? NULL : h->trav_names[i];
}

static enum handler handler_of(struct pl_heap *h, uint64_t fn)
{
	const char *name = pl_traverse_name(h, fn);
	if (!name)
		return H_UNKNOWN;
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (!strcmp(handlers[i].name, name))
			return handlers[i].h;
	return H_UNKNOWN;
}

static bool rd(struct tctx *c, uint64_t addr, uint64_t *v)
{
	if (pl_as_u64(&c->p->as, addr, v) != 0) {
		c->result = PL_TRAV_ERROR;
		return false;
	}
	return true;
}

static bool rd_ssize(struct tctx *c, uint64_t addr, int64_t *v)
{
	return rd(c, addr, (uint64_t *)v);
}

/* Py_VISIT: skip NULL */
static void visit(struct tctx *c, uint64_t target, uint8_t kind, const char *name, uint64_t a,
		  uint64_t b)
{
	if (!target || c->stop)
		return;
	struct pl_edge e = { kind, name, a, b };
	c->stop = c->visit(c->ctx, target, &e);
}

static void visit_field(struct tctx *c, uint64_t obj, int32_t off, const char *name)
{
	uint64_t v;
	if (off < 0 || c->stop)
		return;
	if (rd(c, obj + (uint64_t)off, &v))
		visit(c, v, PL_E_FIELD, name, 0, 0);
}

static void do_tuple(struct tctx *c, uint64_t obj)
{
	int64_t n;
	if (!rd_ssize(c, obj + (uint64_t)c->L->ob_size, &n) || n < 0 || n > MAX_ITEMS)
		return;
	for (int64_t i = n - 1; i >= 0 && !c->stop; i--) {   /* tupletraverse runs backwards */
		uint64_t v;
		if (!rd(c, obj + (uint64_t)c->L->tuple_items + (uint64_t)(8 * i), &v))
			return;
		visit(c, v, PL_E_INDEX, NULL, (uint64_t)i, 0);
	}
}

static void do_list(struct tctx *c, uint64_t obj)
{
	int64_t n;
	uint64_t items;
	if (!rd_ssize(c, obj + (uint64_t)c->L->ob_size, &n) || n < 0 || n > MAX_ITEMS ||
	    !rd(c, obj + (uint64_t)c->L->list_items, &items))
		return;
	for (int64_t i = n - 1; i >= 0 && !c->stop; i--) {   /* so does list_traverse */
		uint64_t v;
		if (!rd(c, items + (uint64_t)(8 * i), &v))
			return;
		visit(c, v, PL_E_INDEX, NULL, (uint64_t)i, 0);
	}
}

static void do_dict(struct tctx *c, uint64_t obj)
{
	const struct pl_layout *L = c->L;
	struct pl_dict_iter it;
	if (pl_dict_iter_init(&it, c->p, obj) != 0) {
		c->result = PL_TRAV_ERROR;
		return;
	}
	/* Which entries have their key visited too: <=3.10 only tables whose
	 * lookup is the general `lookdict`; 3.11+ only DICT_KEYS_GENERAL. */
	bool general;
	if (L->dict_log2) {
		uint8_t kind = 0;
		pl_as_read(&c->p->as, it.keys + (uint64_t)L->dk_kind, &kind, 1);
		general = kind != (uint8_t)L->dk_unicode_kind && kind != (uint8_t)L->dk_split_kind;
	} else {
		uint64_t lookup = 0;
		if (L->dk_lookup >= 0)
			rd(c, it.keys + (uint64_t)L->dk_lookup, &lookup);
		general = lookup && lookup == c->h->lookdict;
	}
	if (it.split && L->dv_embedded >= 0) {   /* 3.13: embedded values are the owner's */
		uint8_t embedded = 0;
		pl_as_read(&c->p->as, it.values + (uint64_t)L->dv_embedded, &embedded, 1);
		if (embedded)
			return;
	}
	for (int64_t i = 0; i < it.nentries && !c->stop; i++) {
		uint64_t e = it.entries + (uint64_t)(i * it.esize), key = 0, value = 0;
		if (!rd(c, e + (uint64_t)it.koff, &key))
			return;
		if (it.split) {
			uint64_t vb = it.values + (uint64_t)(L->dv_values >= 0 ? L->dv_values : 0);
			if (!rd(c, vb + (uint64_t)(8 * i), &value))
				return;
		} else if (!rd(c, e + (uint64_t)it.voff, &value)) {
			return;
		}
		if (general) {
			if (value) {
				visit(c, value, PL_E_DICT_VALUE, NULL, key, 0);
				visit(c, key, PL_E_DICT_KEY, NULL, key, 0);
			}
		} else {
			visit(c, value, PL_E_DICT_VALUE, NULL, key, 0);
		}
	}
}

static void do_set(struct tctx *c, uint64_t obj)
{
	const struct pl_layout *L = c->L;
	int64_t mask;
	uint64_t table, dummy = c->h->set_dummy;
	if (!rd_ssize(c, obj + (uint64_t)L->set_mask, &mask) || mask < 0 || mask > MAX_ITEMS ||
	    !rd(c, obj + (uint64_t)L->set_table, &table))
		return;
	for (int64_t i = 0; i <= mask && !c->stop; i++) {
		uint64_t key;
		if (!rd(c, table + (uint64_t)(i * L->sizeof_setentry), &key))
			return;
		if (key && key != dummy)
			visit(c, key, PL_E_SET_ITEM, NULL, 0, 0);
	}
}

static int64_t var_size(struct tctx *c, uint64_t obj, const struct pl_type *t)
{
	int64_t n = 0;
	if (t->kind == PL_K_INT && c->L->long_tagged) {
		uint64_t tag;
		if (rd(c, obj + (uint64_t)c->L->long_tag, &tag))
			n = (int64_t)(tag >> 3);
	} else if (rd_ssize(c, obj + (uint64_t)c->L->ob_size, &n) && n < 0) {
		n = n < -MAX_ITEMS ? 0 : -n;   /* INT64_MIN has no negation */
	}
	return n > MAX_ITEMS ? 0 : n;
}

/* Visit a values array, labelling each with the cached key's name. */
static void visit_values(struct tctx *c, uint64_t values, int64_t n, uint64_t cached_keys)
{
	const struct pl_layout *L = c->L;
	uint64_t entries = 0;
	uint8_t li = 0;
	if (cached_keys && L->dict_log2 &&
	    pl_as_read(&c->p->as, cached_keys + (uint64_t)L->dk_log2_index_bytes, &li, 1) == 0 && li < 43)
		entries = cached_keys + (uint64_t)L->dk_indices + (1ull << li);
	for (int64_t i = 0; i < n && !c->stop; i++) {
		uint64_t v, key = 0;
		if (!rd(c, values + (uint64_t)(8 * i), &v))
			return;
		if (entries)
			pl_as_u64(&c->p->as, entries + (uint64_t)(i * L->sizeof_du_entry) + (uint64_t)L->due_key, &key);
		visit(c, v, PL_E_ATTR, NULL, key, 0);
	}
}

static enum handler type_handler(struct pl_heap *h, struct pl_type *t);
static void dispatch(struct tctx *c, uint64_t obj, struct pl_type *t, enum handler h, int depth);

/* A heap type's own __slots__: the PyMemberDefs after the type object, at
 * the metatype's tp_basicsize; only T_OBJECT_EX members are traversed. */
static void decode_slots(struct pl_heap *h, struct pl_type *t)
{
	/* reads of its own: a failure here is the type's, not the object's
	 * being traversed, whose traversal happens to decode it first */
	struct tctx own = { h, h->p, &h->p->L, NULL, NULL, NULL, PL_TRAV_EXACT, 0, NULL };
	struct tctx *c = &own;
	const struct pl_layout *L = c->L;
	uint64_t meta = 0;
	int64_t meta_basic = 0;
	t->nslot_offs = 0;
	if (!rd(c, t->addr + (uint64_t)L->ob_type, &meta) ||
	    !rd_ssize(c, meta + (uint64_t)L->tp_basicsize, &meta_basic) || meta_basic <= 0 ||
	    meta_basic >= (1 << 20))
		return;
	t->slot_offs = malloc((size_t)t->nslots * sizeof(*t->slot_offs));
	t->slot_names = malloc((size_t)t->nslots * sizeof(*t->slot_names));
	if (!t->slot_offs || !t->slot_names)
		return;
	uint64_t mp = t->addr + (uint64_t)meta_basic;
	for (int64_t k = 0; k < t->nslots; k++, mp += (uint64_t)L->sizeof_member_def) {
		int32_t mtype = 0;
		int64_t moff = 0;
		uint64_t nameptr = 0;
		if (pl_as_read(&c->p->as, mp + (uint64_t)L->md_type, &mtype, 4) ||
		    !rd_ssize(c, mp + (uint64_t)L->md_offset, &moff))
			break;
		if (mtype != L->t_object_ex || moff < 0 || moff >= (1 << 20))
			continue;
		pl_as_u64(&c->p->as, mp + (uint64_t)L->md_name, &nameptr);
		t->slot_offs[t->nslot_offs] = (int32_t)moff;
		t->slot_names[t->nslot_offs++] = nameptr;
	}
}

static void do_subtype(struct tctx *c, uint64_t obj, struct pl_type *type, int depth)
{
	const struct pl_layout *L = c->L;
	struct pl_type *base = type;
	enum handler bh = H_SUBTYPE;
	for (int i = 0; i < MAX_CHAIN && base && (bh = type_handler(c->h, base)) == H_SUBTYPE; i++) {
		if (base->nslots > 0 && base->nslots < 4096) {
			if (base->nslot_offs < 0)
				decode_slots(c->h, base);
			for (int32_t k = 0; k < base->nslot_offs && !c->stop; k++) {
				uint64_t v;
				if (rd(c, obj + (uint64_t)base->slot_offs[k], &v))
					visit(c, v, PL_E_SLOT, NULL, base->slot_names[k], 0);
			}
		}
		base = base->base ? type_at(c, base->base) : NULL;
	}
	if (!base || c->stop)
		return;
	bool managed = (type->flags & L->tpf_managed_dict) != 0;
	bool other_offset = type->dictoffset != base->dictoffset;
	if (managed && L->managed_dict_style == 1) {          /* 3.11 */
		uint64_t values = 0, keys = type->ht_cached_keys;
		int64_t n = 0;
		if (rd(c, obj - 32, &values) && values && keys &&
		    rd_ssize(c, keys + (uint64_t)L->dk_nentries, &n) && n >= 0 && n < MAX_ITEMS)
			visit_values(c, values, n, keys);
	} else if (managed && L->managed_dict_style == 2) {   /* 3.12 */
		uint64_t dorv = 0, keys = type->ht_cached_keys;
		int64_t n = 0;
		if (rd(c, obj - 24, &dorv) && dorv) {
			if (dorv & 1) {
				if (keys && rd_ssize(c, keys + (uint64_t)L->dk_nentries, &n) && n >= 0 && n < MAX_ITEMS)
					visit_values(c, dorv + 1, n, keys);
			} else {
				visit(c, dorv, PL_E_FIELD, "__dict__", 0, 0);
			}
		}
		other_offset = false;
	} else if (managed && L->managed_dict_style == 3) {   /* 3.13+ */
		bool done = false;
		if (type->flags & L->tpf_inline_values) {
			uint64_t values = obj + (uint64_t)type->basicsize;
			uint8_t valid = 0, cap = 0;
			if (pl_as_read(&c->p->as, values + (uint64_t)L->dv_valid, &valid, 1) == 0 && valid &&
			    pl_as_read(&c->p->as, values + (uint64_t)L->dv_capacity, &cap, 1) == 0) {
				visit_values(c, values + (uint64_t)L->dv_values, cap, type->ht_cached_keys);
				done = true;
			}
		}
		if (!done) {
			uint64_t d = 0;
			if (rd(c, obj - 24, &d))
				visit(c, d, PL_E_FIELD, "__dict__", 0, 0);
		}
		other_offset = false;
	}
	if (other_offset && !c->stop) {
		uint64_t dict = 0;
		if (managed && L->managed_dict_style == 1) {
			rd(c, obj - 24, &dict);
		} else if (type->dictoffset) {
			int64_t off = type->dictoffset;
			if (off < 0) {
				int64_t n = var_size(c, obj, type);
				int64_t isz = type->itemsize < 0 ? -type->itemsize : type->itemsize;
				off += (type->basicsize + n * isz + 7) & ~7ll;
			}
			if (off > 0 && off < (1 << 24))
				rd(c, obj + (uint64_t)off, &dict);
		}
		visit(c, dict, PL_E_FIELD, "__dict__", 0, 0);
	}
	if ((type->flags & L->tpf_heaptype) &&
	    (L->subtype_visits_type_always || bh == H_UNKNOWN || !(base->flags & L->tpf_heaptype)))
		visit(c, type->addr, PL_E_FIELD, "__class__", 0, 0);
	if (base->traverse && !c->stop)
		dispatch(c, obj, base, bh, depth + 1);
}

static void do_code_locals(struct tctx *c, uint64_t locals, int64_t n, uint64_t code)
{
	for (int64_t i = 0; i < n && !c->stop; i++) {
		uint64_t v;
		if (!rd(c, locals + (uint64_t)(8 * i), &v))
			return;
		visit(c, v, PL_E_LOCAL, NULL, (uint64_t)i, code);
	}
}

static int64_t tuple_len(struct tctx *c, uint64_t t)
{
	int64_t n = 0;
	if (t)
		rd_ssize(c, t + (uint64_t)c->L->ob_size, &n);
	return n < 0 || n > MAX_ITEMS ? 0 : n;
}

/* _PyFrame_Traverse (3.11+) */
static void do_iframe(struct tctx *c, uint64_t f)
{
	const struct pl_layout *L = c->L;
	uint64_t code = 0;
	visit_field(c, f, L->if_frame_obj, "frame_obj");
	visit_field(c, f, L->if_locals, "f_locals");
	visit_field(c, f, L->if_func, "f_func");
	rd(c, f + (uint64_t)L->if_code, &code);
	visit(c, code, PL_E_FIELD, "f_code", 0, 0);
	int64_t n = 0;
	if (L->if_stacktop >= 0) {
		int32_t st = 0;
		if (pl_as_read(&c->p->as, f + (uint64_t)L->if_stacktop, &st, 4) == 0)
			n = st;
	} else if (L->if_stackpointer >= 0) {
		uint64_t sp = 0;
		if (rd(c, f + (uint64_t)L->if_stackpointer, &sp) && sp > f + (uint64_t)L->if_localsplus)
			n = (int64_t)((sp - f - (uint64_t)L->if_localsplus) / 8);
	}
	if (n < 0 || n > (1 << 20))
		return;
	do_code_locals(c, f + (uint64_t)L->if_localsplus, n, code);
}

static void do_frame(struct tctx *c, uint64_t obj)
{
	const struct pl_layout *L = c->L;
	if (L->fo_frame >= 0) {   /* 3.11+ frame object */
		visit_field(c, obj, L->fo_back, "f_back");
		visit_field(c, obj, L->fo_trace, "f_trace");
		visit_field(c, obj, L->fo_extra_locals, "f_extra_locals");
		visit_field(c, obj, L->fo_locals_cache, "f_locals_cache");
		uint64_t f = 0;
		int8_t owner = -1;
		if (!rd(c, obj + (uint64_t)L->fo_frame, &f) || !f ||
		    pl_as_read(&c->p->as, f + (uint64_t)L->if_owner, &owner, 1) != 0 ||
		    owner != c->h->owned_by_frame_object)
			return;
		do_iframe(c, f);
		return;
	}
	/* <=3.10 PyFrameObject */
	uint64_t code = 0;
	visit_field(c, obj, L->fo_back, "f_back");
	rd(c, obj + (uint64_t)L->fo_code, &code);
	visit(c, code, PL_E_FIELD, "f_code", 0, 0);
	visit_field(c, obj, L->fo_builtins, "f_builtins");
	visit_field(c, obj, L->fo_globals, "f_globals");
	visit_field(c, obj, L->fo_locals, "f_locals");
	visit_field(c, obj, L->fo_trace, "f_trace");
	if (!code || c->stop)
		return;
	int32_t nlocals = 0;
	uint64_t cellvars = 0, freevars = 0;
	if (pl_as_read(&c->p->as, code + (uint64_t)L->co_nlocals, &nlocals, 4) != 0 ||
	    !rd(c, code + (uint64_t)L->co_cellvars, &cellvars) || !rd(c, code + (uint64_t)L->co_freevars, &freevars) ||
	    nlocals < 0)
		return;
	int64_t slots = nlocals + tuple_len(c, cellvars) + tuple_len(c, freevars);
	do_code_locals(c, obj + (uint64_t)L->fo_localsplus, slots, code);
	uint64_t vs = 0;
	if (!rd(c, obj + (uint64_t)L->fo_valuestack, &vs) || !vs)
		return;
	int64_t depth = 0;
	if (L->fo_stacktop >= 0) {
		uint64_t top = 0;
		if (rd(c, obj + (uint64_t)L->fo_stacktop, &top) && top > vs)
			depth = (int64_t)((top - vs) / 8);
	} else if (L->fo_stackdepth >= 0) {
		int32_t d = 0;
		if (pl_as_read(&c->p->as, obj + (uint64_t)L->fo_stackdepth, &d, 4) == 0)
			depth = d;
	}
	for (int64_t i = 0; i < depth && i < (1 << 20) && !c->stop; i++) {
		uint64_t v;
		if (!rd(c, vs + (uint64_t)(8 * i), &v))
			return;
		visit(c, v, PL_E_STACK, NULL, (uint64_t)i, 0);
	}
}

static void do_gen(struct tctx *c, uint64_t obj)
{
	const struct pl_layout *L = c->L;
	if (L->gen_iframe < 0) {   /* <=3.10 */
		visit_field(c, obj, L->gen_frame, "gi_frame");
		visit_field(c, obj, L->gen_code, "gi_code");
		visit_field(c, obj, L->gen_name, "__name__");
		visit_field(c, obj, L->gen_qualname, "__qualname__");
		visit_field(c, obj, L->gen_exc_type, "exc_type");
		visit_field(c, obj, L->gen_exc_value, "exc_value");
		visit_field(c, obj, L->gen_exc_tb, "exc_traceback");
		return;
	}
	visit_field(c, obj, L->gen_code, "gi_code");
	visit_field(c, obj, L->gen_name, "__name__");
	visit_field(c, obj, L->gen_qualname, "__qualname__");
	int8_t state = 0;
	if (pl_as_read(&c->p->as, obj + (uint64_t)L->gen_frame_state, &state, 1) == 0 &&
	    state < c->h->frame_cleared)
		do_iframe(c, obj + (uint64_t)L->gen_iframe);
	visit_field(c, obj, L->gen_exc_value, "exc_value");
}

static void do_module(struct tctx *c, uint64_t obj)
{
	const struct pl_layout *L = c->L;
	uint64_t def = 0, state = 0, trav = 0;
	int64_t size = 0;
	if (rd(c, obj + (uint64_t)L->mod_def, &def) && def &&
	    rd(c, def + (uint64_t)L->mdef_traverse, &trav) && trav &&
	    rd_ssize(c, def + (uint64_t)L->mdef_size, &size) && rd(c, obj + (uint64_t)L->mod_state, &state) &&
	    (size <= 0 || state)) {
		/* the module's own m_traverse: not emulated; scan its state */
		if (c->result == PL_TRAV_EXACT)
			c->result = PL_TRAV_INFERRED;
		for (int64_t off = 0; size > 0 && off + 8 <= size && off < MAX_SCAN_BYTES && !c->stop; off += 8) {
			uint64_t v;
			if (pl_as_u64(&c->p->as, state + (uint64_t)off, &v) == 0 && c->is_object &&
			    c->is_object(c->ctx, v))
				visit(c, v, PL_E_MODSTATE, NULL, (uint64_t)off, 0);
		}
	}
	visit_field(c, obj, L->mod_dict, "__dict__");
}

static void do_cfunc(struct tctx *c, uint64_t obj)
{
	const struct pl_layout *L = c->L;
	if (L->cfunc_visits_class && L->cmeth_class >= 0) {
		uint64_t ml = 0;
		int32_t flags = 0;
		if (rd(c, obj + (uint64_t)L->cfunc_ml, &ml) && ml &&
		    pl_as_read(&c->p->as, ml + (uint64_t)L->ml_flags, &flags, 4) == 0 &&
		    (flags & L->meth_method_flag))
			visit_field(c, obj, L->cmeth_class, "__defining_class__");
	}
	visit_field(c, obj, L->cfunc_self, "__self__");
	visit_field(c, obj, L->cfunc_module, "__module__");
}

static void do_deque(struct tctx *c, uint64_t obj)
{
	const struct pl_layout *L = c->L;
	uint64_t b = 0, right = 0;
	int64_t lo = 0, hi = 0, idx = 0;
	if (!rd(c, obj + (uint64_t)L->deque_leftblock, &b) || !rd(c, obj + (uint64_t)L->deque_rightblock, &right) ||
	    !rd_ssize(c, obj + (uint64_t)L->deque_leftindex, &lo) ||
	    !rd_ssize(c, obj + (uint64_t)L->deque_rightindex, &hi) || lo < 0 || lo >= L->deque_blocklen)
		return;
	for (int nb = 0; b && b != right && nb < MAX_DEQUE_BLOCKS && !c->stop; nb++) {
		for (int64_t i = lo; i < L->deque_blocklen && !c->stop; i++) {
			uint64_t v;
			if (!rd(c, b + (uint64_t)L->block_data + (uint64_t)(8 * i), &v))
				return;
			visit(c, v, PL_E_INDEX, NULL, (uint64_t)idx++, 0);
		}
		lo = 0;
		if (!rd(c, b + (uint64_t)L->block_rightlink, &b))
			return;
	}
	for (int64_t i = lo; b && i <= hi && i < L->deque_blocklen && !c->stop; i++) {
		uint64_t v;
		if (!rd(c, b + (uint64_t)L->block_data + (uint64_t)(8 * i), &v))
			return;
		visit(c, v, PL_E_INDEX, NULL, (uint64_t)idx++, 0);
	}
}

static void do_odict(struct tctx *c, uint64_t obj)
{
	const struct pl_layout *L = c->L;
	visit_field(c, obj, L->odict_inst_dict, "__dict__");
	uint64_t node = 0;
	rd(c, obj + (uint64_t)L->odict_first, &node);
	for (int n = 0; node && n < MAX_ODICT_NODES && !c->stop; n++) {
		uint64_t key;
		if (!rd(c, node + (uint64_t)L->odnode_key, &key))
			return;
		visit(c, key, PL_E_DICT_KEY, NULL, key, 0);
		if (!rd(c, node + (uint64_t)L->odnode_next, &node))
			return;
	}
	do_dict(c, obj);
}

static void scan_body(struct tctx *c, uint64_t obj, const struct pl_type *t)
{
	int64_t n = var_size(c, obj, t);
	int64_t isz = t->itemsize < 0 ? -t->itemsize : t->itemsize;
	int64_t end = t->basicsize + n * isz;
	if (end > MAX_SCAN_BYTES)
		end = MAX_SCAN_BYTES;
	if (c->result == PL_TRAV_EXACT)
		c->result = PL_TRAV_INFERRED;
	for (int64_t off = c->L->sizeof_object; off + 8 <= end && !c->stop; off += 8) {
		uint64_t v;
		if (pl_as_u64(&c->p->as, obj + (uint64_t)off, &v) != 0)
			return;
		if (v && c->is_object && c->is_object(c->ctx, v))
			visit(c, v, PL_E_INFERRED, NULL, (uint64_t)off, 0);
	}
}

static enum handler type_handler(struct pl_heap *h, struct pl_type *t)
{
	if (t->handler < 0)
		t->handler = (int16_t)(t->traverse ? handler_of(h, t->traverse) : H_UNKNOWN);
	return (enum handler)t->handler;
}

/* C types made with PyType_FromSpec visit Py_TYPE(self) first (the
 * convention for heap types since 3.9). The same C function serves a static
 * type in older versions, so it depends on whether the C type (t, the base
 * whose traverse this is) is a heap type; what is visited is the object's
 * own type, which for a Python subclass is the subclass. */
static void visit_heap_type(struct tctx *c, uint64_t obj, const struct pl_type *t)
{
	uint64_t own;
	if (t->heap && rd(c, obj + (uint64_t)c->L->ob_type, &own))
		visit(c, own, PL_E_FIELD, "__class__", 0, 0);
}

static void dispatch(struct tctx *c, uint64_t obj, struct pl_type *t, enum handler h, int depth)
{
	const struct pl_layout *L = c->L;
	if (depth > MAX_CHAIN)
		return;
	switch (h) {
	case H_TUPLE: do_tuple(c, obj); break;
	case H_LIST: do_list(c, obj); break;
	case H_DICT: do_dict(c, obj); break;
	case H_SET: do_set(c, obj); break;
	case H_SUBTYPE: do_subtype(c, obj, t, depth); break;
	case H_TYPE:
		visit_field(c, obj, L->tp_dict, "__dict__");
		visit_field(c, obj, L->tp_cache, "tp_cache");
		visit_field(c, obj, L->tp_mro, "__mro__");
		visit_field(c, obj, L->tp_bases, "__bases__");
		visit_field(c, obj, L->tp_base, "__base__");
		visit_field(c, obj, L->ht_module, "ht_module");
		break;
	case H_FUNC:
		visit_field(c, obj, L->func_code, "__code__");
		visit_field(c, obj, L->func_globals, "__globals__");
		visit_field(c, obj, L->func_builtins, "__builtins__");
		visit_field(c, obj, L->func_module, "__module__");
		visit_field(c, obj, L->func_defaults, "__defaults__");
		visit_field(c, obj, L->func_kwdefaults, "__kwdefaults__");
		visit_field(c, obj, L->func_doc, "__doc__");
		visit_field(c, obj, L->func_name, "__name__");
		visit_field(c, obj, L->func_dict, "__dict__");
		visit_field(c, obj, L->func_closure, "__closure__");
		visit_field(c, obj, L->func_annotations, "__annotations__");
		visit_field(c, obj, L->func_annotate, "__annotate__");
		visit_field(c, obj, L->func_typeparams, "__type_params__");
		visit_field(c, obj, L->func_qualname, "__qualname__");
		break;
	case H_CELL: visit_field(c, obj, L->cell_ref, "cell_contents"); break;
	case H_METHOD:
		visit_field(c, obj, L->meth_func, "__func__");
		visit_field(c, obj, L->meth_self, "__self__");
		break;
	case H_CFUNC: do_cfunc(c, obj); break;
	case H_MODULE: do_module(c, obj); break;
	case H_FRAME: do_frame(c, obj); break;
	case H_AGEN:
		visit_field(c, obj, L->agen_finalizer, "ag_finalizer");
		do_gen(c, obj);
		break;
	case H_GEN: do_gen(c, obj); break;
	case H_EXC:
		visit_field(c, obj, L->exc_dict, "__dict__");
		visit_field(c, obj, L->exc_args, "args");
		visit_field(c, obj, L->exc_notes, "__notes__");
		visit_field(c, obj, L->exc_traceback, "__traceback__");
		visit_field(c, obj, L->exc_cause, "__cause__");
		visit_field(c, obj, L->exc_context, "__context__");
		break;
	case H_TB:
		visit_field(c, obj, L->tb_next, "tb_next");
		visit_field(c, obj, L->tb_frame, "tb_frame");
		break;
	case H_WEAKREF: visit_field(c, obj, L->wr_callback, "__callback__"); break;
	case H_PROPERTY:
		visit_field(c, obj, L->prop_get, "fget");
		visit_field(c, obj, L->prop_set, "fset");
		visit_field(c, obj, L->prop_del, "fdel");
		visit_field(c, obj, L->prop_doc, "__doc__");
		visit_field(c, obj, L->prop_name, "__name__");
		break;
	case H_CM:
		visit_field(c, obj, L->cm_callable, "__func__");
		visit_field(c, obj, L->cm_dict, "__dict__");
		break;
	case H_SM:
		visit_field(c, obj, L->sm_callable, "__func__");
		visit_field(c, obj, L->sm_dict, "__dict__");
		break;
	case H_DESCR: visit_field(c, obj, L->descr_type_obj, "__objclass__"); break;
	case H_ODICT: do_odict(c, obj); break;
	case H_DEFDICT:
		visit_heap_type(c, obj, t);
		visit_field(c, obj, L->defdict_factory, "default_factory");
		do_dict(c, obj);
		break;
	case H_DEQUE:
		visit_heap_type(c, obj, t);
		do_deque(c, obj);
		break;
	case H_PARTIAL:
		visit_heap_type(c, obj, t);
		visit_field(c, obj, L->partial_fn, "func");
		visit_field(c, obj, L->partial_args, "args");
		visit_field(c, obj, L->partial_kw, "keywords");
		visit_field(c, obj, L->partial_dict, "__dict__");
		break;
	case H_NAMESPACE: visit_field(c, obj, L->ns_dict, "__dict__"); break;
	case H_MAPPINGPROXY: visit_field(c, obj, L->mpp_mapping, "mapping"); break;
	case H_WRAPPER:
		visit_field(c, obj, L->wrap_descr, "descr");
		visit_field(c, obj, L->wrap_self, "__self__");
		break;
	case H_SLICE:
		visit_field(c, obj, L->slice_start, "start");
		visit_field(c, obj, L->slice_stop, "stop");
		visit_field(c, obj, L->slice_step, "step");
		break;
	case H_ABC_DATA:
		visit_heap_type(c, obj, t);
		visit_field(c, obj, L->abc_registry, "_abc_registry");
		visit_field(c, obj, L->abc_cache, "_abc_cache");
		visit_field(c, obj, L->abc_negative_cache, "_abc_negative_cache");
		break;
	case H_LOCK: visit_heap_type(c, obj, t); break;
	case H_TUPLEGETTER:
		visit_heap_type(c, obj, t);
		visit_field(c, obj, L->tg_doc, "__doc__");
		break;
	case H_PATTERN:
		visit_heap_type(c, obj, t);
		visit_field(c, obj, L->pat_groupindex, "groupindex");
		visit_field(c, obj, L->pat_indexgroup, "indexgroup");
		visit_field(c, obj, L->pat_pattern, "pattern");
		break;
	case H_AST:
		visit_heap_type(c, obj, t);
		visit_field(c, obj, L->ast_dict, "__dict__");
		break;
	case H_LRU: {
		/* The bounded cache's linked list (key, result of each link),
		 * then the wrapped function and the cache dict. From 3.10 (heap
		 * types, with an lru_list_elem_type field) each link's type is
		 * visited too and the tail order is cache, func, kwd_mark,
		 * lru_list_elem_type, cache_info_type, dict. */
		bool heap_era = L->lru_elem_type >= 0;
		visit_heap_type(c, obj, t);
		uint64_t root = obj + (uint64_t)L->lru_root, link = 0;
		if (L->lru_root >= 0 && L->lru_root_next >= 0 && L->lru_elem_next >= 0)
			rd(c, obj + (uint64_t)L->lru_root_next, &link);
		for (int64_t n = 0; link && link != root && n < MAX_ITEMS && !c->stop; n++) {
			uint64_t next = 0;
			if (!rd(c, link + (uint64_t)L->lru_elem_next, &next))
				break;
			visit_field(c, link, L->lru_elem_key, "key");
			visit_field(c, link, L->lru_elem_result, "result");
			if (heap_era)
				visit_field(c, link, L->ob_type, "__class__");
			link = next;
		}
		if (heap_era) {
			visit_field(c, obj, L->lru_cache, "<lru_cache>");
			visit_field(c, obj, L->lru_func, "__wrapped__");
			visit_field(c, obj, L->lru_kwd_mark, "kwd_mark");
			visit_field(c, obj, L->lru_elem_type, "lru_list_elem_type");
		} else {
			visit_field(c, obj, L->lru_func, "__wrapped__");
			visit_field(c, obj, L->lru_cache, "<lru_cache>");
		}
		visit_field(c, obj, L->lru_cache_info_type, "cache_info_type");
		visit_field(c, obj, L->lru_dict, "__dict__");
		break;
	}
	case H_UNKNOWN:
		scan_body(c, obj, t);
		break;
	}
}

enum pl_trav pl_traverse(struct pl_heap *h, uint64_t obj, const struct pl_type *t,
			 pl_visit_fn fn, void *ctx, bool (*is_object)(void *ctx, uint64_t addr))
{
	const struct pl_trav_fns f = { fn, is_object, NULL };
	return pl_traverse_fns(h, obj, t, &f, ctx);
}

enum pl_trav pl_traverse_fns(struct pl_heap *h, uint64_t obj, const struct pl_type *t,
			     const struct pl_trav_fns *f, void *ctx)
{
	struct tctx c = { h, h->p, &h->p->L, f->visit, ctx, f->is_object, PL_TRAV_EXACT, 0, f->type };
	load_traverse_names(h);
	struct pl_type *mt = (struct pl_type *)t;
	if (!t->traverse)
		return PL_TRAV_EXACT;   /* not a container */
	dispatch(&c, obj, mt, type_handler(h, mt), 0);
	return c.result;
}

void pl_traverse_init(struct pl_heap *h)
{
	load_traverse_names(h);
}

void pl_traverse_ready_type(struct pl_heap *h, struct pl_type *t)
{
	load_traverse_names(h);
	/* as do_subtype would decode them when it first meets t */
	if (type_handler(h, t) == H_SUBTYPE && t->nslots > 0 && t->nslots < 4096 &&
	    t->nslot_offs < 0)
		decode_slots(h, t);
}

void pl_traverse_prefetch(struct pl_heap *h, uint64_t obj, const struct pl_type *t)
{
	const struct pl_layout *L = &h->p->L;
	int64_t off;
	switch (t->kind) {
	case PL_K_DICT:
		off = L->dict_keys;
		break;
	case PL_K_LIST:
		off = L->list_items;
		break;
	case PL_K_SET:
	case PL_K_FROZENSET:
		off = L->set_table;
		break;
	default:
		return;
	}
	uint64_t table;
	const uint8_t *q;
	if (off >= 0 && pl_as_u64(&h->p->as, obj + (uint64_t)off, &table) == 0 &&
	    (q = pl_as_ptr(&h->p->as, table, 64)) != NULL)
		__builtin_prefetch(q);
}

enum pl_trav pl_traverse_iframe(struct pl_heap *h, uint64_t iframe, pl_visit_fn fn, void *ctx)
{
	struct tctx c = { h, h->p, &h->p->L, fn, ctx, NULL, PL_TRAV_EXACT, 0, NULL };
	load_traverse_names(h);
	do_iframe(&c, iframe);
	return c.result;
}

struct fields {
	struct pl_field *f;
	int32_t n, cap;
};

static void add_field(void *ctx, int64_t off, const char *name)
{
	struct fields *fs = ctx;
	if (fs->n == fs->cap) {
		if (fs->cap >= 4096)
			return;
		int32_t cap = fs->cap ? fs->cap * 2 : 16;
		struct pl_field *n = realloc(fs->f, (size_t)cap * sizeof(*n));
		if (!n)
			return;
		fs->f = n;
		fs->cap = cap;
	}
	if ((fs->f[fs->n].name = strdup(name)) != NULL)
		fs->f[fs->n++].off = off;
}

static int by_off(const void *a, const void *b)
{
	const struct pl_field *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* The name of the pointer member at off in objects of type t (a C type,
 * or a class deriving from one): from the DWARF of the module holding the
 * nearest C type's tp_traverse, whose first parameter points to its struct. */
static const char *field_name(struct pl_heap *h, struct pl_type *t, int64_t off)
{
	load_traverse_names(h);
	for (int i = 0; t && type_handler(h, t) == H_SUBTYPE; i++)
		t = t->base && i < MAX_CHAIN ? pl_type_get(h, t->base) : NULL;
	if (!t)
		return NULL;
	if (t->nfields < 0) {
		struct fields fs = { NULL, 0, 0 };
		struct pl_file *f = t->traverse ? pl_file_at(h->p, t->traverse) : NULL;
		struct pl_dwarf *d = f ? pl_file_dwarf(h->p, f) : NULL;
		if (d)
			pl_dwarf_param_fields(d, t->traverse - f->bias, add_field, &fs);
		if (fs.n)
			qsort(fs.f, (size_t)fs.n, sizeof(*fs.f), by_off);
		t->fields = fs.f;
		t->nfields = fs.n;
	}
	int32_t lo = 0, hi = t->nfields;
	while (lo < hi) {
		int32_t mid = lo + (hi - lo) / 2;
		if (t->fields[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->nfields && t->fields[lo].off == off ? t->fields[lo].name : NULL;
}

const char *pl_edge_label(struct pl_heap *h, uint64_t src, const struct pl_edge *e, char *buf,
			  size_t len)
{
	char s[200];
	struct pl_program *p = h->p;
	switch (e->kind) {
	case PL_E_FIELD:
		snprintf(buf, len, ".%s", e->name ? e->name : "?");
		break;
	case PL_E_INDEX:
		snprintf(buf, len, "[%" PRIu64 "]", e->a);
		break;
	case PL_E_DICT_KEY:
	case PL_E_DICT_VALUE: {
		long n = pl_str_read(h, e->a, s, 48);
		if (n >= 0)
			snprintf(buf, len, "%s'%s%s']", e->kind == PL_E_DICT_KEY ? "<key " : "[", s,
				 n > 40 ? "..." : "");
		else {
			int64_t rc, iv;
			uint64_t ty;
			struct pl_type *t = pl_obj_header(p, e->a, &rc, &ty) == 0 ? pl_type_get(h, ty) : NULL;
			const char *open = e->kind == PL_E_DICT_KEY ? "<key " : "[";
			if (t && t->kind == PL_K_INT && pl_int_value(h, e->a, &iv) == 0)
				snprintf(buf, len, "%s%" PRId64 "]", open, iv);
			else if (t && t->kind == PL_K_TUPLE)
				snprintf(buf, len, "%s(…)]", open);
			else
				snprintf(buf, len, "%s<%s 0x%" PRIx64 ">]", open, t ? t->name : "?", e->a);
		}
		break;
	}
	case PL_E_SET_ITEM:
		snprintf(buf, len, "{item}");
		break;
	case PL_E_ATTR:
		if (pl_str_read(h, e->a, s, sizeof(s)) >= 0)
			snprintf(buf, len, ".%s", s);
		else
			snprintf(buf, len, ".<attribute>");
		break;
	case PL_E_SLOT:
		if (e->a && pl_as_cstr(&p->as, e->a, s, sizeof(s)) >= 0)
			snprintf(buf, len, ".%s", s);
		else
			snprintf(buf, len, ".<slot>");
		break;
	case PL_E_LOCAL:
		if (pl_code_local_name(h, e->b, (int64_t)e->a, s, sizeof(s)) == 0)
			snprintf(buf, len, " local %s", s);
		else
			snprintf(buf, len, " stack[%" PRIu64 "]", e->a);
		break;
	case PL_E_STACK:
		snprintf(buf, len, " stack[%" PRIu64 "]", e->a);
		break;
	case PL_E_INFERRED: {
		int64_t rc;
		uint64_t ty;
		struct pl_type *t = pl_obj_header(p, src, &rc, &ty) == 0 ? pl_type_get(h, ty) : NULL;
		const char *nm = t ? field_name(h, t, (int64_t)e->a) : NULL;
		if (nm)
			snprintf(buf, len, ".<%s>", nm);
		else
			snprintf(buf, len, ".<+%" PRIu64 "?>", e->a);
		break;
	}
	case PL_E_MODSTATE:
		snprintf(buf, len, ".<module state +%" PRIu64 "?>", e->a);
		break;
	default:
		snprintf(buf, len, ".?");
	}
	return buf;
}
