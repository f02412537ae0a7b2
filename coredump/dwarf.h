/* A small index over the DWARF of libpython: complete struct/union types by
 * tag or typedef name, member offsets by dotted path, bit-fields, sizes and
 * enumerator values. Only what the layout table asks for is indexed. */
#ifndef PYLEAK_DWARF_H
#define PYLEAK_DWARF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct pl_dwarf;

/* Open DWARF from an ELF file (its own .debug_info). Returns an error of kind
 * PL_E_DEBUGINFO when the file has no DWARF. */
struct pl_error *pl_dwarf_open(const char *path, struct pl_dwarf **out);
void pl_dwarf_free(struct pl_dwarf *d);
const char *pl_dwarf_path(const struct pl_dwarf *d);

/* Find the types with these names (one pass over the top level of every
 * unit, stopping early when all are found). */
struct pl_error *pl_dwarf_index(struct pl_dwarf *d, const char *const *names, size_t n);

/* 0 on success, -1 when the type or member does not exist. */
int pl_dwarf_sizeof(struct pl_dwarf *d, const char *type, int64_t *size);
int pl_dwarf_member(struct pl_dwarf *d, const char *type, const char *path,
		    int64_t *byte_offset, int32_t *bit_offset, int32_t *bit_size);
/* Values of enumerators of top-level enum types, n names in one scan:
 * found[i] says whether values[i] is set (a NULL name is not looked for).
 * The names of one group (group[i], 0 to 7) are enumerators of one enum
 * type, those the version has: the first enum type that has one of them
 * decides them all, and the scan ends once every group is decided (else it
 * reads every unit). The unit whose name ends in /home (or NULL) is
 * scanned first. */
void pl_dwarf_enumerators(struct pl_dwarf *d, const char *const *names, const int *group, size_t n,
			  const char *home, int64_t *values, bool *found);
/* The function whose entry is at pc (an address in the file's own terms):
 * calls fn with the offset and name of each pointer member of the struct its
 * first parameter points to (a tp_traverse function's object), nested
 * structs flattened ("a.b"). 0, or -1 when there is no such function or its
 * first parameter is not a pointer to a struct. */
int pl_dwarf_param_fields(struct pl_dwarf *d, uint64_t pc,
			  void (*fn)(void *ctx, int64_t off, const char *name), void *ctx);

#endif
