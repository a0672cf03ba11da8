/* Decode matrix-vector kernels for BF16 weights (see mmv_kernel.cuh). */
#include "backend/cuda/mmv_dec_float.cuh"
#include "backend/cuda/mmv_kernel.cuh"
#include "backend/cuda/mmv_launch.cuh"

cudaError_t ct_mmv::launch_bf16(const Params &p, int n, cudaStream_t stream) { return mmv_launch<DecBF16>(p, n, stream); }
