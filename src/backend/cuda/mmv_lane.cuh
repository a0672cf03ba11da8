/* Lane decoders for the direct decode matrix-vector kernel (mmv_direct.cuh): T consecutive
 * lanes share one quantization block, lane s loading slice s of it straight from global
 * memory into registers (Raw) and decoding it there. Slices are chosen so that the T lanes
 * of a block read consecutive bytes, and their activations fall on few cache lines: the ring
 * kernel's decoders (mmv_dec_*.cuh) give each lane a different block, so every activation
 * load of a warp touched 32 lines (docs/perf.md, "second round").
 *
 * A decoder gives, for its slice s: C chunks of four weights, chunk c at block columns
 * col(s, c) .. +3 in group group(c) (one scale per group: NG groups per slice, their chunks
 * consecutive), the chunk's four levels (Mode of mmv_common.cuh: weight = alpha * (2 + q/64)
 * + beta for kOffset7, alpha * q for kExact8) and group g's (alpha, beta) (scale(); decoders
 * without a minimum leave beta, the kernel sets it to BETA_K * alpha). Layouts as in
 * src/quant/. MIN_BLOCKS bounds the registers of the one-token kernel (65536 / (128 x MIN_BLOCKS)
 * a thread): 8 (64 registers) where the R rows' raw slices fit, 5 (96) for the k-quants whose
 * slices take more (Q5_K, Q6_K: at 64 or 80 registers ptxas spills). */
#ifndef CT_BACKEND_CUDA_MMV_LANE_CUH
#define CT_BACKEND_CUDA_MMV_LANE_CUH

#include "backend/cuda/mmv_common.cuh"
#ifdef CT_MMV_HOST_EMULATION
#include <string.h>
#endif

namespace ct_mmv {

/* ---- streaming global loads: weights are read once, so they skip L1 (the activations,
 * read by every warp, stay there). Not volatile: the compiler may hoist and merge them. ---- */

#ifdef CT_MMV_HOST_EMULATION
__device__ __forceinline__ uint4 ldw128(const uint8_t *p) { uint4 v; memcpy(&v, p, 16); return v; }
__device__ __forceinline__ uint32_t ldw32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
__device__ __forceinline__ uint32_t ldw16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
#else
__device__ __forceinline__ uint4 ldw128(const uint8_t *p) {
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}
__device__ __forceinline__ uint32_t ldw32(const uint8_t *p) {
    uint32_t v;
    asm("ld.global.nc.L1::no_allocate.u32 %0, [%1];" : "=r"(v) : "l"(p));
    return v;
}
__device__ __forceinline__ uint32_t ldw16(const uint8_t *p) {
    unsigned short v;
    asm("ld.global.nc.L1::no_allocate.u16 %0, [%1];" : "=h"(v) : "l"(p));
    return v;
}
#endif

/* K words from p, which is only 2-byte aligned: K aligned words from p rounded down, and the
 * piece's last two bytes as a 16-bit load, so nothing past p + 4K is read (a piece may end
 * a block, or the matrix). */
template <int K>
__device__ __forceinline__ void ldw_words_a2(const uint8_t *p, uint32_t (&out)[K]) {
    const uint32_t misalign = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p)) & 2;
    const uint8_t *base = p - misalign;
    uint32_t a[K];
#pragma unroll
    for (int i = 0; i < K; i++) a[i] = ldw32(base + 4 * i);
    const uint32_t tail = ldw16(p + 4 * K - 2);
#pragma unroll
    for (int i = 0; i < K; i++) out[i] = misalign ? __funnelshift_r(a[i], i + 1 < K ? a[i + 1] : tail, 16) : a[i];
}

/* ---- 256-weight k-quants ------------------------------------------------------------------ */

/* The 6-bit scale and min of Q4_K/Q5_K sub-block 2j + g from the 16-byte header
 * (d | dmin << 16, scales[0..3], scales[4..7], scales[8..11]), as alpha = 64 d sc and
 * beta = -dmin m - 2 alpha. */
__device__ __forceinline__ void k4_scale(const uint4 &hdr, int j, int g, float &alpha, float &beta) {
    const float d64 = 64.0f * half_bits_to_float(hdr.x), dmin = half_bits_to_float(hdr.x >> 16);
    const uint32_t lo_sc = hdr.y & 0x3F3F3F3Fu, lo_mn = hdr.z & 0x3F3F3F3Fu;
    const uint32_t hi_sc = (hdr.w & 0x0F0F0F0Fu) | ((hdr.y >> 2) & 0x30303030u);
    const uint32_t hi_mn = ((hdr.w >> 4) & 0x0F0F0F0Fu) | ((hdr.z >> 2) & 0x30303030u);
    const uint32_t sc = j < 2 ? lo_sc : hi_sc, mn = j < 2 ? lo_mn : hi_mn;
    const int shift = 16 * (j & 1) + 8 * g;
    alpha = d64 * __uint2float_rn((sc >> shift) & 0xFF);
    beta = fmaf(-dmin, __uint2float_rn((mn >> shift) & 0xFF), -2.0f * alpha);
}

/* The integer path's group term (mmv_q16.cuh) of Q4_K/Q5_K sub-block 2j + g: with the levels
 * u = q, w = d sc u - dmin m, so sum w A = d (sc isum) - dmin (m asum), the products taken in
 * integers (sc, m <= 63: |sc isum| <= 63 x 31 x 32512 x 16 < 2^31). */
__device__ __forceinline__ float k4_q16_term(const uint4 &hdr, int j, int g, int isum, int asum) {
    const uint32_t lo_sc = hdr.y & 0x3F3F3F3Fu, lo_mn = hdr.z & 0x3F3F3F3Fu;
    const uint32_t hi_sc = (hdr.w & 0x0F0F0F0Fu) | ((hdr.y >> 2) & 0x30303030u);
    const uint32_t hi_mn = ((hdr.w >> 4) & 0x0F0F0F0Fu) | ((hdr.z >> 2) & 0x30303030u);
    const int shift = 16 * (j & 1) + 8 * g;
    const int sc = static_cast<int>(((j < 2 ? lo_sc : hi_sc) >> shift) & 0xFF);
    const int m = static_cast<int>(((j < 2 ? lo_mn : hi_mn) >> shift) & 0xFF);
    return fmaf(half_bits_to_float(hdr.x), static_cast<float>(sc * isum),
                -half_bits_to_float(hdr.x >> 16) * static_cast<float>(m * asum));
}

/* d, dmin, scales[12], qs[128] (144-byte blocks, 16-byte aligned). Eight lanes a block:
 * lane s takes qs[16s .. 16s+15], i.e. 32-byte group j = s/2 at offset p = 16(s%2): columns
 * 64j + p + 0..15 (low nibbles, sub-block 2j, group 0) and 64j + 32 + p + 0..15 (high, 2j+1). */
struct LaneQ4_K {
    static constexpr int QK = 256, TS = 144, T = 8, C = 8, NG = 2;
    static constexpr int MIN_BLOCKS = 8; /* one token: resident blocks of the direct kernel an SM must fit */
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = true;
    static constexpr float BETA_K = 0.0f;
    struct Raw {
        uint4 q, hdr;
    };
    __device__ static Raw load(const uint8_t *blk, int s) { return Raw{ldw128(blk + 16 + 16 * s), ldw128(blk)}; }
    __device__ static int col(int s, int c) { return 64 * (s >> 1) + 16 * (s & 1) + 32 * (c >> 2) + 4 * (c & 3); }
    __device__ static constexpr int group(int c) { return c >> 2; }
    __device__ static void scale(const Raw &r, int s, int g, float &alpha, float &beta) {
        k4_scale(r.hdr, s >> 1, g, alpha, beta);
    }
    __device__ static float q16_term(const Raw &r, int s, int g, int isum, int asum) {
        return k4_q16_term(r.hdr, s >> 1, g, isum, asum);
    }
    __device__ static uint32_t levels(const Raw &r, int, int c) {
        const uint32_t x = word_of(r.q, c & 3);
        return ((c >> 2) ? x >> 4 : x) & 0x0F0F0F0Fu;
    }
};

/* d, dmin, scales[12], qh[32], qs[128] (176-byte blocks, 16-byte aligned): as Q4_K plus a
 * fifth bit, qh[l] bit b for element 32b + l; lane s reads qh[p .. p+15]. */
struct LaneQ5_K {
    static constexpr int QK = 256, TS = 176, T = 8, C = 8, NG = 2;
    static constexpr int MIN_BLOCKS = 5; /* one token: resident blocks of the direct kernel an SM must fit */
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = true;
    static constexpr float BETA_K = 0.0f;
    struct Raw {
        uint4 q, qh, hdr;
    };
    __device__ static Raw load(const uint8_t *blk, int s) {
        return Raw{ldw128(blk + 48 + 16 * s), ldw128(blk + 16 + 16 * (s & 1)), ldw128(blk)};
    }
    __device__ static int col(int s, int c) { return LaneQ4_K::col(s, c); }
    __device__ static constexpr int group(int c) { return c >> 2; }
    __device__ static void scale(const Raw &r, int s, int g, float &alpha, float &beta) {
        k4_scale(r.hdr, s >> 1, g, alpha, beta);
    }
    __device__ static float q16_term(const Raw &r, int s, int g, int isum, int asum) {
        return k4_q16_term(r.hdr, s >> 1, g, isum, asum);
    }
    __device__ static uint32_t levels(const Raw &r, int s, int c) {
        const uint32_t x = word_of(r.q, c & 3), h = word_of(r.qh, c & 3);
        const int sub = 2 * (s >> 1) + (c >> 2);
        return (((c >> 2) ? x >> 4 : x) & 0x0F0F0F0Fu) | (((h >> sub) & 0x01010101u) << 4);
    }
};

/* ql[128], qh[64], scales[16] int8, d (210-byte blocks, 2-byte aligned); element
 * 128h + 32p + l has its low nibble in ql[64h + 32(p%2) + l] (high nibble for p >= 2), its
 * two high bits at bit pair p of qh[32h + l], scale scales[8h + 2p + l/16]. Eight lanes a
 * block: lane s takes h = s/4 and l = 8(s%4) + 0..7 for p = 0..3 (chunk c: p = c/2, four
 * columns 4(c%2) on), one group per p. */
struct LaneQ6_K {
    static constexpr int QK = 256, TS = 210, T = 8, C = 8, NG = 4;
    static constexpr int MIN_BLOCKS = 5; /* one token: resident blocks of the direct kernel an SM must fit */
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = -160.0f / 64.0f; /* beta = -128 D - 32 D */
    struct Raw {
        uint32_t a[2], b[2], h[2], sc[2], d;
    };
    __device__ static Raw load(const uint8_t *blk, int s) {
        const int h = s >> 2, l = 8 * (s & 3);
        Raw r;
        ldw_words_a2<2>(blk + 64 * h + l, r.a);
        ldw_words_a2<2>(blk + 64 * h + 32 + l, r.b);
        ldw_words_a2<2>(blk + 128 + 32 * h + l, r.h);
        ldw_words_a2<2>(blk + 192 + 8 * h, r.sc);
        r.d = ldw16(blk + 208);
        return r;
    }
    __device__ static int col(int s, int c) { return 128 * (s >> 2) + 32 * (c >> 1) + 8 * (s & 3) + 4 * (c & 1); }
    __device__ static constexpr int group(int c) { return c >> 1; }
    __device__ static void scale(const Raw &r, int s, int p, float &alpha, float &) {
        /* scales[8h + 2p + l/16]: byte 2p + l/16 of the eight loaded */
        const uint32_t word = r.sc[p >> 1] >> (16 * (p & 1) + 8 * ((s & 3) >> 1));
        alpha = 64.0f * half_bits_to_float(r.d) * __int2float_rn(static_cast<int8_t>(word & 0xFF));
    }
    /* w = d sc (u - 32): d (sc (isum - 32 asum)) in integers (|.| <= 128 x 32 x 32512 x 8 < 2^31) */
    __device__ static float q16_term(const Raw &r, int s, int p, int isum, int asum) {
        const uint32_t word = r.sc[p >> 1] >> (16 * (p & 1) + 8 * ((s & 3) >> 1));
        const int sc = static_cast<int8_t>(word & 0xFF);
        return half_bits_to_float(r.d) * static_cast<float>(sc * (isum - 32 * asum));
    }
    __device__ static uint32_t levels(const Raw &r, int, int c) {
        const int p = c >> 1, k = c & 1;
        const uint32_t ql = (p & 1) ? r.b[k] : r.a[k];
        return (((p >= 2) ? ql >> 4 : ql) & 0x0F0F0F0Fu) | (((r.h[k] >> (2 * p)) & 0x03030303u) << 4);
    }
};

/* ---- 32-weight blocks ---------------------------------------------------------------------- */

/* d (f16), qs[16] (18-byte blocks, 2-byte aligned): byte j holds element j (low nibble) and
 * j + 16. Four lanes a block: lane s takes qs[4s .. 4s+3], columns 4s (chunk 0) and 16 + 4s. */
struct LaneQ4_0 {
    static constexpr int QK = 32, TS = 18, T = 4, C = 2, NG = 1;
    static constexpr int MIN_BLOCKS = 8; /* one token: resident blocks of the direct kernel an SM must fit */
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = -136.0f / 64.0f; /* beta = -128 d - 8 d */
    struct Raw {
        uint32_t q[1], d;
    };
    __device__ static Raw load(const uint8_t *blk, int s) {
        Raw r;
        ldw_words_a2<1>(blk + 2 + 4 * s, r.q);
        r.d = ldw16(blk);
        return r;
    }
    __device__ static int col(int s, int c) { return 4 * s + 16 * c; }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static void scale(const Raw &r, int, int, float &alpha, float &) {
        alpha = 64.0f * half_bits_to_float(r.d);
    }
    /* w = d (u - 8) */
    __device__ static float q16_term(const Raw &r, int, int, int isum, int asum) {
        return half_bits_to_float(r.d) * static_cast<float>(isum - 8 * asum);
    }
    __device__ static uint32_t levels(const Raw &r, int, int c) { return (c ? r.q[0] >> 4 : r.q[0]) & 0x0F0F0F0Fu; }
};

/* d, m (f16), qs[16] (20-byte blocks, 4-byte aligned); as Q4_0 with x = d q + m. */
struct LaneQ4_1 {
    static constexpr int QK = 32, TS = 20, T = 4, C = 2, NG = 1;
    static constexpr int MIN_BLOCKS = 8; /* one token: resident blocks of the direct kernel an SM must fit */
    static constexpr Mode MODE = kOffset7;
    static constexpr bool HAS_MIN = true;
    static constexpr float BETA_K = 0.0f;
    struct Raw {
        uint32_t q, dm;
    };
    __device__ static Raw load(const uint8_t *blk, int s) { return Raw{ldw32(blk + 4 + 4 * s), ldw32(blk)}; }
    __device__ static int col(int s, int c) { return 4 * s + 16 * c; }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static void scale(const Raw &r, int, int, float &alpha, float &beta) {
        alpha = 64.0f * half_bits_to_float(r.dm);
        beta = fmaf(-2.0f, alpha, half_bits_to_float(r.dm >> 16));
    }
    /* w = d u + m */
    __device__ static float q16_term(const Raw &r, int, int, int isum, int asum) {
        return fmaf(half_bits_to_float(r.dm), static_cast<float>(isum),
                    half_bits_to_float(r.dm >> 16) * static_cast<float>(asum));
    }
    __device__ static uint32_t levels(const Raw &r, int, int c) { return (c ? r.q >> 4 : r.q) & 0x0F0F0F0Fu; }
};

/* d (f16), qs[32] int8 (34-byte blocks, 2-byte aligned); x = d q. Four lanes a block: lane s
 * takes qs[8s .. 8s+7], columns 8s .. 8s+7. */
struct LaneQ8_0 {
    static constexpr int QK = 32, TS = 34, T = 4, C = 2, NG = 1;
    static constexpr int MIN_BLOCKS = 8; /* one token: resident blocks of the direct kernel an SM must fit */
    static constexpr Mode MODE = kExact8;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = 0.0f;
    struct Raw {
        uint32_t q[2], d;
    };
    __device__ static Raw load(const uint8_t *blk, int s) {
        Raw r;
        ldw_words_a2<2>(blk + 2 + 8 * s, r.q);
        r.d = ldw16(blk);
        return r;
    }
    __device__ static int col(int s, int c) { return 8 * s + 4 * c; }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static void scale(const Raw &r, int, int, float &alpha, float &) {
        alpha = half_bits_to_float(r.d);
    }
    /* u = q + 128: w = d (u - 128) */
    __device__ static float q16_term(const Raw &r, int, int, int isum, int asum) {
        return half_bits_to_float(r.d) * static_cast<float>(isum - 128 * asum);
    }
    __device__ static uint32_t levels(const Raw &r, int, int c) { return r.q[c] ^ 0x80808080u; }
};

} // namespace ct_mmv

#endif
