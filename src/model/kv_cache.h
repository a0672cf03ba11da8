/* The KV cache: per layer, one key row and one value row (all key/value heads) per cell, F16
 * by default, preallocated for n_seq sequences of up to n_ctx positions each. Each sequence
 * owns one contiguous block of n_ctx cells today; attention reaches cells only through the
 * sequence's ct_kv_view, so paged blocks can replace this without touching model code. */
#ifndef CT_MODEL_KV_CACHE_H
#define CT_MODEL_KV_CACHE_H

#include "backend/backend.h"
#include "model/hparams.h"

typedef struct ct_kv_cache {
    ct_backend *be;
    int32_t n_layer, n_seq, n_ctx;
    uint32_t type;       /* CT_TYPE_F16 or CT_TYPE_F32 */
    ct_tensor *k, *v;    /* per layer: [n_seq * n_ctx cells][n_head_kv * head_dim] */
    int32_t *seq_len;    /* positions stored, per sequence */
    int32_t *blocks;     /* block table storage: sequence s owns block s */
    ct_kv_view *views;   /* per sequence */
} ct_kv_cache;

ct_status ct_kv_cache_init(ct_kv_cache *kv, ct_backend *be, const ct_hparams *hp, int32_t n_ctx, int32_t n_seq,
                           uint32_t type);
void ct_kv_cache_free(ct_kv_cache *kv);

/* Forget positions >= len of sequence seq (len = 0 clears it). */
void ct_kv_cache_truncate(ct_kv_cache *kv, int32_t seq, int32_t len);

/* Bytes the cache holds. */
uint64_t ct_kv_cache_bytes(const ct_kv_cache *kv);

#endif
