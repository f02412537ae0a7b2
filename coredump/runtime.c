#include "config.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf.h"
#include "objects.h"
#include "program.h"

#define MAX_INTERPS 1024
#define MAX_THREADS 65536

void pl_runtime_release(struct pl_runtime *rt)
{
	free(rt->threads);
	memset(rt, 0, sizeof(*rt));
}

const char *pl_gc_debug_flags(int32_t debug, char *buf, size_t len)
{
	/* Modules/gcmodule.c: DEBUG_STATS 1, COLLECTABLE 2, UNCOLLECTABLE 4,
	 * SAVEALL 32; DEBUG_LEAK = COLLECTABLE|UNCOLLECTABLE|SAVEALL. */
	static const struct { int32_t bit; const char *name; } f[] = {
		{ 1, "DEBUG_STATS" }, { 2, "DEBUG_COLLECTABLE" }, { 4, "DEBUG_UNCOLLECTABLE" },
		{ 32, "DEBUG_SAVEALL" },
	};
	buf[0] = 0;
	if (!debug) {
		snprintf(buf, len, "0");
		return buf;
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (debug & f[i].bit) {
			size_t n = strlen(buf);
			snprintf(buf + n, len - n, "%s%s", n ? "|" : "", f[i].name);
		}
	return buf;
}

static int rd_i32(struct pl_program *p, uint64_t addr, int32_t *v)
{
	return pl_as_read(&p->as, addr, v, 4);
}

static int rd_ptr(struct pl_program *p, uint64_t addr, uint64_t *v)
{
	return pl_as_u64(&p->as, addr, v);
}

static struct pl_error *read_gen(struct pl_program *p, uint64_t gen, uint64_t stats,
				 struct pl_gcgen *g)
{
	const struct pl_layout *L = &p->L;
	g->head = gen + (uint64_t)L->gen_head;
	if (rd_i32(p, gen + (uint64_t)L->gen_threshold, &g->threshold) ||
	    rd_i32(p, gen + (uint64_t)L->gen_count, &g->count))
		return pl_error(PL_E_CORRUPT, "gc generation at 0x%llx is not in the core",
				(unsigned long long)gen);
	if (stats) {
		int64_t v[3] = { 0, 0, 0 };
		if (pl_as_read(&p->as, stats + (uint64_t)L->gst_collections, &v[0], 8) == 0 &&
		    pl_as_read(&p->as, stats + (uint64_t)L->gst_collected, &v[1], 8) == 0 &&
		    pl_as_read(&p->as, stats + (uint64_t)L->gst_uncollectable, &v[2], 8) == 0) {
			g->collections = (uint64_t)v[0];
			g->collected = (uint64_t)v[1];
			g->uncollectable = (uint64_t)v[2];
		}
	}
	return NULL;
}

static int64_t list_len(struct pl_program *p, uint64_t list)
{
	int64_t n;
	if (!list || pl_as_read(&p->as, list + (uint64_t)p->L.ob_size, &n, 8) != 0)
		return -1;
	return n;
}

static struct pl_error *read_gc(struct pl_program *p)
{
	const struct pl_layout *L = &p->L;
	struct pl_runtime *rt = &p->rt;
	struct pl_gcstate *gc = &rt->gc;
	if (L->rt_gc >= 0)
		gc->addr = rt->addr + (uint64_t)L->rt_gc;         /* 3.8: in _PyRuntime */
	else if (L->is_gc >= 0)
		gc->addr = rt->interp + (uint64_t)L->is_gc;       /* 3.9+: per interpreter */
	else
		return pl_error(PL_E_DEBUGINFO, "debug info has neither _PyRuntimeState.gc nor "
				"PyInterpreterState.gc");
	if (rd_i32(p, gc->addr + (uint64_t)L->gcs_enabled, &gc->enabled) ||
	    rd_i32(p, gc->addr + (uint64_t)L->gcs_debug, &gc->debug) ||
	    rd_i32(p, gc->addr + (uint64_t)L->gcs_collecting, &gc->collecting) ||
	    rd_ptr(p, gc->addr + (uint64_t)L->gcs_garbage, &gc->garbage) ||
	    rd_ptr(p, gc->addr + (uint64_t)L->gcs_callbacks, &gc->callbacks))
		return pl_error(PL_E_CORRUPT, "the gc state at 0x%llx is not in the core",
				(unsigned long long)gc->addr);
	for (int i = 0; i < 3; i++) {
		uint64_t gen, stats = gc->addr + (uint64_t)L->gcs_stats + (uint64_t)(i * L->sizeof_gen_stats);
		if (L->gcs_old >= 0)   /* 3.14 incremental: young, old[0], old[1] */
			gen = i == 0 ? gc->addr + (uint64_t)L->gcs_generations
				     : gc->addr + (uint64_t)L->gcs_old + (uint64_t)((i - 1) * L->sizeof_gen);
		else
			gen = gc->addr + (uint64_t)L->gcs_generations + (uint64_t)(i * L->sizeof_gen);
		struct pl_error *err = read_gen(p, gen, stats, &gc->gen[i]);
		if (err)
			return err;
	}
	struct pl_error *err = read_gen(p, gc->addr + (uint64_t)L->gcs_permanent, 0, &gc->permanent);
	if (err)
		return err;
	gc->garbage_len = gc->garbage ? list_len(p, gc->garbage) : 0;
	gc->callbacks_len = gc->callbacks ? list_len(p, gc->callbacks) : 0;
	return NULL;
}

static void read_threads(struct pl_program *p)
{
	const struct pl_layout *L = &p->L;
	struct pl_runtime *rt = &p->rt;
	uint64_t ts = 0;
	if (rd_ptr(p, rt->interp + (uint64_t)L->is_tstate_head, &ts) != 0)
		return;
	for (size_t n = 0; ts && n < MAX_THREADS; n++) {
		struct pl_pythread t = { .tstate = ts, .core_thread = -1 };
		uint64_t next = 0;
		if (rd_ptr(p, ts + (uint64_t)L->ts_next, &next) ||
		    rd_ptr(p, ts + (uint64_t)L->ts_interp, &t.interp) ||
		    rd_ptr(p, ts + (uint64_t)L->ts_thread_id, &t.thread_id) ||
		    pl_as_read(&p->as, ts + (uint64_t)L->ts_id, &t.id, 8)) {
			pl_warn(p, "thread state 0x%llx is not readable; thread list cut there",
				(unsigned long long)ts);
			break;
		}
		if (L->ts_native_thread_id >= 0)
			rd_ptr(p, ts + (uint64_t)L->ts_native_thread_id, &t.native_id);
		rd_ptr(p, ts + (uint64_t)L->ts_dict, &t.dict);
		if (L->ts_frame >= 0) {
			rd_ptr(p, ts + (uint64_t)L->ts_frame, &t.top_frame);
		} else if (L->ts_cframe >= 0 && L->cf_current_frame >= 0) {
			uint64_t cf = 0;
			if (rd_ptr(p, ts + (uint64_t)L->ts_cframe, &cf) == 0 && cf)
				rd_ptr(p, cf + (uint64_t)L->cf_current_frame, &t.top_frame);
		} else if (L->ts_current_frame >= 0) {
			rd_ptr(p, ts + (uint64_t)L->ts_current_frame, &t.top_frame);
		}
		/* Match with the core's threads: by kernel tid, or on x86-64 by the
		 * thread pointer (fs_base == pthread_self() == thread_id). */
		for (size_t i = 0; i < p->core->nthreads; i++) {
			const struct pl_core_thread *ct = &p->core->threads[i];
			bool match = t.native_id ? (uint64_t)ct->tid == t.native_id
						 : (ct->nregs >= 27 && p->core->machine == 62 /* EM_X86_64 */ &&
						    ct->regs[21] == t.thread_id);
			if (match) {
				t.core_thread = (int)i;
				if (!t.native_id)
					t.native_id = (uint64_t)ct->tid;
			}
		}
		struct pl_pythread *grown = realloc(rt->threads, (rt->nthreads + 1) * sizeof(*grown));
		if (!grown)
			break;
		rt->threads = grown;
		rt->threads[rt->nthreads++] = t;
		if (next == ts)
			break;
		ts = next;
	}
}

/* 3.13+: the runtime starts with _Py_DebugOffsets. Check the cookie and that
 * what it says agrees with the DWARF layout. */
static void check_debug_offsets(struct pl_program *p)
{
	const struct pl_layout *L = &p->L;
	struct pl_runtime *rt = &p->rt;
	if (L->rt_debug_offsets < 0)
		return;
	uint64_t base = rt->addr + (uint64_t)L->rt_debug_offsets;
	char cookie[8];
	uint64_t version;
	if (pl_as_read(&p->as, base, cookie, 8) || memcmp(cookie, "xdebugpy", 8) != 0) {
		pl_warn(p, "_Py_DebugOffsets cookie missing at 0x%llx", (unsigned long long)base);
		return;
	}
	const char *idx[] = { "_Py_DebugOffsets" };
	if (pl_dwarf_index(p->dwarf, idx, 1) != NULL)
		return;
	static const struct { const char *path; size_t field; } checks[] = {
#define C(path, f) { path, offsetof(struct pl_layout, f) }
		C("runtime_state.interpreters_head", rt_interp_head),
		C("interpreter_state.next", is_next),
		C("interpreter_state.threads_head", is_tstate_head),
		C("interpreter_state.gc", is_gc),
		C("interpreter_state.imports_modules", is_modules),
		C("interpreter_state.sysdict", is_sysdict),
		C("interpreter_state.builtins", is_builtins),
		C("thread_state.next", ts_next),
		C("thread_state.interp", ts_interp),
		C("thread_state.current_frame", ts_current_frame),
		C("thread_state.thread_id", ts_thread_id),
		C("thread_state.native_thread_id", ts_native_thread_id),
		C("pyobject.ob_type", ob_type),
		C("type_object.tp_name", tp_name),
		C("type_object.tp_flags", tp_flags),
		C("tuple_object.ob_item", tuple_items),
		C("list_object.ob_item", list_items),
		C("dict_object.ma_keys", dict_keys),
		C("dict_object.ma_values", dict_values),
		C("gc.collecting", gcs_collecting),
#undef C
	};
	int64_t at;
	if (pl_dwarf_member(p->dwarf, "_Py_DebugOffsets", "version", &at, NULL, NULL) == 0 &&
	    pl_as_read(&p->as, base + (uint64_t)at, &version, 8) == 0 && rt->hexversion &&
	    version != rt->hexversion)
		pl_warn(p, "_Py_DebugOffsets.version 0x%llx differs from Py_Version 0x%x",
			(unsigned long long)version, rt->hexversion);
	rt->debug_offsets_checked = true;
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		uint64_t v;
		if (pl_dwarf_member(p->dwarf, "_Py_DebugOffsets", checks[i].path, &at, NULL, NULL) != 0 ||
		    pl_as_read(&p->as, base + (uint64_t)at, &v, 8) != 0)
			continue;
		int32_t mine;
		memcpy(&mine, (const char *)L + checks[i].field, sizeof(mine));
		if ((int64_t)v != mine) {
			rt->debug_offsets_mismatches++;
			pl_warn(p, "_Py_DebugOffsets.%s = %llu but the debug info says %d",
				checks[i].path, (unsigned long long)v, mine);
		}
	}
}

/* 3.8-3.10 have no Py_Version: read sys.version from the heap. */
static void version_from_sys(struct pl_program *p)
{
	struct pl_heap h = { .p = p };
	char buf[64];
	uint64_t v = pl_dict_get_str(&h, p->rt.sysdict, "version");
	if (v && pl_str_read(&h, v, buf, sizeof(buf)) > 0) {
		unsigned a, b, c;
		if (sscanf(buf, "%u.%u.%u", &a, &b, &c) == 3) {
			/* sys.version has no release level; assume final (0xf0) */
			p->rt.hexversion = (a << 24) | (b << 16) | (c << 8) | 0xf0;
			p->rt.version_source = "sys.version";
		}
	}
	pl_heap_release(&h);
}

struct pl_error *pl_runtime_load(struct pl_program *p)
{
	struct pl_runtime *rt = &p->rt;
	const struct pl_layout *L = &p->L;
	if (pl_symbol(p, p->pyfile, "_PyRuntime", &rt->addr, &rt->size) != 0)
		return pl_error(PL_E_NOPYTHON, "%s has no _PyRuntime symbol", p->pyfile->disk_path);
	uint64_t head;
	if (rd_ptr(p, rt->addr + (uint64_t)L->rt_interp_main, &rt->interp) ||
	    rd_ptr(p, rt->addr + (uint64_t)L->rt_interp_head, &head))
		return p->core->missing_bytes
			? pl_error(PL_E_CORE, "%s is truncated: _PyRuntime at 0x%llx was in the part "
				   "that was cut off; copy the whole core again or take a new one",
				   p->core->path, (unsigned long long)rt->addr)
			: pl_error(PL_E_CORRUPT, "_PyRuntime at 0x%llx is not in the core; the core "
				   "does not match %s", (unsigned long long)rt->addr, p->pyfile->disk_path);
	if (!rt->interp)
		rt->interp = head;
	if (!rt->interp)
		return pl_error(PL_E_NOPYTHON, "the Python runtime in %s has no interpreter: the "
				"process had not started Python yet, or had finished", p->core->path);
	for (uint64_t i = head; i && rt->ninterps < MAX_INTERPS; rt->ninterps++)
		if (rd_ptr(p, i + (uint64_t)L->is_next, &i) != 0)
			break;
	if (rd_ptr(p, rt->interp + (uint64_t)L->is_sysdict, &rt->sysdict) ||
	    rd_ptr(p, rt->interp + (uint64_t)L->is_builtins, &rt->builtins) ||
	    rd_ptr(p, rt->interp + (uint64_t)L->is_modules, &rt->modules))
		return pl_error(PL_E_CORRUPT, "the main interpreter at 0x%llx is not in the core",
				(unsigned long long)rt->interp);

	uint64_t va;
	if (pl_symbol(p, p->pyfile, "Py_Version", &va, NULL) == 0 &&
	    pl_as_read(&p->as, va, &rt->hexversion, 4) == 0) {
		rt->version_source = "Py_Version";
	} else {
		pl_layout_finish(&p->L, 0);
		version_from_sys(p);
	}
	if (!rt->hexversion)
		return pl_error(PL_E_NOPYTHON, "cannot tell the Python version of %s (no Py_Version, "
				"no readable sys.version)", p->pyfile->disk_path);
	uint32_t hv = rt->hexversion;
	snprintf(rt->version, sizeof(rt->version), "%u.%u.%u", hv >> 24, (hv >> 16) & 0xff,
		 (hv >> 8) & 0xff);
	if ((hv & 0xf0) != 0xf0) {
		size_t n = strlen(rt->version);
		snprintf(rt->version + n, sizeof(rt->version) - n, "%c%u",
			 "??????????abc"[(hv >> 4) & 0xf], hv & 0xf);
	}
	if (hv < 0x03080000 || hv >= 0x030f0000)
		pl_warn(p, "Python %s is outside the supported 3.8-3.14; results may be wrong",
			rt->version);
	pl_layout_finish(&p->L, hv);
	check_debug_offsets(p);
	struct pl_error *err = read_gc(p);
	if (err)
		return err;
	read_threads(p);
	return NULL;
}
