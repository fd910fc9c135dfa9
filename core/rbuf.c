#include "rbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One process-wide area: the event loop runs one callback at a time. */
static char scratch[NH_RBUF_SCRATCH];

static void empty(nh_rbuf *b)
{
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

void nh_rbuf_init(nh_rbuf *b)
{
    empty(b);
    b->limit = 0;
}

void nh_rbuf_free(nh_rbuf *b)
{
    if (b->cap)
        free(b->data);
    empty(b);
}

/* Make room for at least `room` more bytes after end, in own memory. */
static int reserve(nh_rbuf *b, size_t room)
{
    size_t len = nh_rbuf_len(b);
    if (b->cap && b->cap - b->end >= room)
        return 0;
    if (b->cap && b->start > 0 && b->cap - len >= room) {
        memmove(b->data, b->data + b->start, len);
        b->start = 0;
        b->end = (uint32_t)len;
        return 0;
    }
    if (room > NH_RBUF_MAX - len)
        return -1;
    size_t need = len + room, cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = malloc(cap);
    if (!p)
        return -1;
    if (len)
        memcpy(p, b->data + b->start, len);
    if (b->cap)
        free(b->data);
    b->data = p;
    b->cap = (uint32_t)cap;
    b->start = 0;
    b->end = (uint32_t)len;
    return 0;
}

ssize_t nh_rbuf_fill(nh_rbuf *b, nh_read_fn fn, void *ctx, size_t want)
{
    ssize_t n;
    if (nh_rbuf_len(b) == 0) {
        nh_rbuf_free(b);
        size_t len = want && want < NH_RBUF_SCRATCH ? want : NH_RBUF_SCRATCH;
        n = fn(ctx, scratch, len);
        if (n > 0) {
            b->data = scratch;   /* cap 0: borrowed */
            b->start = 0;
            b->end = (uint32_t)n;
        }
        return n;
    }
    /* Grow with what arrives, not with what was asked for: a read of n bytes
     * must not allocate n before the peer has sent them. */
    size_t room = want && want < NH_RBUF_SCRATCH * 4 ? want : 16384;
    if (b->cap && want > room && b->cap - b->end > room)
        room = b->cap - b->end;
    if (reserve(b, room) < 0) {
        errno = ENOMEM;
        return -1;
    }
    size_t space = b->cap - b->end;
    if (want && space > want)
        space = want;
    n = fn(ctx, b->data + b->end, space);
    if (n > 0)
        b->end += (uint32_t)n;
    return n;
}

size_t nh_rbuf_find(const nh_rbuf *b, const char *delim, size_t dlen, size_t from)
{
    size_t len = nh_rbuf_len(b);
    if (dlen == 0 || len < dlen)
        return 0;
    /* Resume a little before `from`: the delimiter may straddle the old end. */
    size_t at = from >= dlen ? from - (dlen - 1) : 0;
    const char *base = nh_rbuf_peek(b);
    const char *p;
    if (dlen == 1)
        p = memchr(base + at, delim[0], len - at);
    else
        p = memmem(base + at, len - at, delim, dlen);
    return p ? (size_t)(p - base) + dlen : 0;
}

void nh_rbuf_consume(nh_rbuf *b, size_t n)
{
    b->start += (uint32_t)n;
    if (b->start >= b->end) {
        if (nh_rbuf_borrowed(b))
            empty(b);
        else
            b->start = b->end = 0;
    }
}

int nh_rbuf_settle(nh_rbuf *b)
{
    if (!nh_rbuf_borrowed(b))
        return 0;
    if (nh_rbuf_len(b) == 0) {
        empty(b);
        return 0;
    }
    if (reserve(b, 0) < 0) {
        empty(b);
        return -1;
    }
    return 0;
}
