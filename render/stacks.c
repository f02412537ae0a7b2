#include "config.h"
#include "stacks.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../coredump/frames.h"
#include "../coredump/objects.h"
#include "../coredump/program.h"
#include "../coredump/traverse.h"
#include "json.h"

#define MAX_LOCALS 256

/* Strings from the core go to a terminal: no control characters. */
static char *clean(char *s)
{
	for (char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return s;
}

int pl_crashing_pythread(struct pl_heap *h)
{
	const struct pl_runtime *rt = &h->p->rt;
	int ct;
	int sig = pl_core_signal(h->p->core, &ct);
	uint64_t gil = pl_gil_holder(h);
	int holder = -1, first = -1;   /* first: the oldest thread state (main) */
	for (size_t i = 0; i < rt->nthreads; i++) {
		if (pl_signal_fatal(sig) && ct >= 0 && rt->threads[i].core_thread == ct)
			return (int)i;
		if (gil && rt->threads[i].tstate == gil)
			holder = (int)i;
		if (first < 0 || rt->threads[i].id < rt->threads[first].id)
			first = (int)i;
	}
	return holder >= 0 ? holder : first;
}

struct frame_text {
	char func[200], file[512];
	int line;
};

static void frame_names(struct pl_heap *h, const struct pl_pyframe *f, struct frame_text *t)
{
	pl_code_func(h, f->code, t->func, sizeof(t->func));
	pl_code_file(h, f->code, t->file, sizeof(t->file));
	clean(t->func);
	clean(t->file);
	t->line = f->line;
}

static void json_frame(FILE *out, struct pl_heap *h, const struct pl_pyframe *f, bool locals)
{
	struct frame_text t;
	frame_names(h, f, &t);
	fprintf(out, "{\"function\":");
	pl_json_cstr(out, t.func);
	fprintf(out, ",\"file\":");
	pl_json_cstr(out, t.file);
	fprintf(out, ",\"line\":%d,\"addr\":\"0x%" PRIx64 "\"", t.line, f->frame);
	if (locals && pl_code_is_function(h, f->code)) {
		fprintf(out, ",\"locals\":{");
		int n = 0;
		for (int64_t i = 0; i < f->nlocals && i < MAX_LOCALS; i++) {
			char name[128], repr[160];
			uint64_t v;
			if (pl_frame_local(h, f, i, name, sizeof(name), &v) != 0 || !v)
				continue;
			fprintf(out, "%s", n++ ? "," : "");
			pl_json_cstr(out, name);
			fputc(':', out);
			pl_json_cstr(out, pl_short_repr(h, v, repr, sizeof(repr)));
		}
		fputc('}', out);
	}
	fputc('}', out);
}

static void text_locals(FILE *out, struct pl_heap *h, const struct pl_pyframe *f, const char *indent)
{
	if (!pl_code_is_function(h, f->code))
		return;
	for (int64_t i = 0; i < f->nlocals && i < MAX_LOCALS; i++) {
		char name[128], repr[160];
		uint64_t v;
		if (pl_frame_local(h, f, i, name, sizeof(name), &v) != 0 || !v)
			continue;
		fprintf(out, "%s%s = %s\n", indent, clean(name), clean((char *)pl_short_repr(h, v, repr, sizeof(repr))));
	}
}

/* Frames from the first, text or markdown; returns how many. */
static size_t text_frames(FILE *out, struct pl_heap *h, struct pl_frame_iter *it,
			  const struct pl_stacks_opts *o, bool md, bool *error)
{
	struct pl_pyframe f;
	size_t n = 0;
	int rc;
	while ((rc = pl_frames_next(it, &f)) == 1) {
		if (o->max_frames && n >= o->max_frames) {
			fprintf(out, "%s    ... more frames\n", md ? "" : "");
			break;
		}
		struct frame_text t;
		frame_names(h, &f, &t);
		if (md)
			fprintf(out, "%zu. `%s` — `%s:%d`\n", n, t.func, t.file, t.line);
		else
			fprintf(out, "  #%-2zu %s at %s:%d\n", n, t.func, t.file, t.line);
		if (o->locals)
			text_locals(out, h, &f, md ? "    - " : "        ");
		n++;
	}
	*error = rc < 0;
	return n;
}

struct thread_info {
	char name[128];
	bool gil, collecting;
	int signal;
};

static void thread_info(struct pl_heap *h, size_t i, uint64_t active, uint64_t gil,
			struct thread_info *ti)
{
	struct pl_program *p = h->p;
	const struct pl_pythread *th = &p->rt.threads[i];
	int ct;
	int sig = pl_core_signal(p->core, &ct);
	pl_thread_name(h, active, th->thread_id, ti->name, sizeof(ti->name));
	clean(ti->name);
	bool locked;
	uint64_t last = pl_gil_last_holder(h, &locked);
	ti->gil = gil && gil == th->tstate;
	/* the collector runs with the GIL; a finalizer it called may have let
	 * go of it (time.sleep), but no other thread can collect meanwhile */
	ti->collecting = p->rt.gc.collecting && last == th->tstate;
	ti->signal = pl_signal_fatal(sig) && ct >= 0 && th->core_thread == ct ? sig : 0;
}

static void tasks_text(FILE *out, struct pl_heap *h, const struct pl_stacks_opts *o, bool md);
static void tasks_json(FILE *out, struct pl_heap *h, const struct pl_stacks_opts *o);

static void stacks_text(FILE *out, struct pl_heap *h, const struct pl_stacks_opts *o, bool md)
{
	struct pl_program *p = h->p;
	const struct pl_runtime *rt = &p->rt;
	uint64_t active = pl_threading_active(h), gil = pl_gil_holder(h);
	int ct;
	int sig = pl_core_signal(p->core, &ct);
	if (md)
		fprintf(out, "## Threads\n\n");
	fprintf(out, "Python %s, %zu thread(s)", rt->version, rt->nthreads);
	if (pl_signal_fatal(sig))
		fprintf(out, ", killed by %s", pl_signal_name(sig));
	else if (sig)
		fprintf(out, ", stopped by %s (a dump of a live process)", pl_signal_name(sig));
	fprintf(out, "%s%s\n\n", gil ? "" : ", GIL not held",
		rt->gc.collecting ? ", the garbage collector was running" : "");
	for (size_t i = 0; i < rt->nthreads; i++) {
		const struct pl_pythread *th = &rt->threads[i];
		struct thread_info ti;
		thread_info(h, i, active, gil, &ti);
		fprintf(out, md ? "### Thread \"%s\"" : "Thread \"%s\"", ti.name);
		fprintf(out, " (native id %" PRIu64 ", ident 0x%" PRIx64 ")", th->native_id, th->thread_id);
		if (ti.gil)
			fprintf(out, ", holds the GIL");
		if (ti.collecting)
			fprintf(out, ", running the garbage collector");
		if (ti.signal)
			fprintf(out, ", received %s (fatal)", pl_signal_name(ti.signal));
		fprintf(out, md ? "\n\n" : "\n");
		struct pl_frame_iter it;
		bool err;
		pl_frames_begin(&it, h, th->top_frame);
		size_t n = text_frames(out, h, &it, o, md, &err);
		if (!n && !err)
			fprintf(out, md ? "(no Python frames)\n" : "  (no Python frames)\n");
		if (err)
			fprintf(out, md ? "(frame unreadable: the stack stops here)\n"
					: "  (frame unreadable: the stack stops here)\n");
		fputc('\n', out);
	}
	if (o->tasks)
		tasks_text(out, h, o, md);
}

static void stacks_json(FILE *out, struct pl_heap *h, const struct pl_stacks_opts *o)
{
	struct pl_program *p = h->p;
	const struct pl_runtime *rt = &p->rt;
	uint64_t active = pl_threading_active(h), gil = pl_gil_holder(h);
	int ct;
	int sig = pl_core_signal(p->core, &ct);
	fprintf(out, "{\"python\":");
	pl_json_cstr(out, rt->version);
	fprintf(out, ",\"signal\":%d,\"signal_name\":", sig);
	pl_json_cstr(out, sig ? pl_signal_name(sig) : "");
	fprintf(out, ",\"fatal\":%s", pl_signal_fatal(sig) ? "true" : "false");
	fprintf(out, ",\"gil_held\":%s,\"gc_collecting\":%s,\"threads\":[", gil ? "true" : "false",
		rt->gc.collecting ? "true" : "false");
	for (size_t i = 0; i < rt->nthreads; i++) {
		const struct pl_pythread *th = &rt->threads[i];
		struct thread_info ti;
		thread_info(h, i, active, gil, &ti);
		fprintf(out, "%s{\"name\":", i ? "," : "");
		pl_json_cstr(out, ti.name);
		fprintf(out, ",\"native_id\":%" PRIu64 ",\"ident\":%" PRIu64 ",\"gil\":%s,"
			"\"collecting\":%s,\"signal\":%d,\"frames\":[", th->native_id, th->thread_id,
			ti.gil ? "true" : "false", ti.collecting ? "true" : "false", ti.signal);
		struct pl_frame_iter it;
		struct pl_pyframe f;
		size_t n = 0;
		pl_frames_begin(&it, h, th->top_frame);
		while ((!o->max_frames || n < o->max_frames) && pl_frames_next(&it, &f) == 1) {
			fprintf(out, "%s", n++ ? "," : "");
			json_frame(out, h, &f, o->locals);
		}
		fprintf(out, "]}");
	}
	fputc(']', out);
	if (o->tasks)
		tasks_json(out, h, o);
	fprintf(out, "}\n");
}

void pl_render_stacks(FILE *out, struct pl_heap *h, const struct pl_stacks_opts *o,
		      enum pl_format fmt)
{
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL)
		stacks_json(out, h, o);
	else
		stacks_text(out, h, o, fmt == PL_FMT_MARKDOWN);
}

/* ---- suspended generators, coroutines and their asyncio tasks ---- */

struct task_find {
	struct pl_heap *h;
	uint64_t coro, name;
};

static int task_visit(void *ctx, uint64_t target, const struct pl_edge *e)
{
	struct task_find *t = ctx;
	int64_t rc;
	uint64_t ty;
	struct pl_type *tp;
	if (!target || pl_obj_header(t->h->p, target, &rc, &ty) != 0 || !(tp = pl_type_get(t->h, ty)))
		return 0;
	if (!t->coro && (tp->kind == PL_K_COROUTINE || tp->kind == PL_K_GEN))
		t->coro = target;
	else if (!t->name && (tp->kind == PL_K_STR || tp->kind == PL_K_INT) &&
		 !(e->kind == PL_E_FIELD && e->name && !strcmp(e->name, "__dict__")))
		t->name = target;
	return 0;
}

/* The body scan of a C Task: known objects, and the str or int of its name. */
static bool task_word(void *ctx, uint64_t addr)
{
	struct task_find *t = ctx;
	int64_t rc;
	uint64_t ty;
	struct pl_type *tp;
	if (addr < 4096 || (addr & 7))
		return false;
	if (pl_heap_find(t->h, addr) != UINT32_MAX)
		return true;
	return pl_obj_header(t->h->p, addr, &rc, &ty) == 0 && (tp = pl_type_get(t->h, ty)) &&
	       tp->addr == t->h->kind_type[tp->kind] && (tp->kind == PL_K_STR || tp->kind == PL_K_INT);
}

static bool is_task_type(const struct pl_type *t)
{
	size_t n = strlen(t->name);
	return n >= 5 && !strcmp(t->name + n - 5, ".Task");
}

struct task_ref {
	uint64_t coro, task, name;
};

static int task_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct task_ref *)a)->coro, y = ((const struct task_ref *)b)->coro;
	return x < y ? -1 : x > y;
}

/* Every task and the coroutine it drives, sorted by coroutine. */
static struct task_ref *task_refs(struct pl_heap *h, size_t *n)
{
	struct task_ref *r = NULL;
	size_t cap = 0;
	*n = 0;
	for (size_t i = 0; i < h->nobjs; i++) {
		const struct pl_type *t = &h->types[h->objs[i].type];
		if (!is_task_type(t))
			continue;
		struct task_find f = { h, 0, 0 };
		pl_traverse(h, h->objs[i].addr, t, task_visit, &f, task_word);
		if (!f.coro)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			struct task_ref *nr = realloc(r, cap * sizeof(*r));
			if (!nr)
				break;
			r = nr;
		}
		r[(*n)++] = (struct task_ref){ f.coro, h->objs[i].addr, f.name };
	}
	if (r)
		qsort(r, *n, sizeof(*r), task_cmp);
	return r;
}

/* The task driving coroutine coro, and its name. */
static uint64_t task_of(struct pl_heap *h, const struct task_ref *refs, size_t nrefs, uint64_t coro,
			char *name, size_t len)
{
	struct task_ref key = { coro, 0, 0 };
	const struct task_ref *r = nrefs ? bsearch(&key, refs, nrefs, sizeof(key), task_cmp) : NULL;
	if (!r)
		return 0;
	uint64_t pyname = pl_obj_attr(h, r->task, "_name");
	int64_t v;
	if (pyname && pl_str_read(h, pyname, name, len) >= 0)
		;
	else if (r->name && pl_str_read(h, r->name, name, len) >= 0)
		;
	else if (r->name && pl_int_value(h, r->name, &v) == 0)
		snprintf(name, len, "Task-%" PRId64, v);
	else
		snprintf(name, len, "?");
	clean(name);
	return r->task;
}

static bool is_gen_kind(const struct pl_type *t)
{
	return t->kind == PL_K_GEN || t->kind == PL_K_COROUTINE || t->kind == PL_K_ASYNCGEN;
}

static const char *gen_kind_name(const struct pl_type *t)
{
	return t->kind == PL_K_COROUTINE ? "coroutine" : t->kind == PL_K_ASYNCGEN ?
	       "async generator" : "generator";
}

/* One suspended (or not yet started) generator, coroutine or async
 * generator, with its frame and the task that drives it. */
struct pending {
	size_t i;                 /* in h->objs */
	const struct pl_type *t;
	enum pl_gen_state st;
	struct pl_pyframe f;
	uint64_t task;
	char tname[128];
};

/* The next one from p->i on; false at the end. */
static bool next_pending(struct pl_heap *h, const struct task_ref *refs, size_t nrefs,
			 struct pending *p)
{
	for (; p->i < h->nobjs; p->i++) {
		uint64_t addr = h->objs[p->i].addr, frame;
		p->t = &h->types[h->objs[p->i].type];
		if (!is_gen_kind(p->t))
			continue;
		p->st = pl_gen_state(h, addr, &frame);
		if ((p->st != PL_GEN_SUSPENDED && p->st != PL_GEN_CREATED) ||
		    pl_frame_read(h, frame, &p->f) != 0)
			continue;
		p->task = p->t->kind == PL_K_COROUTINE ?
			  task_of(h, refs, nrefs, addr, p->tname, sizeof(p->tname)) : 0;
		return true;
	}
	return false;
}

struct addr_idx {
	uint64_t addr;   /* first: by_addr compares it */
	size_t i;
};

static int by_addr(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void pending_line(FILE *out, struct pl_heap *h, const struct pending *p,
			 const struct pl_stacks_opts *o, bool md, int depth)
{
	struct frame_text ft;
	frame_names(h, &p->f, &ft);
	fprintf(out, "%s%*s", md ? "" : "  ", 4 * depth, "");
	if (md)
		fprintf(out, "- ");
	if (depth)
		fprintf(out, "awaits ");
	if (p->task)
		fprintf(out, md ? "task \"%s\" (`%s` 0x%" PRIx64 "): " : "task \"%s\" (%s 0x%" PRIx64 "): ",
			p->tname, h->types[h->objs[pl_heap_find(h, p->task)].type].name, p->task);
	fprintf(out, "%s %s() 0x%" PRIx64 " %s at %s:%d\n", gen_kind_name(p->t), ft.func,
		h->objs[p->i].addr, pl_gen_state_name(p->st), ft.file, ft.line);
	if (o->locals) {
		char ind[128];
		snprintf(ind, sizeof(ind), "%*s%s", 4 * depth, "", md ? "    - " : "        ");
		text_locals(out, h, &p->f, ind);
	}
}

/* Each chain from a generator that nothing pending awaits: what it awaits
 * (yield from, await), what that awaits, ... down to a future or the end. */
static void tasks_text(FILE *out, struct pl_heap *h, const struct pl_stacks_opts *o, bool md)
{
	size_t n = 0, cap = 0, nrefs;
	struct task_ref *refs = task_refs(h, &nrefs);
	struct pending *all = NULL, p = { 0 };
	uint64_t *awaited = NULL;
	fprintf(out, md ? "## Suspended generators and tasks\n\n" : "Suspended generators and tasks:\n");
	for (; next_pending(h, refs, nrefs, &p); p.i++) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			struct pending *na = realloc(all, cap * sizeof(*na));
			uint64_t *nw = realloc(awaited, cap * sizeof(*nw));
			if (na)
				all = na;
			if (nw)
				awaited = nw;
			if (!na || !nw)
				break;
		}
		all[n] = p;
		awaited[n++] = pl_gen_yieldfrom(h, h->objs[p.i].addr);
	}
	uint64_t *sorted = n ? malloc(n * sizeof(*sorted)) : NULL;
	struct addr_idx *index = n ? malloc(n * sizeof(*index)) : NULL;
	if (sorted) {
		memcpy(sorted, awaited, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), by_addr);
	}
	if (index) {
		for (size_t i = 0; i < n; i++)
			index[i] = (struct addr_idx){ h->objs[all[i].i].addr, i };
		qsort(index, n, sizeof(*index), by_addr);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t self = h->objs[all[i].i].addr;
		if (sorted && bsearch(&self, sorted, n, sizeof(*sorted), by_addr))
			continue;   /* shown in the chain of what awaits it */
		size_t at = i;
		for (int depth = 0; depth < 64; depth++) {
			pending_line(out, h, &all[at], o, md, depth);
			uint64_t next = awaited[at];
			if (!next)
				break;
			const struct addr_idx *hit = index ? bsearch(&next, index, n, sizeof(*index), by_addr) : NULL;
			size_t k = hit ? hit->i : n;
			if (k == n) {   /* a future, a task or an iterator */
				char repr[160];
				fprintf(out, "%s%*s%sawaits %s\n", md ? "" : "  ", 4 * (depth + 1), "",
					md ? "- " : "", pl_short_repr(h, next, repr, sizeof(repr)));
				break;
			}
			at = k;
		}
	}
	if (!n)
		fprintf(out, md ? "(none)\n" : "  (none)\n");
	free(index);
	free(sorted);
	free(awaited);
	free(all);
	free(refs);
}

static void tasks_json(FILE *out, struct pl_heap *h, const struct pl_stacks_opts *o)
{
	size_t n = 0, nrefs;
	struct task_ref *refs = task_refs(h, &nrefs);
	struct pending p = { 0 };
	fprintf(out, ",\"tasks\":[");
	for (; next_pending(h, refs, nrefs, &p); p.i++) {
		fprintf(out, "%s{\"kind\":\"%s\",\"addr\":\"0x%" PRIx64 "\",\"type\":", n++ ? "," : "",
			gen_kind_name(p.t), h->objs[p.i].addr);
		pl_json_cstr(out, p.t->name);
		fprintf(out, ",\"state\":\"%s\",", pl_gen_state_name(p.st));
		uint64_t yf = pl_gen_yieldfrom(h, h->objs[p.i].addr);
		if (yf)
			fprintf(out, "\"awaits\":\"0x%" PRIx64 "\",", yf);
		if (p.task) {
			fprintf(out, "\"task\":{\"addr\":\"0x%" PRIx64 "\",\"name\":", p.task);
			pl_json_cstr(out, p.tname);
			fprintf(out, "},");
		}
		fprintf(out, "\"frame\":");
		json_frame(out, h, &p.f, o->locals);
		fputc('}', out);
	}
	fputc(']', out);
	free(refs);
}
