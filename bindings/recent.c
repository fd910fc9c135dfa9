/*
 * Header blocks and datagrams repeat: a load test reads the same response
 * head or the same reply, and a server under test the same request head or
 * query, again and again. For bytes equal to a string pushed lately, push
 * the string made then instead of a new one: no allocation or copy, and no
 * hashing when Lua code looks it up in a table (Lua hashes a long string
 * whole on its first use as a key and keeps the hash in the string; a short
 * string it would hash whole to intern it). Strings are immutable, so nobody
 * can tell.
 *
 * One slot per (length, sampled bytes); a miss replaces the slot's string.
 * The strings are held in the registry, one reference a slot; only strings
 * up to NH_RECENT_MAX bytes are kept, so at most 64 of those stay alive.
 * Traffic that never repeats (a run of NH_RECENT_MISSES misses) skips the
 * slots for the next NH_RECENT_SKIP strings, so it pays for a look now and
 * then only.
 */
#include <stdint.h>
#include <string.h>

#include "nh.h"

#define NH_RECENT_SLOTS 64
#define NH_RECENT_MAX 4096
#define NH_RECENT_MIN 16   /* (Lua interns strings up to 40 bytes, but hashes
                              * all their bytes to find the one it holds) */
#define NH_RECENT_MISSES 16
#define NH_RECENT_SKIP 64

static struct {
    const char *p;   /* the held string's bytes (NULL: empty slot) */
    size_t len;
    int ref;         /* its registry reference */
} recent[NH_RECENT_SLOTS];
static int opened;
static unsigned misses, skip;

static uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* From the length and three 8-byte words (start, middle, end): strings that
 * differ only elsewhere share a slot and are told apart by memcmp. */
static unsigned slot_of(const char *p, size_t len)
{
    uint64_t h = (uint64_t)len * 0x9E3779B97F4A7C15u;
    h ^= load64(p) * 0xC2B2AE3D27D4EB4Fu;
    h ^= load64(p + len / 2 - 4) * 0x165667B19E3779F9u;
    h ^= load64(p + len - 8) * 0x27D4EB2F165667C5u;
    h ^= h >> 32;
    h ^= h >> 17;
    return (unsigned)h % NH_RECENT_SLOTS;
}

void nh_push_recent(lua_State *L, const char *p, size_t len)
{
    if (len < NH_RECENT_MIN || len > NH_RECENT_MAX || !opened) {
        lua_pushlstring(L, p, len);
        return;
    }
    if (skip) {
        skip--;
        lua_pushlstring(L, p, len);
        return;
    }
    unsigned slot = slot_of(p, len);
    if (recent[slot].p && recent[slot].len == len && memcmp(recent[slot].p, p, len) == 0) {
        misses = 0;
        lua_rawgeti(L, LUA_REGISTRYINDEX, recent[slot].ref);
        return;
    }
    if (++misses >= NH_RECENT_MISSES) {
        misses = 0;
        skip = NH_RECENT_SKIP;
    }
    const char *held = lua_pushlstring(L, p, len);
    lua_pushvalue(L, -1);
    lua_rawseti(L, LUA_REGISTRYINDEX, recent[slot].ref);
    recent[slot].p = held;
    recent[slot].len = len;
}

/* One registry reference a slot (a string is then one lookup away). */
void nh_recent_open(lua_State *L)
{
    memset(recent, 0, sizeof recent);
    for (int i = 0; i < NH_RECENT_SLOTS; i++) {
        lua_pushboolean(L, 0);
        recent[i].ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    misses = skip = 0;
    opened = 1;
}

void nh_recent_forget(void)
{
    memset(recent, 0, sizeof recent);
    opened = 0;
}
