/* The escapers, on arbitrary bytes.
 *
 * pl_json_str: the output must be exactly one JSON string literal (RFC 8259,
 * checked by fuzz/check.c), valid UTF-8, and decode to the input with every
 * byte that is not part of a valid UTF-8 sequence (surrogates included)
 * replaced by U+FFFD.
 *
 * pl_dot_escape (render/dot.h), into a heap buffer of exactly len bytes so
 * that ASan sees any write past it: the output must be a prefix of the input
 * escaped piece by piece as the header documents, followed by "…" when the
 * input was cut; the cut must be needed (max_chars reached, or the next piece
 * does not fit); the text must be valid UTF-8 with no byte below 0x20, no DEL,
 * no C1 control, no U+FFFE/U+FFFF, backslashes in pairs, the repr's quote
 * never bare, and no '&' that Graphviz could take for an entity. Then the text
 * goes through Graphviz: set as a label, agwrite, agmemread, and it must come
 * back unchanged.
 *
 * Input: byte 0 quote selector and flags, bytes 1-2 len, byte 3 max_chars,
 * the rest is the string. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <graphviz/cgraph.h>

#include "check.h"
#include "render/dot.h"
#include "render/json.h"

static const uint8_t *in_data;
static size_t in_size;

#define FAIL(what, out, outn) fz_fail(what, in_data, in_size, out, outn)

/* ---- JSON --------------------------------------------------------------- */

static void check_json(const unsigned char *s, size_t n)
{
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	if (!f)
		abort();
	pl_json_str(f, (const char *)s, n);
	if (fclose(f) != 0)
		abort();
	const unsigned char *o = (const unsigned char *)buf;
	if (!fz_utf8_valid(o, blen))
		FAIL("JSON: output is not valid UTF-8", o, blen);
	unsigned char *dec = malloc(blen + 1);
	size_t pos = 0, declen = 0;
	if (!dec)
		abort();
	if (!fz_json_string(o, blen, &pos, dec, &declen) || pos != blen)
		FAIL("JSON: output is not one JSON string literal", o, blen);
	if (!fz_json_valid(o, blen, false))
		FAIL("JSON: output is not a JSON value", o, blen);
	/* expected: the input, invalid bytes as U+FFFD each */
	unsigned char *want = malloc(3 * n + 1);
	size_t w = 0;
	if (!want)
		abort();
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = fz_utf8_seq(s + i, n - i, &cp);
		if (l) {
			memcpy(want + w, s + i, l);
			w += l;
			i += l;
		} else {
			memcpy(want + w, "\xef\xbf\xbd", 3);
			w += 3;
			i++;
		}
	}
	if (w != declen || memcmp(want, dec, w))
		FAIL("JSON: decoded output is not the input (invalid bytes as U+FFFD)", o, blen);
	free(want);
	free(dec);
	free(buf);
}

/* ---- DOT ---------------------------------------------------------------- */

/* Graphviz passes "&#...;", "&#x...;" and "&name;" for a name it knows
 * (2.43 checks a table of HTML entity names, the longest "thetasym") to the
 * SVG as entity references; the escaper must never let one through. Longer
 * names may be copied or escaped. */
static bool entity_at(const unsigned char *s, size_t n)
{
	if (n >= 2 && s[1] == '#')
		return true;
	size_t i = 1;
	while (i < n && i <= 12 && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
				    (s[i] >= '0' && s[i] <= '9')))
		i++;
	return i > 1 && i < n && s[i] == ';';
}

/* The escaped forms allowed for the piece of src at i, from the header's
 * table: up to two (a lone '&' may be copied or escaped). *adv: input bytes
 * it stands for. Returns how many forms were written. */
static int pieces(const unsigned char *s, size_t n, size_t i, char quote, char forms[2][16],
		  size_t flen[2], size_t *adv)
{
	unsigned char c = s[i];
	uint32_t cp;
	size_t l;
	*adv = 1;
	if (c == '\\') {
		flen[0] = (size_t)sprintf(forms[0], "\\\\");
	} else if (quote && c == (unsigned char)quote) {
		flen[0] = (size_t)sprintf(forms[0], "\\\\%c", quote);
	} else if (c == '\n' || c == '\r' || c == '\t') {
		flen[0] = (size_t)sprintf(forms[0], "\\\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
	} else if (c < 0x20 || c == 0x7f) {
		flen[0] = (size_t)sprintf(forms[0], "\\\\x%02x", c);
	} else if (c == '&') {
		flen[0] = (size_t)sprintf(forms[0], "\\\\x26");
		if (entity_at(s + i, n - i))
			return 1;
		forms[1][0] = '&';
		flen[1] = 1;
		return 2;
	} else if (c < 0x80) {
		forms[0][0] = (char)c;
		flen[0] = 1;
	} else if (n - i >= 3 && c == 0xed && s[i + 1] >= 0xa0 && s[i + 1] <= 0xbf &&
		   (s[i + 2] & 0xc0) == 0x80) {   /* an encoded surrogate */
		cp = 0xd000u | ((s[i + 1] & 0x3fu) << 6) | (s[i + 2] & 0x3fu);
		flen[0] = (size_t)sprintf(forms[0], "\\\\u%04x", (unsigned)cp);
		*adv = 3;
	} else if ((l = fz_utf8_seq(s + i, n - i, &cp)) == 0) {
		flen[0] = (size_t)sprintf(forms[0], "\\\\x%02x", c);
	} else if (cp < 0xa0) {
		flen[0] = (size_t)sprintf(forms[0], "\\\\x%02x", (unsigned)cp);
		*adv = l;
	} else if (cp == 0xfffe || cp == 0xffff) {
		flen[0] = (size_t)sprintf(forms[0], "\\\\u%04x", (unsigned)cp);
		*adv = l;
	} else {
		memcpy(forms[0], s + i, l);
		flen[0] = l;
		*adv = l;
	}
	return 1;
}

/* Match out[0..on) against the escaped pieces of src; *i, *k: input bytes
 * and pieces matched. True if all of out was matched. */
static bool match(const unsigned char *s, size_t n, char quote, const char *out, size_t on,
		  size_t *i, size_t *k)
{
	size_t o = 0;
	*i = 0;
	*k = 0;
	while (*i < n && o < on) {
		char forms[2][16];
		size_t flen[2], adv;
		int nf = pieces(s, n, *i, quote, forms, flen, &adv);
		int f;
		for (f = 0; f < nf; f++)
			if (flen[f] <= on - o && !memcmp(out + o, forms[f], flen[f]))
				break;
		if (f == nf)
			return false;
		o += flen[f];
		*i += adv;
		(*k)++;
	}
	return o == on;
}

/* Was cutting at input byte i (after k pieces, o output bytes) needed? */
static bool cut_needed(const unsigned char *s, size_t n, char quote, size_t len, size_t max_chars,
		       size_t i, size_t k, size_t o)
{
	if (max_chars && k >= max_chars)
		return true;
	char forms[2][16];
	size_t flen[2], adv;
	int nf = pieces(s, n, i, quote, forms, flen, &adv);
	size_t big = flen[0];
	if (nf == 2 && flen[1] > big)
		big = flen[1];
	bool last = i + adv >= n;
	return o + big + (last ? 0 : 3) >= len;
}

static void check_text(const unsigned char *o, size_t on, char quote)
{
	if (!fz_utf8_valid(o, on))
		FAIL("DOT: output is not valid UTF-8", o, on);
	size_t run = 0;
	for (size_t j = 0; j < on;) {
		uint32_t cp;
		size_t l = fz_utf8_seq(o + j, on - j, &cp);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0xfffe || cp == 0xffff)
			FAIL("DOT: control or non-XML character in output", o, on);
		if (cp == '&' && entity_at(o + j, on - j))
			FAIL("DOT: '&' that Graphviz takes for an entity", o, on);
		if (quote && cp == (unsigned char)quote && (run == 0 || run % 2))
			FAIL("DOT: bare quote in output", o, on);
		if (cp != '\\' && run % 2)
			FAIL("DOT: odd run of backslashes", o, on);
		run = cp == '\\' ? run + 1 : 0;
		j += l;
	}
	if (run % 2)
		FAIL("DOT: odd run of backslashes at the end", o, on);
}

/* Through Graphviz: label, agwrite, agmemread, and back unchanged. */
static void check_graphviz(const char *text, size_t tn)
{
	Agraph_t *g = agopen("g", Agdirected, NULL);
	if (!g)
		abort();
	/* Graphviz's own default, so that an empty label is written too */
	agattr(g, AGNODE, "label", "\\N");
	Agnode_t *nd = agnode(g, "n", 1);
	agset(nd, "label", (char *)text);
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	if (!f)
		abort();
	agwrite(g, f);
	if (fclose(f) != 0)
		abort();
	agclose(g);
	Agraph_t *g2 = agmemread(buf);
	if (!g2)
		FAIL("DOT: agread rejects what agwrite wrote", buf, blen);
	Agnode_t *n2 = agnode(g2, "n", 0);
	const char *back = n2 ? agget(n2, "label") : NULL;
	if (!back || strlen(back) != tn || memcmp(back, text, tn))
		FAIL("DOT: label does not survive agwrite + agread", buf, blen);
	agclose(g2);
	free(buf);
}

static void check_dot(const unsigned char *s, size_t n, bool null_src, size_t len,
		      size_t max_chars, char quote)
{
	char *dst = malloc(len);   /* exactly len bytes: ASan catches any overrun */
	if (!dst && len)
		abort();
	size_t r = pl_dot_escape(dst, len, null_src ? NULL : (const char *)s, n, max_chars, quote);
	if (null_src)
		n = 0;
	if (len == 0) {
		if (r != 0)
			FAIL("DOT: len 0 but something written", NULL, 0);
		free(dst);
		return;
	}
	if (r >= len || !memchr(dst, 0, len) || strlen(dst) != r)
		FAIL("DOT: return value is not the NUL-terminated length within len", dst, len);
	const unsigned char *o = (const unsigned char *)dst;
	check_text(o, r, quote);
	size_t i, k;
	bool ok = false;
	if (match(s, n, quote, dst, r, &i, &k) && i == n)
		ok = true;   /* not cut */
	else if (r >= 3 && !memcmp(dst + r - 3, "\xe2\x80\xa6", 3) &&
		 match(s, n, quote, dst, r - 3, &i, &k) && i < n &&
		 cut_needed(s, n, quote, len, max_chars, i, k, r - 3))
		ok = true;   /* cut, with the ellipsis */
	else if (len < 4 && match(s, n, quote, dst, r, &i, &k) && i < n &&
		 cut_needed(s, n, quote, len, max_chars, i, k, r))
		ok = true;   /* cut, no room for the ellipsis */
	if (!ok)
		FAIL("DOT: output is not the escaped input (or a needed cut of it + \"…\")", dst, r);
	check_graphviz(dst, r);
	free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in_data = data;
	in_size = size;
	if (size < 4) {
		check_json(data, size);
		return 0;
	}
	static const char quotes[4] = { 0, '\'', '"', 0 };
	char quote = quotes[data[0] & 3];
	bool null_src = (data[0] & 0xfc) == 0xfc;
	size_t len = ((size_t)data[1] | (size_t)data[2] << 8) % 1025;
	size_t max_chars = data[3];
	const unsigned char *s = data + 4;
	size_t n = size - 4;
	/* the string alone, in a buffer of its exact size */
	unsigned char *copy = malloc(n ? n : 1);
	if (!copy)
		abort();
	memcpy(copy, s, n);
	check_json(copy, n);
	check_dot(copy, n, null_src, len, max_chars, quote);
	/* and with room for everything */
	check_dot(copy, n, false, 7 * n + 8, 0, quote);
	free(copy);
	return 0;
}
