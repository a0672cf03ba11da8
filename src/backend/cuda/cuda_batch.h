/* The batch of the forward pass being run, as the CUDA kernels see it: the per-token arrays
 * of ct_forward_batch uploaded to device memory once in begin(), plus every sequence's block
 * table. Host code (the core and the ops' launch planning) also keeps the host batch. */
#ifndef CT_BACKEND_CUDA_CUDA_BATCH_H
#define CT_BACKEND_CUDA_CUDA_BATCH_H

#include <stdint.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_cuda_batch {
    int32_t n_tokens;
    int32_t n_out;
    /* device arrays */
    const int32_t *token;         /* [n_tokens] token ids */
    const int32_t *pos;           /* [n_tokens] position of each token in its sequence */
    const int32_t *seq;           /* [n_tokens] sequence id */
    const int64_t *kv_cell;       /* [n_tokens] cache cell the token's key and value go to */
    const int32_t *out_rows;      /* [n_out] batch rows whose logits are wanted */
    const int32_t *block_table;   /* the block tables of the batch's sequences, concatenated */
    const int32_t *tok_block_off; /* [n_tokens] where the token's sequence's table starts in block_table */
    int32_t block_size;           /* cells per block (every view of one cache has the same) */
    /* attention's own per-batch metadata (see cuda_attention.h), uploaded with the rest */
    const void *attn_meta;
    /* host side */
    const ct_forward_batch *host;
    int32_t max_ctx;              /* max over tokens of pos + 1 */
} ct_cuda_batch;

#ifdef __cplusplus
}
#endif

#endif
