/* The CPython runtime found in a core: version, interpreters, threads and the
 * state of the cyclic garbage collector. */
#ifndef PYLEAK_RUNTIME_H
#define PYLEAK_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct pl_program;

struct pl_pythread {
	uint64_t tstate;
	uint64_t interp;
	uint64_t thread_id;     /* pthread_t (threading.get_ident()) */
	uint64_t native_id;     /* kernel tid, from the tstate or matched via the core */
	int64_t id;             /* tstate->id */
	int core_thread;        /* index in core->threads, or -1 */
	uint64_t top_frame;     /* PyFrameObject* (<=3.10) or _PyInterpreterFrame* */
	uint64_t dict;
};

struct pl_gcgen {
	uint64_t head;          /* address of the list head (a PyGC_Head) */
	int32_t threshold, count;
	uint64_t collections, collected, uncollectable;
};

struct pl_gcstate {
	uint64_t addr;
	int32_t enabled, debug, collecting;
	struct pl_gcgen gen[3];
	struct pl_gcgen permanent;
	uint64_t garbage;        /* gc.garbage list, or 0 */
	int64_t garbage_len;     /* -1 when unreadable */
	uint64_t callbacks;
	int64_t callbacks_len;
};

struct pl_runtime {
	uint64_t addr;           /* &_PyRuntime */
	uint64_t size;
	uint32_t hexversion;     /* PY_VERSION_HEX */
	char version[32];        /* "3.12.1" */
	const char *version_source;
	uint64_t interp;         /* main interpreter */
	int ninterps;
	uint64_t sysdict, builtins, modules;
	struct pl_pythread *threads;
	size_t nthreads;
	struct pl_gcstate gc;
	bool debug_offsets_checked;
	int debug_offsets_mismatches;
};

/* Find and read the runtime (needs the layout). */
struct pl_error *pl_runtime_load(struct pl_program *p);
void pl_runtime_release(struct pl_runtime *rt);

/* Names of gc debug flags set in `debug` ("DEBUG_SAVEALL|DEBUG_LEAK" ...). */
const char *pl_gc_debug_flags(int32_t debug, char *buf, size_t len);

#endif
