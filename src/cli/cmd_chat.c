/* Placeholder until the 'chat' command lands; replaced by its implementation. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_chat(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ctorch chat: not implemented yet\n");
    return 1;
}
