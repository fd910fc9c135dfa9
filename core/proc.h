/*
 * A child process under test, driven by the event loop.
 *
 * Specs start the system under test (a server of the user's, python, socat)
 * and must see its output, know when it exits, and stop it and everything it
 * started. A shell in between (`sh -c "... & echo $!"`) hides the real PID,
 * needs quoting, and leaves grandchildren behind; so the child is forked and
 * exec'd directly:
 *
 *   - in a process group of its own (its PID), so a signal reaches everything
 *     it started, and the group can be stopped as a whole;
 *   - stdin from /dev/null, stdout and stderr into one pipe that the loop
 *     drains (an ev_io), so a chatty child never blocks on a full pipe and
 *     the output reads as a terminal would show it;
 *   - listening sockets handed over as fds 3, 4, ... with LISTEN_FDS and
 *     LISTEN_PID set, as systemd's socket activation does: the child accepts
 *     on a port that was bound before it started, so no port changes hands
 *     between a "free port" probe and the child's bind;
 *   - no other fd of ours (close_range), default signal handling, an empty
 *     signal mask.
 *
 * Its exit is seen through a pidfd (Linux 5.3): readable when the child
 * exits, and unlike SIGCHLD (libev's ev_child reaps every child) it does not
 * take the exit status of children that io.popen or os.execute wait for. The
 * child is reaped only when the handle is freed: until then its PID, and the
 * group's id, cannot go to another process.
 *
 * Waiters on the process's queue are woken when output arrives, when the
 * output ends and when the process exits.
 */
#ifndef NH_PROC_H
#define NH_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wait.h"

typedef struct nh_proc_opts {
    char *const *argv;     /* argv[0] is looked up in PATH when it has no '/' */
    char *const *envp;     /* the whole environment */
    const char *cwd;       /* NULL: ours */
    const int *pass_fds;   /* become fds 3, 4, ... (LISTEN_FDS) */
    int npass;
    size_t keep;           /* output bytes kept; past that it is counted and dropped */
} nh_proc_opts;

typedef struct nh_proc {
    ev_io out;             /* the output pipe's read end */
    ev_io exit;            /* the pidfd */
    pid_t pid;             /* also the process group's id */
    int pidfd;
    int exited;            /* it exited: code or signal says how */
    int code;              /* its exit code */
    int signal;            /* or the signal that ended it */
    int reaped;            /* by nh_proc_free: the PID is no longer ours */
    int out_open;          /* the pipe may still bring output */
    char *buf;             /* the output kept */
    size_t len, cap, keep;
    uint64_t dropped;      /* output bytes past keep */
    uint64_t version;      /* counts changes: output arrived or ended, the child exited */
    nh_queue waiters;
} nh_proc;

/* Start the child. Returns 0, or -1 with *errnum and err[] naming what
 * failed: "\"python4\"" (the exec), "chdir /x", "pipe", "pidfd_open". */
int nh_proc_spawn(nh_proc *p, const nh_proc_opts *o, int *errnum, char *err, size_t errlen);

/* Send sig to the child's process group (to every process still in it).
 * Returns 0, or -1 with errno (ESRCH: none left). */
int nh_proc_signal(nh_proc *p, int sig);

/* Has the child exited? (No wait; it is reaped by nh_proc_free only.) */
int nh_proc_poll(nh_proc *p);

/* Done with it: watchers stopped, fds closed, output freed. A child still
 * running and its group are killed (SIGKILL) and the child reaped, so nothing
 * is left behind by a handle that was dropped. */
void nh_proc_free(nh_proc *p);

#endif
