/* The CPU backend's fast matmul (SIMD kernels over integer activations) against its
 * reference matmul (f32 dot of dequantized rows), through the backend interface, for every
 * supported weight type at every kernel level this CPU has (CTORCH_CPU_LEVEL) and both
 * activation precisions (CTORCH_CPU_ACTIVATIONS=q16, the default, and q8), with 1 and 3
 * threads, a bias, and token counts that take each path: 1 (decode: the caller quantizes),
 * 5, 37 (the pool quantizes; the kernels' matrix-matrix path), and a batch longer than
 * begin() provided for (the op runs in chunks of tokens).
 *
 * Tolerance, per output (t, r), from the activation rounding bound:
 *   Q4_0..Q8_0 weights, Q8: activations become int8 q = round(x / d) with one d = absmax/127
 *     per 32-block, so |x - q d| <= d/2 and |error| <= sum over blocks b of d_b/2 * sum_{i in b} |w_i|;
 *   Q16: the same with d = absmax/32512 and 1.5 d instead of d/2 (qk_internal.h);
 *   Q2_K..Q6_K: the same with 256-blocks;
 *   BF16: at Q8 x rounded to bfloat16 (8 significant bits), |error| <= 2^-9 * sum |w_i x_i|;
 *   F32, F16 (and BF16 at Q16): activations stay f32: only float rounding.
 * plus 2e-5 * (sum |w_i x_i| + the bound) for float32 accumulation in a different order
 * (sums of <= 512 terms: ~512 * 6e-8 = 3e-5 worst case, ~1e-6 typical; the bound is not
 * tight, so 2e-5 suffices in practice and a wrong row or block gives O(1) errors). The test
 * also asserts that the error is not zero for the 8-bit types (the fast path really ran).
 * Attention on the fast path against the reference: see test_attention. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/backend_cpu.h"
#include "backend/cpu/kernels/qkernels.h"
#include "quant/quant.h"
#include "quant/types.h"
#include "test_util.h"

static ct_test_rng rng = {0xC0FFEE1234567ULL};

enum { COLS = 512, ROWS = 37, MAX_TOKENS = 37 };

static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = ct_test_rng_uniform(&rng) * scale;
}

static ct_tensor f32_tensor(float *data, int64_t ne0, int64_t ne1) {
    return (ct_tensor){.data = data, .type = CT_TYPE_F32, .ne0 = ne0, .ne1 = ne1, .row_bytes = (size_t)ne0 * 4, .name = "t"};
}

static int act_block(ct_type type) {
    switch (type) {
    case CT_TYPE_Q4_0:
    case CT_TYPE_Q4_1:
    case CT_TYPE_Q5_0:
    case CT_TYPE_Q5_1:
    case CT_TYPE_Q8_0: return 32;
    case CT_TYPE_Q2_K:
    case CT_TYPE_Q3_K:
    case CT_TYPE_Q4_K:
    case CT_TYPE_Q5_K:
    case CT_TYPE_Q6_K: return 256;
    default: return 0;
    }
}

/* the rounding bound of the comment at the top, for one weight row and one activation row */
static double error_bound(ct_type type, bool q16, const float *w, const float *x) {
    double mag = 0, bound = 0;
    for (int i = 0; i < COLS; i++) mag += fabs((double)w[i] * x[i]);
    int blk = act_block(type);
    if (blk) {
        for (int b = 0; b < COLS; b += blk) {
            double amax = 0, wsum = 0;
            for (int i = b; i < b + blk; i++) amax = fmax(amax, fabs(x[i])), wsum += fabs(w[i]);
            bound += q16 ? amax / 32512.0 * 1.5 * wsum : amax / 127.0 / 2.0 * wsum;
        }
    } else if (type == CT_TYPE_BF16 && !q16) {
        bound = mag * ldexp(1.0, -9);
    }
    return bound + 2e-5 * (mag + bound);
}

typedef struct {
    uint8_t *wq;
    uint64_t row_bytes;
    float *deq; /* the dequantized weights, for the bound */
} weights;

static weights make_weights(ct_type type) {
    weights W = {0};
    CHECK_OK(ct_type_row_bytes(type, COLS, &W.row_bytes));
    W.wq = malloc(W.row_bytes * ROWS);
    W.deq = malloc(sizeof(float) * COLS * ROWS);
    float *wf = malloc(sizeof(float) * COLS * ROWS);
    if (!W.wq || !W.deq || !wf) abort();
    fill(wf, COLS * ROWS, 1.0f);
    for (int r = 0; r < ROWS; r++) {
        if (type == CT_TYPE_F32) memcpy(W.wq + r * W.row_bytes, wf + r * COLS, W.row_bytes);
        else CHECK_OK(ct_quantize_row(type, wf + r * COLS, W.wq + r * W.row_bytes, COLS));
        if (type == CT_TYPE_F32) memcpy(W.deq + r * COLS, wf + r * COLS, W.row_bytes);
        else CHECK_OK(ct_dequantize_row(type, W.wq + r * W.row_bytes, W.deq + r * COLS, COLS));
    }
    free(wf);
    return W;
}

/* out = W x + bias on backend be, inside begin/end of a batch of begin_tokens tokens */
static void run_matmul(ct_backend *be, ct_type type, const weights *W, const float *bias, const float *in, int n,
                       int begin_tokens, float *out) {
    ct_forward_batch batch = {.n_tokens = begin_tokens};
    CHECK_OK(be->begin(be, &batch));
    ct_tensor w = {.data = W->wq, .type = type, .ne0 = COLS, .ne1 = ROWS, .row_bytes = W->row_bytes, .name = "w"};
    ct_tensor b = f32_tensor((float *)bias, ROWS, 1), x = f32_tensor((float *)in, COLS, n), y = f32_tensor(out, ROWS, n);
    /* the output rows are padded: the op must honour row_bytes */
    y.row_bytes = (ROWS + 3) * sizeof(float);
    be->matmul(be, &y, &w, &b, &x);
    CHECK_OK(be->end(be));
}

/* a backend at a level ("reference" or a kernel level) and precision ("q16" or "q8") */
static ct_backend *create(const char *level, const char *act, int n_threads) {
    setenv("CTORCH_CPU_LEVEL", level, 1);
    setenv("CTORCH_CPU_ACTIVATIONS", act, 1);
    ct_backend *be = NULL;
    CHECK_OK(ct_backend_create("cpu", n_threads, &be));
    if (be) {
        char want[64];
        snprintf(want, sizeof want, "%s%s", level, strcmp(act, "q8") || !strcmp(level, "reference") ? "" : "/q8");
        CHECK_MSG(!strcmp(ct_backend_cpu_matmul_path(be), want), "CTORCH_CPU_LEVEL=%s CTORCH_CPU_ACTIVATIONS=%s runs %s",
                  level, act, ct_backend_cpu_matmul_path(be));
        CHECK_OK(be->reserve(be, COLS, 16));
    }
    return be;
}

/* chunked: a fresh backend whose begin() saw 1 token, given 37 */
static void test_type(ct_backend *ref, ct_backend *fast, const char *level, bool q16, int n_threads, ct_type type,
                      bool chunked) {
    weights W = make_weights(type);
    float bias[ROWS], *in = malloc(sizeof(float) * COLS * MAX_TOKENS);
    const size_t stride = ROWS + 3;
    float *want = malloc(sizeof(float) * stride * MAX_TOKENS), *got = malloc(sizeof(float) * stride * MAX_TOKENS);
    if (!in || !want || !got) abort();
    fill(bias, ROWS, 1.0f);
    /* activations with a spread of magnitudes (like a residual stream with outlier channels) */
    fill(in, COLS * MAX_TOKENS, 1.0f);
    for (int i = 0; i < COLS * MAX_TOKENS; i += 97) in[i] *= 20.0f;
    const int all_counts[][2] = {{1, 1}, {5, 5}, {MAX_TOKENS, MAX_TOKENS}}, chunk_counts[][2] = {{MAX_TOKENS, 1}};
    const int(*counts)[2] = chunked ? chunk_counts : all_counts; /* {tokens, begin's tokens} */
    size_t n_counts = chunked ? 1 : 3;
    for (size_t c = 0; c < n_counts; c++) {
        int n = counts[c][0];
        run_matmul(ref, type, &W, bias, in, n, n, want);
        run_matmul(fast, type, &W, bias, in, n, counts[c][1], got);
        double worst = 0, nonzero = 0;
        for (int t = 0; t < n; t++)
            for (int r = 0; r < ROWS; r++) {
                double e = fabs((double)got[t * stride + r] - want[t * stride + r]);
                double bound = error_bound(type, q16, W.deq + r * COLS, in + t * COLS);
                worst = fmax(worst, e / bound);
                nonzero = fmax(nonzero, e);
            }
        CHECK_MSG(worst <= 1.0, "%s %s, %d threads, %s, %d tokens (begin %d): error %.3g x the bound", level,
                  q16 ? "q16" : "q8", n_threads, ct_type_name(type), n, counts[c][1], worst);
        CHECK_MSG(!act_block(type) || nonzero > 0, "%s %s: bit-identical to the reference: the fast path did not run",
                  level, ct_type_name(type));
    }
    free(W.wq);
    free(W.deq);
    free(in);
    free(want);
    free(got);
}

/* Attention on the fast path (AVX2 where the CPU has it) against the reference attention:
 * both compute in float32 from the same cache, differing only in summation order, so 1e-5
 * of the output's magnitude (sums over <= 150 positions and <= 76 dimensions). Head sizes
 * 64 and 76 take the 64-wide register blocks and every tail; 150 positions cross the
 * 64-position chunks; a view of scrambled blocks of 16 cells, a window, GQA groups of 4. */
static void test_attention(ct_backend *ref, ct_backend *fast) {
    enum { NH = 8, NKV = 2, T = 150, BS = 16, NBLK = 10 };
    int32_t blocks[NBLK] = {3, 7, 0, 9, 1, 5, 2, 8, 4, 6};
    ct_kv_view view = {blocks, BS};
    int32_t tok[T], pos[T], seq[T], outr[1] = {0};
    int64_t cell[T];
    for (int i = 0; i < T; i++) tok[i] = 0, pos[i] = i, seq[i] = 0, cell[i] = ct_kv_view_cell(&view, i);
    ct_forward_batch fb = {T, tok, pos, seq, cell, &view, 1, outr};
    const int dims[] = {64, 76};
    for (int di = 0; di < 2; di++)
        for (uint32_t type = CT_TYPE_F32; type <= CT_TYPE_F16; type++)
            for (int window = 0; window <= 40; window += 40) {
                const int hd = dims[di];
                const size_t esz = type == CT_TYPE_F32 ? 4 : 2;
                uint8_t *kc = calloc((size_t)NBLK * BS, NKV * hd * esz), *vc = calloc((size_t)NBLK * BS, NKV * hd * esz);
                float *q = malloc(sizeof(float) * T * NH * hd), *k = malloc(sizeof(float) * T * NKV * hd);
                float *v = malloc(sizeof(float) * T * NKV * hd);
                float *o1 = malloc(sizeof(float) * T * NH * hd), *o2 = malloc(sizeof(float) * T * NH * hd);
                if (!kc || !vc || !q || !k || !v || !o1 || !o2) abort();
                fill(q, T * NH * hd, 1.0f);
                fill(k, T * NKV * hd, 1.0f);
                fill(v, T * NKV * hd, 1.0f);
                ct_tensor kct = {.data = kc, .type = type, .ne0 = NKV * hd, .ne1 = NBLK * BS, .row_bytes = NKV * hd * esz};
                ct_tensor vct = kct;
                vct.data = vc;
                ct_tensor qt = f32_tensor(q, NH * hd, T), kt = f32_tensor(k, NKV * hd, T), vt = f32_tensor(v, NKV * hd, T);
                ct_tensor t1 = f32_tensor(o1, NH * hd, T), t2 = f32_tensor(o2, NH * hd, T);
                ct_attn attn = {NH, NKV, hd, hd, 0.125f, window};
                CHECK_OK(ref->begin(ref, &fb));
                ref->kv_store(ref, &kct, &vct, &kt, &vt);
                ref->attention(ref, &t1, &qt, &kct, &vct, &attn);
                CHECK_OK(ref->end(ref));
                CHECK_OK(fast->begin(fast, &fb));
                fast->attention(fast, &t2, &qt, &kct, &vct, &attn);
                CHECK_OK(fast->end(fast));
                double worst = 0;
                for (int i = 0; i < T * NH * hd; i++) worst = fmax(worst, fabs((double)o1[i] - o2[i]));
                /* outputs are convex combinations of values in [-1, 1]: magnitude <= 1 */
                CHECK_MSG(worst <= 1e-5, "attention head %d, cache %s, window %d: fast vs reference %g", hd,
                          ct_type_name((ct_type)type), window, worst);
                free(kc), free(vc), free(q), free(k), free(v), free(o1), free(o2);
            }
}

int main(void) {
    const ct_type types[] = {CT_TYPE_F32, CT_TYPE_F16, CT_TYPE_BF16, CT_TYPE_Q4_0, CT_TYPE_Q4_1, CT_TYPE_Q5_0,
                             CT_TYPE_Q5_1, CT_TYPE_Q8_0, CT_TYPE_Q2_K, CT_TYPE_Q3_K, CT_TYPE_Q4_K, CT_TYPE_Q5_K,
                             CT_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        CHECK_MSG(ct_cpu_qmatmul_supports(types[i]), "%s has no fast path", ct_type_name(types[i]));
    ct_backend *ref = create("reference", "q16", 2);
    int levels = 0;
    for (int l = 0; l <= (int)ct_cpu_level_best(); l++) {
        const char *level = ct_cpu_level_name((ct_cpu_level)l);
        for (int q16 = 1; q16 >= 0; q16--)
            for (int nt = 1; nt <= 3; nt += 2) {
                const char *act = q16 ? "q16" : "q8";
                ct_backend *fast = create(level, act, nt);
                if (ref && fast)
                    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
                        test_type(ref, fast, level, q16, nt, types[i], false);
                ct_backend_destroy(fast);
                for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
                    fast = create(level, act, nt);
                    if (ref && fast) test_type(ref, fast, level, q16, nt, types[i], true);
                    ct_backend_destroy(fast);
                }
            }
        levels++;
    }
    printf("fast matmul vs reference: %d kernel levels x 2 precisions x 13 weight types x 1 and 3 threads\n", levels);

    unsetenv("CTORCH_CPU_LEVEL");
    unsetenv("CTORCH_CPU_ACTIVATIONS");
    ct_backend *fast = NULL;
    CHECK_OK(ct_backend_create("cpu", 3, &fast));
    if (fast && ref) {
        CHECK_OK(fast->reserve(fast, COLS, 256));
        CHECK_OK(ref->reserve(ref, COLS, 256));
        test_attention(ref, fast);
    }
    ct_backend_destroy(fast);

    /* an unknown level fails backend creation with a message naming the variable */
    setenv("CTORCH_CPU_LEVEL", "fastest", 1);
    ct_backend *bad = NULL;
    CHECK(ct_backend_create("cpu", 1, &bad) == CT_ERR_INVALID_ARGUMENT && bad == NULL);
    CHECK(strstr(ct_last_error(), "CTORCH_CPU_LEVEL") != NULL);
    unsetenv("CTORCH_CPU_LEVEL");
    /* so does an unknown activation precision */
    setenv("CTORCH_CPU_ACTIVATIONS", "q12", 1);
    CHECK(ct_backend_create("cpu", 1, &bad) == CT_ERR_INVALID_ARGUMENT && bad == NULL);
    CHECK(strstr(ct_last_error(), "CTORCH_CPU_ACTIVATIONS") != NULL && strstr(ct_last_error(), "q12") != NULL);
    unsetenv("CTORCH_CPU_ACTIVATIONS");
    ct_backend *best = NULL;
    CHECK_OK(ct_backend_create("cpu", 1, &best));
    if (best) CHECK(!strcmp(ct_backend_cpu_matmul_path(best), ct_cpu_level_name(ct_cpu_level_best())));
    ct_backend_destroy(best);
    ct_backend_destroy(ref);
    return ct_test_finish("test_cpu_backend_fast");
}
