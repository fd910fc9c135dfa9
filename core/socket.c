#include "socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* A server holds one per idle connection (bench case 5): grow it knowingly. */
_Static_assert(sizeof(nh_socket) <= 160, "nh_socket outgrew its memory budget");

/* A side's watcher keeps running after its wait (a socket that is waited on
 * again saves two epoll_ctl calls), so it must not keep the loop alive: it is
 * unreferenced while it runs, and each waiter parked on a side holds the loop
 * instead (nh_wait_hold_loop). An idle socket that once waited then neither
 * hides a deadlock nor keeps run() waiting. */
static void side_start(nh_side *side)
{
    ev_io_start(NH_LOOP, &side->io);
    ev_unref(NH_LOOP);
}

static void side_stop(nh_side *side)
{
    if (!ev_is_active(&side->io))
        return;
    ev_ref(NH_LOOP);
    ev_io_stop(NH_LOOP, &side->io);
}

/* Wake one waiter per readiness event; stop watching once nobody waits. */
static void side_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    nh_side *side = (nh_side *)((char *)io - offsetof(nh_side, io));
    (void)loop;
    (void)revents;
    if (!nh_queue_wake_first(&side->queue, NH_WAKE_READY))
        side_stop(side);
}

static void side_init(nh_side *side, int events)
{
    ev_io_init(&side->io, side_cb, -1, events);
    side->queue.head = NULL;
    side->deadline = 0;
}

void nh_socket_init(nh_socket *s, int net)
{
    s->fd = -1;
    s->net = net;
    s->rcvtimeo_ms = 0;
    s->read_waits = 0;
    side_init(&s->rd, EV_READ);
    s->wr = NULL;
    nh_rbuf_init(&s->rbuf);
    memset(&s->laddr, 0, sizeof s->laddr);
    memset(&s->raddr, 0, sizeof s->raddr);
}

static void attach_fd(nh_socket *s, int fd)
{
    s->fd = fd;
    ev_io_set(&s->rd.io, fd, EV_READ);
    if (s->wr)
        ev_io_set(&s->wr->io, fd, EV_WRITE);
}

nh_side *nh_socket_wr(nh_socket *s)
{
    if (!s->wr) {
        s->wr = malloc(sizeof *s->wr);
        if (!s->wr) {
            errno = ENOMEM;
            return NULL;
        }
        side_init(s->wr, EV_WRITE);
        ev_io_set(&s->wr->io, s->fd, EV_WRITE);
    }
    return s->wr;
}

static void fetch_local(nh_socket *s)
{
    struct sockaddr_in6 sa;
    socklen_t len = sizeof sa;
    if (getsockname(s->fd, (struct sockaddr *)&sa, &len) == 0)
        nh_addr_from_sockaddr(&s->laddr, (struct sockaddr *)&sa, len);
}

static int fail(int fd, const char *name, const char **sys)
{
    int e = errno;
    if (fd >= 0)
        close(fd);
    *sys = name;
    errno = e;
    return -1;
}

static int open_fd(nh_socket *s, int family, const char **sys)
{
    int type = nh_net_is_stream(s->net) ? SOCK_STREAM : SOCK_DGRAM;
    /* A datagram fd stays blocking for core/dgram.h's lone reader; every
     * other call on it says MSG_DONTWAIT. */
    int nonblock = type == SOCK_STREAM ? SOCK_NONBLOCK : 0;
    int fd = socket(family, type | nonblock | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(-1, "socket", sys);
    int one = 1;
    if (family == AF_INET6) {
        /* The dual-stack names ("udp", "tcp") take IPv4 too, as Go does. */
        int v6only = nh_net_family(s->net) == AF_INET6;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0)
            return fail(fd, "setsockopt", sys);
    }
    if (type == SOCK_DGRAM && family == AF_INET)
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    return fd;
}

int nh_socket_listen(nh_socket *s, const nh_addr *addr, int backlog, const char **sys)
{
    int fd = open_fd(s, addr->u.sa.sa_family, sys);
    int one = 1;
    if (fd < 0)
        return -1;
    if (nh_net_is_stream(s->net) &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return fail(fd, "setsockopt", sys);
    if (bind(fd, &addr->u.sa, nh_addr_len(addr)) < 0)
        return fail(fd, "bind", sys);
    if (nh_net_is_stream(s->net) && listen(fd, backlog < 0 ? SOMAXCONN : backlog) < 0)
        return fail(fd, "listen", sys);
    attach_fd(s, fd);
    fetch_local(s);
    return 0;
}

int nh_socket_adopt_listener(nh_socket *s, int fd, const char **sys)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    struct sockaddr_in6 sa;
    socklen_t salen = sizeof sa;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return fail(-1, "getsockopt", sys);
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
        return fail(-1, "getsockopt", sys);
    if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
        return fail(-1, "getsockname", sys);
    if (type != SOCK_STREAM || !listening ||
        (sa.sin6_family != AF_INET && sa.sin6_family != AF_INET6)) {
        errno = ENOTSOCK;   /* not a TCP listening socket */
        return fail(-1, "adopt", sys);
    }
    /* Inherited fds come without close-on-exec and blocking. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        return fail(-1, "fcntl", sys);
    s->net = sa.sin6_family == AF_INET ? NH_TCP4 : NH_TCP6;
    attach_fd(s, fd);
    fetch_local(s);
    return 0;
}

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int nh_socket_connect(nh_socket *s, const nh_addr *addr, const char **sys)
{
    int fd = open_fd(s, addr->u.sa.sa_family, sys);
    if (fd < 0)
        return -1;
    attach_fd(s, fd);
    s->raddr = *addr;
    if (nh_net_is_stream(s->net))
        set_nodelay(fd);
    if (connect(fd, &addr->u.sa, nh_addr_len(addr)) < 0) {
        if (errno == EINPROGRESS) {
            fetch_local(s);
            return 1;
        }
        *sys = "connect";
        int e = errno;
        nh_socket_close(s);
        errno = e;
        return -1;
    }
    fetch_local(s);
    return 0;
}

int nh_socket_connect_result(nh_socket *s, const char **sys)
{
    int err = 0;
    socklen_t len = sizeof err;
    *sys = "connect";
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -1;
    if (err) {
        errno = err;
        return -1;
    }
    fetch_local(s);
    return 0;
}

int nh_socket_dial(nh_socket *s, const nh_addr *const *addrs, int n, int *idx, int *connecting,
                   double deadline, const char **sys)
{
    for (;;) {
        if (*connecting) {
            *connecting = 0;
            if (nh_socket_connect_result(s, sys) == 0)
                return 0;
            int e = errno;
            nh_socket_close(s);
            errno = e;
            if (*idx >= n - 1)
                return -1;
            ++*idx;
        }
        if (deadline > 0 && nh_now() >= deadline) {
            *sys = NULL;
            errno = ETIMEDOUT;
            return -1;
        }
        int r = nh_socket_connect(s, addrs[*idx], sys);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (*idx >= n - 1)
                return -1;
            ++*idx;
            continue;
        }
        if (!nh_socket_wr(s)) {
            int e = errno;
            nh_socket_close(s);
            *sys = "connect";
            errno = e;
            return -1;
        }
        *connecting = 1;
        return 1;
    }
}

int nh_socket_accept(nh_socket *ln, nh_socket *out, const char **sys)
{
    struct sockaddr_in6 sa;
    for (;;) {
        socklen_t len = sizeof sa;
        int fd = accept4(ln->fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            attach_fd(out, fd);
            set_nodelay(fd);
            nh_addr_from_sockaddr(&out->raddr, (struct sockaddr *)&sa, len);
            fetch_local(out);
            return 0;
        }
        /* A peer that gave up before we accepted is not the listener's error. */
        if (errno != ECONNABORTED && errno != EINTR)
            return fail(-1, "accept", sys);
    }
}

ssize_t nh_socket_recv(nh_socket *s, char *buf, size_t len)
{
    ssize_t n;
    do
        n = recv(s->fd, buf, len, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n;
}

ssize_t nh_socket_read_cb(void *sock, char *buf, size_t len)
{
    return nh_socket_recv(sock, buf, len);
}

ssize_t nh_socket_send(nh_socket *s, const char *buf, size_t len)
{
    ssize_t n;
    /* MSG_NOSIGNAL: a peer that went away is an EPIPE error, never a SIGPIPE. */
    do
        n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n;
}

/* recvfrom with MSG_TRUNC gives a datagram's whole length, so one call says
 * whether it was cut (recvmsg's flags would too, at a higher price). */
static ssize_t recvfrom_flags(nh_socket *s, char *buf, size_t len, nh_addr *from, int *truncated,
                              int flags)
{
    struct sockaddr_in6 sa;
    socklen_t salen = sizeof sa;
    ssize_t n = recvfrom(s->fd, buf, len, flags | MSG_TRUNC, from ? (struct sockaddr *)&sa : NULL,
                         from ? &salen : NULL);
    if (n >= 0) {
        *truncated = (size_t)n > len;
        if (*truncated)
            n = (ssize_t)len;
        if (from)
            nh_addr_from_sockaddr(from, (struct sockaddr *)&sa, salen);
    }
    return n;
}

ssize_t nh_socket_recvfrom(nh_socket *s, char *buf, size_t len, nh_addr *from, int *truncated,
                           int wait)
{
    if (wait)   /* core/dgram.h's lone reader: its receive timeout is set; EINTR ends it */
        return recvfrom_flags(s, buf, len, from, truncated, 0);
    ssize_t n;
    do
        n = recvfrom_flags(s, buf, len, from, truncated, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n;
}

ssize_t nh_socket_sendto(nh_socket *s, const char *buf, size_t len, const nh_addr *to)
{
    ssize_t n;
    do
        n = sendto(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT, &to->u.sa, nh_addr_len(to));
    while (n < 0 && errno == EINTR);
    return n;
}

int nh_socket_shutdown_write(nh_socket *s)
{
    return shutdown(s->fd, SHUT_WR);
}

void nh_socket_wait(nh_socket *s, nh_side *side, nh_waiter *w, double call_deadline)
{
    (void)s;
    if (!ev_is_active(&side->io))
        side_start(side);
    w->call_deadline = call_deadline;
    nh_wait(w, &side->queue, nh_earlier(side->deadline, call_deadline));
    nh_wait_hold_loop(w);
}

void nh_socket_set_deadline(nh_socket *s, nh_side *side, double deadline)
{
    (void)s;
    side->deadline = deadline;
    nh_waiter *next;
    for (nh_waiter *w = side->queue.head; w; w = next) {
        next = w->next;   /* a deadline in the past takes w out of the queue */
        nh_wait_set_deadline(w, nh_earlier(deadline, w->call_deadline));
    }
}

int nh_side_expired(const nh_side *side)
{
    return side->deadline > 0 && nh_passed(side->deadline);
}

int nh_socket_set_write_deadline(nh_socket *s, double deadline)
{
    if (!s->wr && deadline == 0)
        return 0;
    nh_side *wr = nh_socket_wr(s);
    if (!wr)
        return -1;
    nh_socket_set_deadline(s, wr, deadline);
    return 0;
}

int nh_socket_set_buffer(nh_socket *s, int receive, int bytes)
{
    return setsockopt(s->fd, SOL_SOCKET, receive ? SO_RCVBUF : SO_SNDBUF, &bytes, sizeof bytes);
}

int nh_socket_wr_expired(const nh_socket *s)
{
    return s->wr && nh_side_expired(s->wr);
}

int nh_socket_close(nh_socket *s)
{
    if (s->fd < 0)
        return -1;
    /* Watchers stop before the fd closes: libev must never see a stale fd. */
    side_stop(&s->rd);
    if (s->wr)
        side_stop(s->wr);
    close(s->fd);
    s->fd = -1;
    nh_rbuf_free(&s->rbuf);
    nh_queue_wake_all(&s->rd.queue, NH_WAKE_CLOSED);
    if (s->wr)
        nh_queue_wake_all(&s->wr->queue, NH_WAKE_CLOSED);
    return 0;
}

void nh_socket_free(nh_socket *s)
{
    if (!s->wr)
        return;
    while (s->wr->queue.head)
        nh_wait_cancel(s->wr->queue.head);
    free(s->wr);
    s->wr = NULL;
}

int nh_socket_accept_step(nh_socket *ln, nh_socket *out, const char **sys)
{
    if (!nh_socket_is_open(ln))
        return NH_IO_CLOSED;
    if (nh_side_expired(&ln->rd))
        return NH_IO_TIMEOUT;
    if (nh_socket_accept(ln, out, sys) == 0)
        return NH_IO_DONE;
    return nh_again(errno) ? NH_IO_AGAIN : NH_IO_ERR;
}

int nh_socket_write_ready(const nh_socket *s)
{
    if (!nh_socket_is_open(s))
        return NH_IO_CLOSED;
    return nh_socket_wr_expired(s) ? NH_IO_TIMEOUT : NH_IO_DONE;
}

int nh_socket_write_failed(nh_socket *s)
{
    if (!nh_again(errno))
        return NH_IO_ERR;
    if (!nh_socket_wr(s)) {
        errno = ENOMEM;
        return NH_IO_ERR;
    }
    return NH_IO_AGAIN;
}

int nh_socket_sendto_step(nh_socket *s, const char *data, size_t len, const nh_addr *to, size_t *sent)
{
    nh_addr dest;
    int st = nh_socket_write_ready(s);
    if (st != NH_IO_DONE)
        return st;
    if (nh_addr_for_family(to, s->laddr.u.sa.sa_family, &dest) < 0) {
        errno = EAFNOSUPPORT;
        return NH_IO_ERR;
    }
    ssize_t n = nh_socket_sendto(s, data, len, &dest);
    if (n >= 0) {
        *sent = (size_t)n;
        return NH_IO_DONE;
    }
    return nh_socket_write_failed(s);
}
