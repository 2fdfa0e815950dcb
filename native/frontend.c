/* minioci's front end: the `minioci` command.
 *
 * A static executable that starts in a fraction of a millisecond.  When the
 * caller's own server (`minioci serve`, minioci/server.py) listens on the
 * caller's socket (server_socket), the front end sends it the request (argv,
 * environment, working directory, umask, stdio and preserved fds) and the
 * server's worker runs the command, warm; the front end relays what only
 * this process can do: its exit status, the signals it gets, and, for the
 * commands that start a process, being that process's parent (engines make
 * themselves subreapers and expect the container to be reparented to them
 * when the runtime exits).  It trusts no server but the caller's own
 * (open_server_dir, peer_is_me: docs/security.md).
 *
 * When no server answers, or it is of another build, or anything about the
 * request is unusual, the front end runs the direct path: Python, exactly as
 * the shell launcher did (and `--debug` says why, once).  Nothing is ever
 * done twice: a worker claims the request (one byte in a pipe) before it does
 * anything, and the front end falls back only when it took the claim itself.
 * The protocol: minioci/wire.py.
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <linux/openat2.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"
#include "native.h"
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
#define ANSWER_TIMEOUT_MS 5000    /* a server that accepted but is hung (or one busy forking a burst) */

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
    const char *log;
    int log_json;
    int debug;
    const char *command;      /* the first argument after the global flags, or NULL */
    int extra_fds;            /* fds 3 .. 3+n-1 are the caller's: --preserve-fds, LISTEN_FDS */
    int fd_window;            /* first of MO_WIRE_FD_WINDOW free numbers for a plan's fds, or -1 */
    int own_floor;            /* our own fds go at or above this */
    int claim;                /* the claim's read end (see wire.py), or -1 */
    char server[PATH_MAX];    /* where the caller's server listens (server_socket) */
    const char *server_name;  /* ... its last component */
    int server_dir;           /* ... its directory, checked (open_server_dir), or -1 */
    long long t_start, t_connect, t_sent;
    int conn;
    pid_t worker;
    int worker_pidfd;
    int resident;             /* the worker lives on after this request: it is never signalled */
    int sigpipe[2];
    int foreground;           /* signals are the container's (FOREGROUND) */
    int attached;             /* ... and it runs (ATTACH) */
    int pending[64];
    int npending;
} F = { .conn = -1, .worker_pidfd = -1, .sigpipe = { -1, -1 }, .fd_window = -1,
        .claim = -1, .server_dir = -1 };

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
                if (k == 1)
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
            if (v && atoi(v) > F.extra_fds && atoi(v) < MO_WIRE_MAX_FDS - 8)
                F.extra_fds = atoi(v);
        }
    }
}

/* fd moved to a number past the caller's (stdio and its extra fds) and the
 * window kept free for a plan's fds, so that it is neither sent as one of
 * them nor passes into a container as one; -1 if it cannot be. */
static int above_floor(int fd)
{
    if (fd < 0 || fd >= F.own_floor)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, F.own_floor);
    close(fd);
    return moved;
}

/* Where our fds and a plan's go: above every fd we were given, a window of
 * MO_WIRE_FD_WINDOW free numbers for the plan (so that the worker can name
 * them in the plan it sends: no round trip), then ours. */
static void place_fds(void)
{
    int highest = 2 + F.extra_fds;
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        char buf[4096];
        long n;
        while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0)
            for (long off = 0; off < n;) {
                struct { unsigned long long ino; long long off; unsigned short reclen; unsigned char type;
                         char name[]; } *d = (void *)(buf + off);
                int fd = atoi(d->name);
                if (d->name[0] != '.' && fd != dir && fd > highest)
                    highest = fd;
                off += d->reclen;
            }
        close(dir);
    }
    struct rlimit nofile;
    F.own_floor = 3 + F.extra_fds;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && (rlim_t)highest + 1 + MO_WIRE_FD_WINDOW + 16 < nofile.rlim_cur) {
        F.fd_window = highest + 1;
        F.own_floor = F.fd_window + MO_WIRE_FD_WINDOW;
    }
}

/* Take the claim: 1 if the request is ours again (no worker has it, none
 * will: the direct path may run it), 0 if a worker has it. */
static int take_claim(void)
{
    char c;
    return F.claim >= 0 && read(F.claim, &c, 1) == 1;
}

/* ---- whom the front end trusts ---------------------------------------------- */

/* The uid this process runs as on the host: its euid, or in a user namespace
 * (its uid_map is not the identity of the whole range) the id its euid maps
 * to (minioci/rootless.py, host_uid, is the twin); *in_userns says which. */
static unsigned host_uid(int *in_userns)
{
    unsigned uid = (unsigned)geteuid(), inside, outside, count, found = uid;
    int lines = 0, identity = 0;
    *in_userns = 0;
    FILE *f = fopen("/proc/self/uid_map", "re");
    if (!f)
        return uid;
    while (fscanf(f, "%u %u %u", &inside, &outside, &count) == 3) {
        lines++;
        identity = inside == 0 && outside == 0 && count == 4294967295u;
        if (uid >= inside && uid - inside < count)
            found = outside + (uid - inside);
    }
    fclose(f);
    if (lines == 1 && identity)
        return uid;
    *in_userns = 1;
    return found;
}

/* This caller's default state root (minioci/state.py, default_root, is the
 * twin): root's /run/minioci; a rootless caller's (a plain user, or root of
 * a user namespace someone else made, as rootless podman runs its runtime)
 * $XDG_RUNTIME_DIR/minioci, else /run/user/<its uid on the host>/minioci. */
static void default_root(char *buf, size_t len)
{
    unsigned uid = (unsigned)geteuid();
    int in_userns = 0;
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (uid == 0)
        uid = host_uid(&in_userns);
    if (uid == 0 && !in_userns)
        snprintf(buf, len, "/run/minioci");
    else if (runtime && runtime[0] == '/')
        snprintf(buf, len, "%s/minioci", runtime);
    else
        snprintf(buf, len, "/run/user/%u/minioci", uid);
}

/* Where this caller's server listens, whatever the state root (each request
 * names its own): $MINIOCI_SERVE_SOCKET (a test's own server), else
 * serve.sock in the default state root (wire.server_socket's twin). */
static void server_socket(void)
{
    const char *env = getenv("MINIOCI_SERVE_SOCKET");
    if (env && *env) {
        snprintf(F.server, sizeof F.server, "%s", env);
    } else {
        default_root(F.server, sizeof F.server - sizeof MO_WIRE_SOCKET_NAME - 1);
        strcat(F.server, "/" MO_WIRE_SOCKET_NAME);
    }
}

/* The directory holding the server's socket F.server, if a server there may
 * be trusted: reached without following any symlink (RESOLVE_NO_SYMLINKS:
 * none can be planted on the way), a directory of this caller's (its euid)
 * that nobody else can write in, as the direct path requires of a state
 * root, and holding a socket of this caller's.  Everything later goes
 * through this fd, so the directory checked is the one used.  Its O_PATH fd
 * (F.server_name the socket's name in it), or -1 and why not. */
static int open_server_dir(char *why, size_t whylen)
{
    struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                            .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
    unsigned me = (unsigned)geteuid();
    struct stat st;
    char dir[PATH_MAX] = ".";
    const char *slash = strrchr(F.server, '/');
    F.server_name = slash ? slash + 1 : F.server;
    if (slash)                                  /* "/serve.sock": "/" */
        snprintf(dir, sizeof dir, "%.*s", slash == F.server ? 1 : (int)(slash - F.server), F.server);
    int fd = above_floor((int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof how));
    if (fd < 0) {
        if (errno == ELOOP)
            snprintf(why, whylen, "the directory %s is reached through a symlink: not using a server there", dir);
        else
            snprintf(why, whylen, "no server on %s (%s)", F.server, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0)
        snprintf(why, whylen, "the directory %s: %s", dir, strerror(errno));
    else if (st.st_uid != me)
        snprintf(why, whylen, "the directory %s belongs to uid %u, not %u: not using a server there", dir,
                 (unsigned)st.st_uid, me);
    else if (st.st_mode & 022)
        snprintf(why, whylen, "the directory %s is writable by group or others (mode %o): not using a server there",
                 dir, (unsigned)(st.st_mode & 07777));
    else if (fstatat(fd, F.server_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        snprintf(why, whylen, "no server on %s (%s)", F.server, strerror(errno));
    else if (!S_ISSOCK(st.st_mode) || st.st_uid != me)
        snprintf(why, whylen, "no server on %s (not a socket of uid %u's)", F.server, me);
    else
        return fd;
    close(fd);
    return -1;
}

/* Whether the peer of a connected socket runs as this caller (SO_PEERCRED:
 * the listener's credentials, which only the kernel sets).  A server of
 * another uid is not this caller's: nothing is sent to it, nothing it says
 * is believed. */
static int peer_is_me(int sock, const char *path, char *why, size_t whylen)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        snprintf(why, whylen, "cannot tell who the server on %s is: %s", path, strerror(errno));
        return 0;
    }
    if (cred.uid != geteuid()) {
        snprintf(why, whylen, "the server on %s runs as uid %u, not as this caller (uid %u): not using it", path,
                 (unsigned)cred.uid, (unsigned)geteuid());
        return 0;
    }
    return 1;
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

/* A payload too large for a packet, in a sealed memfd (wire.h): fd or -errno. */
static int sealed_payload(const void *payload, size_t len)
{
    int fd = memfd_create("minioci-wire", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    for (size_t at = 0; at < len;) {
        ssize_t n = write(fd, (const char *)payload + at, len - at);
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            close(fd);
            return -err;
        }
        at += (size_t)n;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

static int send_msg(int sock, unsigned int type, const void *payload, size_t len, const int *fds, int nfds)
{
    int with_big[MO_WIRE_MAX_FDS], big = -1;
    if (len > MO_WIRE_INLINE_MAX) {
        if (nfds >= MO_WIRE_MAX_FDS)
            return -EMSGSIZE;
        big = sealed_payload(payload, len);
        if (big < 0)
            return big;
        memcpy(with_big, fds, sizeof(int) * (size_t)nfds);
        with_big[nfds++] = big;
        fds = with_big;
        type |= MO_WIRE_BIG;
        len = 0;
    }
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
    int err = n < 0 ? -errno : 0;
    if (big >= 0)
        close(big);
    return err;
}

struct msg {
    unsigned int type;
    char *data;           /* the payload */
    size_t len;
    int fds[MO_WIRE_MAX_FDS];
    int nfds;
};

static char packet[MO_WIRE_MAX_PACKET];

/* A MO_WIRE_BIG message's payload, read from its memfd into a buffer that
 * lasts until the next one: 0 or -errno. */
static int read_big(int fd, char **data, size_t *len)
{
    static char *buf;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size > MO_WIRE_MAX_BIG)
        return -EMSGSIZE;
    free(buf);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    for (size_t at = 0; at < (size_t)st.st_size;) {
        ssize_t n = pread(fd, buf + at, (size_t)st.st_size - at, (off_t)at);
        if (n <= 0)
            return n < 0 ? -errno : -EBADMSG;
        at += (size_t)n;
    }
    *data = buf;
    *len = (size_t)st.st_size;
    return 0;
}

/* The next message; -errno, or 0 on EOF (the other side is gone). */
static int recv_msg(int sock, struct msg *m)
{
    char cbuf[CMSG_SPACE(sizeof(int) * MO_WIRE_MAX_FDS)];
    struct iovec iov = { packet, sizeof packet };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    ssize_t n;
    /* ECONNRESET: the other end went away leaving something we sent unread
     * (a worker killed mid-exchange); it is reported once, before what was
     * queued for us (the server's WORKER_EXIT), which the next read gets. */
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && (errno == EINTR || errno == ECONNRESET));
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
    if (m->type & MO_WIRE_BIG) {
        if (m->len || m->nfds < 1)
            return -EBADMSG;
        int big = m->fds[--m->nfds];
        int r = read_big(big, &m->data, &m->len);
        close(big);
        if (r < 0)
            return r;
        m->type &= ~MO_WIRE_BIG;
    }
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
    int dot = above_floor(open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dot < 0) {
        snprintf(why, whylen, "cannot open the working directory: %s", strerror(errno));
        return -1;
    }
    fds[nfds] = dot;
    numbers[nfds++] = MO_WIRE_CWD_FD;
    int claim[2];
    if (pipe2(claim, O_CLOEXEC | O_NONBLOCK) < 0 || write(claim[1], "C", 1) != 1) {
        close(dot);
        snprintf(why, whylen, "cannot make the claim: %s", strerror(errno));
        return -1;
    }
    close(claim[1]);
    F.claim = above_floor(claim[0]);
    fds[nfds] = F.claim;
    numbers[nfds++] = MO_WIRE_CLAIM_FD;
    for (int fd = 0; fd < 3 + F.extra_fds && nfds < MO_WIRE_MAX_FDS; fd++)
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
        .umask = 0, .fd_window = F.fd_window, .nfds = (unsigned int)nfds, .argc = (unsigned int)F.argc,
        .envc = (unsigned int)envc,
    };
    mode_t mask = umask(0);
    umask(mask);
    head.umask = mask;
    size_t len = sizeof head + sizeof(int) * (size_t)nfds + strings;
    char *p = len <= sizeof packet ? packet : malloc(len);     /* a large one goes in a memfd */
    if (!p) {
        close(dot);
        snprintf(why, whylen, "the request (%zu bytes of arguments and environment): %s", len, strerror(errno));
        return -1;
    }
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
    F.t_sent = now_ns();
    head.t_sent = F.t_sent;
    memcpy(p, &head, sizeof head);
    int rc = send_msg(F.conn, MO_WIRE_REQUEST, p, len, fds, nfds);
    if (p != packet)
        free(p);
    close(dot);
    if (rc < 0) {
        snprintf(why, whylen, "cannot send the request: %s", strerror(-rc));
        return -1;
    }
    return 0;
}

__attribute__((noreturn)) static void end_like(int status);
static void drain_signals(void);
static void to_worker(int sig);
static void forwarded(int sig);
static void restore_signals(void);

/* Connect, send the request, and wait for the worker to start.  0: the
 * request is served from now on; -1: take the direct path (`why`). */
static int start_served(char *why, size_t whylen)
{
    /* Through the directory checked (open_server_dir), whatever its path. */
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    const char *path = F.server;
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", F.server_dir, F.server_name);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path) {
        snprintf(why, whylen, "the name of the socket %s is too long for a unix socket", path);
        return -1;
    }
    F.t_connect = now_ns();
    F.conn = above_floor(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (F.conn < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    /* connect() on a unix socket waits while the server's backlog is full,
     * for as long as the send timeout says. */
    struct timeval tv = { CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000 };
    setsockopt(F.conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int connected = connect(F.conn, (struct sockaddr *)&addr, sizeof addr);
    if (connected < 0)
        snprintf(why, whylen, "no server on %s (%s)", path,
                 errno == EAGAIN ? "it did not accept within the timeout" : strerror(errno));
    close(F.server_dir);
    F.server_dir = -1;
    /* Authenticated before a byte of the request leaves. */
    if (connected < 0 || !peer_is_me(F.conn, path, why, whylen))
        return -1;
    if (send_request(why, whylen) < 0)
        return -1;
    /* The worker's first message is STARTED, once it has claimed the
     * request.  Until then the request can be taken back (the claim). */
    long long deadline = now_ns() + ANSWER_TIMEOUT_MS * 1000000LL;
    for (;;) {
        struct pollfd pfd[2] = { { F.conn, POLLIN, 0 }, { F.sigpipe[0], POLLIN, 0 } };
        long long left = deadline - now_ns();
        int r = left > 0 ? poll(pfd, 2, (int)(left / 1000000) + 1) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0 && (pfd[1].revents & POLLIN))
            drain_signals();          /* held until a worker has the request */
        if (r > 0 && !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (r == 0) {
            deadline = now_ns() + ANSWER_TIMEOUT_MS * 1000000LL;
            if (take_claim()) {
                snprintf(why, whylen, "the server on %s did not answer within %d ms", path,
                         ANSWER_TIMEOUT_MS);
                return -1;
            }
            continue;                 /* a worker has it: its STARTED is on the way */
        }
        struct msg m;
        r = recv_msg(F.conn, &m);
        if (r > 0)
            close_fds(&m);
        if (r > 0 && m.type == MO_WIRE_REFUSED) {
            /* from the server, or a worker that ran nothing */
            snprintf(why, whylen, "the server refused: %.*s", (int)m.len, m.data);
            return -1;
        }
        if (r > 0 && m.type == MO_WIRE_STARTED && m.len >= sizeof(struct mo_wire_started)) {
            struct mo_wire_started started;
            memcpy(&started, m.data, sizeof started);
            F.worker = started.pid;
            F.resident = started.flags & MO_WIRE_RESIDENT;
            if (!F.resident)
                F.worker_pidfd = above_floor((int)syscall(SYS_pidfd_open, F.worker, 0));
            int held = F.npending;    /* what came before: the worker's now */
            F.npending = 0;
            for (int i = 0; i < held; i++)
                if (F.resident)
                    forwarded(F.pending[i]);
                else
                    to_worker(F.pending[i]);
            return 0;                 /* the worker has it: no turning back */
        }
        int status = 1 << 8;
        int told = r > 0 && m.type == MO_WIRE_WORKER_EXIT && m.len >= sizeof(int);
        if (told)
            memcpy(&status, m.data, sizeof status);
        if (take_claim()) {
            snprintf(why, whylen, "the server's worker ended before it claimed the request");
            return -1;
        }
        if (!told)                    /* claimed, then gone without a word: say so */
            fprintf(stderr, "minioci: the server's worker ended without an answer (%s)\n",
                    r == 0 ? "connection closed" : r < 0 ? strerror(-r) : "an unexpected message");
        end_like(status);             /* it claimed it, and died */
    }
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

static struct sigaction caught[NFORWARDED + 1];    /* what the caller gave us */

static void catch_signals(void)
{
    if (pipe2(F.sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return;
    F.sigpipe[0] = above_floor(F.sigpipe[0]);
    F.sigpipe[1] = above_floor(F.sigpipe[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NFORWARDED; i++)
        sigaction(FORWARDED[i], &sa, &caught[i]);
    sa.sa_flags |= SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, &caught[NFORWARDED]);        /* wakes supervise() to reap */
}

/* Back to the caller's, for the direct path. */
static void restore_signals(void)
{
    for (int i = 0; i < NFORWARDED; i++)
        sigaction(FORWARDED[i], &caught[i], NULL);
    sigaction(SIGCHLD, &caught[NFORWARDED], NULL);
}

static void to_worker(int sig)
{
    if (F.resident)
        return;                       /* never: see forwarded() */
    if (F.worker_pidfd >= 0)
        syscall(SYS_pidfd_send_signal, F.worker_pidfd, sig, NULL, 0);
    else
        kill(F.worker, sig);
}

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

/* The container's process is this process's child: clone, reports, the
 * terminal and reaping happen here; the worker decides everything and drives
 * it, call for call (remote.Child is shim.Child's twin). */
static struct {
    struct mo_child child;
    int spawned;
    int held[MO_WIRE_MAX_FDS];    /* the plan's fds, as FD_NUMBERS named them */
    int nheld;
    int terminal;                 /* the pty master a terminal step sent us, or -1 */
    struct termios saved;         /* stdin's mode while the terminal is relayed */
    int raw;
    int exit_code;                /* the container's, once reaped (-1 before) */
} P = { .terminal = -1, .exit_code = -1 };

static void forwarded(int sig)
{
    if (F.resident && !F.foreground && sig != SIGCHLD && sig != SIGWINCH) {
        /* A resident worker serves others after us: it is never signalled.
         * This process ends as the signal says, and the worker, seeing its
         * client gone, dies with the request, as a direct path's process
         * would have died of the signal.  (In the foreground, signals are
         * the container's, below.) */
        restore_signals();
        end_like(sig);
    }
    if (F.resident && !F.foreground) {
        /* SIGCHLD, SIGWINCH: nothing to do, no process is ours yet */
    } else if (!F.foreground && !F.worker) {
        if (sig != SIGCHLD && F.npending < (int)(sizeof F.pending / sizeof F.pending[0]))
            F.pending[F.npending++] = sig;     /* no worker has the request yet */
    } else if (!F.foreground) {
        if (sig != SIGCHLD)
            to_worker(sig);
    } else if (sig == SIGCHLD) {
        /* reaped where it matters (supervise) */
    } else if (sig == SIGWINCH && P.terminal >= 0 && P.raw) {
        struct winsize ws;
        if (ioctl(0, TIOCGWINSZ, &ws) == 0)
            ioctl(P.terminal, TIOCSWINSZ, &ws);
    } else if (F.attached && P.child.pid > 0) {
        kill(P.child.pid, sig);
    } else if (F.npending < (int)(sizeof F.pending / sizeof F.pending[0])) {
        F.pending[F.npending++] = sig;     /* before the process runs */
    }
}

static int reply_int(unsigned int type, int value)
{
    return send_msg(F.conn, type, &value, sizeof value, NULL, 0);
}

static void drop_held(void)
{
    for (int i = 0; i < P.nheld; i++)
        close(P.held[i]);
    P.nheld = 0;
}

/* A SPAWN's fds, to the numbers the worker named in the plan: the
 * window's, fd_window + i.  0 or -errno. */
static int take_window_fds(struct msg *m)
{
    int n = m->nfds, moved[MO_WIRE_MAX_FDS], err = 0;
    m->nfds = 0;
    if (n > MO_WIRE_FD_WINDOW || F.fd_window < 0)
        err = -EBADF;
    for (int i = 0; i < n; i++) {
        moved[i] = above_floor(m->fds[i]);        /* received fds may have landed in the window */
        if (moved[i] < 0 && !err)
            err = -EMFILE;
    }
    for (int i = 0; i < n; i++) {
        if (!err) {
            if (dup3(moved[i], F.fd_window + i, O_CLOEXEC) < 0)
                err = -errno;
            else
                P.held[P.nheld++] = F.fd_window + i;
        }
        if (moved[i] >= 0)
            close(moved[i]);
    }
    return err;
}

static int spawn(const struct msg *m)
{
    struct mo_wire_spawn head;
    if (m->len < sizeof head)
        return -EBADMSG;
    memcpy(&head, m->data, sizeof head);
    size_t keep_len = sizeof(int) * (size_t)head.nkeep;
    if (head.nkeep < 0 || head.nkeep > 64 || m->len < sizeof head + keep_len || P.spawned)
        return -EBADMSG;
    int keep[64];
    memcpy(keep, m->data + sizeof head, keep_len);
    /* Every fd the plan names must be one the worker sent. */
    for (int i = 0; i < head.nkeep; i++) {
        int ok = 0;
        for (int j = 0; j < P.nheld; j++)
            ok |= keep[i] == P.held[j];
        if (!ok)
            return -EBADF;
    }
    int init_fd = mo_init_memfd("/proc/self/exe");
    if (init_fd < 0)
        return init_fd;
    struct mo_spawn_args args = {
        .plan = m->data + sizeof head + keep_len,
        .plan_len = m->len - sizeof head - keep_len,
        .nsteps = head.nsteps,
        .clone_flags = (unsigned long)head.clone_flags,
        .cgroup_fd = head.cgroup_fd,
        .init_fd = init_fd,
        .preserve_fds = head.preserve_fds,
        .keep_fds = keep,
        .nkeep = head.nkeep,
        .new_userns = head.new_userns,
    };
    int rc = mo_spawn(&args, &P.child);
    close(init_fd);
    drop_held();             /* the child has its own copies; the worker keeps its own */
    if (rc == 0)
        P.spawned = 1;
    return rc;
}

static void report(void)
{
    int fd = -1;
    int what = mo_wait_report(&P.child, &fd);
    long long t = mo_now();
    if (what == MO_REPORT_TERMINAL && fd >= 0) {
        if (P.terminal >= 0)
            close(P.terminal);
        P.terminal = fd;
    } else if (fd >= 0) {
        close(fd);
    }
    struct mo_shared *sh = P.child.shared;
    if (what == MO_REPORT_PID) {
        /* The plan goes on in a sibling; reap the process that forked it. */
        waitpid(P.child.pid, NULL, 0);
        P.child.pid = sh->pid;
    }
    const char *msg = what == MO_REPORT_ERROR ? sh->msg : "";
    struct mo_wire_report r = {
        .outcome = what, .pid = P.child.pid, .err = sh->err, .t_report = t, .t_clone = sh->t_clone,
        .t_child = sh->t_child, .t_init = sh->t_init, .failed_step = sh->failed_step,
        .steps_done = sh->steps_done, .msg_len = (int)strnlen(msg, sizeof sh->msg),
    };
    if (r.steps_done < 0 || r.steps_done > sh->nsteps)
        r.steps_done = 0;
    size_t len = sizeof r + sizeof(long long) * (size_t)r.steps_done + (size_t)r.msg_len + 1;
    char *out = len <= sizeof packet ? packet : malloc(len);   /* a large one goes in a memfd */
    if (!out) {
        r.steps_done = 0;              /* the outcome matters more than the times */
        len = sizeof r + (size_t)r.msg_len + 1;
        out = packet;
    }
    memcpy(out, &r, sizeof r);
    memcpy(out + sizeof r, sh->t_step, sizeof(long long) * (size_t)r.steps_done);
    memcpy(out + len - r.msg_len - 1, msg, (size_t)r.msg_len);
    out[len - 1] = '\0';
    send_msg(F.conn, MO_WIRE_REPORT, out, len, NULL, 0);
    if (out != packet)
        free(out);
}

static int reap_container(int block)
{
    for (;;) {
        int status;
        pid_t got = waitpid(-1, &status, block ? 0 : WNOHANG);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return 0;
        if (got == P.child.pid) {
            P.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return 1;
        }
    }
}

static void raw_terminal(void)
{
    if (!isatty(0) || tcgetattr(0, &P.saved) < 0)
        return;
    struct termios raw = P.saved;
    cfmakeraw(&raw);
    tcsetattr(0, TCSANOW, &raw);
    P.raw = 1;
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0)
        ioctl(P.terminal, TIOCSWINSZ, &ws);
}

static void parent_done(void)
{
    if (P.raw) {
        tcsetattr(0, TCSADRAIN, &P.saved);
        P.raw = 0;
    }
}

static int copy(int from, int to)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0)
        return n < 0 && errno == EINTR ? 1 : 0;
    write_all(to, buf, (size_t)n);
    return 1;
}

/* What `run` and `exec` do in the foreground (parent.Foreground): relay the
 * terminal until it closes, then reap until the container's process is
 * gone; its status as a shell reports it.  The worker may not die meanwhile
 * unnoticed: if it does, this process ends as it did. */
static int supervise(void)
{
    int in_open = 1;
    if (P.terminal >= 0)
        raw_terminal();
    reap_container(0);
    while (P.terminal >= 0 || P.exit_code < 0) {
        struct pollfd pfd[4] = { { F.sigpipe[0], POLLIN, 0 }, { F.conn, POLLIN, 0 },
                                 { P.terminal, POLLIN, 0 }, { in_open ? 0 : -1, POLLIN, 0 } };
        int n = P.terminal >= 0 ? 4 : 2;
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[0].revents & POLLIN)
            drain_signals();             /* SIGCHLD among them wakes us for the reaping */
        if (P.exit_code < 0)
            reap_container(0);
        if (pfd[1].revents & (POLLIN | POLLHUP)) {
            struct msg m;
            int r = recv_msg(F.conn, &m);
            close_fds(&m);
            int status = 1 << 8;
            if (r > 0 && m.type == MO_WIRE_WORKER_EXIT && m.len >= sizeof(int))
                memcpy(&status, m.data, sizeof status);
            parent_done();
            end_like(status);
        }
        if (n == 4) {
            if ((pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) && !copy(P.terminal, 1)) {
                close(P.terminal);           /* EIO: every slave fd is closed */
                P.terminal = -1;
                parent_done();
            } else if ((pfd[3].revents & (POLLIN | POLLHUP)) && !copy(0, P.terminal)) {
                in_open = 0;                 /* our stdin ended; keep relaying output */
            }
        }
    }
    if (P.exit_code < 0)
        reap_container(1);
    return P.exit_code;
}

/* A message of the spawning protocol: 0 handled, -1 not one of them. */
static int parent_message(struct msg *m)
{
    int rc;
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
    case MO_WIRE_SPAWN_FDS: {
        /* Above stdio and the preserved fds, as mo_spawn wants them. */
        int numbers[MO_WIRE_MAX_FDS], n = m->nfds;
        for (int i = 0; i < n; i++) {
            numbers[i] = above_floor(m->fds[i]);
            if (numbers[i] >= 0 && P.nheld < MO_WIRE_MAX_FDS)
                P.held[P.nheld++] = numbers[i];
        }
        m->nfds = 0;
        send_msg(F.conn, MO_WIRE_FD_NUMBERS, numbers, sizeof(int) * (size_t)n, NULL, 0);
        return 0;
    }
    case MO_WIRE_SPAWN: {
        int placed = m->nfds > 0 ? take_window_fds(m) : 0;
        struct mo_wire_spawned r = { placed < 0 ? placed : spawn(m), 0, 0 };
        if (r.rc == 0) {
            r.pid = P.child.pid;
            r.t_clone = P.child.shared->t_clone;
        }
        send_msg(F.conn, MO_WIRE_SPAWNED, &r, sizeof r, NULL, 0);
        return 0;
    }
    case MO_WIRE_GO:
        rc = P.spawned ? mo_go(&P.child, m->data, m->len) : -ESRCH;
        reply_int(MO_WIRE_RESULT, rc);
        return 0;
    case MO_WIRE_LISTENER_STATE:
        rc = P.spawned ? mo_set_listener_state(&P.child, m->data, m->len) : -ESRCH;
        reply_int(MO_WIRE_RESULT, rc);
        return 0;
    case MO_WIRE_WAIT_REPORT:
        if (!P.spawned || !P.child.shared)
            return -1;
        report();
        return 0;
    case MO_WIRE_KILL_REAP:
        if (P.spawned && P.child.pid > 0) {
            kill(P.child.pid, SIGKILL);
            while (waitpid(P.child.pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        reply_int(MO_WIRE_RESULT, 0);
        return 0;
    case MO_WIRE_RELEASE:
        if (P.spawned)
            mo_release(&P.child);
        return 0;
    case MO_WIRE_SUPERVISE:
        rc = P.spawned ? supervise() : 255;
        reply_int(MO_WIRE_EXITED, rc);
        return 0;
    }
    return -1;
}

/* ---- serving ---------------------------------------------------------------- */

/* The served command's exit status, or -1: the worker refused before it
 * ran anything (`why`), and the direct path runs the command. */
static int serve_loop(char *why, size_t whylen)
{
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
        case MO_WIRE_REFUSED:
            close_fds(&m);
            if (F.foreground || P.spawned)
                return 1;                     /* not before it ran anything */
            snprintf(why, whylen, "the server's worker refused: %.*s", (int)m.len, m.data);
            return -1;
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
    /* systemd's socket activation: LISTEN_FDS fds at 3, 4, ... for the pid
     * it started (this one; the worker knows it as the container's parent),
     * before --preserve-fds's (minioci/container.py listen_fds). */
    const char *listen = getenv("LISTEN_FDS"), *listen_pid = getenv("LISTEN_PID");
    if (listen && listen_pid && atoi(listen_pid) == getpid() && atoi(listen) > 0 &&
        F.extra_fds + atoi(listen) < MO_WIRE_MAX_FDS - 8)
        F.extra_fds += atoi(listen);
    F.own_floor = 3 + F.extra_fds;
    const char *mode = getenv("MINIOCI_SERVE");
    int require = mode && !strcmp(mode, "always");
    if (mode && (!strcmp(mode, "never") || !strcmp(mode, "0")))
        run_direct("MINIOCI_SERVE=never");
    if (F.command && !strcmp(F.command, "serve"))
        run_direct(NULL);                 /* the server itself, and --stop, --status */
    char why[4600];
    /* No trusted directory with a socket, no server: the direct path at once
     * (without a server, the common case). */
    server_socket();
    F.server_dir = open_server_dir(why, sizeof why);
    if (F.server_dir < 0) {
        if (require) {
            fprintf(stderr, "minioci: MINIOCI_SERVE=always: %s\n", why);
            return 1;
        }
        run_direct(why);
    }
    place_fds();
    catch_signals();                      /* from now on none is lost: held, then passed on */
    int code = start_served(why, sizeof why) < 0 ? -1 : serve_loop(why, sizeof why);
    if (code < 0) {
        if (require) {
            fprintf(stderr, "minioci: MINIOCI_SERVE=always: %s\n", why);
            return 1;
        }
        if (F.conn >= 0)
            close(F.conn);
        restore_signals();
        drain_signals();                  /* held ones, for the direct path's process */
        for (int i = 0; i < F.npending; i++)
            raise(F.pending[i]);
        run_direct(why);
    }
    return code;
}
