/* The read buffer tested with plain C: a scripted reader stands in for the
 * socket, so every split of the input can be tried without a network. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../core/rbuf.h"
#include "check.h"

/* Hands out `data` in pieces of at most `step` bytes, then EAGAIN once, then EOF. */
typedef struct {
    const char *data;
    size_t len, pos, step;
    int again;
} script;

static ssize_t script_read(void *ctx, char *buf, size_t len)
{
    script *s = ctx;
    if (s->pos == s->len) {
        if (s->again) {
            s->again = 0;
            errno = EAGAIN;
            return -1;
        }
        return 0;
    }
    size_t n = s->len - s->pos;
    if (n > s->step) n = s->step;
    if (n > len) n = len;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

/* Find "\r\n\r\n" however the input is split; data survives settling. */
static void test_delimiter_across_splits(void)
{
    const char *msg = "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY";
    size_t head = strstr(msg, "\r\n\r\n") - msg + 4;
    for (size_t step = 1; step <= strlen(msg); step++) {
        script s = {msg, strlen(msg), 0, step, 1};
        nh_rbuf b;
        nh_rbuf_init(&b);
        size_t scanned = 0, at = 0;
        while (!(at = nh_rbuf_find(&b, "\r\n\r\n", 4, scanned))) {
            scanned = nh_rbuf_len(&b);
            if (nh_rbuf_fill(&b, script_read, &s, 0) <= 0) break;
            CHECK(nh_rbuf_settle(&b) == 0);   /* as before every wait */
        }
        CHECK(at == head);
        CHECK(memcmp(nh_rbuf_peek(&b), msg, head) == 0);
        nh_rbuf_consume(&b, at);
        while (nh_rbuf_len(&b) < 4 && nh_rbuf_fill(&b, script_read, &s, 0) > 0) {}
        CHECK(nh_rbuf_len(&b) == 4 && memcmp(nh_rbuf_peek(&b), "BODY", 4) == 0);
        nh_rbuf_consume(&b, 4);
        CHECK(nh_rbuf_len(&b) == 0);
        CHECK(nh_rbuf_fill(&b, script_read, &s, 0) < 0 && errno == EAGAIN);
        CHECK(nh_rbuf_fill(&b, script_read, &s, 0) == 0);
        nh_rbuf_free(&b);
    }
}

/* An empty buffer owns no memory: leftovers move out of the scratch area. */
static void test_empty_buffer_owns_nothing(void)
{
    script s = {"abcdef", 6, 0, 6, 0};
    nh_rbuf b;
    nh_rbuf_init(&b);
    CHECK(nh_rbuf_fill(&b, script_read, &s, 0) == 6);
    CHECK(nh_rbuf_borrowed(&b) && b.cap == 0);
    nh_rbuf_consume(&b, 2);
    CHECK(nh_rbuf_settle(&b) == 0);
    CHECK(!nh_rbuf_borrowed(&b) && b.cap > 0);
    CHECK(nh_rbuf_len(&b) == 4 && memcmp(nh_rbuf_peek(&b), "cdef", 4) == 0);
    nh_rbuf_consume(&b, 4);
    CHECK(nh_rbuf_fill(&b, script_read, &s, 0) == 0);   /* EOF: memory released */
    CHECK(b.data == NULL && b.cap == 0);
    nh_rbuf_free(&b);
}

/* `want` caps a fill, so a short read(max) leaves nothing behind. */
static void test_want_limits_fill(void)
{
    script s = {"0123456789", 10, 0, 10, 0};
    nh_rbuf b;
    nh_rbuf_init(&b);
    CHECK(nh_rbuf_fill(&b, script_read, &s, 3) == 3);
    CHECK(memcmp(nh_rbuf_peek(&b), "012", 3) == 0);
    CHECK(nh_rbuf_settle(&b) == 0);
    CHECK(nh_rbuf_fill(&b, script_read, &s, 4) == 4);
    CHECK(nh_rbuf_len(&b) == 7 && memcmp(nh_rbuf_peek(&b), "0123456", 7) == 0);
    nh_rbuf_free(&b);
}

/* Growth keeps data intact through many reallocations. */
static void test_growth(void)
{
    static char big[300000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
    memcpy(big + 250000, "MARK!", 5);
    script s = {big, sizeof big, 0, 1000, 0};
    nh_rbuf b;
    nh_rbuf_init(&b);
    while (nh_rbuf_fill(&b, script_read, &s, 0) > 0)
        CHECK(nh_rbuf_settle(&b) == 0);
    CHECK(nh_rbuf_len(&b) == sizeof big);
    CHECK(memcmp(nh_rbuf_peek(&b), big, sizeof big) == 0);
    CHECK(nh_rbuf_find(&b, "MARK!", 5, 0) == 250005);
    CHECK(nh_rbuf_find(&b, "MARK!", 5, 250003) == 250005);   /* straddles `from` */
    CHECK(nh_rbuf_find(&b, "MARK!", 5, 250005) == 0);
    nh_rbuf_free(&b);
}

/* Asking for a huge read allocates only as data comes. */
static void test_large_want_grows_with_data(void)
{
    script s = {"abcdefgh", 8, 0, 4, 0};
    nh_rbuf b;
    nh_rbuf_init(&b);
    CHECK(nh_rbuf_fill(&b, script_read, &s, (size_t)1 << 40) == 4);
    CHECK(nh_rbuf_settle(&b) == 0);
    CHECK(nh_rbuf_fill(&b, script_read, &s, (size_t)1 << 40) == 4);
    CHECK(b.cap <= 65536);
    CHECK(nh_rbuf_len(&b) == 8 && memcmp(nh_rbuf_peek(&b), "abcdefgh", 8) == 0);
    nh_rbuf_free(&b);

    /* the same while the first piece is still in the shared scratch area */
    script t = {"abcdefgh", 8, 0, 4, 0};
    nh_rbuf_init(&b);
    CHECK(nh_rbuf_fill(&b, script_read, &t, (size_t)1 << 40) == 4);
    CHECK(nh_rbuf_borrowed(&b));
    CHECK(nh_rbuf_fill(&b, script_read, &t, (size_t)1 << 40) == 4);
    CHECK(b.cap <= 65536);
    CHECK(nh_rbuf_len(&b) == 8 && memcmp(nh_rbuf_peek(&b), "abcdefgh", 8) == 0);
    nh_rbuf_free(&b);
}

void rbuf_tests(void)
{
    run(test_delimiter_across_splits);
    run(test_empty_buffer_owns_nothing);
    run(test_want_limits_fill);
    run(test_growth);
    run(test_large_want_grows_with_data);
}
