/*
 * Header blocks repeat: a load test reads the same response head, and a
 * server under test the same request head, again and again. For bytes equal
 * to a block pushed lately, push the string made then instead of a new one:
 * no allocation or copy, and no hashing when Lua code looks it up in a table
 * (Lua hashes a long string whole on its first use as a key and keeps the
 * hash in the string; a short string it would hash whole to intern it).
 * Strings are immutable, so nobody can tell.
 *
 * One slot per (length, sampled bytes); a miss replaces the slot's string.
 * The strings are held by a table in the registry; only blocks up to
 * NH_RECENT_MAX bytes are kept, so at most 64 of those stay alive.
 */
#include <string.h>

#include "nh.h"

#define NH_RECENT_SLOTS 64
#define NH_RECENT_MAX 4096
#define NH_RECENT_MIN 16   /* (Lua interns strings up to 40 bytes, but hashes
                              * all their bytes to find the one it holds) */

static struct {
    const char *p;   /* the held string's bytes (NULL: empty slot) */
    size_t len;
} recent[NH_RECENT_SLOTS];
static int recent_ref = LUA_NOREF;

static unsigned slot_of(const char *p, size_t len)
{
    unsigned h = (unsigned)len * 2654435761u;
    size_t step = len / 8;
    for (size_t i = 0; i < 8; i++)
        h = (h ^ (unsigned char)p[i * step + (i & 1)]) * 16777619u;
    return h % NH_RECENT_SLOTS;
}

void nh_push_recent(lua_State *L, const char *p, size_t len)
{
    if (len < NH_RECENT_MIN || len > NH_RECENT_MAX || recent_ref == LUA_NOREF) {
        lua_pushlstring(L, p, len);
        return;
    }
    unsigned slot = slot_of(p, len);
    lua_rawgeti(L, LUA_REGISTRYINDEX, recent_ref);
    if (recent[slot].p && recent[slot].len == len && memcmp(recent[slot].p, p, len) == 0) {
        lua_rawgeti(L, -1, (lua_Integer)slot + 1);
    } else {
        const char *held = lua_pushlstring(L, p, len);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, (lua_Integer)slot + 1);
        recent[slot].p = held;
        recent[slot].len = len;
    }
    lua_remove(L, -2);
}

void nh_recent_open(lua_State *L)
{
    lua_createtable(L, NH_RECENT_SLOTS, 0);
    recent_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    memset(recent, 0, sizeof recent);
}
