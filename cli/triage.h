/* pyleak-core triage CORE...: one record per core, read in child processes
 * (--jobs at a time, so a core that breaks the reader breaks only its own
 * record), printed in the order given, then the cores grouped by signature. */
#ifndef PYLEAK_TRIAGE_H
#define PYLEAK_TRIAGE_H

#include "options.h"

int pl_triage(const struct cli *c, const struct pl_options *opt);

#endif
