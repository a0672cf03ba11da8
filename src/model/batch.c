/* Batch validation and KV cell assignment. */
#include "model/batch.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

ct_status ct_batch_plan_init(ct_batch_plan *plan, int32_t capacity, int32_t n_seq) {
    memset(plan, 0, sizeof *plan);
    plan->capacity = capacity;
    plan->token = ct_alloc_array((size_t)capacity, sizeof(int32_t), "batch");
    plan->pos = ct_alloc_array((size_t)capacity, sizeof(int32_t), "batch");
    plan->seq = ct_alloc_array((size_t)capacity, sizeof(int32_t), "batch");
    plan->cell = ct_alloc_array((size_t)capacity, sizeof(int64_t), "batch");
    plan->out_rows = ct_alloc_array((size_t)capacity, sizeof(int32_t), "batch");
    plan->out_index = ct_alloc_array((size_t)capacity, sizeof(int32_t), "batch");
    plan->seq_next = ct_alloc_array((size_t)n_seq, sizeof(int32_t), "batch");
    if (!plan->token || !plan->pos || !plan->seq || !plan->cell || !plan->out_rows || !plan->out_index ||
        !plan->seq_next) {
        ct_batch_plan_free(plan);
        return CT_ERR_OUT_OF_MEMORY;
    }
    return CT_OK;
}

void ct_batch_plan_free(ct_batch_plan *plan) {
    free(plan->token);
    free(plan->pos);
    free(plan->seq);
    free(plan->cell);
    free(plan->out_rows);
    free(plan->out_index);
    free(plan->seq_next);
    memset(plan, 0, sizeof *plan);
}

/* Give every sequence of the batch the blocks for its positions, all or none. */
static ct_status grow_sequences(const ct_batch_plan *plan, ct_kv_cache *kv) {
    int32_t need = 0;
    for (int32_t s = 0; s < kv->n_seq; s++)
        if (plan->seq_next[s] > kv->seq_len[s]) need += ct_kv_cache_blocks_needed(kv, s, plan->seq_next[s]);
    if (need > ct_kv_cache_n_free(kv))
        return ct_fail(CT_ERR_RANGE, "KV cache full: the batch needs %d more block(s) of %d cells but %d of %d are free",
                       (int)need, (int)kv->block_size, (int)ct_kv_cache_n_free(kv), (int)kv->n_blocks);
    for (int32_t s = 0; s < kv->n_seq; s++)
        if (plan->seq_next[s] > kv->seq_len[s]) CT_TRY(ct_kv_cache_grow(kv, s, plan->seq_next[s]));
    return CT_OK;
}

ct_status ct_batch_plan_build(ct_batch_plan *plan, ct_kv_cache *kv, int32_t n_vocab, const ct_batch *batch) {
    int32_t n = batch->n_tokens;
    plan->fb.n_tokens = 0;
    plan->fb.n_out = 0;
    if (n < 1) return ct_fail(CT_ERR_INVALID_ARGUMENT, "batch: no tokens");
    if (n > plan->capacity)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "batch: %d tokens exceed the context's batch size %d", (int)n,
                       (int)plan->capacity);
    memcpy(plan->seq_next, kv->seq_len, (size_t)kv->n_seq * sizeof(int32_t));
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t tok = batch->token[i], pos = batch->pos[i], seq = batch->seq_id[i];
        if (tok < 0 || tok >= n_vocab)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "batch[%d]: token id %d is outside the vocabulary (0..%d)", (int)i,
                           (int)tok, (int)n_vocab - 1);
        if (seq < 0 || seq >= kv->n_seq)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "batch[%d]: sequence id %d is outside 0..%d", (int)i, (int)seq,
                           (int)kv->n_seq - 1);
        if (pos != plan->seq_next[seq])
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "batch[%d]: position %d does not continue sequence %d (next is %d)",
                           (int)i, (int)pos, (int)seq, (int)plan->seq_next[seq]);
        if (pos >= kv->n_ctx)
            return ct_fail(CT_ERR_RANGE, "context full: sequence %d would reach position %d but the context holds %d (-c)",
                           (int)seq, (int)pos + 1, (int)kv->n_ctx);
        plan->seq_next[seq] = pos + 1;
        plan->token[i] = tok;
        plan->pos[i] = pos;
        plan->seq[i] = seq;
        plan->out_index[i] = -1;
        if (batch->logits[i]) {
            plan->out_index[i] = n_out;
            plan->out_rows[n_out++] = i;
        }
    }
    CT_TRY(grow_sequences(plan, kv));
    for (int32_t i = 0; i < n; i++) plan->cell[i] = ct_kv_view_cell(&kv->views[plan->seq[i]], plan->pos[i]);
    plan->fb = (ct_forward_batch){.n_tokens = n,
                                  .token = plan->token,
                                  .pos = plan->pos,
                                  .seq = plan->seq,
                                  .kv_cell = plan->cell,
                                  .seq_view = kv->views,
                                  .n_out = n_out,
                                  .out_rows = plan->out_rows};
    return CT_OK;
}

void ct_batch_plan_commit(const ct_batch_plan *plan, ct_kv_cache *kv) {
    for (int32_t i = 0; i < plan->fb.n_tokens; i++) {
        int32_t s = plan->seq[i];
        if (plan->pos[i] + 1 > kv->seq_len[s]) kv->seq_len[s] = plan->pos[i] + 1;
    }
}
