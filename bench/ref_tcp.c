/*
 * TCP peers for the fault proxy benchmark (case 6): plain epoll and blocking
 * sockets, so the proxies in the middle are what is measured. Each mode
 * prints key=value results.
 *
 *   ref_tcp echo PORT                       echo every connection's bytes back
 *   ref_tcp sink PORT                       read and discard
 *   ref_tcp pingpong PORT SECONDS SIZE      one connection: send SIZE bytes, read them back,
 *                                           repeat; round trips and their p50 / p99
 *   ref_tcp bulk PORT SECONDS               one connection: write 64 KiB blocks
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static char buf[1 << 16];

static int serve(int port, int echo)
{
    int one = 1;
    int ln = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(port);
    setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ln, (struct sockaddr *)&a, sizeof a) < 0 || listen(ln, 512) < 0) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ln};
    epoll_ctl(ep, EPOLL_CTL_ADD, ln, &ev);
    printf("ready\n");
    fflush(stdout);
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ln) {
                int c = accept(ln, NULL, NULL);
                if (c < 0)
                    continue;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) {
                close(fd);
                continue;
            }
            if (echo) {
                ssize_t off = 0;
                while (off < r) {
                    ssize_t w = write(fd, buf + off, (size_t)(r - off));
                    if (w <= 0)
                        break;
                    off += w;
                }
            }
        }
    }
}

static int dial(int port)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int pingpong(int port, double secs, int size)
{
    int fd = dial(port);
    size_t cap = 1 << 20, n = 0;
    double *rtt = malloc(cap * sizeof *rtt);
    memset(buf, 'x', (size_t)size);
    double start = now(), end = start + secs;
    double t = start;
    while (t < end) {
        double t0 = now();
        if (write(fd, buf, (size_t)size) != size)
            break;
        int got = 0;
        while (got < size) {
            ssize_t r = read(fd, buf, (size_t)(size - got));
            if (r <= 0) {
                fprintf(stderr, "read failed\n");
                return 1;
            }
            got += (int)r;
        }
        t = now();
        if (n < cap)
            rtt[n++] = t - t0;
    }
    double took = now() - start;
    qsort(rtt, n, sizeof *rtt, cmp);
    size_t i99 = n ? (size_t)((double)n * 0.99) : 0;
    if (i99 >= n && n)
        i99 = n - 1;
    printf("trips=%zu seconds=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f\n", n, took, n / took,
           n ? rtt[n / 2] * 1e3 : 0, n ? rtt[i99] * 1e3 : 0);
    return 0;
}

static int bulk(int port, double secs)
{
    int fd = dial(port);
    memset(buf, 'b', sizeof buf);
    double start = now(), end = start + secs;
    long long bytes = 0;
    while (now() < end) {
        ssize_t w = write(fd, buf, sizeof buf);
        if (w <= 0)
            break;
        bytes += w;
    }
    double took = now() - start;
    printf("bytes=%lld seconds=%.3f rate=%.1f\n", bytes, took, bytes / took);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "echo") == 0)
        return serve(atoi(argv[2]), 1);
    if (argc >= 3 && strcmp(argv[1], "sink") == 0)
        return serve(atoi(argv[2]), 0);
    if (argc >= 5 && strcmp(argv[1], "pingpong") == 0)
        return pingpong(atoi(argv[2]), atof(argv[3]), atoi(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "bulk") == 0)
        return bulk(atoi(argv[2]), atof(argv[3]));
    fprintf(stderr, "usage: ref_tcp echo PORT | sink PORT | pingpong PORT SECONDS SIZE | bulk PORT SECONDS\n");
    return 2;
}
