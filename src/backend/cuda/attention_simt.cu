/* Attention without tensor cores, in F32: one block per (token, query head), each of its 4
 * warps walking every 4th visible position (a warp-wide dot product per key, online softmax
 * in natural exp like the CPU reference), then the warps merged through shared memory.
 * Slow (one key per warp at a time) but general: F16 or F32 caches, any head dims up to
 * CT_ATTN_SIMT_MAX_DIM, any group size. It runs what the mma kernels do not take (F32
 * caches, head dims not a multiple of 8 or above 256, groups above 64 heads). */
#include <cuda_fp16.h>

#include "backend/cuda/attention_internal.cuh"

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kPerLane = CT_ATTN_SIMT_MAX_DIM / 32;

template <bool F32> __device__ __forceinline__ float cache_value(const char *row, int i) {
    if constexpr (F32)
        return reinterpret_cast<const float *>(row)[i];
    else
        return __half2float(reinterpret_cast<const __half *>(row)[i]);
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

template <bool KF32, bool VF32> __global__ void __launch_bounds__(kThreads) simt_kernel(const ct_attn_params p) {
    __shared__ float q_s[CT_ATTN_SIMT_MAX_DIM];
    __shared__ float o_s[kWarps][CT_ATTN_SIMT_MAX_DIM];
    __shared__ float m_s[kWarps], l_s[kWarps];

    const int tok = blockIdx.x, h = blockIdx.y, kv_head = h / p.group;
    const int pos = p.pos[tok], lo = ct_attn_lo(pos, p.window);
    const int32_t *table = p.block_table + p.tok_block_off[tok];
    const float *q = p.q + (int64_t)tok * p.q_row + (int64_t)h * p.dk;
    for (int i = threadIdx.x; i < p.dk; i += kThreads) q_s[i] = q[i];
    __syncthreads();

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const size_t k_off = (size_t)kv_head * p.dk * (KF32 ? 4 : 2), v_off = (size_t)kv_head * p.dv * (VF32 ? 4 : 2);
    float m = -INFINITY, l = 0.f, o[kPerLane];
#pragma unroll
    for (int j = 0; j < kPerLane; j++) o[j] = 0.f;
    for (int key = lo + warp; key <= pos; key += kWarps) {
        const int64_t cell = ct_attn_cell(p, table, key);
        const char *k_row = (const char *)p.k + cell * p.k_row + k_off;
        const char *v_row = (const char *)p.v + cell * p.v_row + v_off;
        float dot = 0.f;
        for (int i = lane; i < p.dk; i += 32) dot += q_s[i] * cache_value<KF32>(k_row, i);
        const float s = p.scale * warp_sum(dot);
        const float m_new = fmaxf(m, s);
        const float alpha = expf(m - m_new), e = expf(s - m_new);
        l = l * alpha + e;
#pragma unroll
        for (int j = 0; j < kPerLane; j++) {
            const int i = lane + 32 * j;
            if (i < p.dv) o[j] = o[j] * alpha + e * cache_value<VF32>(v_row, i);
        }
        m = m_new;
    }
#pragma unroll
    for (int j = 0; j < kPerLane; j++) {
        const int i = lane + 32 * j;
        if (i < p.dv) o_s[warp][i] = o[j];
    }
    if (lane == 0) {
        m_s[warp] = m;
        l_s[warp] = l;
    }
    __syncthreads();

    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; w++) mx = fmaxf(mx, m_s[w]);
    float f[kWarps], sum = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; w++) {
        f[w] = m_s[w] == -INFINITY ? 0.f : expf(m_s[w] - mx); /* a warp with no positions adds nothing */
        sum += l_s[w] * f[w];
    }
    float *out = p.out + (int64_t)tok * p.out_row + (int64_t)h * p.dv;
    for (int i = threadIdx.x; i < p.dv; i += kThreads) {
        float acc = 0.f;
#pragma unroll
        for (int w = 0; w < kWarps; w++) acc += o_s[w][i] * f[w];
        out[i] = acc / sum;
    }
}

} // namespace

cudaError_t ct_attn_launch_simt(cudaStream_t stream, const ct_attn_params *p, int32_t n_tokens) {
    dim3 grid((unsigned)n_tokens, (unsigned)p->n_head);
    if (p->k_f32 && p->v_f32)
        simt_kernel<true, true><<<grid, kThreads, 0, stream>>>(*p);
    else if (p->k_f32)
        simt_kernel<true, false><<<grid, kThreads, 0, stream>>>(*p);
    else if (p->v_f32)
        simt_kernel<false, true><<<grid, kThreads, 0, stream>>>(*p);
    else
        simt_kernel<false, false><<<grid, kThreads, 0, stream>>>(*p);
    return cudaGetLastError();
}
