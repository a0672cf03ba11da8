/* Internal to src/backend/cpu/kernels: activation row layouts, the per-level kernel table,
 * and the bit unpacking of packed sub-block scales that every level shares. */
#ifndef CT_BACKEND_CPU_KERNELS_QK_INTERNAL_H
#define CT_BACKEND_CPU_KERNELS_QK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/kernels/qkernels.h"
#include "quant/blocks.h"
#include "quant/fp16.h"

/* ---- activation formats ---------------------------------------------------------------
 * A row of n elements, 64-byte aligned, each array starting where the previous ends. The
 * 8-bit blocks come in two precisions with one layout (so one row stride serves both):
 *   Q8_32 / Q16_32:    int8 qs[n] | int8 ql[n] | float d[n/32] | float s[n/32]
 *   Q8_256 / Q16_256:  int8 qs[n] | int8 ql[n] | float d[n/256] | int16 bsums[2 * n/16]
 *   F32:               float x[n]
 *   BF16:              uint16 x[n]
 * Q8 (8-bit):  x ~= d * qs,  qs = round-to-nearest-even(x * 127/absmax) in [-127, 127],
 *              d = absmax/127; ql is zero.
 * Q16 (~15-bit, two int8 halves):  x ~= d * (256 qs + ql),  d = absmax/32512, with
 *              V = round-to-nearest-even(x * 32512/absmax) in [-32512, 32512],
 *              qs = floor((V + 128) / 256) in [-127, 127], ql = max(V - 256 qs, -127);
 *              |x - d (256 qs + ql)| <= 1.5 d (ql = -128 is moved to -127: one unit).
 * s = d * (sum of the block's values: qs for Q8, 256 qs + ql for Q16); bsums: for each 16
 * elements the pair (sum of their qs, sum of their ql), so that one vpmaddwd with the pairs
 * (m, 0) or (256 m, m) gives m * sum(qs) or m * sum(256 qs + ql). No quant is ever -128, so a product with any int8 or uint8
 * weight fits the 16-bit pair sums of vpmaddubsw. The kernels dot each weight block with qs
 * (and ql) exactly in integers: the Q16 halves are combined as 256 * dot(w, qs) + dot(w, ql). */
typedef enum ct_act_kind {
    CT_ACT_NONE = 0,
    CT_ACT_Q8_32,
    CT_ACT_Q8_256,
    CT_ACT_Q16_32,
    CT_ACT_Q16_256,
    CT_ACT_F32,
    CT_ACT_BF16,
    CT_ACT_KIND_COUNT
} ct_act_kind;

#define CT_QK_Q16_MAX 32512 /* 127 * 256 */

/* The activation format of a weight type at a precision. */
ct_act_kind ct_qk_act_kind(uint32_t weight_type, ct_cpu_act_precision precision);

typedef struct {
    const int8_t *qs;
    const int8_t *ql; /* Q16 low halves */
    const float *d;
    const float *s;   /* 32-blocks */
    const int16_t *bsums; /* 256-blocks: (qs, ql) sum pairs */
} ct_act_view;

static inline ct_act_view ct_act_view_q8_32(const void *row, int64_t n) {
    ct_act_view v = {0};
    v.qs = row;
    v.ql = v.qs + n;
    v.d = (const float *)((const uint8_t *)row + 2 * n);
    v.s = v.d + n / 32;
    return v;
}

static inline ct_act_view ct_act_view_q8_256(const void *row, int64_t n) {
    ct_act_view v = {0};
    v.qs = row;
    v.ql = v.qs + n;
    v.d = (const float *)((const uint8_t *)row + 2 * n);
    v.bsums = (const int16_t *)(v.d + n / 256);
    return v;
}

/* The quantizers' shared rounding, written so a SIMD version can match it bit for bit:
 * clamp to [-127, 127] first (a NaN becomes -127, as maxps(v, -127) does), then round to
 * nearest even by adding 1.5 * 2^23 (exact for |v| <= 2^22) and reading the low bits. */
static inline int32_t ct_qk_round_clamped(float v, float lim) {
    v = v > -lim ? v : -lim;
    v = v < lim ? v : lim;
    const float shifted = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

static inline int8_t ct_qk_round_q8(float v) { return (int8_t)ct_qk_round_clamped(v, 127.0f); }

/* Q16: one value v = x * 32512/absmax -> its two halves (see the format above) */
static inline void ct_qk_split_q16(float v, int8_t *hi, int8_t *lo) {
    const int32_t V = ct_qk_round_clamped(v, (float)CT_QK_Q16_MAX);
    const int32_t h = (V + 128) >> 8; /* arithmetic shift: floor */
    const int32_t l = V - 256 * h;
    *hi = (int8_t)h;
    *lo = (int8_t)(l < -127 ? -127 : l);
}

/* ---- kernel table ----------------------------------------------------------------------- */

/* out[t * out_stride + r] for r in [r0, r1), t in [0, n_tokens): one weight type's matmul.
 * w points at row 0; act at token 0's quantized row. invariant: every token takes the same
 * code path whatever n_tokens is (the matrix-matrix tiles, even for one token), so a token's
 * results do not depend on the other tokens of the call (batch invariance). */
typedef void (*ct_qk_matmul_fn)(const uint8_t *w, size_t w_row_bytes, int64_t n, const uint8_t *act,
                                size_t act_row_bytes, int64_t n_tokens, float *out, size_t out_stride, int64_t r0,
                                int64_t r1, bool invariant);
/* One activation row: x[n] -> dst in the format's layout. */
typedef void (*ct_qk_quantize_fn)(const float *x, int64_t n, uint8_t *dst);

struct ct_qkernels {
    ct_cpu_level level;
    ct_cpu_act_precision precision;
    ct_qk_matmul_fn matmul[CT_TYPE_COUNT_];
    ct_cpu_level matmul_level[CT_TYPE_COUNT_]; /* whose code matmul[type] is */
    ct_qk_quantize_fn quantize[CT_ACT_KIND_COUNT];
};

/* Each level overwrites the entries it has kernels for; a table is built by filling the
 * scalar entries first and then every level up to its own, each for k->precision. */
void ct_qk_fill_scalar(ct_qkernels *k);
void ct_qk_fill_avx2(ct_qkernels *k);
void ct_qk_fill_avx512(ct_qkernels *k);
void ct_qk_fill_avx512vnni(ct_qkernels *k, bool have_bf16);

/* ---- packed scales ----------------------------------------------------------------------- */

static inline uint32_t ct_qk_load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v; /* little-endian hosts only, like the whole CPU backend */
}

/* Q4_K / Q5_K: 12 bytes -> 8 six-bit scales and 8 mins as four little-endian words of
 * bytes: scales 0-3, scales 4-7, mins 0-3, mins 4-7 (sub-block order).
 * Bytes 0-3: scale j (low 6 bits) and the top 2 bits of scale j+4; bytes 4-7 the same for
 * mins; bytes 8-11: low nibble = low 4 bits of scale j+4, high nibble = of min j+4.
 * Words rather than byte arrays so SIMD code can move them into a vector directly
 * (byte-array round trips through memory stall on store forwarding). */
static inline void ct_qk_k4_scale_words(const uint8_t packed[12], uint32_t words[4]) {
    const uint32_t w0 = ct_qk_load_u32(packed), w1 = ct_qk_load_u32(packed + 4), w2 = ct_qk_load_u32(packed + 8);
    words[0] = w0 & 0x3f3f3f3fu;
    words[1] = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
    words[2] = w1 & 0x3f3f3f3fu;
    words[3] = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
}

static inline void ct_qk_unpack_k4_scales(const uint8_t packed[12], uint8_t sc[8], uint8_t m[8]) {
    uint32_t w[4];
    ct_qk_k4_scale_words(packed, w);
    memcpy(sc, w, 8);
    memcpy(m, w + 2, 8);
}

/* Q3_K: 12 bytes -> 16 six-bit scales, still biased by +32, as four words of bytes.
 * Scale j: low 4 bits in the nibbles of bytes 0-7 (j < 8: low nibble of byte j, else high
 * nibble of byte j-8), high 2 bits in byte 8 + j%4 at bit pair j/4. */
static inline void ct_qk_q3k_scale_words(const uint8_t packed[12], uint32_t words[4]) {
    const uint32_t w0 = ct_qk_load_u32(packed), w1 = ct_qk_load_u32(packed + 4), w2 = ct_qk_load_u32(packed + 8);
    words[0] = (w0 & 0x0f0f0f0fu) | ((w2 & 0x03030303u) << 4);
    words[1] = (w1 & 0x0f0f0f0fu) | (((w2 >> 2) & 0x03030303u) << 4);
    words[2] = ((w0 >> 4) & 0x0f0f0f0fu) | (((w2 >> 4) & 0x03030303u) << 4);
    words[3] = ((w1 >> 4) & 0x0f0f0f0fu) | (((w2 >> 6) & 0x03030303u) << 4);
}

static inline void ct_qk_unpack_q3k_scales(const uint8_t packed[12], int8_t sc[16]) {
    uint32_t w[4];
    uint8_t b[16];
    ct_qk_q3k_scale_words(packed, w);
    memcpy(b, w, 16);
    for (int j = 0; j < 16; j++) sc[j] = (int8_t)(b[j] - 32);
}

#endif
