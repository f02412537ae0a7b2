/* Checkers shared by the fuzz targets, written from the specifications (RFC
 * 3629, RFC 8259) and not from the code they check. */
#ifndef PYLEAK_FUZZ_CHECK_H
#define PYLEAK_FUZZ_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict UTF-8 decode of one sequence: its length, or 0 when invalid
 * (overlong, surrogate, past U+10FFFF, cut short, bad continuation). */
size_t fz_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp);
/* Is s[0..n) valid UTF-8 throughout? */
bool fz_utf8_valid(const unsigned char *s, size_t n);
/* Append the UTF-8 encoding of cp (surrogates too) to out; its length. */
size_t fz_utf8_put(uint32_t cp, unsigned char *out);

/* Parse one JSON string literal at s[*pos] (RFC 8259, lone surrogate escapes
 * rejected), advancing *pos past it; its decoded UTF-8 goes into dec (at
 * least n bytes) and its length into *declen (dec may be NULL). */
bool fz_json_string(const unsigned char *s, size_t n, size_t *pos, unsigned char *dec,
		    size_t *declen);
/* Is s[0..n) one JSON value, optionally surrounded by whitespace? With
 * lines, every non-empty line must be one (JSON Lines). */
bool fz_json_valid(const unsigned char *s, size_t n, bool lines);

/* Abort with a message and a hex dump of the bytes involved: libFuzzer
 * records the input as a crash. */
_Noreturn void fz_fail(const char *what, const void *a, size_t an, const void *b, size_t bn);

#endif
