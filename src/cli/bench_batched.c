/* ctorch bench -b: aggregate throughput of many sequences at once through the engine, timed
 * like llama-batched-bench (one prompt pass over every sequence, then decode passes of one
 * token per sequence). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <time.h>

#include "cli/bench.h"
#include "core/status.h"

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Submit n_seq greedy requests of n_prompt tokens each (sequence s reads tokens + s * n_prompt),
 * generating n_gen + 1 tokens: the first from the prompt pass, then n_gen decode passes. */
static ct_status submit(ct_engine *e, const ct_token *tokens, int32_t n_seq, int32_t n_prompt, int32_t n_gen,
                        ct_request_id *ids) {
    for (int32_t s = 0; s < n_seq; s++) {
        ct_request_params rp = ct_request_params_default();
        rp.prompt = tokens + (size_t)s * (size_t)n_prompt;
        rp.n_prompt = (size_t)n_prompt;
        rp.sample.temperature = 0.0f;
        rp.sample.repeat_penalty = 1.0f;
        rp.max_tokens = n_gen + 1;
        rp.ignore_eog = true; /* every sequence decodes exactly n_gen passes */
        CT_TRY(ct_engine_submit(e, &rp, &ids[s]));
    }
    return CT_OK;
}

/* One timed run: the prompt pass, then the decode passes. */
static ct_status run_once(ct_engine *e, const ct_token *tokens, int32_t n_seq, int32_t n_prompt, int32_t n_gen,
                          ct_request_id *ids, int64_t *pp, int64_t *tg) {
    CT_TRY(submit(e, tokens, n_seq, n_prompt, n_gen, ids));
    ct_engine_stats before, after;
    ct_engine_get_stats(e, &before);
    int64_t t0 = now_ns();
    int32_t n = 0;
    CT_TRY(ct_engine_step(e, &n));
    int64_t t1 = now_ns();
    if (n != n_seq * n_prompt)
        return ct_fail(CT_ERR_INTERNAL, "bench: the prompt pass ran %d tokens instead of %d", (int)n, (int)(n_seq * n_prompt));
    CT_TRY(ct_engine_run(e));
    int64_t t2 = now_ns();
    ct_engine_get_stats(e, &after);
    if (after.n_decode_tokens - before.n_decode_tokens != (int64_t)n_seq * n_gen || after.n_preemptions != before.n_preemptions)
        return ct_fail(CT_ERR_INTERNAL, "bench: %lld decode tokens instead of %lld",
                       (long long)(after.n_decode_tokens - before.n_decode_tokens), (long long)n_seq * n_gen);
    for (int32_t s = 0; s < n_seq; s++) CT_TRY(ct_engine_release(e, ids[s]));
    *pp = t1 - t0 > 0 ? t1 - t0 : 1;
    *tg = t2 - t1 > 0 ? t2 - t1 : 1;
    return CT_OK;
}

ct_status bench_run_batched(ct_model *model, int32_t n_seq, int32_t n_prompt, int32_t n_gen, int32_t reps,
                            bool deterministic, int64_t *pp_ns, int64_t *tg_ns, int32_t *n_ctx) {
    int32_t p = n_prompt > 0 ? n_prompt : 1;
    if ((int64_t)n_seq * p > (1 << 20))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "bench: %d sequences of %d prompt tokens exceed one pass's 1048576 tokens",
                       (int)n_seq, (int)p);
    ct_engine_params ep = ct_engine_params_default();
    ep.n_parallel = n_seq;
    ep.n_ctx = p + n_gen + 1;
    ep.max_batch_tokens = n_seq * p; /* every prompt in one pass */
    ep.chunk_size = p;
    ep.deterministic = deterministic;
    *n_ctx = ep.n_ctx;
    ct_engine *e = NULL;
    CT_TRY(ct_engine_create(model, &ep, &e));
    ct_token *tokens = bench_random_tokens(model, n_seq * p);
    ct_request_id *ids = malloc((size_t)n_seq * sizeof *ids);
    ct_status st = tokens && ids ? CT_OK : ct_fail(CT_ERR_OUT_OF_MEMORY, "bench: out of memory");
    /* warm-up (untimed), as llama-batched-bench: one short sequence faults the weights in */
    if (st == CT_OK) st = submit(e, tokens, 1, 1, 1, ids);
    if (st == CT_OK) st = ct_engine_run(e);
    if (st == CT_OK) st = ct_engine_release(e, ids[0]);
    for (int32_t r = 0; r < reps && st == CT_OK; r++)
        st = run_once(e, tokens, n_seq, p, n_gen, ids, &pp_ns[r], &tg_ns[r]);
    free(ids);
    free(tokens);
    ct_engine_free(e);
    return st;
}
