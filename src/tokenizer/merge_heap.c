/* The candidate-merge priority queue shared by the SPM and BPE merge loops. */
#include <stdlib.h>

#include "core/alloc.h"
#include "tokenizer/tok_internal.h"

/* a comes out before b */
static inline bool before(const tok_merge_cand *a, const tok_merge_cand *b) { return a->key < b->key; }

/* A 4-ary heap: the four children of a node are adjacent (one 64-byte line of 16-byte
 * entries), which halves the depth and the cache misses of the binary heap. */
ct_status tok_heap_push(tok_heap *h, tok_merge_cand c) {
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        tok_merge_cand *items = ct_realloc_array(h->items, cap, sizeof *items, "merge queue");
        if (!items) return CT_ERR_OUT_OF_MEMORY;
        h->items = items;
        h->cap = cap;
    }
    size_t i = h->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 4;
        if (!before(&c, &h->items[parent])) break;
        h->items[i] = h->items[parent];
        i = parent;
    }
    h->items[i] = c;
    return CT_OK;
}

tok_merge_cand tok_heap_pop(tok_heap *h) {
    tok_merge_cand top = h->items[0];
    tok_merge_cand last = h->items[--h->count];
    size_t i = 0, n = h->count;
    for (;;) {
        size_t first = 4 * i + 1;
        if (first >= n) break;
        size_t best = first, end = first + 4 < n ? first + 4 : n;
        for (size_t c = first + 1; c < end; c++)
            if (before(&h->items[c], &h->items[best])) best = c;
        if (!before(&h->items[best], &last)) break;
        h->items[i] = h->items[best];
        i = best;
    }
    if (n) h->items[i] = last;
    return top;
}

void tok_heap_free(tok_heap *h) {
    free(h->items);
    h->items = NULL;
    h->count = h->cap = 0;
}
