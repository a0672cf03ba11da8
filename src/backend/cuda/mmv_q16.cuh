/* The direct GEMV's integer path: activations quantized once per call to the CPU fast path's
 * Q16 format (two int8 halves per value, src/backend/cpu/kernels/qk_internal.h), weight levels
 * dotted with them four at a time by dp4a, exactly in integers; floats only per group.
 *
 * Why: the float path (mmv_direct.cuh's direct_sums) spends a PRMT and an FFMA per weight and
 * token, plus the level extraction, ~3.6 instructions per weight (PTX of the Q4_K kernel):
 * ~6.4 per byte of Q4_K, so streaming 3 TB/s over 132 SMs would need ~83% of every SM's issue
 * slots. Here a level word of four weights takes two dp4a (one per half) per token, and the
 * activations' sums (for the offset term) are shared by the block's R rows.
 *
 * Activation rows (device memory, one per token, act_stride bytes apart, 16-byte aligned):
 *   int8 qs[K] | int8 ql[K] | float d[K/32]
 * x ~= d (256 qs + ql) per 32-element block: V = round-to-nearest-even(x * 32512/absmax),
 * qs = floor((V + 128) / 256), ql = max(V - 256 qs, -127), d = absmax/32512 (as the CPU's Q16).
 *
 * A lane decoder (mmv_lane.cuh) gives four level bytes u per chunk; its weights in a group
 * are w = a u + b (a, b from the block's scales), and its q16_term(isum, asum) gives
 * a isum + b asum, with the integer products it can take in integers (the 6-bit and 8-bit
 * sub-block scales). A lane's group lies inside one 32-element activation block (every
 * decoder's groups do), so
 *   sum_group w x = d_block q16_term(sum(u A), sum(A)),  A = 256 qs + ql,
 * with sum(u A) = 256 dot(u, qs) + dot(u, ql) and sum(A) likewise from dot(1, .): no overflow
 * (|u| <= 255, |A| <= 32512, <= 16 columns a group: < 2^27). */
#ifndef CT_BACKEND_CUDA_MMV_Q16_CUH
#define CT_BACKEND_CUDA_MMV_Q16_CUH

#include "backend/cuda/mmv_common.cuh"

namespace ct_mmv {

/* bytes of one token's activation row for rows of k elements (k a multiple of 32) */
__host__ __device__ constexpr int64_t q16_row_bytes(int64_t k) { return (2 * k + 4 * (k / 32) + 15) / 16 * 16; }

/* One token's quantized row. */
struct Q16Row {
    const int8_t *qs, *ql;
    const float *d;
};

#ifndef CT_MMV_HOST_EMULATION
/* sum of the four products of unsigned bytes u and signed bytes a, plus c */
__device__ __forceinline__ int dp4a_us(uint32_t u, uint32_t a, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(u), "r"(a), "r"(c));
    return d;
}
__device__ __forceinline__ uint32_t ld_act32(const int8_t *p) { return __ldg(reinterpret_cast<const unsigned *>(p)); }
__device__ __forceinline__ float ld_act_d(const float *p) { return __ldg(p); }

/* Four consecutive values x of a 32-element block whose other 28 are held by the seven other
 * threads of an aligned group of eight lanes (all eight call it together): their Q16 halves as
 * packed bytes, and the block's d. Rounded as the CPU's Q16 quantizer: d = absmax/32512,
 * V = round-to-nearest-even(clamp(x * (32512/absmax))), qs = floor((V + 128)/256),
 * ql = max(V - 256 qs, -127); a NaN is skipped by the absmax and becomes -32512. */
__device__ __forceinline__ void q16_quantize4(const float (&x)[4], uint32_t &qs, uint32_t &ql, float &d) {
    float amax = fmaxf(fmaxf(fabsf(x[0]), fabsf(x[1])), fmaxf(fabsf(x[2]), fabsf(x[3]))); /* fmaxf skips NaN */
    const unsigned group = 0xFFu << (threadIdx.x & 24);
#pragma unroll
    for (int m = 1; m < 8; m <<= 1) amax = fmaxf(amax, __shfl_xor_sync(group, amax, m));
    const float lim = 32512.0f;
    const float id = amax > 0.0f ? lim / amax : 0.0f;
    qs = ql = 0;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        float v = __fmul_rn(x[j], id);
        v = v > -lim ? v : -lim; /* NaN -> -lim, as the CPU's clamp */
        v = v < lim ? v : lim;
        const int V = __float2int_rn(v);
        const int h = (V + 128) >> 8;
        int l = V - 256 * h;
        l = l < -127 ? -127 : l;
        qs |= (static_cast<uint32_t>(h) & 0xFFu) << (8 * j);
        ql |= (static_cast<uint32_t>(l) & 0xFFu) << (8 * j);
    }
    d = amax / lim;
}

/* q16_quantize4's results stored into the Q16 row `row` of k elements, for the values at
 * column col (a multiple of 4); the group's first thread stores d. */
__device__ __forceinline__ void q16_store4(uint8_t *row, int64_t k, int64_t col, uint32_t qs, uint32_t ql, float d) {
    *reinterpret_cast<uint32_t *>(row + col) = qs;
    *reinterpret_cast<uint32_t *>(row + k + col) = ql;
    if ((col & 31) == 0) reinterpret_cast<float *>(row + 2 * k)[col >> 5] = d;
}
#endif

/* Lane s's slice of one quantization block (first column col0) of the R rows in raw, against
 * N tokens' quantized rows: acc[r][t] += sum of w x over the slice. */
template <class L, int R, int N>
__device__ __forceinline__ void q16_block(const typename L::Raw (&raw)[R], int s, int col0, const Q16Row (&act)[N],
                                          float (&acc)[R][N]) {
    int hi[R][N], lo[R][N], ahi[N], alo[N];
#pragma unroll
    for (int c = 0; c < L::C; c++) {
        const int g = L::group(c);
        const bool first = c == 0 || L::group(c - 1) != g, last = c == L::C - 1 || L::group(c + 1) != g;
        if (first) {
#pragma unroll
            for (int t = 0; t < N; t++) {
                ahi[t] = alo[t] = 0;
#pragma unroll
                for (int r = 0; r < R; r++) hi[r][t] = lo[r][t] = 0;
            }
        }
        const int col = col0 + L::col(s, c);
        uint32_t aq[N], al[N];
#pragma unroll
        for (int t = 0; t < N; t++) {
            aq[t] = ld_act32(act[t].qs + col);
            al[t] = ld_act32(act[t].ql + col);
            ahi[t] = dp4a_us(0x01010101u, aq[t], ahi[t]);
            alo[t] = dp4a_us(0x01010101u, al[t], alo[t]);
        }
#pragma unroll
        for (int r = 0; r < R; r++) {
            const uint32_t u = L::levels(raw[r], s, c);
#pragma unroll
            for (int t = 0; t < N; t++) {
                hi[r][t] = dp4a_us(u, aq[t], hi[r][t]);
                lo[r][t] = dp4a_us(u, al[t], lo[r][t]);
            }
        }
        if (last) {
            float d[N];
            int asum[N];
#pragma unroll
            for (int t = 0; t < N; t++) {
                d[t] = ld_act_d(act[t].d + (col >> 5));
                asum[t] = 256 * ahi[t] + alo[t];
            }
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int t = 0; t < N; t++)
                    acc[r][t] = fmaf(d[t], L::q16_term(raw[r], s, g, 256 * hi[r][t] + lo[r][t], asum[t]), acc[r][t]);
        }
    }
}

} // namespace ct_mmv

#endif
