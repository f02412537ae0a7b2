#include "config.h"
#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const commands[] = { "info", "types", "objects", "report", "cycles",
					"referents", "referrers", "chain", "backrefs", "stacks", "diff",
					"triage", NULL };

void pl_cli_usage(FILE *out)
{
	fputs(
"Usage: pyleak-core [COMMAND] CORE [EXECUTABLE] [ADDR] [OPTIONS]\n"
"       pyleak-core diff OLD NEW [EXECUTABLE]\n"
"       pyleak-core triage CORE... [--exe EXE] [--jobs N] [--timeout S] [--format FMT]\n"
"\n"
"Read the ELF core dump of a CPython process and explain what holds its memory.\n"
"EXECUTABLE is the python binary that produced the core; when omitted it is\n"
"taken from the core. A bare name (python3) is looked up in PATH. A core may be\n"
"compressed (zstd, lz4, xz, gzip: found by content, read in memory).\n"
"\n"
"Commands:\n"
"  report    (default) runtime summary, gc warnings, leak suspects with their\n"
"            chains, the largest types by retained bytes, unreachable cycles\n"
"  info      version, executable, libpython, build-ids, debug info, threads, gc state\n"
"  types     gc objects per type, count and bytes, largest first (--retained: and\n"
"            the bytes they keep alive, from the dominator tree; the counts then\n"
"            include the untracked objects the graph holds: str, int ...)\n"
"  objects   every object: address, type, size, refcount, generation; with\n"
"            --format=jsonl also referents, unreachable, ext_refs (see the man page)\n"
"  cycles    unreachable objects grouped into cycles, what gc.collect() would free\n"
"  referents ADDR   what the object at ADDR refers to (gc.get_referents), labelled\n"
"  referrers ADDR   what refers to the object at ADDR (gc.get_referrers), labelled\n"
"  chain ADDR | chain --type NAME\n"
"            the shortest chain from a root (module global, thread frame, held from C)\n"
"            to the object, as a Python path: __main__.BUS.listeners[17].__self__\n"
"  backrefs ADDR    the referrers of the object, theirs, ... as a tree down to\n"
"            the roots (objgraph's show_backrefs): --max-depth N (4), --too-many N (10)\n"
"  stacks    every thread: Python name, native id, GIL, the fatal signal, frames\n"
"            innermost first with file:line; --locals adds locals, --tasks the\n"
"            suspended generators, coroutines and asyncio tasks\n"
"  diff OLD NEW [EXECUTABLE]\n"
"            what grew between two cores of one program: count and bytes per type\n"
"            (objgraph's show_growth) and the containers that grew, by path\n"
"  triage CORE... [--exe EXE] [--jobs N] [--timeout S]\n"
"            one record per core (signal, crashing thread's stack, gc state, top\n"
"            suspects, or the error), then the cores grouped by signature\n"
"\n"
"Options:\n"
"      --format=FMT     text (default), json, jsonl, markdown\n"
"      --top=N          types, cycles, diff: show the N largest (default 25; 0 = all)\n"
"      --type=NAME      objects: only objects of this type (builtins.dict, __main__.Foo);\n"
"                       chain: the object of this type nearest to a root\n"
"      --sysroot=DIR    find the core's files under DIR (a core from another machine\n"
"                       or a container); paths from the core are opened only there\n"
"      --debug-dir=DIR  look for debug files in DIR/.build-id/xx/yyyy.debug first\n"
"                       (repeatable); /usr/lib/debug is always searched\n"
"      --force          read a truncated core or one taken during a collection\n"
"      --layout         info: print every CPython offset taken from the debug info\n"
"      --dot=FILE, --svg=FILE\n"
"                       chain, backrefs: also draw the picture (Graphviz DOT / SVG)\n"
"      --svg-dir=DIR    cycles, report: one SVG per suspect and per cycle group in\n"
"                       DIR (the markdown report links them)\n"
"      --locals         stacks: print each frame's locals (short reprs)\n"
"      --tasks          stacks: also suspended generators, coroutines, asyncio tasks\n"
"      --exe=EXE        the executable (triage: for every core; otherwise the same as\n"
"                       the EXECUTABLE argument)\n"
"      --jobs=N         triage: read N cores at a time (separate processes)\n"
"      --timeout=S      triage: stop a reader after S seconds; its core gets an\n"
"                       error record (exit 11) and the batch goes on\n"
"                       (--jobs and --timeout with another command: usage error)\n"
"      --retained       types: add retained bytes (builds the whole graph)\n"
"      --min-share=PCT  report: a leak suspect retains at least PCT% of the\n"
"                       reachable heap (default 10)\n"
"  -h, --help           this help\n"
"  -V, --version        version\n"
"\n"
"Exit codes: 0 success; 2 usage; 3 core unreadable, not a core, or truncated;\n"
"4 executable or libpython missing or not the one in the core; 5 no debug info\n"
"for libpython; 6 not a CPython core; 7 runtime state unreadable (core taken\n"
"during gc); 8 core memory inconsistent; 9 out of memory; 10 output error;\n"
"70 internal error. See pyleak-core(1).\n"
"\n"
"Environment: PYLEAK_TIMING=1 prints each analysis step's wall and CPU time, page\n"
"faults and peak RSS on stderr;\n"
"PYLEAK_THREADS=N caps the threads used (default: the CPUs; the output is the same).\n", out);
}

static bool parse_format(const char *s, enum pl_format *f)
{
	if (!strcmp(s, "text"))
		*f = PL_FMT_TEXT;
	else if (!strcmp(s, "json"))
		*f = PL_FMT_JSON;
	else if (!strcmp(s, "jsonl"))
		*f = PL_FMT_JSONL;
	else if (!strcmp(s, "markdown") || !strcmp(s, "md"))
		*f = PL_FMT_MARKDOWN;
	else
		return false;
	return true;
}

int pl_cli_parse(struct cli *c, int argc, char **argv)
{
	enum { O_FORMAT = 256, O_TOP, O_TYPE, O_SYSROOT, O_DEBUGDIR, O_FORCE, O_LAYOUT, O_RETAINED, O_MINSHARE, O_MAXDEPTH, O_TOOMANY, O_DOT, O_SVG, O_SVGDIR, O_LOCALS, O_TASKS, O_EXE, O_JOBS, O_TIMEOUT };
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, O_FORMAT },
		{ "top", required_argument, NULL, O_TOP },
		{ "type", required_argument, NULL, O_TYPE },
		{ "sysroot", required_argument, NULL, O_SYSROOT },
		{ "debug-dir", required_argument, NULL, O_DEBUGDIR },
		{ "force", no_argument, NULL, O_FORCE },
		{ "layout", no_argument, NULL, O_LAYOUT },
		{ "retained", no_argument, NULL, O_RETAINED },
		{ "min-share", required_argument, NULL, O_MINSHARE },
		{ "max-depth", required_argument, NULL, O_MAXDEPTH },
		{ "too-many", required_argument, NULL, O_TOOMANY },
		{ "dot", required_argument, NULL, O_DOT },
		{ "svg", required_argument, NULL, O_SVG },
		{ "svg-dir", required_argument, NULL, O_SVGDIR },
		{ "locals", no_argument, NULL, O_LOCALS },
		{ "tasks", no_argument, NULL, O_TASKS },
		{ "exe", required_argument, NULL, O_EXE },
		{ "jobs", required_argument, NULL, O_JOBS },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	memset(c, 0, sizeof(*c));
	c->top = 25;
	c->min_share = 0.10;
	c->max_depth = 4;
	c->too_many = 10;
	c->format = PL_FMT_TEXT;
	c->jobs = 1;
	bool jobs_set = false;
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 'h':
			pl_cli_usage(stdout);
			return -1;
		case 'V':
			printf("pyleak-core %s\n", PACKAGE_VERSION);
			return -1;
		case O_FORMAT:
			if (!parse_format(optarg, &c->format)) {
				fprintf(stderr, "pyleak-core: unknown --format '%s' (text, json, jsonl, markdown)\n", optarg);
				return 2;
			}
			c->format_set = true;
			break;
		case O_TOP:
			c->top = strtoul(optarg, &end, 10);
			if (*end || !*optarg) {
				fprintf(stderr, "pyleak-core: --top takes a number, not '%s'\n", optarg);
				return 2;
			}
			break;
		case O_TYPE:
			c->type = optarg;
			break;
		case O_DOT:
			c->dot = optarg;
			break;
		case O_SVG:
			c->svg = optarg;
			break;
		case O_SVGDIR:
			c->svg_dir = optarg;
			break;
		case O_MAXDEPTH:
		case O_TOOMANY: {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v == 0 || v > 1000) {
				fprintf(stderr, "pyleak-core: --%s takes a number from 1 to 1000, not '%s'\n",
					opt == O_MAXDEPTH ? "max-depth" : "too-many", optarg);
				return 2;
			}
			*(opt == O_MAXDEPTH ? &c->max_depth : &c->too_many) = v;
			break;
		}
		case O_SYSROOT:
			c->sysroot = optarg;
			break;
		case O_DEBUGDIR:
			if (c->ndebug_dirs < 32)
				c->debug_dirs[c->ndebug_dirs++] = optarg;
			break;
		case O_FORCE:
			c->force = true;
			break;
		case O_LAYOUT:
			c->layout = true;
			break;
		case O_LOCALS:
			c->locals = true;
			break;
		case O_TASKS:
			c->tasks = true;
			break;
		case O_EXE:
			c->exe = optarg;
			break;
		case O_JOBS: {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v == 0 || v > 256) {
				fprintf(stderr, "pyleak-core: --jobs takes a number from 1 to 256, not '%s'\n",
					optarg);
				return 2;
			}
			c->jobs = (unsigned)v;
			jobs_set = true;
			break;
		}
		case O_TIMEOUT:
			c->timeout = strtod(optarg, &end);
			/* (!(x > 0) also refuses nan) */
			if (*end || !*optarg || !(c->timeout > 0) || c->timeout > 86400 * 365) {
				fprintf(stderr, "pyleak-core: --timeout takes a number of seconds greater "
						"than 0, not '%s'\n", optarg);
				return 2;
			}
			break;
		case O_RETAINED:
			c->retained = true;
			break;
		case O_MINSHARE:
			c->min_share = strtod(optarg, &end) / 100.0;
			if (*end || !*optarg || c->min_share <= 0 || c->min_share > 1) {
				fprintf(stderr, "pyleak-core: --min-share takes a percentage from 0 to 100, "
						"not '%s'\n", optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "pyleak-core: unknown option '%s'; see pyleak-core --help\n",
				argv[optind - 1]);
			return 2;
		}
	}
	int i = optind;
	c->command = "report";
	if (i < argc)
		for (const char *const *k = commands; *k; k++)
			if (!strcmp(argv[i], *k)) {
				c->command = *k;
				i++;
				break;
			}
	if (i >= argc) {
		fprintf(stderr, "pyleak-core: no core file given; usage: pyleak-core [COMMAND] CORE "
				"[EXECUTABLE] (see --help)\n");
		return 2;
	}
	if (strcmp(c->command, "triage") && (jobs_set || c->timeout > 0)) {
		fprintf(stderr, "pyleak-core: %s applies to triage only, not to %s; drop it, or "
				"use pyleak-core triage CORE...\n",
			jobs_set ? "--jobs" : "--timeout", c->command);
		return 2;
	}
	if (!strcmp(c->command, "triage")) {   /* every argument is a core */
		c->cores = (const char **)argv + i;
		c->ncores = (size_t)(argc - i);
		c->core = argv[i];
		return 0;
	}
	if (!strcmp(c->command, "diff")) {     /* OLD NEW [EXECUTABLE] */
		if (argc - i < 2 || argc - i > 3) {
			fprintf(stderr, "pyleak-core: diff takes two cores and an optional executable: "
					"pyleak-core diff OLD NEW [EXECUTABLE]\n");
			return 2;
		}
		c->cores = (const char **)argv + i;
		c->ncores = 2;
		c->core = argv[i];
		if (argc - i == 3)
			c->exe = argv[i + 2];
		return 0;
	}
	c->core = argv[i++];
	bool wants_addr = !strcmp(c->command, "referents") || !strcmp(c->command, "referrers") ||
			  !strcmp(c->command, "chain") || !strcmp(c->command, "backrefs");
	for (; i < argc; i++) {
		if (wants_addr && !c->addr && !strncmp(argv[i], "0x", 2))
			c->addr = argv[i];
		else if (!c->exe)
			c->exe = argv[i];
		else {
			fprintf(stderr, "pyleak-core: unexpected argument '%s': give at most CORE%s "
					"(see --help)\n", argv[i],
				wants_addr ? ", EXECUTABLE and ADDR" : " and EXECUTABLE");
			return 2;
		}
	}
	if (wants_addr && !c->addr && !(c->type && !strcmp(c->command, "chain"))) {
		fprintf(stderr, "pyleak-core: %s needs the address of an object (0x...); find one "
				"with 'pyleak-core objects'\n", c->command);
		return 2;
	}
	return 0;
}
