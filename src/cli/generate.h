/* The token loop shared by run and chat: sample, stop at end of generation, stream the text,
 * feed the token back. */
#ifndef CT_CLI_GENERATE_H
#define CT_CLI_GENERATE_H

#include <signal.h>
#include <stdio.h>

#include "ctorch.h"

typedef enum gen_stop {
    GEN_STOP_EOG,       /* the model ended its text or turn */
    GEN_STOP_LENGTH,    /* -n tokens generated */
    GEN_STOP_CONTEXT,   /* the context is full */
    GEN_STOP_INTERRUPT, /* Ctrl-C */
} gen_stop;

const char *gen_stop_name(gen_stop stop);

typedef struct gen_config {
    ct_context *ctx;
    const ct_model *model;
    ct_sampler *sampler;
    ct_detok *detok;
    int32_t seq_id;
    int32_t max_tokens;
    FILE *stream;                    /* generated text goes here as it is produced (NULL: nowhere) */
    const ct_token *stop_tokens;     /* end the turn besides the model's end-of-generation tokens */
    size_t n_stop_tokens;
    volatile sig_atomic_t *interrupt; /* NULL, or set by a signal handler to stop */
} gen_config;

typedef struct gen_output {
    ct_token *tokens; /* generated, without the stop token */
    size_t n_tokens, cap_tokens;
    char *text;       /* their text, NUL-terminated */
    size_t text_len, cap_text;
    gen_stop stop;
    double ms;        /* time spent sampling and decoding */
} gen_output;

/* Generate from the logits of the last evaluated token. Appends to out (zero it first);
 * free with gen_output_free. */
ct_status gen_run(const gen_config *cfg, const float *logits, gen_output *out);
void gen_output_free(gen_output *out);

#endif
