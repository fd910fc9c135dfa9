/*
 * The C module netharness.core: registers every type and function. Scripts use
 * it through the Lua package netharness (bindings/netharness.lua).
 */
#include "nh.h"

#define NH_VERSION "0.1.0"

__attribute__((visibility("default"))) int luaopen_netharness_core(lua_State *L)
{
    /* Make the loop (and its epoll fd) now, not inside the first socket call. */
    if (!nh_loop())
        return luaL_error(L, "netharness: cannot initialise the libev loop");
    lua_newtable(L);
    nh_errors_open(L);
    nh_addr_open(L);
    nh_sock_open(L);
    nh_packet_open(L);
    nh_conn_open(L);
    nh_listen_open(L);
    nh_task_open(L);
    lua_pushliteral(L, NH_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
