/* Placeholder until the 'synth' command lands; replaced by its implementation. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_synth(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ctorch synth: not implemented yet\n");
    return 1;
}
