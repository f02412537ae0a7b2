/* Rendering of the runtime summary, the type histogram and the object export. */
#ifndef PYLEAK_RENDER_CENSUS_H
#define PYLEAK_RENDER_CENSUS_H

#include <stdint.h>
#include <stdio.h>

struct pl_program;
struct pl_heap;

enum pl_format { PL_FMT_TEXT, PL_FMT_JSON, PL_FMT_JSONL, PL_FMT_MARKDOWN };

void pl_render_info(FILE *out, struct pl_program *p, const struct pl_heap *h, enum pl_format fmt);
void pl_render_types(FILE *out, const struct pl_heap *h, size_t top, enum pl_format fmt);
/* type_filter: exact qualified name, or NULL for all */
void pl_render_objects(FILE *out, const struct pl_heap *h, const char *type_filter,
		       enum pl_format fmt);
/* The fields every object export starts with: {"addr":...,"type":...,
 * "type_addr","size","refcnt","gen","tracked"[,"immortal"][,"finalized"]
 * [,"static"] -- without the closing brace. */
struct pl_obj;
void pl_json_obj_head(FILE *out, const struct pl_heap *h, const struct pl_obj *o);
/* The (at most k) types with the highest counts, count[] being per type
 * index; returns how many were found. */
size_t pl_top_types(const struct pl_heap *h, const uint32_t *count, size_t k, uint32_t *top);
/* "1.2 MiB" */
const char *pl_human_bytes(unsigned long long n, char *buf, size_t len);

#endif
