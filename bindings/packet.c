/*
 * PacketConn: net.ListenPacket's unconnected UDP socket, read_from / write_to.
 *
 * One datagram per call both ways. Datagrams are received into one static
 * buffer and become a Lua string once; the sender's Addr object is reused
 * while the sender stays the same, so an echo loop allocates one string per
 * datagram and nothing else.
 */
#include <errno.h>
#include <string.h>

#include "../core/dgramq.h"
#include "nh.h"

#define NH_DGRAM_MAX 65536
#define NH_BUSY_READS 32   /* reads in a row that found data before a socket gets a queue */
#define NH_BATCH_SINGLES 8 /* lone fills in a row that got one datagram before batching stops */
static char dgram[NH_DGRAM_MAX];


static int is_again(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

/* listen_packet(network, address) */

static int listen_packet_at(lua_State *L, int net, const nh_addr *a)
{
    const char *sys;
    nh_lsock *ls = nh_sock_new(L, NH_K_PACKET, net);
    if (nh_socket_listen(&ls->s, a, -1, &sys) < 0)
        return nh_fail(L, "listen", net, NULL, a, NH_ERR_SYS, sys, errno, NULL);
    return 1;
}

static int check_packet_net(lua_State *L, int arg)
{
    int net = nh_check_net(L, arg);
    if (nh_net_is_stream(net))
        luaL_argerror(L, arg, lua_pushfstring(L, "listen_packet needs udp, udp4 or udp6 (got %s; "
                                                 "use listen for tcp)", nh_net_name(net)));
    return net;
}

static int listen_packet_k(lua_State *L, int status, lua_KContext ctx)
{
    int net = check_packet_net(L, 1);
    (void)status;
    (void)ctx;
    if (lua_isnil(L, 3))
        return nh_fail(L, "listen", net, NULL, NULL, NH_ERR_TEXT, lua_tostring(L, 4), 0,
                       lua_tostring(L, 5));
    return listen_packet_at(L, net, nh_to_addr(L, 3));
}

static int l_listen_packet(lua_State *L)
{
    int net = check_packet_net(L, 1);
    char host[NH_HOST_MAX];
    int port;
    nh_addr a;
    lua_settop(L, 2);
    int r = nh_check_addr(L, 2, net, 1, &a, host, sizeof host, &port);
    if (r == 1)
        return listen_packet_at(L, net, &a);
    if (r < 0)
        return nh_fail_no_address(L, "listen", net, NULL, host);
    return nh_lookup_call(L, net, host, port, 0, 0, listen_packet_k);
}

/* conn:read_from([max [, timeout]]) -> data, addr, truncated | nil, err */

static int check_max(lua_State *L, int arg)
{
    lua_Integer max = nh_opt_integer(L, arg, NH_DGRAM_MAX);
    luaL_argcheck(L, max >= 1 && max <= NH_DGRAM_MAX, arg, "max must be between 1 and 65536");
    return (int)max;
}

/* The sender's Addr: the one made for the previous datagram when the sender
 * is the same (user value 1 keeps it). */
static void push_sender(lua_State *L, nh_lsock *ls, int self, const nh_addr *from)
{
    nh_lpacket *lp = (nh_lpacket *)ls;
    if (nh_addr_len(&lp->last_from) && nh_addr_equal(from, &lp->last_from)) {
        lua_getiuservalue(L, self, 1);
        return;
    }
    nh_push_addr(L, from, ls->s.net);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, self, 1);
    lp->last_from = *from;
    lp->last_from_ud = lua_touserdata(L, -1);
}

static int push_datagram(lua_State *L, nh_lsock *ls, const char *data, size_t len, const nh_addr *from,
                         int truncated)
{
    nh_push_recent(L, data, len);
    push_sender(L, ls, 1, from);
    lua_pushboolean(L, truncated);
    return 3;
}

static int read_from_k(lua_State *L, int status, lua_KContext ctx);

/* The next datagram of those a batch left in the socket's queue. */
static int push_queued(lua_State *L, nh_lpacket *lp, int max)
{
    nh_addr from;
    int truncated;
    size_t len;
    const char *data = nh_dgramq_next(lp->queue, (size_t)max, &len, &from, &truncated);
    return push_datagram(L, &lp->base, data, len, &from, truncated);
}

/* A lone reader (nh_alone) waits in the system call. A look before the wait
 * now and then (nh_read_wait_first_alone) tells whether datagrams queue up
 * meanwhile: if two looks in a row find one, the waits fill the queue
 * (recvmmsg), one system call for all that are there; when fills keep getting
 * one datagram, or a look finds none, a wait receives one (recvfrom), which
 * costs the kernel less. */
static void batch_if(nh_lpacket *lp, int found)
{
    lp->hits = found ? (lp->hits < 2 ? lp->hits + 1 : 2) : 0;
    if (lp->hits == 2 && !lp->batch) {
        if (!lp->queue)
            lp->queue = nh_dgramq_new();   /* NULL on no memory: go on without */
        lp->batch = lp->queue != NULL;
        lp->singles = 0;
    }
}

/* The lone wait: a datagram's bytes (valid until the next receive), or NULL
 * with errno for nh_alone_wait_status. */
static const char *lone_receive(nh_lpacket *lp, int max, size_t *len, nh_addr *from, int *truncated,
                                double call_deadline, double timeout)
{
    nh_socket *s = &lp->base.s;
    if (!lp->batch) {
        ssize_t n = nh_socket_recvfrom_wait(s, dgram, (size_t)max, from, truncated, call_deadline,
                                            timeout);
        *len = n > 0 ? (size_t)n : 0;
        return n >= 0 ? dgram : NULL;
    }
    int n = nh_socket_arm_wait(s, call_deadline, timeout);
    if (n == 0)
        n = nh_dgramq_fill(lp->queue, s->fd, 1);
    if (n <= 0) {
        nh_socket_wait_failed(timeout);
        return NULL;
    }
    if (n > 1)
        lp->singles = 0;
    else if (++lp->singles == NH_BATCH_SINGLES)
        lp->batch = 0;
    return nh_dgramq_next(lp->queue, (size_t)max, len, from, truncated);
}

/* The read with its arguments as C values; a wait first leaves them on the
 * stack (self, max, deadline) for the continuation. A call's deadline is made
 * from `timeout` (seconds, -1 for none) when it first has to wait. */
static int read_from_run(lua_State *L, nh_lpacket *lp, int max, double call_deadline, double timeout,
                         int st, int waited)
{
    nh_lsock *ls = &lp->base;
    const nh_addr *local = nh_sock_laddr(ls);
    for (;;) {
        if (st != NH_WAKE_READY)
            return nh_fail_wake(L, "read", ls->s.net, local, NULL, st);
        if (!nh_socket_is_open(&ls->s))
            return nh_fail(L, "read", ls->s.net, local, NULL, NH_ERR_CLOSED, NULL, 0, NULL);
        if (nh_side_expired(&ls->s.rd))
            return nh_fail(L, "read", ls->s.net, local, NULL, NH_ERR_TIMEOUT, NULL, 0, NULL);
        if (lp->queue && nh_dgramq_count(lp->queue) > 0)
            return push_queued(L, lp, max);
        nh_addr from;
        int truncated;
        size_t len;
        int alone = nh_alone(L);
        if (waited || timeout == 0 || !(alone ? nh_read_wait_first_alone(ls) : nh_read_wait_first(ls))) {
            const char *data = NULL;
            if (lp->queue) {
                if (nh_dgramq_fill(lp->queue, ls->s.fd, 0) > 0)
                    data = nh_dgramq_next(lp->queue, (size_t)max, &len, &from, &truncated);
            } else {
                ssize_t n = nh_socket_recvfrom(&ls->s, dgram, (size_t)max, &from, &truncated);
                if (n >= 0) {
                    data = dgram;
                    len = (size_t)n;
                    if (waited)
                        lp->busy = 0;
                    else if (++lp->busy == NH_BUSY_READS)
                        lp->queue = nh_dgramq_new();   /* NULL on no memory: go on without */
                }
            }
            if (!data && !is_again(errno))
                return nh_fail(L, "read", ls->s.net, local, NULL, NH_ERR_SYS, "recvfrom", errno, NULL);
            if (alone && !waited)
                batch_if(lp, data != NULL);
            if (data) {
                nh_read_done(ls, waited);
                return push_datagram(L, ls, data, len, &from, truncated);
            }
            if (timeout == 0)   /* what is there now: one attempt, no wait */
                return nh_fail(L, "read", ls->s.net, local, NULL, NH_ERR_TIMEOUT, NULL, 0, NULL);
        }
        waited = 1;
        if (timeout >= 0 && !(alone && nh_socket_plain_wait(&ls->s, timeout))) {
            call_deadline = nh_deadline_in(timeout);
            timeout = -1;
        }
        if (alone) {
            const char *data = lone_receive(lp, max, &len, &from, &truncated, call_deadline, timeout);
            if (data) {
                nh_read_done(ls, 1);
                lp->busy = 0;
                return push_datagram(L, ls, data, len, &from, truncated);
            }
            st = nh_alone_wait_status(L, &call_deadline, &timeout);
            if (st < 0)
                return nh_fail(L, "read", ls->s.net, local, NULL, NH_ERR_SYS, "recvfrom", errno, NULL);
            continue;
        }
        lua_settop(L, 1);
        lua_pushinteger(L, max);
        lua_pushnumber(L, call_deadline);
        nh_block blk;
        nh_socket_wait(&ls->s, &ls->s.rd, nh_wait_begin(L, &blk), call_deadline);
        st = nh_suspend(L, &blk, 0, read_from_k);
    }
}

static int read_from_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)ctx;
    return read_from_run(L, lua_touserdata(L, 1), (int)lua_tointeger(L, 2), lua_tonumber(L, 3), -1,
                         NH_K_STATUS(L, status), status == LUA_YIELD);
}

static int l_read_from(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_read_from);
    nh_lpacket *lp = (nh_lpacket *)nh_check_sock(L, 1, NH_K_PACKET);
    int max = check_max(L, 2);
    double timeout = nh_opt_seconds(L, 3);
    /* A busy socket's reads mostly find a queued datagram: then the socket is
     * open (closing frees the queue) and the deadline is all to check. */
    if (lp->queue && nh_dgramq_count(lp->queue) > 0 && !nh_side_expired(&lp->base.s.rd))
        return push_queued(L, lp, max);
    return read_from_run(L, lp, max, 0, timeout, NH_WAKE_READY, 0);
}

/* conn:write_to(data, address [, timeout]) -> bytes | nil, err */

static int write_to_k(lua_State *L, int status, lua_KContext ctx);

/* Send to `dest`, waiting while the socket cannot take the datagram. A wait
 * first leaves the deadline at stack slot 5 for the continuation (slots 6..8
 * hold a lookup's results when there was one). */
static int write_to_run(lua_State *L, nh_lsock *ls, const nh_addr *dest, const char *data,
                        size_t len, double call_deadline, double timeout, int st)
{
    const nh_addr *local = nh_sock_laddr(ls);
    nh_addr to;
    for (;;) {
        if (st != NH_WAKE_READY)
            return nh_fail_wake(L, "write", ls->s.net, local, dest, st);
        if (!nh_socket_is_open(&ls->s))
            return nh_fail(L, "write", ls->s.net, local, dest, NH_ERR_CLOSED, NULL, 0, NULL);
        if (nh_socket_wr_expired(&ls->s))
            return nh_fail(L, "write", ls->s.net, local, dest, NH_ERR_TIMEOUT, NULL, 0, NULL);
        if (nh_addr_for_family(dest, ls->s.laddr.u.sa.sa_family, &to) < 0)
            return nh_fail(L, "write", ls->s.net, local, dest, NH_ERR_SYS, "sendto",
                           EAFNOSUPPORT, NULL);
        ssize_t n = nh_socket_sendto(&ls->s, data, len, &to);
        if (n >= 0) {
            lua_pushinteger(L, n);
            return 1;
        }
        if (!is_again(errno))
            return nh_fail(L, "write", ls->s.net, local, dest, NH_ERR_SYS, "sendto", errno, NULL);
        nh_side *wr = nh_socket_wr(&ls->s);
        if (!wr)
            return nh_fail(L, "write", ls->s.net, local, dest, NH_ERR_SYS, "sendto", ENOMEM, NULL);
        if (timeout >= 0) {
            call_deadline = nh_deadline_in(timeout);
            timeout = -1;
        }
        if (lua_gettop(L) < 5) {
            lua_settop(L, 4);
            lua_pushnumber(L, call_deadline);
        }
        nh_block blk;
        nh_socket_wait(&ls->s, wr, nh_wait_begin(L, &blk), call_deadline);
        st = nh_suspend(L, &blk, 0, write_to_k);
    }
}

/* After a wait or a lookup: find the destination again from the stack
 * (argument 3, or what the lookup left at 6..8). */
static int write_to_k(lua_State *L, int status, lua_KContext ctx)
{
    nh_lsock *ls = lua_touserdata(L, 1);   /* checked by l_write_to */
    nh_addr dest;
    char host[NH_HOST_MAX];
    int port;
    size_t len;
    const char *data = lua_tolstring(L, 2, &len);
    (void)ctx;
    if (lua_gettop(L) >= 6 && !lua_isnil(L, 6)) {
        dest = *nh_to_addr(L, 6);                 /* looked up */
    } else if (lua_gettop(L) >= 6) {
        return nh_fail(L, "write", ls->s.net, nh_sock_laddr(ls), NULL, NH_ERR_TEXT, lua_tostring(L, 7),
                       0, lua_tostring(L, 8));
    } else {
        nh_check_addr(L, 3, ls->s.net, 0, &dest, host, sizeof host, &port);
    }
    return write_to_run(L, ls, &dest, data, len, lua_tonumber(L, 5), -1, NH_K_STATUS(L, status));
}

static int l_write_to(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_write_to);
    nh_lsock *ls = nh_check_sock(L, 1, NH_K_PACKET);
    nh_lpacket *lp = (nh_lpacket *)ls;
    size_t len;
    const char *data = lua_tolstring(L, 2, &len);
    if (!data)
        luaL_checklstring(L, 2, &len);   /* raises the usual message */
    int top = lua_gettop(L);
    double timeout = top < 4 ? -1 : nh_opt_seconds(L, 4);
    if (top > 4)
        lua_settop(L, 4);   /* slot 5 is the deadline's if we wait */
    /* A reply to the last sender: its Addr is user value 1, so alive, and
     * Addrs never change. (A copy: a wait may let a task read a new sender.) */
    nh_addr dest;
    const void *to = lua_touserdata(L, 3);
    if (to && to == lp->last_from_ud) {
        dest = lp->last_from;
        return write_to_run(L, ls, &dest, data, len, 0, timeout, NH_WAKE_READY);
    }
    char host[NH_HOST_MAX];
    int port;
    int r = nh_check_addr(L, 3, ls->s.net, 0, &dest, host, sizeof host, &port);
    if (r == 1)
        return write_to_run(L, ls, &dest, data, len, 0, timeout, NH_WAKE_READY);
    if (r < 0)
        return nh_fail_no_address(L, "write", ls->s.net, nh_sock_laddr(ls), host);
    double deadline = nh_deadline_in(timeout);
    lua_settop(L, 4);
    lua_pushnumber(L, deadline);
    return nh_lookup_call(L, ls->s.net, host, port, deadline, 0, write_to_k);
}

void nh_packet_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"read_from", l_read_from},
        {"write_to", l_write_to},
        {NULL, NULL}};
    nh_add_methods(L, NH_PACKETCONN, methods);
    lua_pushcfunction(L, l_listen_packet);
    lua_setfield(L, -2, "listen_packet");
}
