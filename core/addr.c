#include "addr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const net_names[NH_NET_COUNT] = {"udp", "udp4", "udp6", "tcp", "tcp4", "tcp6"};

int nh_net_parse(const char *name)
{
    for (int i = 0; i < NH_NET_COUNT; i++)
        if (strcmp(name, net_names[i]) == 0)
            return i;
    return -1;
}

const char *nh_net_name(int net) { return net_names[net]; }

int nh_net_is_stream(int net) { return net >= NH_TCP; }

int nh_net_family(int net)
{
    switch (net) {
    case NH_UDP4: case NH_TCP4: return AF_INET;
    case NH_UDP6: case NH_TCP6: return AF_INET6;
    default: return AF_UNSPEC;
    }
}

static int parse_port(const char *s, int *port)
{
    if (*s == '\0' || strlen(s) > 5)
        return -1;
    int v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v > 65535)
        return -1;
    *port = v;
    return 0;
}

int nh_addr_split(const char *hp, char *host, size_t hostcap, int *port, const char **err)
{
    const char *colon = strrchr(hp, ':');
    const char *h, *hend;
    if (!colon) {
        *err = "missing port in address";
        return -1;
    }
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (!close) {
            *err = "missing ']' in address";
            return -1;
        }
        if (close + 1 != colon) {
            *err = close[1] == '\0' ? "missing port in address"
                 : close[1] == ':' ? "too many colons in address" : "missing port in address";
            return -1;
        }
        h = hp + 1;
        hend = close;
        if (memchr(h, '[', (size_t)(hend - h))) {
            *err = "unexpected '[' in address";
            return -1;
        }
    } else {
        h = hp;
        hend = colon;
        if (memchr(h, ':', (size_t)(hend - h))) {
            *err = "too many colons in address";
            return -1;
        }
        if (memchr(h, '[', (size_t)(hend - h))) {
            *err = "unexpected '[' in address";
            return -1;
        }
        if (memchr(h, ']', (size_t)(hend - h))) {
            *err = "unexpected ']' in address";
            return -1;
        }
    }
    if ((size_t)(hend - h) >= hostcap) {
        *err = "host name too long";
        return -1;
    }
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    if (strchr(colon + 1, ']') || strchr(colon + 1, '[')) {
        *err = "unexpected ']' in address";
        return -1;
    }
    if (parse_port(colon + 1, port) < 0) {
        *err = "invalid port";
        return -1;
    }
    return 0;
}

static void set4(nh_addr *out, const struct in_addr *ip, int port)
{
    memset(out, 0, sizeof *out);
    out->u.in4.sin_family = AF_INET;
    out->u.in4.sin_port = htons((uint16_t)port);
    out->u.in4.sin_addr = *ip;
}

static void set6(nh_addr *out, const struct in6_addr *ip, int port, uint32_t scope)
{
    memset(out, 0, sizeof *out);
    out->u.in6.sin6_family = AF_INET6;
    out->u.in6.sin6_port = htons((uint16_t)port);
    out->u.in6.sin6_addr = *ip;
    out->u.in6.sin6_scope_id = scope;
}

/* "fe80::1%eth0" or "fe80::1%2": numeric IPv6 with a zone. */
static int parse6(const char *host, struct in6_addr *ip, uint32_t *scope)
{
    char buf[INET6_ADDRSTRLEN + 1];
    const char *pct = strchr(host, '%');
    size_t n = pct ? (size_t)(pct - host) : strlen(host);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, host, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET6, buf, ip) != 1)
        return -1;
    *scope = 0;
    if (pct) {
        char *end;
        unsigned long v = strtoul(pct + 1, &end, 10);
        if (pct[1] != '\0' && *end == '\0')
            *scope = (uint32_t)v;
        else if ((*scope = if_nametoindex(pct + 1)) == 0)
            return -1;
    }
    return 0;
}

int nh_addr_literal(int net, const char *host, int port, int passive, nh_addr *out)
{
    int fam = nh_net_family(net);
    struct in_addr ip4;
    struct in6_addr ip6;
    uint32_t scope;

    if (host[0] == '\0') {
        if (fam == AF_INET6 || (fam == AF_UNSPEC && passive)) {
            set6(out, passive ? &in6addr_any : &in6addr_loopback, port, 0);
        } else {
            ip4.s_addr = htonl(passive ? INADDR_ANY : INADDR_LOOPBACK);
            set4(out, &ip4, port);
        }
        return NH_LIT_OK;
    }
    if (strcmp(host, "localhost") == 0) {
        /* Go prefers IPv4 for "localhost" unless the network is IPv6-only. */
        if (fam == AF_INET6) {
            set6(out, &in6addr_loopback, port, 0);
        } else {
            ip4.s_addr = htonl(INADDR_LOOPBACK);
            set4(out, &ip4, port);
        }
        return NH_LIT_OK;
    }
    if (inet_pton(AF_INET, host, &ip4) == 1) {
        if (fam == AF_INET6)
            return NH_LIT_NOFAMILY;
        set4(out, &ip4, port);
        return NH_LIT_OK;
    }
    if (parse6(host, &ip6, &scope) == 0) {
        if (fam == AF_INET && !IN6_IS_ADDR_V4MAPPED(&ip6))
            return NH_LIT_NOFAMILY;
        set6(out, &ip6, port, scope);
        return NH_LIT_OK;
    }
    return NH_LIT_LOOKUP;
}

void nh_addr_ip(const nh_addr *a, char *buf, size_t cap)
{
    if (a->u.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &a->u.in4.sin_addr, buf, (socklen_t)cap);
    } else if (a->u.sa.sa_family == AF_INET6) {
        const struct in6_addr *ip = &a->u.in6.sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(ip)) {
            inet_ntop(AF_INET, &ip->s6_addr[12], buf, (socklen_t)cap);
            return;
        }
        inet_ntop(AF_INET6, ip, buf, (socklen_t)cap);
        if (a->u.in6.sin6_scope_id) {
            char zone[IF_NAMESIZE];
            size_t n = strlen(buf);
            if (if_indextoname(a->u.in6.sin6_scope_id, zone))
                snprintf(buf + n, cap - n, "%%%s", zone);
            else
                snprintf(buf + n, cap - n, "%%%u", (unsigned)a->u.in6.sin6_scope_id);
        }
    } else {
        snprintf(buf, cap, "<nil>");
    }
}

int nh_addr_port(const nh_addr *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return ntohs(a->u.in4.sin_port);
    if (a->u.sa.sa_family == AF_INET6)
        return ntohs(a->u.in6.sin6_port);
    return 0;
}

void nh_addr_format(const nh_addr *a, char *buf, size_t cap)
{
    char ip[NH_ADDR_STRLEN];
    nh_addr_ip(a, ip, sizeof ip);
    if (strchr(ip, ':'))
        snprintf(buf, cap, "[%s]:%d", ip, nh_addr_port(a));
    else
        snprintf(buf, cap, "%s:%d", ip, nh_addr_port(a));
}

int nh_addr_equal(const nh_addr *a, const nh_addr *b)
{
    if (a->u.sa.sa_family != b->u.sa.sa_family)
        return 0;
    if (a->u.sa.sa_family == AF_INET)
        return a->u.in4.sin_port == b->u.in4.sin_port &&
               a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    if (a->u.sa.sa_family == AF_INET6)
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof(struct in6_addr)) == 0;
    return 0;
}

int nh_addr_for_family(const nh_addr *a, int family, nh_addr *out)
{
    int have = a->u.sa.sa_family;
    if (have == family) {
        *out = *a;
        return 0;
    }
    if (have == AF_INET && family == AF_INET6) {
        struct in6_addr m;
        memset(&m, 0, sizeof m);
        m.s6_addr[10] = 0xff;
        m.s6_addr[11] = 0xff;
        memcpy(&m.s6_addr[12], &a->u.in4.sin_addr, 4);
        set6(out, &m, nh_addr_port(a), 0);
        return 0;
    }
    if (have == AF_INET6 && family == AF_INET && IN6_IS_ADDR_V4MAPPED(&a->u.in6.sin6_addr)) {
        struct in_addr ip4;
        memcpy(&ip4, &a->u.in6.sin6_addr.s6_addr[12], 4);
        set4(out, &ip4, nh_addr_port(a));
        return 0;
    }
    return -1;
}

void nh_addr_from_sockaddr(nh_addr *a, const struct sockaddr *sa, socklen_t len)
{
    memset(a, 0, sizeof *a);
    if (len >= (socklen_t)sizeof a->u.in4 && sa->sa_family == AF_INET)
        memcpy(&a->u.in4, sa, sizeof a->u.in4);
    else if (len >= (socklen_t)sizeof a->u.in6 && sa->sa_family == AF_INET6)
        memcpy(&a->u.in6, sa, sizeof a->u.in6);
}
