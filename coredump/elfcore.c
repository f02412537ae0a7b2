#include "config.h"
#include "elfcore.h"
#include "decompress.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Offsets inside the Linux note payloads for LP64 targets (x86-64 and aarch64
 * share the layouts of elf_prstatus up to pr_reg, elf_prpsinfo and siginfo).
 * These are kernel ABI, not CPython internals. */
enum {
	PRSTATUS_CURSIG = 12, PRSTATUS_PID = 32, PRSTATUS_REG = 112,
	PRPSINFO_UID = 16, PRPSINFO_PID = 24, PRPSINFO_PPID = 28,
	PRPSINFO_FNAME = 40, PRPSINFO_PSARGS = 56, PRPSINFO_SIZE = 136,
	SIGINFO_ADDR = 16,
};

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static void fill_stop(const struct pl_core *c);

void pl_core_free(struct pl_core *c)
{
	if (!c)
		return;
	fill_stop(c);
	free(c->filler);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i].path);
	free(c->files);
	free(c->segs);
	free(c->threads);
	free(c->auxv);
	if (c->owns_map && c->map)
		munmap((void *)c->map, c->size);
	free(c->path);
	free(c);
}

static struct pl_error *parse_nt_file(struct pl_core *c, const uint8_t *d, size_t n)
{
	if (n < 16)
		return pl_error(PL_E_CORE, "%s: NT_FILE note is too short (%zu bytes)", c->path, n);
	uint64_t count = rd64(d), pagesz = rd64(d + 8);
	if (count > (n - 16) / 24)
		return pl_error(PL_E_CORE, "%s: NT_FILE note claims %llu files in %zu bytes",
				c->path, (unsigned long long)count, n);
	c->files = calloc(count ? count : 1, sizeof(*c->files));
	if (!c->files)
		return pl_error(PL_E_NOMEM, "out of memory reading NT_FILE");
	const uint8_t *names = d + 16 + count * 24, *end = d + n;
	for (uint64_t i = 0; i < count; i++) {
		const uint8_t *e = d + 16 + i * 24;
		struct pl_core_file *f = &c->files[c->nfiles];
		f->start = rd64(e);
		f->end = rd64(e + 8);
		uint64_t pg = rd64(e + 16);
		f->offset = pagesz && pg <= UINT64_MAX / pagesz ? pg * pagesz : 0;
		const uint8_t *z = names < end ? memchr(names, 0, (size_t)(end - names)) : NULL;
		if (!z)
			break;  /* names cut short: keep what we have */
		f->path = strndup((const char *)names, (size_t)(z - names));
		if (!f->path)
			return pl_error(PL_E_NOMEM, "out of memory reading NT_FILE");
		names = z + 1;
		if (f->end > f->start)
			c->nfiles++;
		else
			free(f->path);
	}
	c->has_nt_file = true;
	return NULL;
}

static struct pl_error *add_thread(struct pl_core *c, const uint8_t *d, size_t n)
{
	if (n < PRSTATUS_REG)
		return NULL;  /* unusable, ignore */
	struct pl_core_thread *t = realloc(c->threads, (c->nthreads + 1) * sizeof(*t));
	if (!t)
		return pl_error(PL_E_NOMEM, "out of memory reading threads");
	c->threads = t;
	t = &t[c->nthreads++];
	memset(t, 0, sizeof(*t));
	t->cursig = (int16_t)rd16(d + PRSTATUS_CURSIG);
	t->tid = (int32_t)rd32(d + PRSTATUS_PID);
	size_t nregs = (n - PRSTATUS_REG) / 8;
	if (nregs > 34)
		nregs = 34;
	for (size_t i = 0; i < nregs; i++)
		t->regs[i] = rd64(d + PRSTATUS_REG + 8 * i);
	t->nregs = (unsigned)nregs;
	if (c->machine == EM_X86_64 && nregs >= 27) {
		/* user_regs_struct: rbp 4, rip 16, rsp 19 */
		t->fp = t->regs[4];
		t->pc = t->regs[16];
		t->sp = t->regs[19];
	} else if (c->machine == EM_AARCH64 && nregs >= 33) {
		t->fp = t->regs[29];
		t->sp = t->regs[31];
		t->pc = t->regs[32];
	}
	return NULL;
}

static struct pl_error *parse_notes(struct pl_core *c, const uint8_t *d, size_t n)
{
	Elf_Data data = { .d_buf = (void *)d, .d_size = n, .d_type = ELF_T_NHDR,
			  .d_version = EV_CURRENT };
	size_t off = 0;
	GElf_Nhdr nh;
	size_t name_off, desc_off;
	struct pl_error *err = NULL;
	while (off < n) {
		size_t next = gelf_getnote(&data, off, &nh, &name_off, &desc_off);
		if (next == 0 || next <= off)
			break;  /* malformed tail: stop, keep what was read */
		off = next;
		if (desc_off > n || nh.n_descsz > n - desc_off)
			break;
		const char *name = nh.n_namesz ? (const char *)d + name_off : "";
		const uint8_t *desc = d + desc_off;
		size_t dn = nh.n_descsz;
		bool core_ns = nh.n_namesz == 5 && memcmp(name, "CORE", 5) == 0;
		if (!core_ns)
			continue;
		switch (nh.n_type) {
		case NT_PRSTATUS:
			err = add_thread(c, desc, dn);
			break;
		case NT_PRPSINFO:
			if (dn >= PRPSINFO_SIZE) {
				c->has_prpsinfo = true;
				c->uid = rd32(desc + PRPSINFO_UID);
				c->pid = (int32_t)rd32(desc + PRPSINFO_PID);
				c->ppid = (int32_t)rd32(desc + PRPSINFO_PPID);
				memcpy(c->fname, desc + PRPSINFO_FNAME, 16);
				c->fname[16] = 0;
				memcpy(c->psargs, desc + PRPSINFO_PSARGS, 80);
				c->psargs[80] = 0;
			}
			break;
		case NT_AUXV: {
			size_t k = dn / 16;
			free(c->auxv);
			c->auxv = calloc(k ? 2 * k : 1, 8);
			if (!c->auxv)
				return pl_error(PL_E_NOMEM, "out of memory reading auxv");
			memcpy(c->auxv, desc, k * 16);
			c->nauxv = k;
			break;
		}
		case NT_SIGINFO:
			if (dn >= SIGINFO_ADDR + 8) {
				c->has_siginfo = true;
				c->sig_signo = (int32_t)rd32(desc);
				c->sig_errno = (int32_t)rd32(desc + 4);
				c->sig_code = (int32_t)rd32(desc + 8);
				c->sig_addr = rd64(desc + SIGINFO_ADDR);
			}
			break;
		case NT_FILE:
			if (!c->has_nt_file)
				err = parse_nt_file(c, desc, dn);
			break;
		}
		if (err)
			return err;
	}
	return NULL;
}

static struct pl_error *parse(struct pl_core *c)
{
	const char *packed = pl_compression_detect(c->map, c->size);
	if (packed && c->compression)
		return pl_error(PL_E_CORE, "%s: its %s data decompresses to %s-compressed data; "
				"decompress the outer layer by hand and give the result", c->path,
				c->compression, packed);
	if (packed)
		return pl_error(PL_E_CORE, "%s is %s-compressed data in memory; only a core given "
				"as a file is decompressed", c->path, packed);
	if (c->size < SELFMAG || memcmp(c->map, ELFMAG, SELFMAG) != 0)
		return pl_error(PL_E_CORE, "%s is not an ELF file (no \\177ELF magic); give the core "
				"dump of the Python process", c->path);
	if (c->size < sizeof(Elf64_Ehdr))
		return pl_error(PL_E_CORE, "%s is truncated: %zu bytes, shorter than an ELF header; "
				"copy the whole core again or take a new one", c->path, c->size);
	if (c->map[EI_CLASS] != ELFCLASS64 || c->map[EI_DATA] != ELFDATA2LSB) {
		const char *cls = c->map[EI_CLASS] == ELFCLASS32 ? "32-bit" :
				  c->map[EI_CLASS] == ELFCLASS64 ? "64-bit" : "invalid-class";
		const char *dat = c->map[EI_DATA] == ELFDATA2MSB ? "big-endian" :
				  c->map[EI_DATA] == ELFDATA2LSB ? "little-endian" : "invalid-byte-order";
		return pl_error(PL_E_CORE, "%s is a %s %s ELF file; only 64-bit little-endian cores "
				"(x86-64, aarch64) are supported", c->path, cls, dat);
	}
	Elf64_Ehdr eh;
	memcpy(&eh, c->map, sizeof(eh));
	if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT)
		return pl_error(PL_E_CORE, "%s has an unknown ELF version %u; it is damaged",
				c->path, eh.e_ident[EI_VERSION]);
	if (eh.e_type != ET_CORE)
		return pl_error(PL_E_CORE, "%s is an ELF %s, not a core dump; give the core file first "
				"and the executable second", c->path,
				eh.e_type == ET_EXEC ? "executable" :
				eh.e_type == ET_DYN ? "shared object or PIE executable" :
				eh.e_type == ET_REL ? "object file" : "file of unknown type");
	c->machine = eh.e_machine;
	if (c->machine != EM_X86_64 && c->machine != EM_AARCH64)
		return pl_error(PL_E_CORE, "%s: unsupported machine %u (x86-64 and aarch64 are supported)",
				c->path, c->machine);

	if (elf_version(EV_CURRENT) == EV_NONE)
		return pl_error(PL_E_INTERNAL, "libelf: %s", elf_errmsg(-1));
	Elf *elf = elf_memory((char *)c->map, c->size);
	if (!elf)
		return pl_error(PL_E_CORE, "%s: cannot parse ELF: %s", c->path, elf_errmsg(-1));
	/* libelf clamps the header count to what fits in the file, so check the
	 * raw count ourselves: a cut table is truncation, not "no segments". */
	size_t phnum = eh.e_phnum;
	struct pl_error *err = NULL;
	if (phnum == PN_XNUM && elf_getphdrnum(elf, &phnum) != 0)
		phnum = 0;
	if (phnum == 0) {
		err = pl_error(PL_E_CORE, "%s has no program headers; it is not a usable core dump",
			       c->path);
		goto out;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
		err = pl_error(PL_E_CORE, "%s has program headers of %u bytes (expected %zu); it is "
			       "damaged", c->path, eh.e_phentsize, sizeof(Elf64_Phdr));
		goto out;
	}
	if (eh.e_phoff > c->size || phnum > (c->size - eh.e_phoff) / sizeof(Elf64_Phdr)) {
		err = pl_error(PL_E_CORE, "%s is truncated: its %zu program headers at offset %llu "
			       "end past the end of the file (%zu bytes)", c->path, phnum,
			       (unsigned long long)eh.e_phoff, c->size);
		goto out;
	}
	c->segs = calloc(phnum, sizeof(*c->segs));
	if (!c->segs) {
		err = pl_error(PL_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph)) {
			err = pl_error(PL_E_CORE, "%s: program header %zu is unreadable: %s", c->path,
				       i, elf_errmsg(-1));
			goto out;
		}
		if (ph.p_type == PT_NOTE) {
			if (ph.p_offset >= c->size || ph.p_filesz > c->size - ph.p_offset)
				c->notes_cut = true;
			if (ph.p_offset >= c->size)
				continue;
			size_t n = ph.p_filesz;
			if (n > c->size - ph.p_offset)
				n = c->size - ph.p_offset;
			err = parse_notes(c, c->map + ph.p_offset, n);
			if (err)
				goto out;
		} else if (ph.p_type == PT_LOAD) {
			if (ph.p_memsz == 0 || ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
				continue;
			struct pl_core_segment *s = &c->segs[c->nsegs++];
			s->vaddr = ph.p_vaddr;
			s->memsz = ph.p_memsz;
			s->offset = ph.p_offset;
			s->filesz = ph.p_filesz < ph.p_memsz ? ph.p_filesz : ph.p_memsz;
			s->flags = ph.p_flags;
			if (s->offset >= c->size)
				s->avail = 0;
			else
				s->avail = s->filesz < c->size - s->offset ? s->filesz : c->size - s->offset;
			c->missing_bytes += s->filesz - s->avail;
		}
	}
	if (c->nsegs == 0)
		err = pl_error(PL_E_CORE, "%s has no memory segments (PT_LOAD); it is not a usable "
			       "core dump", c->path);
out:
	elf_end(elf);
	return err;
}

static struct pl_error *from_memory(const void *buf, size_t size, const char *name,
				    const char *compression, struct pl_core **out)
{
	*out = NULL;
	struct pl_core *c = calloc(1, sizeof(*c));
	if (!c)
		return pl_error(PL_E_NOMEM, "out of memory");
	c->path = strdup(name ? name : "<memory>");
	c->map = buf;
	c->size = size;
	c->compression = compression;
	struct pl_error *err = c->path ? parse(c) : pl_error(PL_E_NOMEM, "out of memory");
	if (err) {
		pl_core_free(c);
		return err;
	}
	*out = c;
	return NULL;
}

struct pl_error *pl_core_from_memory(const void *buf, size_t size, const char *name,
				     struct pl_core **out)
{
	return from_memory(buf, size, name, NULL, out);
}

/* A parse error about decompressed data: say that it was decompressed, and
 * whether the compressed data ended early. The parser's message starts with
 * the path, then "is ...", "has ..." or ": ...". */
static struct pl_error *decompressed_error(struct pl_error *err, const char *path,
					   const struct pl_decompressed *d)
{
	if (err->kind != PL_E_CORE)
		return err;
	const char *why = err->msg;
	size_t n = strlen(path);
	if (strncmp(why, path, n) == 0)
		why += n;
	bool colon = why[0] == ':';
	why += strspn(why, ": ");
	struct pl_error *e;
	if (d->truncated)
		e = pl_error(PL_E_CORE, "%s: its %s data is truncated (it ends after %zu decompressed "
			     "bytes), and what decompresses %s%s", path, d->format, d->size,
			     colon ? "fails: " : "", why);
	else
		e = pl_error(PL_E_CORE, "%s: its %s data decompresses to %zu bytes, but what it holds "
			     "%s%s", path, d->format, d->size, colon ? "fails: " : "", why);
	pl_error_free(err);
	return e;
}

/* map is the whole compressed file; it is unmapped here. */
static struct pl_error *open_compressed(const char *path, void *map, size_t size,
					struct pl_core **out)
{
	madvise(map, size, MADV_SEQUENTIAL);
	struct pl_decompressed d;
	struct pl_error *err = pl_decompress(map, size, path, 0, PL_DECOMPRESS_DROP_INPUT, &d);
	munmap(map, size);
	if (err)
		return err;
	err = from_memory(d.map, d.size, path, d.format, out);
	if (err) {
		munmap(d.map, d.size);
		return decompressed_error(err, path, &d);
	}
	(*out)->owns_map = true;
	(*out)->compressed_size = size;
	(*out)->compressed_truncated = d.truncated;
	return NULL;
}

struct pl_error *pl_core_open(const char *path, struct pl_core **out)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return pl_error(PL_E_CORE, "cannot open core %s: %s; give the path of the core dump "
				"file", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pl_error(PL_E_CORE, "%s is not a regular file; give the path of a core dump "
				"file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return pl_error(PL_E_CORE, "%s is empty; the core dump was not written (check "
				"ulimit -c and /proc/sys/kernel/core_pattern)", path);
	}
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return pl_error(PL_E_CORE, "cannot map core %s: %s", path, strerror(errno));
	if (pl_compression_detect(map, (size_t)st.st_size))
		return open_compressed(path, map, (size_t)st.st_size, out);
	madvise(map, (size_t)st.st_size, MADV_RANDOM);
	struct pl_error *err = pl_core_from_memory(map, (size_t)st.st_size, path, out);
	if (err) {
		munmap(map, (size_t)st.st_size);
		return err;
	}
	(*out)->owns_map = true;
	return NULL;
}

uint64_t pl_core_auxv(const struct pl_core *c, uint64_t type)
{
	for (size_t i = 0; i < c->nauxv; i++)
		if (c->auxv[2 * i] == type)
			return c->auxv[2 * i + 1];
	return 0;
}

/* Is the core's data a read-only mapping of the file, whose pages come
 * from the page cache? (A decompressed core's anonymous mapping would come
 * back zeroed once given back.) */
static bool file_pages(const struct pl_core *c)
{
	return c->owns_map && !c->compression && c->map;
}

struct pl_core_filler {
	pthread_t tid;
	_Atomic bool running;
	_Atomic bool stop;
	const struct pl_core *core;
};

/* Bytes mapped in at a time. Each call holds the address space's lock
 * while it maps: the set-up's own mmap and brk calls wait for it, and with
 * 8 MiB at a time the set-up took 15 to 20 ms longer. */
#define FILL_STEP ((size_t)64 << 10)

static void *fill_thread(void *arg)
{
	struct pl_core_filler *f = arg;
	const uint8_t *m = f->core->map, *end = m + f->core->size;
	while (m < end && !atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		const uint8_t *next = (size_t)(end - m) < FILL_STEP ? end : m + FILL_STEP;
		pl_core_populate(f->core, m, next);
		m = next;
	}
	return NULL;
}

void pl_core_fill_start(struct pl_core *c)
{
#ifdef MADV_POPULATE_READ   /* (else pl_core_populate does nothing) */
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	if (!file_pages(c) || c->filler || pages <= 0 || page <= 0 ||
	    c->size > (uint64_t)pages * (uint64_t)page / 2)
		return;
	struct pl_core_filler *f = calloc(1, sizeof(*f));
	if (!f)
		return;
	f->core = c;
	f->running = pthread_create(&f->tid, NULL, fill_thread, f) == 0;
	c->filler = f;
#else
	(void)c;
#endif
}

static void fill_stop(const struct pl_core *c)
{
	struct pl_core_filler *f = c->filler;
	/* (a second caller meanwhile goes on: the pages it gives back may be
	 * mapped in again, which changes no data) */
	if (!f || !atomic_exchange(&f->running, false))
		return;
	atomic_store_explicit(&f->stop, true, memory_order_relaxed);
	pthread_join(f->tid, NULL);
}

/* Give back the first n bytes' pages of the core's data. */
static void release(const struct pl_core *c, size_t n)
{
	fill_stop(c);
	if (file_pages(c) && n)
		madvise((void *)c->map, n, MADV_DONTNEED);
}

void pl_core_release_pages(const struct pl_core *c)
{
	release(c, c->size);
}

void pl_core_release_below(const struct pl_core *c, const void *data)
{
	const uint8_t *m = c->map, *d = data;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (m && d > m && d <= m + c->size)   /* whole pages only */
		release(c, (size_t)(d - m) / page * page);
}

void pl_core_populate(const struct pl_core *c, const void *from, const void *to)
{
#ifdef MADV_POPULATE_READ
	const uint8_t *m = c->map, *f = from, *t = to;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (!file_pages(c) || f < m || f >= m + c->size)
		return;
	if (t > m + c->size)
		t = m + c->size;
	size_t a = (size_t)(f - m) / page * page, b = (size_t)(t - m);
	madvise((void *)(m + a), b - a, MADV_POPULATE_READ);
#else
	(void)c;
	(void)from;
	(void)to;
#endif
}

int pl_core_signal(const struct pl_core *c, int *thread)
{
	const struct pl_core_thread *ct = pl_core_crashing_thread(c);
	*thread = ct && ct->cursig ? (int)(ct - c->threads) : -1;
	if (c->has_siginfo && c->sig_signo)
		return c->sig_signo;
	return ct ? ct->cursig : 0;
}

bool pl_signal_fatal(int sig)
{
	/* stop signals and SIGTRAP: a dump of a live process (gcore) */
	return sig > 0 && sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU &&
	       sig != SIGTRAP && sig != SIGCONT && sig != SIGCHLD && sig != SIGWINCH && sig != SIGURG;
}

const struct pl_core_thread *pl_core_crashing_thread(const struct pl_core *c)
{
	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].cursig)
			return &c->threads[i];
	return c->nthreads ? &c->threads[0] : NULL;
}

const char *pl_signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGABRT: return "SIGABRT";
	case SIGBUS: return "SIGBUS";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	case SIGKILL: return "SIGKILL";
	case SIGTERM: return "SIGTERM";
	case SIGQUIT: return "SIGQUIT";
	case SIGTRAP: return "SIGTRAP";
	case SIGSTOP: return "SIGSTOP";
	case SIGSYS: return "SIGSYS";
	case SIGINT: return "SIGINT";
	case 0: return "none";
	}
	return "signal";
}
