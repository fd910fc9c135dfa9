/*
 * Non-blocking sockets with one wait queue per direction.
 *
 * Every operation is tried at once; only when the kernel says EAGAIN does the
 * caller park a waiter on the socket's read or write side. Each side has one
 * ev_io watcher, started while anyone may be waiting and stopped lazily (when it
 * fires with nobody queued), so a busy socket does not pay for start/stop on
 * every read. A side's deadline works as in Go: once it has passed, every
 * pending and future wait on that side fails with a timeout.
 *
 * Errors are returned, never printed: -1 with errno set, and the name of the
 * failing system call in *sys where the caller wants to print it Go's way
 * ("bind: address already in use").
 */
#ifndef NH_SOCKET_H
#define NH_SOCKET_H

#include <errno.h>
#include <sys/types.h>

#include "addr.h"
#include "rbuf.h"
#include "wait.h"

/* How an I/O step ended, for the callers that wait and try again. */
enum nh_io {
    NH_IO_DONE,      /* done: the result is where the call says */
    NH_IO_AGAIN,     /* would block: wait on the side the call names, then call again */
    NH_IO_EOF,       /* the peer ended the stream */
    NH_IO_FULL,      /* a read's limit was reached first */
    NH_IO_TIMEOUT,   /* the side's deadline has passed */
    NH_IO_CLOSED,    /* the socket was closed */
    NH_IO_ERR        /* errno (and *sys where given) say why */
};

typedef struct nh_side {
    ev_io io;
    nh_queue queue;
    double deadline;      /* absolute (nh_now), 0 for none */
} nh_side;

typedef struct nh_socket {
    int fd;               /* -1 when closed or not yet open */
    unsigned net : 3;     /* enum nh_net */
    unsigned rcvtimeo_ms : 22; /* SO_RCVTIMEO as last set by dgram.c (at most an hour), 0 for none */
    unsigned read_waits : 7; /* reads in a row that had to wait: the cadence in stream.h */
    nh_side rd;
    nh_side *wr;          /* made on first use: most connections never wait to
                           * write, and an idle one should cost little memory */
    nh_rbuf rbuf;
    nh_addr laddr, raddr; /* raddr's family AF_UNSPEC: not connected */
} nh_socket;              /* 160 bytes: a server holds one per idle connection */

/* A socket starts closed (fd -1), so a failed open leaves it consistent. */
void nh_socket_init(nh_socket *s, int net);

/* socket(2) + bind(2) (+ listen(2) for streams): a listener or a packet conn.
 * backlog < 0 means the system's maximum. */
int nh_socket_listen(nh_socket *s, const nh_addr *addr, int backlog, const char **sys);
/* A TCP listening socket made elsewhere (an fd inherited through LISTEN_FDS):
 * s takes fd over (closing s closes it), made non-blocking and
 * close-on-exec, with its network (tcp4 or tcp6). -1 with errno (ENOTSOCK:
 * not a TCP listener) and *sys; fd is then left as it was. */
int nh_socket_adopt_listener(nh_socket *s, int fd, const char **sys);

/* Start connecting to addr: 0 connected, 1 in progress (wait for the write side,
 * then nh_socket_connect_result), -1 failed. For UDP this only sets the peer. */
int nh_socket_connect(nh_socket *s, const nh_addr *addr, const char **sys);
int nh_socket_connect_result(nh_socket *s, const char **sys);

/* Dial the first of addrs[*idx..n) that answers, in turn, as Go's dialSerial
 * does (a lookup's answers, or one literal): 0 connected; 1 a connect is in
 * progress: wait for the write side (or the deadline) and call again with
 * *connecting still set; -1 the last one failed (errno and *sys say how;
 * addrs[*idx] is the one that failed), or the deadline (absolute; 0: none)
 * passed before an attempt (ETIMEDOUT, *sys NULL). */
int nh_socket_dial(nh_socket *s, const nh_addr *const *addrs, int n, int *idx, int *connecting,
                   double deadline, const char **sys);

/* An accept for a caller that waits: DONE (out holds the connection),
 * AGAIN (wait on ln->rd), TIMEOUT, CLOSED or ERR (errno, *sys). */
int nh_socket_accept_step(nh_socket *ln, nh_socket *out, const char **sys);

/* Before a write: CLOSED, TIMEOUT (the write side's deadline passed), or
 * DONE when the write may go on. */
int nh_socket_write_ready(const nh_socket *s);
/* After a send failed with errno: AGAIN (the write side made, to wait on)
 * or ERR. */
int nh_socket_write_failed(nh_socket *s);

/* One datagram to `to` (made fit for the socket's family) for a caller that
 * waits: DONE (*sent bytes), AGAIN (wait on s->wr, made now), TIMEOUT, CLOSED
 * or ERR (errno; EAFNOSUPPORT when `to` cannot be reached from this socket). */
int nh_socket_sendto_step(nh_socket *s, const char *data, size_t len, const nh_addr *to, size_t *sent);

/* Accept one connection into `out` (initialised, closed): 0, or -1 with errno. */
int nh_socket_accept(nh_socket *ln, nh_socket *out, const char **sys);

ssize_t nh_socket_recv(nh_socket *s, char *buf, size_t len);
ssize_t nh_socket_send(nh_socket *s, const char *buf, size_t len);
/* One datagram; *truncated says whether it was longer than len. With `wait`,
 * a receive that blocks (dgram.c's lone reader; datagram fds are blocking and
 * every other call says MSG_DONTWAIT): EINTR is returned, not retried. */
ssize_t nh_socket_recvfrom(nh_socket *s, char *buf, size_t len, nh_addr *from, int *truncated,
                           int wait);
ssize_t nh_socket_sendto(nh_socket *s, const char *buf, size_t len, const nh_addr *to);

int nh_socket_shutdown_write(nh_socket *s);

/* The read callback for nh_rbuf_fill. */
ssize_t nh_socket_read_cb(void *sock, char *buf, size_t len);

/* The write side, made on first use; NULL (errno ENOMEM) if it cannot be. */
nh_side *nh_socket_wr(nh_socket *s);

/* Set the write side's deadline (0: none): 0, or -1 with ENOMEM. */
int nh_socket_set_write_deadline(nh_socket *s, double deadline);
/* The kernel's receive (SO_RCVBUF) or send (SO_SNDBUF) buffer size, as Go's
 * SetReadBuffer / SetWriteBuffer; -1 with errno. */
int nh_socket_set_buffer(nh_socket *s, int receive, int bytes);

/* Has the write side's deadline passed? */
int nh_socket_wr_expired(const nh_socket *s);

/* Park w on a side until readiness or the earlier of the side's deadline and
 * call_deadline (either may be 0). */
void nh_socket_wait(nh_socket *s, nh_side *side, nh_waiter *w, double call_deadline);

/* Set a side's deadline; pending waiters follow it. */
void nh_socket_set_deadline(nh_socket *s, nh_side *side, double deadline);

/* Has the side's deadline passed? */
int nh_side_expired(const nh_side *side);

/* Stop the watchers, close the fd and wake every waiter with NH_WAKE_CLOSED.
 * Safe to call twice; returns 0, or -1 if it was already closed. */
int nh_socket_close(nh_socket *s);

/* Free what a closed socket still holds, for a socket being collected:
 * anything still waiting on it (only when the whole state is torn down) is
 * cancelled first. */
void nh_socket_free(nh_socket *s);

static inline int nh_socket_is_open(const nh_socket *s) { return s->fd >= 0; }

/* The errno of a call that would have had to wait. */
static inline int nh_again(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

#endif
