/*
 * A queue of received datagrams, filled many at a time with recvmmsg(2).
 *
 * A busy receiver pays one system call per datagram with recvfrom; with this
 * queue it pays one per batch and hands datagrams out from memory. Each slot
 * holds a whole datagram (up to 64 KiB), so what a reader gets from the queue
 * is exactly what recvfrom would have given it for any size it asks for,
 * truncation included. That makes a queue 1 MiB, so a socket gets one only
 * when it has shown itself busy, and keeps it until it is closed.
 */
#ifndef NH_DGRAMQ_H
#define NH_DGRAMQ_H

#include <sys/types.h>

#include "addr.h"

#define NH_DGRAMQ_SLOTS 16
#define NH_DGRAMQ_SLOT (64 * 1024)

typedef struct nh_dgramq nh_dgramq;

nh_dgramq *nh_dgramq_new(void);
void nh_dgramq_free(nh_dgramq *q);

/* Datagrams waiting in the queue. */
int nh_dgramq_count(const nh_dgramq *q);

/* Receive as many datagrams as are ready (up to the queue's size) from fd
 * into an empty queue: the number received, or -1 with errno (EAGAIN: none).
 * With `wait`, first wait for one as a blocking fd does (its receive timeout
 * set; EINTR is returned, not retried). */
int nh_dgramq_fill(nh_dgramq *q, int fd, int wait);

/* The next datagram: its bytes (valid until the next call) and length, the
 * sender, and whether it was longer than `max` (then *len is max). */
const char *nh_dgramq_next(nh_dgramq *q, size_t max, size_t *len, nh_addr *from, int *truncated);

#endif
