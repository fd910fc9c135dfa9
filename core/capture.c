#include "capture.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Packets read in one turn of the loop at most: under a flood the ring never
 * empties, and the tasks making the traffic need their turns too. The
 * watcher is level-triggered, so what is left is read on the next turn. */
#define READ_BATCH 1024

#define REC_ALIGN 8

static void watcher_stop(nh_capture *c)
{
    if (!ev_is_active(&c->io))
        return;
    ev_ref(NH_LOOP);
    ev_io_stop(NH_LOOP, &c->io);
}

static void on_ready(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    nh_capture_read((nh_capture *)io);
}

static void fail_with(char *err, size_t errcap, const char *what, const char *msg)
{
    snprintf(err, errcap, "%s%s%s", what, *what ? ": " : "", msg);
}

int nh_capture_open(nh_capture *c, const nh_capture_opts *o, char *err, size_t errcap, int *why)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    const char *dev = o->interface ? o->interface : "lo";

    memset(c, 0, sizeof *c);
    c->keep = o->keep;
    c->keep_bytes = o->keep_bytes;
    c->count = o->count;
    *why = NH_CAPERR_OTHER;

    c->p = pcap_create(dev, ebuf);
    if (!c->p) {
        fail_with(err, errcap, "pcap_create", ebuf);
        return -1;
    }
    pcap_set_snaplen(c->p, o->snaplen > 0 ? o->snaplen : 262144);
    pcap_set_promisc(c->p, 0);
    c->batched = o->batched;
    if (o->batched)
        pcap_set_timeout(c->p, NH_CAPTURE_BATCH_MS);
    else
        pcap_set_immediate_mode(c->p, 1);
    if (o->buffer_size > 0)
        pcap_set_buffer_size(c->p, o->buffer_size);

    int rc = pcap_activate(c->p);
    if (rc < 0) {
        if (rc == PCAP_ERROR_PERM_DENIED)
            *why = NH_CAPERR_PERM;
        else if (rc == PCAP_ERROR_NO_SUCH_DEVICE || rc == PCAP_ERROR_IFACE_NOT_UP)
            *why = NH_CAPERR_NODEV;
        const char *msg = pcap_geterr(c->p);
        fail_with(err, errcap, "", *msg ? msg : pcap_statustostr(rc));
        goto fail;
    }
    c->linktype = pcap_datalink(c->p);

    if (o->filter && *o->filter) {
        struct bpf_program prog;
        if (pcap_compile(c->p, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
            *why = NH_CAPERR_FILTER;
            fail_with(err, errcap, "", pcap_geterr(c->p));
            goto fail;
        }
        rc = pcap_setfilter(c->p, &prog);
        pcap_freecode(&prog);
        if (rc < 0) {
            *why = NH_CAPERR_FILTER;
            fail_with(err, errcap, "", pcap_geterr(c->p));
            goto fail;
        }
    }
    if (pcap_setnonblock(c->p, 1, ebuf) < 0) {
        fail_with(err, errcap, "pcap_setnonblock", ebuf);
        goto fail;
    }
    int fd = pcap_get_selectable_fd(c->p);
    if (fd < 0) {
        fail_with(err, errcap, "", "this device has no descriptor to wait on");
        goto fail;
    }
    if (o->file) {
        c->dump = pcap_dump_open(c->p, o->file);
        if (!c->dump) {
            c->sys_errno = errno;
            *why = NH_CAPERR_FILE;
            fail_with(err, errcap, "", pcap_geterr(c->p));
            goto fail;
        }
    }
    /* The watcher keeps running for as long as the capture does; it must not
     * keep the loop alive (a script that ends leaves it running). */
    ev_io_init(&c->io, on_ready, fd, EV_READ);
    ev_io_start(NH_LOOP, &c->io);
    ev_unref(NH_LOOP);
    return 0;

fail:
    pcap_close(c->p);
    c->p = NULL;
    return -1;
}

/* Copy a packet into the store if it has room for it. */
static void keep(nh_capture *c, const struct pcap_pkthdr *h, const u_char *bytes, double offset)
{
    size_t need = (sizeof(nh_capture_rec) + h->caplen + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1);
    if (c->st.kept >= c->keep || need > c->keep_bytes - c->used) {
        c->st.not_kept++;
        return;
    }
    if (c->used + need > c->size) {
        size_t size = c->size ? c->size : 64 * 1024;
        while (size < c->used + need)
            size *= 2;
        if (size > c->keep_bytes)
            size = c->keep_bytes;
        uint8_t *grown = realloc(c->store, size);
        if (!grown) {
            c->st.not_kept++;
            return;
        }
        c->store = grown;
        c->size = size;
    }
    nh_capture_rec *r = (nh_capture_rec *)(c->store + c->used);
    r->sec = h->ts.tv_sec;
    r->usec = (uint32_t)h->ts.tv_usec;
    r->caplen = h->caplen;
    r->len = h->len;
    r->mono = (double)h->ts.tv_sec + (double)h->ts.tv_usec * 1e-6 - offset;
    memcpy(r + 1, bytes, h->caplen);
    c->used += need;
    c->st.kept++;
}

typedef struct read_ctx {
    nh_capture *c;
    double offset;   /* wall clock - monotonic clock, read once a batch */
} read_ctx;

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    read_ctx *x = (read_ctx *)user;
    if (x->c->count && x->c->st.seen >= x->c->count)
        return;   /* past the count asked for: not ours */
    if (x->c->dump)
        pcap_dump((u_char *)x->c->dump, h, bytes);
    x->c->st.seen++;
    if (x->c->keep)
        keep(x->c, h, bytes, x->offset);
}

static double clock_offset(void)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    return (double)wall.tv_sec + (double)wall.tv_nsec * 1e-9 - nh_now();
}

void nh_capture_read(nh_capture *c)
{
    if (!c->p || c->failed)
        return;
    read_ctx x = {c, c->keep ? clock_offset() : 0};
    uint64_t before = c->st.seen;
    int n = pcap_dispatch(c->p, READ_BATCH, on_packet, (u_char *)&x);
    if (n == PCAP_ERROR) {   /* the interface went away, say */
        c->failed = 1;
        snprintf(c->error, sizeof c->error, "%s", pcap_geterr(c->p));
        watcher_stop(c);
        nh_queue_wake_all(&c->waiters, NH_WAKE_CLOSED);
        return;
    }
    if (c->st.seen != before)
        nh_queue_wake_all(&c->waiters, NH_WAKE_READY);
}

int nh_capture_stop(nh_capture *c, char *err, size_t errcap)
{
    int rc = 0;
    if (!c->p)
        return 0;
    watcher_stop(c);
    if (c->batched && !c->failed) {   /* the block being filled is handed over by its timeout */
        struct pollfd pfd = {.fd = c->io.fd, .events = POLLIN};
        poll(&pfd, 1, 2 * NH_CAPTURE_BATCH_MS);
    }
    /* What the kernel holds for us was matched before the stop: read it all. */
    for (int i = 0; i < 1024 && !c->failed; i++) {
        uint64_t before = c->st.seen;
        nh_capture_read(c);
        if (c->st.seen == before)
            break;
    }
    struct pcap_stat ps;
    if (pcap_stats(c->p, &ps) == 0) {
        c->st.received = ps.ps_recv;
        c->st.dropped = ps.ps_drop;
        c->st.if_dropped = ps.ps_ifdrop;
    }
    if (c->dump) {
        FILE *f = pcap_dump_file(c->dump);
        if (pcap_dump_flush(c->dump) < 0 || ferror(f)) {
            fail_with(err, errcap, "writing the capture file", "write error");
            rc = -1;
        }
        pcap_dump_close(c->dump);
        c->dump = NULL;
    }
    pcap_close(c->p);
    c->p = NULL;
    nh_queue_wake_all(&c->waiters, NH_WAKE_CLOSED);
    return rc;
}

const nh_capture_rec *nh_capture_next(const nh_capture *c, size_t *pos)
{
    if (*pos >= c->used)
        return NULL;
    const nh_capture_rec *r = (const nh_capture_rec *)(c->store + *pos);
    *pos += (sizeof *r + r->caplen + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1);
    return r;
}

void nh_capture_clear(nh_capture *c)
{
    c->used = 0;
    c->st.kept = 0;
}

void nh_capture_free(nh_capture *c)
{
    char err[8];
    nh_capture_stop(c, err, sizeof err);
    free(c->store);
    c->store = NULL;
    c->used = c->size = 0;
}
