/* Attention on the GPU, reading the KV cache through each sequence's block table:
 * causal, grouped-query, sliding window; a FlashAttention-style kernel for prompt tiles and
 * a split-KV kernel for decode (one query token per sequence). Also the KV store. */
#ifndef CT_BACKEND_CUDA_CUDA_ATTENTION_H
#define CT_BACKEND_CUDA_CUDA_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_batch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Host-side planning, once per batch in begin(): writes attention's per-batch metadata (for
 * example the query tiles of a prompt) to host_meta, at most ct_cuda_attention_meta_capacity
 * bytes; the core uploads it and passes the device copy as batch->attn_meta. *shape_key must
 * differ whenever the kernels' launch configuration for this batch differs (grid sizes,
 * kernel choice), because the core replays captured CUDA graphs for equal keys. */
size_t ct_cuda_attention_meta_capacity(int32_t max_tokens, int64_t max_ctx);
ct_status ct_cuda_attention_plan(const ct_forward_batch *batch, int32_t max_ctx, void *host_meta, size_t capacity,
                                 size_t *used, uint64_t *shape_key);

/* Write k[t], v[t] (F32 rows) to cell batch->kv_cell[t] of the caches (F16 or F32). */
cudaError_t ct_cuda_kv_store(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *k_cache,
                             const ct_tensor *v_cache, const ct_tensor *k, const ct_tensor *v);

/* out[t] = per head: softmax(scale * q.K^T over the visible positions of seq[t]) V, as the
 * backend op (q, out F32 [n_tokens][n_head * head_dim]). */
cudaError_t ct_cuda_attention(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *out,
                              const ct_tensor *q, const ct_tensor *k_cache, const ct_tensor *v_cache,
                              const ct_attn *attn);

#ifdef __cplusplus
}
#endif

#endif
