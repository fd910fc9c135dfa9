/* Waiters (core/wait.c) on libev's loop: deadlines, wakes through the ready
 * list, queues in arrival order, moved deadlines and cancels. */
#include "../../core/wait.h"
#include "check.h"
#include "net.h"

typedef struct {
    nh_waiter w;
    int woken, status, order;
} probe;

static int wakes;

static void probe_wake(nh_waiter *w, int status)
{
    probe *p = (probe *)w;
    p->woken++;
    p->status = status;
    p->order = ++wakes;
}

static void init(probe *p)
{
    nh_waiter_init(&p->w, probe_wake);
    p->woken = p->status = p->order = 0;
}

static void test_deadline(void)
{
    probe p;
    init(&p);
    double t0 = nh_now();
    nh_wait(&p.w, NULL, t0 + 0.02);
    CHECK(test_run_until(&p.woken, 2));
    CHECK(p.woken == 1 && p.status == NH_WAKE_TIMEOUT && nh_now() - t0 >= 0.02);
    CHECK(nh_passed(t0 + 0.02) && !nh_passed(nh_now() + 10));
    nh_waiter_free(&p.w);
}

static void test_queue_order_and_ready_list(void)
{
    nh_queue q = {0};
    probe a, b, c;
    init(&a); init(&b); init(&c);
    wakes = 0;
    nh_wait(&a.w, &q, 0);
    nh_wait(&b.w, &q, 0);
    nh_wait(&c.w, &q, 0);
    CHECK(nh_queue_wake_first(&q, NH_WAKE_READY) == 1);
    CHECK(a.woken == 1 && a.order == 1 && b.woken == 0);
    /* wakes from outside a callback go through the loop, not at once */
    nh_queue_wake_all(&q, NH_WAKE_CLOSED);
    CHECK(b.woken == 0 && c.woken == 0 && q.head == NULL);
    CHECK(test_run_until(&c.woken, 2));
    CHECK(b.order == 2 && c.order == 3 && b.status == NH_WAKE_CLOSED);
    CHECK(nh_queue_wake_first(&q, NH_WAKE_READY) == 0);   /* empty */
    nh_waiter_free(&a.w); nh_waiter_free(&b.w); nh_waiter_free(&c.w);
}

static void test_moved_deadline_and_cancel(void)
{
    probe a, b;
    nh_queue q = {0};
    init(&a); init(&b);
    nh_wait(&a.w, &q, nh_now() + 60);
    nh_wait_set_deadline(&a.w, nh_now() - 1);   /* into the past: woken */
    CHECK(test_run_until(&a.woken, 2) && a.status == NH_WAKE_TIMEOUT && q.head == NULL);
    nh_wait(&b.w, &q, nh_now() + 0.01);
    nh_wait_cancel(&b.w);
    CHECK(q.head == NULL);
    int never = 0;
    test_run_until(&never, 0.05);
    CHECK(b.woken == 0);   /* a cancelled waiter's deadline does not fire */
    nh_waiter_free(&a.w); nh_waiter_free(&b.w);
}

static void test_wake_later_once(void)
{
    probe a;
    init(&a);
    nh_wait(&a.w, NULL, 0);
    nh_wake_later(&a.w, NH_WAKE_CANCELLED);
    CHECK(test_run_until(&a.woken, 2) && a.status == NH_WAKE_CANCELLED);
    int never = 0;
    test_run_until(&never, 0.02);
    CHECK(a.woken == 1);
    nh_waiter_free(&a.w);
}

void wait_tests(void)
{
    run(test_deadline);
    run(test_queue_order_and_ready_list);
    run(test_moved_deadline_and_cancel);
    run(test_wake_later_once);
}
