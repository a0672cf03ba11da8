/* Device-side dequantization of GGUF weight rows, one header for every CUDA kernel that reads
 * weights (the F16 dequantize kernel of the cuBLAS path, the fused dequantize+MMA kernel,
 * get_rows).
 *
 *   ct_dq8<T>(row, k, v)  v[0..8) = elements k..k+7 of a row of type T (k a multiple of 8,
 *                         k + 8 <= the row's length); row points at a block boundary.
 *   ct_dq1<T>(row, k)     element k of a row of a plain type (F32, F16, BF16): for rows whose
 *                         length is not a multiple of 8 (quantized rows always are).
 *
 * Results are bit-identical to the CPU reference dequantizers (src/quant/): the same float
 * operations in the same order, written with __fmul_rn/__fadd_rn/__fsub_rn so that nvcc does
 * not contract them into FMAs (the reference is compiled as ISO C, where GCC does not
 * contract). Small integers become floats through the 2^23 trick (or-ing them into the
 * mantissa of 2^23 and subtracting): exact, and full rate where I2F is quarter rate.
 *
 * Loads use each block's natural alignment (ct_dq_traits<T>::align): blocks must start at
 * addresses with that alignment, which holds when the row data is 16-byte aligned and row
 * strides are whole blocks (GGUF layout), and also for copies of such rows that keep the
 * address modulo 16 (the fused kernel's shared-memory staging does). */
#ifndef CT_BACKEND_CUDA_DEQUANT_CUH
#define CT_BACKEND_CUDA_DEQUANT_CUH

#include <cuda_fp16.h>
#include <stddef.h>
#include <stdint.h>

#include "quant/blocks.h"

template <int T> struct ct_dq_traits;
/* block: elements per block (1 for plain types); bytes: bytes per block; align: alignment of a
 * block's start that the loads below rely on */
#define CT_DQ_TRAITS(T, BLOCK, BYTES, ALIGN)                      \
    template <> struct ct_dq_traits<T> {                          \
        static constexpr int block = BLOCK, bytes = BYTES, align = ALIGN; \
        static constexpr bool plain = BLOCK == 1;                 \
    }
CT_DQ_TRAITS(CT_TYPE_F32, 1, 4, 4);
CT_DQ_TRAITS(CT_TYPE_F16, 1, 2, 2);
CT_DQ_TRAITS(CT_TYPE_BF16, 1, 2, 2);
CT_DQ_TRAITS(CT_TYPE_Q4_0, QK4_0, sizeof(block_q4_0), 2);
CT_DQ_TRAITS(CT_TYPE_Q4_1, QK4_1, sizeof(block_q4_1), 4);
CT_DQ_TRAITS(CT_TYPE_Q5_0, QK5_0, sizeof(block_q5_0), 2);
CT_DQ_TRAITS(CT_TYPE_Q5_1, QK5_1, sizeof(block_q5_1), 8);
CT_DQ_TRAITS(CT_TYPE_Q8_0, QK8_0, sizeof(block_q8_0), 2);
CT_DQ_TRAITS(CT_TYPE_Q2_K, QK_K, sizeof(block_q2_K), 4);
CT_DQ_TRAITS(CT_TYPE_Q3_K, QK_K, sizeof(block_q3_K), 2);
CT_DQ_TRAITS(CT_TYPE_Q4_K, QK_K, sizeof(block_q4_K), 16);
CT_DQ_TRAITS(CT_TYPE_Q5_K, QK_K, sizeof(block_q5_K), 16);
CT_DQ_TRAITS(CT_TYPE_Q6_K, QK_K, sizeof(block_q6_K), 2);
#undef CT_DQ_TRAITS

/* Calls F<T>(args...) for a runtime type id; returns false for a type without traits. The
 * functor form keeps every per-type instantiation in one switch. */
#define CT_DQ_FOR_EACH_TYPE(X) \
    X(CT_TYPE_F32) X(CT_TYPE_F16) X(CT_TYPE_BF16) X(CT_TYPE_Q4_0) X(CT_TYPE_Q4_1) X(CT_TYPE_Q5_0) \
    X(CT_TYPE_Q5_1) X(CT_TYPE_Q8_0) X(CT_TYPE_Q2_K) X(CT_TYPE_Q3_K) X(CT_TYPE_Q4_K) X(CT_TYPE_Q5_K) X(CT_TYPE_Q6_K)

/* ---- loads of little-endian words at a known alignment --------------------------------- */

__device__ __forceinline__ uint32_t ct_ld_u16(const uint8_t *p) { return *reinterpret_cast<const uint16_t *>(p); }
__device__ __forceinline__ uint32_t ct_ld_u32(const uint8_t *p) { return *reinterpret_cast<const uint32_t *>(p); }
/* 4 bytes at a 2-aligned address */
__device__ __forceinline__ uint32_t ct_ld_u32_a2(const uint8_t *p) { return ct_ld_u16(p) | ct_ld_u16(p + 2) << 16; }
/* byte j of a 2-aligned array */
__device__ __forceinline__ uint32_t ct_ld_byte_a2(const uint8_t *p, int j) {
    return (ct_ld_u16(p + (j & ~1)) >> (8 * (j & 1))) & 0xFF;
}

__device__ __forceinline__ float ct_h2f(uint32_t bits) { return __half2float(__ushort_as_half((unsigned short)bits)); }

/* (float)u - off for 0 <= u < 2^23 and a small integer off: both steps exact */
__device__ __forceinline__ float ct_u2f_minus(uint32_t u, float off) {
    return __fsub_rn(__uint_as_float(0x4B000000u | u), 8388608.0f + off);
}
__device__ __forceinline__ float ct_u2f(uint32_t u) { return ct_u2f_minus(u, 0.0f); }

/* ---- the per-type dequantizers --------------------------------------------------------- */

template <int T> __device__ __forceinline__ void ct_dq8(const uint8_t *row, int k, float v[8]);
template <int T> __device__ __forceinline__ float ct_dq1(const uint8_t *row, int k);

template <> __device__ __forceinline__ float ct_dq1<CT_TYPE_F32>(const uint8_t *row, int k) {
    return reinterpret_cast<const float *>(row)[k];
}
template <> __device__ __forceinline__ float ct_dq1<CT_TYPE_F16>(const uint8_t *row, int k) {
    return ct_h2f(ct_ld_u16(row + 2 * k));
}
template <> __device__ __forceinline__ float ct_dq1<CT_TYPE_BF16>(const uint8_t *row, int k) {
    return __uint_as_float(ct_ld_u16(row + 2 * k) << 16);
}

template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_F32>(const uint8_t *row, int k, float v[8]) {
    const float *p = reinterpret_cast<const float *>(row) + k;
    if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
        const float4 a = reinterpret_cast<const float4 *>(p)[0], b = reinterpret_cast<const float4 *>(p)[1];
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = p[i];
    }
}

/* 8 consecutive 16-bit values at a 2-aligned address, as four little-endian pairs */
__device__ __forceinline__ void ct_ld_8x16(const uint8_t *p, uint32_t w[4]) {
    if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
        const uint4 q = *reinterpret_cast<const uint4 *>(p);
        w[0] = q.x, w[1] = q.y, w[2] = q.z, w[3] = q.w;
    } else if ((reinterpret_cast<uintptr_t>(p) & 3) == 0) {
#pragma unroll
        for (int i = 0; i < 4; i++) w[i] = ct_ld_u32(p + 4 * i);
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++) w[i] = ct_ld_u32_a2(p + 4 * i);
    }
}

template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_F16>(const uint8_t *row, int k, float v[8]) {
    uint32_t w[4];
    ct_ld_8x16(row + 2 * k, w);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        v[2 * i] = ct_h2f(w[i] & 0xFFFF);
        v[2 * i + 1] = ct_h2f(w[i] >> 16);
    }
}

template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_BF16>(const uint8_t *row, int k, float v[8]) {
    uint32_t w[4];
    ct_ld_8x16(row + 2 * k, w);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        v[2 * i] = __uint_as_float(w[i] << 16);
        v[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
    }
}

/* Q4_0: x = d*(q-8); element j < 16 is the low nibble of qs[j], element j+16 its high nibble.
 * Group g (elements 8g..8g+7) reads qs[8*(g&1) ..] at nibble 4*(g>>1). */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q4_0>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK4_0) * sizeof(block_q4_0);
    const int g = (k % QK4_0) / 8;
    const float d = ct_h2f(ct_ld_u16(b));
    const uint8_t *qs = b + 2 + 8 * (g & 1);
    const uint32_t q[2] = {ct_ld_u32_a2(qs), ct_ld_u32_a2(qs + 4)};
    const int sh = 4 * (g >> 1);
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = __fmul_rn(ct_u2f_minus((q[i / 4] >> (8 * (i % 4) + sh)) & 0xF, 8.0f), d);
}

/* Q4_1: x = d*q + m, nibbles as Q4_0 */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q4_1>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK4_1) * sizeof(block_q4_1);
    const int g = (k % QK4_1) / 8;
    const uint32_t dm = ct_ld_u32(b);
    const float d = ct_h2f(dm & 0xFFFF), m = ct_h2f(dm >> 16);
    const uint8_t *qs = b + 4 + 8 * (g & 1);
    const uint32_t q[2] = {ct_ld_u32(qs), ct_ld_u32(qs + 4)};
    const int sh = 4 * (g >> 1);
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = __fadd_rn(__fmul_rn(ct_u2f((q[i / 4] >> (8 * (i % 4) + sh)) & 0xF), d), m);
}

/* Q5_0: x = d*(q-16); low 4 bits as Q4_0, bit 4 of element e is bit e of the qh word */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q5_0>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK5_0) * sizeof(block_q5_0);
    const int g = (k % QK5_0) / 8;
    const float d = ct_h2f(ct_ld_u16(b));
    const uint32_t high = ct_ld_u32_a2(b + 2) >> (8 * g);
    const uint8_t *qs = b + 6 + 8 * (g & 1);
    const uint32_t q[2] = {ct_ld_u32_a2(qs), ct_ld_u32_a2(qs + 4)};
    const int sh = 4 * (g >> 1);
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t qi = ((q[i / 4] >> (8 * (i % 4) + sh)) & 0xF) | ((high >> i) & 1) << 4;
        v[i] = __fmul_rn(ct_u2f_minus(qi, 16.0f), d);
    }
}

/* Q5_1: x = d*q + m, 5-bit q as Q5_0 */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q5_1>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK5_1) * sizeof(block_q5_1);
    const int g = (k % QK5_1) / 8;
    const uint32_t dm = ct_ld_u32(b);
    const float d = ct_h2f(dm & 0xFFFF), m = ct_h2f(dm >> 16);
    const uint32_t high = ct_ld_u32(b + 4) >> (8 * g);
    const uint8_t *qs = b + 8 + 8 * (g & 1);
    const uint32_t q[2] = {ct_ld_u32(qs), ct_ld_u32(qs + 4)};
    const int sh = 4 * (g >> 1);
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t qi = ((q[i / 4] >> (8 * (i % 4) + sh)) & 0xF) | ((high >> i) & 1) << 4;
        v[i] = __fadd_rn(__fmul_rn(ct_u2f(qi), d), m);
    }
}

/* Q8_0: x = d*q, q signed bytes */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q8_0>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK8_0) * sizeof(block_q8_0);
    const int g = (k % QK8_0) / 8;
    const float d = ct_h2f(ct_ld_u16(b));
    const uint8_t *qs = b + 2 + 8 * g;
    const uint32_t q[2] = {ct_ld_u32_a2(qs), ct_ld_u32_a2(qs + 4)};
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t biased = ((q[i / 4] >> (8 * (i % 4))) & 0xFF) ^ 0x80; /* q + 128 */
        v[i] = __fmul_rn(ct_u2f_minus(biased, 128.0f), d);
    }
}

/* k-quants with 16-element sub-blocks (Q2_K, Q3_K, Q6_K): element e of a super-block is in
 * sub-block e/16; its quant byte is at offset 16*(sub%2) + e%16 of the 32-byte run of its
 * half (sub/8), at bit pair (sub%8)/2. Group g (8 elements) lies in sub-block g/2. */

/* Q2_K: x = d*(sc&15)*q - dmin*(sc>>4) */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q2_K>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK_K) * sizeof(block_q2_K);
    const int g = (k % QK_K) / 8, sub = g / 2;
    const int half = sub / 8, pair = (sub % 8) / 2, l = 16 * (sub % 2) + 8 * (g % 2);
    const uint32_t sc = (ct_ld_u32(b + (sub & ~3)) >> (8 * (sub & 3))) & 0xFF;
    const uint32_t dd = ct_ld_u32(b + offsetof(block_q2_K, d)); /* d, dmin */
    const float dl = __fmul_rn(ct_h2f(dd & 0xFFFF), ct_u2f(sc & 0xF));
    const float ml = __fmul_rn(ct_h2f(dd >> 16), ct_u2f(sc >> 4));
    const uint8_t *qs = b + offsetof(block_q2_K, qs) + 32 * half + l;
    const uint32_t q[2] = {ct_ld_u32(qs), ct_ld_u32(qs + 4)};
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t qi = (q[i / 4] >> (8 * (i % 4) + 2 * pair)) & 3;
        v[i] = __fsub_rn(__fmul_rn(dl, ct_u2f(qi)), ml);
    }
}

/* Q3_K: x = d*(sc-32)*(q - (h ? 0 : 4)); h is bit sub/2 of hmask[l]; sc 6 bits: low 4 in the
 * nibbles of scales[0..8), high 2 in scales[8..12) */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q3_K>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK_K) * sizeof(block_q3_K);
    const int g = (k % QK_K) / 8, sub = g / 2;
    const int half = sub / 8, pair = (sub % 8) / 2, l = 16 * (sub % 2) + 8 * (g % 2);
    const uint8_t *s = b + offsetof(block_q3_K, scales);
    const uint32_t low = sub < 8 ? ct_ld_byte_a2(s, sub) & 0xF : ct_ld_byte_a2(s, sub - 8) >> 4;
    const uint32_t high = (ct_ld_byte_a2(s, 8 + sub % 4) >> (2 * (sub / 4))) & 3;
    const float d_all = ct_h2f(ct_ld_u16(b + offsetof(block_q3_K, d)));
    const float dl = __fmul_rn(d_all, ct_u2f_minus(low | high << 4, 32.0f));
    const uint8_t *qs = b + offsetof(block_q3_K, qs) + 32 * half + l;
    const uint8_t *hm = b + offsetof(block_q3_K, hmask) + l;
    const uint32_t q[2] = {ct_ld_u32_a2(qs), ct_ld_u32_a2(qs + 4)};
    const uint32_t h[2] = {ct_ld_u32_a2(hm), ct_ld_u32_a2(hm + 4)};
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t lo = (q[i / 4] >> (8 * (i % 4) + 2 * pair)) & 3;
        const uint32_t hi = (h[i / 4] >> (8 * (i % 4) + sub / 2)) & 1;
        /* lo - (hi ? 0 : 4) = (lo + 4*hi) - 4 */
        v[i] = __fmul_rn(dl, ct_u2f_minus(lo + 4 * hi, 4.0f));
    }
}

/* the 6-bit scale and min of sub-block j of Q4_K/Q5_K from the 12 packed bytes (as 3 words) */
__device__ __forceinline__ void ct_dq_scale_min_k4(const uint32_t s[3], int j, uint32_t *sc, uint32_t *m) {
    /* selects rather than s[i / 4]: a runtime index would put s in local memory */
    auto byte = [&](int i) { return ((i < 4 ? s[0] : i < 8 ? s[1] : s[2]) >> (8 * (i % 4))) & 0xFF; };
    if (j < 4) {
        *sc = byte(j) & 63;
        *m = byte(j + 4) & 63;
    } else {
        *sc = (byte(j + 4) & 0xF) | ((byte(j - 4) >> 6) << 4);
        *m = (byte(j + 4) >> 4) | ((byte(j) >> 6) << 4);
    }
}

/* Q4_K: x = d*sc*q - dmin*m; 32-element sub-blocks; qs[32*(sub/2) + l] holds element
 * 32*sub + l in its low (sub even) or high (sub odd) nibble. Group g lies in sub-block g/4. */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q4_K>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK_K) * sizeof(block_q4_K);
    const int g = (k % QK_K) / 8, sub = g / 4, l = 8 * (g % 4);
    const uint32_t dd = ct_ld_u32(b);
    const uint32_t s[3] = {ct_ld_u32(b + 4), ct_ld_u32(b + 8), ct_ld_u32(b + 12)};
    uint32_t sc, m;
    ct_dq_scale_min_k4(s, sub, &sc, &m);
    const float d1 = __fmul_rn(ct_h2f(dd & 0xFFFF), ct_u2f(sc));
    const float m1 = __fmul_rn(ct_h2f(dd >> 16), ct_u2f(m));
    const uint2 q = *reinterpret_cast<const uint2 *>(b + offsetof(block_q4_K, qs) + 32 * (sub / 2) + l);
    const int sh = 4 * (sub % 2);
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t qi = ((i < 4 ? q.x : q.y) >> (8 * (i % 4) + sh)) & 0xF;
        v[i] = __fsub_rn(__fmul_rn(d1, ct_u2f(qi)), m1);
    }
}

/* Q5_K: Q4_K plus a fifth bit: bit sub of qh[l] */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q5_K>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK_K) * sizeof(block_q5_K);
    const int g = (k % QK_K) / 8, sub = g / 4, l = 8 * (g % 4);
    const uint32_t dd = ct_ld_u32(b);
    const uint32_t s[3] = {ct_ld_u32(b + 4), ct_ld_u32(b + 8), ct_ld_u32(b + 12)};
    uint32_t sc, m;
    ct_dq_scale_min_k4(s, sub, &sc, &m);
    const float d1 = __fmul_rn(ct_h2f(dd & 0xFFFF), ct_u2f(sc));
    const float m1 = __fmul_rn(ct_h2f(dd >> 16), ct_u2f(m));
    const uint2 q = *reinterpret_cast<const uint2 *>(b + offsetof(block_q5_K, qs) + 32 * (sub / 2) + l);
    const uint2 h = *reinterpret_cast<const uint2 *>(b + offsetof(block_q5_K, qh) + l);
    const int sh = 4 * (sub % 2);
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t lo = ((i < 4 ? q.x : q.y) >> (8 * (i % 4) + sh)) & 0xF;
        const uint32_t hi = ((i < 4 ? h.x : h.y) >> (8 * (i % 4) + sub)) & 1;
        v[i] = __fsub_rn(__fmul_rn(d1, ct_u2f(lo + 16 * hi)), m1);
    }
}

/* Q6_K: x = d*sc*(q-32); element 128*h + 32*gg + l: low nibble in ql[64*h + 32*(gg%2) + l]
 * (high nibble for gg >= 2), top 2 bits in qh[32*h + l] at bit pair gg; sub-block scales are
 * signed bytes */
template <> __device__ __forceinline__ void ct_dq8<CT_TYPE_Q6_K>(const uint8_t *row, int k, float v[8]) {
    const uint8_t *b = row + (k / QK_K) * sizeof(block_q6_K);
    const int g = (k % QK_K) / 8, sub = g / 2;
    const int h = sub / 8, gg = (sub % 8) / 2, l = 16 * (sub % 2) + 8 * (g % 2);
    const int sc = (int8_t)ct_ld_byte_a2(b + offsetof(block_q6_K, scales), sub);
    const float d = ct_h2f(ct_ld_u16(b + offsetof(block_q6_K, d)));
    const float dl = __fmul_rn(d, ct_u2f_minus((uint32_t)(sc + 128), 128.0f));
    const uint8_t *ql = b + offsetof(block_q6_K, ql) + 64 * h + 32 * (gg % 2) + l;
    const uint8_t *qh = b + offsetof(block_q6_K, qh) + 32 * h + l;
    const uint32_t q[2] = {ct_ld_u32_a2(ql), ct_ld_u32_a2(ql + 4)};
    const uint32_t hb[2] = {ct_ld_u32_a2(qh), ct_ld_u32_a2(qh + 4)};
    const int ns = gg < 2 ? 0 : 4;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t lo = (q[i / 4] >> (8 * (i % 4) + ns)) & 0xF;
        const uint32_t hi = (hb[i / 4] >> (8 * (i % 4) + 2 * gg)) & 3;
        v[i] = __fmul_rn(dl, ct_u2f_minus(lo | hi << 4, 32.0f));
    }
}

/* 8 floats to 8 halves (round to nearest even), as a 16-byte vector */
__device__ __forceinline__ uint4 ct_pack_half8(const float v[8]) {
    uint4 r;
    uint32_t *w = reinterpret_cast<uint32_t *>(&r);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const __half2 h = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
        w[i] = *reinterpret_cast<const uint32_t *>(&h);
    }
    return r;
}

/* Group k..k+7 of a row of n elements, with elements >= n as 0 (only plain types have rows
 * whose length is not a multiple of 8). */
template <int T> __device__ __forceinline__ void ct_dq8_tail(const uint8_t *row, int k, int n, float v[8]) {
    if (k + 8 <= n) {
        ct_dq8<T>(row, k, v);
        return;
    }
    if constexpr (ct_dq_traits<T>::plain) {
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = k + i < n ? ct_dq1<T>(row, k + i) : 0.0f;
    } else {
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = 0.0f;
    }
}

#endif
