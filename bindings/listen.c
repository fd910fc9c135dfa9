/*
 * Listener: net.Listen's TCP listening socket and its accept().
 */
#include <errno.h>

#include "nh.h"

static int check_stream_net(lua_State *L, int arg)
{
    int net = nh_check_net(L, arg);
    if (!nh_net_is_stream(net))
        luaL_argerror(L, arg, lua_pushfstring(L, "listen needs tcp, tcp4 or tcp6 (got %s; "
                                                 "use listen_packet for udp)", nh_net_name(net)));
    return net;
}

/* Options table (argument 3): backlog = n, for testing a full accept queue. */
static int opt_backlog(lua_State *L)
{
    if (lua_isnoneornil(L, 3))
        return -1;
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "backlog");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return -1;
    }
    int isint;
    lua_Integer b = lua_tointegerx(L, -1, &isint);
    luaL_argcheck(L, isint && b >= 0 && b <= 65535, 3, "backlog must be an integer from 0 to 65535");
    lua_pop(L, 1);
    return (int)b;
}

static int listen_at(lua_State *L, int net, const nh_addr *a)
{
    const char *sys;
    int backlog = opt_backlog(L);
    nh_lsock *ls = nh_sock_new(L, NH_K_LISTENER, net);
    if (nh_socket_listen(&ls->s, a, backlog, &sys) < 0)
        return nh_fail(L, "listen", net, NULL, a, NH_ERR_SYS, sys, errno, NULL);
    return 1;
}

static int listen_k(lua_State *L, int status, lua_KContext ctx)
{
    int net = check_stream_net(L, 1);
    (void)status;
    (void)ctx;
    if (lua_isnil(L, 4))
        return nh_fail(L, "listen", net, NULL, NULL, NH_ERR_TEXT, lua_tostring(L, 5), 0,
                       lua_tostring(L, 6));
    return listen_at(L, net, nh_to_addr(L, 4));
}

/* listen(network, address [, {backlog = n}]) -> Listener | nil, err */
static int l_listen(lua_State *L)
{
    int net = check_stream_net(L, 1);
    char host[NH_HOST_MAX];
    int port;
    nh_addr a;
    lua_settop(L, 3);
    opt_backlog(L);
    int r = nh_check_addr(L, 2, net, 1, &a, host, sizeof host, &port);
    if (r == 1)
        return listen_at(L, net, &a);
    if (r < 0)
        return nh_fail_no_address(L, "listen", net, NULL, host);
    return nh_lookup_call(L, net, host, port, 0, 0, listen_k);
}

/* listener:accept([timeout]) -> Conn | nil, err
 * Stack: 1 listener, 2 timeout, 3 deadline, 4 the Conn to fill. */
static int accept_k(lua_State *L, int status, lua_KContext ctx)
{
    nh_lsock *ln = lua_touserdata(L, 1);   /* checked by l_accept */
    nh_lsock *c = lua_touserdata(L, 4);    /* made by l_accept */
    double call_deadline = lua_tonumber(L, 3);
    int st = NH_K_STATUS(L, status);
    const nh_addr *local = nh_sock_laddr(ln);
    const char *sys;
    for (;;) {
        if (st != NH_WAKE_READY)
            return nh_fail_wake(L, "accept", ln->s.net, NULL, local, st);
        switch (nh_socket_accept_step(&ln->s, &c->s, &sys)) {
        case NH_IO_DONE:
            return 1;
        case NH_IO_CLOSED:
            return nh_fail(L, "accept", ln->s.net, NULL, local, NH_ERR_CLOSED, NULL, 0, NULL);
        case NH_IO_TIMEOUT:
            return nh_fail(L, "accept", ln->s.net, NULL, local, NH_ERR_TIMEOUT, NULL, 0, NULL);
        case NH_IO_ERR:
            return nh_fail(L, "accept", ln->s.net, NULL, local, NH_ERR_SYS, sys, errno, NULL);
        default:   /* AGAIN */
            break;
        }
        nh_block blk;
        nh_socket_wait(&ln->s, &ln->s.rd, nh_wait_begin(L, &blk), call_deadline);
        st = nh_suspend(L, &blk, ctx, accept_k);
    }
}

static int l_accept(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_accept);
    nh_lsock *ln = nh_check_sock(L, 1, NH_K_LISTENER);
    double deadline = nh_opt_timeout(L, 2);
    lua_settop(L, 2);
    lua_pushnumber(L, deadline);
    nh_sock_new(L, NH_K_CONN, ln->s.net);
    return accept_k(L, LUA_OK, 0);
}

/* file_listener(fd) -> Listener | nil, err: Go's net.FileListener, for a
 * listening socket handed over by a parent (fd 3 of LISTEN_FDS; see
 * netharness.process.inherited_listeners). The Listener takes the fd over. */
static int l_file_listener(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "an fd number expected");
    nh_lsock *ls = nh_sock_new(L, NH_K_LISTENER, NH_TCP);
    const char *sys;
    if (nh_socket_adopt_listener(&ls->s, (int)fd, &sys) < 0)
        return nh_fail(L, "file_listener", -1, NULL, NULL, NH_ERR_SYS,
                       lua_pushfstring(L, "%s fd %d", sys, (int)fd), errno, NULL);
    return 1;
}

void nh_listen_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"accept", l_accept},
        {NULL, NULL}};
    nh_add_methods(L, NH_LISTENER, methods);
    lua_pushcfunction(L, l_listen);
    lua_setfield(L, -2, "listen");
    lua_pushcfunction(L, l_file_listener);
    lua_setfield(L, -2, "file_listener");
}
