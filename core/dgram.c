#include "dgram.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "stream.h"

static char buffer[NH_DGRAM_MAX];   /* one for every socket: a datagram is copied out at once */

void nh_dgram_init(nh_dgram *d)
{
    d->queue = NULL;
    d->busy = 0;
    d->batch = d->hits = d->singles = 0;
}

void nh_dgram_free(nh_dgram *d)
{
    nh_dgramq_free(d->queue);
    nh_dgram_init(d);
}

void nh_dgram_next(nh_dgram *d, size_t max, nh_datagram *out)
{
    out->data = nh_dgramq_next(d->queue, max, &out->len, &out->from, &out->truncated);
}

/* A lone reader looks before its wait now and then (nh_read_wait_first_alone):
 * if two looks in a row find a datagram, its waits fill the queue. */
static void batch_if(nh_dgram *d, int found)
{
    d->hits = found ? (d->hits < 2 ? d->hits + 1 : 2) : 0;
    if (d->hits == 2 && !d->batch) {
        if (!d->queue)
            d->queue = nh_dgramq_new();   /* NULL on no memory: go on without */
        d->batch = d->queue != NULL;
        d->singles = 0;
    }
}

int nh_dgram_try(nh_dgram *d, nh_socket *s, size_t max, int waited, int now_only, int alone,
                 nh_datagram *out)
{
    if (nh_dgram_queued(d)) {
        nh_dgram_next(d, max, out);
        return 1;
    }
    if (!waited && !now_only && (alone ? nh_read_wait_first_alone(s) : nh_read_wait_first(s)))
        return 0;
    int got = 0;
    if (d->queue) {
        if (nh_dgramq_fill(d->queue, s->fd, 0) > 0) {
            nh_dgram_next(d, max, out);
            got = 1;
        }
    } else {
        ssize_t n = nh_socket_recvfrom(s, buffer, max, &out->from, &out->truncated, 0);
        if (n >= 0) {
            out->data = buffer;
            out->len = (size_t)n;
            got = 1;
            if (waited)
                d->busy = 0;
            else if (++d->busy == NH_DGRAM_BUSY_READS)
                d->queue = nh_dgramq_new();   /* NULL on no memory: go on without */
        }
    }
    if (!got && !nh_again(errno))
        return -1;
    if (alone && !waited)
        batch_if(d, got);
    if (got)
        nh_read_done(s, waited);
    return got;
}

/* The kernel counts a receive timeout in ticks and may end it up to one tick
 * early (the tick it starts in is partly gone). A wait that no clock checks
 * afterwards asks for one tick more; the coarse clock's resolution is the tick. */
static double tick(void)
{
    static double t = -1;
    if (t < 0) {
        struct timespec res;
        t = clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0
                ? (double)res.tv_nsec * 1e-9
                : 0.01;
    }
    return t;
}

/* Set the receive timeout the wait needs; -1 with EAGAIN if the deadline has
 * passed. With no deadline the wait still gets one (NH_DGRAM_WAIT_PART): only
 * a timed receive ends with EINTR on a signal whose handler asked for
 * SA_RESTART, and Ctrl-C must always end a wait. */
static int arm(nh_socket *s, double call_deadline, double timeout)
{
    double wait = NH_DGRAM_WAIT_PART;
    if (timeout >= 0) {
        wait = timeout + tick();
    } else {
        double deadline = nh_earlier(s->rd.deadline, call_deadline);
        if (deadline > 0) {
            wait = deadline - nh_now();
            if (wait <= 0) {
                errno = EAGAIN;
                return -1;
            }
            if (wait > NH_DGRAM_WAIT_PART)
                wait = NH_DGRAM_WAIT_PART;   /* a far deadline is waited for in parts */
        }
    }
    /* Whole milliseconds, rounded up: a loop that waits the same time per call
     * sets the option once, and a wait never ends before its deadline. */
    long long ms = (long long)(wait * 1000);
    if ((double)ms < wait * 1000)
        ms++;
    if ((unsigned)ms != s->rcvtimeo_ms) {
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
        if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
            return -1;
        s->rcvtimeo_ms = (unsigned)ms;
    }
    return 0;
}

static int wait_failed(double timeout)
{
    if (timeout >= 0 && nh_again(errno))
        errno = ETIMEDOUT;
    return -1;
}

int nh_dgram_wait(nh_dgram *d, nh_socket *s, size_t max, double call_deadline, double timeout,
                  nh_datagram *out)
{
    if (arm(s, call_deadline, timeout) < 0)
        return -1;
    if (!d->batch) {
        ssize_t n = nh_socket_recvfrom(s, buffer, max, &out->from, &out->truncated, 1);
        if (n < 0)
            return wait_failed(timeout);
        out->data = buffer;
        out->len = (size_t)n;
    } else {
        int n = nh_dgramq_fill(d->queue, s->fd, 1);
        if (n <= 0)
            return wait_failed(timeout);
        if (n > 1)
            d->singles = 0;
        else if (++d->singles == NH_DGRAM_BATCH_SINGLES)
            d->batch = 0;
        nh_dgram_next(d, max, out);
    }
    nh_read_done(s, 1);
    d->busy = 0;
    return 1;
}
