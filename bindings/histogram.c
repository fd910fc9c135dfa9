/*
 * netharness.histogram: the latency histogram of core/histogram.h as a Lua
 * object. A load script records once per request, so record is one C call
 * (the Lua version it replaces cost a load generator 600 cycles a request).
 */
#include <math.h>
#include <stdlib.h>

#include "nh.h"
#include "../core/hdr_codec.h"
#include "../core/histogram.h"

#define NH_HISTOGRAM "netharness.Histogram"

static nh_histogram *check_hist(lua_State *L)
{
    return luaL_checkudata(L, 1, NH_HISTOGRAM);
}

/* new_histogram() -> an empty Histogram */
static int l_new(lua_State *L)
{
    nh_histogram *h = lua_newuserdatauv(L, sizeof *h, 0);
    nh_histogram_init(h);
    luaL_setmetatable(L, NH_HISTOGRAM);
    return 1;
}

/* import(text [, max_seconds]) -> a Histogram, or nil, message: HdrHistogram's
 * base64 V2 compressed form, as a .hlog line holds it. */
static int l_import(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    double max = luaL_optnumber(L, 2, 0);
    luaL_argcheck(L, max >= 0 && max == max, 2, "a maximum in seconds expected");
    l_new(L);
    nh_histogram *h = lua_touserdata(L, -1);
    const char *why;
    double max_us = floor(max * 1e6 + 0.5);
    if (nh_hdr_decode(h, text, len, max_us < (double)NH_HIST_MAX_US ? (uint64_t)max_us : 0, &why) < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "histogram import: %s", why);
        return 2;
    }
    return 1;
}

/* h:export() -> HdrHistogram's base64 V2 compressed form */
static int l_export(lua_State *L)
{
    char *text;
    size_t len;
    if (nh_hdr_encode(check_hist(L), &text, &len) < 0)
        return luaL_error(L, "not enough memory");
    lua_pushlstring(L, text, len);
    free(text);
    return 1;
}

/* h:record(seconds) */
static int l_record(lua_State *L)
{
    nh_histogram *h = check_hist(L);
    int isnum;
    double s = lua_tonumberx(L, 2, &isnum);
    if (!isnum || lua_type(L, 2) != LUA_TNUMBER || s != s)
        return luaL_argerror(L, 2, lua_pushfstring(L, "number of seconds expected, got %s",
                                                   luaL_tolstring(L, 2, NULL)));
    if (s < 0)   /* a clock read the wrong way round: say so, do not count it as 0 */
        return luaL_argerror(L, 2, lua_pushfstring(L, "a latency cannot be negative (got %f)", s));
    if (nh_histogram_record(h, s) < 0)
        return luaL_error(L, "not enough memory");
    return 0;
}

/* An empty histogram has no percentiles, minimum, maximum or mean: nil. */
static int empty(lua_State *L, const nh_histogram *h)
{
    if (h->n > 0)
        return 0;
    lua_pushnil(L);
    return 1;
}

/* h:percentile(p) -> seconds, 0 < p <= 100 */
static int l_percentile(lua_State *L)
{
    nh_histogram *h = check_hist(L);
    int isnum;
    double p = lua_tonumberx(L, 2, &isnum);
    if (!isnum || lua_type(L, 2) != LUA_TNUMBER || !(p > 0 && p <= 100))
        return luaL_argerror(L, 2, lua_pushfstring(L, "number in (0, 100] expected, got %s",
                                                   luaL_tolstring(L, 2, NULL)));
    if (empty(L, h))
        return 1;
    lua_pushnumber(L, nh_histogram_percentile(h, p));
    return 1;
}

static int l_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_hist(L)->n);
    return 1;
}

static int l_min(lua_State *L)
{
    nh_histogram *h = check_hist(L);
    if (!empty(L, h))
        lua_pushnumber(L, (double)h->lo / 1e6);
    return 1;
}

static int l_max(lua_State *L)
{
    nh_histogram *h = check_hist(L);
    if (!empty(L, h))
        lua_pushnumber(L, (double)h->hi / 1e6);
    return 1;
}

static int l_mean(lua_State *L)
{
    nh_histogram *h = check_hist(L);
    if (!empty(L, h))
        lua_pushnumber(L, h->sum / (double)h->n / 1e6);
    return 1;
}

/* h:reset() -> h, empty again (keeping its memory) */
static int l_reset(lua_State *L)
{
    nh_histogram_reset(check_hist(L));
    lua_settop(L, 1);
    return 1;
}

/* h:merge(other) -> h, holding other's values too (exactly) */
static int l_merge(lua_State *L)
{
    nh_histogram *h = check_hist(L);
    nh_histogram *other = luaL_checkudata(L, 2, NH_HISTOGRAM);
    if (other->n > (uint64_t)INT64_MAX - h->n)
        return luaL_error(L, "histogram merge: the total count would overflow");
    if (nh_histogram_merge(h, other) < 0)
        return luaL_error(L, "not enough memory");
    lua_settop(L, 1);
    return 1;
}

/* h:buckets() -> how many counters it holds (8 bytes each): its memory */
static int l_buckets(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)nh_histogram_buckets(check_hist(L)));
    return 1;
}

static int l_tostring(lua_State *L)
{
    nh_histogram *h = check_hist(L);
    lua_pushfstring(L, "histogram: %I values", (lua_Integer)h->n);
    return 1;
}

static int l_gc(lua_State *L)
{
    nh_histogram_free(check_hist(L));
    return 0;
}

void nh_histogram_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"record", l_record},   {"percentile", l_percentile}, {"count", l_count},
        {"min", l_min},         {"max", l_max},               {"mean", l_mean},
        {"buckets", l_buckets}, {"reset", l_reset},           {"merge", l_merge},
        {"export", l_export},
        {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", l_gc}, {"__tostring", l_tostring}, {NULL, NULL},
    };
    luaL_newmetatable(L, NH_HISTOGRAM);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_new);
    lua_setfield(L, -2, "new_histogram");
    lua_pushcfunction(L, l_import);
    lua_setfield(L, -2, "import_histogram");
}
