/* The `minioci` command's front end (frontend.c): hands the request to a warm
 * server (`minioci serve`) when one listens on the state root, else runs the
 * Python runtime directly, as before. */
#ifndef MINIOCI_FRONTEND_H
#define MINIOCI_FRONTEND_H

/* Never returns when it runs the direct path (it execs Python); otherwise
 * the exit status of the served command. */
int mo_frontend_main(int argc, char **argv);

#endif
