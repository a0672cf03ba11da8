#include "sample/penalties.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

ct_status ct_penalty_window_init(ct_penalty_window *w, int32_t n_vocab, size_t capacity) {
    memset(w, 0, sizeof *w);
    w->n_vocab = n_vocab;
    w->capacity = capacity;
    if (capacity == 0) return CT_OK;
    w->ring = ct_alloc_array(capacity, sizeof *w->ring, "sampler penalty window");
    w->counts = ct_calloc_array((size_t)n_vocab, sizeof *w->counts, "sampler token counts");
    w->seen = ct_calloc_array((size_t)n_vocab, sizeof *w->seen, "sampler token flags");
    if (!w->ring || !w->counts || !w->seen) {
        ct_penalty_window_free(w);
        return CT_ERR_OUT_OF_MEMORY;
    }
    return CT_OK;
}

void ct_penalty_window_free(ct_penalty_window *w) {
    free(w->ring);
    free(w->counts);
    free(w->seen);
    memset(w, 0, sizeof *w);
}

void ct_penalty_window_clear(ct_penalty_window *w) {
    for (size_t i = 0; i < w->len; i++) w->counts[w->ring[(w->head + i) % w->capacity]] = 0;
    w->len = 0;
    w->head = 0;
}

void ct_penalty_window_push(ct_penalty_window *w, int32_t token) {
    if (w->capacity == 0) return;
    if (w->len == w->capacity) {
        w->counts[w->ring[w->head]]--;
        w->ring[w->head] = token;
        w->head = (w->head + 1) % w->capacity;
    } else {
        w->ring[(w->head + w->len) % w->capacity] = token;
        w->len++;
    }
    w->counts[token]++;
}

uint32_t ct_penalty_window_count(const ct_penalty_window *w, int32_t token) {
    if (w->capacity == 0 || token < 0 || token >= w->n_vocab) return 0;
    return w->counts[token];
}

void ct_penalty_window_apply(ct_penalty_window *w, ct_token_logit *by_id, float repeat,
                             float presence, float frequency) {
    for (size_t i = 0; i < w->len; i++) {
        int32_t t = w->ring[(w->head + i) % w->capacity];
        if (w->seen[t]) continue;
        w->seen[t] = 1;
        const uint32_t count = w->counts[t];
        float l = by_id[t].logit;
        if (l == -INFINITY) continue; /* masked stays masked (and -inf - -inf would be NaN) */
        l = l <= 0.0f ? l * repeat : l / repeat;
        l -= (float)count * frequency + (count > 0 ? presence : 0.0f);
        /* a tiny repeat penalty or a large negative alpha can overflow; +inf would turn the
         * softmax into NaN, so saturate (-inf stays: it only masks the token) */
        if (l > FLT_MAX) l = FLT_MAX;
        by_id[t].logit = l;
    }
    for (size_t i = 0; i < w->len; i++) w->seen[w->ring[(w->head + i) % w->capacity]] = 0;
}
