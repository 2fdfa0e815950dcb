/* `minioci-init`: what a container's process runs from a sealed memfd (see
 * spawn.c) until it execs the container's program.  argv[1] is the fd of the
 * region it shares with its parent: the plan, and where it reports. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "native.h"

int mo_init_main(int argc, char **argv)
{
    /* First of all: exec made us dumpable again, and nothing in the
     * container may reach this process through /proc. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return 1;
    char *end;
    long fd = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    struct stat st;
    if (fd < 3 || *end || fstat((int)fd, &st) < 0 || st.st_size < (off_t)sizeof(struct mo_shared)) {
        dprintf(2, "minioci-init: to be started by minioci only\n");
        return 1;
    }
    struct mo_shared *sh = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
    if (sh == MAP_FAILED) {
        dprintf(2, "minioci-init: map the shared region: %m\n");
        return 1;
    }
    close((int)fd);
    sh->t_init = mo_now();
    /* exec named us after the memfd's fd number; ps should say what we are. */
    prctl(PR_SET_NAME, "minioci-init", 0, 0, 0);
    mo_child_run(sh);
}
