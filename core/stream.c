#include "stream.h"

#include <errno.h>
#include <string.h>

size_t nh_stream_find_blank_line(const nh_rbuf *b, size_t from)
{
    const char *base = nh_rbuf_peek(b);
    size_t len = nh_rbuf_len(b);
    if (len == 0)
        return 0;   /* an empty buffer may have no memory at all */
    /* An empty line first is a block of its own, however its bytes arrived. */
    if (base[0] == '\n')
        return 1;
    if (base[0] == '\r' && len >= 2 && base[1] == '\n')
        return 2;
    size_t at = from >= 2 ? from - 2 : 0;   /* the terminator may straddle `from` */
    for (;;) {
        const char *nl = memchr(base + at, '\n', len - at);
        if (!nl)
            return 0;
        size_t i = (size_t)(nl - base);
        if (i + 1 < len && base[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && base[i + 1] == '\r' && base[i + 2] == '\n')
            return i + 3;
        if (i + 2 >= len)
            return 0;   /* too few bytes after this "\n" to tell yet */
        at = i + 1;
    }
}

static int done(nh_read *r, size_t take, size_t keep)
{
    r->take = take;
    r->keep = keep;
    return NH_IO_DONE;
}

/* Answer from what is buffered: DONE, FULL, or AGAIN to read more. */
static int satisfy(const nh_socket *s, nh_read *r)
{
    const nh_rbuf *b = &s->rbuf;
    size_t len = nh_rbuf_len(b), at;
    switch (r->mode) {
    case NH_READ_SOME:
        if (len == 0)
            return NH_IO_AGAIN;
        return done(r, len < r->n ? len : r->n, len < r->n ? len : r->n);
    case NH_READ_FULL:
        return len < r->n ? NH_IO_AGAIN : done(r, r->n, r->n);
    case NH_READ_PEEK:
        return len < r->n ? NH_IO_AGAIN : done(r, 0, r->n);
    case NH_READ_BLOCK:
        r->limit = r->n ? r->n : b->limit;
        at = nh_stream_find_blank_line(b, r->scanned);
        break;
    default:
        r->limit = b->limit;
        at = r->mode == NH_READ_LINE ? nh_rbuf_find(b, "\n", 1, r->scanned)
                                     : nh_rbuf_find(b, r->delim, r->dlen, r->scanned);
        break;
    }
    if (at && at <= r->limit) {
        size_t keep = at;
        if (r->mode == NH_READ_LINE) {
            keep--;                                        /* "\n" */
            if (keep > 0 && nh_rbuf_peek(b)[keep - 1] == '\r')
                keep--;                                    /* "\r\n" */
        }
        return done(r, at, keep);
    }
    r->scanned = len;
    /* Past the limit whether or not the end came in the same read. */
    return at || len >= r->limit ? NH_IO_FULL : NH_IO_AGAIN;
}

static int fail(nh_rbuf *b, int e)
{
    if (nh_rbuf_settle(b) < 0)
        e = ENOMEM;
    errno = e;
    return NH_IO_ERR;
}

int nh_stream_read(nh_socket *s, nh_read *r, int waited, int now_only)
{
    nh_rbuf *b = &s->rbuf;
    for (;;) {
        int st = satisfy(s, r);
        if (st == NH_IO_FULL && nh_rbuf_settle(b) < 0)
            return fail(b, ENOMEM);
        if (st != NH_IO_AGAIN)
            return st;
        if (!nh_socket_is_open(s))
            return NH_IO_CLOSED;
        /* The deadline is checked before a fresh attempt. A wake comes from
         * the loop, which runs a due deadline's timer before it reports the
         * socket, and a read that waits at once leaves the check to the wait. */
        int attempt = waited || now_only || !nh_read_wait_first(s);
        if (!attempt)
            return nh_rbuf_settle(b) < 0 ? fail(b, ENOMEM) : NH_IO_AGAIN;
        if (!waited && nh_side_expired(&s->rd)) {
            nh_rbuf_settle(b);
            return NH_IO_TIMEOUT;
        }
        size_t want = 0;   /* a peek takes all there is: what follows it reads the rest */
        if (r->mode == NH_READ_SOME)
            want = r->n;
        else if (r->mode == NH_READ_FULL)
            want = r->n - nh_rbuf_len(b);
        ssize_t n = nh_rbuf_fill(b, nh_socket_read_cb, s, want);
        if (n > 0) {
            nh_read_done(s, waited);
            waited = 0;   /* what follows in this call is a fresh attempt */
            continue;
        }
        if (n == 0) {
            size_t len = nh_rbuf_len(b);
            r->unexpected = r->mode == NH_READ_FULL && len > 0;
            r->keep = len;
            r->take = r->mode == NH_READ_PEEK ? 0 : len;   /* a peek leaves it to be read */
            return NH_IO_EOF;
        }
        int e = errno;
        if (!nh_again(e))
            return fail(b, e);
        if (nh_rbuf_settle(b) < 0)
            return fail(b, ENOMEM);
        if (now_only)
            return NH_IO_TIMEOUT;
        return NH_IO_AGAIN;
    }
}

int nh_stream_take(nh_socket *s, const nh_read *r)
{
    nh_rbuf_consume(&s->rbuf, r->take);
    if (nh_rbuf_settle(&s->rbuf) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

int nh_stream_write(nh_socket *s, const char *data, size_t len, size_t *off)
{
    int stream = nh_net_is_stream(s->net);
    for (;;) {
        int st = nh_socket_write_ready(s);
        if (st != NH_IO_DONE)
            return st;
        ssize_t n = nh_socket_send(s, data + *off, len - *off);
        if (n < 0)
            return nh_socket_write_failed(s);
        *off += (size_t)n;
        if (*off == len || !stream)
            return NH_IO_DONE;
    }
}
