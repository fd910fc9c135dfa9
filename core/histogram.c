#include "histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_US ((UINT64_C(1) << 62) - 1)   /* beyond any real latency */

void nh_histogram_init(nh_histogram *h)
{
    h->n = 0;
    h->sum = 0;
    h->lo = INFINITY;
    h->hi = 0;
    for (int i = 0; i < NH_HIST_EXACT; i++)
        h->exact[i] = 0;
    for (int i = 0; i < NH_HIST_OCTAVES; i++)
        h->octave[i] = NULL;
}

void nh_histogram_free(nh_histogram *h)
{
    for (int i = 0; i < NH_HIST_OCTAVES; i++) {
        free(h->octave[i]);
        h->octave[i] = NULL;
    }
}

/* A value of b significant bits >= 11 is kept to its top 10 (512..1023):
 * doubling b - 11, step v - 512. */
int nh_histogram_record(nh_histogram *h, double seconds)
{
    if (seconds < 0)
        seconds = 0;
    double us_f = floor(seconds * 1e6 + 0.5);
    uint64_t us = us_f >= (double)MAX_US ? MAX_US : (uint64_t)us_f;
    uint64_t *slot;
    if (us < NH_HIST_EXACT) {
        slot = &h->exact[us];
    } else {
        int shift = 64 - __builtin_clzll(us) - 10;
        uint64_t **block = &h->octave[shift - 1];
        if (!*block && !(*block = calloc(NH_HIST_STEPS, sizeof **block)))
            return -1;
        slot = &(*block)[(us >> shift) - NH_HIST_STEPS];
    }
    (*slot)++;
    h->n++;
    h->sum += seconds;
    if (seconds < h->lo)
        h->lo = seconds;
    if (seconds > h->hi)
        h->hi = seconds;
    return 0;
}

void nh_histogram_reset(nh_histogram *h)
{
    memset(h->exact, 0, sizeof h->exact);
    for (int i = 0; i < NH_HIST_OCTAVES; i++)
        if (h->octave[i])
            memset(h->octave[i], 0, NH_HIST_STEPS * sizeof *h->octave[i]);
    h->n = 0;
    h->sum = 0;
    h->lo = INFINITY;
    h->hi = 0;
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
        dst->lo = fmin(dst->lo, src->lo);
        dst->hi = fmax(dst->hi, src->hi);
    }
    dst->n += src->n;
    dst->sum += src->sum;
    return 0;
}

double nh_histogram_percentile(const nh_histogram *h, double p)
{
    if (h->n == 0)
        return 0;
    double rank = ceil((double)h->n * p / 100);
    uint64_t seen = 0;
    for (int b = 0; b < NH_HIST_EXACT; b++) {
        seen += h->exact[b];
        if ((double)seen >= rank)
            return seen == h->n ? h->hi : fmin(b / 1e6, h->hi);
    }
    for (int i = 0; i < NH_HIST_OCTAVES; i++) {
        const uint64_t *block = h->octave[i];
        if (!block)
            continue;
        for (int j = 0; j < NH_HIST_STEPS; j++) {
            seen += block[j];
            if ((double)seen >= rank) {
                if (seen == h->n)
                    return h->hi;   /* the top bucket: its highest value is the max */
                uint64_t highest = ((uint64_t)(NH_HIST_STEPS + j + 1) << (i + 1)) - 1;
                return fmin((double)highest / 1e6, h->hi);
            }
        }
    }
    return h->hi;
}

size_t nh_histogram_buckets(const nh_histogram *h)
{
    size_t n = NH_HIST_EXACT;
    for (int i = 0; i < NH_HIST_OCTAVES; i++)
        if (h->octave[i])
            n += NH_HIST_STEPS;
    return n;
}
