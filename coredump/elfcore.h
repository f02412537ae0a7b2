/* The ELF core file itself: program headers, notes, threads. Nothing here
 * knows about Python. The file is mapped read-only; every offset taken from it
 * is checked against the file size before use. */
#ifndef PYLEAK_ELFCORE_H
#define PYLEAK_ELFCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct pl_core_segment {
	uint64_t vaddr, memsz;
	uint64_t offset;   /* file offset of the data */
	uint64_t filesz;   /* as the program header says */
	uint64_t avail;    /* bytes of it actually present in the file */
	uint32_t flags;    /* PF_R/PF_W/PF_X */
};

struct pl_core_thread {
	int32_t tid;
	int32_t cursig;
	uint64_t regs[34];
	unsigned nregs;
	/* x86-64: rip/rsp/rbp; aarch64: pc/sp/x29 (0 when unknown) */
	uint64_t pc, sp, fp;
};

struct pl_core_file {      /* one NT_FILE entry */
	uint64_t start, end;
	uint64_t offset;   /* byte offset in the file */
	char *path;
};

struct pl_core_filler;

struct pl_core {
	char *path;
	const uint8_t *map;
	size_t size;
	bool owns_map;
	/* A compressed file (zstd, lz4, xz, gzip: see decompress.h) is read
	 * through an anonymous mapping of its decompressed data: compression
	 * names the format (NULL for a plain core), compressed_size is the size
	 * of the file, compressed_truncated says its data ended early (the core
	 * then usually lacks bytes too: missing_bytes). */
	const char *compression;
	size_t compressed_size;
	bool compressed_truncated;
	uint16_t machine;  /* EM_X86_64, EM_AARCH64 */

	struct pl_core_segment *segs;
	size_t nsegs;
	uint64_t missing_bytes;  /* segment bytes the file should have but lacks */
	bool notes_cut;          /* a PT_NOTE segment lies (partly) past the end */

	struct pl_core_thread *threads;
	size_t nthreads;

	struct pl_core_file *files;
	size_t nfiles;
	bool has_nt_file;

	uint64_t *auxv;    /* (type, value) pairs */
	size_t nauxv;

	bool has_prpsinfo;
	int32_t pid, ppid;
	uint32_t uid;
	char fname[17];
	char psargs[81];

	bool has_siginfo;
	int32_t sig_signo, sig_code, sig_errno;
	uint64_t sig_addr;

	struct pl_core_filler *filler;   /* pl_core_fill_start's thread, if any */
};

/* Open and parse a core; a compressed one is decompressed in memory. On
 * error *out is NULL. */
struct pl_error *pl_core_open(const char *path, struct pl_core **out);
/* Parse a core held in memory (tests, fuzzing). buf must outlive the core.
 * Compressed data is refused here: only pl_core_open decompresses. */
struct pl_error *pl_core_from_memory(const void *buf, size_t size, const char *name,
				     struct pl_core **out);
void pl_core_free(struct pl_core *core);

/* Give back the resident pages of a core read from a file (they are read
 * again from the page cache when touched); nothing for a decompressed core.
 * For when the bulk of the reading is done. */
void pl_core_release_pages(const struct pl_core *c);
/* The same for the core's pages before `data` (a pointer into its data). */
void pl_core_release_below(const struct pl_core *c, const void *data);
/* For a reader about to read the whole core (a census): map its pages in
 * (from the page cache, or the disk) on a thread of its own, meanwhile,
 * front to back. Nothing for a decompressed core, or one larger than half
 * the machine's memory, or where the system cannot. The thread stops (is
 * waited for) before any of the core's pages are given back, and when the
 * core is freed. */
void pl_core_fill_start(struct pl_core *c);
/* Map in (from the page cache) the pages of the core's data from `from`
 * to `to` (pointers into it), for a reader about to read them; nothing
 * for a decompressed core or where the system cannot. */
void pl_core_populate(const struct pl_core *c, const void *from, const void *to);

/* Value of an auxv entry, or 0 when absent. */
uint64_t pl_core_auxv(const struct pl_core *core, uint64_t type);
/* The thread that received the fatal signal (first thread with cursig != 0,
 * else the first thread), or NULL if the core has no threads. */
const struct pl_core_thread *pl_core_crashing_thread(const struct pl_core *core);
const char *pl_signal_name(int sig);
/* The signal the core was dumped for (siginfo, else the crashing thread's
 * cursig; 0 if none) and, in *thread, the index of the core thread that
 * received it, or -1. */
int pl_core_signal(const struct pl_core *c, int *thread);
/* A signal that kills the process (not a stop signal or SIGTRAP, which mark
 * a dump of a live process). */
bool pl_signal_fatal(int sig);

#endif
