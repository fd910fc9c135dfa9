#include "wait.h"

#include <stddef.h>
#include <time.h>

double nh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void unlink_waiter(nh_waiter *w)
{
    nh_queue *q = w->queue;
    if (!q)
        return;
    if (w->prev) w->prev->next = w->next; else q->head = w->next;
    if (w->next) w->next->prev = w->prev; else q->tail = w->prev;
    w->prev = w->next = NULL;
    w->queue = NULL;
}

/* Disarm before calling wake: the woken owner may wait again at once. */
static void deliver(nh_waiter *w, int status)
{
    unlink_waiter(w);
    ev_timer_stop(w->loop, &w->timer);
    ev_clear_pending(w->loop, &w->timer);
    w->armed = 0;
    w->wake(w, status);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    nh_waiter *w = (nh_waiter *)((char *)t - offsetof(nh_waiter, timer));
    (void)loop;
    if (!w->armed)
        return;
    deliver(w, (revents & EV_CUSTOM) ? w->status : NH_WAKE_TIMEOUT);
}

void nh_waiter_init(nh_waiter *w, struct ev_loop *loop, nh_wake_fn wake)
{
    ev_init(&w->timer, timer_cb);
    w->loop = loop;
    w->queue = NULL;
    w->prev = w->next = NULL;
    w->wake = wake;
    w->status = NH_WAKE_READY;
    w->call_deadline = 0;
    w->armed = 0;
}

static void arm_deadline(nh_waiter *w, double deadline)
{
    ev_timer_stop(w->loop, &w->timer);
    if (deadline <= 0)
        return;
    double left = deadline - nh_now();
    if (left <= 0) {
        nh_wake_later(w, NH_WAKE_TIMEOUT);
        return;
    }
    /* libev counts from its cached time, stale when we run outside the loop. */
    ev_now_update(w->loop);
    ev_timer_set(&w->timer, left, 0.);
    ev_timer_start(w->loop, &w->timer);
}

void nh_wait(nh_waiter *w, nh_queue *q, double deadline)
{
    w->armed = 1;
    w->status = NH_WAKE_READY;
    if (q) {
        w->queue = q;
        w->next = NULL;
        w->prev = q->tail;
        if (q->tail) q->tail->next = w; else q->head = w;
        q->tail = w;
    }
    arm_deadline(w, deadline);
}

void nh_wait_set_deadline(nh_waiter *w, double deadline)
{
    if (w->armed && !ev_is_pending(&w->timer))
        arm_deadline(w, deadline);
}

void nh_wait_cancel(nh_waiter *w)
{
    unlink_waiter(w);
    ev_timer_stop(w->loop, &w->timer);
    ev_clear_pending(w->loop, &w->timer);
    w->armed = 0;
}

void nh_wake_later(nh_waiter *w, int status)
{
    if (!w->armed || ev_is_pending(&w->timer))
        return;
    ev_timer_stop(w->loop, &w->timer);
    w->status = status;
    ev_feed_event(w->loop, &w->timer, EV_CUSTOM);
}

int nh_queue_wake_first(nh_queue *q, int status)
{
    if (!q->head)
        return 0;
    deliver(q->head, status);
    return 1;
}

void nh_queue_wake_all(nh_queue *q, int status)
{
    for (nh_waiter *w = q->head; w; w = w->next)
        nh_wake_later(w, status);
}

void nh_queue_set_deadline(nh_queue *q, double deadline)
{
    for (nh_waiter *w = q->head; w; w = w->next)
        nh_wait_set_deadline(w, deadline);
}
