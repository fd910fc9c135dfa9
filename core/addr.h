/*
 * Networks and addresses as Go's net package spells them.
 *
 * Scripts name networks "udp", "tcp6", ... and addresses "localhost:8888",
 * ":0", "[::1]:80". This module turns those strings into socket addresses and
 * back without touching the network: numeric hosts, "localhost" and the empty
 * host are answered here; any other name needs a lookup (resolve.h), which is
 * reported rather than done, so a caller never blocks in getaddrinfo(3).
 * Error texts are Go's (net.SplitHostPort, net.AddrError).
 */
#ifndef NH_ADDR_H
#define NH_ADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

enum nh_net { NH_UDP, NH_UDP4, NH_UDP6, NH_TCP, NH_TCP4, NH_TCP6, NH_NET_COUNT };

/* An IPv4 or IPv6 address with its port; family AF_UNSPEC for none. Its length
 * follows from the family (nh_addr_len), so it takes 28 bytes, not 32. */
typedef struct nh_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u;
} nh_addr;

static inline socklen_t nh_addr_len(const nh_addr *a)
{
    return a->u.sa.sa_family == AF_INET ? (socklen_t)sizeof a->u.in4
         : a->u.sa.sa_family == AF_INET6 ? (socklen_t)sizeof a->u.in6 : 0;
}

/* Longest text nh_addr_format writes, with its NUL: "[v6%zone]:65535". */
#define NH_ADDR_STRLEN (INET6_ADDRSTRLEN + 16 + 10)
#define NH_HOST_MAX 256

int nh_net_parse(const char *name);          /* -1 if unknown */
const char *nh_net_name(int net);
int nh_net_is_stream(int net);
int nh_net_family(int net);                  /* AF_UNSPEC for the dual-stack names */

/* Split "host:port" like net.SplitHostPort and parse the port. Returns 0, or -1
 * with *err set to Go's message ("missing port in address", "invalid port"). */
int nh_addr_split(const char *hostport, char *host, size_t hostcap, int *port,
                  const char **err);

enum nh_literal { NH_LIT_OK = 0, NH_LIT_LOOKUP, NH_LIT_NOFAMILY };

/* Resolve host without a lookup when it is numeric, "localhost" or empty.
 * passive: an empty host means "any address" (listen) rather than loopback
 * (dial), and a dual-stack listener gets the IPv6 wildcard. Returns NH_LIT_LOOKUP
 * when host is a name to look up, NH_LIT_NOFAMILY when host cannot be used on
 * net (an IPv6 literal on udp4). */
int nh_addr_literal(int net, const char *host, int port, int passive, nh_addr *out);

/* Write "127.0.0.1:80" or "[::1]:80"; IPv4-mapped IPv6 prints as IPv4, as Go does. */
void nh_addr_format(const nh_addr *a, char *buf, size_t cap);

/* The IP alone, as Go's IP.String(). */
void nh_addr_ip(const nh_addr *a, char *buf, size_t cap);
int nh_addr_port(const nh_addr *a);

int nh_addr_equal(const nh_addr *a, const nh_addr *b);

/* Make a usable for a socket of the given family (IPv4 -> IPv4-mapped IPv6 for
 * dual-stack sockets). Returns -1 if it cannot be. */
int nh_addr_for_family(const nh_addr *a, int family, nh_addr *out);

/* Fill from a sockaddr the kernel gave us. */
void nh_addr_from_sockaddr(nh_addr *a, const struct sockaddr *sa, socklen_t len);

#endif
