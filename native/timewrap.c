/* minioci-timewrap: times every call an engine makes to its OCI runtime
 * (`minioci bench engine`, minioci/bench/engine.py).
 *
 * A copy of it is the runtime path the engine is given, DIR/NAME, in a
 * directory of its own that holds
 *   DIR/real       a symlink to the runtime it stands for;
 *   DIR/env        lines VAR=value added to the runtime's environment (the
 *                  engines pass their own: conmon and containerd's shim drop
 *                  the caller's), read whole, may be empty;
 *   DIR/calls.log  where it appends one line per call:
 *                  START_NS END_NS STATUS PID\targv[1]\targv[2]...\n
 *                  (CLOCK_MONOTONIC; STATUS the exit status, or 128+signal;
 *                  a tab or newline inside an argument becomes a space).
 * It is the same program, doing the same work, for every runtime: it reads
 * the two files, forks (vfork), execs the runtime with the arguments it got,
 * waits, appends its line with one write() (O_APPEND: lines never mix) and
 * exits as the runtime did.  The runtime's processes that outlive it (a
 * container's init after `create`) go to the engine's subreaper as they
 * would without it.  START_NS is taken at its first line and END_NS after
 * the runtime was reaped, so a call's time is the runtime's whole life plus
 * one fork; what the wrapper adds around that (its own exec, the files, the
 * line) is measured by the benchmark and reported as its overhead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 16384
#define ENV_MAX_BYTES 4096

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "minioci-timewrap: %s %s: %s\n", what, path, strerror(errno));
    _exit(127);
}

/* DIR/name into buf (DIR from /proc/self/exe) */
static void in_dir(char *buf, size_t size, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size) {
        errno = ENAMETOOLONG;
        die("path", dir);
    }
}

static size_t append(char *buf, size_t at, const char *text)
{
    for (; *text && at < LINE_MAX_BYTES - 2; text++)
        buf[at++] = (*text == '\t' || *text == '\n') ? ' ' : *text;
    return at;
}

int main(int argc, char **argv)
{
    long long start = now_ns();
    char dir[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
    if (n < 0)
        die("readlink", "/proc/self/exe");
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';

    in_dir(path, sizeof(path), dir, "real");
    n = readlink(path, real, sizeof(real) - 1);
    if (n < 0)
        die("readlink", path);
    real[n] = '\0';

    /* the environment lines: kept in a static buffer, which putenv() uses */
    static char env[ENV_MAX_BYTES];
    in_dir(path, sizeof(path), dir, "env");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    n = read(fd, env, sizeof(env) - 1);
    if (n < 0)
        die("read", path);
    close(fd);
    env[n] = '\0';
    for (char *line = env, *next; *line; line = next) {
        next = strchrnul(line, '\n');
        if (*next)
            *next++ = '\0';
        if (strchr(line, '='))
            putenv(line);
    }

    in_dir(path, sizeof(path), dir, "calls.log");
    int log = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (log < 0)
        die("open", path);

    argv[0] = real;
    pid_t pid = vfork();
    if (pid < 0)
        die("vfork", real);
    if (pid == 0) {
        execv(real, argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid", real);
    long long end = now_ns();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

    static char line[LINE_MAX_BYTES];
    size_t at = (size_t)snprintf(line, sizeof(line), "%lld %lld %d %d", start, end, code, (int)pid);
    for (int i = 1; i < argc && at < LINE_MAX_BYTES - 2; i++) {
        line[at++] = '\t';
        at = append(line, at, argv[i]);
    }
    line[at++] = '\n';
    if (write(log, line, at) < 0)
        die("write", path);

    if (WIFSIGNALED(status)) {
        signal(WTERMSIG(status), SIG_DFL);
        kill(getpid(), WTERMSIG(status));
    }
    return code;
}
