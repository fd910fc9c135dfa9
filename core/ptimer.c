#include "ptimer.h"

#include <ev.h>
#include <math.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "wait.h"

static struct {
    int users;
    int fd;
    ev_io io;
    nh_ptimer **heap;
    uint32_t n, cap;
    uint32_t reserved; /* timers that exist: the heap has room for all */
    double armed;      /* what the timerfd is set for (0: nothing) */
    int running;       /* in the expiry loop: arm once at its end */
} pt = {0, -1, {0}, NULL, 0, 0, 0, 0, 0};

static void place(uint32_t i, nh_ptimer *t)
{
    pt.heap[i] = t;
    t->slot = i + 1;
}

static void sift_up(uint32_t i)
{
    nh_ptimer *t = pt.heap[i];
    while (i > 0) {
        uint32_t up = (i - 1) / 2;
        if (pt.heap[up]->at <= t->at)
            break;
        place(i, pt.heap[up]);
        i = up;
    }
    place(i, t);
}

static void sift_down(uint32_t i)
{
    nh_ptimer *t = pt.heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= pt.n)
            break;
        if (c + 1 < pt.n && pt.heap[c + 1]->at < pt.heap[c]->at)
            c++;
        if (t->at <= pt.heap[c]->at)
            break;
        place(i, pt.heap[c]);
        i = c;
    }
    place(i, t);
}

static void heap_remove(nh_ptimer *t)
{
    uint32_t i = t->slot - 1;
    t->slot = 0;
    nh_ptimer *last = pt.heap[--pt.n];
    if (last == t)
        return;
    place(i, last);
    sift_down(i);
    sift_up(last->slot - 1);
}

/* Set the timerfd for the earliest timer, if that changed. */
static void arm(void)
{
    double at = pt.n ? pt.heap[0]->at : 0;
    if (at == pt.armed || pt.running)
        return;
    struct itimerspec its = {{0, 0}, {0, 0}};
    if (at > 0) {
        double s = floor(at);
        its.it_value.tv_sec = (time_t)s;
        its.it_value.tv_nsec = (long)((at - s) * 1e9);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1;   /* zero would disarm it */
    }
    timerfd_settime(pt.fd, TFD_TIMER_ABSTIME, &its, NULL);
    pt.armed = at;
}

static void on_expiry(struct ev_loop *loop, ev_io *w, int revents)
{
    uint64_t ticks;
    (void)loop;
    (void)w;
    (void)revents;
    if (read(pt.fd, &ticks, sizeof ticks) < 0) { /* nothing due yet: fine */ }
    pt.armed = 0;
    pt.running = 1;
    double now = nh_now();
    while (pt.n && pt.heap[0]->at <= now) {
        nh_ptimer *t = pt.heap[0];
        heap_remove(t);
        t->fn(t);   /* may arm timers, itself too */
    }
    pt.running = 0;
    arm();
}

int nh_ptimer_use(void)
{
    if (pt.users++ > 0)
        return 0;
    pt.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (pt.fd < 0) {
        pt.users = 0;
        return -1;
    }
    pt.armed = 0;
    ev_io_init(&pt.io, on_expiry, pt.fd, EV_READ);
    ev_io_start(NH_LOOP, &pt.io);
    ev_unref(NH_LOOP);
    return 0;
}

void nh_ptimer_release(void)
{
    if (pt.users == 0 || --pt.users > 0)
        return;
    ev_ref(NH_LOOP);
    ev_io_stop(NH_LOOP, &pt.io);
    close(pt.fd);
    pt.fd = -1;
    free(pt.heap);
    pt.heap = NULL;
    pt.n = pt.cap = pt.reserved = 0;
}

int nh_ptimer_init(nh_ptimer *t, nh_ptimer_fn fn)
{
    t->at = 0;
    t->slot = 0;
    t->fn = fn;
    if (pt.reserved == pt.cap) {
        uint32_t cap = pt.cap ? pt.cap * 2 : 64;
        nh_ptimer **h = realloc(pt.heap, cap * sizeof *h);
        if (!h)
            return -1;
        pt.heap = h;
        pt.cap = cap;
    }
    pt.reserved++;
    return 0;
}

void nh_ptimer_drop(nh_ptimer *t)
{
    nh_ptimer_at(t, 0);
    pt.reserved--;
}

void nh_ptimer_at(nh_ptimer *t, double at)
{
    if (at <= 0) {
        if (t->slot)
            heap_remove(t);
        return;   /* the timerfd may wake once for nothing: cheaper than disarming */
    }
    if (t->slot) {
        if (t->at == at)
            return;
        t->at = at;
        sift_down(t->slot - 1);
        sift_up(t->slot - 1);
    } else {   /* room was made by nh_ptimer_init */
        t->at = at;
        place(pt.n++, t);
        sift_up(pt.n - 1);
    }
    arm();
}
