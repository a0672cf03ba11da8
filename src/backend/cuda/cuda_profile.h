/* CTORCH_CUDA_PROFILE=1: per-op GPU time of every pass, summed and printed at destroy. */
#ifndef CT_BACKEND_CUDA_CUDA_PROFILE_H
#define CT_BACKEND_CUDA_CUDA_PROFILE_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_state.h"

cuda_profile *ct_cuda_profile_create(void);
/* Records event i on the stream: before op i, and event n_ops after the last op. */
cudaError_t ct_cuda_profile_mark(cuda_profile *p, cudaStream_t stream, size_t i);
/* After the stream has synchronized: adds each op's time to its (op, type, rows) row. */
void ct_cuda_profile_collect(cuda_profile *p, const cuda_op *ops, size_t n_ops);
/* Prints the table (largest first) to stderr and frees. NULL is fine. */
void ct_cuda_profile_destroy(cuda_profile *p);

#endif
