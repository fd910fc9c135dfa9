/*
 * A latency histogram for load generators, laid out as HdrHistogram's with a
 * lowest discernible value of 1 us and three significant digits: counts of
 * whole microseconds, exact below 2048 us and 1024 buckets per doubling above
 * (within 0.1 %). The same layout is what lets export and import (hdr_codec.h)
 * be exact, and HdrHistogram's own tools read what we write.
 *
 * Recording is on a load generator's hot path (once per request), so it is a
 * few arithmetic operations and one increment, with no allocation once the
 * doubling a value falls in has been seen. Memory is bounded whatever the
 * count: 2048 exact counters, and a block of 1024 for each doubling seen.
 */
#ifndef NH_HISTOGRAM_H
#define NH_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define NH_HIST_EXACT 2048   /* HdrHistogram's sub-bucket count for 3 digits */
#define NH_HIST_HALF_MAG 10
#define NH_HIST_STEPS 1024   /* its half count: buckets per doubling above */
#define NH_HIST_OCTAVES 51   /* values up to 2^62 us */
#define NH_HIST_MAX_US ((UINT64_C(1) << 62) - 1)

typedef struct nh_histogram {
    uint64_t n;
    uint64_t lo, hi;   /* whole microseconds, as recorded */
    double sum;        /* of them, in microseconds (no overflow) */
    uint64_t exact[NH_HIST_EXACT];
    uint64_t *octave[NH_HIST_OCTAVES];   /* NULL until a value falls there */
} nh_histogram;

void nh_histogram_init(nh_histogram *h);
void nh_histogram_free(nh_histogram *h);

/* Record one latency in seconds (not NaN; below 0 counts as 0), rounded to
 * the microsecond. -1 with nothing recorded when a block cannot be allocated. */
int nh_histogram_record(nh_histogram *h, double seconds);

/* Add count values of us microseconds at once (what a decoder does). */
int nh_histogram_record_us(nh_histogram *h, uint64_t us, uint64_t count);

/* Empty it again, keeping the blocks it has (a reused histogram does not
 * allocate again for the values it saw). */
void nh_histogram_reset(nh_histogram *h);

/* Add every value of src to dst, exactly: afterwards dst answers as if it had
 * recorded them itself. -1 (dst unchanged) without memory for a block. */
int nh_histogram_merge(nh_histogram *dst, const nh_histogram *src);

/* The latency that p percent of the recorded ones do not exceed, 0 < p <= 100:
 * the highest value of its bucket, never above the largest recorded. */
double nh_histogram_percentile(const nh_histogram *h, double p);

/* Counters held: NH_HIST_EXACT plus NH_HIST_STEPS per doubling seen. */
size_t nh_histogram_buckets(const nh_histogram *h);

/* HdrHistogram's counts array, by index: the count at index i (0 when its
 * block was never allocated), the index of a value, the lowest and highest
 * value of an index's bucket, and one past the index of the largest value. */
uint64_t nh_histogram_count_at(const nh_histogram *h, size_t i);
size_t nh_histogram_index(uint64_t us);
uint64_t nh_histogram_lowest(size_t i);
uint64_t nh_histogram_highest(size_t i);
size_t nh_histogram_limit(const nh_histogram *h);

#endif
