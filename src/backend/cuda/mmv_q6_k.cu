/* Decode matrix-vector kernels for Q6_K weights (mmv_direct.cuh; mmv_kernel.cuh with CTORCH_CUDA_MMV=ring). */
#include "backend/cuda/mmv_dec_k.cuh"
#include "backend/cuda/mmv_direct.cuh"
#include "backend/cuda/mmv_kernel.cuh"
#include "backend/cuda/mmv_launch.cuh"

cudaError_t ct_mmv::launch_q6_k(const Params &p, int n, cudaStream_t stream) {
    /* one token on F32 activations: the ring kernel (measured faster for Q6_K, docs/perf.md
     * "third round"); on Q16 activations and for more tokens the direct kernel */
    return p.direct && (n > 1 || p.act) ? direct_launch<LaneQ6_K>(p, n, stream) : mmv_launch<DecQ6_K>(p, n, stream);
}
