/* How a successful run ends: without freeing what it holds, and without
 * waiting for the kernel to take it back. */
#ifndef PYLEAK_CLI_EXIT_H
#define PYLEAK_CLI_EXIT_H

/* The sanitizer builds free everything, so that their leak check still
 * sees it all; the others end with pl_exit_detached. */
#if defined(__SANITIZE_ADDRESS__)
#define FAST_EXIT 0
#else
#define FAST_EXIT 1
#endif

/* _exit(code), leaving the address space's teardown (tens of ms for a
 * large core: every page of the arrays and of the core's mapping) to a
 * process that outlives this one, as mold does: the output is out, and
 * whoever waits for this process goes on at once. Where that process
 * cannot be made, an ordinary _exit. Flush what must be written first. */
_Noreturn void pl_exit_detached(int code);

#endif
