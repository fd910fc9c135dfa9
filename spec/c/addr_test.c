/* Addresses (core/addr.c): Go's SplitHostPort errors, literals, formats. */
#include <string.h>
#include <sys/socket.h>

#include "../../core/addr.h"
#include "check.h"

static void test_split(void)
{
    char host[NH_HOST_MAX];
    int port;
    const char *err;
    CHECK(nh_addr_split("127.0.0.1:80", host, sizeof host, &port, &err) == 0);
    CHECK(strcmp(host, "127.0.0.1") == 0 && port == 80);
    CHECK(nh_addr_split("[::1]:8888", host, sizeof host, &port, &err) == 0);
    CHECK(strcmp(host, "::1") == 0 && port == 8888);
    CHECK(nh_addr_split(":0", host, sizeof host, &port, &err) == 0 && host[0] == 0 && port == 0);
    CHECK(nh_addr_split("localhost", host, sizeof host, &port, &err) < 0);
    CHECK(strcmp(err, "missing port in address") == 0);
    CHECK(nh_addr_split("a:99999", host, sizeof host, &port, &err) < 0 && strcmp(err, "invalid port") == 0);
    CHECK(nh_addr_split("a:-1", host, sizeof host, &port, &err) < 0);
    CHECK(nh_addr_split("::1:80", host, sizeof host, &port, &err) < 0);   /* too many colons */
    CHECK(nh_addr_split("[::1:80", host, sizeof host, &port, &err) < 0);
}

static void test_literal_and_format(void)
{
    nh_addr a, b;
    char buf[NH_ADDR_STRLEN];
    int udp4 = nh_net_parse("udp4"), udp = nh_net_parse("udp"), tcp6 = nh_net_parse("tcp6");
    CHECK(udp4 >= 0 && udp >= 0 && tcp6 >= 0 && nh_net_parse("sctp") < 0);
    CHECK(nh_net_is_stream(tcp6) && !nh_net_is_stream(udp));
    CHECK(nh_addr_literal(udp4, "127.0.0.1", 8888, 0, &a) == NH_LIT_OK);
    nh_addr_format(&a, buf, sizeof buf);
    CHECK(strcmp(buf, "127.0.0.1:8888") == 0 && nh_addr_port(&a) == 8888);
    CHECK(nh_addr_literal(udp4, "::1", 1, 0, &b) == NH_LIT_NOFAMILY);
    CHECK(nh_addr_literal(udp, "example.com", 1, 0, &b) == NH_LIT_LOOKUP);
    CHECK(nh_addr_literal(tcp6, "::1", 443, 0, &b) == NH_LIT_OK);
    nh_addr_format(&b, buf, sizeof buf);
    CHECK(strcmp(buf, "[::1]:443") == 0);
    nh_addr_ip(&b, buf, sizeof buf);
    CHECK(strcmp(buf, "::1") == 0);
    CHECK(!nh_addr_equal(&a, &b));
    CHECK(nh_addr_literal(udp4, "localhost", 8888, 0, &b) == NH_LIT_OK && nh_addr_equal(&a, &b));
    /* IPv4 for a dual-stack socket becomes IPv4-mapped, and prints as IPv4 */
    nh_addr m;
    CHECK(nh_addr_for_family(&a, AF_INET6, &m) == 0 && m.u.sa.sa_family == AF_INET6);
    nh_addr_format(&m, buf, sizeof buf);
    CHECK(strcmp(buf, "127.0.0.1:8888") == 0);
    CHECK(nh_addr_literal(udp, "", 0, 1, &b) == NH_LIT_OK);   /* listen: any address */
}

void addr_tests(void)
{
    run(test_split);
    run(test_literal_and_format);
}
