/*
 * Child processes (core/proc.h) for Lua. The module netharness.process
 * (lua/netharness/process.lua) is the API; these are its primitives:
 *
 *   core.process_environ()      -> {"K=V", ...}, this process's environment
 *   core.process_spawn{ argv = {...}, env = {"K=V", ...}, cwd = s, fds = {...}, keep = n }
 *                       -> Process | nil, err      (fds: sockets or fd numbers)
 *   p:pid()             the child's PID, which is also its process group's id
 *   p:output()          -> everything it wrote (stdout and stderr), bytes dropped
 *   p:version()         a number that changes when output arrives or ends, or it exits
 *   p:wait(v [, t])     -> true once version() ~= v, false when t seconds passed
 *   p:status()          -> nil while it runs | "exit", code | "signal", "SIGTERM"
 *   p:output_open()     the output may still grow (some process holds the pipe)
 *   p:signal(sig)       to its whole group; sig a name ("TERM", "SIGTERM") or number
 *   p:close()           kill what is left of its group (SIGKILL) and reap it;
 *                       also <close> and the collector
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "nh.h"
#include "../core/proc.h"

#define NH_PROCESS "netharness.Process"

typedef struct lproc {
    nh_proc p;
    int open;
} lproc;

static lproc *check_proc(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, NH_PROCESS);
}

/* A NULL-terminated array of the strings of list t[field] (kept alive by t),
 * in a userdata left on the stack. */
static char **string_list(lua_State *L, int t, const char *field, int required)
{
    int type = lua_getfield(L, t, field);
    if (type == LUA_TNIL && !required) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return NULL;
    }
    if (type != LUA_TTABLE)
        luaL_argerror(L, 1, lua_pushfstring(L, "%s: a list of strings expected, got %s", field,
                                            luaL_typename(L, -1)));
    lua_Integer n = luaL_len(L, -1);
    if (required && n < 1)
        luaL_argerror(L, 1, lua_pushfstring(L, "%s: the program to run is missing", field));
    char **list = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *list, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, -2, i) != LUA_TSTRING)
            luaL_argerror(L, 1, lua_pushfstring(L, "%s[%I]: a string expected, got %s", field, i,
                                                luaL_typename(L, -1)));
        list[i - 1] = (char *)lua_tostring(L, -1);
        if (strlen(list[i - 1]) != lua_rawlen(L, -1))
            luaL_argerror(L, 1, lua_pushfstring(L, "%s[%I]: contains a zero byte", field, i));
        lua_pop(L, 1);
    }
    list[n] = NULL;
    lua_remove(L, -2);
    return list;
}

static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    nh_proc_opts o;
    memset(&o, 0, sizeof o);
    o.argv = string_list(L, 1, "argv", 1);
    o.envp = string_list(L, 1, "env", 1);
    lua_getfield(L, 1, "cwd");
    o.cwd = lua_isnil(L, -1) ? NULL : lua_tostring(L, -1);
    if (!lua_isnil(L, -1) && !lua_isstring(L, -1))
        luaL_argerror(L, 1, "cwd: a folder name expected");
    lua_getfield(L, 1, "keep");
    lua_Integer keep = lua_isnil(L, -1) ? 16 << 20 : lua_tointeger(L, -1);
    if (keep < 0 || (!lua_isnil(L, -1) && !lua_isinteger(L, -1)))
        luaL_argerror(L, 1, "keep: a count of bytes expected");
    o.keep = (size_t)keep;
    lua_pop(L, 1);

    int fds[64];
    if (lua_getfield(L, 1, "fds") == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, -1);
        if (n > 64)
            luaL_argerror(L, 1, "fds: at most 64");
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, -1, i);
            if (lua_isinteger(L, -1))
                fds[i - 1] = (int)lua_tointeger(L, -1);
            else {
                nh_lsock *ls = lua_isuserdata(L, -1) ? nh_check_any_sock(L, -1) : NULL;
                if (!ls)
                    luaL_argerror(L, 1, lua_pushfstring(L, "fds[%I]: a socket or an fd number "
                                                        "expected, got %s", i, luaL_typename(L, -1)));
                if (ls->s.fd < 0)
                    luaL_argerror(L, 1, lua_pushfstring(L, "fds[%I]: the socket is closed", i));
                fds[i - 1] = ls->s.fd;
            }
            lua_pop(L, 1);
        }
        o.pass_fds = fds;
        o.npass = (int)n;
    } else if (!lua_isnil(L, -1))
        luaL_argerror(L, 1, "fds: a list of sockets expected");
    lua_pop(L, 1);

    lproc *lp = lua_newuserdatauv(L, sizeof *lp, 0);
    memset(lp, 0, sizeof *lp);
    luaL_setmetatable(L, NH_PROCESS);
    char err[512];
    int errnum;
    if (nh_proc_spawn(&lp->p, &o, &errnum, err, sizeof err) < 0)
        return nh_fail(L, "exec", -1, NULL, NULL, NH_ERR_SYS, err, errnum, NULL);
    lp->open = 1;
    nh_sched.readers++;
    return 1;
}

static int l_pid(lua_State *L)
{
    lua_pushinteger(L, check_proc(L, 1)->p.pid);
    return 1;
}

static int l_output(lua_State *L)
{
    lproc *lp = check_proc(L, 1);
    lua_pushlstring(L, lp->p.buf ? lp->p.buf : "", lp->p.len);
    lua_pushinteger(L, (lua_Integer)lp->p.dropped);
    return 2;
}

static int l_version(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_proc(L, 1)->p.version);
    return 1;
}

static int l_output_open(lua_State *L)
{
    lua_pushboolean(L, check_proc(L, 1)->p.out_open);
    return 1;
}

static int l_status(lua_State *L)
{
    lproc *lp = check_proc(L, 1);
    if (lp->open)
        nh_proc_poll(&lp->p);
    if (!lp->p.exited) {
        lua_pushnil(L);
        return 1;
    }
    if (lp->p.signal) {
        lua_pushliteral(L, "signal");
        const char *abbrev = sigabbrev_np(lp->p.signal);
        if (abbrev)
            lua_pushfstring(L, "SIG%s", abbrev);
        else
            lua_pushfstring(L, "signal %d", lp->p.signal);
    } else {
        lua_pushliteral(L, "exit");
        lua_pushinteger(L, lp->p.code);
    }
    return 2;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx);

/* Stack: proc, version, timeout, deadline. */
static int wait_loop(lua_State *L, int status)
{
    lproc *lp = lua_touserdata(L, 1);
    lua_Integer v = lua_tointeger(L, 2);
    for (;;) {
        if ((lua_Integer)lp->p.version != v || !lp->open) {
            lua_pushboolean(L, 1);
            return 1;
        }
        if (status == NH_WAKE_TIMEOUT) {
            lua_pushboolean(L, 0);
            return 1;
        }
        if (status != NH_WAKE_READY)
            return nh_fail_wake(L, "wait", -1, NULL, NULL, status);
        nh_block blk;
        nh_waiter *w = nh_wait_begin(L, &blk);
        nh_wait(w, &lp->p.waiters, lua_tonumber(L, 4));
        nh_wait_hold_loop(w);
        status = nh_suspend(L, &blk, 0, wait_k);
    }
}

static int wait_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)ctx;
    return wait_loop(L, NH_K_STATUS(L, status));
}

static int l_wait(lua_State *L)
{
    check_proc(L, 1);
    luaL_checkinteger(L, 2);
    double deadline = nh_opt_timeout(L, 3);
    lua_settop(L, 3);
    lua_pushnumber(L, deadline);
    return wait_loop(L, NH_WAKE_READY);
}

/* A signal by name ("TERM", "SIGTERM", "term") or number. */
static int check_signal(lua_State *L, int arg)
{
    if (lua_isinteger(L, arg)) {
        lua_Integer n = lua_tointeger(L, arg);
        luaL_argcheck(L, n >= 0 && n < NSIG, arg, "no such signal");
        return (int)n;
    }
    const char *name = luaL_checkstring(L, arg);
    if (strncasecmp(name, "SIG", 3) == 0)
        name += 3;
    for (int sig = 1; sig < NSIG; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev && strcasecmp(abbrev, name) == 0)
            return sig;
    }
    return luaL_argerror(L, arg, lua_pushfstring(L, "no signal named \"%s\"", lua_tostring(L, arg)));
}

static int l_signal(lua_State *L)
{
    lproc *lp = check_proc(L, 1);
    int sig = check_signal(L, 2);
    if (!lp->open)
        return nh_fail(L, "kill", -1, NULL, NULL, NH_ERR_TEXT, "the process handle is closed", 0,
                       "ECLOSED");
    if (nh_proc_signal(&lp->p, sig) < 0)
        return nh_fail(L, "kill", -1, NULL, NULL, NH_ERR_SYS,
                       lua_pushfstring(L, "process group %d", (int)lp->p.pid), errno, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_close(lua_State *L)
{
    lproc *lp = check_proc(L, 1);
    if (lp->open) {
        lp->open = 0;
        nh_sched.readers--;
        nh_proc_free(&lp->p);
    }
    return 0;
}

static int l_tostring(lua_State *L)
{
    lproc *lp = check_proc(L, 1);
    lua_pushfstring(L, "netharness.Process(pid %d%s)", (int)lp->p.pid,
                    !lp->open ? ", closed" : lp->p.exited ? ", exited" : "");
    return 1;
}

extern char **environ;

/* environ() -> {"K=V", ...}: this process's environment, which Lua's os
 * library can read only by name. */
static int l_environ(lua_State *L)
{
    lua_newtable(L);
    for (int i = 0; environ && environ[i]; i++) {
        lua_pushstring(L, environ[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

void nh_process_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"pid", l_pid}, {"output", l_output}, {"version", l_version}, {"wait", l_wait},
        {"status", l_status}, {"output_open", l_output_open}, {"signal", l_signal},
        {"close", l_close}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", l_close}, {"__close", l_close}, {"__tostring", l_tostring}, {NULL, NULL}};
    luaL_newmetatable(L, NH_PROCESS);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_spawn);
    lua_setfield(L, -2, "process_spawn");
    lua_pushcfunction(L, l_environ);
    lua_setfield(L, -2, "process_environ");
}
