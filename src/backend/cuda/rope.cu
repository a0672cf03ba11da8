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

#include "backend/cuda/cuda_elementwise.h"

namespace {

/* frequencies passed by value; pairs past this many (n_dims > 256) compute theirs on the GPU */
constexpr int kFreqTable = 128;
constexpr int kMaxThreads = 256;
constexpr size_t kMaxSharedBytes = 48 * 1024;

struct rope_args {
    double freq[kFreqTable]; /* pow(base, -2i/n_dims) * freq_scale for i < kFreqTable */
    double freq_base, freq_scale;
    const float *freq_factors; /* NULL or n_dims/2 divisors */
    char *x;
    size_t row_bytes;
    const int32_t *pos;
    int32_t rows_per_token, heads_per_row, head_dim, n_dims, half;
    bool neox;
};

__global__ void __launch_bounds__(kMaxThreads) rope_tokens(const rope_args a) {
    extern __shared__ float cos_sin[]; /* [half] cos, then [half] sin */
    const int64_t t = blockIdx.x;
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

    /* items (head g of the token, pair i), pair-fastest: a warp reads neighbouring elements */
    const int items = a.rows_per_token * a.heads_per_row * a.half;
    for (int k = threadIdx.x; k < items; k += blockDim.x) {
        const int g = k / a.half, i = k - g * a.half;
        const int64_t row = t * a.rows_per_token + g / a.heads_per_row;
        float *head = reinterpret_cast<float *>(a.x + (size_t)row * a.row_bytes) +
                      (int64_t)(g % a.heads_per_row) * a.head_dim;
        /* NORM pairs neighbours (2i, 2i+1); NEOX pairs element i with i + n_dims/2 */
        const int ia = a.neox ? i : 2 * i, ib = a.neox ? i + a.half : 2 * i + 1;
        const float c = cos_sin[i], s = cos_sin[a.half + i];
        const float x0 = head[ia], x1 = head[ib];
        head[ia] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
        head[ib] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
    }
}

} // namespace

extern "C" cudaError_t ct_cuda_rope(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *x,
                                    const ct_rope *rope) {
    if (!batch || !x || !rope || !x->data || x->type != CT_TYPE_F32 || x->ne0 <= 0 || x->ne1 < 0 ||
        x->row_bytes % sizeof(float) != 0 || ((uintptr_t)x->data & 3u) != 0 ||
        (x->ne1 > 1 && x->row_bytes < (size_t)x->ne0 * sizeof(float)))
        return cudaErrorInvalidValue;
    if ((rope->style != CT_ROPE_NORM && rope->style != CT_ROPE_NEOX) || rope->head_dim <= 0 || x->ne0 % rope->head_dim != 0 || rope->n_dims < 0 || rope->n_dims % 2 != 0 ||
        rope->n_dims > rope->head_dim)
        return cudaErrorInvalidValue;
    if (x->ne1 == 0 || rope->n_dims == 0) return cudaSuccess;
    if (batch->n_tokens <= 0 || !batch->pos || x->ne1 % batch->n_tokens != 0) return cudaErrorInvalidValue;

    rope_args a;
    a.half = rope->n_dims / 2;
    const int64_t rows_per_token = x->ne1 / batch->n_tokens, heads_per_row = x->ne0 / rope->head_dim;
    if (rows_per_token * heads_per_row * a.half > INT32_MAX ||
        (size_t)a.half * 2 * sizeof(float) > kMaxSharedBytes)
        return cudaErrorInvalidValue;
    const ct_tensor *ff = rope->freq_factors;
    if (ff && (!ff->data || ff->type != CT_TYPE_F32 || ff->ne0 * (ff->ne1 > 0 ? ff->ne1 : 0) < a.half))
        return cudaErrorInvalidValue;

    /* the same expression as ct_cpu_rope, evaluated by the same libm */
    for (int32_t i = 0; i < a.half && i < kFreqTable; i++)
        a.freq[i] = pow((double)rope->freq_base, -2.0 * i / rope->n_dims) * rope->freq_scale;
    for (int32_t i = a.half; i < kFreqTable; i++) a.freq[i] = 0.0;
    a.freq_base = (double)rope->freq_base;
    a.freq_scale = (double)rope->freq_scale;
    a.freq_factors = ff ? static_cast<const float *>(ff->data) : nullptr;
    a.x = static_cast<char *>(x->data);
    a.row_bytes = x->row_bytes;
    a.pos = batch->pos;
    a.rows_per_token = (int32_t)rows_per_token;
    a.heads_per_row = (int32_t)heads_per_row;
    a.head_dim = rope->head_dim;
    a.n_dims = rope->n_dims;
    a.neox = rope->style == CT_ROPE_NEOX;

    const int64_t items = rows_per_token * heads_per_row * a.half;
    int threads = (int)((items + 31) / 32 * 32);
    if (threads > kMaxThreads) threads = kMaxThreads;
    const size_t shared = (size_t)a.half * 2 * sizeof(float);
    rope_tokens<<<dim3((unsigned)batch->n_tokens), dim3((unsigned)threads), shared, stream>>>(a);
    return cudaGetLastError();
}
