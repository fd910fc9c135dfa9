/*
 * HdrHistogram's V2 compressed encoding of a histogram, in base64: what a line
 * of an interval log (.hlog) holds, and what HdrHistogram's own tools
 * (HistogramLogProcessor, the plotters, hdr-histogram-js) read. Our histogram
 * has HdrHistogram's layout in microseconds (histogram.h), so a histogram
 * exported and imported again answers exactly as before.
 *
 * The format: a 40-byte big-endian header (cookie, payload length, index
 * offset, significant digits, lowest and highest trackable value, a double
 * ratio), then the counts as ZigZag LEB128 (9 bytes at most), a run of zero
 * counts as one negative number; all of it zlib-deflated behind an 8-byte
 * header (compressed cookie, length).
 */
#ifndef NH_HDR_CODEC_H
#define NH_HDR_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

/* The base64 text of h (malloc'd, NUL-terminated; *len without the NUL).
 * -1 without memory. */
int nh_hdr_encode(const nh_histogram *h, char **out, size_t *len);

/* Add the histogram of a base64 text to h. Any histogram HdrHistogram wrote
 * is taken: its values are read as microseconds and each count lands in our
 * bucket of its bucket's lowest value (exact for our own layout). Returns 0,
 * or -1 with h unchanged and *why saying what is wrong with the text.
 * max_us, when not 0, is the largest value exactly (an interval log's
 * Interval_Max): the text holds only its bucket. */
int nh_hdr_decode(nh_histogram *h, const char *text, size_t len, uint64_t max_us,
                  const char **why);

#endif
