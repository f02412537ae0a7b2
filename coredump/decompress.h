/* Compressed cores (systemd-coredump writes zstd): recognised by their magic
 * bytes, never by the file name, and decompressed into an anonymous mapping
 * without a temporary file. Cores are mostly zero pages: the mapping is
 * MAP_NORESERVE and pages that decompress to zeros are never written, so the
 * resident memory stays close to the non-zero part of the core. */
#ifndef PYLEAK_DECOMPRESS_H
#define PYLEAK_DECOMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Refuse to decompress more than this (a decompression bomb, or a core no
 * real process could have written). */
#define PL_DECOMPRESS_LIMIT ((size_t)1 << 40)

/* in is a read-only mapping of a file: release its pages once read (they
 * would otherwise count as resident until it is unmapped). Never for
 * anonymous or malloc'd memory, whose contents this would destroy. */
#define PL_DECOMPRESS_DROP_INPUT 1u

/* The compressed format whose magic starts in[0..n), e.g. "zstd", "lz4",
 * "xz", "gzip", or NULL for none. */
const char *pl_compression_detect(const uint8_t *in, size_t n);

struct pl_decompressed {
	uint8_t *map;       /* read-only anonymous mapping of size bytes: munmap it */
	size_t size;
	const char *format; /* as pl_compression_detect names it */
	bool truncated;     /* the compressed data ended before its end marker */
};

/* Decompress in[0..n), which must start with a magic that
 * pl_compression_detect knows. path names the file in messages. limit caps
 * the decompressed size (0: PL_DECOMPRESS_LIMIT). Data cut short is not an
 * error: what precedes the cut is returned with truncated set (an error only
 * when nothing at all decompresses). Corrupt data is PL_E_CORE, running out
 * of memory PL_E_NOMEM. On error *out is zeroed. */
struct pl_error *pl_decompress(const uint8_t *in, size_t n, const char *path, size_t limit,
			       unsigned flags, struct pl_decompressed *out);

#endif
