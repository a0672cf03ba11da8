/* Repetition / presence / frequency penalties over the last N accepted tokens.
 *
 * Semantics are llama.cpp's (llama_sampler_penalties): for every distinct token t that occurs
 * c(t) > 0 times in the window,
 *     logit[t] = logit[t] <= 0 ? logit[t] * repeat : logit[t] / repeat
 *     logit[t] -= c(t) * frequency + (c(t) > 0) * presence
 * so repeat > 1 always makes a seen token less likely, and the two alphas subtract a flat and a
 * per-occurrence amount. Tokens outside the window are untouched.
 *
 * The window is a ring of the last `capacity` tokens plus a per-token count that is kept up to
 * date on every push, so applying costs O(window), never O(vocab). */
#ifndef CT_SAMPLE_PENALTIES_H
#define CT_SAMPLE_PENALTIES_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "sample/candidates.h"

typedef struct ct_penalty_window {
    int32_t *ring;    /* capacity entries */
    uint32_t *counts; /* n_vocab entries: occurrences inside the ring */
    uint8_t *seen;    /* n_vocab scratch flags for visiting each distinct token once */
    size_t capacity, len, head; /* head = index of the oldest entry */
    int32_t n_vocab;
} ct_penalty_window;

/* capacity 0 makes a window that remembers nothing (and allocates nothing). */
ct_status ct_penalty_window_init(ct_penalty_window *w, int32_t n_vocab, size_t capacity);
void ct_penalty_window_free(ct_penalty_window *w);
void ct_penalty_window_clear(ct_penalty_window *w);

/* Append a token (0 <= token < n_vocab, checked by the caller), evicting the oldest when full. */
void ct_penalty_window_push(ct_penalty_window *w, int32_t token);

/* Occurrences of token in the window. */
uint32_t ct_penalty_window_count(const ct_penalty_window *w, int32_t token);

/* Apply the penalties to by_id, an array indexed by token id (by_id[t].id == t). */
void ct_penalty_window_apply(ct_penalty_window *w, ct_token_logit *by_id, float repeat,
                             float presence, float frequency);

#endif
