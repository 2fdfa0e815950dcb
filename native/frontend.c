/* minioci's front end: the `minioci` command.
 *
 * A static executable that starts in a fraction of a millisecond.  When a
 * server (`minioci serve`, minioci/server.py) listens on the state root's
 * socket, the front end sends it the request (argv, environment, working
 * directory, umask, stdio and preserved fds) and the server's worker runs the
 * command, warm; the front end relays what only this process can do: its exit
 * status, the signals it gets, and, for the commands that start a process,
 * being that process's parent (engines make themselves subreapers and expect
 * the container to be reparented to them when the runtime exits).
 *
 * When no server answers, or it is of another build, or anything about the
 * request is unusual, the front end runs the direct path: Python, exactly as
 * the shell launcher did (and `--debug` says why, once).  Nothing is ever
 * done twice: the worker waits for BEGIN, which is only sent once the front
 * end has committed to the served path.  The protocol: minioci/wire.py.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"
#include "wire.h"

#ifndef MO_BUILD_ID
#define MO_BUILD_ID "unknown"
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define CONNECT_TIMEOUT_MS 1000   /* a server whose backlog is full */
#define ANSWER_TIMEOUT_MS 2000    /* a server that accepted but is hung */

extern char **environ;

/* The direct path: Python without `site` (-I -S), as bin/minioci ran it. */
static const char LAUNCHER[] =
    "import sys\n"
    "bin = sys.argv.pop(1)\n"
    "sys.path.insert(0, \"%s/../lib/python%d.%d/site-packages\" % (bin, *sys.version_info[:2]))\n"
    "try:\n"
    "    from minioci.cli import run\n"
    "except ImportError:          # not laid out like a venv: let site find it\n"
    "    import site\n"
    "    site.main()\n"
    "    from minioci.cli import run\n"
    "run()\n";

/* The signals `run` and `exec` pass on (parent.FORWARDED_SIGNALS); before a
 * command has a process of its own, they go to the worker, so the command
 * sees them as the direct path would. */
static const int FORWARDED[] = { SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGWINCH };
#define NFORWARDED (int)(sizeof FORWARDED / sizeof FORWARDED[0])

static struct {
    int argc;
    char **argv;
    const char *root;
    const char *log;
    int log_json;
    int debug;
    const char *command;      /* the first argument after the global flags, or NULL */
    int preserve_fds;
    long long t_start, t_connect, t_sent;
    int conn;
    pid_t worker;
    int worker_pidfd;
    int sigpipe[2];
    int foreground;           /* signals are the container's (FOREGROUND) */
    int attached;             /* ... and it runs (ATTACH) */
    int pending[64];
    int npending;
} F = { .root = "/run/minioci", .conn = -1, .worker_pidfd = -1, .sigpipe = { -1, -1 } };

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* When this process started, as minioci/__init__.py reckons it: now minus
 * the CPU time used and the time spent waiting for a CPU. */
static long long process_start(void)
{
    long long t = now_ns();
    struct timespec cpu;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0)
        t -= (long long)cpu.tv_sec * 1000000000LL + cpu.tv_nsec;
    int fd = open("/proc/self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[128];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            char *p = strchr(buf, ' ');
            if (p)
                t -= strtoll(p + 1, NULL, 10);
        }
    }
    return t;
}

/* ---- messages for the user ------------------------------------------------ */

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* A debug line where minioci/log.py puts one: the --log file in its format,
 * else stderr.  Only with --debug. */
__attribute__((format(printf, 1, 2)))
static void debug(const char *fmt, ...)
{
    char msg[1024], line[2300], when[64];
    va_list ap;
    if (!F.debug)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!F.log) {
        snprintf(line, sizeof line, "minioci: debug: %s\n", msg);
        write_all(2, line, strlen(line));
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%09ldZ", ts.tv_nsec);
    char esc[2100];
    size_t j = 0;
    for (const char *p = msg; *p && j + 7 < sizeof esc; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            esc[j++] = '\\';
            esc[j++] = (char)c;
        } else if (c < 0x20) {
            j += (size_t)snprintf(esc + j, sizeof esc - j, "\\u%04x", c);
        } else {
            esc[j++] = (char)c;
        }
    }
    esc[j] = '\0';
    if (F.log_json)
        snprintf(line, sizeof line, "{\"level\":\"debug\",\"msg\":\"%s\",\"time\":\"%s\"}\n", esc, when);
    else
        snprintf(line, sizeof line, "time=\"%s\" level=debug msg=\"%s\"\n", when, esc);
    int fd = open(F.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        write_all(fd, line, strlen(line));
        close(fd);
    }
}

/* ---- the command line: only what the front end needs ---------------------- */

static int flag_is(const char *tok, const char *name, const char **value)
{
    const char *p = tok;
    while (*p == '-')
        p++;
    if (p == tok)
        return 0;
    size_t n = strlen(name);
    if (strncmp(p, name, n) != 0)
        return 0;
    if (p[n] == '=') {
        *value = p + n + 1;
        return 1;
    }
    if (p[n] == '\0') {
        *value = NULL;
        return 1;
    }
    return 0;
}

static int truthy(const char *v)
{
    return !v || !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes");
}

/* The global flags (cli.GLOBAL_FLAGS), the command, --preserve-fds. */
static void parse_args(void)
{
    static const char *const with_value[] = { "root", "log", "log-format", "rootless", "criu" };
    int i = 1;
    while (i < F.argc && F.argv[i][0] == '-') {
        const char *tok = F.argv[i++], *v = NULL;
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
            if (flag_is(tok, with_value[k], &v)) {
                known = 1;
                if (!v && i < F.argc)
                    v = F.argv[i++];
                if (k == 0 && v)
                    F.root = v;
                else if (k == 1)
                    F.log = v;
                else if (k == 2)
                    F.log_json = v && !strcmp(v, "json");
                break;
            }
        }
        if (!known && flag_is(tok, "debug", &v))
            F.debug = truthy(v);
    }
    if (i >= F.argc)
        return;
    F.command = F.argv[i];
    for (i++; i < F.argc && strcmp(F.argv[i], "--"); i++) {
        const char *v = NULL;
        if (flag_is(F.argv[i], "preserve-fds", &v)) {
            if (!v && i + 1 < F.argc)
                v = F.argv[++i];
            if (v)
                F.preserve_fds = atoi(v);
        }
    }
}

/* ---- the direct path ------------------------------------------------------- */

__attribute__((noreturn))
static void run_direct(const char *why)
{
    char exe[PATH_MAX], python[PATH_MAX + 16];
    if (why)
        debug("direct path: %s", why);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char **args = calloc((size_t)F.argc + 8, sizeof *args);
    if (!args) {
        perror("minioci");
        _exit(1);
    }
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(python, sizeof python, "%s/python3", exe);
        if (access(python, X_OK) == 0) {
            int k = 0;
            args[k++] = python;
            args[k++] = "-I";
            args[k++] = "-S";
            args[k++] = "-c";
            args[k++] = (char *)LAUNCHER;
            args[k++] = exe;
            for (int i = 1; i < F.argc; i++)
                args[k++] = F.argv[i];
            execv(python, args);
        }
    }
    /* Not installed in a venv's bin/: whatever python3 finds minioci. */
    int k = 0;
    args[k++] = "python3";
    args[k++] = "-m";
    args[k++] = "minioci.cli";
    for (int i = 1; i < F.argc; i++)
        args[k++] = F.argv[i];
    execvp("python3", args);
    fprintf(stderr, "minioci: cannot run python3: %s\n", strerror(errno));
    _exit(127);
}

/* ---- messages -------------------------------------------------------------- */

static int send_msg(int sock, unsigned int type, const void *payload, size_t len, const int *fds, int nfds)
{
    struct iovec iov[2] = { { &type, sizeof type }, { (void *)payload, len } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
    char cbuf[CMSG_SPACE(sizeof(int) * MO_WIRE_MAX_FDS)];
    if (nfds > 0) {
        memset(cbuf, 0, CMSG_SPACE(sizeof(int) * (size_t)nfds));
        msg.msg_control = cbuf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

struct msg {
    unsigned int type;
    char *data;           /* the payload */
    size_t len;
    int fds[MO_WIRE_MAX_FDS];
    int nfds;
};

static char packet[MO_WIRE_MAX_PACKET];

/* The next message; -errno, or 0 on EOF (the other side is gone). */
static int recv_msg(int sock, struct msg *m)
{
    char cbuf[CMSG_SPACE(sizeof(int) * MO_WIRE_MAX_FDS)];
    struct iovec iov = { packet, sizeof packet };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    m->nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(m->fds + m->nfds, CMSG_DATA(c), sizeof(int) * (size_t)k);
            m->nfds += k;
        }
    if (n == 0)
        return 0;
    if (n < (ssize_t)sizeof m->type || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        return -EBADMSG;
    memcpy(&m->type, packet, sizeof m->type);
    m->data = packet + sizeof m->type;
    m->len = (size_t)n - sizeof m->type;
    return 1;
}

static void close_fds(struct msg *m)
{
    for (int i = 0; i < m->nfds; i++)
        close(m->fds[i]);
    m->nfds = 0;
}

/* ---- the request ----------------------------------------------------------- */

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* Build and send REQUEST.  0, or an error with `why` filled in. */
static int send_request(char *why, size_t whylen)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';              /* the worker enters the directory through its fd */
    int fds[MO_WIRE_MAX_FDS], numbers[MO_WIRE_MAX_FDS], nfds = 0;
    int dot = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dot < 0) {
        snprintf(why, whylen, "cannot open the working directory: %s", strerror(errno));
        return -1;
    }
    fds[nfds] = dot;
    numbers[nfds++] = -1;
    int extra = F.preserve_fds;
    const char *listen = getenv("LISTEN_FDS");
    if (listen && atoi(listen) > extra)
        extra = atoi(listen);
    for (int fd = 0; fd < 3 + extra && nfds < MO_WIRE_MAX_FDS; fd++)
        if (fd_is_open(fd)) {
            fds[nfds] = fd;
            numbers[nfds++] = fd;
        }

    int envc = 0;
    size_t strings = strlen(MO_BUILD_ID) + 1 + strlen(cwd) + 1;
    for (int i = 0; i < F.argc; i++)
        strings += strlen(F.argv[i]) + 1;
    for (char **e = environ; e && *e; e++, envc++)
        strings += strlen(*e) + 1;
    struct mo_wire_request head = {
        .version = MO_WIRE_VERSION, .t_start = F.t_start, .t_connect = F.t_connect,
        .umask = 0, .nfds = (unsigned int)nfds, .argc = (unsigned int)F.argc, .envc = (unsigned int)envc,
    };
    mode_t mask = umask(0);
    umask(mask);
    head.umask = mask;
    size_t len = sizeof head + sizeof(int) * (size_t)nfds + strings;
    if (len + sizeof(unsigned int) > MO_WIRE_MAX_PACKET) {
        close(dot);
        snprintf(why, whylen, "the request (%zu bytes of arguments and environment) is too large", len);
        return -1;
    }
    char *p = packet;
    memcpy(p + sizeof head, numbers, sizeof(int) * (size_t)nfds);
    char *s = p + sizeof head + sizeof(int) * (size_t)nfds;
#define PUT(str) do { size_t l_ = strlen(str) + 1; memcpy(s, str, l_); s += l_; } while (0)
    PUT(MO_BUILD_ID);
    PUT(cwd);
    for (int i = 0; i < F.argc; i++)
        PUT(F.argv[i]);
    for (char **e = environ; e && *e; e++)
        PUT(*e);
#undef PUT
    /* The kernel takes a packet up to the socket's send buffer: make room
     * for a large environment (root may exceed wmem_max). */
    if (len + 64 > 200000) {
        int size = (int)(len + 65536);
        if (setsockopt(F.conn, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
            setsockopt(F.conn, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
    F.t_sent = now_ns();
    head.t_sent = F.t_sent;
    memcpy(p, &head, sizeof head);
    int rc = send_msg(F.conn, MO_WIRE_REQUEST, p, len, fds, nfds);
    close(dot);
    if (rc < 0) {
        snprintf(why, whylen, "cannot send the request: %s", strerror(-rc));
        return -1;
    }
    return 0;
}

/* Connect, send the request, and wait for the worker to start.  0: the
 * request is served from now on; -1: take the direct path (`why`). */
static int start_served(char *why, size_t whylen)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/%s", F.root, MO_WIRE_SOCKET_NAME);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path) {
        snprintf(why, whylen, "the socket path under %s is too long for a unix socket", F.root);
        return -1;
    }
    F.t_connect = now_ns();
    F.conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (F.conn < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    /* connect() on a unix socket waits while the server's backlog is full,
     * for as long as the send timeout says. */
    struct timeval tv = { CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000 };
    setsockopt(F.conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(F.conn, (struct sockaddr *)&addr, sizeof addr) < 0) {
        snprintf(why, whylen, "no server on %s (%s)", addr.sun_path,
                 errno == EAGAIN ? "it did not accept within the timeout" : strerror(errno));
        return -1;
    }
    if (send_request(why, whylen) < 0)
        return -1;
    struct pollfd pfd = { F.conn, POLLIN, 0 };
    int r;
    do {
        r = poll(&pfd, 1, ANSWER_TIMEOUT_MS);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        snprintf(why, whylen, "the server on %s did not answer within %d ms", addr.sun_path, ANSWER_TIMEOUT_MS);
        return -1;
    }
    struct msg m;
    r = recv_msg(F.conn, &m);
    if (r <= 0) {
        snprintf(why, whylen, "the server on %s closed the connection (%s)", addr.sun_path,
                 r == 0 ? "no answer" : strerror(-r));
        return -1;
    }
    close_fds(&m);
    if (m.type == MO_WIRE_REFUSED) {
        snprintf(why, whylen, "the server refused: %.*s", (int)m.len, m.data);
        return -1;
    }
    if (m.type != MO_WIRE_STARTED || m.len < sizeof(int)) {
        snprintf(why, whylen, m.type == MO_WIRE_WORKER_EXIT ? "the server's worker ended before it started"
                 : "the server's worker did not start (message %u)", m.type);
        return -1;
    }
    memcpy(&F.worker, m.data, sizeof(int));
    F.worker_pidfd = (int)syscall(SYS_pidfd_open, F.worker, 0);
    /* Past this point the worker runs the command: no turning back. */
    if (send_msg(F.conn, MO_WIRE_BEGIN, NULL, 0, NULL, 0) < 0) {
        snprintf(why, whylen, "the server's worker went away before it began");
        return -1;
    }
    return 0;
}

/* ---- signals ---------------------------------------------------------------- */

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(F.sigpipe[1], &b, 1) < 0) {
        /* full: the signal is dropped, as a coalesced one would be */
    }
    errno = saved;
}

static void catch_signals(void)
{
    if (pipe2(F.sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NFORWARDED; i++)
        sigaction(FORWARDED[i], &sa, NULL);
}

static void to_worker(int sig)
{
    if (F.worker_pidfd >= 0)
        syscall(SYS_pidfd_send_signal, F.worker_pidfd, sig, NULL, 0);
    else
        kill(F.worker, sig);
}

static void forwarded(int sig);

static void drain_signals(void)
{
    unsigned char buf[64];
    ssize_t n;
    while ((n = read(F.sigpipe[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            forwarded(buf[i]);
}

/* The worker ended without EXIT: end as it did, as a direct-path runtime
 * killed the same way would have. */
__attribute__((noreturn))
static void end_like(int status)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

/* ---- the container's parent (the commands that start a process) ----------- */

/* The child lives here: clone, reports, the terminal and reaping are this
 * process's; the worker decides everything and drives it (remote.Child).
 * mo_spawn and friends come with the native restructure (a plan as bytes,
 * the child exec'ing a sealed copy of this executable); until they do, the
 * commands that start a process take the direct path. */
static struct {
    pid_t pid;                /* the container's process, once spawned */
} P;

static int parent_can_serve(const char *command)
{
    return strcmp(command, "run") && strcmp(command, "create") && strcmp(command, "exec");
}

static void forwarded(int sig)
{
    if (!F.foreground) {
        to_worker(sig);
    } else if (F.attached && P.pid > 0) {
        kill(P.pid, sig);
    } else if (F.npending < (int)(sizeof F.pending / sizeof F.pending[0])) {
        F.pending[F.npending++] = sig;     /* before the process exists */
    }
}

static int reply_int(unsigned int type, int value)
{
    return send_msg(F.conn, type, &value, sizeof value, NULL, 0);
}

/* A message of the spawning protocol: 0 handled, -1 not one of them. */
static int parent_message(struct msg *m)
{
    switch (m->type) {
    case MO_WIRE_FOREGROUND:
        /* Orphans of a container without its own PID namespace come to us,
         * and are reaped (as `runc run` does). */
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        F.foreground = 1;
        return 0;
    case MO_WIRE_ATTACH:
        F.attached = 1;
        for (int i = 0; i < F.npending; i++)
            forwarded(F.pending[i]);
        F.npending = 0;
        return 0;
    case MO_WIRE_SPAWN_FDS:
    case MO_WIRE_SPAWN:
    case MO_WIRE_GO:
    case MO_WIRE_LISTENER_STATE:
    case MO_WIRE_WAIT_REPORT:
    case MO_WIRE_KILL_REAP:
    case MO_WIRE_SUPERVISE:
        close_fds(m);
        if (m->type == MO_WIRE_SPAWN) {
            struct { int rc, pid; long long t_clone; } __attribute__((packed)) no = { -ENOSYS, 0, 0 };
            send_msg(F.conn, MO_WIRE_SPAWNED, &no, sizeof no, NULL, 0);
        } else {
            reply_int(MO_WIRE_RESULT, -ENOSYS);
        }
        return 0;
    case MO_WIRE_RELEASE:
        return 0;
    }
    return -1;
}

static void parent_done(void)
{
}

/* ---- serving ---------------------------------------------------------------- */

static int serve_loop(void)
{
    catch_signals();
    for (;;) {
        struct pollfd pfd[2] = { { F.conn, POLLIN, 0 }, { F.sigpipe[0], POLLIN, 0 } };
        int r = poll(pfd, F.sigpipe[0] >= 0 ? 2 : 1, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (pfd[1].revents & POLLIN)
            drain_signals();
        if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        struct msg m;
        r = recv_msg(F.conn, &m);
        if (r <= 0) {
            fprintf(stderr, "minioci: the server's worker ended without an answer (%s)\n",
                    r == 0 ? "connection closed" : strerror(-r));
            return 1;
        }
        int status;
        switch (m.type) {
        case MO_WIRE_EXIT:
            close_fds(&m);
            if (m.len < sizeof(int))
                return 1;
            memcpy(&status, m.data, sizeof status);
            parent_done();
            return status;
        case MO_WIRE_WORKER_EXIT:
            close_fds(&m);
            memcpy(&status, m.data, m.len >= sizeof(int) ? sizeof status : 0);
            parent_done();
            end_like(m.len >= sizeof(int) ? status : 1 << 8);
        default:
            if (parent_message(&m) < 0) {
                close_fds(&m);
                fprintf(stderr, "minioci: unexpected message %u from the server's worker\n", m.type);
                return 1;
            }
        }
    }
}

int mo_frontend_main(int argc, char **argv)
{
    F.t_start = process_start();
    F.argc = argc;
    F.argv = argv;
    parse_args();
    const char *mode = getenv("MINIOCI_SERVE");
    int require = mode && !strcmp(mode, "always");
    if (mode && (!strcmp(mode, "never") || !strcmp(mode, "0")))
        run_direct("MINIOCI_SERVE=never");
    if (F.command && !strcmp(F.command, "serve"))
        run_direct(NULL);                 /* the server itself, and --stop, --status */
    if (F.command && !parent_can_serve(F.command))
        run_direct("the front end cannot be the parent of this command's process yet");
    char why[512];
    if (start_served(why, sizeof why) < 0) {
        if (require) {
            fprintf(stderr, "minioci: MINIOCI_SERVE=always: %s\n", why);
            return 1;
        }
        if (F.conn >= 0)
            close(F.conn);
        run_direct(why);
    }
    return serve_loop();
}
