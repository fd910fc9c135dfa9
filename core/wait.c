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

/* The coarse clock costs a few cycles where the precise one costs fifty and a
 * pipeline stall, and it is only ever behind, by a tick or so: a deadline
 * further than this beyond it has not passed. */
#define COARSE_SLACK 0.05

int nh_passed(double deadline)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    if (deadline - ((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9) > COARSE_SLACK)
        return 0;
    return nh_now() >= deadline;
}

/* Wakes from outside the loop's callbacks wait in q until the loop delivers
 * them, in the order they came. They are delivered once per loop iteration,
 * after its poll (a check watcher), and only those that were there when the
 * iteration began: a task that wakes itself again at once (sleep(0), a plain
 * coroutine.yield) waits for the next iteration, so I/O and due timers run in
 * between and no zero-delay loop can starve them. While q is not empty an
 * idle watcher keeps the poll from blocking. */
static struct {
    int init;
    nh_queue q;
    nh_queue batch;        /* what this iteration delivers */
    ev_check deliverer;
    ev_idle nowait;
} ready;

static int on_its_way(const nh_waiter *w)
{
    return w->queue == &ready.q || w->queue == &ready.batch;
}

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
    if (w->holds) {
        ev_unref(NH_LOOP);
        w->holds = 0;
    }
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

/* A running timer left behind by a finished wait must not keep the loop
 * running (nor hide a deadlock): it is unreferenced until a wait takes it up
 * again or it stops. libev's own stop of a fired timer, and ours, take one
 * reference each, so an unreferenced timer gets its reference back first. */
static void timer_ref(nh_timer *t)
{
    if (t->unref) {
        ev_ref(NH_LOOP);
        t->unref = 0;
    }
}

static void timer_stop(nh_timer *t)
{
    timer_ref(t);
    ev_timer_stop(NH_LOOP, &t->ev);   /* also drops a fire not yet delivered */
}

/* The wait is over: a lent timer stops with it, the waiter's own runs on. */
static void timer_release(nh_waiter *w)
{
    nh_timer *t = w->timer;
    if (!t)
        return;
    t->deadline = 0;
    if (w->lent) {
        timer_stop(t);
    } else if (ev_is_active(&t->ev) && !t->unref) {
        ev_unref(NH_LOOP);
        t->unref = 1;
    }
}

/* Disarm before calling wake: the woken owner may wait again at once. */
static void deliver(nh_waiter *w, int status)
{
    unlink_waiter(w);
    timer_release(w);
    w->armed = 0;
    w->wake(w, status);
}

static void ready_cb(struct ev_loop *loop, ev_check *c, int revents)
{
    (void)c;
    (void)revents;
    ready.batch = ready.q;
    for (nh_waiter *w = ready.batch.head; w; w = w->next)
        w->queue = &ready.batch;
    ready.q.head = NULL;
    ev_idle_stop(loop, &ready.nowait);
    ev_check_stop(loop, &ready.deliverer);
    while (ready.batch.head)
        deliver(ready.batch.head, ready.batch.head->status);
}

static void idle_cb(struct ev_loop *loop, ev_idle *i, int revents)
{
    (void)loop;
    (void)i;
    (void)revents;
}

/* libev counts `left` from its cached time, which is behind whenever we run
 * outside its wait (always, in a task): brought up to date, the timer fires
 * at the deadline and not early (an early fire would cost a loop iteration,
 * and the poll's wait is in whole milliseconds). */
static void timer_start(nh_timer *t, double left, double deadline)
{
    ev_now_update(NH_LOOP);
    ev_timer_set(&t->ev, left, 0.);
    ev_timer_start(NH_LOOP, &t->ev);
    t->fires_by = deadline;
}

static void timer_cb(struct ev_loop *loop, ev_timer *ev, int revents)
{
    nh_timer *t = (nh_timer *)ev;
    nh_waiter *w = ev->data;
    (void)loop;
    (void)revents;
    timer_ref(t);   /* it has stopped */
    if (!w->armed || on_its_way(w) || t->deadline <= 0)
        return;   /* no wait of its own, or a wake already on its way */
    double left = t->deadline - nh_now();
    if (left <= 0)
        deliver(w, NH_WAKE_TIMEOUT);
    else
        timer_start(t, left, t->deadline);   /* started for an earlier deadline */
}

static void timer_init(nh_waiter *w, nh_timer *t)
{
    ev_init(&t->ev, timer_cb);
    t->ev.data = w;
    t->deadline = t->fires_by = 0;
    t->unref = 0;
    w->timer = t;
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
    w->holds = 0;
}

void nh_waiter_lend_timer(nh_waiter *w, nh_timer *timer)
{
    timer_init(w, timer);
    w->lent = 1;
}

void nh_waiter_free(nh_waiter *w)
{
    nh_wait_cancel(w);
    if (w->timer) {
        timer_stop(w->timer);
        if (!w->lent)
            free(w->timer);
    }
    w->timer = NULL;
}

/* A timer already running that fires no later than the deadline serves it
 * as it is: its callback looks at the clock. Otherwise the clock is read and
 * the timer started. */
static void arm_deadline(nh_waiter *w, double deadline)
{
    nh_timer *t = w->timer;
    if (deadline <= 0) {
        timer_release(w);
        return;
    }
    if (t && ev_is_active(&t->ev) && t->fires_by <= deadline) {
        t->deadline = deadline;
        timer_ref(t);
        return;
    }
    double left = deadline - nh_now();
    if (left <= 0) {
        if (t)
            t->deadline = 0;
        nh_wake_later(w, NH_WAKE_TIMEOUT);
        return;
    }
    if (!t) {
        t = malloc(sizeof *t);
        if (!t) {
            nh_wake_later(w, NH_WAKE_NOMEM);
            return;
        }
        timer_init(w, t);
    } else {
        timer_stop(t);
    }
    t->deadline = deadline;
    timer_start(t, left, deadline);
}

void nh_wait(nh_waiter *w, nh_queue *q, double deadline)
{
    w->armed = 1;
    w->status = NH_WAKE_READY;
    if (q)
        push(q, w);
    arm_deadline(w, deadline);
}

void nh_wait_hold_loop(nh_waiter *w)
{
    if (w->queue && !on_its_way(w) && !w->holds) {
        ev_ref(NH_LOOP);
        w->holds = 1;
    }
}

void nh_wait_set_deadline(nh_waiter *w, double deadline)
{
    if (w->armed && !on_its_way(w))
        arm_deadline(w, deadline);
}

void nh_wait_cancel(nh_waiter *w)
{
    unlink_waiter(w);
    if (w->armed)
        timer_release(w);
    w->armed = 0;
}

/* The wake goes first to the ready list: a timer that fires meanwhile finds
 * it there and leaves it alone. */
void nh_wake_later(nh_waiter *w, int status)
{
    if (!w->armed || on_its_way(w))
        return;
    unlink_waiter(w);
    w->status = (unsigned char)status;
    if (!ready.init) {
        ev_check_init(&ready.deliverer, ready_cb);
        ev_idle_init(&ready.nowait, idle_cb);
        ready.init = 1;
    }
    push(&ready.q, w);
    if (!ev_is_active(&ready.deliverer)) {
        ev_check_start(NH_LOOP, &ready.deliverer);
        ev_idle_start(NH_LOOP, &ready.nowait);
    }
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
