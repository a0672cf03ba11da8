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
};

/* Tests: observe the residual stream after each layer. */
void ct_context_set_layer_hook(ct_context *ctx, ct_layer_hook hook, void *user);

#endif
