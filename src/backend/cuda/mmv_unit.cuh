/* The per-lane work of the decode matrix-vector kernel (mmv_kernel.cuh): one unit (a
 * fixed slice of one quantization block) of kRows weight rows against N tokens, from the
 * blocks' bytes in shared memory. Kept apart from the kernel so it has no CUDA-only
 * machinery (async copies, warp barriers) and a CPU harness can run it as is.
 *
 *   per 4-column chunk: N float4 activations, loaded once and used for all kRows rows;
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

/* One unit (slice sub of a block whose first column is col0) of the kRows rows at blk[r]. */
template <class D, int N>
__device__ __forceinline__ void mmv_unit(const uint8_t *const (&blk)[kRows], int sub, const float *x,
                                         int64_t x_stride, int col0, float (&acc)[kRows][N]) {
    constexpr int NG = D::NG;
    constexpr bool kGroupSums = D::MODE != kDirect && N <= 2;
    float alpha[kRows][NG], beta[kRows][NG];
    if constexpr (D::MODE != kDirect) {
#pragma unroll
        for (int r = 0; r < kRows; r++) D::scales(blk[r], sub, alpha[r], beta[r]);
        if constexpr (!D::HAS_MIN) {
#pragma unroll
            for (int r = 0; r < kRows; r++)
#pragma unroll
                for (int g = 0; g < NG; g++) beta[r][g] = D::BETA_K * alpha[r][g];
        }
    }
    /* kGroupSums only: per group sum of level * x (per row) and of x (shared by the rows) */
    float gsum[kGroupSums ? kRows : 1][kGroupSums ? NG : 1][N];
    float xsum[kGroupSums ? NG : 1][N];
    if constexpr (kGroupSums) {
#pragma unroll
        for (int g = 0; g < NG; g++)
#pragma unroll
            for (int t = 0; t < N; t++) {
                xsum[g][t] = 0.0f;
#pragma unroll
                for (int r = 0; r < kRows; r++) gsum[r][g][t] = 0.0f;
            }
    }

    /* Steps stay a loop: unrolled, the compiler hoists every step's loads and runs out of
     * registers; one step (CPS chunks x kRows rows) is plenty of independent work. */
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
            for (int r = 0; r < kRows; r++) {
                float w[4];
                if constexpr (D::MODE == kDirect) {
                    const float4 v = D::values(blk[r], sub, i, j);
                    w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
                } else {
                    levels_to_float<D::MODE>(D::qbytes(blk[r], sub, i, j), w);
                }
                if constexpr (kGroupSums) {
#pragma unroll
                    for (int t = 0; t < N; t++) gsum[r][g][t] = fma4(w, a[t], gsum[r][g][t]);
                } else {
                    if constexpr (D::MODE != kDirect) {
#pragma unroll
                        for (int k = 0; k < 4; k++)
                            w[k] = D::MODE == kOffset7 ? fmaf(w[k], alpha[r][g], beta[r][g]) : w[k] * alpha[r][g];
                    }
#pragma unroll
                    for (int t = 0; t < N; t++) acc[r][t] = fma4(w, a[t], acc[r][t]);
                }
            }
        }
    }

    if constexpr (kGroupSums) {
#pragma unroll
        for (int r = 0; r < kRows; r++)
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

} // namespace ct_mmv

#endif
