#include "config.h"
#include "decompress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_ZSTD
#include <zstd.h>
#include <zstd_errors.h>
#endif
#ifdef HAVE_LZ4
#include <lz4frame.h>
#endif
#ifdef HAVE_LZMA
#include <lzma.h>
#endif
#ifdef HAVE_ZLIB
#define ZLIB_CONST
#include <zlib.h>
#endif

#if defined(HAVE_ZSTD) || defined(HAVE_LZ4) || defined(HAVE_LZMA) || defined(HAVE_ZLIB)
#define HAVE_ANY 1
#endif

enum {
	ZPAGE = 4096,              /* granularity of the zero-page test */
	CHUNK = 256 * 1024,        /* bounce buffer between decoder and mapping */
	SLICE = 64 * 1024,         /* input per decoder call: locates damage to about this */
	DROP_STEP = 4 << 20,       /* release read input pages this often */
};

struct sink;
typedef struct pl_error *run_fn(struct sink *s, bool *truncated);
typedef uint64_t hint_fn(const uint8_t *in, size_t n);

struct format {
	const char *name, *magic;
	size_t len;
	bool skippable;     /* may start with skippable frames */
	const char *lib, *pkg, *tool;
	run_fn *run;        /* NULL when built without the library */
	hint_fn *hint;      /* declared decompressed size, 0 when unknown */
};

/* The output: an anonymous mapping grown as the data comes. */
struct sink {
	const struct format *f;
	const char *path;
	const uint8_t *in;
	size_t n, dropped, pagesz;
	unsigned flags;
	uint8_t *map, *buf;
	size_t cap, len, limit;
};

/* zstd and lz4 share skippable frames: magic 0x184D2A5?, a 32-bit size, data.
 * The frame after them tells which format it is. */
static size_t skip_skippable(const uint8_t *in, size_t n)
{
	size_t at = 0;
	while (n - at >= 8 && (in[at] & 0xf0) == 0x50 && memcmp(in + at + 1, "\x2a\x4d\x18", 3) == 0) {
		uint32_t len;
		memcpy(&len, in + at + 4, 4);
		if (len > n - at - 8)
			break;
		at += 8 + (size_t)len;
	}
	return at;
}

#ifdef HAVE_ANY
/* ---- messages -------------------------------------------------------------- */

/* "1 TiB" when size is a whole number of a binary unit, else bytes. */
static const char *human(size_t size, char *b, size_t max)
{
	static const char *const unit[] = { "TiB", "GiB", "MiB", "KiB" };
	for (int i = 0; i < 4; i++) {
		size_t u = (size_t)1 << (40 - 10 * i);
		if (size >= u && size % u == 0) {
			snprintf(b, max, "%zu %s", size / u, unit[i]);
			return b;
		}
	}
	snprintf(b, max, "%zu bytes", size);
	return b;
}

static struct pl_error *corrupt(const struct sink *s, size_t pos, const char *why)
{
	return pl_error(PL_E_CORE, "%s: %s data is corrupt near byte %zu (%s); the file is damaged: "
			"copy it again or take a new core", s->path, s->f->name, pos, why);
}

static struct pl_error *too_big(const struct sink *s, uint64_t declared)
{
	char lim[32];
	human(s->limit, lim, sizeof(lim));
	if (declared)
		return pl_error(PL_E_CORE, "%s: %s data declares %llu decompressed bytes, more than "
				"the limit of %s; it is not a core dump (a decompression bomb?)",
				s->path, s->f->name, (unsigned long long)declared, lim);
	return pl_error(PL_E_CORE, "%s: %s data decompresses to more than the limit of %s; it is "
			"not a core dump (a decompression bomb?); if it is one, decompress it by "
			"hand (%s < %s > core)", s->path, s->f->name, lim, s->f->tool, s->path);
}

static struct pl_error *nomem(const struct sink *s, const char *what, int e)
{
	return pl_error(PL_E_NOMEM, "%s: out of memory decompressing %s data (%s after %zu bytes: "
			"%s); decompress it to disk first (%s < %s > core)", s->path, s->f->name,
			what, s->len, strerror(e), s->f->tool, s->path);
}

/* ---- the output mapping ---------------------------------------------------- */

static size_t page_up(size_t v, size_t pg)
{
	return v > SIZE_MAX - (pg - 1) ? SIZE_MAX / pg * pg : (v + pg - 1) / pg * pg;
}

static struct pl_error *sink_map(struct sink *s, size_t cap)
{
	void *m = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return nomem(s, "mapping the output", errno);
	/* a huge page would make a whole 2 MiB resident for one byte */
	madvise(m, cap, MADV_NOHUGEPAGE);
	s->map = m;
	s->cap = cap;
	return NULL;
}

/* First size: the declared one, else 4 times the compressed size. */
static struct pl_error *sink_init(struct sink *s)
{
	size_t at = skip_skippable(s->in, s->n);
	uint64_t declared = s->f->hint ? s->f->hint(s->in + at, s->n - at) : 0;
	if (declared > s->limit)
		return too_big(s, declared);
	size_t guess = s->n > s->limit / 4 ? s->limit : 4 * s->n;
	size_t cap = page_up(declared ? (size_t)declared : guess, s->pagesz);
	s->buf = malloc(CHUNK);
	if (!s->buf)
		return nomem(s, "the buffer", ENOMEM);
	if (declared) {
		struct pl_error *err = sink_map(s, cap);
		if (!err)
			return NULL;
		pl_error_free(err);   /* the declared size may be a lie: guess */
	}
	return sink_map(s, page_up(guess, s->pagesz));
}

static struct pl_error *sink_grow(struct sink *s, size_t need)
{
	size_t cap = s->cap;
	while (cap < need)
		cap = cap > s->limit / 2 ? s->limit : 2 * cap;
	cap = page_up(cap, s->pagesz);
	void *m;
	while ((m = mremap(s->map, s->cap, cap, MREMAP_MAYMOVE)) == MAP_FAILED) {
		/* no room to double: try halfway down to what is needed */
		size_t less = page_up(s->cap + (cap - s->cap) / 2, s->pagesz);
		if (less >= cap || less < need)
			less = page_up(need, s->pagesz);
		if (less >= cap)
			return nomem(s, "growing the output", errno);
		cap = less;
	}
	madvise(m, cap, MADV_NOHUGEPAGE);
	s->map = m;
	s->cap = cap;
	return NULL;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Append p[0..k). The mapping is zero where never written, so zero pieces
 * (cut at page boundaries of the output) are skipped and stay unallocated. */
static struct pl_error *sink_put(struct sink *s, const uint8_t *p, size_t k)
{
	if (k > s->limit - s->len)
		return too_big(s, 0);
	struct pl_error *err;
	if (s->len + k > s->cap && (err = sink_grow(s, s->len + k)))
		return err;
	while (k) {
		size_t piece = ZPAGE - s->len % ZPAGE;
		if (piece > k)
			piece = k;
		if (!all_zero(p, piece))
			memcpy(s->map + s->len, p, piece);
		s->len += piece;
		p += piece;
		k -= piece;
	}
	return NULL;
}

/* consumed input bytes are read: release their pages every DROP_STEP */
static void sink_consumed(struct sink *s, size_t consumed)
{
	if (!(s->flags & PL_DECOMPRESS_DROP_INPUT) || consumed > s->n ||
	    consumed - s->dropped < DROP_STEP)
		return;
	uintptr_t a = (uintptr_t)(s->in + s->dropped), b = (uintptr_t)(s->in + consumed);
	a = (a + s->pagesz - 1) / s->pagesz * s->pagesz;
	b = b / s->pagesz * s->pagesz;
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
	s->dropped = consumed;
}

/* Shrink to the exact size, make it read-only, hand it over. */
static struct pl_error *sink_finish(struct sink *s, bool truncated, struct pl_decompressed *out)
{
	if (s->len == 0 && truncated)
		return pl_error(PL_E_CORE, "%s: %s data is truncated: it ends after %zu bytes, before "
				"any of the core; the file was cut short: copy it again", s->path,
				s->f->name, s->n);
	if (s->len == 0)
		return pl_error(PL_E_CORE, "%s: %s data decompresses to nothing; it is not a core "
				"dump", s->path, s->f->name);
	size_t size = page_up(s->len, s->pagesz);
	if (size < s->cap) {
		void *m = mremap(s->map, s->cap, size, 0);
		if (m == MAP_FAILED)
			return nomem(s, "shrinking the output", errno);
		s->map = m;
		s->cap = size;
	}
	mprotect(s->map, s->cap, PROT_READ);
	out->map = s->map;
	out->size = s->len;
	out->format = s->f->name;
	out->truncated = truncated;
	s->map = NULL;
	return NULL;
}
#endif

/* ---- zstd ------------------------------------------------------------------ */

#ifdef HAVE_ZSTD
static uint64_t zstd_hint(const uint8_t *in, size_t n)
{
	unsigned long long v = ZSTD_getFrameContentSize(in, n);
	return v == ZSTD_CONTENTSIZE_UNKNOWN || v == ZSTD_CONTENTSIZE_ERROR ? 0 : v;
}

static struct pl_error *zstd_error(const struct sink *s, size_t ret, size_t pos)
{
	switch (ZSTD_getErrorCode(ret)) {
	case ZSTD_error_memory_allocation:
		return nomem(s, "libzstd", ENOMEM);
	case ZSTD_error_frameParameter_windowTooLarge:
		return corrupt(s, pos, "its window is larger than 2 GiB or far larger than the file could use");
	case ZSTD_error_dstSize_tooSmall:
		return corrupt(s, pos, "a block is larger than its frame allows");
	default:
		return corrupt(s, pos, ZSTD_getErrorName(ret));
	}
}

/* Frames one after the other, skippable frames, unknown content sizes: the
 * streaming decoder takes them all. */
static struct pl_error *run_zstd(struct sink *s, bool *truncated)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	if (!dc)
		return nomem(s, "libzstd", ENOMEM);
	/* zstd --long=31 cores need a 2 GiB window; the default stops at 128 MiB.
	 * The window is allocated up front, so a header may only ask for more
	 * than the default when the file is large enough to have used it (a
	 * window over 1024 times the compressed size is a bomb, not a core). */
	int wlog = 27;
	while (wlog < 31 && ((size_t)1 << (wlog + 1)) / 1024 <= s->n)
		wlog++;
	ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, wlog);
	ZSTD_inBuffer in = { s->in, 0, 0 };
	struct pl_error *err = NULL;
	size_t ret = 0;
	for (;;) {
		ZSTD_outBuffer out = { s->buf, CHUNK, 0 };
		in.size = s->n - in.pos > SLICE ? in.pos + SLICE : s->n;
		ret = ZSTD_decompressStream(dc, &out, &in);
		if (ZSTD_isError(ret)) {
			err = zstd_error(s, ret, in.pos);
			break;
		}
		if ((err = sink_put(s, s->buf, out.pos)))
			break;
		sink_consumed(s, in.pos);
		/* one more call after the end would start a new frame */
		if (in.pos == s->n && (ret == 0 || out.pos < out.size))
			break;
	}
	*truncated = ret != 0;   /* in the middle of a frame */
	ZSTD_freeDCtx(dc);
	return err;
}
#define ZSTD_RUN run_zstd
#define ZSTD_HINT zstd_hint
#else
#define ZSTD_RUN NULL
#define ZSTD_HINT NULL
#endif

/* ---- lz4 (frame format) ---------------------------------------------------- */

#ifdef HAVE_LZ4
static uint64_t lz4_hint(const uint8_t *in, size_t n)
{
	/* FLG: version 01 in bits 7-6, content size present in bit 3 */
	if (n < 14 || memcmp(in, "\x04\x22\x4d\x18", 4) != 0 || (in[4] >> 6) != 1 ||
	    !(in[4] & 0x08))
		return 0;
	uint64_t v;
	memcpy(&v, in + 6, 8);
	return v;
}

static struct pl_error *run_lz4(struct sink *s, bool *truncated)
{
	LZ4F_dctx *dc = NULL;
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dc, LZ4F_VERSION)))
		return nomem(s, "liblz4", ENOMEM);
	struct pl_error *err = NULL;
	size_t pos = 0, ret = 0;
	for (;;) {
		size_t dn = CHUNK, sn = s->n - pos > SLICE ? SLICE : s->n - pos;
		ret = LZ4F_decompress(dc, s->buf, &dn, s->in + pos, &sn, NULL);
		if (LZ4F_isError(ret)) {
			const char *why = LZ4F_getErrorName(ret);
			err = strstr(why, "allocation") ? nomem(s, "liblz4", ENOMEM)
							 : corrupt(s, pos, why);
			break;
		}
		if (sn == 0 && dn == 0 && pos < s->n) {
			err = corrupt(s, pos, "liblz4 makes no progress");
			break;
		}
		pos += sn;
		if ((err = sink_put(s, s->buf, dn)))
			break;
		sink_consumed(s, pos);
		if (pos == s->n && (ret == 0 || dn < CHUNK))
			break;
	}
	*truncated = ret != 0;   /* the decoder still wants input */
	LZ4F_freeDecompressionContext(dc);
	return err;
}
#define LZ4_RUN run_lz4
#define LZ4_HINT lz4_hint
#else
#define LZ4_RUN NULL
#define LZ4_HINT NULL
#endif

/* ---- xz ---------------------------------------------------------------------- */

#ifdef HAVE_LZMA
static struct pl_error *lzma_error(const struct sink *s, lzma_ret r, size_t pos)
{
	switch (r) {
	case LZMA_MEM_ERROR:
		return nomem(s, "liblzma", ENOMEM);
	case LZMA_FORMAT_ERROR:
		return corrupt(s, pos, "not in the .xz format");
	case LZMA_OPTIONS_ERROR:
		return corrupt(s, pos, "unsupported compression options");
	case LZMA_DATA_ERROR:
		return corrupt(s, pos, "compressed data is corrupt");
	case LZMA_MEMLIMIT_ERROR:
		return corrupt(s, pos, "its dictionary is far larger than the file could use");
	default:
		return corrupt(s, pos, "liblzma error");
	}
}

/* Concatenated streams and stream padding are part of the format. */
static struct pl_error *run_xz(struct sink *s, bool *truncated)
{
	lzma_stream z = LZMA_STREAM_INIT;
	/* the dictionary is allocated up front: as for zstd's window, no more
	 * than 1024 times the compressed size (at least 256 MiB, xz -9's need) */
	uint64_t memlimit = (uint64_t)s->n * 1024;
	if (memlimit < ((uint64_t)256 << 20))
		memlimit = (uint64_t)256 << 20;
	lzma_ret r = lzma_stream_decoder(&z, memlimit, LZMA_CONCATENATED);
	if (r != LZMA_OK)
		return r == LZMA_MEM_ERROR ? nomem(s, "liblzma", ENOMEM)
					   : pl_error(PL_E_INTERNAL, "liblzma: cannot start (%d)", r);
	z.next_in = s->in;
	z.avail_in = s->n;
	struct pl_error *err = NULL;
	for (;;) {
		z.next_out = s->buf;
		z.avail_out = CHUNK;
		r = lzma_code(&z, LZMA_FINISH);
		if ((err = sink_put(s, s->buf, CHUNK - z.avail_out)))
			break;
		sink_consumed(s, (size_t)z.total_in);
		if (r == LZMA_STREAM_END)
			break;
		if (r == LZMA_BUF_ERROR && z.avail_in == 0) {
			*truncated = true;   /* no progress: the input ends early */
			break;
		}
		if (r != LZMA_OK) {
			err = lzma_error(s, r, (size_t)z.total_in);
			break;
		}
	}
	lzma_end(&z);
	return err;
}
#define XZ_RUN run_xz
#else
#define XZ_RUN NULL
#endif

/* ---- gzip -------------------------------------------------------------------- */

#ifdef HAVE_ZLIB
/* After a member: another member, zero padding, or damage. */
static struct pl_error *gzip_next(struct sink *s, z_stream *z, size_t pos, bool *done)
{
	*done = false;
	if (s->n - pos >= 2 && s->in[pos] == 0x1f && s->in[pos + 1] == 0x8b) {
		if (inflateReset(z) != Z_OK)
			return pl_error(PL_E_INTERNAL, "zlib: inflateReset failed");
		return NULL;
	}
	if (all_zero(s->in + pos, s->n - pos)) {
		*done = true;
		return NULL;
	}
	return corrupt(s, pos, "data after the last gzip member is not a gzip member");
}

static struct pl_error *gzip_error(const struct sink *s, z_stream *z, int r, size_t pos)
{
	if (r == Z_MEM_ERROR)
		return nomem(s, "zlib", ENOMEM);
	if (r == Z_NEED_DICT)
		return corrupt(s, pos, "needs a preset dictionary");
	return corrupt(s, pos, z->msg ? z->msg : "invalid data");
}

static struct pl_error *run_gzip(struct sink *s, bool *truncated)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	int r = inflateInit2(&z, 16 + MAX_WBITS);   /* gzip header and trailer */
	if (r != Z_OK)
		return r == Z_MEM_ERROR ? nomem(s, "zlib", ENOMEM)
					: pl_error(PL_E_INTERNAL, "zlib: inflateInit2 failed (%d)", r);
	struct pl_error *err = NULL;
	size_t pos = 0;
	for (;;) {
		size_t left = s->n - pos;
		z.next_in = s->in + pos;
		z.avail_in = left > (1u << 30) ? 1u << 30 : (uInt)left;   /* uInt counts */
		z.next_out = s->buf;
		z.avail_out = CHUNK;
		r = inflate(&z, Z_NO_FLUSH);
		size_t prev = pos, got = CHUNK - z.avail_out;
		pos = (size_t)(z.next_in - s->in);
		if ((err = sink_put(s, s->buf, got)))
			break;
		sink_consumed(s, pos);
		bool done = false;
		if (r == Z_STREAM_END && (pos == s->n || (err = gzip_next(s, &z, pos, &done)) || done))
			break;
		if (r == Z_BUF_ERROR && pos == s->n) {
			*truncated = true;   /* no progress: the input ends early */
			break;
		}
		if (r == Z_BUF_ERROR && pos == prev && !got) {
			err = corrupt(s, pos, "zlib makes no progress");
			break;
		}
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
			err = gzip_error(s, &z, r, pos);
			break;
		}
	}
	inflateEnd(&z);
	return err;
}
#define GZIP_RUN run_gzip
#else
#define GZIP_RUN NULL
#endif

/* ---- entry points ------------------------------------------------------------ */

static const struct format formats[] = {
	{ "zstd", "\x28\xb5\x2f\xfd", 4, true, "libzstd", "libzstd-dev", "zstd -dc",
	  ZSTD_RUN, ZSTD_HINT },
	{ "lz4", "\x04\x22\x4d\x18", 4, true, "liblz4", "liblz4-dev", "lz4 -dc", LZ4_RUN, LZ4_HINT },
	{ "xz", "\xfd" "7zXZ\0", 6, false, "liblzma", "liblzma-dev", "xz -dc", XZ_RUN, NULL },
	{ "gzip", "\x1f\x8b", 2, false, "zlib", "zlib1g-dev", "gzip -dc", GZIP_RUN, NULL },
};

static const struct format *detect(const uint8_t *in, size_t n)
{
	size_t at = skip_skippable(in, n);
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		const struct format *f = &formats[i];
		if ((at == 0 || f->skippable) && n - at >= f->len && memcmp(in + at, f->magic, f->len) == 0)
			return f;
	}
	return NULL;
}

const char *pl_compression_detect(const uint8_t *in, size_t n)
{
	const struct format *f = detect(in, n);
	return f ? f->name : NULL;
}

struct pl_error *pl_decompress(const uint8_t *in, size_t n, const char *path, size_t limit,
			       unsigned flags, struct pl_decompressed *out)
{
	memset(out, 0, sizeof(*out));
	const struct format *f = detect(in, n);
	if (!f)
		return pl_error(PL_E_INTERNAL, "%s: not compressed data", path);
	if (!f->run)
		return pl_error(PL_E_CORE, "%s is %s-compressed, but this pyleak-core was built "
				"without %s: install %s and rebuild, or decompress it first "
				"(%s < %s > core)", path, f->name, f->lib, f->pkg, f->tool, path);
#ifdef HAVE_ANY
	long pg = sysconf(_SC_PAGESIZE);
	struct sink s = { .f = f, .path = path, .in = in, .n = n, .flags = flags,
			  .pagesz = pg > 0 ? (size_t)pg : 4096,
			  .limit = limit ? limit : PL_DECOMPRESS_LIMIT };
	bool truncated = false;
	struct pl_error *err = sink_init(&s);
	if (!err)
		err = f->run(&s, &truncated);
	if (!err)
		err = sink_finish(&s, truncated, out);
	if (s.map)
		munmap(s.map, s.cap);
	free(s.buf);
	return err;
#else
	(void)limit;
	(void)flags;
	return pl_error(PL_E_INTERNAL, "%s: no decompressor", path);
#endif
}
