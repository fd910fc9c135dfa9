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

void histogram_tests(void)
{
    run(test_percentiles);
    run(test_large_values);
}
