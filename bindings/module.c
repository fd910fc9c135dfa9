/*
 * The C module netharness.core: registers every type and function. Scripts use
 * it through the Lua package netharness (lua/netharness.lua).
 */
#include <signal.h>

#include "nh.h"

#define NH_VERSION "0.1.0"

/* netharness runs on libev's default loop, and its scheduler, string cache
 * and type checks keep process-wide state: one Lua state at a time can use
 * it. A second state that opens the module while the first lives gets an
 * error that says so (spec/c/two_states.c); once the first is closed, the next
 * one may. Separate processes, or tasks in one state, are the ways to run
 * things side by side. */
static lua_State *owner;   /* the main thread of the state using netharness */

/* Finalizers run in reverse order of creation: this one, made before any
 * socket or task, runs after all of theirs, when the Lua state closes, and
 * before the C libraries are unloaded. */
static int release_state(lua_State *L)
{
    (void)L;
    ev_loop_destroy(NH_LOOP);
    nh_sched_forget();
    nh_recent_forget();
    nh_sock_forget();
    owner = NULL;
    return 0;
}

static void claim_state(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *main = lua_tothread(L, -1);
    lua_pop(L, 1);
    if (owner && owner != main)
        luaL_error(L, "netharness: another Lua state in this process is using netharness; its "
                      "event loop and tasks are per process, so one Lua state at a time can use it "
                      "(close the other state first, or use a process per state)");
    owner = main;
    if (lua_getfield(L, LUA_REGISTRYINDEX, "netharness.loop") != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, release_state);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "netharness.loop");
}

__attribute__((visibility("default"))) int luaopen_netharness_core(lua_State *L)
{
    /* Make the loop (and its epoll fd) now, not inside the first socket call. */
    claim_state(L);
    if (!ev_default_loop(0))
        return luaL_error(L, "netharness: cannot initialise the libev loop");
    /* libev's default loop reaps every child on SIGCHLD (waitpid(-1)) for its
     * ev_child watchers, which we do not use: io.popen's close and
     * os.execute then lost the exit status of their commands ("No child
     * processes"), and core/proc.c could not keep an exited child's PID. */
    signal(SIGCHLD, SIG_DFL);
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
    nh_signal_open(L);
    nh_buffer_open(L);
    nh_fault_open(L);
    nh_capture_open_lib(L);
    nh_process_open(L);
    lua_pushliteral(L, NH_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
