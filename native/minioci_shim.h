/* minioci's native side: what Python (the cffi module minioci._shim) and the
 * native executable share.
 *
 * Python decides what the container's process must do (minioci/plan.py) and
 * encodes it as one byte string (minioci/shim.py, format below).  spawn.c
 * clones a child, which executes a sealed memfd copy of minioci's static
 * executable as `minioci-init` before it touches anything of the container;
 * init.c maps the shared region, decodes the plan and child.c runs its steps
 * in order, stamping each with CLOCK_MONOTONIC so the parent can show where
 * the time went.  No host executable file is ever the image of a process
 * inside a container (CVE-2019-5736), and no fd but stdio, --preserve-fds and
 * the ones the plan names crosses into it (CVE-2016-9962, CVE-2024-21626).
 *
 * This header is also the cffi cdef (native/build_shim.py strips the lines
 * starting with '#'), so it holds only declarations cffi can parse.
 */
#ifndef MINIOCI_SHIM_H
#define MINIOCI_SHIM_H

/* Step operations.  Field use per op is documented in child.c and mirrored by
 * the field table in minioci/shim.py. */
enum mo_op {
    MO_OP_PARENT_HOOKS = 1,      /* report MO_REPORT_HOOKS, then wait for go (with the state) */
    MO_OP_HOOK,              /* run hook s1 (args v1, env v2, timeout i1 s, state i2), named s2 */
    MO_OP_SETNS,             /* join the namespace at s1 (i1 = CLONE_NEW* type); every
                                namespace file is opened before the first is joined;
                                without s1, the one made ahead whose fd is i2 */
    MO_OP_UNSHARE,           /* unshare(i1) */
    MO_OP_JOIN_CGROUP,       /* write "0" to s1 (v1 tasks / v2 cgroup.procs); i1: v2, skip
                                if clone3 already placed us there */
    MO_OP_ROOTFS,            /* make "/" u1-propagated (then the mount s2, if given, private),
                                bind s1 onto itself, open it */
    MO_OP_MOUNT,             /* mount s1 on s2 (inside the rootfs); a bind with i2 > 0 attaches
                                the detached tree i2 (mo_open_tree) instead of binding s1;
                                u3: a tmpfs's extras (enum mo_tmpfs);
                                u4: where s2 may lie in procfs (enum mo_in_proc) */
    MO_OP_MQUEUE,            /* mount mqueue on s2 (flags u1); bind /dev/mqueue if refused */
    MO_OP_MKNOD,             /* device node s2: mode u1, dev u2, owner i1:i2 */
    MO_OP_BIND_DEV,          /* bind host device s1 onto a file at s2 (user namespaces) */
    MO_OP_SYMLINK,           /* symlink s2 -> s1 inside the rootfs */
    MO_OP_PIVOT_ROOT,        /* pivot_root into the rootfs and detach the old root */
    MO_OP_MOVE_ROOT,         /* --no-pivot: move the rootfs onto / and chroot */
    MO_OP_ROOT_PROPAGATION,  /* set the new "/" to propagation u1 */
    MO_OP_REMOUNT_ROOT_RO,   /* root.readonly */
    MO_OP_MASK,              /* maskedPaths entry s1 */
    MO_OP_READONLY,          /* readonlyPaths entry s1 */
    MO_OP_SETHOSTNAME,       /* s1 */
    MO_OP_SETDOMAINNAME,     /* s1 */
    MO_OP_WRITE_PROC,        /* write s2 to s1, a file under /proc (sysctl, oom_score_adj, time
                                offsets), reached from a checked procfs root (procfs.c) */
    MO_OP_LOOPBACK_UP,       /* bring lo up with one ioctl */
    MO_OP_RLIMIT,            /* setrlimit(i1, soft u1, hard u2) */
    MO_OP_CAP_BOUNDING,      /* drop every bounding capability not in u1 */
    MO_OP_USER,              /* setgroups(blob as uint32 gids), setresgid(i2), setresuid(i1) */
    MO_OP_CAPS,              /* effective u1, permitted u2, inheritable u3, ambient u4 */
    MO_OP_NO_NEW_PRIVS,
    MO_OP_UMASK,             /* umask(i1) */
    MO_OP_CHDIR,             /* chdir(s1), resolved inside the new root */
    MO_OP_TERMINAL,          /* new pty from the container's /dev/ptmx, owned by u1:u2, sized
                                u3 (rows << 16 | cols, 0: unset); master sent on fd i1,
                                or to the parent when i1 < 0; i2: bind it on /dev/console */
    MO_OP_FIND_EXEC,         /* resolve s1 against PATH of envp v2; fails like runc */
    MO_OP_SECCOMP,           /* load the BPF program in blob with seccomp flags i1; if
                                i2 >= 0 (flags hold NEW_LISTENER), send the notify fd with
                                the listener state (mo_set_listener_state) on socket i2 */
    MO_OP_CLOSE_FDS,         /* mark every fd >= i1 close-on-exec */
    MO_OP_WAIT_START,        /* report ready, then block reading fd i1 until `start` */
    MO_OP_EXEC,              /* execve(found path, v1, v2) */
    MO_OP_FORK,              /* fork a sibling (CLONE_PARENT) that carries on: pid 1 of a PID
                                namespace unshared or joined (setns) just before */
    MO_OP_MKDIR,             /* directory s1 inside the rootfs, made if missing (process.cwd) */
    MO_OP_CHROOT,            /* chroot into s1 (no mount namespace of the container's own) */
    MO_OP_PERSONALITY,       /* personality(u1) */
    MO_OP_SCHEDULER,         /* sched_setattr(0, blob: struct sched_attr, 0) */
    MO_OP_IOPRIO,            /* ioprio_set(IOPRIO_WHO_PROCESS, 0, i1) */
    MO_OP_MEMPOLICY,         /* set_mempolicy(i1: mode | flags, blob: nodemask, u1: maxnode) */
    MO_OP_SETATTR,           /* mount_setattr(s1, AT_RECURSIVE, set u1, clear u2): rro, rnosuid... */
    MO_OP_SESSION_KEYRING,   /* join (or make) the session keyring named s1; u1: permission
                                bits to add to it (0: join only) */
    MO_OP_CHOWN_STDIO,       /* stdio (but /dev/null) owned by uid i1, as runc does */
    MO_OP_LAST
};

/* A tmpfs mount's extras (MO_OP_MOUNT u3). */
enum mo_tmpfs {
    MO_TMPFS_COPYUP = 1,         /* tmpcopyup: what was in s2 is copied into the new mount */
    MO_TMPFS_KEEP_MODE = 2       /* no mode= given: the mode of a directory at s2 (runc) */
};

/* Where a mount target is created when it is missing. */
enum mo_target_kind {
    MO_TARGET_NONE = 0,
    MO_TARGET_DIR = 1,
    MO_TARGET_FILE = 2
};

/* Where a mount's destination may lie in procfs (minioci/spec.py, IN_PROC_*):
 * mounts inside /proc are refused but for runc's short list. */
enum mo_in_proc {
    MO_IN_PROC_NO = 0,           /* not in procfs (anywhere it resolves to) */
    MO_IN_PROC_ALLOWED = 1,      /* a proc mount on /proc, or a file of runc's list */
    MO_IN_PROC_IF_PROCFS = 2     /* a bind on /proc: its source must be a procfs */
};

/* What the child reports on the sync socket (a one-int message).  EOF on the
 * socket without a report means the child has exec'ed the container's
 * program (or died). */
enum mo_report {
    MO_REPORT_READY = 1,     /* set up, now waiting for `start` */
    MO_REPORT_ERROR = 2,     /* failed; the details are in mo_shared */
    MO_REPORT_TERMINAL = 3,  /* carries the pty master (MO_OP_TERMINAL with i1 < 0) */
    MO_REPORT_HOOKS = 4,     /* mounts are done: run prestart/createRuntime, then go */
    MO_REPORT_PID = 5        /* MO_OP_FORK: mo_shared.pid carries on; the reporter exits */
};

/* The plan's byte encoding (all integers little-endian):
 *   plan  := "MOP1" u32:nsteps step*
 *   step  := u16:op u16:nfields field*
 *   field := u8:tag value
 *     I1 I2        i32
 *     U1..U4       u64
 *     S1..S4       u32:len bytes NUL        (len 0xffffffff: NULL, no bytes follow)
 *     V1 V2        u32:count (u32:len bytes NUL)*
 *     BLOB         u32:len bytes
 * A field a step does not carry is zero (NULL for strings and vectors). */
enum mo_field {
    MO_F_I1 = 1, MO_F_I2,
    MO_F_U1, MO_F_U2, MO_F_U3, MO_F_U4,
    MO_F_S1, MO_F_S2, MO_F_S3, MO_F_S4,
    MO_F_V1, MO_F_V2,
    MO_F_BLOB
};

/* One decoded step.  Which fields an op uses is documented in child.c. */
struct mo_step {
    int op;
    int i1, i2;
    unsigned long long u1, u2, u3, u4;
    const char *s1, *s2, *s3, *s4;
    char **v1, **v2;
    const unsigned char *blob;
    unsigned long blob_len;
};

/* Decode `len` bytes of an encoded plan into `nsteps` steps (in minioci-init;
 * in the cffi module for tests).  Strings point into `buf`; vectors and
 * blobs are allocated, and never freed.  Returns 0 or -errno (EBADMSG:
 * malformed). */
int mo_plan_decode(const char *buf, unsigned long len, int nsteps, struct mo_step **steps);

/* One region shared by the parent and the child (a memfd both map): this
 * header, then t_step[nsteps], then the encoded plan (plan_len bytes).  The
 * child writes times and failures; the parent reads them once the child has
 * exec'ed, reported or died. */
struct mo_shared {
    unsigned long size;                /* of the whole region */
    int nsteps;
    int plan_len;
    int sock;                          /* the child's end of the sync socket */
    int in_cgroup;                     /* clone3 placed the child in its v2 cgroup */
    long long t_clone;                 /* parent, just before clone() */
    long long t_child;                 /* child, first instruction after clone() */
    long long t_init;                  /* child, first instruction of minioci-init */
    int pid;                           /* MO_OP_FORK: the process that carries on */
    int steps_done;
    int failed_step;                   /* -1, or the index of the failed step */
    int err;                           /* errno of the failure (0 if none) */
    char msg[1024];                    /* what was being done, e.g. "mount proc on /proc" */
    /* Written by the parent: the state the seccomp listener gets with the
     * notify fd (it holds the child's pid, so it is set after the clone).
     * The length is written last; the child waits on it as a futex. */
    int listener_state_len;
    char listener_state[65536];
    long long t_step[];                /* end of each step, CLOCK_MONOTONIC ns */
};

/* What mo_spawn needs besides the plan. */
struct mo_spawn_args {
    const char *plan;           /* the encoded plan */
    unsigned long plan_len;
    int nsteps;
    unsigned long clone_flags;  /* namespaces clone() creates (pid, user) */
    int cgroup_fd;              /* v2 cgroup directory to clone3 into, or -1 */
    int init_fd;                /* mo_init_memfd(): the sealed executable the child runs */
    int preserve_fds;           /* fds 3 .. 3+n-1 reach the container */
    const int *keep_fds;        /* further fds the plan's steps use (all >= 3 + preserve_fds) */
    int nkeep;
    int new_userns;             /* clone_flags made a user namespace: before minioci-init the
                                   child waits for mo_go() (the parent writes its id maps) and
                                   becomes its root (an execve as an id the namespace does
                                   not map would drop every capability) */
};

struct mo_child {
    int pid;
    int sock;                          /* parent end of the sync socket */
    struct mo_shared *shared;
};

/* A sealed memfd copy (no write, grow, shrink or new seals) of the executable
 * at `path`, for mo_spawn.  Returns the fd or -errno. */
int mo_init_memfd(const char *path);
/* Clone the child and start it on the plan: it closes every fd it was not
 * given, waits for mo_go() if args->new_userns, execs args->init_fd as
 * minioci-init and runs the steps.  Returns 0 or -errno. */
int mo_spawn(const struct mo_spawn_args *args, struct mo_child *child);
/* Let the child go on (args->new_userns, MO_OP_PARENT_HOOKS); `state` (len
 * bytes, may be 0) is the state JSON for hooks run in the child.  Returns 0
 * or -errno. */
int mo_go(struct mo_child *child, const char *state, unsigned long len);
/* Wait for the child's next report: MO_REPORT_*, 0 on EOF (exec'ed or died),
 * or -errno.  A file descriptor passed along with the report (the terminal
 * master) is stored in *fd, else -1. */
int mo_wait_report(struct mo_child *child, int *fd);
/* Give the child the state to send its seccomp listener (MO_OP_SECCOMP with
 * i2 >= 0) and wake it if it waits for it.  Returns 0 or -errno. */
int mo_set_listener_state(struct mo_child *child, const char *state, unsigned long len);
/* Close the parent's end and unmap the shared region. */
void mo_release(struct mo_child *child);

/* Small helpers the parent uses outside the child. */
long long mo_now(void);
int mo_connect_unix(const char *path);                 /* returns fd or -errno */
int mo_send_fd(int sock, int fd);                      /* one byte + SCM_RIGHTS; 0 or -errno */
int mo_recv_fd(int sock);                              /* fd or -errno */
int mo_set_child_subreaper(void);                      /* 0 or -errno */

/* Network namespaces, for the parent's network setup (minioci/network/).
 * These act on the calling thread only. */
int mo_setns(int fd, int nstype);                      /* 0 or -errno */
/* A new network namespace, bind-mounted on the existing file `path`; the
 * calling thread ends in the namespace it started in.  0 or -errno. */
int mo_netns_create(const char *path);
int mo_umount(const char *path, int flags);            /* umount2(); 0 or -errno */
/* A sandbox made ahead of the container that joins it: a new network
 * namespace (lo up), IPC and UTS namespace, made in the calling thread,
 * which then goes back to its own; their fds (close-on-exec) in fds[0..2],
 * in that order.  0 or -errno (fds -1). */
int mo_sandbox(int *fds);
/* A detached clone of the mount tree at `path` (open_tree OPEN_TREE_CLONE,
 * AT_RECURSIVE if `recursive`), close-on-exec: fd or -errno. */
int mo_open_tree(const char *path, int recursive);
/* Make that tree idmapped through the user namespace `userns_fd`
 * (mount_setattr MOUNT_ATTR_IDMAP, AT_RECURSIVE if `recursive`): 0 or -errno. */
int mo_idmap_tree(int tree_fd, int userns_fd, int recursive);
/* A user namespace with these uid_map and gid_map lines (a mount's own
 * mappings, for mo_idmap_tree), held by the returned fd; or -errno. */
int mo_userns_fd(const char *uid_map, const char *gid_map);

/* procfs, checked (native/procfs.c): the root of the procfs at /proc (an
 * fd, or -errno: ENODEV if /proc is no procfs root), and a write of `len`
 * bytes to the file `path` below it ("<pid>/uid_map", "sys/...",
 * "self/..."), reached without a symlink or another mount: 0 or -errno
 * (EXDEV, ELOOP: something else was in the way). */
int mo_proc_root(void);
int mo_proc_write(int root, const char *path, const char *data, unsigned long len);

/* cgroup v2 device filter: load `count` 8-byte eBPF instructions as a
 * BPF_PROG_TYPE_CGROUP_DEVICE program (fd or -errno; the verifier's log goes
 * to `log` when given), and attach it to a cgroup directory fd with
 * attach flags `flags` (0 or -errno). */
int mo_bpf_load_device_filter(const unsigned char *insns, unsigned int count, const char *license,
                              char *log, unsigned int log_size);
int mo_bpf_attach_device_filter(int cgroup_fd, int prog_fd, unsigned int flags);

#endif
