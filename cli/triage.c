#include "config.h"
#include "triage.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../coredump/frames.h"
#include "../coredump/program.h"
#include "../graph/analysis.h"
#include "../render/json.h"
#include "../render/stacks.h"
#include "exit.h"

#define MAX_FRAMES 16
#define MAX_SUSPECTS 3
#define MAX_RECORD (1 << 20)

/* ---- the record: "key\tvalue" lines written by the child ---- */

static void put(FILE *out, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put(FILE *out, const char *key, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *c = buf; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	fprintf(out, "%s\t%s\n", key, buf);
}

/* Fields of a frame or suspect are joined by \x1f (tabs stay tabs in file names). */
static char *nosep(char *s)
{
	for (char *c = s; *c; c++)
		if (*c == '\x1f' || *c == '\n' || *c == '\r')
			*c = ' ';
	return s;
}

/* The thread's frames; the innermost, "func (file:line)", into site. */
static void child_frames(FILE *out, struct pl_heap *h, int thread, char *site, size_t len)
{
	struct pl_frame_iter it;
	struct pl_pyframe f;
	pl_frames_begin(&it, h, h->p->rt.threads[thread].top_frame);
	for (int n = 0; n < MAX_FRAMES && pl_frames_next(&it, &f) == 1; n++) {
		char func[200], file[600];
		pl_code_func(h, f.code, func, sizeof(func));
		pl_code_file(h, f.code, file, sizeof(file));
		put(out, "frame", "%s\x1f%s\x1f%d", nosep(func), nosep(file), f.line);
		if (n)
			continue;
		snprintf(site, len, "%s (%s:%d)", func, file, f.line);
		for (char *c = site; *c; c++)   /* the signature goes to terminals */
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
}

static void child_suspects(FILE *out, struct pl_analysis *a, char *sig_leak, size_t len)
{
	for (size_t i = 0; i < a->nsuspects && i < MAX_SUSPECTS; i++) {
		const struct pl_suspect *s = &a->suspects[i];
		char path[1024];
		pl_roots_path(&a->g, &a->roots, s->node, path, sizeof(path));
		const char *type = a->h.types[a->h.objs[s->node].type].name;
		const char *part = a->h.types[s->part_type].name;
		double share = a->ret.reachable_bytes ? 100.0 * (double)s->retained /
					(double)a->ret.reachable_bytes : 0;
		put(out, "suspect", "%" PRIu64 "\x1f%.1f\x1f%s\x1f%s\x1f%" PRIu64 "\x1f%s\x1f%" PRIu64,
		    s->retained, share, type, nosep(path), s->items, part, s->part_count);
		if (i == 0)
			snprintf(sig_leak, len, "leak: %s (%s)", path[0] ? path : "(unreached)", part);
	}
}

/* Read one core and write its record to out. */
static void child(const char *path, const struct pl_options *opt, FILE *out)
{
	struct pl_program *p = NULL;
	struct pl_error *err = pl_program_open(path, opt, &p);
	if (err) {
		put(out, "exit", "%d", pl_error_exit_code(err));
		put(out, "error", "%s", err->msg);
		put(out, "signature", "error: %s", pl_errkind_name(err->kind));
		pl_error_free(err);
		return;
	}
	struct pl_core *core = p->core;
	put(out, "python", "%s", p->rt.version);
	put(out, "pid", "%d", core->has_prpsinfo ? core->pid : 0);
	struct pl_analysis a;
	memset(&a, 0, sizeof(a));
	a.h.p = p;
	int thread = pl_crashing_pythread(&a.h), ct;
	int sig = pl_core_signal(core, &ct);
	bool fatal = pl_signal_fatal(sig);
	put(out, "signal", "%d", sig);
	put(out, "signal_name", "%s", sig ? pl_signal_name(sig) : "");
	put(out, "fatal", "%d", fatal);
	char site[900] = "";
	if (thread >= 0) {
		char name[128];
		pl_thread_name(&a.h, pl_threading_active(&a.h), p->rt.threads[thread].thread_id, name,
			       sizeof(name));
		put(out, "thread", "%s", nosep(name));
		put(out, "native_id", "%" PRIu64, p->rt.threads[thread].native_id);
		child_frames(out, &a.h, thread, site, sizeof(site));
	}
	const struct pl_gcstate *gc = &p->rt.gc;
	put(out, "gc", "%d\x1f%d\x1f%" PRId64, gc->enabled, gc->collecting, gc->garbage_len);
	pl_heap_release(&a.h);
	err = pl_analyse(p, PL_AN_SUSPECTS, 0.10, &a);
	char leak[1200] = "";
	if (err) {
		put(out, "analysis_error", "%s", err->msg);
		pl_error_free(err);
	} else {
		put(out, "heap", "%zu\x1f%" PRIu64 "\x1f%" PRIu32 "\x1f%" PRIu64, a.h.nobjs, a.h.total_bytes,
		    a.g.nunreachable, a.g.unreachable_bytes);
		child_suspects(out, &a, leak, sizeof(leak));
	}
	/* (a reader that ends with pl_exit_detached leaves its memory to
	 * the kernel) */
	if (!FAST_EXIT)
		pl_analysis_release(&a);
	if (fatal)
		put(out, "signature", "%s in %s", pl_signal_name(sig), site[0] ? site : "(no Python frame)");
	else if (leak[0])
		put(out, "signature", "%s", leak);
	else
		put(out, "signature", "no crash, no leak suspect");
	for (size_t i = 0; i < p->nwarnings; i++)
		put(out, "warning", "%s", p->warnings[i]);
	if (!FAST_EXIT)
		pl_program_free(p);
}

/* ---- the parent: records parsed back ---- */

struct rec {
	char *text;              /* the raw record, parsed in place */
	size_t len;
	const char *kv[64][2];
	size_t nkv;
	bool done;
	pid_t pid;
	int fd;
	double deadline;         /* --timeout: pl_now_s() seconds, 0: none */
	bool timed_out;          /* stopped at its deadline (SIGKILL) */
};

static const char *get(const struct rec *r, const char *key)
{
	for (size_t i = 0; i < r->nkv; i++)
		if (!strcmp(r->kv[i][0], key))
			return r->kv[i][1];
	return NULL;
}

static void parse(struct rec *r)
{
	r->nkv = 0;
	char *save = NULL;
	for (char *line = strtok_r(r->text, "\n", &save); line && r->nkv < 64;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = 0;
		r->kv[r->nkv][0] = line;
		r->kv[r->nkv][1] = tab + 1;
		r->nkv++;
	}
}

/* Split a \x1f-joined value into at most n fields (in a copy). */
static size_t fields(const char *v, char *copy, size_t len, const char **f, size_t n)
{
	snprintf(copy, len, "%s", v);
	size_t k = 0;
	char *s = copy;
	while (k < n) {
		f[k++] = s;
		char *sep = strchr(s, '\x1f');
		if (!sep)
			break;
		*sep = 0;
		s = sep + 1;
	}
	return k;
}

/* timeout: --timeout (the limit a stopped reader had) */
static void finish(struct rec *r, int status, double timeout)
{
	const char *t = r->text ? r->text : "";
	bool complete = !strncmp(t, "signature\t", 10) || strstr(t, "\nsignature\t");
	/* (a reader stopped at its deadline after writing all of its record
	 * did its work) */
	bool ok = complete && (r->timed_out || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
	if (!ok) {
		/* the reader died on this core, or was stopped: say so in the
		 * record (a line cut short by its death is ended first) */
		char extra[300];
		const char *nl = r->len && t[r->len - 1] != '\n' ? "\n" : "";
		if (r->timed_out)
			snprintf(extra, sizeof(extra), "%sexit\t11\nerror\treading the core took longer "
				 "than --timeout=%g s and was stopped; give this core a larger "
				 "--timeout\nsignature\terror: timeout\n", nl, timeout);
		else if (WIFSIGNALED(status))
			snprintf(extra, sizeof(extra), "%sexit\t70\nerror\treading the core crashed "
				 "pyleak-core (%s); please report it with the core\nsignature\terror: "
				 "internal\n", nl, pl_signal_name(WTERMSIG(status)));
		else
			snprintf(extra, sizeof(extra), "%sexit\t70\nerror\tthe reader exited with status "
				 "%d before finishing its record\nsignature\terror: internal\n", nl,
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		size_t n = strlen(extra);
		char *nt = realloc(r->text, r->len + n + 1);
		if (nt) {
			memcpy(nt + r->len, extra, n + 1);
			r->text = nt;
			r->len += n;
		}
	}
	if (!r->text)
		r->text = strdup("");
	if (r->text)
		parse(r);
}

/* ---- output ---- */

static void print_text(FILE *out, const struct rec *r, size_t i, size_t n, bool md)
{
	const char *err = get(r, "error"), *v;
	char copy[2048];
	const char *f[8];
	fprintf(out, md ? "### %zu/%zu `%s`\n\n" : "[%zu/%zu] %s\n", i + 1, n, get(r, "path"));
	if (err) {
		fprintf(out, md ? "- **error** (exit %s): %s\n\n" : "  error (exit %s): %s\n\n",
			get(r, "exit"), err);
		return;
	}
	const char *b = md ? "- " : "  ";
	fprintf(out, "%sPython %s, pid %s", b, get(r, "python"), get(r, "pid"));
	v = get(r, "signal_name");
	if (v && *v)
		fprintf(out, ", %s %s", !strcmp(get(r, "fatal"), "1") ? "killed by" : "stopped by", v);
	fputc('\n', out);
	if ((v = get(r, "thread"))) {
		fprintf(out, "%sthread \"%s\" (native id %s):\n", b, v, get(r, "native_id"));
		for (size_t k = 0; k < r->nkv; k++) {
			if (strcmp(r->kv[k][0], "frame") || fields(r->kv[k][1], copy, sizeof(copy), f, 3) < 3)
				continue;
			fprintf(out, md ? "    - `%s` at `%s:%s`\n" : "      %s at %s:%s\n", f[0], f[1], f[2]);
		}
	}
	if ((v = get(r, "gc")) && fields(v, copy, sizeof(copy), f, 3) == 3)
		fprintf(out, "%sgc %s%s, gc.garbage %s\n", b, !strcmp(f[0], "1") ? "enabled" : "DISABLED",
			!strcmp(f[1], "0") ? "" : ", COLLECTING", f[2]);
	if ((v = get(r, "heap")) && fields(v, copy, sizeof(copy), f, 4) == 4) {
		char hb[32], ub[32];
		fprintf(out, "%s%s objects, %s; unreachable: %s objects, %s\n", b, f[0],
			pl_human_bytes(strtoull(f[1], NULL, 10), hb, sizeof(hb)), f[2],
			pl_human_bytes(strtoull(f[3], NULL, 10), ub, sizeof(ub)));
	}
	if ((v = get(r, "analysis_error")))
		fprintf(out, "%sheap not analysed: %s\n", b, v);
	for (size_t k = 0; k < r->nkv; k++) {
		if (strcmp(r->kv[k][0], "suspect") || fields(r->kv[k][1], copy, sizeof(copy), f, 7) < 7)
			continue;
		char rb[32];
		fprintf(out, md ? "%ssuspect: `%s` (%s) retains %s (%s%%): %s items, %s %s\n"
				: "%ssuspect: %s (%s) retains %s (%s%%): %s items, %s %s\n", b,
			*f[3] ? f[3] : "(unreached)", f[2],
			pl_human_bytes(strtoull(f[0], NULL, 10), rb, sizeof(rb)), f[1], f[4], f[6], f[5]);
	}
	fprintf(out, "%ssignature: %s\n\n", b, get(r, "signature"));
}

static void json_num_or_str(FILE *out, const char *v)
{
	char *end;
	if (v && *v && (strtoll(v, &end, 10), !*end))
		fputs(v, out);
	else
		pl_json_cstr(out, v);
}

static void print_json(FILE *out, const struct rec *r)
{
	char copy[2048];
	const char *f[8], *v;
	fprintf(out, "{\"path\":");
	pl_json_cstr(out, get(r, "path"));
	if ((v = get(r, "error"))) {
		fprintf(out, ",\"error\":");
		pl_json_cstr(out, v);
		fprintf(out, ",\"exit_code\":");
		json_num_or_str(out, get(r, "exit"));
		fprintf(out, ",\"signature\":");
		pl_json_cstr(out, get(r, "signature"));
		fprintf(out, "}\n");
		return;
	}
	fprintf(out, ",\"python\":");
	pl_json_cstr(out, get(r, "python"));
	fprintf(out, ",\"pid\":");
	json_num_or_str(out, get(r, "pid"));
	fprintf(out, ",\"signal\":");
	json_num_or_str(out, get(r, "signal"));
	fprintf(out, ",\"signal_name\":");
	pl_json_cstr(out, get(r, "signal_name"));
	fprintf(out, ",\"fatal\":%s", !strcmp(get(r, "fatal") ? get(r, "fatal") : "", "1") ? "true" : "false");
	if ((v = get(r, "thread"))) {
		fprintf(out, ",\"thread\":{\"name\":");
		pl_json_cstr(out, v);
		fprintf(out, ",\"native_id\":");
		json_num_or_str(out, get(r, "native_id"));
		fprintf(out, ",\"frames\":[");
		int n = 0;
		for (size_t k = 0; k < r->nkv; k++) {
			if (strcmp(r->kv[k][0], "frame") || fields(r->kv[k][1], copy, sizeof(copy), f, 3) < 3)
				continue;
			fprintf(out, "%s{\"function\":", n++ ? "," : "");
			pl_json_cstr(out, f[0]);
			fprintf(out, ",\"file\":");
			pl_json_cstr(out, f[1]);
			fprintf(out, ",\"line\":%s}", f[2]);
		}
		fprintf(out, "]}");
	}
	if ((v = get(r, "gc")) && fields(v, copy, sizeof(copy), f, 3) == 3)
		fprintf(out, ",\"gc\":{\"enabled\":%s,\"collecting\":%s,\"garbage\":%s}",
			!strcmp(f[0], "1") ? "true" : "false", !strcmp(f[1], "0") ? "false" : "true", f[2]);
	if ((v = get(r, "heap")) && fields(v, copy, sizeof(copy), f, 4) == 4)
		fprintf(out, ",\"heap\":{\"objects\":%s,\"bytes\":%s,\"unreachable\":%s,"
			"\"unreachable_bytes\":%s}", f[0], f[1], f[2], f[3]);
	if ((v = get(r, "analysis_error"))) {
		fprintf(out, ",\"analysis_error\":");
		pl_json_cstr(out, v);
	}
	fprintf(out, ",\"suspects\":[");
	int n = 0;
	for (size_t k = 0; k < r->nkv; k++) {
		if (strcmp(r->kv[k][0], "suspect") || fields(r->kv[k][1], copy, sizeof(copy), f, 7) < 7)
			continue;
		fprintf(out, "%s{\"retained_bytes\":%s,\"share\":%s,\"type\":", n++ ? "," : "", f[0], f[1]);
		pl_json_cstr(out, f[2]);
		fprintf(out, ",\"path\":");
		pl_json_cstr(out, f[3]);
		fprintf(out, ",\"items\":%s,\"item_type\":", f[4]);
		pl_json_cstr(out, f[5]);
		fprintf(out, ",\"item_count\":%s}", f[6]);
	}
	fprintf(out, "],\"signature\":");
	pl_json_cstr(out, get(r, "signature"));
	fprintf(out, "}\n");
}

struct group {
	const char *sig;
	size_t *members, n;
};

static int by_count(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->sig, y->sig);
}

static void summary(FILE *out, struct rec *r, size_t n, enum pl_format fmt)
{
	struct group *g = calloc(n ? n : 1, sizeof(*g));
	size_t ng = 0, nerr = 0;
	if (!g)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *sig = get(&r[i], "signature");
		sig = sig ? sig : "?";
		nerr += get(&r[i], "error") != NULL;
		size_t k = 0;
		while (k < ng && strcmp(g[k].sig, sig))
			k++;
		if (k == ng) {
			g[ng].sig = sig;
			g[ng].members = calloc(n, sizeof(size_t));
			if (!g[ng].members)
				break;
			ng++;
		}
		g[k].members[g[k].n++] = i;
	}
	qsort(g, ng, sizeof(*g), by_count);
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL) {
		fprintf(out, "{\"summary\":{\"cores\":%zu,\"errors\":%zu,\"groups\":[", n, nerr);
		for (size_t k = 0; k < ng; k++) {
			fprintf(out, "%s{\"signature\":", k ? "," : "");
			pl_json_cstr(out, g[k].sig);
			fprintf(out, ",\"count\":%zu,\"cores\":[", g[k].n);
			for (size_t m = 0; m < g[k].n; m++) {
				fprintf(out, "%s", m ? "," : "");
				pl_json_cstr(out, get(&r[g[k].members[m]], "path"));
			}
			fprintf(out, "]}");
		}
		fprintf(out, "]}}\n");
	} else {
		bool md = fmt == PL_FMT_MARKDOWN;
		fprintf(out, md ? "## Summary: %zu cores, %zu unreadable, %zu signatures\n\n"
				"| cores | signature | examples |\n|---:|---|---|\n"
				: "Summary: %zu cores, %zu unreadable, %zu signatures\n", n, nerr, ng);
		for (size_t k = 0; k < ng; k++) {
			fprintf(out, md ? "| %zu | %s | " : "  %4zu  %s\n", g[k].n, g[k].sig);
			for (size_t m = 0; m < g[k].n && m < 3; m++)
				fprintf(out, md ? "%s`%s`" : "          %s%s\n", md && m ? ", " : "",
					get(&r[g[k].members[m]], "path"));
			if (g[k].n > 3)
				fprintf(out, md ? " and %zu more" : "          ... and %zu more\n", g[k].n - 3);
			if (md)
				fprintf(out, " |\n");
		}
	}
	for (size_t k = 0; k < ng; k++)
		free(g[k].members);
	free(g);
}

static void print_rec(FILE *out, struct rec *r, size_t i, size_t n, enum pl_format fmt)
{
	if (fmt == PL_FMT_JSON || fmt == PL_FMT_JSONL)
		print_json(out, r);
	else
		print_text(out, r, i, n, fmt == PL_FMT_MARKDOWN);
	fflush(out);
}

/* ---- the process pool ---- */

static int start(struct rec *r, const char *path, const struct pl_options *opt)
{
	/* the record starts with the path, from here: a reader that dies
	 * before it flushed anything still has its core named */
	size_t n = strlen(path);
	if (!(r->text = malloc(n + 7)))
		return -1;
	r->len = (size_t)sprintf(r->text, "path\t%s", path);
	for (char *c = r->text + 5; *c; c++)   /* one line, as put() writes them */
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	r->text[r->len++] = '\n';
	r->text[r->len] = 0;
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		FILE *out = fdopen(fds[1], "w");
		if (!out)
			_exit(71);
		child(path, opt, out);
		/* the record is out (EOF for the parent): the reader's teardown
		 * happens after it is gone, so that the parent's wait ends then */
		if (fclose(out) != 0)
			_exit(74);
		pl_exit_detached(0);
	}
	close(fds[1]);
	r->pid = pid;
	r->fd = fds[0];
	return 0;
}

/* Read what is there; true at EOF. */
static bool drain(struct rec *r)
{
	char buf[65536];
	ssize_t k = read(r->fd, buf, sizeof(buf));
	if (k < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (k <= 0)
		return true;
	if (r->len + (size_t)k > MAX_RECORD)
		return false;   /* keep reading, drop the excess */
	char *t = realloc(r->text, r->len + (size_t)k + 1);
	if (!t)
		return false;
	memcpy(t + r->len, buf, (size_t)k);
	r->len += (size_t)k;
	t[r->len] = 0;
	r->text = t;
	return false;
}

/* poll's timeout (ms): until the nearest deadline of a running reader not
 * stopped yet, -1 when none has one */
static int poll_wait(const struct rec *r, const size_t *slot, size_t running)
{
	double first = 0;
	for (size_t k = 0; k < running; k++) {
		const struct rec *d = &r[slot[k]];
		if (d->deadline > 0 && !d->timed_out && (first == 0 || d->deadline < first))
			first = d->deadline;
	}
	if (first == 0)
		return -1;
	double ms = (first - pl_now_s()) * 1000.0;
	return ms <= 0 ? 0 : ms >= 1e9 ? 1000000000 : (int)ms + 1;
}

/* Stop the readers past their deadline. Their pipes then reach EOF, and
 * the loop reaps them as any other. */
static void stop_late(struct rec *r, const size_t *slot, size_t running)
{
	double t = pl_now_s();
	for (size_t k = 0; k < running; k++) {
		struct rec *d = &r[slot[k]];
		if (d->deadline > 0 && !d->timed_out && t >= d->deadline) {
			d->timed_out = true;
			kill(d->pid, SIGKILL);
		}
	}
}

int pl_triage(const struct cli *c, const struct pl_options *opt)
{
	size_t n = c->ncores;
	struct rec *r = calloc(n, sizeof(*r));
	struct pollfd *pf = calloc(c->jobs, sizeof(*pf));
	size_t *slot = calloc(c->jobs, sizeof(*slot));
	if (!r || !pf || !slot) {
		fprintf(stderr, "pyleak-core: out of memory\n");
		free(r);
		free(pf);
		free(slot);
		return 9;
	}
	size_t next = 0, printed = 0, running = 0;
	int rc = 0;
	while (printed < n) {
		while (running < c->jobs && next < n) {
			if (start(&r[next], c->cores[next], opt) != 0) {
				fprintf(stderr, "pyleak-core: cannot start a reader: %s\n", strerror(errno));
				rc = 70;
				goto out;
			}
			if (c->timeout > 0)
				r[next].deadline = pl_now_s() + c->timeout;
			slot[running++] = next++;
		}
		for (size_t k = 0; k < running; k++)
			pf[k] = (struct pollfd){ r[slot[k]].fd, POLLIN, 0 };
		if (running && poll(pf, running, poll_wait(r, slot, running)) < 0 && errno != EINTR) {
			rc = 70;
			goto out;
		}
		stop_late(r, slot, running);
		for (size_t k = 0; k < running; k++) {
			if (!pf[k].revents || !drain(&r[slot[k]]))
				continue;
			struct rec *d = &r[slot[k]];
			int status = 0;
			close(d->fd);
			while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR)
				;
			finish(d, status, c->timeout);
			d->done = true;
			slot[k] = slot[--running];
			pf[k] = pf[running];
			k--;
		}
		while (printed < n && r[printed].done) {
			print_rec(stdout, &r[printed], printed, n, c->format);
			printed++;
		}
	}
	summary(stdout, r, n, c->format);
out:
	for (size_t i = 0; i < n; i++)
		free(r[i].text);
	free(r);
	free(pf);
	free(slot);
	if (!rc && (fflush(stdout) != 0 || ferror(stdout))) {
		fprintf(stderr, "pyleak-core: writing output failed: %s\n", strerror(errno));
		rc = 10;
	}
	return rc;
}
