/* The packet decoder (core/decode.c): every layer it knows, the marks for
 * cut and malformed frames, and a fuzz pass: every cut of some real frames,
 * flipped bytes and random frames of every link type, each in a heap block of
 * exactly its size, so that under ASan (make test's second pass) a read one
 * byte past the captured bytes stops the test. */
#include <stdlib.h>
#include <string.h>

#include "../../core/decode.h"
#include "../../core/prng.h"
#include "check.h"

typedef struct frame {
    uint8_t b[256];
    size_t n;
} frame;

static void put(frame *f, const void *p, size_t n)
{
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void put16(frame *f, unsigned v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(f, b, 2);
}

static void put32(frame *f, uint32_t v)
{
    put16(f, v >> 16);
    put16(f, v & 0xffff);
}

static void ether(frame *f, unsigned type)
{
    static const uint8_t macs[12] = {0};
    put(f, macs, 12);
    put16(f, type);
}

/* IPv4 header: ihl words (5 or more; options are NOPs), total length of the
 * packet, protocol, fragment field. */
static void ipv4(frame *f, unsigned ihl, unsigned total, unsigned proto, unsigned frag)
{
    uint8_t h[20] = {(uint8_t)(0x40 | ihl), 0, (uint8_t)(total >> 8), (uint8_t)total, 0x12, 0x34,
                     (uint8_t)(frag >> 8), (uint8_t)frag, 64, (uint8_t)proto, 0, 0,
                     127, 0, 0, 1, 127, 0, 0, 2};
    put(f, h, 20);
    for (unsigned i = 5; i < ihl; i++)
        put32(f, 0x01010101);
}

static void udp(frame *f, unsigned sport, unsigned dport, const char *data)
{
    size_t n = strlen(data);
    put16(f, sport);
    put16(f, dport);
    put16(f, (unsigned)(8 + n));
    put16(f, 0);
    put(f, data, n);
}

static void tcp(frame *f, unsigned flags, unsigned doff, const char *data)
{
    put16(f, 51234);
    put16(f, 8080);
    put32(f, 1000);
    put32(f, 2000);
    put16(f, (doff << 12) | flags);
    put16(f, 65535);
    put32(f, 0);
    for (unsigned i = 5; i < doff; i++)
        put32(f, 0x01010101);
    put(f, data, strlen(data));
}

static frame udp4_frame(const char *data)
{
    frame f = {.n = 0};
    ether(&f, 0x0800);
    ipv4(&f, 5, (unsigned)(28 + strlen(data)), 17, 0);
    udp(&f, 51234, 8888, data);
    return f;
}

static int payload_is(const frame *f, const nh_pkt *d, const char *want)
{
    return d->payload_len == strlen(want) && memcmp(f->b + d->payload_off, want, d->payload_len) == 0;
}

static void test_udp4(void)
{
    frame f = udp4_frame("Hello from client");
    nh_pkt d;
    nh_decode(NH_LINK_ETHERNET, f.b, f.n, f.n, &d);
    CHECK(d.ethertype == 0x0800 && d.family == 4 && d.protocol == 17);
    CHECK(d.src[0] == 127 && d.src[3] == 1 && d.dst[3] == 2 && d.ttl == 64);
    CHECK(d.src_port == 51234 && d.dst_port == 8888);
    CHECK(payload_is(&f, &d, "Hello from client") && d.payload_wire_len == 17);
    CHECK(d.marks == 0 && d.problem == NULL && !d.tcp && d.icmp_type == -1);

    /* Ethernet pads short frames: the IP length says where the packet ends */
    frame pad = udp4_frame("hi");
    memset(pad.b + pad.n, 0, 18);
    pad.n += 18;
    nh_decode(NH_LINK_ETHERNET, pad.b, pad.n, pad.n, &d);
    CHECK(payload_is(&pad, &d, "hi") && d.marks == 0);

    /* a VLAN tag */
    frame v = {.n = 0};
    ether(&v, 0x8100);
    put16(&v, 42);
    put16(&v, 0x0800);
    ipv4(&v, 5, 28 + 3, 17, 0);
    udp(&v, 1, 2, "abc");
    nh_decode(NH_LINK_ETHERNET, v.b, v.n, v.n, &d);
    CHECK(d.family == 4 && d.dst_port == 2 && payload_is(&v, &d, "abc"));
}

static void test_tcp_and_options(void)
{
    frame f = {.n = 0};
    ether(&f, 0x0800);
    ipv4(&f, 6, 24 + 24 + 4, 6, 0x4000);   /* DF; one word of options */
    tcp(&f, NH_TCP_PSH | NH_TCP_ACK, 6, "GET ");
    nh_pkt d;
    nh_decode(NH_LINK_ETHERNET, f.b, f.n, f.n, &d);
    CHECK(d.family == 4 && d.protocol == 6 && d.tcp);
    CHECK(d.marks == NH_PKT_IP_OPTIONS);   /* DF alone is not a fragment */
    CHECK(d.seq == 1000 && d.ack == 2000 && d.window == 65535);
    CHECK(d.tcp_flags == (NH_TCP_PSH | NH_TCP_ACK) && d.src_port == 51234 && d.dst_port == 8080);
    CHECK(payload_is(&f, &d, "GET "));

    char buf[NH_TCP_FLAGS_STRLEN];
    nh_tcp_flags_format(NH_TCP_SYN | NH_TCP_ACK, buf, sizeof buf);
    CHECK(strcmp(buf, "SYN,ACK") == 0);
    nh_tcp_flags_format(NH_TCP_FIN | NH_TCP_ACK, buf, sizeof buf);
    CHECK(strcmp(buf, "FIN,ACK") == 0);
    nh_tcp_flags_format(0x1ff, buf, sizeof buf);
    CHECK(strcmp(buf, "SYN,FIN,RST,PSH,ACK,URG,ECE,CWR,NS") == 0);
    nh_tcp_flags_format(0, buf, sizeof buf);
    CHECK(buf[0] == 0);
}

static void test_fragments(void)
{
    nh_pkt d;
    frame first = {.n = 0};
    ether(&first, 0x0800);
    ipv4(&first, 5, 20 + 8 + 8, 17, 0x2000);   /* MF, offset 0 */
    udp(&first, 7, 9, "12345678");
    nh_decode(NH_LINK_ETHERNET, first.b, first.n, first.n, &d);
    CHECK(d.marks == NH_PKT_FRAGMENT && d.more_fragments && d.frag_offset == 0);
    CHECK(d.dst_port == 9 && d.ip_id == 0x1234);

    frame later = {.n = 0};
    ether(&later, 0x0800);
    ipv4(&later, 5, 20 + 5, 17, 2);   /* offset 16 bytes, last fragment */
    put(&later, "tail!", 5);
    nh_decode(NH_LINK_ETHERNET, later.b, later.n, later.n, &d);
    CHECK(d.marks == NH_PKT_FRAGMENT && !d.more_fragments && d.frag_offset == 16);
    CHECK(d.src_port == -1 && payload_is(&later, &d, "tail!"));
}

static void test_ipv6(void)
{
    frame f = {.n = 0};
    ether(&f, 0x86DD);
    uint8_t h[8] = {0x60, 0, 0, 0, 0, 8 + 8 + 8 + 4, 0 /* hop-by-hop */, 255};
    put(&f, h, 8);
    uint8_t ip[16] = {0};
    ip[15] = 1;
    put(&f, ip, 16);
    put(&f, ip, 16);
    uint8_t hbh[8] = {44 /* next: fragment */, 0, 1, 4, 0, 0, 0, 0};
    put(&f, hbh, 8);
    uint8_t fh[8] = {17, 0, 0, 1 /* offset 0, M */, 0, 0, 0, 7};
    put(&f, fh, 8);
    udp(&f, 5353, 53, "abcd");
    nh_pkt d;
    nh_decode(NH_LINK_ETHERNET, f.b, f.n, f.n, &d);
    CHECK(d.family == 6 && d.protocol == 17 && d.ttl == 255);
    CHECK(d.marks == (NH_PKT_IP_OPTIONS | NH_PKT_FRAGMENT) && d.more_fragments && d.ip_id == 7);
    CHECK(d.src[15] == 1 && d.src_port == 5353 && d.dst_port == 53 && payload_is(&f, &d, "abcd"));

    /* the same packet bare (raw IP) and as ICMPv6 */
    nh_decode(NH_LINK_RAW, f.b + 14, f.n - 14, f.n - 14, &d);
    CHECK(d.family == 6 && d.dst_port == 53);
    frame g = {.n = 0};
    uint8_t h2[8] = {0x60, 0, 0, 0, 0, 8, 58, 64};
    put(&g, h2, 8);
    put(&g, ip, 16);
    put(&g, ip, 16);
    uint8_t echo[8] = {128, 0, 0, 0, 0, 1, 0, 1};
    put(&g, echo, 8);
    nh_decode(NH_LINK_IPV6, g.b, g.n, g.n, &d);
    CHECK(d.protocol == 58 && d.icmp_type == 128 && d.icmp_code == 0 && d.payload_len == 0);
}

static void test_links(void)
{
    frame inner = udp4_frame("x");
    const uint8_t *ip = inner.b + 14;
    size_t n = inner.n - 14;
    nh_pkt d;

    frame sll = {.n = 0};
    put16(&sll, 4);   /* outgoing */
    put16(&sll, 772);
    put16(&sll, 6);
    uint8_t addr[8] = {0};
    put(&sll, addr, 8);
    put16(&sll, 0x0800);
    put(&sll, ip, n);
    nh_decode(NH_LINK_SLL, sll.b, sll.n, sll.n, &d);
    CHECK(d.family == 4 && d.link_type == 4 && payload_is(&sll, &d, "x"));

    frame sll2 = {.n = 0};
    put16(&sll2, 0x0800);
    put16(&sll2, 0);
    put32(&sll2, 1);
    put16(&sll2, 772);
    uint8_t pt[2] = {0, 6};
    put(&sll2, pt, 2);
    put(&sll2, addr, 8);
    put(&sll2, ip, n);
    nh_decode(NH_LINK_SLL2, sll2.b, sll2.n, sll2.n, &d);
    CHECK(d.family == 4 && d.link_type == 0 && payload_is(&sll2, &d, "x"));

    frame null = {.n = 0};
    uint32_t fam = 2;
    put(&null, &fam, 4);
    put(&null, ip, n);
    nh_decode(NH_LINK_NULL, null.b, null.n, null.n, &d);
    CHECK(d.family == 4 && d.dst_port == 8888);
    frame loop = {.n = 0};
    put32(&loop, 2);
    put(&loop, ip, n);
    nh_decode(NH_LINK_LOOP, loop.b, loop.n, loop.n, &d);
    CHECK(d.family == 4 && d.dst_port == 8888);

    nh_decode(147, inner.b, inner.n, inner.n, &d);   /* a user link type */
    CHECK(d.family == 0 && d.problem && d.payload_len == inner.n);
    frame arp = {.n = 0};
    ether(&arp, 0x0806);
    put32(&arp, 0x00010800);
    nh_decode(NH_LINK_ETHERNET, arp.b, arp.n, arp.n, &d);
    CHECK(d.ethertype == 0x0806 && d.family == 0 && d.marks == 0 && d.payload_len == 4);
}

static void test_cut_and_malformed(void)
{
    frame f = udp4_frame("Hello from client");
    nh_pkt d;
    /* a snaplen of 50 cuts the payload: decoded as far as it goes */
    nh_decode(NH_LINK_ETHERNET, f.b, 50, f.n, &d);
    CHECK(d.marks == NH_PKT_TRUNCATED && d.problem && d.dst_port == 8888);
    CHECK(d.payload_len == 50 - 42 && d.payload_wire_len == 17);
    /* cut inside the IP header */
    nh_decode(NH_LINK_ETHERNET, f.b, 20, f.n, &d);
    CHECK(d.marks == NH_PKT_TRUNCATED && d.family == 0 && strstr(d.problem, "IPv4 header"));
    /* a frame that ends inside the IP header is malformed, not cut */
    nh_decode(NH_LINK_ETHERNET, f.b, 20, 20, &d);
    CHECK(d.marks == NH_PKT_MALFORMED && strstr(d.problem, "too short"));
    /* lengths that lie */
    frame g = f;
    g.b[16] = 0x10;   /* total length 4096: beyond the frame */
    nh_decode(NH_LINK_ETHERNET, g.b, g.n, g.n, &d);
    CHECK((d.marks & NH_PKT_MALFORMED) && d.dst_port == 8888 && payload_is(&g, &d, "Hello from client"));
    g = f;
    g.b[14 + 20 + 5] = 4;   /* UDP length 4 */
    nh_decode(NH_LINK_ETHERNET, g.b, g.n, g.n, &d);
    CHECK((d.marks & NH_PKT_MALFORMED) && d.payload_len == 0);
    g = f;
    g.b[14 + 20 + 5] = 200;   /* UDP length beyond the packet */
    nh_decode(NH_LINK_ETHERNET, g.b, g.n, g.n, &d);
    CHECK((d.marks & NH_PKT_MALFORMED) && payload_is(&g, &d, "Hello from client"));
    g = f;
    g.b[14] = 0x45 + 0x10;   /* version 5 */
    nh_decode(NH_LINK_ETHERNET, g.b, g.n, g.n, &d);
    CHECK(d.marks == NH_PKT_MALFORMED && d.family == 0);
    g = f;
    g.b[14] = 0x43;   /* header length 12 */
    nh_decode(NH_LINK_ETHERNET, g.b, g.n, g.n, &d);
    CHECK(d.marks == NH_PKT_MALFORMED);

    frame t = {.n = 0};
    ether(&t, 0x0800);
    ipv4(&t, 5, 40, 6, 0);
    tcp(&t, NH_TCP_SYN, 2, "");   /* data offset 2 words */
    nh_decode(NH_LINK_ETHERNET, t.b, t.n, t.n, &d);
    CHECK((d.marks & NH_PKT_MALFORMED) && d.tcp && d.tcp_flags == NH_TCP_SYN);
    nh_decode(NH_LINK_ETHERNET, t.b, 0, 0, &d);
    CHECK(d.marks == NH_PKT_MALFORMED && d.payload_len == 0);
}

/* Decode from a heap block of exactly caplen bytes, and check that whatever
 * the bytes, the payload lies inside them. */
static int decode_exact(int link, const uint8_t *src, size_t caplen, size_t len)
{
    uint8_t *p = malloc(caplen ? caplen : 1);
    memcpy(p, src, caplen);
    nh_pkt d;
    nh_decode(link, p, caplen, len, &d);
    free(p);
    int ok = d.payload_off + d.payload_len <= caplen && d.payload_off <= (len > caplen ? len : caplen);
    ok &= (d.marks & (NH_PKT_TRUNCATED | NH_PKT_MALFORMED)) ? d.problem != NULL : 1;
    if (!ok)
        fprintf(stderr, "decode: link %d caplen %zu len %zu: payload %zu+%zu marks %u\n", link,
                caplen, len, d.payload_off, d.payload_len, d.marks);
    return ok;
}

static void test_fuzz(void)
{
    static const int links[] = {NH_LINK_NULL, NH_LINK_ETHERNET, NH_LINK_RAW, NH_LINK_LOOP,
                                NH_LINK_SLL, NH_LINK_IPV4, NH_LINK_IPV6, NH_LINK_SLL2, 9999};
    frame seeds[4];
    seeds[0] = udp4_frame("Hello from client");
    seeds[1].n = 0;
    ether(&seeds[1], 0x0800);
    ipv4(&seeds[1], 7, 28 + 20 + 3, 6, 0x2000);
    tcp(&seeds[1], NH_TCP_SYN, 6, "abc");
    seeds[2].n = 0;
    ether(&seeds[2], 0x86DD);
    uint8_t h[40] = {0x60, 0, 0, 0, 0, 24, 60, 64};
    put(&seeds[2], h, 40);
    uint8_t dst_opts[8] = {44, 0, 1, 4, 0, 0, 0, 0};
    put(&seeds[2], dst_opts, 8);
    uint8_t fh[8] = {6, 0, 0, 1, 0, 0, 0, 9};
    put(&seeds[2], fh, 8);
    put32(&seeds[2], 0x12345678);
    put32(&seeds[2], 0);
    seeds[3].n = 0;
    ether(&seeds[3], 0x8100);
    put16(&seeds[3], 1);
    put16(&seeds[3], 0x0800);
    ipv4(&seeds[3], 5, 28, 1, 0);
    put32(&seeds[3], 0x03030000);
    put32(&seeds[3], 0);

    int bad = 0;
    long cases = 0;
    /* every cut of every seed, as a snaplen cuts (len whole) and as a short frame */
    for (size_t s = 0; s < 4; s++)
        for (size_t cut = 0; cut <= seeds[s].n; cut++)
            for (size_t l = 0; l < sizeof links / sizeof links[0]; l++) {
                bad += !decode_exact(links[l], seeds[s].b, cut, seeds[s].n);
                bad += !decode_exact(links[l], seeds[s].b, cut, cut);
                cases += 2;
            }
    /* flipped bytes, and random frames */
    nh_prng r;
    nh_prng_seed(&r, 18, "decode", 0);
    uint8_t buf[256];
    for (int i = 0; i < 200000; i++) {
        size_t s = i % 4, n;
        if (i % 2) {
            memcpy(buf, seeds[s].b, seeds[s].n);
            n = seeds[s].n;
            for (int k = 0, flips = 1 + (int)(nh_prng_next(&r) % 4); k < flips; k++)
                buf[nh_prng_next(&r) % n] = (uint8_t)nh_prng_next(&r);
        } else {
            n = nh_prng_next(&r) % sizeof buf;
            for (size_t k = 0; k < n; k++)
                buf[k] = (uint8_t)nh_prng_next(&r);
            if (n > 14 && i % 3 == 0) {   /* plausibly IP, to go deeper */
                buf[12] = 0x08;
                buf[13] = 0;
                buf[14] = 0x45;
            }
        }
        size_t caplen = nh_prng_next(&r) % (n + 1);
        size_t len = caplen + nh_prng_next(&r) % 3 * (nh_prng_next(&r) % 100);
        bad += !decode_exact(links[nh_prng_next(&r) % (sizeof links / sizeof links[0])], buf, caplen, len);
        bad += !decode_exact(NH_LINK_ETHERNET, buf, n, n);
        cases += 2;
    }
    CHECK(bad == 0);
    CHECK(cases > 400000);
}

void decode_tests(void)
{
    run(test_udp4);
    run(test_tcp_and_options);
    run(test_fragments);
    run(test_ipv6);
    run(test_links);
    run(test_cut_and_malformed);
    run(test_fuzz);
}
