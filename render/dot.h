/* Pictures of the object graph, objgraph style, built as Graphviz cgraph
 * graphs: the chain from a root to an object, the referrers of an object
 * (show_backrefs), one reference cycle. Written as DOT (agwrite) or laid out
 * and rendered to SVG in process with gvc; nothing shells out to dot(1).
 *
 * Conventions, in every picture:
 *   node name   the object's address, "0x7f3a..." (the overflow nodes:
 *               "more:0x7f3a..."); nodes and edges are created in a fixed
 *               order, so the same core gives the same DOT, byte for byte
 *   node label  short type and a short repr (pl_dot_node_label); a root
 *               carries its root label ("__main__.BUS") on its first line
 *   edge label  the attribute, key or index (pl_graph_edge_label): ".listeners",
 *               "[3]", "['key']"; edges go from the referrer to the referent
 *   root        shape=box, style="filled,bold", fillcolor=lightblue
 *   target      (the object asked about) color=red, penwidth=2.5
 *   __del__     type has tp_finalize: shape=octagon, fillcolor="#ffd8a8"
 *   tp_del      type has tp_del (uncollectable): shape=doubleoctagon,
 *               fillcolor="#ff9c9c"
 *   unreachable gc.collect() would free it: fillcolor=lightgrey (unless one
 *               of the two above), fontcolor=gray30, style="filled,dashed"
 *   overflow    "37 more referrers": shape=note, style="filled,dashed",
 *               fillcolor=white; edges to and from it are dashed
 *   caption     the graph's own label says what the picture is and whether
 *               it was cut
 * Every string that comes from the core (str contents, type names, root
 * labels, dict keys in edge labels) goes through pl_dot_escape.
 *
 * Bounded: a picture has at most max_nodes nodes, overflow nodes included
 * (200 by default, 50 for a cycle). Not thread-safe: Graphviz keeps global
 * state (its error handler, and one gvc context kept for the process). */
#ifndef PYLEAK_RENDER_DOT_H
#define PYLEAK_RENDER_DOT_H

#include <stddef.h>
#include <stdint.h>

#include <graphviz/cgraph.h>

#include "graph/cycles.h"
#include "graph/graph.h"
#include "graph/roots.h"

#define PL_DOT_MAX_NODES 200        /* default cap of a chain or backrefs picture */
#define PL_DOT_CYCLE_MAX_NODES 50   /* default cap of a cycle picture */
#define PL_DOT_MAX_DEPTH 3          /* objgraph's defaults */
#define PL_DOT_TOO_MANY 10

typedef const char *(*pl_dot_edge_label_fn)(const struct pl_graph *g, uint32_t src, uint32_t dst,
					    char *buf, size_t len);

struct pl_dot_opts {
	size_t max_depth;   /* backrefs: levels of referrers drawn (0: PL_DOT_MAX_DEPTH) */
	size_t too_many;    /* backrefs: referrers drawn per object, the rest collapse into one
			     * "N more referrers" node (0: PL_DOT_TOO_MANY) */
	size_t max_nodes;   /* nodes per picture, overflow nodes included (0: the default;
			     * at least 3 are used) */
	pl_dot_edge_label_fn edge_label;   /* NULL: pl_graph_edge_label (tests plug in
					    * the labels of a hand-made graph) */
};

/* The shortest chain root -> ... -> node (pl_roots_chain): one node per
 * object, one labelled edge per hop. A chain longer than max_nodes keeps the
 * root and the objects nearest to node, with "N more objects" in between.
 * NULL with errno: EINVAL (node out of range), ENOENT (no root reaches
 * node: it is garbage, or the roots were not found), ENOMEM. */
Agraph_t *pl_dot_chain(const struct pl_graph *g, const struct pl_roots *r, uint32_t node);
Agraph_t *pl_dot_chain_with(const struct pl_graph *g, const struct pl_roots *r, uint32_t node,
			    const struct pl_dot_opts *o);

/* objgraph's show_backrefs: breadth first over referrers from node, up to
 * max_depth levels, at most too_many referrers per object (the one on the
 * shortest chain from a root first, then in node order), the rest collapsed
 * into one "N more referrers" node. Roots are not expanded (node itself
 * is). Needs the reverse edges (pl_graph_reverse): NULL with EINVAL without
 * them, or if node is out of range; ENOMEM. r may be NULL (no root
 * styling, no stop). */
Agraph_t *pl_dot_backrefs(const struct pl_graph *g, const struct pl_roots *r, uint32_t node,
			  const struct pl_dot_opts *o);

/* The cycle (strongly connected component of the unreachable subgraph) that
 * sample belongs to: a path around it through sample first, then the other
 * members breadth first from sample, every edge between drawn members; past
 * max_nodes (50 by default) the rest is one "N more objects in this cycle"
 * node. NULL with errno: EINVAL (sample out of range), ENOENT (sample is in
 * no cycle), ENOMEM. */
Agraph_t *pl_dot_cycle(const struct pl_graph *g, const struct pl_cycles *c, uint32_t sample);
Agraph_t *pl_dot_cycle_with(const struct pl_graph *g, const struct pl_cycles *c, uint32_t sample,
			    const struct pl_dot_opts *o);

/* Write G as DOT to path ("-": stdout). 0, or -1 with errno set and a
 * one-line message in err. */
int pl_dot_write(Agraph_t *G, const char *path, char *err, size_t errlen);
/* Lay G out with the "dot" engine and render SVG to path ("-": stdout), in
 * process. G itself is left untouched (a copy is laid out), so pl_dot_write
 * may come before or after. 0, or -1 with errno set and Graphviz's message
 * (or the system's) in err. */
int pl_dot_svg(Agraph_t *G, const char *path, char *err, size_t errlen);
/* DOT text of G in a malloc'd NUL-terminated string (for tests and
 * embedding), or NULL (errno). */
char *pl_dot_string(Agraph_t *G);
void pl_dot_free(Agraph_t *G);

/* The label of a node, objgraph style, already escaped for a DOT label ("\n"
 * here is the two characters backslash and n, a line break for Graphviz):
 *   "list\n400 items", "dict\n12 keys", "set\n3 items", "bytes\n1024 bytes",
 *   "str 'abc'" (repr cut at 40 characters), "int 42",
 *   "function on_event\ndemo_leak.py:48", "method\nHandler.on_event",
 *   "builtin_function_or_method\nappend", "module\n__main__",
 *   "type\n__main__.Handler", and otherwise "Handler\n0x7f3a12345678".
 * Reads the core for the details and falls back to the last form when it
 * cannot (or when g->h->p is NULL). Returns buf. */
const char *pl_dot_node_label(const struct pl_graph *g, uint32_t node, char *buf, size_t len);

/* Escape n untrusted bytes of src into dst (len bytes, always NUL-terminated
 * when len > 0) as the text of a Graphviz label, Python repr style, so that
 * the DOT written by agwrite stays valid, agread gives the same text back and
 * the SVG is well-formed XML. Below, what is written is shown as raw
 * characters (Graphviz shows a doubled backslash as one):
 *   backslash           \\          shown as \
 *   newline, CR, tab    \\n \\r \\t   shown as \n \r \t
 *   other C0, DEL, C1   \\x01 ...   shown as \x01; NUL included
 *   invalid UTF-8       \\xff for each byte (overlong forms, values past
 *                       U+10FFFF, truncated sequences); an encoded surrogate
 *                       as \\udc80
 *   U+FFFE, U+FFFF      \\ufffe, \\uffff (not XML characters)
 *   quote (if nonzero)  \\' or \\" (the repr's own quote)
 *   '&' starting "&#" or "&name;"   \\x26 (Graphviz would pass "&#1;" to
 *                       the SVG as a character reference to U+0001)
 * Everything else (valid UTF-8, '"', '<', '>', a lone '&') is copied:
 * agwrite escapes '"' and the SVG writer escapes markup. The output holds no
 * byte below 0x20, and its backslashes come in pairs, so a caller may join
 * escaped pieces with "\n" (backslash n: a line break in a label). At most
 * max_chars characters of src (0: no limit) are escaped, and no more than fits
 * in len; if src is cut, "…" ends the text. Returns the length written. */
size_t pl_dot_escape(char *dst, size_t len, const char *src, size_t n, size_t max_chars,
		     char quote);

#endif
