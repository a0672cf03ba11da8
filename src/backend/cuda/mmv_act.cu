/* The direct GEMV's activation quantizer: F32 rows to the Q16 rows of mmv_q16.cuh, rounded
 * exactly as the CPU's Q16 quantizer (src/backend/cpu/kernels/qk_ref.c; q16_quantize4). An
 * all-zero block gets d = 0 and zero quants. Eight threads a 32-element block, four values
 * each. */
#include "backend/cuda/mmv_launch.cuh"
#include "backend/cuda/mmv_q16.cuh"

namespace {

using namespace ct_mmv;

constexpr int kQuantThreads = 256;

__global__ void __launch_bounds__(kQuantThreads) q16_quantize_kernel(const float *in, int64_t in_stride, int k, int n,
                                                                   uint8_t *act, int64_t act_stride) {
    const int quads = k / 4; /* a multiple of 8: groups of eight threads never straddle rows */
    const int64_t i = static_cast<int64_t>(blockIdx.x) * kQuantThreads + threadIdx.x;
    if (i >= static_cast<int64_t>(quads) * n) return; /* whole eight-thread groups leave together */
    const int t = static_cast<int>(i / quads), q = static_cast<int>(i % quads);
    const float4 v = *reinterpret_cast<const float4 *>(in + t * in_stride + 4 * q);
    const float x[4] = {v.x, v.y, v.z, v.w};
    uint32_t qs, ql;
    float d;
    q16_quantize4(x, qs, ql, d);
    q16_store4(act + t * act_stride, k, 4 * static_cast<int64_t>(q), qs, ql, d);
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
