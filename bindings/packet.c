/*
 * PacketConn: net.ListenPacket's unconnected UDP socket, read_from / write_to.
 *
 * One datagram per call both ways; core/dgram.h decides how each is received.
 * A datagram becomes a Lua string once; the sender's Addr object is reused
 * while the sender stays the same, so an echo loop allocates one string per
 * datagram and nothing else.
 */
#include <errno.h>
#include <string.h>

#include "nh.h"


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
static void push_sender(lua_State *L, nh_lpacket *lp, int self, const nh_addr *from)
{
    if (nh_addr_len(&lp->last_from) && nh_addr_equal(from, &lp->last_from)) {
        lua_getiuservalue(L, self, 1);
        return;
    }
    nh_push_addr(L, from, lp->base.s.net);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, self, 1);
    lp->last_from = *from;
    lp->last_from_ud = lua_touserdata(L, -1);
}

static int push_datagram(lua_State *L, nh_lpacket *lp, const nh_datagram *dg, int with_sender)
{
    nh_push_recent(L, dg->data, dg->len);
    if (with_sender)
        push_sender(L, lp, 1, &dg->from);
    lua_pushboolean(L, dg->truncated);
    return with_sender ? 3 : 2;
}

static int read_k(lua_State *L, int status, lua_KContext ctx);

/* The read with its arguments as C values (core/dgram.h decides; this pushes
 * or waits); a wait first leaves them on the stack (self, max, deadline) for
 * the continuation. A call's deadline is made from `timeout` (seconds, -1 for
 * none) when it first has to wait. */
static int read_run(lua_State *L, nh_lpacket *lp, int max, double call_deadline, double timeout,
                    int st, int waited, int with_sender)
{
    nh_socket *s = &lp->base.s;
    const nh_addr *local = nh_sock_laddr(&lp->base);
    const nh_addr *peer = with_sender ? NULL : nh_sock_raddr(&lp->base);
    const char *sys = with_sender ? "recvfrom" : "read";
    nh_datagram dg;
    for (;;) {
        if (st != NH_WAKE_READY)
            return nh_fail_wake(L, "read", s->net, local, peer, st);
        if (!nh_socket_is_open(s))
            return nh_fail(L, "read", s->net, local, peer, NH_ERR_CLOSED, NULL, 0, NULL);
        if (nh_side_expired(&s->rd))
            return nh_fail(L, "read", s->net, local, peer, NH_ERR_TIMEOUT, NULL, 0, NULL);
        int alone = nh_alone(L);
        int r = nh_dgram_try(&lp->d, s, (size_t)max, waited, timeout == 0, alone, &dg);
        if (r > 0)
            return push_datagram(L, lp, &dg, with_sender);
        if (r < 0)
            return nh_fail(L, "read", s->net, local, peer, NH_ERR_SYS, sys, errno, NULL);
        if (timeout == 0 && !waited)   /* what is there now: one attempt, no wait */
            return nh_fail(L, "read", s->net, local, peer, NH_ERR_TIMEOUT, NULL, 0, NULL);
        waited = 1;
        if (timeout >= 0 && !(alone && nh_dgram_plain_wait(s, timeout))) {
            call_deadline = nh_deadline_in(timeout);
            timeout = -1;
        }
        if (alone) {
            if (nh_dgram_wait(&lp->d, s, (size_t)max, call_deadline, timeout, &dg) > 0)
                return push_datagram(L, lp, &dg, with_sender);
            st = nh_alone_wait_status(L, &call_deadline, &timeout);
            if (st < 0)
                return nh_fail(L, "read", s->net, local, peer, NH_ERR_SYS, sys, errno, NULL);
            continue;
        }
        lua_settop(L, 1);
        lua_pushinteger(L, max);
        lua_pushnumber(L, call_deadline);
        nh_block blk;
        nh_socket_wait(s, &s->rd, nh_wait_begin(L, &blk), call_deadline);
        st = nh_suspend(L, &blk, with_sender, read_k);
    }
}

static int read_k(lua_State *L, int status, lua_KContext ctx)
{
    return read_run(L, lua_touserdata(L, 1), (int)lua_tointeger(L, 2), lua_tonumber(L, 3), -1,
                    NH_K_STATUS(L, status), status == LUA_YIELD, (int)ctx);
}

int nh_packet_read(lua_State *L, nh_lpacket *lp, int max, double timeout, int with_sender)
{
    return read_run(L, lp, max, 0, timeout, NH_WAKE_READY, 0, with_sender);
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
    if (nh_dgram_queued(&lp->d) && !nh_side_expired(&lp->base.s.rd)) {
        nh_datagram dg;
        nh_dgram_next(&lp->d, (size_t)max, &dg);
        return push_datagram(L, lp, &dg, 1);
    }
    return read_run(L, lp, max, 0, timeout, NH_WAKE_READY, 0, 1);
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
    size_t sent;
    for (;;) {
        if (st != NH_WAKE_READY)
            return nh_fail_wake(L, "write", ls->s.net, local, dest, st);
        switch (nh_socket_sendto_step(&ls->s, data, len, dest, &sent)) {
        case NH_IO_DONE:
            lua_pushinteger(L, (lua_Integer)sent);
            return 1;
        case NH_IO_CLOSED:
            return nh_fail(L, "write", ls->s.net, local, dest, NH_ERR_CLOSED, NULL, 0, NULL);
        case NH_IO_TIMEOUT:
            return nh_fail(L, "write", ls->s.net, local, dest, NH_ERR_TIMEOUT, NULL, 0, NULL);
        case NH_IO_ERR:
            return nh_fail(L, "write", ls->s.net, local, dest, NH_ERR_SYS, "sendto", errno, NULL);
        default:   /* AGAIN: the write side exists now */
            break;
        }
        if (timeout >= 0) {
            call_deadline = nh_deadline_in(timeout);
            timeout = -1;
        }
        if (lua_gettop(L) < 5) {
            lua_settop(L, 4);
            lua_pushnumber(L, call_deadline);
        }
        nh_block blk;
        nh_socket_wait(&ls->s, ls->s.wr, nh_wait_begin(L, &blk), call_deadline);
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
