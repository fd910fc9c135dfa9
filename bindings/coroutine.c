/*
 * coroutine.resume and coroutine.wrap that pass netharness waits through.
 *
 * A generator written with coroutine.wrap that reads from a socket is plain
 * Lua; inside a task, its read must park the task, not start a second event
 * loop inside the first (which held every other wait until it ended, and grew
 * the C stack without bound). These two functions replace the standard ones
 * when netharness is loaded. They behave exactly as Lua's own (lcorolib.c)
 * until the coroutine they resume waits on the loop for a task: that wait
 * yields to them, not to their caller, and they yield on to the task, and
 * resume the coroutine again when the task is woken. Anywhere else (the main
 * chunk) the wait runs the loop itself, as every wait there does.
 */
#include "nh.h"

enum { PARKED = -2 };

/* Resume co with narg arguments from L's top. Returns the number of values
 * moved to L, -1 with an error value on L, or PARKED. */
static int resume_once(lua_State *L, lua_State *co, int narg)
{
    int nres;
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    void *task = nh_task_lend(L, co);
    int status = lua_resume(co, L, narg, &nres);
    int parked = nh_task_unlend(co, task);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (status == LUA_YIELD && parked) {
            lua_pop(co, nres);
            return PARKED;
        }
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

/* ---- coroutine.resume(co, ...) -> true, values... | false, error ---- */

static int resume_k(lua_State *L, int status, lua_KContext ctx);

static int resume_finish(lua_State *L, lua_State *co, int narg)
{
    int r = resume_once(L, co, narg);
    if (r == PARKED)
        return lua_yieldk(L, 0, 0, resume_k);   /* the task waits; then go on here */
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

static int resume_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    lua_settop(L, 1);
    return resume_finish(L, lua_tothread(L, 1), 0);
}

static int l_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    return resume_finish(L, co, lua_gettop(L) - 1);
}

/* ---- coroutine.wrap(f) -> a function that resumes, raising its errors ---- */

static int wrapped_k(lua_State *L, int status, lua_KContext ctx);

static int wrapped_finish(lua_State *L, lua_State *co, int narg)
{
    int r = resume_once(L, co, narg);
    if (r == PARKED) {
        lua_settop(L, 0);
        return lua_yieldk(L, 0, 0, wrapped_k);
    }
    if (r >= 0)
        return r;
    int st = lua_status(co);
    if (st != LUA_OK && st != LUA_YIELD) {   /* an error in the coroutine: close it */
        st = lua_resetthread(co);
        lua_xmove(co, L, 1);
    }
    if (st != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int wrapped_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    lua_settop(L, 0);
    return wrapped_finish(L, lua_tothread(L, lua_upvalueindex(1)), 0);
}

static int wrapped(lua_State *L)
{
    return wrapped_finish(L, lua_tothread(L, lua_upvalueindex(1)), lua_gettop(L));
}

static int l_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, wrapped, 1);
    return 1;
}

/* Replace resume and wrap in the global coroutine table (and keep them in
 * the module as netharness.coroutine_resume / coroutine_wrap, for code that
 * captured the standard ones before loading netharness). */
void nh_coroutine_open(lua_State *L)
{
    lua_pushcfunction(L, l_resume);
    lua_setfield(L, -2, "coroutine_resume");
    lua_pushcfunction(L, l_wrap);
    lua_setfield(L, -2, "coroutine_wrap");
    if (lua_getglobal(L, "coroutine") == LUA_TTABLE) {
        lua_pushcfunction(L, l_resume);
        lua_setfield(L, -2, "resume");
        lua_pushcfunction(L, l_wrap);
        lua_setfield(L, -2, "wrap");
    }
    lua_pop(L, 1);
}
