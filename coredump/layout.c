#include "config.h"
#include "layout.h"

#include <stdlib.h>
#include <string.h>

#include "dwarf.h"

/* Try each '|'-separated alternative of types x members. */
static int resolve(struct pl_dwarf *dw, const char *types, const char *members,
		   int64_t *off, int32_t *bit_off, int32_t *bit_size)
{
	char tbuf[256], mbuf[256];
	snprintf(tbuf, sizeof(tbuf), "%s", types);
	for (char *ts = tbuf, *tsave = NULL, *t; (t = strtok_r(ts, "|", &tsave)); ts = NULL) {
		snprintf(mbuf, sizeof(mbuf), "%s", members);
		for (char *ms = mbuf, *msave = NULL, *m; (m = strtok_r(ms, "|", &msave)); ms = NULL)
			if (pl_dwarf_member(dw, t, m, off, bit_off, bit_size) == 0)
				return 0;
	}
	return -1;
}

static int resolve_size(struct pl_dwarf *dw, const char *types, int64_t *size)
{
	char tbuf[256];
	snprintf(tbuf, sizeof(tbuf), "%s", types);
	for (char *ts = tbuf, *save = NULL, *t; (t = strtok_r(ts, "|", &save)); ts = NULL)
		if (pl_dwarf_sizeof(dw, t, size) == 0)
			return 0;
	return -1;
}

static const char *const type_names[] = {
#define N(f, t, ...) t,
	PL_LAYOUT_OFFSETS(N)
	PL_LAYOUT_SIZES(N)
	PL_LAYOUT_BITS(N)
#undef N
};

struct pl_error *pl_layout_from_dwarf(struct pl_layout *L, struct pl_dwarf *dw)
{
	/* Collect every alternative type name once. */
	size_t cap = 0, n = 0;
	const size_t nt = sizeof(type_names) / sizeof(type_names[0]);
	for (size_t i = 0; i < nt; i++)
		cap += 1 + strlen(type_names[i]) / 2;
	char **names = calloc(cap, sizeof(*names));
	if (!names)
		return pl_error(PL_E_NOMEM, "out of memory");
	for (size_t i = 0; i < nt; i++) {
		char buf[256];
		snprintf(buf, sizeof(buf), "%s", type_names[i]);
		for (char *s = buf, *save = NULL, *t; (t = strtok_r(s, "|", &save)); s = NULL) {
			bool dup = false;
			for (size_t j = 0; j < n && !dup; j++)
				dup = strcmp(names[j], t) == 0;
			if (!dup && n < cap)
				names[n++] = strdup(t);
		}
	}
	struct pl_error *err = pl_dwarf_index(dw, (const char *const *)names, n);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (err)
		return err;

	int64_t v;
	int32_t bo, bs;
#define OFF(f, t, m, req) \
	if (resolve(dw, t, m, &v, NULL, NULL) == 0) \
		L->f = (int32_t)v; \
	else if (req) \
		return pl_error(PL_E_DEBUGINFO, "debug info %s lacks %s.%s; it does not describe " \
				"a supported CPython (3.8-3.14)", pl_dwarf_path(dw), t, m); \
	else \
		L->f = -1;
	PL_LAYOUT_OFFSETS(OFF)
#undef OFF
#define SIZE(f, t) L->f = resolve_size(dw, t, &v) == 0 ? (int32_t)v : -1;
	PL_LAYOUT_SIZES(SIZE)
#undef SIZE
#define BITS(f, t, m) \
	if (resolve(dw, t, m, &v, &bo, &bs) == 0 && bo >= 0) { \
		L->f.bit_offset = bo; L->f.bit_size = bs; \
	} else { \
		L->f.bit_offset = -1; L->f.bit_size = 0; \
	}
	PL_LAYOUT_BITS(BITS)
#undef BITS
	/* Frame enums exist from 3.11 on, with values that move between
	 * versions; earlier versions have no interpreter frames. */
	L->frame_cleared = L->owned_by_frame_object = L->owned_by_cstack = -1;
	/* Two enums: the frame states (group 0) and, with interpreter frames
	 * (their owner field), the frame owners (group 1). Both are found in
	 * genobject.c's unit; the scan ends as soon as both are. */
	bool owners = L->if_owner >= 0;
	const char *en[] = { "FRAME_CLEARED", owners ? "FRAME_OWNED_BY_FRAME_OBJECT" : NULL,
			     owners ? "FRAME_OWNED_BY_CSTACK" : NULL, "FRAME_CREATED", "FRAME_SUSPENDED",
			     "FRAME_SUSPENDED_YIELD_FROM", "FRAME_EXECUTING",
			     owners ? "FRAME_OWNED_BY_GENERATOR" : NULL };
	const int group[] = { 0, 1, 1, 0, 0, 0, 0, 1 };
	enum { NEN = sizeof(en) / sizeof(en[0]) };
	int64_t ev[NEN];
	bool ef[NEN] = { false };
	if (L->fo_state >= 0 || owners)   /* one scan for them all */
		pl_dwarf_enumerators(dw, en, group, NEN, "genobject.c", ev, ef);
	if (L->if_owner >= 0) {
		int32_t *own[] = { &L->frame_cleared, &L->owned_by_frame_object, &L->owned_by_cstack };
		for (size_t i = 0; i < 3; i++)
			if (ef[i])
				*own[i] = (int32_t)ev[i];
	}
	int32_t *st[] = { &L->frame_created, &L->frame_suspended, &L->frame_suspended_yf,
			  &L->frame_executing, &L->owned_by_generator };
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)   /* the names after own[]'s */
		*st[i] = ef[3 + i] ? (int32_t)ev[3 + i] : INT32_MIN;
	/* the line table's format follows from the fields the code object has */
	L->linetable_format = L->co_code_adaptive >= 0 ? 2 : L->co_linetable >= 0 ? 1 : 0;
	L->lasti_bytes = L->linetable_format == 1 ? 2 : 1;
	if (L->sizeof_gc_head <= 0 || L->sizeof_object <= 0 || L->sizeof_type <= 0)
		return pl_error(PL_E_DEBUGINFO, "debug info %s lacks the sizes of PyObject, "
				"PyTypeObject or PyGC_Head", pl_dwarf_path(dw));
	if (L->str_kind.bit_offset < 0 || L->str_compact.bit_offset < 0 ||
	    L->str_ascii.bit_offset < 0)
		return pl_error(PL_E_DEBUGINFO, "debug info %s lacks PyASCIIObject.state bit-fields",
				pl_dwarf_path(dw));
	return NULL;
}

void pl_layout_finish(struct pl_layout *L, uint32_t hexversion)
{
	uint32_t minor = (hexversion >> 16) & 0xff;
	L->hexversion = hexversion;
	/* Type flags (Include/object.h). These are macros, absent from DWARF. */
	L->tpf_heaptype = 1ull << 9;
	L->tpf_have_gc = 1ull << 14;
	L->tpf_long_subclass = 1ull << 24;
	L->tpf_type_subclass = 1ull << 31;
	L->tpf_managed_dict = minor >= 11 ? 1ull << 4 : 0;
	L->tpf_managed_weakref = minor >= 12 ? 1ull << 3 : 0;
	L->tpf_inline_values = minor >= 13 ? 1ull << 2 : 0;
	L->tpf_static_builtin = minor >= 12 ? 1ull << 1 : 0;
	/* Words before the gc head: 3.11 (dict, values) for MANAGED_DICT; 3.12+
	 * (dict/values, weakref list) for MANAGED_DICT|MANAGED_WEAKREF. */
	L->preheader_words = minor >= 11 ? 2 : 0;
	L->immortal_refcnt = minor >= 12;
	L->long_tagged = L->long_tag >= 0;
	L->dict_log2 = L->dk_log2_size >= 0;
	L->dk_unicode_kind = 1;   /* DICT_KEYS_UNICODE */
	L->dk_split_kind = 2;     /* DICT_KEYS_SPLIT */
	L->gc_list_mask = 3;
	L->managed_dict_style = minor >= 13 ? 3 : minor == 12 ? 2 : minor == 11 ? 1 : 0;
	L->subtype_visits_type_always = minor <= 8;
	L->cfunc_visits_class = minor >= 9;
	L->meth_method_flag = 0x0200;
	L->t_object_ex = 16;
	L->deque_blocklen = 64;
	/* Lib/opcode.py: a generator delegating with yield from / await is
	 * suspended just before it (3.11+ read RESUME's meaning from the
	 * interpreter's own _PyOpcode_Deopt table instead) */
	L->op_yield_from = minor <= 10 ? 72 : -1;
}

void pl_layout_dump(const struct pl_layout *L, FILE *out)
{
#define OFF(f, t, m, r) fprintf(out, "%-24s %6d  %s.%s\n", #f, L->f, t, m);
	PL_LAYOUT_OFFSETS(OFF)
#undef OFF
#define SIZE(f, t) fprintf(out, "%-24s %6d  sizeof(%s)\n", #f, L->f, t);
	PL_LAYOUT_SIZES(SIZE)
#undef SIZE
#define BITS(f, t, m) fprintf(out, "%-24s %4d:%d  %s.%s (bits)\n", #f, L->f.bit_offset, \
			      L->f.bit_size, t, m);
	PL_LAYOUT_BITS(BITS)
#undef BITS
}
