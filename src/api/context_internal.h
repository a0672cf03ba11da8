/* The context behind the public ct_context handle, for the API implementation and tests. */
#ifndef CT_API_CONTEXT_INTERNAL_H
#define CT_API_CONTEXT_INTERNAL_H

#include "ctorch.h"
#include "model/batch.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"

struct ct_context {
    ct_model *model;
    int32_t n_ctx, n_batch, n_seq;
    ct_kv_cache kv;
    ct_forward_state fs;
    ct_batch_plan plan;
    float *logits;        /* [rows][n_vocab]: the last batch's outputs */
    int32_t logits_rows;  /* capacity */
    bool have_logits;
    ct_batch eval_batch;  /* for ct_eval */
    bool batch_invariant; /* set on the backend for each decode */
};

/* ct_context_create with the KV cache's block layout: blocks of kv_block_size cells (0: the
 * default), a pool of kv_blocks blocks (0: enough for every sequence to reach n_ctx). The
 * engine sizes the pool from its memory budget. */
ct_status ct_context_create_paged(ct_model *model, const ct_context_params *params, int32_t kv_block_size,
                                  int32_t kv_blocks, ct_context **out);

/* Batch invariance for every later ct_decode (see ct_backend.batch_invariant). */
void ct_context_set_batch_invariant(ct_context *ctx, bool on);

/* Tests: observe the residual stream after each layer. */
void ct_context_set_layer_hook(ct_context *ctx, ct_layer_hook hook, void *user);

#endif
