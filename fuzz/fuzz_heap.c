/* The object decoders and everything after them, on a mutated memory image
 * behind a valid layout.
 *
 * At start-up a real core (PYLEAK_FUZZ_CORE, default
 * tests/cores/3.12.1-pyenv/cycles/core) is read into memory and analysed
 * once, unchanged, to learn where things are: every object of the graph (with
 * its gc head and pre-header), every type object, and windows over the
 * runtime's own structures (_PyRuntime, the interpreter, the gc state and
 * generation heads, thread states, frames). An input is a list of patches to
 * the core's PT_LOAD data; the ELF headers and notes are never touched, so the
 * layout, the files and the debug info stay valid and the decoders are what
 * meets the damage. Each input is applied to a private copy (restored
 * afterwards), then: pl_core_from_memory and pl_program_open_core (force;
 * see below), then pl_analyse (census, graph build, gc, cycles, roots, retained
 * sizes, suspects, retained bytes per type), the report (text, JSON, JSON Lines or
 * Markdown; JSON output must parse), the info summary, and optionally the
 * DOT pictures of a cycle, a chain and the referrers of a patched object (the
 * DOT must read back with agmemread) with their text forms.
 *
 * By default the program is opened once, on the private copy, and reused:
 * its address space reads the patched bytes, but what pl_program_open_core
 * read (the runtime: interpreter, threads, gc generation heads) is that of
 * the pristine core. Option bit 4 opens it afresh on the patched copy (about
 * twice as slow), so that the runtime reader meets the damage too.
 *
 * Input: byte 0 options (bits 0-1 report format, bit 2 pictures and chains,
 * bit 3 info, bit 4 fresh program), then 16-byte patches:
 *   byte 0     bits 0-2 what to write (see value()), bits 3-4 where:
 *              0, 1 an object; 2 a type object or a runtime structure;
 *              3 anywhere in a writable segment
 *   bytes 1-3  which object / structure / segment (modulo their number)
 *   bytes 4-7  offset in it (modulo its size; 8-aligned except byte writes)
 *   bytes 8-15 a value */
#include "config.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <graphviz/cgraph.h>

#include "check.h"
#include "coredump/elfcore.h"
#include "coredump/objects.h"
#include "coredump/program.h"
#include "graph/cycles.h"
#include "graph/graph.h"
#include "graph/analysis.h"
#include "graph/retained.h"
#include "graph/roots.h"
#include "render/census.h"
#include "render/dot.h"
#include "render/graphout.h"
#include "render/report.h"

#define MAX_PATCHES 256

struct seg {           /* a writable PT_LOAD with data in the file */
	uint64_t vaddr, avail, offset;
};

struct target {        /* memory worth damaging */
	uint64_t vaddr;
	uint32_t size;
};

static uint8_t *base;          /* the core as read */
static uint8_t *work;          /* the copy inputs patch (restored after each) */
static size_t core_size;
static struct seg *segs;
static size_t nsegs;
static struct target *objs, *structs;
static size_t nobjs, nstructs;
static FILE *devnull;
static const uint8_t *in_data;
static size_t in_size;
/* A program opened once on work: the address space reads work's bytes, so
 * patches to objects show through without reopening libpython and its DWARF
 * (the runtime summary read at open time stays that of the pristine core). */
static struct pl_program *cached;
static size_t cached_nwarnings;

static const char *core_path(void)
{
	const char *p = getenv("PYLEAK_FUZZ_CORE");
	return p && *p ? p : "tests/cores/3.12.1-pyenv/cycles/core";
}

/* File offset of [vaddr, vaddr + n) in a writable segment, or -1. */
static long long file_off(uint64_t vaddr, uint64_t n)
{
	for (size_t i = 0; i < nsegs; i++)
		if (vaddr >= segs[i].vaddr && vaddr - segs[i].vaddr < segs[i].avail &&
		    n <= segs[i].avail - (vaddr - segs[i].vaddr))
			return (long long)(segs[i].offset + (vaddr - segs[i].vaddr));
	return -1;
}

static void add_target(struct target **t, size_t *n, size_t *cap, uint64_t vaddr, uint64_t size)
{
	if (size > 4096)
		size = 4096;
	while (size >= 8 && file_off(vaddr, size) < 0)
		size /= 2;   /* keep the part the core holds */
	if (size < 8 || file_off(vaddr, size) < 0)
		return;
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		*t = realloc(*t, *cap * sizeof(**t));
		if (!*t)
			abort();
	}
	(*t)[(*n)++] = (struct target){ vaddr, (uint32_t)size };
}

struct run {
	struct pl_program *p;
	struct pl_analysis a;
};

static void run_release(struct run *r, bool keep_program)
{
	pl_analysis_release(&r->a);
	if (!keep_program)
		pl_program_free(r->p);
	memset(r, 0, sizeof(*r));
}

static struct pl_error *open_program(uint8_t *img, struct pl_program **p)
{
	struct pl_core *core;
	struct pl_error *err = pl_core_from_memory(img, core_size, "fuzz-heap", &core);
	if (err)
		return err;
	struct pl_options opt = { .force = true };
	return pl_program_open_core(core, &opt, p);
}

/* The whole pipeline up to the suspects, as the report command runs it, on
 * a program opened afresh on img, or on the cached one (prog) when given. */
static struct pl_error *analyse(uint8_t *img, struct pl_program *prog, struct run *r)
{
	memset(r, 0, sizeof(*r));
	struct pl_error *err;
	if (prog)
		r->p = prog;
	else if ((err = open_program(img, &r->p)))
		return err;
	return pl_analyse(r->p, PL_AN_SUSPECTS, 0.05, &r->a);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *path = core_path();
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
		fprintf(stderr, "fuzz_heap: cannot read the base core %s (set PYLEAK_FUZZ_CORE)\n", path);
		exit(2);
	}
	core_size = (size_t)st.st_size;
	base = malloc(core_size);
	work = malloc(core_size);
	if (!base || !work)
		abort();
	for (size_t got = 0; got < core_size;) {
		ssize_t k = read(fd, base + got, core_size - got);
		if (k <= 0) {
			fprintf(stderr, "fuzz_heap: short read of %s\n", path);
			exit(2);
		}
		got += (size_t)k;
	}
	close(fd);
	memcpy(work, base, core_size);
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();

	struct pl_core *core;
	struct pl_error *err = pl_core_from_memory(base, core_size, path, &core);
	if (err) {
		fprintf(stderr, "fuzz_heap: %s\n", err->msg);
		exit(2);
	}
	segs = calloc(core->nsegs + 1, sizeof(*segs));
	for (size_t i = 0; i < core->nsegs; i++)
		if ((core->segs[i].flags & PF_W) && core->segs[i].avail >= 8)
			segs[nsegs++] = (struct seg){ core->segs[i].vaddr, core->segs[i].avail,
						      core->segs[i].offset };
	pl_core_free(core);

	struct run r;
	if ((err = analyse(base, NULL, &r))) {
		fprintf(stderr, "fuzz_heap: the base core %s does not analyse: %s\n", path, err->msg);
		exit(2);
	}
	size_t capo = 0, caps = 0;
	uint64_t pre = 16 + 8 * (uint64_t)(r.p->L.preheader_words > 0 ? r.p->L.preheader_words : 0);
	for (uint32_t i = 0; i < r.a.g.n; i++) {
		const struct pl_obj *o = &r.a.h.objs[i];
		uint64_t size = o->size ? o->size : 16;
		if (i < r.a.g.ntracked)   /* gc head and pre-header too */
			add_target(&objs, &nobjs, &capo, o->addr - pre, size + pre);
		else
			add_target(&objs, &nobjs, &capo, o->addr, size);
	}
	for (size_t i = 0; i < r.a.h.ntypes; i++)
		if (r.a.h.types[i].valid)
			add_target(&structs, &nstructs, &caps, r.a.h.types[i].addr, 1024);
	const struct pl_runtime *rt = &r.p->rt;
	add_target(&structs, &nstructs, &caps, rt->addr, rt->size ? rt->size : 4096);
	add_target(&structs, &nstructs, &caps, rt->interp, 4096);
	add_target(&structs, &nstructs, &caps, rt->gc.addr, 512);
	for (int k = 0; k < 3; k++)
		add_target(&structs, &nstructs, &caps, rt->gc.gen[k].head, 16);
	add_target(&structs, &nstructs, &caps, rt->gc.permanent.head, 16);
	for (size_t i = 0; i < rt->nthreads; i++) {
		add_target(&structs, &nstructs, &caps, rt->threads[i].tstate, 512);
		add_target(&structs, &nstructs, &caps, rt->threads[i].top_frame, 256);
	}
	fprintf(stderr, "fuzz_heap: base core %s: %zu bytes, %zu writable segments, %u nodes, "
		"%zu object targets, %zu type/runtime targets\n", path, core_size, nsegs, r.a.g.n,
		nobjs, nstructs);
	run_release(&r, false);
	if (!nobjs || !nstructs || !nsegs) {
		fprintf(stderr, "fuzz_heap: nothing to patch in %s\n", path);
		exit(2);
	}
	if ((err = open_program(work, &cached))) {
		fprintf(stderr, "fuzz_heap: %s\n", err->msg);
		exit(2);
	}
	cached_nwarnings = cached->nwarnings;
	return 0;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* The 8-byte value a patch writes at vaddr (object or structure t). */
static uint64_t value(unsigned kind, uint64_t v, uint64_t vaddr, const struct target *t,
		      uint64_t off)
{
	static const uint64_t huge[] = {
		1ull << 60, 1ull << 62, INT64_MAX, UINT64_MAX, 1ull << 31, 1ull << 32,
		0x7fffffffull, 0x80000000ull, 1ull << 40, (uint64_t)INT64_MIN, 0xffffffffull,
		1ull << 48, 0x100000000000ull,
	};
	switch (kind) {
	case 0:   /* raw */
		return v;
	case 1:   /* small, possibly negative: refcounts, sizes, lengths, kinds */
		return (uint64_t)(int64_t)(int8_t)(v & 0xff);
	case 2:   /* huge */
		return huge[v % (sizeof(huge) / sizeof(huge[0]))];
	case 3:   /* itself, or the start of its own object: loops */
		return (v & 1) ? vaddr : t->vaddr + (v >> 1) % 64;
	case 4: { /* another object (or its gc head): cycles, type confusion */
		const struct target *o = (v & 2) && nstructs ? &structs[(v >> 8) % nstructs]
							     : &objs[(v >> 8) % nobjs];
		return o->vaddr + ((v & 1) ? 16 : 0);
	}
	case 5: { /* what another object holds at the same offset */
		const struct target *o = &objs[(v >> 8) % nobjs];
		long long fo = off + 8 <= o->size ? file_off(o->vaddr + off, 8) : -1;
		return fo >= 0 ? rd64(base + fo) : 0;
	}
	case 6: { /* wild: anywhere in a writable segment, or unmapped */
		if (v & 1)
			return v & ~7ull;
		const struct seg *s = &segs[(v >> 1) % nsegs];
		return s->vaddr + (((v >> 16) % s->avail) & ~7ull);
	}
	}
	return v;
}

struct saved {
	long long off;
	uint8_t old[8];
	unsigned n;
};

static unsigned apply(const uint8_t *rec, struct saved *sv)
{
	unsigned kind = rec[0] & 7, where = (rec[0] >> 3) & 3;
	uint32_t idx = rec[1] | (uint32_t)rec[2] << 8 | (uint32_t)rec[3] << 16;
	uint32_t off32 = rec[4] | (uint32_t)rec[5] << 8 | (uint32_t)rec[6] << 16 |
			 (uint32_t)rec[7] << 24;
	uint64_t v = rd64(rec + 8);
	struct target t;
	if (where < 2)
		t = objs[idx % nobjs];
	else if (where == 2)
		t = structs[idx % nstructs];
	else
		t = (struct target){ segs[idx % nsegs].vaddr,
				     (uint32_t)(segs[idx % nsegs].avail > UINT32_MAX ? UINT32_MAX
									 : segs[idx % nsegs].avail) };
	unsigned n = kind == 7 ? 1 : 8;
	if (t.size < n)
		return 0;
	uint64_t off = off32 % (t.size - n + 1);
	if (n == 8)
		off &= ~7ull;
	uint64_t vaddr = t.vaddr + off;
	long long fo = file_off(vaddr, n);
	if (fo < 0)
		return 0;
	sv->off = fo;
	sv->n = n;
	memcpy(sv->old, work + fo, n);
	if (n == 1) {
		work[fo] = (uint8_t)v;
	} else {
		uint64_t val = value(kind, v, vaddr, &t, off);
		memcpy(work + fo, &val, 8);
	}
	return 1;
}

static void check_dot_text(Agraph_t *G)
{
	if (!G)
		return;
	char *s = pl_dot_string(G);
	pl_dot_free(G);
	if (!s)
		return;
	size_t n = strlen(s);
	if (!fz_utf8_valid((const unsigned char *)s, n))
		fz_fail("DOT picture is not valid UTF-8", in_data, in_size, s, n);
	Agraph_t *back = agmemread(s);
	if (!back)
		fz_fail("DOT picture does not read back (agmemread)", in_data, in_size, s, n);
	agclose(back);
	free(s);
}

static void report(struct run *r, uint8_t opts, uint32_t focus)
{
	static const enum pl_format fmts[4] = { PL_FMT_TEXT, PL_FMT_JSON, PL_FMT_JSONL,
						PL_FMT_MARKDOWN };
	enum pl_format fmt = fmts[opts & 3];
	struct pl_report rep = { &r->a.g, &r->a.cyc, &r->a.roots, &r->a.ret, r->a.suspects, r->a.nsuspects,
				 20, NULL, 0, 0 };
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL) {
		char *buf = NULL;
		size_t blen = 0;
		FILE *f = open_memstream(&buf, &blen);
		if (!f)
			abort();
		pl_render_report(f, &rep, fmt);
		if (fclose(f) != 0)
			abort();
		bool ok = fz_json_valid((const unsigned char *)buf, blen, fmt == PL_FMT_JSONL);
		if (!ok)
			fz_fail("report is not valid JSON", in_data, in_size, buf, blen);
		free(buf);
	} else {
		pl_render_report(devnull, &rep, fmt);
	}
	if (opts & 8)
		pl_render_info(devnull, r->p, &r->a.h, fmt);
	if (!(opts & 4))
		return;
	/* pictures and chains: a cycle, a suspect's chain, the patched object */
	for (uint32_t k = 0; k < r->a.cyc.ngroups && k < 2; k++)
		check_dot_text(pl_dot_cycle(&r->a.g, &r->a.cyc, r->a.cyc.groups[k].sample));
	if (r->a.nsuspects)
		check_dot_text(pl_dot_chain(&r->a.g, &r->a.roots, r->a.suspects[0].node));
	if (focus == PL_NONE || focus >= r->a.g.n)
		return;
	char label[512];
	pl_dot_node_label(&r->a.g, focus, label, sizeof(label));
	if (!fz_utf8_valid((const unsigned char *)label, strlen(label)))
		fz_fail("node label is not valid UTF-8", in_data, in_size, label, strlen(label));
	pl_render_chain(devnull, &r->a.g, &r->a.roots, focus, fmt);
	pl_render_refs(devnull, &r->a.g, focus, false, fmt);
	if (r->a.roots.root[focus] != PL_NONE)
		check_dot_text(pl_dot_chain(&r->a.g, &r->a.roots, focus));
	struct pl_error *err = pl_graph_reverse(&r->a.g);
	if (err) {
		pl_error_free(err);
		return;
	}
	pl_render_refs(devnull, &r->a.g, focus, true, fmt);
	pl_render_backrefs(devnull, &r->a.g, &r->a.roots, focus, 3, 10, fmt);
	struct pl_dot_opts o = { .max_depth = 3, .too_many = 10 };
	check_dot_text(pl_dot_backrefs(&r->a.g, &r->a.roots, focus, &o));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in_data = data;
	in_size = size;
	if (size < 1)
		return 0;
	uint8_t opts = data[0];
	static struct saved sv[MAX_PATCHES];
	size_t np = 0;
	uint64_t focus_addr = 0;
	for (size_t at = 1; at + 16 <= size && np < MAX_PATCHES; at += 16) {
		if (apply(data + at, &sv[np])) {
			if (!focus_addr && ((data[at] >> 3) & 3) < 2)
				focus_addr = objs[(data[at + 1] | (uint32_t)data[at + 2] << 8 |
						   (uint32_t)data[at + 3] << 16) % nobjs].vaddr;
			np++;
		}
	}
	/* option bit 4: open the program afresh on the patched image, so that
	 * the runtime (interpreter, threads, gc state) is read from it too */
	bool fresh = opts & 0x10;
	struct run r;
	struct pl_error *err = analyse(work, fresh ? NULL : cached, &r);
	if (err) {
		if (!err->msg[0] || strnlen(err->msg, sizeof(err->msg)) == sizeof(err->msg))
			fz_fail("error without a message", data, size, NULL, 0);
		pl_error_free(err);
	} else {
		/* the object whose memory the first patch hit (the address is of
		 * its gc head or pre-header when tracked: try a few words on) */
		uint32_t focus = PL_NONE;
		for (uint64_t d = 0; focus_addr && d <= 48 && focus == PL_NONE; d += 8)
			focus = pl_graph_node(&r.a.g, focus_addr + d);
		report(&r, opts, focus);
	}
	run_release(&r, !fresh);
	while (cached->nwarnings > cached_nwarnings)
		free(cached->warnings[--cached->nwarnings]);
	/* restore the pristine image, last patch first */
	while (np--)
		memcpy(work + sv[np].off, sv[np].old, sv[np].n);
	return 0;
}
