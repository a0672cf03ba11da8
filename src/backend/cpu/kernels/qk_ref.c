/* The scalar reference: activation quantizers and dot products that define what every
 * SIMD level must compute. Each weight block is decoded to integer levels and integer
 * sub-block scales, dotted with the integer activations a exactly in integers, and only the
 * block's float scales are applied in floating point:
 *   32-blocks:  acc += (dw * da) * sum(q * a) + mw * s          (w = dw * q + mw)
 *   k-quants:   acc += (d * da) * sum_sub(sc * sum(q * a)) - (dmin * da) * sum_sub(m * bsum)
 * where a = qs (Q8) or 256 qs + ql (Q16), bsum the sums of 16 a (qk_internal.h). Plain
 * loops, written for clarity rather than speed. */
#include <math.h>

#include "backend/cpu/kernels/qk_internal.h"

/* ---- activation quantizers ---------------------------------------------------------------- */

static float block_absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax; /* NaN is skipped */
    return amax;
}

/* one block of the 8-bit or 16-bit format: quants into qs (and ql), returns d */
static float quantize_block(const float *x, int n, bool q16, int8_t *qs, int8_t *ql) {
    const float amax = block_absmax(x, n);
    const float lim = q16 ? (float)CT_QK_Q16_MAX : 127.0f;
    const float id = amax > 0.0f ? lim / amax : 0.0f;
    for (int j = 0; j < n; j++) {
        if (q16) {
            ct_qk_split_q16(x[j] * id, &qs[j], &ql[j]);
        } else {
            qs[j] = ct_qk_round_q8(x[j] * id);
            ql[j] = 0;
        }
    }
    return amax / lim;
}

/* the integer value a of element j: qs (Q8) or 256 qs + ql (Q16; ql is zero at Q8) */
static int32_t act_value(const ct_act_view *a, int64_t j) { return 256 * a->qs[j] + a->ql[j]; }

static void quantize_32(const float *x, int64_t n, uint8_t *dst, bool q16) {
    int8_t *qs = (int8_t *)dst, *ql = qs + n;
    float *d = (float *)(dst + 2 * n);
    float *s = d + n / 32;
    for (int64_t b = 0; b < n / 32; b++) {
        d[b] = quantize_block(x + 32 * b, 32, q16, qs + 32 * b, ql + 32 * b);
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) sum += q16 ? 256 * qs[32 * b + j] + ql[32 * b + j] : qs[32 * b + j];
        s[b] = d[b] * (float)sum;
    }
}

static void quantize_256(const float *x, int64_t n, uint8_t *dst, bool q16) {
    int8_t *qs = (int8_t *)dst, *ql = qs + n;
    float *d = (float *)(dst + 2 * n);
    int16_t *bsums = (int16_t *)(d + n / 256);
    for (int64_t b = 0; b < n / 256; b++) d[b] = quantize_block(x + 256 * b, 256, q16, qs + 256 * b, ql + 256 * b);
    for (int64_t g = 0; g < n / 16; g++) {
        int sum = 0, sum_lo = 0;
        for (int j = 0; j < 16; j++) sum += qs[16 * g + j], sum_lo += ql[16 * g + j];
        bsums[2 * g] = (int16_t)sum;
        bsums[2 * g + 1] = (int16_t)sum_lo;
    }
}

static void quantize_q8_32_ref(const float *x, int64_t n, uint8_t *dst) { quantize_32(x, n, dst, false); }
static void quantize_q16_32_ref(const float *x, int64_t n, uint8_t *dst) { quantize_32(x, n, dst, true); }
static void quantize_q8_256_ref(const float *x, int64_t n, uint8_t *dst) { quantize_256(x, n, dst, false); }
static void quantize_q16_256_ref(const float *x, int64_t n, uint8_t *dst) { quantize_256(x, n, dst, true); }

static void quantize_f32_ref(const float *x, int64_t n, uint8_t *dst) { memcpy(dst, x, (size_t)n * sizeof(float)); }

static void quantize_bf16_ref(const float *x, int64_t n, uint8_t *dst) {
    for (int64_t i = 0; i < n; i++) {
        const uint16_t h = ct_fp32_to_bf16(x[i]);
        memcpy(dst + 2 * i, &h, 2);
    }
}

/* ---- 32-element blocks: w = d * q + m --------------------------------------------------- */

typedef struct {
    int8_t q[32];
    float d, m;
} dec32;

static uint32_t q5_high_bits(const uint8_t qh[4]) { return ct_qk_load_u32(qh); }

static void decode_q4_0(const uint8_t *p, dec32 *o) {
    const block_q4_0 *b = (const block_q4_0 *)p;
    for (int j = 0; j < 16; j++) {
        o->q[j] = (int8_t)((b->qs[j] & 0xF) - 8);
        o->q[j + 16] = (int8_t)((b->qs[j] >> 4) - 8);
    }
    o->d = ct_fp16_to_fp32(b->d);
    o->m = 0.0f;
}

static void decode_q4_1(const uint8_t *p, dec32 *o) {
    const block_q4_1 *b = (const block_q4_1 *)p;
    for (int j = 0; j < 16; j++) {
        o->q[j] = (int8_t)(b->qs[j] & 0xF);
        o->q[j + 16] = (int8_t)(b->qs[j] >> 4);
    }
    o->d = ct_fp16_to_fp32(b->d);
    o->m = ct_fp16_to_fp32(b->m);
}

static void decode_q5_0(const uint8_t *p, dec32 *o) {
    const block_q5_0 *b = (const block_q5_0 *)p;
    const uint32_t h = q5_high_bits(b->qh);
    for (int j = 0; j < 16; j++) {
        o->q[j] = (int8_t)(((b->qs[j] & 0xF) | ((h >> j & 1) << 4)) - 16);
        o->q[j + 16] = (int8_t)(((b->qs[j] >> 4) | ((h >> (j + 16) & 1) << 4)) - 16);
    }
    o->d = ct_fp16_to_fp32(b->d);
    o->m = 0.0f;
}

static void decode_q5_1(const uint8_t *p, dec32 *o) {
    const block_q5_1 *b = (const block_q5_1 *)p;
    const uint32_t h = q5_high_bits(b->qh);
    for (int j = 0; j < 16; j++) {
        o->q[j] = (int8_t)((b->qs[j] & 0xF) | ((h >> j & 1) << 4));
        o->q[j + 16] = (int8_t)((b->qs[j] >> 4) | ((h >> (j + 16) & 1) << 4));
    }
    o->d = ct_fp16_to_fp32(b->d);
    o->m = ct_fp16_to_fp32(b->m);
}

static void decode_q8_0(const uint8_t *p, dec32 *o) {
    const block_q8_0 *b = (const block_q8_0 *)p;
    memcpy(o->q, b->qs, 32);
    o->d = ct_fp16_to_fp32(b->d);
    o->m = 0.0f;
}

typedef void (*decode32_fn)(const uint8_t *p, dec32 *o);

static float dot_32(decode32_fn decode, size_t block_bytes, const uint8_t *w, int64_t n, const uint8_t *act,
                    bool q16) {
    const ct_act_view a = ct_act_view_q8_32(act, n);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        dec32 blk;
        decode(w + (size_t)b * block_bytes, &blk);
        int32_t isum = 0; /* |isum| <= 32 * 255 * 32512 < 2^31 */
        for (int j = 0; j < 32; j++) isum += blk.q[j] * (q16 ? act_value(&a, 32 * b + j) : a.qs[32 * b + j]);
        acc += (blk.d * a.d[b]) * (float)isum + blk.m * a.s[b];
    }
    return acc;
}

/* ---- k-quants: w = d * sc[sub] * q - dmin * m[sub], 16 sub-blocks of 16 ------------------- */

typedef struct {
    int8_t q[256];
    int16_t sc[16];
    int16_t m[16];
    float d, dmin;
} dec256;

static void decode_q2_K(const uint8_t *p, dec256 *o) {
    const block_q2_K *b = (const block_q2_K *)p;
    for (int e = 0; e < 256; e++) {
        const int half = e / 128, pair = (e % 128) / 32, l = e % 32;
        o->q[e] = (int8_t)((b->qs[32 * half + l] >> (2 * pair)) & 3);
    }
    for (int s = 0; s < 16; s++) {
        o->sc[s] = (int16_t)(b->scales[s] & 0xF);
        o->m[s] = (int16_t)(b->scales[s] >> 4);
    }
    o->d = ct_fp16_to_fp32(b->d);
    o->dmin = ct_fp16_to_fp32(b->dmin);
}

static void decode_q3_K(const uint8_t *p, dec256 *o) {
    const block_q3_K *b = (const block_q3_K *)p;
    for (int e = 0; e < 256; e++) {
        const int half = e / 128, pair = (e % 128) / 32, l = e % 32;
        const int low = (b->qs[32 * half + l] >> (2 * pair)) & 3;
        const int high = (b->hmask[l] >> (e / 32)) & 1;
        o->q[e] = (int8_t)(low + 4 * high - 4);
    }
    int8_t sc[16];
    ct_qk_unpack_q3k_scales(b->scales, sc);
    for (int s = 0; s < 16; s++) {
        o->sc[s] = sc[s];
        o->m[s] = 0;
    }
    o->d = ct_fp16_to_fp32(b->d);
    o->dmin = 0.0f;
}

static void decode_q4_K(const uint8_t *p, dec256 *o) {
    const block_q4_K *b = (const block_q4_K *)p;
    for (int e = 0; e < 256; e++) {
        const int sub = e / 32, l = e % 32;
        o->q[e] = (int8_t)((b->qs[32 * (sub / 2) + l] >> (4 * (sub % 2))) & 0xF);
    }
    uint8_t sc[8], m[8];
    ct_qk_unpack_k4_scales(b->scales, sc, m);
    for (int s = 0; s < 16; s++) {
        o->sc[s] = sc[s / 2];
        o->m[s] = m[s / 2];
    }
    o->d = ct_fp16_to_fp32(b->d);
    o->dmin = ct_fp16_to_fp32(b->dmin);
}

static void decode_q5_K(const uint8_t *p, dec256 *o) {
    const block_q5_K *b = (const block_q5_K *)p;
    for (int e = 0; e < 256; e++) {
        const int sub = e / 32, l = e % 32;
        const int low = (b->qs[32 * (sub / 2) + l] >> (4 * (sub % 2))) & 0xF;
        o->q[e] = (int8_t)(low | (((b->qh[l] >> sub) & 1) << 4));
    }
    uint8_t sc[8], m[8];
    ct_qk_unpack_k4_scales(b->scales, sc, m);
    for (int s = 0; s < 16; s++) {
        o->sc[s] = sc[s / 2];
        o->m[s] = m[s / 2];
    }
    o->d = ct_fp16_to_fp32(b->d);
    o->dmin = ct_fp16_to_fp32(b->dmin);
}

static void decode_q6_K(const uint8_t *p, dec256 *o) {
    const block_q6_K *b = (const block_q6_K *)p;
    for (int e = 0; e < 256; e++) {
        const int h = e / 128, g = (e % 128) / 32, l = e % 32;
        const int low = (b->ql[64 * h + 32 * (g % 2) + l] >> (g < 2 ? 0 : 4)) & 0xF;
        const int high = (b->qh[32 * h + l] >> (2 * g)) & 3;
        o->q[e] = (int8_t)((low | (high << 4)) - 32);
    }
    for (int s = 0; s < 16; s++) {
        o->sc[s] = b->scales[s];
        o->m[s] = 0;
    }
    o->d = ct_fp16_to_fp32(b->d);
    o->dmin = 0.0f;
}

typedef void (*decode256_fn)(const uint8_t *p, dec256 *o);

static float dot_256(decode256_fn decode, size_t block_bytes, const uint8_t *w, int64_t n, const uint8_t *act,
                     bool q16) {
    const ct_act_view a = ct_act_view_q8_256(act, n);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        dec256 blk;
        decode(w + (size_t)b * block_bytes, &blk);
        /* 64-bit: at Q16 a sub-block sum reaches 16 * 63 * 32512 and a scale 128 more */
        int64_t isum = 0, msum = 0;
        for (int s = 0; s < 16; s++) {
            int64_t sub = 0;
            for (int j = 0; j < 16; j++) {
                const int64_t e = 256 * b + 16 * s + j;
                sub += blk.q[16 * s + j] * (int64_t)(q16 ? act_value(&a, e) : a.qs[e]);
            }
            const int64_t g = 16 * b + s;
            isum += blk.sc[s] * sub;
            msum += blk.m[s] * (int64_t)(q16 ? 256 * a.bsums[2 * g] + a.bsums[2 * g + 1] : a.bsums[2 * g]);
        }
        acc += (blk.d * a.d[b]) * (float)isum - (blk.dmin * a.d[b]) * (float)msum;
    }
    return acc;
}

/* ---- float weights ---------------------------------------------------------------------------- */

static float dot_f32(const uint8_t *w, int64_t n, const uint8_t *act) {
    const float *x = (const float *)act;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, w + 4 * i, 4);
        acc += v * x[i];
    }
    return acc;
}

static float dot_f16(const uint8_t *w, int64_t n, const uint8_t *act) {
    const float *x = (const float *)act;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, w + 2 * i, 2);
        acc += ct_fp16_to_fp32(h) * x[i];
    }
    return acc;
}

/* bf16 * bf16 is exact in float, so only the sum rounds. */
static float dot_bf16(const uint8_t *w, int64_t n, const uint8_t *act) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h, g;
        memcpy(&h, w + 2 * i, 2);
        memcpy(&g, act + 2 * i, 2);
        acc += ct_bf16_to_fp32(h) * ct_bf16_to_fp32(g);
    }
    return acc;
}

/* BF16 weights against f32 activations (the Q16 precision's format for them) */
static float dot_bf16_f32(const uint8_t *w, int64_t n, const uint8_t *act) {
    const float *x = (const float *)act;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, w + 2 * i, 2);
        acc += ct_bf16_to_fp32(h) * x[i];
    }
    return acc;
}

/* ---- matmuls --------------------------------------------------------------------------------- */

typedef float (*row_dot_fn)(const uint8_t *w, int64_t n, const uint8_t *act);

#define ROW_DOT_32(name, blk)                                                                 \
    static float row_dot_##name(const uint8_t *w, int64_t n, const uint8_t *act) {            \
        return dot_32(decode_##name, sizeof(blk), w, n, act, false);                          \
    }                                                                                         \
    static float row_dot16_##name(const uint8_t *w, int64_t n, const uint8_t *act) {          \
        return dot_32(decode_##name, sizeof(blk), w, n, act, true);                           \
    }
#define ROW_DOT_256(name, blk)                                                                \
    static float row_dot_##name(const uint8_t *w, int64_t n, const uint8_t *act) {            \
        return dot_256(decode_##name, sizeof(blk), w, n, act, false);                         \
    }                                                                                         \
    static float row_dot16_##name(const uint8_t *w, int64_t n, const uint8_t *act) {          \
        return dot_256(decode_##name, sizeof(blk), w, n, act, true);                          \
    }
ROW_DOT_32(q4_0, block_q4_0)
ROW_DOT_32(q4_1, block_q4_1)
ROW_DOT_32(q5_0, block_q5_0)
ROW_DOT_32(q5_1, block_q5_1)
ROW_DOT_32(q8_0, block_q8_0)
ROW_DOT_256(q2_K, block_q2_K)
ROW_DOT_256(q3_K, block_q3_K)
ROW_DOT_256(q4_K, block_q4_K)
ROW_DOT_256(q5_K, block_q5_K)
ROW_DOT_256(q6_K, block_q6_K)

static void matmul_rows(row_dot_fn dot, const uint8_t *w, size_t w_row_bytes, int64_t n, const uint8_t *act,
                        size_t act_row_bytes, int64_t n_tokens, float *out, size_t out_stride, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < n_tokens; t++)
            out[(size_t)t * out_stride + (size_t)r] = dot(w + (size_t)r * w_row_bytes, n, act + (size_t)t * act_row_bytes);
}

#define MATMUL_REF(name, dot)                                                                                    \
    static void matmul_##name##_ref(const uint8_t *w, size_t wb, int64_t n, const uint8_t *act, size_t ab,        \
                                    int64_t nt, float *out, size_t os, int64_t r0, int64_t r1, bool invariant) {  \
        (void)invariant; /* one dot per (row, token) whatever the token count */                                  \
        matmul_rows(dot, w, wb, n, act, ab, nt, out, os, r0, r1);                                                 \
    }
MATMUL_REF(q4_0, row_dot_q4_0)
MATMUL_REF(q4_1, row_dot_q4_1)
MATMUL_REF(q5_0, row_dot_q5_0)
MATMUL_REF(q5_1, row_dot_q5_1)
MATMUL_REF(q8_0, row_dot_q8_0)
MATMUL_REF(q2_K, row_dot_q2_K)
MATMUL_REF(q3_K, row_dot_q3_K)
MATMUL_REF(q4_K, row_dot_q4_K)
MATMUL_REF(q5_K, row_dot_q5_K)
MATMUL_REF(q6_K, row_dot_q6_K)
MATMUL_REF(q16_q4_0, row_dot16_q4_0)
MATMUL_REF(q16_q4_1, row_dot16_q4_1)
MATMUL_REF(q16_q5_0, row_dot16_q5_0)
MATMUL_REF(q16_q5_1, row_dot16_q5_1)
MATMUL_REF(q16_q8_0, row_dot16_q8_0)
MATMUL_REF(q16_q2_K, row_dot16_q2_K)
MATMUL_REF(q16_q3_K, row_dot16_q3_K)
MATMUL_REF(q16_q4_K, row_dot16_q4_K)
MATMUL_REF(q16_q5_K, row_dot16_q5_K)
MATMUL_REF(q16_q6_K, row_dot16_q6_K)
MATMUL_REF(f32, dot_f32)
MATMUL_REF(f16, dot_f16)
MATMUL_REF(bf16, dot_bf16)
MATMUL_REF(bf16_f32, dot_bf16_f32)

void ct_qk_fill_scalar(ct_qkernels *k) {
    k->quantize[CT_ACT_Q8_32] = quantize_q8_32_ref;
    k->quantize[CT_ACT_Q8_256] = quantize_q8_256_ref;
    k->quantize[CT_ACT_Q16_32] = quantize_q16_32_ref;
    k->quantize[CT_ACT_Q16_256] = quantize_q16_256_ref;
    k->quantize[CT_ACT_F32] = quantize_f32_ref;
    k->quantize[CT_ACT_BF16] = quantize_bf16_ref;
    const bool q16 = k->precision == CT_CPU_ACT_Q16;
    const struct {
        ct_type type;
        ct_qk_matmul_fn fn;
    } entries[] = {
        {CT_TYPE_Q4_0, q16 ? matmul_q16_q4_0_ref : matmul_q4_0_ref},
        {CT_TYPE_Q4_1, q16 ? matmul_q16_q4_1_ref : matmul_q4_1_ref},
        {CT_TYPE_Q5_0, q16 ? matmul_q16_q5_0_ref : matmul_q5_0_ref},
        {CT_TYPE_Q5_1, q16 ? matmul_q16_q5_1_ref : matmul_q5_1_ref},
        {CT_TYPE_Q8_0, q16 ? matmul_q16_q8_0_ref : matmul_q8_0_ref},
        {CT_TYPE_Q2_K, q16 ? matmul_q16_q2_K_ref : matmul_q2_K_ref},
        {CT_TYPE_Q3_K, q16 ? matmul_q16_q3_K_ref : matmul_q3_K_ref},
        {CT_TYPE_Q4_K, q16 ? matmul_q16_q4_K_ref : matmul_q4_K_ref},
        {CT_TYPE_Q5_K, q16 ? matmul_q16_q5_K_ref : matmul_q5_K_ref},
        {CT_TYPE_Q6_K, q16 ? matmul_q16_q6_K_ref : matmul_q6_K_ref},
        {CT_TYPE_F32, matmul_f32_ref},
        {CT_TYPE_F16, matmul_f16_ref},
        {CT_TYPE_BF16, q16 ? matmul_bf16_f32_ref : matmul_bf16_ref},
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        k->matmul[entries[i].type] = entries[i].fn;
        k->matmul_level[entries[i].type] = CT_CPU_SCALAR;
    }
}
