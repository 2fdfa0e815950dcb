/* minioci-init's work: run a plan's steps, in order, then execve.
 *
 * This runs in the container's process, in a sealed memfd copy of minioci's
 * executable (see spawn.c): no Python, nothing of the host's left open.
 * Each step is one small, explicit kernel operation; decisions (which flags,
 * which order, what to mount) were taken in Python when the plan was built.
 * A failure is reported to the parent as the failing step's index, errno and
 * a short "what" string.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/keyctl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>



#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x1
#endif
#define MOVE_MOUNT_EMPTY_PATHS 0x44      /* MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH */

#include "native.h"

/* ---- the child's context ------------------------------------------------ */

static struct {
    struct mo_shared *shared;
    int sock;           /* child end of the sync socket */
    int rootfd;         /* O_PATH fd of the rootfs mount, once MO_OP_ROOTFS ran */
    int procfd;         /* /proc, checked (procfs.c), once a step writes there; until pivot_root */
    int devnull;        /* the container's /dev/null, checked, once a mask needs it */
    int step;           /* index of the step being run */
    int in_cgroup;      /* clone3 placed us in the v2 cgroup already */
    char state[65536];  /* container state JSON for hooks, from the parent's go */
    size_t state_len;
    char exec_path[PATH_MAX];
    char **exec_env;    /* the environment execve gets (MO_OP_FIND_EXEC adds HOME) */
    int filtered;       /* the container's seccomp filter is loaded: only execve follows */
} C = { .rootfd = -1, .procfd = -1, .devnull = -1 };


/* A report to the parent, optionally carrying one fd. */
static int send_report(int what, int fd)
{
    return mo_send_msg(C.sock, &what, sizeof what, fd);
}

__attribute__((noreturn, format(printf, 2, 3)))
static void fail(int err, const char *fmt, ...)
{
    va_list ap;
    struct mo_shared *sh = C.shared;

    va_start(ap, fmt);
    vsnprintf(sh->msg, sizeof sh->msg, fmt, ap);
    va_end(ap);
    sh->failed_step = C.step;
    sh->err = err;
    if (send_report(MO_REPORT_ERROR, -1) < 0) {
        /* No parent to tell (after `create` returned): say it where the
         * container's own stderr goes, as runc does. */
        if (err) {
            /* errno worded as runc (Go) words it, as the parent does
             * (minioci/errors.py): engines match "no such file or directory". */
            char text[256];
            snprintf(text, sizeof text, "%s", strerror(err));
            if (text[0] && !(text[1] >= 'A' && text[1] <= 'Z') && text[0] >= 'A' && text[0] <= 'Z')
                text[0] = (char)(text[0] - 'A' + 'a');
            dprintf(2, "minioci: %s: %s\n", sh->msg, text);
        } else {
            dprintf(2, "minioci: %s\n", sh->msg);
        }
    }
    _exit(1);
}

/* ---- paths inside the rootfs -------------------------------------------- */

static int openat2_in_root(const char *path, int flags)
{
    struct open_how how = {
        .flags = (unsigned long long)flags | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, C.rootfd, path, &how, sizeof how);
}

/* Create the missing component `name` (of `path`, starting at offset
 * `start`) in the directory `parent`.  If `name` is a dangling symlink, what
 * it points to is created instead, inside the rootfs like everything else
 * (securejoin's MkdirAll does the same for runc). */
static int open_in_root_depth(const char *path, int kind, int depth);

static int create_component(int parent, const char *name, const char *path, size_t start,
                            int kind, int depth)
{
    int r = kind == MO_TARGET_FILE
        ? openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644)
        : mkdirat(parent, name, 0755);
    if (r >= 0) {
        if (kind == MO_TARGET_FILE)
            close(r);
        return 0;
    }
    if (errno != EEXIST)
        return -1;
    char link[PATH_MAX], target[PATH_MAX];
    ssize_t n = readlinkat(parent, name, link, sizeof link - 1);
    if (n < 0)
        return errno == EINVAL ? 0 : -1;     /* not a symlink: someone else made it */
    if (depth >= 40) {
        errno = ELOOP;
        return -1;
    }
    link[n] = '\0';
    if (link[0] == '/')
        n = snprintf(target, sizeof target, "%s", link);
    else
        n = snprintf(target, sizeof target, "%.*s%s", (int)start, path, link);
    if (n >= (ssize_t)sizeof target) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open_in_root_depth(target, kind, depth + 1);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* Open `path` (a container path) inside the rootfs as an O_PATH fd; symlinks
 * resolve against the rootfs, so nothing can make it land outside.  Missing
 * components are created as directories, the last one as `kind` says. */
static int open_in_root_depth(const char *path, int kind, int depth)
{
    int fd = openat2_in_root(path, O_PATH);
    if (fd >= 0 || errno != ENOENT || kind == MO_TARGET_NONE)
        return fd;

    char prefix[PATH_MAX], name[NAME_MAX + 1];
    size_t len = strlen(path);
    if (len >= sizeof prefix) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int parent = openat2_in_root("/", O_PATH);
    if (parent < 0)
        return -1;
    size_t i = 0;
    while (i < len) {
        while (path[i] == '/')
            i++;
        if (i >= len)
            break;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        int last = strspn(path + i, "/") == len - i;
        int next = openat2_in_root(prefix, O_PATH);
        if (next < 0 && errno == ENOENT) {
            if (i - start > NAME_MAX) {
                errno = ENAMETOOLONG;
                goto fail;
            }
            memcpy(name, path + start, i - start);
            name[i - start] = '\0';
            if (create_component(parent, name, path, start, last ? kind : MO_TARGET_DIR, depth) < 0)
                goto fail;
            next = openat2_in_root(prefix, O_PATH);
        }
        if (next < 0)
            goto fail;
        close(parent);
        parent = next;
    }
    return parent;
fail:
    {
        int e = errno;
        close(parent);
        errno = e;
        return -1;
    }
}

static int open_in_root(const char *path, int kind)
{
    return open_in_root_depth(path, kind, 0);
}

static void fd_path(char *buf, size_t size, int fd)
{
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Split a container path into an fd of its parent directory (created if
 * missing) and its last component. */
static int open_parent_in_root(const char *path, const char **name)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash || slash[1] == '\0' || strlen(path) >= sizeof dir) {
        errno = EINVAL;
        return -1;
    }
    size_t n = (size_t)(slash - path);
    memcpy(dir, path, n);
    dir[n ? n : 1] = '\0';
    if (n == 0)
        dir[0] = '/';
    *name = slash + 1;
    return open_in_root(dir, MO_TARGET_DIR);
}

/* Flags a bind remount must keep: the kernel refuses to clear locked ones
 * (nosuid, nodev, noexec, ro) inherited from a more privileged mount. */
static unsigned long locked_flags(const char *target)
{
    struct statfs st;
    if (statfs(target, &st) < 0)
        return 0;
    return st.f_flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
}

static int remount_bind(const char *target, unsigned long flags)
{
    flags |= MS_BIND | MS_REMOUNT;
    if (mount("", target, NULL, flags, NULL) == 0)
        return 0;
    if (errno != EPERM)
        return -1;
    return mount("", target, NULL, flags | locked_flags(target), NULL);
}

/* The procfs minioci writes through (procfs.c): /proc, the host's until
 * pivot_root, then the one minioci mounted in the container; opened when a
 * step first needs it, for `what`. */
static int proc_root(const char *what)
{
    if (C.procfd < 0) {
        C.procfd = mo_proc_root();
        if (C.procfd == -ENODEV || C.procfd == -ENOENT)
            fail(0, "%s: /proc is not a procfs (the container needs a proc mount there)", what);
        if (C.procfd < 0)
            fail(-C.procfd, "%s: open /proc", what);
    }
    return C.procfd;
}

/* The fds of setup steps, closed once they have served: before the old root
 * goes (an fd of its /proc would keep it, and its unmount would then happen
 * at our exec, the costly part of it), and before the container can see
 * this process (waiting for start, or its program): none of them, least of
 * all a host's /proc, may stay open for a process there to reach. */
static void drop_setup_fds(void)
{
    if (C.procfd >= 0)
        close(C.procfd);
    if (C.devnull >= 0)
        close(C.devnull);
    C.procfd = C.devnull = -1;
}

/* Bind what the fd `from` names (a file or directory, with what is mounted
 * below it if `recursive`) onto the fd `to`: no path is looked up again.
 * `attr`: mount attributes (MOUNT_ATTR_*) the new mount gets. */
static int bind_fd(int from, int to, int recursive, unsigned long long attr)
{
    int tree = (int)syscall(SYS_open_tree, from, "", OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH |
                            (recursive ? AT_RECURSIVE : 0));
    if (tree < 0)
        return -1;
    struct {
        unsigned long long attr_set, attr_clr, propagation, userns_fd;
    } set = { attr, 0, 0, 0 };
    int r = attr ? (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &set, sizeof set) : 0;
    if (r == 0)
        r = (int)syscall(SYS_move_mount, tree, "", to, "", MOVE_MOUNT_EMPTY_PATHS);
    int e = errno;
    close(tree);
    errno = e;
    return r;
}

/* ---- steps -------------------------------------------------------------- */

/* s1 path, i1 type; i2 the fd open_namespaces() opened it as, or (no path)
 * the fd of a namespace made ahead, which the parent passed. */
static void step_setns(const struct mo_step *s)
{
    if (setns(s->i2, s->i1) < 0)
        fail(errno, "join namespace %s", s->s1 ? s->s1 : "made ahead");
    close(s->i2);
}

/* Every namespace the plan joins is opened before the first is joined, as
 * runc does: its path (/proc/<pid>/ns/...) means the host's /proc, which a
 * joined mount namespace would no longer show. */
static void open_namespaces(struct mo_step *steps, int n)
{
    for (int i = 0; i < n; i++) {
        if (steps[i].op != MO_OP_SETNS || !steps[i].s1)
            continue;
        C.step = i;
        steps[i].i2 = open(steps[i].s1, O_RDONLY | O_CLOEXEC);
        if (steps[i].i2 < 0)
            fail(errno, "open namespace %s", steps[i].s1);
    }
    C.step = -1;
}

static void step_rootfs(const struct mo_step *s)
{
    if (mount("", "/", NULL, s->u1, NULL) < 0)
        fail(errno, "set propagation of /");
    /* A shared "/": the mount the rootfs lies on goes private first (runc's
     * rootfsParentMountPrivate), so that the bind below propagates nowhere
     * and pivot_root, which refuses a shared parent, can run. */
    if (s->s2 && mount("", s->s2, NULL, MS_PRIVATE, NULL) < 0)
        fail(errno, "make %s private (the mount the rootfs is on)", s->s2);
    if (mount(s->s1, s->s1, NULL, MS_BIND | MS_REC, NULL) < 0)
        fail(errno, "bind rootfs %s", s->s1);
    /* pivot_root refuses a shared parent; keep the rootfs mount private to
     * this namespace until pivot_root is done. */
    if (mount("", s->s1, NULL, MS_PRIVATE, NULL) < 0)
        fail(errno, "make rootfs %s private", s->s1);
    C.rootfd = open(s->s1, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (C.rootfd < 0)
        fail(errno, "open rootfs %s", s->s1);
}

/* The kernel's own filesystems, whose files masked and read-only paths are
 * then laid over by path: mounted through a symlink they would land
 * elsewhere and leave those paths unprotected (CVE-2023-27561, as runc
 * checks for proc and sysfs). */
static int kernel_fs(const char *fstype)
{
    static const char *const names[] = { "proc", "sysfs", "mqueue", "cgroup", "cgroup2", "devpts", NULL };
    for (int i = 0; fstype && names[i]; i++)
        if (strcmp(fstype, names[i]) == 0)
            return 1;
    return 0;
}

/* The mount point for a kernel filesystem: an ordinary directory, reached
 * from the rootfs one component at a time without following any symlink
 * (missing ones are made), so nothing is created through a symlink either. */
static int open_ordinary_dir(const char *path, const char *fstype)
{
    struct open_how how = {
        .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
    };
    char name[NAME_MAX + 1];
    int dir = openat2_in_root("/", O_PATH | O_DIRECTORY);
    if (dir < 0)
        fail(errno, "open the rootfs");
    for (const char *p = path; *p;) {
        p += strspn(p, "/");
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        if (n > NAME_MAX)
            fail(ENAMETOOLONG, "create mount point %s", path);
        memcpy(name, p, n);
        name[n] = '\0';
        p += n;
        int next = (int)syscall(SYS_openat2, dir, name, &how, sizeof how);
        if (next < 0 && errno == ENOENT) {
            if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
                fail(errno, "create mount point %s", path);
            next = (int)syscall(SYS_openat2, dir, name, &how, sizeof how);
        }
        if (next < 0 && (errno == ELOOP || errno == ENOTDIR))
            fail(0, "mount %s on %s: it must be mounted on an ordinary directory, not through a symlink",
                 fstype, path);
        if (next < 0)
            fail(errno, "open mount point %s", path);
        close(dir);
        dir = next;
    }
    return dir;
}

/* tmpcopyup: copy the tree at directory fd `from` into directory fd `to`,
 * keeping modes, owners and times (runc copies it the same way). */
static int copy_tree(int from, int to, int depth)
{
    if (depth > 64) {
        errno = ELOOP;
        return -1;
    }
    int dup_from = dup(from);
    DIR *dir = dup_from < 0 ? NULL : fdopendir(dup_from);
    if (!dir)
        return -1;
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(dir))) {
        const char *n = e->d_name;
        struct stat st;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        if (fstatat(from, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = -1;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            if (mkdirat(to, n, st.st_mode & 07777) < 0) {
                r = -1;
                break;
            }
            int a = openat(from, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int b = openat(to, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            r = a < 0 || b < 0 ? -1 : copy_tree(a, b, depth + 1);
            if (a >= 0)
                close(a);
            if (b >= 0)
                close(b);
        } else if (S_ISREG(st.st_mode)) {
            int a = openat(from, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            int b = openat(to, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
            if (a < 0 || b < 0)
                r = -1;
            for (off_t left = st.st_size; r == 0 && left > 0;) {
                ssize_t k = sendfile(b, a, NULL, (size_t)(left > (1 << 30) ? 1 << 30 : left));
                if (k <= 0)
                    r = -1;
                left -= k;
            }
            if (a >= 0)
                close(a);
            if (b >= 0)
                close(b);
        } else if (S_ISLNK(st.st_mode)) {
            char link[PATH_MAX];
            ssize_t k = readlinkat(from, n, link, sizeof link - 1);
            if (k < 0)
                r = -1;
            else {
                link[k] = '\0';
                r = symlinkat(link, to, n);
            }
        } else {
            r = mknodat(to, n, st.st_mode, st.st_rdev);
        }
        if (r == 0 && fchownat(to, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
            r = -1;
        if (r == 0 && !S_ISLNK(st.st_mode) && fchmodat(to, n, st.st_mode & 07777, 0) < 0)
            r = -1;
        struct timespec times[2] = { st.st_atim, st.st_mtim };
        if (r == 0)
            utimensat(to, n, times, AT_SYMLINK_NOFOLLOW);
    }
    int e2 = errno;
    closedir(dir);
    errno = e2;
    return r;
}

/* u3 & MO_TMPFS_KEEP_MODE: "mode=<the mode of the directory at s2>" before
 * the data, as runc mounts it, so that the mount keeps what it covers (a new
 * directory gets tmpfs's own 1777).  Returns the data to mount with. */
static const char *with_mode_kept(const struct mo_step *s, char *buf, size_t size)
{
    struct stat st;
    int fd = s->u3 & MO_TMPFS_KEEP_MODE ? openat2_in_root(s->s2, O_PATH) : -1;
    if (fd < 0)
        return s->s4;
    int r = fstat(fd, &st);
    close(fd);
    if (r < 0 || !S_ISDIR(st.st_mode))
        return s->s4;
    if (snprintf(buf, size, "mode=%04o%s%s", st.st_mode & 07777, s->s4 ? "," : "", s->s4 ? s->s4 : "") >= (int)size)
        fail(E2BIG, "mount data for %s", s->s2);
    return buf;
}

/* Nothing of a bundle's is mounted inside procfs, where it would lie over
 * the files minioci writes and masks (the CVE-2025-52881 class), but runc's
 * short list (u4, enum mo_in_proc; spec.py refuses the destinations by
 * name): this catches a destination that resolves there otherwise, through
 * a symlink.  On /proc itself only a procfs may be bound. */
static void check_in_proc(const struct mo_step *s, int target)
{
    struct statfs on;
    if (s->u4 == MO_IN_PROC_ALLOWED)
        return;
    if (s->u4 == MO_IN_PROC_IF_PROCFS) {
        int r = s->i2 > 0 ? fstatfs(s->i2, &on) : statfs(s->s1, &on);
        if (r < 0)
            fail(errno, "stat %s", s->s1);
        if (on.f_type != PROC_SUPER_MAGIC)
            fail(0, "mount %s on %s: only a procfs can be bound on /proc", s->s1, s->s2);
        return;
    }
    if (fstatfs(target, &on) < 0)
        fail(errno, "stat mount point %s", s->s2);
    if (on.f_type == PROC_SUPER_MAGIC)
        fail(0, "mount %s on %s: it leads inside /proc, where nothing may be mounted but the files runc "
             "allows", s->s1 && *s->s1 ? s->s1 : s->s3, s->s2);
}

/* s1 source, s2 destination (container path), s3 fstype, s4 data,
 * u1 mount flags, u2 propagation flags (applied after), i1 target kind,
 * u3 a tmpfs's extras (enum mo_tmpfs), u4 where it may lie in procfs
 * (check_in_proc). */
static void step_mount(const struct mo_step *s)
{
    char target[64], data[4096];
    const char *with_mode = with_mode_kept(s, data, sizeof data);
    int fd = kernel_fs(s->s3) ? open_ordinary_dir(s->s2, s->s3) : open_in_root(s->s2, s->i1);
    if (fd < 0)
        fail(errno, "create mount point %s", s->s2);
    check_in_proc(s, fd);
    fd_path(target, sizeof target, fd);
    int under = -1;        /* tmpcopyup: the directory the new mount will cover */
    if (s->u3 & MO_TMPFS_COPYUP) {
        under = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (under < 0)
            fail(errno, "open %s to copy it up", s->s2);
    }

    unsigned long flags = s->u1;
    int bind = (flags & MS_BIND) != 0;
    unsigned long first = bind ? flags & (MS_BIND | MS_REC) : flags;
    if (bind && s->i2 > 0) {
        /* The parent opened the source as a detached tree: in a user
         * namespace we might not reach it by path. */
        if (syscall(SYS_move_mount, s->i2, "", fd, "", MOVE_MOUNT_EMPTY_PATHS) < 0)
            fail(errno, "mount %s on %s", s->s1, s->s2);
        close(s->i2);
    } else if (mount(s->s1, target, s->s3, first, bind ? NULL : with_mode) < 0) {
        /* A read-only sysfs in a user namespace that does not own our
         * network namespace (rootless, sharing the host's): the host's /sys,
         * bound read-only, as crun does. */
        if (!(errno == EPERM && s->s3 && strcmp(s->s3, "sysfs") == 0 && (flags & MS_RDONLY)) ||
            mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0)
            fail(errno, "mount %s on %s", s->s1 && *s->s1 ? s->s1 : s->s3, s->s2);
        bind = 1;
    }
    close(fd);
    if (under >= 0) {
        int top = open_in_root(s->s2, MO_TARGET_NONE);
        char p[64];
        fd_path(p, sizeof p, top);
        int to = top < 0 ? -1 : open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* The entries keep their modes and owners; the mount's root has the
         * mode it was mounted with (with_mode_kept: a directory that was there
         * keeps its own, one made for it gets tmpfs's 1777, or mode=), as
         * with runc: podman's --tmpfs of a directory the image lacks must be
         * writable by any user. */
        if (to < 0 || copy_tree(under, to, 0) < 0)
            fail(errno, "tmpcopyup %s", s->s2);
        close(to);
        close(top);
        close(under);
    }

    unsigned long rest = bind ? flags & ~(MS_BIND | MS_REC) : 0;
    if (rest || s->u2) {
        /* The fd still names the directory underneath; reopen to reach the
         * new mount itself. */
        fd = open_in_root(s->s2, MO_TARGET_NONE);
        if (fd < 0)
            fail(errno, "reopen %s", s->s2);
        fd_path(target, sizeof target, fd);
        if (rest && remount_bind(target, rest) < 0)
            fail(errno, "remount %s", s->s2);
        for (int bit = 0; bit < 64; bit++) {
            unsigned long one = s->u2 & (1UL << bit);
            if (one && !(one & MS_REC) && mount("", target, NULL, one | (s->u2 & MS_REC), NULL) < 0)
                fail(errno, "set propagation of %s", s->s2);
        }
        close(fd);
    }
}

/* A fresh mqueue filesystem, of the IPC namespace we are in (the
 * container's, or the host's as runc does it too); where the kernel will
 * not mount one (a user namespace that does not own that IPC namespace),
 * the host's /dev/mqueue is bound instead.  u1 carries the mount flags. */
static void step_mqueue(const struct mo_step *s)
{
    char target[64];
    int fd = open_ordinary_dir(s->s2, "mqueue");
    fd_path(target, sizeof target, fd);
    if (mount("mqueue", target, "mqueue", s->u1, NULL) == 0) {
        close(fd);
        return;
    }
    if (mount("/dev/mqueue", target, NULL, MS_BIND | MS_REC, NULL) < 0)
        fail(errno, "bind /dev/mqueue on %s", s->s2);
    close(fd);
    unsigned long rest = s->u1 & ~(MS_BIND | MS_REC);
    if (rest) {
        fd = open_in_root(s->s2, MO_TARGET_NONE);
        fd_path(target, sizeof target, fd);
        if (fd < 0 || remount_bind(target, rest) < 0)
            fail(errno, "remount %s", s->s2);
        close(fd);
    }
}

/* Bind the host's node at `source` onto a file made at `dest` (a container
 * path): a device in a user namespace, where mknod is not allowed. */
static void bind_host_node(const char *source, const char *dest)
{
    char target[64];
    int fd = open_in_root(dest, MO_TARGET_FILE);
    if (fd < 0)
        fail(errno, "create %s", dest);
    fd_path(target, sizeof target, fd);
    if (mount(source, target, NULL, MS_BIND, NULL) < 0)
        fail(errno, "bind %s on %s", source, dest);
    close(fd);
}

static void step_mknod(const struct mo_step *s)
{
    const char *name;
    int dir = open_parent_in_root(s->s2, &name);
    if (dir < 0)
        fail(errno, "create directory for %s", s->s2);
    if (mknodat(dir, name, (mode_t)s->u1, (dev_t)s->u2) < 0) {
        if (errno == EPERM && !S_ISFIFO((mode_t)s->u1)) {
            /* Root of a user namespace someone else made (rootless podman):
             * the host's node is bound instead, as runc does; its mode and
             * owner stay the host's. */
            close(dir);
            bind_host_node(s->s2, s->s2);
            return;
        }
        if (errno != EEXIST)
            fail(errno, "mknod %s", s->s2);
        /* runtime-spec: a file already at the path that is not the
         * requested device is an error (not a file to chmod). */
        struct stat st;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            fail(errno, "stat %s", s->s2);
        if ((st.st_mode & S_IFMT) != ((mode_t)s->u1 & S_IFMT) ||
            ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && st.st_rdev != (dev_t)s->u2))
            fail(EEXIST, "device %s: a file that is not this device is already there", s->s2);
    }
    /* mknod applies the umask; the config's mode is meant literally. */
    int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        fail(errno, "open %s", s->s2);
    char p[64];
    fd_path(p, sizeof p, fd);
    if (chmod(p, (mode_t)s->u1 & 07777) < 0)
        fail(errno, "chmod %s", s->s2);
    if (fchownat(fd, "", (uid_t)s->i1, (gid_t)s->i2, AT_EMPTY_PATH) < 0)
        fail(errno, "chown %s", s->s2);
    close(fd);
    close(dir);
}

/* s1: a directory (process.cwd) made inside the rootfs if it is missing,
 * before the root can turn read-only (runc and crun make it too). */
static void step_mkdir(const struct mo_step *s)
{
    int fd = open_in_root(s->s1, MO_TARGET_DIR);
    if (fd < 0)
        fail(errno, "create cwd %s", s->s1);
    close(fd);
}

static void step_bind_dev(const struct mo_step *s)
{
    bind_host_node(s->s1, s->s2);
}

static void step_symlink(const struct mo_step *s)
{
    const char *name;
    int dir = open_parent_in_root(s->s2, &name);
    if (dir < 0)
        fail(errno, "create directory for %s", s->s2);
    if (symlinkat(s->s1, dir, name) < 0 && errno != EEXIST)
        fail(errno, "symlink %s -> %s", s->s2, s->s1);
    close(dir);
}

static void step_pivot_root(void)
{
    drop_setup_fds();
    int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (oldroot < 0)
        fail(errno, "open the old root");
    if (fchdir(C.rootfd) < 0)
        fail(errno, "chdir to rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        fail(errno, "pivot_root");
    /* The old root now sits on top of the new one.  Make sure its unmount
     * cannot propagate to the host, then drop it.  It is reached through an
     * fd of its own, as runc does: mount(2) takes "." here for the new root
     * beneath (umount2 takes the mount on top), and made a slave, the
     * container's own mounts would lose their peer groups, so a
     * Bidirectional volume's mounts would never reach the host. */
    if (fchdir(oldroot) < 0)
        fail(errno, "chdir to the old root");
    close(oldroot);
    if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        fail(errno, "make old root a slave");
    if (umount2(".", MNT_DETACH) < 0)
        fail(errno, "detach old root");
    if (chdir("/") < 0)
        fail(errno, "chdir /");
    close(C.rootfd);
    C.rootfd = -1;
}

static void step_move_root(void)
{
    drop_setup_fds();
    if (fchdir(C.rootfd) < 0)
        fail(errno, "chdir to rootfs");
    /* A shared "/" (rootfsPropagation shared: it is the host's peer) would
     * pass the rootfs moved onto it on to the host's "/". */
    if (mount("", "/", NULL, MS_PRIVATE, NULL) < 0)
        fail(errno, "make / private");
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
        fail(errno, "move rootfs to /");
    if (chroot(".") < 0)
        fail(errno, "chroot");
    if (chdir("/") < 0)
        fail(errno, "chdir /");
    close(C.rootfd);
    C.rootfd = -1;
}

/* rro, rnosuid...: set u1 and clear u2 on the mount at s1 and every mount
 * below it. */
static void step_setattr(const struct mo_step *s)
{
    struct {
        unsigned long long attr_set, attr_clr, propagation, userns_fd;
    } attr = { s->u1, s->u2, 0, 0 };
    int fd = open_in_root(s->s1, MO_TARGET_NONE);
    if (fd < 0)
        fail(errno, "open %s", s->s1);
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | 0x8000 /* AT_RECURSIVE */, &attr, sizeof attr) < 0)
        fail(errno, "set recursive mount attributes of %s", s->s1);
    close(fd);
}

/* Without a mount namespace of its own the container shares the runtime's
 * mount table, where pivot_root would move every process's root: its
 * process only changes its own. */
static void step_chroot(const struct mo_step *s)
{
    if (chroot(s->s1) < 0)
        fail(errno, "chroot into %s", s->s1);
    if (chdir("/") < 0)
        fail(errno, "chdir /");
}

/* The container's /dev/null, opened once and checked to be the null device
 * (1:3): files are masked from this fd, never from whatever the path holds
 * (a symlink there, in a /dev volume, made /proc/keys a view of another
 * file: the CVE-2025-31133 class; runc checks it likewise). */
static int dev_null(void)
{
    if (C.devnull >= 0)
        return C.devnull;
    struct stat st;
    int fd = open("/dev/null", O_PATH | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        fail(errno, "open /dev/null to mask paths with");
    if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
        fail(0, "mask paths: the container's /dev/null is not the null device (1:3)");
    return C.devnull = fd;
}

/* A masked or read-only path (in the new root), opened once: what is
 * checked is what is mounted on.  -1 if it does not exist. */
static int open_target(const char *path, const char *what)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        fail(errno, "open %s %s", what, path);
    return fd;
}

static void step_mask(const struct mo_step *s)
{
    struct stat st;
    int fd = open_target(s->s1, "masked path");
    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0)
        fail(errno, "stat masked path %s", s->s1);
    /* A directory gets an empty read-only tmpfs: nothing is bound there. */
    int r = S_ISDIR(st.st_mode) ? mount("tmpfs", s->s1, "tmpfs", MS_RDONLY, NULL)
                                : bind_fd(dev_null(), fd, 0, 0);
    if (r < 0)
        fail(errno, "mask %s", s->s1);
    close(fd);
}

/* The path bound onto itself (by its fd: one lookup), read-only; the rest of
 * its mount's flags (nosuid, nodev, noexec...) stay (as runc keeps them). */
static void step_readonly(const struct mo_step *s)
{
    int fd = open_target(s->s1, "read-only path");
    if (fd < 0)
        return;
    if (bind_fd(fd, fd, 1, MOUNT_ATTR_RDONLY) < 0)
        fail(errno, "bind %s read-only", s->s1);
    close(fd);
}

static void step_write_proc(const struct mo_step *s)
{
    if (strncmp(s->s1, "/proc/", 6) != 0)
        fail(EINVAL, "write %s: not a file under /proc", s->s1);
    char what[PATH_MAX + 8];
    snprintf(what, sizeof what, "write %s", s->s1);
    int r = mo_proc_write(proc_root(what), s->s1 + 6, s->s2, strlen(s->s2));
    if (r == -EXDEV || r == -ELOOP)
        fail(0, "write %s: it is not procfs's own file (a mount or a symlink is in the way)", s->s1);
    if (r < 0)
        fail(-r, "write %s", s->s1);
}

static void step_loopback_up(void)
{
    int rc = mo_loopback_up();
    if (rc < 0)
        fail(-rc, "bring lo up");
}

static void step_rlimit(const struct mo_step *s)
{
    struct rlimit rl = { .rlim_cur = s->u1, .rlim_max = s->u2 };
    if (setrlimit(s->i1, &rl) < 0)
        fail(errno, "setrlimit %s", s->s1 ? s->s1 : "?");
}

static void step_cap_bounding(const struct mo_step *s)
{
    for (int cap = 0; cap < 64; cap++) {
        if (s->u1 & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)    /* past the kernel's last capability */
                break;
            fail(errno, "drop bounding capability %d", cap);
        }
    }
}

static void step_user(const struct mo_step *s)
{
    size_t ngroups = s->blob_len / sizeof(gid_t);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        fail(errno, "keep capabilities");
    /* In a user namespace whose setgroups is denied, only an empty list
     * is possible and it is already empty. */
    if (setgroups(ngroups, (const gid_t *)s->blob) < 0 && !(errno == EPERM && ngroups == 0))
        fail(errno, "setgroups");
    if (setresgid(s->i2, s->i2, s->i2) < 0)
        fail(errno, "setgid %d", s->i2);
    if (setresuid(s->i1, s->i1, s->i1) < 0)
        fail(errno, "setuid %d", s->i1);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        fail(errno, "clear keep capabilities");
}

/* i1: the uid the process becomes.  As runc's fixStdioPermissions: stdio
 * the caller gave (pipes, files, a terminal) is made that user's, so that
 * the process can reopen it (/proc/self/fd/1, /dev/stdout); the group stays,
 * /dev/null is left alone, and what the kernel refuses is left as it is (an
 * owner the user namespace does not map, a read-only filesystem). */
static void step_chown_stdio(const struct mo_step *s)
{
    for (int fd = 0; fd < 3; fd++) {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            if (errno == EBADF)
                continue;
            fail(errno, "stat stdio fd %d", fd);
        }
        if (st.st_uid == (uid_t)s->i1 || (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)))
            continue;
        if (fchown(fd, (uid_t)s->i1, (gid_t)-1) < 0 && errno != EPERM && errno != EROFS && errno != EINVAL)
            fail(errno, "chown stdio fd %d to uid %d", fd, s->i1);
    }
}

static void step_caps(const struct mo_step *s)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = (unsigned)(s->u1 >> (32 * i));
        data[i].permitted = (unsigned)(s->u2 >> (32 * i));
        data[i].inheritable = (unsigned)(s->u3 >> (32 * i));
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        fail(errno, "capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        fail(errno, "clear ambient capabilities");
    for (int cap = 0; cap < 64; cap++) {
        /* Like runc: an ambient capability the kernel refuses (not both
         * permitted and inheritable) is left out rather than fatal. */
        if (s->u4 & (1ULL << cap))
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    }
}

/* The container's own session keyring, s1 ("_ses.<id>"), as runc makes it:
 * joined by name (so `exec` joins the same one), and made searchable with
 * the bits u1 (0: join only).  A kernel without keyrings (ENOSYS) is no
 * error, as with runc; anything else is (a seccomp profile that denies
 * keyctl to minioci itself, a key quota reached in a user namespace).
 * The join finds any keyring of that name we may search, whoever made it:
 * one another user made first and opened to all would be the container's,
 * to read and fill.  Ours is made by a process of our euid (the container's
 * first, before any user switch, as we are now), so another owner refuses. */
static void step_session_keyring(const struct mo_step *s)
{
    long id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, s->s1, 0, 0, 0);
    if (id < 0 && errno == ENOSYS)
        return;
    if (id < 0)
        fail(errno, "join session keyring %s", s->s1);
    /* "type;uid;gid;perm;description" */
    char desc[512];
    long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc - 1, 0);
    if (n < 0)
        fail(errno, "describe session keyring %s", s->s1);
    desc[n < (long)sizeof desc ? n : (long)sizeof desc - 1] = '\0';
    const char *field[4] = { desc };
    for (int i = 1; i < 4; i++) {
        field[i] = strchr(field[i - 1], ';');
        if (!field[i]++)
            fail(EINVAL, "describe session keyring %s: %s", s->s1, desc);
    }
    unsigned long owner = strtoul(field[1], NULL, 10);
    if (owner != (unsigned long)geteuid())
        fail(0, "join session keyring %s: it belongs to uid %lu, not %u (another user made a keyring of the "
             "container's name)", s->s1, owner, (unsigned)geteuid());
    if (!s->u1)
        return;
    /* keep its permissions, add ours */
    unsigned long bits = strtoul(field[3], NULL, 16) | (unsigned long)s->u1;
    if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, bits, 0, 0) < 0)
        fail(errno, "set the permissions of session keyring %s", s->s1);
}

/* Join a cgroup by writing "0" (ourselves) to s1.  For a v1 hierarchy s1 is
 * the `tasks` file: moving one thread, ourselves, skips the kernel's global
 * threadgroup lock, whose RCU sync costs ~15 ms per start here where
 * cgroup.procs would take it.  i1: this is the v2 cgroup, already joined if
 * clone3 put us there. */
static void step_join_cgroup(const struct mo_step *s)
{
    if (s->i1 && C.in_cgroup)
        return;
    int fd = open(s->s1, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fail(errno, "open %s", s->s1);
    if (write(fd, "0", 1) != 1)
        fail(errno, "join cgroup: write 0 to %s", s->s1);
    close(fd);
}

static void step_chdir(const struct mo_step *s)
{
    char cwd[PATH_MAX];
    errno = 0;
    if (chdir(s->s1) < 0)
        fail(errno, "chdir to cwd %s", s->s1);
    /* A cwd reached through a leaked host fd is outside our root, and
     * getcwd says so with "(unreachable)" (runc's CVE-2024-21626 check). */
    if (!getcwd(cwd, sizeof cwd) || cwd[0] != '/')
        fail(errno ? errno : EPERM, "cwd %s is outside the container's root", s->s1);
}

/* A new pty from the container's devpts: its ptmx, reached from /dev/pts
 * without a symlink or crossing a mount, /dev/pts checked to be a devpts's
 * root first, so that a /dev/pts volume cannot hand us another file (runc
 * checks the ptmx likewise). */
static int open_ptmx(void)
{
    const char *bad = "open /dev/pts/ptmx: it is not the ptmx of a devpts filesystem";
    struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
    struct statfs sfs;
    struct stat st;
    int pts = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/pts", &how, sizeof how);
    if (pts < 0 && errno != ELOOP && errno != ENOTDIR)
        fail(errno, "open /dev/pts");
    if (pts < 0 || fstatfs(pts, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC || fstat(pts, &st) < 0 ||
        st.st_ino != 1)
        fail(0, "%s", bad);
    how = (struct open_how){ .flags = O_RDWR | O_NOCTTY | O_CLOEXEC,
                             .resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS };
    int master = (int)syscall(SYS_openat2, pts, "ptmx", &how, sizeof how);
    if (master < 0 && errno != ELOOP && errno != EXDEV)
        fail(errno, "open /dev/pts/ptmx");
    if (master < 0 || fstat(master, &st) < 0 || st.st_ino != 2 || !S_ISCHR(st.st_mode) ||
        st.st_rdev != makedev(5, 2))
        fail(0, "%s", bad);
    close(pts);
    return master;
}

/* runtime-spec: /dev/console is the pty, bound there: from the pty's fd
 * (never a /dev/pts/N path, which a /dev/pts volume could make a symlink:
 * the CVE-2025-52565 class) onto a plain file made there, no symlink
 * followed. */
static void bind_console(int pty)
{
    struct open_how how = { .flags = O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC, .mode = 0600,
                            .resolve = RESOLVE_NO_SYMLINKS };
    struct stat st;
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/console", &how, sizeof how);
    if (fd < 0 && errno == EEXIST) {
        how = (struct open_how){ .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
        fd = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/console", &how, sizeof how);
        if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)))
            fail(0, "bind the terminal on /dev/console: a file that is not a plain one is there");
    }
    if (fd < 0)
        fail(errno, "create /dev/console");
    if (bind_fd(pty, fd, 0, 0) < 0)
        fail(errno, "bind the terminal on /dev/console");
    close(fd);
}

static void step_terminal(const struct mo_step *s)
{
    int master = open_ptmx();
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        fail(errno, "unlock pty");
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0)
        fail(errno, "open pty peer");
    if (fchown(slave, (uid_t)s->u1, (gid_t)s->u2) < 0)
        fail(errno, "chown pty to %llu:%llu", s->u1, s->u2);
    if (s->u3) {
        /* Sized before exec, so the process never sees 0x0 (runc applies
         * process.consoleSize the same way). */
        struct winsize ws = { .ws_row = (unsigned short)(s->u3 >> 16), .ws_col = (unsigned short)s->u3 };
        if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
            fail(errno, "set terminal size");
    }
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        fail(errno, "set controlling terminal");
    if (s->i2)
        bind_console(slave);
    for (int i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            fail(errno, "dup pty to fd %d", i);
    if (slave > 2)
        close(slave);
    /* i1 < 0: hand the master to our own parent (`run` proxies it);
     * otherwise i1 is the connected --console-socket. */
    int r = s->i1 < 0 ? send_report(MO_REPORT_TERMINAL, master) : mo_send_fd(s->i1, master);
    if (r < 0)
        fail(-r, s->i1 < 0 ? "send pty master to minioci" : "send pty master to console socket");
    close(master);
}

/* 0 if `path` is a file we may execute, else the errno exec would give. */
static int check_executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return errno;
    if (!S_ISREG(st.st_mode))
        return EACCES;
    return access(path, X_OK) == 0 ? 0 : errno;
}

/* The environment the program gets: `env`, and HOME when it has none, as
 * runc and crun set it: the home of our uid in the container's /etc/passwd,
 * or "/" if it lists no such user. */
static char **with_home(char **env)
{
    size_t n = 0;
    for (; env && env[n]; n++)
        if (strncmp(env[n], "HOME=", 5) == 0)
            return env;
    static char home[PATH_MAX + 5] = "HOME=/";
    int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        static char buf[1 << 16];
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[len > 0 ? len : 0] = '\0';
        char want[16];
        snprintf(want, sizeof want, "%u", (unsigned)getuid());
        for (char *line = buf, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            char *field[7] = { line };
            int k = 1;
            for (char *p = line; *p && k < 7; p++)
                if (*p == ':') {
                    *p = '\0';
                    field[k++] = p + 1;
                }
            if (k == 7 && strcmp(field[2], want) == 0) {
                if (*field[5])
                    snprintf(home, sizeof home, "HOME=%s", field[5]);
                break;
            }
        }
    }
    char **out = malloc((n + 2) * sizeof *out);
    if (!out)
        fail(ENOMEM, "environment");
    for (size_t i = 0; i < n; i++)
        out[i] = env[i];
    out[n] = home;
    out[n + 1] = NULL;
    return out;
}

/* Resolve the command like runc's exec.LookPath, with the container's PATH,
 * before seccomp can forbid the syscalls it needs, and before `create`
 * returns: a command that cannot run fails the create, as with runc. */
static void step_find_exec(const struct mo_step *s)
{
    const char *file = s->s1;
    C.exec_env = with_home(s->v2);
    if (strchr(file, '/')) {
        if (snprintf(C.exec_path, sizeof C.exec_path, "%s", file) >= (int)sizeof C.exec_path)
            fail(ENAMETOOLONG, "exec %s", file);
        int err = check_executable(C.exec_path);
        if (err)
            fail(err, "exec %s", file);
        return;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (char **e = s->v2; e && *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    while (*path) {
        const char *end = strchrnul(path, ':');
        int n = (int)(end - path);
        snprintf(C.exec_path, sizeof C.exec_path, "%.*s%s%s", n, n ? path : ".", "/", file);
        if (check_executable(C.exec_path) == 0)
            return;
        path = *end ? end + 1 : end;
    }
    fail(ENOENT, "exec: \"%s\": executable file not found in $PATH", file);
}

/* The listener's state comes from the parent once it knows our pid; it is
 * set right after clone(), long before this step, so the wait is short. */
static void wait_listener_state(void)
{
    int *len = &C.shared->listener_state_len;
    struct timespec second = { .tv_sec = 1 };
    for (int waited = 0; __atomic_load_n(len, __ATOMIC_ACQUIRE) == 0; waited++) {
        if (waited == 30)
            fail(ETIMEDOUT, "wait for the state to send the seccomp listener");
        syscall(SYS_futex, len, FUTEX_WAIT, 0, &second, NULL, 0);
    }
}

static void step_seccomp(const struct mo_step *s)
{
    struct sock_fprog prog = {
        .len = (unsigned short)(s->blob_len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)s->blob,
    };
    int listener = s->i2;
    if (listener >= 0) {
        if (!(s->i1 & SECCOMP_FILTER_FLAG_NEW_LISTENER))
            fail(EINVAL, "seccomp listener without SECCOMP_FILTER_FLAG_NEW_LISTENER");
        wait_listener_state();
    }
    /* What exec would do, done before the filter: after it only execve. */
    drop_setup_fds();
    if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
        fail(errno, "clear parent-death signal");
    C.filtered = 1;
    long r = s->i1 ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, s->i1, &prog)
                   : prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
    if (r < 0)
        fail(errno, "load seccomp filter");
    if (listener >= 0) {
        /* Filtered from here on: the profile must allow sendmsg (Python
         * refuses SCMP_ACT_NOTIFY on it, which would wait forever). */
        int e = mo_send_msg(listener, C.shared->listener_state, (size_t)C.shared->listener_state_len, (int)r);
        if (e < 0)
            fail(-e, "send the seccomp notify fd to the listener");
        close((int)r);
        close(listener);
    }
}

static void step_close_fds(const struct mo_step *s)
{
    if (syscall(SYS_close_range, s->i1, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = s->i1; fd < max; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void step_wait_start(const struct mo_step *s)
{
    char byte;
    drop_setup_fds();
    /* From here on the child outlives `create`: it must not die with it. */
    if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
        fail(errno, "clear parent-death signal");
    send_report(MO_REPORT_READY, -1);
    ssize_t n;
    do {
        n = read(s->i1, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        fail(n < 0 ? errno : EPIPE, "wait for start");
    close(s->i1);
}

static void step_exec(const struct mo_step *s)
{
    drop_setup_fds();
    if (!C.filtered)
        prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    /* Stamp exec's start; the parent stamps its end when the socket closes. */
    C.shared->t_step[C.step] = mo_now();
    execve(C.exec_path, s->v1, C.exec_env ? C.exec_env : s->v2);
    fail(errno, "exec %s", C.exec_path);
}

/* Block until the parent's go: one message, an int and optionally the
 * container's state JSON for the hooks that run in here. */
/* The plan goes on in a new process, a child of our parent (CLONE_PARENT),
 * which it reaps; this one reports who that is and leaves.  Used to become
 * pid 1 of a PID namespace created after joining a user namespace, so that
 * the PID namespace belongs to the container's user namespace. */
static void step_fork(void)
{
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0)
        fail(errno, "fork the container's process");
    if (pid > 0) {
        C.shared->pid = pid;
        send_report(MO_REPORT_PID, -1);
        _exit(0);
    }
    /* Our parent's death must still take us down while it drives the setup. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fail(errno, "set parent-death signal");
    /* A session of our own again, for a controlling terminal. */
    if (setsid() < 0)
        fail(errno, "setsid");
}

static void wait_parent(void)
{
    char msg[sizeof(int) + sizeof C.state];
    ssize_t n;
    do {
        n = recv(C.sock, msg, sizeof msg, 0);
    } while (n < 0 && errno == EINTR);
    if (n < (ssize_t)sizeof(int))
        _exit(1);   /* the parent is gone: nothing to report to */
    if (n > (ssize_t)sizeof(int)) {
        C.state_len = (size_t)n - sizeof(int);
        memcpy(C.state, msg + sizeof(int), C.state_len);
    }
}

/* Run an OCI hook in the container's namespaces: s1 path, v1 args, v2 env,
 * i1 timeout in seconds (0: none), s2 its name for messages.  The state JSON
 * goes to its stdin; the state the parent sent holds two documents separated
 * by a NUL, i2 picks which (0: "creating", 1: "created"). */
static void step_hook(const struct mo_step *s)
{
    const char *state = C.state;
    size_t len = strnlen(C.state, C.state_len);
    if (s->i2 == 1 && len < C.state_len) {
        state = C.state + len + 1;
        len = C.state_len - len - 1;
    }
    int in[2], exec_err[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(exec_err, O_CLOEXEC) < 0)
        fail(errno, "pipe for hook %s", s->s2);
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0)
        fail(errno, "start hook %s", s->s2);
    if (pid == 0) {
        /* A failed exec sends its errno back, so that the error is reported
         * once, by fail(), and not also printed here. */
        int e = dup2(in[0], 0) < 0 ? errno : 0;
        if (!e) {
            execve(s->s1, s->v1, s->v2);
            e = errno;
        }
        (void)!write(exec_err[1], &e, sizeof e);
        _exit(127);
    }
    close(in[0]);
    close(exec_err[1]);
    int e;
    ssize_t n;
    do {
        n = read(exec_err[0], &e, sizeof e);   /* EOF: the hook is running */
    } while (n < 0 && errno == EINTR);
    close(exec_err[0]);
    if (n == sizeof e) {
        waitpid(pid, NULL, 0);
        fail(e, "hook %s", s->s2);
    }
    /* A hook that does not read its stdin must not block us (the state is
     * far smaller than a pipe's buffer), nor kill us with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    ssize_t w = write(in[1], state, len);
    int werr = errno;
    signal(SIGPIPE, SIG_DFL);
    if (w < 0 && werr != EPIPE)
        fail(werr, "write state to hook %s", s->s2);
    close(in[1]);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0 && s->i1 > 0) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int r;
        do {
            r = poll(&p, 1, s->i1 * 1000);
        } while (r < 0 && errno == EINTR);
        if (r == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail(0, "hook %s: did not finish within %ds", s->s2, s->i1);
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail(errno, "wait for hook %s", s->s2);
    if (WIFSIGNALED(status))
        fail(0, "hook %s: killed by signal %d", s->s2, WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        fail(0, "hook %s: exited with status %d", s->s2, WEXITSTATUS(status));
}

static void run_step(const struct mo_step *s)
{
    switch (s->op) {
    case MO_OP_PARENT_HOOKS:
        send_report(MO_REPORT_HOOKS, -1);
        wait_parent();
        break;
    case MO_OP_HOOK: step_hook(s); break;
    case MO_OP_SETNS: step_setns(s); break;
    case MO_OP_UNSHARE:
        if (unshare(s->i1) < 0)
            fail(errno, "unshare %s namespace", s->s1 ? s->s1 : "?");
        break;
    case MO_OP_JOIN_CGROUP: step_join_cgroup(s); break;
    case MO_OP_ROOTFS: step_rootfs(s); break;
    case MO_OP_MOUNT: step_mount(s); break;
    case MO_OP_MQUEUE: step_mqueue(s); break;
    case MO_OP_MKNOD: step_mknod(s); break;
    case MO_OP_BIND_DEV: step_bind_dev(s); break;
    case MO_OP_SYMLINK: step_symlink(s); break;
    case MO_OP_PIVOT_ROOT: step_pivot_root(); break;
    case MO_OP_MOVE_ROOT: step_move_root(); break;
    case MO_OP_ROOT_PROPAGATION:
        if (mount("", "/", NULL, s->u1, NULL) < 0)
            fail(errno, "set propagation of /");
        break;
    case MO_OP_REMOUNT_ROOT_RO:
        if (remount_bind("/", MS_RDONLY) < 0)
            fail(errno, "remount / read-only");
        break;
    case MO_OP_MASK: step_mask(s); break;
    case MO_OP_READONLY: step_readonly(s); break;
    case MO_OP_SETHOSTNAME:
        if (sethostname(s->s1, strlen(s->s1)) < 0)
            fail(errno, "sethostname %s", s->s1);
        break;
    case MO_OP_SETDOMAINNAME:
        if (setdomainname(s->s1, strlen(s->s1)) < 0)
            fail(errno, "setdomainname %s", s->s1);
        break;
    case MO_OP_WRITE_PROC: step_write_proc(s); break;
    case MO_OP_LOOPBACK_UP: step_loopback_up(); break;
    case MO_OP_RLIMIT: step_rlimit(s); break;
    case MO_OP_CAP_BOUNDING: step_cap_bounding(s); break;
    case MO_OP_USER: step_user(s); break;
    case MO_OP_CAPS: step_caps(s); break;
    case MO_OP_NO_NEW_PRIVS:
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            fail(errno, "set no_new_privs");
        break;
    case MO_OP_UMASK: umask((mode_t)s->i1); break;
    case MO_OP_CHDIR: step_chdir(s); break;
    case MO_OP_TERMINAL: step_terminal(s); break;
    case MO_OP_FIND_EXEC: step_find_exec(s); break;
    case MO_OP_SECCOMP: step_seccomp(s); break;
    case MO_OP_CLOSE_FDS: step_close_fds(s); break;
    case MO_OP_WAIT_START: step_wait_start(s); break;
    case MO_OP_EXEC: step_exec(s); break;
    case MO_OP_FORK: step_fork(); break;
    case MO_OP_MKDIR: step_mkdir(s); break;
    case MO_OP_CHROOT: step_chroot(s); break;
    case MO_OP_SETATTR: step_setattr(s); break;
    case MO_OP_SESSION_KEYRING: step_session_keyring(s); break;
    case MO_OP_CHOWN_STDIO: step_chown_stdio(s); break;
    case MO_OP_PERSONALITY:
        if (syscall(SYS_personality, (unsigned long)s->u1) < 0)
            fail(errno, "personality %#llx", s->u1);
        break;
    case MO_OP_SCHEDULER:
        if (syscall(SYS_sched_setattr, 0, s->blob, 0) < 0)
            fail(errno, "sched_setattr");
        break;
    case MO_OP_IOPRIO:
        if (syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, s->i1) < 0)
            fail(errno, "ioprio_set class %d level %d", s->i1 >> 13, s->i1 & 7);
        break;
    case MO_OP_MEMPOLICY:
        if (syscall(SYS_set_mempolicy, s->i1, s->blob_len ? s->blob : NULL, (unsigned long)s->u1) < 0)
            fail(errno, "set_mempolicy");
        break;
    default: fail(EINVAL, "unknown step %d", s->op);
    }
}

void mo_child_run(struct mo_shared *shared)
{
    struct mo_step *steps;

    C.shared = shared;
    C.sock = shared->sock;
    C.in_cgroup = shared->in_cgroup;
    C.step = -1;
    /* The sync socket crossed our own exec; the container's must close it,
     * which tells the parent the exec happened. */
    if (fcntl(C.sock, F_SETFD, FD_CLOEXEC) < 0)
        fail(errno, "mark the sync socket close-on-exec");

    /* Python ignores SIGPIPE and may block others, and an ignored signal
     * stays ignored across execve: the container starts from the defaults
     * with nothing blocked. */
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setsid() < 0)
        fail(errno, "setsid");

    const char *plan = (const char *)&shared->t_step[shared->nsteps];
    int r = mo_plan_decode(plan, (size_t)shared->plan_len, shared->nsteps, &steps);
    if (r < 0)
        fail(-r, "decode the plan (%d steps, %d bytes)", shared->nsteps, shared->plan_len);
    open_namespaces(steps, shared->nsteps);

    for (int i = 0; i < shared->nsteps; i++) {
        C.step = i;
        run_step(&steps[i]);
        shared->t_step[i] = mo_now();
        shared->steps_done = i + 1;
    }
    C.step = shared->nsteps;
    fail(EINVAL, "plan ended without exec");
}
