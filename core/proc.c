#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* What the child reports through the exec pipe when a step before exec (or
 * exec itself) failed; nothing arrives when exec succeeded (the pipe closes
 * on exec). */
enum { STEP_EXEC, STEP_CHDIR, STEP_SETUP };
struct report {
    int step, errnum;
};

static void watch_stop(ev_io *io)
{
    if (ev_is_active(io)) {
        ev_ref(NH_LOOP);
        ev_io_stop(NH_LOOP, io);
    }
    if (io->fd >= 0) {
        close(io->fd);
        io->fd = -1;
    }
}

static void append(nh_proc *p, const char *data, size_t n)
{
    size_t room = p->keep > p->len ? p->keep - p->len : 0;
    size_t take = n < room ? n : room;
    if (take && p->len + take > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + take) cap *= 2;
        if (cap > p->keep) cap = p->keep;
        char *b = realloc(p->buf, cap);
        if (!b)
            take = 0;   /* no memory: counted as dropped, the child goes on */
        else {
            p->buf = b;
            p->cap = cap;
        }
    }
    memcpy(p->buf + p->len, data, take);
    p->len += take;
    p->dropped += n - take;
}

static void on_output(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    nh_proc *p = (nh_proc *)((char *)io - offsetof(nh_proc, out));
    char chunk[65536];
    /* A few reads a turn at most: a child that floods its output must not
     * keep the loop from everything else. */
    for (int i = 0; i < 4; i++) {
        ssize_t n = read(io->fd, chunk, sizeof chunk);
        if (n > 0) {
            append(p, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        watch_stop(io);   /* end of output (every writer closed it), or an error */
        p->out_open = 0;
        break;
    }
    p->version++;
    nh_queue_wake_all(&p->waiters, NH_WAKE_READY);
}

/* WNOWAIT: the exited child stays a zombie until the handle is freed. Its
 * PID, and so its process group's id, cannot be handed to another process
 * meanwhile, so signalling the group never reaches a stranger. */
int nh_proc_poll(nh_proc *p)
{
    if (p->exited || p->pidfd < 0)
        return p->exited;   /* (closed: nh_proc_free set exited) */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do r = waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG | WNOWAIT);
    while (r < 0 && errno == EINTR);
    if (r == 0 && si.si_pid == p->pid) {
        p->exited = 1;
        if (si.si_code == CLD_EXITED)
            p->code = si.si_status;
        else
            p->signal = si.si_status;
        if (ev_is_active(&p->exit)) {
            ev_ref(NH_LOOP);
            ev_io_stop(NH_LOOP, &p->exit);
        }
        p->version++;
        nh_queue_wake_all(&p->waiters, NH_WAKE_READY);
    }
    return p->exited;
}

static void on_exit_ready(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    nh_proc *p = (nh_proc *)((char *)io - offsetof(nh_proc, exit));
    nh_proc_poll(p);
}

/* The child's side: everything here is async-signal-safe, as after a fork. */
static void child(const nh_proc_opts *o, int outw, int repw, char *const *envp, char *pid_slot)
{
    struct report rep = {STEP_SETUP, 0};
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);   /* fails harmlessly for KILL, STOP and RT gaps */
    setpgid(0, 0);

    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* Above every fd that is to be 3, 4, ...: nothing below may clobber them. */
    int floor = 3 + o->npass;
    repw = fcntl(repw, F_DUPFD_CLOEXEC, floor);
    int moved[64];
    int ok = in >= 0 && repw >= 0 && o->npass <= 64;
    for (int i = 0; ok && i < o->npass; i++)
        ok = (moved[i] = fcntl(o->pass_fds[i], F_DUPFD_CLOEXEC, floor)) >= 0;
    ok = ok && dup2(in, 0) == 0 && dup2(outw, 1) == 1 && dup2(outw, 2) == 2;
    for (int i = 0; ok && i < o->npass; i++)
        ok = dup2(moved[i], 3 + i) == 3 + i;   /* dup2 clears close-on-exec */
    if (!ok)
        goto fail;
    /* Every other fd of ours closes on exec: epoll, sockets, files Lua opened. */
    syscall(SYS_close_range, (unsigned)floor, ~0U, CLOSE_RANGE_CLOEXEC);
    if (o->cwd && chdir(o->cwd) < 0) {
        rep.step = STEP_CHDIR;
        goto fail;
    }
    if (pid_slot) {   /* LISTEN_PID=<our pid>, written where the parent left room */
        char digits[16];
        int n = 0;
        for (pid_t v = getpid(); v > 0; v /= 10) digits[n++] = (char)('0' + v % 10);
        while (n) *pid_slot++ = digits[--n];
        *pid_slot = '\0';
    }
    rep.step = STEP_EXEC;
    execvpe(o->argv[0], o->argv, envp);
fail:
    rep.errnum = errno;
    if (repw >= 0) {
        ssize_t w = write(repw, &rep, sizeof rep);
        (void)w;
    }
    _exit(127);
}

/* The environment with LISTEN_FDS and a slot for LISTEN_PID, when fds are
 * passed (any LISTEN_* of the caller's is replaced). */
static char **listen_env(const nh_proc_opts *o, char *fds_var, size_t fds_cap, char *pid_var,
                         char **pid_slot)
{
    size_t n = 0;
    while (o->envp[n]) n++;
    char **env = malloc((n + 3) * sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(o->envp[i], "LISTEN_FDS=", 11) && strncmp(o->envp[i], "LISTEN_PID=", 11) &&
            strncmp(o->envp[i], "LISTEN_FDNAMES=", 15))
            env[k++] = o->envp[i];
    snprintf(fds_var, fds_cap, "LISTEN_FDS=%d", o->npass);
    env[k++] = fds_var;
    strcpy(pid_var, "LISTEN_PID=");
    *pid_slot = pid_var + 11;
    env[k++] = pid_var;
    env[k] = NULL;
    return env;
}

int nh_proc_spawn(nh_proc *p, const nh_proc_opts *o, int *errnum, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->out.fd = p->exit.fd = p->pidfd = -1;
    p->keep = o->keep;
    *errnum = 0;
    if (o->npass < 0 || o->npass > 64) {
        *errnum = EINVAL;
        snprintf(err, errlen, "pass_fds");
        return -1;
    }
    char fds_var[32], pid_var[32], *pid_slot = NULL;
    char **env = (char **)o->envp;
    if (o->npass > 0 && !(env = listen_env(o, fds_var, sizeof fds_var, pid_var, &pid_slot))) {
        *errnum = ENOMEM;
        snprintf(err, errlen, "environment");
        return -1;
    }
    int outp[2] = {-1, -1}, repp[2] = {-1, -1};
    pid_t pid = -1;
    const char *what = "pipe";
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(repp, O_CLOEXEC) < 0)
        goto fail;
    what = "fork/exec";
    pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0)
        child(o, outp[1], repp[1], env, pid_slot);
    if (env != o->envp)
        free(env);
    env = NULL;
    setpgid(pid, pid);   /* the child does it too: whoever runs first */
    close(outp[1]);
    close(repp[1]);
    outp[1] = repp[1] = -1;

    struct report rep;
    ssize_t n;
    do n = read(repp[0], &rep, sizeof rep);
    while (n < 0 && errno == EINTR);
    close(repp[0]);
    repp[0] = -1;
    if (n == (ssize_t)sizeof rep) {   /* it did not get to exec */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        pid = -1;
        errno = rep.errnum;
        what = rep.step == STEP_CHDIR ? "chdir" : "fork/exec";
        goto fail;
    }
    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) {
        what = "pidfd_open";
        goto fail;
    }
    fcntl(outp[0], F_SETFL, fcntl(outp[0], F_GETFL) | O_NONBLOCK);
    p->pid = pid;
    p->out_open = 1;
    ev_io_init(&p->out, on_output, outp[0], EV_READ);
    ev_io_start(NH_LOOP, &p->out);
    ev_unref(NH_LOOP);   /* output does not keep the loop alive; a waiter does */
    p->pidfd = pidfd;
    ev_io_init(&p->exit, on_exit_ready, pidfd, EV_READ);
    ev_io_start(NH_LOOP, &p->exit);
    ev_unref(NH_LOOP);
    return 0;

fail:
    *errnum = errno;
    if (!strcmp(what, "chdir"))
        snprintf(err, errlen, "chdir %s", o->cwd);
    else if (!strcmp(what, "fork/exec"))
        snprintf(err, errlen, "\"%s\"", o->argv[0]);
    else
        snprintf(err, errlen, "%s", what);
    if (pid > 0) {   /* started, but we cannot watch it: do not leave it running */
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    }
    if (env && env != o->envp)
        free(env);
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0) close(outp[i]);
        if (repp[i] >= 0) close(repp[i]);
    }
    return -1;
}

int nh_proc_signal(nh_proc *p, int sig)
{
    if (p->pid <= 0 || p->reaped) {
        errno = ESRCH;
        return -1;
    }
    /* The leader is not reaped before nh_proc_free (nh_proc_poll): the PID
     * is still ours, and so is the group of that id. */
    if (kill(-p->pid, sig) == 0)
        return 0;
    if (errno == ESRCH && kill(p->pid, sig) == 0)
        return 0;   /* it left the group itself (setsid, setpgid) */
    return -1;
}

void nh_proc_free(nh_proc *p)
{
    if (p->pid > 0 && !p->reaped) {   /* the group and a leader still running are killed; then reaped */
        kill(-p->pid, SIGKILL);
        if (!p->exited)
            kill(p->pid, SIGKILL);
        int st = 0;
        pid_t r;
        while ((r = waitpid(p->pid, &st, 0)) < 0 && errno == EINTR) {}
        if (!p->exited && r == p->pid) {   /* how it ended is still worth telling */
            if (WIFEXITED(st))
                p->code = WEXITSTATUS(st);
            else if (WIFSIGNALED(st))
                p->signal = WTERMSIG(st);
        }
        p->exited = 1;
        p->reaped = 1;   /* from now on its PID may be another process's */
    }
    watch_stop(&p->out);
    if (ev_is_active(&p->exit)) {
        ev_ref(NH_LOOP);
        ev_io_stop(NH_LOOP, &p->exit);
    }
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    p->out_open = 0;
    nh_queue_wake_all(&p->waiters, NH_WAKE_CLOSED);
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}
