/* Timing one bench test (ppN or tgN) on wall-clock time, llama-bench's way. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <time.h>

#include "cli/bench.h"

#define BENCH_SEED 0x62656e6368ull /* "bench": every run feeds the same tokens */
#define MAX_REDRAWS 64

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A special token: BOS/EOS/end-of-generation, or a control token (one that renders as nothing
 * unless specials are rendered). Models without a vocabulary have none beyond BOS/EOS. */
static bool is_special(const ct_model *model, ct_token t) {
    if (t == ct_token_bos(model) || t == ct_token_eos(model) || ct_token_is_eog(model, t)) return true;
    char *text = NULL;
    size_t len = 0;
    if (ct_detokenize(model, &t, 1, false, &text, &len) != CT_OK) return false;
    ct_free(text);
    return len == 0;
}

/* n random token ids of the vocabulary, special ones redrawn (a vocabulary of nothing but
 * specials keeps the last draw after MAX_REDRAWS tries rather than looping forever). */
ct_token *bench_random_tokens(const ct_model *model, int32_t n) {
    ct_model_info info;
    ct_model_get_info(model, &info);
    ct_token *t = malloc((size_t)n * sizeof *t);
    if (!t) return NULL;
    uint64_t state = BENCH_SEED;
    for (int32_t i = 0; i < n; i++) {
        int tries = 0;
        do t[i] = (ct_token)(splitmix64(&state) % (uint64_t)info.n_vocab);
        while (is_special(model, t[i]) && ++tries < MAX_REDRAWS);
    }
    return t;
}

/* One repetition's decodes into an empty sequence 0. */
static ct_status run_once(ct_context *ctx, ct_batch *batch, bench_kind kind, const ct_token *tokens, int32_t n) {
    ct_status st = CT_OK;
    if (kind == BENCH_PP) {
        ct_batch_clear(batch);
        for (int32_t i = 0; i < n && st == CT_OK; i++) st = ct_batch_add(batch, tokens[i], i, 0, i == n - 1);
        return st == CT_OK ? ct_decode(ctx, batch) : st;
    }
    for (int32_t i = 0; i < n && st == CT_OK; i++) {
        ct_batch_clear(batch);
        st = ct_batch_add(batch, tokens[i], i, 0, true);
        if (st == CT_OK) st = ct_decode(ctx, batch);
    }
    return st;
}

ct_status bench_run_test(ct_context *ctx, const ct_model *model, bench_kind kind, int32_t n, int32_t reps,
                         int64_t *samples_ns) {
    ct_batch batch = {0};
    ct_token *tokens = bench_random_tokens(model, n);
    ct_status st = tokens ? ct_batch_init(&batch, kind == BENCH_PP ? n : 1) : CT_ERR_OUT_OF_MEMORY;
    /* Warm-up (untimed), as llama-bench: the whole prompt for pp, one token for tg; it faults
     * the weights in and starts the threads. */
    if (st == CT_OK) st = ct_seq_truncate(ctx, 0, 0);
    if (st == CT_OK) st = run_once(ctx, &batch, kind, tokens, kind == BENCH_PP ? n : 1);
    for (int32_t r = 0; r < reps && st == CT_OK; r++) {
        if ((st = ct_seq_truncate(ctx, 0, 0)) != CT_OK) break;
        int64_t t0 = now_ns();
        st = run_once(ctx, &batch, kind, tokens, n);
        int64_t dt = now_ns() - t0;
        samples_ns[r] = dt > 0 ? dt : 1; /* rates divide by it */
    }
    ct_seq_truncate(ctx, 0, 0);
    ct_batch_free(&batch);
    free(tokens);
    return st;
}
