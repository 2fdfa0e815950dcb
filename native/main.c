/* minioci's executable.  Run as `minioci-init` it is a container's process
 * on its way to exec (init.c); under any other name it is the `minioci`
 * command's front end (frontend.c). */
#include <string.h>

#include "frontend.h"
#include "native.h"

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    if (strcmp(name, "minioci-init") == 0)
        return mo_init_main(argc, argv);
    return mo_frontend_main(argc, argv);
}
