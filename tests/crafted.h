/* Build small ELF64 core images in memory for the unit tests: an ELF header,
 * program headers, a note segment of properly padded notes and the segment
 * data, all written by hand with the <elf.h> structures, so that the tests do
 * not depend on the parser they test. */
#ifndef PYLEAK_TESTS_CRAFTED_H
#define PYLEAK_TESTS_CRAFTED_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. Allocation failure aborts (tests only). */
struct cbuf {
	uint8_t *p;
	size_t len, cap;
};

void cb_init(struct cbuf *b);
void cb_free(struct cbuf *b);
void cb_put(struct cbuf *b, const void *data, size_t n);
void cb_zero(struct cbuf *b, size_t n);
void cb_align(struct cbuf *b, size_t a);
void cb_u32(struct cbuf *b, uint32_t v);
void cb_u64(struct cbuf *b, uint64_t v);

/* One ELF note: Elf64_Nhdr, the name with its NUL padded to 4 bytes, the
 * descriptor padded to 4 bytes. name may be NULL (namesz 0). */
void cb_note(struct cbuf *b, const char *name, uint32_t type, const void *desc, size_t descsz);
/* A bare note header with arbitrary sizes (for damaged notes). */
void cb_note_hdr(struct cbuf *b, uint32_t namesz, uint32_t descsz, uint32_t type);

/* Note payloads, LP64 Linux layouts. */
#define CR_PRSTATUS_SIZE 336    /* x86-64 struct elf_prstatus */
#define CR_PRSTATUS_A64_SIZE 392 /* aarch64 struct elf_prstatus */
#define CR_PRPSINFO_SIZE 136
#define CR_SIGINFO_SIZE 128

/* out must hold size bytes; regs holds (size - 112) / 8 - 1 registers for the
 * standard sizes (27 on x86-64, 34 on aarch64), the rest is pr_fpvalid. */
void cr_prstatus(uint8_t *out, size_t size, int16_t cursig, int32_t pid,
		 const uint64_t *regs, size_t nregs);
void cr_prpsinfo(uint8_t out[CR_PRPSINFO_SIZE], uint32_t uid, int32_t pid, int32_t ppid,
		 const char *fname, const char *psargs);
void cr_siginfo(uint8_t out[CR_SIGINFO_SIZE], int32_t signo, int32_t err, int32_t code,
		uint64_t addr);

struct cr_file {
	uint64_t start, end, pgoff;
	const char *name;
};
/* The NT_FILE payload: count, page size, the (start, end, pgoff) triples and
 * the NUL-terminated names. */
void cr_nt_file(struct cbuf *b, uint64_t page_size, const struct cr_file *f, size_t n);

/* The data byte the builder writes at virtual address a of a PT_LOAD segment
 * whose data is not given. */
static inline uint8_t cr_pattern(uint64_t a)
{
	return (uint8_t)((a * 131u) ^ (a >> 8) ^ 0x5a);
}

/* A program header to build. filesz bytes are written to the file (data, or
 * cr_pattern(vaddr + i) when data is NULL). offset is filled by cr_build. */
struct cr_phdr {
	uint32_t type, flags;
	uint64_t vaddr, memsz, filesz;
	const uint8_t *data;
	uint64_t offset;
};

/* Lay out: ELF header at 0, program headers at 64, then every payload in
 * order, each aligned to 16 bytes. Returns a malloc'd image of *size bytes. */
uint8_t *cr_build(uint16_t e_type, uint16_t machine, struct cr_phdr *ph, size_t nph,
		  size_t *size);

static inline Elf64_Ehdr *cr_ehdr(uint8_t *img) { return (Elf64_Ehdr *)(void *)img; }
static inline Elf64_Phdr *cr_phdr_at(uint8_t *img, size_t i)
{
	return (Elf64_Phdr *)(void *)(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

/* A malloc'd copy of the first n bytes (so that reading past n is caught by
 * valgrind and ASan). Never returns NULL, even for n == 0. */
uint8_t *cr_dup(const uint8_t *img, size_t n);

#endif
