/*
 * Fault-injecting proxies: a TCP or UDP listener that forwards to one
 * upstream address and passes every byte or datagram through the proxy's
 * toxics (toxic.h) on the way, as Toxiproxy does for TCP.
 *
 * The whole data path runs in C on the loop's watchers: with no toxic on a
 * link, a chunk read is written straight on (no copy, no Lua); with toxics,
 * each chunk becomes pieces that leave at their times on one timer per link.
 * Pieces leave on precise timers (ptimer.h). A proxy's watchers do not keep the loop alive (like an idle socket's,
 * socket.c): the proxy serves while the script waits on anything, and a
 * script that waits on nothing ends.
 *
 * Connections (fault_tcp.c) and UDP flows (fault_udp.c) are numbered in the
 * order they first appear: that index, not a port, seeds their toxics'
 * random decisions, so a rerun of the same traffic decides the same way.
 */
#ifndef NH_FAULT_H
#define NH_FAULT_H

#include <ev.h>
#include <stdint.h>

#include "addr.h"
#include "histogram.h"
#include "ptimer.h"
#include "toxic.h"
#include "wait.h"

/* A link stops reading its source while this much waits to be sent: the
 * proxy's memory per connection is bounded, and a slow reader slows the
 * writer as it would without the proxy. */
#define NH_FAULT_LINK_MAX (4u << 20)
/* A UDP flow's direction drops datagrams beyond this many waiting. */
#define NH_FAULT_QUEUE_MAX 4096

typedef struct nh_fault_stats {
    uint64_t accepted;      /* connections, or UDP flows, seen */
    uint64_t active;        /* connections or flows open now */
    uint64_t bytes[2];      /* read from the source, per stream (enum nh_stream) */
    uint64_t chunks[2];     /* reads, or datagrams, per stream */
    uint64_t refused;       /* TCP: upstream refused or failed; UDP: no socket for a flow */
    uint64_t evicted;       /* UDP: flows closed to make room for a new one (the least
                             * recently used goes) */
    uint64_t dropped;       /* UDP: datagrams dropped while down or with a full queue */
    uint64_t send_errors;   /* UDP: sends the kernel refused */
    nh_histogram late;      /* how late pieces that waited for their time left:
                             * the timers' precision, as users feel it */
} nh_fault_stats;

typedef struct nh_fproxy {
    int stream;             /* 1: TCP, 0: UDP */
    int net;                /* enum nh_net */
    int enabled;
    int fd;                 /* the listener or the UDP socket; -1 while down */
    nh_addr listen, upstream;
    ev_io io;
    nh_ptimer timer;        /* TCP: accepting again after EMFILE; UDP: idle flows */
    uint64_t seed;
    uint64_t next_index;    /* the next connection's or flow's index */
    nh_toxic *toxics;       /* in the order added */
    double idle_timeout;    /* UDP: a flow quiet this long (seconds) is closed */
    uint32_t max_flows;     /* UDP: as asked; the flows held are fewer where the
                             * descriptor limit says so (nh_fudp_flow_limit) */
    void *links;            /* fault_tcp.c's connections or fault_udp.c's flows */
    void *links_last;       /* fault_udp.c: the least recently used flow */
    void *table;            /* fault_udp.c: flows by client address */
    uint32_t table_size;
    nh_fault_stats st;
} nh_fproxy;

/* Make a proxy and start it (listen): NULL with errno (and *sys naming the
 * failed call) on failure. */
nh_fproxy *nh_fproxy_new(int net, const nh_addr *listen, const nh_addr *upstream, uint64_t seed,
                         const char **sys);
/* Close everything (the listener, every connection or flow) and free it. */
void nh_fproxy_free(nh_fproxy *p);

/* Down (0): close the listener and every connection (TCP), or drop every
 * datagram and flow (UDP). Up (1): listen again on the same address. 0, or -1
 * with errno and *sys. */
int nh_fproxy_enable(nh_fproxy *p, int on, const char **sys);
/* A new upstream: open connections and flows are closed (Toxiproxy's restart). */
void nh_fproxy_set_upstream(nh_fproxy *p, const nh_addr *upstream);

/* Toxics by name: 0, or -1 with errno (EEXIST, ENOENT, ENOMEM). Adding,
 * updating or removing takes effect on the open links at once. */
int nh_fproxy_add(nh_fproxy *p, const char *name, int type, int stream, double toxicity,
                  const double a[4]);
int nh_fproxy_update(nh_fproxy *p, const char *name, double toxicity, const double a[4]);
int nh_fproxy_remove(nh_fproxy *p, const char *name);
nh_toxic *nh_fproxy_toxic(nh_fproxy *p, const char *name);

/* A piece that waited for its time leaves now: count how late. */
static inline void nh_fault_left(nh_fproxy *p, const nh_piece *piece, double now)
{
    if (piece->timed)
        nh_histogram_record(&p->st.late, now - piece->at);
}

/* ---- the transports: fault.c calls them, never the other way ---- */

/* Watchers that do not keep the loop alive (see above). Times are on
 * nh_now()'s clock, and timers are ptimer.h's. */
static inline void nh_fault_io_start(ev_io *w)
{
    if (ev_is_active(w))
        return;
    ev_io_start(NH_LOOP, w);
    ev_unref(NH_LOOP);
}

static inline void nh_fault_io_stop(ev_io *w)
{
    if (!ev_is_active(w))
        return;
    ev_ref(NH_LOOP);
    ev_io_stop(NH_LOOP, w);
}

/* The transport's side (fault_tcp.c, fault_udp.c). */
int nh_ftcp_start(nh_fproxy *p, const char **sys);
void nh_ftcp_on_timer(nh_ptimer *t);   /* the proxy's timer */
void nh_ftcp_close_all(nh_fproxy *p);
void nh_ftcp_sync(nh_fproxy *p);
int nh_fudp_start(nh_fproxy *p, const char **sys);
void nh_fudp_on_timer(nh_ptimer *t);
void nh_fudp_close_all(nh_fproxy *p);
void nh_fudp_sync(nh_fproxy *p);
/* The flows a UDP proxy holds at most: max_flows, or half what the process's
 * descriptor limit (RLIMIT_NOFILE) leaves above the descriptors open now,
 * whichever is less, so flows (a socket each) never take the descriptors
 * the rest of the process needs (its control API, say). */
uint32_t nh_fudp_flow_limit(const nh_fproxy *p);

#endif
