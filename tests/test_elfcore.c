/* Unit tests for coredump/elfcore.c on ELF core images crafted in memory. */
#include "config.h"

#include <check.h>

#include "check_run.h"
#include <elf.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coredump/elfcore.h"
#include "coredump/error.h"
#include "tests/crafted.h"

#define NAME "crafted-4242.core"

/* For hot loops: Check's assertions record their location on every success,
 * which is slow under valgrind; this one only acts on failure. */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

/* ---- the standard core --------------------------------------------------- */

enum {
	STD_TID1 = 4242, STD_TID2 = 4243, STD_TID3 = 4244,
	STD_UID = 1000, STD_PPID = 17,
};
#define STD_PC1 UINT64_C(0x7f00000010a0)
#define STD_SP1 UINT64_C(0x7ffc00001000)
#define STD_FP1 UINT64_C(0x7ffc00001100)
#define STD_PC2 UINT64_C(0x555555555123)
#define STD_SP2 UINT64_C(0x7ffc00002000)
#define STD_FP2 UINT64_C(0x7ffc00002200)
#define STD_SIGADDR UINT64_C(0xdeadbeef0008)
#define STD_FNAME "python3.12"
#define STD_PSARGS "python3.12 -X dev leak.py --iterations 3"

/* program headers: the note first, as the kernel writes them */
enum { STD_NOTE, STD_L0, STD_L1, STD_L2, STD_L3, STD_NPH };

static const struct cr_file std_files[] = {
	{ 0x400000, 0x401000, 0, "/usr/bin/python3.12" },
	{ 0x401000, 0x403000, 1, "/usr/bin/python3.12" },
	{ 0x7f0000000000, 0x7f0000002000, 4, "/usr/lib/x86_64-linux-gnu/libpython3.12.so.1.0" },
};

/* kinds of notes in the standard note segment, in order */
enum note_kind { N_PRSTATUS1, N_PRPSINFO, N_SIGINFO, N_AUXV, N_FILE, N_PRSTATUS2,
		 N_PRSTATUS3, N_COUNT };

struct std_layout {
	struct cr_phdr ph[STD_NPH];
	/* byte ranges of each note inside the note segment: [start, desc end)
	 * and the padded end */
	size_t note_desc_end[N_COUNT], note_padded_end[N_COUNT];
};

static void std_regs(uint64_t regs[27], uint64_t base, uint64_t fp, uint64_t pc, uint64_t sp)
{
	for (int i = 0; i < 27; i++)
		regs[i] = base + (uint64_t)i;
	regs[4] = fp;
	regs[16] = pc;
	regs[19] = sp;
}

static void std_notes(struct cbuf *n, struct std_layout *lay)
{
	uint8_t pr[CR_PRSTATUS_SIZE], ps[CR_PRPSINFO_SIZE], si[CR_SIGINFO_SIZE];
	uint64_t regs[27];
	size_t before;
#define MARK(k, descsz) do { \
		lay->note_desc_end[k] = before + sizeof(Elf64_Nhdr) + 8 + (descsz); \
		lay->note_padded_end[k] = n->len; \
	} while (0)

	before = n->len;
	std_regs(regs, 0x1000, STD_FP1, STD_PC1, STD_SP1);
	cr_prstatus(pr, sizeof(pr), 0, STD_TID1, regs, 27);
	cb_note(n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	MARK(N_PRSTATUS1, sizeof(pr));

	before = n->len;
	cr_prpsinfo(ps, STD_UID, STD_TID1, STD_PPID, STD_FNAME, STD_PSARGS);
	cb_note(n, "CORE", NT_PRPSINFO, ps, sizeof(ps));
	MARK(N_PRPSINFO, sizeof(ps));

	before = n->len;
	cr_siginfo(si, SIGSEGV, 0, 1 /* SEGV_MAPERR */, STD_SIGADDR);
	cb_note(n, "CORE", NT_SIGINFO, si, sizeof(si));
	MARK(N_SIGINFO, sizeof(si));

	before = n->len;
	const uint64_t auxv[] = { AT_PHDR, 0x400040, AT_PAGESZ, 4096, AT_ENTRY, 0x401020,
				  AT_NULL, 0 };
	cb_note(n, "CORE", NT_AUXV, auxv, sizeof(auxv));
	MARK(N_AUXV, sizeof(auxv));

	before = n->len;
	struct cbuf f;
	cb_init(&f);
	cr_nt_file(&f, 4096, std_files, 3);
	cb_note(n, "CORE", NT_FILE, f.p, f.len);
	MARK(N_FILE, f.len);
	cb_free(&f);

	before = n->len;
	std_regs(regs, 0x2000, STD_FP2, STD_PC2, STD_SP2);
	cr_prstatus(pr, sizeof(pr), SIGSEGV, STD_TID2, regs, 27);
	cb_note(n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	MARK(N_PRSTATUS2, sizeof(pr));

	before = n->len;
	std_regs(regs, 0x3000, 0, 0x1234, 0x5678);
	cr_prstatus(pr, sizeof(pr), 0, STD_TID3, regs, 27);
	cb_note(n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	MARK(N_PRSTATUS3, sizeof(pr));
#undef MARK
}

static uint8_t *std_core(size_t *size, struct std_layout *lay)
{
	struct std_layout local;
	if (!lay)
		lay = &local;
	struct cbuf notes;
	cb_init(&notes);
	std_notes(&notes, lay);
	struct cr_phdr ph[STD_NPH] = {
		[STD_NOTE] = { PT_NOTE, 0, 0, 0, notes.len, notes.p, 0 },
		/* text: not dumped */
		[STD_L0] = { PT_LOAD, PF_R | PF_X, 0x400000, 0x1000, 0, NULL, 0 },
		[STD_L1] = { PT_LOAD, PF_R | PF_W, 0x600000, 0x100, 0x100, NULL, 0 },
		/* partly dumped */
		[STD_L2] = { PT_LOAD, PF_R | PF_W, 0x7ffc00000000, 0x80, 0x40, NULL, 0 },
		/* p_filesz larger than p_memsz: only memsz counts */
		[STD_L3] = { PT_LOAD, PF_R, 0x800000, 0x20, 0x30, NULL, 0 },
	};
	uint8_t *img = cr_build(ET_CORE, EM_X86_64, ph, STD_NPH, size);
	memcpy(lay->ph, ph, sizeof(ph));
	cb_free(&notes);
	return img;
}

/* A core with the given note segment and one 0x100-byte PT_LOAD at 0x600000. */
static uint8_t *core_with_notes(uint16_t machine, const struct cbuf *notes, size_t *size)
{
	struct cr_phdr ph[2] = {
		{ PT_NOTE, 0, 0, 0, notes->len, notes->p, 0 },
		{ PT_LOAD, PF_R | PF_W, 0x600000, 0x100, 0x100, NULL, 0 },
	};
	return cr_build(ET_CORE, machine, ph, 2, size);
}

/* ---- helpers -------------------------------------------------------------- */

static struct pl_core *parse_ok(const uint8_t *img, size_t size)
{
	struct pl_core *c = NULL;
	struct pl_error *err = pl_core_from_memory(img, size, NAME, &c);
	ck_assert_msg(err == NULL, "unexpected error: %s", err ? err->msg : "");
	ck_assert_ptr_nonnull(c);
	return c;
}

/* Parse, expect a PL_E_CORE error whose message names the file and contains
 * needle (if not NULL). */
static void expect_core_error(const uint8_t *img, size_t size, const char *name,
			      const char *needle)
{
	struct pl_core *c = (struct pl_core *)(uintptr_t)1;
	struct pl_error *err = pl_core_from_memory(img, size, name, &c);
	ck_assert_msg(err != NULL, "parsing %s succeeded, expected an error", name);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(err->kind, PL_E_CORE);
	ck_assert_int_eq(pl_error_exit_code(err), 3);
	ck_assert_msg(strstr(err->msg, name) != NULL, "message does not name %s: %s", name,
		      err->msg);
	if (needle)
		ck_assert_msg(strstr(err->msg, needle) != NULL, "message lacks \"%s\": %s",
			      needle, err->msg);
	pl_error_free(err);
}

static void expect_core_error_free(uint8_t *img, size_t size, const char *name,
				   const char *needle)
{
	/* copy to an exact-size allocation so over-reads are caught */
	uint8_t *copy = cr_dup(img, size);
	free(img);
	expect_core_error(copy, size, name, needle);
	free(copy);
}

static const struct pl_core_segment *find_seg(const struct pl_core *c, uint64_t vaddr)
{
	for (size_t i = 0; i < c->nsegs; i++)
		if (c->segs[i].vaddr == vaddr)
			return &c->segs[i];
	return NULL;
}

/* ---- a valid core ---------------------------------------------------------- */

START_TEST(valid_segments)
{
	size_t size;
	struct std_layout lay;
	uint8_t *img = std_core(&size, &lay);
	struct pl_core *c = parse_ok(img, size);

	ck_assert_uint_eq(c->machine, EM_X86_64);
	ck_assert_ptr_eq(c->map, img);
	ck_assert_uint_eq(c->size, size);
	ck_assert_str_eq(c->path, NAME);
	ck_assert(!c->owns_map);
	ck_assert_uint_eq(c->nsegs, 4);
	ck_assert_uint_eq(c->missing_bytes, 0);
	pl_core_fill_start(c);   /* not a file's pages: nothing to map in */
	ck_assert_ptr_null(c->filler);

	const struct pl_core_segment *s = &c->segs[0];
	ck_assert_uint_eq(s->vaddr, 0x400000);
	ck_assert_uint_eq(s->memsz, 0x1000);
	ck_assert_uint_eq(s->filesz, 0);
	ck_assert_uint_eq(s->avail, 0);
	ck_assert_uint_eq(s->flags, PF_R | PF_X);

	s = &c->segs[1];
	ck_assert_uint_eq(s->vaddr, 0x600000);
	ck_assert_uint_eq(s->memsz, 0x100);
	ck_assert_uint_eq(s->filesz, 0x100);
	ck_assert_uint_eq(s->avail, 0x100);
	ck_assert_uint_eq(s->offset, lay.ph[STD_L1].offset);
	ck_assert_uint_eq(s->flags, PF_R | PF_W);
	/* the data at the offset is the segment's */
	for (uint64_t k = 0; k < s->avail; k++)
		REQUIRE(c->map[s->offset + k] == cr_pattern(s->vaddr + k), "byte %llu",
			(unsigned long long)k);

	s = &c->segs[2];
	ck_assert_uint_eq(s->vaddr, UINT64_C(0x7ffc00000000));
	ck_assert_uint_eq(s->memsz, 0x80);
	ck_assert_uint_eq(s->filesz, 0x40);
	ck_assert_uint_eq(s->avail, 0x40);
	ck_assert_uint_eq(s->offset, lay.ph[STD_L2].offset);

	s = &c->segs[3];
	ck_assert_uint_eq(s->vaddr, 0x800000);
	ck_assert_uint_eq(s->memsz, 0x20);
	ck_assert_uint_eq(s->filesz, 0x20);   /* clamped to memsz */
	ck_assert_uint_eq(s->avail, 0x20);
	ck_assert_uint_eq(s->flags, PF_R);

	pl_core_free(c);
	free(img);
}
END_TEST

START_TEST(valid_threads)
{
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	struct pl_core *c = parse_ok(img, size);

	ck_assert_uint_eq(c->nthreads, 3);
	const struct pl_core_thread *t = &c->threads[0];
	ck_assert_int_eq(t->tid, STD_TID1);
	ck_assert_int_eq(t->cursig, 0);
	ck_assert_uint_ge(t->nregs, 27);
	ck_assert_uint_le(t->nregs, 34);
	ck_assert_uint_eq(t->regs[0], 0x1000);
	ck_assert_uint_eq(t->regs[26], 0x1000 + 26);
	ck_assert_uint_eq(t->regs[16], STD_PC1);
	ck_assert_uint_eq(t->regs[19], STD_SP1);
	ck_assert_uint_eq(t->pc, STD_PC1);
	ck_assert_uint_eq(t->sp, STD_SP1);
	ck_assert_uint_eq(t->fp, STD_FP1);

	t = &c->threads[1];
	ck_assert_int_eq(t->tid, STD_TID2);
	ck_assert_int_eq(t->cursig, SIGSEGV);
	ck_assert_uint_eq(t->pc, STD_PC2);
	ck_assert_uint_eq(t->sp, STD_SP2);
	ck_assert_uint_eq(t->fp, STD_FP2);
	ck_assert_uint_eq(t->regs[1], 0x2001);

	t = &c->threads[2];
	ck_assert_int_eq(t->tid, STD_TID3);
	ck_assert_int_eq(t->cursig, 0);
	ck_assert_uint_eq(t->pc, 0x1234);
	ck_assert_uint_eq(t->sp, 0x5678);

	/* the second thread got the signal, not the first */
	ck_assert_ptr_eq(pl_core_crashing_thread(c), &c->threads[1]);
	ck_assert_str_eq(pl_signal_name(pl_core_crashing_thread(c)->cursig), "SIGSEGV");

	pl_core_free(c);
	free(img);
}
END_TEST

START_TEST(valid_prpsinfo_auxv_siginfo)
{
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	struct pl_core *c = parse_ok(img, size);

	ck_assert(c->has_prpsinfo);
	ck_assert_uint_eq(c->uid, STD_UID);
	ck_assert_int_eq(c->pid, STD_TID1);
	ck_assert_int_eq(c->ppid, STD_PPID);
	ck_assert_str_eq(c->fname, STD_FNAME);
	ck_assert_str_eq(c->psargs, STD_PSARGS);

	ck_assert_uint_eq(c->nauxv, 4);
	ck_assert_uint_eq(pl_core_auxv(c, AT_PHDR), 0x400040);
	ck_assert_uint_eq(pl_core_auxv(c, AT_PAGESZ), 4096);
	ck_assert_uint_eq(pl_core_auxv(c, AT_ENTRY), 0x401020);
	ck_assert_uint_eq(pl_core_auxv(c, AT_BASE), 0);      /* absent */
	ck_assert_uint_eq(pl_core_auxv(c, AT_SYSINFO_EHDR), 0);

	ck_assert(c->has_siginfo);
	ck_assert_int_eq(c->sig_signo, SIGSEGV);
	ck_assert_int_eq(c->sig_errno, 0);
	ck_assert_int_eq(c->sig_code, 1);
	ck_assert_uint_eq(c->sig_addr, STD_SIGADDR);

	pl_core_free(c);
	free(img);
}
END_TEST

START_TEST(valid_nt_file)
{
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	struct pl_core *c = parse_ok(img, size);

	ck_assert(c->has_nt_file);
	ck_assert_uint_eq(c->nfiles, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(c->files[i].start, std_files[i].start);
		ck_assert_uint_eq(c->files[i].end, std_files[i].end);
		ck_assert_uint_eq(c->files[i].offset, std_files[i].pgoff * 4096);
		ck_assert_str_eq(c->files[i].path, std_files[i].name);
	}
	ck_assert_uint_eq(c->files[2].offset, 0x4000);

	pl_core_free(c);
	free(img);
}
END_TEST

START_TEST(valid_exact_size_copy)
{
	/* the whole parse on an exact-size heap copy: any read past the end is
	 * reported by valgrind / ASan */
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	uint8_t *copy = cr_dup(img, size);
	free(img);
	struct pl_core *c = parse_ok(copy, size);
	ck_assert_uint_eq(c->nsegs, 4);
	ck_assert_uint_eq(c->nthreads, 3);
	ck_assert_uint_eq(c->nfiles, 3);
	pl_core_free(c);
	free(copy);
}
END_TEST

START_TEST(crashing_thread_fallbacks)
{
	struct cbuf n;
	uint8_t pr[CR_PRSTATUS_SIZE];
	uint64_t regs[27] = { 0 };
	size_t size;

	/* no signal anywhere: the first thread */
	cb_init(&n);
	cr_prstatus(pr, sizeof(pr), 0, 11, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	cr_prstatus(pr, sizeof(pr), 0, 12, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert_uint_eq(c->nthreads, 2);
	ck_assert_ptr_eq(pl_core_crashing_thread(c), &c->threads[0]);
	ck_assert_int_eq(pl_core_crashing_thread(c)->tid, 11);
	pl_core_free(c);
	free(img);
	cb_free(&n);

	/* signal on the last thread */
	cb_init(&n);
	cr_prstatus(pr, sizeof(pr), 0, 21, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	cr_prstatus(pr, sizeof(pr), 0, 22, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	cr_prstatus(pr, sizeof(pr), SIGABRT, 23, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	img = core_with_notes(EM_X86_64, &n, &size);
	c = parse_ok(img, size);
	ck_assert_uint_eq(c->nthreads, 3);
	ck_assert_int_eq(pl_core_crashing_thread(c)->tid, 23);
	ck_assert_int_eq(pl_core_crashing_thread(c)->cursig, SIGABRT);
	pl_core_free(c);
	free(img);
	cb_free(&n);

	/* a negative 16-bit cursig is sign-extended, and counts as a signal */
	cb_init(&n);
	cr_prstatus(pr, sizeof(pr), 0, 31, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	cr_prstatus(pr, sizeof(pr), -1, 32, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	img = core_with_notes(EM_X86_64, &n, &size);
	c = parse_ok(img, size);
	ck_assert_int_eq(c->threads[1].cursig, -1);
	ck_assert_int_eq(pl_core_crashing_thread(c)->tid, 32);
	pl_core_free(c);
	free(img);
	cb_free(&n);

	/* no threads at all */
	cb_init(&n);
	cb_note(&n, "CORE", NT_AUXV, (uint64_t[]){ AT_PAGESZ, 4096 }, 16);
	img = core_with_notes(EM_X86_64, &n, &size);
	c = parse_ok(img, size);
	ck_assert_uint_eq(c->nthreads, 0);
	ck_assert_ptr_null(pl_core_crashing_thread(c));
	ck_assert(!c->has_prpsinfo);
	ck_assert(!c->has_siginfo);
	ck_assert(!c->has_nt_file);
	ck_assert_uint_eq(c->nfiles, 0);
	ck_assert_uint_eq(pl_core_auxv(c, AT_PAGESZ), 4096);
	pl_core_free(c);
	free(img);
	cb_free(&n);
}
END_TEST

START_TEST(aarch64_thread)
{
	struct cbuf n;
	cb_init(&n);
	uint8_t pr[CR_PRSTATUS_A64_SIZE];
	uint64_t regs[34];
	for (int i = 0; i < 34; i++)
		regs[i] = 0xa000 + (uint64_t)i;
	regs[29] = 0xffffc0001000;   /* x29 */
	regs[31] = 0xffffc0000f00;   /* sp */
	regs[32] = 0xaaaabbbb0123;   /* pc */
	cr_prstatus(pr, sizeof(pr), SIGBUS, 777, regs, 34);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	size_t size;
	uint8_t *img = core_with_notes(EM_AARCH64, &n, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert_uint_eq(c->machine, EM_AARCH64);
	ck_assert_uint_eq(c->nthreads, 1);
	const struct pl_core_thread *t = &c->threads[0];
	ck_assert_int_eq(t->tid, 777);
	ck_assert_int_eq(t->cursig, SIGBUS);
	ck_assert_uint_eq(t->nregs, 34);
	ck_assert_uint_eq(t->regs[33], 0xa000 + 33);
	ck_assert_uint_eq(t->fp, 0xffffc0001000);
	ck_assert_uint_eq(t->sp, 0xffffc0000f00);
	ck_assert_uint_eq(t->pc, 0xaaaabbbb0123);
	pl_core_free(c);
	free(img);
	cb_free(&n);
}
END_TEST

START_TEST(prpsinfo_full_width_strings)
{
	/* fname fills all 16 bytes and psargs all 80, with no NUL in the note */
	struct cbuf n;
	cb_init(&n);
	uint8_t ps[CR_PRPSINFO_SIZE];
	const char *fname = "abcdefghijklmnop";
	char psargs[81];
	for (int i = 0; i < 80; i++)
		psargs[i] = (char)('A' + i % 26);
	psargs[80] = 0;
	cr_prpsinfo(ps, 0, 1, 0, fname, psargs);
	ck_assert_uint_eq(ps[56 + 79], 'A' + 79 % 26);
	ck_assert_uint_eq(ps[40 + 15], 'p');
	cb_note(&n, "CORE", NT_PRPSINFO, ps, sizeof(ps));
	size_t size;
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert(c->has_prpsinfo);
	ck_assert_uint_eq(strlen(c->fname), 16);
	ck_assert_str_eq(c->fname, fname);
	ck_assert_uint_eq(strlen(c->psargs), 80);
	ck_assert_str_eq(c->psargs, psargs);
	ck_assert_int_eq(c->pid, 1);
	ck_assert_uint_eq(c->uid, 0);
	pl_core_free(c);
	free(img);
	cb_free(&n);
}
END_TEST

START_TEST(segment_filtering)
{
	/* memsz 0 and wrapping segments are dropped; the vsyscall page at the
	 * top is kept */
	struct cr_phdr ph[5] = {
		{ PT_NOTE, 0, 0, 0, 0, NULL, 0 },
		{ PT_LOAD, PF_R, 0x500000, 0, 0, NULL, 0 },
		{ PT_LOAD, PF_R, UINT64_C(0xfffffffffffff000), 0x2000, 0, NULL, 0 },
		{ PT_LOAD, PF_R | PF_X, UINT64_C(0xffffffffff600000), 0x1000, 0x10, NULL, 0 },
		{ PT_LOAD, PF_R, 0x1000, 0x10, 0x10, NULL, 0 },
	};
	size_t size;
	uint8_t *img = cr_build(ET_CORE, EM_X86_64, ph, 5, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert_uint_eq(c->nsegs, 2);
	ck_assert_uint_eq(c->segs[0].vaddr, UINT64_C(0xffffffffff600000));
	ck_assert_uint_eq(c->segs[0].avail, 0x10);
	ck_assert_uint_eq(c->segs[1].vaddr, 0x1000);
	ck_assert_ptr_null(find_seg(c, 0x500000));
	ck_assert_uint_eq(c->nthreads, 0);
	pl_core_free(c);
	free(img);
}
END_TEST

START_TEST(segment_data_outside_file)
{
	/* segments whose data lies (partly) beyond the end of the file */
	size_t size;
	struct std_layout lay;
	uint8_t *img = std_core(&size, &lay);
	cr_phdr_at(img, STD_L1)->p_offset = size + 0x1000;         /* all of it */
	cr_phdr_at(img, STD_L2)->p_offset = size - 0x10;           /* 0x30 of 0x40 */
	cr_phdr_at(img, STD_L3)->p_offset = UINT64_MAX - 4;        /* absurd */
	uint8_t *copy = cr_dup(img, size);
	free(img);
	struct pl_core *c = parse_ok(copy, size);
	ck_assert_uint_eq(c->nsegs, 4);
	const struct pl_core_segment *s = find_seg(c, 0x600000);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->avail, 0);
	s = find_seg(c, UINT64_C(0x7ffc00000000));
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->filesz, 0x40);
	ck_assert_uint_eq(s->avail, 0x10);
	s = find_seg(c, 0x800000);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->avail, 0);
	ck_assert_uint_eq(c->missing_bytes, 0x100 + 0x30 + 0x20);
	/* notes still parsed */
	ck_assert_uint_eq(c->nthreads, 3);
	pl_core_free(c);
	free(copy);
}
END_TEST

START_TEST(note_segment_clipped_or_outside)
{
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	/* p_filesz far past the end of the file: clipped, all notes read */
	cr_phdr_at(img, STD_NOTE)->p_filesz = UINT64_C(1) << 40;
	struct pl_core *c = parse_ok(img, size);
	ck_assert_uint_eq(c->nthreads, 3);
	ck_assert_uint_eq(c->nfiles, 3);
	ck_assert(c->has_siginfo);
	pl_core_free(c);

	/* note segment entirely outside the file: ignored */
	cr_phdr_at(img, STD_NOTE)->p_offset = size;
	c = parse_ok(img, size);
	ck_assert_uint_eq(c->nthreads, 0);
	ck_assert(!c->has_prpsinfo);
	ck_assert(!c->has_nt_file);
	ck_assert_uint_eq(c->nsegs, 4);
	pl_core_free(c);
	free(img);
}
END_TEST

START_TEST(open_from_file)
{
	char dir[] = "/tmp/pyleak-test-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[sizeof(dir) + 32];
	struct pl_core *c = (struct pl_core *)(uintptr_t)1;

	/* missing */
	snprintf(path, sizeof(path), "%s/missing.core", dir);
	struct pl_error *err = pl_core_open(path, &c);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(err->kind, PL_E_CORE);
	ck_assert_ptr_nonnull(strstr(err->msg, path));
	pl_error_free(err);

	/* a directory */
	err = pl_core_open(dir, &c);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(err->kind, PL_E_CORE);
	ck_assert_ptr_nonnull(strstr(err->msg, dir));
	ck_assert_ptr_nonnull(strstr(err->msg, "not a regular file"));
	pl_error_free(err);

	/* empty */
	snprintf(path, sizeof(path), "%s/empty.core", dir);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	err = pl_core_open(path, &c);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(err->kind, PL_E_CORE);
	ck_assert_ptr_nonnull(strstr(err->msg, path));
	ck_assert_ptr_nonnull(strstr(err->msg, "empty"));
	pl_error_free(err);
	unlink(path);

	/* valid */
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	snprintf(path, sizeof(path), "%s/good.core", dir);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(img, 1, size, f), size);
	fclose(f);
	err = pl_core_open(path, &c);
	ck_assert_msg(err == NULL, "%s", err ? err->msg : "");
	ck_assert(c->owns_map);
	ck_assert_str_eq(c->path, path);
	ck_assert_uint_eq(c->size, size);
	ck_assert_mem_eq(c->map, img, size);
	ck_assert_uint_eq(c->nthreads, 3);
	ck_assert_uint_eq(c->nsegs, 4);
	ck_assert_str_eq(c->files[2].path, std_files[2].name);
	/* its pages mapped in on a thread, which stops before any are given
	 * back; the data is the file's throughout */
	pl_core_fill_start(c);
#ifdef MADV_POPULATE_READ
	ck_assert_ptr_nonnull(c->filler);
#endif
	struct pl_core_filler *filler = c->filler;
	pl_core_fill_start(c);   /* once only */
	ck_assert_ptr_eq(c->filler, filler);
	pl_core_release_pages(c);
	ck_assert_mem_eq(c->map, img, size);
	pl_core_release_pages(c);
	pl_core_free(c);
	/* and when it is freed first */
	err = pl_core_open(path, &c);
	ck_assert_msg(err == NULL, "%s", err ? err->msg : "");
	pl_core_fill_start(c);
	pl_core_free(c);

	/* a file that is not a core: the error names the path */
	img[EI_MAG1] = 'X';
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(img, 1, size, f), size);
	fclose(f);
	err = pl_core_open(path, &c);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(err->kind, PL_E_CORE);
	ck_assert_ptr_nonnull(strstr(err->msg, path));
	pl_error_free(err);
	unlink(path);
	free(img);
	rmdir(dir);
}
END_TEST

START_TEST(signal_names)
{
	ck_assert_str_eq(pl_signal_name(SIGSEGV), "SIGSEGV");
	ck_assert_str_eq(pl_signal_name(SIGABRT), "SIGABRT");
	ck_assert_str_eq(pl_signal_name(SIGBUS), "SIGBUS");
	ck_assert_str_eq(pl_signal_name(0), "none");
	ck_assert_str_eq(pl_signal_name(63), "signal");
	ck_assert_str_eq(pl_signal_name(-5), "signal");
}
END_TEST

/* ---- errors ---------------------------------------------------------------- */

START_TEST(err_empty)
{
	uint8_t one = 0;
	expect_core_error(&one, 0, "empty.core", NULL);
	expect_core_error(NULL, 0, "null.core", NULL);
}
END_TEST

START_TEST(err_not_elf)
{
	const char text[] = "#!/bin/sh\necho this is a shell script, not a core dump\n"
			    "padding padding padding padding padding padding\n";
	uint8_t *buf = cr_dup((const uint8_t *)text, sizeof(text));
	expect_core_error(buf, sizeof(text), "script.sh", "not an ELF");
	free(buf);

	/* a whole core with one magic byte wrong */
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	img[EI_MAG3] = 'G';
	expect_core_error_free(img, size, "badmagic.core", "not an ELF");

	/* the magic alone, shorter than e_ident */
	buf = cr_dup((const uint8_t *)ELFMAG, SELFMAG);
	expect_core_error(buf, SELFMAG, "magic-only.core", NULL);
	free(buf);
}
END_TEST

START_TEST(err_32bit)
{
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	img[EI_CLASS] = ELFCLASS32;
	expect_core_error_free(img, size, "i386.core", "32-bit");
}
END_TEST

START_TEST(err_big_endian)
{
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	img[EI_DATA] = ELFDATA2MSB;
	expect_core_error_free(img, size, "s390x.core", "big-endian");
}
END_TEST

START_TEST(err_not_core)
{
	static const struct { uint16_t type; const char *what; } cases[] = {
		{ ET_EXEC, "executable" },
		{ ET_DYN, "shared object" },
		{ ET_REL, "object file" },
		{ ET_NONE, "unknown" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t size;
		uint8_t *img = std_core(&size, NULL);
		cr_ehdr(img)->e_type = cases[i].type;
		expect_core_error_free(img, size, "python3.12", "not a core");
		img = std_core(&size, NULL);
		cr_ehdr(img)->e_type = cases[i].type;
		expect_core_error_free(img, size, "python3.12", cases[i].what);
	}
}
END_TEST

START_TEST(err_machine)
{
	static const uint16_t machines[] = { EM_386, EM_ARM, EM_PPC64, EM_RISCV, EM_S390, 0 };
	for (size_t i = 0; i < sizeof(machines) / sizeof(machines[0]); i++) {
		size_t size;
		uint8_t *img = std_core(&size, NULL);
		cr_ehdr(img)->e_machine = machines[i];
		char needle[64];
		snprintf(needle, sizeof(needle), "unsupported machine %u", machines[i]);
		expect_core_error_free(img, size, "other-arch.core", needle);
	}
}
END_TEST

START_TEST(err_phdrs_beyond_end)
{
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	cr_ehdr(img)->e_phoff = size - 8;
	expect_core_error_free(img, size, "phoff.core", "program headers");

	img = std_core(&size, NULL);
	cr_ehdr(img)->e_phoff = UINT64_MAX - 16;
	expect_core_error_free(img, size, "phoff-huge.core", "program headers");

	img = std_core(&size, NULL);
	cr_ehdr(img)->e_phnum = 0xfff0;
	expect_core_error_free(img, size, "phnum.core", NULL);

	/* the last program header cut in half */
	img = std_core(&size, NULL);
	expect_core_error_free(img, sizeof(Elf64_Ehdr) + STD_NPH * sizeof(Elf64_Phdr) - 28,
			       "halfphdr.core", NULL);

	/* no program headers at all */
	img = std_core(&size, NULL);
	cr_ehdr(img)->e_phnum = 0;
	expect_core_error_free(img, size, "nophdr.core", NULL);
}
END_TEST

/* Parse, free everything, return the error message ("" on success). */
static void error_message(const uint8_t *img, size_t size, const char *name, char *msg,
			  size_t max)
{
	uint8_t *copy = cr_dup(img, size);
	struct pl_core *c = NULL;
	struct pl_error *err = pl_core_from_memory(copy, size, name, &c);
	snprintf(msg, max, "%s", err ? err->msg : "");
	pl_error_free(err);
	pl_core_free(c);
	free(copy);
}

START_TEST(err_phdrs_cut_message)
{
	/* A core cut inside its program header table, or whose e_phnum is
	 * larger than the file, must be reported as such (truncated / program
	 * headers not in the file), not as "no memory segments". */
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	char big[1024], cut[1024];
	error_message(img, sizeof(Elf64_Ehdr) + STD_NPH * sizeof(Elf64_Phdr) - 28,
		      "halfphdr.core", cut, sizeof(cut));
	cr_ehdr(img)->e_phnum = 0xfff0;
	error_message(img, size, "phnum.core", big, sizeof(big));
	free(img);
	ck_assert_msg(strstr(big, "program headers") != NULL, "e_phnum 0xfff0: %s", big);
	ck_assert_msg(strstr(cut, "truncated") != NULL, "cut in the program headers: %s", cut);
}
END_TEST

START_TEST(err_short_header)
{
	/* valid e_ident, shorter than an ELF header */
	size_t size;
	uint8_t *img = std_core(&size, NULL);
	expect_core_error_free(img, 40, "short.core", "truncated");
}
END_TEST

START_TEST(err_no_load)
{
	size_t size;
	struct cbuf n;
	cb_init(&n);
	uint8_t pr[CR_PRSTATUS_SIZE];
	uint64_t regs[27] = { 0 };
	cr_prstatus(pr, sizeof(pr), SIGSEGV, 1, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	struct cr_phdr ph[1] = { { PT_NOTE, 0, 0, 0, n.len, n.p, 0 } };
	uint8_t *img = cr_build(ET_CORE, EM_X86_64, ph, 1, &size);
	expect_core_error_free(img, size, "noload.core", "no memory segments");

	/* PT_LOADs that are all unusable count as none */
	struct cr_phdr ph2[3] = {
		{ PT_NOTE, 0, 0, 0, n.len, n.p, 0 },
		{ PT_LOAD, PF_R, 0x400000, 0, 0, NULL, 0 },
		{ PT_LOAD, PF_R, UINT64_MAX - 0xfff, 0x2000, 0, NULL, 0 },
	};
	img = cr_build(ET_CORE, EM_X86_64, ph2, 3, &size);
	expect_core_error_free(img, size, "emptyload.core", "PT_LOAD");

	/* other program header types only */
	struct cr_phdr ph3[2] = {
		{ PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, NULL, 0 },
		{ PT_INTERP, PF_R, 0x400200, 0x10, 0x10, NULL, 0 },
	};
	img = cr_build(ET_CORE, EM_X86_64, ph3, 2, &size);
	expect_core_error_free(img, size, "interp.core", "PT_LOAD");
	cb_free(&n);
}
END_TEST

/* ---- truncation ------------------------------------------------------------ */

START_TEST(truncated_every_byte)
{
	size_t size;
	struct std_layout lay;
	uint8_t *img = std_core(&size, &lay);
	const size_t ph_end = sizeof(Elf64_Ehdr) + STD_NPH * sizeof(Elf64_Phdr);
	const uint64_t note_off = lay.ph[STD_NOTE].offset;
	size_t ok = 0, failed = 0;

	for (size_t cut = 0; cut <= size; cut++) {
		uint8_t *copy = cr_dup(img, cut);
		struct pl_core *c = NULL;
		struct pl_error *err = pl_core_from_memory(copy, cut, "cut.core", &c);

		/* what is in the file, computed from the layout */
		uint64_t missing = 0, avail[STD_NPH] = { 0 };
		for (int i = STD_L0; i < STD_NPH; i++) {
			uint64_t fs = lay.ph[i].filesz < lay.ph[i].memsz ? lay.ph[i].filesz
									 : lay.ph[i].memsz;
			uint64_t off = lay.ph[i].offset;
			avail[i] = off >= cut ? 0 : (cut - off < fs ? cut - off : fs);
			missing += fs - avail[i];
		}

		if (cut < ph_end) {
			ck_assert_msg(err != NULL, "cut at %zu of %zu: no error", cut, size);
			ck_assert_ptr_null(c);
			ck_assert_int_eq(err->kind, PL_E_CORE);
			ck_assert_msg(strstr(err->msg, "cut.core"), "cut %zu: %s", cut, err->msg);
			pl_error_free(err);
			free(copy);
			failed++;
			continue;
		}
		/* the headers are all there: the parse succeeds and accounts for
		 * what is missing */
		ck_assert_msg(err == NULL, "cut at %zu of %zu: %s", cut, size, err ? err->msg : "");
		ck_assert_uint_eq(c->size, cut);
		ck_assert_uint_eq(c->nsegs, 4);
		ck_assert_msg(c->missing_bytes == missing, "cut at %zu: missing %llu, expected %llu",
			      cut, (unsigned long long)c->missing_bytes,
			      (unsigned long long)missing);
		for (int i = STD_L0; i < STD_NPH; i++) {
			const struct pl_core_segment *s = find_seg(c, lay.ph[i].vaddr);
			ck_assert_ptr_nonnull(s);
			ck_assert_msg(s->avail == avail[i], "cut at %zu: segment %d avail %llu, "
				      "expected %llu", cut, i, (unsigned long long)s->avail,
				      (unsigned long long)avail[i]);
			if (s->avail)
				ck_assert_uint_le(s->offset + s->avail, cut);
		}

		/* a note whose (padded) end is in the file is read; one whose
		 * descriptor is cut is not */
		bool in[N_COUNT], out[N_COUNT];
		for (int k = 0; k < N_COUNT; k++) {
			in[k] = note_off + lay.note_padded_end[k] <= cut;
			out[k] = note_off + lay.note_desc_end[k] > cut;
		}
		size_t want_thr = (size_t)in[N_PRSTATUS1] + in[N_PRSTATUS2] + in[N_PRSTATUS3];
		size_t max_thr = 3 - ((size_t)out[N_PRSTATUS1] + out[N_PRSTATUS2] +
				      out[N_PRSTATUS3]);
		ck_assert_msg(c->nthreads >= want_thr && c->nthreads <= max_thr,
			      "cut at %zu: %zu threads, expected %zu..%zu", cut, c->nthreads,
			      want_thr, max_thr);
		for (size_t t = 0; t < c->nthreads; t++)
			ck_assert_int_eq(c->threads[t].tid, STD_TID1 + (int)t);
		if (in[N_PRPSINFO])
			ck_assert(c->has_prpsinfo && c->pid == STD_TID1);
		if (out[N_PRPSINFO])
			ck_assert(!c->has_prpsinfo);
		if (in[N_SIGINFO])
			ck_assert(c->has_siginfo && c->sig_addr == STD_SIGADDR);
		if (out[N_SIGINFO])
			ck_assert(!c->has_siginfo);
		if (in[N_AUXV])
			ck_assert_uint_eq(pl_core_auxv(c, AT_PAGESZ), 4096);
		if (out[N_AUXV])
			ck_assert_uint_eq(c->nauxv, 0);
		if (in[N_FILE]) {
			ck_assert(c->has_nt_file);
			ck_assert_uint_eq(c->nfiles, 3);
			ck_assert_str_eq(c->files[2].path, std_files[2].name);
		}
		if (out[N_FILE])
			ck_assert(!c->has_nt_file && c->nfiles == 0);
		if (cut == size) {
			ck_assert_uint_eq(c->missing_bytes, 0);
			ck_assert_uint_eq(c->nthreads, 3);
		}
		pl_core_free(c);
		free(copy);
		ok++;
	}
	ck_assert_uint_eq(failed, ph_end);
	ck_assert_uint_eq(ok, size + 1 - ph_end);
	free(img);
}
END_TEST

START_TEST(truncated_missing_bytes_examples)
{
	/* a few cuts checked by hand against the layout, independent of the
	 * loop above */
	size_t size;
	struct std_layout lay;
	uint8_t *img = std_core(&size, &lay);
	/* L1 (0x100) then L2 (0x40) then L3 (0x20 counted of 0x30) follow */
	ck_assert_uint_lt(lay.ph[STD_L1].offset, lay.ph[STD_L2].offset);
	ck_assert_uint_lt(lay.ph[STD_L2].offset, lay.ph[STD_L3].offset);
	ck_assert_uint_eq(lay.ph[STD_L3].offset + 0x30, size);

	/* cut 1 byte: only the 0x10 uncounted bytes of L3 are lost */
	struct pl_core *c = parse_ok(img, size - 1);
	ck_assert_uint_eq(c->missing_bytes, 0);
	pl_core_free(c);
	/* cut 0x11 bytes: one byte of L3 */
	c = parse_ok(img, size - 0x11);
	ck_assert_uint_eq(c->missing_bytes, 1);
	ck_assert_uint_eq(find_seg(c, 0x800000)->avail, 0x1f);
	pl_core_free(c);
	/* cut at the start of L2: L2 and L3 */
	c = parse_ok(img, lay.ph[STD_L2].offset);
	ck_assert_uint_eq(c->missing_bytes, 0x40 + 0x20);
	pl_core_free(c);
	/* cut 0x10 bytes into L1 */
	c = parse_ok(img, lay.ph[STD_L1].offset + 0x10);
	ck_assert_uint_eq(c->missing_bytes, 0xf0 + 0x40 + 0x20);
	ck_assert_uint_eq(find_seg(c, 0x600000)->avail, 0x10);
	ck_assert_uint_eq(c->nthreads, 3);
	pl_core_free(c);
	free(img);
}
END_TEST

/* ---- damaged notes --------------------------------------------------------- */

static uint8_t *core_with_nt_file_payload(const void *desc, size_t descsz, size_t *size)
{
	struct cbuf n;
	cb_init(&n);
	cb_note(&n, "CORE", NT_FILE, desc, descsz);
	uint8_t *img = core_with_notes(EM_X86_64, &n, size);
	cb_free(&n);
	uint8_t *copy = cr_dup(img, *size);
	free(img);
	return copy;
}

START_TEST(nt_file_count_too_large)
{
	struct cbuf d;
	cb_init(&d);
	cr_nt_file(&d, 4096, std_files, 2);
	uint64_t count = 5;           /* but only 2 entries */
	memcpy(d.p, &count, 8);
	size_t size;
	uint8_t *img = core_with_nt_file_payload(d.p, d.len, &size);
	expect_core_error(img, size, "ntfile.core", "NT_FILE");
	free(img);

	/* a count whose count * 24 overflows */
	count = (UINT64_MAX / 24) + 2;
	memcpy(d.p, &count, 8);
	img = core_with_nt_file_payload(d.p, d.len, &size);
	expect_core_error(img, size, "ntfile-overflow.core", "NT_FILE");
	free(img);
	count = UINT64_MAX;
	memcpy(d.p, &count, 8);
	img = core_with_nt_file_payload(d.p, d.len, &size);
	expect_core_error(img, size, "ntfile-max.core", "NT_FILE");
	free(img);
	cb_free(&d);

	/* shorter than the count and page size */
	uint64_t eight = 0;
	img = core_with_nt_file_payload(&eight, 8, &size);
	expect_core_error(img, size, "ntfile-short.core", "too short");
	free(img);
	img = core_with_nt_file_payload(NULL, 0, &size);
	expect_core_error(img, size, "ntfile-empty.core", "NT_FILE");
	free(img);
}
END_TEST

START_TEST(nt_file_names_unterminated)
{
	/* three entries, the names "/a", then "/bb" without its NUL */
	struct cbuf d;
	cb_init(&d);
	cb_u64(&d, 3);
	cb_u64(&d, 4096);
	for (uint64_t i = 0; i < 3; i++) {
		cb_u64(&d, 0x10000 * (i + 1));
		cb_u64(&d, 0x10000 * (i + 1) + 0x1000);
		cb_u64(&d, i);
	}
	cb_put(&d, "/a\0/bb", 6);
	size_t size;
	uint8_t *img = core_with_nt_file_payload(d.p, d.len, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert(c->has_nt_file);
	ck_assert_uint_eq(c->nfiles, 1);
	ck_assert_str_eq(c->files[0].path, "/a");
	ck_assert_uint_eq(c->files[0].start, 0x10000);
	ck_assert_uint_eq(c->files[0].end, 0x11000);
	ck_assert_uint_eq(c->files[0].offset, 0);
	pl_core_free(c);
	free(img);

	/* no names at all */
	d.len = 16 + 3 * 24;
	img = core_with_nt_file_payload(d.p, d.len, &size);
	c = parse_ok(img, size);
	ck_assert(c->has_nt_file);
	ck_assert_uint_eq(c->nfiles, 0);
	pl_core_free(c);
	free(img);

	/* one name with no NUL at all */
	cb_put(&d, "/libfoo.so", 10);
	img = core_with_nt_file_payload(d.p, d.len, &size);
	c = parse_ok(img, size);
	ck_assert_uint_eq(c->nfiles, 0);
	pl_core_free(c);
	free(img);
	cb_free(&d);
}
END_TEST

START_TEST(nt_file_empty_ranges_skipped)
{
	/* entries with end <= start are dropped, but their names are consumed */
	const struct cr_file files[] = {
		{ 0x1000, 0x2000, 0, "/one" },
		{ 0x3000, 0x3000, 1, "/empty" },
		{ 0x5000, 0x4000, 2, "/backwards" },
		{ 0x6000, 0x8000, 3, "/four" },
	};
	struct cbuf d;
	cb_init(&d);
	cr_nt_file(&d, 0x10000, files, 4);
	size_t size;
	uint8_t *img = core_with_nt_file_payload(d.p, d.len, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert_uint_eq(c->nfiles, 2);
	ck_assert_str_eq(c->files[0].path, "/one");
	ck_assert_str_eq(c->files[1].path, "/four");
	ck_assert_uint_eq(c->files[1].start, 0x6000);
	ck_assert_uint_eq(c->files[1].end, 0x8000);
	ck_assert_uint_eq(c->files[1].offset, 3 * 0x10000);
	pl_core_free(c);
	free(img);

	/* the same with the last names missing: the dropped entry's name was
	 * the last one present */
	d.len -= strlen("/four") + 1;
	img = core_with_nt_file_payload(d.p, d.len, &size);
	c = parse_ok(img, size);
	ck_assert_uint_eq(c->nfiles, 1);
	ck_assert_str_eq(c->files[0].path, "/one");
	pl_core_free(c);
	free(img);
	cb_free(&d);
}
END_TEST

START_TEST(nt_file_offset_overflow)
{
	/* pgoff * page_size overflows: no wrapped offset; page size 0 */
	const struct cr_file files[] = {
		{ 0x1000, 0x2000, UINT64_C(1) << 60, "/big" },
		{ 0x3000, 0x4000, 7, "/seven" },
	};
	struct cbuf d;
	cb_init(&d);
	cr_nt_file(&d, 4096, files, 2);
	size_t size;
	uint8_t *img = core_with_nt_file_payload(d.p, d.len, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert_uint_eq(c->nfiles, 2);
	ck_assert_uint_eq(c->files[0].offset, 0);
	ck_assert_uint_eq(c->files[1].offset, 7 * 4096);
	pl_core_free(c);
	free(img);
	cb_free(&d);

	cb_init(&d);
	cr_nt_file(&d, 0, files + 1, 1);
	img = core_with_nt_file_payload(d.p, d.len, &size);
	c = parse_ok(img, size);
	ck_assert_uint_eq(c->nfiles, 1);
	ck_assert_uint_eq(c->files[0].offset, 0);
	pl_core_free(c);
	free(img);
	cb_free(&d);
}
END_TEST

START_TEST(nt_file_second_note_ignored)
{
	struct cbuf n, d;
	cb_init(&n);
	cb_init(&d);
	cr_nt_file(&d, 4096, std_files, 1);
	cb_note(&n, "CORE", NT_FILE, d.p, d.len);
	d.len = 0;
	cr_nt_file(&d, 4096, std_files + 1, 2);
	cb_note(&n, "CORE", NT_FILE, d.p, d.len);
	size_t size;
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert_uint_eq(c->nfiles, 1);
	ck_assert_str_eq(c->files[0].path, std_files[0].name);
	pl_core_free(c);
	free(img);
	cb_free(&n);
	cb_free(&d);
}
END_TEST

static void add_prstatus(struct cbuf *n, int32_t tid, int16_t sig)
{
	uint8_t pr[CR_PRSTATUS_SIZE];
	uint64_t regs[27];
	std_regs(regs, (uint64_t)tid << 8, 0, 0x400000 + (uint64_t)tid, 0x7ff0000 + (uint64_t)tid);
	cr_prstatus(pr, sizeof(pr), sig, tid, regs, 27);
	cb_note(n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
}

static void add_siginfo(struct cbuf *n)
{
	uint8_t si[CR_SIGINFO_SIZE];
	cr_siginfo(si, SIGBUS, 0, 2, 0x1234);
	cb_note(n, "CORE", NT_SIGINFO, si, sizeof(si));
}

START_TEST(note_descsz_past_end)
{
	struct cbuf n;
	cb_init(&n);
	add_prstatus(&n, 100, 0);
	cb_note_hdr(&n, 5, 0x7ffffff0, NT_PRPSINFO);
	cb_put(&n, "CORE\0\0\0", 8);
	cb_zero(&n, 64);
	add_prstatus(&n, 101, SIGSEGV);    /* inside the bogus note: never seen */
	add_siginfo(&n);
	size_t size;
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	uint8_t *copy = cr_dup(img, size);
	free(img);
	struct pl_core *c = parse_ok(copy, size);
	ck_assert_uint_eq(c->nthreads, 1);
	ck_assert_int_eq(c->threads[0].tid, 100);
	ck_assert(!c->has_prpsinfo);
	ck_assert(!c->has_siginfo);
	ck_assert_uint_eq(c->nsegs, 1);
	pl_core_free(c);
	free(copy);
	cb_free(&n);

	/* descsz = 0xffffffff: the padded size wraps to 0 in 32 bits */
	cb_init(&n);
	add_prstatus(&n, 200, 0);
	cb_note_hdr(&n, 5, 0xffffffff, NT_PRSTATUS);
	cb_put(&n, "CORE\0\0\0", 8);
	add_prstatus(&n, 201, 0);
	img = core_with_notes(EM_X86_64, &n, &size);
	copy = cr_dup(img, size);
	free(img);
	c = parse_ok(copy, size);
	ck_assert_uint_eq(c->nthreads, 1);
	ck_assert_int_eq(c->threads[0].tid, 200);
	pl_core_free(c);
	free(copy);
	cb_free(&n);
}
END_TEST

START_TEST(note_namesz_past_end)
{
	struct cbuf n;
	cb_init(&n);
	add_prstatus(&n, 300, 0);
	cb_note_hdr(&n, 0xfffffff0, 0, NT_PRSTATUS);
	cb_put(&n, "CORE\0\0\0", 8);
	add_prstatus(&n, 301, 0);
	size_t size;
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	uint8_t *copy = cr_dup(img, size);
	free(img);
	struct pl_core *c = parse_ok(copy, size);
	ck_assert_uint_eq(c->nthreads, 1);
	ck_assert_int_eq(c->threads[0].tid, 300);
	pl_core_free(c);
	free(copy);
	cb_free(&n);

	/* namesz just one past the end of the segment */
	cb_init(&n);
	add_prstatus(&n, 400, 0);
	size_t at = n.len;
	cb_note_hdr(&n, 0, 0, NT_PRSTATUS);
	cb_put(&n, "CORE", 4);
	Elf64_Nhdr nh = { .n_namesz = (uint32_t)(n.len - at - sizeof(nh) + 1), .n_descsz = 0,
			  .n_type = NT_PRSTATUS };
	memcpy(n.p + at, &nh, sizeof(nh));
	img = core_with_notes(EM_X86_64, &n, &size);
	copy = cr_dup(img, size);
	free(img);
	c = parse_ok(copy, size);
	ck_assert_uint_eq(c->nthreads, 1);
	ck_assert_int_eq(c->threads[0].tid, 400);
	pl_core_free(c);
	free(copy);
	cb_free(&n);
}
END_TEST

START_TEST(note_header_cut)
{
	/* the segment ends in the middle of a note header */
	struct cbuf n;
	cb_init(&n);
	add_prstatus(&n, 500, SIGILL);
	cb_put(&n, "\x05\0\0\0\x50", 5);
	size_t size;
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	uint8_t *copy = cr_dup(img, size);
	free(img);
	struct pl_core *c = parse_ok(copy, size);
	ck_assert_uint_eq(c->nthreads, 1);
	ck_assert_int_eq(pl_core_crashing_thread(c)->cursig, SIGILL);
	pl_core_free(c);
	free(copy);
	cb_free(&n);
}
END_TEST

START_TEST(note_zero_length_prstatus)
{
	struct cbuf n;
	cb_init(&n);
	cb_note(&n, "CORE", NT_PRSTATUS, NULL, 0);
	add_prstatus(&n, 600, 0);
	cb_note(&n, "CORE", NT_PRSTATUS, NULL, 0);
	cb_note(&n, "CORE", NT_PRPSINFO, NULL, 0);
	cb_note(&n, "CORE", NT_SIGINFO, NULL, 0);
	cb_note(&n, "CORE", NT_AUXV, NULL, 0);
	size_t size;
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	uint8_t *copy = cr_dup(img, size);
	free(img);
	struct pl_core *c = parse_ok(copy, size);
	ck_assert_uint_eq(c->nthreads, 1);
	ck_assert_int_eq(c->threads[0].tid, 600);
	ck_assert_ptr_eq(pl_core_crashing_thread(c), &c->threads[0]);
	ck_assert(!c->has_prpsinfo);
	ck_assert(!c->has_siginfo);
	ck_assert_uint_eq(c->nauxv, 0);
	ck_assert_uint_eq(pl_core_auxv(c, AT_PAGESZ), 0);
	pl_core_free(c);
	free(copy);
	cb_free(&n);
}
END_TEST

START_TEST(note_short_payloads)
{
	struct cbuf n;
	cb_init(&n);
	uint8_t buf[CR_PRSTATUS_SIZE];
	uint64_t regs[27];
	std_regs(regs, 0x700, 0x11, 0x22, 0x33);

	/* shorter than pr_reg: ignored */
	cr_prstatus(buf, 100, SIGSEGV, 701, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, buf, 100);
	/* exactly up to pr_reg: a thread with no registers */
	cr_prstatus(buf, 112, 0, 702, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, buf, 112);
	/* one register: pc/sp unknown */
	cr_prstatus(buf, 120, SIGTRAP, 703, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, buf, 120);
	/* prpsinfo and siginfo one byte short */
	uint8_t ps[CR_PRPSINFO_SIZE];
	cr_prpsinfo(ps, 5, 6, 7, "x", "y");
	cb_note(&n, "CORE", NT_PRPSINFO, ps, sizeof(ps) - 1);
	uint8_t si[CR_SIGINFO_SIZE];
	cr_siginfo(si, SIGSEGV, 0, 1, 0x10);
	cb_note(&n, "CORE", NT_SIGINFO, si, 23);
	/* auxv of 2.5 entries */
	const uint64_t auxv[5] = { AT_PAGESZ, 16384, AT_HWCAP, 0xff, AT_ENTRY };
	cb_note(&n, "CORE", NT_AUXV, auxv, sizeof(auxv));

	size_t size;
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	uint8_t *copy = cr_dup(img, size);
	free(img);
	struct pl_core *c = parse_ok(copy, size);
	ck_assert_uint_eq(c->nthreads, 2);
	ck_assert_int_eq(c->threads[0].tid, 702);
	ck_assert_uint_eq(c->threads[0].nregs, 0);
	ck_assert_uint_eq(c->threads[0].pc, 0);
	ck_assert_int_eq(c->threads[1].tid, 703);
	ck_assert_int_eq(c->threads[1].cursig, SIGTRAP);
	ck_assert_uint_eq(c->threads[1].nregs, 1);
	ck_assert_uint_eq(c->threads[1].regs[0], 0x700);
	ck_assert_uint_eq(c->threads[1].pc, 0);
	ck_assert_uint_eq(c->threads[1].sp, 0);
	ck_assert(!c->has_prpsinfo);
	ck_assert(!c->has_siginfo);
	ck_assert_uint_eq(c->nauxv, 2);
	ck_assert_uint_eq(pl_core_auxv(c, AT_PAGESZ), 16384);
	ck_assert_uint_eq(pl_core_auxv(c, AT_HWCAP), 0xff);
	ck_assert_uint_eq(pl_core_auxv(c, AT_ENTRY), 0);
	pl_core_free(c);
	free(copy);
	cb_free(&n);
}
END_TEST

START_TEST(note_other_namespaces_ignored)
{
	struct cbuf n;
	cb_init(&n);
	uint8_t pr[CR_PRSTATUS_SIZE];
	uint64_t regs[27] = { 0 };
	cr_prstatus(pr, sizeof(pr), SIGSEGV, 801, regs, 27);
	cb_note(&n, "LINUX", NT_PRSTATUS, pr, sizeof(pr));
	cb_note(&n, "COR", NT_PRSTATUS, pr, sizeof(pr));
	cb_note(&n, "CORE2", NT_PRSTATUS, pr, sizeof(pr));
	cb_note(&n, NULL, NT_PRSTATUS, pr, sizeof(pr));
	cb_note(&n, "CORE", 0x4711, pr, sizeof(pr));   /* unknown type */
	add_prstatus(&n, 802, 0);
	size_t size;
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert_uint_eq(c->nthreads, 1);
	ck_assert_int_eq(c->threads[0].tid, 802);
	pl_core_free(c);
	free(img);
	cb_free(&n);
}
END_TEST

START_TEST(note_two_auxv_last_wins)
{
	struct cbuf n;
	cb_init(&n);
	cb_note(&n, "CORE", NT_AUXV, (uint64_t[]){ AT_PAGESZ, 4096, AT_BASE, 1 }, 32);
	cb_note(&n, "CORE", NT_AUXV, (uint64_t[]){ AT_PAGESZ, 65536 }, 16);
	size_t size;
	uint8_t *img = core_with_notes(EM_X86_64, &n, &size);
	struct pl_core *c = parse_ok(img, size);
	ck_assert_uint_eq(c->nauxv, 1);
	ck_assert_uint_eq(pl_core_auxv(c, AT_PAGESZ), 65536);
	ck_assert_uint_eq(pl_core_auxv(c, AT_BASE), 0);
	pl_core_free(c);
	free(img);
	cb_free(&n);
}
END_TEST

START_TEST(garbage_notes_never_crash)
{
	/* The standard core with bytes of its note segment overwritten by
	 * pseudo-random values, one region at a time: parsing must either fail
	 * cleanly or succeed with sane values. Run under valgrind. */
	size_t size;
	struct std_layout lay;
	uint8_t *img = std_core(&size, &lay);
	const size_t note_off = lay.ph[STD_NOTE].offset;
	const size_t note_len = lay.ph[STD_NOTE].filesz;
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (size_t pos = 0; pos < note_len; pos += 4) {
		uint8_t *copy = cr_dup(img, size);
		for (size_t k = 0; k < 4 && pos + k < note_len; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			copy[note_off + pos + k] = (uint8_t)(k == 0 && (pos & 4) ? 0xff : x);
		}
		struct pl_core *c = NULL;
		struct pl_error *err = pl_core_from_memory(copy, size, "garbage.core", &c);
		if (err) {
			ck_assert_int_eq(err->kind, PL_E_CORE);
			ck_assert_ptr_nonnull(strstr(err->msg, "garbage.core"));
			ck_assert_ptr_null(c);
			pl_error_free(err);
		} else {
			ck_assert_uint_eq(c->nsegs, 4);
			/* at most one thread per "CORE" note in the segment */
			ck_assert_uint_le(c->nthreads, N_COUNT);
			for (size_t f = 0; f < c->nfiles; f++) {
				ck_assert_ptr_nonnull(c->files[f].path);
				ck_assert_uint_gt(c->files[f].end, c->files[f].start);
			}
			ck_assert_uint_le(strlen(c->fname), 16);
			ck_assert_uint_le(strlen(c->psargs), 80);
			pl_core_free(c);
		}
		free(copy);
	}
	free(img);
}
END_TEST

static Suite *elfcore_suite(void)
{
	Suite *s = suite_create("elfcore");
	TCase *tc = tcase_create("valid");
	tcase_add_test(tc, valid_segments);
	tcase_add_test(tc, valid_threads);
	tcase_add_test(tc, valid_prpsinfo_auxv_siginfo);
	tcase_add_test(tc, valid_nt_file);
	tcase_add_test(tc, valid_exact_size_copy);
	tcase_add_test(tc, crashing_thread_fallbacks);
	tcase_add_test(tc, aarch64_thread);
	tcase_add_test(tc, prpsinfo_full_width_strings);
	tcase_add_test(tc, segment_filtering);
	tcase_add_test(tc, segment_data_outside_file);
	tcase_add_test(tc, note_segment_clipped_or_outside);
	tcase_add_test(tc, open_from_file);
	tcase_add_test(tc, signal_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, err_empty);
	tcase_add_test(tc, err_not_elf);
	tcase_add_test(tc, err_32bit);
	tcase_add_test(tc, err_big_endian);
	tcase_add_test(tc, err_not_core);
	tcase_add_test(tc, err_machine);
	tcase_add_test(tc, err_phdrs_beyond_end);
	tcase_add_test(tc, err_phdrs_cut_message);
	tcase_add_test(tc, err_short_header);
	tcase_add_test(tc, err_no_load);
	suite_add_tcase(s, tc);

	tc = tcase_create("truncation");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, truncated_every_byte);
	tcase_add_test(tc, truncated_missing_bytes_examples);
	suite_add_tcase(s, tc);

	tc = tcase_create("damaged_notes");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, nt_file_count_too_large);
	tcase_add_test(tc, nt_file_names_unterminated);
	tcase_add_test(tc, nt_file_empty_ranges_skipped);
	tcase_add_test(tc, nt_file_offset_overflow);
	tcase_add_test(tc, nt_file_second_note_ignored);
	tcase_add_test(tc, note_descsz_past_end);
	tcase_add_test(tc, note_namesz_past_end);
	tcase_add_test(tc, note_header_cut);
	tcase_add_test(tc, note_zero_length_prstatus);
	tcase_add_test(tc, note_short_payloads);
	tcase_add_test(tc, note_other_namespaces_ignored);
	tcase_add_test(tc, note_two_auxv_last_wins);
	tcase_add_test(tc, garbage_notes_never_crash);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(elfcore_suite());
}
