/*
 * Seeded random decisions for fault injection (issue 16): every random
 * choice a toxic makes comes from a generator of its own, seeded from the
 * proxy's seed, the toxic's name and the flow's index (the order in which
 * connections or UDP flows first appear, not their ports). Adding a toxic
 * then leaves every other toxic's decisions as they were, and a rerun with
 * the same seed over the same traffic decides the same way.
 *
 * The generator is xoshiro256** (Blackman and Vigna), filled by splitmix64
 * from a hash of the three inputs; it is fast, small (32 bytes) and passes
 * the usual statistical batteries. Not for cryptography.
 */
#ifndef NH_PRNG_H
#define NH_PRNG_H

#include <stdint.h>

typedef struct nh_prng {
    uint64_t s[4];
    double spare;        /* nh_prng_normal's second value */
    int has_spare;
} nh_prng;

/* Seed from (seed, name, index); name may be NULL (as ""). */
void nh_prng_seed(nh_prng *r, uint64_t seed, const char *name, uint64_t index);

uint64_t nh_prng_next(nh_prng *r);

/* Uniform in [0, 1), 53 bits. */
double nh_prng_uniform(nh_prng *r);

/* Uniform integer in [0, n) without modulo bias (n >= 1). */
uint64_t nh_prng_below(nh_prng *r, uint64_t n);

/* Standard normal (mean 0, deviation 1). */
double nh_prng_normal(nh_prng *r);

/* netem's correlated random value: the next value depends `rho` (0..1) on
 * the last one, next = (1 - rho) * uniform + rho * last, so decisions made
 * from it come in bursts. As in netem, a correlation also narrows the
 * values' spread, so a loss probability p far from 0.5 is met less often
 * than p in the long run (say so where a toxic exposes it). */
typedef struct nh_correlated {
    double last;
    int started;
} nh_correlated;

double nh_prng_correlated(nh_prng *r, nh_correlated *c, double rho);

/* A yes with probability p, through c when rho > 0 (c may be NULL for
 * rho = 0). p <= 0 never, p >= 1 always (no random number is drawn). */
int nh_prng_chance(nh_prng *r, nh_correlated *c, double p, double rho);

#endif
