/* Public API: the engine (continuous batching over a paged KV cache). Parameters are resolved
 * and validated here; the engine itself lives in src/engine/. */
#include <stdlib.h>
#include <string.h>

#include "api/context_internal.h"
#include "core/log.h"
#include "engine/engine.h"
#include "model/kv_cache.h"

#define CT_ENGINE_DEFAULT_PARALLEL 8
#define CT_ENGINE_MAX_PARALLEL 4096 /* a context's sequence limit */
#define CT_ENGINE_DEFAULT_BATCH 512
#define CT_ENGINE_MAX_BATCH (1 << 20)
#define CT_ENGINE_DEFAULT_MAX_CTX 4096
#define CT_ENGINE_MAX_BLOCK 4096

ct_engine_params ct_engine_params_default(void) {
    return (ct_engine_params){.n_parallel = 0, .kv_type = CT_KV_F16};
}

ct_request_params ct_request_params_default(void) {
    return (ct_request_params){.sample = ct_sample_params_default()};
}

const char *ct_finish_reason_name(ct_finish_reason reason) {
    switch (reason) {
    case CT_FINISH_NONE: return "";
    case CT_FINISH_EOG: return "eog";
    case CT_FINISH_LENGTH: return "length";
    case CT_FINISH_STOP: return "stop";
    case CT_FINISH_CONTEXT: return "context";
    case CT_FINISH_CANCELLED: return "cancelled";
    case CT_FINISH_ERROR: return "error";
    }
    return "?";
}

static ct_status bad(const char *what, long long v, const char *range) {
    return ct_fail(CT_ERR_INVALID_ARGUMENT, "engine: %s %lld: %s", what, v, range);
}

/* without --kv-mem on a GPU: the share of free device memory the KV cache may take */
#define CT_ENGINE_KV_FREE_FRACTION 0.8

/* Fill in the defaults of p and check every field; *kv_blocks: the pool the budget buys. */
static ct_status resolve(const ct_model *m, ct_engine_params *p, int32_t *kv_blocks) {
    if (p->n_parallel < 0 || p->n_parallel > CT_ENGINE_MAX_PARALLEL)
        return bad("n_parallel", p->n_parallel, "must be between 1 and 4096");
    if (p->n_parallel == 0) p->n_parallel = CT_ENGINE_DEFAULT_PARALLEL;
    if (p->n_ctx < 0) return bad("n_ctx", p->n_ctx, "must be positive");
    if (p->n_ctx == 0)
        p->n_ctx = m->hp.n_ctx_train < CT_ENGINE_DEFAULT_MAX_CTX ? m->hp.n_ctx_train : CT_ENGINE_DEFAULT_MAX_CTX;
    if (p->kv_block_size < 0 || p->kv_block_size > CT_ENGINE_MAX_BLOCK)
        return bad("kv_block_size", p->kv_block_size, "must be between 1 and 4096");
    if (p->kv_block_size == 0) p->kv_block_size = CT_KV_BLOCK_SIZE_DEFAULT;
    if (p->max_batch_tokens < 0 || p->max_batch_tokens > CT_ENGINE_MAX_BATCH)
        return bad("max_batch_tokens", p->max_batch_tokens, "must be between n_parallel and 1048576");
    if (p->max_batch_tokens == 0)
        p->max_batch_tokens = p->n_parallel > CT_ENGINE_DEFAULT_BATCH ? p->n_parallel : CT_ENGINE_DEFAULT_BATCH;
    if (p->max_batch_tokens < p->n_parallel)
        return ct_fail(CT_ERR_INVALID_ARGUMENT,
                       "engine: max_batch_tokens %d is below n_parallel %d (every running request decodes a token "
                       "per step)",
                       (int)p->max_batch_tokens, (int)p->n_parallel);
    if (p->chunk_size < 0) return bad("chunk_size", p->chunk_size, "must be positive");
    if (p->chunk_size == 0 || p->chunk_size > p->max_batch_tokens) p->chunk_size = p->max_batch_tokens;
    if (p->kv_type != CT_KV_F16 && p->kv_type != CT_KV_F32) return bad("kv_type", p->kv_type, "expected F16 or F32");

    uint32_t type = p->kv_type == CT_KV_F32 ? CT_TYPE_F32 : CT_TYPE_F16;
    uint64_t block = ct_kv_block_bytes(&m->hp, p->kv_block_size, type);
    int64_t per_seq = ((int64_t)p->n_ctx + p->kv_block_size - 1) / p->kv_block_size;
    int64_t full = per_seq * p->n_parallel, blocks = full;
    if (p->kv_mem > 0) {
        blocks = (int64_t)(p->kv_mem / block);
        if (blocks < 1)
            return ct_fail(CT_ERR_RANGE,
                           "engine: a KV budget of %llu bytes is less than one block (%d cells x %d layers: %llu bytes)",
                           (unsigned long long)p->kv_mem, (int)p->kv_block_size, (int)m->hp.n_layer,
                           (unsigned long long)block);
        if (blocks > full) blocks = full; /* more than every sequence can use */
    } else if (m->be->memory_info) {
        /* no budget given, on a device with its own memory: at most a fraction of what is free
         * (the rest for activations and scratch), so n_parallel x n_ctx cannot fail to allocate */
        size_t free_b = 0, total_b = 0;
        CT_TRY(m->be->memory_info(m->be, &free_b, &total_b));
        int64_t fit = (int64_t)((double)free_b * CT_ENGINE_KV_FREE_FRACTION / (double)block);
        if (fit < blocks) {
            if (fit < 1)
                return ct_fail(CT_ERR_OUT_OF_MEMORY,
                               "engine: %.1f MiB of %s memory free, not enough for one KV block (%llu bytes)",
                               (double)free_b / (1024.0 * 1024.0), m->be->name, (unsigned long long)block);
            ct_log_info("engine: KV cache capped at %lld of %lld blocks (%.0f%% of the %.1f MiB free on %s)",
                        (long long)fit, (long long)blocks, CT_ENGINE_KV_FREE_FRACTION * 100.0,
                        (double)free_b / (1024.0 * 1024.0), m->be->name);
            blocks = fit;
        }
    }
    if (blocks > INT32_MAX) return ct_fail(CT_ERR_OUT_OF_MEMORY, "engine: %lld KV blocks are too many", (long long)blocks);
    *kv_blocks = (int32_t)blocks;
    return CT_OK;
}

ct_status ct_engine_create(ct_model *model, const ct_engine_params *params, ct_engine **out) {
    *out = NULL;
    if (!model) return ct_fail(CT_ERR_INVALID_ARGUMENT, "engine: no model");
    ct_engine_params p = params ? *params : ct_engine_params_default();
    int32_t kv_blocks = 0;
    CT_TRY(resolve(model, &p, &kv_blocks));
    CT_TRY(ct_eng_create(model, &p, kv_blocks, out));
    ct_log_info("engine: %d parallel, %d positions each, batch %d tokens (chunks of %d), KV %d blocks of %d cells "
                "(%.1f MiB)%s",
                (int)p.n_parallel, (int)p.n_ctx, (int)p.max_batch_tokens, (int)p.chunk_size, (int)kv_blocks,
                (int)p.kv_block_size, (double)ct_kv_cache_bytes(&(*out)->ctx->kv) / (1024.0 * 1024.0),
                p.deterministic ? ", deterministic" : "");
    return CT_OK;
}

void ct_engine_free(ct_engine *engine) { ct_eng_free(engine); }

ct_status ct_engine_submit(ct_engine *e, const ct_request_params *params, ct_request_id *id) {
    *id = 0;
    if (!params) return ct_fail(CT_ERR_INVALID_ARGUMENT, "request: missing parameters");
    if (!params->prompt || params->n_prompt == 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "request: empty prompt");
    for (size_t i = 0; i < params->n_prompt; i++)
        if (params->prompt[i] < 0 || params->prompt[i] >= e->n_vocab)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "request: prompt token %zu is %d, outside the vocabulary (0..%d)", i,
                           (int)params->prompt[i], (int)e->n_vocab - 1);
    if (params->max_tokens < 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "request: max_tokens %d must not be negative", (int)params->max_tokens);
    const ct_kv_cache *kv = &e->ctx->kv;
    if (params->n_prompt > (size_t)e->p.n_ctx)
        return ct_fail(CT_ERR_RANGE, "request: the prompt's %zu tokens do not fit the context of %d positions (n_ctx)",
                       params->n_prompt, (int)e->p.n_ctx);
    int32_t need = ct_sched_blocks_for(&e->sched, (int32_t)params->n_prompt);
    if (need > kv->n_blocks)
        return ct_fail(CT_ERR_RANGE,
                       "request: the prompt's %zu tokens need %d KV blocks of %d cells but the whole cache has %d "
                       "(raise the KV budget, --kv-mem)",
                       params->n_prompt, (int)need, (int)kv->block_size, (int)kv->n_blocks);
    return ct_eng_submit(e, params, id);
}

ct_status ct_engine_cancel(ct_engine *e, ct_request_id id) { return ct_eng_cancel(e, id); }

ct_status ct_engine_release(ct_engine *e, ct_request_id id) { return ct_eng_release(e, id); }

ct_status ct_engine_step(ct_engine *e, int32_t *n_tokens) { return ct_eng_step(e, n_tokens); }

bool ct_engine_busy(const ct_engine *e) { return e->sched.n_queue > 0 || e->sched.n_running > 0; }

ct_status ct_engine_run(ct_engine *e) {
    while (ct_engine_busy(e)) CT_TRY(ct_eng_step(e, NULL));
    return CT_OK;
}

ct_status ct_engine_poll(const ct_engine *e, ct_request_id id, ct_request_info *info) {
    memset(info, 0, sizeof *info);
    const ct_eng_request *r = ct_eng_find(e, id);
    if (!r) return ct_fail(CT_ERR_NOT_FOUND, "engine: no request %lld (never submitted, or released)", (long long)id);
    info->state = r->state;
    info->finish = r->finish;
    info->tokens = r->tokens + r->n_prompt;
    info->n_tokens = (size_t)ct_eng_request_generated(r);
    info->text = r->text;
    info->text_len = r->text_released;
    info->n_prompt = r->n_prompt;
    info->n_preemptions = r->n_preemptions;
    info->error = r->error ? r->error : "";
    info->submit_ns = r->submit_ns;
    info->first_token_ns = r->first_token_ns;
    info->finish_ns = r->finish_ns;
    return CT_OK;
}

void ct_engine_get_stats(const ct_engine *e, ct_engine_stats *s) {
    memset(s, 0, sizeof *s);
    s->n_steps = e->n_steps;
    s->n_queued = e->sched.n_queue;
    s->n_running = e->sched.n_running;
    for (size_t i = 0; i < e->n_reqs; i++) s->n_finished += e->reqs[i]->state == CT_REQUEST_FINISHED;
    s->n_parallel = e->p.n_parallel;
    s->max_batch_tokens = e->p.max_batch_tokens;
    s->chunk_size = e->p.chunk_size;
    s->kv_block_size = e->ctx->kv.block_size;
    s->kv_blocks = e->ctx->kv.n_blocks;
    s->kv_blocks_free = ct_kv_cache_n_free(&e->ctx->kv);
    s->n_preemptions = e->sched.n_preemptions;
    s->n_prefill_tokens = e->n_prefill_tokens;
    s->n_decode_tokens = e->n_decode_tokens;
    s->last_batch_tokens = e->last_batch_tokens;
    s->last_batch_seqs = e->last_batch_seqs;
    s->last_batch_prefill_tokens = e->last_batch_prefill_tokens;
    s->last_batch_logits = e->last_batch_logits;
}
