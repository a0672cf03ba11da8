/* Placeholder until the 'tokenize' command lands; replaced by its implementation. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ctorch tokenize: not implemented yet\n");
    return 1;
}
