/* Name lookups on a thread (core/resolve.c): an answer wakes the waiter; a
 * waiter that leaves first lets the lookup free itself (ASan checks). */
#include "../../core/resolve.h"
#include "check.h"
#include "net.h"

static void test_lookup_localhost(void)
{
    test_probe p;
    nh_addr found[NH_RESOLVE_MAX];
    const char *err = NULL;
    test_probe_init(&p);
    nh_lookup *lk = nh_lookup_start(NH_LOOP, nh_net_parse("tcp4"), "localhost", 80, &p.w);
    CHECK(lk != NULL);
    CHECK(test_run_until(&p.woken, 5) && p.status == NH_WAKE_READY);
    int n = nh_lookup_finish(lk, found, &err);
    CHECK(n >= 1 && nh_addr_port(&found[0]) == 80);
    nh_waiter_free(&p.w);
}

static void test_waiter_leaves_first(void)
{
    test_probe p;
    test_probe_init(&p);
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
