/*
 * The C reference for the UDP fault proxy (case 6): a forwarder with a flow
 * (its own connected socket to the upstream) per client address, moving
 * datagrams in batches with recvmmsg(2) and sendmmsg(2), as our proxy does
 * with no toxics. No faults, no timers: the cost of forwarding alone.
 *
 *   ref_fwd LISTEN_PORT UPSTREAM_PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define FLOWS 256

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static struct {
    struct sockaddr_in client;
    int fd;
} flows[FLOWS];
static int nflows;

static char bufs[BATCH][65536];
static struct mmsghdr msgs[BATCH];
static struct iovec iovs[BATCH];
static struct sockaddr_in froms[BATCH];

static void prepare(int with_names)
{
    for (int i = 0; i < BATCH; i++) {
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = sizeof bufs[i];
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        if (with_names) {
            msgs[i].msg_hdr.msg_name = &froms[i];
            msgs[i].msg_hdr.msg_namelen = sizeof froms[i];
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ref_fwd LISTEN_PORT UPSTREAM_PORT\n");
        return 2;
    }
    struct sockaddr_in la = loopback(atoi(argv[1])), ua = loopback(atoi(argv[2]));
    int ln = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(ln, (struct sockaddr *)&la, sizeof la) < 0) {
        perror("bind");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = FLOWS};
    epoll_ctl(ep, EPOLL_CTL_ADD, ln, &ev);
    printf("ready\n");
    fflush(stdout);
    struct epoll_event evs[16];
    for (;;) {
        int n = epoll_wait(ep, evs, 16, -1);
        for (int e = 0; e < n; e++) {
            unsigned who = evs[e].data.u32;
            if (who < FLOWS) {   /* replies: back to the flow's client */
                prepare(0);
                int got = recvmmsg(flows[who].fd, msgs, BATCH, MSG_DONTWAIT, NULL);
                for (int i = 0; i < got; i++) {
                    iovs[i].iov_len = msgs[i].msg_len;
                    msgs[i].msg_hdr.msg_name = &flows[who].client;
                    msgs[i].msg_hdr.msg_namelen = sizeof flows[who].client;
                }
                if (got > 0)
                    sendmmsg(ln, msgs, (unsigned)got, 0);
                continue;
            }
            prepare(1);
            int got = recvmmsg(ln, msgs, BATCH, MSG_DONTWAIT, NULL);
            int run = -1, from = 0;
            for (int i = 0; i <= got; i++) {
                int f = -1;
                if (i < got) {
                    iovs[i].iov_len = msgs[i].msg_len;
                    for (int k = 0; k < nflows; k++)
                        if (flows[k].client.sin_port == froms[i].sin_port &&
                            flows[k].client.sin_addr.s_addr == froms[i].sin_addr.s_addr)
                            f = k;
                    if (f < 0 && nflows < FLOWS) {
                        f = nflows++;
                        flows[f].client = froms[i];
                        flows[f].fd = socket(AF_INET, SOCK_DGRAM, 0);
                        connect(flows[f].fd, (struct sockaddr *)&ua, sizeof ua);
                        struct epoll_event fev = {.events = EPOLLIN, .data.u32 = (unsigned)f};
                        epoll_ctl(ep, EPOLL_CTL_ADD, flows[f].fd, &fev);
                    }
                    msgs[i].msg_hdr.msg_name = NULL;
                    msgs[i].msg_hdr.msg_namelen = 0;
                }
                if (run >= 0 && f != run) {   /* a run of one flow's datagrams, at once */
                    sendmmsg(flows[run].fd, &msgs[from], (unsigned)(i - from), 0);
                    run = -1;
                }
                if (f >= 0 && run < 0) {
                    run = f;
                    from = i;
                }
            }
        }
    }
}
