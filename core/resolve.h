/*
 * Name lookups that do not freeze the event loop.
 *
 * getaddrinfo(3) blocks, sometimes for seconds (DNS timeouts). A lookup runs on a
 * short-lived thread of its own and reports back through an ev_async watcher, so
 * every other coroutine keeps running meanwhile. Literal addresses and
 * "localhost" never come here (addr.h answers them at once).
 */
#ifndef NH_RESOLVE_H
#define NH_RESOLVE_H

#include "addr.h"
#include "wait.h"

#define NH_RESOLVE_MAX 8

typedef struct nh_lookup nh_lookup;

/* Start looking up host for net; the waiter w is parked and woken (READY) when
 * the answer is in: then call nh_lookup_finish. A waiter that stops waiting
 * otherwise (deadline, cancel) just leaves: the lookup then frees itself when it
 * completes. Returns NULL with errno set if the thread could not start. */
nh_lookup *nh_lookup_start(struct ev_loop *loop, int net, const char *host, int port,
                           nh_waiter *w);

/* After a READY wake: the addresses found (up to NH_RESOLVE_MAX), or 0 with *err
 * set to Go's text ("no such host"). Frees the lookup. */
int nh_lookup_finish(nh_lookup *lk, nh_addr *out, const char **err);

#endif
