/*
 * Conn: a TCP connection (dialled or accepted) or a dialled UDP socket, like
 * Go's net.Conn. TCP reads go through the connection's buffer in C, so
 * read_line, read_until and read_full never make Lua scan bytes; write sends
 * everything or fails, waiting while the kernel's buffer is full.
 */
#include <errno.h>
#include <string.h>

#include "../core/resolve.h"
#include "../core/stream.h"
#include "nh.h"


static int conn_fail(lua_State *L, nh_lsock *ls, const char *op, int kind, const char *sys, int e)
{
    return nh_fail(L, op, ls->s.net, nh_sock_laddr(ls), nh_sock_raddr(ls), kind, sys, e, NULL);
}

static nh_lsock *check_conn(lua_State *L)
{
    return nh_check_sock(L, 1, NH_K_CONN);
}

static nh_lsock *check_tcp(lua_State *L, const char *method)
{
    nh_lsock *ls = check_conn(L);
    if (!nh_net_is_stream(ls->s.net))
        luaL_error(L, "%s needs a tcp connection (this one is %s)", method, nh_net_name(ls->s.net));
    return ls;
}

/* ---- buffered reads (core/stream.h decides; this pushes or waits) ---- */

static int buffer_full(lua_State *L, nh_lsock *ls, const nh_read *r)
{
    const char *what = r->mode == NH_READ_LINE    ? "end of line"
                       : r->mode == NH_READ_BLOCK ? "end of header block"
                                                  : "delimiter";
    lua_pushnil(L);
    nh_push_operror(L, "read", ls->s.net, nh_sock_laddr(ls), nh_sock_raddr(ls), NH_ERR_TEXT,
                    lua_pushfstring(L, "buffer full: no %s within %d bytes", what, (int)r->limit),
                    0, "EBUFFULL");
    lua_remove(L, -2);
    return 2;
}

/* The request as the entry function left it on the stack: slot 2 holds n,
 * the delimiter or a header block's own limit (nil: the connection's). */
static nh_read request_of(lua_State *L, int mode, size_t scanned)
{
    size_t dlen = 0;
    const char *delim = mode == NH_READ_UNTIL ? lua_tolstring(L, 2, &dlen) : NULL;
    nh_read r = nh_read_request(mode, (size_t)lua_tointeger(L, 2), delim, dlen);
    r.scanned = scanned;
    return r;
}

static int read_k(lua_State *L, int status, lua_KContext ctx)
{
    nh_lsock *ls = lua_touserdata(L, 1);   /* checked by the entry function */
    nh_read r = request_of(L, (int)(ctx & 7), (size_t)ctx >> 3);
    double call_deadline = lua_tonumber(L, 4);
    int st = NH_K_STATUS(L, status);
    int waited = status == LUA_YIELD;
    /* A timeout of 0: what is there now, one attempt and no wait. */
    int now_only = !waited && call_deadline == 0 && lua_type(L, 3) == LUA_TNUMBER && lua_tonumber(L, 3) == 0;
    for (;;) {
        if (st != NH_WAKE_READY)
            return nh_fail_wake(L, "read", ls->s.net, nh_sock_laddr(ls), nh_sock_raddr(ls), st);
        switch (nh_stream_read(&ls->s, &r, waited, now_only)) {
        case NH_IO_DONE:
            if (r.mode == NH_READ_BLOCK)
                nh_push_recent(L, nh_rbuf_peek(&ls->s.rbuf), r.keep);
            else
                lua_pushlstring(L, nh_rbuf_peek(&ls->s.rbuf), r.keep);
            if (nh_stream_take(&ls->s, &r) < 0)
                return conn_fail(L, ls, "read", NH_ERR_SYS, "read", ENOMEM);
            return 1;
        case NH_IO_EOF:
            /* Go's io.EOF, or io.ErrUnexpectedEOF mid-message, with whatever
             * partial data there was as a third value. */
            if (r.keep == 0)
                return nh_push_eof(L, 0);
            nh_push_eof(L, r.unexpected);
            lua_pushlstring(L, nh_rbuf_peek(&ls->s.rbuf), r.keep);
            nh_stream_take(&ls->s, &r);
            return 3;
        case NH_IO_FULL:
            return buffer_full(L, ls, &r);
        case NH_IO_TIMEOUT:
            return conn_fail(L, ls, "read", NH_ERR_TIMEOUT, NULL, 0);
        case NH_IO_CLOSED:
            return conn_fail(L, ls, "read", NH_ERR_CLOSED, NULL, 0);
        case NH_IO_ERR:
            return conn_fail(L, ls, "read", NH_ERR_SYS, "read", errno);
        default:   /* AGAIN */
            break;
        }
        if (call_deadline == 0 && !lua_isnil(L, 3)) {
            call_deadline = nh_deadline_in(lua_tonumber(L, 3));
            lua_pushnumber(L, call_deadline);
            lua_replace(L, 4);
        }
        waited = 1;
        nh_block blk;
        nh_socket_wait(&ls->s, &ls->s.rd, nh_wait_begin(L, &blk), call_deadline);
        ctx = (lua_KContext)(((lua_Unsigned)r.scanned << 3) | (lua_Unsigned)r.mode);
        st = nh_suspend(L, &blk, ctx, read_k);
    }
}

/* Slot 3 holds the timeout (checked here) and slot 4 the call's deadline,
 * made from it when the call first has to wait (0 until then, or for none). */
static int start_read(lua_State *L, int mode)
{
    nh_opt_seconds(L, 3);
    lua_settop(L, 3);
    lua_pushinteger(L, 0);
    return read_k(L, LUA_OK, mode);
}

/* conn:read([max [, timeout]]) -> data | nil, err   (udp: data, truncated) */
static int l_read(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_read);
    nh_lsock *ls = check_conn(L);
    int udp = !nh_net_is_stream(ls->s.net);
    lua_Integer max = nh_opt_integer(L, 2, 65536);
    luaL_argcheck(L, max >= 1 && (!udp || max <= 65536), 2,
                  udp ? "max must be between 1 and 65536" : "max must be at least 1");
    if (udp)
        return nh_packet_read(L, (nh_lpacket *)ls, (int)max, nh_opt_seconds(L, 3), 0);
    lua_pushinteger(L, max);
    lua_replace(L, 2);
    return start_read(L, NH_READ_SOME);
}

/* The reads whose only argument is the timeout: give them an empty slot 2. */
static int start_read_timeout_only(lua_State *L, const char *method, int mode)
{
    check_tcp(L, method);
    lua_settop(L, 2);
    lua_pushnil(L);
    lua_insert(L, 2);
    return start_read(L, mode);
}

/* conn:read_line([timeout]) -> line without "\n" or "\r\n" | nil, err [, partial] */
static int l_read_line(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_read_line);
    return start_read_timeout_only(L, "read_line", NH_READ_LINE);
}

/* conn:read_until(delimiter [, timeout]) -> data ending with delimiter | nil, err [, partial] */
static int l_read_until(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_read_until);
    check_tcp(L, "read_until");
    size_t dlen;
    luaL_checklstring(L, 2, &dlen);
    luaL_argcheck(L, dlen > 0, 2, "delimiter must not be empty");
    return start_read(L, NH_READ_UNTIL);
}

/* conn:read_header_block([timeout [, max]]) -> the lines up to and including
 * the first empty one (CRLF CRLF or LF LF), as HTTP, RTSP and SIP end a header
 * block | nil, err [, partial]. At most max bytes (default: set_line_limit's);
 * a parser passes its own limit with each call instead of setting it first. */
static int l_read_header_block(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_read_header_block);
    check_tcp(L, "read_header_block");
    if (!lua_isnoneornil(L, 3)) {
        lua_Integer max = luaL_checkinteger(L, 3);
        luaL_argcheck(L, max >= 1 && max <= INT32_MAX, 3, "max must be between 1 byte and 2 GiB");
        lua_pushinteger(L, max);   /* (a float like 10.0 becomes the integer satisfy looks for) */
        lua_replace(L, 3);
    }
    lua_settop(L, 3);
    lua_rotate(L, 2, 1);   /* self, max, timeout */
    return start_read(L, NH_READ_BLOCK);
}

/* conn:read_full(n [, timeout]) -> exactly n bytes | nil, err [, partial] */
static int l_read_full(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_read_full);
    check_tcp(L, "read_full");
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0, 2, "byte count must not be negative");
    if (n == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    return start_read(L, NH_READ_FULL);
}

/* conn:peek(n [, timeout]) -> the next n bytes, left to be read | nil, err [, partial]
 * (Go's bufio.Reader.Peek): waits until n bytes are there; n is at most the
 * line limit. */
static int l_peek(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_peek);
    nh_lsock *ls = check_tcp(L, "peek");
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 1 && (lua_Unsigned)n <= ls->s.rbuf.limit, 2,
                  "byte count must be between 1 and the line limit");
    return start_read(L, NH_READ_PEEK);
}

/* conn:buffered() -> how many received bytes wait in the read buffer */
static int l_buffered(lua_State *L)
{
    nh_lsock *ls = check_conn(L);
    lua_pushinteger(L, (lua_Integer)nh_rbuf_len(&ls->s.rbuf));
    return 1;
}

static int l_set_line_limit(lua_State *L)
{
    nh_lsock *ls = check_tcp(L, "set_line_limit");
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 1, 2, "limit must be at least 1 byte");
    luaL_argcheck(L, n <= INT32_MAX, 2, "limit must be below 2 GiB");
    lua_pushinteger(L, (lua_Integer)ls->s.rbuf.limit);   /* the previous one, to restore */
    ls->s.rbuf.limit = (uint32_t)n;
    return 1;
}

/* ---- writes ---- */

static int write_k(lua_State *L, int status, lua_KContext ctx);

/* Write data[off..len), with the arguments as C values; a wait first leaves the
 * deadline at stack slot 3 for the continuation (data stays at slot 2). The
 * deadline is made from `timeout` (seconds, -1 for none) at the first wait: a
 * write that needs none reads no clock. */
static int write_run(lua_State *L, nh_lsock *ls, const char *data, size_t len, size_t off,
                     double call_deadline, double timeout, int st)
{
    for (;;) {
        int r = 0;
        if (st != NH_WAKE_READY)
            r = nh_fail_wake(L, "write", ls->s.net, nh_sock_laddr(ls), nh_sock_raddr(ls), st);
        else {
            switch (nh_stream_write(&ls->s, data, len, &off)) {
            case NH_IO_DONE:
                lua_pushinteger(L, (lua_Integer)off);
                return 1;
            case NH_IO_CLOSED:
                r = conn_fail(L, ls, "write", NH_ERR_CLOSED, NULL, 0);
                break;
            case NH_IO_TIMEOUT:
                r = conn_fail(L, ls, "write", NH_ERR_TIMEOUT, NULL, 0);
                break;
            case NH_IO_ERR:
                r = conn_fail(L, ls, "write", NH_ERR_SYS, "write", errno);
                break;
            default:   /* AGAIN: the write side exists now */
                break;
            }
        }
        if (r) {
            lua_pushinteger(L, (lua_Integer)off);   /* what did get written */
            return 3;
        }
        if (timeout >= 0) {
            call_deadline = nh_deadline_in(timeout);
            timeout = -1;
        }
        lua_settop(L, 2);
        lua_pushnumber(L, call_deadline);
        nh_block blk;
        nh_socket_wait(&ls->s, ls->s.wr, nh_wait_begin(L, &blk), call_deadline);
        st = nh_suspend(L, &blk, (lua_KContext)off, write_k);
    }
}

static int write_k(lua_State *L, int status, lua_KContext ctx)
{
    size_t len;
    const char *data = lua_tolstring(L, 2, &len);
    return write_run(L, lua_touserdata(L, 1), data, len, (size_t)ctx, lua_tonumber(L, 3), -1,
                     NH_K_STATUS(L, status));
}

/* conn:write(data [, timeout]) -> #data | nil, err, bytes_written */
static int l_write(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_write);
    nh_lsock *ls = check_conn(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    return write_run(L, ls, data, len, 0, 0, nh_opt_seconds(L, 3), NH_WAKE_READY);
}

static int l_close_write(lua_State *L)
{
    nh_lsock *ls = check_tcp(L, "close_write");
    if (!nh_socket_is_open(&ls->s))
        return conn_fail(L, ls, "close", NH_ERR_CLOSED, NULL, 0);
    if (nh_socket_shutdown_write(&ls->s) < 0)
        return conn_fail(L, ls, "close", NH_ERR_SYS, "shutdown", errno);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- dial(network, address [, timeout]) ----
 * Stack: 1 network, 2 address, 3 timeout, 4 deadline, 5 the Conn, 6.. candidate
 * Addrs (one literal, or what the lookup found). ctx: candidate index << 1 |
 * connect-in-progress. */

static int dial_k(lua_State *L, int status, lua_KContext ctx)
{
    nh_lsock *ls = lua_touserdata(L, 5);   /* made by l_dial */
    int idx = (int)(ctx >> 1), connecting = (int)(ctx & 1);
    int net = ls->s.net, n = lua_gettop(L) - 5;
    double deadline = lua_tonumber(L, 4);
    const nh_addr *addrs[NH_RESOLVE_MAX];
    const char *sys;
    if (n > NH_RESOLVE_MAX)
        n = NH_RESOLVE_MAX;
    for (int i = 0; i < n; i++)
        addrs[i] = nh_to_addr(L, 6 + i);
    int st = connecting ? NH_K_STATUS(L, status) : NH_WAKE_READY;
    for (;;) {
        if (st != NH_WAKE_READY) {
            nh_socket_close(&ls->s);
            return nh_fail_wake(L, "dial", net, NULL, addrs[idx], st);
        }
        int r = nh_socket_dial(&ls->s, addrs, n, &idx, &connecting, deadline, &sys);
        if (r == 0) {
            lua_settop(L, 5);
            return 1;
        }
        if (r < 0 && !sys)
            return nh_fail(L, "dial", net, NULL, addrs[idx], NH_ERR_TIMEOUT, NULL, 0, NULL);
        if (r < 0)
            return nh_fail(L, "dial", net, NULL, addrs[idx], NH_ERR_SYS, sys, errno, NULL);
        nh_block blk;   /* a connect in progress: wait until the socket is writable */
        nh_socket_wait(&ls->s, ls->s.wr, nh_wait_begin(L, &blk), deadline);
        st = nh_suspend(L, &blk, ((lua_KContext)idx << 1) | 1, dial_k);
    }
}

static int dial_lookup_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    if (lua_isnil(L, 6))
        return nh_fail(L, "dial", nh_check_net(L, 1), NULL, NULL, NH_ERR_TEXT, lua_tostring(L, 7),
                       0, lua_tostring(L, 8));
    return dial_k(L, LUA_OK, 0);
}

static int l_dial(lua_State *L)
{
    if (nh_fair(L))
        return nh_yield_then(L, l_dial);
    int net = nh_check_net(L, 1);
    double deadline = nh_opt_timeout(L, 3);
    char host[NH_HOST_MAX];
    int port;
    nh_addr a;
    lua_settop(L, 3);
    lua_pushnumber(L, deadline);
    int r = nh_check_addr(L, 2, net, 0, &a, host, sizeof host, &port);
    nh_sock_new(L, NH_K_CONN, net);
    if (r == 1) {
        nh_push_addr(L, &a, net);
        return dial_k(L, LUA_OK, 0);
    }
    if (r < 0)
        return nh_fail_no_address(L, "dial", net, NULL, host);
    return nh_lookup_call(L, net, host, port, deadline, 0, dial_lookup_k);
}

void nh_conn_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"read", l_read},
        {"write", l_write},
        {"read_header_block", l_read_header_block},
        {"read_full", l_read_full},
        {"read_line", l_read_line},
        {"read_until", l_read_until},
        {"close_write", l_close_write},
        {"set_line_limit", l_set_line_limit},
        {"peek", l_peek},
        {"buffered", l_buffered},
        {NULL, NULL}};
    nh_add_methods(L, NH_CONN, methods);
    lua_pushcfunction(L, l_dial);
    lua_setfield(L, -2, "dial");
}
