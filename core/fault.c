#include "fault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int start(nh_fproxy *p, const char **sys)
{
    return p->stream ? nh_ftcp_start(p, sys) : nh_fudp_start(p, sys);
}

static void close_all(nh_fproxy *p)
{
    if (p->stream)
        nh_ftcp_close_all(p);
    else
        nh_fudp_close_all(p);
}

static void sync_links(nh_fproxy *p)
{
    if (p->stream)
        nh_ftcp_sync(p);
    else
        nh_fudp_sync(p);
}

nh_fproxy *nh_fproxy_new(int net, const nh_addr *listen, const nh_addr *upstream, uint64_t seed,
                         const char **sys)
{
    nh_fproxy *p = calloc(1, sizeof *p);
    if (!p) {
        *sys = NULL;
        return NULL;
    }
    p->stream = nh_net_is_stream(net);
    p->net = net;
    p->fd = -1;
    p->listen = *listen;
    p->upstream = *upstream;
    p->seed = seed;
    p->idle_timeout = 60;
    p->max_flows = 4096;
    p->enabled = 1;
    nh_histogram_init(&p->st.late);
    *sys = NULL;
    if (nh_ptimer_use() < 0) {
        nh_histogram_free(&p->st.late);
        free(p);
        return NULL;
    }
    if (nh_ptimer_init(&p->timer, p->stream ? nh_ftcp_on_timer : nh_fudp_on_timer) < 0 ||
        start(p, sys) < 0) {
        int e = errno;
        nh_ptimer_release();
        nh_histogram_free(&p->st.late);
        free(p);
        errno = e;
        return NULL;
    }
    return p;
}

/* Stop listening: connections and flows stay (the caller closes them). */
static void stop_listening(nh_fproxy *p)
{
    nh_fault_io_stop(&p->io);
    nh_ptimer_at(&p->timer, 0);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

void nh_fproxy_free(nh_fproxy *p)
{
    if (!p)
        return;
    close_all(p);
    stop_listening(p);
    for (nh_toxic *t = p->toxics, *next; t; t = next) {
        next = t->next;
        t->listed = 0;
        nh_toxic_release(t);
    }
    free(p->table);
    nh_histogram_free(&p->st.late);
    nh_ptimer_drop(&p->timer);
    nh_ptimer_release();
    free(p);
}

int nh_fproxy_enable(nh_fproxy *p, int on, const char **sys)
{
    if (on == p->enabled)
        return 0;
    if (!on) {   /* UDP keeps its socket: datagrams vanish rather than bounce */
        close_all(p);
        if (p->stream)
            stop_listening(p);
        p->enabled = 0;
        return 0;
    }
    if (p->fd < 0 && start(p, sys) < 0)
        return -1;
    p->enabled = 1;
    return 0;
}

void nh_fproxy_set_upstream(nh_fproxy *p, const nh_addr *upstream)
{
    p->upstream = *upstream;
    close_all(p);
}

nh_toxic *nh_fproxy_toxic(nh_fproxy *p, const char *name)
{
    for (nh_toxic *t = p->toxics; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

int nh_fproxy_add(nh_fproxy *p, const char *name, int type, int stream, double toxicity,
                  const double a[4])
{
    if (nh_fproxy_toxic(p, name)) {
        errno = EEXIST;
        return -1;
    }
    nh_toxic *t = nh_toxic_new(name, type, stream, toxicity, a);
    if (!t) {
        errno = ENOMEM;
        return -1;
    }
    nh_toxic **end = &p->toxics;
    while (*end)
        end = &(*end)->next;
    *end = t;
    sync_links(p);
    return 0;
}

int nh_fproxy_update(nh_fproxy *p, const char *name, double toxicity, const double a[4])
{
    nh_toxic *t = nh_fproxy_toxic(p, name);
    if (!t) {
        errno = ENOENT;
        return -1;
    }
    t->toxicity = toxicity;
    memcpy(t->a, a, sizeof t->a);
    t->gen++;
    sync_links(p);
    return 0;
}

int nh_fproxy_remove(nh_fproxy *p, const char *name)
{
    for (nh_toxic **pt = &p->toxics; *pt; pt = &(*pt)->next) {
        nh_toxic *t = *pt;
        if (strcmp(t->name, name) != 0)
            continue;
        *pt = t->next;
        t->next = NULL;
        t->listed = 0;
        sync_links(p);
        nh_toxic_release(t);
        return 0;
    }
    errno = ENOENT;
    return -1;
}
