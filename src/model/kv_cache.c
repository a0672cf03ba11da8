/* KV cache storage and per-sequence bookkeeping. */
#include "model/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static ct_status alloc_layer(ct_kv_cache *kv, ct_tensor *t, int64_t width, const char *name) {
    uint64_t cells = (uint64_t)kv->n_seq * (uint64_t)kv->n_ctx, bytes;
    size_t elem = kv->type == CT_TYPE_F32 ? 4 : 2;
    if (!ct_mul_u64(cells, (uint64_t)width * elem, &bytes) || bytes > SIZE_MAX)
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "KV cache: %llu cells of %lld values do not fit in memory",
                       (unsigned long long)cells, (long long)width);
    *t = (ct_tensor){.type = kv->type, .ne0 = width, .ne1 = (int64_t)cells, .row_bytes = (size_t)width * elem, .name = name};
    ct_status st = kv->be->alloc(kv->be, (size_t)bytes, &t->data);
    if (st != CT_OK)
        return ct_fail_context(st, "KV cache (%d positions x %d sequences, %llu MiB per layer)", (int)kv->n_ctx,
                               (int)kv->n_seq, (unsigned long long)(bytes >> 20));
    return CT_OK;
}

ct_status ct_kv_cache_init(ct_kv_cache *kv, ct_backend *be, const ct_hparams *hp, int32_t n_ctx, int32_t n_seq,
                           uint32_t type) {
    memset(kv, 0, sizeof *kv);
    if (type != CT_TYPE_F16 && type != CT_TYPE_F32)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "KV cache type must be F16 or F32");
    kv->be = be;
    kv->n_layer = hp->n_layer;
    kv->n_seq = n_seq;
    kv->n_ctx = n_ctx;
    kv->type = type;
    kv->k = ct_calloc_array((size_t)hp->n_layer, sizeof *kv->k, "KV cache");
    kv->v = ct_calloc_array((size_t)hp->n_layer, sizeof *kv->v, "KV cache");
    kv->seq_len = ct_calloc_array((size_t)n_seq, sizeof *kv->seq_len, "KV cache");
    kv->blocks = ct_calloc_array((size_t)n_seq, sizeof *kv->blocks, "KV cache");
    kv->views = ct_calloc_array((size_t)n_seq, sizeof *kv->views, "KV cache");
    if (!kv->k || !kv->v || !kv->seq_len || !kv->blocks || !kv->views) {
        ct_kv_cache_free(kv);
        return CT_ERR_OUT_OF_MEMORY;
    }
    for (int32_t s = 0; s < n_seq; s++) {
        kv->blocks[s] = s;
        kv->views[s] = (ct_kv_view){.blocks = &kv->blocks[s], .block_size = n_ctx};
    }
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
    free(kv->blocks);
    free(kv->views);
    memset(kv, 0, sizeof *kv);
}

void ct_kv_cache_truncate(ct_kv_cache *kv, int32_t seq, int32_t len) {
    if (seq < 0 || seq >= kv->n_seq || len < 0) return;
    if (len < kv->seq_len[seq]) kv->seq_len[seq] = len;
}

uint64_t ct_kv_cache_bytes(const ct_kv_cache *kv) {
    uint64_t total = 0;
    for (int32_t l = 0; l < kv->n_layer; l++)
        total += (uint64_t)kv->k[l].ne1 * kv->k[l].row_bytes + (uint64_t)kv->v[l].ne1 * kv->v[l].row_bytes;
    return total;
}
