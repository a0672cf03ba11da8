/* KV cache storage: the block pool, its free list and the per-sequence block tables. */
#include "model/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static size_t elem_bytes(uint32_t type) { return type == CT_TYPE_F32 ? 4 : 2; }

uint64_t ct_kv_block_bytes(const ct_hparams *hp, int32_t block_size, uint32_t type) {
    uint64_t row = (uint64_t)hp->n_head_kv * ((uint64_t)hp->head_dim_k + (uint64_t)hp->head_dim_v) * elem_bytes(type);
    return row * (uint64_t)(block_size > 0 ? block_size : CT_KV_BLOCK_SIZE_DEFAULT) * (uint64_t)hp->n_layer;
}

static ct_status alloc_layer(ct_kv_cache *kv, ct_tensor *t, int64_t width, const char *name) {
    uint64_t cells = (uint64_t)kv->n_blocks * (uint64_t)kv->block_size, bytes;
    size_t elem = elem_bytes(kv->type);
    if (!ct_mul_u64(cells, (uint64_t)width * elem, &bytes) || bytes > SIZE_MAX)
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "KV cache: %llu cells of %lld values do not fit in memory",
                       (unsigned long long)cells, (long long)width);
    *t = (ct_tensor){.type = kv->type, .ne0 = width, .ne1 = (int64_t)cells, .row_bytes = (size_t)width * elem, .name = name};
    ct_status st = kv->be->alloc(kv->be, (size_t)bytes, &t->data);
    if (st != CT_OK)
        return ct_fail_context(st, "KV cache (%d blocks of %d cells, %llu MiB per layer)", (int)kv->n_blocks,
                               (int)kv->block_size, (unsigned long long)(bytes >> 20));
    return CT_OK;
}

ct_status ct_kv_cache_init(ct_kv_cache *kv, ct_backend *be, const ct_hparams *hp, int32_t n_ctx, int32_t n_seq,
                           uint32_t type, int32_t block_size, int32_t n_blocks) {
    memset(kv, 0, sizeof *kv);
    if (type != CT_TYPE_F16 && type != CT_TYPE_F32)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "KV cache type must be F16 or F32");
    if (n_ctx < 1 || n_seq < 1)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "KV cache: %d positions x %d sequences", (int)n_ctx, (int)n_seq);
    if (block_size < 0 || block_size > 65536)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "KV cache block size %d: must be between 1 and 65536", (int)block_size);
    if (block_size == 0) block_size = CT_KV_BLOCK_SIZE_DEFAULT;
    int32_t max_blocks = (int32_t)(((int64_t)n_ctx + block_size - 1) / block_size);
    int64_t full = (int64_t)max_blocks * n_seq;
    if (n_blocks < 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "KV cache: %d blocks", (int)n_blocks);
    if (n_blocks == 0) {
        if (full > INT32_MAX)
            return ct_fail(CT_ERR_OUT_OF_MEMORY, "KV cache: %d sequences of %d positions are too many blocks",
                           (int)n_seq, (int)n_ctx);
        n_blocks = (int32_t)full;
    }
    kv->be = be;
    kv->n_layer = hp->n_layer;
    kv->n_seq = n_seq;
    kv->n_ctx = n_ctx;
    kv->block_size = block_size;
    kv->n_blocks = n_blocks;
    kv->max_blocks = max_blocks;
    kv->type = type;
    kv->k = ct_calloc_array((size_t)hp->n_layer, sizeof *kv->k, "KV cache");
    kv->v = ct_calloc_array((size_t)hp->n_layer, sizeof *kv->v, "KV cache");
    kv->seq_len = ct_calloc_array((size_t)n_seq, sizeof *kv->seq_len, "KV cache");
    kv->seq_blocks = ct_calloc_array((size_t)n_seq, sizeof *kv->seq_blocks, "KV cache");
    kv->tables = ct_calloc_array((size_t)n_seq * (size_t)max_blocks, sizeof *kv->tables, "KV cache block tables");
    kv->views = ct_calloc_array((size_t)n_seq, sizeof *kv->views, "KV cache");
    kv->free_list = ct_alloc_array((size_t)n_blocks, sizeof *kv->free_list, "KV cache free list");
    if (!kv->k || !kv->v || !kv->seq_len || !kv->seq_blocks || !kv->tables || !kv->views || !kv->free_list) {
        ct_kv_cache_free(kv);
        return CT_ERR_OUT_OF_MEMORY;
    }
    for (int32_t s = 0; s < n_seq; s++)
        kv->views[s] = (ct_kv_view){.blocks = kv->tables + (size_t)s * (size_t)max_blocks, .block_size = block_size};
    /* a stack popped from the top: block 0 is taken first */
    for (int32_t b = 0; b < n_blocks; b++) kv->free_list[b] = n_blocks - 1 - b;
    kv->n_free = n_blocks;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        ct_status st = alloc_layer(kv, &kv->k[l], (int64_t)hp->n_head_kv * hp->head_dim_k, "k_cache");
        if (st == CT_OK) st = alloc_layer(kv, &kv->v[l], (int64_t)hp->n_head_kv * hp->head_dim_v, "v_cache");
        if (st != CT_OK) {
            ct_kv_cache_free(kv);
            return st;
        }
    }
    return CT_OK;
}

void ct_kv_cache_free(ct_kv_cache *kv) {
    for (int32_t l = 0; kv->k && l < kv->n_layer; l++)
        if (kv->k[l].data) kv->be->release(kv->be, kv->k[l].data);
    for (int32_t l = 0; kv->v && l < kv->n_layer; l++)
        if (kv->v[l].data) kv->be->release(kv->be, kv->v[l].data);
    free(kv->k);
    free(kv->v);
    free(kv->seq_len);
    free(kv->seq_blocks);
    free(kv->tables);
    free(kv->views);
    free(kv->free_list);
    memset(kv, 0, sizeof *kv);
}

static int32_t blocks_for(const ct_kv_cache *kv, int32_t len) {
    return (int32_t)(((int64_t)len + kv->block_size - 1) / kv->block_size);
}

int32_t ct_kv_cache_blocks_needed(const ct_kv_cache *kv, int32_t seq, int32_t len) {
    if (seq < 0 || seq >= kv->n_seq || len <= 0) return 0;
    int32_t need = blocks_for(kv, len) - kv->seq_blocks[seq];
    return need > 0 ? need : 0;
}

ct_status ct_kv_cache_grow(ct_kv_cache *kv, int32_t seq, int32_t len) {
    if (seq < 0 || seq >= kv->n_seq)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "KV cache: sequence id %d is outside 0..%d", (int)seq, (int)kv->n_seq - 1);
    if (len > kv->n_ctx)
        return ct_fail(CT_ERR_RANGE, "context full: sequence %d would reach position %d but the context holds %d (-c)",
                       (int)seq, (int)len, (int)kv->n_ctx);
    int32_t need = ct_kv_cache_blocks_needed(kv, seq, len);
    if (need > kv->n_free)
        return ct_fail(CT_ERR_RANGE,
                       "KV cache full: sequence %d needs %d more block(s) of %d cells for %d positions but %d of %d "
                       "are free",
                       (int)seq, (int)need, (int)kv->block_size, (int)len, (int)kv->n_free, (int)kv->n_blocks);
    int32_t *table = kv->tables + (size_t)seq * (size_t)kv->max_blocks;
    for (int32_t i = 0; i < need; i++) table[kv->seq_blocks[seq]++] = kv->free_list[--kv->n_free];
    return CT_OK;
}

void ct_kv_cache_truncate(ct_kv_cache *kv, int32_t seq, int32_t len) {
    if (seq < 0 || seq >= kv->n_seq || len < 0) return;
    if (len < kv->seq_len[seq]) kv->seq_len[seq] = len;
    int32_t keep = blocks_for(kv, kv->seq_len[seq]);
    const int32_t *table = kv->tables + (size_t)seq * (size_t)kv->max_blocks;
    /* return the last blocks first, so a sequence that grows again gets them back in order */
    while (kv->seq_blocks[seq] > keep) kv->free_list[kv->n_free++] = table[--kv->seq_blocks[seq]];
}

uint64_t ct_kv_cache_bytes(const ct_kv_cache *kv) {
    uint64_t total = 0;
    for (int32_t l = 0; l < kv->n_layer; l++)
        total += (uint64_t)kv->k[l].ne1 * kv->k[l].row_bytes + (uint64_t)kv->v[l].ne1 * kv->v[l].row_bytes;
    return total;
}
