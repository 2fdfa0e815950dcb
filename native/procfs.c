/* procfs, checked (the CVE-2025-52881 class): every file minioci writes
 * under /proc is reached from the root of a real procfs (fstatfs says
 * PROC_SUPER_MAGIC, its inode is procfs's root inode), never through a
 * symlink and never into another mount (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS), and must be a procfs file itself,
 * so that nothing mounted or planted in a container's /proc (a bind over
 * /proc/sys/kernel, a symlink to a host file, a plain file where a sysctl
 * was) can take the write elsewhere.
 *
 * The root is /proc where the caller stands: the parent's, or, in the
 * container's process, the host's until pivot_root and then the procfs
 * minioci mounted there (a rootfs without one has no procfs to write to).
 * runc's pathrs-lite makes a procfs instance of its own instead (fsopen);
 * closing one costs ~80 us here (the kernel's unmount waits for RCU), and
 * with RESOLVE_NO_XDEV nothing mounted below /proc is crossed anyway.
 * Both sides use it: minioci-init (sysctls, oomScoreAdj, time offsets) and
 * the parent (id maps).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "native.h"

#define PROC_ROOT_INO 1

int mo_proc_root(void)
{
    struct statfs sfs;
    struct stat st;
    int fd = open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstatfs(fd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC || fstat(fd, &st) < 0 || st.st_ino != PROC_ROOT_INO) {
        close(fd);
        return -ENODEV;
    }
    return fd;
}

/* `path` below `root`, opened with `flags` as mo_proc_write reaches it. */
static int proc_open(int root, const char *path, int flags)
{
    /* self is the one symlink on the way minioci takes: read, it names our
     * pid as this procfs counts it. */
    char full[PATH_MAX], self[32];
    if (strncmp(path, "self/", 5) == 0) {
        ssize_t len = readlinkat(root, "self", self, sizeof self - 1);
        if (len < 0)
            return -errno;
        self[len] = '\0';
        if (snprintf(full, sizeof full, "%s%s", self, path + 4) >= (int)sizeof full)
            return -ENAMETOOLONG;
        path = full;
    }
    struct open_how how = {
        .flags = (unsigned long long)flags | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS,
    };
    int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
    if (fd < 0)
        return -errno;
    struct statfs sfs;
    if (fstatfs(fd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC) {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

int mo_proc_write(int root, const char *path, const char *data, unsigned long len)
{
    int fd = proc_open(root, path, O_WRONLY);
    if (fd < 0)
        return fd;
    ssize_t n = write(fd, data, len);
    int err = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
    close(fd);
    return err;
}
