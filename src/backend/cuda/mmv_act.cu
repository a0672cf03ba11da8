/* The direct GEMV's activation quantizer: F32 rows to the Q16 rows of mmv_q16.cuh, rounded
 * exactly as the CPU's Q16 quantizer (src/backend/cpu/kernels/qk_ref.c): d = absmax/32512,
 * V = round-to-nearest-even(clamp(x * (32512/absmax))), qs = floor((V + 128)/256),
 * ql = max(V - 256 qs, -127). A NaN is skipped by the absmax and becomes -32512; an all-zero
 * block gets d = 0 and zero quants. Eight threads a 32-element block, four values each. */
#include "backend/cuda/mmv_launch.cuh"
#include "backend/cuda/mmv_q16.cuh"

namespace {

constexpr int kQuantThreads = 256;

__global__ void __launch_bounds__(kQuantThreads) q16_quantize_kernel(const float *in, int64_t in_stride, int k, int n,
                                                                   uint8_t *act, int64_t act_stride) {
    const int quads = k / 4; /* a multiple of 8: groups of eight threads never straddle rows */
    const int64_t i = static_cast<int64_t>(blockIdx.x) * kQuantThreads + threadIdx.x;
    if (i >= static_cast<int64_t>(quads) * n) return; /* whole eight-thread groups leave together */
    const int t = static_cast<int>(i / quads), q = static_cast<int>(i % quads);
    const float4 x = *reinterpret_cast<const float4 *>(in + t * in_stride + 4 * q);
    float amax = fmaxf(fmaxf(fabsf(x.x), fabsf(x.y)), fmaxf(fabsf(x.z), fabsf(x.w))); /* fmaxf skips NaN */
    const unsigned group = 0xFFu << (threadIdx.x & 24);
#pragma unroll
    for (int m = 1; m < 8; m <<= 1) amax = fmaxf(amax, __shfl_xor_sync(group, amax, m));
    const float lim = 32512.0f;
    const float id = amax > 0.0f ? lim / amax : 0.0f;
    const float v[4] = {x.x, x.y, x.z, x.w};
    uint32_t hi = 0, lo = 0;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        float s = __fmul_rn(v[j], id);
        s = s > -lim ? s : -lim; /* NaN -> -lim, as the CPU's clamp */
        s = s < lim ? s : lim;
        const int V = __float2int_rn(s);
        const int h = (V + 128) >> 8;
        int l = V - 256 * h;
        l = l < -127 ? -127 : l;
        hi |= (static_cast<uint32_t>(h) & 0xFFu) << (8 * j);
        lo |= (static_cast<uint32_t>(l) & 0xFFu) << (8 * j);
    }
    uint8_t *row = act + t * act_stride;
    reinterpret_cast<uint32_t *>(row)[q] = hi;
    reinterpret_cast<uint32_t *>(row + k)[q] = lo;
    if ((q & 7) == 0) reinterpret_cast<float *>(row + 2 * static_cast<int64_t>(k))[q >> 3] = amax / lim;
}

} // namespace

cudaError_t ct_mmv::q16_quantize(const float *in, int64_t in_stride, int k, int n, uint8_t *act, int64_t act_stride,
                                 cudaStream_t stream) {
    if (k % 32 != 0 || n < 1 || act_stride < q16_row_bytes(k) || act_stride % 16 != 0) return cudaErrorInvalidValue;
    const int64_t threads = static_cast<int64_t>(k / 4) * n;
    q16_quantize_kernel<<<static_cast<unsigned>((threads + kQuantThreads - 1) / kQuantThreads), kQuantThreads, 0,
                          stream>>>(in, in_stride, k, n, act, act_stride);
    return cudaGetLastError();
}
