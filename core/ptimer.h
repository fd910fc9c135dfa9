/*
 * Precise timers for the fault proxies' pieces (a latency toxic's 50 ms must
 * be 50 ms, not 51).
 *
 * libev's epoll backend waits in whole milliseconds, rounding up, so an
 * ev_timer fires up to a millisecond late (measured through a 50 ms latency
 * toxic: p99 51.1 ms under ASan). These timers share one timerfd on the
 * loop, armed for the earliest of them at the nanosecond, and a binary heap
 * in time order. Like the proxies' other watchers they do not keep the loop
 * alive. Times are absolute, on nh_now()'s clock.
 */
#ifndef NH_PTIMER_H
#define NH_PTIMER_H

#include <stdint.h>

typedef struct nh_ptimer nh_ptimer;
typedef void (*nh_ptimer_fn)(nh_ptimer *t);

struct nh_ptimer {
    double at;
    uint32_t slot;     /* its place in the heap + 1; 0 when not armed */
    nh_ptimer_fn fn;
};

/* Users (each proxy) hold the timerfd open: 0, or -1 with errno. The last
 * release closes it. */
int nh_ptimer_use(void);
void nh_ptimer_release(void);

/* A new timer, not armed: 0, or -1 (ENOMEM) when the heap has no room
 * for it (arming never allocates, so it cannot fail). */
int nh_ptimer_init(nh_ptimer *t, nh_ptimer_fn fn);
/* Stop t for good and give its room back. */
void nh_ptimer_drop(nh_ptimer *t);
/* Run t's function at `at`, once; 0 (or less) stops it. Re-arming moves it. */
void nh_ptimer_at(nh_ptimer *t, double at);

#endif
