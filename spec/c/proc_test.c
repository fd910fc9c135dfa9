/* Child processes: output drained on the loop, exit seen through the pidfd,
 * the group signalled, and nothing of ours leaked into the child. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../../core/proc.h"
#include "check.h"

extern char **environ;

/* Run the loop until the child exited and its output ended (5 s at most). */
static int settle(nh_proc *p)
{
    double deadline = nh_now() + 5;
    while ((!p->exited || p->out_open) && nh_now() < deadline)
        ev_run(NH_LOOP, EVRUN_ONCE | EVRUN_NOWAIT), usleep(1000);
    return p->exited && !p->out_open;
}

static int spawn(nh_proc *p, char *const *argv, size_t keep)
{
    nh_proc_opts o = {.argv = argv, .envp = environ, .keep = keep};
    int errnum;
    char err[256];
    return nh_proc_spawn(p, &o, &errnum, err, sizeof err);
}

static void test_output_and_exit_code(void)
{
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 7", NULL};
    nh_proc p;
    CHECK(spawn(&p, argv, 1 << 20) == 0);
    CHECK(settle(&p));
    CHECK(p.code == 7 && p.signal == 0);
    CHECK(p.len == 8 && memcmp(p.buf, "out\nerr\n", 8) == 0);
    CHECK(p.version >= 2);
    nh_proc_free(&p);
}

static void test_not_found(void)
{
    char *argv[] = {"netharness-no-such-program", NULL};
    nh_proc_opts o = {.argv = argv, .envp = environ, .keep = 1};
    nh_proc p;
    int errnum;
    char err[256];
    CHECK(nh_proc_spawn(&p, &o, &errnum, err, sizeof err) == -1);
    CHECK(errnum == ENOENT);
    CHECK(strcmp(err, "\"netharness-no-such-program\"") == 0);
}

static void test_keep_limit_and_group_signal(void)
{
    /* More output than kept: counted, and the child is not blocked. */
    char *flood[] = {"head", "-c", "300000", "/dev/zero", NULL};
    nh_proc p;
    CHECK(spawn(&p, flood, 1000) == 0);
    CHECK(settle(&p));
    CHECK(p.len == 1000 && p.dropped == 299000 && p.code == 0);
    nh_proc_free(&p);

    /* A signal to the group reaches the shell's own child too. */
    char *argv[] = {"sh", "-c", "sleep 60 & wait", NULL};
    CHECK(spawn(&p, argv, 100) == 0);
    usleep(50000);
    CHECK(nh_proc_signal(&p, SIGTERM) == 0);
    CHECK(settle(&p));   /* the output pipe ends only when sleep is gone too */
    CHECK(p.signal == SIGTERM || p.code == 128 + SIGTERM);
    nh_proc_free(&p);
    CHECK(nh_proc_signal(&p, SIGTERM) == -1 && errno == ESRCH);
}

void proc_tests(void)
{
    /* libev's default loop reaps children itself; netharness turns it off. */
    signal(SIGCHLD, SIG_DFL);
    run(test_output_and_exit_code);
    run(test_not_found);
    run(test_keep_limit_and_group_signal);
}
