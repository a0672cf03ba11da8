/* The per-lane work of the decode matrix-vector kernel (mmv_kernel.cuh): one unit (a
 * fixed slice of one quantization block) of R weight rows against N tokens, from the
 * blocks' bytes in shared memory. Kept apart from the kernel so it has no CUDA-only
 * machinery (async copies, warp barriers) and a CPU harness can run it as is.
 *
 *   per 4-column chunk: N float4 activations, loaded once and used for all R rows;
 *   weights: level -> float with one PRMT (2 + q/64, mmv_common.cuh), scaled per group;
 *   N <= 2: per group, sum((2 + q/64) x) per row and sum(x) are kept and combined once
 *           (alpha * sum + beta * sum_x): one FFMA per weight and token;
 *   N >= 3: each weight is dequantized once (fma(f, alpha, beta)) and used N times. */
#ifndef CT_BACKEND_CUDA_MMV_UNIT_CUH
#define CT_BACKEND_CUDA_MMV_UNIT_CUH

#include "backend/cuda/mmv_common.cuh"

namespace ct_mmv {

/* Four levels of one chunk as floats (kOffset7: 2 + q/64, kExact8: the exact q). */
template <Mode M>
__device__ __forceinline__ void levels_to_float(uint32_t q, float (&f)[4]) {
    if constexpr (M == kOffset7) {
        f[0] = level7_to_float<0>(q);
        f[1] = level7_to_float<1>(q);
        f[2] = level7_to_float<2>(q);
        f[3] = level7_to_float<3>(q);
    } else {
        f[0] = level8_to_float<0>(q);
        f[1] = level8_to_float<1>(q);
        f[2] = level8_to_float<2>(q);
        f[3] = level8_to_float<3>(q);
    }
}

/* One unit (slice sub of a block whose first column is col0) of the R rows at blk[r]. */
template <class D, int N, int R>
__device__ __forceinline__ void mmv_unit(const uint8_t *const (&blk)[R], int sub, const float *x,
                                         int64_t x_stride, int col0, float (&acc)[R][N]) {
    constexpr int NG = D::NG;
    constexpr bool kGroupSums = D::MODE != kDirect && N <= 2;
    float alpha[R][NG], beta[R][NG];
    if constexpr (D::MODE != kDirect) {
#pragma unroll
        for (int r = 0; r < R; r++) D::scales(blk[r], sub, alpha[r], beta[r]);
        if constexpr (!D::HAS_MIN) {
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int g = 0; g < NG; g++) beta[r][g] = D::BETA_K * alpha[r][g];
        }
    }
    /* kGroupSums only: per group sum of level * x (per row) and of x (shared by the rows) */
    float gsum[kGroupSums ? R : 1][kGroupSums ? NG : 1][N];
    float xsum[kGroupSums ? NG : 1][N];
    if constexpr (kGroupSums) {
#pragma unroll
        for (int g = 0; g < NG; g++)
#pragma unroll
            for (int t = 0; t < N; t++) {
                xsum[g][t] = 0.0f;
#pragma unroll
                for (int r = 0; r < R; r++) gsum[r][g][t] = 0.0f;
            }
    }

    /* Steps stay a loop: unrolled, the compiler hoists every step's loads and runs out of
     * registers; one step (CPS chunks x R rows) is plenty of independent work. */
#pragma unroll 1
    for (int i = 0; i < D::STEPS; i++) {
#pragma unroll
        for (int j = 0; j < D::CPS; j++) {
            const int g = D::group(j);
            const int c = col0 + D::col(sub, i, j);
            float4 a[N];
#pragma unroll
            for (int t = 0; t < N; t++) a[t] = ldg_float4(x + t * x_stride + c);
            if constexpr (kGroupSums && D::MODE == kOffset7) {
#pragma unroll
                for (int t = 0; t < N; t++) xsum[g][t] += (a[t].x + a[t].y) + (a[t].z + a[t].w);
            }
#pragma unroll
            for (int r = 0; r < R; r++) {
                float w[4];
                if constexpr (D::MODE == kDirect) {
                    const float4 v = D::values(blk[r], sub, i, j);
                    w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
                } else {
                    levels_to_float<D::MODE>(D::qbytes(blk[r], sub, i, j), w);
                }
                if constexpr (kGroupSums) {
#pragma unroll
                    for (int t = 0; t < N; t++) {
                        float s = gsum[r][g][t];
                        s = fmaf(w[0], a[t].x, s);
                        s = fmaf(w[1], a[t].y, s);
                        s = fmaf(w[2], a[t].z, s);
                        s = fmaf(w[3], a[t].w, s);
                        gsum[r][g][t] = s;
                    }
                } else {
                    if constexpr (D::MODE != kDirect) {
#pragma unroll
                        for (int k = 0; k < 4; k++)
                            w[k] = D::MODE == kOffset7 ? fmaf(w[k], alpha[r][g], beta[r][g]) : w[k] * alpha[r][g];
                    }
#pragma unroll
                    for (int t = 0; t < N; t++) {
                        float s = acc[r][t];
                        s = fmaf(w[0], a[t].x, s);
                        s = fmaf(w[1], a[t].y, s);
                        s = fmaf(w[2], a[t].z, s);
                        s = fmaf(w[3], a[t].w, s);
                        acc[r][t] = s;
                    }
                }
            }
        }
    }

    if constexpr (kGroupSums) {
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int g = 0; g < NG; g++)
#pragma unroll
                for (int t = 0; t < N; t++) {
                    /* alpha * sum((2 + q/64) x) + beta * sum(x) = sum((alpha (2 + q/64) + beta) x);
                     * kExact8 levels are exact q: alpha * sum(q x) */
                    const float term = D::MODE == kOffset7 ? fmaf(alpha[r][g], gsum[r][g][t], beta[r][g] * xsum[g][t])
                                                           : alpha[r][g] * gsum[r][g][t];
                    acc[r][t] += term;
                }
    }
}

/* The first chunk of a unit's step that belongs to group g (every group has one). */
template <class D>
__device__ constexpr int first_chunk_of_group(int g) {
    for (int j = 0; j < D::CPS; j++)
        if (D::group(j) == g) return j;
    return 0;
}

/* The same unit against int16 activations (Params::xq, scales Params::xd per 32 columns; a
 * group's columns lie inside one 32-column block). Per group and token the exact integer
 * sums S = sum(q * xq) and X = sum(xq) (dp2a: 2 x (int16 x int8) per instruction) are scaled
 * once: weight = alpha/64 * q + (2 alpha + beta) for kOffset7, alpha * q for kExact8, so the
 * group adds dx * (alpha/64 * S + (2 alpha + beta) * X), or dx * alpha * S. No overflow:
 * a group has at most 32 columns, |q| <= 128 and |xq| <= 32767, |S| < 2^28. */
template <class D, int N, int R>
__device__ __forceinline__ void mmv_unit_int(const uint8_t *const (&blk)[R], int sub, const Params &p, int col0,
                                             float (&acc)[R][N]) {
    static_assert(D::MODE != kDirect, "the int16 path is for quantized weights");
    constexpr int NG = D::NG;
    constexpr bool kOffset = D::MODE == kOffset7;
    float alpha[R][NG], beta[R][NG];
#pragma unroll
    for (int r = 0; r < R; r++) {
        D::scales(blk[r], sub, alpha[r], beta[r]);
        if constexpr (!D::HAS_MIN) {
#pragma unroll
            for (int g = 0; g < NG; g++) beta[r][g] = D::BETA_K * alpha[r][g];
        }
    }
    int isum[R][NG][N];
    int xsum[kOffset ? NG : 1][N];
#pragma unroll
    for (int g = 0; g < NG; g++)
#pragma unroll
        for (int t = 0; t < N; t++) {
            if constexpr (kOffset) xsum[g][t] = 0;
#pragma unroll
            for (int r = 0; r < R; r++) isum[r][g][t] = 0;
        }

#pragma unroll
    for (int i = 0; i < D::STEPS; i++) {
#pragma unroll
        for (int j = 0; j < D::CPS; j++) {
            const int g = D::group(j);
            const int c = col0 + D::col(sub, i, j);
            int2 a[N]; /* columns c, c+1 | c+2, c+3 as int16 pairs */
#pragma unroll
            for (int t = 0; t < N; t++) a[t] = __ldg(reinterpret_cast<const int2 *>(p.xq + t * p.xq_stride + c));
            if constexpr (kOffset) {
#pragma unroll
                for (int t = 0; t < N; t++)
                    xsum[g][t] = __dp2a_hi(a[t].y, 0x01010101, __dp2a_lo(a[t].x, 0x01010101, xsum[g][t]));
            }
#pragma unroll
            for (int r = 0; r < R; r++) {
                uint32_t q = D::qbytes(blk[r], sub, i, j);
                if constexpr (!kOffset) q ^= 0x80808080u; /* kExact8 stores level + 128: back to int8 */
#pragma unroll
                for (int t = 0; t < N; t++)
                    isum[r][g][t] = __dp2a_hi(a[t].y, static_cast<int>(q),
                                              __dp2a_lo(a[t].x, static_cast<int>(q), isum[r][g][t]));
            }
        }
    }

#pragma unroll
    for (int g = 0; g < NG; g++) {
        const int c = col0 + D::col(sub, 0, first_chunk_of_group<D>(g));
#pragma unroll
        for (int t = 0; t < N; t++) {
            const float dx = __ldg(p.xd + t * p.xd_stride + (c >> 5));
#pragma unroll
            for (int r = 0; r < R; r++) {
                float s;
                if constexpr (kOffset)
                    s = fmaf(alpha[r][g] * (1.0f / 64.0f), static_cast<float>(isum[r][g][t]),
                             fmaf(2.0f, alpha[r][g], beta[r][g]) * static_cast<float>(xsum[g][t]));
                else
                    s = alpha[r][g] * static_cast<float>(isum[r][g][t]);
                acc[r][t] = fmaf(dx, s, acc[r][t]);
            }
        }
    }
}

} // namespace ct_mmv

#endif
