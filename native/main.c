/* minioci's executable.  Run as `minioci-init` it is a container's process
 * on its way to exec (init.c). */
#include <stdio.h>
#include <string.h>

#include "native.h"

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    if (strcmp(name, "minioci-init") == 0)
        return mo_init_main(argc, argv);
    fprintf(stderr, "%s: this is the process minioci starts in a container; run minioci itself\n", name);
    return 2;
}
