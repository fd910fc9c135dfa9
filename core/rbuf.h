/*
 * A connection's read buffer, for line, delimiter and exact-length reads.
 *
 * It is written against a read callback, not a socket, so it can be tested and
 * fuzzed with plain C. Memory matters with thousands of idle connections: a
 * buffer that is empty owns no memory. A fill into an empty buffer reads into a
 * scratch area shared by all buffers; whatever the caller does not consume
 * before it next waits is moved into memory of the buffer's own (nh_rbuf_settle).
 */
#ifndef NH_RBUF_H
#define NH_RBUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read up to len bytes: >0 bytes read, 0 end of stream, -1 error with errno set
 * (EAGAIN when nothing is available yet). */
typedef ssize_t (*nh_read_fn)(void *ctx, char *buf, size_t len);

typedef struct nh_rbuf {
    char *data;       /* own memory, the shared scratch area (cap 0), or NULL */
    uint32_t start;   /* first unconsumed byte */
    uint32_t end;     /* one past the last buffered byte */
    uint32_t cap;     /* capacity of own memory (0 when borrowing or empty) */
    uint32_t limit;   /* the owner's longest line; the buffer itself ignores it */
} nh_rbuf;            /* 24 bytes; idle connections keep no more (data is NULL) */

#define NH_RBUF_SCRATCH (64 * 1024)
#define NH_RBUF_MAX (UINT32_MAX / 2 + 1)   /* most a buffer holds: 2 GiB */

static inline int nh_rbuf_borrowed(const nh_rbuf *b) { return b->data && !b->cap; }

void nh_rbuf_init(nh_rbuf *b);   /* empty, limit 0 */
void nh_rbuf_free(nh_rbuf *b);   /* empty again; the limit stays */

static inline size_t nh_rbuf_len(const nh_rbuf *b) { return b->end - b->start; }
static inline const char *nh_rbuf_peek(const nh_rbuf *b) { return b->data + b->start; }

/* Read once more from fn, appending at most `want` bytes (0: as much as fits).
 * Returns what fn returned. Returns -1 with errno ENOMEM if memory runs out or
 * the buffer would pass NH_RBUF_MAX. */
ssize_t nh_rbuf_fill(nh_rbuf *b, nh_read_fn fn, void *ctx, size_t want);

/* Offset just past the first occurrence of delim at or after offset `from`
 * (bytes already known not to hold it), or 0 when it is not buffered yet. */
size_t nh_rbuf_find(const nh_rbuf *b, const char *delim, size_t dlen, size_t from);

void nh_rbuf_consume(nh_rbuf *b, size_t n);

/* Keep what is unconsumed in own memory, so the scratch area is free for the
 * next buffer. Call before the owner waits or returns to the loop. Returns -1 on
 * out-of-memory (the data is then lost and the buffer empty). */
int nh_rbuf_settle(nh_rbuf *b);

#endif
