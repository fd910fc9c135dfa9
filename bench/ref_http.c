/*
 * The naive C reference for the HTTP server benchmark: libev, non-blocking
 * sockets, answer every request (found by its blank line) with a fixed
 * keep-alive "200 TCP connection". It parses nothing else: a floor for what
 * an event-loop server costs, not a real server.
 *
 *   ref_http PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nTCP connection";

typedef struct {
    ev_io io;
    char buf[16384];
    size_t len;
} conn;

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    conn *c = (conn *)w;
    (void)revents;
    for (;;) {
        ssize_t n = read(w->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (n == 0 || (n < 0 && errno != EAGAIN) || (n < 0 && c->len == sizeof c->buf)) {
            ev_io_stop(loop, w);
            close(w->fd);
            free(c);
            return;
        }
        if (n < 0)
            return;
        c->len += (size_t)n;
        char *end;
        while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL) {
            size_t used = (size_t)(end - c->buf) + 4;
            if (write(w->fd, RESPONSE, sizeof RESPONSE - 1) < 0) {
                /* a full socket buffer is not expected with this tiny answer */
            }
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
        }
    }
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = calloc(1, sizeof *c);
        ev_io_init(&c->io, conn_cb, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ref_http PORT\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(argv[1]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("bind/listen");
        return 1;
    }
    struct ev_loop *loop = EV_DEFAULT;
    ev_io w;
    ev_io_init(&w, accept_cb, fd, EV_READ);
    ev_io_start(loop, &w);
    printf("ready\n");
    fflush(stdout);
    ev_run(loop, 0);
    return 0;
}
