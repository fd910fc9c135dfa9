/*
 * A UDP fault proxy's flows: each client address seen on the proxy's socket
 * gets a flow with its own connected socket to the upstream, so replies come
 * back to the client they answer. A flow quiet for the idle timeout is
 * closed; a new one for the same client then counts as new (a new index).
 * The proxy's list of flows is kept most recently used first: when a new
 * client comes and the flows are at their limit, the last one goes.
 *
 * Each direction (upstream: client -> server, downstream: the replies) runs
 * every datagram through its toxics into a queue ordered by leaving time
 * (a jittered latency may reorder datagrams, as netem does) and sends them on
 * the link's timer. With no toxic, datagrams are forwarded at once, in
 * batches: recvmmsg and sendmmsg move up to 32 a system call.
 */
#include "fault.h"
#include "socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct flow flow;

typedef struct ulink {
    flow *f;
    int dir;               /* enum nh_stream */
    nh_ptimer timer;
    nh_plist q;            /* ordered by time */
    uint32_t n;            /* datagrams in q */
    nh_stage *st;
    int nst;
} ulink;

struct flow {
    flow *prev, *next;     /* the proxy's flows */
    flow *hnext;           /* the same hash bucket */
    nh_fproxy *p;
    nh_addr client;
    int ufd;               /* connected to the upstream */
    ev_io rd;
    uint64_t index;
    double last;           /* when it last carried a datagram */
    ulink up, down;
};

#define BATCH 32
#define DGRAM_MAX 65536
static char bufs[BATCH][DGRAM_MAX];
static struct mmsghdr msgs[BATCH];
static struct iovec iovs[BATCH];
static nh_addr froms[BATCH];

/* Make the batch ready for recvmmsg: every buffer whole, and with
 * senders: where each datagram's sender goes. */
static void receive_batch(int senders)
{
    for (int i = 0; i < BATCH; i++) {
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = DGRAM_MAX;
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        if (senders) {
            msgs[i].msg_hdr.msg_name = &froms[i].u;
            msgs[i].msg_hdr.msg_namelen = sizeof froms[i].u;
        }
    }
}

/* ---- flows by client address ---- */

static uint32_t addr_hash(const nh_addr *a)
{
    const unsigned char *b = (const unsigned char *)&a->u;
    socklen_t n = nh_addr_len(a);
    uint32_t h = 2166136261u;
    if (a->u.sa.sa_family == AF_INET6) {   /* skip flowinfo: not part of who sent it */
        h = (h ^ (a->u.in6.sin6_port & 0xff)) * 16777619u;
        h = (h ^ (a->u.in6.sin6_port >> 8)) * 16777619u;
        b = a->u.in6.sin6_addr.s6_addr;
        n = 16;
    }
    for (socklen_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static flow **bucket(nh_fproxy *p, const nh_addr *a)
{
    return &((flow **)p->table)[addr_hash(a) & (p->table_size - 1)];
}

static flow *lookup(nh_fproxy *p, const nh_addr *a)
{
    if (!p->table)
        return NULL;
    for (flow *f = *bucket(p, a); f; f = f->hnext)
        if (nh_addr_equal(&f->client, a))
            return f;
    return NULL;
}

/* Keep the table at least as large as the number of flows. */
static int table_grow(nh_fproxy *p)
{
    if (p->table && p->st.active < p->table_size)
        return 0;
    uint32_t size = p->table_size ? p->table_size * 2 : 256;
    flow **t = calloc(size, sizeof *t);
    if (!t)
        return -1;
    free(p->table);
    p->table = t;
    p->table_size = size;
    for (flow *f = p->links; f; f = f->next) {
        flow **b = bucket(p, &f->client);
        f->hnext = *b;
        *b = f;
    }
    return 0;
}

static void ulink_stop(ulink *l)
{
    nh_ptimer_drop(&l->timer);
    nh_plist_free(&l->q);
    l->n = 0;
    nh_stages_free(l->st, l->nst);
    l->st = NULL;
    l->nst = 0;
}

static void flow_end(flow *f)
{
    nh_fproxy *p = f->p;
    ulink_stop(&f->up);
    ulink_stop(&f->down);
    nh_fault_io_stop(&f->rd);
    close(f->ufd);
    for (flow **b = bucket(p, &f->client); *b; b = &(*b)->hnext)
        if (*b == f) {
            *b = f->hnext;
            break;
        }
    if (f->prev)
        f->prev->next = f->next;
    else
        p->links = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        p->links_last = f->prev;
    p->st.active--;
    free(f);
}

/* f carried a datagram now: first in the list (most recently used). */
static void flow_touch(flow *f, double now)
{
    nh_fproxy *p = f->p;
    f->last = now;
    if (p->links == f)
        return;
    f->prev->next = f->next;   /* not first: it has a prev */
    if (f->next)
        f->next->prev = f->prev;
    else
        p->links_last = f->prev;
    f->prev = NULL;
    f->next = p->links;
    f->next->prev = f;
    p->links = f;
}

/* The least recently used flow goes, to make room (its queued datagrams
 * are counted as dropped). */
static void flow_evict(nh_fproxy *p)
{
    flow *f = p->links_last;
    if (!f)
        return;
    p->st.evicted++;
    p->st.dropped += f->up.n + f->down.n;
    flow_end(f);
}

/* Descriptors open now: the lowest free one is a fair guess without a scan
 * of /proc, and cheap enough for a new flow (the proxy's own socket is
 * surely open to duplicate). */
static uint32_t fds_in_use(const nh_fproxy *p)
{
    int fd = fcntl(p->fd >= 0 ? p->fd : 0, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    close(fd);
    return (uint32_t)fd;
}

uint32_t nh_fudp_flow_limit(const nh_fproxy *p)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return p->max_flows;
    /* Our own flows hold descriptors too: they count as room for flows. */
    uint64_t used = fds_in_use(p), ours = p->st.active;
    uint64_t others = used > ours ? used - ours : 0;
    uint64_t room = rl.rlim_cur > others ? (rl.rlim_cur - others) / 2 : 0;
    if (room < 1)
        room = 1;
    return room < p->max_flows ? (uint32_t)room : p->max_flows;
}

/* ---- sending ---- */

static void send_one(ulink *l, const char *data, size_t len)
{
    flow *f = l->f;
    ssize_t n;
    if (l->dir == NH_UPSTREAM)
        n = send(f->ufd, data, len, 0);
    else
        n = sendto(f->p->fd, data, len, 0, &f->client.u.sa, nh_addr_len(&f->client));
    if (n < 0)   /* a full buffer or an ICMP error: the datagram is lost, as on a network */
        f->p->st.send_errors++;
}

static void queue_insert(ulink *l, nh_piece *p)
{
    p->timed = p->at > nh_now();
    if (l->n >= NH_FAULT_QUEUE_MAX) {
        l->f->p->st.dropped++;
        nh_piece_free(p);
        return;
    }
    l->n++;
    if (!l->q.tail || p->at >= l->q.tail->at) {
        nh_plist_push(&l->q, p);
        return;
    }
    nh_piece **at = &l->q.head;
    while ((*at)->at <= p->at)
        at = &(*at)->next;
    p->next = *at;
    *at = p;
}

static void ulink_flush(ulink *l)
{
    double now = nh_now();
    nh_plist due = {NULL, NULL};
    nh_stages_due(l->st, l->nst, now, &due);
    for (nh_piece *p = due.head, *next; p; p = next) {
        next = p->next;
        queue_insert(l, p);
    }
    nh_piece *p;
    while ((p = l->q.head) && p->at <= now) {
        l->q.head = p->next;
        if (!l->q.head)
            l->q.tail = NULL;
        l->n--;
        nh_fault_left(l->f->p, p, now);
        send_one(l, p->data, p->len);
        nh_piece_free(p);
    }
    double at = l->q.head ? l->q.head->at : 0;
    nh_ptimer_at(&l->timer, nh_earlier(at, nh_stages_deadline(l->st, l->nst)));
}

static void on_ulink_timer(nh_ptimer *t)
{
    ulink_flush((ulink *)((char *)t - offsetof(ulink, timer)));
}

/* A datagram through the link's toxics. */
static void take(ulink *l, const char *data, size_t len)
{
    nh_piece *p = nh_piece_new(data, len, NH_PIECE_DATA, nh_now());
    if (!p) {
        l->f->p->st.dropped++;
        return;
    }
    nh_plist pieces = {p, p};
    nh_stages_datagram(l->st, l->nst, &pieces);
    for (nh_piece *q = pieces.head, *next; q; q = next) {
        next = q->next;
        queue_insert(l, q);
    }
    ulink_flush(l);
}

static int fast(const ulink *l)
{
    return !l->q.head && !nh_stages_active(l->st, l->nst);
}

/* Send msgs[from..to) at once (their iovecs hold the data; names as set). */
static void send_batch(nh_fproxy *p, int fd, int from, int to)
{
    while (from < to) {
        int n = sendmmsg(fd, &msgs[from], (unsigned)(to - from), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* The first one failed: it is lost (as on a network); go on. */
            p->st.send_errors++;
            n = 1;
        }
        from += n;
    }
}

/* ---- the downstream: replies on a flow's socket ---- */

static void on_reply(struct ev_loop *loop, ev_io *w, int revents)
{
    flow *f = (flow *)((char *)w - offsetof(flow, rd));
    nh_fproxy *p = f->p;
    (void)loop;
    (void)revents;
    receive_batch(0);
    int n = recvmmsg(f->ufd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) {
        if (n < 0 && !nh_again(errno) && errno != EINTR)
            p->st.send_errors++;   /* ICMP: the upstream port is closed */
        return;
    }
    flow_touch(f, nh_now());
    p->st.chunks[NH_DOWNSTREAM] += (uint64_t)n;
    for (int i = 0; i < n; i++) {
        p->st.bytes[NH_DOWNSTREAM] += msgs[i].msg_len;
        iovs[i].iov_len = msgs[i].msg_len;
    }
    if (fast(&f->down)) {
        for (int i = 0; i < n; i++) {
            msgs[i].msg_hdr.msg_name = &f->client.u;
            msgs[i].msg_hdr.msg_namelen = nh_addr_len(&f->client);
        }
        send_batch(p, p->fd, 0, n);
        return;
    }
    for (int i = 0; i < n; i++)
        take(&f->down, bufs[i], msgs[i].msg_len);
}

/* ---- the upstream: datagrams from clients ---- */

/* A datagram that a reorder toxic held when it was removed or updated goes
 * now, never lost. */
static void sync_ulink(nh_fproxy *p, ulink *l)
{
    nh_plist released = {NULL, NULL};
    nh_stages_sync(&l->st, &l->nst, p->toxics, l->dir, p->seed, l->f->index, nh_now(), &released);
    for (nh_piece *q = released.head, *next; q; q = next) {
        next = q->next;
        queue_insert(l, q);
    }
}

static flow *flow_open(nh_fproxy *p, const nh_addr *client)
{
    if (p->st.active >= nh_fudp_flow_limit(p))
        flow_evict(p);
    if (table_grow(p) < 0)
        return NULL;
    flow *f = calloc(1, sizeof *f);
    int fd = socket(p->upstream.u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && p->links) {
        flow_evict(p);   /* out of descriptors all the same: one flow's goes to this one */
        fd = socket(p->upstream.u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    int timers = 0;
    if (f && nh_ptimer_init(&f->up.timer, on_ulink_timer) == 0 && ++timers &&
        nh_ptimer_init(&f->down.timer, on_ulink_timer) == 0)
        timers++;
    if (!f || fd < 0 || timers < 2 || connect(fd, &p->upstream.u.sa, nh_addr_len(&p->upstream)) < 0) {
        if (timers >= 1)
            nh_ptimer_drop(&f->up.timer);
        if (timers == 2)
            nh_ptimer_drop(&f->down.timer);
        free(f);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    f->p = p;
    f->client = *client;
    f->ufd = fd;
    f->index = p->next_index++;
    f->last = nh_now();
    f->up.f = f->down.f = f;
    f->up.dir = NH_UPSTREAM;
    f->down.dir = NH_DOWNSTREAM;
    ev_io_init(&f->rd, on_reply, fd, EV_READ);
    nh_fault_io_start(&f->rd);
    f->next = p->links;
    if (f->next)
        f->next->prev = f;
    else
        p->links_last = f;
    p->links = f;
    flow **b = bucket(p, client);
    f->hnext = *b;
    *b = f;
    p->st.accepted++;
    p->st.active++;
    sync_ulink(p, &f->up);
    sync_ulink(p, &f->down);
    return f;
}

static void on_datagrams(struct ev_loop *loop, ev_io *w, int revents)
{
    nh_fproxy *p = (nh_fproxy *)((char *)w - offsetof(nh_fproxy, io));
    (void)loop;
    (void)revents;
    receive_batch(1);
    int n = recvmmsg(p->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return;
    p->st.chunks[NH_UPSTREAM] += (uint64_t)n;
    if (!p->enabled) {
        p->st.dropped += (uint64_t)n;
        return;
    }
    double now = nh_now();
    /* Runs of datagrams from one client with no toxic go as one batch. */
    flow *run = NULL;
    int run_from = 0;
    for (int i = 0; i < n; i++) {
        size_t len = msgs[i].msg_len;
        p->st.bytes[NH_UPSTREAM] += len;
        iovs[i].iov_len = len;
        msgs[i].msg_hdr.msg_name = NULL;
        msgs[i].msg_hdr.msg_namelen = 0;
        flow *f = lookup(p, &froms[i]);
        if (run && (f != run || !fast(&f->up))) {   /* before a new flow may evict run's */
            send_batch(p, run->ufd, run_from, i);
            run = NULL;
        }
        if (!f)
            f = flow_open(p, &froms[i]);
        if (!f) {   /* over the flow limit, or no socket for it */
            p->st.refused++;
            p->st.dropped++;
            continue;
        }
        flow_touch(f, now);
        if (!fast(&f->up)) {
            take(&f->up, bufs[i], len);
            continue;
        }
        if (!run) {
            run = f;
            run_from = i;
        }
    }
    if (run)
        send_batch(p, run->ufd, run_from, n);
}

/* Close the flows that have been quiet for the idle timeout. */
void nh_fudp_on_timer(nh_ptimer *t)
{
    nh_fproxy *p = (nh_fproxy *)((char *)t - offsetof(nh_fproxy, timer));
    double now = nh_now();
    for (flow *f = p->links, *next; f; f = next) {
        next = f->next;
        if (now - f->last >= p->idle_timeout && !f->up.q.head && !f->down.q.head)
            flow_end(f);
    }
    double every = p->idle_timeout / 4;
    nh_ptimer_at(&p->timer, now + (every < 1 ? every : 1));
}

int nh_fudp_start(nh_fproxy *p, const char **sys)
{
    int fd = socket(p->listen.u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    *sys = "socket";
    if (fd < 0)
        return -1;
    *sys = "bind";
    if (bind(fd, &p->listen.u.sa, nh_addr_len(&p->listen)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    socklen_t len = sizeof p->listen.u;
    getsockname(fd, &p->listen.u.sa, &len);
    p->fd = fd;
    ev_io_init(&p->io, on_datagrams, fd, EV_READ);
    nh_fault_io_start(&p->io);
    nh_ptimer_at(&p->timer, nh_now() + 1);
    return 0;
}

void nh_fudp_close_all(nh_fproxy *p)
{
    while (p->links)
        flow_end(p->links);
}

void nh_fudp_sync(nh_fproxy *p)
{
    for (flow *f = p->links; f; f = f->next) {
        sync_ulink(p, &f->up);
        sync_ulink(p, &f->down);
        ulink_flush(&f->up);
        ulink_flush(&f->down);
    }
}
