/* The CPU backend's matmul fusion (src/backend/cpu/matmul_fast.c): matmuls of one input run
 * as one job with the input quantized once, and a swiglu/geglu of their two outputs in that
 * job's epilogue. Fusion changes when work runs, never what it computes, so everything here
 * is compared bit for bit with the same ops on a backend that runs each op alone
 * (CTORCH_CPU_FUSE=0), on fresh random data:
 *   1. the llama pattern (rmsnorm; q, k, v of one input with biases; gate, up; swiglu in place)
 *      and gemma's (geglu into a separate buffer), for 1, 5 and 37 tokens, every level at the
 *      default precision, 1 and 3 threads; the backend's counters must show the fusion ran
 *      (one quantization for q/k/v and one for gate/up, grouped jobs, fused epilogues);
 *   2. patterns that must not fuse or reorder: an output that is the next matmul's input, an
 *      in-place matmul, weights whose activation formats differ (Q4_K then Q8_0), a swiglu
 *      whose operands are not the waiting outputs, and an op reading a waiting output;
 *   3. the whole SmolLM2 model (when present): logits of a prompt and two decode steps
 *      bit-identical with and without fusion.
 * A sanitizer build runs 1 and 2 at the best level with 3 threads only. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "backend/cpu/backend_cpu.h"
#include "backend/cpu/kernels/qkernels.h"
#include "core/log.h"
#include "ctorch.h"
#include "quant/quant.h"
#include "quant/types.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANITIZED 1 /* ~20x slower: the best level with 3 threads only */
#else
#define SANITIZED 0
#endif

static ct_test_rng rng = {0xF05E1234ABCDULL};

enum { D = 512, FF = 768, KV = 256, MAX_T = 37 };

static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = ct_test_rng_uniform(&rng) * scale;
}

static ct_tensor f32(float *data, int64_t ne0, int64_t ne1) {
    return (ct_tensor){.data = data, .type = CT_TYPE_F32, .ne0 = ne0, .ne1 = ne1, .row_bytes = (size_t)ne0 * 4, .name = "t"};
}

typedef struct {
    ct_tensor t;
    uint8_t *data;
} weight;

static weight make_weight(ct_type type, int64_t ne0, int64_t ne1) {
    weight w = {0};
    uint64_t rb = 0;
    CHECK_OK(ct_type_row_bytes(type, (uint64_t)ne0, &rb));
    w.data = malloc(rb * (size_t)ne1);
    float *x = malloc(sizeof(float) * (size_t)ne0);
    if (!w.data || !x) abort();
    for (int64_t r = 0; r < ne1; r++) {
        fill(x, (size_t)ne0, 1.0f);
        CHECK_OK(ct_quantize_row(type, x, w.data + (size_t)r * rb, ne0));
    }
    free(x);
    w.t = (ct_tensor){.data = w.data, .type = type, .ne0 = ne0, .ne1 = ne1, .row_bytes = rb, .name = "w"};
    return w;
}

/* every buffer the patterns touch, in one block so a run's results compare with one memcmp */
typedef struct {
    float x[MAX_T * D], h[MAX_T * D], q[MAX_T * D], k[MAX_T * KV], v[MAX_T * KV];
    float gate[MAX_T * FF], up[MAX_T * FF], y[MAX_T * FF], o[MAX_T * D];
} buffers;

typedef struct {
    weight wq, wk, wv, wg, wu, wd, w8;
    float bq[D], bk[KV], norm[D];
} model;

static ct_backend *create(const char *level, const char *fuse, int n_threads) {
    setenv("CTORCH_CPU_LEVEL", level, 1);
    setenv("CTORCH_CPU_FUSE", fuse, 1);
    ct_backend *be = NULL;
    CHECK_OK(ct_backend_create("cpu", n_threads, &be));
    if (be) CHECK_OK(be->reserve(be, FF, 16));
    unsetenv("CTORCH_CPU_FUSE");
    return be;
}

/* 1. the llama and gemma layer patterns */
static void layer_patterns(ct_backend *be, const model *m, buffers *b, int nt) {
    int32_t tok[MAX_T] = {0}, pos[MAX_T] = {0};
    ct_forward_batch batch = {.n_tokens = nt, .token = tok, .pos = pos};
    CHECK_OK(be->begin(be, &batch));
    ct_tensor x = f32(b->x, D, nt), h = f32(b->h, D, nt), q = f32(b->q, D, nt), k = f32(b->k, KV, nt);
    ct_tensor v = f32(b->v, KV, nt), g = f32(b->gate, FF, nt), u = f32(b->up, FF, nt), y = f32(b->y, FF, nt);
    ct_tensor o = f32(b->o, D, nt), nw = f32((float *)m->norm, D, 1), bq = f32((float *)m->bq, D, 1);
    ct_tensor bk = f32((float *)m->bk, KV, 1);
    be->rmsnorm(be, &h, &x, &nw, 1e-5f);
    be->matmul(be, &q, &m->wq.t, &bq, &h);
    be->matmul(be, &k, &m->wk.t, &bk, &h);
    be->matmul(be, &v, &m->wv.t, NULL, &h);
    be->add(be, &o, &q, &h); /* reads a waiting output */
    be->matmul(be, &g, &m->wg.t, NULL, &o);
    be->matmul(be, &u, &m->wu.t, NULL, &o);
    be->swiglu(be, &g, &g, &u); /* in place */
    be->matmul(be, &h, &m->wd.t, NULL, &g);
    be->matmul(be, &g, &m->wg.t, NULL, &h);
    be->matmul(be, &u, &m->wu.t, NULL, &h);
    be->geglu(be, &y, &g, &u); /* into a separate buffer */
    CHECK_OK(be->end(be));
}

/* 2. patterns that must neither fuse nor reorder */
static void awkward_patterns(ct_backend *be, const model *m, buffers *b, int nt) {
    int32_t tok[MAX_T] = {0}, pos[MAX_T] = {0};
    ct_forward_batch batch = {.n_tokens = nt, .token = tok, .pos = pos};
    CHECK_OK(be->begin(be, &batch));
    ct_tensor x = f32(b->x, D, nt), h = f32(b->h, D, nt), q = f32(b->q, D, nt), k = f32(b->k, KV, nt);
    ct_tensor g = f32(b->gate, FF, nt), u = f32(b->up, FF, nt), y = f32(b->y, FF, nt), o = f32(b->o, D, nt);
    be->matmul(be, &q, &m->wq.t, NULL, &x);
    be->matmul(be, &x, &m->wq.t, NULL, &q); /* its input is the waiting output; it overwrites the waiting input */
    be->matmul(be, &h, &m->wq.t, NULL, &x);
    be->matmul(be, &h, &m->wq.t, NULL, &h); /* in place */
    be->matmul(be, &g, &m->wg.t, NULL, &h);
    be->matmul(be, &u, &m->w8.t, NULL, &h); /* Q8_0 after Q4_K: other activation format */
    be->swiglu(be, &y, &g, &u);
    be->matmul(be, &g, &m->wg.t, NULL, &x);
    be->matmul(be, &k, &m->wk.t, NULL, &x);
    be->swiglu(be, &y, &y, &u); /* not the waiting outputs */
    be->matmul(be, &o, &m->wq.t, NULL, &h);
    be->matmul(be, &q, &m->wq.t, NULL, &h);
    be->scale(be, &q, 0.5f); /* reads and writes a waiting output */
    CHECK_OK(be->end(be));
}

static void compare(const char *what, const char *level, int nt, int threads, const buffers *a, const buffers *b) {
    CHECK_MSG(!memcmp(a, b, sizeof *a), "%s, level %s, %d tokens, %d threads: fused results differ from unfused", what,
              level, nt, threads);
}

static void run_backends(const model *m, const buffers *init) {
    buffers *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    if (!a || !b) abort();
    const int counts[] = {1, 5, MAX_T};
    for (int l = SANITIZED ? (int)ct_cpu_level_best() : 0; l <= (int)ct_cpu_level_best(); l++) {
        const char *level = ct_cpu_level_name((ct_cpu_level)l);
        for (int threads = SANITIZED ? 3 : 1; threads <= 3; threads += 2) {
            ct_backend *fused = create(level, "1", threads), *plain = create(level, "0", threads);
            if (!fused || !plain) break;
            for (int c = 0; c < 3; c++) {
                const int nt = counts[c];
                ct_backend_cpu_stats s0, s1;
                ct_backend_cpu_get_stats(fused, &s0);
                memcpy(a, init, sizeof *a), memcpy(b, init, sizeof *b);
                layer_patterns(fused, m, a, nt);
                layer_patterns(plain, m, b, nt);
                compare("layer patterns", level, nt, threads, a, b);
                ct_backend_cpu_get_stats(fused, &s1);
                /* 8 matmuls: q/k/v one group (one quantization), gate/up + swiglu, down, gate/up + geglu */
                CHECK_MSG(s1.matmuls - s0.matmuls == 8 && s1.quantized_inputs - s0.quantized_inputs == 4 &&
                              s1.grouped_jobs - s0.grouped_jobs == 3 && s1.fused_glu - s0.fused_glu == 2,
                          "level %s, %d tokens: %llu matmuls, %llu quantizations, %llu grouped jobs, %llu fused glu", level,
                          nt, (unsigned long long)(s1.matmuls - s0.matmuls),
                          (unsigned long long)(s1.quantized_inputs - s0.quantized_inputs),
                          (unsigned long long)(s1.grouped_jobs - s0.grouped_jobs),
                          (unsigned long long)(s1.fused_glu - s0.fused_glu));
                ct_backend_cpu_get_stats(plain, &s1);
                CHECK(s1.grouped_jobs == 0 && s1.fused_glu == 0);

                ct_backend_cpu_get_stats(fused, &s0);
                memcpy(a, init, sizeof *a), memcpy(b, init, sizeof *b);
                awkward_patterns(fused, m, a, nt);
                awkward_patterns(plain, m, b, nt);
                compare("awkward patterns", level, nt, threads, a, b);
                ct_backend_cpu_get_stats(fused, &s1);
                /* only g/k of x and o/q of h may share a job; no epilogue */
                CHECK_MSG(s1.grouped_jobs - s0.grouped_jobs == 2 && s1.fused_glu == s0.fused_glu,
                          "awkward patterns, level %s: %llu grouped jobs, %llu fused glu", level,
                          (unsigned long long)(s1.grouped_jobs - s0.grouped_jobs),
                          (unsigned long long)(s1.fused_glu - s0.fused_glu));
            }
            ct_backend_destroy(fused);
            ct_backend_destroy(plain);
        }
    }
    unsetenv("CTORCH_CPU_LEVEL");
    free(a);
    free(b);
}

/* 3. the whole model */
static void whole_model(void) {
    char path[2048];
    snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", CT_TEST_MODELS_DIR);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("note: %s not found: the whole-model comparison did not run\n", path);
        return;
    }
    const char *prompt = "The quick brown fox jumps over the lazy dog because";
    float *logits[2] = {NULL, NULL};
    int32_t n_vocab = 0;
    for (int f = 0; f < 2; f++) {
        setenv("CTORCH_CPU_FUSE", f ? "1" : "0", 1);
        ct_model_params mp = ct_model_params_default();
        mp.n_threads = 2;
        ct_model *m = NULL;
        CHECK_OK(ct_model_load(path, &mp, &m));
        unsetenv("CTORCH_CPU_FUSE");
        if (!m) return;
        ct_model_info info;
        ct_model_get_info(m, &info);
        n_vocab = info.n_vocab;
        ct_token *ids = NULL;
        size_t n = 0;
        CHECK_OK(ct_tokenize(m, prompt, strlen(prompt), true, false, &ids, &n));
        ct_context_params cp = ct_context_params_default();
        cp.n_ctx = 64;
        ct_context *ctx = NULL;
        CHECK_OK(ct_context_create(m, &cp, &ctx));
        logits[f] = malloc(sizeof(float) * 3 * (size_t)n_vocab);
        const float *lg = NULL;
        if (ctx && ids && logits[f]) {
            CHECK_OK(ct_eval(ctx, 0, ids, n, &lg));
            for (int s = 0; s < 3 && lg; s++) {
                memcpy(logits[f] + (size_t)s * n_vocab, lg, sizeof(float) * (size_t)n_vocab);
                ct_token t = 0;
                for (int32_t i = 1; i < n_vocab; i++)
                    if (lg[i] > lg[t]) t = i;
                if (s < 2) CHECK_OK(ct_eval(ctx, 0, &t, 1, &lg));
            }
        }
        ct_free(ids);
        ct_context_free(ctx);
        ct_model_free(m);
    }
    if (logits[0] && logits[1])
        CHECK_MSG(!memcmp(logits[0], logits[1], sizeof(float) * 3 * (size_t)n_vocab),
                  "SmolLM2: logits with fusion differ from those without");
    printf("SmolLM2: prompt and 2 decode steps, logits with and without fusion compared bit for bit\n");
    free(logits[0]);
    free(logits[1]);
}

int main(void) {
    ct_log_set_level(CT_LOG_ERROR);
    model *m = calloc(1, sizeof *m);
    buffers *init = malloc(sizeof *init);
    if (!m || !init) abort();
    m->wq = make_weight(CT_TYPE_Q4_K, D, D);
    m->wk = make_weight(CT_TYPE_Q6_K, D, KV); /* same activation format as Q4_K: joins */
    m->wv = make_weight(CT_TYPE_Q4_K, D, KV);
    m->wg = make_weight(CT_TYPE_Q4_K, D, FF);
    m->wu = make_weight(CT_TYPE_Q4_K, D, FF);
    m->wd = make_weight(CT_TYPE_Q6_K, FF, D);
    m->w8 = make_weight(CT_TYPE_Q8_0, D, FF);
    fill(m->bq, D, 1.0f);
    fill(m->bk, KV, 1.0f);
    fill(m->norm, D, 1.0f);
    fill((float *)init, sizeof *init / sizeof(float), 2.0f);
    run_backends(m, init);
    weight *ws[] = {&m->wq, &m->wk, &m->wv, &m->wg, &m->wu, &m->wd, &m->w8};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) free(ws[i]->data);
    free(m);
    free(init);
    whole_model();
    return ct_test_finish("test_cpu_fusion");
}
