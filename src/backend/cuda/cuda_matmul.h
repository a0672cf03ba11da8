/* Quantized matmuls and row lookups on the GPU: weights stay in their GGUF block types (or a
 * layout repacked once at upload) and are dequantized inside the kernels.
 *
 *   small batches (decode): a GEMV kernel per type that reads each weight byte once with wide
 *                           coalesced loads and keeps F32 activations;
 *   larger batches (prefill): weights dequantized to F16 tiles and multiplied on the tensor
 *                           cores (cuBLAS, or a kernel of ours where it is faster).
 *
 * All launches go on the stream given at create; nothing here synchronizes. */
#ifndef CT_BACKEND_CUDA_CUDA_MATMUL_H
#define CT_BACKEND_CUDA_CUDA_MATMUL_H

#include <stdbool.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_mmv.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_cuda_matmul ct_cuda_matmul;

/* Which weight types the kernels take (load_weight refuses the others by name). */
bool ct_cuda_matmul_type_supported(uint32_t type);

/* Bytes a weight occupies on the device once uploaded (== the GGUF bytes unless repacked). */
size_t ct_cuda_weight_device_bytes(const ct_tensor *w);
/* Upload w (host data, GGUF layout) into dev (ct_cuda_weight_device_bytes bytes), repacking
 * if the kernels want another layout; synchronous. */
ct_status ct_cuda_weight_upload(const ct_tensor *w, void *dev);

/* An F16 copy of a quantized weight, for batches (CTORCH_CUDA_F16_WEIGHTS=1): memory traded
 * for speed. dst holds ct_cuda_weight_f16_bytes(w) bytes of device memory (owned by the
 * caller, kept while mm lives); add_f16_copy dequantizes w (already uploaded: w->data is the
 * device copy) into it and from then on every matmul of w over more than
 * CT_CUDA_MMV_MAX_TOKENS tokens runs as a cuBLAS GEMM on the copy (no dequantization per call);
 * decode keeps the quantized GEMV. A copy added for an address already known replaces the
 * old one (a new weight where a freed one was). Synchronous. */
size_t ct_cuda_weight_f16_bytes(const ct_tensor *w);
ct_status ct_cuda_matmul_add_f16_copy(ct_cuda_matmul *mm, const ct_tensor *w, void *dst);

ct_status ct_cuda_matmul_create(cudaStream_t stream, ct_cuda_matmul **out);
void ct_cuda_matmul_destroy(ct_cuda_matmul *mm);
/* Scratch for batches of up to max_tokens rows whose rows have up to max_row elements. */
ct_status ct_cuda_matmul_reserve(ct_cuda_matmul *mm, int64_t max_tokens, int64_t max_row);
/* The GEMV scratch this module reserved (the Q16 activations, valid until the next reserve
 * that grows it; no GLU scratch): for the fused GEMV ops that call ct_cuda_mmv_* directly. */
ct_cuda_mmv_scratch ct_cuda_matmul_mmv_scratch(const ct_cuda_matmul *mm);
/* True when matmul() over n_tokens rows may be captured in a CUDA graph (every path now:
 * kernels and cuBLAS GEMMs on fixed scratch; kept as the place to say otherwise). */
bool ct_cuda_matmul_graph_safe(int64_t n_tokens);

/* Batch invariance (ct_backend.batch_invariant): every batch size through the fused
 * tensor-core kernel, whose arithmetic for one token does not depend on the others (same
 * k order, per-row activation scaling), instead of choosing GEMV / fused / cuBLAS by size. */
void ct_cuda_matmul_set_batch_invariant(ct_cuda_matmul *mm, bool on);

/* out[t] = W in[t] (+ bias), as the backend op (all pointers device memory; w as uploaded).
 * Returns the launch error, cudaSuccess when enqueued. */
cudaError_t ct_cuda_matmul_run(ct_cuda_matmul *mm, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                               const ct_tensor *in);
/* The same; act_ready: the GEMV's Q16 input is already in this module's scratch
 * (ct_cuda_mmv_scratch.act_ready; cuda_fuse.c's norm fusion). */
cudaError_t ct_cuda_matmul_run_q16(ct_cuda_matmul *mm, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                                   const ct_tensor *in, bool act_ready);

/* out[t] = F32 row rows[t] of table (any supported type), rows a device array of n ids;
 * used for the embedding lookup. */
cudaError_t ct_cuda_get_rows(cudaStream_t stream, const ct_tensor *out, const ct_tensor *table,
                             const int32_t *rows, int32_t n);

#ifdef __cplusplus
}
#endif

#endif
