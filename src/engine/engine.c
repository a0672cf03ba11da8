/* The engine: requests in, one scheduled forward pass per step, tokens out. */
#define _POSIX_C_SOURCE 200809L
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/context_internal.h"
#include "core/alloc.h"

static int64_t monotonic_ns(void *user) {
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* sampling threads of an engine, and the rows a step needs before they are used */
#define CT_ENGINE_SAMPLE_THREADS 8
#define CT_ENGINE_PARALLEL_SAMPLE_ROWS 8

int64_t ct_eng_now(const ct_engine *e) { return e->p.clock_ns ? e->p.clock_ns(e->p.clock_user) : monotonic_ns(NULL); }

ct_status ct_eng_create(ct_model *model, const ct_engine_params *p, int32_t kv_blocks, ct_engine **out) {
    *out = NULL;
    ct_engine *e = ct_calloc_array(1, sizeof *e, "engine");
    if (!e) return CT_ERR_OUT_OF_MEMORY;
    e->model = model;
    e->p = *p;
    e->n_vocab = model->hp.n_vocab;
    e->next_id = 1;
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = p->n_ctx;
    cp.n_batch = p->max_batch_tokens;
    cp.n_seq = p->n_parallel;
    cp.kv_type = p->kv_type;
    ct_status st = ct_context_create_paged(model, &cp, p->kv_block_size, kv_blocks, &e->ctx);
    if (st == CT_OK) {
        ct_context_set_batch_invariant(e->ctx, p->deterministic);
        st = ct_batch_init(&e->batch, p->max_batch_tokens);
    }
    if (st == CT_OK) st = ct_sched_init(&e->sched, &e->ctx->kv, p->n_parallel, p->max_batch_tokens, p->chunk_size);
    if (st == CT_OK) {
        e->sample_row = ct_calloc_array((size_t)p->n_parallel, sizeof *e->sample_row, "engine sampling rows");
        e->sampled = ct_calloc_array((size_t)p->n_parallel, sizeof *e->sampled, "engine sampled tokens");
        e->sampled_st = ct_calloc_array((size_t)p->n_parallel, sizeof *e->sampled_st, "engine sampling statuses");
        if (!e->sample_row || !e->sampled || !e->sampled_st) st = CT_ERR_OUT_OF_MEMORY;
    }
    /* a few threads: each greedy row is one pass over n_vocab floats; no pool is no failure */
    const int sample_threads = ct_cpu_count() < CT_ENGINE_SAMPLE_THREADS ? ct_cpu_count() : CT_ENGINE_SAMPLE_THREADS;
    if (st == CT_OK && p->n_parallel >= CT_ENGINE_PARALLEL_SAMPLE_ROWS && sample_threads > 1 &&
        ct_threadpool_create(sample_threads, &e->sample_pool) != CT_OK)
        e->sample_pool = NULL;
    if (st != CT_OK) {
        ct_eng_free(e);
        return st;
    }
    *out = e;
    return CT_OK;
}

void ct_eng_free(ct_engine *e) {
    if (!e) return;
    for (size_t i = 0; i < e->n_reqs; i++) ct_eng_request_free(e->reqs[i]);
    free(e->reqs);
    ct_sched_free(&e->sched);
    ct_batch_free(&e->batch);
    ct_threadpool_free(e->sample_pool);
    free(e->sample_row);
    free(e->sampled);
    free(e->sampled_st);
    ct_context_free(e->ctx);
    free(e);
}

/* ---- requests by id ------------------------------------------------------------------ */

static size_t lower_bound(const ct_engine *e, ct_request_id id) {
    size_t lo = 0, hi = e->n_reqs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->reqs[mid]->id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

ct_eng_request *ct_eng_find(const ct_engine *e, ct_request_id id) {
    size_t i = lower_bound(e, id);
    return i < e->n_reqs && e->reqs[i]->id == id ? e->reqs[i] : NULL;
}

static ct_status not_found(ct_request_id id) {
    return ct_fail(CT_ERR_NOT_FOUND, "engine: no request %lld (never submitted, or released)", (long long)id);
}

ct_status ct_eng_submit(ct_engine *e, const ct_request_params *params, ct_request_id *id) {
    *id = 0;
    if (e->n_reqs == e->cap_reqs) {
        size_t cap = e->cap_reqs ? 2 * e->cap_reqs : 64;
        ct_eng_request **p = ct_realloc_array(e->reqs, cap, sizeof *p, "engine requests");
        if (!p) return CT_ERR_OUT_OF_MEMORY;
        e->reqs = p;
        e->cap_reqs = cap;
    }
    ct_eng_request *r;
    CT_TRY(ct_eng_request_new(e->model, params, &r));
    r->id = e->next_id;
    r->arrival = e->next_arrival;
    r->submit_ns = ct_eng_now(e);
    ct_status st = ct_sched_enqueue(&e->sched, r);
    if (st != CT_OK) {
        ct_eng_request_free(r);
        return st;
    }
    e->next_id++;
    e->next_arrival++;
    e->reqs[e->n_reqs++] = r; /* ids only grow: the list stays sorted */
    *id = r->id;
    return CT_OK;
}

/* ---- events and the end of a request --------------------------------------------------- */

static void emit(ct_eng_request *r, ct_token token, int32_t index, const float *logits) {
    bool final = r->state == CT_REQUEST_FINISHED;
    size_t len;
    const char *text = ct_eng_request_release_text(r, final, &len);
    if (!r->callback) return;
    ct_engine_event ev = {.id = r->id,
                          .token = token,
                          .index = index,
                          .text = text,
                          .text_len = len,
                          .logits = logits,
                          .finished = final,
                          .finish = r->finish};
    r->callback(&ev, r->user);
}

/* Out of the scheduler, final text, finished. */
static void end_request(ct_engine *e, ct_eng_request *r, ct_finish_reason why) {
    ct_sched_remove(&e->sched, r);
    if (why != CT_FINISH_STOP && r->detok) {
        size_t n;
        const char *rest = ct_detok_flush(r->detok, &n);
        ct_status st = CT_OK;
        if (ct_eng_request_push_text(r, rest, n, &st)) why = CT_FINISH_STOP;
    }
    r->finish = why;
    r->state = CT_REQUEST_FINISHED;
    r->finish_ns = ct_eng_now(e);
}

static void set_error(ct_eng_request *r, const char *what, ct_status st) {
    free(r->error);
    const char *msg = ct_last_error();
    size_t n = strlen(what) + strlen(msg) + 64;
    r->error = malloc(n);
    if (r->error) snprintf(r->error, n, "%s: %s: %s", what, ct_status_name(st), msg);
}

static bool needs_context(const ct_engine *e, const ct_eng_request *r) {
    return r->n_tokens > e->p.n_ctx || ct_sched_blocks_for(&e->sched, r->n_tokens) > e->sched.kv->n_blocks;
}

/* r's chunk reached its last token, sampled as tok (status st): deliver the token. */
static void on_logits(ct_engine *e, ct_eng_request *r, const float *logits, ct_token tok, ct_status st) {
    if (r->first_token_ns < 0) r->first_token_ns = ct_eng_now(e);
    if (st == CT_OK) st = ct_sampler_accept(r->sampler, tok);
    if (st != CT_OK) {
        set_error(r, "sampling", st);
        end_request(e, r, CT_FINISH_ERROR);
        emit(r, -1, -1, logits);
        return;
    }
    if (!r->ignore_eog && ct_token_is_eog(e->model, tok)) {
        end_request(e, r, CT_FINISH_EOG);
        emit(r, -1, -1, logits);
        return;
    }
    ct_finish_reason why = CT_FINISH_NONE;
    st = ct_eng_request_push_token(r, tok);
    if (st == CT_OK && r->detok) {
        size_t n;
        const char *piece = ct_detok_push(r->detok, tok, &n);
        if (ct_eng_request_push_text(r, piece, n, &st)) why = CT_FINISH_STOP;
    }
    if (st != CT_OK) {
        set_error(r, "generating", st);
        why = CT_FINISH_ERROR;
    } else if (why == CT_FINISH_NONE && r->max_tokens > 0 && ct_eng_request_generated(r) >= r->max_tokens) {
        why = CT_FINISH_LENGTH;
    } else if (why == CT_FINISH_NONE && needs_context(e, r)) {
        why = CT_FINISH_CONTEXT;
        ct_fail(CT_ERR_RANGE, "%d positions: the context holds %d (-c) and the KV cache %d", (int)r->n_tokens,
                (int)e->p.n_ctx, (int)(e->sched.kv->n_blocks * e->sched.kv->block_size));
        set_error(r, "context full", CT_ERR_RANGE);
    }
    r->decoding = why == CT_FINISH_NONE;
    if (why != CT_FINISH_NONE) end_request(e, r, why);
    emit(r, tok, ct_eng_request_generated(r) - 1, logits);
}

/* ---- cancel and release ------------------------------------------------------------------ */

static void cancel_now(ct_engine *e, ct_eng_request *r) {
    if (r->state == CT_REQUEST_FINISHED) return;
    end_request(e, r, CT_FINISH_CANCELLED);
    emit(r, -1, -1, NULL);
}

static void release_at(ct_engine *e, size_t i) {
    ct_eng_request *r = e->reqs[i];
    cancel_now(e, r);
    memmove(e->reqs + i, e->reqs + i + 1, (e->n_reqs - i - 1) * sizeof *e->reqs);
    e->n_reqs--;
    ct_eng_request_free(r);
}

ct_status ct_eng_cancel(ct_engine *e, ct_request_id id) {
    ct_eng_request *r = ct_eng_find(e, id);
    if (!r) return not_found(id);
    if (e->in_step) {
        r->cancel_pending = true;
        e->deferred = true;
    } else {
        cancel_now(e, r);
    }
    return CT_OK;
}

ct_status ct_eng_release(ct_engine *e, ct_request_id id) {
    size_t i = lower_bound(e, id);
    if (i >= e->n_reqs || e->reqs[i]->id != id) return not_found(id);
    if (e->in_step) {
        e->reqs[i]->release_pending = true;
        e->deferred = true;
    } else {
        release_at(e, i);
    }
    return CT_OK;
}

/* Cancels and releases asked for by callbacks during the step (their own callbacks may ask for
 * more: repeat until none is left). */
static void apply_deferred(ct_engine *e) {
    while (e->deferred) {
        e->deferred = false;
        for (size_t i = 0; i < e->n_reqs; i++) {
            ct_eng_request *r = e->reqs[i];
            if (!r->cancel_pending) continue;
            r->cancel_pending = false;
            cancel_now(e, r);
        }
        for (size_t i = e->n_reqs; i-- > 0;)
            if (e->reqs[i]->release_pending) release_at(e, i);
    }
}

/* ---- a step ---------------------------------------------------------------------------- */

/* Sample every entry whose logits came back, on the pool: each request has its own sampler
 * (penalty history, random state), so rows are independent; what follows a sample (accepting
 * it, stop strings, callbacks) stays in entry order on the caller's thread. */
static void sample_rows(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    ct_engine *e = arg;
    for (int64_t k = begin; k < end; k++) {
        if (e->sample_row[k] < 0) continue;
        ct_eng_request *r = e->sched.entries[k].r;
        e->sampled_st[k] = ct_sampler_sample(r->sampler, ct_get_logits(e->ctx, e->sample_row[k]), &e->sampled[k]);
    }
}

static ct_status run_batch(ct_engine *e) {
    ct_sched *s = &e->sched;
    ct_batch *b = &e->batch;
    ct_batch_clear(b);
    int32_t prefill = 0, logits = 0;
    for (int32_t k = 0; k < s->n_entries; k++) {
        const ct_sched_entry *en = &s->entries[k];
        const ct_eng_request *r = en->r;
        for (int32_t i = 0; i < en->n; i++) {
            int32_t pos = r->n_computed + i;
            CT_TRY(ct_batch_add(b, r->tokens[pos], pos, r->slot, en->logits && i == en->n - 1));
        }
        if (!r->decoding) prefill += en->n;
        logits += en->logits;
    }
    ct_status st = ct_decode(e->ctx, b);
    if (st != CT_OK) return ct_fail_context(st, "engine step %lld (%d tokens of %d requests)", (long long)e->n_steps,
                                            (int)b->n_tokens, (int)s->n_entries);
    e->n_steps++;
    e->n_prefill_tokens += prefill;
    e->n_decode_tokens += b->n_tokens - prefill;
    e->last_batch_tokens = b->n_tokens;
    e->last_batch_seqs = s->n_entries;
    e->last_batch_prefill_tokens = prefill;
    e->last_batch_logits = logits;
    /* the plan is spent: requests that end below leave the scheduler without touching it */
    for (int32_t k = 0; k < s->n_entries; k++) s->entries[k].r->step_tokens = 0;
    int32_t row = 0, n_rows = 0;
    for (int32_t k = 0; k < s->n_entries; k++) {
        ct_sched_entry en = s->entries[k];
        en.r->n_computed += en.n;
        row += en.n;
        e->sample_row[k] = en.logits && !en.r->cancel_pending ? row - 1 : -1;
        n_rows += e->sample_row[k] >= 0;
    }
    const bool parallel = e->sample_pool && n_rows >= CT_ENGINE_PARALLEL_SAMPLE_ROWS;
    if (parallel) ct_threadpool_run(e->sample_pool, s->n_entries, 1, sample_rows, e);
    for (int32_t k = 0; k < s->n_entries; k++) {
        if (e->sample_row[k] < 0) continue;
        const float *row_logits = ct_get_logits(e->ctx, e->sample_row[k]);
        ct_token tok = -1;
        ct_status sst = CT_OK;
        if (parallel && e->sampled_st[k] == CT_OK)
            tok = e->sampled[k];
        else /* one by one, or a failed sample taken again here, where its error message is (thread-local) */
            sst = ct_sampler_sample(s->entries[k].r->sampler, row_logits, &tok);
        on_logits(e, s->entries[k].r, row_logits, tok, sst);
    }
    return CT_OK;
}

ct_status ct_eng_step(ct_engine *e, int32_t *n_tokens) {
    if (n_tokens) *n_tokens = 0;
    if (e->in_step) return ct_fail(CT_ERR_INVALID_ARGUMENT, "engine: ct_engine_step called from a request callback");
    e->in_step = true;
    ct_status st = ct_sched_schedule(&e->sched);
    for (int32_t i = 0; i < e->sched.n_ended; i++) {
        /* out of the scheduler already, with finish and error set */
        ct_eng_request *r = e->sched.ended[i];
        end_request(e, r, r->finish);
        emit(r, -1, -1, NULL);
    }
    e->last_batch_tokens = e->last_batch_seqs = e->last_batch_prefill_tokens = e->last_batch_logits = 0;
    if (st == CT_OK && e->sched.n_entries > 0) {
        st = run_batch(e);
        if (st == CT_OK && n_tokens) *n_tokens = e->last_batch_tokens;
    }
    e->in_step = false;
    if (!e->deferred) return st;
    e->in_step = true; /* callbacks of the deferred cancels defer again */
    apply_deferred(e);
    e->in_step = false;
    return st;
}
