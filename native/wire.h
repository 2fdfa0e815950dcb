/* The served path's wire protocol: message types and layouts shared by the
 * front end (frontend.c) and the server and its workers (minioci/wire.py,
 * which documents the exchange; tests/test_wire.py keeps the numbers equal).
 *
 * One SOCK_SEQPACKET packet per message: a u32 type, then its payload
 * (little-endian integers, NUL-terminated strings); fds travel with it.  A
 * payload larger than MO_WIRE_INLINE_MAX travels in a sealed memfd, the
 * message's last fd, its type marked MO_WIRE_BIG.
 */
#ifndef MINIOCI_WIRE_H
#define MINIOCI_WIRE_H

#define MO_WIRE_VERSION 3
#define MO_WIRE_SOCKET_NAME "serve.sock"

#define MO_WIRE_REQUEST 1
#define MO_WIRE_REFUSED 2
#define MO_WIRE_STARTED 3
#define MO_WIRE_EXIT 5
#define MO_WIRE_WORKER_EXIT 6
#define MO_WIRE_FOREGROUND 7
#define MO_WIRE_SPAWN_FDS 8
#define MO_WIRE_FD_NUMBERS 9
#define MO_WIRE_SPAWN 10
#define MO_WIRE_SPAWNED 11
#define MO_WIRE_GO 12
#define MO_WIRE_RESULT 13
#define MO_WIRE_LISTENER_STATE 14
#define MO_WIRE_WAIT_REPORT 15
#define MO_WIRE_REPORT 16
#define MO_WIRE_RELEASE 17
#define MO_WIRE_KILL_REAP 18
#define MO_WIRE_SUPERVISE 19
#define MO_WIRE_EXITED 20
#define MO_WIRE_CONTROL 21
#define MO_WIRE_STATUS 22
#define MO_WIRE_ATTACH 23
#define MO_WIRE_JOB 24              /* the server to its spare or a resident worker; never on a client's socket */
#define MO_WIRE_DONE 25             /* a resident worker to the server; never on a client's socket */
#define MO_WIRE_SANDBOX 26          /* the spare to the server; never on a client's socket */

#define MO_WIRE_RESIDENT 1          /* STARTED's flags: the worker lives on after the request */

#define MO_WIRE_INLINE_MAX 65536   /* the largest payload a packet carries */
#define MO_WIRE_MAX_PACKET (MO_WIRE_INLINE_MAX + 4)
#define MO_WIRE_BIG 2147483648U     /* in a type: the payload is in the last fd, a sealed memfd */
#define MO_WIRE_MAX_BIG 268435456   /* the most a MO_WIRE_BIG payload may hold */
#define MO_WIRE_MAX_FDS 253

#define MO_WIRE_CWD_FD (-1)         /* REQUEST's fd numbers: the working directory (O_PATH) */
#define MO_WIRE_CLAIM_FD (-2)       /* ... the claim: a pipe holding one byte, "C" */
#define MO_WIRE_FD_WINDOW 64        /* numbers set aside for a plan's fds (see fd_window) */

/* REQUEST: this head, then nfds i32 fd numbers (or MO_WIRE_CWD_FD,
 * MO_WIRE_CLAIM_FD), then strings: build id, cwd, argv[argc], env[envc].
 * fd_window: the first of MO_WIRE_FD_WINDOW numbers the front end keeps
 * free, where a SPAWN's fds go (-1: none; SPAWN_FDS asks). */
struct mo_wire_request {
    unsigned int version;
    long long t_start, t_connect, t_sent;
    unsigned int umask;
    int fd_window;
    unsigned int nfds, argc, envc;
} __attribute__((packed));

/* STARTED */
struct mo_wire_started {
    int pid;                /* the worker's */
    int flags;              /* MO_WIRE_RESIDENT: never signal it (it serves others afterwards) */
} __attribute__((packed));

/* SPAWN: this head, then nkeep i32 fds (the front end's numbers, as
 * FD_NUMBERS gave them), then the encoded plan: mo_spawn's arguments. */
struct mo_wire_spawn {
    unsigned long long clone_flags;
    int nsteps;
    int cgroup_fd;
    int preserve_fds;
    int new_userns;
    int nkeep;
} __attribute__((packed));

/* SPAWNED */
struct mo_wire_spawned {
    int rc;                 /* 0 or -errno */
    int pid;
    long long t_clone;
} __attribute__((packed));

/* REPORT: one mo_wait_report, as seen by the front end (which keeps a
 * terminal's pty master and reaps the process a fork step leaves): this
 * head, then steps_done i64 step ends, then the message (NUL-terminated). */
struct mo_wire_report {
    int outcome;            /* 0 exec'ed, MO_REPORT_*, or -errno */
    int pid;                /* the container's process now */
    int err;
    long long t_report, t_clone, t_child, t_init;
    int failed_step;
    int steps_done;
    int msg_len;
} __attribute__((packed));

#endif
