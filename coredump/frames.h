/* Python frames: a thread's stack or a generator's frame, innermost first,
 * with the function, file and line (from the code object's line table, as
 * PyCode_Addr2Line computes it) and the locals by name. Works on the bare
 * heap (no census), so stacks can be read from any core. */
#ifndef PYLEAK_FRAMES_H
#define PYLEAK_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pl_heap;

struct pl_pyframe {
	uint64_t frame;        /* PyFrameObject (<=3.10) or _PyInterpreterFrame (3.11+) */
	uint64_t code;
	uint64_t localsplus;   /* the first local slot */
	int64_t nlocals;       /* local, cell and free slots in localsplus */
	int line;              /* -1 when unknown */
};

struct pl_frame_iter {
	struct pl_heap *h;
	uint64_t next;
	int depth;
};

/* Walk a thread's frames from its top frame (pl_pythread.top_frame). */
void pl_frames_begin(struct pl_frame_iter *it, struct pl_heap *h, uint64_t top);
/* 1 with *f filled, 0 at the end (or after the frame limit), -1 when a
 * frame cannot be read (the walk stops there). Shim and incomplete frames
 * are skipped, as sys._current_frames() does. */
int pl_frames_next(struct pl_frame_iter *it, struct pl_pyframe *f);

/* One frame by address: a frame object (<=3.10) or an interpreter frame. */
int pl_frame_read(struct pl_heap *h, uint64_t frame, struct pl_pyframe *f);

/* The line of byte offset addrq in code (PyCode_Addr2Line); -1 if none. */
int pl_code_addr2line(struct pl_heap *h, uint64_t code, int64_t addrq);
/* "qualname" (3.11+) or "name", and the file name of a code object. */
void pl_code_func(struct pl_heap *h, uint64_t code, char *buf, size_t len);
void pl_code_file(struct pl_heap *h, uint64_t code, char *buf, size_t len);
/* CO_OPTIMIZED: a function's frame, whose locals live in localsplus. */
bool pl_code_is_function(struct pl_heap *h, uint64_t code);

/* Local slot i of f: its name into name, its value (cells dereferenced) in
 * *value (0 when unbound). 0 or -1 when unreadable. */
int pl_frame_local(struct pl_heap *h, const struct pl_pyframe *f, int64_t i, char *name,
		   size_t len, uint64_t *value);

enum pl_gen_state { PL_GEN_UNKNOWN, PL_GEN_CREATED, PL_GEN_SUSPENDED, PL_GEN_RUNNING,
		    PL_GEN_DONE };
/* State of a generator, coroutine or async generator; *frame is the
 * address to give pl_frame_read (0 when it has none). */
enum pl_gen_state pl_gen_state(struct pl_heap *h, uint64_t gen, uint64_t *frame);
const char *pl_gen_state_name(enum pl_gen_state s);
/* What a suspended generator or coroutine delegates to (yield from, await:
 * gi_yieldfrom / cr_await), computed as CPython's _PyGen_yf does; 0 for
 * none or unknown. */
uint64_t pl_gen_yieldfrom(struct pl_heap *h, uint64_t gen);

/* Name of local slot idx of code (varnames, cellvars, freevars). 0 or -1. */
int pl_code_local_name(struct pl_heap *h, uint64_t code, int64_t idx, char *buf, size_t len);

/* An attribute of an instance (inline values or __dict__), or 0. */
uint64_t pl_obj_attr(struct pl_heap *h, uint64_t obj, const char *name);
/* threading._active (ident -> Thread), or 0. */
uint64_t pl_threading_active(struct pl_heap *h);
/* The Python name of the thread with this ident (Thread._name from
 * threading._active), else "MainThread" for the interpreter's first
 * thread, else its ident in hex. */
void pl_thread_name(struct pl_heap *h, uint64_t active, uint64_t ident, char *buf, size_t len);

/* The thread state holding the GIL, or 0 (not held / unknown). */
uint64_t pl_gil_holder(struct pl_heap *h);
/* The thread state that last took the GIL (even if it released it since),
 * and whether the GIL is held; 0 when unknown. */
uint64_t pl_gil_last_holder(struct pl_heap *h, bool *locked);

#endif
