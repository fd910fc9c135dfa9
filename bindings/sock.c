/*
 * What every socket object shares: creation (closed until opened, like Lua's own
 * file handles), close (by close(), <close> and the collector alike), deadlines,
 * addresses and tostring. The three kinds are separate types so that a misused
 * method names the type it wanted: PacketConn, Conn, Listener.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "nh.h"

static const char *const kind_names[] = {NH_PACKETCONN, NH_CONN, NH_LISTENER};
static const char kind_tag[3];

nh_lsock *nh_sock_new(lua_State *L, int kind, int net)
{
    /* Datagram sockets carry their receive policy's state; only a PacketConn
     * keeps a user value (its last sender). */
    int dgram = kind != NH_K_LISTENER && !nh_net_is_stream(net);
    nh_lsock *ls = lua_newuserdatauv(L, dgram ? sizeof(nh_lpacket) : sizeof *ls, kind == NH_K_PACKET);
    if (dgram) {
        nh_lpacket *lp = (nh_lpacket *)ls;
        nh_dgram_init(&lp->d);
        memset(&lp->last_from, 0, sizeof lp->last_from);
        lp->last_from_ud = NULL;
    }
    nh_socket_init(&ls->s, net);
    ls->tag = &kind_tag[kind];
    ls->s.rbuf.limit = NH_DEFAULT_LINE_LIMIT;
    luaL_setmetatable(L, kind_names[kind]);
    return ls;
}

int nh_sock_kind(const nh_lsock *ls)
{
    return (int)((const char *)ls->tag - kind_tag);
}

/* The last socket of each kind that passed nh_check_sock: a loop calling
 * methods on one socket skips the size test (an API call) and compares only
 * the tag. The collector's finalizer (l_gc) forgets it before its memory can
 * be reused; the tag test keeps the shortcut safe should a script remove
 * __gc from the metatable. */
static const void *last_checked[3];

void nh_sock_forget(void)
{
    memset(last_checked, 0, sizeof last_checked);
}

static __attribute__((noinline)) nh_lsock *check_sock_fully(lua_State *L, int idx, int kind)
{
    nh_lsock *ls = nh_test_tag(L, idx, &kind_tag[kind], sizeof *ls);
    if (!ls)
        luaL_typeerror(L, idx, kind_names[kind]);
    last_checked[kind] = ls;
    return ls;
}

nh_lsock *nh_check_sock(lua_State *L, int idx, int kind)
{
    nh_lsock *ls = lua_touserdata(L, idx);
    if (ls && ls == last_checked[kind] && ls->tag == &kind_tag[kind])
        return ls;
    return check_sock_fully(L, idx, kind);
}

nh_lsock *nh_check_any_sock(lua_State *L, int idx)
{
    for (int k = 0; k < 3; k++) {
        nh_lsock *ls = nh_test_tag(L, idx, &kind_tag[k], sizeof *ls);
        if (ls)
            return ls;
    }
    luaL_typeerror(L, idx, "netharness socket");
    return NULL;
}

const nh_addr *nh_sock_laddr(const nh_lsock *ls)
{
    return nh_addr_len(&ls->s.laddr) ? &ls->s.laddr : NULL;
}

const nh_addr *nh_sock_raddr(const nh_lsock *ls)
{
    return nh_addr_len(&ls->s.raddr) ? &ls->s.raddr : NULL;
}

/* Close the socket and drop what it holds. */
static int release(nh_lsock *ls)
{
    if (nh_sock_kind(ls) != NH_K_LISTENER && !nh_net_is_stream(ls->s.net))
        nh_dgram_free(&((nh_lpacket *)ls)->d);
    return nh_socket_close(&ls->s);
}

/* Go's Close reports a second close as the use of a closed connection. */
static int l_close(lua_State *L)
{
    nh_lsock *ls = nh_check_any_sock(L, 1);
    const nh_addr *local = nh_sock_laddr(ls);
    if (release(ls) < 0)
        return nh_fail(L, "close", ls->s.net, nh_sock_kind(ls) == NH_K_CONN ? local : NULL,
                       nh_sock_kind(ls) == NH_K_CONN ? nh_sock_raddr(ls) : local,
                       NH_ERR_CLOSED, NULL, 0, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_gc(lua_State *L)
{
    nh_lsock *ls = nh_check_any_sock(L, 1);
    if (last_checked[nh_sock_kind(ls)] == ls)
        last_checked[nh_sock_kind(ls)] = NULL;
    release(ls);
    nh_socket_free(&ls->s);
    return 0;
}

static double check_deadline(lua_State *L, int arg)
{
    if (lua_isnoneornil(L, arg))
        return 0;
    double t = luaL_checknumber(L, arg);
    luaL_argcheck(L, t == t, arg, "deadline must be a number (netharness.now() + seconds)");
    /* 0 clears, like Go's zero time.Time; a time in the past has expired. */
    return t < 0 ? 1e-9 : t;
}

static int set_deadlines(lua_State *L, int rd, int wr)
{
    nh_lsock *ls = nh_check_any_sock(L, 1);
    double t = check_deadline(L, 2);
    if (!nh_socket_is_open(&ls->s))
        return nh_fail(L, "set", ls->s.net, nh_sock_laddr(ls), nh_sock_raddr(ls),
                       NH_ERR_CLOSED, NULL, 0, NULL);
    if (rd)
        nh_socket_set_deadline(&ls->s, &ls->s.rd, t);
    if (wr && nh_socket_set_write_deadline(&ls->s, t) < 0)
        return nh_fail(L, "set", ls->s.net, nh_sock_laddr(ls), nh_sock_raddr(ls),
                       NH_ERR_SYS, "malloc", ENOMEM, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_set_deadline(lua_State *L) { return set_deadlines(L, 1, 1); }
static int l_set_read_deadline(lua_State *L) { return set_deadlines(L, 1, 0); }
static int l_set_write_deadline(lua_State *L) { return set_deadlines(L, 0, 1); }

/* conn:set_read_buffer(bytes) / set_write_buffer(bytes) -> true | nil, err.
 * The kernel doubles the size asked for and caps it at net.core.rmem_max or
 * wmem_max, as for Go's SetReadBuffer / SetWriteBuffer. */
static int set_buffer(lua_State *L, int receive)
{
    nh_lsock *ls = nh_check_any_sock(L, 1);
    if (nh_sock_kind(ls) == NH_K_LISTENER)
        return luaL_typeerror(L, 1, NH_CONN " or " NH_PACKETCONN);
    lua_Integer bytes = luaL_checkinteger(L, 2);
    luaL_argcheck(L, bytes >= 0 && bytes <= INT_MAX, 2, "bytes must be between 0 and 2 GiB");
    if (!nh_socket_is_open(&ls->s))
        return nh_fail(L, "set", ls->s.net, NULL, nh_sock_laddr(ls), NH_ERR_CLOSED, NULL, 0, NULL);
    if (nh_socket_set_buffer(&ls->s, receive, (int)bytes) < 0)
        return nh_fail(L, "set", ls->s.net, NULL, nh_sock_laddr(ls), NH_ERR_SYS, "setsockopt", errno,
                       NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_set_read_buffer(lua_State *L) { return set_buffer(L, 1); }
static int l_set_write_buffer(lua_State *L) { return set_buffer(L, 0); }

static int push_addr_or_nil(lua_State *L, const nh_addr *a, int net)
{
    if (a)
        nh_push_addr(L, a, net);
    else
        lua_pushnil(L);
    return 1;
}

static int l_local_addr(lua_State *L)
{
    nh_lsock *ls = nh_check_any_sock(L, 1);
    return push_addr_or_nil(L, nh_sock_laddr(ls), ls->s.net);
}

static int l_remote_addr(lua_State *L)
{
    nh_lsock *ls = nh_check_sock(L, 1, NH_K_CONN);
    return push_addr_or_nil(L, nh_sock_raddr(ls), ls->s.net);
}

static int l_tostring(lua_State *L)
{
    nh_lsock *ls = nh_check_any_sock(L, 1);
    char a[NH_ADDR_STRLEN] = "?", b[NH_ADDR_STRLEN] = "";
    const char *name = kind_names[nh_sock_kind(ls)] + strlen("netharness.");
    if (!nh_socket_is_open(&ls->s)) {
        lua_pushfstring(L, "%s %s (closed)", name, nh_net_name(ls->s.net));
        return 1;
    }
    if (nh_addr_len(&ls->s.laddr))
        nh_addr_format(&ls->s.laddr, a, sizeof a);
    if (nh_addr_len(&ls->s.raddr))
        nh_addr_format(&ls->s.raddr, b, sizeof b);
    lua_pushfstring(L, "%s %s %s%s%s", name, nh_net_name(ls->s.net), a, *b ? "->" : "", b);
    return 1;
}

static int l_fd(lua_State *L)
{
    lua_pushinteger(L, nh_check_any_sock(L, 1)->s.fd);
    return 1;
}

void nh_sock_open(lua_State *L)
{
    static const luaL_Reg common[] = {
        {"close", l_close},
        {"set_deadline", l_set_deadline},
        {"local_addr", l_local_addr},
        {"fd", l_fd},
        {NULL, NULL}};
    static const luaL_Reg stream_extra[] = {
        {"set_read_deadline", l_set_read_deadline},
        {"set_write_deadline", l_set_write_deadline},
        {"set_read_buffer", l_set_read_buffer},
        {"set_write_buffer", l_set_write_buffer},
        {NULL, NULL}};
    for (int k = 0; k < 3; k++) {
        nh_push_metatable(L, kind_names[k]);
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_getfield(L, -1, "__index");
        luaL_setfuncs(L, common, 0);
        if (k != NH_K_LISTENER)
            luaL_setfuncs(L, stream_extra, 0);
        if (k == NH_K_CONN) {
            lua_pushcfunction(L, l_remote_addr);
            lua_setfield(L, -2, "remote_addr");
        }
        if (k == NH_K_LISTENER) {
            lua_pushcfunction(L, l_local_addr);
            lua_setfield(L, -2, "addr");
        }
        lua_pop(L, 2);
    }
}
