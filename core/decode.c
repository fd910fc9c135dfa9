/*
 * The decoder: one function per layer, each given the bytes its layer spans
 * as two ends, what was captured (cap) and what was on the wire (wire).
 * A header that ends past cap but not past wire was cut by the capture; one
 * that ends past wire does not fit its frame (malformed). Lengths a header
 * claims are checked against wire and clamped to it, so nothing is read past
 * cap whatever the bytes say.
 */
#include "decode.h"

#include <stdio.h>
#include <string.h>

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void mark(nh_pkt *o, unsigned m, const char *why)
{
    o->marks |= m;
    if (!o->problem)
        o->problem = why;
}

/* Are the n bytes at off captured? If not, mark why. */
static int whole_(nh_pkt *o, size_t off, size_t n, size_t cap, size_t wire,
                  const char *cut, const char *short_frame)
{
    if (off <= cap && n <= cap - off)
        return 1;
    if (off <= wire && n <= wire - off)
        mark(o, NH_PKT_TRUNCATED, cut);
    else
        mark(o, NH_PKT_MALFORMED, short_frame);
    return 0;
}
#define WHOLE(o, off, n, cap, wire, what) \
    whole_(o, off, n, cap, wire, what " cut by the capture", "packet too short for its " what)

/* The payload starts at off; a start past the captured bytes is kept at
 * their end (an empty payload, cut). */
static void payload(nh_pkt *o, size_t off, size_t cap, size_t wire)
{
    o->payload_off = off < cap ? off : cap;
    o->payload_len = cap > off ? cap - off : 0;
    o->payload_wire_len = wire > off ? wire - off : 0;
}

static void transport(nh_pkt *o, const uint8_t *p, size_t t, size_t cap, size_t wire)
{
    payload(o, t, cap, wire);
    switch (o->protocol) {
    case 17: {   /* UDP */
        if (!WHOLE(o, t, 8, cap, wire, "UDP header"))
            return;
        o->src_port = (int)be16(p + t);
        o->dst_port = (int)be16(p + t + 2);
        size_t ulen = be16(p + t + 4);
        if (ulen == 0 && o->family == 6)   /* a jumbogram: the IP length rules */
            ulen = wire - t;
        if (ulen < 8) {
            mark(o, NH_PKT_MALFORMED, "UDP length below its header's 8 bytes");
            ulen = 8;
        } else if (ulen > wire - t) {
            mark(o, NH_PKT_MALFORMED, "UDP length beyond the IP packet");
            ulen = wire - t;
        }
        size_t end = t + ulen;
        payload(o, t + 8, cap < end ? cap : end, end);
        return;
    }
    case 6: {    /* TCP */
        if (!WHOLE(o, t, 20, cap, wire, "TCP header"))
            return;
        o->tcp = 1;
        o->src_port = (int)be16(p + t);
        o->dst_port = (int)be16(p + t + 2);
        o->seq = be32(p + t + 4);
        o->ack = be32(p + t + 8);
        o->tcp_flags = p[t + 13] | (unsigned)(p[t + 12] & 1) << 8;
        o->window = be16(p + t + 14);
        size_t doff = (size_t)(p[t + 12] >> 4) * 4;
        if (doff < 20) {
            mark(o, NH_PKT_MALFORMED, "TCP data offset below its header's 20 bytes");
            payload(o, t + 20, cap, wire);
            return;
        }
        if (!WHOLE(o, t, doff, cap, wire, "TCP options")) {
            payload(o, wire, cap, wire);   /* where the data starts is not known */
            return;
        }
        payload(o, t + doff, cap, wire);
        return;
    }
    case 1:      /* ICMP */
    case 58:     /* ICMPv6 */
        if (!WHOLE(o, t, 4, cap, wire, "ICMP header"))
            return;
        o->icmp_type = p[t];
        o->icmp_code = p[t + 1];
        payload(o, t + 8 <= wire ? t + 8 : t + 4, cap, wire);
        return;
    default:
        return;
    }
}

static void ipv4(nh_pkt *o, const uint8_t *p, size_t off, size_t cap, size_t wire)
{
    if (!WHOLE(o, off, 20, cap, wire, "IPv4 header"))
        return;
    if (p[off] >> 4 != 4) {
        mark(o, NH_PKT_MALFORMED, "IP version is not 4 where the link says IPv4");
        return;
    }
    size_t ihl = (size_t)(p[off] & 15) * 4;
    if (ihl < 20) {
        mark(o, NH_PKT_MALFORMED, "IPv4 header length below 20 bytes");
        return;
    }
    o->family = 4;
    o->protocol = p[off + 9];
    o->ttl = p[off + 8];
    o->ip_id = be16(p + off + 4);
    unsigned frag = be16(p + off + 6);
    o->more_fragments = (frag & 0x2000) != 0;
    o->frag_offset = (frag & 0x1fff) * 8u;
    memcpy(o->src, p + off + 12, 4);
    memcpy(o->dst, p + off + 16, 4);
    if (o->more_fragments || o->frag_offset)
        o->marks |= NH_PKT_FRAGMENT;
    if (ihl > 20)
        o->marks |= NH_PKT_IP_OPTIONS;

    /* The packet's end on the wire; Ethernet may pad a short one. A total
     * length of 0 is what segmentation offload leaves in captured packets:
     * the frame's end is the packet's. */
    size_t tot = be16(p + off + 2), end = wire;
    if (tot && tot < ihl) {
        mark(o, NH_PKT_MALFORMED, "IPv4 total length shorter than its header");
        return;
    }
    if (tot && tot > wire - off)
        mark(o, NH_PKT_MALFORMED, "IPv4 total length beyond the frame");
    else if (tot)
        end = off + tot;
    if (!WHOLE(o, off, ihl, cap < end ? cap : end, end, "IPv4 options"))
        return;
    if (cap > end)
        cap = end;
    if (o->frag_offset) {   /* a later fragment: no transport header */
        payload(o, off + ihl, cap, end);
        return;
    }
    transport(o, p, off + ihl, cap, end);
}

static void ipv6(nh_pkt *o, const uint8_t *p, size_t off, size_t cap, size_t wire)
{
    if (!WHOLE(o, off, 40, cap, wire, "IPv6 header"))
        return;
    if (p[off] >> 4 != 6) {
        mark(o, NH_PKT_MALFORMED, "IP version is not 6 where the link says IPv6");
        return;
    }
    o->family = 6;
    o->ttl = p[off + 7];
    memcpy(o->src, p + off + 8, 16);
    memcpy(o->dst, p + off + 24, 16);
    size_t plen = be16(p + off + 4), end = wire;
    if (plen > wire - off - 40)
        mark(o, NH_PKT_MALFORMED, "IPv6 payload length beyond the frame");
    else if (plen)   /* 0: a jumbogram, or offload: the frame's end is the packet's */
        end = off + 40 + plen;
    if (cap > end)
        cap = end;

    unsigned nh = p[off + 6];
    size_t t = off + 40;
    for (int hops = 0; hops < 16; hops++) {
        size_t hl;
        if (nh == 0 || nh == 43 || nh == 60 || nh == 135 || nh == 139 || nh == 140) {
            if (!WHOLE(o, t, 2, cap, end, "IPv6 extension header"))
                goto stop;
            hl = ((size_t)p[t + 1] + 1) * 8;
            o->marks |= NH_PKT_IP_OPTIONS;
        } else if (nh == 51) {   /* AH counts in 4-byte words */
            if (!WHOLE(o, t, 2, cap, end, "IPv6 extension header"))
                goto stop;
            hl = ((size_t)p[t + 1] + 2) * 4;
            o->marks |= NH_PKT_IP_OPTIONS;
        } else if (nh == 44) {
            if (!WHOLE(o, t, 8, cap, end, "IPv6 fragment header"))
                goto stop;
            unsigned fo = be16(p + t + 2);
            o->frag_offset = fo & 0xfff8;
            o->more_fragments = fo & 1;
            o->ip_id = be32(p + t + 4);
            o->marks |= NH_PKT_FRAGMENT;
            hl = 8;
        } else
            break;
        if (!WHOLE(o, t, hl, cap, end, "IPv6 extension header"))
            goto stop;
        nh = p[t];
        t += hl;
    }
    o->protocol = (int)nh;
    if (o->frag_offset) {
        payload(o, t, cap, end);
        return;
    }
    transport(o, p, t, cap, end);
    return;
stop:
    payload(o, end, cap, end);
}

static void network(nh_pkt *o, const uint8_t *p, size_t off, size_t cap, size_t wire)
{
    payload(o, off, cap, wire);
    if (o->ethertype == 0x0800)
        ipv4(o, p, off, cap, wire);
    else if (o->ethertype == 0x86DD)
        ipv6(o, p, off, cap, wire);
}

/* A family number of BSD loopback headers -> an ethertype. */
static int family_type(uint32_t fam)
{
    if (fam > 0xffff)   /* written on a host of the other byte order */
        fam = (fam >> 24) | ((fam >> 8) & 0xff00);
    if (fam == 2)
        return 0x0800;
    if (fam == 10 || fam == 24 || fam == 28 || fam == 30)   /* AF_INET6 by OS */
        return 0x86DD;
    return -1;
}

static void link_layer(nh_pkt *o, int linktype, const uint8_t *p, size_t cap, size_t wire)
{
    switch (linktype) {
    case NH_LINK_ETHERNET: {
        if (!WHOLE(o, 0, 14, cap, wire, "Ethernet header"))
            return;
        size_t off = 14;
        unsigned type = be16(p + 12);
        /* 802.1Q and 802.1ad tags, at most two deep as switches stack them */
        for (int tags = 0; tags < 2 && (type == 0x8100 || type == 0x88a8 || type == 0x9100); tags++) {
            if (!WHOLE(o, off, 4, cap, wire, "VLAN tag"))
                return;
            type = be16(p + off + 2);
            off += 4;
        }
        o->ethertype = (int)type;
        network(o, p, off, cap, wire);
        return;
    }
    case NH_LINK_SLL:
        if (!WHOLE(o, 0, 16, cap, wire, "cooked capture header"))
            return;
        o->link_type = (int)be16(p);
        o->ethertype = (int)be16(p + 14);
        network(o, p, 16, cap, wire);
        return;
    case NH_LINK_SLL2:
        if (!WHOLE(o, 0, 20, cap, wire, "cooked capture header"))
            return;
        o->ethertype = (int)be16(p);
        o->link_type = p[10];
        network(o, p, 20, cap, wire);
        return;
    case NH_LINK_NULL:
    case NH_LINK_LOOP: {
        if (!WHOLE(o, 0, 4, cap, wire, "loopback header"))
            return;
        uint32_t fam;
        if (linktype == NH_LINK_LOOP)
            fam = be32(p);
        else
            memcpy(&fam, p, 4);
        o->ethertype = family_type(fam);
        network(o, p, 4, cap, wire);
        return;
    }
    case NH_LINK_RAW:
    case NH_LINK_RAW_OPENBSD:
    case NH_LINK_RAW_FILE:
        if (!WHOLE(o, 0, 1, cap, wire, "IP header"))
            return;
        o->ethertype = p[0] >> 4 == 6 ? 0x86DD : p[0] >> 4 == 4 ? 0x0800 : -1;
        if (o->ethertype < 0)
            mark(o, NH_PKT_MALFORMED, "IP version is neither 4 nor 6");
        network(o, p, 0, cap, wire);
        return;
    case NH_LINK_IPV4:
        o->ethertype = 0x0800;
        network(o, p, 0, cap, wire);
        return;
    case NH_LINK_IPV6:
        o->ethertype = 0x86DD;
        network(o, p, 0, cap, wire);
        return;
    default:
        o->problem = "link type not decoded";
        return;
    }
}

void nh_decode(int linktype, const uint8_t *p, size_t caplen, size_t len, nh_pkt *o)
{
    memset(o, 0, sizeof *o);
    o->ethertype = o->protocol = o->ttl = o->link_type = -1;
    o->src_port = o->dst_port = o->icmp_type = o->icmp_code = -1;
    size_t wire = len > caplen ? len : caplen;
    payload(o, 0, caplen, wire);
    link_layer(o, linktype, p, caplen, wire);
    if (o->payload_len < o->payload_wire_len)
        mark(o, NH_PKT_TRUNCATED, "payload cut by the capture");
}

void nh_tcp_flags_format(unsigned flags, char *buf, size_t cap)
{
    static const char *const names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"};
    /* SYN first, as people say "SYN,ACK" and "FIN,ACK" */
    static const int order[] = {1, 0, 2, 3, 4, 5, 6, 7, 8};
    size_t n = 0;
    if (cap)
        buf[0] = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(flags & 1u << order[i]))
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s", n ? "," : "", names[order[i]]);
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
}
