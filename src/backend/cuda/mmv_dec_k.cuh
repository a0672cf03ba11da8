/* Decoders for the 256-weight k-quant super-blocks (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K); bit
 * layouts as in src/quant/quant_q*_k.c. Four (Q4_K, Q5_K) or eight lanes share a
 * super-block, each taking a 64- or 32-weight unit whose columns come in 4-wide chunks
 * (one float4 of activations) and whose two groups are whole sub-blocks, so a lane decodes
 * each sub-block scale it needs once.
 *
 * Conventions as in mmv_dec_legacy.cuh: weight = alpha * (2 + q/64) + beta with
 * alpha = 64 * (sub-block scale), beta = -128 * scale - (sub-block min or offset). */
#ifndef CT_BACKEND_CUDA_MMV_DEC_K_CUH
#define CT_BACKEND_CUDA_MMV_DEC_K_CUH

#include "backend/cuda/mmv_common.cuh"

namespace ct_mmv {

/* Q2_K, Q3_K and Q6_K have 16 sub-blocks of 16 in two halves h of 128 elements; element
 * 128h + 32p + l (p = 0..3, l = 0..31) sits at byte l of a 32-byte run (in bit pair p, or a
 * nibble). Eight lanes share a block: unit sub = 4h + 2*half + k takes l = 16*half + 0..15
 * and p in {k, k + 2} (chunk j: p = k + 2j); its two groups are the sub-blocks
 * 8h + 2p + half. Step i is word i (l = 16*half + 4i ..). */
__device__ __forceinline__ int k16_h(int sub) { return sub >> 2; }
__device__ __forceinline__ int k16_half(int sub) { return (sub >> 1) & 1; }
__device__ __forceinline__ int k16_k(int sub) { return sub & 1; }
__device__ __forceinline__ int k16_col(int sub, int i, int j) {
    return 128 * k16_h(sub) + 32 * (k16_k(sub) + 2 * j) + 16 * k16_half(sub) + 4 * i;
}

/* scales[16] (4-bit scale | 4-bit min << 4), qs[64], d, dmin; x = d*sc*q - dmin*m;
 * qs[32h + l] holds element 128h + 32p + l in bit pair p. 84-byte blocks: 4-byte aligned. */
struct DecQ2_K {
    static constexpr int QK = 256, TS = 84, UPB = 8, BPS = 4, NG = 2, STEPS = 4, CPS = 2, ALIGN = 4;
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = true;
    static constexpr float BETA_K = 0.0f;
    __device__ static int col(int sub, int i, int j) { return k16_col(sub, i, j); }
    __device__ static constexpr int group(int j) { return j; }
    __device__ static void scales(const uint8_t *blk, int sub, float (&alpha)[NG], float (&beta)[NG]) {
        const uint32_t dd = lds32(blk + 80);
        const float d = half_bits_to_float(dd), dmin = half_bits_to_float(dd >> 16);
        const int byte = 8 * (2 * k16_k(sub) + k16_half(sub)); /* scales[8h + 2k + half + 4j] */
#pragma unroll
        for (int j = 0; j < NG; j++) {
            const uint32_t sc = lds32(blk + 8 * k16_h(sub) + 4 * j) >> byte;
            alpha[j] = 64.0f * d * __uint2float_rn(sc & 0xF);
            beta[j] = fmaf(-dmin, __uint2float_rn((sc >> 4) & 0xF), -2.0f * alpha[j]);
        }
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int sub, int i, int j) {
        const uint32_t x = lds32(blk + 16 + 32 * k16_h(sub) + 16 * k16_half(sub) + 4 * i) >> (2 * k16_k(sub));
        return (x >> (4 * j)) & 0x03030303u;
    }
};

/* hmask[32], qs[64], scales[12] (16 6-bit, stored +32), d; x = d*(sc-32)*(q-4), q = low
 * 2 bits (qs, as Q2_K) + 4 * high bit (hmask[l] bit 4h + p). 110-byte blocks: 2-byte
 * aligned. */
struct DecQ3_K {
    static constexpr int QK = 256, TS = 110, UPB = 8, BPS = 8, NG = 2, STEPS = 4, CPS = 2, ALIGN = 2;
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = -132.0f / 64.0f; /* beta = -128 D - 4 D */
    __device__ static int col(int sub, int i, int j) { return k16_col(sub, i, j); }
    __device__ static constexpr int group(int j) { return j; }
    __device__ static void scales(const uint8_t *blk, int sub, float (&alpha)[NG], float (&)[NG]) {
        const int h = k16_h(sub);
        const float d = half_bits_to_float(lds16(blk + 108));
        const uint32_t high_word = lds_a2(blk + 96, 2);
        const int byte = 8 * (2 * k16_k(sub) + k16_half(sub));
#pragma unroll
        for (int j = 0; j < NG; j++) {
            /* scale 8h + 2p + half (p = k + 2j): low 4 bits are nibble h of byte 2p + half
             * (word j, byte 2k + half); high 2 bits are bits 2(2h + j) of byte
             * 8 + (2p + half) % 4 = 8 + 2k + half */
            const uint32_t low = ((lds_a2(blk + 96, j) >> byte) >> (4 * h)) & 0xF;
            const uint32_t high = ((high_word >> byte) >> (2 * (2 * h + j))) & 3;
            alpha[j] = 64.0f * d * __int2float_rn(static_cast<int>(low | high << 4) - 32);
        }
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int sub, int i, int j) {
        const int h = k16_h(sub), half = k16_half(sub), k = k16_k(sub);
        const uint32_t low = (lds_a2(blk + 32 + 32 * h + 16 * half, i) >> (2 * k + 4 * j)) & 0x03030303u;
        /* bit 4h + p of each hmask byte, p = k + 2j, moved to bit 2 */
        const uint32_t hm = lds_a2(blk + 16 * half, i) >> (4 * h + k);
        return low | ((j == 0 ? hm << 2 : hm) & 0x04040404u);
    }
};

/* Q4_K and Q5_K share the header: d, dmin (f16), 12 bytes of 6-bit scales and mins.
 * Unit p (0..3) covers qs[32p .. 32p+31]: sub-block 2p in the low nibbles (columns
 * 64p + 0..31), sub-block 2p+1 in the high nibbles (64p + 32..63). Step i is the 16 bytes
 * qs[32p + 16i ..]; chunk j is word j/2 of it, low nibbles for even j. */
__device__ __forceinline__ void k4_scales(const uint8_t *blk, int p, float (&alpha)[2], float (&beta)[2]) {
    const uint4 hdr = lds128(blk); /* d | dmin << 16, scales[0..3], scales[4..7], scales[8..11] */
    const float d = half_bits_to_float(hdr.x), dmin = half_bits_to_float(hdr.x >> 16);
    /* bytes of sc/mn are the scales and mins of sub-blocks 4*(p/2) .. +3 */
    uint32_t sc, mn;
    if (p < 2) {
        sc = hdr.y & 0x3F3F3F3Fu;
        mn = hdr.z & 0x3F3F3F3Fu;
    } else {
        sc = (hdr.w & 0x0F0F0F0Fu) | ((hdr.y >> 2) & 0x30303030u);
        mn = ((hdr.w >> 4) & 0x0F0F0F0Fu) | ((hdr.z >> 2) & 0x30303030u);
    }
    const int shift = 16 * (p & 1);
#pragma unroll
    for (int g = 0; g < 2; g++) {
        alpha[g] = 64.0f * d * __uint2float_rn((sc >> (shift + 8 * g)) & 0xFF);
        beta[g] = fmaf(-dmin, __uint2float_rn((mn >> (shift + 8 * g)) & 0xFF), -2.0f * alpha[g]);
    }
}

/* d, dmin, scales[12], qs[128]; x = d*sc*q - dmin*m. 144-byte blocks: 16-byte aligned. */
struct DecQ4_K {
    static constexpr int QK = 256, TS = 144, UPB = 4, BPS = 8, NG = 2, STEPS = 2, CPS = 8, ALIGN = 16;
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = true;
    static constexpr float BETA_K = 0.0f;
    __device__ static int col(int sub, int i, int j) { return 64 * sub + 32 * (j & 1) + 16 * i + 4 * (j >> 1); }
    __device__ static constexpr int group(int j) { return j & 1; }
    __device__ static void scales(const uint8_t *blk, int sub, float (&alpha)[NG], float (&beta)[NG]) {
        k4_scales(blk, sub, alpha, beta);
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int sub, int i, int j) {
        const uint4 v = lds128(blk + 16 + 32 * sub + 16 * i);
        const uint32_t x = word_of(v, j >> 1);
        return ((j & 1) ? x >> 4 : x) & 0x0F0F0F0Fu;
    }
};

/* d, dmin, scales[12], qh[32], qs[128]; as Q4_K plus a fifth bit: qh[l] bit s belongs to
 * element 32s + l. 176-byte blocks: 16-byte aligned. */
struct DecQ5_K {
    static constexpr int QK = 256, TS = 176, UPB = 4, BPS = 8, NG = 2, STEPS = 2, CPS = 8, ALIGN = 16;
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = true;
    static constexpr float BETA_K = 0.0f;
    __device__ static int col(int sub, int i, int j) { return 64 * sub + 32 * (j & 1) + 16 * i + 4 * (j >> 1); }
    __device__ static constexpr int group(int j) { return j & 1; }
    __device__ static void scales(const uint8_t *blk, int sub, float (&alpha)[NG], float (&beta)[NG]) {
        k4_scales(blk, sub, alpha, beta);
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int sub, int i, int j) {
        const uint4 v = lds128(blk + 48 + 32 * sub + 16 * i);
        const uint4 hv = lds128(blk + 16 + 16 * i);
        const uint32_t x = word_of(v, j >> 1), qh = word_of(hv, j >> 1);
        const uint32_t fifth = ((qh >> (2 * sub + (j & 1))) & 0x01010101u) << 4;
        return (((j & 1) ? x >> 4 : x) & 0x0F0F0F0Fu) | fifth;
    }
};

/* ql[128], qh[64], scales[16] int8, d; x = d*sc*(q-32). Element 128h + 32p + l: low nibble
 * in ql[64h + 32(p%2) + l] (the high nibble for p >= 2), two high bits in qh[32h + l] at bit
 * pair p. Units as Q2_K: p in {k, k + 2} share one ql run (low, then high nibbles).
 * 210-byte blocks: 2-byte aligned. */
struct DecQ6_K {
    static constexpr int QK = 256, TS = 210, UPB = 8, BPS = 8, NG = 2, STEPS = 4, CPS = 2, ALIGN = 2;
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = -160.0f / 64.0f; /* beta = -128 D - 32 D */
    __device__ static int col(int sub, int i, int j) { return k16_col(sub, i, j); }
    __device__ static constexpr int group(int j) { return j; }
    __device__ static void scales(const uint8_t *blk, int sub, float (&alpha)[NG], float (&)[NG]) {
        const float d = half_bits_to_float(lds16(blk + 208));
        const int byte = 8 * (2 * k16_k(sub) + k16_half(sub)); /* scales[8h + 2k + half + 4j] */
#pragma unroll
        for (int j = 0; j < NG; j++) {
            const uint32_t sc = lds_a2(blk + 192 + 8 * k16_h(sub), j) >> byte;
            alpha[j] = 64.0f * d * __int2float_rn(static_cast<int8_t>(sc & 0xFF));
        }
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int sub, int i, int j) {
        const int h = k16_h(sub), half = k16_half(sub), k = k16_k(sub);
        const uint32_t ql = lds_a2(blk + 64 * h + 32 * k + 16 * half, i);
        const uint32_t qh = lds_a2(blk + 128 + 32 * h + 16 * half, i) >> (2 * k); /* pair p = k + 2j at bits 4j */
        return ((j ? ql >> 4 : ql) & 0x0F0F0F0Fu) | ((j ? qh : qh << 4) & 0x30303030u);
    }
};

} // namespace ct_mmv

#endif
