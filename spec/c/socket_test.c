/* Sockets (core/socket.c): listen, connect, accept, send and receive on
 * loopback; a waiter parked on a side is woken by readiness, by the side's
 * deadline and by close. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/socket.h"
#include "check.h"
#include "net.h"

static void test_tcp_roundtrip(void)
{
    nh_socket ln, c, srv;
    const char *sys;
    char buf[16];
    int tcp4 = 4;
    CHECK(test_listen(&ln, tcp4) == 0 && nh_addr_port(&ln.laddr) > 0);
    nh_socket_init(&c, tcp4);
    nh_socket_init(&srv, tcp4);
    CHECK(nh_socket_accept(&ln, &srv, &sys) == -1 && nh_again(errno));
    test_probe p;
    test_probe_init(&p);
    nh_socket_wait(&ln, &ln.rd, &p.w, nh_now() + 2);   /* woken when a connection comes */
    int r = nh_socket_connect(&c, &ln.laddr, &sys);
    CHECK(r == 0 || r == 1);
    CHECK(test_run_until(&p.woken, 2) && p.status == NH_WAKE_READY);
    CHECK(nh_socket_accept(&ln, &srv, &sys) == 0 && nh_socket_is_open(&srv));
    if (r == 1)
        CHECK(nh_socket_connect_result(&c, &sys) == 0);
    CHECK(nh_socket_send(&c, "ping", 4) == 4);
    ssize_t n;
    int tries = 0;
    while ((n = nh_socket_recv(&srv, buf, sizeof buf)) < 0 && nh_again(errno) && tries++ < 1000)
        ;
    CHECK(n == 4 && memcmp(buf, "ping", 4) == 0);
    CHECK(nh_socket_shutdown_write(&c) == 0);
    do n = nh_socket_recv(&srv, buf, sizeof buf); while (n < 0 && nh_again(errno) && tries++ < 100000);
    CHECK(n == 0);   /* the peer's FIN */
    nh_waiter_free(&p.w);
    CHECK(nh_socket_close(&c) == 0 && nh_socket_close(&c) == -1);   /* a second close says so */
    nh_socket_close(&srv);
    nh_socket_close(&ln);
    nh_socket_free(&c); nh_socket_free(&srv); nh_socket_free(&ln);
}

static void test_side_deadline_and_close(void)
{
    nh_socket u;
    test_probe a, b;
    CHECK(test_listen(&u, 1 /* udp4 */) == 0);
    test_probe_init(&a);
    test_probe_init(&b);
    nh_socket_wait(&u, &u.rd, &a.w, 0);
    nh_socket_set_deadline(&u, &u.rd, nh_now() + 0.02);   /* a pending waiter follows it */
    CHECK(test_run_until(&a.woken, 2) && a.status == NH_WAKE_TIMEOUT);
    CHECK(nh_side_expired(&u.rd));
    nh_socket_set_deadline(&u, &u.rd, 0);
    CHECK(!nh_side_expired(&u.rd));
    nh_socket_wait(&u, &u.rd, &b.w, 0);
    nh_socket_close(&u);   /* wakes every waiter with CLOSED */
    CHECK(test_run_until(&b.woken, 2) && b.status == NH_WAKE_CLOSED);
    nh_waiter_free(&a.w);
    nh_waiter_free(&b.w);
    nh_socket_free(&u);
}

static void test_listen_errors(void)
{
    nh_socket a, b;
    const char *sys = NULL;
    CHECK(test_listen(&a, 4) == 0);
    nh_socket_init(&b, 4);
    CHECK(nh_socket_listen(&b, &a.laddr, 1, &sys) == -1 && errno == EADDRINUSE);
    CHECK(sys && strcmp(sys, "bind") == 0 && !nh_socket_is_open(&b));
    nh_socket_close(&a);
    nh_socket_free(&a);
    nh_socket_free(&b);
}

/* A TCP port that refuses connections and stays ours: bound, not listening. */
static int refusing(nh_addr *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof ss;
    if (fd < 0 || bind(fd, (struct sockaddr *)sin, sizeof *sin) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    nh_addr_from_sockaddr(a, (struct sockaddr *)&ss, len);
    return fd;
}

static void test_dial_tries_each_address(void)
{
    nh_socket ln, c;
    nh_addr refused;
    const char *sys = NULL;
    int hold = refusing(&refused);
    CHECK(hold >= 0 && test_listen(&ln, 4) == 0);
    const nh_addr *addrs[] = {&refused, &ln.laddr};
    nh_socket_init(&c, 4);
    int idx = 0, connecting = 0, r, rounds = 0;
    while ((r = nh_socket_dial(&c, addrs, 2, &idx, &connecting, nh_now() + 5, &sys)) == 1 && rounds++ < 100) {
        test_probe p;
        test_probe_init(&p);
        nh_socket_wait(&c, c.wr, &p.w, nh_now() + 2);
        CHECK(test_run_until(&p.woken, 3));
        nh_waiter_free(&p.w);
    }
    CHECK(r == 0 && idx == 1 && nh_addr_equal(&c.raddr, &ln.laddr));   /* the second answered */
    nh_socket_close(&c);
    /* only the refusing one: its error; a deadline already past: ETIMEDOUT */
    idx = connecting = rounds = 0;
    while ((r = nh_socket_dial(&c, addrs, 1, &idx, &connecting, 0, &sys)) == 1 && rounds++ < 100) {
        test_probe p;
        test_probe_init(&p);
        nh_socket_wait(&c, c.wr, &p.w, nh_now() + 2);
        CHECK(test_run_until(&p.woken, 3));
        nh_waiter_free(&p.w);
    }
    CHECK(r == -1 && errno == ECONNREFUSED && sys && strcmp(sys, "connect") == 0);
    idx = connecting = 0;
    CHECK(nh_socket_dial(&c, addrs, 2, &idx, &connecting, nh_now() - 1, &sys) == -1);
    CHECK(errno == ETIMEDOUT && sys == NULL);
    close(hold);
    nh_socket_close(&c);
    nh_socket_close(&ln);
    nh_socket_free(&c);
    nh_socket_free(&ln);
}

static void test_steps(void)
{
    nh_socket ln, c, srv, u, v;
    const char *sys;
    size_t sent = 0;
    nh_addr six;
    CHECK(test_listen(&ln, 4) == 0 && test_listen(&u, 1) == 0 && test_listen(&v, 1) == 0);
    nh_socket_init(&srv, 4);
    CHECK(nh_socket_accept_step(&ln, &srv, &sys) == NH_IO_AGAIN);
    nh_socket_set_deadline(&ln, &ln.rd, nh_now() - 1);
    CHECK(nh_socket_accept_step(&ln, &srv, &sys) == NH_IO_TIMEOUT);
    nh_socket_set_deadline(&ln, &ln.rd, 0);
    nh_socket_init(&c, 4);
    int r = nh_socket_connect(&c, &ln.laddr, &sys);
    CHECK(r == 0 || r == 1);
    int tries = 0;
    while ((r = nh_socket_accept_step(&ln, &srv, &sys)) == NH_IO_AGAIN && tries++ < 100000)
        ;
    CHECK(r == NH_IO_DONE && nh_socket_is_open(&srv));
    CHECK(nh_socket_sendto_step(&u, "hi", 2, &v.laddr, &sent) == NH_IO_DONE && sent == 2);
    CHECK(nh_addr_literal(nh_net_parse("udp6"), "::1", 9, 0, &six) == NH_LIT_OK);
    CHECK(nh_socket_sendto_step(&u, "hi", 2, &six, &sent) == NH_IO_ERR && errno == EAFNOSUPPORT);
    nh_socket_close(&u);
    nh_socket_close(&ln);
    CHECK(nh_socket_sendto_step(&u, "hi", 2, &v.laddr, &sent) == NH_IO_CLOSED);
    CHECK(nh_socket_accept_step(&ln, &srv, &sys) == NH_IO_CLOSED);
    nh_socket_close(&c); nh_socket_close(&srv); nh_socket_close(&v);
    nh_socket_free(&c); nh_socket_free(&srv); nh_socket_free(&v);
    nh_socket_free(&u); nh_socket_free(&ln);
}

void socket_tests(void)
{
    run(test_steps);
    run(test_dial_tries_each_address);
    run(test_tcp_roundtrip);
    run(test_side_deadline_and_close);
    run(test_listen_errors);
}
