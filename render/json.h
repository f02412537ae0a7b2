/* JSON output helpers. Strings come from an untrusted core: everything is
 * escaped, invalid UTF-8 becomes U+FFFD, and nothing is ever cut mid-escape. */
#ifndef PYLEAK_JSON_H
#define PYLEAK_JSON_H

#include <stdio.h>
#include <string.h>

/* Write s (at most len bytes) as a JSON string literal, with quotes. */
void pl_json_str(FILE *out, const char *s, size_t len);
static inline void pl_json_cstr(FILE *out, const char *s)
{
	pl_json_str(out, s ? s : "", s ? strlen(s) : 0);
}

#endif
