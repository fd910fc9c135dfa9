/*
 * Toxics: what a fault-injecting proxy (fault.h) does to the bytes or
 * datagrams of one direction of one connection or UDP flow (a link).
 *
 * A toxic is shared by every link of its proxy and direction; each link keeps
 * a stage per toxic: its own random generator (seeded from the proxy's seed,
 * the toxic's name and the link's flow index, prng.h), whether the toxic's
 * toxicity said it applies, and the toxic's running state (when the next
 * piece may leave, bytes counted, a held datagram).
 *
 * Nothing here waits or touches a socket. A chunk read from the source (or a
 * datagram) goes in as a list of pieces; each stage, in the order the toxics
 * were added, rewrites the list: it sets when each piece may leave, splits,
 * drops, duplicates or corrupts pieces, and adds close events. The link then
 * sends the pieces at their times on the loop's timers. Times are absolute,
 * on the loop's clock (ev_now).
 */
#ifndef NH_TOXIC_H
#define NH_TOXIC_H

#include <stddef.h>
#include <stdint.h>

#include "prng.h"

enum nh_toxic_type {
    NH_TOX_NOOP,
    NH_TOX_LATENCY,     /* a[0] latency ms, a[1] jitter ms, a[2] 1: normal (UDP) */
    NH_TOX_BANDWIDTH,   /* a[0] rate KB/s (1000 B), a[1] UDP queue in datagrams */
    NH_TOX_SLOW_CLOSE,  /* a[0] delay ms */
    NH_TOX_TIMEOUT,     /* a[0] timeout ms, 0: never closes */
    NH_TOX_RESET_PEER,  /* a[0] timeout ms */
    NH_TOX_SLICER,      /* a[0] average_size, a[1] size_variation, a[2] delay us */
    NH_TOX_LIMIT_DATA,  /* a[0] bytes */
    NH_TOX_LOSS,        /* a[0] probability, a[1] correlation */
    NH_TOX_DUPLICATE,   /* a[0] probability */
    NH_TOX_REORDER,     /* a[0] probability, a[1] gap (datagrams), a[2] delay ms */
    NH_TOX_CORRUPT,     /* a[0] probability */
    NH_TOX_TRUNCATE,    /* a[0] size */
    NH_TOX_DOWN,        /* drops everything */
    NH_TOX_COUNT
};

enum nh_stream { NH_UPSTREAM = 0, NH_DOWNSTREAM = 1 };

/* What one toxic did, summed over its links. */
typedef struct nh_toxic_stats {
    uint64_t links;        /* links where its toxicity said yes */
    uint64_t bytes;        /* bytes that went through it */
    uint64_t chunks;       /* chunks or datagrams that went through it */
    uint64_t delayed;      /* chunks or datagrams it held back */
    uint64_t dropped;      /* datagrams, or chunks (bytes in dropped_bytes) it discarded */
    uint64_t dropped_bytes;
    uint64_t duplicated, reordered, corrupted, truncated;
    uint64_t closed;       /* connections it closed */
    uint64_t resets;       /* connections it reset */
} nh_toxic_stats;

typedef struct nh_toxic {
    struct nh_toxic *next;  /* the proxy's list, in the order added */
    char *name;
    int type;               /* enum nh_toxic_type */
    int stream;             /* enum nh_stream */
    double toxicity;        /* probability that it applies to a link */
    double a[4];            /* attributes, as listed above */
    unsigned gen;           /* bumped by an update: links draw toxicity again */
    unsigned refs;          /* the proxy's list (while listed) and each stage */
    int listed;
    nh_toxic_stats st;
} nh_toxic;

/* A piece of a link's output. Pieces cut from one chunk share its bytes
 * (nh_chunk): cutting is O(1) and a cut piece keeps no copy, so a slicer
 * cutting a 64 KiB read into bytes costs a piece header a byte, not a copy
 * of the rest each time (issue 27: +913 MiB for one upload before). */
enum nh_piece_kind {
    NH_PIECE_DATA,
    NH_PIECE_EOF,     /* the source ended: end the destination's writing */
    NH_PIECE_CLOSE,   /* close the connection (limit_data) */
    NH_PIECE_RESET    /* reset the connection (reset_peer) */
};

typedef struct nh_chunk {
    uint32_t refs;         /* the pieces that point into it */
    uint32_t len;
    char data[];
} nh_chunk;

typedef struct nh_piece {
    struct nh_piece *next;
    double at;             /* when it may leave */
    nh_chunk *chunk;       /* NULL for an empty piece */
    char *data;            /* into chunk->data */
    uint32_t len, off;     /* off: bytes already sent */
    unsigned char kind;
    unsigned char timed;   /* it had to wait for its time (the link measures how late it left) */
} nh_piece;

/* What a queued piece costs its link: its bytes and its header (the bound on
 * a link's memory counts both; a chunk's bytes are counted once, by the
 * pieces that share it). */
#define NH_PIECE_COST(p) ((size_t)(p)->len + sizeof(nh_piece))

typedef struct nh_plist {
    nh_piece *head, *tail;
} nh_plist;

/* A piece with a copy of data (NULL without memory). */
nh_piece *nh_piece_new(const char *data, size_t len, int kind, double at);
/* Its bytes its own (copied if another piece shares them): 0, or -1 without memory. */
int nh_piece_own(nh_piece *p);
void nh_piece_free(nh_piece *p);
void nh_plist_push(nh_plist *l, nh_piece *p);
void nh_plist_free(nh_plist *l);

/* One toxic's state on one link. */
typedef struct nh_stage {
    nh_toxic *t;
    unsigned gen;
    unsigned char on;       /* the toxicity draw said it applies */
    nh_prng r;
    nh_correlated c;
    double t_free;          /* latency, bandwidth, slicer: the last piece's time */
    uint64_t count;         /* limit_data: bytes passed; reorder: datagrams since the hold */
    double when;            /* timeout: closes at; reset_peer: resets at; reorder: the
                             * held datagram goes at (0: none) */
    nh_piece *held;         /* reorder: the datagram held back */
    double *ring;           /* bandwidth (UDP): the queued datagrams' leaving times */
    uint32_t ring_head, ring_n, ring_cap;
} nh_stage;

nh_toxic *nh_toxic_new(const char *name, int type, int stream, double toxicity, const double a[4]);
void nh_toxic_release(nh_toxic *t);

/* Bring a link's stages in line with the proxy's toxics for its direction:
 * a toxic kept keeps its stage (an updated one draws toxicity again and
 * restarts, as in Toxiproxy), a new one gets a fresh stage, a removed one's
 * stage goes (a removed toxic has listed == 0; the list keeps its order and
 * grows only at its end). A datagram held by a stage that goes or restarts
 * is pushed to *released, to be sent now. *st is reallocated; returns 0, or
 * -1 without memory (the old stages are then kept). */
int nh_stages_sync(nh_stage **st, int *n, nh_toxic *list, int stream, uint64_t seed,
                   uint64_t index, double now, nh_plist *released);
void nh_stages_free(nh_stage *st, int n);

/* Any stage that is on? (none: the link's fast path) */
int nh_stages_active(const nh_stage *st, int n);

/* The earliest time a stage wants to act without new input (a timeout's
 * close, reset_peer's reset, a held datagram's release), 0 for none. */
double nh_stages_deadline(const nh_stage *st, int n);
/* Act on what is due by now: held datagrams are released through the stages
 * after their own into `out`; returns NH_PIECE_CLOSE or NH_PIECE_RESET when
 * the connection must end, else NH_PIECE_DATA. */
int nh_stages_due(nh_stage *st, int n, double now, nh_plist *out);

/* A TCP chunk (a DATA or EOF piece in l) through every stage that is on. */
void nh_stages_stream(nh_stage *st, int n, nh_plist *l);

/* A datagram (one DATA piece in l) through every stage that is on: the
 * result is zero or more pieces. A reorder stage may keep one back; it comes
 * out after `gap` later datagrams, or from nh_stages_due after its delay. */
void nh_stages_datagram(nh_stage *st, int n, nh_plist *l);

#endif
