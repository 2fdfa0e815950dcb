/* keyring: the session keyring from either side of a container, for
 * tests/security/test_keyring.py.  Built statically by the tests.
 *
 *   keyring add DESC DATA CMD [ARG...]
 *       join a new anonymous session keyring, add a "user" key DESC holding
 *       DATA to it, then exec CMD (the caller minioci runs as)
 *   keyring deny ERRNO CMD [ARG...]
 *       exec CMD with keyctl(2) failing with ERRNO (a seccomp filter, as a
 *       profile that denies it would); no_new_privs is set for it
 *   keyring plant NAME DESC DATA CMD [ARG...]
 *       another user's move: join (make) a session keyring NAME open to
 *       everyone (all permissions to all), add a "user" key DESC holding
 *       DATA to it, print "planted SERIAL" on stdout, then exec CMD
 *   keyring show DESC
 *       in the container: print "session SERIAL DESCRIPTION" (the session
 *       keyring's, as KEYCTL_DESCRIBE gives it: type;uid;gid;perm;name) and
 *       "key DATA" if a user key DESC is found from it, else "key none ERRNO"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static long keyctl(int op, unsigned long a, unsigned long b, unsigned long c, unsigned long d)
{
    return syscall(SYS_keyctl, op, a, b, c, d);
}

static int add(char **argv)
{
    if (keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0) < 0) {
        perror("keyring: join a new session keyring");
        return 1;
    }
    if (syscall(SYS_add_key, "user", argv[0], argv[1], strlen(argv[1]), KEY_SPEC_SESSION_KEYRING) < 0) {
        perror("keyring: add_key");
        return 1;
    }
    execvp(argv[2], argv + 2);
    perror("keyring: exec");
    return 127;
}

static int deny(char **argv)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_keyctl, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (atoi(argv[0]) & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof insns / sizeof insns[0], .filter = insns };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
        perror("keyring: seccomp");
        return 1;
    }
    execvp(argv[1], argv + 1);
    perror("keyring: exec");
    return 127;
}

static int plant(char **argv)
{
    long id = keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)argv[0], 0, 0, 0);
    if (id < 0 || keyctl(KEYCTL_SETPERM, (unsigned long)id, 0x3f3f3f3f, 0, 0) < 0) {
        perror("keyring: make an open session keyring");
        return 1;
    }
    if (syscall(SYS_add_key, "user", argv[1], argv[2], strlen(argv[2]), KEY_SPEC_SESSION_KEYRING) < 0) {
        perror("keyring: add_key");
        return 1;
    }
    printf("planted %ld\n", id);
    fflush(stdout);
    execvp(argv[3], argv + 3);
    perror("keyring: exec");
    return 127;
}

static int show(const char *desc)
{
    char buf[4096];
    long id = keyctl(KEYCTL_GET_KEYRING_ID, (unsigned long)KEY_SPEC_SESSION_KEYRING, 0, 0, 0);
    long n = id < 0 ? -1 : keyctl(KEYCTL_DESCRIBE, (unsigned long)id, (unsigned long)buf, sizeof buf - 1, 0);
    if (n < 0)
        printf("session none %d\n", errno);
    else
        printf("session %ld %s\n", id, buf);
    long key = keyctl(KEYCTL_SEARCH, (unsigned long)KEY_SPEC_SESSION_KEYRING, (unsigned long)"user",
                      (unsigned long)desc, 0);
    n = key < 0 ? -1 : keyctl(KEYCTL_READ, (unsigned long)key, (unsigned long)buf, sizeof buf - 1, 0);
    if (n < 0) {
        printf("key none %d\n", errno);
    } else {
        buf[n < (long)sizeof buf ? n : (long)sizeof buf - 1] = '\0';
        printf("key %s\n", buf);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "add") == 0)
        return add(argv + 2);
    if (argc >= 4 && strcmp(argv[1], "deny") == 0)
        return deny(argv + 2);
    if (argc >= 6 && strcmp(argv[1], "plant") == 0)
        return plant(argv + 2);
    if (argc == 3 && strcmp(argv[1], "show") == 0)
        return show(argv[2]);
    fprintf(stderr, "usage: keyring add DESC DATA CMD... | deny ERRNO CMD... | plant NAME DESC DATA CMD... | show DESC\n");
    return 2;
}
