/* The CPU backend's ops against straightforward float64 formulas on fresh random data, with 1
 * and 3 threads (odd sizes, so thread ranges split unevenly), and the thread pool itself.
 *
 * Tolerances: the ops compute in float32, the references in float64 from the same inputs.
 * Relative errors of float32 sums over n terms stay below ~n * 6e-8 in the worst case and
 * ~sqrt(n) * 6e-8 typically; with n <= 1024 every check below allows 1e-5 relative to the
 * magnitude involved (or 2e-6 absolute for values of order 1), well above that and far below
 * any real bug (a wrong row, head, position or pairing gives O(1) errors). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/ops_cpu.h"
#include "core/threadpool.h"
#include "quant/fp16.h"
#include "quant/quant.h"
#include "quant/types.h"
#include "test_util.h"

static ct_test_rng rng = {0x9E3779B97F4A7C15ULL};

static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = ct_test_rng_uniform(&rng) * scale;
}

static ct_tensor f32_tensor(float *data, int64_t ne0, int64_t ne1) {
    return (ct_tensor){.data = data, .type = CT_TYPE_F32, .ne0 = ne0, .ne1 = ne1, .row_bytes = (size_t)ne0 * 4, .name = "t"};
}

/* ---- row ops ---------------------------------------------------------------------- */
static void test_row_ops(void) {
    enum { N = 1000 };
    float a[N], b[N], w[N], bias[N], out[N];
    fill(a, N, 2.0f);
    fill(b, N, 1.0f);
    fill(w, N, 1.5f);
    fill(bias, N, 0.5f);

    double dot = 0, mag = 0;
    for (int i = 0; i < N; i++) dot += (double)a[i] * b[i], mag += fabs((double)a[i] * b[i]);
    CHECK_NEAR(ct_cpu_dot(a, b, N), dot, 1e-5 * mag);
    CHECK_NEAR(ct_cpu_dot(a, b, 7), (double)a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3] + a[4] * b[4] +
                                        a[5] * b[5] + a[6] * b[6], 1e-5);

    double ss = 0;
    for (int i = 0; i < N; i++) ss += (double)a[i] * a[i];
    double inv = 1.0 / sqrt(ss / N + 1e-5);
    ct_cpu_rmsnorm(out, a, w, N, 1e-5f);
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(out[i] - a[i] * inv * w[i]));
    CHECK_MSG(worst < 2e-6 * 3, "rmsnorm error %g", worst);

    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) mean += a[i];
    mean /= N;
    for (int i = 0; i < N; i++) var += (a[i] - mean) * (a[i] - mean);
    var /= N;
    ct_cpu_layernorm(out, a, w, bias, N, 1e-5f);
    worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(out[i] - ((a[i] - mean) / sqrt(var + 1e-5) * w[i] + bias[i])));
    CHECK_MSG(worst < 2e-6 * 4, "layernorm error %g", worst);

    memcpy(out, a, sizeof a);
    ct_cpu_softmax(out, N);
    double mx = a[0], sum = 0;
    for (int i = 1; i < N; i++) mx = fmax(mx, a[i]);
    for (int i = 0; i < N; i++) sum += exp(a[i] - mx);
    worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(out[i] - exp(a[i] - mx) / sum) / (exp(a[i] - mx) / sum));
    CHECK_MSG(worst < 1e-5, "softmax relative error %g", worst);

    for (int i = 0; i < 50; i++) {
        double x = a[i] * 3;
        CHECK_NEAR(ct_cpu_gelu_tanh((float)x), 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x))), 2e-6 * 6);
        CHECK_NEAR(ct_cpu_silu((float)x), x / (1 + exp(-x)), 2e-6 * 6);
    }
}

/* ---- rope: both pairings, partial rotation, scaling and frequency factors ---------------- */
static void test_rope(void) {
    enum { HEADS = 3, HD = 16, NDIMS = 12 };
    float ff[NDIMS / 2];
    for (int i = 0; i < NDIMS / 2; i++) ff[i] = 1.0f + (float)i * 0.5f;
    for (int style = 0; style < 2; style++) {
        for (int with_ff = 0; with_ff < 2; with_ff++) {
            float x[HEADS * HD], y[HEADS * HD];
            fill(x, HEADS * HD, 1.0f);
            memcpy(y, x, sizeof x);
            ct_rope r = {style ? CT_ROPE_NEOX : CT_ROPE_NORM, HD, NDIMS, 10000.0f, 0.25f, NULL};
            int32_t pos = 1234;
            ct_cpu_rope(y, HEADS, &r, with_ff ? ff : NULL, pos);
            double worst = 0;
            for (int h = 0; h < HEADS; h++) {
                const float *xh = x + h * HD, *yh = y + h * HD;
                for (int i = 0; i < NDIMS / 2; i++) {
                    double theta = pos * 0.25 * pow(10000.0, -2.0 * i / NDIMS) / (with_ff ? ff[i] : 1.0);
                    int a = style ? i : 2 * i, b = style ? i + NDIMS / 2 : 2 * i + 1;
                    worst = fmax(worst, fabs(yh[a] - (xh[a] * cos(theta) - xh[b] * sin(theta))));
                    worst = fmax(worst, fabs(yh[b] - (xh[a] * sin(theta) + xh[b] * cos(theta))));
                }
                for (int i = NDIMS; i < HD; i++) worst = fmax(worst, fabs(yh[i] - xh[i])); /* not rotated */
            }
            CHECK_MSG(worst < 2e-6, "rope style %d ff %d error %g", style, with_ff, worst);
        }
    }
}

/* ---- backend ops ------------------------------------------------------------------------- */
static ct_backend *be1, *be3;

static void run_batch(ct_backend *be, const ct_forward_batch *b) { CHECK_OK(be->begin(be, b)); }

/* matmul of quantized weights: reference = float64 dot of the dequantized rows */
static void test_matmul_type(ct_backend *be, ct_type type) {
    const int64_t cols = 512, rows = 37, n = 5;
    uint64_t row_bytes;
    CHECK_OK(ct_type_row_bytes(type, cols, &row_bytes));
    uint8_t *wq = malloc(row_bytes * rows);
    float *wf = malloc(sizeof(float) * cols * rows), *deq = malloc(sizeof(float) * cols * rows);
    float *in = malloc(sizeof(float) * cols * n), *out = malloc(sizeof(float) * rows * n), bias[37];
    fill(wf, cols * rows, 1.0f);
    fill(in, cols * n, 1.0f);
    fill(bias, rows, 1.0f);
    for (int64_t r = 0; r < rows; r++) {
        if (type == CT_TYPE_F32) memcpy(wq + r * row_bytes, wf + r * cols, row_bytes);
        else CHECK_OK(ct_quantize_row(type, wf + r * cols, wq + r * row_bytes, cols));
        if (type == CT_TYPE_F32) memcpy(deq + r * cols, wf + r * cols, row_bytes);
        else CHECK_OK(ct_dequantize_row(type, wq + r * row_bytes, deq + r * cols, cols));
    }
    ct_tensor w = {.data = wq, .type = type, .ne0 = cols, .ne1 = rows, .row_bytes = row_bytes, .name = "w"};
    ct_tensor b = f32_tensor(bias, rows, 1), x = f32_tensor(in, cols, n), y = f32_tensor(out, rows, n);
    be->matmul(be, &y, &w, &b, &x);
    double worst = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < rows; r++) {
            double ref = bias[r], mag = fabs(bias[r]);
            for (int64_t c = 0; c < cols; c++) ref += (double)deq[r * cols + c] * in[t * cols + c], mag += fabs((double)deq[r * cols + c] * in[t * cols + c]);
            worst = fmax(worst, fabs(out[t * rows + r] - ref) / mag);
        }
    CHECK_MSG(worst < 1e-5, "matmul %s error %g", ct_type_name(type), worst);
    free(wq);
    free(wf);
    free(deq);
    free(in);
    free(out);
}

/* attention through a paged view (blocks of 4 cells in scrambled order): the cache layout
 * must not matter. GQA with 2 query heads per key head, optional sliding window. */
static void test_attention(ct_backend *be, uint32_t cache_type, int32_t window) {
    enum { NH = 4, NKV = 2, HD = 20, T = 11, BS = 4, NBLK = 3 }; /* HD: a 16-wide loop and a tail */
    int32_t blocks[NBLK] = {2, 0, 1};
    ct_kv_view view = {blocks, BS};
    size_t esz = cache_type == CT_TYPE_F32 ? 4 : 2;
    uint8_t *kc = calloc(NBLK * BS, NKV * HD * esz), *vc = calloc(NBLK * BS, NKV * HD * esz);
    float q[T * NH * HD], k[T * NKV * HD], v[T * NKV * HD], out[T * NH * HD];
    fill(q, T * NH * HD, 1.0f);
    fill(k, T * NKV * HD, 1.0f);
    fill(v, T * NKV * HD, 1.0f);
    int32_t tok[T], pos[T], seq[T], outr[1] = {0};
    int64_t cell[T];
    /* where position i lives, written out: block blocks[i / BS], slot i % BS */
    for (int i = 0; i < T; i++) tok[i] = 0, pos[i] = i, seq[i] = 0, cell[i] = (int64_t)blocks[i / BS] * BS + i % BS;
    ct_forward_batch fb = {T, tok, pos, seq, cell, &view, 1, outr};
    run_batch(be, &fb);
    ct_tensor kct = {.data = kc, .type = cache_type, .ne0 = NKV * HD, .ne1 = NBLK * BS, .row_bytes = NKV * HD * esz};
    ct_tensor vct = kct;
    vct.data = vc;
    ct_tensor qt = f32_tensor(q, NH * HD, T), kt = f32_tensor(k, NKV * HD, T), vt = f32_tensor(v, NKV * HD, T);
    ct_tensor ot = f32_tensor(out, NH * HD, T);
    be->kv_store(be, &kct, &vct, &kt, &vt);
    for (int i = 0; i < T; i++) {
        float first;
        if (cache_type == CT_TYPE_F32) memcpy(&first, kc + cell[i] * NKV * HD * esz, 4);
        else first = ct_fp16_to_fp32(((const uint16_t *)kc)[cell[i] * NKV * HD]);
        CHECK_NEAR(first, k[i * NKV * HD], 1e-3);
    }
    ct_attn attn = {NH, NKV, HD, HD, 0.35f, window};
    be->attention(be, &ot, &qt, &kct, &vct, &attn);
    CHECK_OK(be->end(be));

    /* reference over the (f16-rounded when the cache is f16) keys and values */
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < NH; h++) {
            int kh = h / (NH / NKV), lo = window && t >= window ? t - window + 1 : 0;
            double s[T], mx = -1e300, sum = 0, o[HD] = {0};
            for (int j = lo; j <= t; j++) {
                s[j] = 0;
                for (int d = 0; d < HD; d++) {
                    float kv = k[j * NKV * HD + kh * HD + d];
                    if (cache_type == CT_TYPE_F16) kv = ct_fp16_to_fp32(ct_fp32_to_fp16(kv));
                    s[j] += (double)q[t * NH * HD + h * HD + d] * kv;
                }
                s[j] *= 0.35;
                mx = fmax(mx, s[j]);
            }
            for (int j = lo; j <= t; j++) sum += exp(s[j] - mx);
            for (int j = lo; j <= t; j++)
                for (int d = 0; d < HD; d++) {
                    float vv = v[j * NKV * HD + kh * HD + d];
                    if (cache_type == CT_TYPE_F16) vv = ct_fp16_to_fp32(ct_fp32_to_fp16(vv));
                    o[d] += exp(s[j] - mx) / sum * vv;
                }
            for (int d = 0; d < HD; d++) worst = fmax(worst, fabs(out[t * NH * HD + h * HD + d] - o[d]));
        }
    CHECK_MSG(worst < 2e-6, "attention (cache %s, window %d) error %g", ct_type_name(cache_type), window, worst);
    free(kc);
    free(vc);
}

/* embedding rows, learned positions, output gathering, gated activations */
static void test_small_ops(ct_backend *be) {
    enum { V = 9, D = 64, T = 4 };
    float table[V * D], ptab[16 * D], x[T * D], g[T * D], u[T * D], y[T * D], gathered[2 * D];
    fill(table, V * D, 1.0f);
    fill(ptab, 16 * D, 1.0f);
    fill(g, T * D, 3.0f);
    fill(u, T * D, 1.0f);
    uint16_t table16[V * D];
    for (int i = 0; i < V * D; i++) table16[i] = ct_fp32_to_fp16(table[i]);
    int32_t tok[T] = {7, 0, 8, 3}, pos[T] = {5, 6, 7, 8}, seq[T] = {0}, outr[2] = {3, 1};
    int64_t cell[T] = {0};
    ct_forward_batch fb = {T, tok, pos, seq, cell, NULL, 2, outr};
    run_batch(be, &fb);
    ct_tensor tt = {.data = table16, .type = CT_TYPE_F16, .ne0 = D, .ne1 = V, .row_bytes = D * 2};
    ct_tensor pt = f32_tensor(ptab, D, 16), xt = f32_tensor(x, D, T);
    be->embed_tokens(be, &xt, &tt);
    be->add_positions(be, &xt, &pt);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D; i++)
            worst = fmax(worst, fabs(x[t * D + i] - (ct_fp16_to_fp32(table16[tok[t] * D + i]) + ptab[pos[t] * D + i])));
    CHECK_MSG(worst < 1e-6, "embed + positions error %g", worst);

    ct_tensor ot = f32_tensor(gathered, D, 2);
    be->gather_outputs(be, &ot, &xt, 0);
    CHECK(!memcmp(gathered, x + 3 * D, D * 4) && !memcmp(gathered + D, x + 1 * D, D * 4));

    ct_tensor gt = f32_tensor(g, D, T), ut = f32_tensor(u, D, T), yt = f32_tensor(y, D, T);
    be->swiglu(be, &yt, &gt, &ut);
    worst = 0;
    for (int i = 0; i < T * D; i++) worst = fmax(worst, fabs(y[i] - g[i] / (1 + exp(-(double)g[i])) * u[i]));
    CHECK_MSG(worst < 4e-6, "swiglu error %g", worst);
    be->geglu(be, &yt, &gt, &ut);
    worst = 0;
    for (int i = 0; i < T * D; i++) {
        double a = g[i];
        worst = fmax(worst, fabs(y[i] - 0.5 * a * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (a + 0.044715 * a * a * a))) * u[i]));
    }
    CHECK_MSG(worst < 4e-6, "geglu error %g", worst);
    memcpy(y, x, sizeof x);
    be->add(be, &yt, &yt, &xt);
    be->scale(be, &yt, 0.5f);
    worst = 0;
    for (int i = 0; i < T * D; i++) worst = fmax(worst, fabs(y[i] - x[i]));
    CHECK_MSG(worst < 1e-6, "add + scale error %g", worst);
    CHECK_OK(be->end(be));
}

/* ---- thread pool -------------------------------------------------------------------------- */
typedef struct {
    int *hits;
    int64_t grain;
    int bad_grain;
} cover_job;

static void cover(void *arg, int64_t b, int64_t e, int thread) {
    cover_job *j = arg;
    (void)thread;
    if (b % j->grain) j->bad_grain = 1;
    for (int64_t i = b; i < e; i++) j->hits[i]++;
}

static void test_threadpool(void) {
    for (int nt = 1; nt <= 4; nt++) {
        ct_threadpool *pool;
        CHECK_OK(ct_threadpool_create(nt, &pool));
        CHECK(ct_threadpool_size(pool) == nt);
        int ok = 1;
        for (int rep = 0; rep < 300; rep++) { /* many short jobs in a row: the forward pass's pattern */
            int64_t n = 1 + rep % 97, grain = 1 + rep % 5;
            int hits[97] = {0};
            cover_job j = {hits, grain, 0};
            ct_threadpool_run(pool, n, grain, cover, &j);
            for (int64_t i = 0; i < n; i++) ok &= hits[i] == 1;
            ok &= !j.bad_grain;
        }
        CHECK_MSG(ok, "thread pool of %d: every item exactly once, ranges on grain boundaries", nt);
        ct_threadpool_free(pool);
    }
    ct_threadpool *pool;
    CHECK(ct_threadpool_create(0, &pool) == CT_ERR_INVALID_ARGUMENT);
}

int main(void) {
    /* these are the reference ops (f32 matmul); test_cpu_backend_fast checks the fast path */
    setenv("CTORCH_CPU_LEVEL", "reference", 1);
    test_row_ops();
    test_rope();
    test_threadpool();
    CHECK_OK(ct_backend_create("cpu", 1, &be1));
    CHECK_OK(ct_backend_create("cpu", 3, &be3));
    if (!be1 || !be3) return ct_test_finish("test_ops_cpu");
    CHECK_OK(be1->reserve(be1, 1024, 64));
    CHECK_OK(be3->reserve(be3, 1024, 64));
    const ct_type types[] = {CT_TYPE_F32, CT_TYPE_F16, CT_TYPE_BF16, CT_TYPE_Q4_0, CT_TYPE_Q4_1, CT_TYPE_Q5_0,
                             CT_TYPE_Q5_1, CT_TYPE_Q8_0, CT_TYPE_Q2_K, CT_TYPE_Q3_K, CT_TYPE_Q4_K, CT_TYPE_Q5_K,
                             CT_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        test_matmul_type(be1, types[i]);
        test_matmul_type(be3, types[i]);
    }
    for (int w = 0; w <= 4; w += 4) {
        test_attention(be1, CT_TYPE_F32, w);
        test_attention(be3, CT_TYPE_F16, w);
    }
    test_small_ops(be3);
    /* attention again on the fast path's backend (its AVX2 version on CPUs that have it):
     * float32 math like the reference, so the same tolerance */
    unsetenv("CTORCH_CPU_LEVEL");
    ct_backend *fast = NULL;
    CHECK_OK(ct_backend_create("cpu", 3, &fast));
    if (fast) {
        CHECK_OK(fast->reserve(fast, 1024, 64));
        for (int w = 0; w <= 4; w += 4) {
            test_attention(fast, CT_TYPE_F32, w);
            test_attention(fast, CT_TYPE_F16, w);
        }
        ct_backend_destroy(fast);
    }
    ct_backend *bad = NULL;
    CHECK(ct_backend_create("tpu", 1, &bad) == CT_ERR_INVALID_ARGUMENT && bad == NULL);
    ct_backend_destroy(be1);
    ct_backend_destroy(be3);
    return ct_test_finish("test_ops_cpu");
}
