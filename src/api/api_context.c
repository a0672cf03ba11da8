/* Public API: contexts (KV cache + activations) and running batches. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/context_internal.h"
#include "core/alloc.h"
#include "core/log.h"

#define CT_DEFAULT_MAX_CTX 4096
#define CT_DEFAULT_BATCH 512
#define CT_MAX_CTX (1 << 20)

ct_context_params ct_context_params_default(void) {
    return (ct_context_params){.n_ctx = 0, .n_batch = 0, .n_seq = 0, .kv_type = CT_KV_F16};
}

static ct_status resolve_params(const ct_model *m, ct_context_params *p) {
    const ct_hparams *hp = &m->hp;
    if (p->n_ctx < 0 || p->n_ctx > CT_MAX_CTX)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "context size %d: must be between 1 and %d", (int)p->n_ctx, CT_MAX_CTX);
    if (p->n_batch < 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "batch size %d: must be positive", (int)p->n_batch);
    if (p->n_seq < 0 || p->n_seq > 4096)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "sequence count %d: must be between 1 and 4096", (int)p->n_seq);
    if (p->kv_type != CT_KV_F16 && p->kv_type != CT_KV_F32)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "KV cache type %d: expected F16 or F32", (int)p->kv_type);
    if (p->n_ctx == 0) p->n_ctx = hp->n_ctx_train < CT_DEFAULT_MAX_CTX ? hp->n_ctx_train : CT_DEFAULT_MAX_CTX;
    if (hp->arch == CT_ARCH_GPT2 && p->n_ctx > hp->n_ctx_train)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "context size %d: gpt2 has learned positions for %d only", (int)p->n_ctx,
                       (int)hp->n_ctx_train);
    if (p->n_ctx > hp->n_ctx_train)
        ct_log_info("warning: context size %d is beyond the model's training context %d", (int)p->n_ctx,
                    (int)hp->n_ctx_train);
    if (p->n_batch == 0) p->n_batch = p->n_ctx < CT_DEFAULT_BATCH ? p->n_ctx : CT_DEFAULT_BATCH;
    if (p->n_seq == 0) p->n_seq = 1;
    return CT_OK;
}

ct_status ct_context_create(ct_model *model, const ct_context_params *params, ct_context **out) {
    return ct_context_create_paged(model, params, 0, 0, out);
}

ct_status ct_context_create_paged(ct_model *model, const ct_context_params *params, int32_t kv_block_size,
                                  int32_t kv_blocks, ct_context **out) {
    *out = NULL;
    ct_context_params p = params ? *params : ct_context_params_default();
    CT_TRY(resolve_params(model, &p));
    ct_context *ctx = ct_calloc_array(1, sizeof *ctx, "context");
    if (!ctx) return CT_ERR_OUT_OF_MEMORY;
    ctx->model = model;
    ctx->n_ctx = p.n_ctx;
    ctx->n_batch = p.n_batch;
    ctx->n_seq = p.n_seq;
    ct_status st = ct_kv_cache_init(&ctx->kv, model->be, &model->hp, p.n_ctx, p.n_seq,
                                    p.kv_type == CT_KV_F32 ? CT_TYPE_F32 : CT_TYPE_F16, kv_block_size, kv_blocks);
    if (st == CT_OK) st = ct_forward_state_init(&ctx->fs, model, &ctx->kv, p.n_batch);
    if (st == CT_OK) st = ct_batch_plan_init(&ctx->plan, p.n_batch, p.n_seq);
    if (st == CT_OK) st = ct_batch_init(&ctx->eval_batch, p.n_batch);
    if (st != CT_OK) {
        ct_context_free(ctx);
        return st;
    }
    ct_log_info("context: %d positions x %d sequence(s), batch %d, KV cache %s %.1f MiB", (int)p.n_ctx, (int)p.n_seq,
                (int)p.n_batch, p.kv_type == CT_KV_F32 ? "f32" : "f16",
                (double)ct_kv_cache_bytes(&ctx->kv) / (1024.0 * 1024.0));
    *out = ctx;
    return CT_OK;
}

static void free_logits(ct_context *ctx) {
    ct_backend *be = ctx->model->be;
    if (ctx->logits && be->host_free) be->host_free(be, ctx->logits);
    else free(ctx->logits);
    ctx->logits = NULL;
    ctx->logits_rows = 0;
}

void ct_context_free(ct_context *ctx) {
    if (!ctx) return;
    if (ctx->fs.be) ct_forward_state_free(&ctx->fs);
    if (ctx->kv.be) ct_kv_cache_free(&ctx->kv);
    ct_batch_plan_free(&ctx->plan);
    ct_batch_free(&ctx->eval_batch);
    if (ctx->model) free_logits(ctx);
    free(ctx);
}

int32_t ct_context_n_ctx(const ct_context *ctx) { return ctx->n_ctx; }
int32_t ct_context_n_batch(const ct_context *ctx) { return ctx->n_batch; }

/* Room for rows of logits. Their old contents are not kept: every decode rewrites them. Where
 * the backend has page-locked host memory (a GPU), the logits live there and are copied in by
 * DMA with no staging copy. */
static ct_status reserve_logits(ct_context *ctx, int32_t rows) {
    if (rows <= ctx->logits_rows) return CT_OK;
    ct_backend *be = ctx->model->be;
    const size_t n = (size_t)rows * (size_t)ctx->model->hp.n_vocab;
    if (n > SIZE_MAX / sizeof(float)) return ct_fail(CT_ERR_OUT_OF_MEMORY, "logits: %d rows are too many", (int)rows);
    free_logits(ctx);
    void *p = NULL;
    if (be->host_alloc) {
        CT_TRY(be->host_alloc(be, n * sizeof(float), &p));
    } else {
        p = ct_alloc_array(n, sizeof(float), "logits");
        if (!p) return CT_ERR_OUT_OF_MEMORY;
    }
    ctx->logits = p;
    ctx->logits_rows = rows;
    return CT_OK;
}

ct_status ct_decode(ct_context *ctx, const ct_batch *batch) {
    ctx->have_logits = false;
    if (!batch) return ct_fail(CT_ERR_INVALID_ARGUMENT, "batch: missing");
    CT_TRY(ct_batch_plan_build(&ctx->plan, &ctx->kv, ctx->model->hp.n_vocab, batch));
    CT_TRY(reserve_logits(ctx, ctx->plan.fb.n_out));
    ctx->model->be->batch_invariant = ctx->batch_invariant; /* the backend is shared by the model's contexts */
    CT_TRY(ct_forward(ctx->model, &ctx->fs, &ctx->plan.fb, ctx->logits));
    ct_batch_plan_commit(&ctx->plan, &ctx->kv);
    ctx->have_logits = true;
    return CT_OK;
}

ct_status ct_eval(ct_context *ctx, int32_t seq_id, const ct_token *tokens, size_t n_tokens, const float **logits) {
    *logits = NULL;
    if (n_tokens == 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "eval: no tokens");
    if (seq_id < 0 || seq_id >= ctx->n_seq)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "sequence id %d is outside 0..%d", (int)seq_id, (int)ctx->n_seq - 1);
    int64_t room = (int64_t)ctx->n_ctx - ctx->kv.seq_len[seq_id];
    if ((int64_t)n_tokens > room)
        return ct_fail(CT_ERR_RANGE, "context full: %zu more tokens do not fit in sequence %d (%d of %d positions used, -c)",
                       n_tokens, (int)seq_id, (int)ctx->kv.seq_len[seq_id], (int)ctx->n_ctx);
    ct_batch *b = &ctx->eval_batch;
    for (size_t done = 0; done < n_tokens;) {
        ct_batch_clear(b);
        size_t n = n_tokens - done < (size_t)b->capacity ? n_tokens - done : (size_t)b->capacity;
        int32_t pos = ctx->kv.seq_len[seq_id];
        for (size_t i = 0; i < n; i++)
            CT_TRY(ct_batch_add(b, tokens[done + i], pos + (int32_t)i, seq_id, done + i == n_tokens - 1));
        CT_TRY(ct_decode(ctx, b));
        done += n;
    }
    *logits = ct_get_logits(ctx, b->n_tokens - 1);
    return CT_OK;
}

const float *ct_get_logits(const ct_context *ctx, int32_t i) {
    if (!ctx->have_logits || i < 0 || i >= ctx->plan.fb.n_tokens) return NULL;
    int32_t row = ctx->plan.out_index[i];
    return row < 0 ? NULL : ctx->logits + (size_t)row * (size_t)ctx->model->hp.n_vocab;
}

int32_t ct_seq_len(const ct_context *ctx, int32_t seq_id) {
    return (seq_id >= 0 && seq_id < ctx->n_seq) ? ctx->kv.seq_len[seq_id] : 0;
}

ct_status ct_seq_truncate(ct_context *ctx, int32_t seq_id, int32_t len) {
    if (seq_id < 0 || seq_id >= ctx->n_seq)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "sequence id %d is outside 0..%d", (int)seq_id, (int)ctx->n_seq - 1);
    if (len < 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "sequence length %d: must not be negative", (int)len);
    ct_kv_cache_truncate(&ctx->kv, seq_id, len);
    return CT_OK;
}

void ct_context_set_batch_invariant(ct_context *ctx, bool on) { ctx->batch_invariant = on; }

void ct_context_set_layer_hook(ct_context *ctx, ct_layer_hook hook, void *user) {
    ctx->fs.hook = hook;
    ctx->fs.hook_user = user;
}
