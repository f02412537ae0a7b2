/* The DOT/SVG pictures (render/dot.c).
 *
 * unit (no core):
 *  - pl_dot_escape on nasty bytes: quotes, backslashes, newlines, every C0
 *    byte, DEL, C1, 0xff, overlong and truncated UTF-8, encoded surrogates,
 *    entity-like '&', a 10 kB string, tiny buffers; each result also goes
 *    through agwrite -> agmemread (same text back) and SVG (well-formed XML);
 *  - a hand-made graph (fake heap, CSR edges, roots, one cycle): chain,
 *    backrefs and cycle pictures compared with testdata/golden/dot-synthetic.dot,
 *    plus the overflow nodes and the caps;
 *  - damaged input: parent loops, referrer ids out of range, bad type
 *    indices, nodes in no chain or no cycle, unwritable paths.
 * cores (every CPython build, like test_graph):
 *  - demo_leak, listeners: the chain of a __main__.Handler as DOT, read back
 *    with agread: one node per hop object, ".listeners" and ".__self__" edges
 *    (".__dict__" and "['listeners']" where instances have a __dict__); the
 *    same as SVG: well-formed XML with one <g id="node..."> per node and one
 *    <g id="edge..."> per edge; the same DOT twice for the same core;
 *    backrefs of the Handler reach its root and stop there; backrefs of
 *    Handler.on_event with too_many=5 collapse ~400 bound methods into one
 *    "N more referrers" node; too_many=1000 stops at the node cap;
 *  - cycles: every cycle group's sample drawn: its SCC (50 nodes at most,
 *    the rest one overflow node), and a cycle among the drawn members.
 *
 * Regenerate the golden file after an intended change of the output:
 *     PYLEAK_REGEN_GOLDEN=1 PYLEAK_SRCDIR=$PWD CK_RUN_CASE=unit tests/test_dot
 * (it is written for Graphviz 2.43's agwrite; another Graphviz may lay out the
 * DOT text differently.) */
#include "config.h"

#include <check.h>

#include "check_run.h"
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <graphviz/cgraph.h>

#include "coredump/objects.h"
#include "coredump/program.h"
#include "graph/cycles.h"
#include "graph/graph.h"
#include "graph/roots.h"
#include "oracle.h"
#include "render/dot.h"

static struct target targets[16];
static size_t ntargets;
static struct scenario scenarios[64];
static size_t nscenarios;

/* ---- helpers -------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? 2 * cap : 65536;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t k = fread(buf + n, 1, 4096, f);
		n += k;
		if (k < 4096)
			break;
	}
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

static Agraph_t *read_dot_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	Agraph_t *G = agread(f, NULL);
	fclose(f);
	return G;
}

static size_t count_str(const char *s, const char *pat)
{
	size_t n = 0, l = strlen(pat);
	for (const char *p = s; (p = strstr(p, pat)); p += l)
		n++;
	return n;
}

/* A strict UTF-8 decoder for the checks: length, or 0. */
static size_t u8(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned c = s[0];
	size_t len;
	uint32_t v;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, v = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static bool xml_char(uint32_t c)
{
	return c == 9 || c == 10 || c == 13 || (c >= 0x20 && c <= 0xd7ff) ||
	       (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

/* Length of a valid reference at s ("&amp;", "&#45;"), or 0. */
static size_t xml_ref(const char *s, size_t n)
{
	static const char *names[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
	for (size_t k = 0; k < 5; k++)
		if (n >= strlen(names[k]) && !strncmp(s, names[k], strlen(names[k])))
			return strlen(names[k]);
	if (n < 4 || s[1] != '#')
		return 0;
	bool hex = s[2] == 'x';
	size_t i = hex ? 3 : 2, d0 = i;
	uint64_t v = 0;
	while (i < n && i < 16 && (hex ? strchr("0123456789abcdefABCDEF", s[i]) != NULL :
					 (s[i] >= '0' && s[i] <= '9')) && s[i]) {
		v = v * (hex ? 16 : 10) + (uint64_t)(s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
		i++;
	}
	if (i == d0 || i >= n || s[i] != ';' || v > 0x10ffff || !xml_char((uint32_t)v))
		return 0;
	return i + 1;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == ':' || c == '.';
}

/* Minimal XML well-formedness: characters, one root element, balanced and
 * matching tags, quoted attributes, valid references, comments. 0, or -1
 * with the reason in why. */
static int xml_check(const char *s, size_t n, char *why, size_t wl)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = u8((const unsigned char *)s + i, n - i, &cp);
		if (!l || !xml_char(cp)) {
			snprintf(why, wl, "bad character at byte %zu (0x%02x)", i, (unsigned char)s[i]);
			return -1;
		}
		i += l;
	}
	char stack[256][64];
	size_t depth = 0, i = 0;
	bool root_seen = false;
#define FAIL(...) do { snprintf(why, wl, __VA_ARGS__); return -1; } while (0)
	while (i < n) {
		if (s[i] == '<') {
			if (!strncmp(s + i, "<?", 2)) {
				const char *e = strstr(s + i, "?>");
				if (!e)
					FAIL("unterminated <? at %zu", i);
				i = (size_t)(e - s) + 2;
			} else if (!strncmp(s + i, "<!--", 4)) {
				const char *e = strstr(s + i + 4, "--");
				if (!e || e[2] != '>')
					FAIL("bad comment at %zu", i);
				i = (size_t)(e - s) + 3;
			} else if (!strncmp(s + i, "<!DOCTYPE", 9)) {
				if (root_seen)
					FAIL("DOCTYPE after the root at %zu", i);
				char q = 0;
				int br = 0;
				for (i += 9; i < n; i++) {
					if (q) {
						if (s[i] == q)
							q = 0;
					} else if (s[i] == '"' || s[i] == '\'') {
						q = s[i];
					} else if (s[i] == '[') {
						br++;
					} else if (s[i] == ']') {
						br--;
					} else if (s[i] == '>' && !br) {
						break;
					}
				}
				if (i >= n)
					FAIL("unterminated DOCTYPE");
				i++;
			} else if (!strncmp(s + i, "<![CDATA[", 9)) {
				const char *e = strstr(s + i, "]]>");
				if (!e || !depth)
					FAIL("bad CDATA at %zu", i);
				i = (size_t)(e - s) + 3;
			} else if (s[i + 1] == '/') {
				size_t b = i + 2, e = b;
				while (e < n && name_char(s[e]))
					e++;
				size_t k = e;
				while (k < n && (s[k] == ' ' || s[k] == '\n' || s[k] == '\t' || s[k] == '\r'))
					k++;
				if (e == b || k >= n || s[k] != '>')
					FAIL("bad end tag at %zu", i);
				if (!depth || strlen(stack[depth - 1]) != e - b || strncmp(stack[depth - 1], s + b, e - b))
					FAIL("end tag </%.*s> at %zu does not match <%s>", (int)(e - b), s + b, i,
					     depth ? stack[depth - 1] : "(none)");
				depth--;
				i = k + 1;
			} else {
				size_t b = i + 1, e = b;
				while (e < n && name_char(s[e]))
					e++;
				if (e == b || e - b >= 64)
					FAIL("bad start tag at %zu", i);
				if (!depth && root_seen)
					FAIL("second root element at %zu", i);
				i = e;
				bool empty = false;
				for (;;) {
					while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
						i++;
					if (i >= n)
						FAIL("unterminated tag");
					if (s[i] == '>') {
						i++;
						break;
					}
					if (s[i] == '/' && i + 1 < n && s[i + 1] == '>') {
						i += 2;
						empty = true;
						break;
					}
					size_t ab = i;
					while (i < n && name_char(s[i]))
						i++;
					if (i == ab || i >= n || s[i] != '=')
						FAIL("bad attribute at %zu", ab);
					i++;
					char q = i < n ? s[i] : 0;
					if (q != '"' && q != '\'')
						FAIL("unquoted attribute at %zu", ab);
					for (i++; i < n && s[i] != q; i++) {
						if (s[i] == '<')
							FAIL("'<' in attribute at %zu", i);
						if (s[i] == '&') {
							size_t l = xml_ref(s + i, n - i);
							if (!l)
								FAIL("bad reference in attribute at %zu", i);
							i += l - 1;
						}
					}
					if (i >= n)
						FAIL("unterminated attribute at %zu", ab);
					i++;
				}
				root_seen = true;
				if (!empty) {
					if (depth >= 256)
						FAIL("too deep");
					snprintf(stack[depth++], 64, "%.*s", (int)(e - b), s + b);
				}
			}
		} else if (s[i] == '&') {
			size_t l = xml_ref(s + i, n - i);
			if (!l || !depth)
				FAIL("bad reference at %zu: %.12s", i, s + i);
			i += l;
		} else {
			if (!depth && !(s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
				FAIL("text outside the root at %zu", i);
			i++;
		}
	}
	if (depth)
		FAIL("%zu unclosed elements (<%s>)", depth, stack[depth - 1]);
	if (!root_seen)
		FAIL("no root element");
#undef FAIL
	return 0;
}

/* Render G to SVG at path and check it: well-formed, the node and edge
 * groups as many as G's nodes and edges. */
static void check_svg(Agraph_t *G, const char *path)
{
	char err[512] = "", why[256] = "";
	ck_assert_msg(pl_dot_svg(G, path, err, sizeof(err)) == 0, "svg %s: %s", path, err);
	size_t len;
	char *svg = slurp(path, &len);
	ck_assert_msg(svg != NULL, "cannot read %s", path);
	ck_assert_msg(xml_check(svg, len, why, sizeof(why)) == 0, "%s is not well-formed XML: %s", path, why);
	ck_assert_msg(count_str(svg, "<g id=\"node") == (size_t)agnnodes(G), "%s: %zu node groups, %d nodes",
		      path, count_str(svg, "<g id=\"node"), agnnodes(G));
	ck_assert_msg(count_str(svg, "<g id=\"edge") == (size_t)agnedges(G), "%s: %zu edge groups, %d edges",
		      path, count_str(svg, "<g id=\"edge"), agnedges(G));
	free(svg);
}

static const char *attr(void *obj, const char *name)
{
	char *v = agget(obj, (char *)name);
	return v ? v : "";
}

static Agnode_t *node_labelled(Agraph_t *G, const char *re_str)
{
	regex_t re;
	ck_assert_int_eq(regcomp(&re, re_str, REG_EXTENDED | REG_NOSUB), 0);
	Agnode_t *found = NULL;
	for (Agnode_t *n = agfstnode(G); n && !found; n = agnxtnode(G, n))
		if (regexec(&re, attr(n, "label"), 0, NULL, 0) == 0)
			found = n;
	regfree(&re);
	return found;
}

/* Does G (without its overflow nodes) contain a directed cycle? */
static bool has_cycle_from(Agraph_t *G, Agnode_t *v, int *state)
{
	int id = (int)AGSEQ(v);
	state[id] = 1;
	for (Agedge_t *e = agfstout(G, v); e; e = agnxtout(G, e)) {
		Agnode_t *w = aghead(e);
		if (!strncmp(agnameof(w), "more:", 5))
			continue;
		int wid = (int)AGSEQ(w);
		if (state[wid] == 1)
			return true;
		if (state[wid] == 0 && has_cycle_from(G, w, state))
			return true;
	}
	state[id] = 2;
	return false;
}

static bool has_cycle(Agraph_t *G)
{
	int max = 0;
	for (Agnode_t *n = agfstnode(G); n; n = agnxtnode(G, n))
		if ((int)AGSEQ(n) > max)
			max = (int)AGSEQ(n);
	int *state = calloc((size_t)max + 1, sizeof(*state));
	bool found = false;
	for (Agnode_t *n = agfstnode(G); n && !found; n = agnxtnode(G, n))
		if (!state[AGSEQ(n)] && strncmp(agnameof(n), "more:", 5))
			found = has_cycle_from(G, n, state);
	free(state);
	return found;
}

static char tmpdir[256];

static const char *tmp_path(const char *name, char *buf, size_t len)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_dot.XXXXXX");
		ck_assert(mkdtemp(tmpdir) != NULL);
	}
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

static void tmp_cleanup(void)
{
	if (!tmpdir[0])
		return;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	tmpdir[0] = 0;
}

/* ---- escaping -------------------------------------------------------------- */

/* The invariants of pl_dot_escape's output. */
static void check_escaped(const char *out, size_t outlen, size_t cap)
{
	ck_assert_uint_lt(outlen, cap);
	ck_assert_uint_eq(strlen(out), outlen);
	const unsigned char *s = (const unsigned char *)out;
	for (size_t i = 0; i < outlen;) {
		uint32_t cp;
		size_t l = u8(s + i, outlen - i, &cp);
		ck_assert_msg(l > 0, "invalid UTF-8 at %zu in [%s]", i, out);
		ck_assert_msg(cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0) && xml_char(cp),
			      "control character U+%04X in [%s]", cp, out);
		if (cp == '\\') {
			ck_assert_msg(i + 1 < outlen && s[i + 1] == '\\', "lone backslash at %zu in [%s]", i, out);
			l = 2;
		}
		if (cp == '&')
			ck_assert_msg(s[i + 1] != '#' && !xml_ref(out + i, outlen - i), "entity at %zu in [%s]", i, out);
		i += l;
	}
}

static const struct {
	const char *in;
	size_t len;
	const char *out;   /* expected, as raw bytes of the label value */
	char quote;
} esc_cases[] = {
	{ "plain", 5, "plain", 0 },
	{ "a\"b", 3, "a\"b", 0 },
	{ "\"", 1, "\"", 0 },
	{ "x\\", 2, "x\\\\", 0 },
	{ "x\\\"", 3, "x\\\\\"", 0 },
	{ "\\N\\G\\l", 6, "\\\\N\\\\G\\\\l", 0 },
	{ "line\nbreak\r\t", 12, "line\\\\nbreak\\\\r\\\\t", 0 },
	{ "nul\0in", 6, "nul\\\\x00in", 0 },
	{ "\x01\x1f\x7f", 3, "\\\\x01\\\\x1f\\\\x7f", 0 },
	{ "\xff\xfe", 2, "\\\\xff\\\\xfe", 0 },
	{ "\xc0\xaf", 2, "\\\\xc0\\\\xaf", 0 },                 /* overlong '/' */
	{ "\xe0\x80\xaf", 3, "\\\\xe0\\\\x80\\\\xaf", 0 },      /* overlong, 3 bytes */
	{ "\xf0\x80\x80\xaf", 4, "\\\\xf0\\\\x80\\\\x80\\\\xaf", 0 },
	{ "\xf4\x90\x80\x80", 4, "\\\\xf4\\\\x90\\\\x80\\\\x80", 0 }, /* past U+10FFFF */
	{ "\xed\xa0\x80", 3, "\\\\ud800", 0 },                  /* a surrogate, as repr shows it */
	{ "ab\xe2\x82", 4, "ab\\\\xe2\\\\x82", 0 },             /* truncated */
	{ "\xc2\x85\xc2\xa0", 4, "\\\\x85\xc2\xa0", 0 },        /* NEL is C1, NBSP is not */
	{ "\xef\xbf\xbe\xef\xbf\xbf", 6, "\\\\ufffe\\\\uffff", 0 },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d", 0 },
	{ "&#1;", 4, "\\\\x26#1;", 0 },
	{ "&#x1F;&amp;", 11, "\\\\x26#x1F;\\\\x26amp;", 0 },
	{ "R&D &", 5, "R&D &", 0 },
	{ "<b>x</b>", 8, "<b>x</b>", 0 },
	{ "it's", 4, "it\\\\'s", '\'' },
	{ "say \"hi\"", 8, "say \\\\\"hi\\\\\"", '"' },
	{ "", 0, "", 0 },
};

START_TEST(escape_cases)
{
	char out[256];
	for (size_t k = 0; k < sizeof(esc_cases) / sizeof(esc_cases[0]); k++) {
		size_t n = pl_dot_escape(out, sizeof(out), esc_cases[k].in, esc_cases[k].len, 0,
					 esc_cases[k].quote);
		ck_assert_msg(!strcmp(out, esc_cases[k].out), "case %zu: got [%s], want [%s]", k, out,
			      esc_cases[k].out);
		check_escaped(out, n, sizeof(out));
	}
	/* max_chars: 40 characters (a multibyte one counts once) then … */
	char in[100];
	for (int i = 0; i < 100; i++)
		in[i] = (char)('a' + i % 26);
	size_t n = pl_dot_escape(out, sizeof(out), in, 100, 40, 0);
	ck_assert_uint_eq(n, 40 + 3);
	ck_assert(!memcmp(out, in, 40) && !strcmp(out + 40, "\xe2\x80\xa6"));
	n = pl_dot_escape(out, sizeof(out), "\xc3\xa9\xc3\xa9\xc3\xa9", 6, 2, 0);
	ck_assert_str_eq(out, "\xc3\xa9\xc3\xa9\xe2\x80\xa6");
	/* exactly max_chars: no ellipsis */
	n = pl_dot_escape(out, sizeof(out), "abc", 3, 3, 0);
	ck_assert_str_eq(out, "abc");
	/* NULL source */
	ck_assert_uint_eq(pl_dot_escape(out, sizeof(out), NULL, 5, 0, 0), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(escape_bounds)
{
	/* 10 kB of every byte value, into buffers of every small size and a big one */
	size_t big = 10 * 1024;
	char *in = malloc(big);
	for (size_t i = 0; i < big; i++)
		in[i] = (char)(i * 7 + (i >> 8));
	char *out = malloc(big * 6);
	for (size_t cap = 1; cap < 64; cap++) {
		memset(out, 'Z', cap + 16);
		size_t n = pl_dot_escape(out, cap, in, big, 0, '\'');
		check_escaped(out, n, cap);
		for (size_t k = cap; k < cap + 16; k++)
			ck_assert_msg(out[k] == 'Z', "wrote past %zu bytes", cap);
	}
	/* room for all of it (at most 5 bytes out per byte in): not cut */
	size_t n = pl_dot_escape(out, big * 6, in, big, 0, 0);
	check_escaped(out, n, big * 6);
	ck_assert(n >= big && strcmp(out + n - 3, "\xe2\x80\xa6") != 0);
	/* a huge input into an ordinary label buffer is cut with … */
	char lab[512];
	n = pl_dot_escape(lab, sizeof(lab), in, big, 0, 0);
	check_escaped(lab, n, sizeof(lab));
	ck_assert(n >= 3 && !strcmp(lab + n - 3, "\xe2\x80\xa6"));
	/* cap 0 writes nothing */
	ck_assert_uint_eq(pl_dot_escape(lab, 0, in, big, 0, 0), 0);

	/* round trip: each escaped case as a label; agwrite -> agmemread gives it
	 * back; the SVG is well-formed */
	Agraph_t *G = agopen("esc", Agdirected, NULL);
	char name[32];
	size_t ncases = sizeof(esc_cases) / sizeof(esc_cases[0]);
	char **vals = calloc(ncases + 2, sizeof(*vals));
	for (size_t k = 0; k < ncases + 2; k++) {
		char *v = malloc(big * 6);
		if (k < ncases)
			pl_dot_escape(v, big * 6, esc_cases[k].in, esc_cases[k].len, 0, esc_cases[k].quote);
		else if (k == ncases)
			pl_dot_escape(v, big * 6, in, big, 0, 0);   /* 10 kB: agwrite splits the line */
		else
			pl_dot_escape(v, 512, in, big, 60, '"');
		vals[k] = v;
		snprintf(name, sizeof(name), "n%zu", k);
		agsafeset(agnode(G, name, 1), "label", v, "");
	}
	char *text = pl_dot_string(G);
	ck_assert(text != NULL);
	Agraph_t *H = agmemread(text);
	ck_assert_msg(H != NULL, "agmemread failed on the escaped labels");
	for (size_t k = 0; k < ncases + 2; k++) {
		snprintf(name, sizeof(name), "n%zu", k);
		Agnode_t *nd = agnode(H, name, 0);
		ck_assert(nd != NULL);
		ck_assert_msg(!strcmp(attr(nd, "label"), vals[k]), "label %zu changed through agwrite/agread", k);
	}
	char path[512];
	check_svg(G, tmp_path("escape.svg", path, sizeof(path)));
	/* G is unchanged by the layout of its copy */
	char *again = pl_dot_string(G);
	ck_assert_str_eq(text, again);
	free(again);
	free(text);
	agclose(H);
	agclose(G);
	for (size_t k = 0; k < ncases + 2; k++)
		free(vals[k]);
	free(vals);
	free(in);
	free(out);
	tmp_cleanup();
}
END_TEST

/* ---- a hand-made graph ------------------------------------------------------ */

/*  0 EventBus (root __main__.BUS) -.listeners-> 1 list -[0..4]-> 2,5,6,7,8 method
 *  2,5,6,7,8 -.__self__-> 3 Handler -.__dict__-> 4 dict
 *  cycle (unreachable): 9 Fin(__del__) -> 10 Legacy(tp_del) -> 11 evil type name
 *  -> 12 dict -> 9, 10 -> 9, 11 -> 9; 11's type name is nasty */
enum { SN = 13 };
static const struct { uint32_t src, dst; const char *label; } syn_edges[] = {
	{ 0, 1, ".listeners" },
	{ 1, 2, "[0]" }, { 1, 5, "[1]" }, { 1, 6, "[2]" }, { 1, 7, "[3]" }, { 1, 8, "[4]" },
	{ 2, 3, ".__self__" },
	{ 3, 4, ".__dict__" },
	{ 5, 3, ".__self__" }, { 6, 3, ".__self__" }, { 7, 3, ".__self__" }, { 8, 3, ".__self__" },
	{ 9, 10, ".peer" },
	{ 10, 9, ".back" }, { 10, 11, "['k\"\\\n\x01\xff']" },
	{ 11, 9, ".first" }, { 11, 12, ".__dict__" },
	{ 12, 9, "['&#1;']" },
};
#define NSYN_EDGES (sizeof(syn_edges) / sizeof(syn_edges[0]))

static const char *syn_label(const struct pl_graph *g, uint32_t src, uint32_t dst, char *buf, size_t len)
{
	(void)g;
	for (size_t k = 0; k < NSYN_EDGES; k++)
		if (syn_edges[k].src == src && syn_edges[k].dst == dst) {
			snprintf(buf, len, "%s", syn_edges[k].label);
			return buf;
		}
	snprintf(buf, len, ".?");
	return buf;
}

struct syn {
	struct pl_heap h;
	struct pl_type types[8];
	struct pl_obj objs[SN];
	struct pl_graph g;
	uint32_t off[SN + 1], dst[NSYN_EDGES];
	struct pl_roots r;
	struct pl_root root;
	uint32_t parent[SN], rootof[SN];
	struct pl_cycles c;
	uint32_t comp[SN];
};

static void syn_build(struct syn *S)
{
	memset(S, 0, sizeof(*S));
	static char *names[] = { "__main__.EventBus", "builtins.list", "builtins.method", "__main__.Handler",
				 "builtins.dict", "__main__.Fin", "__main__.Legacy",
				 "evil.Na\"me\\\n\x01\xff<&#1;>" };
	static const enum pl_kind kinds[] = { PL_K_OBJECT, PL_K_LIST, PL_K_METHOD, PL_K_OBJECT,
					      PL_K_DICT, PL_K_OBJECT, PL_K_OBJECT, PL_K_TYPE };
	for (int t = 0; t < 8; t++) {
		S->types[t].name = names[t];
		S->types[t].kind = kinds[t];
		S->types[t].addr = 0x9000 + 0x10 * (uint64_t)t;
	}
	S->types[5].finalize = 0x1234;
	S->types[6].del = 0x5678;
	static const uint32_t type_of[SN] = { 0, 1, 2, 3, 4, 2, 2, 2, 2, 5, 6, 7, 4 };
	for (uint32_t i = 0; i < SN; i++) {
		S->objs[i].addr = 0x7f0000001000ull + 0x100 * i;
		S->objs[i].type = type_of[i];
		S->objs[i].refcnt = 1;
		S->objs[i].size = 56;
		if (i >= 9)
			S->objs[i].flags |= PL_OF_UNREACHABLE;
	}
	S->h.types = S->types;
	S->h.ntypes = 8;
	S->h.objs = S->objs;
	S->h.nobjs = SN;
	/* CSR in source order (syn_edges is sorted by src) */
	for (size_t k = 0; k < NSYN_EDGES; k++) {
		S->off[syn_edges[k].src + 1]++;
		S->dst[k] = syn_edges[k].dst;
	}
	for (uint32_t i = 0; i < SN; i++)
		S->off[i + 1] += S->off[i];
	S->g.h = &S->h;
	S->g.n = S->g.ntracked = SN;
	S->g.off = S->off;
	S->g.dst = S->dst;
	S->g.nedges = NSYN_EDGES;
	ck_assert(pl_graph_reverse(&S->g) == NULL);
	/* roots: the chain 0 -> 1 -> 2 -> 3 -> 4, 5..8 under 1 */
	static const uint32_t parent[SN] = { PL_NONE, 0, 1, 2, 3, 1, 1, 1, 1, PL_NONE, PL_NONE, PL_NONE, PL_NONE };
	for (uint32_t i = 0; i < SN; i++) {
		S->parent[i] = parent[i];
		S->rootof[i] = i < 9 ? 0 : PL_NONE;
		S->comp[i] = i >= 9 ? 0 : PL_NONE;
	}
	S->root.node = 0;
	S->root.kind = PL_ROOT_GLOBAL;
	S->root.label = "__main__.BUS";
	S->r.r = &S->root;
	S->r.n = S->r.cap = 1;
	S->r.parent = S->parent;
	S->r.root = S->rootof;
	S->c.comp = S->comp;
	S->c.ncomp = 1;
}

static void syn_free(struct syn *S)
{
	free(S->g.roff);
	free(S->g.rsrc);
}

static const struct pl_dot_opts syn_opts = { .edge_label = syn_label };

static char *dot_of(Agraph_t *G)
{
	ck_assert(G != NULL);
	char *s = pl_dot_string(G);
	ck_assert(s != NULL);
	Agraph_t *H = agmemread(s);
	ck_assert_msg(H != NULL, "our own DOT does not parse:\n%s", s);
	ck_assert_int_eq(agnnodes(H), agnnodes(G));
	ck_assert_int_eq(agnedges(H), agnedges(G));
	agclose(H);
	return s;
}

static const char golden_header[] =
	"/* tests/test_dot.c golden_synthetic: the chain, backrefs and cycle pictures\n"
	" * of a hand-made graph. Regenerate after an intended change:\n"
	" *   PYLEAK_REGEN_GOLDEN=1 PYLEAK_SRCDIR=$PWD CK_RUN_CASE=unit tests/test_dot */\n";

START_TEST(golden_synthetic)
{
	struct syn S;
	syn_build(&S);
	struct pl_dot_opts bo = syn_opts;
	bo.max_depth = 3;
	bo.too_many = 2;
	Agraph_t *chain = pl_dot_chain_with(&S.g, &S.r, 3, &syn_opts);
	Agraph_t *back = pl_dot_backrefs(&S.g, &S.r, 3, &bo);
	Agraph_t *cyc = pl_dot_cycle_with(&S.g, &S.c, 9, &syn_opts);
	char *t1 = dot_of(chain), *t2 = dot_of(back), *t3 = dot_of(cyc);

	/* chain: 4 nodes, 3 edges, root and target styled */
	ck_assert_int_eq(agnnodes(chain), 4);
	ck_assert_int_eq(agnedges(chain), 3);
	Agnode_t *root = agnode(chain, "0x7f0000001000", 0), *tgt = agnode(chain, "0x7f0000001300", 0);
	ck_assert(root && tgt);
	ck_assert_str_eq(attr(root, "fillcolor"), "lightblue");
	ck_assert_str_eq(attr(root, "label"), "__main__.BUS\\nEventBus\\n0x7f0000001000");
	ck_assert_str_eq(attr(tgt, "color"), "red");
	ck_assert_str_eq(attr(agnode(chain, "0x7f0000001100", 0), "label"), "list\\n5 items");
	/* backrefs: 3 <- 2 (on the chain), 5, and "3 more referrers"; 2, 5 <- 1 <- 0 (root, stop) */
	ck_assert_int_eq(agnnodes(back), 6);
	ck_assert_int_eq(agnedges(back), 6);
	Agnode_t *more = node_labelled(back, "^3 more referrers$");
	ck_assert(more != NULL);
	ck_assert_str_eq(agnameof(more), "more:0x7f0000001300");
	ck_assert(agnode(back, "0x7f0000001200", 0) && agnode(back, "0x7f0000001500", 0));
	ck_assert(agnode(back, "0x7f0000001600", 0) == NULL);
	/* cycle: 4 members, 6 edges, styles */
	ck_assert_int_eq(agnnodes(cyc), 4);
	ck_assert_int_eq(agnedges(cyc), 6);
	ck_assert(has_cycle(cyc));
	Agnode_t *fin = agnode(cyc, "0x7f0000001900", 0), *leg = agnode(cyc, "0x7f0000001a00", 0),
		 *dct = agnode(cyc, "0x7f0000001c00", 0);
	ck_assert_str_eq(attr(fin, "shape"), "octagon");
	ck_assert_str_eq(attr(leg, "shape"), "doubleoctagon");
	ck_assert_str_eq(attr(dct, "fillcolor"), "lightgrey");
	ck_assert_str_eq(attr(fin, "color"), "red");

	size_t len = strlen(golden_header) + strlen(t1) + strlen(t2) + strlen(t3) + 1;
	char *all = malloc(len);
	snprintf(all, len, "%s%s%s%s", golden_header, t1, t2, t3);
	char path[1200];
	snprintf(path, sizeof(path), "%s/testdata/golden/dot-synthetic.dot", test_srcdir());
	if (getenv("PYLEAK_REGEN_GOLDEN")) {
		char dir[1200];
		snprintf(dir, sizeof(dir), "%s/testdata/golden", test_srcdir());
		mkdir(dir, 0755);
		FILE *f = fopen(path, "w");
		ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
		fputs(all, f);
		ck_assert(fclose(f) == 0);
		fprintf(stderr, "wrote %s\n", path);
	}
	char *want = slurp(path, NULL);
	ck_assert_msg(want != NULL, "no golden file %s (PYLEAK_REGEN_GOLDEN=1 writes it)", path);
	if (strcmp(want, all)) {
		char got[1300];
		const char *build = getenv("PYLEAK_BUILDDIR");
		snprintf(got, sizeof(got), "%s/tests/test_dot-synthetic.got", build ? build : ".");
		FILE *f = fopen(got, "w");
		if (f) {
			fputs(all, f);
			fclose(f);
		}
		ck_abort_msg("DOT differs from %s (ours in %s; diff them)", path, got);
	}
	/* the golden text is valid DOT for agread, all three graphs */
	FILE *f = fopen(path, "r");
	int graphs = 0;
	Agraph_t *G;
	while ((G = agread(f, NULL))) {
		graphs++;
		agclose(G);
	}
	fclose(f);
	ck_assert_int_eq(graphs, 3);

	char sp[512];
	check_svg(chain, tmp_path("syn-chain.svg", sp, sizeof(sp)));
	check_svg(back, tmp_path("syn-back.svg", sp, sizeof(sp)));
	check_svg(cyc, tmp_path("syn-cycle.svg", sp, sizeof(sp)));
	tmp_cleanup();
	free(want);
	free(all);
	free(t1);
	free(t2);
	free(t3);
	pl_dot_free(chain);
	pl_dot_free(back);
	pl_dot_free(cyc);
	syn_free(&S);
}
END_TEST

START_TEST(caps_and_overflow)
{
	struct syn S;
	syn_build(&S);
	struct pl_dot_opts o = syn_opts;
	/* a chain longer than the cap: root, "N more objects", the nearest */
	o.max_nodes = 3;
	Agraph_t *G = pl_dot_chain_with(&S.g, &S.r, 4, &o);   /* 0 1 2 3 4 */
	ck_assert(G != NULL);
	ck_assert_int_eq(agnnodes(G), 3);
	ck_assert_int_eq(agnedges(G), 2);
	ck_assert(agnode(G, "0x7f0000001000", 0) && agnode(G, "0x7f0000001400", 0));
	ck_assert(node_labelled(G, "^3 more objects$") != NULL);
	free(dot_of(G));
	pl_dot_free(G);
	/* backrefs within a node cap */
	o.max_nodes = 4;
	o.too_many = 10;
	o.max_depth = 10;
	G = pl_dot_backrefs(&S.g, &S.r, 3, &o);
	ck_assert(G != NULL);
	ck_assert_int_le(agnnodes(G), 4);
	ck_assert(node_labelled(G, "more referrers?$") != NULL);
	free(dot_of(G));
	pl_dot_free(G);
	/* depth 1: only the direct referrers */
	o.max_nodes = 0;
	o.max_depth = 1;
	G = pl_dot_backrefs(&S.g, &S.r, 3, &o);
	ck_assert_int_eq(agnnodes(G), 6);   /* 3, 2, 5, 6, 7, 8 */
	ck_assert_int_eq(agnedges(G), 5);
	pl_dot_free(G);
	/* a cycle past the cap: 2 members and "2 more objects" */
	o.max_nodes = 3;
	G = pl_dot_cycle_with(&S.g, &S.c, 9, &o);
	ck_assert_int_eq(agnnodes(G), 3);
	ck_assert(node_labelled(G, "^2 more objects\\\\nin this cycle$") != NULL);
	ck_assert(has_cycle(G));   /* the path through the sample is drawn first */
	free(dot_of(G));
	pl_dot_free(G);
	syn_free(&S);
}
END_TEST

START_TEST(damaged_input)
{
	struct syn S;
	syn_build(&S);
	char err[256];
	/* bad arguments */
	errno = 0;
	ck_assert(pl_dot_chain_with(&S.g, &S.r, SN, &syn_opts) == NULL && errno == EINVAL);
	ck_assert(pl_dot_chain_with(&S.g, &S.r, 9, &syn_opts) == NULL && errno == ENOENT);
	ck_assert(pl_dot_cycle_with(&S.g, &S.c, 3, &syn_opts) == NULL && errno == ENOENT);
	ck_assert(pl_dot_cycle_with(&S.g, &S.c, 1000, &syn_opts) == NULL && errno == EINVAL);
	ck_assert(pl_dot_backrefs(&S.g, &S.r, UINT32_MAX, &syn_opts) == NULL && errno == EINVAL);
	ck_assert(pl_dot_write(NULL, "/dev/null", err, sizeof(err)) == -1 && errno == EINVAL);
	/* a parent loop: 1 <-> 2 */
	S.parent[1] = 2;
	Agraph_t *G = pl_dot_chain_with(&S.g, &S.r, 3, &syn_opts);
	ck_assert(G != NULL);
	ck_assert_int_le(agnnodes(G), PL_DOT_MAX_NODES);
	free(dot_of(G));
	pl_dot_free(G);
	S.parent[1] = 0;
	/* ids out of range in referrers, roots and edges; a bad type index */
	S.g.rsrc[S.g.roff[3]] = 4000000000u;
	S.parent[3] = 77777;
	S.objs[5].type = 99;
	S.dst[S.off[11]] = 123456;
	struct pl_dot_opts o = syn_opts;
	o.max_depth = 10;
	G = pl_dot_backrefs(&S.g, &S.r, 3, &o);
	ck_assert(G != NULL);
	free(dot_of(G));
	pl_dot_free(G);
	G = pl_dot_cycle_with(&S.g, &S.c, 9, &syn_opts);
	ck_assert(G != NULL);
	free(dot_of(G));
	pl_dot_free(G);
	G = pl_dot_chain_with(&S.g, &S.r, 3, &syn_opts);
	ck_assert(G != NULL);
	ck_assert_int_eq(agnnodes(G), 1);   /* the walk stops at the bad parent */
	char label[16];
	pl_dot_node_label(&S.g, 5, label, sizeof(label));   /* small buffer, unknown type */
	ck_assert_uint_lt(strlen(label), sizeof(label));
	/* reverse edges missing */
	uint32_t *roff = S.g.roff;
	S.g.roff = NULL;
	ck_assert(pl_dot_backrefs(&S.g, &S.r, 3, &o) == NULL && errno == EINVAL);
	S.g.roff = roff;
	/* unwritable paths: -1, errno, one line naming the path */
	ck_assert(pl_dot_write(G, "/nonexistent-dir/x.dot", err, sizeof(err)) == -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(err, "/nonexistent-dir/x.dot") && !strchr(err, '\n'), "%s", err);
	ck_assert(pl_dot_svg(G, "/nonexistent-dir/x.svg", err, sizeof(err)) == -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(err, "/nonexistent-dir/x.svg") != NULL, "%s", err);
	ck_assert(pl_dot_svg(G, "/dev/full", err, sizeof(err)) == -1);
	ck_assert_msg(errno == ENOSPC, "errno %d: %s", errno, err);
	pl_dot_free(G);
	syn_free(&S);
}
END_TEST

/* ---- real cores ----------------------------------------------------------------- */

struct core {
	struct pl_program *p;
	struct pl_heap h;
	struct pl_graph g;
	struct pl_roots r;
	struct pl_cycles c;
	bool cycles;
	char dir[1200];
};

static void core_open(struct core *C, const struct target *t, const char *scenario, bool cycles)
{
	memset(C, 0, sizeof(*C));
	const struct scenario *s = NULL;
	for (size_t i = 0; i < nscenarios && !s; i++)
		if (!strcmp(scenarios[i].name, scenario))
			s = &scenarios[i];
	ck_assert_msg(s != NULL, "scenario %s not found", scenario);
	char core[1300];
	ck_assert_msg(ensure_core(t, s, false, C->dir, sizeof(C->dir)) != NULL, "no core for %s under %s",
		      scenario, t->name);
	snprintf(core, sizeof(core), "%s/core", C->dir);
	struct pl_error *err = pl_program_open(core, &(struct pl_options){ 0 }, &C->p);
	ck_assert_msg(!err, "%s", err ? err->msg : "");
	ck_assert(!pl_census(C->p, &C->h) && !pl_graph_build(&C->h, &C->g) && !pl_graph_gc(&C->g) &&
		  !pl_roots_find(&C->g, &C->r) && !pl_graph_reverse(&C->g));
	if (cycles)
		ck_assert(!pl_cycles_find(&C->g, &C->c));
	C->cycles = cycles;
}

static void core_close(struct core *C)
{
	if (C->cycles)
		pl_cycles_release(&C->c);
	pl_roots_release(&C->r);
	pl_graph_release(&C->g);
	pl_heap_release(&C->h);
	pl_program_free(C->p);
}

static bool scenario_selected(const char *name)
{
	for (size_t i = 0; i < nscenarios; i++)
		if (!strcmp(scenarios[i].name, name))
			return true;
	fprintf(stderr, "SKIP %s: scenario not selected\n", name);
	return false;
}

static const char *leak_scenarios[] = { "demo_leak", "listeners" };

START_TEST(chain_and_backrefs)
{
	const struct target *t = &targets[_i / 2];
	const char *scen = leak_scenarios[_i % 2];
	if (!scenario_selected(scen))
		return;
	struct core C;
	core_open(&C, t, scen, false);
	const struct pl_graph *g = &C.g;
	/* a leaked Handler: reached as __main__.BUS.listeners[i].__self__ */
	regex_t re;
	ck_assert_int_eq(regcomp(&re, "^__main__\\.BUS\\.listeners\\[[0-9]+\\]\\.__self__$",
				 REG_EXTENDED | REG_NOSUB), 0);
	uint32_t node = PL_NONE;
	char path[4096];
	for (uint32_t i = 0; i < g->n && node == PL_NONE; i++)
		if (!strcmp(C.h.types[C.h.objs[i].type].name, "__main__.Handler") &&
		    regexec(&re, pl_roots_path(g, &C.r, i, path, sizeof(path)), 0, NULL, 0) == 0)
			node = i;
	regfree(&re);
	ck_assert_msg(node != PL_NONE, "%s %s: no leaked Handler", t->name, scen);
	uint32_t chain[64];
	uint32_t n = pl_roots_chain(&C.r, node, chain, 64);
	ck_assert_uint_ge(n, 4);

	/* the chain as DOT, read back */
	Agraph_t *G = pl_dot_chain(g, &C.r, node);
	ck_assert_msg(G != NULL, "pl_dot_chain: %s", strerror(errno));
	char dot[1400], svg[1400], err[512];
	snprintf(dot, sizeof(dot), "%s/dot-chain.dot", C.dir);
	snprintf(svg, sizeof(svg), "%s/dot-chain.svg", C.dir);
	ck_assert_msg(pl_dot_write(G, dot, err, sizeof(err)) == 0, "%s", err);
	Agraph_t *R = read_dot_file(dot);
	ck_assert_msg(R != NULL, "agread failed on %s", dot);
	ck_assert_int_eq(agnnodes(R), (int)n);
	ck_assert_int_eq(agnedges(R), (int)n - 1);
	char labels[1024] = "";
	bool listeners = false, self = false, dict = false;
	for (Agnode_t *v = agfstnode(R); v; v = agnxtnode(R, v))
		for (Agedge_t *e = agfstout(R, v); e; e = agnxtout(R, e)) {
			const char *l = attr(e, "label");
			strncat(labels, l, sizeof(labels) - strlen(labels) - 2);
			strcat(labels, " ");
			listeners |= !strcmp(l, ".listeners") || !strcmp(l, "['listeners']");
			self |= !strcmp(l, ".__self__");
			dict |= !strcmp(l, ".__dict__");
		}
	ck_assert_msg(listeners && self, "%s %s: chain edges %s", t->name, scen, labels);
	if (!strstr(labels, ".listeners"))
		ck_assert_msg(dict, "%s %s: ['listeners'] without .__dict__: %s", t->name, scen, labels);
	/* root first, target last, named by address */
	char name[40];
	snprintf(name, sizeof(name), "0x%" PRIx64, C.h.objs[chain[0]].addr);
	Agnode_t *root = agnode(R, name, 0);
	ck_assert_msg(root != NULL, "no node %s", name);
	ck_assert_str_eq(attr(root, "fillcolor"), "lightblue");
	ck_assert_msg(!strncmp(attr(root, "label"), "__main__.BUS\\n", 14), "root label %s", attr(root, "label"));
	snprintf(name, sizeof(name), "0x%" PRIx64, C.h.objs[node].addr);
	Agnode_t *tgt = agnode(R, name, 0);
	ck_assert(tgt != NULL);
	ck_assert_str_eq(attr(tgt, "color"), "red");
	ck_assert_msg(!strncmp(attr(tgt, "label"), "Handler\\n0x", 11), "target label %s", attr(tgt, "label"));
	fprintf(stderr, "%s %s: chain of %u: %s| %s\n", t->name, scen, n, labels, attr(R, "label"));
	agclose(R);
	/* the same DOT for the same core */
	Agraph_t *G2 = pl_dot_chain(g, &C.r, node);
	char *s1 = pl_dot_string(G), *s2 = pl_dot_string(G2);
	ck_assert_str_eq(s1, s2);
	free(s1);
	free(s2);
	pl_dot_free(G2);
	/* SVG */
	check_svg(G, svg);
	pl_dot_free(G);

	/* backrefs of the Handler, deep enough: the chain's objects, the root not expanded */
	struct pl_dot_opts o = { .max_depth = n, .too_many = 10 };
	G = pl_dot_backrefs(g, &C.r, node, &o);
	ck_assert(G != NULL);
	ck_assert_int_le(agnnodes(G), PL_DOT_MAX_NODES);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "0x%" PRIx64, C.h.objs[chain[i]].addr);
		ck_assert_msg(agnode(G, name, 0) != NULL, "backrefs lacks chain object %u (%s)", i, name);
	}
	snprintf(name, sizeof(name), "0x%" PRIx64, C.h.objs[chain[0]].addr);
	root = agnode(G, name, 0);
	ck_assert_str_eq(attr(root, "fillcolor"), "lightblue");
	ck_assert_msg(agfstin(G, root) == NULL, "the root was expanded");
	free(dot_of(G));
	pl_dot_free(G);

	/* backrefs of Handler.on_event: ~400 bound methods collapse */
	uint32_t method = chain[n - 2], func = PL_NONE;
	for (uint32_t e = g->off[method]; e < g->off[method + 1] && func == PL_NONE; e++)
		if (C.h.types[C.h.objs[g->dst[e]].type].kind == PL_K_FUNCTION)
			func = g->dst[e];
	ck_assert_msg(func != PL_NONE, "no function under the bound method");
	o = (struct pl_dot_opts){ .max_depth = 1, .too_many = 5 };
	G = pl_dot_backrefs(g, &C.r, func, &o);
	ck_assert(G != NULL);
	Agnode_t *more = node_labelled(G, "^[0-9]+ more referrers$");
	ck_assert_msg(more != NULL, "no overflow node");
	unsigned long nmore = strtoul(attr(more, "label"), NULL, 10);
	ck_assert_msg(nmore >= 390, "only %lu more referrers", nmore);
	ck_assert_int_eq(agnnodes(G), 1 + 5 + 1);
	ck_assert_int_eq(agnedges(G), 5 + 1);
	Agnode_t *fn = agnode(G, (snprintf(name, sizeof(name), "0x%" PRIx64, C.h.objs[func].addr), name), 0);
	ck_assert_msg(!strncmp(attr(fn, "label"), "function Handler.on_event\\n", 27), "function label %s",
		      attr(fn, "label"));
	snprintf(svg, sizeof(svg), "%s/dot-backrefs.svg", C.dir);
	check_svg(G, svg);
	fprintf(stderr, "%s %s: backrefs of %s: %s\n", t->name, scen, attr(fn, "label"), attr(more, "label"));
	pl_dot_free(G);
	/* and the node cap */
	o = (struct pl_dot_opts){ .max_depth = 6, .too_many = 1000 };
	G = pl_dot_backrefs(g, &C.r, func, &o);
	ck_assert(G != NULL);
	ck_assert_int_eq(agnnodes(G), PL_DOT_MAX_NODES);
	ck_assert_msg(strstr(attr(G, "label"), "cut at the node limit") != NULL, "%s", attr(G, "label"));
	free(dot_of(G));
	pl_dot_free(G);
	core_close(&C);
}
END_TEST

START_TEST(cycle_pictures)
{
	const struct target *t = &targets[_i];
	if (!scenario_selected("cycles"))
		return;
	struct core C;
	core_open(&C, t, "cycles", true);
	const struct pl_graph *g = &C.g;
	ck_assert_uint_gt(C.c.ngroups, 0);
	bool capped = false;
	for (uint32_t k = 0; k < C.c.ngroups; k++) {
		uint32_t sample = C.c.groups[k].sample, id = C.c.comp[sample];
		uint32_t size = 0;
		for (uint32_t i = 0; i < g->n; i++)
			size += C.c.comp[i] == id;
		Agraph_t *G = pl_dot_cycle(g, &C.c, sample);
		ck_assert_msg(G != NULL, "pl_dot_cycle: %s", strerror(errno));
		char *text = dot_of(G);
		Agraph_t *R = agmemread(text);
		ck_assert(R != NULL);
		uint32_t expect = size <= PL_DOT_CYCLE_MAX_NODES ? size : PL_DOT_CYCLE_MAX_NODES;
		ck_assert_msg(agnnodes(R) == (int)expect, "%s group %u: %d nodes for a cycle of %u", t->name, k,
			      agnnodes(R), size);
		ck_assert_msg(has_cycle(R), "%s group %u: no cycle drawn", t->name, k);
		/* every object node is a member */
		for (Agnode_t *v = agfstnode(R); v; v = agnxtnode(R, v)) {
			if (!strncmp(agnameof(v), "more:", 5))
				continue;
			uint32_t m = pl_graph_node(g, strtoull(agnameof(v), NULL, 16));
			ck_assert_msg(m != PL_NONE && C.c.comp[m] == id, "%s is not in the cycle", agnameof(v));
		}
		if (size > PL_DOT_CYCLE_MAX_NODES) {
			char re[64];
			snprintf(re, sizeof(re), "^%u more objects", size - (PL_DOT_CYCLE_MAX_NODES - 1));
			ck_assert_msg(node_labelled(R, re) != NULL, "no overflow node %s", re);
			if (!capped) {
				char svg[1400];
				snprintf(svg, sizeof(svg), "%s/dot-cycle.svg", C.dir);
				check_svg(G, svg);
			}
			capped = true;
		} else if (k == 0) {
			char svg[1400];
			snprintf(svg, sizeof(svg), "%s/dot-cycle-small.svg", C.dir);
			check_svg(G, svg);
		}
		if (k < 3)
			fprintf(stderr, "%s cycles group %u: %u members, %d nodes, %d edges: %s\n", t->name, k, size,
				agnnodes(R), agnedges(R), attr(R, "label"));
		agclose(R);
		free(text);
		pl_dot_free(G);
	}
	ck_assert_msg(capped, "%s: no cycle larger than %d (the DNode list)", t->name, PL_DOT_CYCLE_MAX_NODES);
	core_close(&C);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("dot");
	TCase *unit = tcase_create("unit");
	tcase_add_test(unit, escape_cases);
	tcase_add_test(unit, escape_bounds);
	tcase_add_test(unit, golden_synthetic);
	tcase_add_test(unit, caps_and_overflow);
	tcase_add_test(unit, damaged_input);
	suite_add_tcase(su, unit);

	const char *only = getenv("CK_RUN_CASE");
	if (!only || strcmp(only, "unit")) {
		ntargets = discover_targets(targets, 16);
		nscenarios = discover_scenarios(scenarios, 64);
		if (!ntargets || !nscenarios) {
			fprintf(stderr, "FAIL: no CPython build or no scenario found\n");
			return 1;
		}
		TCase *tc = tcase_create("cores");
		tcase_set_timeout(tc, 600);
		tcase_add_loop_test(tc, chain_and_backrefs, 0, (int)(ntargets * 2));
		tcase_add_loop_test(tc, cycle_pictures, 0, (int)ntargets);
		suite_add_tcase(su, tc);
	}
	return run_suite(su);
}
