/* KV store: k[t] and v[t] (F32 rows) to cell kv_cell[t] of the caches, rounded to F16
 * (round to nearest even, as ct_fp32_to_fp16) or copied as F32. One block per (token,
 * k or v); 4 values per thread per step when rows and pointers allow 16-byte loads. */
#include <cuda_fp16.h>

#include "backend/cuda/cuda_attention.h"

namespace {

constexpr int kThreads = 128;

struct kv_side {
    const float *src;
    void *dst;
    int64_t src_row; /* bytes */
    int64_t dst_row; /* bytes */
    int32_t n;       /* values per row */
    int32_t f32;     /* cache type */
    int32_t vec;     /* 4 at a time */
};

struct kv_store_params {
    kv_side side[2]; /* keys, values */
    const int64_t *kv_cell;
};

__global__ void __launch_bounds__(kThreads) kv_store_kernel(const kv_store_params p) {
    const kv_side s = blockIdx.y ? p.side[1] : p.side[0]; /* no dynamic index into parameter space */
    const int64_t t = blockIdx.x;
    const float *src = reinterpret_cast<const float *>(reinterpret_cast<const char *>(s.src) + t * s.src_row);
    char *dst = reinterpret_cast<char *>(s.dst) + p.kv_cell[t] * s.dst_row;
    if (s.vec) {
        for (int i = threadIdx.x * 4; i < s.n; i += kThreads * 4) {
            const float4 x = *reinterpret_cast<const float4 *>(src + i);
            if (s.f32) {
                *reinterpret_cast<float4 *>(reinterpret_cast<float *>(dst) + i) = x;
            } else {
                __half2 lo = __floats2half2_rn(x.x, x.y), hi = __floats2half2_rn(x.z, x.w);
                uint2 u;
                u.x = *reinterpret_cast<uint32_t *>(&lo);
                u.y = *reinterpret_cast<uint32_t *>(&hi);
                *reinterpret_cast<uint2 *>(reinterpret_cast<__half *>(dst) + i) = u;
            }
        }
    } else {
        for (int i = threadIdx.x; i < s.n; i += kThreads) {
            if (s.f32)
                reinterpret_cast<float *>(dst)[i] = src[i];
            else
                reinterpret_cast<__half *>(dst)[i] = __float2half_rn(src[i]);
        }
    }
}

bool aligned(const void *ptr, int64_t row, unsigned a) {
    return (reinterpret_cast<uintptr_t>(ptr) % a) == 0 && row % a == 0;
}

bool make_side(kv_side *s, const ct_tensor *cache, const ct_tensor *x) {
    if (!cache || !x || !cache->data || !x->data || x->type != CT_TYPE_F32) return false;
    if (cache->type != CT_TYPE_F16 && cache->type != CT_TYPE_F32) return false;
    if (x->ne0 > cache->ne0 || x->ne0 > INT32_MAX || x->row_bytes % 4) return false;
    s->src = static_cast<const float *>(x->data);
    s->dst = cache->data;
    s->src_row = (int64_t)x->row_bytes;
    s->dst_row = (int64_t)cache->row_bytes;
    s->n = (int32_t)x->ne0;
    s->f32 = cache->type == CT_TYPE_F32;
    const unsigned dst_align = s->f32 ? 16 : 8;
    s->vec = s->n % 4 == 0 && aligned(s->src, s->src_row, 16) && aligned(s->dst, s->dst_row, dst_align);
    return true;
}

} // namespace

extern "C" cudaError_t ct_cuda_kv_store(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *k_cache,
                                        const ct_tensor *v_cache, const ct_tensor *k, const ct_tensor *v) {
    kv_store_params p;
    if (!make_side(&p.side[0], k_cache, k) || !make_side(&p.side[1], v_cache, v)) return cudaErrorInvalidValue;
    if (k->ne1 != v->ne1 || k->ne1 > batch->n_tokens || k->ne1 > INT32_MAX) return cudaErrorInvalidValue;
    if (k->ne1 == 0) return cudaSuccess;
    p.kv_cell = batch->kv_cell;
    kv_store_kernel<<<dim3((unsigned)k->ne1, 2), kThreads, 0, stream>>>(p);
    return cudaGetLastError();
}
