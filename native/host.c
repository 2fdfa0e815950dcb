/* What the parent does on the host for a container, outside its child:
 * subreaping, network namespaces, the cgroup v2 device filter, bind sources
 * opened as detached mount trees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "native.h"

int mo_set_child_subreaper(void)
{
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int mo_setns(int fd, int nstype)
{
    return setns(fd, nstype) < 0 ? -errno : 0;
}

int mo_netns_create(const char *path)
{
    /* As `ip netns add` does, but in this thread only and back again: the
     * parent goes on configuring links from its own namespace. */
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return -errno;
    int err = 0;
    if (unshare(CLONE_NEWNET) < 0) {
        err = -errno;
        close(self);
        return err;
    }
    if (mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0)
        err = -errno;
    /* Cannot fail for root holding an fd of its own namespace; if it did,
     * going on would configure links in the wrong namespace. */
    if (setns(self, CLONE_NEWNET) < 0)
        abort();
    close(self);
    return err;
}

int mo_sandbox(int *fds)
{
    static const struct { int type; const char *path; } kinds[] = {
        { CLONE_NEWNET, "/proc/thread-self/ns/net" },
        { CLONE_NEWIPC, "/proc/thread-self/ns/ipc" },
        { CLONE_NEWUTS, "/proc/thread-self/ns/uts" },
    };
    int own[3], err = 0;
    for (int i = 0; i < 3; i++) {
        fds[i] = -1;
        own[i] = open(kinds[i].path, O_RDONLY | O_CLOEXEC);
        if (own[i] < 0 && !err)
            err = -errno;
    }
    if (!err && unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
        err = -errno;
    else if (!err) {
        for (int i = 0; i < 3 && !err; i++) {
            fds[i] = open(kinds[i].path, O_RDONLY | O_CLOEXEC);
            if (fds[i] < 0)
                err = -errno;
        }
        if (!err)
            err = mo_loopback_up();
        /* Cannot fail for root holding fds of its own namespaces; if it
         * did, going on in the new ones would be worse than stopping. */
        for (int i = 0; i < 3; i++)
            if (setns(own[i], kinds[i].type) < 0)
                abort();
    }
    for (int i = 0; i < 3; i++) {
        if (own[i] >= 0)
            close(own[i]);
        if (err && fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    return err;
}

int mo_umount(const char *path, int flags)
{
    return umount2(path, flags) < 0 ? -errno : 0;
}

/* ---- cgroup v2 device filter (eBPF): the parent loads and attaches it ---- */

int mo_bpf_load_device_filter(const unsigned char *insns, unsigned int count, const char *license,
                              char *log, unsigned int log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (unsigned long long)(unsigned long)insns;
    attr.insn_cnt = count;
    attr.license = (unsigned long long)(unsigned long)license;
    if (log && log_size) {
        attr.log_buf = (unsigned long long)(unsigned long)log;
        attr.log_size = log_size;
        attr.log_level = 1;
    }
    int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    return fd < 0 ? -errno : fd;
}

int mo_bpf_attach_device_filter(int cgroup_fd, int prog_fd, unsigned int flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.target_fd = (unsigned int)cgroup_fd;
    attr.attach_bpf_fd = (unsigned int)prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = flags;
    return syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr) < 0 ? -errno : 0;
}

int mo_open_tree(const char *path, int recursive)
{
    /* A detached copy of the mount at `path` (and its submounts if
     * recursive), which a child in a user namespace of its own can attach
     * with move_mount although it could not reach `path` itself. */
    unsigned int flags = 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC | (recursive ? 0x8000 /* AT_RECURSIVE */ : 0);
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, flags);
    return fd < 0 ? -errno : fd;
}

int mo_idmap_tree(int tree_fd, int userns_fd, int recursive)
{
    /* An idmapped mount (MOUNT_ATTR_IDMAP) through the user namespace
     * userns_fd, on a detached tree from mo_open_tree. */
    struct {
        unsigned long long attr_set, attr_clr, propagation, userns_fd;
    } attr = { 0x00100000 /* MOUNT_ATTR_IDMAP */, 0, 0, (unsigned long long)userns_fd };
    unsigned int flags = AT_EMPTY_PATH | (recursive ? 0x8000 /* AT_RECURSIVE */ : 0);
    return syscall(SYS_mount_setattr, tree_fd, "", flags, &attr, sizeof attr) < 0 ? -errno : 0;
}

/* Write `text` to /proc/<pid>/<name> below the procfs `root` (procfs.c:
 * every write minioci makes under /proc is checked); 0 or -errno. */
static int write_proc(int root, pid_t pid, const char *name, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "%d/%s", (int)pid, name);
    return root < 0 ? root : mo_proc_write(root, path, text, strlen(text));
}

int mo_userns_fd(const char *uid_map, const char *gid_map)
{
    /* A user namespace exists while a process is in it: a child made in a
     * new one waits (on a pipe) while we write its maps and open it, then
     * goes.  The fd keeps the namespace. */
    int gate[2];
    if (pipe2(gate, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) {
        char byte;
        close(gate[1]);
        (void)!read(gate[0], &byte, 1);    /* EOF: we are done with it */
        _exit(0);
    }
    int err = pid < 0 ? -errno : 0, fd = -1, root = mo_proc_root();
    close(gate[0]);
    if (!err)
        err = write_proc(root, pid, "uid_map", uid_map);
    if (!err)
        err = write_proc(root, pid, "gid_map", gid_map);
    if (root >= 0)
        close(root);
    if (!err) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            err = -errno;
    }
    close(gate[1]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    return err ? err : fd;
}
