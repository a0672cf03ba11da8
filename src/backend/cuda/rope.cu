/* Rotary position embedding on the GPU: one block per token rotates every head of the token.
 *
 * The angle is taken as the CPU reference takes it (ops_rope.c): the frequency
 * pow(base, -2i/n_dims) * freq_scale in double (computed here on the host with the same libm
 * call, passed in the kernel's arguments), divided by freq_factors[i] in double, times the
 * position in double; cos and sin in double, rounded to float. Positions in the tens of
 * thousands times a float frequency would lose digits of the angle. Each block computes the
 * token's cos/sin pairs once into shared memory and then rotates all its heads with them; the
 * rotation itself is the reference's float expression, rounded the same way (no fused
 * multiply-add), so outputs match the reference to the last bit but for a rare last-bit
 * difference of a double cos or sin. */
#include <math.h>
#include <stdint.h>

#include <cuda_fp16.h>

#include "backend/cuda/cuda_elementwise.h"

namespace {

/* frequencies passed by value; pairs past this many (n_dims > 256) compute theirs on the GPU */
constexpr int kFreqTable = 128;
constexpr int kMaxThreads = 256;
constexpr size_t kMaxSharedBytes = 48 * 1024;

/* the rows one rope rotates */
struct rope_target {
    char *x;
    size_t row_bytes;
    int32_t rows_per_token, heads_per_row;
};

struct rope_args {
    double freq[kFreqTable]; /* pow(base, -2i/n_dims) * freq_scale for i < kFreqTable */
    double freq_base, freq_scale;
    const float *freq_factors; /* NULL or n_dims/2 divisors */
    const int32_t *pos;
    int32_t head_dim, n_dims, half;
    bool neox;
};

/* Token t's cos/sin pairs into shared memory ([half] cos, then [half] sin); ends with a
 * barrier. */
__device__ void token_cos_sin(const rope_args &a, int64_t t, float *cos_sin) {
    const double pos = (double)a.pos[t];
    for (int i = threadIdx.x; i < a.half; i += blockDim.x) {
        double freq = i < kFreqTable ? a.freq[i] : pow(a.freq_base, -2.0 * i / a.n_dims) * a.freq_scale;
        if (a.freq_factors) freq /= (double)a.freq_factors[i];
        double s, c;
        sincos(pos * freq, &s, &c);
        cos_sin[i] = (float)c;
        cos_sin[a.half + i] = (float)s;
    }
    __syncthreads();
}

/* Rotates every head of token t's rows of x by the pairs in cos_sin. */
__device__ void rotate_token(const rope_args &a, const rope_target &x, int64_t t, const float *cos_sin) {
    /* items (head g of the token, pair i), pair-fastest: a warp reads neighbouring elements */
    const int items = x.rows_per_token * x.heads_per_row * a.half;
    for (int k = threadIdx.x; k < items; k += blockDim.x) {
        const int g = k / a.half, i = k - g * a.half;
        const int64_t row = t * x.rows_per_token + g / x.heads_per_row;
        float *head = reinterpret_cast<float *>(x.x + (size_t)row * x.row_bytes) + (int64_t)(g % x.heads_per_row) * a.head_dim;
        /* NORM pairs neighbours (2i, 2i+1); NEOX pairs element i with i + n_dims/2 */
        const int ia = a.neox ? i : 2 * i, ib = a.neox ? i + a.half : 2 * i + 1;
        const float c = cos_sin[i], s = cos_sin[a.half + i];
        const float x0 = head[ia], x1 = head[ib];
        head[ia] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
        head[ib] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
    }
}

__global__ void __launch_bounds__(kMaxThreads) rope_tokens(const rope_args a, const rope_target x) {
    extern __shared__ float cos_sin[];
    token_cos_sin(a, blockIdx.x, cos_sin);
    rotate_token(a, x, blockIdx.x, cos_sin);
}

/* One cache side of the fused op: row t of src to cell kv_cell[t] of dst (F16 rounded to
 * nearest even, as kv_store.cu, or F32). */
struct store_side {
    const float *src;
    char *dst;
    size_t src_row, dst_row;
    int32_t n;
    bool f32;
};

__device__ void store_row(const store_side &sd, int64_t t, int64_t cell) {
    const float *src = reinterpret_cast<const float *>(reinterpret_cast<const char *>(sd.src) + t * sd.src_row);
    char *dst = sd.dst + cell * sd.dst_row;
    for (int i = threadIdx.x; i < sd.n; i += blockDim.x) {
        if (sd.f32)
            reinterpret_cast<float *>(dst)[i] = src[i];
        else
            reinterpret_cast<__half *>(dst)[i] = __float2half_rn(src[i]);
    }
}

/* rope(q), rope(k), kv_store(k, v) of one token per block: the three ops' results, bit for bit */
__global__ void __launch_bounds__(kMaxThreads)
    rope_store_tokens(const rope_args a, const rope_target q, const rope_target k, const store_side ks,
                      const store_side vs, const int64_t *kv_cell) {
    extern __shared__ float cos_sin[];
    const int64_t t = blockIdx.x;
    token_cos_sin(a, t, cos_sin);
    rotate_token(a, q, t, cos_sin);
    rotate_token(a, k, t, cos_sin);
    __syncthreads(); /* the token's k is rotated: store it */
    const int64_t cell = kv_cell[t];
    store_row(ks, t, cell);
    store_row(vs, t, cell);
}

/* Checks x and rope against the batch and fills the arguments; cudaSuccess with *empty set
 * when there is nothing to rotate. */
cudaError_t prepare_rope(const ct_cuda_batch *batch, const ct_tensor *x, const ct_rope *rope, rope_args *a,
                         rope_target *target, bool *empty) {
    *empty = false;
    if (!batch || !x || !rope || !x->data || x->type != CT_TYPE_F32 || x->ne0 <= 0 || x->ne1 < 0 ||
        x->row_bytes % sizeof(float) != 0 || ((uintptr_t)x->data & 3u) != 0 ||
        (x->ne1 > 1 && x->row_bytes < (size_t)x->ne0 * sizeof(float)))
        return cudaErrorInvalidValue;
    if ((rope->style != CT_ROPE_NORM && rope->style != CT_ROPE_NEOX) || rope->head_dim <= 0 ||
        x->ne0 % rope->head_dim != 0 || rope->n_dims < 0 || rope->n_dims % 2 != 0 || rope->n_dims > rope->head_dim)
        return cudaErrorInvalidValue;
    if (x->ne1 == 0 || rope->n_dims == 0) {
        *empty = true;
        return cudaSuccess;
    }
    if (batch->n_tokens <= 0 || !batch->pos || x->ne1 % batch->n_tokens != 0) return cudaErrorInvalidValue;

    a->half = rope->n_dims / 2;
    const int64_t rows_per_token = x->ne1 / batch->n_tokens, heads_per_row = x->ne0 / rope->head_dim;
    if (rows_per_token * heads_per_row * a->half > INT32_MAX || (size_t)a->half * 2 * sizeof(float) > kMaxSharedBytes)
        return cudaErrorInvalidValue;
    const ct_tensor *ff = rope->freq_factors;
    if (ff && (!ff->data || ff->type != CT_TYPE_F32 || ff->ne0 * (ff->ne1 > 0 ? ff->ne1 : 0) < a->half))
        return cudaErrorInvalidValue;

    /* the same expression as ct_cpu_rope, evaluated by the same libm */
    for (int32_t i = 0; i < a->half && i < kFreqTable; i++)
        a->freq[i] = pow((double)rope->freq_base, -2.0 * i / rope->n_dims) * rope->freq_scale;
    for (int32_t i = a->half; i < kFreqTable; i++) a->freq[i] = 0.0;
    a->freq_base = (double)rope->freq_base;
    a->freq_scale = (double)rope->freq_scale;
    a->freq_factors = ff ? static_cast<const float *>(ff->data) : nullptr;
    a->pos = batch->pos;
    a->head_dim = rope->head_dim;
    a->n_dims = rope->n_dims;
    a->neox = rope->style == CT_ROPE_NEOX;
    target->x = static_cast<char *>(x->data);
    target->row_bytes = x->row_bytes;
    target->rows_per_token = (int32_t)rows_per_token;
    target->heads_per_row = (int32_t)heads_per_row;
    return cudaSuccess;
}

int threads_for(int64_t items) {
    int threads = (int)((items + 31) / 32 * 32);
    return threads > kMaxThreads ? kMaxThreads : threads;
}

bool make_store_side(store_side *sd, const ct_tensor *cache, const ct_tensor *x) {
    if (!cache || !x || !cache->data || !x->data || x->type != CT_TYPE_F32) return false;
    if (cache->type != CT_TYPE_F16 && cache->type != CT_TYPE_F32) return false;
    if (x->ne0 > cache->ne0 || x->ne0 > INT32_MAX || x->row_bytes % 4) return false;
    sd->src = static_cast<const float *>(x->data);
    sd->dst = static_cast<char *>(cache->data);
    sd->src_row = x->row_bytes;
    sd->dst_row = cache->row_bytes;
    sd->n = (int32_t)x->ne0;
    sd->f32 = cache->type == CT_TYPE_F32;
    return true;
}

bool overlap(const ct_tensor *a, const ct_tensor *b) {
    const char *a0 = static_cast<const char *>(a->data), *b0 = static_cast<const char *>(b->data);
    const char *a1 = a0 + a->row_bytes * (size_t)(a->ne1 > 0 ? a->ne1 - 1 : 0) + (size_t)a->ne0 * sizeof(float);
    const char *b1 = b0 + b->row_bytes * (size_t)(b->ne1 > 0 ? b->ne1 - 1 : 0) + (size_t)b->ne0 * sizeof(float);
    return a0 < b1 && b0 < a1;
}

} // namespace

extern "C" cudaError_t ct_cuda_rope(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *x,
                                    const ct_rope *rope) {
    rope_args a;
    rope_target target;
    bool empty;
    cudaError_t e = prepare_rope(batch, x, rope, &a, &target, &empty);
    if (e != cudaSuccess || empty) return e;
    const int threads = threads_for((int64_t)target.rows_per_token * target.heads_per_row * a.half);
    const size_t shared = (size_t)a.half * 2 * sizeof(float);
    rope_tokens<<<dim3((unsigned)batch->n_tokens), dim3((unsigned)threads), shared, stream>>>(a, target);
    return cudaGetLastError();
}

extern "C" cudaError_t ct_cuda_rope_store(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *q,
                                          const ct_tensor *k, const ct_tensor *k_cache, const ct_tensor *v_cache,
                                          const ct_tensor *v, const ct_rope *rope) {
    rope_args a, ak;
    rope_target tq, tk;
    bool empty_q, empty_k;
    cudaError_t e = prepare_rope(batch, q, rope, &a, &tq, &empty_q);
    if (e == cudaSuccess) e = prepare_rope(batch, k, rope, &ak, &tk, &empty_k);
    if (e != cudaSuccess) return e;
    store_side ks, vs;
    /* one row per token everywhere, no overlaps between q, k and v: else the ops one by one */
    if (empty_q || empty_k || !make_store_side(&ks, k_cache, k) || !make_store_side(&vs, v_cache, v) ||
        q->ne1 != batch->n_tokens || k->ne1 != batch->n_tokens || v->ne1 != batch->n_tokens || !batch->kv_cell ||
        overlap(q, k) || overlap(q, v) || overlap(k, v))
        return cudaErrorNotSupported;
    const int64_t items = (int64_t)(tq.heads_per_row > tk.heads_per_row ? tq.heads_per_row : tk.heads_per_row) * a.half;
    const int threads = threads_for(items);
    const size_t shared = (size_t)a.half * 2 * sizeof(float);
    rope_store_tokens<<<dim3((unsigned)batch->n_tokens), dim3((unsigned)threads), shared, stream>>>(a, tq, tk, ks, vs,
                                                                                                     batch->kv_cell);
    return cudaGetLastError();
}
