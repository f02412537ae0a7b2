/* JSON output helpers. Strings come from an untrusted core: everything is
 * escaped, invalid UTF-8 becomes U+FFFD, and nothing is ever cut mid-escape. */
#ifndef PYLEAK_JSON_H
#define PYLEAK_JSON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Decode one UTF-8 sequence at s: its length (1-4) and code point, or 0 when
 * it is not valid UTF-8 (overlong forms, past U+10FFFF, cut short, bad
 * continuation bytes). Surrogates are decoded; callers decide about them. */
size_t pl_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Write s (at most len bytes) as a JSON string literal, with quotes. */
void pl_json_str(FILE *out, const char *s, size_t len);
static inline void pl_json_cstr(FILE *out, const char *s)
{
	pl_json_str(out, s ? s : "", s ? strlen(s) : 0);
}

#endif
