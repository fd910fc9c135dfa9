/* Toxics as stages (core/toxic.c): what each makes of a chunk or a datagram,
 * without sockets or a loop; and the precise timers (core/ptimer.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/ptimer.h"
#include "../../core/toxic.h"
#include "../../core/wait.h"
#include "check.h"

/* Held datagrams that a sync gives back (only reorder holds one). */
static nh_plist rel;

static nh_toxic *tox(nh_toxic **list, const char *name, int type, int stream, double a0, double a1,
                     double a2)
{
    double a[4] = {a0, a1, a2, 0};
    nh_toxic *t = nh_toxic_new(name, type, stream, 1, a);
    nh_toxic **end = list;
    while (*end)
        end = &(*end)->next;
    *end = t;
    return t;
}

static void free_list(nh_toxic *list)
{
    while (list) {
        nh_toxic *next = list->next;
        nh_toxic_release(list);
        list = next;
    }
}

static nh_plist chunk(const char *s, double at)
{
    nh_piece *p = nh_piece_new(s, strlen(s), NH_PIECE_DATA, at);
    nh_plist l = {p, p};
    return l;
}

static int count_pieces(const nh_plist *l, size_t *bytes)
{
    int n = 0;
    *bytes = 0;
    for (nh_piece *p = l->head; p; p = p->next) {
        n++;
        *bytes += p->len;
    }
    return n;
}

static void test_latency_keeps_order(void)
{
    nh_toxic *list = NULL;
    tox(&list, "lat", NH_TOX_LATENCY, NH_DOWNSTREAM, 50, 20, 0);
    nh_stage *st = NULL;
    int n = 0;
    CHECK(nh_stages_sync(&st, &n, list, NH_DOWNSTREAM, 1, 0, 100, &rel) == 0 && n == 1);
    CHECK(nh_stages_active(st, n));
    double last = 0;
    int in_range = 1, ordered = 1;
    for (int i = 0; i < 1000; i++) {
        nh_plist l = chunk("x", 100 + i * 0.001);
        nh_stages_stream(st, n, &l);
        double d = l.head->at - (100 + i * 0.001);
        in_range &= d >= 0.030 - 1e-9 && (d <= 0.070 + 1e-9 || l.head->at == last);
        ordered &= l.head->at >= last;
        last = l.head->at;
        nh_plist_free(&l);
    }
    CHECK(in_range && ordered);
    CHECK(list->st.chunks == 1000 && list->st.links == 1);
    nh_stages_free(st, n);
    free_list(list);
}

static void test_bandwidth_slicer_limit(void)
{
    nh_toxic *list = NULL;
    tox(&list, "slice", NH_TOX_SLICER, NH_UPSTREAM, 10, 2, 1000);   /* 10 +- 2 bytes, 1 ms apart */
    tox(&list, "bw", NH_TOX_BANDWIDTH, NH_UPSTREAM, 1, 0, 0);        /* 1000 bytes a second */
    tox(&list, "limit", NH_TOX_LIMIT_DATA, NH_UPSTREAM, 95, 0, 0);
    nh_stage *st = NULL;
    int n = 0;
    CHECK(nh_stages_sync(&st, &n, list, NH_UPSTREAM, 1, 0, 0, &rel) == 0 && n == 3);
    nh_plist l = chunk("0123456789012345678901234567890123456789012345678901234567890123456789"
                       "012345678901234567890123456789", 10);   /* 100 bytes */
    nh_stages_stream(st, n, &l);
    size_t bytes;
    int pieces = count_pieces(&l, &bytes);
    CHECK(bytes == 95);                       /* limit_data cut it */
    CHECK(l.tail->kind == NH_PIECE_CLOSE);    /* and closes after */
    int sizes_ok = 1;
    for (nh_piece *p = l.head; p && p->kind == NH_PIECE_DATA; p = p->next)
        sizes_ok &= p->len <= 12;
    CHECK(sizes_ok && pieces >= 9);
    /* 95 bytes at 1000 B/s: the last leaves about 0.095 s after the first read. */
    CHECK(fabs(l.tail->at - (10 + 0.095)) < 0.015);
    nh_plist_free(&l);
    nh_plist more = chunk("more", 11);
    nh_stages_stream(st, n, &more);
    CHECK(more.head == NULL);                 /* nothing passes a closed limit */
    nh_stages_free(st, n);
    free_list(list);
}

static void test_timeout_reset_and_updates(void)
{
    nh_toxic *list = NULL;
    nh_toxic *t = tox(&list, "t", NH_TOX_TIMEOUT, NH_DOWNSTREAM, 100, 0, 0);
    nh_stage *st = NULL;
    int n = 0;
    nh_stages_sync(&st, &n, list, NH_DOWNSTREAM, 1, 0, 5, &rel);
    CHECK(fabs(nh_stages_deadline(st, n) - 5.1) < 1e-9);
    nh_plist none = {NULL, NULL};
    CHECK(nh_stages_due(st, n, 5.05, &none) == NH_PIECE_DATA);
    CHECK(nh_stages_due(st, n, 5.1, &none) == NH_PIECE_CLOSE);
    /* An update restarts the stage: the timeout runs from then. */
    t->a[0] = 200;
    t->gen++;
    nh_stages_sync(&st, &n, list, NH_DOWNSTREAM, 1, 0, 6, &rel);
    CHECK(fabs(nh_stages_deadline(st, n) - 6.2) < 1e-9);
    /* Removed from the list: its stage goes, the toxic lives while held. */
    list = NULL;
    t->listed = 0;
    nh_stages_sync(&st, &n, list, NH_DOWNSTREAM, 1, 0, 7, &rel);
    CHECK(n == 0 && st == NULL);
    nh_toxic_release(t);

    tox(&list, "r", NH_TOX_RESET_PEER, NH_UPSTREAM, 20, 0, 0);
    nh_stages_sync(&st, &n, list, NH_UPSTREAM, 1, 0, 1, &rel);
    CHECK(nh_stages_deadline(st, n) == 0);    /* armed by the first chunk */
    nh_plist l = chunk("hi", 2);
    nh_stages_stream(st, n, &l);
    CHECK(l.head == NULL);
    CHECK(fabs(nh_stages_deadline(st, n) - 2.02) < 1e-9);
    CHECK(nh_stages_due(st, n, 2.03, &none) == NH_PIECE_RESET);
    nh_stages_free(st, n);
    free_list(list);
}

static void test_datagram_toxics(void)
{
    nh_toxic *list = NULL;
    tox(&list, "loss", NH_TOX_LOSS, NH_UPSTREAM, 0.25, 0, 0);
    tox(&list, "dup", NH_TOX_DUPLICATE, NH_UPSTREAM, 0.1, 0, 0);
    tox(&list, "cut", NH_TOX_TRUNCATE, NH_UPSTREAM, 3, 0, 0);
    nh_stage *st = NULL, *st2 = NULL;
    int n = 0, n2 = 0;
    nh_stages_sync(&st, &n, list, NH_UPSTREAM, 9, 4, 0, &rel);
    nh_stages_sync(&st2, &n2, list, NH_UPSTREAM, 9, 4, 0, &rel);   /* the same flow again */
    int out = 0, same = 1, short_ok = 1;
    for (int i = 0; i < 20000; i++) {
        nh_plist a = chunk("datagram", i), b = chunk("datagram", i);
        nh_stages_datagram(st, n, &a);
        nh_stages_datagram(st2, n2, &b);
        size_t ba, bb;
        int ca = count_pieces(&a, &ba), cb = count_pieces(&b, &bb);
        same &= ca == cb;
        out += ca;
        for (nh_piece *p = a.head; p; p = p->next)
            short_ok &= p->len == 3;
        nh_plist_free(&a);
        nh_plist_free(&b);
    }
    CHECK(same && short_ok);
    /* 20000 * 0.75 * 1.1 = 16500; the 99.9% interval is about +- 230. */
    CHECK(out > 16250 && out < 16750);
    /* Both flows count in the toxics' stats, with the same decisions. */
    CHECK(list->st.dropped / 2 + out == 20000 + list->next->st.duplicated / 2);
    nh_stages_free(st, n);
    nh_stages_free(st2, n2);
    free_list(list);
}

static void test_reorder_gap_and_delay(void)
{
    nh_toxic *list = NULL;
    tox(&list, "re", NH_TOX_REORDER, NH_UPSTREAM, 1, 2, 50);   /* hold every one it can, gap 2 */
    nh_stage *st = NULL;
    int n = 0;
    nh_stages_sync(&st, &n, list, NH_UPSTREAM, 1, 0, 0, &rel);
    const char *in[] = {"a", "b", "c", "d"};
    char order[8] = {0};
    int k = 0;
    for (int i = 0; i < 4; i++) {
        nh_plist l = chunk(in[i], i);
        nh_stages_datagram(st, n, &l);
        for (nh_piece *p = l.head; p; p = p->next)
            order[k++] = p->data[0];
        nh_plist_free(&l);
    }
    CHECK(strcmp(order, "bca") == 0);          /* a held until b and c passed; d held now */
    CHECK(fabs(nh_stages_deadline(st, n) - 3.05) < 1e-9);
    nh_plist due = {NULL, NULL};
    nh_stages_due(st, n, 3.06, &due);          /* d's delay is up: it comes out */
    CHECK(due.head && due.head->data[0] == 'd' && due.head == due.tail);
    nh_plist_free(&due);
    nh_stages_free(st, n);
    free_list(list);
}

static int fired[2];
static void on_fire(nh_ptimer *t) { (void)t; fired[0]++; }
static void on_fire_b(nh_ptimer *t) { (void)t; fired[1]++; }
static void noop(struct ev_loop *loop, ev_timer *w, int revents) { (void)loop; (void)w; (void)revents; }

/* Issue 27: a slicer or bandwidth toxic cuts a chunk into pieces that share
 * it: no copy of the rest per cut (that was quadratic in time and memory). */
static void test_cut_pieces_share_their_chunk(void)
{
    static char big[65536];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    nh_toxic *list = NULL;
    tox(&list, "slice", NH_TOX_SLICER, NH_UPSTREAM, 1, 0, 10);   /* every byte a piece */
    tox(&list, "bw", NH_TOX_BANDWIDTH, NH_UPSTREAM, 10, 0, 0);   /* 10 KB/s: 1000-byte pieces */
    nh_stage *st = NULL;
    int n = 0;
    CHECK(nh_stages_sync(&st, &n, list, NH_UPSTREAM, 1, 0, 0, &rel) == 0 && n == 2);
    nh_piece *p0 = nh_piece_new(big, sizeof big, NH_PIECE_DATA, 0);
    nh_chunk *c = p0->chunk;
    nh_plist l = {p0, p0};
    nh_stages_stream(st, n, &l);
    size_t bytes, at = 0;
    int pieces = count_pieces(&l, &bytes), shared = 1, same = 1;
    for (nh_piece *p = l.head; p; p = p->next) {
        shared &= p->chunk == c;
        same &= memcmp(p->data, big + at, p->len) == 0;
        at += p->len;
    }
    CHECK(bytes == sizeof big && pieces == (int)sizeof big);
    CHECK(shared && same && c->refs == sizeof big);
    nh_plist_free(&l);
    nh_stages_free(st, n);
    free_list(list);

    /* A corrupted datagram whose bytes are shared gets its own copy first. */
    nh_piece *a = nh_piece_new("abc", 3, NH_PIECE_DATA, 0);
    nh_piece b = *a;
    a->chunk->refs++;
    CHECK(nh_piece_own(a) == 0 && a->chunk != b.chunk && b.chunk->refs == 1);
    a->data[0] = 'x';
    CHECK(b.data[0] == 'a');
    nh_piece_free(a);
    nh_piece_own(&b);   /* alone: kept */
    CHECK(b.data[0] == 'a');
    free(b.chunk);
}

/* Issue 27: syncing pairs stages with toxics in one walk, and a reorder
 * toxic removed or updated gives back the datagram it held. */
static void test_sync_merges_and_releases(void)
{
    nh_toxic *list = NULL;
    nh_toxic *t[5];
    nh_stage *st = NULL;
    int n = 0;
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        t[i] = tox(&list, name, i == 2 ? NH_TOX_REORDER : NH_TOX_LATENCY, NH_UPSTREAM,
                   i == 2 ? 1 : 0, 1, 50);
        nh_stages_sync(&st, &n, list, NH_UPSTREAM, 1, 0, 0, &rel);
    }
    CHECK(n == 5);
    nh_plist l = chunk("held", 1);
    nh_stages_datagram(st, n, &l);
    CHECK(l.head == NULL && st[2].held);
    /* An update to toxicity 0: the stage restarts off, the datagram goes. */
    t[2]->toxicity = 0;
    t[2]->gen++;
    nh_stages_sync(&st, &n, list, NH_UPSTREAM, 1, 0, 2, &rel);
    CHECK(rel.head && rel.head == rel.tail && rel.head->len == 4 && rel.head->at == 2);
    nh_plist_free(&rel);
    /* Held again, then removed (with t1, before it): given back too. */
    t[2]->toxicity = 1;
    t[2]->gen++;
    nh_stages_sync(&st, &n, list, NH_UPSTREAM, 1, 0, 3, &rel);
    l = chunk("again", 3);
    nh_stages_datagram(st, n, &l);
    CHECK(l.head == NULL && st[2].held);
    list->next = t[3];   /* t0 -> t3 -> t4 */
    t[1]->listed = t[2]->listed = 0;
    t[1]->next = t[2]->next = NULL;
    nh_stages_sync(&st, &n, list, NH_UPSTREAM, 1, 0, 4, &rel);
    CHECK(n == 3 && st[0].t == t[0] && st[1].t == t[3] && st[2].t == t[4]);
    CHECK(rel.head && rel.head->len == 5 && rel.head == rel.tail);
    nh_plist_free(&rel);
    nh_toxic_release(t[1]);
    nh_toxic_release(t[2]);
    /* One added after a removal gets its own stage at the end. */
    nh_toxic *t5 = tox(&list, "t5", NH_TOX_LATENCY, NH_UPSTREAM, 0, 0, 0);
    nh_stages_sync(&st, &n, list, NH_UPSTREAM, 1, 0, 5, &rel);
    CHECK(n == 4 && st[2].t == t[4] && st[3].t == t5 && rel.head == NULL);
    nh_stages_free(st, n);
    free_list(list);
}

static void test_ptimer(void)
{
    nh_ptimer a, b, c;
    CHECK(nh_ptimer_use() == 0);
    CHECK(nh_ptimer_init(&a, on_fire) == 0 && nh_ptimer_init(&b, on_fire_b) == 0 &&
          nh_ptimer_init(&c, on_fire_b) == 0);
    double t0 = nh_now();
    nh_ptimer_at(&a, t0 + 0.020);
    nh_ptimer_at(&b, t0 + 0.010);
    nh_ptimer_at(&c, t0 + 0.015);
    nh_ptimer_at(&c, 0);                        /* stopped: never fires */
    ev_timer guard;   /* the timers do not keep the loop running: this does */
    ev_timer_init(&guard, noop, 0.5, 0);
    ev_timer_start(NH_LOOP, &guard);
    while (fired[0] == 0 && nh_now() - t0 < 1)
        ev_run(NH_LOOP, EVRUN_ONCE);
    ev_timer_stop(NH_LOOP, &guard);
    double took = nh_now() - t0;
    CHECK(fired[0] == 1 && fired[1] == 1);   /* in time order; c never */
    CHECK(took >= 0.020 && took < 0.2);
    nh_ptimer_drop(&a);
    nh_ptimer_drop(&b);
    nh_ptimer_drop(&c);
    nh_ptimer_release();
}

void toxic_tests(void)
{
    run(test_latency_keeps_order);
    run(test_bandwidth_slicer_limit);
    run(test_timeout_reset_and_updates);
    run(test_datagram_toxics);
    run(test_reorder_gap_and_delay);
    run(test_cut_pieces_share_their_chunk);
    run(test_sync_merges_and_releases);
    run(test_ptimer);
}
