/* ctorch bench: prompt-processing (ppN) and text-generation (tgN) speed, as llama.cpp's
 * llama-bench measures them. Split into flags (bench_args.c), timing one test (bench_run.c) and
 * the table / JSON output (bench_report.c); cmd_bench.c runs every combination. */
#ifndef CT_CLI_BENCH_H
#define CT_CLI_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ctorch.h"

/* A list of integers given as "-p 128,512" (repeated flags append). */
typedef struct bench_list {
    int32_t *v;
    size_t n;
} bench_list;

typedef enum bench_format { BENCH_MD, BENCH_JSON } bench_format;

typedef struct bench_opts {
    const char **models; /* -m, in order */
    size_t n_models;
    bench_list n_prompt; /* -p: prompt lengths; 0 skips that test */
    bench_list n_gen;    /* -n: generated tokens; 0 skips that test */
    bench_list threads;  /* -t */
    bench_list n_seq;    /* -b: sequences decoded together (through the engine); empty: the single-sequence tests */
    bool deterministic;  /* -b runs with batch-invariant passes */
    int32_t reps;        /* -r */
    const char *backend;
    bench_format format;
    bool verbose;
    bool help;
} bench_opts;

/* Parse argv[1..argc). 0 on success (opts->help set for --help), 2 after printing a usage
 * error to stderr. Free with bench_opts_free whatever the result. */
int bench_parse_args(int argc, char **argv, bench_opts *opts);
void bench_opts_free(bench_opts *opts);
void bench_print_usage(FILE *out);

typedef enum bench_kind { BENCH_PP, BENCH_TG } bench_kind;

/* n random non-special token ids from a fixed seed (the same every run); NULL when out of memory. */
ct_token *bench_random_tokens(const ct_model *model, int32_t n);

/* The batched test (-b), as llama-batched-bench: n_seq sequences of n_prompt random tokens go
 * through the engine as one prompt pass (pp), then n_gen passes decode one token of every
 * sequence each (tg). reps timed runs after an untimed warm-up; pp_ns[reps] and tg_ns[reps]
 * receive each run's wall time of the two phases. n_prompt 0 runs one-token prompts and
 * n_gen 0 no decode pass. deterministic: batch-invariant passes. *n_ctx: the positions each
 * sequence had. */
ct_status bench_run_batched(ct_model *model, int32_t n_seq, int32_t n_prompt, int32_t n_gen, int32_t reps,
                            bool deterministic, int64_t *pp_ns, int64_t *tg_ns, int32_t *n_ctx);

/* Time one test `reps` times after one untimed warm-up: PP decodes n random tokens as one
 * batch into an empty sequence (logits of the last only); TG decodes n tokens one at a time
 * from an empty sequence (logits of each). samples_ns[reps] receives the wall time of each
 * repetition. The context must hold n positions and (for PP) a batch of n. */
ct_status bench_run_test(ct_context *ctx, const ct_model *model, bench_kind kind, int32_t n, int32_t reps,
                         int64_t *samples_ns);

typedef struct bench_result {
    const char *model_path;
    char arch[32], backend[32]; /* copied: the model is freed before the JSON is written */
    int32_t n_threads;
    uint64_t n_params, weight_bytes;
    bench_kind kind;
    int32_t n_tokens;   /* N of ppN / tgN (per sequence) */
    int32_t n_seq;      /* 0: a single-sequence test; else sequences run together (-b), rates aggregate */
    int32_t n_ctx;      /* of the context it ran in */
    int32_t reps;
    int64_t *samples_ns; /* reps entries */
} bench_result;

/* Mean and sample standard deviation (0 for one sample) of the rates n_tokens / sample. */
void bench_rate_stats(const bench_result *r, double *mean_ts, double *sd_ts);

/* The model column's name: the file's basename. */
const char *bench_model_name(const char *path);
/* Markdown table like llama-bench's; model_width pads the model column; seqs adds the column
 * of sequences run together (-b). */
void bench_md_header(FILE *out, int model_width, bool seqs);
void bench_md_row(FILE *out, const bench_result *r, int model_width);
/* One JSON array of every result (all fields plus the per-repetition samples). NULL when out
 * of memory; free with free(). */
char *bench_json(const bench_result *results, size_t n_results);

#endif
