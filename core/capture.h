/*
 * Packet capture on libpcap, driven by the event loop.
 *
 * A test harness that makes traffic should be able to say what went over the
 * wire. A capture opens a pcap handle in immediate mode (each packet is
 * handed over as it arrives, not when a kernel block fills) and
 * non-blocking, and watches its selectable fd with an ev_io, so reading
 * packets never blocks the tasks that make them. Each packet read is, in
 * this order and nothing more: written to the pcap file if there is one,
 * copied into the capture's store while the store has room, counted. Decoding
 * (core/decode.h) happens later, when a script asks: the read path stays as
 * cheap as tcpdump's (make bench, case 8).
 *
 * Waiters on the capture's queue are woken when packets were read, and when
 * it stops or fails.
 */
#ifndef NH_CAPTURE_H
#define NH_CAPTURE_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>

#include "wait.h"

typedef struct nh_capture_opts {
    const char *interface;   /* NULL: "lo" */
    const char *filter;      /* a BPF expression; NULL or "" for every packet */
    const char *file;        /* a pcap file to write, or NULL */
    int snaplen;             /* bytes kept of each packet; 0: 262144, as tcpdump */
    int buffer_size;         /* the kernel buffer in bytes; 0: libpcap's default */
    size_t keep;             /* packets kept in memory for the script */
    size_t keep_bytes;       /* and their bytes at most */
    uint64_t count;          /* stop reading after this many packets; 0: no limit */
    int batched;             /* not immediate: see below */
} nh_capture_opts;

/* Immediate mode hands each packet over as it arrives, which is what a
 * script waiting for packets wants. libpcap then uses Linux's TPACKET_V2
 * ring, a slot per packet sized for the largest (on lo, 64 KiB): the default
 * 2 MiB buffer holds 30 packets, and a flood overruns it (make bench, case 8:
 * 27% of 1.1 million datagrams captured where tcpdump -w took all). Batched
 * mode is tcpdump's default: TPACKET_V3 packs packets into blocks that are
 * handed over when full or BATCH_MS after their first packet; a stop waits
 * that long for the last block. For writing files of heavy traffic. */
#define NH_CAPTURE_BATCH_MS 10

/* Why opening failed. */
enum { NH_CAPERR_PERM = 1, NH_CAPERR_NODEV, NH_CAPERR_FILTER, NH_CAPERR_FILE, NH_CAPERR_OTHER };

/* A packet kept in the store; its captured bytes follow it. */
typedef struct nh_capture_rec {
    int64_t sec;             /* wall clock, as libpcap stamped it */
    uint32_t usec;
    uint32_t caplen, len;    /* bytes captured, bytes on the wire */
    double mono;             /* the same moment on nh_now()'s clock */
} nh_capture_rec;

static inline const uint8_t *nh_capture_rec_data(const nh_capture_rec *r)
{
    return (const uint8_t *)(r + 1);
}

typedef struct nh_capture_stats {
    uint64_t seen;           /* packets that matched and were read */
    uint64_t kept;           /* of those, kept in the store (since the last clear) */
    uint64_t not_kept;       /* read when the store was full */
    uint64_t received;       /* pcap_stats: packets the filter passed, read or dropped */
    uint64_t dropped;        /* pcap_stats: dropped by the kernel (no room in its buffer) */
    uint64_t if_dropped;     /* pcap_stats: dropped by the interface */
} nh_capture_stats;

typedef struct nh_capture {
    ev_io io;                /* the handle's selectable fd */
    pcap_t *p;               /* NULL once stopped */
    pcap_dumper_t *dump;
    int linktype;            /* pcap_datalink(): how to decode */
    int failed;              /* reading failed: error says why, nothing more is read */
    int sys_errno;           /* the errno of a failed open of the file */
    int batched;
    char error[PCAP_ERRBUF_SIZE + 64];
    nh_capture_stats st;
    size_t keep, keep_bytes;
    uint64_t count;          /* the packets to read at most (0: no limit) */
    uint8_t *store;          /* nh_capture_rec + bytes, each padded to 8 */
    size_t used, size;
    nh_queue waiters;        /* woken when packets were read, stopped or failed */
} nh_capture;

/* Open and start capturing. On failure returns -1 with the reason in err and
 * its kind (NH_CAPERR_*) in *why; nothing is left open. */
int nh_capture_open(nh_capture *c, const nh_capture_opts *o, char *err, size_t errcap, int *why);

/* Read what the kernel has for us (the watcher does this; so does stop). */
void nh_capture_read(nh_capture *c);

/* Read what is left, take the statistics into c->st, close the handle and the
 * file (flushed), wake every waiter with NH_WAKE_CLOSED. The store stays.
 * Returns -1 when the file could not be written in full (err says why). */
int nh_capture_stop(nh_capture *c, char *err, size_t errcap);

/* The kept packets in order: start with *pos = 0; NULL after the last. */
const nh_capture_rec *nh_capture_next(const nh_capture *c, size_t *pos);

/* Forget the kept packets (they were handed on); the store keeps its memory. */
void nh_capture_clear(nh_capture *c);

/* Stop if running and free the store. */
void nh_capture_free(nh_capture *c);

#endif
