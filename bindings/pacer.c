/*
 * A pacer: a task's wait until a point in time, to the microsecond.
 *
 * net.sleep waits on libev's timers, which the epoll backend serves in whole
 * milliseconds, rounding up: an open-model load generator that slept to each
 * arrival started transactions up to 1 ms late, and its corrected latency
 * showed that lateness (at 1,000/s against a server answering in 26 us, a
 * corrected p50 of 0.67 ms). A pacer waits on core/ptimer.c's timerfd
 * instead (measured: p50 0.1 ms). One task waits on a pacer at a time.
 *
 *   local p = net.pacer()
 *   p:wait_until(net.now() + 0.0005)
 *   p:close()                      -- also <close> and the collector
 */
#include <errno.h>
#include <string.h>

#include "nh.h"
#include "../core/ptimer.h"

#define NH_PACER "netharness.Pacer"

typedef struct nh_pacer {
    nh_ptimer pt;   /* first: the timer's callback finds the pacer from it */
    nh_queue q;
    int open;
} nh_pacer;

static void fire(nh_ptimer *t)
{
    nh_queue_wake_first(&((nh_pacer *)t)->q, NH_WAKE_READY);
}

static int l_pacer(lua_State *L)
{
    nh_pacer *p = lua_newuserdatauv(L, sizeof *p, 0);
    p->q.head = NULL;
    p->open = 0;
    luaL_setmetatable(L, NH_PACER);
    if (nh_ptimer_use() < 0)
        return luaL_error(L, "pacer: no timerfd (%s)", strerror(errno));
    if (nh_ptimer_init(&p->pt, fire) < 0) {
        nh_ptimer_release();
        return luaL_error(L, "not enough memory");
    }
    p->open = 1;
    return 1;
}

static nh_pacer *check_open(lua_State *L)
{
    nh_pacer *p = luaL_checkudata(L, 1, NH_PACER);
    if (!p->open)
        luaL_error(L, "pacer is closed");
    return p;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)L;
    (void)status;
    (void)ctx;
    return 0;
}

/* p:wait_until(t): return at t (net.now()'s clock), or at once when it has
 * passed (after a turn of the loop, as sleep(0)). */
static int l_wait_until(lua_State *L)
{
    nh_pacer *p = check_open(L);
    double t = luaL_checknumber(L, 2);
    luaL_argcheck(L, t == t, 2, "a time expected, not NaN");
    if (p->q.head)
        return luaL_error(L, "pacer: another task is waiting on it");
    nh_block blk;
    nh_waiter *w = nh_wait_begin(L, &blk);
    nh_wait(w, &p->q, 0);
    nh_wait_hold_loop(w);
    nh_ptimer_at(&p->pt, t > 0 ? t : 1e-9);
    nh_suspend(L, &blk, 0, wait_k);
    return 0;
}

static int l_close(lua_State *L)
{
    nh_pacer *p = luaL_checkudata(L, 1, NH_PACER);
    if (p->open) {
        p->open = 0;
        nh_ptimer_drop(&p->pt);
        nh_queue_wake_all(&p->q, NH_WAKE_CLOSED);
        nh_ptimer_release();
    }
    return 0;
}

void nh_pacer_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"wait_until", l_wait_until}, {"close", l_close}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", l_close}, {"__close", l_close}, {NULL, NULL}};
    luaL_newmetatable(L, NH_PACER);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_pacer);
    lua_setfield(L, -2, "pacer");
}
