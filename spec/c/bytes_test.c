/* The growable byte buffer: many small appends and a few large ones keep
 * every byte in order, and the memory doubles, never more. */
#include <string.h>

#include "../../core/bytes.h"
#include "check.h"

static void test_small_appends(void)
{
    nh_bytes b;
    nh_bytes_init(&b);
    CHECK(b.data == NULL && b.len == 0);
    for (int i = 0; i < 100000; i++) {
        char c = (char)('a' + i % 26);
        CHECK(nh_bytes_append(&b, &c, 1) == 0);
    }
    CHECK(b.len == 100000 && b.cap < 2 * 100000 + 256);
    int ok = 1;
    for (int i = 0; i < 100000; i++)
        ok &= b.data[i] == (char)('a' + i % 26);
    CHECK(ok);
    nh_bytes_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

static void test_large_and_empty_appends(void)
{
    static char big[1 << 20];
    memset(big, 'x', sizeof big);
    nh_bytes b;
    nh_bytes_init(&b);
    CHECK(nh_bytes_append(&b, "", 0) == 0 && b.len == 0);
    CHECK(nh_bytes_append(&b, "head", 4) == 0);
    CHECK(nh_bytes_append(&b, big, sizeof big) == 0);
    CHECK(b.len == 4 + sizeof big && memcmp(b.data, "head", 4) == 0);
    CHECK(memcmp(b.data + 4, big, sizeof big) == 0);
    CHECK(nh_bytes_append(&b, big, (size_t)-1 / 2) == -1);   /* refused, nothing changed */
    CHECK(b.len == 4 + sizeof big);
    nh_bytes_free(&b);
}

void bytes_tests(void)
{
    run(test_small_appends);
    run(test_large_and_empty_appends);
}
