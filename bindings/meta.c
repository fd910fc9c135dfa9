/*
 * Metatables of the socket types, made so that method calls stay cheap.
 *
 * Every method call looks up "__index" in the metatable and then the method
 * in that table. Both tables have slots to spare (luaL_newmetatable's would be
 * full) and take their hottest keys first: "__index", then the kinds' own
 * methods (read_from, read, ...), then the common ones (module.c opens
 * sock.c last). A key stored first owns its main slot whatever the hash seed,
 * so those lookups never walk a chain: with full tables a collision cost up
 * to ~20 instructions a call in some processes and not in others (callgrind,
 * UDP echo: 1,391-1,409 a round trip from run to run, 1,382 in every run with
 * this; bench/README.md). If the order is lost, only speed changes.
 */
#include "nh.h"

void nh_push_metatable(lua_State *L, const char *tname)
{
    if (luaL_getmetatable(L, tname) != LUA_TNIL)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 16);
    lua_createtable(L, 0, 64);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, tname);
}

void nh_add_methods(lua_State *L, const char *tname, const luaL_Reg *methods)
{
    nh_push_metatable(L, tname);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}
