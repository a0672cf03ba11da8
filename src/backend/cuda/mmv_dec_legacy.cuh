/* Decoders for the 32-weight block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0); layouts as in
 * src/quant/quant_legacy.c: byte j of qs holds element j (low nibble) and j + 16 (high),
 * Q5 fifth bits are a little-endian 32-bit mask (bit j = element j).
 *
 * Each decoder gives, for a lane's unit, per (step i, chunk j) four levels for four
 * consecutive columns col(sub, i, j).. (a step is two words of qs: chunk j is word
 * 2i + j/2, low nibbles for even j), and per group g the (alpha, beta) with
 * weight = alpha * (2 + q/64) + beta (kOffset7), i.e. alpha = 64 * scale and
 * beta = (offset) - 128 * scale. Blocks sit in shared memory at their global alignment
 * mod 16 (ALIGN says what a row stride must be a multiple of for the reads used). */
#ifndef CT_BACKEND_CUDA_MMV_DEC_LEGACY_CUH
#define CT_BACKEND_CUDA_MMV_DEC_LEGACY_CUH

#include "backend/cuda/mmv_common.cuh"

namespace ct_mmv {

/* Four bits (h & 0xF) spread to bit 4 of each byte: bit k -> bit 8k + 4. The multiplier has
 * bits 4, 11, 18, 25, so bit k lands at k + 4 + 7m; only m = k reaches a kept position and
 * no two partial products overlap (no carries). */
__device__ __forceinline__ uint32_t spread4_to_bit4(uint32_t h) { return ((h & 0xFu) * 0x02040810u) & 0x10101010u; }

/* d (f16), qs[16]; x = d * (q - 8). Blocks are 2-byte aligned. */
struct DecQ4_0 {
    static constexpr int QK = 32, TS = 18, UPB = 1, BPS = 32, NG = 1, STEPS = 2, CPS = 4, ALIGN = 2;
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = -136.0f / 64.0f; /* beta = -128 d - 8 d */
    __device__ static int col(int, int i, int j) { return 8 * i + 4 * (j >> 1) + 16 * (j & 1); }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static void scales(const uint8_t *blk, int, float (&alpha)[NG], float (&)[NG]) {
        alpha[0] = 64.0f * half_bits_to_float(lds16(blk));
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int, int i, int j) {
        const uint32_t x = lds_a2(blk + 2, 2 * i + (j >> 1));
        return ((j & 1) ? x >> 4 : x) & 0x0F0F0F0Fu;
    }
};

/* d, m (f16), qs[16]; x = d * q + m. 20-byte blocks: 4-byte aligned. */
struct DecQ4_1 {
    static constexpr int QK = 32, TS = 20, UPB = 1, BPS = 32, NG = 1, STEPS = 2, CPS = 4, ALIGN = 4;
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = true;
    static constexpr float BETA_K = 0.0f;
    __device__ static int col(int, int i, int j) { return 8 * i + 4 * (j >> 1) + 16 * (j & 1); }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static void scales(const uint8_t *blk, int, float (&alpha)[NG], float (&beta)[NG]) {
        const uint32_t dm = lds32(blk);
        alpha[0] = 64.0f * half_bits_to_float(dm);
        beta[0] = fmaf(-2.0f, alpha[0], half_bits_to_float(dm >> 16));
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int, int i, int j) {
        const uint32_t x = lds32(blk + 4 + 4 * (2 * i + (j >> 1)));
        return ((j & 1) ? x >> 4 : x) & 0x0F0F0F0Fu;
    }
};

/* d (f16), qh[4], qs[16]; x = d * (q - 16). 22-byte blocks: 2-byte aligned. */
struct DecQ5_0 {
    static constexpr int QK = 32, TS = 22, UPB = 1, BPS = 32, NG = 1, STEPS = 2, CPS = 4, ALIGN = 2;
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = -144.0f / 64.0f; /* beta = -128 d - 16 d */
    __device__ static int col(int, int i, int j) { return 8 * i + 4 * (j >> 1) + 16 * (j & 1); }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static void scales(const uint8_t *blk, int, float (&alpha)[NG], float (&)[NG]) {
        alpha[0] = 64.0f * half_bits_to_float(lds16(blk));
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int, int i, int j) {
        const uint32_t qh = lds_a2(blk + 2, 0);    /* word 0 of the 20 bytes at blk + 2 */
        const int word = 2 * i + (j >> 1);
        const uint32_t x = lds_a2(blk + 2, 1 + word); /* qs words follow */
        return (((j & 1) ? x >> 4 : x) & 0x0F0F0F0Fu) | spread4_to_bit4(qh >> (4 * word + 16 * (j & 1)));
    }
};

/* d, m (f16), qh[4], qs[16]; x = d * q + m. 24-byte blocks: 8-byte aligned. */
struct DecQ5_1 {
    static constexpr int QK = 32, TS = 24, UPB = 1, BPS = 32, NG = 1, STEPS = 2, CPS = 4, ALIGN = 4;
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = true;
    static constexpr float BETA_K = 0.0f;
    __device__ static int col(int, int i, int j) { return 8 * i + 4 * (j >> 1) + 16 * (j & 1); }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static void scales(const uint8_t *blk, int, float (&alpha)[NG], float (&beta)[NG]) {
        const uint32_t dm = lds32(blk);
        alpha[0] = 64.0f * half_bits_to_float(dm);
        beta[0] = fmaf(-2.0f, alpha[0], half_bits_to_float(dm >> 16));
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int, int i, int j) {
        const uint32_t qh = lds32(blk + 4);
        const int word = 2 * i + (j >> 1);
        const uint32_t x = lds32(blk + 8 + 4 * word);
        return (((j & 1) ? x >> 4 : x) & 0x0F0F0F0Fu) | spread4_to_bit4(qh >> (4 * word + 16 * (j & 1)));
    }
};

/* d (f16), qs[32] int8; x = d * q. Two lanes per block (16 weights each) keep the unit's
 * registers small; 34-byte blocks: 2-byte aligned. */
struct DecQ8_0 {
    static constexpr int QK = 32, TS = 34, UPB = 2, BPS = 16, NG = 1, STEPS = 1, CPS = 4, ALIGN = 2;
    static constexpr Mode MODE = kExact8;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = 0.0f;
    __device__ static int col(int sub, int, int j) { return 16 * sub + 4 * j; }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static void scales(const uint8_t *blk, int, float (&alpha)[NG], float (&)[NG]) {
        alpha[0] = half_bits_to_float(lds16(blk));
    }
    __device__ static uint32_t qbytes(const uint8_t *blk, int sub, int, int j) {
        return lds_a2(blk + 2 + 16 * sub, j) ^ 0x80808080u;
    }
};

} // namespace ct_mmv

#endif
