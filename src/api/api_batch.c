/* Public API: batches of tokens. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "ctorch.h"

ct_status ct_batch_init(ct_batch *b, int32_t capacity) {
    memset(b, 0, sizeof *b);
    if (capacity < 1) return ct_fail(CT_ERR_INVALID_ARGUMENT, "batch capacity %d: must be at least 1", (int)capacity);
    b->token = ct_alloc_array((size_t)capacity, sizeof *b->token, "batch");
    b->pos = ct_alloc_array((size_t)capacity, sizeof *b->pos, "batch");
    b->seq_id = ct_alloc_array((size_t)capacity, sizeof *b->seq_id, "batch");
    b->logits = ct_alloc_array((size_t)capacity, sizeof *b->logits, "batch");
    if (!b->token || !b->pos || !b->seq_id || !b->logits) {
        ct_batch_free(b);
        return CT_ERR_OUT_OF_MEMORY;
    }
    b->capacity = capacity;
    return CT_OK;
}

void ct_batch_free(ct_batch *b) {
    free(b->token);
    free(b->pos);
    free(b->seq_id);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

void ct_batch_clear(ct_batch *b) { b->n_tokens = 0; }

ct_status ct_batch_add(ct_batch *b, ct_token token, int32_t pos, int32_t seq_id, bool logits) {
    if (b->n_tokens >= b->capacity)
        return ct_fail(CT_ERR_RANGE, "batch full: capacity %d tokens", (int)b->capacity);
    int32_t i = b->n_tokens++;
    b->token[i] = token;
    b->pos[i] = pos;
    b->seq_id[i] = seq_id;
    b->logits[i] = logits;
    return CT_OK;
}
