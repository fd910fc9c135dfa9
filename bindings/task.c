/*
 * Tasks: coroutines run by the event loop, netharness's goroutines.
 *
 * A task is resumed from C when the one thing it waits for happens, so there is
 * no scheduler queue to walk and no Lua code between the kernel and the script.
 * A task that fails is reported with its traceback (to the handler set by
 * on_task_error, or stderr) and the others go on.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nh.h"

enum { T_NEW, T_LIVE, T_DONE, T_FAILED, T_CANCELLED };

typedef struct nh_task {
    nh_waiter w;          /* the task's one wait at a time */
    lua_State *co;        /* NULL once finished; user value 1 holds it, then the outcome */
    nh_queue joiners;
    int anchor;           /* index in the live table while live, so a waiting task is not collected */
    unsigned char state;
    unsigned char yielded; /* suspended by nh_suspend, not by a plain coroutine.yield */
    unsigned char running; /* inside lua_resume */
    unsigned char wstatus; /* how the last wait ended */
} nh_task;

/* Every connection of a server has a task (bench case 5): grow it knowingly. */
_Static_assert(sizeof(nh_task) <= 80, "nh_task outgrew its memory budget");

static int live_count;
static int driving;             /* drive() calls (and main-chunk turns) on the C stack */
static nh_queue all_done;       /* run() waits here for live_count == 0 */
static lua_State *sched;        /* a thread of our own for handlers and tracebacks; its
                                 * stack slot 1 is the live table, anchoring live tasks */
static lua_State *main_L;       /* where lua.c's SIGINT handler installs its hook */

/* Made when the module opens (luaopen_netharness_core); from then on the
 * pointer is read, not asked of libev per call. */
struct ev_loop *nh_loop(void)
{
    return EV_DEFAULT_UC;
}

/* A thread's extra space names the task it runs for: a task's own coroutine
 * from spawn to finish, and a plain coroutine while the task resumes it
 * through netharness's coroutine.resume / wrap (coroutine.c lends it). */
static nh_task **task_slot(lua_State *L)
{
    return (nh_task **)lua_getextraspace(L);
}

static void finish(nh_task *t, int state);
static void report(nh_task *t, const char *msg);

/* A task's coroutine that runs although the loop did not resume it: someone
 * called coroutine.resume on it. Its wait is void now (the loop would resume
 * it a second time): the task fails, and so does the resume. */
static int hijacked(lua_State *L, nh_task *t)
{
    static const char msg[] = "netharness: a task's coroutine was resumed from outside the loop "
                              "(coroutine.resume on a task); the task is stopped";
    nh_wait_cancel(&t->w);
    report(t, msg);
    lua_pushstring(sched, msg);
    finish(t, T_FAILED);
    return luaL_error(L, "%s", msg);
}

/* The task a waiting call should park, or NULL when it must wait on its own
 * (not in a task, or at a C boundary it cannot yield across). */
static nh_task *task_of(lua_State *L)
{
    nh_task *t = *task_slot(L);
    if (!t)
        return NULL;
    if (!t->running)
        hijacked(L, t);
    return lua_isyieldable(L) ? t : NULL;
}

/* Lend plain coroutine co the task L runs for while L resumes it, when L can
 * pass a wait on (yield): a wait in co then parks that task. */
void *nh_task_lend(lua_State *L, lua_State *co)
{
    nh_task *t = *task_slot(L);
    if (!t || !t->running || *task_slot(co) || !lua_isyieldable(L))
        return NULL;
    *task_slot(co) = t;
    return t;
}

/* After the resume: did co park the task on a wait (it yielded to the loop,
 * not to its resumer)? */
int nh_task_unlend(lua_State *co, void *task)
{
    nh_task *t = task;
    if (!t)
        return 0;
    *task_slot(co) = NULL;
    return t->yielded;
}

/* ---- the wait protocol ---- */

static void block_wake(nh_waiter *w, int status)
{
    nh_block *blk = (nh_block *)w;
    w->status = status;
    blk->done = 1;
}

nh_waiter *nh_wait_begin(lua_State *L, nh_block *blk)
{
    nh_task *t = task_of(L);
    if (t)
        return &t->w;
    /* A second loop run from inside the first would hold every wait outside
     * it until its own ends (timeouts broken, the C stack without bound). */
    if (driving)
        luaL_error(L, "netharness: cannot wait here: inside a task, a call that waits must be able "
                      "to yield (not in a metamethod, a table.sort comparator, a string.gsub "
                      "function or a coroutine resumed by another library)");
    nh_waiter_init(&blk->w, block_wake);
    nh_waiter_lend_timer(&blk->w, &blk->timer);
    blk->done = 0;
    return &blk->w;
}

enum { DRIVE_DONE, DRIVE_DEADLOCK, DRIVE_INTERRUPTED };

/* Run the loop until *done. The interpreter answers Ctrl-C by installing a
 * hook, which never fires while we sit in C: a hook that appears meanwhile can
 * only come from a signal handler, so stop and let the caller raise. */
static int drive_loop(int *done)
{
    struct ev_loop *loop = nh_loop();
    lua_Hook hook = lua_gethook(main_L);
    for (;;) {
        nh_streak = 0;
        if (*done)
            return DRIVE_DONE;
        if (lua_gethook(main_L) != hook)
            return DRIVE_INTERRUPTED;
        if (!ev_run(loop, EVRUN_ONCE) && !ev_pending_count(loop) && !*done)
            return DRIVE_DEADLOCK;
    }
}

static int drive(int *done)
{
    driving++;
    int r = drive_loop(done);
    driving--;
    return r;
}

int nh_suspend(lua_State *L, nh_block *blk, lua_KContext ctx, lua_KFunction k)
{
    nh_task *t = task_of(L);
    if (t) {
        t->yielded = 1;
        return lua_yieldk(L, 0, ctx, k);   /* unwinds this C frame: k takes over */
    }
    switch (drive(&blk->done)) {
    case DRIVE_DEADLOCK:
        nh_wait_cancel(&blk->w);
        return luaL_error(L, "netharness: deadlock: this wait can never end (all tasks are asleep)");
    case DRIVE_INTERRUPTED:
        nh_wait_cancel(&blk->w);
        lua_sethook(main_L, NULL, 0, 0);
        return luaL_error(L, "interrupted!");
    default:
        return blk->w.status;
    }
}

static lua_Hook alone_hook;

/* A running task is live, so with none live the caller is no task. */
int nh_alone(lua_State *L)
{
    (void)L;
    if (live_count || ev_pending_count(nh_loop()))
        return 0;
    alone_hook = lua_gethook(main_L);
    return 1;
}

int nh_alone_wait_status(lua_State *L, double *call_deadline, double *timeout)
{
    if (errno == ETIMEDOUT)
        return NH_WAKE_TIMEOUT;
    if (errno == EINTR) {
        if (lua_gethook(main_L) != alone_hook) {   /* Ctrl-C: see drive() */
            lua_sethook(main_L, NULL, 0, 0);
            luaL_error(L, "interrupted!");
        }
        if (*timeout >= 0) {   /* how long it waited is unknown: the timeout starts again */
            *call_deadline = nh_deadline_in(*timeout);
            *timeout = -1;
        }
        return NH_WAKE_READY;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return *call_deadline > 0 && nh_now() >= *call_deadline ? NH_WAKE_TIMEOUT : NH_WAKE_READY;
    return -1;
}

int nh_wait_status(lua_State *L)
{
    nh_task *t = task_of(L);
    return t ? t->wstatus : NH_WAKE_READY;
}

/* ---- fair turns ---- */

unsigned nh_streak;

static void reschedule(nh_task *t);

int nh_take_turn(lua_State *L)
{
    nh_streak = 0;
    if (!live_count)
        return 0;   /* nobody else to let run (the ready list holds only tasks' wakes) */
    if (task_of(L))
        return 1;
    if (!driving) {   /* the main chunk: one pass of the loop, without blocking */
        driving++;
        ev_run(nh_loop(), EVRUN_NOWAIT);
        driving--;
    }
    return 0;
}

static int again_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    return ((lua_CFunction)ctx)(L);
}

int nh_yield_then(lua_State *L, lua_CFunction call)
{
    nh_task *t = task_of(L);
    reschedule(t);
    t->yielded = 1;
    return lua_yieldk(L, 0, (lua_KContext)call, again_k);
}

/* ---- task life ---- */

#define LIVE 1   /* the live table's slot on sched's stack */

static void push_task(lua_State *S, nh_task *t)
{
    lua_rawgeti(sched, LIVE, t->anchor);
    if (S != sched)
        lua_xmove(sched, S, 1);
}

static void report(nh_task *t, const char *msg)
{
    lua_State *S = sched;
    int top = lua_gettop(S);
    lua_getfield(S, LUA_REGISTRYINDEX, "netharness.on_task_error");
    if (lua_isfunction(S, -1)) {
        push_task(S, t);
        lua_pushstring(S, msg);
        if (lua_pcall(S, 2, 0, 0) != LUA_OK)
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
    lua_State *S = sched;
    push_task(S, t);
    lua_insert(S, -2);
    lua_setiuservalue(S, -2, 1);      /* the outcome replaces the coroutine */
    lua_pop(S, 1);
    *task_slot(t->co) = NULL;
    t->co = NULL;
    t->state = state;
    nh_queue_wake_all(&t->joiners, NH_WAKE_READY);
    luaL_unref(S, LIVE, t->anchor);
    t->anchor = LUA_NOREF;
    if (--live_count == 0)
        nh_queue_wake_all(&all_done, NH_WAKE_READY);
}

static void reschedule(nh_task *t)
{
    nh_wait(&t->w, NULL, 0);
    nh_wake_later(&t->w, NH_WAKE_READY);
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

/* The outcome of task t's coroutine co that ended with rc, pushed on sched
 * above t (which push_task put there). */
static void outcome(lua_State *co, int rc, int nres)
{
    lua_State *S = sched;
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

static void resume(nh_task *t)
{
    lua_State *co = t->co;
    int nres, nargs = 0;
    if (t->state == T_NEW) {
        t->state = T_LIVE;
        nargs = lua_gettop(co) - 1;   /* the function and its arguments */
    }
    t->yielded = 0;
    t->running = 1;
    nh_streak = 0;
    int rc = lua_resume(co, NULL, nargs, &nres);
    t->running = 0;
    if (t->co != co)
        return;   /* stopped while it ran (hijacked) */
    if (rc == LUA_YIELD) {
        lua_pop(co, nres);
        if (!t->yielded)
            reschedule(t);   /* a plain coroutine.yield: let the others run, then go on */
        return;
    }
    lua_State *S = sched;
    push_task(S, t);   /* keep t alive through finish */
    outcome(co, rc, nres);
    if (rc == LUA_OK) {
        finish(t, lua_istable(S, -1) ? T_DONE : T_FAILED);
    } else {
        lua_resetthread(co);              /* closes its pending <close> variables */
        report(t, lua_tostring(S, -1));
        finish(t, T_FAILED);
    }
    lua_pop(S, 1);
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
    *task_slot(co) = t;
    t->co = co;
    for (int i = 1; i <= n; i++)
        lua_pushvalue(L, i);
    lua_xmove(L, co, n);
    lua_pushvalue(L, n + 1);
    lua_xmove(L, sched, 1);
    t->anchor = luaL_ref(sched, LIVE);
    live_count++;
    reschedule(t);
    return 1;
}

static nh_task *check_task(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, NH_TASK);
}

static int push_outcome(lua_State *L, nh_task *t)
{
    lua_getiuservalue(L, 1, 1);
    if (t->state != T_DONE) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
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
    return t->state == T_DONE || t->state == T_FAILED || t->state == T_CANCELLED;
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

/* task:wait([timeout]) -> true, results... | false, message | nil, timeout error */
static int l_task_wait(lua_State *L)
{
    nh_task *t = check_task(L, 1);
    double deadline = nh_opt_timeout(L, 2);
    nh_block blk;
    if (task_finished(t))
        return push_outcome(L, t);
    if (t->co == L || *task_slot(L) == t)
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
    lua_State *S = sched;
    push_task(S, t);
    if (lua_resetthread(t->co) != LUA_OK)
        report(t, lua_tostring(t->co, -1));
    lua_pushliteral(S, "cancelled");
    finish(t, T_CANCELLED);
    lua_pop(S, 1);
    return 1;
}

static int l_task_cancel(lua_State *L)
{
    lua_pushboolean(L, cancel(L, check_task(L, 1)));
    return 1;
}

static const char *const state_names[] = {"new", "waiting", "done", "failed", "cancelled"};

static int l_task_status(lua_State *L)
{
    nh_task *t = check_task(L, 1);
    lua_pushstring(L, t->running ? "running" : state_names[t->state]);
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
    if (live_count == 0) {
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
    if (*task_slot(L) || driving)
        return luaL_error(L, "run() waits for every task, so it cannot be called from one");
    if (live_count == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    nh_waiter *w = nh_wait_begin(L, &blk);   /* never a task's: checked above */
    nh_wait(w, &all_done, deadline);
    nh_suspend(L, &blk, 0, NULL);
    return run_done(L);
}

static int l_running(lua_State *L)
{
    nh_task *t = *task_slot(L);
    if (t && t->running)
        push_task(L, t);
    else
        lua_pushnil(L);
    return 1;
}

static int l_live_tasks(lua_State *L)
{
    lua_pushinteger(L, live_count);
    return 1;
}

/* Cancel every task that is not running now (used by the spec helper). */
static int l_cancel_all(lua_State *L)
{
    int n = 0;
    /* Collect first: cancelling changes the live table. */
    lua_newtable(L);
    lua_pushnil(sched);
    while (lua_next(sched, LIVE)) {
        if (lua_type(sched, -1) == LUA_TUSERDATA) {
            lua_xmove(sched, L, 1);
            lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        } else {
            lua_pop(sched, 1);
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
    main_L = lua_tothread(L, -1);
    *(nh_task **)lua_getextraspace(main_L) = NULL;
    lua_pop(L, 1);
    if (!sched) {
        sched = lua_newthread(L);
        lua_setfield(L, LUA_REGISTRYINDEX, "netharness.scheduler");
        lua_newtable(sched);   /* LIVE */
    }
    luaL_newmetatable(L, NH_TASK);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
