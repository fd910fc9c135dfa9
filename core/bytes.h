/*
 * A growable run of bytes (Go's bytes.Buffer, for appending only).
 *
 * Built for bodies that arrive in many small pieces (an HTTP body of 1-byte
 * chunks): appending copies the bytes once into one block that doubles as it
 * grows, so the body costs about a byte a byte while it gathers, where a Lua
 * table of the pieces cost ~26 and their concatenation at the end a third
 * copy. Large blocks are mmapped by the allocator: growing one remaps it, and
 * pages not yet written cost no memory.
 */
#ifndef NH_BYTES_H
#define NH_BYTES_H

#include <stddef.h>

typedef struct nh_bytes {
    char *data;   /* NULL until the first append */
    size_t len, cap;
} nh_bytes;

void nh_bytes_init(nh_bytes *b);

/* Append p[0..n); -1 (nothing appended) when there is no memory. */
int nh_bytes_append(nh_bytes *b, const char *p, size_t n);

/* Empty it and give its memory back. */
void nh_bytes_free(nh_bytes *b);

#endif
