/* Unit tests for compressed cores (coredump/decompress.c and pl_core_open):
 * a core crafted in memory (tests/crafted.h) is compressed here with each
 * library, written to a file and opened; it must read exactly as the plain
 * core does. Also several frames, streams and members, zstd without a
 * content size, cut and damaged compressed data, magic numbers alone,
 * decompression bombs, and that pages of zeros stay unallocated. */
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

#ifdef HAVE_ZSTD
#include <zstd.h>
#endif
#ifdef HAVE_LZ4
#include <lz4frame.h>
#endif
#ifdef HAVE_LZMA
#include <lzma.h>
#endif
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif

#include "coredump/decompress.h"
#include "coredump/elfcore.h"
#include "coredump/error.h"
#include "tests/crafted.h"

/* Check's assertions record their location on every success, which is slow
 * in loops; this one only acts on failure. */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

static char tmpdir[] = "/tmp/pyleak-compressed-XXXXXX";

/* ---- the core ---------------------------------------------------------------- */

static const struct cr_file files[] = {
	{ 0x400000, 0x403000, 0, "/usr/bin/python3.12" },
	{ 0x7f0000000000, 0x7f0000002000, 4, "/usr/lib/x86_64-linux-gnu/libpython3.12.so.1.0" },
};

/* Notes (a thread, prpsinfo, auxv, NT_FILE) and three PT_LOADs: patterned
 * bytes, zero_size bytes of zeros, and a partly dumped stack. */
static uint8_t *make_core(size_t zero_size, size_t *size)
{
	struct cbuf n, f;
	cb_init(&n);
	cb_init(&f);
	uint8_t pr[CR_PRSTATUS_SIZE], ps[CR_PRPSINFO_SIZE];
	uint64_t regs[27];
	for (int i = 0; i < 27; i++)
		regs[i] = 0x1000 + (uint64_t)i;
	cr_prstatus(pr, sizeof(pr), SIGSEGV, 4242, regs, 27);
	cb_note(&n, "CORE", NT_PRSTATUS, pr, sizeof(pr));
	cr_prpsinfo(ps, 1000, 4242, 17, "python3.12", "python3.12 leak.py");
	cb_note(&n, "CORE", NT_PRPSINFO, ps, sizeof(ps));
	const uint64_t auxv[] = { AT_PAGESZ, 4096, AT_NULL, 0 };
	cb_note(&n, "CORE", NT_AUXV, auxv, sizeof(auxv));
	cr_nt_file(&f, 4096, files, 2);
	cb_note(&n, "CORE", NT_FILE, f.p, f.len);
	uint8_t *zeros = calloc(1, zero_size ? zero_size : 1);
	ck_assert_ptr_nonnull(zeros);
	struct cr_phdr ph[4] = {
		{ PT_NOTE, 0, 0, 0, n.len, n.p, 0 },
		{ PT_LOAD, PF_R | PF_W, 0x600000, 0x3000, 0x3000, NULL, 0 },
		{ PT_LOAD, PF_R | PF_W, 0x7f0000100000, zero_size, zero_size, zeros, 0 },
		{ PT_LOAD, PF_R | PF_W, 0x7ffc00000000, 0x100, 0x80, NULL, 0 },
	};
	uint8_t *img = cr_build(ET_CORE, EM_X86_64, ph, 4, size);
	free(zeros);
	cb_free(&n);
	cb_free(&f);
	return img;
}

/* ---- compressors --------------------------------------------------------------- */

struct codec {
	const char *name;
	/* a malloc'd compressed copy of in[0..n) */
	uint8_t *(*compress)(const uint8_t *in, size_t n, size_t *out_n);
	size_t checksum_at;   /* a checksum byte, counted from the end */
};

#ifdef HAVE_ZSTD
/* With a checksum. sized: the content size in the header (as one call with
 * ZSTD_e_end writes it); else fed in pieces, as from a pipe. */
static uint8_t *zstd_frame(const uint8_t *in, size_t n, bool sized, size_t *out_n)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ck_assert_ptr_nonnull(cc);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	size_t cap = ZSTD_compressBound(n) + 64;
	uint8_t *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	ZSTD_outBuffer ob = { out, cap, 0 };
	size_t piece = sized ? n : 1000;
	for (size_t at = 0;; at += piece) {
		size_t k = n - at < piece ? n - at : piece;
		ZSTD_inBuffer ib = { in + at, k, 0 };
		bool last = at + k == n;
		size_t r = ZSTD_compressStream2(cc, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
		ck_assert_msg(!ZSTD_isError(r), "zstd: %s", ZSTD_getErrorName(r));
		ck_assert_uint_eq(ib.pos, k);
		if (last) {
			ck_assert_uint_eq(r, 0);
			break;
		}
	}
	ZSTD_freeCCtx(cc);
	unsigned long long cs = ZSTD_getFrameContentSize(out, ob.pos);
	if (sized)
		ck_assert_uint_eq(cs, n);
	else if (n > piece)
		ck_assert_msg(cs == ZSTD_CONTENTSIZE_UNKNOWN, "zstd frame has a content size");
	*out_n = ob.pos;
	return out;
}

static uint8_t *c_zstd(const uint8_t *in, size_t n, size_t *out_n)
{
	return zstd_frame(in, n, true, out_n);
}

static uint8_t *c_zstd_stream(const uint8_t *in, size_t n, size_t *out_n)
{
	return zstd_frame(in, n, false, out_n);
}
#endif

#ifdef HAVE_LZ4
static uint8_t *lz4_frame(const uint8_t *in, size_t n, bool sized, size_t *out_n)
{
	LZ4F_preferences_t pr;
	memset(&pr, 0, sizeof(pr));
	pr.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	pr.frameInfo.contentSize = sized ? n : 0;
	size_t cap = LZ4F_compressFrameBound(n, &pr);
	uint8_t *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	size_t r = LZ4F_compressFrame(out, cap, in, n, &pr);
	ck_assert_msg(!LZ4F_isError(r), "lz4: %s", LZ4F_getErrorName(r));
	*out_n = r;
	return out;
}

static uint8_t *c_lz4(const uint8_t *in, size_t n, size_t *out_n)
{
	return lz4_frame(in, n, true, out_n);
}

static uint8_t *c_lz4_stream(const uint8_t *in, size_t n, size_t *out_n)
{
	return lz4_frame(in, n, false, out_n);
}
#endif

#ifdef HAVE_LZMA
static uint8_t *c_xz(const uint8_t *in, size_t n, size_t *out_n)
{
	size_t cap = lzma_stream_buffer_bound(n), pos = 0;
	uint8_t *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	lzma_ret r = lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, in, n, out, &pos, cap);
	ck_assert_int_eq(r, LZMA_OK);
	*out_n = pos;
	return out;
}
#endif

#ifdef HAVE_ZLIB
static uint8_t *c_gzip(const uint8_t *in, size_t n, size_t *out_n)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	size_t cap = deflateBound(&z, n) + 64;
	uint8_t *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_n = z.total_out;
	deflateEnd(&z);
	return out;
}
#endif

/* checksum_at: zstd's XXH64 and lz4's content checksum end the frame; xz's
 * stream footer starts with its CRC32; gzip's trailer is CRC32, ISIZE. */
static const struct codec codecs[] = {
#ifdef HAVE_ZSTD
	{ "zstd", c_zstd, 1 },
	{ "zstd", c_zstd_stream, 1 },
#endif
#ifdef HAVE_LZ4
	{ "lz4", c_lz4, 1 },
	{ "lz4", c_lz4_stream, 1 },
#endif
#ifdef HAVE_LZMA
	{ "xz", c_xz, 12 },
#endif
#ifdef HAVE_ZLIB
	{ "gzip", c_gzip, 8 },
#endif
	{ NULL, NULL, 0 },   /* so that the array is never empty */
};
enum { NCODECS = sizeof(codecs) / sizeof(codecs[0]) - 1 };

/* ---- helpers ------------------------------------------------------------------- */

static void cat(uint8_t **buf, size_t *len, const void *p, size_t n)
{
	*buf = realloc(*buf, *len + n);
	ck_assert_ptr_nonnull(*buf);
	memcpy(*buf + *len, p, n);
	*len += n;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	REQUIRE(fwrite(p, 1, n, f) == n, "short write to %s", path);
	ck_assert_int_eq(fclose(f), 0);
}

static void tmp_path(char *path, size_t max, const char *name)
{
	snprintf(path, max, "%s/%s", tmpdir, name);
}

/* Write p[0..n) to the file, open it; on error return it (c NULL). */
static struct pl_error *open_bytes(const char *path, const void *p, size_t n, struct pl_core **c)
{
	write_file(path, p, n);
	struct pl_error *err = pl_core_open(path, c);
	unlink(path);
	return err;
}

static void same_core(const struct pl_core *a, const struct pl_core *b)
{
	ck_assert_uint_eq(a->size, b->size);
	ck_assert_mem_eq(a->map, b->map, a->size);
	ck_assert_uint_eq(a->machine, b->machine);
	ck_assert_uint_eq(a->nsegs, b->nsegs);
	for (size_t i = 0; i < a->nsegs; i++) {
		const struct pl_core_segment *x = &a->segs[i], *y = &b->segs[i];
		REQUIRE(x->vaddr == y->vaddr && x->memsz == y->memsz && x->offset == y->offset &&
			x->filesz == y->filesz && x->avail == y->avail && x->flags == y->flags,
			"segment %zu differs", i);
	}
	ck_assert_uint_eq(a->missing_bytes, b->missing_bytes);
	ck_assert_int_eq(a->notes_cut, b->notes_cut);
	ck_assert_uint_eq(a->nthreads, b->nthreads);
	for (size_t i = 0; i < a->nthreads; i++)
		ck_assert_mem_eq(&a->threads[i], &b->threads[i], sizeof(a->threads[i]));
	ck_assert_uint_eq(a->nfiles, b->nfiles);
	for (size_t i = 0; i < a->nfiles; i++) {
		ck_assert_str_eq(a->files[i].path, b->files[i].path);
		ck_assert_uint_eq(a->files[i].start, b->files[i].start);
		ck_assert_uint_eq(a->files[i].end, b->files[i].end);
		ck_assert_uint_eq(a->files[i].offset, b->files[i].offset);
	}
	ck_assert_uint_eq(a->nauxv, b->nauxv);
	if (a->nauxv)
		ck_assert_mem_eq(a->auxv, b->auxv, a->nauxv * 16);
	ck_assert_int_eq(a->has_prpsinfo, b->has_prpsinfo);
	ck_assert_int_eq(a->pid, b->pid);
	ck_assert_str_eq(a->fname, b->fname);
	ck_assert_str_eq(a->psargs, b->psargs);
}

static struct pl_core *plain(const uint8_t *img, size_t size)
{
	struct pl_core *c = NULL;
	struct pl_error *err = pl_core_from_memory(img, size, "plain.core", &c);
	ck_assert_msg(err == NULL, "plain core: %s", err ? err->msg : "");
	return c;
}

/* The compressed file must read as the plain core does. */
static void expect_same(const char *path, const uint8_t *z, size_t zn, const char *format,
			const uint8_t *img, size_t size)
{
	struct pl_core *c = NULL, *p = plain(img, size);
	struct pl_error *err = open_bytes(path, z, zn, &c);
	ck_assert_msg(err == NULL, "%s: %s", path, err ? err->msg : "");
	ck_assert_str_eq(c->path, path);
	ck_assert_str_eq(c->compression, format);
	ck_assert_uint_eq(c->compressed_size, zn);
	ck_assert(!c->compressed_truncated);
	ck_assert(c->owns_map);
	ck_assert_uint_eq(c->missing_bytes, 0);
	same_core(c, p);
	pl_core_free(c);
	pl_core_free(p);
}

/* An error: PL_E_CORE (exit 3), one line naming the file and the format,
 * containing needle. */
static void check_error(struct pl_error *err, const char *path, const char *format,
			const char *needle)
{
	REQUIRE(err != NULL, "%s: no error", path);
	REQUIRE(err->kind == PL_E_CORE, "%s: kind %d: %s", path, err->kind, err->msg);
	ck_assert_int_eq(pl_error_exit_code(err), 3);
	REQUIRE(strstr(err->msg, path) != NULL, "message does not name %s: %s", path, err->msg);
	REQUIRE(strstr(err->msg, format) != NULL, "message does not name %s: %s", format, err->msg);
	REQUIRE(!needle || strstr(err->msg, needle), "message lacks \"%s\": %s", needle, err->msg);
	REQUIRE(strchr(err->msg, '\n') == NULL, "message is not one line: %s", err->msg);
}

static size_t resident_pages(const void *map, size_t size)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (size + pg - 1) / pg, count = 0;
	unsigned char *vec = malloc(n);
	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)(uintptr_t)map, size, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

/* ---- tests --------------------------------------------------------------------- */

START_TEST(detect_magic)
{
	ck_assert_str_eq(pl_compression_detect((const uint8_t *)"\x28\xb5\x2f\xfd", 4), "zstd");
	ck_assert_str_eq(pl_compression_detect((const uint8_t *)"\x04\x22\x4d\x18x", 5), "lz4");
	ck_assert_str_eq(pl_compression_detect((const uint8_t *)"\xfd" "7zXZ\0", 6), "xz");
	ck_assert_str_eq(pl_compression_detect((const uint8_t *)"\x1f\x8b", 2), "gzip");
	ck_assert_ptr_null(pl_compression_detect((const uint8_t *)"\x28\xb5\x2f", 3));
	ck_assert_ptr_null(pl_compression_detect((const uint8_t *)"\xfd" "7zXZ", 5));
	ck_assert_ptr_null(pl_compression_detect((const uint8_t *)"\177ELF\2\1\1", 7));
	ck_assert_ptr_null(pl_compression_detect((const uint8_t *)"", 0));
	/* zstd and lz4 may start with skippable frames */
	const uint8_t skip[] = { 0x5f, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'h', 'i',
				 0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0 };
	uint8_t buf[sizeof(skip) + 6];
	memcpy(buf, skip, sizeof(skip));
	memcpy(buf + sizeof(skip), "\x04\x22\x4d\x18", 4);
	ck_assert_str_eq(pl_compression_detect(buf, sizeof(skip) + 4), "lz4");
	memcpy(buf + sizeof(skip), "\x28\xb5\x2f\xfd", 4);
	ck_assert_str_eq(pl_compression_detect(buf, sizeof(skip) + 4), "zstd");
	memcpy(buf + sizeof(skip), "\x1f\x8b", 2);
	ck_assert_ptr_null(pl_compression_detect(buf, sizeof(skip) + 2));
	ck_assert_ptr_null(pl_compression_detect(skip, sizeof(skip)));
	/* legacy lz4 is not the frame format */
	ck_assert_ptr_null(pl_compression_detect((const uint8_t *)"\x02\x21\x4c\x18", 4));
}
END_TEST

/* Each format, with and without a declared size, reads as the plain core;
 * the name of the file does not matter. */
START_TEST(each_format_reads_as_plain)
{
	const struct codec *k = &codecs[_i];
	size_t size, zn;
	uint8_t *img = make_core(0x5000, &size);
	uint8_t *z = k->compress(img, size, &zn);
	char path[128];
	tmp_path(path, sizeof(path), "core");
	expect_same(path, z, zn, k->name, img, size);
	tmp_path(path, sizeof(path), "core.txt");
	expect_same(path, z, zn, k->name, img, size);
	free(z);
	free(img);
}
END_TEST

/* Zero pages are never written: the mapping stays unallocated there, and it
 * ends at the exact size. The size is unknown to gzip, xz and zstd from a pipe:
 * the mapping grows from a guess. */
START_TEST(zero_pages_not_resident)
{
	const struct codec *k = &codecs[_i];
	size_t size, zn, zero = 16u << 20;
	uint8_t *img = make_core(zero, &size);
	uint8_t *z = k->compress(img, size, &zn);
	ck_assert_uint_lt(zn * 4, size);   /* the guess must be too small */
	char path[128];
	tmp_path(path, sizeof(path), "big.core");
	struct pl_core *c = NULL;
	struct pl_error *err = open_bytes(path, z, zn, &c);
	ck_assert_msg(err == NULL, "%s", err ? err->msg : "");
	ck_assert_uint_eq(c->size, size);
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t res = resident_pages(c->map, c->size), nonzero = (size - zero) / pg + 4;
	ck_assert_msg(res <= nonzero, "%s: %zu pages resident of %zu, expected at most %zu",
		      k->name, res, (size + pg - 1) / pg, nonzero);
	ck_assert_mem_eq(c->map, img, size);
	pl_core_free(c);
	free(z);
	free(img);
}
END_TEST

#ifdef HAVE_ZSTD
START_TEST(zstd_frames_and_skippable_frames)
{
	size_t size, n1, n2, n3, len = 0;
	uint8_t *img = make_core(0x2000, &size), *all = NULL;
	size_t a = size / 3, b = 2 * size / 3;
	uint8_t *f1 = zstd_frame(img, a, true, &n1);
	uint8_t *f2 = zstd_frame(img + a, b - a, false, &n2);
	uint8_t *f3 = zstd_frame(img + b, size - b, true, &n3);
	/* a skippable frame: magic 0x184D2A5?, 4-byte size, user data */
	const uint8_t skip[8 + 5] = { 0x53, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o' };
	cat(&all, &len, skip, sizeof(skip));
	cat(&all, &len, f1, n1);
	cat(&all, &len, skip, sizeof(skip));
	cat(&all, &len, f2, n2);
	cat(&all, &len, f3, n3);
	cat(&all, &len, skip, sizeof(skip));
	char path[128];
	tmp_path(path, sizeof(path), "frames.zst");
	expect_same(path, all, len, "zstd", img, size);
	free(f1);
	free(f2);
	free(f3);
	free(all);
	free(img);
}
END_TEST
#endif

#ifdef HAVE_LZ4
START_TEST(lz4_frames)
{
	size_t size, n1, n2, len = 0;
	uint8_t *img = make_core(0x2000, &size), *all = NULL;
	uint8_t *f1 = lz4_frame(img, size / 2, true, &n1);
	uint8_t *f2 = lz4_frame(img + size / 2, size - size / 2, false, &n2);
	cat(&all, &len, f1, n1);
	cat(&all, &len, f2, n2);
	char path[128];
	tmp_path(path, sizeof(path), "frames.lz4");
	expect_same(path, all, len, "lz4", img, size);
	free(f1);
	free(f2);
	free(all);
	free(img);
}
END_TEST
#endif

#ifdef HAVE_LZMA
START_TEST(xz_streams_and_padding)
{
	size_t size, n1, n2, len = 0;
	uint8_t *img = make_core(0x2000, &size), *all = NULL;
	uint8_t *f1 = c_xz(img, size / 2, &n1);
	uint8_t *f2 = c_xz(img + size / 2, size - size / 2, &n2);
	const uint8_t pad[8] = { 0 };
	cat(&all, &len, f1, n1);
	cat(&all, &len, pad, sizeof(pad));
	cat(&all, &len, f2, n2);
	cat(&all, &len, pad, 4);
	char path[128];
	tmp_path(path, sizeof(path), "streams.xz");
	expect_same(path, all, len, "xz", img, size);
	free(f1);
	free(f2);
	free(all);
	free(img);
}
END_TEST
#endif

#ifdef HAVE_ZLIB
START_TEST(gzip_members_and_padding)
{
	size_t size, n1, n2, len = 0;
	uint8_t *img = make_core(0x2000, &size), *all = NULL;
	uint8_t *f1 = c_gzip(img, size / 3, &n1);
	uint8_t *f2 = c_gzip(img + size / 3, size - size / 3, &n2);
	const uint8_t pad[16] = { 0 };
	cat(&all, &len, f1, n1);
	cat(&all, &len, f2, n2);
	cat(&all, &len, pad, sizeof(pad));
	char path[128];
	tmp_path(path, sizeof(path), "members.gz");
	expect_same(path, all, len, "gzip", img, size);

	/* anything else after the last member is damage */
	cat(&all, &len, "junk", 4);
	struct pl_core *c = (struct pl_core *)(uintptr_t)1;
	struct pl_error *err = open_bytes(path, all, len, &c);
	check_error(err, path, "gzip", "corrupt");
	ck_assert_ptr_null(c);
	pl_error_free(err);
	free(f1);
	free(f2);
	free(all);
	free(img);
}
END_TEST
#endif

/* Cut anywhere: a truncated core. What precedes the cut reads as the plain
 * core cut there (the ELF parser's truncation accounting), with
 * compressed_truncated set; or, when too little decompresses for the ELF
 * headers, an error that says the data is truncated. */
START_TEST(cut_anywhere)
{
	const struct codec *k = &codecs[_i];
	size_t size, zn;
	uint8_t *img = make_core(0x1000, &size);
	uint8_t *z = k->compress(img, size, &zn);
	char path[128];
	tmp_path(path, sizeof(path), "cut.core");
	size_t ok = 0, step = zn / 1500 + 1, first = 1;
	while (!pl_compression_detect(z, first))   /* a part of a magic is no magic */
		first++;
	ck_assert_str_eq(pl_compression_detect(z, first), k->name);
	for (size_t cut = first; cut < zn; cut += step) {
		struct pl_core *c = NULL;
		struct pl_error *err = open_bytes(path, z, cut, &c);
		if (err) {
			check_error(err, path, k->name, "truncated");
			pl_error_free(err);
			continue;
		}
		REQUIRE(c->compressed_truncated, "%s cut at %zu of %zu: not marked truncated",
			k->name, cut, zn);
		REQUIRE(c->size <= size && memcmp(c->map, img, c->size) == 0,
			"%s cut at %zu: wrong data", k->name, cut);
		struct pl_core *p = plain(img, c->size);
		same_core(c, p);
		pl_core_free(p);
		pl_core_free(c);
		ok++;
	}
	/* the last cuts keep every PT_LOAD byte but the end marker or checksum */
	ck_assert_uint_gt(ok, 0);
	free(z);
	free(img);
}
END_TEST

/* A damaged checksum is corruption, reported with where it was found. */
START_TEST(bad_checksum)
{
	const struct codec *k = &codecs[_i];
	size_t size, zn;
	uint8_t *img = make_core(0x1000, &size);
	uint8_t *z = k->compress(img, size, &zn);
	z[zn - k->checksum_at] ^= 0x55;
	char path[128];
	tmp_path(path, sizeof(path), "badsum.core");
	struct pl_core *c = (struct pl_core *)(uintptr_t)1;
	struct pl_error *err = open_bytes(path, z, zn, &c);
	check_error(err, path, k->name, "corrupt near byte ");
	ck_assert_ptr_null(c);
	pl_error_free(err);
	free(z);
	free(img);
}
END_TEST

/* Any byte damaged: an error (PL_E_CORE naming the format), or a core that
 * is marked truncated (a damaged length can make the data look cut) or
 * reads exactly as the plain one (header fields no checksum covers). */
START_TEST(any_byte_damaged)
{
	const struct codec *k = &codecs[_i];
	size_t size, zn;
	uint8_t *img = make_core(0x1000, &size);
	uint8_t *z = k->compress(img, size, &zn);
	char path[128];
	tmp_path(path, sizeof(path), "damaged.core");
	size_t step = zn / 1500 + 1;
	for (size_t at = 0; at < zn; at += step) {
		uint8_t *d = cr_dup(z, zn);
		d[at] ^= (uint8_t)(0x80 >> (at % 8));
		struct pl_core *c = NULL;
		struct pl_error *err = open_bytes(path, d, zn, &c);
		if (err) {
			REQUIRE(err->kind == PL_E_CORE, "%s byte %zu: kind %d: %s", k->name, at,
				err->kind, err->msg);
			REQUIRE(strstr(err->msg, path) != NULL, "%s byte %zu: %s", k->name, at, err->msg);
			pl_error_free(err);
		} else {
			REQUIRE(c->compressed_truncated ||
				(c->size == size && memcmp(c->map, img, size) == 0),
				"%s byte %zu damaged: read without an error as other data", k->name, at);
			pl_core_free(c);
		}
		free(d);
	}
	free(z);
	free(img);
}
END_TEST

/* A file holding only a magic number (or a little more). */
START_TEST(magic_only)
{
	static const struct { const char *name, *bytes; size_t len; const char *pkg; } m[] = {
		{ "zstd", "\x28\xb5\x2f\xfd", 4, "libzstd-dev" },
		{ "zstd", "\x28\xb5\x2f\xfd\0\0compressed", 16, "libzstd-dev" },
		{ "lz4", "\x04\x22\x4d\x18", 4, "liblz4-dev" },
		{ "xz", "\xfd" "7zXZ\0", 6, "liblzma-dev" },
		{ "gzip", "\x1f\x8b", 2, "zlib1g-dev" },
		{ "gzip", "\x1f\x8b\x08\0\0\0\0\0\0\x03", 10, "zlib1g-dev" },
		{ "gzip", "\x1f\x8b\x08\0\0\0\0\0\0\x03compressed", 20, "zlib1g-dev" },
	};
	char path[128];
	tmp_path(path, sizeof(path), "magic.core");
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		struct pl_core *c = (struct pl_core *)(uintptr_t)1;
		struct pl_error *err = open_bytes(path, m[i].bytes, m[i].len, &c);
		bool have = false;
		for (const struct codec *k = codecs; k->name; k++)
			have |= strcmp(k->name, m[i].name) == 0;
		check_error(err, path, m[i].name, have ? NULL : m[i].pkg);
		if (have)
			ck_assert_msg(strstr(err->msg, "truncated") || strstr(err->msg, "corrupt"),
				      "%s: %s", m[i].name, err->msg);
		ck_assert_ptr_null(c);
		pl_error_free(err);
	}
}
END_TEST

START_TEST(from_memory_refuses_compressed)
{
	const struct codec *k = &codecs[_i];
	size_t size, zn;
	uint8_t *img = make_core(0, &size);
	uint8_t *z = k->compress(img, size, &zn);
	struct pl_core *c = (struct pl_core *)(uintptr_t)1;
	struct pl_error *err = pl_core_from_memory(z, zn, "mem.core", &c);
	check_error(err, "mem.core", k->name, "compressed");
	ck_assert_ptr_null(c);
	pl_error_free(err);
	free(z);
	free(img);
}
END_TEST

/* Compressed twice: named, not decompressed twice. */
START_TEST(compressed_twice)
{
	if (NCODECS < 2)
		return;
	const struct codec *in = &codecs[0], *out = &codecs[NCODECS - 1];
	size_t size, n1, n2;
	uint8_t *img = make_core(0, &size);
	uint8_t *z1 = in->compress(img, size, &n1);
	uint8_t *z2 = out->compress(z1, n1, &n2);
	char path[128];
	tmp_path(path, sizeof(path), "twice.core");
	struct pl_core *c = NULL;
	struct pl_error *err = open_bytes(path, z2, n2, &c);
	check_error(err, path, in->name, out->name);
	pl_error_free(err);
	free(z1);
	free(z2);
	free(img);
}
END_TEST

/* More than the limit: refused, whether the size is declared or not. Up to
 * the limit: all zeros, nothing resident. */
START_TEST(decompression_bomb)
{
	const struct codec *k = &codecs[_i];
	size_t n = 8u << 20, zn;
	uint8_t *zeros = calloc(1, n);
	ck_assert_ptr_nonnull(zeros);
	uint8_t *z = k->compress(zeros, n, &zn);
	struct pl_decompressed d;
	struct pl_error *err = pl_decompress(z, zn, "bomb.core", 1u << 20, 0, &d);
	check_error(err, "bomb.core", k->name, "limit of 1 MiB");
	ck_assert_ptr_null(d.map);
	pl_error_free(err);

	err = pl_decompress(z, zn, "bomb.core", n, 0, &d);
	ck_assert_msg(err == NULL, "%s", err ? err->msg : "");
	ck_assert_uint_eq(d.size, n);
	ck_assert_str_eq(d.format, k->name);
	ck_assert(!d.truncated);
	ck_assert_uint_eq(resident_pages(d.map, d.size), 0);
	ck_assert_mem_eq(d.map, zeros, n);
	munmap(d.map, d.size);
	free(z);
	free(zeros);
}
END_TEST

START_TEST(empty_content)
{
	const struct codec *k = &codecs[_i];
	size_t zn;
	uint8_t *z = k->compress((const uint8_t *)"", 0, &zn);
	struct pl_decompressed d;
	struct pl_error *err = pl_decompress(z, zn, "empty.core", 0, 0, &d);
	check_error(err, "empty.core", k->name, "nothing");
	pl_error_free(err);
	free(z);
}
END_TEST

static Suite *compressed_suite(void)
{
	Suite *s = suite_create("compressed");
	TCase *tc = tcase_create("read");
	tcase_add_test(tc, detect_magic);
	tcase_add_loop_test(tc, each_format_reads_as_plain, 0, NCODECS);
	tcase_add_loop_test(tc, zero_pages_not_resident, 0, NCODECS);
#ifdef HAVE_ZSTD
	tcase_add_test(tc, zstd_frames_and_skippable_frames);
#endif
#ifdef HAVE_LZ4
	tcase_add_test(tc, lz4_frames);
#endif
#ifdef HAVE_LZMA
	tcase_add_test(tc, xz_streams_and_padding);
#endif
#ifdef HAVE_ZLIB
	tcase_add_test(tc, gzip_members_and_padding);
#endif
	suite_add_tcase(s, tc);

	tc = tcase_create("damage");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, cut_anywhere, 0, NCODECS);
	tcase_add_loop_test(tc, bad_checksum, 0, NCODECS);
	tcase_add_loop_test(tc, any_byte_damaged, 0, NCODECS);
	tcase_add_test(tc, magic_only);
	tcase_add_loop_test(tc, from_memory_refuses_compressed, 0, NCODECS);
	tcase_add_test(tc, compressed_twice);
	tcase_add_loop_test(tc, decompression_bomb, 0, NCODECS);
	tcase_add_loop_test(tc, empty_content, 0, NCODECS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	int failed = run_suite(compressed_suite());
	rmdir(tmpdir);
	return failed;
}
