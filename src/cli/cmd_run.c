/* Placeholder until the 'run' command lands; replaced by its implementation. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ctorch run: not implemented yet\n");
    return 1;
}
