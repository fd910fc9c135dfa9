/* Stream reads (core/stream.c) over a socketpair: every mode, the limit,
 * EOF with and without a partial answer, and the read cadence. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/stream.h"
#include "check.h"

static int pair(nh_socket *s, int *peer)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0)
        return -1;
    nh_socket_init(s, 3 /* tcp */);
    s->fd = fds[0];
    s->rbuf.limit = 1024;
    *peer = fds[1];
    return 0;
}

static void put(int fd, const char *text) { CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text)); }

/* As the bindings do: after AGAIN, wait (the data is there) and call again. */
static int read_waiting(nh_socket *s, nh_read *r)
{
    int st = NH_IO_AGAIN;
    for (int i = 0; i < 4 && st == NH_IO_AGAIN; i++)
        st = nh_stream_read(s, r, 1, 0);
    return st;
}

/* Read in mode and compare the answer; consumes it. */
static int read_as(nh_socket *s, nh_read *r, const char *want)
{
    int st = nh_stream_read(s, r, 1, 0);
    if (st == NH_IO_DONE) {
        CHECK(r->keep == strlen(want) && memcmp(nh_rbuf_peek(&s->rbuf), want, r->keep) == 0);
        CHECK(nh_stream_take(s, r) == 0);
    }
    return st;
}

static void test_modes(void)
{
    nh_socket s;
    int peer = -1;
    CHECK(pair(&s, &peer) == 0);
    put(peer, "one\r\ntwo\nhead: x\r\n\r\nbody!rest");
    nh_read r = nh_read_request(NH_READ_LINE, 0, NULL, 0);
    CHECK(read_as(&s, &r, "one") == NH_IO_DONE);
    r = nh_read_request(NH_READ_LINE, 0, NULL, 0);
    CHECK(read_as(&s, &r, "two") == NH_IO_DONE);
    r = nh_read_request(NH_READ_BLOCK, 0, NULL, 0);
    CHECK(read_as(&s, &r, "head: x\r\n\r\n") == NH_IO_DONE);
    r = nh_read_request(NH_READ_PEEK, 3, NULL, 0);
    CHECK(read_as(&s, &r, "bod") == NH_IO_DONE);   /* left in the buffer */
    r = nh_read_request(NH_READ_UNTIL, 0, "!", 1);
    CHECK(read_as(&s, &r, "body!") == NH_IO_DONE);
    r = nh_read_request(NH_READ_FULL, 6, NULL, 0);
    CHECK(nh_stream_read(&s, &r, 1, 0) == NH_IO_AGAIN);   /* 4 of 6 */
    CHECK(r.scanned == 0 && nh_rbuf_len(&s.rbuf) == 4);
    put(peer, "ab");
    CHECK(read_as(&s, &r, "restab") == NH_IO_DONE);
    r = nh_read_request(NH_READ_SOME, 2, NULL, 0);
    put(peer, "xyz");
    CHECK(read_as(&s, &r, "xy") == NH_IO_DONE);
    r = nh_read_request(NH_READ_SOME, 10, NULL, 0);
    CHECK(read_as(&s, &r, "z") == NH_IO_DONE);
    CHECK(nh_stream_read(&s, &r, 1, 0) == NH_IO_AGAIN);
    CHECK(nh_stream_read(&s, &r, 0, 1) == NH_IO_TIMEOUT);   /* a timeout of 0 */
    close(peer);
    nh_socket_close(&s);
    CHECK(nh_stream_read(&s, &r, 1, 0) == NH_IO_CLOSED);
    nh_socket_free(&s);
}

static void test_split_terminators(void)
{
    nh_socket s;
    int peer = -1;
    CHECK(pair(&s, &peer) == 0);
    /* a header block whose empty line arrives a byte at a time */
    nh_read r = nh_read_request(NH_READ_BLOCK, 0, NULL, 0);
    const char *parts[] = {"a: 1\r", "\n", "\r", "\n"};
    for (int i = 0; i < 3; i++) {
        put(peer, parts[i]);
        CHECK(nh_stream_read(&s, &r, 1, 0) == NH_IO_AGAIN);
    }
    put(peer, parts[3]);
    CHECK(read_as(&s, &r, "a: 1\r\n\r\n") == NH_IO_DONE);
    /* a lone empty line is a block of its own; LF LF ends one too */
    put(peer, "\r\nx\n\n");
    r = nh_read_request(NH_READ_BLOCK, 0, NULL, 0);
    CHECK(read_as(&s, &r, "\r\n") == NH_IO_DONE);
    r = nh_read_request(NH_READ_BLOCK, 0, NULL, 0);
    CHECK(read_as(&s, &r, "x\n\n") == NH_IO_DONE);
    close(peer);
    nh_socket_close(&s);
    nh_socket_free(&s);
}

static void test_limits_and_eof(void)
{
    nh_socket s;
    int peer = -1;
    CHECK(pair(&s, &peer) == 0);
    s.rbuf.limit = 8;
    put(peer, "0123456789\n");
    nh_read r = nh_read_request(NH_READ_LINE, 0, NULL, 0);
    CHECK(nh_stream_read(&s, &r, 1, 0) == NH_IO_FULL && r.limit == 8);
    r = nh_read_request(NH_READ_BLOCK, 32, NULL, 0);   /* a block's own limit */
    CHECK(nh_stream_read(&s, &r, 1, 0) == NH_IO_AGAIN);
    s.rbuf.limit = 64;
    r = nh_read_request(NH_READ_LINE, 0, NULL, 0);
    CHECK(read_as(&s, &r, "0123456789") == NH_IO_DONE);
    put(peer, "par");
    close(peer);
    r = nh_read_request(NH_READ_PEEK, 5, NULL, 0);
    CHECK(read_waiting(&s, &r) == NH_IO_EOF && r.keep == 3 && r.take == 0);
    r = nh_read_request(NH_READ_FULL, 5, NULL, 0);
    CHECK(read_waiting(&s, &r) == NH_IO_EOF && r.keep == 3 && r.unexpected);
    CHECK(nh_stream_take(&s, &r) == 0 && nh_rbuf_len(&s.rbuf) == 0);
    r = nh_read_request(NH_READ_LINE, 0, NULL, 0);
    CHECK(read_waiting(&s, &r) == NH_IO_EOF && r.keep == 0 && !r.unexpected);
    nh_socket_close(&s);
    nh_socket_free(&s);
}

static void test_cadence(void)
{
    nh_socket s;
    int peer = -1;
    CHECK(pair(&s, &peer) == 0);
    nh_read r = nh_read_request(NH_READ_SOME, 16, NULL, 0);
    /* reads that had to wait make the next ones wait first, without a try */
    for (int i = 0; i < 3; i++) {
        put(peer, "x");
        CHECK(read_as(&s, &r, "x") == NH_IO_DONE);   /* waited = 1 */
    }
    CHECK(nh_read_wait_first(&s));
    put(peer, "y");
    CHECK(nh_stream_read(&s, &r, 0, 0) == NH_IO_AGAIN);   /* data there, but no try */
    CHECK(read_as(&s, &r, "y") == NH_IO_DONE);
    /* a read that finds data without waiting resets it */
    put(peer, "z");
    nh_read_done(&s, 0);
    CHECK(!nh_read_wait_first(&s));
    CHECK(nh_stream_read(&s, &r, 0, 0) == NH_IO_DONE);
    close(peer);
    nh_socket_close(&s);
    nh_socket_free(&s);
}

static void test_write(void)
{
    nh_socket s;
    int peer = -1;
    static char big[1 << 20], sink[1 << 16];
    CHECK(pair(&s, &peer) == 0);
    size_t off = 0;
    CHECK(nh_stream_write(&s, "hello", 5, &off) == NH_IO_DONE && off == 5);
    /* more than the kernel holds: AGAIN with what went, then the rest once read */
    off = 0;
    CHECK(nh_stream_write(&s, big, sizeof big, &off) == NH_IO_AGAIN);
    CHECK(off > 0 && off < sizeof big && s.wr != NULL);
    size_t drained = 0;
    int rounds = 0;
    while (off < sizeof big && rounds++ < 100000) {
        ssize_t n = read(peer, sink, sizeof sink);
        if (n > 0)
            drained += (size_t)n;
        int st = nh_stream_write(&s, big, sizeof big, &off);
        CHECK(st == NH_IO_DONE || st == NH_IO_AGAIN);
    }
    CHECK(off == sizeof big);
    /* a write side's deadline in the past, then a closed socket */
    CHECK(nh_socket_set_write_deadline(&s, nh_now() - 1) == 0);
    off = 0;
    CHECK(nh_stream_write(&s, "x", 1, &off) == NH_IO_TIMEOUT && off == 0);
    nh_socket_close(&s);
    CHECK(nh_stream_write(&s, "x", 1, &off) == NH_IO_CLOSED);
    close(peer);
    nh_socket_free(&s);
}

void stream_tests(void)
{
    run(test_write);
    run(test_modes);
    run(test_split_terminators);
    run(test_limits_and_eof);
    run(test_cadence);
}
