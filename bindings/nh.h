/*
 * What the binding files share, one section per file. The files depend one
 * way: args, meta, errors and recent use only the core; suspend (how a call
 * waits) uses args; addr, task and coroutine use those; sock uses addr;
 * packet, listen and conn use sock (conn also packet, for UDP reads);
 * module.c opens them all. spec/layers_spec.lua checks that no two files
 * call each other in a circle.
 */
#ifndef NH_BINDINGS_H
#define NH_BINDINGS_H

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>

#include "../core/addr.h"
#include "../core/dgram.h"
#include "../core/socket.h"
#include "../core/wait.h"

#define NH_PACKETCONN "netharness.PacketConn"
#define NH_CONN "netharness.Conn"
#define NH_LISTENER "netharness.Listener"
#define NH_ADDR "netharness.Addr"
#define NH_TASK "netharness.Task"
#define NH_ERROR "netharness.Error"

/* Our hot userdata (sockets, addresses) begin with a tag: the address of a
 * static of ours that names the type. Checking it costs two API calls where
 * comparing metatables costs four, and it is as safe: only C code can write a
 * userdata's bytes, no other library holds our statics' addresses, and the
 * size check keeps a smaller foreign block from being read past its end. */
static inline void *nh_test_tag(lua_State *L, int idx, const void *tag, size_t size)
{
    void *p = lua_touserdata(L, idx);
    if (p && lua_rawlen(L, idx) >= size && *(const void *const *)p == tag)
        return p;
    return NULL;
}

/* ---- argument helpers (args.c) ---- */

/* luaL_optinteger in one API call when the argument is there. */
lua_Integer nh_opt_integer(lua_State *L, int arg, lua_Integer def);
/* Optional trailing timeout argument -> absolute deadline (0 for none). */
double nh_opt_timeout(lua_State *L, int arg);
/* The same in two steps, for reads that often need no wait and so no clock:
 * the checked timeout in seconds (-1 for none; a negative one has expired
 * and becomes 0), then, when the call first has to wait, its deadline (0 for
 * none). */
double nh_opt_seconds(lua_State *L, int arg);
double nh_deadline_in(double seconds);
/* A network name ("udp", "tcp4", ...) -> enum nh_net. */
int nh_check_net(lua_State *L, int arg);

/* ---- method tables (meta.c) ---- */

/* The metatable of tname (made on first use, hot keys first), pushed. */
void nh_push_metatable(lua_State *L, const char *tname);
void nh_add_methods(lua_State *L, const char *tname, const luaL_Reg *methods);

/* ---- the wait protocol and the scheduler's state (suspend.c) ---- */

enum { NH_T_NEW, NH_T_LIVE, NH_T_DONE, NH_T_FAILED, NH_T_CANCELLED, NH_T_HIJACKED };
#define NH_HIJACKED "netharness: a task's coroutine was resumed from outside the loop " \
                    "(coroutine.resume on a task); the task is stopped"

/* A task (task.c makes and runs them; the wait protocol parks them). */
typedef struct nh_task {
    nh_waiter w;          /* the task's one wait at a time */
    lua_State *co;        /* NULL once finished; user value 1 holds it, then the outcome */
    nh_queue joiners;
    int anchor;           /* index in the live table while live, so a waiting task is not collected */
    unsigned char state;  /* NH_T_* */
    unsigned char yielded; /* suspended by nh_suspend, not by a plain coroutine.yield */
    unsigned char running; /* NH_RUN_RESUMED: inside lua_resume; NH_RUN_CLOSING: its
                            * pending <close> variables are being closed (task.c) */
    unsigned char wstatus; /* how the last wait ended */
} nh_task;
enum { NH_RUN_RESUMED = 1, NH_RUN_CLOSING = 2 };

/* The scheduler's state. The loop is libev's default one, so netharness
 * serves one Lua state at a time in a process (module.c refuses a second). */
extern struct nh_sched {
    int live;             /* tasks spawned and not finished */
    int driving;          /* loop runs on the C stack (waits outside tasks, main-chunk turns) */
    unsigned streak;      /* I/O calls since the loop last ran: see nh_fair */
    lua_State *main;      /* the main thread, where lua.c's SIGINT handler installs its hook */
    lua_State *thread;    /* ours, for handlers and tracebacks; stack slot 1: the live table */
    nh_queue all_done;    /* run() waits here for live == 0 */
    lua_Hook alone_hook;  /* the hook when a lone wait began (nh_alone) */
    int readers;          /* packet captures and child processes: what they send is read on the loop */
} nh_sched;

/* When the state using netharness closes (module.c): forget it. */
void nh_sched_forget(void);

nh_task **nh_task_slot(lua_State *L);   /* the task L runs for, in L's extra space */
void nh_task_reschedule(nh_task *t);    /* runnable again after one pass of the loop */

typedef struct nh_block {
    nh_waiter w;
    nh_timer timer;      /* lent to w: a wait on the C stack allocates nothing */
    int done;
} nh_block;

/* The waiter this call should park: the running task's, or blk's. */
nh_waiter *nh_wait_begin(lua_State *L, nh_block *blk);
/* After parking the waiter: in a task, yield (never returns; k(L, LUA_YIELD,
 * ctx) runs when the waiter is woken, and reads the outcome with
 * nh_wait_status). Elsewhere, run the loop until the waiter is woken and return
 * how the wait ended (enum nh_wake), so the caller loops without recursion. */
int nh_suspend(lua_State *L, nh_block *blk, lua_KContext ctx, lua_KFunction k);
/* In a continuation after a yield: how the wait ended. */
int nh_wait_status(lua_State *L);
/* The wake status a continuation starts from: READY on the first call. */
#define NH_K_STATUS(L, status) ((status) == LUA_YIELD ? nh_wait_status(L) : NH_WAKE_READY)
/* Run the loop until *done (for run()): 0 done, else why it stopped early. */
int nh_drive(int *done);
/* Can the caller wait inside a system call instead of on the loop? Only when
 * nothing else could run meanwhile: the caller is not a task, no task lives,
 * no capture or child process is read on the loop and no wake is pending (core/dgram.h says what
 * this saves). Such a wait must
 * end on a signal (EINTR), so Ctrl-C is seen. */
int nh_alone(lua_State *L);
/* After such a wait failed with errno: raise "interrupted!" on Ctrl-C, as the
 * loop's wait does; else the wake status it amounts to (READY: try again;
 * TIMEOUT: the call's time has passed), or -1 for an error of the call. A
 * timeout waited as it is (*timeout >= 0) that a signal cut short becomes a
 * deadline from now. */
int nh_alone_wait_status(lua_State *L, double *call_deadline, double *timeout);
/* Fair turns: a call that completes without waiting does not return to the
 * loop, so a task whose reads keep finding data would starve every other task,
 * timer and socket. Each I/O call counts itself; every NH_FAIR_OPS-th call
 * since the loop last ran lets the loop run first: a task yields (one pass of
 * the loop, then the call goes on), the main chunk runs one pass without
 * blocking. With 64, a task sleeping 5 ms ticks ~93 times in 0.5 s beside a
 * busy peer (2 to 8 without; spec/fairness_spec.lua), and the count costs an
 * increment a call, not visible in make bench (bench/README.md). */
#define NH_FAIR_OPS 64
int nh_take_turn(lua_State *L);
/* Yield to the loop, then call `call` again with the same arguments. */
int nh_yield_then(lua_State *L, lua_CFunction call);
static inline int nh_fair(lua_State *L)
{
    return ++nh_sched.streak >= NH_FAIR_OPS && nh_take_turn(L);
}

/* Plain coroutines inside a task (coroutine.c): while L resumes co, a wait in
 * co parks L's task; unlend says whether co did (it then yielded to the loop,
 * and its resumer must pass that yield on). */
void *nh_task_lend(lua_State *L, lua_State *co);
int nh_task_unlend(lua_State *co, void *task);

/* ---- repeated strings (recent.c) ---- */

/* Push p[0..len), as the very string pushed for equal bytes lately if any. */
void nh_push_recent(lua_State *L, const char *p, size_t len);
void nh_recent_open(lua_State *L);
void nh_recent_forget(void);

/* ---- errors (errors.c) ---- */

enum nh_errkind { NH_ERR_SYS, NH_ERR_TIMEOUT, NH_ERR_CLOSED, NH_ERR_TEXT };

/* Push a Go *net.OpError-shaped error object. source and addr may be NULL. For
 * NH_ERR_SYS, sys names the call and errnum the errno; for NH_ERR_TEXT, sys is
 * the whole message and code its short name. */
void nh_push_operror(lua_State *L, const char *op, int net, const nh_addr *source,
                     const nh_addr *addr, int kind, const char *sys, int errnum,
                     const char *code);
/* nil, err — the usual failure return. */
int nh_fail(lua_State *L, const char *op, int net, const nh_addr *source, const nh_addr *addr,
            int kind, const char *sys, int errnum, const char *code);
/* The wake status of a wait that did not end READY, as an error return. */
int nh_fail_wake(lua_State *L, const char *op, int net, const nh_addr *source,
                 const nh_addr *addr, int status);
/* nil, err for a host name that gives no address of the network's family. */
int nh_fail_no_address(lua_State *L, const char *op, int net, const nh_addr *source,
                       const char *host);
/* nil, netharness.EOF (or ErrUnexpectedEOF) */
int nh_push_eof(lua_State *L, int unexpected);
void nh_errors_open(lua_State *L);

/* ---- addresses (addr.c) ---- */

void nh_push_addr(lua_State *L, const nh_addr *a, int net);
const nh_addr *nh_to_addr(lua_State *L, int idx);  /* NULL if not an Addr */
/* Read an address argument: an Addr object or a literal string. Returns 1 when
 * *out is set, 0 when the string names a host that needs a lookup (host and
 * port are then set). Raises on malformed text. */
int nh_check_addr(lua_State *L, int arg, int net, int passive, nh_addr *out,
                  char *host, size_t hostcap, int *port);
/* Look host up (yielding); on return the stack has the Addr objects found
 * (nil, err on failure) above `base`; continues in k. */
int nh_lookup_call(lua_State *L, int net, const char *host, int port, double deadline, lua_KContext ctx, lua_KFunction k);
void nh_addr_open(lua_State *L);

/* ---- sockets (sock.c) ---- */

typedef struct nh_lsock {
    const void *tag;     /* nh_test_tag: which of the three kinds (nh_sock_kind) */
    nh_socket s;         /* s.rbuf.limit: read_line / read_until give up past
                          * this many bytes */
} nh_lsock;             /* user value 1: a PacketConn's last sender, as an Addr */

#define NH_DEFAULT_LINE_LIMIT (1024 * 1024)

/* A datagram socket (a PacketConn, or a Conn dialled over UDP): the receive
 * policy's state (core/dgram.h) and, for a PacketConn, its last sender. */
typedef struct nh_lpacket {
    nh_lsock base;
    nh_dgram d;
    nh_addr last_from;   /* the sender whose Addr is user value 1 */
    const void *last_from_ud;   /* that Addr's block: write_to knows it by address */
} nh_lpacket;

enum { NH_K_PACKET, NH_K_CONN, NH_K_LISTENER };

nh_lsock *nh_sock_new(lua_State *L, int kind, int net);
int nh_sock_kind(const nh_lsock *ls);
nh_lsock *nh_check_sock(lua_State *L, int idx, int kind);
nh_lsock *nh_check_any_sock(lua_State *L, int idx);
/* Go's errors name the local address as Source and the peer as Addr. */
const nh_addr *nh_sock_laddr(const nh_lsock *ls);
const nh_addr *nh_sock_raddr(const nh_lsock *ls);
/* A datagram read for PacketConn:read_from (with_sender) and a UDP
 * Conn's read (packet.c): data, addr, truncated | data, truncated | nil, err. */
int nh_packet_read(lua_State *L, nh_lpacket *lp, int max, double timeout, int with_sender);
void nh_sock_open(lua_State *L);
void nh_sock_forget(void);
void nh_conn_open(lua_State *L);
void nh_packet_open(lua_State *L);
void nh_listen_open(lua_State *L);

/* ---- fault-injecting proxies (fault.c): uses addr and errors ---- */

void nh_fault_open(lua_State *L);
void nh_task_open(lua_State *L);
void nh_coroutine_open(lua_State *L);
void nh_histogram_open(lua_State *L);
void nh_signal_open(lua_State *L);
void nh_buffer_open(lua_State *L);
void nh_capture_open_lib(lua_State *L);
void nh_process_open(lua_State *L);

#endif
