/*
 * Tasks: coroutines run by the event loop, netharness's goroutines, and their
 * Lua API (spawn, wait, cancel, sleep, run, ...). How a call inside one waits
 * is suspend.c's.
 *
 * A task is resumed from C when the one thing it waits for happens, so there is
 * no scheduler queue to walk and no Lua code between the kernel and the script.
 * A task that fails is reported with its traceback (to the handler set by
 * on_task_error, or stderr) and the others go on.
 */
#include <stdio.h>
#include <string.h>

#include "nh.h"

/* Every connection of a server has a task (bench case 5): grow it knowingly. */
_Static_assert(sizeof(nh_task) <= 80, "nh_task outgrew its memory budget");

/* ---- task life ---- */

#define LIVE 1   /* the live table's slot on nh_sched.thread's stack */

static void push_task(lua_State *S, nh_task *t)
{
    lua_rawgeti(nh_sched.thread, LIVE, t->anchor);
    if (S != nh_sched.thread)
        lua_xmove(nh_sched.thread, S, 1);
}

/* err: the stack index on nh_sched.thread of the error value as raised, or 0. */
static void report(nh_task *t, const char *msg, int err)
{
    lua_State *S = nh_sched.thread;
    int top = lua_gettop(S);
    lua_getfield(S, LUA_REGISTRYINDEX, "netharness.on_task_error");
    if (lua_isfunction(S, -1)) {
        push_task(S, t);
        lua_pushstring(S, msg);
        if (err)
            lua_pushvalue(S, err);   /* the error value itself (a table, say) */
        else
            lua_pushnil(S);
        if (lua_pcall(S, 3, 0, 0) != LUA_OK)
            fprintf(stderr, "netharness: error in on_task_error handler: %s\n(task error: %s)\n",
                    lua_tostring(S, -1), msg);
    } else {
        fprintf(stderr, "netharness: task failed: %s\n", msg);
        fflush(stderr);
    }
    lua_settop(S, top);
}

/* Record the outcome (on top of S: a results table or a message), wake joiners. */
static void finish(nh_task *t, int state)
{
    lua_State *S = nh_sched.thread;
    push_task(S, t);
    lua_insert(S, -2);
    lua_setiuservalue(S, -2, 1);      /* the outcome replaces the coroutine */
    lua_pop(S, 1);
    *nh_task_slot(t->co) = NULL;
    t->co = NULL;
    t->state = state;
    nh_queue_wake_all(&t->joiners, NH_WAKE_READY);
    luaL_unref(S, LIVE, t->anchor);
    t->anchor = LUA_NOREF;
    if (--nh_sched.live == 0)
        nh_queue_wake_all(&nh_sched.all_done, NH_WAKE_READY);
}

/* What a finished coroutine left, as its task's outcome (run protected: a
 * Lua error must never unwind through a libev callback, and converting an
 * error object calls its __tostring). On S: the coroutine, its status, the
 * number of results. Returns the results table, or the message with the
 * traceback. */
static int make_outcome(lua_State *S)
{
    lua_State *co = lua_tothread(S, 1);
    int rc = (int)lua_tointeger(S, 2), nres = (int)lua_tointeger(S, 3);
    if (rc == LUA_OK) {
        luaL_checkstack(S, nres + 2, "too many results from a task");
        lua_createtable(S, nres, 1);
        lua_xmove(co, S, nres);
        for (int i = nres; i >= 1; i--)
            lua_rawseti(S, -(i + 1), i);      /* tbl sits below the i values left */
        lua_pushinteger(S, nres);
        lua_setfield(S, -2, "n");
        return 1;
    }
    lua_xmove(co, S, 1);
    const char *msg = luaL_tolstring(S, -1, NULL);
    luaL_traceback(S, co, msg, 0);
    return 1;
}

/* The outcome of task t's coroutine co that ended with rc, pushed on nh_sched.thread
 * above t (which push_task put there). */
static void outcome(lua_State *co, int rc, int nres)
{
    lua_State *S = nh_sched.thread;
    int err_type = rc == LUA_OK ? LUA_TNIL : lua_type(co, -1);
    lua_pushcfunction(S, make_outcome);
    lua_getiuservalue(S, -2, 1);   /* the task's coroutine (co) */
    lua_pushinteger(S, rc);
    lua_pushinteger(S, nres);
    if (lua_pcall(S, 3, 1, 0) == LUA_OK)
        return;
    const char *why = lua_tostring(S, -1);
    if (rc == LUA_OK)
        lua_pushfstring(S, "task returned values that could not be kept: %s", why ? why : "?");
    else
        lua_pushfstring(S, "task failed with a %s error object that could not be converted to a "
                           "string: %s", lua_typename(S, err_type), why ? why : "?");
    lua_remove(S, -2);
}

/* Close a failed or cancelled task's pending <close> variables. Their
 * __close runs outside any resume and cannot yield: a wait in it waits on
 * its own (task_of), never parking (or hijacking) the dying task, whose
 * later wake resumed a dead coroutine (issue 27: a segfault). Returns
 * lua_resetthread's status. */
static int close_pending(nh_task *t)
{
    t->running = NH_RUN_CLOSING;
    int st = lua_resetthread(t->co);
    t->running = 0;
    return st;
}

static void resume(nh_task *t)
{
    lua_State *co = t->co;
    int nres, nargs = 0;
    if (t->state == NH_T_HIJACKED) {   /* see suspend.c: its coroutine died in another's resume */
        lua_State *S = nh_sched.thread;
        push_task(S, t);
        lua_resetthread(co);
        report(t, NH_HIJACKED, 0);
        lua_pushliteral(S, NH_HIJACKED);
        finish(t, NH_T_FAILED);
        lua_pop(S, 1);
        return;
    }
    if (t->state == NH_T_NEW) {
        t->state = NH_T_LIVE;
        nargs = lua_gettop(co) - 1;   /* the function and its arguments */
    }
    t->yielded = 0;
    t->running = NH_RUN_RESUMED;
    nh_sched.streak = 0;
    int rc = lua_resume(co, NULL, nargs, &nres);
    t->running = 0;
    if (t->co != co)
        return;   /* stopped while it ran (hijacked) */
    if (rc == LUA_YIELD) {
        lua_pop(co, nres);
        if (!t->yielded)
            nh_task_reschedule(t);   /* a plain coroutine.yield: let the others run, then go on */
        return;
    }
    lua_State *S = nh_sched.thread;
    int err = 0;
    if (rc != LUA_OK && lua_checkstack(co, 1) && lua_checkstack(S, 4)) {
        /* The error value as raised, kept beside the message: an error
         * object (a busted failure, a table with fields) stays one for
         * whoever waits. Only failures pay for it. */
        lua_pushvalue(co, -1);
        lua_xmove(co, S, 1);
        err = lua_gettop(S);
    }
    push_task(S, t);   /* keep t alive through finish */
    outcome(co, rc, nres);
    if (rc == LUA_OK) {
        finish(t, lua_istable(S, -1) ? NH_T_DONE : NH_T_FAILED);
    } else {
        close_pending(t);
        report(t, lua_tostring(S, -1), err);
        if (err) {   /* the outcome: {message, error value} */
            lua_createtable(S, 2, 0);
            lua_insert(S, -2);
            lua_rawseti(S, -2, 1);
            lua_pushvalue(S, err);
            lua_rawseti(S, -2, 2);
        }
        finish(t, NH_T_FAILED);
    }
    lua_pop(S, 1);
    if (err)
        lua_remove(S, err);
}

static void task_wake(nh_waiter *w, int status)
{
    nh_task *t = (nh_task *)w;
    t->wstatus = status;
    resume(t);
}

/* ---- Lua API ---- */

static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int n = lua_gettop(L);
    luaL_checkstack(L, n + 3, "too many arguments to spawn");
    nh_task *t = lua_newuserdatauv(L, sizeof *t, 1);
    memset(t, 0, sizeof *t);
    t->anchor = LUA_NOREF;
    nh_waiter_init(&t->w, task_wake);
    luaL_setmetatable(L, NH_TASK);
    lua_State *co = lua_newthread(L);
    lua_setiuservalue(L, n + 1, 1);
    if (!lua_checkstack(co, n + 1))
        return luaL_error(L, "too many arguments to spawn");
    *nh_task_slot(co) = t;
    t->co = co;
    for (int i = 1; i <= n; i++)
        lua_pushvalue(L, i);
    lua_xmove(L, co, n);
    lua_pushvalue(L, n + 1);
    lua_xmove(L, nh_sched.thread, 1);
    t->anchor = luaL_ref(nh_sched.thread, LIVE);
    nh_sched.live++;
    nh_task_reschedule(t);
    return 1;
}

static nh_task *check_task(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, NH_TASK);
}

static int push_outcome(lua_State *L, nh_task *t)
{
    lua_getiuservalue(L, 1, 1);
    if (t->state != NH_T_DONE) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        if (!lua_istable(L, -1))
            return 2;   /* cancelled, or a failure without its value */
        lua_rawgeti(L, -1, 1);   /* {message, error value} */
        lua_rawgeti(L, -2, 2);
        lua_remove(L, -3);
        return 3;
    }
    int idx = lua_gettop(L);
    lua_getfield(L, idx, "n");
    lua_Integer n = lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, (int)n + 1, "too many results");
    lua_pushboolean(L, 1);
    for (lua_Integer i = 1; i <= n; i++)
        lua_rawgeti(L, idx, i);
    return (int)n + 1;
}

static int task_finished(const nh_task *t)
{
    return t->state == NH_T_DONE || t->state == NH_T_FAILED || t->state == NH_T_CANCELLED;
}

static int wait_done(lua_State *L, int st)
{
    nh_task *t = check_task(L, 1);
    if (task_finished(t))
        return push_outcome(L, t);
    return nh_fail_wake(L, "wait", -1, NULL, NULL, st == NH_WAKE_READY ? NH_WAKE_TIMEOUT : st);
}

static int wait_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    return wait_done(L, nh_wait_status(L));
}

/* task:wait([timeout]) -> true, results... | false, message, error value | nil,
 * timeout error. The message has the traceback; the error value is what the
 * task raised (nil for a cancelled task). */
static int l_task_wait(lua_State *L)
{
    nh_task *t = check_task(L, 1);
    double deadline = nh_opt_timeout(L, 2);
    nh_block blk;
    if (task_finished(t))
        return push_outcome(L, t);
    if (t->co == L || *nh_task_slot(L) == t)
        return luaL_error(L, "a task cannot wait for itself");
    nh_waiter *w = nh_wait_begin(L, &blk);
    nh_wait(w, &t->joiners, deadline);
    return wait_done(L, nh_suspend(L, &blk, 0, wait_k));
}

static int cancel(lua_State *L, nh_task *t)
{
    if (task_finished(t))
        return 0;
    if (t->running)
        return luaL_error(L, "cannot cancel a running task");
    nh_wait_cancel(&t->w);
    lua_State *S = nh_sched.thread;
    push_task(S, t);
    if (close_pending(t) != LUA_OK)
        report(t, lua_tostring(t->co, -1), 0);
    lua_pushliteral(S, "cancelled");
    finish(t, NH_T_CANCELLED);
    lua_pop(S, 1);
    return 1;
}

static int l_task_cancel(lua_State *L)
{
    lua_pushboolean(L, cancel(L, check_task(L, 1)));
    return 1;
}

static const char *const state_names[] = {"new", "waiting", "done", "failed", "cancelled", "waiting"};

static int l_task_status(lua_State *L)
{
    nh_task *t = check_task(L, 1);
    lua_pushstring(L, t->running ? "running" : state_names[t->state]);
    return 1;
}

/* task:traceback() -> where an unfinished task is (its stack, as
 * debug.traceback shows it), or nil once it has finished: what a time limit
 * that ran out can say about the wait it ended. */
static int l_task_traceback(lua_State *L)
{
    nh_task *t = check_task(L, 1);
    if (!t->co || t->co == L || task_finished(t)) {
        lua_pushnil(L);
        return 1;
    }
    luaL_traceback(L, t->co, NULL, 0);
    return 1;
}

static int l_task_tostring(lua_State *L)
{
    nh_task *t = check_task(L, 1);
    lua_pushfstring(L, "task: %p (%s)", (void *)t, t->running ? "running" : state_names[t->state]);
    return 1;
}

static int l_task_gc(lua_State *L)
{
    nh_task *t = check_task(L, 1);
    nh_waiter_free(&t->w);
    return 0;
}

static void sleep_deadline(lua_State *L, double *deadline)
{
    double s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s == s, 1, "seconds must be a number, not NaN");
    *deadline = nh_now() + (s > 0 ? s : 0);   /* as Go's time.Sleep: <= 0 returns at once (after a turn) */
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)L;
    (void)status;
    (void)ctx;
    return 0;
}

static int l_sleep(lua_State *L)
{
    double deadline;
    nh_block blk;
    sleep_deadline(L, &deadline);
    nh_waiter *w = nh_wait_begin(L, &blk);
    nh_wait(w, NULL, deadline);
    nh_suspend(L, &blk, 0, sleep_k);
    return 0;
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, nh_now());
    return 1;
}

static int run_done(lua_State *L)
{
    if (nh_sched.live == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return nh_fail_wake(L, "run", -1, NULL, NULL, NH_WAKE_TIMEOUT);
}

/* run([timeout]): drive the loop until every task has finished. */
static int l_run(lua_State *L)
{
    double deadline = nh_opt_timeout(L, 1);
    nh_block blk;
    if (*nh_task_slot(L) || nh_sched.driving)
        return luaL_error(L, "run() waits for every task, so it cannot be called from one");
    if (nh_sched.live == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    nh_waiter *w = nh_wait_begin(L, &blk);   /* never a task's: checked above */
    nh_wait(w, &nh_sched.all_done, deadline);
    nh_suspend(L, &blk, 0, NULL);
    return run_done(L);
}

static int l_running(lua_State *L)
{
    nh_task *t = *nh_task_slot(L);
    if (t && t->running)
        push_task(L, t);
    else
        lua_pushnil(L);
    return 1;
}

static int l_live_tasks(lua_State *L)
{
    lua_pushinteger(L, nh_sched.live);
    return 1;
}

/* Cancel every task that is not running now (used by the spec helper). */
static int l_cancel_all(lua_State *L)
{
    int n = 0;
    /* Collect first: cancelling changes the live table. */
    lua_newtable(L);
    lua_pushnil(nh_sched.thread);
    while (lua_next(nh_sched.thread, LIVE)) {
        if (lua_type(nh_sched.thread, -1) == LUA_TUSERDATA) {
            lua_xmove(nh_sched.thread, L, 1);
            lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        } else {
            lua_pop(nh_sched.thread, 1);
        }
    }
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        nh_task *t = lua_touserdata(L, -1);
        if (!t->running)
            n += cancel(L, t);
        lua_pop(L, 1);
    }
    lua_pushinteger(L, n);
    return 1;
}

static int l_on_task_error(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "netharness.on_task_error");
    lua_pushvalue(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "netharness.on_task_error");
    return 1;
}

void nh_task_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"wait", l_task_wait},
        {"cancel", l_task_cancel},
        {"status", l_task_status},
        {"traceback", l_task_traceback},
        {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__tostring", l_task_tostring},
        {"__gc", l_task_gc},
        {NULL, NULL}};
    static const luaL_Reg funcs[] = {
        {"spawn", l_spawn},
        {"sleep", l_sleep},
        {"now", l_now},
        {"run", l_run},
        {"running", l_running},
        {"live_tasks", l_live_tasks},
        {"cancel_all", l_cancel_all},
        {"on_task_error", l_on_task_error},
        {NULL, NULL}};

    /* New threads copy the main thread's extra space: make it say "no task". */
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    nh_sched.main = lua_tothread(L, -1);
    *(nh_task **)lua_getextraspace(nh_sched.main) = NULL;
    lua_pop(L, 1);
    if (!nh_sched.thread) {
        nh_sched.thread = lua_newthread(L);
        lua_setfield(L, LUA_REGISTRYINDEX, "netharness.scheduler");
        lua_newtable(nh_sched.thread);   /* LIVE */
    }
    luaL_newmetatable(L, NH_TASK);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
