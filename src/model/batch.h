/* Turning a public ct_batch into a forward pass's batch: validate every token against the
 * vocabulary and the KV cache, give each sequence the KV blocks its new positions need, and
 * assign each token its cache cell and output row. */
#ifndef CT_MODEL_BATCH_H
#define CT_MODEL_BATCH_H

#include "backend/backend.h"
#include "ctorch.h"
#include "model/kv_cache.h"

typedef struct ct_batch_plan {
    int32_t capacity;
    int32_t *token, *pos, *seq;
    int64_t *cell;
    int32_t *out_rows;  /* batch indices that want logits */
    int32_t *out_index; /* per batch index: its row among the outputs, or -1 */
    int32_t *seq_next;  /* per sequence: next position while validating */
    ct_forward_batch fb;
} ct_batch_plan;

ct_status ct_batch_plan_init(ct_batch_plan *plan, int32_t capacity, int32_t n_seq);
void ct_batch_plan_free(ct_batch_plan *plan);

/* Validate batch, take the KV blocks its positions need, and fill plan->fb. Messages name the
 * offending batch index and value; CT_ERR_RANGE when a sequence would outgrow n_ctx or the
 * cache has too few free blocks (no block is taken then). Blocks taken stay with their
 * sequences if the forward pass then fails (ct_kv_cache_truncate returns them). */
ct_status ct_batch_plan_build(ct_batch_plan *plan, ct_kv_cache *kv, int32_t n_vocab, const ct_batch *batch);

/* After a successful forward pass: the sequences now hold the batch's positions. */
void ct_batch_plan_commit(const ct_batch_plan *plan, ct_kv_cache *kv);

#endif
