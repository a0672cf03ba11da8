/* quantize -> dequantize on fresh seeded random data, against each type's error bound;
 * all-zero blocks; argument errors; extreme magnitudes.
 *
 * Bounds (x = input, y = dequantized, slack = 8*FLT_EPSILON*(amax + max - min) of the
 * block for float32 rounding in id = 1/d, x*id and the dequant product/sum):
 *
 * Legacy formats, per element, derived from the quantizer (d16 = d rounded to fp16 as
 * stored; |q| <= 2^(b-1) or 2^b - 1 multiplies the fp16 error of d):
 *   Q8_0, Q8_1  d = amax/127, q = round(x/d):            |x-y| <= d/2 + 127|d-d16| + slack
 *   Q8_K        as Q8_0 but d stays float32:             |x-y| <= d/2 + slack
 *   Q4_0        d = max/-8, so the largest magnitude is exactly -8d; q-8 in [-8, 7], values
 *               with v = x/d > 7.5 clip to 7:            |x-y| <= max(1/2, v-7)|d| + 8|d-d16| + slack
 *   Q5_0        same with 16 / 15:                       |x-y| <= max(1/2, v-15)|d| + 16|d-d16| + slack
 *   Q4_1, Q5_1  d = (max-min)/(2^b-1), m = min:          |x-y| <= d/2 + (2^b-1)|d-d16| + |min-m16| + slack
 *
 * K-quants, per 256-element super-block, with step = the grid step of a plain uniform
 * quantizer over the super-block: Q2_K/Q4_K/Q5_K (scale and min, min clamped to <= 0)
 * step = (max(xmax,0) - min(xmin,0)) / (2^b - 1); Q3_K/Q6_K (signed levels, largest
 * magnitude -> -2^(b-1)) step = amax / 2^(b-1).
 *   RMSE <= 0.40 step and max |x-y| <= 1.5 step.
 * A plain uniform quantizer would give RMSE step/sqrt(12) = 0.29 step and max step/2. The
 * k-quants adapt per 16/32-element sub-block, which usually beats that, but they also store
 * sub-block scales in 4/6 bits relative to the largest, may clip a sub-block's extremes
 * when that lowers the weighted error (the search tries shrunken grids), and Q3_K/Q6_K clip
 * the side opposite the largest magnitude at 2^(b-1)-1 levels (up to 1 step, as Q4_0).
 * Worst seen over 24 seeds x 6 distributions: RMSE 0.32 step (Q3_K), max 1.00 step
 * (Q3_K, Q5_K). A packing or scale bug errs by about the data range, i.e. >= 3 steps.
 *
 * Plus ggml's own acceptance test (tests/test-quantize-fns.cpp): on x_i = 0.1 + 2 cos(i),
 * 4096 values, sqrt(sum (x-y)^2) / n must stay below 0.0075 (Q2_K), 0.0040 (Q3_K) or
 * 0.002 (every other type). */
#include <float.h>

#include "test_quant_util.h"

enum { N_VALUES = 16 * QK_K };
enum { DIST_GAUSS, DIST_UNIFORM, DIST_OUTLIERS, DIST_POSITIVE, DIST_HEAVY_TAIL, DIST_COUNT };
static const char *const dist_names[DIST_COUNT] = {"gaussian", "uniform", "outliers", "positive", "heavy-tail"};

static void fill(float *x, int64_t n, int dist, unsigned long long seed) {
    ct_test_rng r = {seed * 0x9E3779B97F4A7C15ULL + 1};
    for (int64_t i = 0; i < n; i++) {
        const float g = ct_quant_gauss(&r);
        switch (dist) {
        case DIST_GAUSS: x[i] = g; break;
        case DIST_UNIFORM: x[i] = ct_test_rng_uniform(&r); break;
        case DIST_OUTLIERS:
            x[i] = 0.02f * g;
            if (ct_test_rng_next(&r) % 97 == 0) x[i] = (g < 0 ? -1.0f : 1.0f) * (1.0f + 4.0f * fabsf(ct_test_rng_uniform(&r)));
            break;
        case DIST_POSITIVE: x[i] = 0.5f + fabsf(g); break;
        default: x[i] = g * g * g; break;
        }
    }
}

static float fp16_round(float v) { return ct_fp16_to_fp32(ct_fp32_to_fp16(v)); }

typedef struct { float min, max, amax, signed_max; } block_stats;

static block_stats stats_of(const float *x, int n) {
    block_stats s = {x[0], x[0], 0.0f, 0.0f};
    for (int i = 0; i < n; i++) {
        if (x[i] < s.min) s.min = x[i];
        if (x[i] > s.max) s.max = x[i];
        if (fabsf(x[i]) > s.amax) {
            s.amax = fabsf(x[i]);
            s.signed_max = x[i];
        }
    }
    return s;
}

/* Per-element bound of a legacy format (see the comment at the top). */
static double legacy_bound(ct_type type, const block_stats *s, float x) {
    const double slack = 8.0 * FLT_EPSILON * ((double)s->amax + ((double)s->max - s->min));
    switch (type) {
    case CT_TYPE_Q8_0:
    case CT_TYPE_Q8_1: {
        const float d = s->amax / 127;
        return 0.5 * d + 127.0 * fabs((double)d - fp16_round(d)) + slack;
    }
    case CT_TYPE_Q8_K: return 0.5 * (s->amax / 127) + slack;
    case CT_TYPE_Q4_0:
    case CT_TYPE_Q5_0: {
        const int half = type == CT_TYPE_Q4_0 ? 8 : 16;
        const float d = s->signed_max / -half;
        if (d == 0) return slack;
        const double v = (double)x / d, clip = v - (half - 1);
        return (clip > 0.5 ? clip : 0.5) * fabs(d) + half * fabs((double)d - fp16_round(d)) + slack;
    }
    default: {
        const int top = type == CT_TYPE_Q4_1 ? 15 : 31;
        const float d = (s->max - s->min) / top;
        return 0.5 * d + top * fabs((double)d - fp16_round(d)) + fabs((double)s->min - fp16_round(s->min)) + slack;
    }
    }
}

static bool is_kquant_with_min(ct_type t) { return t == CT_TYPE_Q2_K || t == CT_TYPE_Q4_K || t == CT_TYPE_Q5_K; }
static bool is_kquant_symmetric(ct_type t) { return t == CT_TYPE_Q3_K || t == CT_TYPE_Q6_K; }

static int kquant_bits(ct_type t) {
    switch (t) {
    case CT_TYPE_Q2_K: return 2;
    case CT_TYPE_Q3_K: return 3;
    case CT_TYPE_Q4_K: return 4;
    case CT_TYPE_Q5_K: return 5;
    default: return 6;
    }
}

static double kquant_step(ct_type type, const block_stats *s) {
    const int bits = kquant_bits(type);
    if (is_kquant_symmetric(type)) return s->amax / (double)(1 << (bits - 1));
    const double hi = s->max > 0 ? s->max : 0, lo = s->min < 0 ? s->min : 0;
    return (hi - lo) / ((1 << bits) - 1);
}

/* Quantize and dequantize x (n values) as type into y. */
static bool roundtrip(ct_type type, const float *x, float *y, int64_t n) {
    const ct_type_traits *t = ct_type_traits_of(type);
    void *q = malloc((size_t)(n / t->block_size) * t->type_size);
    if (!q) return false;
    const bool ok = ct_quantize_row(type, x, q, n) == CT_OK && ct_dequantize_row(type, q, y, n) == CT_OK;
    free(q);
    return ok;
}

/* Worst ratio (error / bound) over the row; checks each block against its bound. */
static double check_bounds(ct_type type, const float *x, const float *y, int64_t n, const char *what) {
    const ct_type_traits *t = ct_type_traits_of(type);
    double worst = 0;
    int reported = 0;
    for (int64_t b = 0; b < n / t->block_size; b++) {
        const float *xb = x + b * t->block_size, *yb = y + b * t->block_size;
        const int bs = (int)t->block_size;
        const block_stats s = stats_of(xb, bs);
        if (type == CT_TYPE_F32 || type == CT_TYPE_F16 || type == CT_TYPE_BF16) {
            /* round to nearest: relative error <= 2^-(mantissa bits + 1) in the normal range,
             * absolute error <= half the smallest subnormal below it */
            const double rel = type == CT_TYPE_F32 ? 0 : type == CT_TYPE_F16 ? 0x1p-11 : 0x1p-8;
            const double sub = type == CT_TYPE_F32 ? 0 : type == CT_TYPE_F16 ? 0x1p-25 : 0x1p-134;
            const double err = fabs((double)xb[0] - yb[0]), bound = fmax(rel * fabs(xb[0]), sub);
            if (err > bound && reported++ < 3)
                fprintf(stderr, "%s %s: x=%.9g y=%.9g\n", t->name, what, xb[0], yb[0]);
            CHECK(err <= bound);
            if (bound > 0 && err / bound > worst) worst = err / bound;
            continue;
        }
        if (is_kquant_with_min(type) || is_kquant_symmetric(type)) {
            const double step = kquant_step(type, &s);
            double se = 0, max_err = 0;
            for (int i = 0; i < bs; i++) {
                const double e = fabs((double)xb[i] - yb[i]);
                se += e * e;
                if (e > max_err) max_err = e;
            }
            const double rmse = sqrt(se / bs);
            const bool ok = rmse <= 0.40 * step && max_err <= 1.5 * step;
            if (!ok && reported++ < 3)
                fprintf(stderr, "%s %s: super-block %lld: rmse %.4g max %.4g step %.4g\n", t->name, what, (long long)b,
                        rmse, max_err, step);
            CHECK(ok);
            const double ratio = fmax(rmse / (0.40 * step), max_err / (1.5 * step));
            if (ratio > worst) worst = ratio;
            continue;
        }
        for (int i = 0; i < bs; i++) {
            const double err = fabs((double)xb[i] - yb[i]), bound = legacy_bound(type, &s, xb[i]);
            if (!(err <= bound) && reported++ < 3)
                fprintf(stderr, "%s %s: block %lld elem %d: x=%.9g y=%.9g err %.4g > bound %.4g\n", t->name, what,
                        (long long)b, i, xb[i], yb[i], err, bound);
            CHECK(err <= bound);
            if (bound > 0 && err / bound > worst) worst = err / bound;
        }
    }
    return worst;
}

static void test_random_roundtrip(float *x, float *y) {
    for (size_t k = 0; k < CT_QUANT_ALL_TYPES_COUNT; k++) {
        const ct_type type = ct_quant_all_types[k];
        double worst = 0;
        for (int dist = 0; dist < DIST_COUNT; dist++) {
            for (unsigned seed = 1; seed <= 2; seed++) {
                fill(x, N_VALUES, dist, seed * 31u + (unsigned)dist * 7u + (unsigned)type);
                CHECK(roundtrip(type, x, y, N_VALUES));
                const double w = check_bounds(type, x, y, N_VALUES, dist_names[dist]);
                if (w > worst) worst = w;
            }
        }
        printf("%-5s worst error / bound over %d distributions: %.3f\n", ct_type_name(type), DIST_COUNT, worst);
    }
}

/* ggml's tests/test-quantize-fns.cpp acceptance check, same data and metric. */
static void test_ggml_total_error(float *x, float *y) {
    const int n = 32 * 128;
    for (int i = 0; i < n; i++) x[i] = (float)(0.1 + 2.0f * cosf((float)i));
    for (size_t k = 0; k < CT_QUANT_ALL_TYPES_COUNT; k++) {
        const ct_type type = ct_quant_all_types[k];
        if (!ct_type_traits_of(type)->quantized) continue;
        CHECK(roundtrip(type, x, y, n));
        double sum = 0;
        for (int i = 0; i < n; i++) sum += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        const double total = sqrt(sum) / n;
        const double limit = type == CT_TYPE_Q2_K ? 0.0075 : type == CT_TYPE_Q3_K ? 0.0040 : 0.002;
        CHECK_MSG(total < limit, "%s: ggml total error %.6f >= %.4f", ct_type_name(type), total, limit);
        printf("%-5s ggml total quantization error %.6f (limit %.4f)\n", ct_type_name(type), total, limit);
    }
}

static void test_all_zero(float *x, float *y) {
    for (size_t k = 0; k < CT_QUANT_ALL_TYPES_COUNT; k++) {
        const ct_type type = ct_quant_all_types[k];
        memset(x, 0, QK_K * sizeof(float));
        for (int i = 0; i < QK_K; i++) y[i] = NAN;
        CHECK(roundtrip(type, x, y, QK_K));
        int nonzero = 0;
        for (int i = 0; i < QK_K; i++) nonzero += !(y[i] == 0.0f);
        CHECK_MSG(nonzero == 0, "%s: %d of %d outputs not zero for an all-zero input", ct_type_name(type), nonzero, QK_K);
    }
}

static void test_bad_arguments(float *x, float *y) {
    uint8_t q[4 * sizeof(block_q8_K)];
    fill(x, QK_K, DIST_GAUSS, 5);
    CHECK(ct_quantize_row(CT_TYPE_Q4_K, x, q, 100) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "Q4_K") && strstr(ct_last_error(), "100"));
    CHECK(ct_dequantize_row(CT_TYPE_Q8_0, q, y, 33) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "Q8_0") && strstr(ct_last_error(), "33"));
    CHECK(ct_quantize_row(CT_TYPE_Q6_K, x, q, 255) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "Q6_K") && strstr(ct_last_error(), "255"));
    CHECK(ct_dequantize_row(CT_TYPE_Q5_1, q, y, -32) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "Q5_1") != NULL);
    CHECK(ct_quantize_row(CT_TYPE_Q4_0, NULL, q, 32) == CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_dequantize_row(CT_TYPE_Q4_0, q, NULL, 32) == CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_quantize_row((ct_type)20, x, q, 32) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(ct_last_error(), "IQ4_NL") != NULL);
    CHECK(ct_dequantize_row((ct_type)39, q, y, 32) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(ct_last_error(), "MXFP4") != NULL);
    CHECK(ct_dequantize_row((ct_type)1000, q, y, 32) == CT_ERR_UNSUPPORTED);
    /* n = 0 is a valid empty row, even without buffers */
    CHECK_OK(ct_quantize_row(CT_TYPE_Q4_K, NULL, NULL, 0));
    CHECK_OK(ct_dequantize_row(CT_TYPE_Q4_K, NULL, NULL, 0));
}

/* Magnitudes far from typical weights. Where every stored scale fits fp16 (|x| < 6e4: the
 * Q4_1/Q5_1 min itself is an fp16) the results must be finite and within the usual bound.
 * Where scales underflow fp16 (tiny, float32 subnormals), outputs must be finite and no
 * larger than the input. inf/NaN inputs must not crash (their output is unspecified). */
static void test_extreme_values(float *x, float *y) {
    for (size_t k = 0; k < CT_QUANT_ALL_TYPES_COUNT; k++) {
        const ct_type type = ct_quant_all_types[k];
        const char *name = ct_type_name(type);

        fill(x, N_VALUES, DIST_UNIFORM, 11);
        for (int i = 0; i < N_VALUES; i++) x[i] *= 6e4f;
        CHECK(roundtrip(type, x, y, N_VALUES));
        int nonfinite = 0;
        for (int i = 0; i < N_VALUES; i++) nonfinite += !isfinite(y[i]);
        CHECK_MSG(nonfinite == 0, "%s large: %d non-finite outputs", name, nonfinite);
        if (type != CT_TYPE_F16 && type != CT_TYPE_BF16) /* those saturate differently: checked below */
            check_bounds(type, x, y, N_VALUES, "large");

        static const float tiny_scales[] = {1e-6f, 1e-20f, 1e-39f, 1e-44f};
        for (size_t s = 0; s < sizeof tiny_scales / sizeof tiny_scales[0]; s++) {
            fill(x, N_VALUES, DIST_GAUSS, 12 + s);
            float amax = 0;
            for (int i = 0; i < N_VALUES; i++) {
                x[i] *= tiny_scales[s];
                amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
            }
            CHECK(roundtrip(type, x, y, N_VALUES));
            int bad = 0;
            for (int i = 0; i < N_VALUES; i++) bad += !(isfinite(y[i]) && fabsf(y[i]) <= 2 * amax);
            CHECK_MSG(bad == 0, "%s tiny (scale %g): %d outputs non-finite or larger than 2*amax", name,
                      (double)tiny_scales[s], bad);
        }

        /* one block mixing huge and subnormal values */
        fill(x, N_VALUES, DIST_GAUSS, 13);
        for (int i = 0; i < N_VALUES; i++) x[i] = (i % 3 == 0) ? x[i] * 1e4f : x[i] * 1e-40f;
        CHECK(roundtrip(type, x, y, N_VALUES));
        nonfinite = 0;
        for (int i = 0; i < N_VALUES; i++) nonfinite += !isfinite(y[i]);
        CHECK_MSG(nonfinite == 0, "%s mixed: %d non-finite outputs", name, nonfinite);

        /* non-finite input: must return normally (ASan/UBSan watch for the rest) */
        fill(x, N_VALUES, DIST_GAUSS, 14);
        x[3] = INFINITY;
        x[QK_K + 5] = -INFINITY;
        x[2 * QK_K + 7] = NAN;
        x[3 * QK_K] = FLT_MAX;
        x[3 * QK_K + 1] = -FLT_MAX;
        CHECK(roundtrip(type, x, y, N_VALUES));
    }
    /* F16 and BF16: overflow to inf exactly where the format ends */
    x[0] = 65504.0f;
    x[1] = 65520.0f;
    x[2] = 3.3895314e38f;
    x[3] = -3.4028235e38f;
    CHECK(roundtrip(CT_TYPE_F16, x, y, 2) && y[0] == 65504.0f && isinf(y[1]));
    CHECK(roundtrip(CT_TYPE_BF16, x + 2, y, 2) && y[0] == 3.3895314e38f && isinf(y[1]) && y[1] < 0);
}

int main(void) {
    float *x = malloc(N_VALUES * sizeof(float)), *y = malloc(N_VALUES * sizeof(float));
    if (!x || !y) return 1;
    test_random_roundtrip(x, y);
    test_ggml_total_error(x, y);
    test_all_zero(x, y);
    test_bad_arguments(x, y);
    test_extreme_values(x, y);
    free(x);
    free(y);
    return ct_test_finish("test_quant_roundtrip");
}
