/* The datagram receive policy (core/dgram.c) on loopback UDP sockets: a
 * receive, truncation, the queue a busy socket gets, the lone reader's wait
 * and its batches. */
#include <errno.h>
#include <string.h>

#include "../../core/dgram.h"
#include "check.h"
#include "net.h"

static void send_to(nh_socket *from, nh_socket *to, const char *text)
{
    CHECK(nh_socket_sendto(from, text, strlen(text), &to->laddr) == (ssize_t)strlen(text));
}

static void test_try(void)
{
    nh_socket a, b;
    nh_dgram d;
    nh_datagram dg;
    CHECK(test_listen(&a, 1 /* udp4 */) == 0 && test_listen(&b, 1) == 0);
    nh_dgram_init(&d);
    CHECK(nh_dgram_try(&d, &a, 100, 1, 0, 0, &dg) == 0);   /* nothing there */
    send_to(&b, &a, "hello");
    CHECK(nh_dgram_try(&d, &a, 100, 1, 0, 0, &dg) == 1);
    CHECK(dg.len == 5 && memcmp(dg.data, "hello", 5) == 0 && !dg.truncated);
    CHECK(nh_addr_equal(&dg.from, &b.laddr));
    send_to(&b, &a, "truncated");
    CHECK(nh_dgram_try(&d, &a, 4, 1, 0, 0, &dg) == 1 && dg.len == 4 && dg.truncated);
    CHECK(nh_dgram_try(&d, &a, 100, 0, 1, 0, &dg) == 0);   /* a timeout of 0 finds nothing */
    nh_socket_close(&a);
    CHECK(nh_dgram_try(&d, &a, 100, 1, 0, 0, &dg) == -1 && errno == EBADF);
    nh_dgram_free(&d);
    nh_socket_close(&b);
    nh_socket_free(&a);
    nh_socket_free(&b);
}

static void test_busy_socket_gets_a_queue(void)
{
    nh_socket a, b;
    nh_dgram d;
    nh_datagram dg;
    char text[16];
    CHECK(test_listen(&a, 1) == 0 && test_listen(&b, 1) == 0);
    nh_dgram_init(&d);
    for (int i = 0; i < NH_DGRAM_BUSY_READS + 5; i++) {
        snprintf(text, sizeof text, "d%d", i);
        send_to(&b, &a, text);
    }
    for (int i = 0; i < NH_DGRAM_BUSY_READS + 5; i++) {
        snprintf(text, sizeof text, "d%d", i);
        CHECK(nh_dgram_try(&d, &a, 100, 0, 0, 0, &dg) == 1);
        CHECK(dg.len == strlen(text) && memcmp(dg.data, text, dg.len) == 0);
        CHECK(!d.queue == (i < NH_DGRAM_BUSY_READS - 1));
    }
    CHECK(!nh_dgram_queued(&d));
    nh_dgram_free(&d);
    CHECK(d.queue == NULL);
    nh_socket_close(&a);
    nh_socket_close(&b);
    nh_socket_free(&a);
    nh_socket_free(&b);
}

static void test_lone_wait(void)
{
    nh_socket a, b;
    nh_dgram d;
    nh_datagram dg;
    CHECK(test_listen(&a, 1) == 0 && test_listen(&b, 1) == 0);
    nh_dgram_init(&d);
    double t0 = nh_now();
    CHECK(nh_dgram_plain_wait(&a, 0.05));
    CHECK(nh_dgram_wait(&d, &a, 100, 0, 0.05, &dg) == -1 && errno == ETIMEDOUT);
    CHECK(nh_now() - t0 >= 0.05);
    CHECK(nh_dgram_wait(&d, &a, 100, nh_now() - 1, -1, &dg) == -1 && errno == EAGAIN);   /* past */
    send_to(&b, &a, "ping");
    CHECK(nh_dgram_wait(&d, &a, 100, nh_now() + 1, -1, &dg) == 1 && dg.len == 4);
    CHECK(a.rcvtimeo_ms > 0 && a.rcvtimeo_ms <= 1000);
    /* two looks in a row that find a datagram: the waits fill the queue */
    send_to(&b, &a, "1");
    CHECK(nh_dgram_try(&d, &a, 100, 0, 1, 1, &dg) == 1);
    send_to(&b, &a, "2");
    CHECK(nh_dgram_try(&d, &a, 100, 0, 1, 1, &dg) == 1);
    CHECK(d.batch && d.queue);
    send_to(&b, &a, "3");
    send_to(&b, &a, "4");
    CHECK(nh_dgram_wait(&d, &a, 100, 0, 1, &dg) == 1 && dg.len == 1 && dg.data[0] == '3');
    CHECK(nh_dgram_queued(&d));
    CHECK(nh_dgram_try(&d, &a, 100, 0, 0, 1, &dg) == 1 && dg.data[0] == '4');
    /* fills that keep getting one datagram end the batches */
    for (int i = 0; i < NH_DGRAM_BATCH_SINGLES; i++) {
        send_to(&b, &a, "s");
        CHECK(nh_dgram_wait(&d, &a, 100, 0, 1, &dg) == 1);
    }
    CHECK(!d.batch);
    nh_dgram_free(&d);
    nh_socket_close(&a);
    nh_socket_close(&b);
    nh_socket_free(&a);
    nh_socket_free(&b);
}

/* The queue hands out whole datagrams: each reader's max cuts its own. */
static void test_queue_truncates_per_read(void)
{
    nh_socket a, b;
    nh_dgramq *q = nh_dgramq_new();
    nh_addr from;
    size_t len;
    int truncated;
    CHECK(q && test_listen(&a, 1) == 0 && test_listen(&b, 1) == 0);
    CHECK(nh_dgramq_fill(q, a.fd, 0) == -1 && nh_again(errno));   /* none yet */
    send_to(&b, &a, "0123456789");
    send_to(&b, &a, "ab");
    CHECK(nh_dgramq_fill(q, a.fd, 1) >= 1);   /* both, or the first alone */
    const char *d = nh_dgramq_next(q, 4, &len, &from, &truncated);
    CHECK(len == 4 && memcmp(d, "0123", 4) == 0 && truncated && nh_addr_equal(&from, &b.laddr));
    if (nh_dgramq_count(q) == 0)   /* the second came after the first fill */
        CHECK(nh_dgramq_fill(q, a.fd, 1) == 1);
    d = nh_dgramq_next(q, 100, &len, &from, &truncated);
    CHECK(len == 2 && memcmp(d, "ab", 2) == 0 && !truncated);
    CHECK(nh_dgramq_count(q) == 0);
    nh_dgramq_free(q);
    nh_socket_close(&a);
    nh_socket_close(&b);
    nh_socket_free(&a);
    nh_socket_free(&b);
}

void dgram_tests(void)
{
    run(test_queue_truncates_per_read);
    run(test_try);
    run(test_busy_socket_gets_a_queue);
    run(test_lone_wait);
}
