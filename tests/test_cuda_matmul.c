/* The CUDA matmul module (cuda_matmul.h) against a float64 reference built on the CPU
 * reference dequantizers, for every weight type, on random data quantized by the reference
 * quantizers:
 *   - ct_cuda_matmul_run for n in {1, 8, 9, 17, 64, 100, 300} tokens, in each mode of
 *     CTORCH_CUDA_MATMUL (auto: mmv / fused / cuBLAS by n; mma: the fused kernel for every n;
 *     cublas: dequantize + cuBLAS for every n) and in auto mode with an F16 copy of the weight
 *     (ct_cuda_matmul_add_f16_copy: cuBLAS on the copy past the GEMV), with and without bias, on shapes with odd row
 *     counts (33, 515, 4097) and row lengths that end mid-stage (k-quants 256 and 1280,
 *     32-blocks 96 and 1312, plain types 67 and 515; and rows of 2115-2816 that the fused
 *     kernel splits in two along K), padded input and output strides, and
 *     some token rows beyond the F16 range (|x| ~ 1e5, exercising the power-of-two scaling);
 *   - ct_cuda_get_rows for every type, bit for bit against ct_dequantize_row;
 *   - the error paths (unsupported types, misaligned uploads, batches over the reservation).
 * Outputs are poisoned with NaN before each run; every float of each output allocation is
 * checked (elements against the reference, row padding bit for bit).
 * Skips without CUDA (build or device). */
#define _POSIX_C_SOURCE 200112L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#ifndef CTORCH_HAVE_CUDA
int main(void) { TEST_SKIP("built without CUDA (configure with -DCTORCH_CUDA=ON)"); }
#else

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_matmul.h"
#include "quant/quant.h"
#include "quant/types.h"

#define CUDA_CHECK(expr)                                                                     \
    do {                                                                                     \
        cudaError_t ct_cuda_err_ = (expr);                                                   \
        CHECK_MSG(ct_cuda_err_ == cudaSuccess, "%s", cudaGetErrorString(ct_cuda_err_)); \
    } while (0)

static ct_test_rng rng = {0x9e3779b97f4a7c15ULL};

static const uint32_t types[] = {CT_TYPE_F32,  CT_TYPE_F16,  CT_TYPE_BF16, CT_TYPE_Q4_0, CT_TYPE_Q4_1,
                                 CT_TYPE_Q5_0, CT_TYPE_Q5_1, CT_TYPE_Q8_0, CT_TYPE_Q2_K, CT_TYPE_Q3_K,
                                 CT_TYPE_Q4_K, CT_TYPE_Q5_K, CT_TYPE_Q6_K};
#define N_TYPES (int)(sizeof types / sizeof types[0])
static const int token_counts[] = {1, 8, 9, 17, 64, 100, 300};
#define N_COUNTS (int)(sizeof token_counts / sizeof token_counts[0])
#define MAX_TOKENS 300
/* "f16copy": an auto-mode matmul holding an F16 copy of each weight under test */
static const char *const modes[] = {"auto", "mma", "cublas", "f16copy"};
#define N_MODES 4
#define MODE_F16COPY 3

static const double u16 = 1.0 / 2048; /* F16 unit roundoff, 2^-11 */

/* Tolerance, per output (t, r), for the F16 paths (mmv keeps F32 activations and is tighter):
 * the GPU multiplies x and w each rounded to F16 (relative errors d_x, d_w <= 2^-11) and
 * accumulates in F32. Each product's error x w (d_x + d_w) is a rounding error, uniformly
 * distributed and independent between elements on random data, so their sum has a standard
 * deviation of about 0.63 * 2^-11 * ||x.w||_2: 8 * 2^-11 * ||x.w||_2 is over 12 standard
 * deviations (no false failures across the ~10^6 outputs checked), while a single wrong element
 * shifts an output by about |x w| ~ ||x.w||_2 / sqrt(K), 10-50 times the tolerance at these K.
 * Plus: F32 accumulation, bounded generously by 2^-18 sum|x w| (tensor cores may truncate
 * rather than round; the statistical term dominates anyway); F16 subnormals (absolute error
 * 2^-25 on weights below 2^-14) 2^-24 sum|x|; and the bias add's rounding. For K = 1312 and
 * uniform data this is ~0.05 on outputs of rms ~12 (0.4%); for the 1% logits criterion the
 * typical error, ~0.6 * 2^-11 * ||x.w|| = 0.003% of an output of this size, is what matters. */
static double tolerance(double s2, double s1, double sx, double b) {
    return 8 * u16 * sqrt(s2) + ldexp(s1, -18) + ldexp(sx, -24) + ldexp(fabs(b), -22) + 1e-30;
}

/* ---- data ---------------------------------------------------------------------------------- */

typedef struct {
    ct_tensor dev;   /* uploaded weight */
    void *dbuf;
    float *deq;      /* [M][K] reference dequantization */
    int64_t M, K;
} weight;

static int weight_make(weight *w, uint32_t type, int64_t M, int64_t K, const char *name) {
    memset(w, 0, sizeof *w);
    const ct_type_traits *tr = ct_type_traits_of(type);
    const size_t row_bytes = (size_t)(K / tr->block_size) * tr->type_size;
    uint8_t *q = malloc(row_bytes * (size_t)M);
    float *src = malloc((size_t)K * sizeof(float));
    w->deq = malloc((size_t)(M * K) * sizeof(float));
    if (!q || !src || !w->deq) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    for (int64_t r = 0; r < M; r++) {
        /* rows of different scales, with offsets so that Q4_1/Q5_1/k-quant mins matter */
        const float scale = 0.25f + 0.5f * (float)(r % 7), offset = 0.3f * ct_test_rng_uniform(&rng);
        for (int64_t k = 0; k < K; k++) src[k] = scale * (ct_test_rng_uniform(&rng) + offset);
        CHECK_OK(ct_quantize_row((ct_type)type, src, q + (size_t)r * row_bytes, K));
        CHECK_OK(ct_dequantize_row((ct_type)type, q + (size_t)r * row_bytes, w->deq + r * K, K));
    }
    w->M = M;
    w->K = K;
    w->dev = (ct_tensor){NULL, type, K, M, row_bytes, name};
    ct_tensor host = w->dev;
    host.data = q;
    CUDA_CHECK(cudaMalloc(&w->dbuf, row_bytes * (size_t)M));
    w->dev.data = w->dbuf;
    CHECK_OK(ct_cuda_weight_upload(&host, w->dbuf));
    free(q);
    free(src);
    return 0;
}

static void weight_free(weight *w) {
    cudaFree(w->dbuf);
    free(w->deq);
}

/* activations [MAX_TOKENS][ld] on host and device; rows t % 16 == 5 are ~1e5 */
typedef struct {
    float *host;
    void *dbuf;
    int64_t K, ld;
} acts;

static void acts_make(acts *x, int64_t K) {
    x->K = K;
    x->ld = (K + 3) / 4 * 4 + 4; /* padded, rows 16-byte aligned */
    const size_t bytes = (size_t)(MAX_TOKENS * x->ld) * sizeof(float);
    x->host = malloc(bytes);
    if (!x->host) exit(1);
    for (int64_t t = 0; t < MAX_TOKENS; t++) {
        const float scale = t % 16 == 5 ? 1.5e5f : 1.0f + (float)(t % 3);
        for (int64_t k = 0; k < x->ld; k++) x->host[t * x->ld + k] = k < K ? scale * ct_test_rng_uniform(&rng) : NAN;
    }
    CUDA_CHECK(cudaMalloc(&x->dbuf, bytes));
    CUDA_CHECK(cudaMemcpy(x->dbuf, x->host, bytes, cudaMemcpyHostToDevice));
}

/* float64 dot products and the tolerance terms of the first nt tokens */
typedef struct {
    double *dot, *s2, *s1; /* [nt][M] */
    double *sx;            /* [nt] */
} reference;

static void reference_make(reference *ref, const weight *w, const acts *x, int nt) {
    const int64_t M = w->M, K = w->K;
    ref->dot = malloc((size_t)(nt * M) * sizeof(double));
    ref->s2 = malloc((size_t)(nt * M) * sizeof(double));
    ref->s1 = malloc((size_t)(nt * M) * sizeof(double));
    ref->sx = malloc((size_t)nt * sizeof(double));
    if (!ref->dot || !ref->s2 || !ref->s1 || !ref->sx) exit(1);
    for (int t = 0; t < nt; t++) {
        const float *xr = x->host + t * x->ld;
        double sx = 0;
        for (int64_t k = 0; k < K; k++) sx += fabs(xr[k]);
        ref->sx[t] = sx;
        for (int64_t r = 0; r < M; r++) {
            const float *wr = w->deq + r * K;
            double dot = 0, s2 = 0, s1 = 0;
            for (int64_t k = 0; k < K; k++) {
                const double p = (double)xr[k] * (double)wr[k];
                dot += p;
                s2 += p * p;
                s1 += fabs(p);
            }
            ref->dot[t * M + r] = dot;
            ref->s2[t * M + r] = s2;
            ref->s1[t * M + r] = s1;
        }
    }
}

static void reference_free(reference *ref) {
    free(ref->dot);
    free(ref->s2);
    free(ref->s1);
    free(ref->sx);
}

/* ---- one matmul ------------------------------------------------------------------------------ */

typedef struct {
    cudaStream_t stream;
    ct_cuda_matmul *mm[N_MODES];
    double worst[N_MODES]; /* max err/tol over the current type */
} rig;

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void run_matmul(rig *g, int mode, const weight *w, const acts *x, const reference *ref, int n,
                       const float *bias_host, void *bias_dev, const char *shape) {
    const int64_t M = w->M;
    const int64_t ldo = (M + 3) / 4 * 4 + 4;
    const size_t out_bytes = (size_t)(n * ldo) * sizeof(float);
    void *dout = NULL;
    float *hout = malloc(out_bytes);
    CUDA_CHECK(cudaMalloc(&dout, out_bytes));
    if (!hout || !dout) exit(1);
    CUDA_CHECK(cudaMemset(dout, 0xFF, out_bytes)); /* NaN */
    const ct_tensor in = {x->dbuf, CT_TYPE_F32, x->K, n, (size_t)x->ld * sizeof(float), "x"};
    const ct_tensor out = {dout, CT_TYPE_F32, M, n, (size_t)ldo * sizeof(float), "out"};
    const ct_tensor bias = {bias_dev, CT_TYPE_F32, M, 1, (size_t)M * sizeof(float), "bias"};
    const cudaError_t launched = ct_cuda_matmul_run(g->mm[mode], &out, &w->dev, bias_host ? &bias : NULL, &in);
    CHECK_MSG(launched == cudaSuccess, "%s %s n=%d %s: %s (%s)", ct_type_name(w->dev.type), shape, n, modes[mode],
              cudaGetErrorString(launched), ct_last_error());
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    CUDA_CHECK(cudaMemcpy(hout, dout, out_bytes, cudaMemcpyDeviceToHost));

    int bad = 0, bad_pad = 0;
    double worst = 0;
    for (int t = 0; t < n; t++) {
        for (int64_t r = 0; r < ldo; r++) {
            const float got = hout[t * ldo + r];
            if (r >= M) {
                if (float_bits(got) != 0xFFFFFFFFu) bad_pad++;
                continue;
            }
            const double b = bias_host ? bias_host[r] : 0.0;
            const double want = ref->dot[t * M + r] + b;
            const double tol = tolerance(ref->s2[t * M + r], ref->s1[t * M + r], ref->sx[t], b);
            const double err = fabs((double)got - want);
            if (!(err <= tol)) {
                if (bad < 4)
                    fprintf(stderr, "  %s %s n=%d %s bias=%d: out[%d][%lld] = %.9g, want %.9g (tol %.3g)\n",
                            ct_type_name(w->dev.type), shape, n, modes[mode], bias_host != NULL, t, (long long)r,
                            got, want, tol);
                bad++;
            } else if (err / tol > worst) {
                worst = err / tol;
            }
        }
    }
    CHECK_MSG(bad == 0, "%s %s n=%d %s: %d of %lld outputs outside the tolerance", ct_type_name(w->dev.type), shape,
              n, modes[mode], bad, (long long)(n * M));
    CHECK_MSG(bad_pad == 0, "%s %s n=%d %s: %d padding floats written", ct_type_name(w->dev.type), shape, n,
              modes[mode], bad_pad);
    if (worst > g->worst[mode]) g->worst[mode] = worst;
    cudaFree(dout);
    free(hout);
}

static void test_type(rig *g, uint32_t type) {
    const ct_type_traits *tr = ct_type_traits_of(type);
    const int64_t k_big = tr->block_size == QK_K ? 1280 : tr->block_size == 32 ? 1312 : 515;
    const int64_t k_small = tr->block_size == QK_K ? 256 : tr->block_size == 32 ? 96 : 67;
    /* long enough for the fused kernel's split-K (2 splits of >= 1024 elements) with uneven
     * shares: 11 super-blocks, 73 32-blocks (ends mid-stage), 2115 plain elements */
    const int64_t k_split = tr->block_size == QK_K ? 2816 : tr->block_size == 32 ? 2336 : 2115;
    struct {
        int64_t M, K;
        int n_first, n_last; /* indices into token_counts */
        const char *name;
    } shapes[] = {
        {33, k_big, 0, N_COUNTS - 1, "33 rows, long"},
        {515, k_small, 0, N_COUNTS - 1, "515 rows, short"},
        {4097, k_small, 2, 4, "4097 rows, short"}, /* n = 9, 17, 64 */
        {200, k_split, 2, 5, "200 rows, split"},   /* n = 9, 17, 64, 100 */
    };
    for (int m = 0; m < N_MODES; m++) g->worst[m] = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        weight w;
        weight_make(&w, type, shapes[s].M, shapes[s].K, shapes[s].name);
        void *f16 = NULL; /* replaces the previous shape's copy, which may have had this address */
        CUDA_CHECK(cudaMalloc(&f16, ct_cuda_weight_f16_bytes(&w.dev)));
        CHECK_OK(ct_cuda_matmul_add_f16_copy(g->mm[MODE_F16COPY], &w.dev, f16));
        acts x;
        acts_make(&x, shapes[s].K);
        const int nt = token_counts[shapes[s].n_last];
        reference ref;
        reference_make(&ref, &w, &x, nt);
        float *bias = malloc((size_t)w.M * sizeof(float));
        void *dbias = NULL;
        if (!bias) exit(1);
        for (int64_t r = 0; r < w.M; r++) bias[r] = 4.0f * ct_test_rng_uniform(&rng);
        CUDA_CHECK(cudaMalloc(&dbias, (size_t)w.M * sizeof(float)));
        CUDA_CHECK(cudaMemcpy(dbias, bias, (size_t)w.M * sizeof(float), cudaMemcpyHostToDevice));
        for (int c = shapes[s].n_first; c <= shapes[s].n_last; c++)
            for (int m = 0; m < N_MODES; m++) {
                const bool with_bias = (c + m + (int)s) % 2 == 1;
                run_matmul(g, m, &w, &x, &ref, token_counts[c], with_bias ? bias : NULL, dbias, shapes[s].name);
            }
        cudaFree(dbias);
        cudaFree(f16);
        free(bias);
        reference_free(&ref);
        cudaFree(x.dbuf);
        free(x.host);
        weight_free(&w);
    }
    printf("%-5s matmul: max err/tol auto %.3f, mma %.3f, cublas %.3f, f16 copy %.3f\n", ct_type_name(type),
           g->worst[0], g->worst[1], g->worst[2], g->worst[3]);
}

/* ---- get_rows ------------------------------------------------------------------------------- */

/* Bit for bit: the kernels repeat the reference dequantizers' float operations in the same
 * order without contraction (dequant.cuh), and F16/BF16 to F32 is exact. */
static void test_get_rows(cudaStream_t stream, uint32_t type) {
    const ct_type_traits *tr = ct_type_traits_of(type);
    const int64_t K = tr->block_size == QK_K ? 1280 : tr->block_size == 32 ? 1312 : 515, M = 37;
    weight w;
    weight_make(&w, type, M, K, "table");
    enum { N = 50 };
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (int32_t)(ct_test_rng_next(&rng) % (uint64_t)M);
    ids[0] = 0;
    ids[1] = (int32_t)M - 1;
    ids[2] = ids[3]; /* a repeated id */
    ids[N - 2] = -1; /* out of range: a NaN row */
    ids[N - 1] = (int32_t)M;
    const int64_t ldo = K + 5; /* odd stride: misaligned rows */
    const size_t out_bytes = (size_t)(N * ldo) * sizeof(float);
    void *dids = NULL, *dout = NULL;
    float *hout = malloc(out_bytes);
    CUDA_CHECK(cudaMalloc(&dids, sizeof ids));
    CUDA_CHECK(cudaMalloc(&dout, out_bytes));
    if (!hout || !dids || !dout) exit(1);
    CUDA_CHECK(cudaMemcpy(dids, ids, sizeof ids, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(dout, 0xFF, out_bytes));
    const ct_tensor out = {dout, CT_TYPE_F32, K, N, (size_t)ldo * sizeof(float), "rows"};
    CUDA_CHECK(ct_cuda_get_rows(stream, &out, &w.dev, dids, N));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    CUDA_CHECK(cudaMemcpy(hout, dout, out_bytes, cudaMemcpyDeviceToHost));
    int bad = 0, bad_pad = 0, bad_nan = 0;
    for (int i = 0; i < N; i++)
        for (int64_t k = 0; k < ldo; k++) {
            const float got = hout[i * ldo + k];
            if (k >= K) {
                bad_pad += float_bits(got) != 0xFFFFFFFFu;
            } else if (ids[i] < 0 || ids[i] >= M) {
                bad_nan += !isnan(got);
            } else if (float_bits(got) != float_bits(w.deq[ids[i] * K + k])) {
                if (bad < 4)
                    fprintf(stderr, "  get_rows %s: row %d (id %d) [%lld] = %.9g, want %.9g\n", ct_type_name(type), i,
                            ids[i], (long long)k, got, w.deq[ids[i] * K + k]);
                bad++;
            }
        }
    CHECK_MSG(bad == 0, "get_rows %s: %d elements differ from the reference dequantizer", ct_type_name(type), bad);
    CHECK_MSG(bad_pad == 0, "get_rows %s: %d padding floats written", ct_type_name(type), bad_pad);
    CHECK_MSG(bad_nan == 0, "get_rows %s: %d elements of out-of-range rows are not NaN", ct_type_name(type), bad_nan);
    cudaFree(dids);
    cudaFree(dout);
    free(hout);
    weight_free(&w);
}

/* ---- contract details ------------------------------------------------------------------------- */

static void test_errors(rig *g) {
    CHECK(!ct_cuda_matmul_type_supported(CT_TYPE_Q8_1));
    CHECK(!ct_cuda_matmul_type_supported(CT_TYPE_Q8_K));
    for (int i = 0; i < N_TYPES; i++) CHECK(ct_cuda_matmul_type_supported(types[i]));

    uint8_t host[sizeof(block_q8_K) * 2];
    memset(host, 0x11, sizeof host);
    void *dev = NULL;
    CUDA_CHECK(cudaMalloc(&dev, 4096));
    ct_tensor bad = {host, CT_TYPE_Q8_K, QK_K, 2, sizeof(block_q8_K), "blk.0.bad"};
    CHECK(ct_cuda_weight_upload(&bad, dev) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(ct_last_error(), "blk.0.bad") != NULL);
    ct_tensor q4 = {host, CT_TYPE_Q4_0, 64, 1, 2 * sizeof(block_q4_0), "blk.0.q4"};
    CHECK(ct_cuda_weight_upload(&q4, (uint8_t *)dev + 8) == CT_ERR_INVALID_ARGUMENT);
    ct_tensor ragged = {host, CT_TYPE_Q4_0, 48, 1, 2 * sizeof(block_q4_0), "blk.0.ragged"};
    CHECK(ct_cuda_weight_upload(&ragged, dev) == CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_cuda_weight_device_bytes(&q4) == 2 * sizeof(block_q4_0));

    /* a batch over the reservation is refused, not run */
    ct_tensor w = {dev, CT_TYPE_F16, 64, 8, 128, "w"};
    void *dx = NULL;
    CUDA_CHECK(cudaMalloc(&dx, (size_t)(MAX_TOKENS + 1) * 64 * sizeof(float)));
    const ct_tensor in = {dx, CT_TYPE_F32, 64, MAX_TOKENS + 1, 64 * sizeof(float), "x"};
    const ct_tensor out = {dx, CT_TYPE_F32, 8, MAX_TOKENS + 1, 64 * sizeof(float), "out"};
    CHECK(ct_cuda_matmul_run(g->mm[1], &out, &w, NULL, &in) == cudaErrorInvalidValue);
    const ct_tensor out_wrong = {dx, CT_TYPE_F32, 9, 4, 64 * sizeof(float), "out"};
    const ct_tensor in4 = {dx, CT_TYPE_F32, 64, 4, 64 * sizeof(float), "x"};
    CHECK(ct_cuda_matmul_run(g->mm[0], &out_wrong, &w, NULL, &in4) == cudaErrorInvalidValue);
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    cudaFree(dx);
    cudaFree(dev);
}

static void test_graph_safe(void) {
    /* every path may be captured (cuBLAS with its fixed workspace included) */
    unsetenv("CTORCH_CUDA_MATMUL");
    CHECK(ct_cuda_matmul_graph_safe(1));
    CHECK(ct_cuda_matmul_graph_safe(64));
    CHECK(ct_cuda_matmul_graph_safe(100000));
    setenv("CTORCH_CUDA_MATMUL", "cublas", 1);
    CHECK(ct_cuda_matmul_graph_safe(9));
    setenv("CTORCH_CUDA_MATMUL", "fast", 1);
    ct_cuda_matmul *mm = NULL;
    CHECK(ct_cuda_matmul_create(NULL, &mm) == CT_ERR_INVALID_ARGUMENT);
    CHECK(mm == NULL);
    CHECK(strstr(ct_last_error(), "CTORCH_CUDA_MATMUL") != NULL);
    unsetenv("CTORCH_CUDA_MATMUL");
}

int main(void) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) TEST_SKIP("no CUDA device");
    rig g;
    memset(&g, 0, sizeof g);
    CUDA_CHECK(cudaStreamCreate(&g.stream));
    for (int m = 0; m < N_MODES; m++) {
        setenv("CTORCH_CUDA_MATMUL", m == MODE_F16COPY ? "auto" : modes[m], 1);
        CHECK_OK(ct_cuda_matmul_create(g.stream, &g.mm[m]));
        if (!g.mm[m]) return ct_test_finish("test_cuda_matmul");
        CHECK_OK(ct_cuda_matmul_reserve(g.mm[m], MAX_TOKENS, 2816)); /* the longest row below (k_split) */
    }
    unsetenv("CTORCH_CUDA_MATMUL");

    test_graph_safe();
    test_errors(&g);
    for (int i = 0; i < N_TYPES; i++) test_get_rows(g.stream, types[i]);
    for (int i = 0; i < N_TYPES; i++) test_type(&g, types[i]);

    for (int m = 0; m < N_MODES; m++) ct_cuda_matmul_destroy(g.mm[m]);
    cudaStreamDestroy(g.stream);
    return ct_test_finish("test_cuda_matmul");
}

#endif
