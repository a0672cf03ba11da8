/* Matrix-vector kernels for small batches (decode): out[t] = W in[t] (+ bias) for up to
 * CT_CUDA_MMV_MAX_TOKENS rows of F32 activations, W in its GGUF block type (as uploaded by
 * ct_cuda_weight_upload). Memory-bound: each weight byte is read once, with wide coalesced
 * loads, and dequantized in registers. */
#ifndef CT_BACKEND_CUDA_CUDA_MMV_H
#define CT_BACKEND_CUDA_CUDA_MMV_H

#include <stdbool.h>

#include <cuda_runtime_api.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CT_CUDA_MMV_MAX_TOKENS 8

bool ct_cuda_mmv_type_supported(uint32_t type);

/* out: [n][w->ne1] F32, in: [n][w->ne0] F32, n = in->ne1 <= CT_CUDA_MMV_MAX_TOKENS; bias NULL
 * or w->ne1 F32. Row strides come from the tensors' row_bytes. */
cudaError_t ct_cuda_mmv(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                        const ct_tensor *in);

/* out[t] += W in[t] (+ bias): the residual add fused into the epilogue, bit-identical to
 * ct_cuda_mmv into a temporary followed by out = out + temporary. */
cudaError_t ct_cuda_mmv_add(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                            const ct_tensor *in);

#ifdef __cplusplus
}
#endif

#endif
