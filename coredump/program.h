/* The dead process as a whole: the core, its address space, the files it had
 * mapped (executable, libraries) with their build-ids, libpython's debug info
 * and layout, and the Python runtime. Modelled on libdrgn's "program". */
#ifndef PYLEAK_PROGRAM_H
#define PYLEAK_PROGRAM_H

#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>

#include "addrspace.h"
#include "elfcore.h"
#include "error.h"
#include "layout.h"
#include "runtime.h"

struct pl_dwarf;

struct pl_file {
	char *core_path;       /* as NT_FILE names it */
	char *disk_path;       /* what we opened (after --sysroot / EXE), or NULL */
	char *open_error;      /* why it could not be used, or NULL */
	const uint8_t *map;
	size_t size;
	Elf *elf;              /* non-NULL for ELF files */
	uint64_t lo, hi;       /* address range over all its mappings */
	uint64_t bias;         /* load bias (ELF files) */
	bool bias_known;
	uint8_t build_id[40];  /* of the file on disk */
	unsigned build_id_len;
	uint8_t core_build_id[40]; /* read from the core's memory */
	unsigned core_build_id_len;
	bool is_main;
	struct pl_dwarf *dwarf; /* another module's DWARF (pl_file_dwarf), once tried */
	bool dwarf_tried;
};

struct pl_options {
	const char *exe;          /* EXECUTABLE argument, or NULL */
	const char *sysroot;      /* --sysroot */
	const char **debug_dirs;  /* --debug-dir (NULL-terminated), searched first */
	bool force;               /* proceed past truncation / mid-GC */
	bool read_all;            /* the whole heap will be read (a census): the
	                           * core's pages are mapped in meanwhile */
};

struct pl_warning {
	char *msg;
};

struct pl_program {
	struct pl_options opt;
	struct pl_core *core;
	struct pl_as as;
	struct pl_file *files;
	size_t nfiles;
	struct pl_file *main;        /* the executable */
	struct pl_file *pyfile;      /* libpython, or the executable when static */
	char *debug_path;            /* where libpython's DWARF came from */
	char *debug_how;             /* "embedded", "build-id", "debuglink", "--debug-dir" */
	Elf *debug_elf;              /* the separate debug file, if any */
	const uint8_t *debug_map;
	size_t debug_size;
	struct pl_dwarf *dwarf;
	struct pl_layout L;
	struct pl_runtime rt;
	char **warnings;
	size_t nwarnings;
};

/* Open everything up to and including the runtime. On error *out is NULL. */
struct pl_error *pl_program_open(const char *core_path, const struct pl_options *opt,
				 struct pl_program **out);
/* The same for a core already parsed (pl_core_from_memory: fuzzing, tests).
 * Takes ownership of core: it is freed with the program, or at once on error. */
struct pl_error *pl_program_open_core(struct pl_core *core, const struct pl_options *opt,
				      struct pl_program **out);
void pl_program_free(struct pl_program *p);
static inline void pl_program_freep(struct pl_program **p) { pl_program_free(*p); }

/* The mapped ELF file holding addr, or NULL. */
struct pl_file *pl_file_at(struct pl_program *p, uint64_t addr);
/* The DWARF of file f: libpython's own, or another module's (an extension
 * module's, embedded or found by build-id or debuglink as libpython's is),
 * opened on first use; NULL when there is none. */
struct pl_dwarf *pl_file_dwarf(struct pl_program *p, struct pl_file *f);

__attribute__((format(printf, 2, 3)))
void pl_warn(struct pl_program *p, const char *fmt, ...);

/* Symbol value (address in the process, bias applied) in file f, from its own
 * symbol tables or, for the Python module, its debug file. 0 or -1. */
int pl_symbol(struct pl_program *p, struct pl_file *f, const char *name,
	      uint64_t *addr, uint64_t *size);
/* Call fn for every function symbol of f (bias applied) whose name ends
 * with suffix, from its own tables and, for the Python module, its debug
 * file. */
void pl_symbols_with_suffix(struct pl_program *p, struct pl_file *f, const char *suffix,
			    void (*fn)(void *ctx, const char *name, uint64_t addr), void *ctx);
/* Hex build-id string into buf (at least 81 bytes). */
const char *pl_build_id_hex(const uint8_t *id, unsigned len, char *buf);

#endif
