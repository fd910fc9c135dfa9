/*
 * Addresses in Lua: immutable userdata holding the socket address itself, so a
 * reply with write_to(data, addr) costs no parsing. Fields ip, port, network;
 * tostring gives "127.0.0.1:8888" or "[::1]:8888"; == compares addresses.
 * Wherever an address is taken, its string form is accepted too.
 */
#include <string.h>

#include "../core/resolve.h"
#include "nh.h"

typedef struct {
    const void *tag;   /* &addr_tag: see nh_test_tag */
    nh_addr a;
    int net;
} laddr;

static const char addr_tag;

void nh_push_addr(lua_State *L, const nh_addr *a, int net)
{
    laddr *la = lua_newuserdatauv(L, sizeof *la, 0);
    la->tag = &addr_tag;
    la->a = *a;
    la->net = net;
    luaL_setmetatable(L, NH_ADDR);
}

const nh_addr *nh_to_addr(lua_State *L, int idx)
{
    laddr *la = nh_test_tag(L, idx, &addr_tag, sizeof *la);
    return la ? &la->a : NULL;
}

int nh_check_addr(lua_State *L, int arg, int net, int passive, nh_addr *out,
                  char *host, size_t hostcap, int *port)
{
    const nh_addr *given = nh_to_addr(L, arg);
    const char *err;
    if (given) {
        *out = *given;
        return 1;
    }
    if (lua_type(L, arg) != LUA_TSTRING)
        return luaL_typeerror(L, arg, "address string or " NH_ADDR);
    const char *text = lua_tostring(L, arg);
    if (nh_addr_split(text, host, hostcap, port, &err) < 0) {
        const char *what = text;
        if (strcmp(err, "invalid port") == 0) {
            const char *colon = strrchr(text, ':');
            what = colon ? colon + 1 : text;
        }
        return luaL_argerror(L, arg, lua_pushfstring(L, "address %s: %s", what, err));
    }
    switch (nh_addr_literal(net, host, *port, passive, out)) {
    case NH_LIT_OK:
        return 1;
    case NH_LIT_LOOKUP:
        return 0;
    default:
        return -1;
    }
}

/* ---- lookups ---- */

static int lookup_done(lua_State *L, nh_lookup *lk, int st)
{
    int net = (int)lua_tointeger(L, 1);
    const char *host = lua_tostring(L, 2);
    nh_addr found[NH_RESOLVE_MAX];
    const char *err;
    if (st != NH_WAKE_READY) {
        lua_pushnil(L);
        if (st == NH_WAKE_TIMEOUT)
            lua_pushfstring(L, "lookup %s: i/o timeout", host);
        else if (st == NH_WAKE_NOMEM)
            lua_pushfstring(L, "lookup %s: cannot allocate memory", host);
        else
            lua_pushfstring(L, "lookup %s: operation was canceled", host);
        lua_pushstring(L, st == NH_WAKE_TIMEOUT ? "ETIMEDOUT" : st == NH_WAKE_NOMEM ? "ENOMEM" : "ECANCELED");
        return 3;
    }
    int n = nh_lookup_finish(lk, found, &err);
    if (n == 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "lookup %s: %s", host, err);
        lua_pushstring(L, "ENOHOST");
        return 3;
    }
    for (int i = 0; i < n; i++)
        nh_push_addr(L, &found[i], net);
    return n;
}

static int lookup_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    return lookup_done(L, (nh_lookup *)ctx, nh_wait_status(L));
}

/* lookup(net, host, port, deadline) -> Addr... | nil, text, code */
static int l_lookup(lua_State *L)
{
    int net = (int)lua_tointeger(L, 1);
    const char *host = lua_tostring(L, 2);
    int port = (int)lua_tointeger(L, 3);
    double deadline = lua_tonumber(L, 4);
    nh_block blk;
    nh_waiter *w = nh_wait_begin(L, &blk);
    nh_lookup *lk = nh_lookup_start(NH_LOOP, net, host, port, w);
    if (!lk) {
        lua_pushnil(L);
        lua_pushfstring(L, "lookup %s: cannot start a lookup thread", host);
        lua_pushstring(L, "EAGAIN");
        return 3;
    }
    if (deadline > 0)
        nh_wait_set_deadline(w, deadline);
    return lookup_done(L, lk, nh_suspend(L, &blk, (lua_KContext)lk, lookup_k));
}

int nh_lookup_call(lua_State *L, int net, const char *host, int port, double deadline,
                   lua_KContext ctx, lua_KFunction k)
{
    lua_pushcfunction(L, l_lookup);
    lua_pushinteger(L, net);
    lua_pushstring(L, host);
    lua_pushinteger(L, port);
    lua_pushnumber(L, deadline);
    lua_callk(L, 4, LUA_MULTRET, ctx, k);
    return k(L, LUA_OK, ctx);
}

/* ---- resolve(network, address [, timeout]) -> Addr | nil, err ---- */

static int resolve_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    int base = (int)ctx;
    int net = nh_check_net(L, 1);
    if (lua_isnil(L, base + 1)) {
        lua_pushnil(L);
        nh_push_operror(L, "resolve", net, NULL, NULL, NH_ERR_TEXT, lua_tostring(L, base + 2),
                        0, lua_tostring(L, base + 3));
        return 2;
    }
    lua_settop(L, base + 1);
    return 1;
}

static int l_resolve(lua_State *L)
{
    int net = nh_check_net(L, 1);
    double deadline = nh_opt_timeout(L, 3);
    char host[NH_HOST_MAX];
    int port;
    nh_addr a;
    lua_settop(L, 3);
    int r = nh_check_addr(L, 2, net, 0, &a, host, sizeof host, &port);
    if (r == 1) {
        nh_push_addr(L, &a, net);
        return 1;
    }
    if (r < 0)
        return nh_fail_no_address(L, "resolve", net, NULL, host);
    return nh_lookup_call(L, net, host, port, deadline, 3, resolve_k);
}

/* ---- metamethods ---- */

static laddr *check_laddr(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, NH_ADDR);
}

static int l_addr_index(lua_State *L)
{
    laddr *la = check_laddr(L, 1);
    const char *k = luaL_checkstring(L, 2);
    char buf[NH_ADDR_STRLEN];
    if (strcmp(k, "ip") == 0) {
        nh_addr_ip(&la->a, buf, sizeof buf);
        lua_pushstring(L, buf);
    } else if (strcmp(k, "port") == 0) {
        lua_pushinteger(L, nh_addr_port(&la->a));
    } else if (strcmp(k, "network") == 0) {
        lua_pushstring(L, nh_net_is_stream(la->net) ? "tcp" : "udp");
    } else if (strcmp(k, "family") == 0) {
        nh_addr_ip(&la->a, buf, sizeof buf);
        lua_pushstring(L, strchr(buf, ':') ? "inet6" : "inet");
    } else {
        lua_pushnil(L);
    }
    return 1;
}

static int l_addr_tostring(lua_State *L)
{
    char buf[NH_ADDR_STRLEN];
    nh_addr_format(&check_laddr(L, 1)->a, buf, sizeof buf);
    lua_pushstring(L, buf);
    return 1;
}

static int l_addr_eq(lua_State *L)
{
    lua_pushboolean(L, nh_addr_equal(&check_laddr(L, 1)->a, &check_laddr(L, 2)->a));
    return 1;
}

static int l_addr_concat(lua_State *L)
{
    luaL_tolstring(L, 1, NULL);
    luaL_tolstring(L, 2, NULL);
    lua_concat(L, 2);
    return 1;
}

static int l_addr_newindex(lua_State *L)
{
    return luaL_error(L, "netharness.Addr is immutable");
}

void nh_addr_open(lua_State *L)
{
    static const luaL_Reg meta[] = {
        {"__index", l_addr_index},
        {"__newindex", l_addr_newindex},
        {"__tostring", l_addr_tostring},
        {"__eq", l_addr_eq},
        {"__concat", l_addr_concat},
        {NULL, NULL}};
    luaL_newmetatable(L, NH_ADDR);
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
    lua_pushcfunction(L, l_resolve);
    lua_setfield(L, -2, "resolve");
}
