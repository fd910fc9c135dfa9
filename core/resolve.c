#include "resolve.h"

#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nh_lookup {
    ev_async done;          /* first: the thread signals the loop through it */
    struct ev_loop *loop;
    nh_queue queue;         /* the one waiter, until it is woken or gives up */
    int net, port;
    char host[NH_HOST_MAX];
    /* written by the thread, read after `done` fires */
    int gai;
    int count;
    nh_addr addrs[NH_RESOLVE_MAX];
};

static void *lookup_thread(void *arg)
{
    nh_lookup *lk = arg;
    struct addrinfo hints, *res = NULL;
    char port[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = nh_net_family(lk->net);
    hints.ai_socktype = nh_net_is_stream(lk->net) ? SOCK_STREAM : SOCK_DGRAM;
    hints.ai_flags = AI_ADDRCONFIG;
    snprintf(port, sizeof port, "%d", lk->port);
    lk->gai = getaddrinfo(lk->host, port, &hints, &res);
    lk->count = 0;
    /* IPv4 first, as Go's dialer prefers it for the dual-stack networks. */
    for (int pass = 0; pass < 2 && lk->gai == 0; pass++)
        for (struct addrinfo *ai = res; ai && lk->count < NH_RESOLVE_MAX; ai = ai->ai_next)
            if ((ai->ai_family == AF_INET) == (pass == 0) &&
                (ai->ai_family == AF_INET || ai->ai_family == AF_INET6))
                nh_addr_from_sockaddr(&lk->addrs[lk->count++], ai->ai_addr, ai->ai_addrlen);
    if (res)
        freeaddrinfo(res);
    ev_async_send(lk->loop, &lk->done);
    return NULL;
}

static void done_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    nh_lookup *lk = (nh_lookup *)a;
    (void)revents;
    ev_async_stop(loop, a);
    /* Nobody waits any more (timed out, cancelled): the lookup is ours to free. */
    if (!nh_queue_wake_first(&lk->queue, NH_WAKE_READY))
        free(lk);
}

nh_lookup *nh_lookup_start(struct ev_loop *loop, int net, const char *host, int port,
                           nh_waiter *w)
{
    nh_lookup *lk = calloc(1, sizeof *lk);
    pthread_t tid;
    pthread_attr_t attr;
    if (!lk)
        return NULL;
    lk->loop = loop;
    lk->net = net;
    lk->port = port;
    snprintf(lk->host, sizeof lk->host, "%s", host);
    ev_async_init(&lk->done, done_cb);
    ev_async_start(loop, &lk->done);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&tid, &attr, lookup_thread, lk);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        ev_async_stop(loop, &lk->done);
        free(lk);
        return NULL;
    }
    nh_wait(w, &lk->queue, 0);
    return lk;
}

int nh_lookup_finish(nh_lookup *lk, nh_addr *out, const char **err)
{
    int n = lk->count;
    if (lk->gai != 0 || n == 0) {
        *err = (lk->gai == EAI_NONAME || lk->gai == EAI_NODATA || lk->gai == 0)
                   ? "no such host" : gai_strerror(lk->gai);
        n = 0;
    }
    for (int i = 0; i < n; i++)
        out[i] = lk->addrs[i];
    free(lk);
    return n;
}
