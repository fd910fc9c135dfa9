/* Helpers for the tests that use real sockets (loopback only). */
#ifndef NH_TEST_NET_H
#define NH_TEST_NET_H

#include "../../core/socket.h"

/* A waiter that records its wake. */
typedef struct {
    nh_waiter w;
    int woken, status;
} test_probe;
void test_probe_init(test_probe *p);

/* A listening or packet socket on 127.0.0.1 (port 0: the kernel picks). */
int test_listen(nh_socket *s, int net);
/* Run the loop until *flag is set or `seconds` pass; returns *flag. */
int test_run_until(const int *flag, double seconds);

#endif
