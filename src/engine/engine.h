/* The engine behind the public ct_engine handle: a context of the model (paged KV cache with
 * n_parallel sequence slots, activations for max_batch_tokens), the scheduler, and every
 * request not yet released. The public functions (src/api/api_engine.c) resolve and validate
 * parameters and call these. */
#ifndef CT_ENGINE_ENGINE_H
#define CT_ENGINE_ENGINE_H

#include "ctorch.h"
#include "core/threadpool.h"
#include "engine/request.h"
#include "engine/scheduler.h"

struct ct_engine {
    ct_model *model;
    ct_context *ctx;
    ct_engine_params p; /* resolved */
    int32_t n_vocab;
    ct_batch batch;
    ct_sched sched;
    ct_eng_request **reqs; /* every request held, ascending id */
    size_t n_reqs, cap_reqs;
    ct_request_id next_id;
    uint64_t next_arrival;
    bool in_step;
    bool deferred; /* a cancel or release was asked for during the step */

    /* Sampling of a step's logits rows, in parallel when there are many (a GPU pass of 128
     * sequences leaves 128 x n_vocab logits to the host): NULL pool = one by one. */
    ct_threadpool *sample_pool;
    int32_t *sample_row;   /* [n_parallel] logits row of each scheduled entry, -1 for none */
    ct_token *sampled;     /* [n_parallel] */
    ct_status *sampled_st; /* [n_parallel] */

    int64_t n_steps, n_prefill_tokens, n_decode_tokens;
    int32_t last_batch_tokens, last_batch_seqs, last_batch_prefill_tokens, last_batch_logits;
};

/* Create with resolved parameters (n_ctx, n_blocks and sizes already checked). */
ct_status ct_eng_create(ct_model *model, const ct_engine_params *p, int32_t kv_blocks, ct_engine **out);
void ct_eng_free(ct_engine *e);

/* Queue a validated request. */
ct_status ct_eng_submit(ct_engine *e, const ct_request_params *params, ct_request_id *id);
ct_status ct_eng_cancel(ct_engine *e, ct_request_id id);
ct_status ct_eng_release(ct_engine *e, ct_request_id id);
ct_status ct_eng_step(ct_engine *e, int32_t *n_tokens);

/* The request with this id, or NULL. */
ct_eng_request *ct_eng_find(const ct_engine *e, ct_request_id id);

int64_t ct_eng_now(const ct_engine *e);

#endif
