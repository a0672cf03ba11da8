/* The CUDA backend's private state (backend_cuda.c, cuda_ops.c, cuda_graph_cache.c).
 *
 * A forward pass is recorded, then run: begin() lays the batch's metadata out in one pinned
 * host buffer; each op appends a cuda_op (its arguments by value); end() uploads the metadata
 * with one copy and runs the op list on the stream, directly or through a CUDA graph captured
 * from an earlier pass with the same op list. Recording first is what makes graphs possible
 * without the model code knowing: the whole pass is known before anything is launched. */
#ifndef CT_BACKEND_CUDA_CUDA_STATE_H
#define CT_BACKEND_CUDA_CUDA_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_batch.h"
#include "backend/cuda/cuda_matmul.h"

typedef enum cuda_op_kind {
    CUDA_OP_EMBED = 1,
    CUDA_OP_ADD_POSITIONS,
    CUDA_OP_MATMUL,
    CUDA_OP_RMSNORM,
    CUDA_OP_LAYERNORM,
    CUDA_OP_ROPE,
    CUDA_OP_KV_STORE,
    CUDA_OP_ATTENTION,
    CUDA_OP_ADD,
    CUDA_OP_SCALE,
    CUDA_OP_GELU,
    CUDA_OP_SWIGLU,
    CUDA_OP_GEGLU,
    CUDA_OP_GATHER,
    CUDA_OP_READ, /* device rows -> the pinned staging buffer (copied to the caller at end()) */
    CUDA_OP_MATMUL_ADD, /* t[0] += W in (+ bias): matmul then residual add, fused (cuda_fuse.c) */
    /* i matmuls of one input (q, k, v), one launch: outs t[0..2], weights t[3..5], biases
     * t[6..8], input t[9]; i = how many */
    CUDA_OP_MATMUL_MULTI,
    /* gate and up matmuls and swiglu (i = 0) or geglu (i = 1), one launch: out t[0], gate t[1],
     * up t[2], W_gate t[3], W_up t[4], biases t[5], t[6], input t[7] (gate and up kept for
     * the unfused fallback) */
    CUDA_OP_MATMUL_GLU,
    /* rope(q), rope(k), kv_store(k, v), one launch: q t[0], k t[1], k cache t[2], v cache t[3],
     * v t[4]; rope and aux as CUDA_OP_ROPE */
    CUDA_OP_ROPE_STORE,
} cuda_op_kind;

#define CUDA_OP_MAX_TENSORS 10

/* cuda_op.flags: an RMSNorm that also writes its output as the GEMV's Q16 input into the
 * matmul module's scratch, and the GEMV ops right after it that read it from there */
#define CUDA_OP_Q16_OUT 1u
#define CUDA_OP_Q16_IN 2u

/* One recorded op. Zeroed before it is filled (padding included), so two passes with the same
 * ops compare equal byte for byte: that comparison is what licenses a graph replay. */
typedef struct cuda_op {
    int32_t kind;
    uint32_t present; /* bit i: t[i] given (optional tensors: bias, norm weight) */
    int32_t i;        /* gather_outputs' first row */
    float f;          /* eps, scale */
    uint32_t flags;   /* CUDA_OP_Q16_* (set by the fusion pass) */
    ct_tensor t[CUDA_OP_MAX_TENSORS];
    ct_tensor aux;    /* layernorm's bias, rope's freq_factors */
    ct_rope rope;     /* freq_factors pointer cleared: see aux */
    ct_attn attn;
    size_t staging_offset; /* CUDA_OP_READ through staging */
    void *host_dst;        /* CUDA_OP_READ straight into page-locked memory of host_alloc, else NULL */
} cuda_op;

/* A read_rows recorded during a pass: where its rows land in the caller's memory. */
typedef struct cuda_read {
    float *dst;
    size_t staging_offset, bytes;
} cuda_read;

typedef struct cuda_graph_entry {
    uint64_t hash;
    cuda_op *ops; /* the op list it was captured from */
    size_t n_ops;
    cudaGraphExec_t exec;
    uint64_t last_used;
} cuda_graph_entry;

#define CUDA_GRAPH_CACHE_SIZE 16
#define CUDA_GRAPH_SEEN_SIZE 32

typedef struct cuda_graph_cache {
    cuda_graph_entry entries[CUDA_GRAPH_CACHE_SIZE];
    uint64_t seen[CUDA_GRAPH_SEEN_SIZE]; /* hashes of recent passes run without a graph */
    uint32_t seen_next;
    uint64_t clock;
    int64_t replayed, captured, direct;
} cuda_graph_cache;

#include "backend/cuda/cuda_host_times.h"

typedef struct cuda_profile cuda_profile; /* cuda_profile.c */

typedef struct cuda_state {
    int device;
    char device_name[256];
    cudaStream_t stream;
    ct_cuda_matmul *mm;
    bool graphs_enabled; /* CTORCH_CUDA_GRAPHS (default on) */
    bool sync_each_op;   /* CTORCH_CUDA_SYNC=1: synchronize and check after every op (debugging) */
    bool fuse;           /* CTORCH_CUDA_FUSE (default on): peephole fusion, cuda_fuse.c */
    bool attn_simt;      /* CTORCH_CUDA_ATTN=simt: attention by the per-(token, head) kernel only */
    cuda_profile *prof;  /* CTORCH_CUDA_PROFILE=1: per-op times (graphs off), else NULL */
    bool f16_weights;    /* CTORCH_CUDA_F16_WEIGHTS=1: an F16 copy of each weight for batches */
    ct_host_times host_times; /* CTORCH_CUDA_HOST_TIMES=1: host phases of each pass */

    /* every device allocation of alloc() and load_weight(), freed at destroy */
    void **allocs;
    size_t *alloc_bytes; /* the size of each, so device_bytes stays what is held */
    size_t n_allocs, cap_allocs;
    size_t device_bytes;

    /* capacities reserved so far (grow only; growth invalidates captured graphs) */
    int64_t max_row, max_ctx;
    int64_t mm_tokens, mm_row;

    /* the batch: metadata laid out in meta_host (pinned), uploaded to meta_dev at end() */
    uint8_t *meta_host, *meta_dev;
    size_t meta_used; /* bytes of attention's plan to upload */
    int32_t *seq_table_off; /* per sequence id: where its blocks start in block_table, -1 if absent */
    int32_t *seq_blocks;    /* per sequence id: blocks it needs in this pass */
    int32_t seq_cap;
    ct_cuda_batch batch;
    uint64_t attn_key;
    bool batch_invariant; /* of the pass being recorded */
    bool in_pass;
    ct_status pending; /* first failure while recording, reported by end() */

    cuda_op *ops;
    size_t n_ops, cap_ops;
    cuda_read *reads;
    size_t n_reads, cap_reads;
    size_t staging_used;
    uint8_t *staging; /* pinned */
    size_t staging_cap;

    cuda_graph_cache graphs;

    /* page-locked buffers of host_alloc (the contexts' logits): reads into them skip staging */
    void **pinned;
    size_t *pinned_bytes;
    size_t n_pinned, cap_pinned;

    /* CUDA_OP_MATMUL_GLU's meeting place (ct_cuda_mmv_glu), zeroed at allocation */
    void *glu_scratch;
    size_t glu_scratch_bytes;
} cuda_state;

/* cuda_ops.c: the ct_backend op entry points (they record) and the launcher of one op. */
void ct_cuda_install_ops(ct_backend *be);
/* A new zeroed op at the end of the list, or NULL (the failure is kept for end()). */
cuda_op *ct_cuda_push_op(ct_backend *be, cuda_op_kind kind);
cudaError_t ct_cuda_run_op(cuda_state *s, const cuda_op *op);
const char *ct_cuda_op_name(const cuda_op *op);
/* the (first) weight of a matmul op, NULL for other ops */
const ct_tensor *ct_cuda_op_weight(const cuda_op *op);
/* true when every op may be captured in a graph (no cuBLAS matmul) */
bool ct_cuda_ops_graph_safe(const cuda_state *s);
/* Launches the recorded ops one by one (also inside a capture); a status naming the failing op. */
ct_status ct_cuda_run_ops(cuda_state *s, bool capturing);

/* cuda_fuse.c: rewrites the recorded op list, merging neighbours where that is exact */
void ct_cuda_fuse_ops(cuda_state *s);
/* device scratch the fused GLU ops of the (fused) op list need */
size_t ct_cuda_fused_glu_scratch_bytes(const cuda_state *s);

/* cuda_graph_cache.c */
/* Runs the recorded pass on the stream: replays a cached graph, captures one when this op list
 * was seen in an earlier pass, or launches op by op. Returns a status naming the failing op. */
ct_status ct_cuda_graphs_run(cuda_state *s);
void ct_cuda_graphs_flush(cuda_graph_cache *c);

#endif
