/* Real models (and the synthetic GPT-2) against golden outputs from Hugging Face transformers
 * (the JSON files in tests/golden/models, made by tests/scripts/gen_model_golden.py and
 * gen_gpt2_golden.py: HF loading the same GGUF, float32, eager attention).
 *
 * Per model and prompt:
 *   - the tokenizer turns the prompt into the golden prompt ids (end to end, BOS convention);
 *   - F32 KV cache, the prompt ids as one batch: the top-20 logits at the last position, the
 *     logits' mean and std over the vocabulary, and the residual stream after every layer
 *     (first 16 values and L2 norm at the last position);
 *   - F32 KV cache, greedy decoding one token per batch: every token equal to the golden one,
 *     and the top-5 logits of every step;
 *   - F16 KV cache (the default): greedy tokens equal while the golden top-1/top-2 gap is wide
 *     enough that the F16 rounding cannot flip them, and the top-20 at the prompt's end.
 *
 * Tolerances. F32 KV: ctorch computes in float32 like HF, on the same dequantized weights,
 * in a different order; the golden file measures HF float32 vs float64 at <= 1e-6 relative on
 * the top-20, and we allow 1e-4 relative (|a - b| / max(|b|, 1)) on logits, 1e-3 on hidden
 * values (relative to the vector's RMS, they pass through 30 layers). F16 KV: the golden
 * file's deviation study (K/V, Q and probabilities rounded to F16, more rounding than ctorch
 * does) moves the top-20 by <= 1e-3 relative, the whole vocabulary by <= 0.02: we allow 3e-3
 * relative and require greedy agreement only at steps whose gap exceeds 0.06 (3x that).
 *
 * The checks above run on the reference matmul (CTORCH_CPU_LEVEL=reference: f32 dot products
 * of dequantized rows). The default fast path quantizes each matmul's input to 8-bit blocks
 * (round to nearest of absmax/127 steps: each value moves by <= 1/254 of its block's absmax,
 * an output by ~0.3-1% of its magnitude; test_cpu_backend_fast checks that bound op by op),
 * and ~7 matmuls per layer over 18-30 layers add those up to a few percent of the logit
 * scale; llama.cpp's CPU path rounds the same way. So the fast path gets its own check
 * (check_fast): logits within TOL_FAST_LOGIT absolute (measured worst 1.07, SmolLM2 code,
 * on logits of magnitude ~15-25), and the greedy token equal to the golden one wherever the
 * golden top-1/top-2 gap exceeds GAP_FAST = 2 x TOL_FAST_LOGIT, where an error within the
 * tolerance on both logits cannot swap them. Narrower steps are counted and printed.
 *
 * In a sanitizer build (~20x slower) only the first prompt runs and greedy decoding stops
 * after 4 steps; the output says so. Models absent from the models directory are skipped
 * (named in the output); the test skips (77) when none is present. CTORCH_GOLDEN_MODELS_DIR
 * points it at another directory of golden files.
 *
 * Included by one small test per model family (tests/test_model_golden_*.c) so that ctest
 * runs them in parallel. */
#ifndef CT_TESTS_MODEL_GOLDEN_H
#define CT_TESTS_MODEL_GOLDEN_H
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "api/context_internal.h"
#include "backend/cpu/backend_cpu.h"
#include "core/log.h"
#include "ctorch.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define TOL_LOGIT_F32 1e-4
#define TOL_HIDDEN 1e-3
#define TOL_LOGIT_F16 3e-3
#define GAP_F16 0.06
#define TOL_FAST_LOGIT 1.5
#define GAP_FAST (2 * TOL_FAST_LOGIT)

static double num(const json_t *j) { return json_number_value(j); }

static double rel(double got, double want) { return fabs(got - want) / fmax(fabs(want), 1.0); }

/* ---- hidden states at the last prompt position -------------------------------------- */
typedef struct {
    int32_t n_embd, n_layer, n_tokens;
    float *rows;   /* [n_tokens][n_embd] scratch */
    float *layers; /* [n_layer][n_embd]: last position */
} capture;

static void on_layer(void *user, int32_t layer, const ct_tensor *x, ct_backend *be) {
    capture *c = user;
    if (layer < 0 || layer >= c->n_layer || x->ne1 > c->n_tokens) return;
    if (be->read_rows(be, x, c->rows) != CT_OK) return;
    memcpy(c->layers + (size_t)layer * c->n_embd, c->rows + (size_t)(x->ne1 - 1) * c->n_embd, (size_t)c->n_embd * 4);
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static ct_context *new_context(ct_model *m, ct_kv_type kv, int32_t n_ctx) {
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = n_ctx;
    cp.kv_type = kv;
    ct_context *ctx = NULL;
    CHECK_OK(ct_context_create(m, &cp, &ctx));
    return ctx;
}

static void load_ids(const json_t *arr, ct_token *ids, size_t n) {
    for (size_t i = 0; i < n; i++) ids[i] = (ct_token)json_integer_value(json_array_get(arr, i));
}

/* max relative error of our logits on the golden top-k list [[id, logit], ...] */
static double topk_error(const float *logits, int32_t n_vocab, const json_t *top) {
    double worst = 0;
    size_t i;
    json_t *pair;
    json_array_foreach(top, i, pair) {
        json_int_t id = json_integer_value(json_array_get(pair, 0));
        if (id < 0 || id >= n_vocab) return INFINITY;
        double e = rel(logits[id], num(json_array_get(pair, 1)));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* Prompt as one batch with F32 KV: top-20, vocabulary stats, hidden states. */
static void check_prompt(ct_model *m, const ct_model_info *info, const char *label, const json_t *c,
                         const ct_token *ids, size_t n) {
    ct_context *ctx = new_context(m, CT_KV_F32, (int32_t)n + 8);
    if (!ctx) return;
    capture cap = {info->n_embd, info->n_layer, (int32_t)n, NULL, NULL};
    cap.rows = calloc(n * (size_t)info->n_embd, sizeof(float));
    cap.layers = calloc((size_t)info->n_layer * (size_t)info->n_embd, sizeof(float));
    ct_context_set_layer_hook(ctx, on_layer, &cap);
    const float *logits = NULL;
    CHECK_OK(ct_eval(ctx, 0, ids, n, &logits));
    if (logits && cap.rows && cap.layers) {
        const json_t *last = json_object_get(c, "last_position");
        double e = topk_error(logits, info->n_vocab, json_object_get(last, "top20"));
        const json_t *stats = json_object_get(last, "logits_stats");
        double mean = 0, var = 0;
        for (int32_t v = 0; v < info->n_vocab; v++) mean += logits[v];
        mean /= info->n_vocab;
        for (int32_t v = 0; v < info->n_vocab; v++) var += (logits[v] - mean) * (logits[v] - mean);
        double sd = sqrt(var / info->n_vocab), want_sd = num(json_object_get(stats, "std_population"));
        int32_t am = argmax(logits, info->n_vocab);

        /* hidden states: relative to each vector's RMS */
        double hidden = 0;
        const json_t *layers = json_object_get(json_object_get(c, "layers_last_position"), "layer_out");
        CHECK(json_array_size(layers) == (size_t)info->n_layer);
        for (int32_t l = 0; l < info->n_layer && l < (int32_t)json_array_size(layers); l++) {
            const json_t *lj = json_array_get(layers, (size_t)l);
            const float *h = cap.layers + (size_t)l * info->n_embd;
            double l2 = 0, want_l2 = num(json_object_get(lj, "l2"));
            for (int32_t i = 0; i < info->n_embd; i++) l2 += (double)h[i] * h[i];
            l2 = sqrt(l2);
            double rms = want_l2 / sqrt((double)info->n_embd), worst = fabs(l2 - want_l2) / want_l2;
            const json_t *first = json_object_get(lj, "first16");
            for (size_t i = 0; i < json_array_size(first); i++)
                worst = fmax(worst, fabs(h[i] - num(json_array_get(first, i))) / rms);
            if (!(worst <= hidden)) hidden = worst;
        }
        printf("%s: prompt (%zu tokens, f32 KV): top-20 max rel err %.2e, std %.6g vs %.6g, argmax %d, hidden max err %.2e\n",
               label, n, e, sd, want_sd, (int)am, hidden);
        CHECK_MSG(e <= TOL_LOGIT_F32, "%s: top-20 logits rel err %.3g > %g", label, e, TOL_LOGIT_F32);
        CHECK_MSG(am == (int32_t)json_integer_value(json_object_get(stats, "argmax")), "%s: argmax %d", label, (int)am);
        CHECK_MSG(fabs(mean - num(json_object_get(stats, "mean"))) <= 1e-3 * want_sd && fabs(sd - want_sd) <= 1e-3 * want_sd,
                  "%s: logits mean %.6g / std %.6g differ from the golden ones", label, mean, sd);
        CHECK_MSG(hidden <= TOL_HIDDEN, "%s: hidden states err %.3g > %g", label, hidden, TOL_HIDDEN);
    }
    free(cap.rows);
    free(cap.layers);
    ct_context_free(ctx);
}

/* Greedy decoding, one token per batch. With F32 KV every step must match; with F16 KV, the
 * steps up to the first one whose golden gap is too narrow to be sure of. */
static void check_greedy(ct_model *m, const ct_model_info *info, const char *label, const json_t *c,
                         const ct_token *ids, size_t n, ct_kv_type kv, int32_t max_steps) {
    const json_t *g = json_object_get(c, "greedy");
    const json_t *want = json_object_get(g, "ids"), *steps = json_object_get(g, "steps");
    int32_t n_steps = (int32_t)json_array_size(want);
    if (n_steps > max_steps) n_steps = max_steps;
    ct_context *ctx = new_context(m, kv, (int32_t)n + n_steps + 8);
    if (!ctx) return;
    const float *logits = NULL;
    CHECK_OK(ct_eval(ctx, 0, ids, n, &logits));
    double worst = 0;
    int32_t matched = 0, compared = 0;
    bool f32 = kv == CT_KV_F32;
    if (!f32 && logits) {
        double e = topk_error(logits, info->n_vocab, json_object_get(json_object_get(c, "last_position"), "top20"));
        printf("%s: prompt (f16 KV): top-20 max rel err %.2e\n", label, e);
        CHECK_MSG(e <= TOL_LOGIT_F16, "%s: f16 KV top-20 rel err %.3g > %g", label, e, TOL_LOGIT_F16);
    }
    for (int32_t i = 0; logits && i < n_steps; i++) {
        const json_t *step = json_array_get(steps, (size_t)i);
        int32_t tok = argmax(logits, info->n_vocab), expect = (int32_t)json_integer_value(json_array_get(want, (size_t)i));
        double gap = num(json_object_get(step, "gap12"));
        if (!f32 && gap < GAP_F16) break; /* from here F16 rounding may legitimately pick the other token */
        compared++;
        double e = topk_error(logits, info->n_vocab, json_object_get(step, "top5"));
        if (!(e <= worst)) worst = e;
        if (tok != expect) {
            CHECK_MSG(tok == expect, "%s: greedy step %d: token %d, golden %d (gap %.3g)", label, (int)i, (int)tok,
                      (int)expect, gap);
            break;
        }
        matched++;
        if (i + 1 < n_steps) CHECK_OK(ct_eval(ctx, 0, &tok, 1, &logits));
    }
    printf("%s: greedy (%s KV): %d/%d steps match (of %zu golden), top-5 max rel err %.2e\n", label,
           f32 ? "f32" : "f16", (int)matched, (int)compared, json_array_size(want), worst);
    CHECK(matched == compared);
    CHECK_MSG(!f32 || matched == n_steps, "%s: only %d of %d greedy steps compared", label, (int)matched, (int)n_steps);
    CHECK_MSG(worst <= (f32 ? TOL_LOGIT_F32 : TOL_LOGIT_F16), "%s: top-5 rel err %.3g", label, worst);
    ct_context_free(ctx);
}

/* max absolute error of our logits on the golden top-k list */
static double topk_abs_error(const float *logits, int32_t n_vocab, const json_t *top) {
    double worst = 0;
    size_t i;
    json_t *pair;
    json_array_foreach(top, i, pair) {
        json_int_t id = json_integer_value(json_array_get(pair, 0));
        if (id < 0 || id >= n_vocab) return INFINITY;
        double e = fabs(logits[id] - num(json_array_get(pair, 1)));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* The fast matmul path (8-bit activations), F16 KV as in normal use: the prompt's top-20,
 * then the golden greedy continuation fed token by token (teacher forcing, so that one
 * near-tie does not end the comparison): at every step the top-5 within TOL_FAST_LOGIT, and
 * our argmax equal to the golden token wherever the golden gap exceeds GAP_FAST. */
static void check_fast(ct_model *m, const ct_model_info *info, const char *label, const json_t *c,
                       const ct_token *ids, size_t n, int32_t max_steps) {
    const json_t *g = json_object_get(c, "greedy");
    const json_t *want = json_object_get(g, "ids"), *steps = json_object_get(g, "steps");
    int32_t n_steps = (int32_t)json_array_size(want);
    if (n_steps > max_steps) n_steps = max_steps;
    ct_context *ctx = new_context(m, CT_KV_F16, (int32_t)n + n_steps + 8);
    if (!ctx) return;
    const float *logits = NULL;
    CHECK_OK(ct_eval(ctx, 0, ids, n, &logits));
    double prompt_err = logits ? topk_abs_error(logits, info->n_vocab,
                                                json_object_get(json_object_get(c, "last_position"), "top20"))
                               : INFINITY;
    double worst = 0, narrowest_flip = INFINITY;
    int32_t agree = 0, wide = 0, wide_agree = 0, done = 0;
    for (int32_t i = 0; logits && i < n_steps; i++, done++) {
        const json_t *step = json_array_get(steps, (size_t)i);
        int32_t tok = argmax(logits, info->n_vocab), expect = (int32_t)json_integer_value(json_array_get(want, (size_t)i));
        double gap = num(json_object_get(step, "gap12"));
        double e = topk_abs_error(logits, info->n_vocab, json_object_get(step, "top5"));
        if (!(e <= worst)) worst = e;
        agree += tok == expect;
        if (tok != expect && gap < narrowest_flip) narrowest_flip = gap;
        if (gap >= GAP_FAST) {
            wide++;
            wide_agree += tok == expect;
            CHECK_MSG(tok == expect, "%s: fast path: step %d: token %d, golden %d (gap %.3g)", label, (int)i, (int)tok,
                      (int)expect, gap);
        }
        if (i + 1 < n_steps) CHECK_OK(ct_eval(ctx, 0, &expect, 1, &logits));
    }
    printf("%s: fast path (%s matmul, f16 KV): prompt top-20 max abs err %.3f; %d steps: top-5 max abs err %.3f, "
           "argmax = golden at %d (%d/%d of the gap >= %.1f ones)",
           label, strcmp(m->be->name, "cpu") ? m->be->name : ct_backend_cpu_matmul_path(m->be), prompt_err, (int)done,
           worst, (int)agree, (int)wide_agree, (int)wide, GAP_FAST);
    if (agree < done) printf(", narrowest gap where it differs %.3f", narrowest_flip);
    printf("\n");
    CHECK_MSG(prompt_err <= TOL_FAST_LOGIT, "%s: fast path: top-20 abs err %.3g > %g", label, prompt_err, TOL_FAST_LOGIT);
    CHECK_MSG(worst <= TOL_FAST_LOGIT, "%s: fast path: top-5 abs err %.3g > %g", label, worst, TOL_FAST_LOGIT);
    CHECK(done == n_steps);
    ct_context_free(ctx);
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* One golden file; returns whether its model was found and tested. */
static bool check_model(const char *golden_dir, const char *json_name, bool fast) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", golden_dir, json_name);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK_MSG(root != NULL, "%s: %s", path, jerr.text);
    if (!root) return false;
    const char *model_file = json_string_value(json_object_get(root, "model_file"));
    CHECK_MSG(model_file != NULL, "%s: no model_file", path);
    bool ran = false;
    if (!model_file) goto done;
    /* synthetic models sit beside their golden file; real ones in the model cache */
    snprintf(path, sizeof path, "%s/%s", golden_dir, model_file);
    if (!file_exists(path)) snprintf(path, sizeof path, "%s/%s", CT_TEST_MODELS_DIR, model_file);
    if (!file_exists(path)) {
        printf("note: %s not found (scripts/fetch_models.sh): its golden checks did not run\n", model_file);
        goto done;
    }
    ct_model_params mp = ct_model_params_default();
    mp.n_threads = 2;
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(path, &mp, &m));
    if (!m) goto done;
    ran = true;
    ct_model_info info;
    ct_model_get_info(m, &info);
    const json_t *cases = json_object_get(root, "cases");
    CHECK(json_array_size(cases) > 0);
    size_t ci;
    json_t *c;
    json_array_foreach(cases, ci, c) {
        if (SANITIZED && ci > 0) {
            printf("note: sanitizer build: case '%s' of %s not run\n", json_string_value(json_object_get(c, "name")), model_file);
            continue;
        }
        char label[256];
        snprintf(label, sizeof label, "%s/%s", model_file, json_string_value(json_object_get(c, "name")));
        const json_t *pid = json_object_get(c, "prompt_ids");
        size_t n = json_array_size(pid);
        ct_token *ids = calloc(n ? n : 1, sizeof *ids);
        if (!ids || n == 0) {
            CHECK(n > 0);
            free(ids);
            continue;
        }
        load_ids(pid, ids, n);

        /* the tokenizer agrees with HF's (BOS included where the model adds it) */
        const char *prompt = json_string_value(json_object_get(c, "prompt"));
        ct_token *toks = NULL;
        size_t nt = 0;
        CHECK_OK(ct_tokenize(m, prompt, strlen(prompt), true, false, &toks, &nt));
        CHECK_MSG(nt == n && (n == 0 || !memcmp(toks, ids, n * sizeof *ids)), "%s: tokenizer gives %zu ids, golden %zu",
                  label, nt, n);
        ct_free(toks);

        if (fast) {
            check_fast(m, &info, label, c, ids, n, SANITIZED ? 4 : 1 << 30);
        } else {
            check_prompt(m, &info, label, c, ids, n);
            check_greedy(m, &info, label, c, ids, n, CT_KV_F32, SANITIZED ? 4 : 1 << 30);
            if (SANITIZED) printf("note: sanitizer build: greedy stopped after 4 steps; f16-KV run skipped\n");
            else if (ci == 0) check_greedy(m, &info, label, c, ids, n, CT_KV_F16, 1 << 30);
        }
        free(ids);
    }
    ct_model_free(m);
done:
    json_decref(root);
    return ran;
}

/* Every golden file in the directory whose name starts with prefix. */
static int run_model_golden(const char *prefix, const char *test_name) {
    ct_log_set_level(CT_LOG_ERROR);
    const char *dir = ct_test_env_or("CTORCH_GOLDEN_MODELS_DIR", CT_SOURCE_DIR "/tests/golden/models");
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (!d) return ct_test_finish(test_name);
    char *names[64];
    int n_names = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n_names < 64) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".json") && !strncmp(e->d_name, prefix, strlen(prefix)))
            names[n_names++] = strdup(e->d_name);
    }
    closedir(d);
    CHECK_MSG(n_names > 0, "no golden file %s*.json in %s", prefix, dir);
    /* the checks above on the reference matmul; then the fast path (CTORCH_CPU_LEVEL as the
     * caller set it: unset = the best kernels) */
    const char *level_env = getenv("CTORCH_CPU_LEVEL");
    char *level = level_env && strcasecmp(level_env, "reference") ? strdup(level_env) : NULL;
    int ran = 0;
    for (int i = 0; i < n_names; i++) {
        setenv("CTORCH_CPU_LEVEL", "reference", 1);
        ran += check_model(dir, names[i], false);
        if (level) setenv("CTORCH_CPU_LEVEL", level, 1);
        else unsetenv("CTORCH_CPU_LEVEL");
        check_model(dir, names[i], true);
        free(names[i]);
    }
    free(level);
    if (n_names > 0 && !ran) TEST_SKIP("the %s model is not present (run scripts/fetch_models.sh)", prefix);
    printf("%d of %d golden models tested\n", ran, n_names);
    return ct_test_finish(test_name);
}

#endif
