/*
 * How a Lua call waits (the wait protocol), and the scheduler state it reads.
 *
 * A call that must wait asks nh_wait_begin for a waiter, parks it (on a socket
 * side, a lookup, a task) and returns nh_suspend(L, ...). In a task (a
 * coroutine started by netharness.spawn) that yields to the loop: the
 * continuation k runs when the waiter is woken and finishes the call exactly
 * as the fast path does. Anywhere else (the main chunk) it runs the loop until
 * the waiter is woken, then returns, so the same script line works in both
 * places. Tasks themselves (spawn, resume, outcomes) are task.c's.
 */
#include <errno.h>
#include <string.h>

#include "nh.h"

struct nh_sched nh_sched;

void nh_sched_forget(void)
{
    memset(&nh_sched, 0, sizeof nh_sched);
}

/* A thread's extra space names the task it runs for: a task's own coroutine
 * from spawn to finish, and a plain coroutine while the task resumes it
 * through netharness's coroutine.resume / wrap (coroutine.c lends it). */
nh_task **nh_task_slot(lua_State *L)
{
    return (nh_task **)lua_getextraspace(L);
}

/* Make the task runnable again after one pass of the loop. */
void nh_task_reschedule(nh_task *t)
{
    nh_wait(&t->w, NULL, 0);
    nh_wake_later(&t->w, NH_WAKE_READY);
}

/* A task's coroutine that runs although the loop did not resume it: someone
 * called coroutine.resume on it. Its wait is void now (the loop would resume
 * it a second time): the resume fails here, and the task fails when the loop
 * next reaches it (task.c). */
static int hijacked(lua_State *L, nh_task *t)
{
    nh_wait_cancel(&t->w);
    t->state = NH_T_HIJACKED;
    nh_task_reschedule(t);
    return luaL_error(L, "%s", NH_HIJACKED);
}

/* The task a waiting call should park, or NULL when it must wait on its own
 * (not in a task, or at a C boundary it cannot yield across). */
static nh_task *task_of(lua_State *L)
{
    nh_task *t = *nh_task_slot(L);
    if (!t || t->running == NH_RUN_CLOSING)   /* a __close that waits waits on its own */
        return NULL;
    if (!t->running)
        hijacked(L, t);
    return lua_isyieldable(L) ? t : NULL;
}

/* Lend plain coroutine co the task L runs for while L resumes it, when L can
 * pass a wait on (yield): a wait in co then parks that task. */
void *nh_task_lend(lua_State *L, lua_State *co)
{
    nh_task *t = *nh_task_slot(L);
    if (!t || !t->running || *nh_task_slot(co) || !lua_isyieldable(L))
        return NULL;
    *nh_task_slot(co) = t;
    return t;
}

/* After the resume: did co park the task on a wait (it yielded to the loop,
 * not to its resumer)? */
int nh_task_unlend(lua_State *co, void *task)
{
    nh_task *t = task;
    if (!t)
        return 0;
    *nh_task_slot(co) = NULL;
    return t->yielded;
}

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
    if (nh_sched.driving)
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
    lua_Hook hook = lua_gethook(nh_sched.main);
    for (;;) {
        nh_sched.streak = 0;
        if (*done)
            return DRIVE_DONE;
        if (lua_gethook(nh_sched.main) != hook)
            return DRIVE_INTERRUPTED;
        if (!ev_run(NH_LOOP, EVRUN_ONCE) && !ev_pending_count(NH_LOOP) && !*done)
            return DRIVE_DEADLOCK;
    }
}

int nh_drive(int *done)
{
    nh_sched.driving++;
    int r = drive_loop(done);
    nh_sched.driving--;
    return r;
}

int nh_suspend(lua_State *L, nh_block *blk, lua_KContext ctx, lua_KFunction k)
{
    nh_task *t = task_of(L);
    if (t) {
        t->yielded = 1;
        return lua_yieldk(L, 0, ctx, k);   /* unwinds this C frame: k takes over */
    }
    switch (nh_drive(&blk->done)) {
    case DRIVE_DEADLOCK:
        nh_wait_cancel(&blk->w);
        return luaL_error(L, "netharness: deadlock: this wait can never end (all tasks are asleep)");
    case DRIVE_INTERRUPTED:
        nh_wait_cancel(&blk->w);
        lua_sethook(nh_sched.main, NULL, 0, 0);
        return luaL_error(L, "interrupted!");
    default:
        return blk->w.status;
    }
}

int nh_wait_status(lua_State *L)
{
    nh_task *t = task_of(L);
    return t ? t->wstatus : NH_WAKE_READY;
}

/* ---- waiting in the system call (core/dgram.h's lone reader) ---- */

/* A running task is live, so with none live the caller is no task. */
int nh_alone(lua_State *L)
{
    (void)L;
    if (nh_sched.live || nh_sched.readers || ev_pending_count(NH_LOOP))
        return 0;
    nh_sched.alone_hook = lua_gethook(nh_sched.main);
    return 1;
}

int nh_alone_wait_status(lua_State *L, double *call_deadline, double *timeout)
{
    if (errno == ETIMEDOUT)
        return NH_WAKE_TIMEOUT;
    if (errno == EINTR) {
        if (lua_gethook(nh_sched.main) != nh_sched.alone_hook) {   /* Ctrl-C: see drive_loop */
            lua_sethook(nh_sched.main, NULL, 0, 0);
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

/* ---- fair turns ---- */

int nh_take_turn(lua_State *L)
{
    nh_sched.streak = 0;
    if (!nh_sched.live)
        return 0;   /* nobody else to let run (the ready list holds only tasks' wakes) */
    if (task_of(L))
        return 1;
    if (!nh_sched.driving) {   /* the main chunk: one pass of the loop, without blocking */
        nh_sched.driving++;
        ev_run(NH_LOOP, EVRUN_NOWAIT);
        nh_sched.driving--;
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
    nh_task_reschedule(t);
    t->yielded = 1;
    return lua_yieldk(L, 0, (lua_KContext)call, again_k);
}
