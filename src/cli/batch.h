/* ctorch batch: many prompts from a JSON-lines file through the engine (continuous batching),
 * one JSON line out per prompt in input order. Split into flags (batch_args.c), the input
 * file (batch_input.c) and the run (cmd_batch.c). */
#ifndef CT_CLI_BATCH_H
#define CT_CLI_BATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ctorch.h"

typedef struct batch_opts {
    const char *model;
    const char *file;   /* -f: the prompts ("-": stdin) */
    const char *backend;
    int32_t n_threads;  /* 0: one per core */
    int32_t n_parallel;
    int32_t max_tokens; /* default per prompt */
    int32_t n_ctx;      /* 0: the model's, at most 4096 */
    uint64_t kv_mem;    /* bytes; 0: n_ctx x n_parallel positions */
    int32_t batch_tokens, chunk;
    ct_kv_type kv_type;
    bool deterministic;
    ct_sample_params sample; /* defaults for every prompt (a line's fields override) */
    bool seed_given;
    bool verbose;
    bool help;
} batch_opts;

/* 0 on success (help set for --help), 2 after printing a usage error. */
int batch_parse_args(int argc, char **argv, batch_opts *o);
void batch_print_usage(FILE *out);

/* One input line. */
typedef struct batch_prompt {
    int line;            /* 1-based, for messages */
    json_t *id;          /* "id" (any JSON value, echoed), or NULL */
    char *text;          /* "prompt", or NULL when "tokens" was given */
    ct_token *tokens;    /* "tokens", or the prompt's tokens once tokenized */
    size_t n_tokens;
    int32_t max_tokens;  /* 0: the --max-tokens default */
    ct_sample_params sample;
    char **stop;
    size_t n_stop;
    int32_t priority;
} batch_prompt;

/* Read and check every line of path ("-": stdin): a JSON object with "prompt" (a string) or
 * "tokens" (token ids), and optionally "id", "max_tokens", "temperature", "top_k", "top_p",
 * "min_p", "seed", "stop" (a string or strings), "priority". Blank lines are skipped. On a
 * malformed line: 1 after printing "FILE:LINE: what" to stderr. defaults: the sampling flags;
 * a prompt without "seed" gets seed_base + its index. */
int batch_read_prompts(const char *path, const ct_sample_params *defaults, uint64_t seed_base, batch_prompt **out,
                       size_t *n_out);
void batch_prompts_free(batch_prompt *p, size_t n);

/* s[0..len) as a JSON string, invalid UTF-8 bytes replaced by U+FFFD (a stop string may cut a
 * character in two). */
json_t *batch_json_text(const char *s, size_t len);

#endif
