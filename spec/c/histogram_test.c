/* Latency histogram (core/histogram.c): exact buckets below 2,048 us, a
 * bounded relative error above, percentiles of what was recorded. */
#include <math.h>

#include <stdlib.h>
#include <string.h>

#include "../../core/hdr_codec.h"
#include "../../core/histogram.h"
#include "check.h"

static void test_percentiles(void)
{
    nh_histogram h;
    nh_histogram_init(&h);
    for (int i = 1; i <= 1000; i++)
        CHECK(nh_histogram_record(&h, i * 1e-6) == 0);   /* 1..1000 us: exact */
    CHECK(h.n == 1000);
    CHECK(fabs(nh_histogram_percentile(&h, 50) - 500e-6) < 1.5e-6);
    CHECK(fabs(nh_histogram_percentile(&h, 99) - 990e-6) < 1.5e-6);
    CHECK(fabs(nh_histogram_percentile(&h, 100) - 1000e-6) < 1.5e-6);
    nh_histogram_free(&h);
}

static void test_large_values(void)
{
    nh_histogram h;
    nh_histogram_init(&h);
    CHECK(nh_histogram_record(&h, 2.5) == 0);   /* 2.5 s */
    CHECK(nh_histogram_record(&h, 3600) == 0);
    double p = nh_histogram_percentile(&h, 50);
    CHECK(fabs(p - 2.5) / 2.5 < 0.01);
    CHECK(nh_histogram_buckets(&h) > 0);
    nh_histogram_free(&h);
}

/* Merging is exact: two halves merged answer as one histogram of all. */
static void test_merge_and_reset(void)
{
    nh_histogram all, a, b;
    nh_histogram_init(&all);
    nh_histogram_init(&a);
    nh_histogram_init(&b);
    for (int i = 0; i < 20000; i++) {
        double v = (i * 7919 % 100000) * 3e-5;   /* 0 .. 3 s, spread over many blocks */
        nh_histogram_record(&all, v);
        nh_histogram_record(i % 3 ? &a : &b, v);
    }
    CHECK(nh_histogram_merge(&a, &b) == 0);
    int same = a.n == all.n && a.lo == all.lo && a.hi == all.hi && fabs(a.sum - all.sum) < 1e-6;
    for (double p = 0.5; p <= 100; p += 0.5)
        same &= nh_histogram_percentile(&a, p) == nh_histogram_percentile(&all, p);
    CHECK(same);
    nh_histogram empty;
    nh_histogram_init(&empty);
    CHECK(nh_histogram_merge(&a, &empty) == 0 && a.n == all.n && a.lo == all.lo);
    size_t buckets = nh_histogram_buckets(&a);
    nh_histogram_reset(&a);
    CHECK(a.n == 0 && a.hi == 0 && nh_histogram_percentile(&a, 50) == 0);
    CHECK(nh_histogram_buckets(&a) == buckets);   /* its blocks are kept */
    nh_histogram_record(&a, 0.002);
    CHECK(a.n == 1 && a.lo == 2000 && a.hi == 2000);
    nh_histogram_free(&all);
    nh_histogram_free(&a);
    nh_histogram_free(&b);
    nh_histogram_free(&empty);
}

/* HdrHistogram's layout: the index of a value, and back. */
static void test_layout(void)
{
    CHECK(nh_histogram_index(2047) == 2047 && nh_histogram_index(2048) == 2048);
    CHECK(nh_histogram_index(2049) == 2048 && nh_histogram_index(4096) == 3072);
    CHECK(nh_histogram_lowest(3072) == 4096 && nh_histogram_highest(3072) == 4099);
    for (uint64_t v = 1; v < (UINT64_C(1) << 61); v = v * 3 + 1) {
        size_t i = nh_histogram_index(v);
        CHECK(nh_histogram_lowest(i) <= v && v <= nh_histogram_highest(i));
        CHECK(nh_histogram_index(nh_histogram_highest(i) + 1) == i + 1);
    }
}

/* Export then import answers exactly as the original; bad text is refused. */
static void test_codec(void)
{
    nh_histogram h, back;
    nh_histogram_init(&h);
    nh_histogram_init(&back);
    for (int i = 0; i < 50000; i++)
        nh_histogram_record(&h, (i * 7919 % 100003) * 4e-5);   /* 0 .. 4 s */
    nh_histogram_record(&h, 1e-6);
    char *text;
    size_t len;
    const char *why = NULL;
    CHECK(nh_hdr_encode(&h, &text, &len) == 0 && strncmp(text, "HISTF", 5) == 0);
    CHECK(nh_hdr_decode(&back, text, len, h.hi, &why) == 0);
    int same = back.n == h.n && back.hi == h.hi && back.lo == h.lo;
    for (double p = 0.1; p <= 100; p += 0.1)
        same &= nh_histogram_percentile(&back, p) == nh_histogram_percentile(&h, p);
    CHECK(same);
    char *again;
    size_t len2;
    CHECK(nh_hdr_encode(&back, &again, &len2) == 0 && len2 == len && memcmp(text, again, len) == 0);
    free(again);
    /* every cut of the text, and a flipped byte in each place, is refused or
     * read within bounds, never past its end (ASan checks) */
    uint64_t n = back.n;
    for (size_t cut = 0; cut < len; cut += 3) {
        char *part = malloc(cut + 1);
        memcpy(part, text, cut);
        part[cut] = 0;
        CHECK(nh_hdr_decode(&back, part, cut, 0, &why) < 0 && back.n == n);
        for (size_t j = 0; j < cut; j += 7) {
            part[j] = part[j] == 'A' ? 'B' : 'A';
            if (nh_hdr_decode(&back, part, cut, 0, &why) == 0)
                n = back.n;
        }
        free(part);
    }
    CHECK(nh_hdr_decode(&back, "HISTF!!!", 8, 0, &why) < 0 && strcmp(why, "not base64") == 0);
    CHECK(nh_hdr_decode(&back, "AAAAAAAA", 8, 0, &why) < 0 &&
          strcmp(why, "not an HdrHistogram V2 compressed histogram") == 0);
    nh_histogram empty;
    nh_histogram_init(&empty);
    CHECK(nh_hdr_encode(&empty, &again, &len2) == 0);
    nh_histogram_reset(&back);
    CHECK(nh_hdr_decode(&back, again, len2, 0, &why) == 0 && back.n == 0);
    free(again);
    free(text);
    nh_histogram_free(&h);
    nh_histogram_free(&back);
}

/* Issue 27: hostile counts. A count of 2^63 travels as the varint of
 * INT64_MIN (its negation was undefined behaviour); counts that add past
 * INT64_MAX wrapped the total. Both are refused, naming why. */
static void test_hostile_counts(void)
{
    nh_histogram h, back;
    nh_histogram_init(&h);
    nh_histogram_init(&back);
    char *text;
    size_t len;
    const char *why = NULL;
    nh_histogram_record_us(&h, 100, UINT64_C(1) << 63);
    CHECK(nh_hdr_encode(&h, &text, &len) == 0);
    CHECK(nh_hdr_decode(&back, text, len, 0, &why) < 0 && strcmp(why, "histogram counts are corrupt") == 0);
    CHECK(back.n == 0);
    free(text);
    nh_histogram_reset(&h);
    nh_histogram_record_us(&h, 100, (uint64_t)INT64_MAX);
    nh_histogram_record_us(&h, 200, 5);
    CHECK(nh_hdr_encode(&h, &text, &len) == 0);
    CHECK(nh_hdr_decode(&back, text, len, 0, &why) < 0 && strcmp(why, "histogram counts overflow") == 0);
    free(text);
    /* Each fits, but not beside what the histogram holds already. */
    nh_histogram_reset(&h);
    nh_histogram_record_us(&h, 100, (uint64_t)INT64_MAX - 3);
    CHECK(nh_hdr_encode(&h, &text, &len) == 0);
    CHECK(nh_hdr_decode(&back, text, len, 0, &why) == 0 && back.n == (uint64_t)INT64_MAX - 3);
    CHECK(nh_hdr_decode(&back, text, len, 0, &why) < 0 && strcmp(why, "histogram counts overflow") == 0);
    CHECK(back.n == (uint64_t)INT64_MAX - 3);
    free(text);
    nh_histogram_free(&h);
    nh_histogram_free(&back);
}

void histogram_tests(void)
{
    run(test_hostile_counts);
    run(test_layout);
    run(test_codec);
    run(test_percentiles);
    run(test_large_values);
    run(test_merge_and_reset);
}
