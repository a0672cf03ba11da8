/* The sampling chain; see sampler.h for the order of operations. */
#include "sample/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "sample/penalties.h"
#include "sample/rng.h"

struct ct_sampler {
    ct_sampler_params params; /* seed resolved */
    int32_t n_vocab;
    ct_rng rng;
    ct_token_logit *cands; /* n_vocab scratch, refilled every token */
    ct_cand_array set;
    ct_penalty_window window;
};

/* Mixes clock, time and an address: not cryptographic, only different run to run. */
static uint64_t seed_from_clock(const void *salt) {
    uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32) ^ (uint64_t)(uintptr_t)salt;
    uint64_t seed = ct_splitmix64(&x);
    return seed == CT_SAMPLER_SEED_RANDOM ? seed - 1 : seed;
}

ct_status ct_sampler_create(const ct_sampler_params *params, int32_t n_vocab, ct_sampler **out) {
    *out = NULL;
    CT_TRY(ct_sampler_params_validate(params));
    if (n_vocab < 1)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "sampler: n_vocab must be >= 1, got %d", (int)n_vocab);
    ct_sampler *s = ct_calloc_array(1, sizeof *s, "sampler");
    if (!s) return CT_ERR_OUT_OF_MEMORY;
    s->params = *params;
    s->n_vocab = n_vocab;
    if (s->params.seed == CT_SAMPLER_SEED_RANDOM) s->params.seed = seed_from_clock(s);
    ct_rng_seed(&s->rng, s->params.seed);
    s->cands = ct_alloc_array((size_t)n_vocab, sizeof *s->cands, "sampler candidates");
    if (!s->cands) {
        free(s);
        return CT_ERR_OUT_OF_MEMORY;
    }
    ct_status st = ct_penalty_window_init(&s->window, n_vocab, (size_t)params->penalty_last_n);
    if (st != CT_OK) {
        free(s->cands);
        free(s);
        return st;
    }
    *out = s;
    return CT_OK;
}

void ct_sampler_free(ct_sampler *s) {
    if (!s) return;
    ct_penalty_window_free(&s->window);
    free(s->cands);
    free(s);
}

ct_status ct_sampler_accept(ct_sampler *s, int32_t token) {
    if (token < 0 || token >= s->n_vocab)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "sampler: accepted token %d is outside the vocabulary [0, %d)",
                       (int)token, (int)s->n_vocab);
    ct_penalty_window_push(&s->window, token);
    return CT_OK;
}

void ct_sampler_reset(ct_sampler *s) {
    ct_penalty_window_clear(&s->window);
    ct_rng_seed(&s->rng, s->params.seed);
}

uint64_t ct_sampler_seed(const ct_sampler *s) { return s->params.seed; }
const ct_sampler_params *ct_sampler_get_params(const ct_sampler *s) { return &s->params; }
int32_t ct_sampler_n_vocab(const ct_sampler *s) { return s->n_vocab; }

/* Step 1: copy the logits into the candidate set (indexed by id) and apply the penalties. */
static ct_status load_and_penalize(ct_sampler *s, const float *logits) {
    if (!logits) return ct_fail(CT_ERR_INVALID_ARGUMENT, "sampler: logits must not be NULL");
    bool any_finite = false;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        const float l = logits[i];
        if (!(l < INFINITY)) /* NaN or +inf */
            return ct_fail(CT_ERR_INVALID_ARGUMENT,
                           "sampler: logits[%d] is %g; logits must be finite or -inf", (int)i, (double)l);
        any_finite |= l > -INFINITY;
        s->cands[i] = (ct_token_logit){.id = i, .logit = l};
    }
    if (!any_finite)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "sampler: all %d logits are -inf; nothing to sample",
                       (int)s->n_vocab);
    const ct_sampler_params *p = &s->params;
    if (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f)
        ct_penalty_window_apply(&s->window, s->cands, p->repeat_penalty, p->presence_penalty,
                                p->frequency_penalty);
    s->set = (ct_cand_array){.data = s->cands, .size = (size_t)s->n_vocab, .sorted_len = 0};
    return CT_OK;
}

/* Steps 3-5. */
static void filter(ct_sampler *s) {
    ct_cands_top_k(&s->set, (size_t)s->params.top_k);
    ct_cands_top_p(&s->set, (double)s->params.top_p);
    ct_cands_min_p(&s->set, (double)s->params.min_p);
}

ct_status ct_sampler_candidates(ct_sampler *s, const float *logits, const ct_token_logit **cands,
                                size_t *n) {
    CT_TRY(load_and_penalize(s, logits));
    filter(s);
    *cands = s->set.data;
    *n = s->set.size;
    return CT_OK;
}

/* Greedy without penalties: one pass over the logits, no candidate set. The same token (the
 * largest logit, the lowest id on ties) and the same errors as the general path; it matters
 * for batches: 128 sequences x 32,000 logits were ~10 ms a step through the candidate copy. */
static ct_status greedy_plain(const ct_sampler *s, const float *logits, int32_t *token) {
    if (!logits) return ct_fail(CT_ERR_INVALID_ARGUMENT, "sampler: logits must not be NULL");
    /* branch-free first pass (the compiler vectorizes it): the maximum, and whether any logit
     * is NaN or +inf; then the first index holding the maximum */
    enum { LANES = 8 }; /* independent maxima: the loop is not one long dependency chain */
    float lane_max[LANES];
    int bad = 0;
    for (int k = 0; k < LANES; k++) lane_max[k] = -INFINITY;
    int32_t i = 0;
    for (; i + LANES <= s->n_vocab; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const float l = logits[i + k];
            bad |= !(l < INFINITY);
            lane_max[k] = l > lane_max[k] ? l : lane_max[k];
        }
    for (; i < s->n_vocab; i++) {
        const float l = logits[i];
        bad |= !(l < INFINITY);
        lane_max[0] = l > lane_max[0] ? l : lane_max[0];
    }
    float best_logit = -INFINITY;
    for (int k = 0; k < LANES; k++) best_logit = lane_max[k] > best_logit ? lane_max[k] : best_logit;
    if (bad)
        for (int32_t j = 0; j < s->n_vocab; j++)
            if (!(logits[j] < INFINITY)) /* NaN or +inf */
                return ct_fail(CT_ERR_INVALID_ARGUMENT, "sampler: logits[%d] is %g; logits must be finite or -inf",
                               (int)j, (double)logits[j]);
    if (best_logit == -INFINITY)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "sampler: all %d logits are -inf; nothing to sample",
                       (int)s->n_vocab);
    int32_t best = 0;
    while (logits[best] != best_logit) best++;
    *token = best;
    return CT_OK;
}

ct_status ct_sampler_sample(ct_sampler *s, const float *logits, int32_t *token) {
    const ct_sampler_params *p = &s->params;
    if (p->temperature == 0.0f && p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f &&
        p->frequency_penalty == 0.0f)
        return greedy_plain(s, logits, token);
    CT_TRY(load_and_penalize(s, logits));
    if (s->params.temperature == 0.0f) {
        *token = s->set.data[ct_cands_argmax(&s->set)].id;
        return CT_OK;
    }
    filter(s);
    const double u = ct_rng_uniform(&s->rng);
    *token = s->set.data[ct_cands_draw(&s->set, (double)s->params.temperature, u)].id;
    return CT_OK;
}
