/* Greedy sampling on the GPU: the index of each row's largest logit, one block per row.
 *
 * Ties go to the lowest index, as the CPU sampler ranks them (sample/candidates.h). A row
 * the CPU sampler would refuse (a NaN or +inf, or nothing but -inf) gets -1 so the host can
 * report it instead of emitting a token. */
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_elementwise.h"

namespace {

constexpr int kWarp = 32;
constexpr int kMaxThreads = 1024;

struct best_t {
    float v;
    int i;
    bool bad; /* saw NaN or +inf */
};

__device__ __forceinline__ void take_better(best_t &b, float v, int i) {
    if (v > b.v || (v == b.v && i < b.i)) b.v = v, b.i = i;
}

__device__ __forceinline__ best_t warp_best(best_t b) {
#pragma unroll
    for (int o = kWarp / 2; o > 0; o >>= 1) {
        const float v = __shfl_xor_sync(0xffffffffu, b.v, o);
        const int i = __shfl_xor_sync(0xffffffffu, b.i, o);
        take_better(b, v, i);
    }
    b.bad = __any_sync(0xffffffffu, b.bad);
    return b;
}

template <int V>
__global__ void __launch_bounds__(kMaxThreads)
    argmax_rows_kernel(const char *data, size_t row_bytes, int n, int32_t *out_ids) {
    __shared__ float s_v[kWarp];
    __shared__ int s_i[kWarp];
    __shared__ bool s_bad[kWarp];
    const float *x = reinterpret_cast<const float *>(data + (size_t)blockIdx.x * row_bytes);

    /* each thread walks its elements in increasing index order */
    best_t b{-INFINITY, INT32_MAX, false};
#pragma unroll 4
    for (int j = threadIdx.x * V; j < n; j += blockDim.x * V) {
        float v[V];
        if constexpr (V == 4) {
            const float4 t = *reinterpret_cast<const float4 *>(x + j);
            v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
        } else {
            v[0] = x[j];
        }
#pragma unroll
        for (int k = 0; k < V; k++) {
            b.bad |= !(v[k] < INFINITY);
            take_better(b, v[k], j + k);
        }
    }

    b = warp_best(b);
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    if (lane == 0) s_v[warp] = b.v, s_i[warp] = b.i, s_bad[warp] = b.bad;
    __syncthreads();
    if (warp != 0) return;
    const int n_warps = blockDim.x / kWarp;
    b = lane < n_warps ? best_t{s_v[lane], s_i[lane], s_bad[lane]} : best_t{-INFINITY, INT32_MAX, false};
    b = warp_best(b);
    if (lane == 0) out_ids[blockIdx.x] = (b.bad || b.v == -INFINITY) ? -1 : b.i;
}

} // namespace

extern "C" cudaError_t ct_cuda_argmax_rows(cudaStream_t stream, const ct_tensor *logits, int32_t *out_ids) {
    const ct_tensor *t = logits;
    if (!t || !t->data || !out_ids || t->type != CT_TYPE_F32 || t->ne0 <= 0 || t->ne0 > INT32_MAX || t->ne1 < 0 ||
        t->ne1 > INT32_MAX || t->row_bytes % sizeof(float) != 0 || ((uintptr_t)t->data & 3u) != 0 ||
        (t->ne1 > 1 && t->row_bytes < (size_t)t->ne0 * sizeof(float)))
        return cudaErrorInvalidValue;
    if (t->ne1 == 0) return cudaSuccess;
    const bool vec = ((uintptr_t)t->data & 15u) == 0 && t->ne0 % 4 == 0 && (t->ne1 <= 1 || t->row_bytes % 16 == 0);
    const int n = (int)t->ne0;
    /* about four vectors per thread, up to 1024 threads */
    const int64_t n_vec = vec ? n / 4 : n;
    int64_t threads = ((n_vec + 3) / 4 + kWarp - 1) / kWarp * kWarp;
    if (threads > kMaxThreads) threads = kMaxThreads;
    const dim3 grid((unsigned)t->ne1), block((unsigned)threads);
    const char *data = static_cast<const char *>(t->data);
    if (vec) argmax_rows_kernel<4><<<grid, block, 0, stream>>>(data, t->row_bytes, n, out_ids);
    else argmax_rows_kernel<1><<<grid, block, 0, stream>>>(data, t->row_bytes, n, out_ids);
    return cudaGetLastError();
}
