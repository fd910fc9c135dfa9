/* Name lookups on a thread (core/resolve.c): an answer wakes the waiter; a
 * waiter that leaves first lets the lookup free itself (ASan checks). */
#include "../../core/resolve.h"
#include "check.h"
#include "net.h"

typedef struct {
    nh_waiter w;
    int woken, status;
} probe;

static void probe_wake(nh_waiter *w, int status)
{
    ((probe *)w)->woken = 1;
    ((probe *)w)->status = status;
}

static void test_lookup_localhost(void)
{
    probe p = {0};
    nh_addr found[NH_RESOLVE_MAX];
    const char *err = NULL;
    nh_waiter_init(&p.w, probe_wake);
    nh_lookup *lk = nh_lookup_start(NH_LOOP, nh_net_parse("tcp4"), "localhost", 80, &p.w);
    CHECK(lk != NULL);
    CHECK(test_run_until(&p.woken, 5) && p.status == NH_WAKE_READY);
    int n = nh_lookup_finish(lk, found, &err);
    CHECK(n >= 1 && nh_addr_port(&found[0]) == 80);
    nh_waiter_free(&p.w);
}

static void test_waiter_leaves_first(void)
{
    probe p = {0};
    nh_waiter_init(&p.w, probe_wake);
    CHECK(nh_lookup_start(NH_LOOP, nh_net_parse("tcp4"), "localhost", 80, &p.w) != NULL);
    nh_wait_cancel(&p.w);
    int never = 0;
    test_run_until(&never, 0.3);   /* the answer comes to nobody: freed, not delivered */
    CHECK(!p.woken);
    nh_waiter_free(&p.w);
}

void resolve_tests(void)
{
    run(test_lookup_localhost);
    run(test_waiter_leaves_first);
}
