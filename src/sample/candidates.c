#include "sample/candidates.h"

#include <math.h>

static inline void swap_cands(ct_token_logit *a, ct_token_logit *b) {
    ct_token_logit t = *a;
    *a = *b;
    *b = t;
}

/* Pivot choice for the partitioning loops below: a fixed-seed xorshift, so runs are repeatable
 * and no natural arrangement of logits (sorted, reversed, all equal) makes them quadratic. */
static inline size_t pick_pivot(uint64_t *r, size_t lo, size_t hi) {
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return lo + (size_t)(*r % (uint64_t)(hi - lo));
}

/* Min-heap on rank (root = the worst of the heap), in place over a[0 .. k). */
static void heap_sift_down(ct_token_logit *a, size_t k, size_t i) {
    for (;;) {
        size_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < k && ct_cand_before(a[worst], a[l])) worst = l;
        if (r < k && ct_cand_before(a[worst], a[r])) worst = r;
        if (worst == i) return;
        swap_cands(&a[i], &a[worst]);
        i = worst;
    }
}

/* Small k: one pass keeping the k best seen so far in a heap at the front of the array. On
 * logits in no particular order only ~k*ln(n/k) elements ever enter the heap, so this is about
 * one comparison per element. */
static void select_best_heap(ct_token_logit *a, size_t n, size_t k) {
    for (size_t i = k / 2; i-- > 0;) heap_sift_down(a, k, i);
    for (size_t i = k; i < n; i++) {
        if (ct_cand_before(a[i], a[0])) {
            swap_cands(&a[i], &a[0]);
            heap_sift_down(a, k, 0);
        }
    }
}

/* Large k: quickselect, expected O(n). The selected set is unique under the total order, so
 * the pivot choice never changes the result. */
static void select_best_quick(ct_token_logit *a, size_t n, size_t k) {
    uint64_t r = 0x243f6a8885a308d3ULL;
    size_t lo = 0, hi = n; /* [0, lo) beats [lo, n); [0, hi) beats [hi, n) */
    while (lo < k && k < hi) {
        size_t p = pick_pivot(&r, lo, hi);
        swap_cands(&a[p], &a[hi - 1]);
        const ct_token_logit pivot = a[hi - 1];
        size_t store = lo;
        for (size_t i = lo; i < hi - 1; i++)
            if (ct_cand_before(a[i], pivot)) swap_cands(&a[i], &a[store++]);
        swap_cands(&a[store], &a[hi - 1]);
        if (store < k)
            lo = store + 1;
        else
            hi = store;
    }
}

/* Rank order over a[0 .. n), in place and without allocating (qsort may malloc): heapify with
 * the worst at the root, then move the root to the back n times. */
static void sort_by_rank(ct_token_logit *a, size_t n) {
    for (size_t i = n / 2; i-- > 0;) heap_sift_down(a, n, i);
    for (size_t end = n; end > 1; end--) {
        swap_cands(&a[0], &a[end - 1]);
        heap_sift_down(a, end - 1, 0);
    }
}

/* Afterwards a[0 .. k) hold the k best of a[0 .. n), in no particular order. The heap's
 * worst case is O(n log k), so it is used while log k stays small. */
static void select_best(ct_token_logit *a, size_t n, size_t k) {
    if (k == 0 || k >= n) return;
    if (k <= 1024)
        select_best_heap(a, n, k);
    else
        select_best_quick(a, n, k);
}

void ct_cands_sort_prefix(ct_cand_array *c, size_t m) {
    if (m > c->size) m = c->size;
    if (m <= c->sorted_len) return;
    ct_token_logit *rest = c->data + c->sorted_len;
    size_t rest_n = c->size - c->sorted_len, want = m - c->sorted_len;
    if (want < rest_n) select_best(rest, rest_n, want);
    sort_by_rank(rest, want);
    c->sorted_len = m;
}

size_t ct_cands_argmax(const ct_cand_array *c) {
    if (c->sorted_len > 0) return 0;
    size_t best = 0;
    for (size_t i = 1; i < c->size; i++)
        if (ct_cand_before(c->data[i], c->data[best])) best = i;
    return best;
}

void ct_cands_top_k(ct_cand_array *c, size_t k) {
    if (k == 0 || k >= c->size) return;
    ct_cands_sort_prefix(c, k);
    c->size = k;
}

static float max_logit(const ct_cand_array *c) { return c->data[ct_cands_argmax(c)].logit; }

/* Nucleus cut over the unsorted tail a[lo .. n): the smallest rank-order prefix of it whose
 * weights exp(logit - max) sum to >= need. Quickselect on mass: partition around a random
 * pivot; if the better side alone reaches `need` the cut lies inside it, otherwise take it
 * (and the pivot) and continue on the worse side. Expected O(n); the kept prefix is returned
 * unsorted. Returns the cut index (number of elements of a[0 ..) kept). */
static size_t mass_select(ct_token_logit *a, size_t lo, size_t n, double max, double need) {
    uint64_t r = 0x13198a2e03707344ULL;
    size_t hi = n;
    while (hi - lo > 1) {
        size_t p = pick_pivot(&r, lo, hi);
        swap_cands(&a[p], &a[hi - 1]);
        const ct_token_logit pivot = a[hi - 1];
        size_t store = lo;
        double better = 0.0;
        for (size_t i = lo; i < hi - 1; i++) {
            if (ct_cand_before(a[i], pivot)) {
                better += exp((double)a[i].logit - max);
                swap_cands(&a[i], &a[store++]);
            }
        }
        swap_cands(&a[store], &a[hi - 1]);
        if (better >= need) {
            hi = store; /* the cut is inside the better side (non-empty, since need > 0) */
            continue;
        }
        need -= better + exp((double)pivot.logit - max);
        if (need <= 0.0) return store + 1; /* the pivot completes the mass */
        lo = store + 1;
    }
    /* one element left that is still needed, or none (rounding: keep what was taken) */
    return hi - lo == 1 ? lo + 1 : lo;
}

void ct_cands_top_p(ct_cand_array *c, double p) {
    if (p >= 1.0 || c->size <= 1) return;
    const double max = max_logit(c);
    double total = 0.0;
    for (size_t i = 0; i < c->size; i++) total += exp((double)c->data[i].logit - max);
    /* Walk the rank order, sorting more of it only while the mass so far is short of p: a
     * peaked distribution needs only its first few dozen tokens ordered. When the nucleus turns
     * out large (flat logits), finish with a mass-based selection instead of sorting it all. */
    const double target = p * total;
    double cum = 0.0;
    size_t i = 0, chunk = 64;
    while (i < c->size) {
        if (i + chunk > 4096 && c->sorted_len < c->size) {
            c->size = mass_select(c->data, i, c->size, max, target - cum);
            return; /* sorted_len (<= i) is still the sorted best of the kept set */
        }
        ct_cands_sort_prefix(c, i + chunk);
        for (; i < c->sorted_len; i++) {
            cum += exp((double)c->data[i].logit - max);
            if (cum >= target) {
                c->size = i + 1;
                c->sorted_len = i + 1;
                return;
            }
        }
        chunk *= 4;
    }
    /* rounding left the sum of the walk a hair under target: everything is kept */
}

void ct_cands_min_p(ct_cand_array *c, double min_p) {
    if (min_p <= 0.0 || c->size <= 1) return;
    const double threshold = (double)max_logit(c) + log(min_p);
    size_t kept = 0, kept_sorted = 0;
    for (size_t i = 0; i < c->size; i++) {
        if ((double)c->data[i].logit >= threshold) {
            if (i < c->sorted_len) kept_sorted++;
            c->data[kept++] = c->data[i];
        }
    }
    /* The sorted prefix loses only a tail (its members beat everything after them), and a
     * stable compaction keeps what is left of it at the front, in order. */
    c->size = kept;
    c->sorted_len = kept_sorted;
}

size_t ct_cands_draw(const ct_cand_array *c, double temperature, double u) {
    /* divide rather than multiply by 1/T: with a denormal T, 0 * inf would be NaN */
    const double max = max_logit(c);
    double total = 0.0;
    for (size_t i = 0; i < c->size; i++) total += exp(((double)c->data[i].logit - max) / temperature);
    const double target = u * total;
    double cum = 0.0;
    size_t last_nonzero = 0;
    for (size_t i = 0; i < c->size; i++) {
        double w = exp(((double)c->data[i].logit - max) / temperature);
        if (w > 0.0) last_nonzero = i;
        cum += w;
        if (target < cum) return i;
    }
    return last_nonzero; /* u * total rounded up to total */
}
