#include "prng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* FNV-1a over the name, so that names differing anywhere seed differently. */
static uint64_t hash_name(const char *name)
{
    uint64_t h = 0xCBF29CE484222325u;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p; p++)
        h = (h ^ *p) * 0x100000001B3u;
    return h;
}

void nh_prng_seed(nh_prng *r, uint64_t seed, const char *name, uint64_t index)
{
    uint64_t x = seed;
    x = splitmix64(&x) ^ hash_name(name);
    x = splitmix64(&x) ^ index;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);   /* never all zero: splitmix64 is a bijection of a counter */
    r->has_spare = 0;
    r->spare = 0;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t nh_prng_next(nh_prng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double nh_prng_uniform(nh_prng *r)
{
    return (double)(nh_prng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t nh_prng_below(nh_prng *r, uint64_t n)
{
    /* Reject the top partial range, so every value is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = nh_prng_next(r);
    while (x >= limit);
    return x % n;
}

/* Box-Muller: two normals from two uniforms; the second is kept. */
double nh_prng_normal(nh_prng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - nh_prng_uniform(r);   /* (0, 1]: log is finite */
    double u2 = nh_prng_uniform(r);
    double m = sqrt(-2.0 * log(u1));
    r->spare = m * sin(2.0 * M_PI * u2);
    r->has_spare = 1;
    return m * cos(2.0 * M_PI * u2);
}

double nh_prng_correlated(nh_prng *r, nh_correlated *c, double rho)
{
    double u = nh_prng_uniform(r);
    if (rho <= 0 || !c)
        return u;
    if (rho > 1)
        rho = 1;
    double v = c->started ? (1 - rho) * u + rho * c->last : u;
    c->last = v;
    c->started = 1;
    return v;
}

int nh_prng_chance(nh_prng *r, nh_correlated *c, double p, double rho)
{
    if (p <= 0)
        return 0;
    if (p >= 1)
        return 1;
    return nh_prng_correlated(r, c, rho) < p;
}
