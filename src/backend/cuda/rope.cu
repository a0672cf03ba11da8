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
 * difference of a double cos or sin.
 *
 * The fused rope + KV store (ct_cuda_rope_store) splits a token further, a head or a chunk of
 * v per row of threads, each thread taking its pair's cos/sin itself: a decode token is ~100
 * small units in one wave rather than one block. */
#include <math.h>
#include <stdint.h>

#include <cuda_fp16.h>

#include "backend/cuda/cuda_elementwise.h"
#include "backend/cuda/cuda_views.h"

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

/* cos and sin of pair i's angle at position pos, in double, rounded to float */
__device__ __forceinline__ void pair_cos_sin(const rope_args &a, double pos, int i, float &c, float &s) {
    double freq = i < kFreqTable ? a.freq[i] : pow(a.freq_base, -2.0 * i / a.n_dims) * a.freq_scale;
    if (a.freq_factors) freq /= (double)a.freq_factors[i];
    double sd, cd;
    sincos(pos * freq, &sd, &cd);
    c = (float)cd;
    s = (float)sd;
}

/* Token t's cos/sin pairs into shared memory ([half] cos, then [half] sin); ends with a
 * barrier. */
__device__ void token_cos_sin(const rope_args &a, int64_t t, float *cos_sin) {
    const double pos = (double)a.pos[t];
    for (int i = threadIdx.x; i < a.half; i += blockDim.x) pair_cos_sin(a, pos, i, cos_sin[i], cos_sin[a.half + i]);
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

__device__ __forceinline__ void store_value(const store_side &sd, char *dst, int i, float v) {
    if (sd.f32)
        reinterpret_cast<float *>(dst)[i] = v;
    else
        reinterpret_cast<__half *>(dst)[i] = __float2half_rn(v);
}

/* The fused op's work items ("units") of one token: its q heads, then its k heads, then its v
 * row in chunks of 2 * blockDim.x values. A unit takes one row of threads (threadIdx.y), a
 * thread one rotation pair i (and i + blockDim.x, ...), so a token's units spread over
 * several blocks: at one token the op is one wave of small blocks instead of one block
 * walking ~16 KB of q, k and v with dependent loads. */
struct store_units {
    int32_t q_heads, k_heads, v_chunks, per_block;
};

/* rope(q), rope(k), kv_store(k, v): the three ops' results, bit for bit. The cos/sin of a
 * pair is the same double expression as token_cos_sin; a k head's rotated values go to k (in
 * place, as the rope op leaves them) and to the cache, with its unrotated tail (n_dims <=
 * j < head_dim) copied. */
__global__ void __launch_bounds__(kMaxThreads)
    rope_store_units(const rope_args a, const rope_target q, const rope_target k, const store_side ks,
                     const store_side vs, const int64_t *kv_cell, const store_units u) {
    const int64_t t = blockIdx.x;
    const int unit = blockIdx.y * u.per_block + threadIdx.y;
    const int n_units = u.q_heads + u.k_heads + u.v_chunks;
    if (unit >= n_units) return;
    const int64_t cell = kv_cell[t];

    if (unit >= u.q_heads + u.k_heads) { /* a chunk of v */
        const int chunk = 2 * blockDim.x, j0 = (unit - u.q_heads - u.k_heads) * chunk;
        const float *src = reinterpret_cast<const float *>(reinterpret_cast<const char *>(vs.src) + t * vs.src_row);
        char *dst = vs.dst + cell * vs.dst_row;
        for (int j = j0 + threadIdx.x; j < j0 + chunk && j < vs.n; j += blockDim.x) store_value(vs, dst, j, src[j]);
        return;
    }
    const bool is_k = unit >= u.q_heads;
    const rope_target &x = is_k ? k : q;
    const int g = is_k ? unit - u.q_heads : unit; /* head of the token, rows_per_token == 1 */
    float *row = reinterpret_cast<float *>(x.x + (size_t)t * x.row_bytes);
    float *head = row + (int64_t)g * a.head_dim;
    char *cache = ks.dst + cell * ks.dst_row;
    const int head_off = g * a.head_dim;
    const double pos = (double)a.pos[t];
    for (int i = threadIdx.x; i < a.half; i += blockDim.x) {
        float c, s;
        pair_cos_sin(a, pos, i, c, s);
        const int ia = a.neox ? i : 2 * i, ib = a.neox ? i + a.half : 2 * i + 1;
        const float x0 = head[ia], x1 = head[ib];
        const float y0 = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
        const float y1 = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
        head[ia] = y0;
        head[ib] = y1;
        if (is_k) {
            store_value(ks, cache, head_off + ia, y0);
            store_value(ks, cache, head_off + ib, y1);
        }
    }
    if (is_k) /* the part of the head rope leaves alone */
        for (int j = a.n_dims + threadIdx.x; j < a.head_dim; j += blockDim.x) store_value(ks, cache, head_off + j, head[j]);
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
        ct_cuda_views_overlap(q, k) || ct_cuda_views_overlap(q, v) || ct_cuda_views_overlap(k, v))
        return cudaErrorNotSupported;
    const int tx = threads_for(a.half > (a.head_dim + 1) / 2 ? a.half : (a.head_dim + 1) / 2);
    const int tx_unit = tx > 128 ? 128 : tx;
    store_units u;
    u.q_heads = tq.heads_per_row;
    u.k_heads = tk.heads_per_row;
    u.v_chunks = (vs.n + 2 * tx_unit - 1) / (2 * tx_unit);
    u.per_block = 128 / tx_unit > 0 ? 128 / tx_unit : 1;
    const int64_t n_units = (int64_t)u.q_heads + u.k_heads + u.v_chunks;
    const int64_t blocks_y = (n_units + u.per_block - 1) / u.per_block;
    if (blocks_y > 65535) return cudaErrorNotSupported;
    rope_store_units<<<dim3((unsigned)batch->n_tokens, (unsigned)blocks_y), dim3((unsigned)tx_unit, (unsigned)u.per_block),
                       0, stream>>>(a, tq, tk, ks, vs, batch->kv_cell, u);
    return cudaGetLastError();
}
