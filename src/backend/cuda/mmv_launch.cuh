/* Private to mmv*.cu: one launcher per weight type, each compiled in its own mmv_<type>.cu
 * (so the types build in parallel). Arguments validated by ct_cuda_mmv (mmv.cu); n is
 * 1..CT_CUDA_MMV_MAX_TOKENS. */
#ifndef CT_BACKEND_CUDA_MMV_LAUNCH_CUH
#define CT_BACKEND_CUDA_MMV_LAUNCH_CUH

#include "backend/cuda/mmv_common.cuh"

namespace ct_mmv {

cudaError_t launch_f32(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_f16(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_bf16(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q4_0(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q4_1(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q5_0(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q5_1(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q8_0(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q2_k(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q3_k(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q4_k(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q5_k(const Params &p, int n, cudaStream_t stream);
cudaError_t launch_q6_k(const Params &p, int n, cudaStream_t stream);

/* n F32 rows of k elements (k a multiple of 32; rows in_stride floats apart, 16-byte
 * aligned) to Q16 rows act_stride bytes apart (mmv_q16.cuh; mmv_act.cu) */
cudaError_t q16_quantize(const float *in, int64_t in_stride, int k, int n, uint8_t *act, int64_t act_stride,
                         cudaStream_t stream);

} // namespace ct_mmv

#endif
