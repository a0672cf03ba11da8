/* RMSNorm and LayerNorm on the GPU, one row per warp (short rows: heads of a q/k norm) or
 * per block (model-width rows).
 *
 * The sums are taken in double like the CPU reference (ops_math.c), so the scale factor
 * comes out the same float and every output matches the reference to the last bit but for
 * a rare rounding of a sum taken in another order. The rows are read again for the output
 * pass: a row of 4096 floats is 16 KiB, still in L1 from the first pass. */
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_elementwise.h"
#include "backend/cuda/cuda_mmv.h"
#include "backend/cuda/mmv_q16.cuh"

namespace {

constexpr int kWarp = 32;
constexpr int kMaxThreads = 1024;
constexpr int kRowsPerWarpBlock = 4; /* rows of a block when each row has one warp */

struct rows_view {
    char *data;
    size_t row_bytes;
    __device__ float *row(int64_t r) const { return reinterpret_cast<float *>(data + (size_t)r * row_bytes); }
};

template <int V>
__device__ __forceinline__ void load_vec(const float *p, float (&v)[V]) {
    if constexpr (V == 4) {
        const float4 t = *reinterpret_cast<const float4 *>(p);
        v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
    } else {
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = p[k];
    }
}

template <int V>
__device__ __forceinline__ void store_vec(float *p, const float (&v)[V]) {
    if constexpr (V == 4) {
        *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
    } else {
#pragma unroll
        for (int k = 0; k < V; k++) p[k] = v[k];
    }
}

/* weight or bias values for elements j..j+V, or `absent` where there is none */
template <int V>
__device__ __forceinline__ void load_or(const float *p, int j, float absent, float (&v)[V]) {
    if (p) {
        load_vec<V>(p + j, v);
    } else {
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = absent;
    }
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* The sum of v over the threads of one row, in every thread of the row. A warp per row
 * (blockDim.x == 32) needs only shuffles; a block per row (blockDim.y == 1) adds its warps'
 * sums through shared memory. Every thread of the block must call it. */
__device__ double row_sum(double v, double *partial) {
    v = warp_sum(v);
    if (blockDim.x == kWarp) return v;
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x / kWarp) ? partial[lane] : 0.0;
    v = warp_sum(v);
    __syncthreads(); /* partial is reused by the next sum */
    return v;
}

/* y[j] = x[j] * inv * w[j] (w absent: 1) for j = begin, begin + step, ... < end, V at a time */
template <int V>
__device__ __forceinline__ void scale_range(float *y, const float *x, const float *w, float inv, int begin, int end,
                                            int step) {
    for (int j = begin; j < end; j += step) {
        float v[V], wv[V];
        load_vec<V>(x + j, v);
        load_or<V>(w, j, 1.0f, wv);
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = __fmul_rn(__fmul_rn(v[k], inv), wv[k]);
        store_vec<V>(y + j, v);
    }
}

/* out = x * (float)(1 / sqrt(mean(x^2) + eps)) * w, as ct_cpu_rmsnorm */
template <int V>
__global__ void __launch_bounds__(kMaxThreads)
    rmsnorm_rows(rows_view out, rows_view in, const float *w, int n, int64_t n_rows, float eps) {
    __shared__ double partial[kWarp];
    const int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
    const bool active = r < n_rows; /* uniform over the row's warp(s) */
    const float *x = in.row(active ? r : 0);
    const int step = blockDim.x * V;

    double ss = 0;
    if (active)
        for (int j = threadIdx.x * V; j < n; j += step) {
            float v[V];
            load_vec<V>(x + j, v);
#pragma unroll
            for (int k = 0; k < V; k++) ss += (double)v[k] * v[k];
        }
    ss = row_sum(ss, partial);
    if (!active) return;

    const float inv = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    scale_range<V>(out.row(r), x, w, inv, threadIdx.x * V, n, step);
}

/* rmsnorm for model-width rows (more than kSplitThreads vectors): a block of kSplitThreads
 * sums the whole row, then writes one slice of it (blockIdx.y of gridDim.y). Every block of a
 * row takes the same sum in the same order, whatever the slicing, so the output does not
 * depend on the number of rows (batch invariance) while a decode token's one row still
 * spreads over several SMs: a row is re-read from L2 by each slice, 16 KiB for 4096 floats.
 * The row's loads are issued kBatch at a time before they are summed, in order. */
constexpr int kSplitThreads = 128;
constexpr int kBatch = 8;

/* act: NULL, or (V = 4, slices of whole 32-element blocks) the output's Q16 rows too, act_stride
 * bytes apart: each group of eight threads quantizes the 32 values it has just written. */
template <int V>
__global__ void __launch_bounds__(kSplitThreads)
    rmsnorm_split(rows_view out, rows_view in, const float *w, int n, float eps, int slice, uint8_t *act,
                  int64_t act_stride) {
    __shared__ double partial[kWarp];
    const int64_t r = blockIdx.x;
    const float *x = in.row(r);
    const int step = kSplitThreads * V;

    double ss = 0;
    for (int j0 = threadIdx.x * V; j0 < n; j0 += kBatch * step) {
        float v[kBatch][V];
#pragma unroll
        for (int b = 0; b < kBatch; b++)
            if (j0 + b * step < n) load_vec<V>(x + j0 + b * step, v[b]);
#pragma unroll
        for (int b = 0; b < kBatch; b++)
            if (j0 + b * step < n)
#pragma unroll
                for (int k = 0; k < V; k++) ss += (double)v[b][k] * v[b][k];
    }
    ss = row_sum(ss, partial);

    const float inv = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    const int end = min(n, (int)(blockIdx.y + 1) * slice);
    const int begin = (int)blockIdx.y * slice + threadIdx.x * V;
    if constexpr (V == 4) {
        if (act) { /* uniform: the launch's choice */
            float *y = out.row(r);
            uint8_t *q = act + r * act_stride;
            for (int j = begin; j < end; j += step) { /* a group's eight threads are all in or all out */
                float v[4], wv[4];
                load_vec<4>(x + j, v);
                load_or<4>(w, j, 1.0f, wv);
#pragma unroll
                for (int k = 0; k < 4; k++) v[k] = __fmul_rn(__fmul_rn(v[k], inv), wv[k]);
                store_vec<4>(y + j, v);
                uint32_t qs, ql;
                float d;
                ct_mmv::q16_quantize4(v, qs, ql, d);
                ct_mmv::q16_store4(q, n, j, qs, ql, d);
            }
            return;
        }
    }
    scale_range<V>(out.row(r), x, w, inv, begin, end, step);
}

/* out = (float)(x - mean) * (float)(1 / sqrt(var + eps)) * w + b, as ct_cpu_layernorm
 * (mean and variance in double, two passes) */
template <int V>
__global__ void __launch_bounds__(kMaxThreads)
    layernorm_rows(rows_view out, rows_view in, const float *w, const float *b, int n, int64_t n_rows, float eps) {
    __shared__ double partial[kWarp];
    const int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
    const bool active = r < n_rows;
    const float *x = in.row(active ? r : 0);
    const int step = blockDim.x * V;

    double sum = 0;
    if (active)
        for (int j = threadIdx.x * V; j < n; j += step) {
            float v[V];
            load_vec<V>(x + j, v);
#pragma unroll
            for (int k = 0; k < V; k++) sum += v[k];
        }
    const double mean = row_sum(sum, partial) / (double)n;

    double var = 0;
    if (active)
        for (int j = threadIdx.x * V; j < n; j += step) {
            float v[V];
            load_vec<V>(x + j, v);
#pragma unroll
            for (int k = 0; k < V; k++) {
                const double d = v[k] - mean;
                var += d * d;
            }
        }
    var = row_sum(var, partial) / (double)n;
    if (!active) return;

    const float inv = (float)(1.0 / sqrt(var + (double)eps));
    float *y = out.row(r);
    for (int j = threadIdx.x * V; j < n; j += step) {
        float v[V], wv[V], bv[V];
        load_vec<V>(x + j, v);
        load_or<V>(w, j, 1.0f, wv);
        load_or<V>(b, j, 0.0f, bv);
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = __fadd_rn(__fmul_rn(__fmul_rn((float)(v[k] - mean), inv), wv[k]), bv[k]);
        store_vec<V>(y + j, v);
    }
}

bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* rows of floats in device memory: F32, float-aligned rows */
bool valid_rows(const ct_tensor *t) {
    return t && t->data && t->type == CT_TYPE_F32 && t->ne0 > 0 && t->ne0 <= INT32_MAX && t->ne1 >= 0 &&
           t->row_bytes % sizeof(float) == 0 && ((uintptr_t)t->data & 3u) == 0 &&
           (t->ne1 <= 1 || t->row_bytes >= (size_t)t->ne0 * sizeof(float));
}

/* a per-element vector (weight, bias) of at least n floats, or none */
bool valid_vector(const ct_tensor *t, int64_t n) {
    return !t || (t->data && t->type == CT_TYPE_F32 && t->ne0 >= n && ((uintptr_t)t->data & 3u) == 0);
}

bool rows_vec4(const ct_tensor *t) {
    return aligned16(t->data) && t->ne0 % 4 == 0 && (t->ne1 <= 1 || t->row_bytes % 16 == 0);
}

bool vector_vec4(const ct_tensor *t) { return !t || aligned16(t->data); }

rows_view view(const ct_tensor *t) { return rows_view{static_cast<char *>(t->data), t->row_bytes}; }

const float *data_or_null(const ct_tensor *t) { return t ? static_cast<const float *>(t->data) : nullptr; }

/* About four vectors per thread: a warp for rows of up to 128 vectors (several rows to a
 * block), else up to 1024 threads on one row. */
struct row_plan {
    dim3 grid, block;
};

row_plan plan_rows(int64_t n_vec, int64_t n_rows) {
    int64_t threads = ((n_vec + 3) / 4 + kWarp - 1) / kWarp * kWarp;
    if (threads > kMaxThreads) threads = kMaxThreads;
    if (threads <= kWarp) {
        const int64_t per_block = n_rows < kRowsPerWarpBlock ? n_rows : kRowsPerWarpBlock;
        return row_plan{dim3((unsigned)((n_rows + per_block - 1) / per_block)), dim3(kWarp, (unsigned)per_block)};
    }
    return row_plan{dim3((unsigned)n_rows), dim3((unsigned)threads)};
}

/* the current device's, looked up once (a launch heuristic only: results do not depend on it) */
int lookup_multiprocessors() {
    int dev = 0, n = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
        (void)cudaGetLastError(); /* not the launch's error */
        n = 0;
    }
    return n > 0 ? n : 132;
}

int multiprocessors() {
    static const int count = lookup_multiprocessors(); /* initialized once, thread-safe */
    return count;
}

/* byte ranges of two row sets intersect */
bool overlapping(const ct_tensor *a, const ct_tensor *b) {
    const char *a0 = static_cast<const char *>(a->data), *b0 = static_cast<const char *>(b->data);
    const char *a1 = a0 + a->row_bytes * (size_t)(a->ne1 - 1) + (size_t)a->ne0 * sizeof(float);
    const char *b1 = b0 + b->row_bytes * (size_t)(b->ne1 - 1) + (size_t)b->ne0 * sizeof(float);
    return a0 < b1 && b0 < a1;
}

bool same_shape(const ct_tensor *a, const ct_tensor *b) { return a->ne0 == b->ne0 && a->ne1 == b->ne1; }

/* ct_cuda_rmsnorm and, with act, ct_cuda_rmsnorm_q16 (arguments checked by the callers) */
cudaError_t rmsnorm(cudaStream_t stream, const ct_tensor *out, const ct_tensor *in, const ct_tensor *weight, float eps,
                    void *act, size_t act_bytes) {
    if (in->ne1 == 0) return cudaSuccess;
    const bool vec = rows_vec4(out) && rows_vec4(in) && vector_vec4(weight);
    const int n = (int)in->ne0;
    const int64_t n_vec = vec ? n / 4 : n;
    if (n_vec > kSplitThreads) {
        /* slices of at least one vector per thread, about 4 blocks per SM over all rows; one
         * slice when out overlaps in (a slice written while another block still sums the row) */
        int64_t slices = n_vec / kSplitThreads;
        const int64_t wave = 4 * (int64_t)multiprocessors() / in->ne1;
        if (slices > wave) slices = wave > 1 ? wave : 1;
        if (overlapping(out, in)) slices = 1;
        const int64_t per = (n_vec + slices - 1) / slices * (vec ? 4 : 1);
        const dim3 grid((unsigned)in->ne1, (unsigned)slices);
        /* the Q16 rows in the same launch where every slice is whole 32-element blocks */
        const bool fused = act && vec && per % 32 == 0 && n % 32 == 0;
        if (vec)
            rmsnorm_split<4><<<grid, kSplitThreads, 0, stream>>>(view(out), view(in), data_or_null(weight), n, eps,
                                                                 (int)per, fused ? (uint8_t *)act : NULL,
                                                                 (int64_t)ct_cuda_mmv_act_bytes(1, n));
        else
            rmsnorm_split<1><<<grid, kSplitThreads, 0, stream>>>(view(out), view(in), data_or_null(weight), n, eps,
                                                                 (int)per, NULL, 0);
        cudaError_t e = cudaGetLastError();
        if (e == cudaSuccess && act && !fused) e = ct_cuda_mmv_quantize(stream, out, act, act_bytes);
        return e;
    }
    const row_plan p = plan_rows(n_vec, in->ne1);
    if (vec)
        rmsnorm_rows<4><<<p.grid, p.block, 0, stream>>>(view(out), view(in), data_or_null(weight), n, in->ne1, eps);
    else
        rmsnorm_rows<1><<<p.grid, p.block, 0, stream>>>(view(out), view(in), data_or_null(weight), n, in->ne1, eps);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && act) e = ct_cuda_mmv_quantize(stream, out, act, act_bytes);
    return e;
}

} // namespace

extern "C" cudaError_t ct_cuda_rmsnorm(cudaStream_t stream, const ct_tensor *out, const ct_tensor *in,
                                       const ct_tensor *weight, float eps) {
    if (!valid_rows(out) || !valid_rows(in) || !same_shape(out, in) || !valid_vector(weight, in->ne0) ||
        in->ne1 > INT32_MAX)
        return cudaErrorInvalidValue;
    return rmsnorm(stream, out, in, weight, eps, NULL, 0);
}

extern "C" cudaError_t ct_cuda_rmsnorm_q16(cudaStream_t stream, const ct_tensor *out, const ct_tensor *in,
                                           const ct_tensor *weight, float eps, void *act, size_t act_bytes) {
    if (!valid_rows(out) || !valid_rows(in) || !same_shape(out, in) || !valid_vector(weight, in->ne0) ||
        in->ne1 > INT32_MAX || !act || (uintptr_t)act % 16 != 0 || in->ne0 % 32 != 0 || out->row_bytes % 16 != 0 ||
        (uintptr_t)out->data % 16 != 0 || act_bytes < ct_cuda_mmv_act_bytes(in->ne1, in->ne0))
        return cudaErrorInvalidValue;
    return rmsnorm(stream, out, in, weight, eps, act, act_bytes);
}

extern "C" cudaError_t ct_cuda_layernorm(cudaStream_t stream, const ct_tensor *out, const ct_tensor *in,
                                         const ct_tensor *weight, const ct_tensor *bias, float eps) {
    if (!valid_rows(out) || !valid_rows(in) || !same_shape(out, in) || !valid_vector(weight, in->ne0) ||
        !valid_vector(bias, in->ne0) || in->ne1 > INT32_MAX)
        return cudaErrorInvalidValue;
    if (in->ne1 == 0) return cudaSuccess;
    const bool vec = rows_vec4(out) && rows_vec4(in) && vector_vec4(weight) && vector_vec4(bias);
    const int n = (int)in->ne0;
    const row_plan p = plan_rows(vec ? n / 4 : n, in->ne1);
    if (vec)
        layernorm_rows<4><<<p.grid, p.block, 0, stream>>>(view(out), view(in), data_or_null(weight),
                                                          data_or_null(bias), n, in->ne1, eps);
    else
        layernorm_rows<1><<<p.grid, p.block, 0, stream>>>(view(out), view(in), data_or_null(weight),
                                                          data_or_null(bias), n, in->ne1, eps);
    return cudaGetLastError();
}
