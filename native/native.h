/* Declarations shared by the native files but not by Python (the cffi cdef
 * is minioci_shim.h). */
#ifndef MINIOCI_NATIVE_H
#define MINIOCI_NATIVE_H

#include <stddef.h>

#include "minioci_shim.h"

/* sendmsg of `len` bytes and, if fd >= 0, one fd (SCM_RIGHTS).  0 or -errno. */
int mo_send_msg(int sock, const void *data, size_t len, int fd);

/* Bring the network namespace's lo up (one ioctl).  0 or -errno. */
int mo_loopback_up(void);

/* minioci-init's work: run the plan in the shared region, then execve the
 * container's program.  Never returns. */
__attribute__((noreturn)) void mo_child_run(struct mo_shared *shared);

/* The entry point of the executable run as `minioci-init`. */
int mo_init_main(int argc, char **argv);

#endif
