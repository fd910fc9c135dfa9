/*
 * Decoding a captured frame: link layer, IPv4 or IPv6, then UDP, TCP or ICMP.
 *
 * Captures are decoded only when a script asks for their packets, never on
 * the path that stores or writes them (core/capture.c), so watching traffic
 * costs it as little as possible. The decoder reads bytes a peer chose and
 * a snaplen may have cut: every field is read only after checking that it
 * lies inside the captured bytes, and a frame is decoded as far as it is
 * whole. What it could not decode is marked (truncated: the capture cut it;
 * malformed: a length or version contradicts the frame), with a short reason.
 * It allocates nothing and never fails, so it can be fed anything
 * (spec/c/decode_test.c feeds random and cut frames under ASan).
 */
#ifndef NH_DECODE_H
#define NH_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* Link types as pcap_datalink() and pcap files name them (DLT_* / LINKTYPE_*). */
enum {
    NH_LINK_NULL = 0,        /* BSD loopback: a 4-byte family in host order */
    NH_LINK_ETHERNET = 1,    /* how Linux's lo and Ethernet devices appear */
    NH_LINK_RAW = 12,        /* a bare IP packet (DLT_RAW; 14 on OpenBSD, 101 in files) */
    NH_LINK_RAW_OPENBSD = 14,
    NH_LINK_RAW_FILE = 101,
    NH_LINK_LOOP = 108,      /* OpenBSD loopback: the family in network order */
    NH_LINK_SLL = 113,       /* Linux cooked capture v1 (the "any" device) */
    NH_LINK_IPV4 = 228,
    NH_LINK_IPV6 = 229,
    NH_LINK_SLL2 = 276,      /* Linux cooked capture v2 */
};

/* Marks on a decoded packet. */
enum {
    NH_PKT_TRUNCATED = 1,    /* the capture kept fewer bytes than a header or payload has */
    NH_PKT_MALFORMED = 2,    /* a header contradicts itself or the frame */
    NH_PKT_IP_OPTIONS = 4,   /* IPv4 options, or IPv6 extension headers */
    NH_PKT_FRAGMENT = 8,     /* an IP fragment: only the first has the transport header */
};

/* TCP flag bits, as in the header's 13th byte (plus NS from the 12th). */
enum {
    NH_TCP_FIN = 0x01, NH_TCP_SYN = 0x02, NH_TCP_RST = 0x04, NH_TCP_PSH = 0x08,
    NH_TCP_ACK = 0x10, NH_TCP_URG = 0x20, NH_TCP_ECE = 0x40, NH_TCP_CWR = 0x80,
    NH_TCP_NS = 0x100,
};

typedef struct nh_pkt {
    int ethertype;           /* the link's protocol field (0x0800 IPv4, ...), -1 none */
    int family;              /* 4 or 6: the IP version decoded, 0 when not IP */
    int protocol;            /* the IP protocol (after IPv6's extension headers), -1 none */
    uint8_t src[16], dst[16];    /* IPv4 in the first 4 bytes */
    int src_port, dst_port;  /* UDP and TCP; -1 for none */
    int ttl;                 /* IPv4 TTL or IPv6 hop limit, -1 none */
    uint32_t ip_id;          /* IPv4 id, or the IPv6 fragment header's */
    uint32_t frag_offset;    /* in bytes */
    int more_fragments;
    /* TCP */
    int tcp;                 /* the TCP header was whole */
    unsigned tcp_flags;      /* NH_TCP_* */
    uint32_t seq, ack;
    unsigned window;
    /* ICMP and ICMPv6 */
    int icmp_type, icmp_code;    /* -1 none */
    /* The payload: what the outermost decoded layer carries, within the
     * captured bytes. For UDP and TCP their data, for ICMP what follows its
     * 8-byte header, else the IP or link payload. */
    size_t payload_off, payload_len;
    size_t payload_wire_len; /* how long it was on the wire (> payload_len when cut) */
    int link_type;           /* Linux cooked capture's packet type (0 to us, 4 outgoing, ...), -1 */
    unsigned marks;          /* NH_PKT_* */
    const char *problem;     /* why TRUNCATED or MALFORMED (a static string), or NULL */
} nh_pkt;

/* Decode a frame of the given link type: caplen bytes were captured of a
 * frame len bytes long on the wire (len < caplen is taken as caplen). */
void nh_decode(int linktype, const uint8_t *p, size_t caplen, size_t len, nh_pkt *out);

/* "SYN,ACK" for flags; buf has room for every flag's name. */
#define NH_TCP_FLAGS_STRLEN 40
void nh_tcp_flags_format(unsigned flags, char *buf, size_t cap);

#endif
