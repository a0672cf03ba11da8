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
 *        thread i < R*N finishes (row i / N, token i % N): a store or the residual add.
 * Gate/up with the GLU (direct_glu_kernel): a block takes R / 2 rows of each matrix, the same
 * row indices, so both halves of an output are in the block and it applies the GLU itself.
 * Loads in flight: R rows x the lane's slice bytes per lane, every lane of every resident
 * warp, with nothing staged. Summation order is fixed: a result does not depend on timing.
 * With p.act the activations are Q16 rows and direct_sums_q16 takes the same blocks
 * with integer dot products (mmv_q16.cuh) in place of the float ones. */
#ifndef CT_BACKEND_CUDA_MMV_DIRECT_CUH
#define CT_BACKEND_CUDA_MMV_DIRECT_CUH

#include "backend/cuda/mmv_common.cuh"
#include "backend/cuda/mmv_lane.cuh"
#include "backend/cuda/mmv_q16.cuh"
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

/* Each warp's per-lane sums acc, added over the warp (butterfly), into partial[warp][r * N + t];
 * then a barrier. */
template <int R, int N>
__device__ __forceinline__ void warp_sums_to_partial(const float (&acc)[R][N], float (&partial)[kDirectWarps][R * N]) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
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
}

/* The R rows at wrow (x p.in's N tokens): each warp's sums into partial[warp][r * N + t],
 * then a barrier. */
template <class L, int R, int N>
__device__ __forceinline__ void direct_sums(const Params &p, const uint8_t *const (&wrow)[R],
                                            float (&partial)[kDirectWarps][R * N]) {
    constexpr int kPerWarp = 32 / L::T;                 /* blocks a warp takes per iteration */
    constexpr int kPerIter = kPerWarp * kDirectWarps;   /* ... the whole thread block */
    constexpr bool kGroupSums = N <= 2;
    static_assert(32 % L::T == 0, "a warp holds whole blocks");
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int s = lane % L::T;

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
                    for (int t = 0; t < N; t++) gsum[r][t] = fma4(w, a[t], gsum[r][t]);
                } else {
#pragma unroll
                    for (int k = 0; k < 4; k++)
                        w[k] = L::MODE == kOffset7 ? fmaf(w[k], alpha[r], beta[r]) : w[k] * alpha[r];
#pragma unroll
                    for (int t = 0; t < N; t++) acc[r][t] = fma4(w, a[t], acc[r][t]);
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

    warp_sums_to_partial<R, N>(acc, partial);
}

/* direct_sums on Q16 activations (p.act, mmv_q16.cuh): the same blocks per lane and the same
 * reductions, integer dot products inside each group. */
template <class L, int R, int N>
__device__ __forceinline__ void direct_sums_q16(const Params &p, const uint8_t *const (&wrow)[R],
                                                float (&partial)[kDirectWarps][R * N]) {
    constexpr int kPerWarp = 32 / L::T;
    constexpr int kPerIter = kPerWarp * kDirectWarps;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int s = lane % L::T;
    const int64_t k = static_cast<int64_t>(p.nb) * L::QK;
    Q16Row act[N];
#pragma unroll
    for (int t = 0; t < N; t++) {
        const uint8_t *row = p.act + t * p.act_stride;
        act[t] = Q16Row{reinterpret_cast<const int8_t *>(row), reinterpret_cast<const int8_t *>(row + k),
                        reinterpret_cast<const float *>(row + 2 * k)};
    }
    float acc[R][N];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < N; t++) acc[r][t] = 0.0f;
    for (int b = warp * kPerWarp + lane / L::T; b < p.nb; b += kPerIter) {
        typename L::Raw raw[R];
#pragma unroll
        for (int r = 0; r < R; r++) raw[r] = L::load(wrow[r] + static_cast<uint64_t>(b) * L::TS, s);
        q16_block<L, R, N>(raw, s, b * L::QK, act, acc);
    }
    warp_sums_to_partial<R, N>(acc, partial);
}

/* Float or Q16 activations (the launcher picks by p.act). */
template <class L, int R, int N, bool Q>
__device__ __forceinline__ void direct_sums_any(const Params &p, const uint8_t *const (&wrow)[R],
                                                float (&partial)[kDirectWarps][R * N]) {
    if constexpr (Q)
        direct_sums_q16<L, R, N>(p, wrow, partial);
    else
        direct_sums<L, R, N>(p, wrow, partial);
}

/* The rows of one matrix (w, ne1 rows, out, bias: the launch's only matrix, or its segment)
 * that block `block` takes; plain stores or the residual add (the GLU has direct_glu_kernel). */
template <class L, int R, int N, bool Q>
__device__ __forceinline__ void direct_body(const Params &p, const uint8_t *w, int ne1, float *out, int64_t out_stride,
                                            const float *bias, unsigned block) {
    static_assert(R * N <= kDirectThreads, "one thread finishes each (row, token)");
    __shared__ float partial[kDirectWarps][R * N];
    const int64_t row0 = static_cast<int64_t>(block) * R;
    const int rows_here = ne1 - row0 < R ? static_cast<int>(ne1 - row0) : R;
    /* rows past ne1 re-read the last row (valid bytes); their sums are never written */
    const uint8_t *wrow[R];
#pragma unroll
    for (int r = 0; r < R; r++)
        wrow[r] = w + static_cast<uint64_t>(row0 + (r < rows_here ? r : rows_here - 1)) * p.w_row_bytes;
    direct_sums_any<L, R, N, Q>(p, wrow, partial);
    const int i = threadIdx.x;
    if (i < R * N && i / N < rows_here) {
        float v = partial[0][i];
#pragma unroll
        for (int k = 1; k < kDirectWarps; k++) v += partial[k][i];
        /* as store_result: x + (W in + bias) for the fused residual */
        const int t = i % N;
        const int64_t row = row0 + i / N;
        float *dst = out + t * out_stride + row;
        const float r = bias ? v + bias[row] : v;
        *dst = p.epilogue == kAccumulate ? *dst + r : r;
    }
}

template <class L, int N>
constexpr int direct_min_blocks() {
    return N == 1 ? L::MIN_BLOCKS : 4; /* <= 128 registers a thread for more tokens */
}


/* One or several matrices of one input in one launch: the block index picks the segment. Its fields
 * are picked with constant indices: a dynamic index into the parameters would copy them to
 * local memory (96 bytes of spills a thread at one token). */
template <class L, int N, bool Q>
__global__ void __launch_bounds__(kDirectThreads, direct_min_blocks<L, N>()) direct_multi_kernel(const Params p) {
    Segment sg = p.segs[0];
#pragma unroll
    for (int i = 1; i < kMaxSegments; i++)
        if (i < p.n_seg && static_cast<int>(blockIdx.x) >= p.segs[i].first_block) sg = p.segs[i];
    direct_body<L, direct_rows<N>(), N, Q>(p, sg.w, sg.ne1, sg.out, sg.out_stride, sg.bias,
                                        blockIdx.x - static_cast<unsigned>(sg.first_block));
}

/* Gate and up with the GLU in one block: rows row0.. of the gate matrix (segs[0]) and the same
 * rows of the up matrix (segs[1]), R / 2 of each, so the block holds both halves of its
 * outputs and combines them itself; no pairing through scratch, fences and counters. Each
 * row's sum is taken exactly as direct_body takes it, so the outputs are bit-identical. */
template <class L, int N, bool Q>
__global__ void __launch_bounds__(kDirectThreads, direct_min_blocks<L, N>()) direct_glu_kernel(const Params p) {
    constexpr int R = direct_rows<N>(), H = R / 2;
    static_assert(R % 2 == 0, "rows come in gate/up pairs");
    __shared__ float partial[kDirectWarps][R * N];
    const Segment &gate = p.segs[0], &up = p.segs[1];
    const int64_t row0 = static_cast<int64_t>(blockIdx.x) * H;
    const int rows_here = p.ne1 - row0 < H ? static_cast<int>(p.ne1 - row0) : H;
    const uint8_t *wrow[R];
#pragma unroll
    for (int r = 0; r < H; r++) {
        const uint64_t off = static_cast<uint64_t>(row0 + (r < rows_here ? r : rows_here - 1)) * p.w_row_bytes;
        wrow[r] = gate.w + off;
        wrow[H + r] = up.w + off;
    }
    direct_sums_any<L, R, N, Q>(p, wrow, partial);
    const int i = threadIdx.x;
    if (i < H * N && i / N < rows_here) {
        const int r = i / N, t = i % N;
        float g = partial[0][r * N + t], u = partial[0][(H + r) * N + t];
#pragma unroll
        for (int k = 1; k < kDirectWarps; k++) {
            g += partial[k][r * N + t];
            u += partial[k][(H + r) * N + t];
        }
        const int64_t row = row0 + r;
        if (gate.bias) g = g + gate.bias[row];
        if (up.bias) u = u + up.bias[row];
        gate.out[t * gate.out_stride + row] = p.epilogue == kSwiglu ? ct_swiglu1(g, u) : ct_geglu1(g, u);
    }
}

template <class L, int N, bool Q>
cudaError_t direct_launch_n(const Params &p, cudaStream_t stream) {
    constexpr int R = direct_rows<N>();
    Params copy = p;
    void *args[] = {&copy};
    if constexpr (R % 2 == 0) {
        if (p.n_seg == 2 && (p.epilogue == kSwiglu || p.epilogue == kGeglu)) {
            const unsigned blocks = static_cast<unsigned>((p.ne1 + R / 2 - 1) / (R / 2));
            return cudaLaunchKernel(reinterpret_cast<const void *>(&direct_glu_kernel<L, N, Q>), dim3(blocks),
                                    dim3(kDirectThreads), args, 0, stream);
        }
    }
    /* one matrix is a launch of one segment: the same kernel (its register allocation at the
     * 64-register cap spills less than a separate single-matrix kernel's) */
    if (p.n_seg <= 1) {
        copy.n_seg = 1;
        copy.segs[0] = Segment{p.w, p.w_span, p.out, p.out_stride, p.bias, p.ne1, 0};
    }
    int64_t blocks = 0;
    for (int i = 0; i < copy.n_seg; i++) {
        copy.segs[i].first_block = static_cast<int>(blocks);
        blocks += (copy.segs[i].ne1 + R - 1) / R;
    }
    return cudaLaunchKernel(reinterpret_cast<const void *>(&direct_multi_kernel<L, N, Q>),
                            dim3(static_cast<unsigned>(blocks)), dim3(kDirectThreads), args, 0, stream);
}

/* Launch for n = 1..8 tokens on F32 (Q = false) or Q16 (Q = true) activations. */
template <class L, bool Q>
cudaError_t direct_launch_tokens(const Params &p, int n, cudaStream_t stream) {
    switch (n) {
    case 1: return direct_launch_n<L, 1, Q>(p, stream);
    case 2: return direct_launch_n<L, 2, Q>(p, stream);
    case 3: return direct_launch_n<L, 3, Q>(p, stream);
    case 4: return direct_launch_n<L, 4, Q>(p, stream);
    case 5: return direct_launch_n<L, 5, Q>(p, stream);
    case 6: return direct_launch_n<L, 6, Q>(p, stream);
    case 7: return direct_launch_n<L, 7, Q>(p, stream);
    case 8: return direct_launch_n<L, 8, Q>(p, stream);
    default: return cudaErrorInvalidValue;
    }
}

/* Launch for n = 1..8 tokens, on Q16 activations where p.act is set. */
template <class L>
cudaError_t direct_launch(const Params &p, int n, cudaStream_t stream) {
    return p.act ? direct_launch_tokens<L, true>(p, n, stream) : direct_launch_tokens<L, false>(p, n, stream);
}

} // namespace ct_mmv

#endif
