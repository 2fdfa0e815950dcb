/* The parent's side of a container's process: clone it, and talk to it
 * until it has exec'ed.
 *
 * The clone is a copy of whoever calls mo_spawn (the Python interpreter, or
 * the front end): a host executable.  So before it joins or sees anything of
 * the container, it closes every fd it was not given and executes a sealed
 * memfd copy of minioci's static executable as `minioci-init` (init.c): from
 * then on /proc/<pid>/exe names a file nobody can write, and no host file is
 * mapped (CVE-2019-5736; runc runs its init from a memfd copy likewise).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "native.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The most a go message carries besides its int: the state documents the
 * child's hooks get (init keeps a buffer of this size). */
#define MAX_STATE 65536

int mo_init_memfd(const char *path)
{
    int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return -errno;
    int err = 0, fd = -1;
    struct stat st;
    if (fstat(src, &st) < 0) {
        err = errno;
        goto out;
    }
    fd = memfd_create("minioci-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        err = errno;
        goto out;
    }
    for (off_t off = 0; off < st.st_size;) {
        ssize_t n = sendfile(fd, src, &off, (size_t)(st.st_size - off));
        if (n <= 0) {
            err = n < 0 ? errno : EIO;
            goto out;
        }
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        err = errno;
out:
    close(src);
    if (err) {
        if (fd >= 0)
            close(fd);
        return -err;
    }
    return fd;
}

/* fd moved to a number >= floor (close-on-exec), or -1. */
static int move_above(int fd, int floor)
{
    if (fd >= floor)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    close(fd);
    return moved;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* Close every fd >= floor but the `n` in keep (sorted, all >= floor). */
static void close_all_but(int floor, const int *keep, int n)
{
    int from = floor;
    for (int i = 0; i <= n; i++) {
        unsigned int to = i < n ? (unsigned int)keep[i] - 1 : ~0U;
        if (i < n && keep[i] < from)
            continue;
        if ((unsigned int)from <= to && syscall(SYS_close_range, from, to, 0) < 0) {
            for (unsigned int fd = (unsigned int)from; fd <= to && fd < 65536; fd++)
                close((int)fd);
        }
        if (i < n)
            from = keep[i] + 1;
    }
}

/* In the clone: from the caller's copy to minioci-init, as early as it can
 * be.  Only what the plan names crosses: stdio, --preserve-fds, the plan's
 * fds, and the two of our own that init needs (sync socket, shared region). */
__attribute__((noreturn))
static void exec_init(const struct mo_spawn_args *a, struct mo_shared *sh, int shared_fd)
{
    sh->t_child = mo_now();
    int floor = 3 + a->preserve_fds, n = 0, keep[a->nkeep + 3];
    int init_fd = move_above(a->init_fd, floor);
    for (int i = 0; i < a->nkeep; i++)
        keep[n++] = a->keep_fds[i];
    keep[n++] = sh->sock;
    keep[n++] = shared_fd;
    for (int i = 0; i < n; i++)
        if (fcntl(keep[i], F_SETFD, 0) < 0)
            goto fail;
    keep[n++] = init_fd;
    qsort(keep, (size_t)n, sizeof *keep, cmp_int);
    if (init_fd < 0)
        goto fail;
    /* Die with the parent while it drives the setup (kept across exec); if
     * it died before that, its end of the sync socket is closed already. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        goto fail;
    struct pollfd gone = { .fd = sh->sock, .events = POLLRDHUP };
    if (poll(&gone, 1, 0) > 0 && (gone.revents & (POLLHUP | POLLRDHUP)))
        _exit(1);
    if (a->cgroup_fd >= 0 && a->cgroup_fd < floor)
        close(a->cgroup_fd);
    close_all_but(floor, keep, n);

    if (a->new_userns) {
        char go[sizeof(int)];
        ssize_t r;
        do {
            r = recv(sh->sock, go, sizeof go, 0);
        } while (r < 0 && errno == EINTR);
        if (r < (ssize_t)sizeof go)
            _exit(1);       /* the parent is gone: nobody to report to */
        /* Still the host's root, which the namespace does not map: become
         * its root, as runc's nsexec does.  setgroups may be denied there,
         * and the list is empty then anyway. */
        if ((setgroups(0, NULL) < 0 && errno != EPERM) || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
            sh->err = errno;
            snprintf(sh->msg, sizeof sh->msg, "become root in the new user namespace");
            goto report;
        }
    }

    char fdarg[16];
    snprintf(fdarg, sizeof fdarg, "%d", shared_fd);
    char *argv[] = { "minioci-init", fdarg, NULL };
    char *envp[] = { NULL };
    syscall(SYS_execveat, init_fd, "", argv, envp, AT_EMPTY_PATH);
fail:
    sh->err = errno;
    snprintf(sh->msg, sizeof sh->msg, "start minioci-init");
report:;
    int what = MO_REPORT_ERROR;
    mo_send_msg(sh->sock, &what, sizeof what, -1);
    _exit(1);
}

int mo_spawn(const struct mo_spawn_args *a, struct mo_child *child)
{
    int sv[2] = { -1, -1 }, shared_fd = -1, err = 0, floor = 3 + a->preserve_fds;
    struct mo_shared *sh = MAP_FAILED;

    if (a->nsteps < 0 || a->plan_len > INT_MAX || a->nkeep < 0 || a->nkeep > 64)
        return -EINVAL;
    for (int i = 0; i < a->nkeep; i++)
        if (a->keep_fds[i] < floor)
            return -EBADF;     /* it would pass as one of the preserved fds */
    size_t size = sizeof *sh + (size_t)a->nsteps * sizeof sh->t_step[0] + a->plan_len;
    shared_fd = move_above(memfd_create("minioci-shared", MFD_CLOEXEC), floor);
    if (shared_fd < 0 || ftruncate(shared_fd, (off_t)size) < 0)
        goto fail;
    sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 0);
    if (sh == MAP_FAILED)
        goto fail;
    sh->size = size;
    sh->nsteps = a->nsteps;
    sh->plan_len = (int)a->plan_len;
    sh->failed_step = -1;
    memcpy(&sh->t_step[a->nsteps], a->plan, a->plan_len);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        goto fail;
    sv[1] = move_above(sv[1], floor);
    if (sv[1] < 0)
        goto fail;
    sh->sock = sv[1];

    sh->t_clone = mo_now();
    pid_t pid = -1;
    int plain_clone = a->cgroup_fd < 0;
    if (!plain_clone) {
        /* Born in its v2 cgroup: no migration, no global lock. */
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = a->clone_flags | CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (unsigned long long)a->cgroup_fd;
        sh->in_cgroup = 1;
        pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
        /* Kernels before 5.7 lack it: clone, and the child joins by writing. */
        plain_clone = pid < 0 && (errno == ENOSYS || errno == E2BIG);
    }
    if (plain_clone) {
        sh->in_cgroup = 0;
        pid = (pid_t)syscall(SYS_clone, a->clone_flags | SIGCHLD, NULL, NULL, NULL, 0);
    }
    if (pid == 0)
        exec_init(a, sh, shared_fd);
    if (pid < 0)
        goto fail;
    close(sv[1]);
    close(shared_fd);
    child->pid = pid;
    child->sock = sv[0];
    child->shared = sh;
    return 0;
fail:
    err = errno;
    if (sh != MAP_FAILED)
        munmap(sh, size);
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    if (shared_fd >= 0)
        close(shared_fd);
    return -err;
}

int mo_go(struct mo_child *child, const char *state, unsigned long len)
{
    char msg[sizeof(int) + MAX_STATE];
    int go = 1;
    if (len > MAX_STATE)
        return -E2BIG;
    memcpy(msg, &go, sizeof go);
    if (len)
        memcpy(msg + sizeof go, state, len);
    if (send(child->sock, msg, sizeof go + len, MSG_NOSIGNAL) < 0)
        return -errno;
    return 0;
}

int mo_wait_report(struct mo_child *child, int *fd)
{
    int what = 0;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = &what, .iov_len = sizeof what };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    ssize_t n;

    *fd = -1;
    do {
        n = recvmsg(child->sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n == 0 ? 0 : what;
}

int mo_set_listener_state(struct mo_child *child, const char *state, unsigned long len)
{
    struct mo_shared *sh = child->shared;
    if (len == 0 || len > sizeof sh->listener_state)
        return -E2BIG;
    memcpy(sh->listener_state, state, len);
    __atomic_store_n(&sh->listener_state_len, (int)len, __ATOMIC_RELEASE);
    if (syscall(SYS_futex, &sh->listener_state_len, FUTEX_WAKE, INT_MAX, NULL, NULL, 0) < 0)
        return -errno;
    return 0;
}

void mo_release(struct mo_child *child)
{
    if (child->sock >= 0)
        close(child->sock);
    child->sock = -1;
    if (child->shared)
        munmap(child->shared, child->shared->size);
    child->shared = NULL;
}
