/* The working set of a sampling step: (token id, logit) pairs and the filters that shrink it.
 *
 * Candidates are ranked by a total order: higher logit first, and on equal logits the lower
 * token id first. Every filter keeps a prefix of that order, so results never depend on how
 * ties happened to be arranged in memory.
 *
 * Invariant of ct_cand_array: data[0 .. sorted_len) are the sorted_len best candidates of
 * data[0 .. size), in rank order; the rest, data[sorted_len .. size), are in no order.
 * Partial selection keeps work near O(size) per filter: nothing sorts the whole vocabulary
 * unless a filter really needs all of it in order. */
#ifndef CT_SAMPLE_CANDIDATES_H
#define CT_SAMPLE_CANDIDATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ct_token_logit {
    int32_t id;
    float logit;
} ct_token_logit;

typedef struct ct_cand_array {
    ct_token_logit *data;
    size_t size;
    size_t sorted_len;
} ct_cand_array;

/* True when a ranks before b (higher logit, then lower id). */
static inline bool ct_cand_before(ct_token_logit a, ct_token_logit b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

/* Make data[0 .. min(m, size)) the best candidates in rank order (extends sorted_len). */
void ct_cands_sort_prefix(ct_cand_array *c, size_t m);

/* Index of the best candidate (size must be > 0). */
size_t ct_cands_argmax(const ct_cand_array *c);

/* Keep the k best (k == 0 or k >= size: keep all). */
void ct_cands_top_k(ct_cand_array *c, size_t k);

/* Nucleus: keep the smallest rank-order prefix whose softmax mass (over the current set, at
 * temperature 1) is >= p; always at least one. p >= 1 keeps all. */
void ct_cands_top_p(ct_cand_array *c, double p);

/* Keep candidates whose probability is >= min_p times the best one's, i.e.
 * logit >= max_logit + log(min_p). min_p <= 0 keeps all. Order of the kept set is preserved. */
void ct_cands_min_p(ct_cand_array *c, double min_p);

/* Draw one candidate with probability softmax(logit / temperature) over the set, using the
 * uniform number u in [0, 1). temperature must be > 0. Returns the index into data. */
size_t ct_cands_draw(const ct_cand_array *c, double temperature, double u);

#endif
