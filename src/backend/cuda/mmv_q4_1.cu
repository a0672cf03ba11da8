/* Decode matrix-vector kernels for Q4_1 weights (mmv_direct.cuh; mmv_kernel.cuh with CTORCH_CUDA_MMV=ring). */
#include "backend/cuda/mmv_dec_legacy.cuh"
#include "backend/cuda/mmv_direct.cuh"
#include "backend/cuda/mmv_kernel.cuh"
#include "backend/cuda/mmv_launch.cuh"

cudaError_t ct_mmv::launch_q4_1(const Params &p, int n, cudaStream_t stream) { return p.direct ? direct_launch<LaneQ4_1>(p, n, stream) : mmv_launch<DecQ4_1>(p, n, stream); }
