/*
 * The datagram receive policy, for both UDP socket kinds (a PacketConn and a
 * dialled UDP Conn): when to try before waiting, when a socket gets a batch
 * queue, and the lone reader.
 *
 * Batches: a socket whose reads find a datagram waiting NH_DGRAM_BUSY_READS
 * times in a row gets a queue (core/dgramq.h) and from then on receives many
 * datagrams per system call (recvmmsg); the UDP sink's instructions per
 * datagram went 1,524 -> 1,242 with it (bench case 2, bench/README.md).
 *
 * The lone reader: a read with nothing else in the process to run beside it
 * (no task lives, no wake is pending: the bindings' nh_alone) waits inside the
 * receive system call, with the socket's receive timeout carrying the
 * deadline, instead of in epoll_wait and then recvfrom: one system call per
 * datagram, as a blocking C program makes. That is what keeps bench case 1
 * (UDP ping-pong) within 0.85 of C's round trips (strace -c: one sendto and
 * one recvfrom per round trip). It is why a datagram socket's fd is left
 * blocking (every other call on it says MSG_DONTWAIT): a script that takes
 * fd() gets a blocking descriptor. A lone reader that finds datagrams queueing
 * up (two looks in a row) fills its queue with recvmmsg(MSG_WAITFORONE)
 * instead, and stops after NH_DGRAM_BATCH_SINGLES fills that got one.
 *
 * Datagrams are received into one static buffer (or the queue) and are valid
 * until the next receive: the caller copies them out at once.
 */
#ifndef NH_DGRAM_H
#define NH_DGRAM_H

#include <stddef.h>

#include "addr.h"
#include "dgramq.h"
#include "socket.h"

#define NH_DGRAM_MAX 65536
#define NH_DGRAM_BUSY_READS 32   /* reads in a row that found data before a socket gets a queue */
#define NH_DGRAM_BATCH_SINGLES 8 /* lone fills in a row that got one datagram before batching stops */
/* Longest single wait in the system call; a longer one is made of several. */
#define NH_DGRAM_WAIT_PART 3600.0

typedef struct nh_dgram {
    nh_dgramq *queue;    /* made once the socket has shown itself busy */
    unsigned busy;       /* reads in a row that found a datagram waiting */
    unsigned char batch; /* a lone reader's waits fill the queue (recvmmsg) */
    unsigned char hits;  /* looks before such waits in a row that found data (to 2) */
    unsigned char singles;   /* such fills in a row that got one datagram */
} nh_dgram;

typedef struct nh_datagram {
    const char *data;    /* valid until the next receive */
    size_t len;
    int truncated;       /* it was longer than the max asked for (len is max) */
    nh_addr from;
} nh_datagram;

void nh_dgram_init(nh_dgram *d);
void nh_dgram_free(nh_dgram *d);   /* the queue; the socket is the caller's */

/* A datagram a batch left in the queue? */
static inline int nh_dgram_queued(const nh_dgram *d)
{
    return d->queue && nh_dgramq_count(d->queue) > 0;
}

/* The next queued datagram (nh_dgram_queued must be true). */
void nh_dgram_next(nh_dgram *d, size_t max, nh_datagram *out);

/* A receive that does not wait. `waited`: the caller was just woken for
 * readability; `now_only`: a timeout of 0; `alone`: the caller will wait in
 * the system call (nh_dgram_wait) rather than on the loop. 1: *out holds a
 * datagram; 0: wait first (nothing there, or the cadence says a try would
 * find nothing; with now_only, nothing there); -1: error, errno set. */
int nh_dgram_try(nh_dgram *d, nh_socket *s, size_t max, int waited, int now_only, int alone,
                 nh_datagram *out);

/* The lone reader's wait: one datagram, waiting inside the system call until
 * the earlier of the read side's deadline and call_deadline (absolute; 0:
 * none). `timeout`: -1, or a call's timeout in seconds not yet made a deadline
 * when nh_dgram_plain_wait allows: the wait is then the timeout itself and
 * reads no clock. 1: *out holds a datagram; -1: errno says EAGAIN (the wait
 * ran out: check the deadline, a long wait is made of several), ETIMEDOUT
 * (`timeout` ran out), EINTR (a signal came), or another error. */
int nh_dgram_wait(nh_dgram *d, nh_socket *s, size_t max, double call_deadline, double timeout,
                  nh_datagram *out);

/* Can a lone read that is to wait `timeout` seconds (>= 0) wait them as they
 * are, with no deadline of the read side to respect? */
static inline int nh_dgram_plain_wait(const nh_socket *s, double timeout)
{
    return timeout > 0 && timeout <= NH_DGRAM_WAIT_PART && s->rd.deadline <= 0;
}

#endif
