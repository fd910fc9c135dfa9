#include "wait.h"

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

double nh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wakes from outside the loop's callbacks wait here until the loop delivers
 * them, in the order they came. */
static struct {
    int init;
    nh_queue q;
    ev_prepare feeder;     /* never started: fed an event when q fills */
} ready;

static void push(nh_queue *q, nh_waiter *w)
{
    w->queue = q;
    w->next = NULL;
    if (q->head) {
        nh_waiter *tail = q->head->prev;
        tail->next = w;
        w->prev = tail;
        q->head->prev = w;
    } else {
        w->prev = w;
        q->head = w;
    }
}

static void unlink_waiter(nh_waiter *w)
{
    nh_queue *q = w->queue;
    if (!q)
        return;
    if (w == q->head) {
        q->head = w->next;
        if (w->next)
            w->next->prev = w->prev;
    } else {
        w->prev->next = w->next;
        if (w->next)
            w->next->prev = w->prev;
        else
            q->head->prev = w->prev;
    }
    w->prev = w->next = NULL;
    w->queue = NULL;
}

static void stop_timer(nh_waiter *w)
{
    if (w->timer) {
        ev_timer_stop(NH_LOOP, w->timer);
        ev_clear_pending(NH_LOOP, w->timer);
    }
}

/* Disarm before calling wake: the woken owner may wait again at once. */
static void deliver(nh_waiter *w, int status)
{
    unlink_waiter(w);
    stop_timer(w);
    w->armed = 0;
    w->wake(w, status);
}

static void ready_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    (void)loop;
    (void)p;
    (void)revents;
    while (ready.q.head)
        deliver(ready.q.head, ready.q.head->status);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    nh_waiter *w = t->data;
    (void)loop;
    (void)revents;
    if (w->armed)
        deliver(w, NH_WAKE_TIMEOUT);
}

void nh_waiter_init(nh_waiter *w, nh_wake_fn wake)
{
    w->timer = NULL;
    w->queue = NULL;
    w->prev = w->next = NULL;
    w->wake = wake;
    w->status = NH_WAKE_READY;
    w->call_deadline = 0;
    w->armed = 0;
    w->lent = 0;
}

void nh_waiter_lend_timer(nh_waiter *w, ev_timer *timer)
{
    ev_init(timer, timer_cb);
    timer->data = w;
    w->timer = timer;
    w->lent = 1;
}

void nh_waiter_free(nh_waiter *w)
{
    nh_wait_cancel(w);
    if (!w->lent)
        free(w->timer);
    w->timer = NULL;
}

static int is_ready(const nh_waiter *w)
{
    return w->queue == &ready.q || (w->timer && ev_is_pending(w->timer));
}

static void arm_deadline(nh_waiter *w, double deadline)
{
    if (w->timer)
        ev_timer_stop(NH_LOOP, w->timer);
    if (deadline <= 0)
        return;
    double left = deadline - nh_now();
    if (left <= 0) {
        nh_wake_later(w, NH_WAKE_TIMEOUT);
        return;
    }
    if (!w->timer) {
        ev_timer *t = malloc(sizeof *t);
        if (!t) {
            nh_wake_later(w, NH_WAKE_NOMEM);
            return;
        }
        ev_init(t, timer_cb);
        t->data = w;
        w->timer = t;
    }
    /* libev counts from its cached time, stale when we run outside the loop. */
    ev_now_update(NH_LOOP);
    ev_timer_set(w->timer, left, 0.);
    ev_timer_start(NH_LOOP, w->timer);
}

void nh_wait(nh_waiter *w, nh_queue *q, double deadline)
{
    w->armed = 1;
    w->status = NH_WAKE_READY;
    if (q)
        push(q, w);
    arm_deadline(w, deadline);
}

void nh_wait_set_deadline(nh_waiter *w, double deadline)
{
    if (w->armed && !is_ready(w))
        arm_deadline(w, deadline);
}

void nh_wait_cancel(nh_waiter *w)
{
    unlink_waiter(w);
    stop_timer(w);
    w->armed = 0;
}

void nh_wake_later(nh_waiter *w, int status)
{
    if (!w->armed || w->queue == &ready.q)
        return;
    unlink_waiter(w);
    if (w->timer && ev_is_pending(w->timer))
        return;   /* its deadline passed: that wake is on its way */
    stop_timer(w);
    w->status = (unsigned char)status;
    if (!ready.init) {
        ev_init(&ready.feeder, ready_cb);
        ready.init = 1;
    }
    push(&ready.q, w);
    if (!ev_is_pending(&ready.feeder))
        ev_feed_event(NH_LOOP, &ready.feeder, EV_CUSTOM);
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
    while (q->head)
        nh_wake_later(q->head, status);   /* each leaves q */
}
