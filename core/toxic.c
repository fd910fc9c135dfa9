#include "toxic.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- pieces ---- */

static nh_chunk *chunk_new(const char *data, size_t len)
{
    nh_chunk *c = malloc(sizeof *c + len);
    if (!c)
        return NULL;
    c->refs = 1;
    c->len = (uint32_t)len;
    memcpy(c->data, data, len);
    return c;
}

static void chunk_release(nh_chunk *c)
{
    if (c && --c->refs == 0)
        free(c);
}

nh_piece *nh_piece_new(const char *data, size_t len, int kind, double at)
{
    nh_piece *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    p->next = NULL;
    p->at = at;
    p->chunk = NULL;
    p->data = NULL;
    p->len = (uint32_t)len;
    p->off = 0;
    p->kind = (unsigned char)kind;
    p->timed = 0;
    if (len) {
        if (!(p->chunk = chunk_new(data, len))) {
            free(p);
            return NULL;
        }
        p->data = p->chunk->data;
    }
    return p;
}

int nh_piece_own(nh_piece *p)
{
    if (!p->chunk || p->chunk->refs == 1)
        return 0;
    nh_chunk *c = chunk_new(p->data, p->len);
    if (!c)
        return -1;
    chunk_release(p->chunk);
    p->chunk = c;
    p->data = c->data;
    return 0;
}

void nh_piece_free(nh_piece *p)
{
    if (p) {
        chunk_release(p->chunk);
        free(p);
    }
}

void nh_plist_push(nh_plist *l, nh_piece *p)
{
    p->next = NULL;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
}

static nh_piece *plist_pop(nh_plist *l)
{
    nh_piece *p = l->head;
    if (p) {
        l->head = p->next;
        if (!l->head)
            l->tail = NULL;
        p->next = NULL;
    }
    return p;
}

void nh_plist_free(nh_plist *l)
{
    nh_piece *p;
    while ((p = plist_pop(l)))
        nh_piece_free(p);
}

/* Cut p after `keep` bytes; the rest becomes a new piece sharing p's chunk
 * (NULL without memory: p is then left whole). */
static nh_piece *piece_split(nh_piece *p, size_t keep)
{
    nh_piece *rest = malloc(sizeof *rest);
    if (!rest)
        return NULL;
    *rest = *p;
    rest->next = NULL;
    rest->data = p->data + keep;
    rest->len = p->len - (uint32_t)keep;
    rest->off = 0;
    p->chunk->refs++;
    p->len = (uint32_t)keep;
    return rest;
}

/* ---- toxics ---- */

nh_toxic *nh_toxic_new(const char *name, int type, int stream, double toxicity, const double a[4])
{
    nh_toxic *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->type = type;
    t->stream = stream;
    t->toxicity = toxicity;
    memcpy(t->a, a, sizeof t->a);
    t->refs = 1;
    t->listed = 1;
    return t;
}

void nh_toxic_release(nh_toxic *t)
{
    if (t && --t->refs == 0) {
        free(t->name);
        free(t);
    }
}

/* ---- stages ---- */

static double ms(double v) { return v / 1e3; }

/* A stage (re)starts: on link start, on a toxic's add or update. */
static void stage_restart(nh_stage *s, double now)
{
    nh_toxic *t = s->t;
    s->gen = t->gen;
    s->on = (unsigned char)nh_prng_chance(&s->r, NULL, t->toxicity, 0);
    if (s->on)
        t->st.links++;
    if (t->type == NH_TOX_TIMEOUT)
        s->when = s->on && t->a[0] > 0 ? now + ms(t->a[0]) : 0;
    else if (t->type == NH_TOX_RESET_PEER) {
        s->when = 0;
        s->count = 0;
    }
}

static void stage_free(nh_stage *s)
{
    nh_piece_free(s->held);
    free(s->ring);
    nh_toxic_release(s->t);
    memset(s, 0, sizeof *s);
}

/* A stage that goes, or restarts, gives back the datagram it holds: a
 * reorder toxic removed or updated (toxicity 0, say) must not lose it. */
static void stage_release_held(nh_stage *s, double now, nh_plist *out)
{
    if (!s->held)
        return;
    s->held->at = now;
    nh_plist_push(out, s->held);
    s->held = NULL;
    s->when = 0;
}

/* A merge: the stages follow the list's order, and the list only ever loses
 * toxics or gains them at its end, so one walk pairs each toxic with its
 * stage (O(toxics) per link, where a search per toxic made adding toxics
 * cubic over a proxy's links). */
int nh_stages_sync(nh_stage **pst, int *pn, nh_toxic *list, int stream, uint64_t seed,
                   uint64_t index, double now, nh_plist *released)
{
    nh_stage *old = *pst;
    int n = *pn, m = 0;
    for (nh_toxic *t = list; t; t = t->next)
        m += t->stream == stream;
    nh_stage *st = m ? calloc((size_t)m, sizeof *st) : NULL;
    if (m && !st)
        return -1;
    int i = 0, j = 0;
    for (nh_toxic *t = list; t; t = t->next) {
        if (t->stream != stream)
            continue;
        nh_stage *s = &st[i++];
        while (j < n && old[j].t != t && !old[j].t->listed) {   /* removed */
            stage_release_held(&old[j], now, released);
            stage_free(&old[j++]);
        }
        if (j < n && old[j].t == t) {
            *s = old[j++];
            if (s->gen != t->gen) {
                stage_release_held(s, now, released);
                stage_restart(s, now);
            }
            continue;
        }
        s->t = t;
        t->refs++;
        nh_prng_seed(&s->r, seed, t->name, index);
        stage_restart(s, now);
    }
    for (; j < n; j++) {
        stage_release_held(&old[j], now, released);
        stage_free(&old[j]);
    }
    free(old);
    *pst = st;
    *pn = m;
    return 0;
}

void nh_stages_free(nh_stage *st, int n)
{
    for (int i = 0; i < n; i++)
        stage_free(&st[i]);
    free(st);
}

int nh_stages_active(const nh_stage *st, int n)
{
    for (int i = 0; i < n; i++)
        if (st[i].on && st[i].t->type != NH_TOX_NOOP)
            return 1;
    return 0;
}

double nh_stages_deadline(const nh_stage *st, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        if (st[i].on && st[i].when > 0 && (d == 0 || st[i].when < d))
            d = st[i].when;
    return d;
}

static void datagram_from(nh_stage *st, int n, int from, nh_plist *l);

int nh_stages_due(nh_stage *st, int n, double now, nh_plist *out)
{
    for (int i = 0; i < n; i++) {
        nh_stage *s = &st[i];
        if (!s->on || s->when <= 0 || s->when > now)
            continue;
        switch (s->t->type) {
        case NH_TOX_TIMEOUT:
            s->t->st.closed++;
            return NH_PIECE_CLOSE;
        case NH_TOX_RESET_PEER:
            s->t->st.resets++;
            return NH_PIECE_RESET;
        case NH_TOX_REORDER: {
            nh_plist l = {NULL, NULL};
            s->held->at = now;
            nh_plist_push(&l, s->held);
            s->held = NULL;
            s->when = 0;
            datagram_from(st, n, i + 1, &l);
            for (nh_piece *p; (p = plist_pop(&l));)
                nh_plist_push(out, p);
            break;
        }
        default:
            s->when = 0;
        }
    }
    return NH_PIECE_DATA;
}

/* The latency a piece gets: latency plus jitter, uniform in [-jitter, +jitter)
 * as Toxiproxy draws it, or normal with jitter as its deviation (UDP's
 * distribution = "normal"); never below 0. */
static double latency_draw(nh_stage *s)
{
    const double *a = s->t->a;
    double d = a[0];
    if (a[1] > 0)
        d += a[2] == 1 ? nh_prng_normal(&s->r) * a[1] : (2 * nh_prng_uniform(&s->r) - 1) * a[1];
    return d > 0 ? ms(d) : 0;
}

static void count(nh_stage *s, const nh_piece *p)
{
    s->t->st.chunks++;
    s->t->st.bytes += p->len;
}

static void drop(nh_stage *s, nh_piece *p)
{
    s->t->st.dropped++;
    s->t->st.dropped_bytes += p->len;
    nh_piece_free(p);
}

/* ---- TCP: each stage rewrites the list in order ---- */

static void stream_stage(nh_stage *s, nh_plist *in, nh_plist *out)
{
    const double *a = s->t->a;
    nh_piece *p;
    while ((p = plist_pop(in))) {
        if (p->kind != NH_PIECE_DATA) {
            if (p->kind == NH_PIECE_EOF && s->t->type == NH_TOX_SLOW_CLOSE)
                p->at += ms(a[0]);
            if (p->at < s->t_free)
                p->at = s->t_free;
            nh_plist_push(out, p);
            continue;
        }
        count(s, p);
        switch (s->t->type) {
        case NH_TOX_LATENCY: {
            double at = p->at + latency_draw(s);
            p->at = at > s->t_free ? at : s->t_free;
            s->t_free = p->at;
            s->t->st.delayed++;
            nh_plist_push(out, p);
            break;
        }
        case NH_TOX_BANDWIDTH: {
            double rate = a[0] * 1000;   /* bytes a second */
            if (rate <= 0) {
                nh_plist_push(out, p);
                break;
            }
            /* Pieces of at most 100 ms at the rate, as Toxiproxy sends them. */
            size_t most = rate / 10 >= 1 ? (size_t)(rate / 10) : 1;
            while (p) {
                nh_piece *rest = p->len > most ? piece_split(p, most) : NULL;
                double start = p->at > s->t_free ? p->at : s->t_free;
                p->at = start + p->len / rate;
                s->t_free = p->at;
                nh_plist_push(out, p);
                p = rest;
            }
            s->t->st.delayed++;
            break;
        }
        case NH_TOX_SLICER: {
            double avg = a[0], var = a[1];
            double t = p->at > s->t_free ? p->at : s->t_free;
            while (p) {
                size_t size = p->len;
                if (avg >= 1) {
                    double v = var > 0 ? avg + (2 * nh_prng_uniform(&s->r) - 1) * var : avg;
                    size = v < 1 ? 1 : (size_t)v;
                }
                nh_piece *rest = p->len > size ? piece_split(p, size) : NULL;
                p->at = t;
                nh_plist_push(out, p);
                t += a[2] / 1e6;
                p = rest;
            }
            s->t_free = t;
            break;
        }
        case NH_TOX_LIMIT_DATA: {
            uint64_t limit = a[0] > 0 ? (uint64_t)a[0] : 0;
            if (s->when < 0) {          /* closed already: nothing more goes */
                drop(s, p);
                break;
            }
            if (s->count + p->len < limit) {
                s->count += p->len;
                nh_plist_push(out, p);
                break;
            }
            size_t keep = (size_t)(limit - s->count);
            s->count = limit;
            s->when = -1;
            double at = p->at;
            if (keep) {
                if (keep < p->len) {
                    s->t->st.dropped_bytes += p->len - keep;
                    p->len = (uint32_t)keep;
                }
                nh_plist_push(out, p);
            } else {
                drop(s, p);
            }
            nh_piece *c = nh_piece_new(NULL, 0, NH_PIECE_CLOSE, at);
            if (c)
                nh_plist_push(out, c);
            s->t->st.closed++;
            break;
        }
        case NH_TOX_TIMEOUT:
            drop(s, p);
            break;
        case NH_TOX_RESET_PEER:
            if (!s->count) {            /* the first chunk starts the countdown */
                s->count = 1;
                s->when = p->at + ms(a[0]);
                if (s->when <= 0)
                    s->when = 1e-9;
            }
            drop(s, p);
            break;
        default:                        /* noop, slow_close */
            nh_plist_push(out, p);
        }
    }
}

void nh_stages_stream(nh_stage *st, int n, nh_plist *l)
{
    for (int i = 0; i < n; i++) {
        if (!st[i].on || st[i].t->type == NH_TOX_NOOP)
            continue;
        nh_plist out = {NULL, NULL};
        stream_stage(&st[i], l, &out);
        *l = out;
    }
}

/* ---- UDP: per datagram ---- */

/* bandwidth's queue: the leaving times of the datagrams it holds. */
static int ring_push(nh_stage *s, double at, uint32_t cap)
{
    if (!s->ring || s->ring_cap != cap) {
        double *r = realloc(s->ring, cap * sizeof *r);
        if (!r)
            return -1;
        s->ring = r;
        s->ring_cap = cap;
        s->ring_head = s->ring_n = 0;
    }
    s->ring[(s->ring_head + s->ring_n) % cap] = at;
    s->ring_n++;
    return 0;
}

static void datagram_stage(nh_stage *s, nh_piece *p, nh_plist *out)
{
    const double *a = s->t->a;
    nh_toxic_stats *st = &s->t->st;
    count(s, p);
    switch (s->t->type) {
    case NH_TOX_LATENCY:
        p->at += latency_draw(s);
        st->delayed++;
        break;
    case NH_TOX_LOSS:
        if (nh_prng_chance(&s->r, &s->c, a[0], a[1])) {
            drop(s, p);
            return;
        }
        break;
    case NH_TOX_DUPLICATE:
        if (nh_prng_chance(&s->r, NULL, a[0], 0)) {
            nh_piece *d = nh_piece_new(p->data, p->len, NH_PIECE_DATA, p->at);
            if (d) {
                nh_plist_push(out, p);
                st->duplicated++;
                p = d;
            }
        }
        break;
    case NH_TOX_CORRUPT:
        if (p->len && nh_prng_chance(&s->r, NULL, a[0], 0) && nh_piece_own(p) == 0) {
            uint64_t bit = nh_prng_below(&s->r, (uint64_t)p->len * 8);
            p->data[bit / 8] ^= (char)(1u << (bit % 8));
            st->corrupted++;
        }
        break;
    case NH_TOX_TRUNCATE:
        if (a[0] >= 0 && p->len > a[0]) {
            p->len = (uint32_t)a[0];
            st->truncated++;
        }
        break;
    case NH_TOX_DOWN:
        drop(s, p);
        return;
    case NH_TOX_BANDWIDTH: {
        double rate = a[0] * 1000;
        if (rate <= 0)
            break;
        uint32_t cap = a[1] >= 1 ? (uint32_t)a[1] : 0;
        while (s->ring_n && s->ring[s->ring_head] <= p->at) {   /* gone by now */
            s->ring_head = (s->ring_head + 1) % s->ring_cap;
            s->ring_n--;
        }
        double start = p->at > s->t_free ? p->at : s->t_free;
        double leave = start + p->len / rate;
        if (cap && (s->ring_n >= cap || ring_push(s, leave, cap) < 0)) {
            drop(s, p);   /* the queue is full */
            return;
        }
        p->at = s->t_free = leave;
        st->delayed++;
        break;
    }
    case NH_TOX_REORDER:
        if (s->held) {
            if (++s->count >= (a[1] >= 1 ? a[1] : 1)) {   /* gap later ones passed: after this one */
                nh_piece *h = s->held;
                s->held = NULL;
                s->when = 0;
                h->at = p->at;
                nh_plist_push(out, p);
                p = h;
            }
        } else if (nh_prng_chance(&s->r, NULL, a[0], 0)) {
            s->held = p;
            s->count = 0;
            s->when = p->at + (a[2] > 0 ? ms(a[2]) : 0.01);
            st->reordered++;
            return;
        }
        break;
    default:
        break;
    }
    nh_plist_push(out, p);
}

static void datagram_from(nh_stage *st, int n, int from, nh_plist *l)
{
    for (int i = from; i < n; i++) {
        if (!st[i].on || st[i].t->type == NH_TOX_NOOP)
            continue;
        nh_plist out = {NULL, NULL};
        nh_piece *p;
        while ((p = plist_pop(l)))
            datagram_stage(&st[i], p, &out);
        *l = out;
    }
}

void nh_stages_datagram(nh_stage *st, int n, nh_plist *l)
{
    datagram_from(st, n, 0, l);
}
