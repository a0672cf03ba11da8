/* Placeholder until the 'inspect' command lands; replaced by its implementation. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ctorch inspect: not implemented yet\n");
    return 1;
}
