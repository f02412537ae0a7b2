#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t fz_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	if (!n)
		return 0;
	unsigned char c = s[0];
	size_t len;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		len = 2, v = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, v = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3fu);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

bool fz_utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = fz_utf8_seq(s + i, n - i, &cp);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

size_t fz_utf8_put(uint32_t cp, unsigned char *o)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool hex4(const unsigned char *s, size_t n, size_t at, uint32_t *v)
{
	if (at + 4 > n)
		return false;
	*v = 0;
	for (size_t i = 0; i < 4; i++) {
		int h = hexval(s[at + i]);
		if (h < 0)
			return false;
		*v = (*v << 4) | (uint32_t)h;
	}
	return true;
}

bool fz_json_string(const unsigned char *s, size_t n, size_t *pos, unsigned char *dec,
		    size_t *declen)
{
	size_t i = *pos, o = 0;
	if (i >= n || s[i] != '"')
		return false;
	i++;
	for (;;) {
		if (i >= n)
			return false;
		unsigned char c = s[i];
		if (c == '"') {
			i++;
			break;
		}
		if (c < 0x20)
			return false;
		if (c != '\\') {
			uint32_t cp;
			size_t l = fz_utf8_seq(s + i, n - i, &cp);
			if (!l)
				return false;
			if (dec)
				memcpy(dec + o, s + i, l);
			o += l;
			i += l;
			continue;
		}
		if (++i >= n)
			return false;
		uint32_t cp;
		switch (s[i]) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (!hex4(s, n, i + 1, &cp))
				return false;
			i += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return false;   /* lone low surrogate */
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t lo;
				if (i + 2 >= n || s[i + 1] != '\\' || s[i + 2] != 'u' ||
				    !hex4(s, n, i + 3, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return false;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			break;
		default:
			return false;
		}
		i++;
		unsigned char tmp[4];
		size_t l = fz_utf8_put(cp, tmp);
		if (dec)
			memcpy(dec + o, tmp, l);
		o += l;
	}
	*pos = i;
	if (declen)
		*declen = o;
	return true;
}

static void ws(const unsigned char *s, size_t n, size_t *i, bool newlines)
{
	while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\r' || (newlines && s[*i] == '\n')))
		(*i)++;
}

static bool number(const unsigned char *s, size_t n, size_t *pos)
{
	size_t i = *pos;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	*pos = i;
	return true;
}

static bool value(const unsigned char *s, size_t n, size_t *pos, bool nl, int depth)
{
	size_t i = *pos;
	if (depth > 200)
		return false;
	ws(s, n, &i, nl);
	if (i >= n)
		return false;
	switch (s[i]) {
	case '"':
		if (!fz_json_string(s, n, &i, NULL, NULL))
			return false;
		break;
	case '{':
	case '[': {
		unsigned char close = s[i] == '{' ? '}' : ']';
		bool obj = s[i] == '{';
		i++;
		ws(s, n, &i, nl);
		if (i < n && s[i] == close) {
			i++;
			break;
		}
		for (;;) {
			if (obj) {
				ws(s, n, &i, nl);
				if (!fz_json_string(s, n, &i, NULL, NULL))
					return false;
				ws(s, n, &i, nl);
				if (i >= n || s[i] != ':')
					return false;
				i++;
			}
			if (!value(s, n, &i, nl, depth + 1))
				return false;
			ws(s, n, &i, nl);
			if (i < n && s[i] == ',') {
				i++;
				continue;
			}
			if (i < n && s[i] == close) {
				i++;
				break;
			}
			return false;
		}
		break;
	}
	case 't':
		if (n - i < 4 || memcmp(s + i, "true", 4))
			return false;
		i += 4;
		break;
	case 'f':
		if (n - i < 5 || memcmp(s + i, "false", 5))
			return false;
		i += 5;
		break;
	case 'n':
		if (n - i < 4 || memcmp(s + i, "null", 4))
			return false;
		i += 4;
		break;
	default:
		if (!number(s, n, &i))
			return false;
	}
	ws(s, n, &i, nl);
	*pos = i;
	return true;
}

bool fz_json_valid(const unsigned char *s, size_t n, bool lines)
{
	if (!lines) {
		size_t i = 0;
		return value(s, n, &i, true, 0) && i == n;
	}
	size_t i = 0;
	while (i < n) {
		const unsigned char *nl = memchr(s + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - s) : n, j = i;
		ws(s, end, &j, false);
		if (j < end) {
			size_t k = i;
			if (!value(s, end, &k, false, 0) || k != end)
				return false;
		}
		i = end + 1;
	}
	return true;
}

static void dump(const char *name, const void *p, size_t n)
{
	const unsigned char *s = p;
	fprintf(stderr, "%s (%zu bytes):", name, n);
	for (size_t i = 0; i < n && i < 512; i++)
		fprintf(stderr, "%s%02x", i % 32 ? " " : "\n  ", s[i]);
	fprintf(stderr, "%s\n", n > 512 ? " ..." : "");
}

void fz_fail(const char *what, const void *a, size_t an, const void *b, size_t bn)
{
	fprintf(stderr, "\nFUZZ CHECK FAILED: %s\n", what);
	if (a)
		dump("input", a, an);
	if (b)
		dump("output", b, bn);
	abort();
}

/* UBSan: stop at the first report (libFuzzer then saves the input); the
 * suppressions of known, filed reports come from fuzz/run.sh. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}
