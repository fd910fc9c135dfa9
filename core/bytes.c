#include "bytes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void nh_bytes_init(nh_bytes *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

int nh_bytes_append(nh_bytes *b, const char *p, size_t n)
{
    if (n > b->cap - b->len) {
        if (n > SIZE_MAX / 2 - b->len)
            return -1;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data)
            return -1;
        b->data = data;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void nh_bytes_free(nh_bytes *b)
{
    free(b->data);
    nh_bytes_init(b);
}
