/* Whole-model numerics of the CPU fast path: SmolLM2-135M (Q4_1 layers, Q8_0 output head) on
 * its chat template with "What is the capital of France?", the prompt whose first greedy
 * token is a near-tie (reference top-2 gap 0.08: "The" over "L"). The reference path
 * (CTORCH_CPU_LEVEL=reference: f32 dot products of dequantized rows) decodes greedily with an
 * F16 KV cache, as `ctorch chat` does; then every kernel level this CPU has, at the default
 * activation precision (Q16), runs the same tokens (teacher forcing) and must
 *   - keep every logit of the vocabulary within TOL_Q16 of the reference's at every step;
 *   - pick the reference's token at every step, the near-tie included: the same tokens as
 *     the reference's free-running greedy output ("The capital of France is Paris.").
 * Tolerance: Q16 keeps each activation within 1.5 * absmax/32512 (~2^-14 of its block's
 * largest value); measured over 6 prompts x 24 steps at every level: <= 0.028 on any logit
 * (~0.2% of the logits' spread of ~15). TOL_Q16 = 0.06 leaves 2x margin; the 8-bit format
 * (CTORCH_CPU_ACTIVATIONS=q8, also run here) measured 1.0-1.8 on the same steps and fails it,
 * as did every level before the Q16 format existed (this is the test that would have caught
 * the "L'Étoile" answer). The Q8 run is checked against its own measured scale, TOL_Q8 = 2.5.
 *
 * Level agreement: kernels of different levels compute the same integer dot products and
 * differ by float summation order only (~1e-7 relative, test_cpu_kernels); through 30 layers
 * of re-quantized activations such differences flip roundings and grow, so levels agree with
 * each other only to about the precision's own error: checked here through TOL_Q16.
 *
 * Skipped (77) without the model (scripts/fetch_models.sh), and in a sanitizer build: the
 * reference path's 37-token prefill alone takes ~30 s there, and the same code runs under
 * the sanitizers in test_cpu_backend_fast and the model golden tests. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cpu/kernels/qkernels.h"
#include "core/log.h"
#include "ctorch.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define TOL_Q16 0.06
#define TOL_Q8 2.5
#define MAX_STEPS 8

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static float gap12(const float *x, int32_t n) {
    float b1 = -INFINITY, b2 = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        if (x[i] > b1) b2 = b1, b1 = x[i];
        else if (x[i] > b2) b2 = x[i];
    }
    return b1 - b2;
}

static ct_model *load(const char *path, const char *level, const char *act) {
    setenv("CTORCH_CPU_LEVEL", level, 1);
    setenv("CTORCH_CPU_ACTIVATIONS", act, 1);
    ct_model_params mp = ct_model_params_default();
    mp.n_threads = 2;
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(path, &mp, &m));
    return m;
}

static ct_context *context(ct_model *m, int32_t n_ctx) {
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = n_ctx;
    ct_context *ctx = NULL;
    CHECK_OK(ct_context_create(m, &cp, &ctx));
    return ctx;
}

typedef struct {
    ct_token *prompt;
    size_t n_prompt;
    int32_t n_vocab, steps;
    ct_token tokens[MAX_STEPS]; /* the reference's greedy tokens */
    float gaps[MAX_STEPS];
    float *logits;              /* [steps][n_vocab] */
} reference_run;

/* Teacher-forced on the reference tokens: the largest logit error, and the argmax at every
 * step (all_steps) or where the reference's gap exceeds twice the tolerance. Equal argmaxes
 * at every step mean the free-running greedy output is the reference's. */
static double check_level(const char *path, const char *level, const char *act, double tol, bool all_steps,
                          const reference_run *ref) {
    ct_model *m = load(path, level, act);
    if (!m) return INFINITY;
    ct_context *ctx = context(m, (int32_t)ref->n_prompt + ref->steps + 4);
    double worst = 0;
    const float *lg = NULL;
    CHECK_OK(ct_eval(ctx, 0, ref->prompt, ref->n_prompt, &lg));
    for (int32_t s = 0; lg && s < ref->steps; s++) {
        const float *want = ref->logits + (size_t)s * ref->n_vocab;
        for (int32_t v = 0; v < ref->n_vocab; v++) worst = fmax(worst, fabs((double)lg[v] - want[v]));
        if (all_steps || ref->gaps[s] > 2 * tol)
            CHECK_MSG(argmax(lg, ref->n_vocab) == ref->tokens[s], "%s/%s step %d: token %d, reference %d (gap %.3f)",
                      level, act, (int)s, (int)argmax(lg, ref->n_vocab), (int)ref->tokens[s], ref->gaps[s]);
        CHECK_OK(ct_eval(ctx, 0, &ref->tokens[s], 1, &lg));
    }
    CHECK_MSG(worst <= tol, "%s/%s: logits differ from the reference path's by up to %.3f (tolerance %.3f)", level, act,
              worst, tol);
    printf("%-10s %-3s: %d steps, max |logit - reference| %.4f over the whole vocabulary (tolerance %.2f)\n", level, act,
           (int)ref->steps, worst, tol);
    ct_context_free(ctx);
    ct_model_free(m);
    return worst;
}

int main(void) {
    ct_log_set_level(CT_LOG_ERROR);
    char path[2048];
    snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", CT_TEST_MODELS_DIR);
    struct stat st;
    if (stat(path, &st) != 0) TEST_SKIP("%s not found (scripts/fetch_models.sh)", path);
    if (SANITIZED) TEST_SKIP("sanitizer build: a numerics check of ~30 s there; the release build runs it");

    reference_run ref = {0};
    ref.steps = MAX_STEPS;
    ct_model *m = load(path, "reference", "q16");
    if (!m) return ct_test_finish("test_cpu_model_levels");
    ct_model_info info;
    ct_model_get_info(m, &info);
    ref.n_vocab = info.n_vocab;
    ct_chat_template *tmpl = NULL;
    CHECK_OK(ct_chat_template_load(m, NULL, &tmpl));
    const ct_message msg = {"user", "What is the capital of France?"};
    char *text = NULL;
    size_t len = 0;
    if (tmpl) CHECK_OK(ct_chat_render(tmpl, &msg, 1, true, &text, &len));
    if (text) CHECK_OK(ct_tokenize(m, text, len, true, true, &ref.prompt, &ref.n_prompt));
    ref.logits = calloc((size_t)ref.steps * (size_t)ref.n_vocab, sizeof(float));
    if (!ref.prompt || !ref.logits) {
        CHECK(ref.prompt && ref.logits);
        return ct_test_finish("test_cpu_model_levels");
    }
    ct_context *ctx = context(m, (int32_t)ref.n_prompt + ref.steps + 4);
    const float *lg = NULL;
    CHECK_OK(ct_eval(ctx, 0, ref.prompt, ref.n_prompt, &lg));
    for (int32_t s = 0; lg && s < ref.steps; s++) {
        memcpy(ref.logits + (size_t)s * ref.n_vocab, lg, sizeof(float) * (size_t)ref.n_vocab);
        ref.tokens[s] = argmax(lg, ref.n_vocab);
        ref.gaps[s] = gap12(lg, ref.n_vocab);
        CHECK_OK(ct_eval(ctx, 0, &ref.tokens[s], 1, &lg));
    }
    char *answer = NULL;
    size_t alen = 0;
    CHECK_OK(ct_detokenize(m, ref.tokens, (size_t)ref.steps, false, &answer, &alen));
    printf("reference: %zu prompt tokens; greedy \"%s\"; first-step gap %.3f\n", ref.n_prompt, answer ? answer : "?",
           ref.gaps[0]);
    /* the premise: the first token is a near-tie the 8-bit format used to flip */
    CHECK_MSG(ref.gaps[0] < 2 * TOL_Q16, "first-step gap %.3f: not the near-tie this test is about", ref.gaps[0]);
    CHECK(answer && strstr(answer, "Paris") != NULL);
    ct_free(answer);
    ct_context_free(ctx);
    ct_chat_template_free(tmpl);
    ct_free(text);
    ct_model_free(m);

    const int best = (int)ct_cpu_level_best();
    for (int l = 0; l <= best; l++) {
        const char *level = ct_cpu_level_name((ct_cpu_level)l);
        check_level(path, level, "q16", TOL_Q16, true, &ref);
    }
    check_level(path, ct_cpu_level_name((ct_cpu_level)best), "q8", TOL_Q8, false, &ref);
    unsetenv("CTORCH_CPU_LEVEL");
    unsetenv("CTORCH_CPU_ACTIVATIONS");
    free(ref.logits);
    ct_free(ref.prompt);
    return ct_test_finish("test_cpu_model_levels");
}
