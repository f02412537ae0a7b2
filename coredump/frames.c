#include "config.h"
#include "frames.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objects.h"
#include "program.h"
#include "traverse.h"

#define MAX_FRAMES 100000
#define MAX_LINETABLE (1 << 24)
#define CO_OPTIMIZED 1

static int rd_i32(struct pl_program *p, uint64_t addr, int32_t off, int32_t *v)
{
	*v = 0;
	return off < 0 ? -1 : pl_as_read(&p->as, addr + (uint64_t)off, v, 4);
}

static int rd_ptr(struct pl_program *p, uint64_t addr, int32_t off, uint64_t *v)
{
	*v = 0;
	return off < 0 ? -1 : pl_as_u64(&p->as, addr + (uint64_t)off, v);
}

static int64_t tuple_size(struct pl_program *p, uint64_t t)
{
	int64_t n = 0;
	if (!t || pl_as_read(&p->as, t + (uint64_t)p->L.ob_size, &n, 8) != 0 || n < 0 || n > (1 << 24))
		return 0;
	return n;
}

/* The bytes of a bytes object (malloc'ed), or NULL. */
static uint8_t *bytes_copy(struct pl_program *p, uint64_t b, size_t *n)
{
	int64_t len = 0;
	if (!b || pl_as_read(&p->as, b + (uint64_t)p->L.ob_size, &len, 8) != 0 || len < 0 ||
	    len > MAX_LINETABLE)
		return NULL;
	uint8_t *d = malloc(len ? (size_t)len : 1);
	if (d && pl_as_read(&p->as, b + (uint64_t)p->L.bytes_sval, d, (size_t)len) != 0) {
		free(d);
		return NULL;
	}
	*n = (size_t)len;
	return d;
}

/* The line-table walk of CPython's PyCodeAddressRange, over a copy. */
struct range {
	const uint8_t *d;
	size_t n, pos;
	int fmt;
	int64_t start, end;
	int line, computed;
};

static unsigned varint(const struct range *r, size_t *pos)
{
	unsigned v = 0, shift = 0, b;
	do {
		if (*pos >= r->n || shift > 24)
			return v;
		b = r->d[(*pos)++];
		v |= (b & 63) << shift;
		shift += 6;
	} while (b & 64);
	return v;
}

static int line_delta(const struct range *r)
{
	unsigned code = (r->d[r->pos] >> 3) & 15;
	size_t pos = r->pos + 1;
	if (code == 13 || code == 14) {   /* no columns, long form */
		unsigned u = varint(r, &pos);
		return u & 1 ? -(int)(u >> 1) : (int)(u >> 1);
	}
	return code >= 10 && code <= 12 ? (int)code - 10 : 0;
}

/* One entry; false at the end of the table. */
static bool advance(struct range *r)
{
	if (r->fmt == 1) {   /* PEP 626: (bytes, signed line delta) pairs */
		if (r->pos + 1 >= r->n)
			return false;
		r->start = r->end;
		r->end += r->d[r->pos];
		int8_t ld = (int8_t)r->d[r->pos + 1];
		r->pos += 2;
		if (ld == -128) {
			r->line = -1;
		} else {
			r->computed += ld;
			r->line = r->computed;
		}
		return true;
	}
	if (r->pos >= r->n)   /* 3.11+ location table */
		return false;
	r->computed += line_delta(r);
	r->line = (r->d[r->pos] >> 3) == 0x1f ? -1 : r->computed;
	r->start = r->end;
	r->end += ((r->d[r->pos] & 7) + 1) * 2;
	do
		r->pos++;
	while (r->pos < r->n && !(r->d[r->pos] & 128));
	return true;
}

int pl_code_addr2line(struct pl_heap *h, uint64_t code, int64_t addrq)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	int32_t first;
	if (rd_i32(p, code, L->co_firstlineno, &first) != 0)
		return -1;
	if (addrq < 0)
		return first;
	uint64_t table;
	if (rd_ptr(p, code, L->linetable_format == 0 ? L->co_lnotab : L->co_linetable, &table) != 0)
		return -1;
	size_t n = 0;
	uint8_t *d = bytes_copy(p, table, &n);
	if (!d)
		return -1;
	int line = first;
	if (L->linetable_format == 0) {   /* co_lnotab: (bytes, signed lines) */
		int64_t addr = 0;
		for (size_t i = 0; i + 1 < n; i += 2) {
			addr += d[i];
			if (addr > addrq)
				break;
			line += (int8_t)d[i + 1];
		}
	} else {
		struct range r = { d, n, 0, L->linetable_format, -1, 0, -1, first };
		line = -1;
		bool ok = true;
		while (ok && r.end <= addrq) {
			ok = advance(&r);
			while (ok && r.start == r.end)
				ok = advance(&r);
		}
		if (ok)
			line = r.line;
	}
	free(d);
	return line;
}

void pl_code_func(struct pl_heap *h, uint64_t code, char *buf, size_t len)
{
	const struct pl_layout *L = &h->p->L;
	uint64_t name = 0;
	snprintf(buf, len, "?");
	if (rd_ptr(h->p, code, L->co_qualname >= 0 ? L->co_qualname : L->co_name, &name) == 0)
		pl_str_read(h, name, buf, len);
}

void pl_code_file(struct pl_heap *h, uint64_t code, char *buf, size_t len)
{
	uint64_t name = 0;
	snprintf(buf, len, "?");
	if (rd_ptr(h->p, code, h->p->L.co_filename, &name) == 0)
		pl_str_read(h, name, buf, len);
}

bool pl_code_is_function(struct pl_heap *h, uint64_t code)
{
	int32_t flags;
	return rd_i32(h->p, code, h->p->L.co_flags, &flags) == 0 && (flags & CO_OPTIMIZED);
}

static bool is_code(struct pl_heap *h, uint64_t addr)
{
	int64_t rc;
	uint64_t ty;
	struct pl_type *t;
	return addr && pl_obj_header(h->p, addr, &rc, &ty) == 0 && (t = pl_type_get(h, ty)) &&
	       t->kind == PL_K_CODE;
}

/* 3.11+: the offset of the current instruction, in bytes from the code's
 * first, as _PyInterpreterFrame_LASTI * sizeof(_Py_CODEUNIT). */
static int64_t iframe_lasti_bytes(struct pl_program *p, uint64_t f, uint64_t code)
{
	uint64_t ip = 0, start = code + (uint64_t)p->L.co_code_adaptive;
	if (rd_ptr(p, f, p->L.if_instr_ptr, &ip) != 0)
		return -1;
	return ((int64_t)(ip - start) / 2) * 2;
}

static int frame_line(struct pl_heap *h, struct pl_pyframe *f, bool iframe)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	int32_t lineno = 0;
	if (iframe) {   /* a frame object's f_lineno wins while tracing */
		uint64_t fo = 0;
		if (rd_ptr(p, f->frame, L->if_frame_obj, &fo) == 0 && fo &&
		    rd_i32(p, fo, L->fo_lineno, &lineno) == 0 && lineno > 0)
			return lineno;
		return pl_code_addr2line(h, f->code, iframe_lasti_bytes(p, f->frame, f->code));
	}
	uint64_t trace = 0;
	rd_ptr(p, f->frame, L->fo_trace, &trace);
	rd_i32(p, f->frame, L->fo_lineno, &lineno);
	if ((trace || L->linetable_format == 1) && lineno > 0)
		return lineno;
	int32_t lasti = -1;
	rd_i32(p, f->frame, L->fo_lasti, &lasti);
	return pl_code_addr2line(h, f->code, lasti < 0 ? -1 : (int64_t)lasti * L->lasti_bytes);
}

int pl_frame_read(struct pl_heap *h, uint64_t frame, struct pl_pyframe *f)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	memset(f, 0, sizeof(*f));
	f->frame = frame;
	f->line = -1;
	bool iframe = L->if_previous >= 0;
	if (rd_ptr(p, frame, iframe ? L->if_code : L->fo_code, &f->code) != 0 || !is_code(h, f->code))
		return -1;
	if (iframe) {
		int32_t n;
		f->localsplus = frame + (uint64_t)L->if_localsplus;
		if (rd_i32(p, f->code, L->co_nlocalsplus, &n) != 0 || n < 0)
			return -1;
		f->nlocals = n;
	} else {
		int32_t n;
		uint64_t cells = 0, frees = 0;
		f->localsplus = frame + (uint64_t)L->fo_localsplus;
		if (rd_i32(p, f->code, L->co_nlocals, &n) != 0 || n < 0)
			return -1;
		rd_ptr(p, f->code, L->co_cellvars, &cells);
		rd_ptr(p, f->code, L->co_freevars, &frees);
		f->nlocals = n + tuple_size(p, cells) + tuple_size(p, frees);
	}
	f->line = frame_line(h, f, iframe);
	return 0;
}

void pl_frames_begin(struct pl_frame_iter *it, struct pl_heap *h, uint64_t top)
{
	it->h = h;
	it->next = top;
	it->depth = 0;
}

/* 3.11+: frames the interpreter hides (C shims, frames not yet started). */
static bool hidden(struct pl_heap *h, uint64_t f, int8_t owner, uint64_t code)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	if (L->owned_by_cstack >= 0 && owner == L->owned_by_cstack)
		return true;
	if (!is_code(h, code))
		return true;
	int32_t first = 0;
	if (owner == L->owned_by_generator || rd_i32(p, code, L->co_firsttraceable, &first) != 0)
		return false;
	return iframe_lasti_bytes(p, f, code) < (int64_t)first * 2;
}

int pl_frames_next(struct pl_frame_iter *it, struct pl_pyframe *f)
{
	struct pl_heap *h = it->h;
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	while (it->next && it->depth < MAX_FRAMES) {
		uint64_t cur = it->next, next = 0, code = 0;
		it->depth++;
		if (L->if_previous >= 0) {
			int8_t owner = 0;
			if (rd_ptr(p, cur, L->if_previous, &next) != 0 ||
			    pl_as_read(&p->as, cur + (uint64_t)L->if_owner, &owner, 1) != 0 ||
			    rd_ptr(p, cur, L->if_code, &code) != 0)
				return it->next = 0, -1;
			it->next = next == cur ? 0 : next;
			if (hidden(h, cur, owner, code))
				continue;
		} else {
			if (rd_ptr(p, cur, L->fo_back, &next) != 0)
				return it->next = 0, -1;
			it->next = next == cur ? 0 : next;
		}
		if (pl_frame_read(h, cur, f) != 0)
			return it->next = 0, -1;
		return 1;
	}
	return 0;
}

int pl_code_local_name(struct pl_heap *h, uint64_t code, int64_t idx, char *buf, size_t len)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	uint64_t names = 0, name = 0;
	if (L->co_localsplusnames >= 0) {
		rd_ptr(p, code, L->co_localsplusnames, &names);
	} else {   /* varnames + cellvars + freevars */
		int32_t offs[3] = { L->co_varnames, L->co_cellvars, L->co_freevars };
		for (int k = 0; k < 3; k++) {
			uint64_t t = 0;
			rd_ptr(p, code, offs[k], &t);
			int64_t n = tuple_size(p, t);
			if (idx < n) {
				names = t;
				break;
			}
			idx -= n;
		}
	}
	if (!names || idx < 0 || idx >= tuple_size(p, names) ||
	    pl_as_u64(&p->as, names + (uint64_t)L->tuple_items + (uint64_t)(8 * idx), &name) != 0 ||
	    pl_str_read(h, name, buf, len) < 0)
		return -1;
	return 0;
}

int pl_frame_local(struct pl_heap *h, const struct pl_pyframe *f, int64_t i, char *name,
		   size_t len, uint64_t *value)
{
	struct pl_program *p = h->p;
	*value = 0;
	if (i < 0 || i >= f->nlocals || pl_code_local_name(h, f->code, i, name, len) != 0 ||
	    pl_as_u64(&p->as, f->localsplus + (uint64_t)(8 * i), value) != 0)
		return -1;
	int64_t rc;
	uint64_t ty;
	struct pl_type *t;
	if (*value && pl_obj_header(p, *value, &rc, &ty) == 0 && (t = pl_type_get(h, ty)) &&
	    t->kind == PL_K_CELL && pl_as_u64(&p->as, *value + (uint64_t)p->L.cell_ref, value) != 0)
		return -1;
	return 0;
}

enum pl_gen_state pl_gen_state(struct pl_heap *h, uint64_t gen, uint64_t *frame)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	int8_t st = 0;
	*frame = 0;
	if (L->gen_iframe >= 0) {   /* 3.11+: the frame is inside the generator */
		if (pl_as_read(&p->as, gen + (uint64_t)L->gen_frame_state, &st, 1) != 0)
			return PL_GEN_UNKNOWN;
		*frame = gen + (uint64_t)L->gen_iframe;
	} else {
		if (rd_ptr(p, gen, L->gen_frame, frame) != 0)
			return PL_GEN_UNKNOWN;
		if (!*frame)
			return PL_GEN_DONE;
		if (L->fo_state < 0) {   /* <=3.9 */
			int8_t running = 0;
			int32_t lasti = 0;
			uint64_t top = 0;
			if (pl_as_read(&p->as, gen + (uint64_t)L->gen_running, &running, 1) != 0 ||
			    rd_i32(p, *frame, L->fo_lasti, &lasti) != 0 ||
			    rd_ptr(p, *frame, L->fo_stacktop, &top) != 0)
				return PL_GEN_UNKNOWN;
			return running ? PL_GEN_RUNNING : lasti < 0 ? PL_GEN_CREATED :
			       top ? PL_GEN_SUSPENDED : PL_GEN_DONE;
		}
		if (pl_as_read(&p->as, *frame + (uint64_t)L->fo_state, &st, 1) != 0)
			return PL_GEN_UNKNOWN;
	}
	if (st == L->frame_created)
		return PL_GEN_CREATED;
	if (st == L->frame_suspended || st == L->frame_suspended_yf)
		return PL_GEN_SUSPENDED;
	if (st == L->frame_executing)
		return PL_GEN_RUNNING;
	return L->frame_suspended == INT32_MIN ? PL_GEN_UNKNOWN : PL_GEN_DONE;
}

/* The top of a frame's value stack, or 0. */
static uint64_t stack_top(struct pl_program *p, uint64_t frame, bool iframe)
{
	const struct pl_layout *L = &p->L;
	uint64_t v = 0;
	if (iframe) {
		int32_t top = 0;
		if (rd_i32(p, frame, L->if_stacktop, &top) != 0 || top <= 0 || top > (1 << 20))
			return 0;
		pl_as_u64(&p->as, frame + (uint64_t)L->if_localsplus + 8 * (uint64_t)(top - 1), &v);
		return v;
	}
	uint64_t top = 0, base = 0;
	if (L->fo_stacktop >= 0) {   /* 3.8, 3.9 */
		if (rd_ptr(p, frame, L->fo_stacktop, &top) != 0 || !top)
			return 0;
	} else {                     /* 3.10 */
		int32_t depth = 0;
		if (rd_ptr(p, frame, L->fo_valuestack, &base) != 0 || !base ||
		    rd_i32(p, frame, L->fo_stackdepth, &depth) != 0 || depth <= 0 || depth > (1 << 20))
			return 0;
		top = base + 8 * (uint64_t)depth;
	}
	pl_as_u64(&p->as, top - 8, &v);
	return v;
}

/* 3.11/3.12: _PyOpcode_Deopt[op], or -1. */
static int deopt(struct pl_heap *h, uint8_t op)
{
	struct pl_program *p = h->p;
	uint8_t v;
	if (!h->opcode_deopt_loaded) {
		h->opcode_deopt_loaded = true;
		if (pl_symbol(p, p->pyfile, "_PyOpcode_Deopt", &h->opcode_deopt, NULL) != 0)
			h->opcode_deopt = 0;
	}
	if (!h->opcode_deopt || pl_as_read(&p->as, h->opcode_deopt + op, &v, 1) != 0)
		return -1;
	return v;
}

uint64_t pl_gen_yieldfrom(struct pl_heap *h, uint64_t gen)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	uint64_t frame, code = 0;
	if (pl_gen_state(h, gen, &frame) != PL_GEN_SUSPENDED || !frame)
		return 0;
	if (L->gen_iframe < 0) {   /* <=3.10: the next instruction is YIELD_FROM */
		int32_t lasti = -1;
		uint64_t bytes = 0;
		uint8_t op = 0;
		if (rd_ptr(p, frame, L->fo_code, &code) != 0 || rd_ptr(p, code, L->co_code, &bytes) != 0 ||
		    !bytes || rd_i32(p, frame, L->fo_lasti, &lasti) != 0 || lasti < 0 ||
		    pl_as_read(&p->as, bytes + (uint64_t)L->bytes_sval + (uint64_t)lasti * (uint64_t)L->lasti_bytes + 2,
			       &op, 1) != 0 || op != L->op_yield_from)
			return 0;
		return stack_top(p, frame, false);
	}
	if (L->frame_suspended_yf != INT32_MIN) {   /* 3.13+: the state says it */
		int8_t st = 0;
		if (pl_as_read(&p->as, gen + (uint64_t)L->gen_frame_state, &st, 1) != 0 ||
		    st != L->frame_suspended_yf)
			return 0;
		return stack_top(p, frame, true);
	}
	/* 3.11, 3.12: the next instruction is a RESUME with oparg >= 2; what
	 * RESUME is comes from the first traceable instruction of the code */
	uint64_t ip = 0;
	int32_t first = 0;
	uint8_t next[2], head = 0;
	if (rd_ptr(p, frame, L->if_code, &code) != 0 || rd_ptr(p, frame, L->if_instr_ptr, &ip) != 0 ||
	    rd_i32(p, code, L->co_firsttraceable, &first) != 0 || first < 0 ||
	    pl_as_read(&p->as, ip + 2, next, 2) != 0 ||
	    pl_as_read(&p->as, code + (uint64_t)L->co_code_adaptive + 2 * (uint64_t)first, &head, 1) != 0)
		return 0;
	int resume = deopt(h, head), op = deopt(h, next[0]);
	if (resume < 0 || op != resume || next[1] < 2)
		return 0;
	return stack_top(p, frame, true);
}

const char *pl_gen_state_name(enum pl_gen_state s)
{
	static const char *n[] = { "unknown", "created", "suspended", "running", "done" };
	return s <= PL_GEN_DONE ? n[s] : "?";
}

uint64_t pl_gil_holder(struct pl_heap *h)
{
	bool locked;
	uint64_t t = pl_gil_last_holder(h, &locked);
	return locked ? t : 0;
}

uint64_t pl_gil_last_holder(struct pl_heap *h, bool *locked)
{
	struct pl_program *p = h->p;
	const struct pl_layout *L = &p->L;
	uint64_t gil = 0, holder = 0;
	int32_t locked_v = 0;
	if (L->is_ceval >= 0 && L->ceval_gil_ptr >= 0)   /* 3.12+: per interpreter */
		rd_ptr(p, p->rt.interp + (uint64_t)L->is_ceval, L->ceval_gil_ptr, &gil);
	else if (L->rt_ceval >= 0 && L->ceval_rt_gil >= 0)
		gil = p->rt.addr + (uint64_t)L->rt_ceval + (uint64_t)L->ceval_rt_gil;
	*locked = false;
	if (!gil || rd_i32(p, gil, L->gil_locked, &locked_v) != 0 ||
	    rd_ptr(p, gil, L->gil_last_holder, &holder) != 0)
		return 0;
	*locked = locked_v != 0;
	return holder;
}

/* An attribute of an instance: from inline/managed values or its __dict__. */
struct attr_find {
	struct pl_heap *h;
	const char *name;
	uint64_t value, dict;
};

static int attr_visit(void *ctx, uint64_t target, const struct pl_edge *e)
{
	struct attr_find *a = ctx;
	char buf[128];
	if (e->kind == PL_E_ATTR && pl_str_read(a->h, e->a, buf, sizeof(buf)) >= 0 &&
	    !strcmp(buf, a->name)) {
		a->value = target;
		return 1;
	}
	if (e->kind == PL_E_FIELD && e->name && !strcmp(e->name, "__dict__"))
		a->dict = target;
	return 0;
}

uint64_t pl_obj_attr(struct pl_heap *h, uint64_t obj, const char *name)
{
	int64_t rc;
	uint64_t ty;
	struct pl_type *t;
	if (pl_obj_header(h->p, obj, &rc, &ty) || !(t = pl_type_get(h, ty)))
		return 0;
	struct attr_find a = { h, name, 0, 0 };
	pl_traverse(h, obj, t, attr_visit, &a, NULL);
	if (!a.value && a.dict)
		a.value = pl_dict_get_str(h, a.dict, name);
	return a.value;
}

/* threading._active: ident -> Thread; Thread._name */
void pl_thread_name(struct pl_heap *h, uint64_t active, uint64_t ident, char *buf, size_t len)
{
	/* unnamed (threading not imported, or a thread it does not know): the
	 * interpreter's first thread state is the main thread */
	const struct pl_runtime *rt = &h->p->rt;
	const struct pl_pythread *first = NULL;
	for (size_t i = 0; i < rt->nthreads; i++)
		if (!first || rt->threads[i].id < first->id)
			first = &rt->threads[i];
	if (first && first->thread_id == ident)
		snprintf(buf, len, "MainThread");
	else
		snprintf(buf, len, "0x%llx", (unsigned long long)ident);
	struct pl_dict_iter it;
	uint64_t k, v;
	if (!active || pl_dict_iter_init(&it, h->p, active))
		return;
	while (pl_dict_iter_next(&it, &k, &v) == 1) {
		int64_t id;
		if (pl_int_value(h, k, &id) || (uint64_t)id != ident)
			continue;
		uint64_t name = pl_obj_attr(h, v, "_name");
		if (name)
			pl_str_read(h, name, buf, len);
		return;
	}
}

uint64_t pl_threading_active(struct pl_heap *h)
{
	struct pl_program *p = h->p;
	uint64_t mod = pl_dict_get_str(h, p->rt.modules, "threading"), md = 0;
	if (!mod || pl_as_u64(&p->as, mod + (uint64_t)p->L.mod_dict, &md) != 0 || !md)
		return 0;
	return pl_dict_get_str(h, md, "_active");
}
