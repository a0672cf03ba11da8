/* Flags shared by `ctorch run` and `ctorch chat`: model, backend, threads, context, sampling.
 * Every value is checked: a malformed number, a value out of range or an unknown flag is a
 * usage error with a message naming the flag. */
#ifndef CT_CLI_ARGS_H
#define CT_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ctorch.h"

typedef enum cli_mode { CLI_RUN, CLI_CHAT } cli_mode;

typedef struct cli_args {
    const char *model;
    const char *prompt;      /* run: -p TEXT */
    const char *prompt_file; /* run: -f FILE */
    const char *system;      /* chat: -s TEXT */
    const char *template_name; /* chat: --template NAME */
    const char *backend;
    int32_t n_predict;       /* -n: tokens to generate (per turn in chat) */
    int32_t n_threads;       /* 0: one per core */
    int32_t n_ctx;           /* 0: the model's, at most 4096 */
    ct_kv_type kv_type;
    ct_sample_params sample;
    bool json;               /* run: one JSON object on stdout */
    bool verbose;
    bool help;
} cli_args;

/* Parse argv[1..argc) (argv[0] is the command name). Returns 0 on success (args->help set
 * when --help was asked), 2 after printing a usage error to stderr. */
int cli_parse_args(int argc, char **argv, cli_mode mode, cli_args *args);

void cli_print_usage(FILE *out, cli_mode mode);

/* Split "--name=value": copies the flag name into name (truncated to name_size) and returns
 * the inline value, or NULL when arg has no "=value" part (name is then all of arg). */
const char *cli_split_flag(const char *arg, char *name, size_t name_size);

/* Milliseconds on a monotonic clock. */
double cli_now_ms(void);

#endif
