/*
 * A signal: one task parks on it until another notifies it, or until a point
 * in time, to the microsecond.
 *
 * Time: net.sleep waits on libev's timers, which the epoll backend serves in
 * whole milliseconds, rounding up. An open-model load generator that slept
 * to each arrival started transactions up to 1 ms late, and its corrected
 * latency showed it (1,000/s against a server answering in 26 us: corrected
 * p50 0.67 ms). A signal's time is core/ptimer.c's timerfd (p50 0.10 ms, the
 * machine's wake-up latency).
 *
 * Notify: the load generator's runners park on their own signal between
 * transactions and are handed the next one by notify, so a transaction costs
 * no new task (a task is a coroutine: allocation and collection).
 *
 *   local s = net.signal()
 *   s:wait([t])      -- true when notified, false when t (net.now()'s clock)
 *                    -- passed, nil when the signal was closed
 *   s:notify()       -- wake the waiting task, or make the next wait return at once
 *   s:close()        -- also <close> and the collector
 */
#include <errno.h>
#include <string.h>

#include "nh.h"
#include "../core/ptimer.h"

#define NH_SIGNAL "netharness.Signal"

typedef struct nh_signal {
    nh_ptimer pt;   /* first: the timer's callback finds the signal from it */
    nh_queue q;     /* the one waiter */
    unsigned char open, pending, armed;
} nh_signal;

static void fire(nh_ptimer *t)
{
    nh_signal *s = (nh_signal *)t;
    s->armed = 0;
    nh_queue_wake_first(&s->q, NH_WAKE_TIMEOUT);
}

static int l_signal(lua_State *L)
{
    nh_signal *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, NH_SIGNAL);
    if (nh_ptimer_use() < 0)
        return luaL_error(L, "signal: no timerfd (%s)", strerror(errno));
    if (nh_ptimer_init(&s->pt, fire) < 0) {
        nh_ptimer_release();
        return luaL_error(L, "not enough memory");
    }
    s->open = 1;
    return 1;
}

/* How a wait ended, as wait returns it. */
static int wait_done(lua_State *L, nh_signal *s, int how)
{
    if (s->armed) {   /* woken otherwise: the timer has nothing left to do */
        nh_ptimer_at(&s->pt, 0);
        s->armed = 0;
    }
    if (how == NH_WAKE_CLOSED || !s->open)
        lua_pushnil(L);
    else if (s->pending) {
        s->pending = 0;
        lua_pushboolean(L, 1);
    } else
        lua_pushboolean(L, 0);
    return 1;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx)
{
    return wait_done(L, (nh_signal *)ctx, NH_K_STATUS(L, status));
}

/* s:wait([t]) */
static int l_wait(lua_State *L)
{
    nh_signal *s = luaL_checkudata(L, 1, NH_SIGNAL);
    double t = luaL_optnumber(L, 2, 0);
    luaL_argcheck(L, t == t, 2, "a time expected, not NaN");
    if (!s->open) {
        lua_pushnil(L);
        return 1;
    }
    if (s->pending) {
        s->pending = 0;
        lua_pushboolean(L, 1);
        return 1;
    }
    if (s->q.head)
        return luaL_error(L, "signal: another task is waiting on it");
    nh_block blk;
    nh_waiter *w = nh_wait_begin(L, &blk);
    nh_wait(w, &s->q, 0);
    nh_wait_hold_loop(w);
    if (!lua_isnoneornil(L, 2)) {
        nh_ptimer_at(&s->pt, t > 0 ? t : 1e-9);   /* a time past fires at once */
        s->armed = 1;
    }
    return wait_done(L, s, nh_suspend(L, &blk, (lua_KContext)s, wait_k));
}

/* s:notify() */
static int l_notify(lua_State *L)
{
    nh_signal *s = luaL_checkudata(L, 1, NH_SIGNAL);
    if (s->open && !s->pending) {
        s->pending = 1;
        nh_queue_wake_all(&s->q, NH_WAKE_READY);
    }
    return 0;
}

static int l_close(lua_State *L)
{
    nh_signal *s = luaL_checkudata(L, 1, NH_SIGNAL);
    if (s->open) {
        s->open = 0;
        nh_ptimer_drop(&s->pt);
        s->armed = 0;
        nh_queue_wake_all(&s->q, NH_WAKE_CLOSED);
        nh_ptimer_release();
    }
    return 0;
}

void nh_signal_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"wait", l_wait}, {"notify", l_notify}, {"close", l_close}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", l_close}, {"__close", l_close}, {NULL, NULL}};
    luaL_newmetatable(L, NH_SIGNAL);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_signal);
    lua_setfield(L, -2, "signal");
}
