/*
 * Reading a byte stream (a TCP socket) through its read buffer: every
 * decision of a read call, so the bindings only push what it found or wait.
 *
 * A read asks for one of six things: some bytes, a line, bytes up to a
 * delimiter, a header block (up to the first empty line), exactly n bytes, or
 * a peek at n bytes. nh_stream_read answers from the buffer when it can and
 * reads the socket when it must; it never waits. AGAIN tells the caller to
 * wait for the socket to be readable (or for its deadline) and call again
 * with `waited` set; what was already searched is kept in the request, so no
 * byte is scanned twice.
 *
 * The read cadence: a socket whose reads keep finding nothing (request /
 * response traffic) skips the attempt that would only say EAGAIN and asks to
 * wait at once, trying first again every 32nd read. Waiting on a readable
 * socket costs one poll; a failed attempt costs a system call.
 */
#ifndef NH_IO_H
#define NH_IO_H

#include <stddef.h>

#include "socket.h"

enum nh_read_mode {
    NH_READ_SOME,    /* what is there, at most n bytes (waits for one) */
    NH_READ_LINE,    /* up to "\n"; the answer drops "\n" or "\r\n" */
    NH_READ_UNTIL,   /* up to and including delim */
    NH_READ_BLOCK,   /* up to and including the first empty line ("\n\n", "\n\r\n") */
    NH_READ_FULL,    /* exactly n bytes */
    NH_READ_PEEK     /* the next n bytes, left in the buffer */
};


/* nh_stream_read's outcomes (enum nh_io, socket.h): DONE, the answer is the
 * buffer's first `keep` bytes and nh_stream_take ends it; AGAIN, wait for
 * readability and call again with waited = 1; EOF, the peer closed and `keep`
 * bytes are a partial answer (maybe 0); FULL, no end within `limit` bytes;
 * TIMEOUT, the read side's deadline passed or now_only found nothing;
 * CLOSED; ERR (errno). */
typedef struct nh_read {
    unsigned char mode;     /* enum nh_read_mode */
    unsigned char unexpected;  /* on EOF: the stream ended inside a message (FULL) */
    size_t n;               /* SOME: at most; FULL, PEEK: exactly; BLOCK: at most (0: the limit) */
    const char *delim;      /* UNTIL */
    size_t dlen;
    size_t scanned;         /* bytes searched already: keep it between calls */
    size_t keep, take;      /* on DONE / EOF: the answer's length, and what to consume */
    size_t limit;           /* the limit that applied (FULL reports it) */
} nh_read;

/* A request: fields after dlen start at 0. */
static inline nh_read nh_read_request(int mode, size_t n, const char *delim, size_t dlen)
{
    nh_read r = {0};
    r.mode = (unsigned char)mode;
    r.n = n;
    r.delim = delim;
    r.dlen = dlen;
    return r;
}

/* One step of a read. `waited`: the caller was just woken for readability
 * (so an attempt is due and the deadline was the wait's to check). `now_only`:
 * a timeout of 0, one attempt and no wait (TIMEOUT when nothing is there). */
int nh_stream_read(nh_socket *s, nh_read *r, int waited, int now_only);

/* After DONE or EOF, once the answer is copied out: consume what the read
 * took and keep the rest in the buffer's own memory. -1 (ENOMEM) when the
 * rest could not be kept. */
int nh_stream_take(nh_socket *s, const nh_read *r);

/* A Conn's write: all of data[*off..len) on a stream (several sends if the
 * kernel takes it in parts), one datagram on a connected UDP socket. DONE:
 * written; AGAIN: the kernel's buffer is full, wait on the write side
 * (s->wr, made now) and call again; TIMEOUT: the write side's deadline
 * passed; CLOSED; ERR (errno). *off is what was written, whatever the end. */
int nh_stream_write(nh_socket *s, const char *data, size_t len, size_t *off);

/* Offset just past the first empty line at or after `from` in b, or 0. */
size_t nh_stream_find_blank_line(const nh_rbuf *b, size_t from);

/* The read cadence (see above), shared with datagram reads (dgram.c). */
static inline int nh_read_wait_first(const nh_socket *s)
{
    return (s->read_waits & 31) != 0;
}

/* The same for a caller that waits in the system call (dgram.h's lone
 * reader), where the attempt only serves to notice a socket become busy. */
static inline int nh_read_wait_first_alone(const nh_socket *s)
{
    return (s->read_waits & 63) != 0;
}

/* A read ended with data: count whether it had to wait. */
static inline void nh_read_done(nh_socket *s, int waited)
{
    s->read_waits = waited ? (s->read_waits + 1) & 127 : 0;
}

#endif
