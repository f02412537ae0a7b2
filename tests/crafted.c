#include "crafted.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "crafted: out of memory\n");
		abort();
	}
	return q;
}

void cb_init(struct cbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void cb_free(struct cbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void cb_reserve(struct cbuf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void cb_put(struct cbuf *b, const void *data, size_t n)
{
	cb_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

void cb_zero(struct cbuf *b, size_t n)
{
	cb_reserve(b, n);
	if (n)
		memset(b->p + b->len, 0, n);
	b->len += n;
}

void cb_align(struct cbuf *b, size_t a)
{
	size_t r = b->len % a;
	if (r)
		cb_zero(b, a - r);
}

void cb_u32(struct cbuf *b, uint32_t v)
{
	cb_put(b, &v, 4);
}

void cb_u64(struct cbuf *b, uint64_t v)
{
	cb_put(b, &v, 8);
}

void cb_note_hdr(struct cbuf *b, uint32_t namesz, uint32_t descsz, uint32_t type)
{
	Elf64_Nhdr nh = { .n_namesz = namesz, .n_descsz = descsz, .n_type = type };
	cb_put(b, &nh, sizeof(nh));
}

void cb_note(struct cbuf *b, const char *name, uint32_t type, const void *desc, size_t descsz)
{
	size_t namesz = name ? strlen(name) + 1 : 0;
	cb_note_hdr(b, (uint32_t)namesz, (uint32_t)descsz, type);
	size_t start = b->len;
	if (namesz)
		cb_put(b, name, namesz);
	cb_zero(b, (4 - (b->len - start) % 4) % 4);
	start = b->len;
	cb_put(b, desc, descsz);
	cb_zero(b, (4 - (b->len - start) % 4) % 4);
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

void cr_prstatus(uint8_t *out, size_t size, int16_t cursig, int32_t pid,
		 const uint64_t *regs, size_t nregs)
{
	memset(out, 0, size);
	if (size >= 12 + 2)
		put16(out + 12, (uint16_t)cursig);
	if (size >= 32 + 4) {
		put32(out + 32, (uint32_t)pid);
		put32(out + 36, (uint32_t)(pid - 1));   /* pr_ppid, unused by the parser */
	}
	for (size_t i = 0; i < nregs && 112 + 8 * (i + 1) <= size; i++)
		put64(out + 112 + 8 * i, regs[i]);
}

void cr_prpsinfo(uint8_t out[CR_PRPSINFO_SIZE], uint32_t uid, int32_t pid, int32_t ppid,
		 const char *fname, const char *psargs)
{
	memset(out, 0, CR_PRPSINFO_SIZE);
	out[0] = 'R';                   /* pr_state/pr_sname: noise */
	out[1] = 'R';
	put32(out + 16, uid);
	put32(out + 20, uid + 1);       /* pr_gid */
	put32(out + 24, (uint32_t)pid);
	put32(out + 28, (uint32_t)ppid);
	put32(out + 32, (uint32_t)pid); /* pr_pgrp */
	put32(out + 36, (uint32_t)pid); /* pr_sid */
	size_t n = strlen(fname);
	memcpy(out + 40, fname, n > 16 ? 16 : n);
	n = strlen(psargs);
	memcpy(out + 56, psargs, n > 80 ? 80 : n);
}

void cr_siginfo(uint8_t out[CR_SIGINFO_SIZE], int32_t signo, int32_t err, int32_t code,
		uint64_t addr)
{
	memset(out, 0, CR_SIGINFO_SIZE);
	put32(out + 0, (uint32_t)signo);
	put32(out + 4, (uint32_t)err);
	put32(out + 8, (uint32_t)code);
	put64(out + 16, addr);
}

void cr_nt_file(struct cbuf *b, uint64_t page_size, const struct cr_file *f, size_t n)
{
	cb_u64(b, n);
	cb_u64(b, page_size);
	for (size_t i = 0; i < n; i++) {
		cb_u64(b, f[i].start);
		cb_u64(b, f[i].end);
		cb_u64(b, f[i].pgoff);
	}
	for (size_t i = 0; i < n; i++)
		cb_put(b, f[i].name, strlen(f[i].name) + 1);
}

uint8_t *cr_build(uint16_t e_type, uint16_t machine, struct cr_phdr *ph, size_t nph,
		  size_t *size)
{
	struct cbuf b;
	cb_init(&b);
	Elf64_Ehdr eh;
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = e_type;
	eh.e_machine = machine;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = nph ? sizeof(Elf64_Ehdr) : 0;
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)nph;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	cb_put(&b, &eh, sizeof(eh));
	cb_zero(&b, nph * sizeof(Elf64_Phdr));

	for (size_t i = 0; i < nph; i++) {
		cb_align(&b, 16);
		ph[i].offset = b.len;
		if (ph[i].data) {
			cb_put(&b, ph[i].data, ph[i].filesz);
		} else {
			size_t at = b.len;
			cb_zero(&b, ph[i].filesz);
			for (uint64_t k = 0; k < ph[i].filesz; k++)
				b.p[at + k] = cr_pattern(ph[i].vaddr + k);
		}
	}
	for (size_t i = 0; i < nph; i++) {
		Elf64_Phdr p = {
			.p_type = ph[i].type,
			.p_flags = ph[i].flags,
			.p_offset = ph[i].offset,
			.p_vaddr = ph[i].vaddr,
			.p_paddr = 0,
			.p_filesz = ph[i].filesz,
			.p_memsz = ph[i].memsz,
			.p_align = ph[i].type == PT_LOAD ? 0x1000 : 1,
		};
		memcpy(b.p + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &p, sizeof(p));
	}
	*size = b.len;
	return b.p;
}

uint8_t *cr_dup(const uint8_t *img, size_t n)
{
	uint8_t *p = xrealloc(NULL, n);
	if (n)
		memcpy(p, img, n);
	return p;
}
