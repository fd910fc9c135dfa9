/* What the plain-C tests of core/ share: CHECK counts a failed condition and
 * names it; run counts a test as passed when none of its checks failed. */
#ifndef NH_CHECK_H
#define NH_CHECK_H

#include <stdio.h>

extern int passed, failed, checks_failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            checks_failed++;                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
        }                                                                      \
    } while (0)

static inline void run(void (*test)(void))
{
    int before = checks_failed;
    test();
    if (checks_failed == before) passed++; else failed++;
}

void rbuf_tests(void);
void bytes_tests(void);
void addr_tests(void);
void wait_tests(void);
void socket_tests(void);
void stream_tests(void);
void dgram_tests(void);
void histogram_tests(void);
void resolve_tests(void);
void prng_tests(void);
void toxic_tests(void);
void decode_tests(void);
void proc_tests(void);

#endif
