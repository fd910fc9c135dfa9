/*
 * Argument helpers every binding shares: optional integers and timeouts, the
 * deadline a timeout becomes, and a network name. They raise Lua errors
 * naming the argument, and know nothing of sockets or tasks.
 */
#include "nh.h"

lua_Integer nh_opt_integer(lua_State *L, int arg, lua_Integer def)
{
    int isnum;
    lua_Integer v = lua_tointegerx(L, arg, &isnum);
    if (isnum)
        return v;
    if (lua_isnoneornil(L, arg))
        return def;
    return luaL_checkinteger(L, arg);   /* raises the usual message */
}

double nh_opt_seconds(lua_State *L, int arg)
{
    if (lua_gettop(L) < arg)   /* the cheapest look, for calls without one */
        return -1;
    int isnum;
    double t = lua_tonumberx(L, arg, &isnum);   /* one more when a number is there */
    if (!isnum) {
        if (lua_isnil(L, arg))
            return -1;
        t = luaL_checknumber(L, arg);   /* raises the usual message */
    }
    luaL_argcheck(L, t == t, arg, "timeout must be a number of seconds, not NaN");
    if (t < 0) {   /* already expired, as a deadline in the past is in Go */
        lua_pushinteger(L, 0);
        lua_replace(L, arg);
        t = 0;
    }
    return t;
}

double nh_deadline_in(double seconds)
{
    if (seconds < 0)
        return 0;
    double d = nh_now() + seconds;
    return d > 0 ? d : 1e-9;
}

double nh_opt_timeout(lua_State *L, int arg)
{
    return nh_deadline_in(nh_opt_seconds(L, arg));
}

int nh_check_net(lua_State *L, int arg)
{
    const char *name = luaL_checkstring(L, arg);
    int net = nh_net_parse(name);
    if (net < 0)
        return luaL_argerror(L, arg, lua_pushfstring(L, "unknown network %s", name));
    return net;
}
