#include "config.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>

static struct pl_error oom_error = { PL_E_NOMEM, "out of memory" };

struct pl_error *pl_error(enum pl_errkind kind, const char *fmt, ...)
{
	struct pl_error *e = malloc(sizeof(*e));
	if (!e)
		return &oom_error;
	e->kind = kind;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return e;
}

void pl_error_free(struct pl_error *e)
{
	if (e && e != &oom_error)
		free(e);
}

int pl_error_exit_code(const struct pl_error *e)
{
	if (!e)
		return 0;
	switch (e->kind) {
	case PL_E_USAGE: return 2;
	case PL_E_CORE: return 3;
	case PL_E_EXE: return 4;
	case PL_E_DEBUGINFO: return 5;
	case PL_E_NOPYTHON: return 6;
	case PL_E_STATE: return 7;
	case PL_E_CORRUPT: return 8;
	case PL_E_NOMEM: return 9;
	case PL_E_IO: return 10;
	case PL_E_INTERNAL: return 70;
	}
	return 70;
}

const char *pl_errkind_name(enum pl_errkind kind)
{
	switch (kind) {
	case PL_E_USAGE: return "usage";
	case PL_E_CORE: return "core";
	case PL_E_EXE: return "executable";
	case PL_E_DEBUGINFO: return "debuginfo";
	case PL_E_NOPYTHON: return "no-python";
	case PL_E_STATE: return "state";
	case PL_E_CORRUPT: return "corrupt";
	case PL_E_NOMEM: return "memory";
	case PL_E_IO: return "io";
	case PL_E_INTERNAL: return "internal";
	}
	return "internal";
}
