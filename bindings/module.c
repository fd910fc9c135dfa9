/*
 * The C module netharness.core: registers every type and function. Scripts use
 * it through the Lua package netharness (bindings/netharness.lua).
 */
#include "nh.h"

#define NH_VERSION "0.1.0"

/* Finalizers run in reverse order of creation: this one, made before any
 * socket or task, runs after all of theirs, when the Lua state closes, and
 * before the C libraries are unloaded. */
static int destroy_loop(lua_State *L)
{
    (void)L;
    ev_loop_destroy(NH_LOOP);
    return 0;
}

static void loop_finalizer(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "netharness.loop") != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, destroy_loop);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "netharness.loop");
}

__attribute__((visibility("default"))) int luaopen_netharness_core(lua_State *L)
{
    /* Make the loop (and its epoll fd) now, not inside the first socket call. */
    if (!ev_default_loop(0))
        return luaL_error(L, "netharness: cannot initialise the libev loop");
    loop_finalizer(L);
    lua_newtable(L);
    nh_errors_open(L);
    nh_addr_open(L);
    nh_packet_open(L);
    nh_conn_open(L);
    nh_listen_open(L);
    nh_sock_open(L);   /* after the kinds: see push_metatable */
    nh_task_open(L);
    nh_coroutine_open(L);
    nh_recent_open(L);
    nh_histogram_open(L);
    nh_buffer_open(L);
    lua_pushliteral(L, NH_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
