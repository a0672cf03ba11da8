/* Whole forward pass of tiny random models (one or two layers) of every architecture and
 * weight type, against logits computed independently in float64 numpy
 * (tests/scripts/gen_layer_golden.py -> tests/golden/layers/).
 *
 * Each model runs three ways, which must all agree with the reference:
 *   1. the prompt as one batch, F32 KV cache, logits at every position;
 *   2. one token per batch (decoding), F16 KV cache;
 *   3. two sequences interleaved in one batch (the same prompt in both), F32 KV cache.
 *
 * Tolerances (error relative to the largest |logit| of the row):
 *   F32 KV: 1e-5. ctorch computes in float32 what numpy computes in float64 from the same
 *     dequantized weights (identical: both dequantize the same blocks exactly); float32 dot
 *     products over <= 256 terms and a few norms give ~1e-6 relative (measured: <= 9e-7).
 *   F16 KV: 3e-3. Keys and values are rounded to 11-bit mantissas (relative 2^-12 ~ 2.4e-4 each);
 *     through softmax and one or two layers the logits move by a few 1e-4 (measured: <= 1.4e-3). */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ctorch.h"
#include "test_util.h"

#define TOL_F32_KV 1e-5
#define TOL_F16_KV 3e-3

typedef struct {
    const char *file;
    int32_t n_tokens, n_vocab;
    int32_t tokens[64];
    const json_t *logits; /* [n_tokens][n_vocab] */
} golden_model;

/* max |got - want| / max |want| over the row */
static double row_error(const float *got, const json_t *want_row, int32_t n_vocab) {
    double max_ref = 0, max_diff = 0;
    for (int32_t v = 0; v < n_vocab; v++) {
        double w = json_number_value(json_array_get(want_row, (size_t)v));
        if (fabs(w) > max_ref) max_ref = fabs(w);
        double d = fabs((double)got[v] - w);
        if (!(d <= max_diff)) max_diff = d; /* NaN counts as a failure */
    }
    return max_ref > 0 ? max_diff / max_ref : max_diff;
}

static ct_status make_context(ct_model *m, ct_kv_type kv, int32_t n_seq, ct_context **ctx) {
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = 16;
    cp.n_batch = 16;
    cp.n_seq = n_seq;
    cp.kv_type = kv;
    return ct_context_create(m, &cp, ctx);
}

/* 1: whole prompt in one batch */
static double run_prompt_batch(ct_model *m, const golden_model *g) {
    ct_context *ctx = NULL;
    ct_batch b = {0};
    double worst = INFINITY;
    CHECK_OK(make_context(m, CT_KV_F32, 1, &ctx));
    CHECK_OK(ct_batch_init(&b, g->n_tokens));
    if (!ctx || !b.capacity) goto done;
    for (int32_t i = 0; i < g->n_tokens; i++) CHECK_OK(ct_batch_add(&b, g->tokens[i], i, 0, true));
    CHECK_OK(ct_decode(ctx, &b));
    worst = 0;
    for (int32_t i = 0; i < g->n_tokens; i++) {
        const float *lg = ct_get_logits(ctx, i);
        CHECK(lg != NULL);
        if (!lg) return INFINITY;
        double e = row_error(lg, json_array_get(g->logits, (size_t)i), g->n_vocab);
        if (!(e <= worst)) worst = e;
    }
done:
    ct_batch_free(&b);
    ct_context_free(ctx);
    return worst;
}

/* 2: one token at a time */
static double run_decode(ct_model *m, const golden_model *g) {
    ct_context *ctx = NULL;
    ct_batch b = {0};
    double worst = INFINITY;
    CHECK_OK(make_context(m, CT_KV_F16, 1, &ctx));
    CHECK_OK(ct_batch_init(&b, 1));
    if (!ctx || !b.capacity) goto done;
    worst = 0;
    for (int32_t i = 0; i < g->n_tokens; i++) {
        ct_batch_clear(&b);
        CHECK_OK(ct_batch_add(&b, g->tokens[i], i, 0, true));
        CHECK_OK(ct_decode(ctx, &b));
        const float *lg = ct_get_logits(ctx, 0);
        CHECK(lg != NULL);
        if (!lg) {
            worst = INFINITY;
            break;
        }
        double e = row_error(lg, json_array_get(g->logits, (size_t)i), g->n_vocab);
        if (!(e <= worst)) worst = e;
    }
    CHECK(ct_seq_len(ctx, 0) == g->n_tokens);
done:
    ct_batch_free(&b);
    ct_context_free(ctx);
    return worst;
}

/* 3: two sequences interleaved: seq 1 runs the prompt as one batch slice behind seq 0 */
static double run_two_sequences(ct_model *m, const golden_model *g) {
    ct_context *ctx = NULL;
    ct_batch b = {0};
    double worst = INFINITY;
    CHECK_OK(make_context(m, CT_KV_F32, 2, &ctx));
    CHECK_OK(ct_batch_init(&b, 2 * g->n_tokens));
    if (!ctx || !b.capacity) goto done;
    /* first batch: 3 tokens of seq 0 and 5 of seq 1, interleaved; second: the rest */
    int32_t split0 = 3, split1 = 5;
    worst = 0;
    for (int pass = 0; pass < 2; pass++) {
        ct_batch_clear(&b);
        int32_t lo0 = pass ? split0 : 0, hi0 = pass ? g->n_tokens : split0;
        int32_t lo1 = pass ? split1 : 0, hi1 = pass ? g->n_tokens : split1;
        for (int32_t i = 0; lo0 + i < hi0 || lo1 + i < hi1; i++) {
            if (lo1 + i < hi1) CHECK_OK(ct_batch_add(&b, g->tokens[lo1 + i], lo1 + i, 1, true));
            if (lo0 + i < hi0) CHECK_OK(ct_batch_add(&b, g->tokens[lo0 + i], lo0 + i, 0, true));
        }
        CHECK_OK(ct_decode(ctx, &b));
        for (int32_t j = 0; j < b.n_tokens; j++) {
            const float *lg = ct_get_logits(ctx, j);
            CHECK(lg != NULL);
            if (!lg) continue;
            double e = row_error(lg, json_array_get(g->logits, (size_t)b.pos[j]), g->n_vocab);
            if (!(e <= worst)) worst = e;
        }
    }
    CHECK(ct_seq_len(ctx, 0) == g->n_tokens && ct_seq_len(ctx, 1) == g->n_tokens);
done:
    ct_batch_free(&b);
    ct_context_free(ctx);
    return worst;
}

int main(void) {
    ct_log_set_level(CT_LOG_ERROR);
    /* the tolerances above are for f32 math: the reference matmul (the fast path's 8-bit
     * activations are checked by test_cpu_backend_fast and the model golden tests) */
    setenv("CTORCH_CPU_LEVEL", "reference", 1);
    const char *dir = CT_SOURCE_DIR "/tests/golden/layers";
    char path[1024];
    snprintf(path, sizeof path, "%s/expected.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK_MSG(root != NULL, "%s: %s", path, jerr.text);
    if (!root) return ct_test_finish("test_model_layers");
    json_t *models = json_object_get(root, "models");
    CHECK(json_array_size(models) >= 36);

    size_t i;
    json_t *entry;
    json_array_foreach(models, i, entry) {
        golden_model g = {0};
        g.file = json_string_value(json_object_get(entry, "file"));
        g.n_vocab = (int32_t)json_integer_value(json_object_get(entry, "n_vocab"));
        json_t *toks = json_object_get(entry, "tokens");
        g.n_tokens = (int32_t)json_array_size(toks);
        for (int32_t t = 0; t < g.n_tokens && t < 64; t++) g.tokens[t] = (int32_t)json_integer_value(json_array_get(toks, (size_t)t));
        g.logits = json_object_get(entry, "logits");
        CHECK(g.file && g.n_vocab > 0 && g.n_tokens > 0 && json_array_size(g.logits) == (size_t)g.n_tokens);
        if (!g.file) continue;

        snprintf(path, sizeof path, "%s/%s", dir, g.file);
        ct_model_params mp = ct_model_params_default();
        mp.n_threads = 2;
        ct_model *m = NULL;
        CHECK_OK(ct_model_load(path, &mp, &m));
        if (!m) continue;
        ct_model_info info;
        ct_model_get_info(m, &info);
        CHECK(info.n_vocab == g.n_vocab);

        double e1 = run_prompt_batch(m, &g);
        double e2 = run_decode(m, &g);
        double e3 = run_two_sequences(m, &g);
        printf("%-18s batch %.2e  decode(f16 kv) %.2e  two-seq %.2e\n", g.file, e1, e2, e3);
        CHECK_MSG(e1 <= TOL_F32_KV, "%s: prompt batch error %.3g > %g", g.file, e1, TOL_F32_KV);
        CHECK_MSG(e2 <= TOL_F16_KV, "%s: decode error %.3g > %g", g.file, e2, TOL_F16_KV);
        CHECK_MSG(e3 <= TOL_F32_KV, "%s: two-sequence error %.3g > %g", g.file, e3, TOL_F32_KV);
        ct_model_free(m);
    }
    json_decref(root);
    return ct_test_finish("test_model_layers");
}
