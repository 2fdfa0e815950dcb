/* The one native executable's entry point.  Installed as the `minioci`
 * command, it is the front end (frontend.c).  The native restructure adds
 * the container's child side here, reached as argv[0] "minioci-init". */
#include "frontend.h"

int main(int argc, char **argv)
{
    return mo_frontend_main(argc, argv);
}
