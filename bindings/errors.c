/*
 * Error values that print like Go's and carry fields scripts can test.
 *
 * An error is a table: op, net, source, addr (strings, absent when Go's would
 * be nil), err (the inner text, "connect: connection refused"), code (the errno
 * name, or ETIMEDOUT / ECLOSED / EOF / UNEXPECTED_EOF / a lookup code), and the
 * booleans timeout and closed. tostring(err) is Go's *net.OpError text.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "nh.h"

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

void nh_push_operror(lua_State *L, const char *op, int net, const nh_addr *source,
                     const nh_addr *addr, int kind, const char *sys, int errnum,
                     const char *code)
{
    char src[NH_ADDR_STRLEN], dst[NH_ADDR_STRLEN], inner[256];
    luaL_Buffer b;

    switch (kind) {
    case NH_ERR_TIMEOUT:
        snprintf(inner, sizeof inner, "i/o timeout");
        code = "ETIMEDOUT";
        break;
    case NH_ERR_CLOSED:
        snprintf(inner, sizeof inner, "use of closed network connection");
        code = "ECLOSED";
        break;
    case NH_ERR_TEXT:
        snprintf(inner, sizeof inner, "%s", sys);
        break;
    default: {
        /* Go spells errno texts in lower case: "connection refused". */
        char msg[200];
        snprintf(msg, sizeof msg, "%s", strerror(errnum));
        msg[0] = (char)tolower((unsigned char)msg[0]);
        snprintf(inner, sizeof inner, "%s: %s", sys, msg);
        code = strerrorname_np(errnum);
        if (!code)
            code = "EUNKNOWN";
    }
    }

    lua_createtable(L, 0, 10);
    set_str(L, "op", op);
    if (net >= 0)
        set_str(L, "net", nh_net_name(net));
    if (source && nh_addr_len(source)) {
        nh_addr_format(source, src, sizeof src);
        set_str(L, "source", src);
    }
    if (addr && nh_addr_len(addr)) {
        nh_addr_format(addr, dst, sizeof dst);
        set_str(L, "addr", dst);
    }
    set_str(L, "err", inner);
    set_str(L, "code", code);
    lua_pushboolean(L, kind == NH_ERR_TIMEOUT);
    lua_setfield(L, -2, "timeout");
    lua_pushboolean(L, kind == NH_ERR_CLOSED);
    lua_setfield(L, -2, "closed");
    if (kind == NH_ERR_SYS) {
        lua_pushinteger(L, errnum);
        lua_setfield(L, -2, "errno");
    }

    luaL_buffinit(L, &b);
    luaL_addstring(&b, op);
    if (net >= 0) {
        luaL_addchar(&b, ' ');
        luaL_addstring(&b, nh_net_name(net));
    }
    if (source && nh_addr_len(source)) {
        luaL_addchar(&b, ' ');
        luaL_addstring(&b, src);
    }
    if (addr && nh_addr_len(addr)) {
        luaL_addstring(&b, source && nh_addr_len(source) ? "->" : " ");
        luaL_addstring(&b, dst);
    }
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, inner);
    luaL_pushresult(&b);
    lua_setfield(L, -2, "message");
    luaL_setmetatable(L, NH_ERROR);
}

int nh_fail(lua_State *L, const char *op, int net, const nh_addr *source, const nh_addr *addr,
            int kind, const char *sys, int errnum, const char *code)
{
    lua_pushnil(L);
    nh_push_operror(L, op, net, source, addr, kind, sys, errnum, code);
    return 2;
}

int nh_fail_no_address(lua_State *L, const char *op, int net, const nh_addr *source,
                       const char *host)
{
    return nh_fail(L, op, net, source, NULL, NH_ERR_TEXT,
                   lua_pushfstring(L, "address %s: no suitable address found", host), 0,
                   "EAFNOSUPPORT");
}

int nh_fail_wake(lua_State *L, const char *op, int net, const nh_addr *source,
                 const nh_addr *addr, int status)
{
    if (status == NH_WAKE_CLOSED)
        return nh_fail(L, op, net, source, addr, NH_ERR_CLOSED, NULL, 0, NULL);
    if (status == NH_WAKE_CANCELLED)
        return nh_fail(L, op, net, source, addr, NH_ERR_TEXT, "operation was canceled",
                       0, "ECANCELED");
    if (status == NH_WAKE_NOMEM)
        return nh_fail(L, op, net, source, addr, NH_ERR_SYS, "timer", ENOMEM, NULL);
    return nh_fail(L, op, net, source, addr, NH_ERR_TIMEOUT, NULL, 0, NULL);
}

int nh_push_eof(lua_State *L, int unexpected)
{
    lua_pushnil(L);
    lua_getfield(L, LUA_REGISTRYINDEX, unexpected ? "netharness.ErrUnexpectedEOF" : "netharness.EOF");
    return 2;
}

static int l_error_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "message");
    if (!lua_isstring(L, -1))
        return luaL_error(L, "netharness error without a message");
    return 1;
}

static int l_error_concat(lua_State *L)
{
    luaL_tolstring(L, 1, NULL);
    luaL_tolstring(L, 2, NULL);
    lua_concat(L, 2);
    return 1;
}

static void make_sentinel(lua_State *L, const char *regkey, const char *field,
                          const char *message, const char *code)
{
    lua_createtable(L, 0, 5);
    set_str(L, "message", message);
    set_str(L, "err", message);
    set_str(L, "code", code);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "eof");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "timeout");
    luaL_setmetatable(L, NH_ERROR);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, regkey);
    lua_setfield(L, -2, field);
}

void nh_errors_open(lua_State *L)
{
    static const luaL_Reg meta[] = {
        {"__tostring", l_error_tostring},
        {"__concat", l_error_concat},
        {NULL, NULL}};
    luaL_newmetatable(L, NH_ERROR);
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
    make_sentinel(L, "netharness.EOF", "EOF", "EOF", "EOF");
    make_sentinel(L, "netharness.ErrUnexpectedEOF", "ErrUnexpectedEOF", "unexpected EOF",
                  "UNEXPECTED_EOF");
}
