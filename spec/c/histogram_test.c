/* Latency histogram (core/histogram.c): exact buckets below 1,024 us, a
 * bounded relative error above, percentiles of what was recorded. */
#include <math.h>

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
    CHECK(a.n == 1 && a.lo == 0.002 && a.hi == 0.002);
    nh_histogram_free(&all);
    nh_histogram_free(&a);
    nh_histogram_free(&b);
    nh_histogram_free(&empty);
}

void histogram_tests(void)
{
    run(test_percentiles);
    run(test_large_values);
    run(test_merge_and_reset);
}
