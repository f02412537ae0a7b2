/* Arrays of millions of elements (the objects, the edges and their
 * offsets): each is its own anonymous mapping, grown or shrunk with mremap.
 * Growing one neither copies it nor touches its pages again, and untouched
 * capacity costs no memory. Sizes are in bytes; the caller keeps them. */
#ifndef PYLEAK_BIGARRAY_H
#define PYLEAK_BIGARRAY_H

#include <stddef.h>

/* Resize p (NULL: a new array, old_bytes 0) to new_bytes; the contents up
 * to the smaller size stay. NULL when out of memory (p is then unchanged).
 * Under AddressSanitizer these are malloc'd, so that it checks their
 * bounds. */
void *pl_big_resize(void *p, size_t old_bytes, size_t new_bytes);
/* Map in the pages of bytes [from, to) of p ahead of their first write
 * (MADV_POPULATE_WRITE); a hint, which may do nothing. */
void pl_big_populate(void *p, size_t from, size_t to);
/* Free an array of `bytes` (its size at the last resize); NULL is fine. */
void pl_big_free(void *p, size_t bytes);

#endif
