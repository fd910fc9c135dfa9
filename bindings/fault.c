/*
 * FaultProxy: the C side of netharness.fault (lua/netharness/fault.lua),
 * which checks attributes and keeps the toxics' descriptions; this file only
 * hands them to the core's proxy (core/fault.h) and reads its counters.
 */
#include <errno.h>
#include <string.h>

#include "../core/fault.h"
#include "../core/prng.h"
#include "nh.h"

#define NH_FAULTPROXY "netharness.FaultProxy"

typedef struct lproxy {
    nh_fproxy *p;   /* NULL once closed */
    int net;
} lproxy;

/* The order of enum nh_toxic_type. */
static const char *const toxic_types[] = {
    "noop", "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer",
    "limit_data", "loss", "duplicate", "reorder", "corrupt", "truncate", "down", NULL};
static const char *const streams[] = {"upstream", "downstream", NULL};

static lproxy *check_open(lua_State *L)
{
    lproxy *lp = luaL_checkudata(L, 1, NH_FAULTPROXY);
    if (!lp->p)
        luaL_error(L, "netharness.fault: the proxy is closed");
    return lp;
}

static const nh_addr *check_addr(lua_State *L, int arg)
{
    const nh_addr *a = nh_to_addr(L, arg);
    if (!a)
        luaL_typeerror(L, arg, NH_ADDR);
    return a;
}

/* _fault_proxy(network, listen Addr, upstream Addr, seed) -> proxy | nil, err */
static int l_new(lua_State *L)
{
    int net = nh_check_net(L, 1);
    const nh_addr *listen = check_addr(L, 2);
    const nh_addr *upstream = check_addr(L, 3);
    lua_Integer seed = luaL_checkinteger(L, 4);
    lproxy *lp = lua_newuserdatauv(L, sizeof *lp, 0);
    lp->p = NULL;
    lp->net = net;
    luaL_setmetatable(L, NH_FAULTPROXY);
    const char *sys = NULL;
    lp->p = nh_fproxy_new(net, listen, upstream, (uint64_t)seed, &sys);
    if (!lp->p) {
        if (!sys)
            return luaL_error(L, "netharness.fault: out of memory");
        return nh_fail(L, "listen", net, NULL, listen, NH_ERR_SYS, sys, errno, NULL);
    }
    return 1;
}

static int l_listen_addr(lua_State *L)
{
    lproxy *lp = check_open(L);
    nh_push_addr(L, &lp->p->listen, lp->net);
    return 1;
}

static void check_attrs(lua_State *L, int from, double a[4])
{
    for (int i = 0; i < 4; i++)
        a[i] = luaL_optnumber(L, from + i, 0);
}

static int fail_errno(lua_State *L)
{
    lua_pushnil(L);
    lua_pushstring(L, errno == EEXIST ? "toxic already exists"
                    : errno == ENOENT ? "toxic not found" : strerror(errno));
    return 2;
}

/* add(name, type, stream, toxicity, a1..a4) -> true | nil, message */
static int l_add(lua_State *L)
{
    lproxy *lp = check_open(L);
    const char *name = luaL_checkstring(L, 2);
    int type = luaL_checkoption(L, 3, NULL, toxic_types);
    int stream = luaL_checkoption(L, 4, NULL, streams);
    double toxicity = luaL_checknumber(L, 5), a[4];
    check_attrs(L, 6, a);
    if (nh_fproxy_add(lp->p, name, type, stream, toxicity, a) < 0)
        return fail_errno(L);
    lua_pushboolean(L, 1);
    return 1;
}

/* update(name, toxicity, a1..a4) -> true | nil, message */
static int l_update(lua_State *L)
{
    lproxy *lp = check_open(L);
    const char *name = luaL_checkstring(L, 2);
    double toxicity = luaL_checknumber(L, 3), a[4];
    check_attrs(L, 4, a);
    if (nh_fproxy_update(lp->p, name, toxicity, a) < 0)
        return fail_errno(L);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_remove(lua_State *L)
{
    lproxy *lp = check_open(L);
    if (nh_fproxy_remove(lp->p, luaL_checkstring(L, 2)) < 0)
        return fail_errno(L);
    lua_pushboolean(L, 1);
    return 1;
}

static void set_count(lua_State *L, const char *k, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static void set_seconds(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

/* toxic_stats(name) -> table | nil */
static int l_toxic_stats(lua_State *L)
{
    lproxy *lp = check_open(L);
    nh_toxic *t = nh_fproxy_toxic(lp->p, luaL_checkstring(L, 2));
    if (!t)
        return 0;
    const nh_toxic_stats *s = &t->st;
    lua_createtable(L, 0, 12);
    set_count(L, "links", s->links);
    set_count(L, "bytes", s->bytes);
    set_count(L, "chunks", s->chunks);
    set_count(L, "delayed", s->delayed);
    set_count(L, "dropped", s->dropped);
    set_count(L, "dropped_bytes", s->dropped_bytes);
    set_count(L, "duplicated", s->duplicated);
    set_count(L, "reordered", s->reordered);
    set_count(L, "corrupted", s->corrupted);
    set_count(L, "truncated", s->truncated);
    set_count(L, "closed", s->closed);
    set_count(L, "resets", s->resets);
    return 1;
}

static int l_stats(lua_State *L)
{
    lproxy *lp = check_open(L);
    const nh_fault_stats *s = &lp->p->st;
    lua_createtable(L, 0, 10);
    set_count(L, lp->p->stream ? "connections" : "flows", s->accepted);
    set_count(L, "active", s->active);
    set_count(L, "bytes_upstream", s->bytes[NH_UPSTREAM]);
    set_count(L, "bytes_downstream", s->bytes[NH_DOWNSTREAM]);
    set_count(L, lp->p->stream ? "reads_upstream" : "datagrams_upstream", s->chunks[NH_UPSTREAM]);
    set_count(L, lp->p->stream ? "reads_downstream" : "datagrams_downstream",
              s->chunks[NH_DOWNSTREAM]);
    set_count(L, "refused", s->refused);
    /* How late pieces that waited for their time left (seconds). */
    set_count(L, "timed", s->late.n);
    set_seconds(L, "late_p50", s->late.n ? nh_histogram_percentile(&s->late, 50) : 0);
    set_seconds(L, "late_p99", s->late.n ? nh_histogram_percentile(&s->late, 99) : 0);
    set_seconds(L, "late_max", (double)s->late.hi / 1e6);
    if (!lp->p->stream) {
        set_count(L, "evicted", s->evicted);
        set_count(L, "max_flows", nh_fudp_flow_limit(lp->p));
        set_count(L, "dropped", s->dropped);
        set_count(L, "send_errors", s->send_errors);
    }
    return 1;
}

static int l_set_enabled(lua_State *L)
{
    lproxy *lp = check_open(L);
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    const char *sys = NULL;
    if (nh_fproxy_enable(lp->p, lua_toboolean(L, 2), &sys) < 0)
        return nh_fail(L, "listen", lp->net, NULL, &lp->p->listen, NH_ERR_SYS, sys, errno, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_set_upstream(lua_State *L)
{
    lproxy *lp = check_open(L);
    nh_fproxy_set_upstream(lp->p, check_addr(L, 2));
    return 0;
}

/* set_flow_limits(idle_timeout seconds, max_flows) for UDP */
static int l_set_flow_limits(lua_State *L)
{
    lproxy *lp = check_open(L);
    double idle = luaL_checknumber(L, 2);
    lua_Integer most = luaL_checkinteger(L, 3);
    luaL_argcheck(L, idle > 0, 2, "idle_timeout must be above 0 seconds");
    luaL_argcheck(L, most >= 1 && most <= 1000000, 3, "max_flows must be from 1 to 1000000");
    lp->p->idle_timeout = idle;
    lp->p->max_flows = (uint32_t)most;
    return 0;
}

static int l_close(lua_State *L)
{
    lproxy *lp = luaL_checkudata(L, 1, NH_FAULTPROXY);
    nh_fproxy_free(lp->p);
    lp->p = NULL;
    return 0;
}

/* ---- seeded random numbers for toxics written in Lua (HTTP faults) ---- */

#define NH_PRNG "netharness.Random"

/* _random(seed, name, index) -> a generator seeded as the core's toxics are */
static int l_random(lua_State *L)
{
    lua_Integer seed = luaL_checkinteger(L, 1);
    const char *name = luaL_checkstring(L, 2);
    lua_Integer index = luaL_optinteger(L, 3, 0);
    nh_prng *r = lua_newuserdatauv(L, sizeof *r, 0);
    nh_prng_seed(r, (uint64_t)seed, name, (uint64_t)index);
    luaL_setmetatable(L, NH_PRNG);
    return 1;
}

/* r:uniform() -> [0, 1) */
static int l_uniform(lua_State *L)
{
    lua_pushnumber(L, nh_prng_uniform(luaL_checkudata(L, 1, NH_PRNG)));
    return 1;
}

void nh_fault_open(lua_State *L)
{
    luaL_newmetatable(L, NH_PRNG);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_uniform);
    lua_setfield(L, -2, "uniform");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_random);
    lua_setfield(L, -2, "_random");

    static const luaL_Reg methods[] = {
        {"listen_addr", l_listen_addr},
        {"add", l_add},
        {"update", l_update},
        {"remove", l_remove},
        {"toxic_stats", l_toxic_stats},
        {"stats", l_stats},
        {"set_enabled", l_set_enabled},
        {"set_upstream", l_set_upstream},
        {"set_flow_limits", l_set_flow_limits},
        {"close", l_close},
        {NULL, NULL}};
    luaL_newmetatable(L, NH_FAULTPROXY);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_new);
    lua_setfield(L, -2, "_fault_proxy");
}
