/*
 * The C reference for the UDP benchmarks: plain blocking sockets, no tricks
 * the harness is denied. Each mode prints key=value results (the sink a line
 * per burst).
 *
 *   ref_udp server PORT                     echo every datagram back (recvfrom/sendto)
 *   ref_udp client PORT SECONDS SIZE        ping-pong: send, wait for the echo, repeat
 *   ref_udp sink PORT QUIET                 count each burst of datagrams (recvfrom), until QUIET seconds
 *                                           pass without one, and report it; then wait for the next
 *   ref_udp blast PORT SECONDS SIZE         send as fast as sendmmsg(2) allows
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int udp_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    return fd;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void bind_to(int fd, int port)
{
    struct sockaddr_in a = loopback(port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("bind");
        exit(1);
    }
}

static void set_timeout(int fd, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static _Noreturn void server(int port)
{
    int fd = udp_socket();
    char buf[65536];
    bind_to(fd, port);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 0)
            continue;
        sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}

static int client(int port, double seconds, int size)
{
    int fd = udp_socket();
    char buf[65536];
    struct sockaddr_in to = loopback(port);
    long trips = 0, lost = 0;
    memset(buf, 'x', sizeof buf);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        perror("connect");
        return 1;
    }
    set_timeout(fd, 0.2);
    double end = now() + seconds, start = now();
    while (now() < end) {
        if (send(fd, buf, (size_t)size, 0) < 0)
            continue;
        if (recv(fd, buf, sizeof buf, 0) < 0)
            lost++;
        else
            trips++;
    }
    double took = now() - start;
    printf("trips=%ld lost=%ld seconds=%.3f rate=%.1f\n", trips, lost, took, trips / took);
    return 0;
}

/* Count datagrams from the first until none comes for `quiet` seconds; then
 * print and wait to be stopped, so the caller can read our CPU time. */
static _Noreturn void sink(int port, double quiet)
{
    int fd = udp_socket();
    char buf[65536];
    int big = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    bind_to(fd, port);
    printf("ready\n");
    fflush(stdout);
    /* recvfrom with the sender's address, as the reference and as
     * read_from, which returns it */
    struct sockaddr_in from;
    socklen_t fromlen = sizeof from;
    for (int burst = 1;; burst++) {
        set_timeout(fd, 0);   /* wait for the next burst as long as it takes */
        if (recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen) < 0)
            exit(1);
        long got = 1;
        double first = now(), last = first;
        set_timeout(fd, quiet);
        for (;;) {
            fromlen = sizeof from;
            if (recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen) < 0)
                break;
            got++;
            last = now();
        }
        printf("burst=%d received=%ld seconds=%.3f rate=%.1f\n", burst, got, last - first,
               got / (last - first));
        fflush(stdout);
    }
}

static int blast(int port, double seconds, int size)
{
    enum { BATCH = 64 };
    int fd = udp_socket();
    static char buf[BATCH][2048];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in to = loopback(port);
    long sent = 0;
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        perror("connect");
        return 1;
    }
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        memset(buf[i], 'b', (size_t)size);
        iov[i].iov_base = buf[i];
        iov[i].iov_len = (size_t)size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    double end = now() + seconds, start = now();
    while (now() < end) {
        int n = sendmmsg(fd, msgs, BATCH, 0);
        if (n > 0)
            sent += n;
    }
    double took = now() - start;
    printf("sent=%ld seconds=%.3f rate=%.1f\n", sent, took, sent / took);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "server") == 0)
        server(atoi(argv[2]));
    if (argc >= 5 && strcmp(argv[1], "client") == 0)
        return client(atoi(argv[2]), atof(argv[3]), atoi(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "sink") == 0)
        sink(atoi(argv[2]), atof(argv[3]));
    if (argc >= 5 && strcmp(argv[1], "blast") == 0)
        return blast(atoi(argv[2]), atof(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: ref_udp server PORT | client PORT SECONDS SIZE | sink PORT QUIET | "
                    "blast PORT SECONDS SIZE\n");
    return 2;
}
