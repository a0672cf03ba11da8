/* Decode matrix-vector kernels for Q8_0 weights (see mmv_kernel.cuh). */
#include "backend/cuda/mmv_dec_legacy.cuh"
#include "backend/cuda/mmv_kernel.cuh"
#include "backend/cuda/mmv_launch.cuh"

cudaError_t ct_mmv::launch_q8_0(const Params &p, int n, cudaStream_t stream) { return mmv_launch<DecQ8_0>(p, n, stream); }
