/* The row-wise and element-wise ops on the GPU: norms, rope, activations, residual add,
 * scale, learned positions and the gather of output rows. Each launch goes on `stream`;
 * tensors are F32 rows in device memory unless said otherwise. */
#ifndef CT_BACKEND_CUDA_CUDA_ELEMENTWISE_H
#define CT_BACKEND_CUDA_CUDA_ELEMENTWISE_H

#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_batch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Same meaning as the ct_backend ops of the same names (backend/backend.h). */
cudaError_t ct_cuda_rmsnorm(cudaStream_t stream, const ct_tensor *out, const ct_tensor *in, const ct_tensor *weight,
                            float eps);
/* ct_cuda_rmsnorm, and the output also as the GEMV's Q16 input rows at act (ne0 a multiple of
 * 32, out's rows 16-byte aligned, act 16-byte aligned and at least ct_cuda_mmv_act_bytes(ne1,
 * ne0) bytes; cuda_mmv.h): in the same launch where the row is split over blocks in whole
 * 32-element blocks, else by a second launch. Bit-identical to ct_cuda_rmsnorm followed by
 * ct_cuda_mmv_quantize of its output. */
cudaError_t ct_cuda_rmsnorm_q16(cudaStream_t stream, const ct_tensor *out, const ct_tensor *in,
                                const ct_tensor *weight, float eps, void *act, size_t act_bytes);
cudaError_t ct_cuda_layernorm(cudaStream_t stream, const ct_tensor *out, const ct_tensor *in,
                              const ct_tensor *weight, const ct_tensor *bias, float eps);
/* positions from batch->pos; x is [n_tokens rows][n_heads * head_dim] or already split into heads
 * (rows = n_tokens * n_heads); rows map to tokens by row / (x->ne1 / batch->n_tokens). */
cudaError_t ct_cuda_rope(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *x, const ct_rope *rope);
/* rope(q), rope(k), then k and v to their cache cells (as ct_cuda_kv_store), one launch, bit for
 * bit the three ops' results; cudaErrorNotSupported where it cannot (not one row per token,
 * q, k, v overlapping, an empty rotation): run them one by one. */
cudaError_t ct_cuda_rope_store(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *q,
                               const ct_tensor *k, const ct_tensor *k_cache, const ct_tensor *v_cache,
                               const ct_tensor *v, const ct_rope *rope);
cudaError_t ct_cuda_add(cudaStream_t stream, const ct_tensor *out, const ct_tensor *a, const ct_tensor *b);
cudaError_t ct_cuda_scale(cudaStream_t stream, const ct_tensor *x, float s);
cudaError_t ct_cuda_gelu(cudaStream_t stream, const ct_tensor *x);
cudaError_t ct_cuda_swiglu(cudaStream_t stream, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up);
cudaError_t ct_cuda_geglu(cudaStream_t stream, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up);
/* x[t] += table[pos[t]] (table F32 or F16) */
cudaError_t ct_cuda_add_positions(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *x,
                                  const ct_tensor *table);
/* out[i] = in[out_rows[first + i]] for i < out->ne1 */
cudaError_t ct_cuda_gather_outputs(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *out,
                                   const ct_tensor *in, int32_t first);

/* Greedy sampling on the GPU: out_ids[r] (device memory, logits->ne1 entries) = the index of
 * the largest element of row r, the lowest index among equal maxima; -1 where the CPU
 * sampler would refuse the row (a NaN or +inf in it, or every element -inf). */
cudaError_t ct_cuda_argmax_rows(cudaStream_t stream, const ct_tensor *logits, int32_t *out_ids);

#ifdef __cplusplus
}
#endif

#endif
