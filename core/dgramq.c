#include "dgramq.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct nh_dgramq {
    int count, next;
    struct mmsghdr msgs[NH_DGRAMQ_SLOTS];
    struct iovec iov[NH_DGRAMQ_SLOTS];
    struct sockaddr_in6 names[NH_DGRAMQ_SLOTS];
    char data[NH_DGRAMQ_SLOTS][NH_DGRAMQ_SLOT];
};

nh_dgramq *nh_dgramq_new(void)
{
    nh_dgramq *q = malloc(sizeof *q);
    if (!q)
        return NULL;
    q->count = q->next = 0;
    memset(q->msgs, 0, sizeof q->msgs);
    for (int i = 0; i < NH_DGRAMQ_SLOTS; i++) {
        q->iov[i].iov_base = q->data[i];
        q->iov[i].iov_len = NH_DGRAMQ_SLOT;
        q->msgs[i].msg_hdr.msg_iov = &q->iov[i];
        q->msgs[i].msg_hdr.msg_iovlen = 1;
        q->msgs[i].msg_hdr.msg_name = &q->names[i];
        q->msgs[i].msg_hdr.msg_namelen = sizeof q->names[i];
    }
    return q;
}

void nh_dgramq_free(nh_dgramq *q)
{
    free(q);
}

int nh_dgramq_count(const nh_dgramq *q)
{
    return q->count - q->next;
}

int nh_dgramq_fill(nh_dgramq *q, int fd, int wait)
{
    /* The kernel rewrote the name lengths of the slots it filled last time. */
    for (int i = 0; i < q->count; i++)
        q->msgs[i].msg_hdr.msg_namelen = sizeof q->names[i];
    int n;
    do
        n = recvmmsg(fd, q->msgs, NH_DGRAMQ_SLOTS, wait ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
    while (n < 0 && errno == EINTR && !wait);
    q->count = n > 0 ? n : 0;
    q->next = 0;
    return n;
}

const char *nh_dgramq_next(nh_dgramq *q, size_t max, size_t *len, nh_addr *from, int *truncated)
{
    struct mmsghdr *m = &q->msgs[q->next];
    size_t n = m->msg_len;
    /* A datagram over 64 KiB cannot be sent over IP, but say so if one was cut. */
    *truncated = n > max || (m->msg_hdr.msg_flags & MSG_TRUNC);
    *len = n > max ? max : n;
    nh_addr_from_sockaddr(from, (struct sockaddr *)&q->names[q->next], m->msg_hdr.msg_namelen);
    return q->data[q->next++];
}
