/*
 * Waiters: one suspended caller waiting for something on the event loop.
 *
 * Every blocking operation in netharness (a read on an empty socket, an accept,
 * a sleep, a join on a task, a name lookup) parks a waiter in a queue and is
 * woken exactly once: by readiness, by its deadline passing, by the socket being
 * closed, or by cancellation. The waiter does not know what it belongs to; the
 * owner supplies a wake function (the Lua bindings resume a coroutine or set a
 * flag).
 *
 * A waiter is small because thousands of idle connections each hold one: its
 * deadline timer is made on the first deadline (or lent by the owner), and a
 * queue is one pointer.
 *
 * A waiter's own timer outlives the wait that started it, as libev's manual
 * advises for timeouts that keep moving later: a wait whose deadline is no
 * earlier keeps it running, and when it fires before the deadline it now
 * serves, its callback reads the clock and starts it again. A request loop
 * with a deadline per request then neither reads the clock nor touches the
 * timer heap per wait. A timer lent by the owner ends with its wait.
 *
 * Wakes that do not come from the loop's own callbacks (close, a task finishing,
 * a deadline moved into the past, a task letting others run) go to the loop's
 * ready list, which the loop delivers once per iteration after its poll, so a
 * wake never runs a coroutine inside another, and I/O and timers run between
 * any two deliveries.
 */
#ifndef NH_WAIT_H
#define NH_WAIT_H

#include <ev.h>

enum nh_wake {
    NH_WAKE_READY = 0,    /* the awaited thing may be possible now: retry it */
    NH_WAKE_TIMEOUT,      /* the deadline passed */
    NH_WAKE_CLOSED,       /* the socket was closed under the waiter */
    NH_WAKE_CANCELLED,    /* the waiter's owner gave up */
    NH_WAKE_NOMEM         /* no memory for the deadline's timer */
};

/* netharness runs on libev's default loop, one per process, so that waiters
 * and sockets need not each carry a pointer to it. */
#define NH_LOOP EV_DEFAULT_UC

typedef struct nh_waiter nh_waiter;
typedef struct nh_timer nh_timer;
typedef struct nh_queue nh_queue;
typedef void (*nh_wake_fn)(nh_waiter *w, int status);

struct nh_timer {
    ev_timer ev;
    double deadline;       /* what the waiter's current wait wants (0: none) */
    double fires_by;       /* while running, it fires at or before this */
    unsigned char unref;   /* running for no wait: the loop does not count it */
};

struct nh_waiter {
    nh_timer *timer;       /* the deadline: NULL until one is needed */
    nh_queue *queue;       /* the queue it waits in, or the loop's ready list */
    nh_waiter *prev, *next;
    nh_wake_fn wake;
    double call_deadline;  /* a per-call limit that a moved socket deadline keeps */
    unsigned char status;  /* the status of a wake on the ready list */
    unsigned char armed;   /* waiting: a wake will come exactly once */
    unsigned char lent;    /* timer belongs to the owner, not to the waiter */
    unsigned char holds;   /* counts as an active watcher of the loop while queued */
};

/* Waiters in arrival order: head->prev is the tail, the tail's next is NULL. */
struct nh_queue {
    nh_waiter *head;
};

/* Monotonic seconds: the clock of deadlines and netharness.now(). */
double nh_now(void);

/* The earlier of two deadlines, 0 meaning none. */
static inline double nh_earlier(double a, double b)
{
    if (a <= 0) return b;
    if (b <= 0) return a;
    return a < b ? a : b;
}

/* nh_now() >= deadline, reading the precise clock only near the deadline. */
int nh_passed(double deadline);

void nh_waiter_init(nh_waiter *w, nh_wake_fn wake);

/* Give w a timer of the owner's (a waiter on the C stack need not allocate). */
void nh_waiter_lend_timer(nh_waiter *w, nh_timer *timer);

/* Cancel and release what the waiter made (its timer). */
void nh_waiter_free(nh_waiter *w);

/* Park w at the tail of q (q may be NULL: a plain sleep) until a wake; deadline
 * is absolute on nh_now()'s clock, or 0 for none. Without memory for the
 * deadline's timer the wake is NH_WAKE_NOMEM. */
void nh_wait(nh_waiter *w, nh_queue *q, double deadline);

/* While w stays in its queue, the loop counts it as alive (a waiter on a
 * socket, whose watcher does not count: see core/socket.c). */
void nh_wait_hold_loop(nh_waiter *w);

/* Move the deadline of a parked waiter. A deadline already past wakes it. */
void nh_wait_set_deadline(nh_waiter *w, double deadline);

/* Stop waiting without a wake (the owner is going away). */
void nh_wait_cancel(nh_waiter *w);

/* Wake through the loop, not from here: for wakes from outside a callback.
 * The waiter leaves its queue now and waits on the loop's ready list. */
void nh_wake_later(nh_waiter *w, int status);

/* Wake the first waiter of q now; returns 0 when q was empty. Only for callers
 * that run directly from a loop callback. */
int nh_queue_wake_first(nh_queue *q, int status);

/* Wake every waiter of q through the loop. */
void nh_queue_wake_all(nh_queue *q, int status);


#endif
