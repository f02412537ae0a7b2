#include "config.h"
#include "dwarf.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dw_type {
	char *name;
	Dwarf_Off off;   /* of the complete struct/union DIE */
	bool found;
};

struct pl_dwarf {
	char *path;
	int fd;
	Dwarf *dw;
	struct dw_type *types;
	size_t ntypes;
	uint64_t first_chars[4];   /* bitmap of the first bytes of wanted names */
};

struct pl_error *pl_dwarf_open(const char *path, struct pl_dwarf **out)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pl_error(PL_E_DEBUGINFO, "cannot open debug info %s: %s", path, strerror(errno));
	Dwarf *dw = dwarf_begin(fd, DWARF_C_READ);
	if (!dw) {
		close(fd);
		return pl_error(PL_E_DEBUGINFO, "%s has no usable DWARF debug info (%s)", path,
				dwarf_errmsg(-1));
	}
	struct pl_dwarf *d = calloc(1, sizeof(*d));
	if (!d || !(d->path = strdup(path))) {
		free(d);
		dwarf_end(dw);
		close(fd);
		return pl_error(PL_E_NOMEM, "out of memory");
	}
	d->fd = fd;
	d->dw = dw;
	*out = d;
	return NULL;
}

void pl_dwarf_free(struct pl_dwarf *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->ntypes; i++)
		free(d->types[i].name);
	free(d->types);
	dwarf_end(d->dw);
	close(d->fd);
	free(d->path);
	free(d);
}

const char *pl_dwarf_path(const struct pl_dwarf *d)
{
	return d->path;
}

/* Follow typedefs and qualifiers to the underlying type; false if none. */
static bool peel(Dwarf_Die *die)
{
	for (int depth = 0; depth < 16; depth++) {
		int tag = dwarf_tag(die);
		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type &&
		    tag != DW_TAG_volatile_type && tag != DW_TAG_atomic_type &&
		    tag != DW_TAG_restrict_type)
			return true;
		Dwarf_Attribute a;
		if (!dwarf_attr_integrate(die, DW_AT_type, &a) || !dwarf_formref_die(&a, die))
			return false;
	}
	return false;
}

static bool complete_aggregate(Dwarf_Die *die)
{
	int tag = dwarf_tag(die);
	if (tag != DW_TAG_structure_type && tag != DW_TAG_union_type)
		return false;
	return !dwarf_hasattr(die, DW_AT_declaration) && dwarf_hasattr(die, DW_AT_byte_size);
}

static struct dw_type *lookup(struct pl_dwarf *d, const char *name)
{
	/* a cheap filter first: most DIE names are not wanted */
	if (!(d->first_chars[(unsigned char)name[0] >> 6] & (1ull << ((unsigned char)name[0] & 63))))
		return NULL;
	for (size_t i = 0; i < d->ntypes; i++)
		if (d->types[i].name[0] == name[0] && strcmp(d->types[i].name, name) == 0)
			return &d->types[i];
	return NULL;
}

/* Look for the missing types among the top-level DIEs of unit cu */
static void scan_unit(struct pl_dwarf *d, Dwarf_Die *cu, size_t *missing)
{
	Dwarf_Die die;
	if (dwarf_child(cu, &die) != 0)
		return;
	do {
		int tag = dwarf_tag(&die);
		if (tag != DW_TAG_structure_type && tag != DW_TAG_union_type && tag != DW_TAG_typedef)
			continue;
		const char *nm = dwarf_diename(&die);
		if (!nm)
			continue;
		struct dw_type *t = lookup(d, nm);
		if (!t || t->found)
			continue;
		Dwarf_Die target = die;
		if (!peel(&target) || !complete_aggregate(&target))
			continue;
		t->off = dwarf_dieoffset(&target);
		t->found = true;
		--*missing;
	} while (*missing && dwarf_siblingof(&die, &die) == 0);
}

/* Where CPython defines the types private to one source file (or found
 * complete in few): the unit whose name ends so is scanned first. */
static const struct {
	const char *type, *file;
} homes[] = {
	{ "AST_object", "Python-ast.c" },
	{ "PyTracebackObject", "traceback.c" },
	{ "BLOCK", "_collectionsmodule.c" },
	{ "block", "_collectionsmodule.c" },
	{ "dequeobject", "_collectionsmodule.c" },
	{ "defdictobject", "_collectionsmodule.c" },
	{ "_tuplegetterobject", "_collectionsmodule.c" },
	{ "PatternObject", "sre.c" },
	{ "_abc_data", "_abc.c" },
	{ "partialobject", "_functoolsmodule.c" },
	{ "lru_list_elem", "_functoolsmodule.c" },
	{ "lru_cache_object", "_functoolsmodule.c" },
	{ "PyWeakReference", "weakrefobject.c" },
	{ "_PyNamespaceObject", "namespaceobject.c" },
	{ "PyCMethodObject", "methodobject.c" },
	{ "PyODictObject", "odictobject.c" },
	{ "_odictnode", "odictobject.c" },
	/* complete in many units, none of them before the parser's (large) */
	{ "PyDictKeyEntry", "dictobject.c" },
	{ "PyDictUnicodeEntry", "dictobject.c" },
	{ "PyDescrObject", "descrobject.c" },
	{ "propertyobject", "descrobject.c" },
	{ "mappingproxyobject", "descrobject.c" },
	{ "wrapperobject", "descrobject.c" },
	{ "PyCellObject", "cellobject.c" },
	{ "PyMethodObject", "classobject.c" },
	{ "PyGenObject", "genobject.c" },
	{ "PyAsyncGenObject", "genobject.c" },
	{ "classmethod", "funcobject.c" },
	{ "staticmethod", "funcobject.c" },
	{ "PyByteArrayObject", "bytearrayobject.c" },
};

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);
	return n >= m && strcmp(s + n - m, tail) == 0 && (n == m || s[n - m - 1] == '/');
}

/* Is the unit named file the home of a type still missing? */
static bool home_of_missing(struct pl_dwarf *d, const char *file)
{
	for (size_t i = 0; i < sizeof(homes) / sizeof(homes[0]); i++) {
		if (!ends_with(file, homes[i].file))
			continue;
		struct dw_type *t = lookup(d, homes[i].type);
		if (t && !t->found)
			return true;
	}
	return false;
}

/* The unit after the one at *off (0: the first) in *cu, its name (or
 * NULL) in *file, *off moved past it; false after the last. A unit whose
 * DIE cannot be read is passed over. */
static bool next_unit(struct pl_dwarf *d, Dwarf_Off *off, Dwarf_Die *cu, const char **file)
{
	Dwarf_Off next;
	size_t hsize;
	while (dwarf_nextcu(d->dw, *off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Off cuoff = *off + hsize;
		*off = next;
		if (dwarf_offdie(d->dw, cuoff, cu)) {
			*file = dwarf_diename(cu);
			return true;
		}
	}
	return false;
}

struct pl_error *pl_dwarf_index(struct pl_dwarf *d, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lookup(d, names[i]))
			continue;
		struct dw_type *t = realloc(d->types, (d->ntypes + 1) * sizeof(*t));
		if (!t)
			return pl_error(PL_E_NOMEM, "out of memory");
		d->types = t;
		t[d->ntypes] = (struct dw_type){ strdup(names[i]), 0, false };
		unsigned char c0 = (unsigned char)names[i][0];
		d->first_chars[c0 >> 6] |= 1ull << (c0 & 63);
		if (!t[d->ntypes].name)
			return pl_error(PL_E_NOMEM, "out of memory");
		d->ntypes++;
	}
	size_t missing = 0;
	for (size_t i = 0; i < d->ntypes; i++)
		missing += !d->types[i].found;

	/* the types private to one source file first, from its unit: the
	 * scan of all units, in order, then stops far sooner */
	Dwarf_Off off = 0;
	Dwarf_Die cu;
	const char *file;
	while (missing && next_unit(d, &off, &cu, &file))
		if (file && home_of_missing(d, file))
			scan_unit(d, &cu, &missing);
	off = 0;
	while (missing && next_unit(d, &off, &cu, &file))
		scan_unit(d, &cu, &missing);
	return NULL;
}

static bool type_die(struct pl_dwarf *d, const char *name, Dwarf_Die *out)
{
	struct dw_type *t = lookup(d, name);
	if (!t || !t->found)
		return false;
	return dwarf_offdie(d->dw, t->off, out) != NULL;
}

int pl_dwarf_sizeof(struct pl_dwarf *d, const char *type, int64_t *size)
{
	Dwarf_Die die;
	Dwarf_Word sz;
	if (!type_die(d, type, &die) || dwarf_aggregate_size(&die, &sz) != 0)
		return -1;
	*size = (int64_t)sz;
	return 0;
}

static int member_location(Dwarf_Die *m, int64_t *byte_off)
{
	Dwarf_Attribute a;
	Dwarf_Word w;
	if (!dwarf_attr(m, DW_AT_data_member_location, &a)) {
		*byte_off = 0;   /* union members */
		return 0;
	}
	if (dwarf_formudata(&a, &w) == 0) {
		*byte_off = (int64_t)w;
		return 0;
	}
	/* DWARF 2 style location expression: DW_OP_plus_uconst N */
	Dwarf_Op *ops;
	size_t nops;
	if (dwarf_getlocation(&a, &ops, &nops) == 0 && nops == 1 &&
	    ops[0].atom == DW_OP_plus_uconst) {
		*byte_off = (int64_t)ops[0].number;
		return 0;
	}
	return -1;
}

/* Find member `name` directly in aggregate `agg`, looking into anonymous
 * struct/union members. Depth-bounded. */
static bool find_member(Dwarf_Die *agg, const char *name, size_t len, Dwarf_Die *out,
			int64_t *off, int depth)
{
	Dwarf_Die m;
	if (depth > 8 || dwarf_child(agg, &m) != 0)
		return false;
	do {
		if (dwarf_tag(&m) != DW_TAG_member)
			continue;
		const char *nm = dwarf_diename(&m);
		int64_t mo;
		if (member_location(&m, &mo) != 0)
			continue;
		if (nm && strlen(nm) == len && memcmp(nm, name, len) == 0) {
			*out = m;
			*off = mo;
			return true;
		}
		if (!nm) {
			Dwarf_Die t;
			Dwarf_Attribute a;
			if (dwarf_attr_integrate(&m, DW_AT_type, &a) && dwarf_formref_die(&a, &t) &&
			    peel(&t) && complete_aggregate(&t)) {
				int64_t inner;
				if (find_member(&t, name, len, out, &inner, depth + 1)) {
					*off = mo + inner;
					return true;
				}
			}
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	return false;
}

int pl_dwarf_member(struct pl_dwarf *d, const char *type, const char *path,
		    int64_t *byte_offset, int32_t *bit_offset, int32_t *bit_size)
{
	Dwarf_Die agg, m;
	if (!type_die(d, type, &agg))
		return -1;
	int64_t total = 0;
	const char *p = path;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		int64_t off;
		if (!find_member(&agg, p, len, &m, &off, 0))
			return -1;
		total += off;
		if (!dot)
			break;
		Dwarf_Attribute a;
		if (!dwarf_attr_integrate(&m, DW_AT_type, &a) || !dwarf_formref_die(&a, &agg) ||
		    !peel(&agg) || !complete_aggregate(&agg))
			return -1;
		p = dot + 1;
	}
	*byte_offset = total;
	if (bit_offset) {
		Dwarf_Attribute a;
		Dwarf_Word w;
		*bit_offset = -1;
		*bit_size = 0;
		if (dwarf_attr(&m, DW_AT_bit_size, &a) && dwarf_formudata(&a, &w) == 0) {
			*bit_size = (int32_t)w;
			if (dwarf_attr(&m, DW_AT_data_bit_offset, &a) && dwarf_formudata(&a, &w) == 0) {
				*bit_offset = (int32_t)(total * 8 + (int64_t)w);
			} else if (dwarf_attr(&m, DW_AT_bit_offset, &a) && dwarf_formudata(&a, &w) == 0) {
				/* DWARF 2/3: counted from the most significant bit of the
				 * storage unit (little-endian target). */
				Dwarf_Word unit = 0;
				Dwarf_Attribute b;
				if (dwarf_attr(&m, DW_AT_byte_size, &b))
					dwarf_formudata(&b, &unit);
				*bit_offset = (int32_t)(total * 8 + (int64_t)(unit * 8) - (int64_t)w -
							*bit_size);
			}
		}
	}
	return 0;
}

/* The enum types at the top of unit cu, for pl_dwarf_enumerators: each one
 * holding a name of an undecided group decides that group. */
static void enum_unit(Dwarf_Die *cu, const char *const *names, const int *group, size_t n,
		      int64_t *values, bool *found, bool *decided, size_t *undecided)
{
	Dwarf_Die die, e;
	if (dwarf_child(cu, &die) != 0)
		return;
	do {
		if (dwarf_tag(&die) != DW_TAG_enumeration_type || dwarf_child(&die, &e) != 0)
			continue;
		/* the groups this type decides: those of the names it has */
		bool mine[8] = { false };
		do {
			const char *nm = dwarf_diename(&e);
			Dwarf_Attribute a;
			Dwarf_Sword v;
			for (size_t i = 0; nm && i < n; i++)
				if (!decided[i] && strcmp(nm, names[i]) == 0 &&
				    dwarf_attr(&e, DW_AT_const_value, &a) && dwarf_formsdata(&a, &v) == 0) {
					values[i] = v;
					found[i] = true;
					mine[group[i] & 7] = true;
				}
		} while (dwarf_siblingof(&e, &e) == 0);
		for (size_t i = 0; i < n; i++)
			if (!decided[i] && (found[i] || mine[group[i] & 7])) {
				decided[i] = true;
				--*undecided;
			}
	} while (*undecided && dwarf_siblingof(&die, &die) == 0);
}

void pl_dwarf_enumerators(struct pl_dwarf *d, const char *const *names, const int *group, size_t n,
			  const char *home, int64_t *values, bool *found)
{
	bool decided[64] = { false };
	if (n > 64)
		n = 64;
	size_t undecided = n;
	for (size_t i = 0; i < n; i++) {
		found[i] = false;
		if (!names[i]) {   /* not asked for */
			decided[i] = true;
			undecided--;
		}
	}
	for (int pass = home ? 0 : 1; pass < 2; pass++) {
		Dwarf_Off off = 0;
		Dwarf_Die cu;
		const char *file;
		while (undecided && next_unit(d, &off, &cu, &file))
			if (pass == 1 || (file && ends_with(file, home)))
				enum_unit(&cu, names, group, n, values, found, decided, &undecided);
	}
}

/* The pointer members of aggregate agg at base offset `base`, nested named
 * structs flattened as "outer.inner". Depth-bounded. */
static void pointer_members(Dwarf_Die *agg, int64_t base, const char *prefix, int depth,
			    void (*fn)(void *ctx, int64_t off, const char *name), void *ctx)
{
	Dwarf_Die m;
	if (depth > 4 || dwarf_child(agg, &m) != 0)
		return;
	do {
		if (dwarf_tag(&m) != DW_TAG_member)
			continue;
		int64_t mo;
		Dwarf_Die t;
		Dwarf_Attribute a;
		if (member_location(&m, &mo) != 0 || !dwarf_attr_integrate(&m, DW_AT_type, &a) ||
		    !dwarf_formref_die(&a, &t) || !peel(&t))
			continue;
		const char *nm = dwarf_diename(&m);
		char full[160];
		snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix && nm ? "." : "", nm ? nm : "");
		if (dwarf_tag(&t) == DW_TAG_pointer_type && nm)
			fn(ctx, base + mo, full);
		else if (complete_aggregate(&t) && dwarf_tag(&t) == DW_TAG_structure_type)
			pointer_members(&t, base + mo, full, depth + 1, fn, ctx);
	} while (dwarf_siblingof(&m, &m) == 0);
}

/* Does the code of subprogram die start at pc: its entry, or one of its
 * ranges (a function split into hot and cold parts has only ranges)? */
static bool starts_at(Dwarf_Die *die, uint64_t pc)
{
	Dwarf_Addr lo, base, start, end;
	if (dwarf_entrypc(die, &lo) == 0)
		return lo == pc;
	ptrdiff_t off = 0;
	for (int k = 0; k < 64 && (off = dwarf_ranges(die, off, &base, &start, &end)) > 0; k++)
		if (start == pc)
			return true;
	return false;
}

int pl_dwarf_param_fields(struct pl_dwarf *d, uint64_t pc,
			  void (*fn)(void *ctx, int64_t off, const char *name), void *ctx)
{
	Dwarf_Off off = 0, next;
	size_t hsize;
	while (dwarf_nextcu(d->dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, *scopes = NULL;
		Dwarf_Off cuoff = off + hsize;
		off = next;
		if (!dwarf_offdie(d->dw, cuoff, &cu) || dwarf_haspc(&cu, pc) != 1)
			continue;
		int n = dwarf_getscopes(&cu, pc, &scopes);
		int found = -1;
		for (int i = 0; i < n && found < 0; i++) {
			if (dwarf_tag(&scopes[i]) != DW_TAG_subprogram || !starts_at(&scopes[i], pc))
				continue;
			/* its first parameter: a pointer to the object's struct */
			Dwarf_Die prm, t;
			Dwarf_Attribute a;
			if (dwarf_child(&scopes[i], &prm) != 0)
				break;
			while (dwarf_tag(&prm) != DW_TAG_formal_parameter)
				if (dwarf_siblingof(&prm, &prm) != 0)
					goto done;
			if (!dwarf_attr_integrate(&prm, DW_AT_type, &a) || !dwarf_formref_die(&a, &t) ||
			    !peel(&t) || dwarf_tag(&t) != DW_TAG_pointer_type ||
			    !dwarf_attr_integrate(&t, DW_AT_type, &a) || !dwarf_formref_die(&a, &t) ||
			    !peel(&t) || !complete_aggregate(&t))
				break;
			pointer_members(&t, 0, "", 0, fn, ctx);
			found = 0;
		}
	done:
		free(scopes);
		return found;
	}
	return -1;
}
