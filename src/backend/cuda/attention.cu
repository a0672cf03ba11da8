/* ct_cuda_attention: checks the op's tensors, picks the kernels and their launch shapes.
 *
 *   F16 caches, head dims multiples of 8 up to 256, groups up to 64 heads (every model we
 *   load): prefill tiles -> attention_prefill.cu, decode tokens -> attention_decode.cu
 *   (split-KV, then the combine kernel when the batch splits);
 *   anything else (F32 caches, ...): attention_simt.cu over every token.
 *
 * Every launch shape is a function of the plan's summary of the batch (the fields of its
 * shape key) and of the layer (heads, dims, window): a captured graph stays valid for every
 * batch with the same key. */
#include <stdint.h>

#include "backend/cuda/attention_internal.cuh"
#include "backend/cuda/cuda_attention.h"

namespace {

/* mma kernels: 64 query rows per prefill block hold whole groups */
constexpr int kMaxMmaGroup = 64;

bool is_aligned(const void *p, size_t row_bytes, unsigned a) {
    return reinterpret_cast<uintptr_t>(p) % a == 0 && row_bytes % a == 0;
}

/* Splits of each decode token's visible positions: enough to give the GPU about
 * CT_ATTN_TARGET_BLOCKS blocks, at least CT_ATTN_MIN_SPLIT_KEYS positions each, and partials
 * that fit the scratch. ctx is an upper bound of the decode tokens' visible positions. */
int32_t decode_splits(const ct_attn_summary *s, const ct_attn *a, int32_t n_row_groups) {
    int64_t ctx = (int64_t)1 << s->ctx_log2;
    if (a->window > 0 && a->window < ctx) ctx = a->window;
    if (ctx <= CT_ATTN_MIN_SPLIT_KEYS) return 1;
    int64_t splits = (ctx + CT_ATTN_MIN_SPLIT_KEYS - 1) / CT_ATTN_MIN_SPLIT_KEYS;
    const int64_t blocks = (int64_t)s->n_dec * a->n_head_kv * n_row_groups;
    const int64_t fill = (CT_ATTN_TARGET_BLOCKS + blocks - 1) / blocks;
    if (splits > fill) splits = fill;
    if (splits > CT_ATTN_MAX_SPLITS) splits = CT_ATTN_MAX_SPLITS;
    /* partials: O then (m, l), 256-byte aligned */
    const int64_t per_split_o = (int64_t)s->n_dec * a->n_head * a->head_dim_v * 4;
    const int64_t per_split_ml = (int64_t)s->n_dec * a->n_head * 2 * 4;
    while (splits > 1 && (size_t)(ct_attn_align256((size_t)(splits * per_split_o)) + (size_t)(splits * per_split_ml)) >
                             CT_ATTN_SCRATCH_BYTES)
        splits--;
    return (int32_t)splits;
}

} // namespace

extern "C" cudaError_t ct_cuda_attention(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *out,
                                         const ct_tensor *q, const ct_tensor *k_cache, const ct_tensor *v_cache,
                                         const ct_attn *attn) {
    const int32_t n = batch->n_tokens;
    if (n <= 0) return cudaSuccess;
    /* the op's shapes (validated by the model code; a mismatch here is a bug, not input) */
    if (attn->n_head <= 0 || attn->n_head_kv <= 0 || attn->n_head % attn->n_head_kv || attn->head_dim_k <= 0 ||
        attn->head_dim_v <= 0 || attn->head_dim_k > CT_ATTN_SIMT_MAX_DIM || attn->head_dim_v > CT_ATTN_SIMT_MAX_DIM)
        return cudaErrorInvalidValue;
    if (q->type != CT_TYPE_F32 || out->type != CT_TYPE_F32 || q->ne1 < n || out->ne1 < n ||
        q->ne0 < (int64_t)attn->n_head * attn->head_dim_k || out->ne0 < (int64_t)attn->n_head * attn->head_dim_v ||
        q->row_bytes % 4 || out->row_bytes % 4)
        return cudaErrorInvalidValue;
    if ((k_cache->type != CT_TYPE_F16 && k_cache->type != CT_TYPE_F32) ||
        (v_cache->type != CT_TYPE_F16 && v_cache->type != CT_TYPE_F32) ||
        k_cache->ne0 < (int64_t)attn->n_head_kv * attn->head_dim_k ||
        v_cache->ne0 < (int64_t)attn->n_head_kv * attn->head_dim_v)
        return cudaErrorInvalidValue;
    if (!batch->host || batch->host->n_tokens != n || batch->block_size <= 0 || attn->n_head > 65535)
        return cudaErrorInvalidValue;

    ct_attn_params p = {};
    p.q = static_cast<const float *>(q->data);
    p.out = static_cast<float *>(out->data);
    p.k = k_cache->data;
    p.v = v_cache->data;
    p.q_row = (int64_t)(q->row_bytes / 4);
    p.out_row = (int64_t)(out->row_bytes / 4);
    p.k_row = (int64_t)k_cache->row_bytes;
    p.v_row = (int64_t)v_cache->row_bytes;
    p.pos = batch->pos;
    p.block_table = batch->block_table;
    p.tok_block_off = batch->tok_block_off;
    p.n_head = attn->n_head;
    p.n_head_kv = attn->n_head_kv;
    p.group = attn->n_head / attn->n_head_kv;
    p.dk = attn->head_dim_k;
    p.dv = attn->head_dim_v;
    p.window = attn->window > 0 ? attn->window : 0;
    p.scale = attn->scale;
    p.scale_log2 = attn->scale * 1.4426950408889634f;
    p.block_size = batch->block_size;
    p.block_shift = -1;
    if ((batch->block_size & (batch->block_size - 1)) == 0) {
        p.block_shift = 0;
        while ((1 << p.block_shift) < batch->block_size) p.block_shift++;
    }
    p.k_f32 = k_cache->type == CT_TYPE_F32;
    p.v_f32 = v_cache->type == CT_TYPE_F32;

    const int dim = ct_attn_mma_dim(p.dk, p.dv);
    const bool mma = dim && !p.k_f32 && !p.v_f32 && p.group <= kMaxMmaGroup && batch->attn_meta &&
                     is_aligned(p.k, k_cache->row_bytes, 16) && is_aligned(p.v, v_cache->row_bytes, 16) &&
                     is_aligned(p.q, q->row_bytes, 16) && is_aligned(p.out, out->row_bytes, 8);
    if (!mma) return ct_attn_launch_simt(stream, &p, n);

    ct_attn_summary s;
    ct_attn_scan(batch->host, NULL, NULL, &s);
    const uint8_t *meta = static_cast<const uint8_t *>(batch->attn_meta);
    p.dec = reinterpret_cast<const int32_t *>(meta);
    p.tiles = reinterpret_cast<const ct_attn_tile *>(meta + ct_attn_tiles_offset(n));
    p.n_dec = s.n_dec;
    p.n_tiles = s.n_tiles;

    cudaError_t err = cudaSuccess;
    if (s.n_tiles > 0) {
        p.tile_tokens = CT_ATTN_TILE_TOKENS / p.group;
        p.tile_blocks = (CT_ATTN_TILE_TOKENS + p.tile_tokens - 1) / p.tile_tokens;
        err = ct_attn_launch_prefill(stream, &p, dim);
        if (err != cudaSuccess) return err;
    }
    if (s.n_dec > 0) {
        p.n_row_groups = (p.group + 15) / 16;
        if ((int64_t)p.n_head_kv * p.n_row_groups > 65535) return cudaErrorInvalidValue;
        p.n_splits = decode_splits(&s, attn, p.n_row_groups);
        if (p.n_splits > 1) {
            /* scratch after the metadata: the plan checked it is there (ct_attn_may_split) */
            uint8_t *scratch = const_cast<uint8_t *>(meta) + ct_attn_meta_bytes(n);
            const size_t o_bytes = (size_t)p.n_dec * p.n_splits * p.n_head * p.dv * sizeof(float);
            p.part_o = reinterpret_cast<float *>(scratch);
            p.part_ml = reinterpret_cast<float *>(scratch + ct_attn_align256(o_bytes));
        }
        err = ct_attn_launch_decode(stream, &p, dim);
        if (err == cudaSuccess && p.n_splits > 1) err = ct_attn_launch_combine(stream, &p);
    }
    return err;
}
