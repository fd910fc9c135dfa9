#include "histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nh_histogram_init(nh_histogram *h)
{
    memset(h, 0, sizeof *h);
    h->lo = UINT64_MAX;
}

void nh_histogram_free(nh_histogram *h)
{
    for (int i = 0; i < NH_HIST_OCTAVES; i++) {
        free(h->octave[i]);
        h->octave[i] = NULL;
    }
}

/* HdrHistogram's index: a value below 2048 is its own index; one of b >= 12
 * significant bits keeps its top 11 (1024..2047), in doubling k = b - 11, at
 * index k * 1024 + (us >> k). */
size_t nh_histogram_index(uint64_t us)
{
    if (us < NH_HIST_EXACT)
        return (size_t)us;
    int k = 64 - __builtin_clzll(us) - 11;
    return (size_t)k * NH_HIST_STEPS + (size_t)(us >> k);
}

static int octave_of(size_t i)
{
    return (int)(i / NH_HIST_STEPS) - 1;   /* 1 for the first doubling above */
}

uint64_t nh_histogram_lowest(size_t i)
{
    if (i < NH_HIST_EXACT)
        return i;
    int k = octave_of(i);
    return (uint64_t)(i - (size_t)k * NH_HIST_STEPS) << k;
}

uint64_t nh_histogram_highest(size_t i)
{
    if (i < NH_HIST_EXACT)
        return i;
    return nh_histogram_lowest(i) + (UINT64_C(1) << octave_of(i)) - 1;
}

static uint64_t *slot(nh_histogram *h, size_t i, int make)
{
    if (i < NH_HIST_EXACT)
        return &h->exact[i];
    uint64_t **block = &h->octave[octave_of(i) - 1];
    if (!*block && (!make || !(*block = calloc(NH_HIST_STEPS, sizeof **block))))
        return NULL;
    return &(*block)[i % NH_HIST_STEPS];
}

uint64_t nh_histogram_count_at(const nh_histogram *h, size_t i)
{
    uint64_t *s = slot((nh_histogram *)h, i, 0);
    return s ? *s : 0;
}

int nh_histogram_record_us(nh_histogram *h, uint64_t us, uint64_t count)
{
    if (us > NH_HIST_MAX_US)
        us = NH_HIST_MAX_US;
    uint64_t *s = slot(h, nh_histogram_index(us), 1);
    if (!s)
        return -1;
    *s += count;
    h->n += count;
    h->sum += (double)us * (double)count;
    if (us < h->lo)
        h->lo = us;
    if (us > h->hi)
        h->hi = us;
    return 0;
}

int nh_histogram_record(nh_histogram *h, double seconds)
{
    double us = floor(seconds * 1e6 + 0.5);
    return nh_histogram_record_us(h, us <= 0 ? 0 : us >= (double)NH_HIST_MAX_US ? NH_HIST_MAX_US
                                                                                 : (uint64_t)us, 1);
}

void nh_histogram_reset(nh_histogram *h)
{
    memset(h->exact, 0, sizeof h->exact);
    for (int i = 0; i < NH_HIST_OCTAVES; i++)
        if (h->octave[i])
            memset(h->octave[i], 0, NH_HIST_STEPS * sizeof *h->octave[i]);
    h->n = h->hi = 0;
    h->sum = 0;
    h->lo = UINT64_MAX;
}

int nh_histogram_merge(nh_histogram *dst, const nh_histogram *src)
{
    /* Make every block first, so a failure leaves dst as it was. */
    for (int i = 0; i < NH_HIST_OCTAVES; i++)
        if (src->octave[i] && !dst->octave[i] &&
            !(dst->octave[i] = calloc(NH_HIST_STEPS, sizeof *dst->octave[i])))
            return -1;
    for (int b = 0; b < NH_HIST_EXACT; b++)
        dst->exact[b] += src->exact[b];
    for (int i = 0; i < NH_HIST_OCTAVES; i++)
        if (src->octave[i])
            for (int j = 0; j < NH_HIST_STEPS; j++)
                dst->octave[i][j] += src->octave[i][j];
    if (src->n) {
        dst->lo = src->lo < dst->lo ? src->lo : dst->lo;
        dst->hi = src->hi > dst->hi ? src->hi : dst->hi;
    }
    dst->n += src->n;
    dst->sum += src->sum;
    return 0;
}

size_t nh_histogram_limit(const nh_histogram *h)
{
    return h->n ? nh_histogram_index(h->hi) + 1 : 0;
}

double nh_histogram_percentile(const nh_histogram *h, double p)
{
    if (h->n == 0)
        return 0;
    double rank = ceil((double)h->n * p / 100);
    uint64_t seen = 0;
    size_t limit = nh_histogram_limit(h);
    for (size_t i = 0; i < limit; i++) {
        if (i >= NH_HIST_EXACT && i % NH_HIST_STEPS == 0 && !h->octave[octave_of(i) - 1]) {
            i += NH_HIST_STEPS - 1;   /* a doubling nothing fell in */
            continue;
        }
        seen += nh_histogram_count_at(h, i);
        if ((double)seen >= rank) {
            uint64_t top = nh_histogram_highest(i);
            return (double)(top < h->hi ? top : h->hi) / 1e6;
        }
    }
    return (double)h->hi / 1e6;
}

size_t nh_histogram_buckets(const nh_histogram *h)
{
    size_t n = NH_HIST_EXACT;
    for (int i = 0; i < NH_HIST_OCTAVES; i++)
        if (h->octave[i])
            n += NH_HIST_STEPS;
    return n;
}
