/* A C host with two Lua states, as a test runner that embeds Lua might be:
 * netharness serves one state at a time (bindings/module.c), so the second
 * state's require fails with an error that says why, and succeeds once the
 * first state is closed. Usage: two_states MODULE_DIR; prints "ok" and exits
 * 0, or says which step failed and exits 1. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

static const char *dir;

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.so", dir);
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
    return L;
}

/* Run code; its first result as a string (or the error) into out. */
static int run(lua_State *L, const char *code, char *out, size_t cap)
{
    int ok = luaL_dostring(L, code) == LUA_OK;
    const char *s = lua_tostring(L, -1);
    snprintf(out, cap, "%s", s ? s : "(nil)");
    lua_settop(L, 0);
    return ok;
}

static const char *use =
    "local net = require 'netharness.core'\n"
    "local t = net.spawn(function(x) net.sleep(0.01) return x * 2 end, 21)\n"
    "local ok, v = t:wait(5)\n"
    "assert(ok == true and v == 42, 'task result lost: ' .. tostring(ok) .. ' ' .. tostring(v))\n"
    "local u = assert(net.listen_packet('udp', '127.0.0.1:0'))\n"
    "u:close()\n"
    "return 'ok'";

int main(int argc, char **argv)
{
    char out[512];
    if (argc != 2) {
        fprintf(stderr, "usage: two_states MODULE_DIR\n");
        return 2;
    }
    dir = argv[1];
    lua_State *a = new_state(), *b = new_state();
    if (!run(a, use, out, sizeof out)) {
        printf("state A could not use netharness: %s\n", out);
        return 1;
    }
    if (run(b, use, out, sizeof out) || !strstr(out, "another Lua state")) {
        printf("state B was not refused while A lives: %s\n", out);
        return 1;
    }
    if (!run(a, use, out, sizeof out)) {   /* A is unharmed by B's attempt */
        printf("state A failed after B's attempt: %s\n", out);
        return 1;
    }
    lua_close(a);
    if (!run(b, use, out, sizeof out)) {
        printf("state B could not use netharness after A closed: %s\n", out);
        return 1;
    }
    lua_close(b);
    printf("ok\n");
    return 0;
}
