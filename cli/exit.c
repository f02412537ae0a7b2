#include "config.h"
#include "exit.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#if FAST_EXIT && defined(SYS_close_range) && defined(CLONE_VM)
/* The process that gives the memory back: it shares the address space of
 * the one that exits (CLONE_VM), so that exit has nothing to unmap; it
 * closes every file but the pipe (whoever reads the output sees its end
 * when the exiting process closes it), waits until that process is gone
 * (the pipe's other end closes with it), then exits, and the kernel takes
 * the memory back then, after whoever waited for the first has gone on.
 * Raw system calls only: it runs on its own small stack, with the other
 * process's thread-local data. */
static char reaper_stack[16384] __attribute__((aligned(64)));

static int reaper(void *arg)
{
	unsigned fd = (unsigned)*(const int *)arg;
	char c;
	/* no signal handler runs here (one would use the other's stack-less
	 * state), and none interrupts the read: one read is the wait */
	uint64_t all = ~(uint64_t)0;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, sizeof(all));
	if (fd > 0)
		syscall(SYS_close_range, 0u, fd - 1, 0u);
	syscall(SYS_close_range, fd + 1, ~0u, 0u);
	syscall(SYS_read, fd, &c, 1);
	syscall(SYS_exit_group, 0);
	return 0;
}
#endif

_Noreturn void pl_exit_detached(int code)
{
#if FAST_EXIT && defined(SYS_close_range) && defined(CLONE_VM)
	static int fds[2];
	if (pipe2(fds, O_CLOEXEC) == 0) {
		/* (exit signal 0: nobody waits for it; its new parent reaps it) */
		if (clone(reaper, reaper_stack + sizeof(reaper_stack), CLONE_VM, &fds[0]) > 0)
			close(fds[0]);
	}
#endif
	_exit(code);
}
