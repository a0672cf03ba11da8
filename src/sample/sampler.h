/* Choosing the next token from a logits vector.
 *
 * Order of operations per token (llama.cpp's default chain, minus the samplers ctorch does
 * not have):
 *   1. penalties   repeat / presence / frequency over the last penalty_last_n accepted tokens
 *   2. greedy      if temperature == 0: the argmax of the penalized logits, done
 *   3. top-k       keep the top_k best                         (top_k == 0: off)
 *   4. top-p       keep the smallest best-first set with softmax mass >= top_p   (1: off)
 *   5. min-p       keep tokens with p >= min_p * p_max         (0: off)
 *   6. temperature divide the surviving logits by temperature
 *   7. draw        sample from their softmax with the sampler's own seeded RNG
 * Steps 4 and 5 measure probabilities at temperature 1 over the set that survived the steps
 * before them, as llama.cpp does; temperature only reshapes the final draw.
 *
 * Ties rank by lower token id (greedy picks the lowest id among equal maxima; top-k keeps the
 * lowest ids among equal logits at its boundary).
 *
 * Reproducibility: the RNG (xoshiro256**, see rng.h) is integer-only, so a seed gives the same
 * random stream everywhere; the tokens drawn are the same wherever the logits and libm's exp()
 * agree.
 *
 * The sampler keeps its own history for the penalties: call ct_sampler_accept() with every
 * token that becomes part of the context (the prompt's tokens too, if the penalties should see
 * them, as llama.cpp's CLI does). Sampling does not accept by itself.
 *
 * Cost: no allocation per token (the sampler owns vocab-sized scratch); penalties O(last_n);
 * top-k by quickselect O(vocab) plus sorting k; top-p sorts only the prefix it needs. */
#ifndef CT_SAMPLE_SAMPLER_H
#define CT_SAMPLE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "sample/candidates.h"

/* seed value meaning "pick one from the clock at creation" (ct_sampler_seed() tells which). */
#define CT_SAMPLER_SEED_RANDOM UINT64_MAX
/* Upper bound on penalty_last_n: the window is a ring of this many ints. */
#define CT_SAMPLER_MAX_PENALTY_LAST_N (1 << 24)

typedef struct ct_sampler_params {
    float temperature;       /* 0.8; 0 = greedy (argmax); must be >= 0 */
    int32_t top_k;           /* 40; 0 = off; larger than the vocabulary = off */
    float top_p;             /* 0.95; in (0, 1], 1 = off */
    float min_p;             /* 0.05; in [0, 1], 0 = off */
    float repeat_penalty;    /* 1.0 = off; > 0 (> 1 discourages repeats) */
    float presence_penalty;  /* 0.0 = off; subtracted once from each token seen in the window */
    float frequency_penalty; /* 0.0 = off; subtracted per occurrence in the window */
    int32_t penalty_last_n;  /* 64; how many recent accepted tokens the penalties look at, 0 = off */
    uint64_t seed;           /* CT_SAMPLER_SEED_RANDOM */
} ct_sampler_params;

typedef struct ct_sampler ct_sampler;

/* The documented defaults above. */
ct_sampler_params ct_sampler_params_default(void);

/* CT_OK, or CT_ERR_INVALID_ARGUMENT with a message naming the field, its allowed range and the
 * value given (e.g. "top_p must be in (0, 1], got 1.5"). */
ct_status ct_sampler_params_validate(const ct_sampler_params *params);

/* Validates params; n_vocab must be >= 1. Allocates O(n_vocab + penalty_last_n). */
ct_status ct_sampler_create(const ct_sampler_params *params, int32_t n_vocab, ct_sampler **out);
void ct_sampler_free(ct_sampler *s);

/* Pick a token from logits[0 .. n_vocab). Logits may be -inf (masked) but not NaN or +inf, and
 * not all -inf: those give CT_ERR_INVALID_ARGUMENT. Advances the RNG only when temperature > 0. */
ct_status ct_sampler_sample(ct_sampler *s, const float *logits, int32_t *token);

/* Record a token in the penalty history (CT_ERR_INVALID_ARGUMENT if outside the vocabulary). */
ct_status ct_sampler_accept(ct_sampler *s, int32_t token);

/* Forget the history and restart the RNG from the seed: the next draws repeat the first ones. */
void ct_sampler_reset(ct_sampler *s);

/* The seed in use (the resolved one when CT_SAMPLER_SEED_RANDOM was asked for). */
uint64_t ct_sampler_seed(const ct_sampler *s);
const ct_sampler_params *ct_sampler_get_params(const ct_sampler *s);
int32_t ct_sampler_n_vocab(const ct_sampler *s);

/* Steps 1 and 3-5 only, for inspection and tests: the candidates that would be drawn from,
 * with their penalized logits before temperature. The array belongs to the sampler and is
 * valid until its next call; its order is unspecified. Ignores temperature (also when 0). */
ct_status ct_sampler_candidates(ct_sampler *s, const float *logits, const ct_token_logit **cands,
                                size_t *n);

#endif
