/*
 * netharness.buffer(): core/bytes.h as a Lua object, for building a string
 * from many pieces in about one byte a byte (HTTP bodies of small chunks).
 * b:write(s [, i [, j]]) appends s or string.sub(s, i, j); b:len() (and #b);
 * b:string() (and tostring) makes the string; b:reset() empties it and frees
 * its memory, as do close and the collector.
 */
#include "nh.h"
#include "../core/bytes.h"

#define NH_BUFFER "netharness.Buffer"

static nh_bytes *check_buffer(lua_State *L)
{
    return luaL_checkudata(L, 1, NH_BUFFER);
}

static int l_new(lua_State *L)
{
    nh_bytes *b = lua_newuserdatauv(L, sizeof *b, 0);
    nh_bytes_init(b);
    luaL_setmetatable(L, NH_BUFFER);
    return 1;
}

/* The part of string s (at arg) that positions i..j name, as string.sub. */
static const char *check_sub(lua_State *L, int arg, size_t *n)
{
    size_t len;
    const char *s = luaL_checklstring(L, arg, &len);
    lua_Integer i = luaL_optinteger(L, arg + 1, 1), j = luaL_optinteger(L, arg + 2, -1);
    if (i < 0)
        i = (lua_Integer)len + i + 1 > 0 ? (lua_Integer)len + i + 1 : 1;
    else if (i == 0)
        i = 1;
    if (j < 0)
        j = (lua_Integer)len + j + 1;
    else if (j > (lua_Integer)len)
        j = (lua_Integer)len;
    *n = i > j ? 0 : (size_t)(j - i + 1);
    return s + i - 1;
}

/* b:write(s [, i [, j]]) -> b */
static int l_write(lua_State *L)
{
    nh_bytes *b = check_buffer(L);
    size_t n;
    const char *p = check_sub(L, 2, &n);
    if (nh_bytes_append(b, p, n) < 0)
        return luaL_error(L, "not enough memory");
    lua_settop(L, 1);
    return 1;
}

static int l_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_buffer(L)->len);
    return 1;
}

static int l_string(lua_State *L)
{
    nh_bytes *b = check_buffer(L);
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    return 1;
}

static int l_reset(lua_State *L)
{
    nh_bytes_free(check_buffer(L));
    return 0;
}

void nh_buffer_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"write", l_write},
        {"len", l_len},
        {"string", l_string},
        {"reset", l_reset},
        {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__len", l_len},
        {"__tostring", l_string},
        {"__gc", l_reset},
        {"__close", l_reset},
        {NULL, NULL}};
    luaL_newmetatable(L, NH_BUFFER);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_new);
    lua_setfield(L, -2, "buffer");
}
