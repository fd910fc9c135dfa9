/*
 * A latency histogram for load generators: counts per bucket of microseconds,
 * exact below 1024 us and 512 buckets per doubling above (within 0.2 %, as
 * HdrHistogram keeps three significant digits).
 *
 * Recording is on a load generator's hot path (once per request), so it is a
 * few arithmetic operations and one increment, with no allocation once the
 * doubling a value falls in has been seen. Memory is bounded whatever the
 * count: 1024 exact counters, and a block of 512 for each doubling seen.
 */
#ifndef NH_HISTOGRAM_H
#define NH_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define NH_HIST_EXACT 1024
#define NH_HIST_STEPS 512
#define NH_HIST_OCTAVES 53   /* values up to 2^62 us */

typedef struct nh_histogram {
    uint64_t n;
    double sum, lo, hi;   /* of the values as given (negative ones as 0) */
    uint64_t exact[NH_HIST_EXACT];
    uint64_t *octave[NH_HIST_OCTAVES];   /* NULL until a value falls there */
} nh_histogram;

void nh_histogram_init(nh_histogram *h);
void nh_histogram_free(nh_histogram *h);

/* Record one latency in seconds (not NaN; below 0 counts as 0). Returns -1
 * with nothing recorded when a new block cannot be allocated. */
int nh_histogram_record(nh_histogram *h, double seconds);

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

#endif
