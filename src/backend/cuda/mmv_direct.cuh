/* The direct decode matrix-vector kernel, templated on a lane decoder L (mmv_lane.cuh), the
 * rows per block R and the token count N; the default for the types that have a lane decoder
 * (the ring kernel of mmv_kernel.cuh takes the others, and CTORCH_CUDA_MMV=ring all).
 *
 * Per block (kDirectWarps warps): R consecutive weight rows, all N tokens. The warps split the
 * rows' quantization blocks: warp w, lane group g = lane / T takes blocks
 * b = w * (32 / T) + g, then every kDirectWarps * 32 / T-th one; within a block, lane s = lane % T
 * loads its slice of each of the R rows straight into registers (16-, 8-, 4- or 2-byte loads
 * that skip L1; the T lanes of a block read consecutive bytes) and decodes it there.
 *   activations: one float4 per chunk and token from L1/L2, used for all R rows;
 *   N <= 2: per group, sum((2 + q/64) x) per row and sum(x) are kept and combined once;
 *   N >= 3: each weight is dequantized once and used N times (as mmv_unit.cuh);
 *   end: butterfly sums within each warp, the warps' partial sums through shared memory, and
 *        thread i < R*N finishes (row i / N, token i % N) with store_result.
 * Loads in flight: R rows x the lane's slice bytes per lane, every lane of every resident
 * warp, with nothing staged. Summation order is fixed: a result does not depend on timing. */
#ifndef CT_BACKEND_CUDA_MMV_DIRECT_CUH
#define CT_BACKEND_CUDA_MMV_DIRECT_CUH

#include "backend/cuda/mmv_common.cuh"
#include "backend/cuda/mmv_lane.cuh"
#include "backend/cuda/mmv_unit.cuh"

namespace ct_mmv {

constexpr int kDirectWarps = 4;
constexpr int kDirectThreads = 32 * kDirectWarps;

/* Rows per block: 4 up to 2 tokens (each activation load shared by 4 rows), 2 beyond, where
 * the N-fold accumulators take the registers. */
template <int N>
__host__ __device__ constexpr int direct_rows() {
    return N <= 2 ? 4 : 2;
}

template <class L, int R, int N>
__device__ __forceinline__ void direct_body(const Params &p, unsigned block) {
    constexpr int kPerWarp = 32 / L::T;                 /* blocks a warp takes per iteration */
    constexpr int kPerIter = kPerWarp * kDirectWarps;   /* ... the whole thread block */
    constexpr bool kGroupSums = N <= 2;
    static_assert(32 % L::T == 0, "a warp holds whole blocks");
    static_assert(R * N <= kDirectThreads, "one thread finishes each (row, token)");
    __shared__ float partial[kDirectWarps][R * N];

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int s = lane % L::T;
    const int64_t row0 = static_cast<int64_t>(block) * R;
    const int rows_here = p.ne1 - row0 < R ? static_cast<int>(p.ne1 - row0) : R;
    /* rows past ne1 re-read the last row (valid bytes); their sums are never written */
    const uint8_t *wrow[R];
#pragma unroll
    for (int r = 0; r < R; r++)
        wrow[r] = p.w + static_cast<uint64_t>(row0 + (r < rows_here ? r : rows_here - 1)) * p.w_row_bytes;

    float acc[R][N];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < N; t++) acc[r][t] = 0.0f;

    for (int b = warp * kPerWarp + lane / L::T; b < p.nb; b += kPerIter) {
        typename L::Raw raw[R];
#pragma unroll
        for (int r = 0; r < R; r++) raw[r] = L::load(wrow[r] + static_cast<uint64_t>(b) * L::TS, s);
        const float *x = p.in + static_cast<int64_t>(b) * L::QK;

        /* kGroupSums: the current group's sum of level * x (per row) and of x (shared by the
         * rows), folded into acc when its last chunk is done (a decoder's groups are runs of
         * consecutive chunks), so one group's sums are live at a time */
        float gsum[kGroupSums ? R : 1][N], xsum[N];
#pragma unroll
        for (int c = 0; c < L::C; c++) {
            const int g = L::group(c);
            const bool first = c == 0 || L::group(c - 1) != g, last = c == L::C - 1 || L::group(c + 1) != g;
            if (kGroupSums && first) {
#pragma unroll
                for (int t = 0; t < N; t++) {
                    xsum[t] = 0.0f;
#pragma unroll
                    for (int r = 0; r < R; r++) gsum[r][t] = 0.0f;
                }
            }
            float alpha[R], beta[R];
            if (!kGroupSums || last) {
#pragma unroll
                for (int r = 0; r < R; r++) {
                    L::scale(raw[r], s, g, alpha[r], beta[r]);
                    if constexpr (!L::HAS_MIN) beta[r] = L::BETA_K * alpha[r];
                }
            }
            const int col = L::col(s, c);
            float4 a[N];
#pragma unroll
            for (int t = 0; t < N; t++) a[t] = ldg_float4(x + t * p.in_stride + col);
            if constexpr (kGroupSums && L::MODE == kOffset7) {
#pragma unroll
                for (int t = 0; t < N; t++) xsum[t] += (a[t].x + a[t].y) + (a[t].z + a[t].w);
            }
#pragma unroll
            for (int r = 0; r < R; r++) {
                float w[4];
                levels_to_float<L::MODE>(L::levels(raw[r], s, c), w);
                if constexpr (kGroupSums) {
#pragma unroll
                    for (int t = 0; t < N; t++) {
                        float v = gsum[r][t];
                        v = fmaf(w[0], a[t].x, v);
                        v = fmaf(w[1], a[t].y, v);
                        v = fmaf(w[2], a[t].z, v);
                        v = fmaf(w[3], a[t].w, v);
                        gsum[r][t] = v;
                    }
                } else {
#pragma unroll
                    for (int k = 0; k < 4; k++)
                        w[k] = L::MODE == kOffset7 ? fmaf(w[k], alpha[r], beta[r]) : w[k] * alpha[r];
#pragma unroll
                    for (int t = 0; t < N; t++) {
                        float v = acc[r][t];
                        v = fmaf(w[0], a[t].x, v);
                        v = fmaf(w[1], a[t].y, v);
                        v = fmaf(w[2], a[t].z, v);
                        v = fmaf(w[3], a[t].w, v);
                        acc[r][t] = v;
                    }
                }
            }
            if (kGroupSums && last) {
                /* alpha * sum((2 + q/64) x) + beta * sum(x); kExact8 levels are exact q */
#pragma unroll
                for (int r = 0; r < R; r++)
#pragma unroll
                    for (int t = 0; t < N; t++)
                        acc[r][t] += L::MODE == kOffset7 ? fmaf(alpha[r], gsum[r][t], beta[r] * xsum[t])
                                                         : alpha[r] * gsum[r][t];
            }
        }
    }

#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < N; t++) {
            float v = acc[r][t];
#pragma unroll
            for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, m);
            if (lane == 0) partial[warp][r * N + t] = v;
        }
    __syncthreads();
    const int i = threadIdx.x;
    if (i < R * N && i / N < rows_here) {
        float v = partial[0][i];
#pragma unroll
        for (int k = 1; k < kDirectWarps; k++) v += partial[k][i];
        store_result(p, i % N, row0 + i / N, v);
    }
}

template <class L, int N>
constexpr int direct_min_blocks() {
    return N == 1 ? L::MIN_BLOCKS : 4; /* <= 128 registers a thread for more tokens */
}

template <class L, int N>
__global__ void __launch_bounds__(kDirectThreads, direct_min_blocks<L, N>()) direct_kernel(const Params p) {
    direct_body<L, direct_rows<N>(), N>(p, blockIdx.x);
}

/* Several matrices of one input in one launch: the block index picks the segment. */
template <class L, int N>
__global__ void __launch_bounds__(kDirectThreads, direct_min_blocks<L, N>()) direct_multi_kernel(const Params p0) {
    int seg = 0;
#pragma unroll
    for (int i = 1; i < kMaxSegments; i++)
        if (i < p0.n_seg && static_cast<int>(blockIdx.x) >= p0.segs[i].first_block) seg = i;
    Params p = p0;
    const Segment &sg = p0.segs[seg];
    p.w = sg.w;
    p.w_span = sg.w_span;
    p.out = sg.out;
    p.out_stride = sg.out_stride;
    p.bias = sg.bias;
    p.ne1 = sg.ne1;
    p.seg = seg;
    direct_body<L, direct_rows<N>(), N>(p, blockIdx.x - static_cast<unsigned>(sg.first_block));
}

template <class L, int N>
cudaError_t direct_launch_n(const Params &p, cudaStream_t stream) {
    constexpr int R = direct_rows<N>();
    Params copy = p;
    void *args[] = {&copy};
    if (p.n_seg > 1) {
        int64_t blocks = 0;
        for (int i = 0; i < p.n_seg; i++) {
            copy.segs[i].first_block = static_cast<int>(blocks);
            blocks += (p.segs[i].ne1 + R - 1) / R;
        }
        return cudaLaunchKernel(reinterpret_cast<const void *>(&direct_multi_kernel<L, N>),
                                dim3(static_cast<unsigned>(blocks)), dim3(kDirectThreads), args, 0, stream);
    }
    const dim3 grid(static_cast<unsigned>((p.ne1 + R - 1) / R));
    return cudaLaunchKernel(reinterpret_cast<const void *>(&direct_kernel<L, N>), grid, dim3(kDirectThreads), args, 0,
                            stream);
}

/* Launch for n = 1..8 tokens. */
template <class L>
cudaError_t direct_launch(const Params &p, int n, cudaStream_t stream) {
    switch (n) {
    case 1: return direct_launch_n<L, 1>(p, stream);
    case 2: return direct_launch_n<L, 2>(p, stream);
    case 3: return direct_launch_n<L, 3>(p, stream);
    case 4: return direct_launch_n<L, 4>(p, stream);
    case 5: return direct_launch_n<L, 5>(p, stream);
    case 6: return direct_launch_n<L, 6>(p, stream);
    case 7: return direct_launch_n<L, 7>(p, stream);
    case 8: return direct_launch_n<L, 8>(p, stream);
    default: return cudaErrorInvalidValue;
    }
}

} // namespace ct_mmv

#endif
