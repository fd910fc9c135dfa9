/*
 * A TCP fault proxy's connections: each accepted client gets its own upstream
 * connection and two links, upstream (client -> server) and downstream
 * (server -> client), each reading its source and writing its destination.
 *
 * With no toxic on a link, what is read goes straight to the destination
 * from one static buffer; only what the kernel would not take is kept (and
 * the source is not read again until it is sent, so the peers' own flow
 * control holds). With toxics, each chunk becomes pieces with times
 * (toxic.h), queued in order and sent on the link's timer. An end of stream
 * is passed on as a half close (shutdown), a reset as a reset, so the peers
 * see what they would see without the proxy.
 */
#include "fault.h"
#include "socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct conn conn;

typedef struct tlink {
    conn *c;
    int dir;               /* enum nh_stream: NH_UPSTREAM reads the client */
    ev_io rd;              /* the source is readable */
    ev_io wr;              /* the destination is writable (upstream: also the connect) */
    nh_ptimer timer;       /* the first piece's time, or a stage's deadline */
    nh_plist q;            /* pieces to send, in order, their times never decreasing */
    size_t queued;         /* what they hold: bytes and headers (NH_PIECE_COST) */
    nh_stage *st;
    int nst;
    unsigned char eof_in;  /* the source ended */
    unsigned char done;    /* that end was passed on */
} tlink;

struct conn {
    conn *prev, *next;
    nh_fproxy *p;
    int cfd, ufd;
    uint64_t index;
    unsigned char connecting;
    tlink up, down;
};

enum end { END_CLOSE, END_RESET };

/* One read's worth. 64 KiB: bulk transfers through the proxy make half the
 * system calls they would with Toxiproxy's 32 KiB, and a chunk is still what
 * one read of a busy socket returns. */
static char buf[64 * 1024];

#define LINK_OF(w, field) ((tlink *)((char *)(w) - offsetof(tlink, field)))

static int src_fd(const tlink *l) { return l->dir == NH_UPSTREAM ? l->c->cfd : l->c->ufd; }
static int dst_fd(const tlink *l) { return l->dir == NH_UPSTREAM ? l->c->ufd : l->c->cfd; }
static tlink *other(tlink *l) { return l->dir == NH_UPSTREAM ? &l->c->down : &l->c->up; }

/* Read and discard what the peer sent and nobody will read: closing a socket
 * with unread data sends a reset, not the end of stream meant. Bounded. */
static void drain(int fd)
{
    for (int i = 0; i < 16; i++)
        if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0)
            return;
}

static void close_fd(int fd, int reset)
{
    if (fd < 0)
        return;
    if (reset) {
        struct linger lg = {1, 0};   /* close(2) then sends RST */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else {
        drain(fd);
    }
    close(fd);
}

static void link_stop(tlink *l)
{
    nh_fault_io_stop(&l->rd);
    nh_fault_io_stop(&l->wr);
    nh_ptimer_drop(&l->timer);
    nh_plist_free(&l->q);
    l->queued = 0;
    nh_stages_free(l->st, l->nst);
    l->st = NULL;
    l->nst = 0;
}

static void conn_end(conn *c, int how)
{
    nh_fproxy *p = c->p;
    link_stop(&c->up);
    link_stop(&c->down);
    close_fd(c->cfd, how == END_RESET);
    close_fd(c->ufd, how == END_RESET);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->links = c->next;
    if (c->next)
        c->next->prev = c->prev;
    p->st.active--;
    free(c);
}

/* A send or receive failed with errno e: the peer reset (or vanished), so
 * the other peer is reset too; anything else ends both quietly. */
static void conn_fail(conn *c, int e)
{
    conn_end(c, e == ECONNRESET || e == EPIPE || e == ETIMEDOUT ? END_RESET : END_CLOSE);
}

/* Send what is due; arm the timer and the watchers for what is not.
 * Returns -1 when the connection ended (c is freed). */
static int flush(tlink *l)
{
    conn *c = l->c;
    double now = nh_now();
    nh_plist none = {NULL, NULL};
    switch (nh_stages_due(l->st, l->nst, now, &none)) {
    case NH_PIECE_CLOSE:
        conn_end(c, END_CLOSE);
        return -1;
    case NH_PIECE_RESET:
        conn_end(c, END_RESET);
        return -1;
    }
    int blocked = 0;
    nh_piece *p;
    while (!blocked && (p = l->q.head) && p->at <= now) {
        switch (p->kind) {
        case NH_PIECE_DATA: {
            if (p->off == 0)
                nh_fault_left(c->p, p, now);
            ssize_t m = send(dst_fd(l), p->data + p->off, p->len - p->off, MSG_NOSIGNAL);
            if (m < 0) {
                if (errno == EINTR)
                    continue;
                if (!nh_again(errno)) {
                    conn_fail(c, errno);
                    return -1;
                }
                m = 0;
            }
            p->off += (uint32_t)m;
            l->queued -= (size_t)m;
            if (p->off < p->len) {
                blocked = 1;
                continue;
            }
            break;
        }
        case NH_PIECE_EOF:
            shutdown(dst_fd(l), SHUT_WR);
            l->done = 1;
            if (other(l)->done) {
                conn_end(c, END_CLOSE);
                return -1;
            }
            break;
        case NH_PIECE_CLOSE:
            conn_end(c, END_CLOSE);
            return -1;
        default:
            conn_end(c, END_RESET);
            return -1;
        }
        l->q.head = p->next;
        if (!l->q.head)
            l->q.tail = NULL;
        l->queued -= sizeof *p;
        nh_piece_free(p);
    }
    if (blocked)
        nh_fault_io_start(&l->wr);
    else
        nh_fault_io_stop(&l->wr);
    double at = !blocked && l->q.head ? l->q.head->at : 0;
    nh_ptimer_at(&l->timer, nh_earlier(at, nh_stages_deadline(l->st, l->nst)));
    /* Read on while the destination takes what comes and the queue has room. */
    if (!l->eof_in && !c->connecting && !blocked && l->queued < NH_FAULT_LINK_MAX)
        nh_fault_io_start(&l->rd);
    else
        nh_fault_io_stop(&l->rd);
    return 0;
}

/* Queue what the stages made of one chunk (or of the end), after what waits. */
static void enqueue(tlink *l, nh_plist *pieces)
{
    nh_piece *p;
    double now = nh_now();
    while ((p = pieces->head)) {
        pieces->head = p->next;
        p->timed = p->at > now;
        if (l->q.tail && p->at < l->q.tail->at)
            p->at = l->q.tail->at;
        l->queued += NH_PIECE_COST(p);
        nh_plist_push(&l->q, p);
    }
}

static int take(tlink *l, const char *data, size_t len, int kind)
{
    nh_piece *p = nh_piece_new(data, len, kind, nh_now());
    if (!p) {
        conn_end(l->c, END_RESET);
        return -1;
    }
    nh_plist pieces = {p, p};
    nh_stages_stream(l->st, l->nst, &pieces);
    enqueue(l, &pieces);
    return flush(l);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    tlink *l = LINK_OF(w, rd);
    conn *c = l->c;
    nh_fproxy *p = c->p;
    (void)loop;
    (void)revents;
    /* A few reads per wake while the source has more: a busy link costs
     * fewer polls. */
    for (int i = 0; i < 4; i++) {
        ssize_t n = recv(src_fd(l), buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (!nh_again(errno))
                conn_fail(c, errno);
            return;
        }
        p->st.chunks[l->dir]++;
        p->st.bytes[l->dir] += (uint64_t)n;
        if (n == 0) {
            l->eof_in = 1;
            nh_fault_io_stop(&l->rd);
            take(l, NULL, 0, NH_PIECE_EOF);
            return;
        }
        if (l->q.head || nh_stages_active(l->st, l->nst)) {
            if (take(l, buf, (size_t)n, NH_PIECE_DATA) < 0 || !ev_is_active(&l->rd))
                return;
        } else {   /* the fast path: no toxic, nothing waiting */
            ssize_t m = send(dst_fd(l), buf, (size_t)n, MSG_NOSIGNAL);
            if (m < 0 && !nh_again(errno)) {
                conn_fail(c, errno);
                return;
            }
            if (m < n) {
                size_t sent = m > 0 ? (size_t)m : 0;
                take(l, buf + sent, (size_t)n - sent, NH_PIECE_DATA);
                return;
            }
        }
        if ((size_t)n < sizeof buf)
            return;
    }
}

static void start_links(conn *c)
{
    if (flush(&c->up) == 0)
        flush(&c->down);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    tlink *l = LINK_OF(w, wr);
    conn *c = l->c;
    (void)loop;
    (void)revents;
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            c->p->st.refused++;
            conn_end(c, END_RESET);   /* the client learns at once, as from a refused connect */
            return;
        }
        c->connecting = 0;
        nh_fault_io_stop(&l->wr);
        start_links(c);
        return;
    }
    flush(l);
}

static void on_timer(nh_ptimer *t)
{
    flush(LINK_OF(t, timer));
}

static int link_init(tlink *l, conn *c, int dir)
{
    memset(l, 0, sizeof *l);
    l->c = c;
    l->dir = dir;
    int src = dir == NH_UPSTREAM ? c->cfd : c->ufd;
    int dst = dir == NH_UPSTREAM ? c->ufd : c->cfd;
    ev_io_init(&l->rd, on_readable, src, EV_READ);
    ev_io_init(&l->wr, on_writable, dst, EV_WRITE);
    return nh_ptimer_init(&l->timer, on_timer);
}

static void sync_link(nh_fproxy *p, tlink *l)
{
    /* Without memory the link keeps its stages: the old toxics go on. Only
     * UDP's reorder holds a piece back, so nothing is released here. */
    nh_plist released = {NULL, NULL};
    nh_stages_sync(&l->st, &l->nst, p->toxics, l->dir, p->seed, l->c->index, nh_now(), &released);
    nh_plist_free(&released);
}

static void conn_open(nh_fproxy *p, int cfd)
{
    int one = 1;
    conn *c = calloc(1, sizeof *c);
    int ufd = socket(p->upstream.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!c || ufd < 0) {
        free(c);
        if (ufd >= 0)
            close(ufd);
        close_fd(cfd, 1);
        p->st.refused++;
        return;
    }
    /* The proxy must not add Nagle's delays to small writes. */
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->p = p;
    c->cfd = cfd;
    c->ufd = ufd;
    if (link_init(&c->up, c, NH_UPSTREAM) < 0) {
        free(c);
        close(ufd);
        close_fd(cfd, 1);
        p->st.refused++;
        return;
    }
    if (link_init(&c->down, c, NH_DOWNSTREAM) < 0) {
        nh_ptimer_drop(&c->up.timer);
        free(c);
        close(ufd);
        close_fd(cfd, 1);
        p->st.refused++;
        return;
    }
    c->index = p->next_index++;
    c->next = p->links;
    if (c->next)
        c->next->prev = c;
    p->links = c;
    p->st.accepted++;
    p->st.active++;
    sync_link(p, &c->up);
    sync_link(p, &c->down);
    if (connect(ufd, &p->upstream.u.sa, nh_addr_len(&p->upstream)) == 0) {
        start_links(c);
    } else if (errno == EINPROGRESS) {
        c->connecting = 1;
        nh_fault_io_start(&c->up.wr);
    } else {
        p->st.refused++;
        conn_end(c, END_RESET);
    }
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    nh_fproxy *p = (nh_fproxy *)((char *)w - offsetof(nh_fproxy, io));
    (void)loop;
    (void)revents;
    for (int i = 0; i < 32; i++) {
        int fd = accept4(p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_open(p, fd);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: the pending connection would wake us at
             * once, forever. Pause accepting for a moment instead. */
            nh_fault_io_stop(&p->io);
            nh_ptimer_at(&p->timer, nh_now() + 0.1);
        }
        if (errno != EINTR && errno != ECONNABORTED)
            return;
    }
}

void nh_ftcp_on_timer(nh_ptimer *t)
{
    nh_fproxy *p = (nh_fproxy *)((char *)t - offsetof(nh_fproxy, timer));
    if (p->fd >= 0)
        nh_fault_io_start(&p->io);
}

int nh_ftcp_start(nh_fproxy *p, const char **sys)
{
    int one = 1;
    int fd = socket(p->listen.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    *sys = "socket";
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    *sys = "bind";
    if (bind(fd, &p->listen.u.sa, nh_addr_len(&p->listen)) < 0)
        goto fail;
    *sys = "listen";
    if (listen(fd, SOMAXCONN) < 0)
        goto fail;
    /* Keep the port the system chose: going up again listens on it. */
    socklen_t len = sizeof p->listen.u;
    getsockname(fd, &p->listen.u.sa, &len);
    p->fd = fd;
    ev_io_init(&p->io, on_accept, fd, EV_READ);
    nh_fault_io_start(&p->io);
    return 0;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

void nh_ftcp_close_all(nh_fproxy *p)
{
    while (p->links)
        conn_end(p->links, END_CLOSE);
}

void nh_ftcp_sync(nh_fproxy *p)
{
    for (conn *c = p->links, *next; c; c = next) {
        next = c->next;
        sync_link(p, &c->up);
        sync_link(p, &c->down);
        if (!c->connecting)
            start_links(c);
    }
}
