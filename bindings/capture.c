/*
 * Packet capture for scripts (core/capture.c, core/decode.c); the module
 * netharness.capture (lua/netharness/capture.lua) is the documented face.
 *
 *   core.capture_start(opts)    -> cap | nil, err (no permission, no such device)
 *   cap:wait(n [, timeout])     -> true once n packets matched | nil, err
 *   cap:count()                 -> packets matched so far
 *   cap:packets([first])        -> the kept packets from the first-th, decoded
 *   cap:take()                  -> the same, and forget them (live delivery)
 *   cap:stop()                  -> summary (also __close and __gc)
 *   core.capture_decode(frame [, link [, length]])   -> one decoded packet
 *   core.capture_open_file(path) -> file (:next(), :link(), :close()) | nil, err
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "nh.h"
#include "../core/capture.h"
#include "../core/decode.h"

#define NH_CAPTURE "netharness.Capture"

typedef struct lcap {
    nh_capture c;
    int stopped;
    int write_failed;
    char iface[64];
} lcap;

static lcap *check_cap(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, NH_CAPTURE);
}

/* ---- decoded packets as tables ---- */

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k)
{
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, k);
}

static void push_ip(lua_State *L, const nh_pkt *d, const uint8_t *ip, int port)
{
    nh_addr a;
    memset(&a, 0, sizeof a);
    if (d->family == 4) {
        a.u.in4.sin_family = AF_INET;
        memcpy(&a.u.in4.sin_addr, ip, 4);
        a.u.in4.sin_port = htons((uint16_t)(port > 0 ? port : 0));
    } else {
        a.u.in6.sin6_family = AF_INET6;
        memcpy(&a.u.in6.sin6_addr, ip, 16);
        a.u.in6.sin6_port = htons((uint16_t)(port > 0 ? port : 0));
    }
    nh_push_addr(L, &a, d->protocol == 6 ? NH_TCP : NH_UDP);
}

/* One packet: the decoder's fields, named for scripts (README, "Capture"). */
static void push_packet(lua_State *L, int link, const uint8_t *p, size_t caplen, size_t len)
{
    nh_pkt d;
    nh_decode(link, p, caplen, len, &d);
    lua_createtable(L, 0, 16);
    set_int(L, "length", (lua_Integer)(len > caplen ? len : caplen));
    set_int(L, "captured_length", (lua_Integer)caplen);
    if (d.ethertype >= 0)
        set_int(L, "ethertype", d.ethertype);
    if (d.family) {
        lua_pushstring(L, d.family == 4 ? "inet" : "inet6");
        lua_setfield(L, -2, "family");
        push_ip(L, &d, d.src, d.src_port);
        lua_setfield(L, -2, "src");
        push_ip(L, &d, d.dst, d.dst_port);
        lua_setfield(L, -2, "dst");
        set_int(L, "ttl", d.ttl);
    }
    if (d.protocol >= 0) {
        switch (d.protocol) {
        case 6: lua_pushliteral(L, "tcp"); break;
        case 17: lua_pushliteral(L, "udp"); break;
        case 1: lua_pushliteral(L, "icmp"); break;
        case 58: lua_pushliteral(L, "icmp6"); break;
        default: lua_pushinteger(L, d.protocol);
        }
        lua_setfield(L, -2, "protocol");
    }
    if (d.tcp) {
        char flags[NH_TCP_FLAGS_STRLEN];
        nh_tcp_flags_format(d.tcp_flags, flags, sizeof flags);
        lua_pushstring(L, flags);
        lua_setfield(L, -2, "flags");
        set_int(L, "seq", d.seq);
        set_int(L, "ack", d.ack);
        set_int(L, "window", d.window);
    }
    if (d.icmp_type >= 0) {
        set_int(L, "icmp_type", d.icmp_type);
        set_int(L, "icmp_code", d.icmp_code);
    }
    lua_pushlstring(L, (const char *)p + d.payload_off, d.payload_len);
    lua_setfield(L, -2, "payload");
    set_int(L, "payload_length", (lua_Integer)d.payload_wire_len);
    if (d.marks & NH_PKT_IP_OPTIONS)
        set_bool(L, "ip_options");
    if (d.marks & NH_PKT_FRAGMENT) {
        set_bool(L, "fragment");
        set_int(L, "fragment_offset", d.frag_offset);
        lua_pushboolean(L, d.more_fragments);
        lua_setfield(L, -2, "more_fragments");
        set_int(L, "ip_id", d.ip_id);
    }
    if (d.marks & NH_PKT_TRUNCATED)
        set_bool(L, "truncated");
    if (d.marks & NH_PKT_MALFORMED)
        set_bool(L, "malformed");
    if (d.problem) {
        lua_pushstring(L, d.problem);
        lua_setfield(L, -2, "problem");
    }
}

static void push_rec(lua_State *L, int link, const nh_capture_rec *r)
{
    push_packet(L, link, nh_capture_rec_data(r), r->caplen, r->len);
    lua_pushnumber(L, r->mono);
    lua_setfield(L, -2, "time");
    lua_pushnumber(L, (double)r->sec + (double)r->usec * 1e-6);
    lua_setfield(L, -2, "wall");
}

/* ---- starting ---- */

static const char *opt_string(lua_State *L, const char *k, const char *def)
{
    const char *v = def;
    int t = lua_getfield(L, 1, k);
    if (t == LUA_TSTRING)
        v = lua_tostring(L, -1);
    else if (t != LUA_TNIL)
        luaL_argerror(L, 1, lua_pushfstring(L, "%s: a string expected, got %s", k, luaL_typename(L, -1)));
    lua_pop(L, 1);   /* the table still holds the string */
    return v;
}

static lua_Integer opt_int(lua_State *L, const char *k, lua_Integer def, lua_Integer lo, lua_Integer hi)
{
    lua_Integer v = def;
    int isnum, t = lua_getfield(L, 1, k);
    if (t != LUA_TNIL) {
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum)
            luaL_argerror(L, 1, lua_pushfstring(L, "%s: an integer expected, got %s", k,
                                                t == LUA_TNUMBER ? "a fraction" : luaL_typename(L, -1)));
        if (v < lo || v > hi)
            luaL_argerror(L, 1, lua_pushfstring(L, "%s: %I is out of range [%I, %I]", k, v, lo, hi));
    }
    lua_pop(L, 1);
    return v;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcasecmp(s + n - m, tail) == 0;
}

static int l_start(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    nh_capture_opts o;
    memset(&o, 0, sizeof o);
    o.interface = opt_string(L, "interface", "lo");
    o.filter = opt_string(L, "filter", NULL);
    o.file = opt_string(L, "file", NULL);
    o.snaplen = (int)opt_int(L, "snaplen", 262144, 1, 262144);
    o.buffer_size = (int)opt_int(L, "buffer_size", -1, 0, 1 << 30);
    o.keep = (size_t)opt_int(L, "keep", 100000, 0, (lua_Integer)1 << 40);
    o.keep_bytes = (size_t)opt_int(L, "keep_bytes", 64 << 20, 0, (lua_Integer)1 << 40);
    o.count = (uint64_t)opt_int(L, "count", 0, 0, LUA_MAXINTEGER);
    lua_getfield(L, 1, "immediate");
    o.batched = lua_isnil(L, -1) ? 0 : !lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* In immediate mode libpcap's 2 MiB holds 30 of lo's 64 KiB slots
     * (core/capture.h): a burst from the tasks of this very process would
     * overrun it before the loop reads. 32 MiB holds 480. */
    if (o.buffer_size < 0)
        o.buffer_size = o.batched ? 0 : 32 << 20;
    if (strlen(o.interface) >= sizeof ((lcap *)0)->iface)
        return luaL_argerror(L, 1, "interface: name too long");
    if (o.file && ends_with(o.file, ".pcapng"))
        return luaL_argerror(L, 1, lua_pushfstring(L,
            "file: %s writes pcap files only, not pcapng; name the file .pcap (Wireshark "
            "and tshark read both)", pcap_lib_version()));

    lcap *lc = lua_newuserdatauv(L, sizeof *lc, 0);
    memset(lc, 0, sizeof *lc);
    lc->stopped = 1;   /* until it is open: __gc has nothing to do */
    luaL_setmetatable(L, NH_CAPTURE);
    snprintf(lc->iface, sizeof lc->iface, "%s", o.interface);

    char err[PCAP_ERRBUF_SIZE + 128];
    int why;
    if (nh_capture_open(&lc->c, &o, err, sizeof err, &why) < 0) {
        int errnum = lc->c.sys_errno;
        char msg[PCAP_ERRBUF_SIZE + 256];
        switch (why) {
        case NH_CAPERR_FILTER:
            return luaL_argerror(L, 1, lua_pushfstring(L, "filter \"%s\": %s", o.filter, err));
        case NH_CAPERR_PERM:
            snprintf(msg, sizeof msg, "%s: capturing needs the CAP_NET_RAW capability "
                     "(run as root, or setcap cap_net_raw,cap_net_admin+ep on the lua "
                     "binary): %s", o.interface, err);
            return nh_fail(L, "capture", -1, NULL, NULL, NH_ERR_TEXT, msg, 0, "EPERM");
        case NH_CAPERR_NODEV:
            snprintf(msg, sizeof msg, "%s: %s", o.interface, err);
            return nh_fail(L, "capture", -1, NULL, NULL, NH_ERR_TEXT, msg, 0, "ENODEV");
        case NH_CAPERR_FILE: {
            const char *code = errnum ? strerrorname_np(errnum) : NULL;
            snprintf(msg, sizeof msg, "%s: %s", o.interface, err);
            return nh_fail(L, "capture", -1, NULL, NULL, NH_ERR_TEXT, msg, 0, code ? code : "EIO");
        }
        default:
            snprintf(msg, sizeof msg, "%s: %s", o.interface, err);
            return nh_fail(L, "capture", -1, NULL, NULL, NH_ERR_TEXT, msg, 0, "EIO");
        }
    }
    lc->stopped = 0;
    nh_sched.readers++;
    return 1;
}

/* ---- waiting ---- */

static int wait_k(lua_State *L, int status, lua_KContext ctx);

/* Stack: cap, n, timeout, deadline. */
static int wait_loop(lua_State *L, int status)
{
    lcap *lc = lua_touserdata(L, 1);
    lua_Integer n = lua_tointeger(L, 2);
    double deadline = lua_tonumber(L, 4);
    char msg[sizeof lc->c.error + 80];
    for (;;) {
        if ((lua_Integer)lc->c.st.seen >= n) {
            lua_pushboolean(L, 1);
            return 1;
        }
        if (lc->c.failed) {
            snprintf(msg, sizeof msg, "%s: %s", lc->iface, lc->c.error);
            return nh_fail(L, "capture", -1, NULL, NULL, NH_ERR_TEXT, msg, 0, "EIO");
        }
        if (lc->stopped) {
            snprintf(msg, sizeof msg, "%s: capture stopped after %llu packets", lc->iface,
                     (unsigned long long)lc->c.st.seen);
            return nh_fail(L, "capture", -1, NULL, NULL, NH_ERR_TEXT, msg, 0, "ECLOSED");
        }
        if (status != NH_WAKE_READY) {
            if (status == NH_WAKE_TIMEOUT) {
                snprintf(msg, sizeof msg, "%s: %llu of %lld packets within the timeout: i/o timeout",
                         lc->iface, (unsigned long long)lc->c.st.seen, (long long)n);
                nh_fail(L, "capture", -1, NULL, NULL, NH_ERR_TEXT, msg, 0, "ETIMEDOUT");
                lua_pushboolean(L, 1);
                lua_setfield(L, -2, "timeout");
                return 2;
            }
            return nh_fail_wake(L, "capture", -1, NULL, NULL, status);
        }
        nh_block blk;
        nh_waiter *w = nh_wait_begin(L, &blk);
        nh_wait(w, &lc->c.waiters, deadline);
        nh_wait_hold_loop(w);
        status = nh_suspend(L, &blk, 0, wait_k);
    }
}

static int wait_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)ctx;
    return wait_loop(L, NH_K_STATUS(L, status));
}

static int l_wait(lua_State *L)
{
    check_cap(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0, 2, "a count of packets expected, not negative");
    double deadline = nh_opt_timeout(L, 3);
    lua_settop(L, 3);
    lua_pushnumber(L, deadline);
    return wait_loop(L, NH_WAKE_READY);
}

static int l_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_cap(L, 1)->c.st.seen);
    return 1;
}

/* ---- packets ---- */

static int push_kept(lua_State *L, lcap *lc, lua_Integer first)
{
    lua_createtable(L, (int)(lc->c.st.kept < 1u << 20 ? lc->c.st.kept : 0), 0);
    size_t pos = 0;
    lua_Integer i = 0, n = 0;
    const nh_capture_rec *r;
    while ((r = nh_capture_next(&lc->c, &pos))) {
        if (++i < first)
            continue;
        push_rec(L, lc->c.linktype, r);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

static int l_packets(lua_State *L)
{
    lcap *lc = check_cap(L, 1);
    lua_Integer first = luaL_optinteger(L, 2, 1);
    if (!lc->stopped)
        nh_capture_read(&lc->c);   /* what arrived since the loop last ran */
    return push_kept(L, lc, first);
}

static int l_take(lua_State *L)
{
    lcap *lc = check_cap(L, 1);
    if (!lc->stopped)
        nh_capture_read(&lc->c);
    push_kept(L, lc, 1);
    nh_capture_clear(&lc->c);
    return 1;
}

/* ---- stopping ---- */

static void push_summary(lua_State *L, lcap *lc)
{
    const nh_capture_stats *st = &lc->c.st;
    lua_createtable(L, 0, 8);
    set_int(L, "packets", (lua_Integer)st->seen);
    set_int(L, "received", (lua_Integer)st->received);
    set_int(L, "dropped", (lua_Integer)st->dropped);
    set_int(L, "interface_dropped", (lua_Integer)st->if_dropped);
    set_int(L, "not_kept", (lua_Integer)st->not_kept);
    lua_pushstring(L, lc->iface);
    lua_setfield(L, -2, "interface");
    set_int(L, "link", lc->c.linktype);
    if (lc->c.failed) {
        lua_pushstring(L, lc->c.error);
        lua_setfield(L, -2, "error");
    } else if (lc->write_failed) {
        lua_pushliteral(L, "writing the capture file failed");
        lua_setfield(L, -2, "error");
    }
}

static void stop(lcap *lc)
{
    if (lc->stopped)
        return;
    char err[128];
    lc->stopped = 1;
    nh_sched.readers--;
    if (nh_capture_stop(&lc->c, err, sizeof err) < 0)
        lc->write_failed = 1;
}

static int l_stop(lua_State *L)
{
    lcap *lc = check_cap(L, 1);
    stop(lc);
    push_summary(L, lc);
    return 1;
}

static int l_gc(lua_State *L)
{
    lcap *lc = check_cap(L, 1);
    stop(lc);
    nh_capture_free(&lc->c);
    return 0;
}

static int l_close(lua_State *L)
{
    stop(check_cap(L, 1));
    return 0;
}

static int l_link(lua_State *L)
{
    lua_pushinteger(L, check_cap(L, 1)->c.linktype);
    return 1;
}

static int l_tostring(lua_State *L)
{
    lcap *lc = check_cap(L, 1);
    lua_pushfstring(L, "capture on %s (%I packets%s)", lc->iface, (lua_Integer)lc->c.st.seen,
                    lc->stopped ? ", stopped" : "");
    return 1;
}

/* ---- decoding frames and files ---- */

static int l_decode(lua_State *L)
{
    size_t n;
    const char *frame = luaL_checklstring(L, 1, &n);
    lua_Integer link = luaL_optinteger(L, 2, NH_LINK_ETHERNET);
    lua_Integer len = luaL_optinteger(L, 3, (lua_Integer)n);
    luaL_argcheck(L, len >= 0, 3, "a length on the wire expected, not negative");
    push_packet(L, (int)link, (const uint8_t *)frame, n, (size_t)len);
    return 1;
}

/* A pcap file read one packet at a time: memory is one packet's, whatever
 * the file's size (issue 27: reading a file whole took 943 MB for 2 million
 * empty records). capture.lua builds read_file's bounded list on it. */
#define NH_CAPTURE_FILE "netharness.CaptureFile"

typedef struct lfile {
    pcap_t *p;
    int link;
    char path[256];
} lfile;

static lfile *check_file(lua_State *L)
{
    lfile *f = luaL_checkudata(L, 1, NH_CAPTURE_FILE);
    if (!f->p)
        luaL_error(L, "use of a closed capture file");
    return f;
}

/* core.capture_open_file(path) -> file | nil, err */
static int l_open_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lfile *f = lua_newuserdatauv(L, sizeof *f, 0);
    f->p = NULL;   /* closed until open: a failure below leaves it consistent */
    luaL_setmetatable(L, NH_CAPTURE_FILE);
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    f->p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (!f->p)
        return nh_fail(L, "capture", -1, NULL, NULL, NH_ERR_TEXT, ebuf, 0, "EINVAL");
    f->link = pcap_datalink(f->p);
    snprintf(f->path, sizeof f->path, "%s", path);
    return 1;
}

/* file:next() -> packet | nil at the end | nil, err where the file stops
 * making sense: code ETRUNCATED when its last record is cut short (what a
 * capture killed mid-write leaves), EINVAL for a malformed record. */
static int l_file_next(lua_State *L)
{
    lfile *f = check_file(L);
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(f->p, &h, &data);
    if (rc == 1) {
        push_packet(L, f->link, data, h->caplen, h->len);
        lua_pushnumber(L, (double)h->ts.tv_sec + (double)h->ts.tv_usec * 1e-6);
        lua_setfield(L, -2, "wall");
        return 1;
    }
    if (rc == PCAP_ERROR_BREAK) {   /* the end of the file */
        lua_pushnil(L);
        return 1;
    }
    const char *why = pcap_geterr(f->p);
    char msg[PCAP_ERRBUF_SIZE + 300];
    snprintf(msg, sizeof msg, "%s: %s", f->path, why);
    return nh_fail(L, "capture", -1, NULL, NULL, NH_ERR_TEXT, msg, 0,
                   strstr(why, "truncated") ? "ETRUNCATED" : "EINVAL");
}

static int l_file_link(lua_State *L)
{
    lua_pushinteger(L, check_file(L)->link);
    return 1;
}

static int l_file_close(lua_State *L)
{
    lfile *f = luaL_checkudata(L, 1, NH_CAPTURE_FILE);
    if (f->p) {
        pcap_t *p = f->p;
        f->p = NULL;
        pcap_close(p);
    }
    return 0;
}

static int l_file_tostring(lua_State *L)
{
    lfile *f = luaL_checkudata(L, 1, NH_CAPTURE_FILE);
    if (f->p)
        lua_pushfstring(L, "capture file %s", f->path);
    else
        lua_pushliteral(L, "capture file (closed)");
    return 1;
}

static int l_lib_version(lua_State *L)
{
    lua_pushstring(L, pcap_lib_version());
    return 1;
}

void nh_capture_open_lib(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"wait", l_wait}, {"count", l_count}, {"packets", l_packets}, {"take", l_take},
        {"stop", l_stop}, {"link", l_link}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", l_gc}, {"__close", l_close}, {"__tostring", l_tostring}, {NULL, NULL}};
    luaL_newmetatable(L, NH_CAPTURE);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    static const luaL_Reg file_methods[] = {
        {"next", l_file_next}, {"link", l_file_link}, {"close", l_file_close}, {NULL, NULL}};
    static const luaL_Reg file_meta[] = {
        {"__gc", l_file_close}, {"__close", l_file_close}, {"__tostring", l_file_tostring}, {NULL, NULL}};
    luaL_newmetatable(L, NH_CAPTURE_FILE);
    luaL_setfuncs(L, file_meta, 0);
    luaL_newlib(L, file_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {
        {"capture_start", l_start}, {"capture_decode", l_decode},
        {"capture_open_file", l_open_file}, {"capture_lib_version", l_lib_version}, {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
