/* Seeded random decisions (core/prng.c): the same inputs give the same
 * sequence, other names or flows another; the distributions hold within
 * bounds that a correct generator misses about once in a million runs. */
#include <math.h>

#include "../../core/prng.h"
#include "check.h"

static void test_reproducible_and_independent(void)
{
    nh_prng a, b, c, d;
    nh_prng_seed(&a, 42, "latency", 0);
    nh_prng_seed(&b, 42, "latency", 0);
    nh_prng_seed(&c, 42, "loss", 0);
    nh_prng_seed(&d, 42, "latency", 1);
    int same = 1, differ_c = 0, differ_d = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = nh_prng_next(&a);
        same &= x == nh_prng_next(&b);
        differ_c += x != nh_prng_next(&c);
        differ_d += x != nh_prng_next(&d);
    }
    CHECK(same && differ_c == 1000 && differ_d == 1000);
    nh_prng_seed(&a, 43, "latency", 0);
    nh_prng_seed(&b, 42, "latency", 0);
    CHECK(nh_prng_next(&a) != nh_prng_next(&b));
    nh_prng_seed(&a, 42, NULL, 0);
    nh_prng_seed(&b, 42, "", 0);
    CHECK(nh_prng_next(&a) == nh_prng_next(&b));
}

static void test_distributions(void)
{
    nh_prng r;
    nh_prng_seed(&r, 7, "dist", 0);
    enum { N = 200000 };
    double sum = 0, sq = 0, nsum = 0, nsq = 0;
    int in_range = 1;
    uint64_t counts[6] = {0};
    for (int i = 0; i < N; i++) {
        double u = nh_prng_uniform(&r);
        in_range &= u >= 0 && u < 1;
        sum += u;
        sq += u * u;
        double z = nh_prng_normal(&r);
        nsum += z;
        nsq += z * z;
        counts[nh_prng_below(&r, 6)]++;
    }
    double mean = sum / N, var = sq / N - mean * mean;
    CHECK(in_range);
    CHECK(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / N));
    CHECK(fabs(var - 1.0 / 12) < 0.002);
    CHECK(fabs(nsum / N) < 5 / sqrt((double)N));
    CHECK(fabs(nsq / N - 1) < 0.02);
    for (int k = 0; k < 6; k++)   /* each face within 5 standard deviations */
        CHECK(fabs((double)counts[k] - N / 6.0) < 5 * sqrt(N * (1 / 6.0) * (5 / 6.0)));
}

static void test_chance_and_bursts(void)
{
    nh_prng r;
    nh_prng_seed(&r, 1, "loss", 0);
    enum { N = 20000 };
    int yes = 0;
    for (int i = 0; i < N; i++)
        yes += nh_prng_chance(&r, NULL, 0.25, 0);
    /* 99.9% binomial interval: 3.29 standard deviations */
    CHECK(fabs(yes - N * 0.25) < 3.29 * sqrt(N * 0.25 * 0.75));
    CHECK(!nh_prng_chance(&r, NULL, 0, 0) && nh_prng_chance(&r, NULL, 1, 0));
    /* a correlation makes runs longer: mean run of equal decisions at p 0.5 */
    double runs[2];
    double rhos[2] = {0, 0.9};
    for (int k = 0; k < 2; k++) {
        nh_correlated c = {0};
        nh_prng_seed(&r, 1, "burst", 0);
        int changes = 0, last = -1;
        for (int i = 0; i < N; i++) {
            int v = nh_prng_chance(&r, &c, 0.5, rhos[k]);
            changes += last >= 0 && v != last;
            last = v;
        }
        runs[k] = (double)N / (changes + 1);
    }
    CHECK(runs[0] > 1.8 && runs[0] < 2.2);   /* independent: 2 */
    CHECK(runs[1] > 2 * runs[0]);
}

void prng_tests(void)
{
    run(test_reproducible_and_independent);
    run(test_distributions);
    run(test_chance_and_bursts);
}
