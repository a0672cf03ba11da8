/* The 32-element formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1: reference quantizers that
 * produce ggml's quantize_row_*_ref bytes, and dequantizers.
 *
 * In every block the first half of the elements goes to the low nibbles and the second
 * half to the high nibbles; Q5's fifth bits are a little-endian 32-bit mask (bit j =
 * element j). */
#include <float.h>
#include <math.h>

#include "quant/quant.h"

/* The value with the largest magnitude (the first, on ties), 0 for an all-zero block. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static float absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    return amax;
}

static void min_max(const float *x, int n, float *min_out, float *max_out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    *min_out = min;
    *max_out = max;
}

/* The level for v = scaled value + offset + 0.5: truncation (ggml's cast), capped at top.
 * For finite input v is always in [0, top + 1); NaN (from inf/NaN input) gives 0. */
static uint8_t trunc_level(float v, int top) {
    if (!(v >= 0.0f)) return 0;
    if (v >= (float)top) return (uint8_t)top;
    return (uint8_t)(int)v;
}

/* roundf (half away from zero) for the int8 formats, saturating at +-127, NaN gives 0.
 * Without a libm call: for |v| < 2^23, v - trunc(v) is exact, so comparing it with 0.5
 * decides exactly as roundf does. */
static int8_t round_q8(float v) {
    if (!(fabsf(v) <= 127.0f)) return (int8_t)(v > 0 ? 127 : (v < 0 ? -127 : 0));
    const int i = (int)v;
    const float frac = v - (float)i;
    return (int8_t)(i + (frac >= 0.5f) - (frac <= -0.5f)); /* branch-free: signs are random */
}

static uint32_t load_u32le(const uint8_t b[4]) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void store_u32le(uint8_t b[4], uint32_t v) {
    for (int k = 0; k < 4; k++) b[k] = (uint8_t)(v >> (8 * k));
}

/* ---- Q4_0: x = d*(q-8), d = max/-8 so the largest-magnitude value is exactly -8*d ---- */

void ct_quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0) / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ct_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const uint8_t lo = trunc_level(x[j] * id + 8.5f, 15);
            const uint8_t hi = trunc_level(x[j + QK4_0 / 2] * id + 8.5f, 15);
            y[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void ct_dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = ct_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* ---- Q4_1: x = d*q + m, m = block min, d = (max-min)/15 ---------------------------- */

void ct_quantize_row_q4_1(const float *x, block_q4_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float min, max;
        min_max(x, QK4_1, &min, &max);
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ct_fp32_to_fp16(d);
        y[i].m = ct_fp32_to_fp16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const uint8_t lo = trunc_level((x[j] - min) * id + 0.5f, 15);
            const uint8_t hi = trunc_level((x[j + QK4_1 / 2] - min) * id + 0.5f, 15);
            y[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void ct_dequantize_row_q4_1(const block_q4_1 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = ct_fp16_to_fp32(x[i].d);
        const float m = ct_fp16_to_fp32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* ---- Q5_0: x = d*(q-16), d = max/-16 ----------------------------------------------- */

/* Pack 32 5-bit levels: low nibbles into qs, fifth bits into the qh mask. */
static void pack_q5(const uint8_t q[32], uint8_t qs[16], uint8_t qh[4]) {
    uint32_t high = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | (q[j + 16] & 0x0F) << 4);
        high |= (uint32_t)(q[j] >> 4 & 1) << j;
        high |= (uint32_t)(q[j + 16] >> 4 & 1) << (j + 16);
    }
    store_u32le(qh, high);
}

static void unpack_q5(const uint8_t qs[16], const uint8_t qh[4], int q[32]) {
    const uint32_t high = load_u32le(qh);
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0x0F) | (int)((high >> j & 1) << 4);
        q[j + 16] = (qs[j] >> 4) | (int)((high >> (j + 16) & 1) << 4);
    }
}

void ct_quantize_row_q5_0(const float *x, block_q5_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ct_fp32_to_fp16(d);
        uint8_t q[QK5_0];
        for (int j = 0; j < QK5_0; j++) q[j] = trunc_level(x[j] * id + 16.5f, 31);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void ct_dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = ct_fp16_to_fp32(x[i].d);
        int q[QK5_0];
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < QK5_0; j++) y[j] = (q[j] - 16) * d;
    }
}

/* ---- Q5_1: x = d*q + m, d = (max-min)/31 ------------------------------------------- */

void ct_quantize_row_q5_1(const float *x, block_q5_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float min, max;
        min_max(x, QK5_1, &min, &max);
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ct_fp32_to_fp16(d);
        y[i].m = ct_fp32_to_fp16(min);
        uint8_t q[QK5_1];
        for (int j = 0; j < QK5_1; j++) q[j] = trunc_level((x[j] - min) * id + 0.5f, 31);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void ct_dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = ct_fp16_to_fp32(x[i].d);
        const float m = ct_fp16_to_fp32(x[i].m);
        int q[QK5_1];
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < QK5_1; j++) y[j] = q[j] * d + m;
    }
}

/* ---- Q8_0 / Q8_1: x = d*q, d = amax/127; Q8_1 also stores s = d*sum(q) ------------- */

void ct_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float d = absmax(x, QK8_0) / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ct_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = round_q8(x[j] * id);
    }
}

void ct_dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const float d = ct_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = x[i].qs[j] * d;
    }
}

void ct_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float d = absmax(x, QK8_1) / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ct_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = round_q8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = ct_fp32_to_fp16(sum * d);
    }
}

/* ggml has no Q8_1 dequantizer (it is a dot-product operand only); s is redundant. */
void ct_dequantize_row_q8_1(const block_q8_1 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        const float d = ct_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = x[i].qs[j] * d;
    }
}
