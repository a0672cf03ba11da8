/* ctorch: command dispatch. `ctorch CMD ...`; with no command name (`ctorch -m m.gguf -p hi`)
 * the default command is `run`. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "ctorch.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"run", cmd_run, "generate text from a prompt (the default command)"},
    {"chat", cmd_chat, "chat in the terminal with the model's chat template"},
    {"tokenize", cmd_tokenize, "print the tokens of a text"},
    {"inspect", cmd_inspect, "show a GGUF file's metadata and tensors"},
    {"synth", cmd_synth, "write a GGUF of a real model shape with seeded random weights"},
    {"bench", cmd_bench, "measure prompt and generation speed (tokens/s), like llama-bench"},
    {"batch", cmd_batch, "run many prompts (JSON lines) together through the batching engine"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *out) {
    fprintf(out, "ctorch %s: fast LLM inference in C\n\nusage: ctorch COMMAND [options]\n\ncommands:\n",
            ct_version());
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`ctorch COMMAND --help` describes a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ctorch %s\n", ct_version());
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    if (argv[1][0] == '-') {
        /* no command word: `ctorch --model m.gguf --prompt ...` means run; argv[0] stands in */
        return cmd_run(argc, argv);
    }
    fprintf(stderr, "ctorch: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return 2;
}
