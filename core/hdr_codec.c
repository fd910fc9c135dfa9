#include "hdr_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define COOKIE_V2 0x1c849303u              /* | 0x10: word size 1, ZigZag LEB128 */
#define COOKIE_V2_COMPRESSED 0x1c849304u
#define HEADER 40
#define ONE_HOUR_US UINT64_C(3600000000)   /* the highest value wrk2 and most logs track */
#define MAX_INFLATED (64u << 20)           /* far above any real histogram: a bound for bad input */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* ZigZag then LEB128 with at most 9 bytes (the ninth carries 8 bits). */
static size_t put_varint(unsigned char *p, int64_t signed_v)
{
    uint64_t v = ((uint64_t)signed_v << 1) ^ (uint64_t)(signed_v >> 63);
    size_t n = 0;
    while (n < 8 && v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* -1 when the bytes end inside a number. */
static int get_varint(const unsigned char **p, const unsigned char *end, int64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 9; i++) {
        if (*p >= end)
            return -1;
        unsigned b = *(*p)++;
        if (i == 8) {
            v |= (uint64_t)b << 56;
            break;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *in, size_t n, size_t *len)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = 0;
    *len = (size_t)(o - out);
    return out;
}

/* -1 on a character outside the alphabet or a bad length. */
static unsigned char *unbase64(const char *in, size_t n, size_t *len)
{
    while (n && (in[n - 1] == '\n' || in[n - 1] == '\r' || in[n - 1] == ' '))
        n--;
    if (n % 4)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *c = in[i + j] ? strchr(b64, in[i + j]) : NULL;
            if (in[i + j] == '=' && i + 4 == n && j >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!c || pad) {
                free(out);
                return NULL;
            }
            v = v << 6 | (uint32_t)(c - b64);
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    *len = o;
    return out;
}

int nh_hdr_encode(const nh_histogram *h, char **out, size_t *len)
{
    size_t limit = nh_histogram_limit(h);
    size_t raw_cap = HEADER + 9 * limit + 9;
    unsigned char *raw = malloc(raw_cap);
    if (!raw)
        return -1;
    size_t n = HEADER;
    for (size_t i = 0; i < limit;) {
        uint64_t count = nh_histogram_count_at(h, i++);
        int64_t zeros = 0;
        if (count == 0) {
            zeros = 1;
            while (i < limit && nh_histogram_count_at(h, i) == 0) {
                zeros++;
                i++;
            }
        }
        n += put_varint(raw + n, zeros > 1 ? -zeros : (int64_t)count);
    }
    uint64_t highest = limit ? nh_histogram_highest(limit - 1) : 0;
    double ratio = 1.0;
    uint64_t ratio_bits;
    memcpy(&ratio_bits, &ratio, sizeof ratio_bits);
    put32(raw, COOKIE_V2 | 0x10);
    put32(raw + 4, (uint32_t)(n - HEADER));
    put32(raw + 8, 0);   /* normalizing index offset */
    put32(raw + 12, 3);  /* significant digits */
    put64(raw + 16, 1);  /* lowest discernible value: 1 us */
    put64(raw + 24, highest > ONE_HOUR_US ? highest : ONE_HOUR_US);
    put64(raw + 32, ratio_bits);

    uLongf zlen = compressBound((uLong)n);
    unsigned char *z = malloc(8 + zlen);
    int ok = z && compress2(z + 8, &zlen, raw, (uLong)n, Z_DEFAULT_COMPRESSION) == Z_OK;
    free(raw);
    if (!ok) {
        free(z);
        return -1;
    }
    put32(z, COOKIE_V2_COMPRESSED | 0x10);
    put32(z + 4, (uint32_t)zlen);
    *out = base64(z, 8 + zlen, len);
    free(z);
    return *out ? 0 : -1;
}

/* Inflate at most MAX_INFLATED bytes: a small bad text must not take memory
 * without bound. */
static unsigned char *inflate_all(const unsigned char *in, size_t n, size_t *len, const char **why)
{
    size_t cap = 4096;
    unsigned char *out = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!out || inflateInit(&z) != Z_OK) {
        free(out);
        *why = "not enough memory";
        return NULL;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    int rc;
    do {
        if (z.total_out == cap) {
            unsigned char *bigger = cap < MAX_INFLATED ? realloc(out, cap * 2) : NULL;
            if (!bigger) {
                *why = cap < MAX_INFLATED ? "not enough memory" : "histogram too large";
                rc = Z_MEM_ERROR;
                break;
            }
            out = bigger;
            cap *= 2;
        }
        z.next_out = out + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            *why = rc == Z_MEM_ERROR ? *why : "compressed data is corrupt";
            break;
        }
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
            *why = "compressed data is cut short";
            rc = Z_DATA_ERROR;
            break;
        }
    } while (rc != Z_STREAM_END);
    *len = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/* The counts of an uncompressed V2 histogram, added to h. */
static int decode_counts(nh_histogram *h, const unsigned char *p, size_t n, const char **why)
{
    if (n < HEADER || (get(p, 4) & ~0xf0u) != COOKIE_V2) {
        *why = "not an HdrHistogram V2 histogram";
        return -1;
    }
    uint64_t payload = get(p + 4, 4);
    uint32_t offset = (uint32_t)get(p + 8, 4);
    uint64_t digits = get(p + 12, 4), lowest = get(p + 16, 8);
    if (payload > n - HEADER) {
        *why = "histogram payload is cut short";
        return -1;
    }
    if (offset != 0) {
        *why = "a normalizing index offset is not supported";
        return -1;
    }
    if (digits > 5 || lowest == 0 || lowest > (UINT64_C(1) << 40)) {
        *why = "histogram header has impossible values";
        return -1;
    }
    /* The writer's layout, as HdrHistogram derives it. */
    uint64_t single_unit = 2;
    for (uint64_t d = 0; d < digits; d++)
        single_unit *= 10;
    int count_mag = 0;
    while ((UINT64_C(1) << count_mag) < single_unit)
        count_mag++;
    int half_mag = count_mag > 1 ? count_mag - 1 : 0;
    uint64_t half = UINT64_C(1) << half_mag;
    int unit_mag = 63 - __builtin_clzll(lowest);

    /* Counts come from outside: each is checked, and so is their total,
     * which must stay a Lua integer (count() wrapped to -2 before). */
    const unsigned char *q = p + HEADER, *end = q + payload;
    uint64_t index = 0, total = h->n;
    while (q < end) {
        int64_t v;
        if (get_varint(&q, end, &v) < 0) {
            *why = "histogram counts are cut short";
            return -1;
        }
        if (v < 0) {
            if (v < -(INT64_C(1) << 40)) {   /* also INT64_MIN, whose negation is undefined */
                *why = "histogram counts are corrupt";
                return -1;
            }
            index += (uint64_t)-v;
            continue;
        }
        if (v > 0) {
            if ((uint64_t)v > (uint64_t)INT64_MAX - total) {
                *why = "histogram counts overflow";
                return -1;
            }
            total += (uint64_t)v;
            int64_t bucket = (int64_t)(index >> half_mag) - 1;
            uint64_t sub = (index & (half - 1)) + half;
            if (bucket < 0) {
                sub -= half;
                bucket = 0;
            }
            if (bucket + unit_mag + count_mag > 62) {
                *why = "histogram value too large";
                return -1;
            }
            if (nh_histogram_record_us(h, sub << (bucket + unit_mag), (uint64_t)v) < 0) {
                *why = "not enough memory";
                return -1;
            }
        }
        index++;
    }
    return 0;
}

int nh_hdr_decode(nh_histogram *h, const char *text, size_t len, uint64_t max_us,
                  const char **why)
{
    size_t zn, rawn;
    unsigned char *z = unbase64(text, len, &zn), *raw = NULL;
    nh_histogram got;
    nh_histogram_init(&got);
    int rc = -1;
    *why = "not base64";
    if (!z)
        goto out;
    *why = "not an HdrHistogram V2 compressed histogram";
    if (zn < 8 || (get(z, 4) & ~0xf0u) != COOKIE_V2_COMPRESSED)
        goto out;
    if (get(z + 4, 4) > zn - 8) {
        *why = "compressed histogram is cut short";
        goto out;
    }
    raw = inflate_all(z + 8, get(z + 4, 4), &rawn, why);
    if (!raw || decode_counts(&got, raw, rawn, why) < 0)
        goto out;
    if (max_us && got.n && nh_histogram_index(max_us) == nh_histogram_index(got.hi))
        got.hi = max_us;
    if (got.n > (uint64_t)INT64_MAX - h->n) {   /* what is there already, and what came */
        *why = "histogram counts overflow";
        goto out;
    }
    if (nh_histogram_merge(h, &got) < 0) {
        *why = "not enough memory";
        goto out;
    }
    rc = 0;
out:
    free(z);
    free(raw);
    nh_histogram_free(&got);
    return rc;
}
