/* The CPU quantized matmul kernels (src/backend/cpu/kernels/), at both activation
 * precisions (Q16, the default: two int8 halves; Q8):
 *   1. every level's activation quantizer writes the scalar quantizer's exact bytes, and the
 *      scalar quantizer meets its definition (|x - d*a| <= d/2 at Q8, 1.5 d at Q16, sums,
 *      scales, no -128);
 *   2. the scalar reference matmul equals a float64 dequantize-and-dot of the same quantized
 *      operands, and is within the bound set by activation rounding of the f32 dot;
 *   3. every SIMD level the CPU has, forced in turn, matches the scalar reference for every
 *      weight type on random blocks, odd row counts, 1..9 and 33 tokens, several K sizes
 *      (block tails, K chunks), and row sub-ranges; plus extreme operands (every activation
 *      at its largest value, weights at their largest levels and scales), where the Q16
 *      integer sums come closest to overflowing int32;
 *   4. level and precision names, CTORCH_CPU_LEVEL, CTORCH_CPU_ACTIVATIONS, row sizes;
 *   5. calls whose activation rows exceed the token-block budget (run in blocks of tokens)
 *      give bit-identical results to one kernel call over all tokens.
 * With --bench (never under ctest) it measures instead: memory read bandwidth, int8 VNNI
 * peak, GEMV GB/s and GEMM GFLOP/s per type, level and thread count; see docs/perf.md. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/kernels/qk_internal.h"
#include "backend/cpu/kernels/qkernels.h"
#include "core/threadpool.h"
#include "quant/fp16.h"
#include "quant/quant.h"
#include "quant/types.h"
#include "test_util.h"

static const ct_type all_types[] = {CT_TYPE_Q4_0, CT_TYPE_Q4_1, CT_TYPE_Q5_0, CT_TYPE_Q5_1, CT_TYPE_Q8_0,
                                    CT_TYPE_Q2_K, CT_TYPE_Q3_K, CT_TYPE_Q4_K, CT_TYPE_Q5_K, CT_TYPE_Q6_K,
                                    CT_TYPE_F32,  CT_TYPE_F16,  CT_TYPE_BF16};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static void *alloc64(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static size_t row_bytes_of(ct_type type, int64_t n) {
    uint64_t b = 0;
    if (ct_type_row_bytes(type, (uint64_t)n, &b) != CT_OK) return 0;
    return (size_t)b;
}

/* ---- random operands -------------------------------------------------------------------- */

/* a sensible block scale: magnitude in [2^-8, 2^-6), random sign */
static uint16_t random_scale(ct_test_rng *rng) {
    const float mag = ldexpf(1.0f + 0.999f * fabsf(ct_test_rng_uniform(rng)), -8 + (int)(ct_test_rng_next(rng) % 2));
    return ct_fp32_to_fp16(ct_test_rng_uniform(rng) < 0 ? -mag : mag);
}

/* offsets of the fp16 scale fields of each block type (d first; then m or dmin, or -1) */
static void scale_fields(ct_type type, int off[2]) {
    off[1] = -1;
    switch (type) {
    case CT_TYPE_Q4_0: off[0] = (int)offsetof(block_q4_0, d); break;
    case CT_TYPE_Q4_1: off[0] = (int)offsetof(block_q4_1, d), off[1] = (int)offsetof(block_q4_1, m); break;
    case CT_TYPE_Q5_0: off[0] = (int)offsetof(block_q5_0, d); break;
    case CT_TYPE_Q5_1: off[0] = (int)offsetof(block_q5_1, d), off[1] = (int)offsetof(block_q5_1, m); break;
    case CT_TYPE_Q8_0: off[0] = (int)offsetof(block_q8_0, d); break;
    case CT_TYPE_Q2_K: off[0] = (int)offsetof(block_q2_K, d), off[1] = (int)offsetof(block_q2_K, dmin); break;
    case CT_TYPE_Q3_K: off[0] = (int)offsetof(block_q3_K, d); break;
    case CT_TYPE_Q4_K: off[0] = (int)offsetof(block_q4_K, d), off[1] = (int)offsetof(block_q4_K, dmin); break;
    case CT_TYPE_Q5_K: off[0] = (int)offsetof(block_q5_K, d), off[1] = (int)offsetof(block_q5_K, dmin); break;
    case CT_TYPE_Q6_K: off[0] = (int)offsetof(block_q6_K, d); break;
    default: off[0] = -1; break;
    }
}

/* Random floats with per-32 magnitudes spread over three decades. */
static void random_floats(ct_test_rng *rng, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 32) {
        const float mag = powf(10.0f, 2.0f * fabsf(ct_test_rng_uniform(rng)) - 1.0f);
        for (int64_t j = i; j < i + 32 && j < n; j++) x[j] = mag * ct_test_rng_uniform(rng);
    }
}

/* Weight rows: even rows are random bytes with sensible fp16 scales (every level pattern,
 * every sub-block scale, Q8_0's -128, Q6_K's -128 scale); odd rows are random floats run
 * through the reference quantizer (realistic blocks). */
static void random_weights(ct_test_rng *rng, ct_type type, int64_t rows, int64_t n, uint8_t *w) {
    const size_t rb = row_bytes_of(type, n);
    const ct_type_traits *tr = ct_type_traits_of(type);
    float *x = malloc((size_t)n * sizeof(float));
    if (!x) exit(1);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = w + (size_t)r * rb;
        random_floats(rng, x, n);
        if (!tr->quantized || r % 2 == 1) {
            if (ct_quantize_row(type, x, row, n) != CT_OK) exit(1);
            continue;
        }
        for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)(ct_test_rng_next(rng) >> 56);
        int off[2];
        scale_fields(type, off);
        for (size_t b = 0; b < rb / tr->type_size; b++)
            for (int f = 0; f < 2; f++)
                if (off[f] >= 0) {
                    const uint16_t s = random_scale(rng);
                    memcpy(row + b * tr->type_size + off[f], &s, 2);
                }
    }
    free(x);
}

static const ct_cpu_act_precision precisions[] = {CT_CPU_ACT_Q16, CT_CPU_ACT_Q8};

static const ct_qkernels *table(ct_cpu_level level, ct_cpu_act_precision p) {
    const ct_qkernels *k = NULL;
    CHECK_OK(ct_qkernels_for(level, p, &k));
    return k;
}

/* the integer activation value of element i: qs (Q8) or 256 qs + ql (Q16) */
static int32_t act_int(const ct_act_view *v, ct_cpu_act_precision p, int64_t i) {
    return p == CT_CPU_ACT_Q16 ? 256 * v->qs[i] + v->ql[i] : v->qs[i];
}

/* The activation row as doubles, read from the documented layout. */
static void dequantize_act(ct_type wtype, ct_cpu_act_precision p, const uint8_t *a, int64_t n, double *out) {
    switch (ct_qk_act_kind(wtype, p)) {
    case CT_ACT_Q8_32:
    case CT_ACT_Q16_32: {
        const ct_act_view v = ct_act_view_q8_32(a, n);
        for (int64_t i = 0; i < n; i++) out[i] = (double)v.d[i / 32] * act_int(&v, p, i);
        break;
    }
    case CT_ACT_Q8_256:
    case CT_ACT_Q16_256: {
        const ct_act_view v = ct_act_view_q8_256(a, n);
        for (int64_t i = 0; i < n; i++) out[i] = (double)v.d[i / 256] * act_int(&v, p, i);
        break;
    }
    case CT_ACT_F32:
        for (int64_t i = 0; i < n; i++) {
            float f;
            memcpy(&f, a + 4 * i, 4);
            out[i] = f;
        }
        break;
    default:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, a + 2 * i, 2);
            out[i] = ct_bf16_to_fp32(h);
        }
        break;
    }
}

/* ---- 1. activation quantizers --------------------------------------------------------------- */

static const ct_type act_kind_types[] = {CT_TYPE_Q8_0, CT_TYPE_Q4_K, CT_TYPE_F32, CT_TYPE_BF16};

static void check_scalar_quantizer_definition(ct_test_rng *rng, ct_cpu_act_precision p) {
    const ct_qkernels *scalar = table(CT_CPU_SCALAR, p);
    if (!scalar) return;
    const bool q16 = p == CT_CPU_ACT_Q16;
    const double lim = q16 ? CT_QK_Q16_MAX : 127.0;
    /* |x - d*a|: half a step from rounding, one more at Q16 where ql = -128 moves to -127 */
    const double max_err = q16 ? 1.5 : 0.5;
    const int64_t n = 1024;
    float *x = malloc(n * sizeof(float));
    random_floats(rng, x, n);
    for (int i = 0; i < 32; i++) x[64 + i] = 0.0f; /* an all-zero block */
    for (size_t k = 0; k < 2; k++) {
        const ct_type wt = act_kind_types[k];
        const int bs = k == 0 ? 32 : 256;
        uint8_t *a = alloc64(ct_cpu_act_row_bytes(wt, n));
        ct_cpu_quantize_activations(scalar, wt, x, n, a);
        const ct_act_view v = bs == 32 ? ct_act_view_q8_32(a, n) : ct_act_view_q8_256(a, n);
        int bad = 0, moved = 0;
        for (int64_t b = 0; b < n / bs; b++) {
            float amax = 0;
            int sum = 0;
            for (int j = 0; j < bs; j++) amax = fmaxf(amax, fabsf(x[b * bs + j]));
            if (v.d[b] != amax / (float)lim) bad++;
            for (int j = 0; j < bs; j++) {
                const int64_t i = b * bs + j;
                const double err = fabs((double)x[i] - (double)v.d[b] * act_int(&v, p, i));
                if (err > max_err * v.d[b] * (1 + 1e-5) + 1e-30) bad++;
                moved += err > 0.5 * v.d[b] * (1 + 1e-5);
                if (v.qs[i] == -128 || v.ql[i] == -128 || (!q16 && v.ql[i] != 0)) bad++;
                if (abs(act_int(&v, p, i)) > (int)lim) bad++;
                sum += act_int(&v, p, i);
            }
            if (bs == 32 && v.s[b] != v.d[b] * (float)sum) bad++;
        }
        if (bs == 256)
            for (int64_t g = 0; g < n / 16; g++) {
                int sum = 0, sum_lo = 0;
                for (int j = 0; j < 16; j++) sum += v.qs[16 * g + j], sum_lo += v.ql[16 * g + j];
                if (v.bsums[2 * g] != sum || v.bsums[2 * g + 1] != sum_lo) bad++;
            }
        CHECK_MSG(bad == 0, "scalar %s activation quantizer (%s): %d violations of its definition",
                  k == 0 ? "32-block" : "256-block", ct_cpu_act_precision_name(p), bad);
        /* Q16: about 1/256 of the values land on ql = -128 and move by one more unit */
        if (q16) CHECK_MSG(moved < n / 32, "Q16: %d of %lld values moved by more than half a step", moved, (long long)n);
        free(a);
    }
    /* the Q16 split of single values, including both ends and the ql = -128 case */
    const float vs[] = {32512.0f, -32512.0f, 32384.0f, -32384.0f, 128.0f, -128.0f, 127.5f, 0.0f, 1e9f, -1e9f, 383.0f, 384.0f};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        int8_t hi, lo;
        ct_qk_split_q16(vs[i], &hi, &lo);
        const double want = fmax(-32512.0, fmin(32512.0, nearbyint(vs[i])));
        CHECK_MSG(hi != -128 && lo != -128 && fabs(256.0 * hi + lo - want) <= 1.0, "split of %g: %d * 256 + %d", vs[i], hi, lo);
    }
    free(x);
}

static void check_quantizers_match(ct_test_rng *rng, const ct_qkernels *scalar, const ct_qkernels *k) {
    const ct_cpu_act_precision p = ct_qkernels_precision(k);
    const int64_t n = 2048;
    float *x = malloc(n * sizeof(float));
    random_floats(rng, x, n);
    for (int i = 0; i < 32; i++) x[128 + i] = 0.0f;            /* all-zero block */
    x[300] = NAN, x[301] = -INFINITY, x[700] = -0.0f;          /* non-finite values: same bytes too */
    x[1000] = 1e-40f, x[1001] = -3e-39f;                       /* subnormals */
    for (size_t i = 0; i < sizeof act_kind_types / sizeof act_kind_types[0]; i++) {
        const ct_type wt = act_kind_types[i];
        for (int64_t len = n; len >= 256; len -= 1792) { /* 2048 and 256 */
            const size_t ab = ct_cpu_act_row_bytes(wt, len);
            uint8_t *a = alloc64(ab), *b = alloc64(ab);
            memset(a, 0xAA, ab);
            memset(b, 0x55, ab);
            ct_cpu_quantize_activations(scalar, wt, x, len, a);
            ct_cpu_quantize_activations(k, wt, x, len, b);
            CHECK_MSG(memcmp(a, b, ab) == 0, "level %s (%s): activation quantizer for %s weights (n=%lld) differs from scalar",
                      ct_cpu_level_name(ct_qkernels_level(k)), ct_cpu_act_precision_name(p), ct_type_name(wt), (long long)len);
            free(a);
            free(b);
        }
    }
    free(x);
}

/* ---- 2. scalar reference vs float64 ------------------------------------------------------------ */

static void check_scalar_vs_f64(ct_test_rng *rng, ct_cpu_act_precision p) {
    const ct_qkernels *scalar = table(CT_CPU_SCALAR, p);
    if (!scalar) return;
    const int64_t rows = 5, nt = 3;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ct_type type = all_types[ti];
        const int64_t n = ct_type_traits_of(type)->block_size == 256 ? 256 * 5 : 32 * 37;
        const size_t rb = row_bytes_of(type, n), ab = ct_cpu_act_row_bytes(type, n);
        uint8_t *w = alloc64(rb * rows), *a = alloc64(ab * nt);
        float *x = malloc(sizeof(float) * n * nt), *out = malloc(sizeof(float) * rows * nt), *wf = malloc(sizeof(float) * n);
        double *ad = malloc(sizeof(double) * n);
        random_weights(rng, type, rows, n, w);
        random_floats(rng, x, n * nt);
        for (int64_t t = 0; t < nt; t++) ct_cpu_quantize_activations(scalar, type, x + t * n, n, a + t * ab);
        const ct_tensor wt = {.data = w, .type = type, .ne0 = n, .ne1 = rows, .row_bytes = rb, .name = "w"};
        ct_cpu_qmatmul(scalar, &wt, a, nt, out, (size_t)rows, 0, rows);
        double worst_exact = 0, worst_quant = 0;
        for (int64_t t = 0; t < nt; t++) {
            dequantize_act(type, p, a + t * ab, n, ad);
            const ct_act_kind kind = ct_qk_act_kind(type, p);
            const bool blk32 = kind == CT_ACT_Q8_32 || kind == CT_ACT_Q16_32;
            const ct_act_view v8 = blk32 ? ct_act_view_q8_32(a + t * ab, n) : ct_act_view_q8_256(a + t * ab, n);
            const int abs = blk32 ? 32 : 256;
            const double step = p == CT_CPU_ACT_Q16 ? 1.5 : 0.5; /* see check_scalar_quantizer_definition */
            for (int64_t r = 0; r < rows; r++) {
                CHECK_OK(ct_dequantize_row(type, w + r * rb, wf, n));
                double exact = 0, mag = 0, truth = 0, tmag = 0, round_bound = 0;
                for (int64_t i = 0; i < n; i++) {
                    const double xi = x[t * n + i];
                    exact += wf[i] * ad[i];
                    mag += fabs(wf[i] * ad[i]);
                    truth += wf[i] * xi;
                    tmag += fabs(wf[i] * xi);
                    switch (kind) {
                    case CT_ACT_Q8_32:
                    case CT_ACT_Q8_256:
                    case CT_ACT_Q16_32:
                    case CT_ACT_Q16_256: round_bound += fabs(wf[i]) * step * v8.d[i / abs]; break;
                    case CT_ACT_BF16: round_bound += fabs(wf[i] * xi) * 0x1p-9; break;
                    default: break;
                    }
                }
                const double got = out[t * rows + r];
                /* Same quantized operands: the integer block dots are exact, so only float32
                 * rounding remains: a few roundings per block term plus a sequential sum of at
                 * most 40 terms, <= ~45 * 2^-24 ~ 3e-6 of the magnitude sum (x2 for the split
                 * min terms of Q4_1/Q5_1/Q2_K/Q4_K/Q5_K; Q16's 64-bit k-quant sums round once
                 * more on conversion). 1e-5 covers it with margin; a wrong level or scale
                 * anywhere changes the result by ~1e-2 of it (Q8) or ~1e-5 (a lost Q16 low half,
                 * caught by the bound below). */
                CHECK_MSG(fabs(got - exact) <= 1e-5 * mag + 1e-30, "%s %s scalar r=%lld t=%lld: %.9g vs f64 %.9g (mag %.3g)",
                          ct_type_name(type), ct_cpu_act_precision_name(p), (long long)r, (long long)t, got, exact, mag);
                /* Against the unquantized f32 activations: each activation moved by at most half
                 * its block's step d/2 (bf16: 2^-9 relative), so the dot moves by at most
                 * sum |w| d/2; plus the float slack above. */
                CHECK_MSG(fabs(got - truth) <= round_bound + 1e-5 * (tmag + mag) + 1e-30,
                          "%s %s scalar r=%lld t=%lld: %.9g vs f32-activation dot %.9g, bound %.3g", ct_type_name(type),
                          ct_cpu_act_precision_name(p), (long long)r, (long long)t, got, truth, round_bound);
                if (mag > 0) worst_exact = fmax(worst_exact, fabs(got - exact) / mag);
                if (round_bound > 0) worst_quant = fmax(worst_quant, fabs(got - truth) / round_bound);
            }
        }
        printf("  scalar %-5s %-3s vs f64: max err %.2e of sum|w*a|; vs unquantized activations: max %.2f of the rounding bound\n",
               ct_type_name(type), ct_cpu_act_precision_name(p), worst_exact, worst_quant);
        free(w), free(a), free(x), free(out), free(wf), free(ad);
    }
}

/* ---- 3. each level vs the scalar reference ----------------------------------------------------- */

static const int token_counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19, 33};
#define N_TOKEN_COUNTS (sizeof token_counts / sizeof token_counts[0])
#define MAX_TOKENS 33

typedef struct {
    ct_type type;
    ct_cpu_act_precision p;
    int64_t n, rows;
    uint8_t *w, *act; /* act: MAX_TOKENS rows quantized by the scalar quantizer */
    size_t rb, ab;
    float *ref;       /* scalar outputs [MAX_TOKENS][rows] */
    double *mag;      /* sum |w*a| per (t, r) */
} case_data;

static void make_case(ct_test_rng *rng, const ct_qkernels *scalar, ct_type type, int64_t n, int64_t rows, case_data *c) {
    c->type = type, c->n = n, c->rows = rows, c->p = ct_qkernels_precision(scalar);
    c->rb = row_bytes_of(type, n), c->ab = ct_cpu_act_row_bytes(type, n);
    c->w = alloc64(c->rb * rows);
    c->act = alloc64(c->ab * MAX_TOKENS);
    c->ref = malloc(sizeof(float) * rows * MAX_TOKENS);
    c->mag = malloc(sizeof(double) * rows * MAX_TOKENS);
    float *x = malloc(sizeof(float) * n), *wf = malloc(sizeof(float) * n * rows);
    double *ad = malloc(sizeof(double) * n);
    random_weights(rng, type, rows, n, c->w);
    for (int64_t r = 0; r < rows; r++) CHECK_OK(ct_dequantize_row(type, c->w + r * c->rb, wf + r * n, n));
    for (int t = 0; t < MAX_TOKENS; t++) {
        random_floats(rng, x, n);
        ct_cpu_quantize_activations(scalar, type, x, n, c->act + t * c->ab);
        dequantize_act(type, c->p, c->act + t * c->ab, n, ad);
        for (int64_t r = 0; r < rows; r++) {
            double m = 0;
            for (int64_t i = 0; i < n; i++) m += fabs(wf[r * n + i] * ad[i]);
            c->mag[t * rows + r] = m;
        }
    }
    const ct_tensor wt = {.data = c->w, .type = type, .ne0 = n, .ne1 = rows, .row_bytes = c->rb, .name = "w"};
    ct_cpu_qmatmul(scalar, &wt, c->act, MAX_TOKENS, c->ref, (size_t)rows, 0, rows);
    free(x), free(wf), free(ad);
}

static void free_case(case_data *c) { free(c->w), free(c->act), free(c->ref), free(c->mag); }

/* Run level k on the case with nt tokens over rows [r0, r1); returns the worst error ratio. */
static double run_level_case(const ct_qkernels *k, const case_data *c, int nt, int64_t r0, int64_t r1) {
    const float sentinel = -12345.0f;
    const size_t os = (size_t)c->rows + 3; /* a stride wider than the row count */
    float *out = malloc(sizeof(float) * os * nt);
    for (size_t i = 0; i < os * (size_t)nt; i++) out[i] = sentinel;
    const ct_tensor wt = {.data = c->w, .type = c->type, .ne0 = c->n, .ne1 = c->rows, .row_bytes = c->rb, .name = "w"};
    ct_cpu_qmatmul(k, &wt, c->act, nt, out, os, r0, r1);
    double worst = 0;
    int bad = 0, touched = 0;
    for (int t = 0; t < nt; t++)
        for (size_t r = 0; r < os; r++) {
            const float got = out[t * os + r];
            if ((int64_t)r < r0 || (int64_t)r >= r1) {
                touched += got != sentinel;
                continue;
            }
            const double want = c->ref[t * c->rows + (int64_t)r], mag = c->mag[t * c->rows + (int64_t)r];
            /* Integer parts are exact at every level; what differs is float32 accumulation:
             * per-lane partial sums and a different association over <= ~150 terms whose
             * magnitudes (integer lanes still holding level offsets) are at most a few times
             * sum|w*a|, so errors are ~1e-7..1e-6 of it. 1e-5 leaves a wide margin while a
             * wrong level, scale or offset shows up at ~1e-2. */
            const double err = fabs(got - want);
            if (!(err <= 1e-5 * mag + 1e-30)) {
                if (bad++ < 3)
                    fprintf(stderr, "  %s %s %s n=%lld nt=%d r=%zu t=%d: got %.9g want %.9g (mag %.3g)\n",
                            ct_cpu_level_name(ct_qkernels_level(k)), ct_cpu_act_precision_name(c->p), ct_type_name(c->type),
                            (long long)c->n, nt, r, t, got, want, mag);
            }
            if (mag > 0) worst = fmax(worst, err / mag);
        }
    CHECK_MSG(bad == 0, "level %s (%s), %s, n=%lld, %d tokens, rows [%lld,%lld): %d outputs off",
              ct_cpu_level_name(ct_qkernels_level(k)), ct_cpu_act_precision_name(c->p), ct_type_name(c->type),
              (long long)c->n, nt, (long long)r0, (long long)r1, bad);
    CHECK_MSG(touched == 0, "level %s, %s: %d outputs outside rows [%lld,%lld) were written",
              ct_cpu_level_name(ct_qkernels_level(k)), ct_type_name(c->type), touched, (long long)r0, (long long)r1);
    free(out);
    return worst;
}

static void check_levels(ct_test_rng *rng, ct_cpu_act_precision p) {
    const ct_qkernels *scalar = table(CT_CPU_SCALAR, p);
    if (!scalar) return;
    const ct_cpu_level best = ct_cpu_level_best();
    for (int l = CT_CPU_AVX2; l < CT_CPU_LEVEL_COUNT; l++)
        if (l > (int)best && p == CT_CPU_ACT_Q16) printf("  level %s: skipped: this CPU lacks it\n", ct_cpu_level_name((ct_cpu_level)l));
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ct_type type = all_types[ti];
        const int bs = (int)ct_type_traits_of(type)->block_size;
        /* K sizes: one block, a few with an odd tail, several K chunks with an odd tail */
        const int64_t ns[3] = {bs == 256 ? 256 : 32, bs == 256 ? 256 * 3 : 32 * 7, bs == 256 ? 256 * 11 : 32 * 75};
        const int64_t float_ns[3] = {7, 100, 1000}; /* float weights: any length, masked tails */
        for (int ni = 0; ni < 3; ni++) {
            const int64_t n = bs == 1 ? float_ns[ni] : ns[ni];
            case_data c;
            make_case(rng, scalar, type, n, 13, &c);
            for (int l = CT_CPU_AVX2; l <= (int)best; l++) {
                const ct_qkernels *k = table((ct_cpu_level)l, p);
                if (!k) continue;
                const ct_cpu_level impl = ct_qkernels_type_level(k, type);
                if (impl != (ct_cpu_level)l) {
                    if (ni == 0)
                        printf("  level %-10s %-3s %-5s: no kernel of its own, runs the %s one (checked below it)\n",
                               ct_cpu_level_name((ct_cpu_level)l), ct_cpu_act_precision_name(p), ct_type_name(type),
                               ct_cpu_level_name(impl));
                    continue;
                }
                double worst = 0;
                for (size_t i = 0; i < N_TOKEN_COUNTS; i++)
                    worst = fmax(worst, run_level_case(k, &c, token_counts[i], 0, c.rows));
                worst = fmax(worst, run_level_case(k, &c, 1, 2, c.rows - 1));
                worst = fmax(worst, run_level_case(k, &c, 9, 1, c.rows - 2));
                worst = fmax(worst, run_level_case(k, &c, 19, 1, c.rows - 2));
                printf("  level %-10s %-3s %-5s n=%-5lld: 15 runs (1..9, 16, 19, 33 tokens, row ranges) max err %.2e of sum|w*a|\n",
                       ct_cpu_level_name((ct_cpu_level)l), ct_cpu_act_precision_name(p), ct_type_name(type), (long long)n,
                       worst);
            }
            free_case(&c);
        }
    }
}

/* Extreme operands: every activation of a row equal (all quants at +-127, Q16 values at
 * +-32512) against weights whose levels and scales are all at their largest magnitude, the
 * case where the integer sums of the Q16 kernels come closest to int32's range. Every level
 * must still match the scalar reference (which sums in 64 bits) and a float64 dot. */
static void check_extremes(ct_cpu_act_precision p) {
    const ct_qkernels *scalar = table(CT_CPU_SCALAR, p);
    if (!scalar) return;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ct_type type = all_types[ti];
        const ct_type_traits *tr = ct_type_traits_of(type);
        if (!tr->quantized) continue;
        const int64_t n = tr->block_size == 256 ? 512 : 64, rows = 4;
        const size_t rb = row_bytes_of(type, n), ab = ct_cpu_act_row_bytes(type, n);
        uint8_t *w = alloc64(rb * rows), *a = alloc64(ab * 16);
        float *x = malloc(sizeof(float) * n), *wf = malloc(sizeof(float) * n), ref[16 * 4], out[16 * 4];
        double mags[16 * 4];
        /* every bit set (the largest levels, 6-bit scales and mins), fp16 scales +-1 (0xFF
         * bytes would be NaN), Q6_K sub-block scales -128, Q8_0 levels -128 in rows 2 and 3 */
        memset(w, 0xFF, rb * rows);
        for (int64_t r = 0; r < rows; r++) {
            int off[2];
            scale_fields(type, off);
            for (size_t b = 0; b < rb / tr->type_size; b++)
                for (int f = 0; f < 2; f++)
                    if (off[f] >= 0) {
                        const uint16_t one = ct_fp32_to_fp16(r % 2 ? -1.0f : 1.0f);
                        memcpy(w + (size_t)r * rb + b * tr->type_size + off[f], &one, 2);
                    }
            if (type == CT_TYPE_Q6_K) /* scales of -128: the most negative sub-block scale */
                for (size_t b = 0; b < rb / tr->type_size; b++)
                    memset(w + (size_t)r * rb + b * tr->type_size + offsetof(block_q6_K, scales), 0x80, 16);
            if (type == CT_TYPE_Q8_0 && r >= 2) /* levels of -128 */
                for (size_t b = 0; b < rb / tr->type_size; b++) memset(w + (size_t)r * rb + b * tr->type_size + 2, 0x80, 32);
        }
        for (int t = 0; t < 16; t++) {
            for (int64_t i = 0; i < n; i++) x[i] = t % 2 ? -3.0f : 3.0f;
            if (t % 4 >= 2)
                for (int64_t i = 0; i < n; i += 2) x[i] = -x[i];
            ct_cpu_quantize_activations(scalar, type, x, n, a + t * ab);
        }
        const ct_tensor wt = {.data = w, .type = type, .ne0 = n, .ne1 = rows, .row_bytes = rb, .name = "w"};
        ct_cpu_qmatmul(scalar, &wt, a, 16, ref, rows, 0, rows);
        double *ad = malloc(sizeof(double) * n);
        for (int t = 0; t < 16; t++) {
            dequantize_act(type, p, a + t * ab, n, ad);
            for (int64_t r = 0; r < rows; r++) {
                CHECK_OK(ct_dequantize_row(type, w + r * rb, wf, n));
                double exact = 0, mag = 0;
                for (int64_t i = 0; i < n; i++) exact += wf[i] * ad[i], mag += fabs(wf[i] * ad[i]);
                mags[t * rows + r] = mag;
                CHECK_MSG(fabs(ref[t * rows + r] - exact) <= 1e-5 * mag, "extremes: %s %s scalar r=%lld t=%d: %.9g vs f64 %.9g",
                          ct_type_name(type), ct_cpu_act_precision_name(p), (long long)r, t, ref[t * rows + r], exact);
            }
        }
        for (int l = CT_CPU_AVX2; l <= (int)ct_cpu_level_best(); l++) {
            const ct_qkernels *k = table((ct_cpu_level)l, p);
            if (!k) continue;
            for (int nt = 1; nt <= 16; nt *= 4) { /* matrix-vector, two-halves tiles, int16 tiles (AVX-512 Q16) */
                ct_cpu_qmatmul(k, &wt, a, nt, out, rows, 0, rows);
                for (int i = 0; i < nt * rows; i++)
                    CHECK_MSG(fabs((double)out[i] - ref[i]) <= 1e-5 * mags[i],
                              "extremes: level %s %s %s nt=%d output %d: %.9g vs scalar %.9g", ct_cpu_level_name((ct_cpu_level)l),
                              ct_cpu_act_precision_name(p), ct_type_name(type), nt, i, out[i], ref[i]);
            }
        }
        free(w), free(a), free(x), free(wf), free(ad);
    }
}

/* ---- 5. token blocks --------------------------------------------------------------------------- */

static void check_token_blocks(ct_test_rng *rng) {
    const ct_type types[] = {CT_TYPE_Q4_K, CT_TYPE_Q6_K, CT_TYPE_Q8_0, CT_TYPE_Q4_1, CT_TYPE_F16};
    const int64_t n = 2816, rows = 6, nt = 211; /* Q16 rows of 2816 values: ~6.4 KB, 211 of them > 1 MiB */
    for (size_t pi = 0; pi < sizeof precisions / sizeof precisions[0]; pi++) {
        const ct_qkernels *k = table(ct_cpu_level_best(), precisions[pi]);
        if (!k) continue;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const ct_type type = types[ti];
            const size_t rb = row_bytes_of(type, n), ab = ct_cpu_act_row_bytes(type, n);
            uint8_t *w = alloc64(rb * rows), *a = alloc64(ab * nt);
            float *x = malloc(sizeof(float) * n), *one = malloc(sizeof(float) * rows * nt), *blocked = malloc(sizeof(float) * rows * nt);
            random_weights(rng, type, rows, n, w);
            for (int64_t t = 0; t < nt; t++) {
                random_floats(rng, x, n);
                ct_cpu_quantize_activations(k, type, x, n, a + (size_t)t * ab);
            }
            const ct_tensor wt = {.data = w, .type = type, .ne0 = n, .ne1 = rows, .row_bytes = rb, .name = "w"};
            k->matmul[type](w, rb, n, a, ab, nt, one, (size_t)rows, 0, rows, false); /* one call, all tokens */
            ct_cpu_qmatmul(k, &wt, a, nt, blocked, (size_t)rows, 0, rows);
            CHECK_MSG(!memcmp(one, blocked, sizeof(float) * rows * nt), "%s %s: %lld tokens in blocks differ from one call",
                      ct_type_name(type), ct_cpu_act_precision_name(precisions[pi]), (long long)nt);
            free(w), free(a), free(x), free(one), free(blocked);
        }
    }
}

/* ---- 4. dispatch -------------------------------------------------------------------------------- */

static void check_dispatch(void) {
    for (int l = 0; l < CT_CPU_LEVEL_COUNT; l++) {
        ct_cpu_level got;
        CHECK_OK(ct_cpu_level_parse(ct_cpu_level_name((ct_cpu_level)l), &got));
        CHECK(got == (ct_cpu_level)l);
    }
    ct_cpu_level dummy;
    CHECK(ct_cpu_level_parse("avx1024", &dummy) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "avx1024") != NULL);

    const ct_qkernels *k = NULL;
    setenv("CTORCH_CPU_LEVEL", "scalar", 1);
    CHECK_OK(ct_qkernels_select(&k));
    CHECK(k && ct_qkernels_level(k) == CT_CPU_SCALAR);
    setenv("CTORCH_CPU_LEVEL", "fastest", 1);
    CHECK(ct_qkernels_select(&k) == CT_ERR_INVALID_ARGUMENT && k == NULL);
    CHECK(strstr(ct_last_error(), "CTORCH_CPU_LEVEL") != NULL && strstr(ct_last_error(), "fastest") != NULL);
    if (ct_cpu_level_best() < CT_CPU_AVX512_VNNI) {
        setenv("CTORCH_CPU_LEVEL", "avx512vnni", 1);
        CHECK(ct_qkernels_select(&k) == CT_ERR_UNSUPPORTED && k == NULL);
        CHECK(strstr(ct_last_error(), "CTORCH_CPU_LEVEL") != NULL);
    }
    unsetenv("CTORCH_CPU_LEVEL");
    CHECK_OK(ct_qkernels_select(&k));
    CHECK(k && ct_qkernels_level(k) == ct_cpu_level_best() && ct_qkernels_precision(k) == CT_CPU_ACT_Q16);
    CHECK(ct_qkernels_for_level(CT_CPU_LEVEL_COUNT, &k) == CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_qkernels_for(CT_CPU_SCALAR, CT_CPU_ACT_PRECISION_COUNT, &k) == CT_ERR_INVALID_ARGUMENT && k == NULL);

    /* CTORCH_CPU_ACTIVATIONS */
    for (int p = 0; p < CT_CPU_ACT_PRECISION_COUNT; p++) {
        ct_cpu_act_precision got;
        CHECK_OK(ct_cpu_act_precision_parse(ct_cpu_act_precision_name((ct_cpu_act_precision)p), &got));
        CHECK(got == (ct_cpu_act_precision)p);
    }
    setenv("CTORCH_CPU_ACTIVATIONS", "q8", 1);
    setenv("CTORCH_CPU_LEVEL", "scalar", 1);
    CHECK_OK(ct_qkernels_select(&k));
    CHECK(k && ct_qkernels_precision(k) == CT_CPU_ACT_Q8 && ct_qkernels_level(k) == CT_CPU_SCALAR);
    setenv("CTORCH_CPU_ACTIVATIONS", "q4", 1);
    CHECK(ct_qkernels_select(&k) == CT_ERR_INVALID_ARGUMENT && k == NULL);
    CHECK(strstr(ct_last_error(), "CTORCH_CPU_ACTIVATIONS") != NULL && strstr(ct_last_error(), "q4") != NULL &&
          strstr(ct_last_error(), "q16") != NULL);
    setenv("CTORCH_CPU_ACTIVATIONS", "Q16", 1);
    CHECK_OK(ct_qkernels_select(&k));
    CHECK(k && ct_qkernels_precision(k) == CT_CPU_ACT_Q16);
    unsetenv("CTORCH_CPU_ACTIVATIONS");
    unsetenv("CTORCH_CPU_LEVEL");

    /* one stride for both precisions: the larger format (Q16, or f32 for BF16 weights) */
    CHECK(ct_cpu_act_row_bytes(CT_TYPE_Q4_0, 2048) == 2 * 2048 + 8 * 64);
    CHECK(ct_cpu_act_row_bytes(CT_TYPE_Q4_K, 2048) == 2 * 2048 + 4 * 8 + 4 * 128 + 32); /* padded to 64 */
    CHECK(ct_cpu_act_row_bytes(CT_TYPE_BF16, 100) == 448);
    CHECK(ct_cpu_act_row_bytes(CT_TYPE_F16, 7) == 64);
    CHECK(ct_cpu_act_row_bytes(CT_TYPE_Q4_K, 2048 + 32) == 0);
    CHECK(ct_cpu_act_row_bytes(CT_TYPE_Q8_1, 256) == 0);
    CHECK(!ct_cpu_qmatmul_supports(CT_TYPE_Q8_K) && !ct_cpu_qmatmul_supports(17) && ct_cpu_qmatmul_supports(CT_TYPE_Q6_K));
    for (size_t i = 0; i < N_TYPES; i++) CHECK(ct_cpu_act_row_bytes(all_types[i], 512) % 64 == 0);
}

/* ============================ --bench ============================================================ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void print_load(const char *what) {
    FILE *f = fopen("/proc/loadavg", "r");
    char buf[128] = "?";
    if (f) {
        if (!fgets(buf, sizeof buf, f)) strcpy(buf, "?");
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("# %s  (loadavg: %s)\n", what, buf);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
typedef struct {
    const uint8_t *buf;
    size_t bytes;
    volatile long long sink;
} read_job;

__attribute__((target("avx512f"))) static void read_task(void *arg, int64_t b, int64_t e, int thread) {
    (void)thread;
    read_job *j = arg;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = b; i < e; i++) {
        const __m512i *p = (const __m512i *)(j->buf + (size_t)i * 256);
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(p));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + 1));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + 2));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + 3));
    }
    j->sink += _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void vnni_task(void *arg, int64_t b, int64_t e, int thread) {
    (void)thread;
    read_job *j = arg;
    __m512i acc[12];
    const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-5);
    /* fully unrolled so the accumulators live in registers (a loop over an array of them
     * round-trips memory and measures store forwarding instead) */
#pragma GCC unroll 12
    for (int k = 0; k < 12; k++) acc[k] = _mm512_set1_epi32(k);
    for (int64_t i = b; i < e; i++)
#pragma GCC unroll 12
        for (int k = 0; k < 12; k++) acc[k] = _mm512_dpbusd_epi32(acc[k], u, s);
    long long sum = 0;
#pragma GCC unroll 12
    for (int k = 0; k < 12; k++) sum += _mm512_reduce_add_epi32(acc[k]);
    j->sink += sum;
}
#endif

static void bench_roofline(ct_threadpool **pools) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (!__builtin_cpu_supports("avx512f")) return;
    const size_t bytes = (size_t)512 << 20;
    uint8_t *buf = alloc64(bytes);
    memset(buf, 1, bytes);
    read_job j = {.buf = buf, .bytes = bytes, .sink = 0};
    for (int p = 0; p < 2; p++) {
        ct_threadpool_run(pools[p], (int64_t)(bytes / 256), 1024, read_task, &j); /* warm */
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            const double t0 = now_s();
            ct_threadpool_run(pools[p], (int64_t)(bytes / 256), 1024, read_task, &j);
            best = fmin(best, now_s() - t0);
        }
        printf("read bandwidth, AVX-512 loop, %d thread(s): %.1f GB/s (best of 5 over 512 MiB)\n", p + 1, bytes / best / 1e9);
    }
    free(buf);
    if (__builtin_cpu_supports("avx512vnni")) {
        for (int p = 0; p < 2; p++) {
            const int64_t iters = 20000000;
            const double t0 = now_s();
            ct_threadpool_run(pools[p], iters * (p + 1), 1, vnni_task, &j);
            const double dt = now_s() - t0;
            /* each vpdpbusd: 64 int8 multiply-adds = 128 ops */
            printf("int8 VNNI peak (12 independent vpdpbusd chains), %d thread(s): %.0f GOP/s\n", p + 1,
                   12.0 * iters * (p + 1) * 128 / dt / 1e9);
        }
    }
#else
    (void)pools;
#endif
}

typedef struct {
    const ct_qkernels *k;
    ct_tensor w;
    const uint8_t *act;
    int64_t nt;
    float *out;
} mm_job;

static void mm_task(void *arg, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    mm_job *j = arg;
    ct_cpu_qmatmul(j->k, &j->w, j->act, j->nt, j->out, (size_t)j->w.ne1, r0, r1);
}

static const char *bench_level_arg;
static ct_cpu_act_precision bench_precision = CT_CPU_ACT_Q16;

static void bench_matmuls(ct_threadpool **pools, const char *types_arg, int gemm) {
    ct_test_rng rng = {0x9E3779B97F4A7C15ull};
    const struct {
        int64_t n, rows;
        const char *name;
    } shapes[] = {{2048, 5632, "ffn_up 2048->5632"}, {5632, 2048, "ffn_down 5632->2048"}, {2048, 32000, "output 2048->32000"}};
    const ct_cpu_level best = ct_cpu_level_best();
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ct_type type = all_types[ti];
        if (types_arg && !strstr(types_arg, ct_type_name(type))) continue;
        for (size_t si = 0; si < 3; si++) {
            if (gemm && si == 2) continue;
            const int64_t n = shapes[si].n, rows = shapes[si].rows;
            const size_t rb = row_bytes_of(type, n), mbytes = rb * rows;
            /* GEMV streams from memory: rotate over copies totalling >= 4x the 32 MiB L3 */
            const int copies = gemm ? 1 : (int)((((size_t)128 << 20) + mbytes - 1) / mbytes);
            uint8_t **w = malloc(sizeof(uint8_t *) * copies);
            for (int c = 0; c < copies; c++) {
                w[c] = alloc64(mbytes);
                if (c == 0) {
                    /* random levels, sensible scales (generation through the quantizer is too slow here) */
                    random_weights(&rng, type, 2, n, w[c]);
                    const ct_type_traits *tr = ct_type_traits_of(type);
                    for (int64_t r = 2; r < rows; r++) {
                        uint8_t *row = w[c] + r * rb;
                        if (tr->quantized) {
                            memcpy(row, w[c] + (r % 2) * rb, rb);
                            for (size_t i = 0; i < rb; i += 8) row[i] ^= (uint8_t)(r * 7 + i);
                            int off[2];
                            scale_fields(type, off);
                            for (size_t b = 0; b < rb / tr->type_size; b++)
                                for (int f = 0; f < 2; f++)
                                    if (off[f] >= 0) memcpy(row + b * tr->type_size + off[f], w[c] + off[f], 2);
                        } else {
                            memcpy(row, w[c], rb);
                        }
                    }
                } else {
                    memcpy(w[c], w[0], mbytes);
                }
            }
            const int64_t nt = gemm ? 128 : 1;
            const size_t ab = ct_cpu_act_row_bytes(type, n);
            uint8_t *act = alloc64(ab * nt);
            float *x = malloc(sizeof(float) * n * nt), *out = malloc(sizeof(float) * rows * nt);
            random_floats(&rng, x, n * nt);
            for (int l = 0; l <= (int)best; l++) {
                const ct_qkernels *k;
                if (ct_qkernels_for((ct_cpu_level)l, bench_precision, &k) != CT_OK) continue;
                if (ct_qkernels_type_level(k, type) != (ct_cpu_level)l) continue; /* inherited: same code */
                if (bench_level_arg && strcmp(bench_level_arg, ct_cpu_level_name((ct_cpu_level)l))) continue;
                double tq = 0;
                for (int pass = 0; pass < 2; pass++) { /* time the second pass: the first faults the pages in */
                    tq = now_s();
                    for (int64_t t = 0; t < nt; t++) ct_cpu_quantize_activations(k, type, x + t * n, n, act + t * ab);
                    tq = now_s() - tq;
                }
                for (int p = 0; p < 2; p++) {
                    mm_job j = {.k = k, .act = act, .nt = nt, .out = out};
                    j.w = (ct_tensor){.data = w[0], .type = type, .ne0 = n, .ne1 = rows, .row_bytes = rb, .name = "w"};
                    const double budget = l == CT_CPU_SCALAR ? 0.05 : 0.4;
                    int iters = 0;
                    const double t0 = now_s(), c0 = cpu_s();
                    double best_t = 1e9;
                    do {
                        j.w.data = w[iters % copies];
                        const double t1 = now_s();
                        ct_threadpool_run(pools[p], rows, 16, mm_task, &j);
                        best_t = fmin(best_t, now_s() - t1);
                        iters++;
                    } while (now_s() - t0 < budget);
                    const double avg = (now_s() - t0) / iters;
                    /* with one thread the process CPU time is that thread's: a rate that other
                     * processes on the machine disturb less than wall time (2-thread pool sleeping) */
                    const double cpu_avg = (cpu_s() - c0) / iters;
                    const double work = gemm ? 2.0 * n * rows * nt / 1e9 : mbytes / 1e9; /* GFLOP or GB */
                    char cpu_rate[48] = "";
                    if (p == 0) snprintf(cpu_rate, sizeof cpu_rate, ", %.1f per CPU-second", work / cpu_avg);
                    printf("%s %-5s %-20s %-10s %-3s %d thr: %6.1f %s avg, %6.1f best%s (%.3f ms avg; act quant %.1f us)\n",
                           gemm ? "GEMM" : "GEMV", ct_type_name(type), shapes[si].name, ct_cpu_level_name((ct_cpu_level)l),
                           ct_cpu_act_precision_name(bench_precision), p + 1, work / avg, gemm ? "GFLOP/s" : "GB/s",
                           work / best_t, cpu_rate, avg * 1e3, tq * 1e6);
                    fflush(stdout);
                }
            }
            for (int c = 0; c < copies; c++) free(w[c]);
            free(w), free(act), free(x), free(out);
        }
    }
}

static int run_bench(int argc, char **argv) {
    const char *types = NULL, *what = "all";
    for (int i = 2; i < argc; i++) {
        if (!strncmp(argv[i], "--types=", 8)) types = argv[i] + 8;
        else if (!strncmp(argv[i], "--what=", 7)) what = argv[i] + 7;
        else if (!strncmp(argv[i], "--level=", 8)) bench_level_arg = argv[i] + 8;
        else if (!strncmp(argv[i], "--act=", 6) && ct_cpu_act_precision_parse(argv[i] + 6, &bench_precision) != CT_OK) {
            fprintf(stderr, "%s\n", ct_last_error());
            return 2;
        }
    }
    ct_threadpool *pools[2];
    if (ct_threadpool_create(1, &pools[0]) != CT_OK || ct_threadpool_create(2, &pools[1]) != CT_OK) return 1;
    printf("best level: %s\n", ct_cpu_level_name(ct_cpu_level_best()));
    if (!strcmp(what, "all") || !strcmp(what, "roofline")) {
        print_load("roofline");
        bench_roofline(pools);
    }
    if (!strcmp(what, "all") || !strcmp(what, "gemv")) {
        print_load("GEMV, 1 token");
        bench_matmuls(pools, types, 0);
    }
    if (!strcmp(what, "all") || !strcmp(what, "gemm")) {
        print_load("GEMM, 128 tokens");
        bench_matmuls(pools, types, 1);
    }
    print_load("end");
    ct_threadpool_free(pools[0]);
    ct_threadpool_free(pools[1]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--bench")) return run_bench(argc, argv);
    ct_test_rng rng = {0x243F6A8885A308D3ull};
    const ct_qkernels *scalar;
    CHECK_OK(ct_qkernels_for_level(CT_CPU_SCALAR, &scalar));
    if (!scalar) return ct_test_finish("test_cpu_kernels");
    printf("best level on this CPU: %s\n", ct_cpu_level_name(ct_cpu_level_best()));
    check_dispatch();
    for (size_t pi = 0; pi < sizeof precisions / sizeof precisions[0]; pi++) {
        const ct_cpu_act_precision p = precisions[pi];
        check_scalar_quantizer_definition(&rng, p);
        for (int l = CT_CPU_AVX2; l <= (int)ct_cpu_level_best(); l++) {
            const ct_qkernels *k = table((ct_cpu_level)l, p), *s = table(CT_CPU_SCALAR, p);
            if (k && s) check_quantizers_match(&rng, s, k);
        }
        check_scalar_vs_f64(&rng, p);
        check_levels(&rng, p);
        check_extremes(p);
    }
    check_token_blocks(&rng);
    return ct_test_finish("test_cpu_kernels");
}
