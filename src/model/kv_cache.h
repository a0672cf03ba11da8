/* The KV cache, paged: per layer, a pool of cells (each one key row and one value row of all
 * key/value heads, F16 by default) grouped into fixed-size blocks of block_size cells.
 *
 * Each sequence holds a block table: position p lives in cell
 * table[p / block_size] * block_size + p % block_size, which is what its ct_kv_view says
 * (backend.h). Attention and kv_store reach cells only through the views, so the model code
 * and the ops do not know the cache is paged. A sequence takes blocks from a free list as it
 * grows (ct_kv_cache_grow, called by the batch planner) and gives them back when it is
 * truncated or cleared.
 *
 * The pool's size is the memory budget. A context made by ct_context_create gets enough
 * blocks for every sequence to reach n_ctx, so its batches never lack a block; the engine
 * (src/engine) sizes the pool from --kv-mem and checks the free blocks before each step,
 * preempting a sequence rather than hitting an empty free list. An empty free list is
 * CT_ERR_RANGE ("KV cache full"), never a crash. */
#ifndef CT_MODEL_KV_CACHE_H
#define CT_MODEL_KV_CACHE_H

#include "backend/backend.h"
#include "model/hparams.h"

#define CT_KV_BLOCK_SIZE_DEFAULT 16 /* cells per block */

typedef struct ct_kv_cache {
    ct_backend *be;
    int32_t n_layer, n_seq, n_ctx; /* n_ctx: most positions one sequence may hold */
    int32_t block_size;            /* cells per block */
    int32_t n_blocks;              /* blocks in the pool */
    int32_t max_blocks;            /* blocks one sequence may hold: ceil(n_ctx / block_size) */
    uint32_t type;                 /* CT_TYPE_F16 or CT_TYPE_F32 */
    ct_tensor *k, *v;              /* per layer: [n_blocks * block_size cells][n_head_kv * head_dim] */
    int32_t *seq_len;              /* positions stored, per sequence */
    int32_t *seq_blocks;           /* blocks held, per sequence (they cover at least seq_len positions) */
    int32_t *tables;               /* block tables, [n_seq][max_blocks] */
    ct_kv_view *views;             /* per sequence, over its row of tables */
    int32_t *free_list;            /* stack of free block ids, [n_blocks] */
    int32_t n_free;
} ct_kv_cache;

/* Bytes one block takes over all layers (keys and values), for sizing a pool from a budget. */
uint64_t ct_kv_block_bytes(const ct_hparams *hp, int32_t block_size, uint32_t type);

/* n_seq sequences of up to n_ctx positions each, over a pool of n_blocks blocks of
 * block_size cells. block_size 0: CT_KV_BLOCK_SIZE_DEFAULT; n_blocks 0: enough for every
 * sequence to hold n_ctx positions at once. */
ct_status ct_kv_cache_init(ct_kv_cache *kv, ct_backend *be, const ct_hparams *hp, int32_t n_ctx, int32_t n_seq,
                           uint32_t type, int32_t block_size, int32_t n_blocks);
void ct_kv_cache_free(ct_kv_cache *kv);

/* Blocks sequence seq would need beyond those it holds to store positions [0, len). */
int32_t ct_kv_cache_blocks_needed(const ct_kv_cache *kv, int32_t seq, int32_t len);

/* Make seq hold blocks for positions [0, len) (len <= n_ctx). When the free list has too few
 * blocks, CT_ERR_RANGE naming the sequence and the counts, and nothing is taken. */
ct_status ct_kv_cache_grow(ct_kv_cache *kv, int32_t seq, int32_t len);

/* Forget positions >= len of sequence seq (len = 0 clears it) and return the blocks no longer
 * needed to the free list. Blocks held beyond seq_len (grown for a batch that then failed)
 * are returned too. */
void ct_kv_cache_truncate(ct_kv_cache *kv, int32_t seq, int32_t len);

/* Free blocks in the pool. */
static inline int32_t ct_kv_cache_n_free(const ct_kv_cache *kv) { return kv->n_free; }

/* Bytes the cache holds. */
uint64_t ct_kv_cache_bytes(const ct_kv_cache *kv);

#endif
