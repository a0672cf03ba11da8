/* Attention on the GPU, internals shared by the plan (host) and the kernels' launchers.
 *
 * A batch's tokens are split in two kinds of work:
 *   prefill tiles:  a run of at least CT_ATTN_PREFILL_MIN_RUN consecutive batch tokens of one
 *                   sequence with consecutive positions (a prompt chunk), cut into tiles of up
 *                   to CT_ATTN_TILE_TOKENS tokens; run by the FlashAttention-style kernel;
 *   decode tokens:  every other token, one work item each; run by the split-KV kernel (and
 *                   the combine kernel when the visible positions are split across blocks).
 * Correctness never depends on the split: both kernels mask every (query, key) pair by the
 * query's own position and window, read from batch->pos on the device.
 *
 * attn_meta (device copy of what ct_cuda_attention_plan wrote), for a batch of n tokens:
 *   [0, align256(4 n))                    int32 dec[n]: batch indices of the decode tokens
 *   [align256(4 n), ct_attn_meta_bytes(n)) ct_attn_tile tiles[n]: the prefill tiles, longest first
 *   [ct_attn_meta_bytes(n), capacity)      scratch (not uploaded): split-KV partials, at most
 *                                          CT_ATTN_SCRATCH_BYTES
 * Only the entries the batch uses are meaningful; the layout depends on n alone, so a CUDA
 * graph captured for one batch reads the right places for every batch of the same shape key. */
#ifndef CT_BACKEND_CUDA_ATTENTION_INTERNAL_CUH
#define CT_BACKEND_CUDA_ATTENTION_INTERNAL_CUH

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* runs shorter than this go to the decode kernel, token by token */
#define CT_ATTN_PREFILL_MIN_RUN 16
/* tokens per prefill tile (the kernel's 64 query rows hold 64 / group of them per block) */
#define CT_ATTN_TILE_TOKENS 64
/* split-KV: at least this many visible positions per split, at most this many splits */
#define CT_ATTN_MIN_SPLIT_KEYS 128
#define CT_ATTN_MAX_SPLITS 32
/* split-KV: aim for about this many blocks in the decode grid (H100: 132 SMs, 3-4 blocks each) */
#define CT_ATTN_TARGET_BLOCKS 512
/* split-KV partials live after the metadata; a batch whose partials would not fit in this
 * many bytes is split less (fewer splits), never wrong */
#define CT_ATTN_SCRATCH_BYTES ((size_t)16 << 20)
/* the shape key holds token counts below this */
#define CT_ATTN_MAX_BATCH_TOKENS (1 << 20)

typedef struct ct_attn_tile {
    int32_t first;   /* batch index of the tile's first token */
    int32_t count;   /* tokens (consecutive in the batch, positions consecutive) */
    int32_t max_pos; /* position of the last token (for ordering; kernels read positions themselves) */
    int32_t seq;     /* sequence id */
} ct_attn_tile;

/* What a batch asks of the attention kernels; a function of the host batch alone, computed
 * the same way by the plan and by the launcher (which has no access to the device meta). */
typedef struct ct_attn_summary {
    int32_t n_tokens;
    int32_t n_dec;    /* decode tokens */
    int32_t n_tiles;  /* prefill tiles */
    int32_t ctx_log2; /* 0 without decode tokens, else ceil(log2(max over decode tokens of pos + 1)) */
} ct_attn_summary;

static inline size_t ct_attn_align256(size_t x) { return (x + 255) & ~(size_t)255; }

/* bytes of the metadata of a batch of n tokens (where the scratch begins) */
static inline size_t ct_attn_meta_bytes(int32_t n) {
    return ct_attn_align256((size_t)n * sizeof(int32_t)) + ct_attn_align256((size_t)n * sizeof(ct_attn_tile));
}
static inline size_t ct_attn_tiles_offset(int32_t n) { return ct_attn_align256((size_t)n * sizeof(int32_t)); }

/* Scan the batch: fills *s, and dec / tiles when not NULL (tiles in batch order). */
void ct_attn_scan(const ct_forward_batch *batch, int32_t *dec, ct_attn_tile *tiles, ct_attn_summary *s);

/* Does the batch's decode work split (and so need the scratch)? Same rule as the launcher's
 * choice of splits: only when some decode token may see more than CT_ATTN_MIN_SPLIT_KEYS. */
static inline int ct_attn_may_split(const ct_attn_summary *s) {
    return s->n_dec > 0 && ((int64_t)1 << s->ctx_log2) > CT_ATTN_MIN_SPLIT_KEYS;
}

/* ---- launch parameters (host and device) ---------------------------------------------- */

typedef struct ct_attn_params {
    const float *q;         /* [n_tokens] rows of n_head * dk */
    float *out;             /* [n_tokens] rows of n_head * dv */
    const void *k, *v;      /* caches: rows of n_head_kv * dk (dv) */
    int64_t q_row, out_row; /* row strides in floats */
    int64_t k_row, v_row;   /* row strides in bytes */
    const int32_t *pos;     /* batch device arrays */
    const int32_t *block_table;
    const int32_t *tok_block_off;
    const int32_t *dec; /* meta */
    const ct_attn_tile *tiles;
    float *part_o;  /* scratch: [n_dec][n_splits][n_head][dv] unnormalized outputs */
    float *part_ml; /* scratch: [n_dec][n_splits][n_head][2] running max (log2 units), sum */
    int32_t n_head, n_head_kv, group, dk, dv, window;
    float scale;                     /* as the op */
    float scale_log2;                /* scale * log2(e): the mma kernels work in base 2 */
    int32_t block_size, block_shift; /* block_shift >= 0 when block_size is a power of two */
    int32_t n_splits;                /* decode: splits per (token, head group) */
    int32_t n_dec, n_tiles;
    int32_t tile_tokens;  /* prefill: tokens per block (64 / group) */
    int32_t tile_blocks;  /* prefill: blocks per tile (ceil(64 / tile_tokens)) */
    int32_t n_row_groups; /* decode: blocks per (token, kv head) for groups of more than 16 heads */
    int32_t k_f32, v_f32; /* SIMT kernel: cache element types */
} ct_attn_params;

#ifdef __CUDACC__
/* Cache cell of position p of the sequence whose block table starts at table. */
__device__ __forceinline__ int64_t ct_attn_cell(const ct_attn_params &p, const int32_t *table, int32_t pos) {
    if (p.block_shift >= 0)
        return ((int64_t)__ldg(table + (pos >> p.block_shift)) << p.block_shift) + (pos & (p.block_size - 1));
    return (int64_t)__ldg(table + pos / p.block_size) * p.block_size + pos % p.block_size;
}

/* First visible position of a query at pos (window w > 0: positions > pos - w). */
__device__ __forceinline__ int32_t ct_attn_lo(int32_t pos, int32_t window) {
    return (window > 0 && pos >= window) ? pos - window + 1 : 0;
}

/* Split-KV: positions per split (a multiple of 64, the decode kernel's tile) for a query
 * that sees n positions, and how many splits are not empty. Shared by the decode and the
 * combine kernels, which must agree. */
__device__ __forceinline__ int32_t ct_attn_split_len(int32_t n, int32_t n_splits) {
    int32_t per = (n + n_splits - 1) / n_splits;
    return (per + 63) & ~63;
}
__device__ __forceinline__ int32_t ct_attn_active_splits(int32_t n, int32_t split_len) {
    return (n + split_len - 1) / split_len;
}
#endif

/* ---- launchers (attention_*.cu); each returns the launch error ------------------------ */
#include <cuda_runtime_api.h>

/* head dims padded to 64, 128 or 256: the mma kernels' template parameter; 0 when neither fits */
int ct_attn_mma_dim(int32_t dk, int32_t dv);
cudaError_t ct_attn_launch_prefill(cudaStream_t stream, const ct_attn_params *p, int dim);
cudaError_t ct_attn_launch_decode(cudaStream_t stream, const ct_attn_params *p, int dim);
cudaError_t ct_attn_launch_combine(cudaStream_t stream, const ct_attn_params *p);
/* the plain kernel: one block per (token, head), any head dims up to CT_ATTN_SIMT_MAX_DIM,
 * F16 or F32 caches, exact F32 arithmetic; for what the mma kernels do not take */
#define CT_ATTN_SIMT_MAX_DIM 512
cudaError_t ct_attn_launch_simt(cudaStream_t stream, const ct_attn_params *p, int32_t n_tokens);

#endif
