#include "net.h"

#include "../../core/addr.h"

int test_listen(nh_socket *s, int net)
{
    nh_addr a;
    const char *sys;
    nh_socket_init(s, net);
    if (nh_addr_literal(net, "127.0.0.1", 0, 1, &a) != NH_LIT_OK)
        return -1;
    return nh_socket_listen(s, &a, 16, &sys);
}

int test_run_until(const int *flag, double seconds)
{
    double end = nh_now() + seconds;
    while (!*flag && nh_now() < end)
        ev_run(NH_LOOP, EVRUN_NOWAIT | EVRUN_ONCE);
    return *flag;
}

static void probe_wake(nh_waiter *w, int status)
{
    test_probe *p = (test_probe *)w;
    p->woken++;
    p->status = status;
}

void test_probe_init(test_probe *p)
{
    nh_waiter_init(&p->w, probe_wake);
    p->woken = p->status = 0;
}
