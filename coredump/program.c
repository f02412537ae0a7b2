/* Opening a core: files, address space, build-ids, debug info, layout.
 *
 * Why our own code and not libdwfl's core support: libdwfl would find the
 * modules and debug files for us, but it opens the paths the core names with
 * no sysroot policy of ours, reports failures as generic strings, and cannot
 * tell the user which -dbg package or --debug-dir is missing. The work is
 * small (NT_FILE grouping, one build-id note, three lookup rules), so it lives
 * here, and libelf/libdw do the parsing. */
#include "config.h"
#include "program.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dwarf.h"
#include "objects.h"

void pl_warn(struct pl_program *p, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char **w = realloc(p->warnings, (p->nwarnings + 1) * sizeof(*w));
	if (!w)
		return;
	p->warnings = w;
	if ((w[p->nwarnings] = strdup(buf)))
		p->nwarnings++;
}

const char *pl_build_id_hex(const uint8_t *id, unsigned len, char *buf)
{
	if (!len) {
		strcpy(buf, "(none)");
		return buf;
	}
	for (unsigned i = 0; i < len && i < 40; i++)
		sprintf(buf + 2 * i, "%02x", id[i]);
	return buf;
}

void pl_program_free(struct pl_program *p)
{
	if (!p)
		return;
	pl_runtime_release(&p->rt);
	pl_dwarf_free(p->dwarf);
	if (p->debug_elf)
		elf_end(p->debug_elf);
	if (p->debug_map)
		munmap((void *)p->debug_map, p->debug_size);
	free(p->debug_path);
	free(p->debug_how);
	for (size_t i = 0; i < p->nfiles; i++) {
		struct pl_file *f = &p->files[i];
		if (f->elf)
			elf_end(f->elf);
		if (f->map)
			munmap((void *)f->map, f->size);
		pl_dwarf_free(f->dwarf);
		free(f->core_path);
		free(f->disk_path);
		free(f->open_error);
	}
	free(p->files);
	for (size_t i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	pl_as_release(&p->as);
	pl_core_free(p->core);
	free(p);
}

/* Map a regular file read-only: 0 or an errno value. */
static int map_file(const char *path, const uint8_t **map, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		int e = S_ISREG(st.st_mode) ? ENODATA : EINVAL;
		close(fd);
		return e;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int e = errno;
	close(fd);
	if (m == MAP_FAILED)
		return e;
	*map = m;
	*size = (size_t)st.st_size;
	return 0;
}

/* The GNU build-id in a block of ELF notes. */
static unsigned build_id_in_notes(const uint8_t *notes, size_t n, uint8_t *out)
{
	size_t off = 0;
	while (off + 12 <= n) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, notes + off, 4);
		memcpy(&descsz, notes + off + 4, 4);
		memcpy(&type, notes + off + 8, 4);
		size_t name_off = off + 12;
		if (namesz > n || descsz > n)
			return 0;
		size_t desc_off = name_off + ((namesz + 3u) & ~3u);
		if (desc_off > n || descsz > n - desc_off)
			return 0;
		if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(notes + name_off, "GNU", 4) == 0 &&
		    descsz > 0 && descsz <= 40) {
			memcpy(out, notes + desc_off, descsz);
			return descsz;
		}
		off = desc_off + ((descsz + 3u) & ~3u);
	}
	return 0;
}

/* Build-id of an ELF file on disk (from its PT_NOTE segments). */
static unsigned disk_build_id(Elf *elf, uint8_t *out)
{
	size_t phnum;
	if (elf_getphdrnum(elf, &phnum) != 0)
		return 0;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		Elf_Data *d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_BYTE);
		unsigned n = d ? build_id_in_notes(d->d_buf, d->d_size, out) : 0;
		if (n)
			return n;
	}
	/* Separate debug files keep the note as a section only. */
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		Elf_Data *d = elf_rawdata(scn, NULL);
		unsigned n = d && d->d_buf ? build_id_in_notes(d->d_buf, d->d_size, out) : 0;
		if (n)
			return n;
	}
	return 0;
}

/* Build-id of the copy loaded in the process, from core memory only: the ELF
 * header at the file's lowest mapping, then its note segment. */
static unsigned core_build_id(struct pl_as *as, uint64_t base, uint8_t *out)
{
	Elf64_Ehdr eh;
	if (pl_as_read_core(as, base, &eh, sizeof(eh)) != 0 ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum > 256)
		return 0;
	/* The bias of the copy in memory, from its own first PT_LOAD (not from
	 * the file on disk, which may be another build). */
	uint64_t bias = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pl_as_read_core(as, base + eh.e_phoff + i * sizeof(ph), &ph, sizeof(ph)) != 0)
			return 0;
		if (ph.p_type == PT_LOAD) {
			bias = base - (ph.p_vaddr & ~0xfffull);
			break;
		}
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pl_as_read_core(as, base + eh.e_phoff + i * sizeof(ph), &ph, sizeof(ph)) != 0)
			return 0;
		if (ph.p_type != PT_NOTE || ph.p_filesz > 4096)
			continue;
		uint8_t notes[4096];
		if (pl_as_read_core(as, bias + ph.p_vaddr, notes, ph.p_filesz) != 0)
			continue;
		unsigned n = build_id_in_notes(notes, ph.p_filesz, out);
		if (n)
			return n;
	}
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a);
	char *s = malloc(la + strlen(b) + 2);
	if (s)
		sprintf(s, "%s%s%s", a, (la && a[la - 1] == '/') || b[0] == '/' ? "" : "/", b);
	return s;
}

/* An EXECUTABLE argument without a slash that is not a file here is looked up
 * in PATH, as a shell would ("pyleak-core core python3"). */
static char *resolve_exe(const char *exe)
{
	if (strchr(exe, '/') || access(exe, F_OK) == 0) {
		char *r = realpath(exe, NULL);
		return r ? r : strdup(exe);
	}
	const char *path = getenv("PATH");
	if (!path)
		return strdup(exe);
	char *copy = strdup(path);
	char *found = NULL;
	for (char *s = copy, *save = NULL, *d; copy && !found && (d = strtok_r(s, ":", &save)); s = NULL) {
		char *cand = join(d, exe);
		if (cand && access(cand, X_OK) == 0)
			found = realpath(cand, NULL);
		free(cand);
	}
	free(copy);
	return found ? found : strdup(exe);
}

static struct pl_error *group_files(struct pl_program *p)
{
	struct pl_core *c = p->core;
	p->files = calloc(c->nfiles ? c->nfiles : 1, sizeof(*p->files));
	if (!p->files)
		return pl_error(PL_E_NOMEM, "out of memory");
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct pl_core_file *cf = &c->files[i];
		struct pl_file *f = NULL;
		for (size_t j = 0; j < p->nfiles && !f; j++)
			if (strcmp(p->files[j].core_path, cf->path) == 0)
				f = &p->files[j];
		if (!f) {
			f = &p->files[p->nfiles++];
			if (!(f->core_path = strdup(cf->path)))
				return pl_error(PL_E_NOMEM, "out of memory");
			f->lo = cf->start;
			f->hi = cf->end;
		}
		if (cf->start < f->lo)
			f->lo = cf->start;
		if (cf->end > f->hi)
			f->hi = cf->end;
	}
	/* The executable: the file holding the entry point (auxv AT_ENTRY). */
	uint64_t entry = pl_core_auxv(c, AT_ENTRY);
	for (size_t j = 0; j < p->nfiles && entry; j++)
		if (entry >= p->files[j].lo && entry < p->files[j].hi)
			p->main = &p->files[j];
	if (!p->main && p->nfiles)
		p->main = &p->files[0];  /* the kernel lists the executable first */
	if (p->main)
		p->main->is_main = true;
	return NULL;
}

static void open_file(struct pl_program *p, struct pl_file *f)
{
	char *path;
	if (f->is_main && p->opt.exe)
		path = resolve_exe(p->opt.exe);
	else if (strstr(f->core_path, " (deleted)"))
		path = NULL;
	else if (p->opt.sysroot)
		path = join(p->opt.sysroot, f->core_path);
	else
		path = strdup(f->core_path);
	if (!path) {
		f->open_error = strdup("it was deleted from disk after the process mapped it");
		return;
	}
	f->disk_path = path;
	int e = map_file(path, &f->map, &f->size);
	if (e) {
		char buf[600];
		snprintf(buf, sizeof(buf), "cannot open %s: %s", path, strerror(e));
		f->open_error = strdup(buf);
		return;
	}
	if (f->size < SELFMAG || memcmp(f->map, ELFMAG, SELFMAG) != 0)
		return;
	f->elf = elf_memory((char *)f->map, f->size);
	if (!f->elf)
		return;
	f->build_id_len = disk_build_id(f->elf, f->build_id);
	/* Load bias: where the mapping of file offset 0 went, minus the page of
	 * the first PT_LOAD's vaddr. */
	size_t phnum;
	if (elf_getphdrnum(f->elf, &phnum) != 0)
		return;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(f->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		for (size_t k = 0; k < p->core->nfiles; k++) {
			const struct pl_core_file *cf = &p->core->files[k];
			if (cf->offset == (ph.p_offset & ~0xfffull) && strcmp(cf->path, f->core_path) == 0) {
				f->bias = cf->start - (ph.p_vaddr & ~0xfffull);
				f->bias_known = true;
				break;
			}
		}
		break;
	}
}

/* Add the file-backed parts of the address space (after the core's). */
static struct pl_error *map_files(struct pl_program *p)
{
	for (size_t k = 0; k < p->core->nfiles; k++) {
		const struct pl_core_file *cf = &p->core->files[k];
		for (size_t j = 0; j < p->nfiles; j++) {
			struct pl_file *f = &p->files[j];
			if (strcmp(f->core_path, cf->path) != 0 || !f->map)
				continue;
			if (f->build_id_len && f->core_build_id_len &&
			    (f->build_id_len != f->core_build_id_len ||
			     memcmp(f->build_id, f->core_build_id, f->build_id_len) != 0))
				break;  /* a different file now: do not let it answer reads */
			if (cf->offset >= f->size)
				break;
			uint64_t len = cf->end - cf->start;
			if (len > f->size - cf->offset)
				len = f->size - cf->offset;
			struct pl_error *err = pl_as_add(&p->as, cf->start, cf->start + len,
							 f->map + cf->offset, (uint32_t)(j + 1));
			if (err)
				return err;
			break;
		}
	}
	return NULL;
}

int pl_symbol(struct pl_program *p, struct pl_file *f, const char *name, uint64_t *addr,
	      uint64_t *size)
{
	Elf *elfs[2] = { f->elf, f == p->pyfile ? p->debug_elf : NULL };
	for (int k = 0; k < 2; k++) {
		Elf *elf = elfs[k];
		if (!elf)
			continue;
		Elf_Scn *scn = NULL;
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
			    sh.sh_entsize == 0)
				continue;
			Elf_Data *d = elf_getdata(scn, NULL);
			if (!d)
				continue;
			size_t n = sh.sh_size / sh.sh_entsize;
			for (size_t i = 0; i < n; i++) {
				GElf_Sym sym;
				if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_name)
					continue;
				const char *nm = elf_strptr(elf, sh.sh_link, sym.st_name);
				if (nm && strcmp(nm, name) == 0) {
					*addr = sym.st_value + f->bias;
					if (size)
						*size = sym.st_size;
					return 0;
				}
			}
		}
	}
	return -1;
}

void pl_symbols_with_suffix(struct pl_program *p, struct pl_file *f, const char *suffix,
			    void (*fn)(void *ctx, const char *name, uint64_t addr), void *ctx)
{
	size_t sl = strlen(suffix);
	Elf *elfs[2] = { f->elf, f == p->pyfile ? p->debug_elf : NULL };
	for (int k = 0; k < 2; k++) {
		Elf_Scn *scn = NULL;
		while (elfs[k] && (scn = elf_nextscn(elfs[k], scn))) {
			GElf_Shdr sh;
			if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
			    sh.sh_entsize == 0)
				continue;
			Elf_Data *d = elf_getdata(scn, NULL);
			size_t n = d ? sh.sh_size / sh.sh_entsize : 0;
			for (size_t i = 0; i < n; i++) {
				GElf_Sym sym;
				if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
				    sym.st_shndx == SHN_UNDEF)
					continue;
				const char *nm = elf_strptr(elfs[k], sh.sh_link, sym.st_name);
				if (!nm)
					continue;
				/* LTO and gcc clones: "list_traverse.lto_priv.0" is the
				 * function; ".cold"/".part" pieces are not entry points */
				const char *dot = strchr(nm, '.');
				if (dot && (strstr(dot, ".cold") || strstr(dot, ".part")))
					continue;
				size_t l = dot ? (size_t)(dot - nm) : strlen(nm);
				if (l >= sl && l < 256 && memcmp(nm + l - sl, suffix, sl) == 0) {
					char base[256];
					memcpy(base, nm, l);
					base[l] = 0;
					fn(ctx, base, sym.st_value + f->bias);
				}
			}
		}
	}
}

static bool has_section(Elf *elf, const char *name)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return false;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *nm;
		if (gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS &&
		    (nm = elf_strptr(elf, shstrndx, sh.sh_name)) && strcmp(nm, name) == 0)
			return true;
	}
	return false;
}

static const char *debuglink(Elf *elf)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *nm;
		if (!gelf_getshdr(scn, &sh) || !(nm = elf_strptr(elf, shstrndx, sh.sh_name)) ||
		    strcmp(nm, ".gnu_debuglink") != 0)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		if (d && d->d_size > 4 && memchr(d->d_buf, 0, d->d_size))
			return d->d_buf;
	}
	return NULL;
}

/* A candidate debug file for f: it must exist, have DWARF and, when both
 * build-ids are known, match f's (else, when bad_id is given, the file's
 * build-id in hex goes there). The ELF over the mapped file, or NULL. */
static Elf *open_debug(const char *path, const struct pl_file *f, const uint8_t **map,
		       size_t *size, char *bad_id)
{
	if (!path || map_file(path, map, size) != 0)
		return NULL;
	Elf *elf = elf_memory((char *)*map, *size);
	uint8_t id[40];
	unsigned n = elf ? disk_build_id(elf, id) : 0;
	bool ok = elf && has_section(elf, ".debug_info");
	if (ok && n && f->build_id_len &&
	    (n != f->build_id_len || memcmp(id, f->build_id, n) != 0)) {
		if (bad_id)
			pl_build_id_hex(id, n, bad_id);
		ok = false;
	}
	if (!ok) {
		if (elf)
			elf_end(elf);
		munmap((void *)*map, *size);
		return NULL;
	}
	return elf;
}

/* Try one candidate for libpython's debug info. */
static bool try_debug(struct pl_program *p, const char *path, const char *how)
{
	const uint8_t *map;
	size_t size;
	char bad[81] = "";
	Elf *elf = open_debug(path, p->pyfile, &map, &size, bad);
	if (!elf) {
		if (bad[0]) {
			char b[81];
			pl_warn(p, "ignoring debug file %s: build-id %s does not match %s's %s", path, bad,
				p->pyfile->disk_path,
				pl_build_id_hex(p->pyfile->build_id, p->pyfile->build_id_len, b));
		}
		return false;
	}
	p->debug_elf = elf;
	p->debug_map = map;
	p->debug_size = size;
	p->debug_path = strdup(path);
	p->debug_how = strdup(how);
	return true;
}

/* The places f's separate debug info may be, in order, each given to try
 * until it takes one: the build-id under --debug-dir and
 * <sysroot>/usr/lib/debug (.build-id/xx/rest.debug, or xx/rest.debug in a
 * flat directory), then the .gnu_debuglink name beside the file, in its
 * .debug/ and under the same directories. */
static bool each_debug_candidate(struct pl_program *p, const struct pl_file *f,
				 bool (*try)(void *ctx, const char *path, const char *how),
				 void *ctx)
{
	char idhex[81];
	pl_build_id_hex(f->build_id, f->build_id_len, idhex);
	const char *dirs[34];
	size_t nd = 0;
	for (const char **d = p->opt.debug_dirs; d && *d && nd < 32; d++)
		dirs[nd++] = *d;
	char *sysdebug = join(p->opt.sysroot ? p->opt.sysroot : "/", "usr/lib/debug");
	if (sysdebug)
		dirs[nd++] = sysdebug;
	bool found = false;
	for (size_t i = 0; i < nd && !found && f->build_id_len; i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), ".build-id/%.2s/%s.debug", idhex, idhex + 2);
		char *cand = join(dirs[i], rel);
		found = try(ctx, cand, i + 1 < nd || !sysdebug ? "--debug-dir build-id" : "build-id");
		free(cand);
		if (!found) {   /* a flat directory of build-id files */
			snprintf(rel, sizeof(rel), "%.2s/%s.debug", idhex, idhex + 2);
			cand = join(dirs[i], rel);
			found = try(ctx, cand, "--debug-dir build-id");
			free(cand);
		}
	}
	const char *link = debuglink(f->elf);
	if (!found && link) {
		char *dir = strdup(f->disk_path);
		char *slash = dir ? strrchr(dir, '/') : NULL;
		if (slash)
			*slash = 0;
		char *cands[40];
		size_t nc = 0;
		if (dir) {
			cands[nc++] = join(dir, link);
			char sub[512];
			snprintf(sub, sizeof(sub), ".debug/%s", link);
			cands[nc++] = join(dir, sub);
		}
		for (size_t i = 0; i < nd; i++) {
			cands[nc++] = join(dirs[i], link);
			if (dir) {
				char *d2 = join(dirs[i], dir);
				cands[nc++] = d2 ? join(d2, link) : NULL;
				free(d2);
			}
		}
		for (size_t i = 0; i < nc; i++) {
			if (!found)
				found = try(ctx, cands[i], "debuglink");
			free(cands[i]);
		}
		free(dir);
	}
	free(sysdebug);
	return found;
}

static bool try_pydebug(void *ctx, const char *path, const char *how)
{
	return try_debug(ctx, path, how);
}

static struct pl_error *find_debuginfo(struct pl_program *p)
{
	struct pl_file *f = p->pyfile;
	char idhex[81];
	pl_build_id_hex(f->build_id, f->build_id_len, idhex);
	if (has_section(f->elf, ".debug_info")) {
		p->debug_path = strdup(f->disk_path);
		p->debug_how = strdup("embedded");
		return NULL;
	}
	if (each_debug_candidate(p, f, try_pydebug, p))
		return NULL;
	const char *bn = base_name(f->core_path);
	char pkg[64] = "";
	unsigned maj, min;
	if (sscanf(bn, "libpython%u.%u", &maj, &min) == 2 || sscanf(bn, "python%u.%u", &maj, &min) == 2)
		snprintf(pkg, sizeof(pkg), "python%u.%u-dbg", maj, min);
	return pl_error(PL_E_DEBUGINFO,
			"no debug info for %s (build-id %s): install the matching debug package "
			"(Debian/Ubuntu: apt-get install %s) or pass --debug-dir DIR holding "
			".build-id/%.2s/%s.debug",
			f->disk_path, idhex, pkg[0] ? pkg : "python3-dbg", idhex, idhex + 2);
}

/* Another module's debug info (an extension module's), found where
 * libpython's would be, without warnings: NULL when there is none. */
struct other_debug {
	const struct pl_file *f;
	char *path;
};

static bool try_other(void *ctx, const char *path, const char *how)
{
	struct other_debug *o = ctx;
	const uint8_t *map;
	size_t size;
	Elf *elf = open_debug(path, o->f, &map, &size, NULL);
	(void)how;
	if (!elf)
		return false;
	elf_end(elf);
	munmap((void *)map, size);
	o->path = strdup(path);
	return o->path != NULL;
}

struct pl_dwarf *pl_file_dwarf(struct pl_program *p, struct pl_file *f)
{
	if (f == p->pyfile)
		return p->dwarf;
	if (f->dwarf_tried)
		return f->dwarf;
	f->dwarf_tried = true;
	if (!f->elf || !f->disk_path)
		return NULL;
	struct other_debug o = { f, NULL };
	if (has_section(f->elf, ".debug_info"))
		o.path = strdup(f->disk_path);
	else
		each_debug_candidate(p, f, try_other, &o);
	if (o.path) {
		struct pl_error *err = pl_dwarf_open(o.path, &f->dwarf);
		pl_error_free(err);
		free(o.path);
	}
	return f->dwarf;
}

struct pl_file *pl_file_at(struct pl_program *p, uint64_t addr)
{
	for (size_t i = 0; i < p->nfiles; i++)
		if (p->files[i].elf && p->files[i].bias_known && addr >= p->files[i].lo &&
		    addr < p->files[i].hi)
			return &p->files[i];
	return NULL;
}

static bool id_differs(const struct pl_file *f)
{
	return f->build_id_len && f->core_build_id_len &&
	       (f->build_id_len != f->core_build_id_len ||
		memcmp(f->build_id, f->core_build_id, f->build_id_len) != 0);
}

static struct pl_error *check_ids(struct pl_program *p)
{
	if (p->opt.exe && p->main && !p->main->elf)
		return pl_error(PL_E_EXE, "executable %s: %s; give the python binary that produced "
				"the core", p->main->disk_path ? p->main->disk_path : p->opt.exe,
				p->main->open_error ? p->main->open_error : "not an ELF file");
	if (p->opt.exe && !p->main)
		return pl_error(PL_E_EXE, "%s names no executable, so %s cannot be checked against it",
				p->core->path, p->opt.exe);
	for (size_t i = 0; i < p->nfiles; i++) {
		struct pl_file *f = &p->files[i];
		if (!f->elf)
			continue;
		f->core_build_id_len = core_build_id(&p->as, f->lo, f->core_build_id);
		if (!id_differs(f))
			continue;
		char a[81], b[81];
		pl_build_id_hex(f->build_id, f->build_id_len, a);
		pl_build_id_hex(f->core_build_id, f->core_build_id_len, b);
		if (f->is_main && p->opt.exe)
			return pl_error(PL_E_EXE, "%s (build-id %s) is not the executable of this core, "
					"which ran %s (build-id %s); give the same build of Python",
					f->disk_path, a, f->core_path, b);
		pl_warn(p, "%s on disk (build-id %s) differs from the one the process mapped "
			"(build-id %s); not reading it", f->disk_path, a, b);
	}
	return NULL;
}

static struct pl_error *find_python(struct pl_program *p)
{
	uint64_t addr;
	/* libpython first, then the executable (static builds such as Debian's). */
	for (int pass = 0; pass < 2 && !p->pyfile; pass++) {
		for (size_t i = 0; i < p->nfiles && !p->pyfile; i++) {
			struct pl_file *f = &p->files[i];
			bool lib = strncmp(base_name(f->core_path), "libpython", 9) == 0;
			if (!f->elf || (pass == 0 ? !lib : !f->is_main))
				continue;
			if (pl_symbol(p, f, "_PyRuntime", &addr, NULL) == 0)
				p->pyfile = f;
		}
	}
	if (p->pyfile) {
		if (id_differs(p->pyfile)) {
			char a[81], b[81];
			return pl_error(PL_E_EXE, "%s on disk (build-id %s) is not the libpython the process "
					"used (build-id %s); install that build or use --sysroot",
					p->pyfile->disk_path,
					pl_build_id_hex(p->pyfile->build_id, p->pyfile->build_id_len, a),
					pl_build_id_hex(p->pyfile->core_build_id,
							p->pyfile->core_build_id_len, b));
		}
		return NULL;
	}
	/* Say precisely why not. */
	for (size_t i = 0; i < p->nfiles; i++) {
		struct pl_file *f = &p->files[i];
		bool lib = strncmp(base_name(f->core_path), "libpython", 9) == 0;
		if ((lib || f->is_main) && f->open_error && (lib || strstr(base_name(f->core_path), "python")))
			return pl_error(PL_E_EXE, "the core's %s %s is not readable here (%s); copy it "
					"here, give the executable as second argument, or use --sysroot DIR",
					lib ? "libpython" : "executable", f->core_path, f->open_error);
	}
	if (!p->core->has_nt_file && p->core->notes_cut)
		return pl_error(PL_E_CORE, "%s is truncated: its notes (threads, mapped files) were in "
				"the part that was cut off, so even --force cannot read it; copy the "
				"whole core again or take a new one", p->core->path);
	if (!p->core->has_nt_file)
		return pl_error(PL_E_CORE, "%s has no NT_FILE note, so its libraries cannot be found; "
				"cores written by the Linux kernel or gdb's gcore have one", p->core->path);
	return pl_error(PL_E_NOPYTHON, "%s is not a core of a CPython process: neither its "
			"executable (%s) nor any library defines _PyRuntime; give the core of "
			"the Python process", p->core->path, p->main ? p->main->core_path : "unknown");
}

struct pl_error *pl_program_open_core(struct pl_core *core, const struct pl_options *opt,
				      struct pl_program **out)
{
	*out = NULL;
	struct pl_program *p = calloc(1, sizeof(*p));
	if (!p) {
		pl_core_free(core);
		return pl_error(PL_E_NOMEM, "out of memory");
	}
	if (opt)
		p->opt = *opt;
	pl_as_init(&p->as);
	p->core = core;
	struct pl_error *err = NULL;
	if (p->core->missing_bytes || p->core->notes_cut) {
		if (!p->opt.force) {
			if (p->core->missing_bytes && p->core->compression)
				err = pl_error(PL_E_CORE, "%s is truncated: %llu bytes of process memory are "
					       "missing from the end (%s data %s, %zu bytes decompressed); "
					       "copy the whole file again; --force reads what is there",
					       p->core->path, (unsigned long long)p->core->missing_bytes,
					       p->core->compression, p->core->compressed_truncated ?
					       "that ends early" : "of a core that was cut before compression",
					       p->core->size);
			else if (p->core->missing_bytes)
				err = pl_error(PL_E_CORE, "%s is truncated: %llu bytes of process memory are "
					       "missing from the end (file is %zu bytes); the dump was cut short "
					       "(disk full, core size limit, interrupted copy); --force reads "
					       "what is there", p->core->path,
					       (unsigned long long)p->core->missing_bytes, p->core->size);
			else
				err = pl_error(PL_E_CORE, "%s is truncated: its notes (threads, mapped files) "
					       "end past the end of the file (%zu bytes); the dump was cut short; "
					       "--force reads what is there", p->core->path, p->core->size);
			goto fail;
		}
		if (p->core->missing_bytes)
			pl_warn(p, "core is truncated: %llu bytes of memory missing",
				(unsigned long long)p->core->missing_bytes);
		else
			pl_warn(p, "core is truncated: its notes are cut short");
	}
	for (size_t i = 0; i < p->core->nsegs; i++) {
		const struct pl_core_segment *s = &p->core->segs[i];
		if (s->avail && (err = pl_as_add(&p->as, s->vaddr, s->vaddr + s->avail,
						 p->core->map + s->offset, PL_SRC_CORE)))
			goto fail;
		/* What the core should hold but lost to truncation is a hole: the
		 * file on disk must not answer for memory the process had written. */
		if (s->filesz > s->avail &&
		    (err = pl_as_add(&p->as, s->vaddr + s->avail, s->vaddr + s->filesz, NULL, PL_SRC_CORE)))
			goto fail;
	}
	if ((err = group_files(p)))
		goto fail;
	for (size_t i = 0; i < p->nfiles; i++)
		open_file(p, &p->files[i]);
	if ((err = check_ids(p)) || (err = map_files(p)) || (err = find_python(p)) ||
	    (err = find_debuginfo(p)))
		goto fail;
	if ((err = pl_dwarf_open(p->debug_path, &p->dwarf)) ||
	    (err = pl_layout_from_dwarf(&p->L, p->dwarf)) || (err = pl_runtime_load(p)))
		goto fail;
	/* Everything DWARF had to say is in the layout now: free libdw's data
	 * and let the kernel drop the debug sections' pages (they are clean
	 * file pages; symbol lookups fault back in what they need). */
	pl_dwarf_free(p->dwarf);
	p->dwarf = NULL;
	if (p->debug_map)
		madvise((void *)p->debug_map, p->debug_size, MADV_DONTNEED);
	if (p->pyfile->map)
		madvise((void *)p->pyfile->map, p->pyfile->size, MADV_DONTNEED);
	*out = p;
	return NULL;
fail:
	pl_program_free(p);
	return err;
}

struct pl_error *pl_program_open(const char *core_path, const struct pl_options *opt,
				 struct pl_program **out)
{
	*out = NULL;
	struct pl_core *core;
	struct pl_error *err = pl_core_open(core_path, &core);
	if (err)
		return err;
	/* (the set-up reads little of the core: its pages come in beside it) */
	if (opt->read_all && pl_threads() > 1)
		pl_core_fill_start(core);
	return pl_program_open_core(core, opt, out);
}
