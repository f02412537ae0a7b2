/* The ELF core and notes reader: the input is a core image. Every field the
 * parser fills is read (so ASan sees any wild pointer in it), the documented
 * invariants are checked, and the PT_LOAD data is put in an address space
 * the way pl_program_open does and read back. */
#include "config.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "coredump/addrspace.h"
#include "coredump/elfcore.h"

static volatile uint64_t sink;

static void touch(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0;
	for (size_t i = 0; i < n; i++)
		h = h * 31 + s[i];
	sink += h;
}

#define FAIL(what) fz_fail(what, data, size, NULL, 0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: libFuzzer's buffer is one already, but say so */
	uint8_t *img = malloc(size ? size : 1);
	if (!img)
		return 0;
	memcpy(img, data, size);
	struct pl_core *c = NULL;
	struct pl_error *err = pl_core_from_memory(img, size, "fuzz", &c);
	if (err) {
		if (c)
			FAIL("core returned together with an error");
		size_t l = strnlen(err->msg, sizeof(err->msg));
		if (l == 0 || l == sizeof(err->msg))
			FAIL("error message empty or not terminated");
		if (err->kind < PL_E_USAGE || err->kind > PL_E_INTERNAL)
			FAIL("error kind out of range");
		sink += (uint64_t)pl_error_exit_code(err);
		touch(pl_errkind_name(err->kind), 1);
		pl_error_free(err);
		free(img);
		return 0;
	}
	if (!c)
		FAIL("no core and no error");
	if (c->map != img || c->size != size || c->owns_map)
		FAIL("map/size/owns_map");
	if (c->machine != EM_X86_64 && c->machine != EM_AARCH64)
		FAIL("unsupported machine accepted");
	if (c->nsegs == 0)
		FAIL("core without PT_LOAD accepted");
	touch(c->path, strlen(c->path) + 1);
	uint64_t missing = 0;
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct pl_core_segment *s = &c->segs[i];
		if (s->memsz == 0 || s->vaddr + s->memsz < s->vaddr)
			FAIL("empty or wrapping segment kept");
		if (s->filesz > s->memsz || s->avail > s->filesz)
			FAIL("segment sizes: avail <= filesz <= memsz broken");
		if (s->avail && (s->offset > size || s->avail > size - s->offset))
			FAIL("segment data past the end of the image");
		if (s->avail) {
			touch(img + s->offset, s->avail < 64 ? s->avail : 64);
			touch(img + s->offset + s->avail - 1, 1);
		}
		missing += s->filesz - s->avail;
		sink += s->flags;
	}
	if (missing != c->missing_bytes)
		FAIL("missing_bytes is not the sum of what the segments lack");
	for (size_t i = 0; i < c->nthreads; i++) {
		const struct pl_core_thread *t = &c->threads[i];
		if (t->nregs > 34)
			FAIL("nregs > 34");
		touch(t, sizeof(*t));
	}
	const struct pl_core_thread *ct = pl_core_crashing_thread(c);
	if ((ct == NULL) != (c->nthreads == 0))
		FAIL("crashing thread");
	if (ct) {
		if (ct < c->threads || ct >= c->threads + c->nthreads)
			FAIL("crashing thread outside the thread array");
		touch(pl_signal_name(ct->cursig), 1);
	}
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct pl_core_file *f = &c->files[i];
		if (!f->path || f->end <= f->start)
			FAIL("NT_FILE entry without a path or with end <= start");
		touch(f->path, strlen(f->path) + 1);
		sink += f->offset;
	}
	if (c->nfiles && !c->has_nt_file)
		FAIL("files without NT_FILE");
	touch(c->auxv, c->nauxv * 16);
	if (c->nauxv)
		sink += pl_core_auxv(c, c->auxv[2 * (c->nauxv - 1)]);
	sink += pl_core_auxv(c, AT_ENTRY);
	if (strnlen(c->fname, sizeof(c->fname)) == sizeof(c->fname) ||
	    strnlen(c->psargs, sizeof(c->psargs)) == sizeof(c->psargs))
		FAIL("prpsinfo strings not terminated");
	touch(c->fname, strlen(c->fname));
	touch(c->psargs, strlen(c->psargs));
	sink += (uint64_t)c->pid + (uint64_t)c->ppid + c->uid + (uint64_t)c->sig_signo +
		(uint64_t)c->sig_code + (uint64_t)c->sig_errno + c->sig_addr + c->has_siginfo +
		c->has_prpsinfo + c->notes_cut;

	/* The address space as pl_program_open builds it, read back. */
	struct pl_as as;
	pl_as_init(&as);
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct pl_core_segment *s = &c->segs[i];
		if (s->avail)
			pl_error_free(pl_as_add(&as, s->vaddr, s->vaddr + s->avail, img + s->offset,
						PL_SRC_CORE));
		if (s->filesz > s->avail)
			pl_error_free(pl_as_add(&as, s->vaddr + s->avail, s->vaddr + s->filesz, NULL,
						PL_SRC_CORE));
	}
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct pl_core_segment *s = &c->segs[i];
		uint8_t buf[16];
		size_t n = s->avail < sizeof(buf) ? s->avail : sizeof(buf);
		/* the first segment to claim an address wins, so compare only when
		 * this one does */
		const struct pl_as_range *r = n ? pl_as_find(&as, s->vaddr) : NULL;
		if (r && r->start == s->vaddr && r->data == img + s->offset && r->end - r->start >= n) {
			if (pl_as_read(&as, s->vaddr, buf, n) != 0 || memcmp(buf, img + s->offset, n))
				FAIL("address space does not give back the segment's bytes");
		}
	}
	sink += pl_as_bytes(&as, true);
	pl_as_release(&as);
	pl_core_free(c);
	free(img);
	return 0;
}
