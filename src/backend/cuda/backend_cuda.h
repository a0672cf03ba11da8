/* The CUDA backend: the whole forward pass on one NVIDIA GPU, weights resident in device
 * memory in their GGUF block types.
 *
 * Ops are recorded between begin() and end() and run at end(): run directly for prompt-sized
 * batches, or, for decode-sized batches, captured once into a CUDA graph per batch shape and
 * replayed, so a token costs one graph launch instead of hundreds of kernel launches. */
#ifndef CT_BACKEND_CUDA_BACKEND_CUDA_H
#define CT_BACKEND_CUDA_BACKEND_CUDA_H

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fails with CT_ERR_DEVICE (no device) or CT_ERR_UNSUPPORTED (too old a device), with a message naming the cause. */
ct_status ct_backend_cuda_create(ct_backend **out);

/* Graph statistics of a CUDA backend (for tests and bench): passes replayed from a cached
 * graph, passes captured, passes run without a graph. */
void ct_backend_cuda_graph_stats(const ct_backend *be, int64_t *replayed, int64_t *captured, int64_t *direct);

#ifdef __cplusplus
}
#endif

#endif
