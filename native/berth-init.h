/* What launcher.c (the resident half of berth-init) and berth-init.c (a container's first process) share. */
#ifndef BERTH_INIT_H
#define BERTH_INIT_H

/* A container's descriptors besides stdio: the report pipe and the mount template (berth-init.c says what each carries). */
enum { REPORT_FD = 3, TEMPLATE_FD = 4, SETUP_FAILED = 125 };

/* Becomes the container: argv as berth-init.c's comment gives it. Returns the command's exit code. */
int run_container(int argc, char **argv);

#endif
