/* Shared by the tests/test_engine_*.c tests: a tiny synthetic model written to a temporary
 * directory, and one-at-a-time references computed through a plain single-sequence context.
 * test_engine_record.h adds what engine tests need on top. */
#ifndef CT_TEST_ENGINE_UTIL_H
#define CT_TEST_ENGINE_UTIL_H

/* include this header first (mkdtemp) */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/context_internal.h"
#include "core/log.h"
#include "ctorch.h"
#include "synth/synth.h"
#include "test_util.h"

/* ---- the model ---------------------------------------------------------------------------
 * Llama shape, Q4_0 weights, 2 layers, n_embd 64, vocabulary 400. ENG_FF_LONG (1280) is longer
 * than the CPU matrix-matrix kernels' K chunk (1024 elements for 32-element blocks), so the
 * ffn_down matmul sums in a different order on the matrix-vector path (< 4 tokens) than in
 * tiles: batched and single-sequence logits really differ unless the engine is
 * deterministic. Tests that do not need that use ENG_FF_SHORT, five times less work. */
#define ENG_FF_LONG 1280
#define ENG_FF_SHORT 256
typedef struct eng_model {
    char dir[256], path[320];
    ct_model *model;
    int32_t n_vocab;
} eng_model;

/* n_threads: the CPU backend's threads (1 keeps long tests off the thread pool's barriers). */
static inline int eng_model_open(eng_model *m, uint64_t seed, int n_threads, uint32_t n_ff) {
    memset(m, 0, sizeof *m);
    ct_log_set_level(CT_LOG_ERROR);
    snprintf(m->dir, sizeof m->dir, "%s/ctorch-engine-XXXXXX", ct_test_env_or("TMPDIR", "/tmp"));
    if (!mkdtemp(m->dir)) return 0;
    snprintf(m->path, sizeof m->path, "%s/tiny.gguf", m->dir);
    synth_options opt = {.seed = seed, .n_threads = 2, .out_path = m->path};
    synth_hparams_defaults(SYNTH_ARCH_LLAMA, &opt.hp);
    opt.hp.n_embd = 64, opt.hp.n_layer = 2, opt.hp.n_head = 4, opt.hp.n_head_kv = 2, opt.hp.n_ff = n_ff;
    opt.hp.n_vocab = 400, opt.hp.n_ctx = 512;
    synth_hparams_complete(&opt.hp);
    if (synth_ftype_parse("q4_0", &opt.ftype) != CT_OK || synth_write(&opt, NULL) != CT_OK) {
        fprintf(stderr, "synth: %s\n", ct_last_error());
        return 0;
    }
    ct_model_params mp = ct_model_params_default();
    mp.n_threads = n_threads;
    if (ct_model_load(m->path, &mp, &m->model) != CT_OK) {
        fprintf(stderr, "load: %s\n", ct_last_error());
        return 0;
    }
    ct_model_info info;
    ct_model_get_info(m->model, &info);
    m->n_vocab = info.n_vocab;
    return 1;
}

static inline void eng_model_close(eng_model *m) {
    ct_model_free(m->model);
    remove(m->path);
    rmdir(m->dir);
}

/* ---- references: one sequence alone in a plain context ------------------------------------ */
#define ENG_MAX_GEN 64

typedef struct eng_reference {
    ct_token tokens[ENG_MAX_GEN];
    int32_t n_tokens;
    float *logits; /* [n_logits][n_vocab] */
    int32_t n_logits;
    bool eog;
} eng_reference;

static inline int32_t eng_argmax(const float *l, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

/* Generation of up to max_tokens after prompt, the prompt as one batch, then one token per
 * decode: the single-sequence path of ct_context. sample: NULL for greedy, else a sampler of
 * these parameters (the prompt accepted first, as the engine does). invariant:
 * batch-invariant kernels (what the engine's deterministic mode uses); ignore_eog: go on
 * past end-of-generation tokens. */
static inline ct_status eng_reference_run_ex(const eng_model *m, const ct_token *prompt, int32_t n_prompt,
                                             int32_t max_tokens, bool invariant, bool ignore_eog,
                                             const ct_sample_params *sample, eng_reference *ref) {
    memset(ref, 0, sizeof *ref);
    ref->logits = malloc((size_t)(ENG_MAX_GEN + 1) * (size_t)m->n_vocab * sizeof(float));
    if (!ref->logits) return CT_ERR_OUT_OF_MEMORY;
    ct_sample_params greedy = ct_sample_params_default();
    greedy.temperature = 0.0f;
    greedy.repeat_penalty = 1.0f;
    ct_sampler *smp = NULL;
    ct_status st = ct_sampler_new(m->model, sample ? sample : &greedy, &smp);
    for (int32_t i = 0; st == CT_OK && i < n_prompt; i++) st = ct_sampler_accept(smp, prompt[i]);
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = 256;
    cp.n_batch = 256;
    ct_context *ctx = NULL;
    if (st == CT_OK) st = ct_context_create(m->model, &cp, &ctx);
    if (st == CT_OK) ct_context_set_batch_invariant(ctx, invariant);
    const float *logits = NULL;
    if (st == CT_OK) st = ct_eval(ctx, 0, prompt, (size_t)n_prompt, &logits);
    for (int32_t i = 0; st == CT_OK && i < max_tokens; i++) {
        memcpy(ref->logits + (size_t)ref->n_logits++ * (size_t)m->n_vocab, logits, (size_t)m->n_vocab * sizeof(float));
        ct_token t;
        st = ct_sampler_sample(smp, logits, &t);
        if (st == CT_OK) st = ct_sampler_accept(smp, t);
        if (st != CT_OK) break;
        if (!ignore_eog && ct_token_is_eog(m->model, t)) {
            ref->eog = true;
            break;
        }
        ref->tokens[ref->n_tokens++] = t;
        if (i + 1 < max_tokens) st = ct_eval(ctx, 0, &t, 1, &logits);
    }
    ct_context_free(ctx);
    ct_sampler_free(smp);
    return st;
}

static inline ct_status eng_reference_run(const eng_model *m, const ct_token *prompt, int32_t n_prompt,
                                          int32_t max_tokens, bool invariant, eng_reference *ref) {
    return eng_reference_run_ex(m, prompt, n_prompt, max_tokens, invariant, false, NULL, ref);
}

static inline void eng_reference_free(eng_reference *ref) { free(ref->logits); }

/* Random prompt tokens in [1, n_vocab). */
static inline void eng_random_prompt(ct_test_rng *rng, int32_t n_vocab, ct_token *out, int32_t n) {
    for (int32_t i = 0; i < n; i++) out[i] = 1 + (ct_token)(ct_test_rng_next(rng) % (unsigned long long)(n_vocab - 1));
}

#endif
