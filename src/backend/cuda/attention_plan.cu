/* Attention's per-batch planning on the host: which tokens are decode work items, which
 * form prefill tiles, the metadata the kernels read, and the shape key. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention_internal.cuh"
#include "backend/cuda/cuda_attention.h"

static int32_t ceil_log2(int64_t x) {
    int32_t l = 0;
    while (((int64_t)1 << l) < x) l++;
    return l;
}

void ct_attn_scan(const ct_forward_batch *b, int32_t *dec, ct_attn_tile *tiles, ct_attn_summary *s) {
    int32_t n = b->n_tokens, n_dec = 0, n_tiles = 0;
    int64_t max_dec_ctx = 0;
    for (int32_t i = 0; i < n;) {
        /* the run of tokens continuing token i's sequence position by position */
        int32_t j = i + 1;
        while (j < n && b->seq[j] == b->seq[i] && b->pos[j] == b->pos[j - 1] + 1) j++;
        int32_t len = j - i;
        if (len >= CT_ATTN_PREFILL_MIN_RUN) {
            for (int32_t f = i; f < j; f += CT_ATTN_TILE_TOKENS) {
                int32_t count = j - f < CT_ATTN_TILE_TOKENS ? j - f : CT_ATTN_TILE_TOKENS;
                if (tiles) tiles[n_tiles] = ct_attn_tile{f, count, b->pos[f + count - 1], b->seq[f]};
                n_tiles++;
            }
        } else {
            for (int32_t t = i; t < j; t++) {
                if (dec) dec[n_dec] = t;
                n_dec++;
                if ((int64_t)b->pos[t] + 1 > max_dec_ctx) max_dec_ctx = (int64_t)b->pos[t] + 1;
            }
        }
        i = j;
    }
    s->n_tokens = n;
    s->n_dec = n_dec;
    s->n_tiles = n_tiles;
    s->ctx_log2 = n_dec ? ceil_log2(max_dec_ctx) : 0;
}

/* longest tiles first, so the big blocks start early; ties by batch order (deterministic) */
static int tile_order(const void *pa, const void *pb) {
    const ct_attn_tile *a = (const ct_attn_tile *)pa, *b = (const ct_attn_tile *)pb;
    if (a->max_pos != b->max_pos) return a->max_pos > b->max_pos ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);
}

extern "C" size_t ct_cuda_attention_meta_capacity(int32_t max_tokens, int64_t max_ctx) {
    if (max_tokens < 1) max_tokens = 1;
    size_t bytes = ct_attn_meta_bytes(max_tokens);
    if (max_ctx > CT_ATTN_MIN_SPLIT_KEYS) bytes += CT_ATTN_SCRATCH_BYTES;
    return bytes;
}

extern "C" ct_status ct_cuda_attention_plan(const ct_forward_batch *batch, int32_t max_ctx, void *host_meta,
                                            size_t capacity, size_t *used, uint64_t *shape_key) {
    *used = 0;
    *shape_key = 0;
    int32_t n = batch->n_tokens;
    if (n < 1) return CT_OK;
    if (n >= CT_ATTN_MAX_BATCH_TOKENS)
        return ct_fail(CT_ERR_RANGE, "cuda attention: a batch of %d tokens (the plan takes fewer than %d)", (int)n,
                       CT_ATTN_MAX_BATCH_TOKENS);
    int32_t batch_ctx = 0;
    for (int32_t t = 0; t < n; t++) {
        if (batch->pos[t] < 0)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "cuda attention: batch token %d has position %d", (int)t,
                           (int)batch->pos[t]);
        if (batch->pos[t] + 1 > batch_ctx) batch_ctx = batch->pos[t] + 1;
    }
    if (batch_ctx > max_ctx)
        return ct_fail(CT_ERR_INTERNAL, "cuda attention: a batch reaching position %d but max_ctx %d",
                       (int)batch_ctx - 1, (int)max_ctx);

    size_t meta = ct_attn_meta_bytes(n);
    ct_attn_summary s;
    ct_attn_scan(batch, NULL, NULL, &s);
    size_t need = meta + (ct_attn_may_split(&s) ? CT_ATTN_SCRATCH_BYTES : 0);
    if (need > capacity)
        return ct_fail(CT_ERR_INTERNAL,
                       "cuda attention: a batch of %d tokens reaching position %d needs %zu bytes of metadata and "
                       "scratch, the buffer has %zu (see ct_cuda_attention_meta_capacity)",
                       (int)n, (int)batch_ctx - 1, need, capacity);

    uint8_t *base = (uint8_t *)host_meta;
    memset(base, 0, meta);
    int32_t *dec = (int32_t *)base;
    ct_attn_tile *tiles = (ct_attn_tile *)(base + ct_attn_tiles_offset(n));
    ct_attn_scan(batch, dec, tiles, &s);
    qsort(tiles, (size_t)s.n_tiles, sizeof *tiles, tile_order);
    *used = meta;

    /* every launch-config choice of kv_store and attention is a function of these fields
     * and of the layer (head counts, dims, window, cache type), which a captured graph fixes:
     * n_tokens (bits 0-19): kv_store's grid, the meta layout;
     * n_dec (20-39), n_tiles (40-57): the decode, combine and prefill grids;
     * ctx_log2 (58-63): the number of splits (ctx_log2 < 32: positions are int32); every
     * context up to CT_ATTN_MIN_SPLIT_KEYS takes one split and no scratch, so those share one
     * key (a decode from position 0 replays one graph through its first 128 tokens, not one
     * capture per power of two) */
    const int32_t one_split_log2 = ceil_log2(CT_ATTN_MIN_SPLIT_KEYS);
    const int32_t key_ctx = s.n_dec && s.ctx_log2 < one_split_log2 ? one_split_log2 : s.ctx_log2;
    *shape_key =
        (uint64_t)s.n_tokens | (uint64_t)s.n_dec << 20 | (uint64_t)s.n_tiles << 40 | (uint64_t)key_ctx << 58;
    return CT_OK;
}
