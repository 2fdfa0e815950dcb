/* sysc: make one system call and say what happened, for the seccomp tests.
 *
 *   sysc [-n NAME] [-t] [-s] [-p] NR [ARG...]
 *
 * Calls syscall(NR, ARG...) and prints "<return value> <errno>" (errno 0 on
 * success).  An ARG is a number (decimal, 0x hex or 0 octal, up to 64 bits)
 * or s:TEXT for a pointer to TEXT.
 *   -n NAME  set this process's name (comm) first, to find its audit record
 *   -t       make the call from a second thread; the first then prints "main alive"
 *   -s       catch SIGSYS and print "SIGSYS <syscall nr>" from the handler
 *   -p       make the call in a child this process traces; print "trace <msg>"
 *            when the tracer sees PTRACE_EVENT_SECCOMP (SCMP_ACT_TRACE's datum)
 * Built statically by the tests (tests/test_seccomp.py) and run in containers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long nr;
static unsigned long long args[6];

static void call(void)
{
    errno = 0;
    long r = syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
    printf("%ld %d\n", r, r < 0 ? errno : 0);
    fflush(stdout);
}

static void *thread_main(void *unused)
{
    call();
    return NULL;
}

static void on_sigsys(int sig, siginfo_t *info, void *ctx)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "SIGSYS %d\n", info->si_syscall);
    write(1, buf, (size_t)n);
    _exit(0);
}

static int traced(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        call();
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
    ptrace(PTRACE_CONT, pid, 0, 0);
    while (waitpid(pid, &status, 0) == pid && !WIFEXITED(status) && !WIFSIGNALED(status)) {
        if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
            unsigned long msg = 0;
            ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
            printf("trace %lu\n", msg);
            fflush(stdout);
        }
        ptrace(PTRACE_CONT, pid, 0, 0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int opt, in_thread = 0, catch_sigsys = 0, trace = 0;
    while ((opt = getopt(argc, argv, "+n:tsp")) != -1) {
        switch (opt) {
        case 'n': prctl(PR_SET_NAME, optarg, 0, 0, 0); break;
        case 't': in_thread = 1; break;
        case 's': catch_sigsys = 1; break;
        case 'p': trace = 1; break;
        default: return 2;
        }
    }
    if (optind >= argc || argc - optind > 7) {
        fprintf(stderr, "usage: sysc [-n NAME] [-t] [-s] [-p] NR [ARG...]\n");
        return 2;
    }
    nr = strtol(argv[optind], NULL, 0);
    for (int i = optind + 1; i < argc; i++) {
        const char *a = argv[i];
        args[i - optind - 1] = strncmp(a, "s:", 2) == 0 ? (unsigned long long)(a + 2)
                                                        : strtoull(a, NULL, 0);
    }
    if (catch_sigsys) {
        struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
        sigaction(SIGSYS, &sa, NULL);
    }
    if (trace)
        return traced();
    if (in_thread) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, NULL);
        pthread_join(t, NULL);
        printf("main alive\n");
        return 0;
    }
    call();
    return 0;
}
