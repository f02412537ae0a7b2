/* Rendering of the runtime summary, the type histogram and the object export. */
#ifndef PYLEAK_RENDER_CENSUS_H
#define PYLEAK_RENDER_CENSUS_H

#include <stdio.h>

struct pl_program;
struct pl_heap;

enum pl_format { PL_FMT_TEXT, PL_FMT_JSON, PL_FMT_JSONL, PL_FMT_MARKDOWN };

void pl_render_info(FILE *out, struct pl_program *p, const struct pl_heap *h, enum pl_format fmt);
void pl_render_types(FILE *out, const struct pl_heap *h, size_t top, enum pl_format fmt);
/* type_filter: exact qualified name, or NULL for all */
void pl_render_objects(FILE *out, const struct pl_heap *h, const char *type_filter,
		       enum pl_format fmt);
/* "1.2 MiB" */
const char *pl_human_bytes(unsigned long long n, char *buf, size_t len);

#endif
