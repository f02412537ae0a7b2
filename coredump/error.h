/* Error values. Every fallible operation returns a struct pl_error * (NULL on
 * success) or, on hot paths (memory reads), an errno-style int. An error is a
 * kind, which maps to the documented exit code, and a one-line message that
 * says what is wrong and what to do. */
#ifndef PYLEAK_ERROR_H
#define PYLEAK_ERROR_H

#include <stdarg.h>

enum pl_errkind {
	PL_E_USAGE = 1,     /* bad command line */
	PL_E_CORE,          /* core file unreadable, not ELF, not a core, truncated */
	PL_E_EXE,           /* executable or library missing or not the one in the core */
	PL_E_DEBUGINFO,     /* no usable debug info for libpython */
	PL_E_NOPYTHON,      /* no CPython runtime in this core */
	PL_E_STATE,         /* the runtime is in a state we cannot read (mid-GC ...) */
	PL_E_CORRUPT,       /* core memory inconsistent with what CPython would write */
	PL_E_NOMEM,         /* out of memory or over the memory budget */
	PL_E_IO,            /* writing output failed */
	PL_E_INTERNAL,
};

struct pl_error {
	enum pl_errkind kind;
	char msg[1024];
};

__attribute__((format(printf, 2, 3)))
struct pl_error *pl_error(enum pl_errkind kind, const char *fmt, ...);
void pl_error_free(struct pl_error *err);
/* The process exit code for an error kind (documented in the man page). */
int pl_error_exit_code(const struct pl_error *err);
const char *pl_errkind_name(enum pl_errkind kind);

#define PL_CLEANUP(fn) __attribute__((cleanup(fn)))

#endif
