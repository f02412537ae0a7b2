/* The decompressor of compressed cores (coredump/decompress.c).
 *
 * Mode 0 (byte 0 even): the rest of the input is taken as a compressed file.
 * When pl_compression_detect names a format, pl_decompress must return an
 * error or a read-only mapping of at most the limit, naming that format; no
 * crash, leak or hang whatever the bytes.
 *
 * Mode 1 (byte 0 odd): the rest is plain data. It is compressed with the
 * library of the format that byte 0 selects (zstd, with or without its
 * content size; lz4 frame; xz; gzip), and pl_decompress must give back
 * exactly the plain data, not truncated. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "coredump/decompress.h"

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

#define LIMIT ((size_t)64 << 20)

static const uint8_t *in_data;
static size_t in_size;

#define FAIL(what) fz_fail(what, in_data, in_size, NULL, 0)

/* Compress plain with format f into a malloc'd buffer; NULL when the
 * library is not built in. */
static uint8_t *pack(int f, const uint8_t *plain, size_t n, size_t *outn)
{
	size_t cap = n + n / 2 + 4096;
	uint8_t *out = malloc(cap);
	if (!out)
		return NULL;
	*outn = 0;
	switch (f) {
#ifdef HAVE_ZSTD
	case 0:
	case 1: {
		ZSTD_CCtx *c = ZSTD_createCCtx();
		if (f == 1) {   /* streaming: no content size in the header */
			ZSTD_inBuffer ib = { plain, n, 0 };
			ZSTD_outBuffer ob = { out, cap, 0 };
			size_t r;
			do
				r = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
			while (r && !ZSTD_isError(r));
			*outn = ZSTD_isError(r) ? 0 : ob.pos;
		} else {
			size_t r = ZSTD_compressCCtx(c, out, cap, plain, n, 1);
			*outn = ZSTD_isError(r) ? 0 : r;
		}
		ZSTD_freeCCtx(c);
		break;
	}
#endif
#ifdef HAVE_LZ4
	case 2: {
		size_t need = LZ4F_compressFrameBound(n, NULL);
		if (need > cap) {
			uint8_t *o = realloc(out, need);
			if (!o)
				break;
			out = o;
			cap = need;
		}
		size_t r = LZ4F_compressFrame(out, cap, plain, n, NULL);
		*outn = LZ4F_isError(r) ? 0 : r;
		break;
	}
#endif
#ifdef HAVE_LZMA
	case 3: {
		size_t pos = 0;
		if (lzma_easy_buffer_encode(0, LZMA_CHECK_CRC64, NULL, plain, n, out, &pos, cap) == LZMA_OK)
			*outn = pos;
		break;
	}
#endif
#ifdef HAVE_ZLIB
	case 4: {
		z_stream z;
		memset(&z, 0, sizeof(z));
		if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			break;
		z.next_in = (Bytef *)plain;
		z.avail_in = (uInt)n;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) == Z_STREAM_END)
			*outn = z.total_out;
		deflateEnd(&z);
		break;
	}
#endif
	default:
		break;
	}
	if (!*outn) {
		free(out);
		return NULL;
	}
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in_data = data;
	in_size = size;
	if (size < 1)
		return 0;
	const uint8_t *body = data + 1;
	size_t n = size - 1;
	struct pl_decompressed d;
	if (!(data[0] & 1)) {
		const char *fmt = pl_compression_detect(body, n);
		if (!fmt)
			return 0;
		/* a private copy: the decompressor may read it in any order */
		uint8_t *copy = malloc(n ? n : 1);
		if (!copy)
			return 0;
		memcpy(copy, body, n);
		struct pl_error *err = pl_decompress(copy, n, "fuzz", LIMIT, 0, &d);
		free(copy);
		if (err) {
			if (!err->msg || !*err->msg)
				FAIL("an error without a message");
			pl_error_free(err);
			return 0;
		}
		if (d.size > LIMIT)
			FAIL("decompressed past the limit");
		if (!d.format || strcmp(d.format, fmt) != 0)
			FAIL("format differs from the detected one");
		if (d.map)
			munmap(d.map, d.size);
		return 0;
	}
	size_t cn;
	uint8_t *c = pack((data[0] >> 1) % 5, body, n, &cn);
	if (!c)
		return 0;
	struct pl_error *err = pl_decompress(c, cn, "fuzz", LIMIT, 0, &d);
	free(c);
	if (err) {
		if (n)   /* empty plain data may fairly be "nothing decompressed" */
			FAIL("valid compressed data refused");
		pl_error_free(err);
		return 0;
	}
	if (d.size != n || (n && memcmp(d.map, body, n) != 0))
		FAIL("round trip differs");
	if (d.truncated)
		FAIL("complete data reported as truncated");
	if (d.map)
		munmap(d.map, d.size);
	return 0;
}
