/* The backend interface: the ops a forward pass is written in, as a struct of function
 * pointers over backend-owned memory.
 *
 * Model code (src/model/arch_*.c) describes each architecture as a sequence of these ops and
 * never touches tensor data itself, so the same description runs on any backend: the CPU
 * reference (src/backend/cpu/) now, faster CPU kernels and a GPU later.
 *
 * Tensors are 2-D row-major views: ne1 rows of ne0 elements, rows row_bytes apart. Weights
 * keep their GGUF block type (a row is ne0/block_size blocks); activations are F32; the KV
 * cache is F16 or F32. An op's row count is its output's ne1 (the batch's token count,
 * or the number of heads times tokens for per-head ops).
 *
 * Ops return nothing: everything they need was validated and allocated before the forward
 * pass began (see src/model/batch.c), so on the CPU they cannot fail. A backend that can
 * fail asynchronously (a GPU) records its first failure and reports it from end(). */
#ifndef CT_BACKEND_BACKEND_H
#define CT_BACKEND_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "quant/blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tensor {
    void *data;        /* backend memory (host memory or the mmap on the CPU); model code never dereferences it */
    uint32_t type;     /* ct_type */
    int64_t ne0;       /* elements per row */
    int64_t ne1;       /* rows */
    size_t row_bytes;  /* distance between rows */
    const char *name;  /* for messages */
} ct_tensor;

/* Where a sequence's positions live in the KV cache: position p is in cell
 * blocks[p / block_size] * block_size + p % block_size. Attention reads keys and values only
 * through this view, so the cache can move from one contiguous block per sequence (now) to
 * paged blocks without touching the model code. */
typedef struct ct_kv_view {
    const int32_t *blocks;
    int32_t block_size;
} ct_kv_view;

static inline int64_t ct_kv_view_cell(const ct_kv_view *view, int32_t pos) {
    return (int64_t)view->blocks[pos / view->block_size] * view->block_size + pos % view->block_size;
}

/* One forward pass's batch, validated: a flat list of tokens from any number of sequences. */
typedef struct ct_forward_batch {
    int32_t n_tokens;
    const int32_t *token;       /* token ids, [n_tokens] */
    const int32_t *pos;         /* position of each token in its sequence */
    const int32_t *seq;         /* sequence id of each token */
    const int64_t *kv_cell;     /* cache cell each token's key and value are written to */
    const ct_kv_view *seq_view; /* per sequence id: where its positions live */
    int32_t n_out;
    const int32_t *out_rows;    /* batch indices whose logits are wanted, [n_out] */
} ct_forward_batch;

typedef enum ct_rope_style {
    CT_ROPE_NORM, /* rotate adjacent pairs (x[2i], x[2i+1]): GGUF llama (q/k rows permuted at conversion) */
    CT_ROPE_NEOX, /* rotate (x[i], x[i + n_dims/2]): qwen2, gemma3, GPT-NeoX */
} ct_rope_style;

/* theta_i = pos * freq_scale * freq_base^(-2i/n_dims) / freq_factors[i], for i < n_dims/2. */
typedef struct ct_rope {
    ct_rope_style style;
    int32_t head_dim;              /* elements per head in the tensor */
    int32_t n_dims;                /* leading elements of each head that rotate (even, <= head_dim) */
    float freq_base;
    float freq_scale;              /* 1 / linear scaling factor */
    const ct_tensor *freq_factors; /* NULL, or n_dims/2 F32 divisors (Llama 3.1 rope_freqs) */
} ct_rope;

typedef struct ct_attn {
    int32_t n_head, n_head_kv; /* query heads share key/value heads in groups of n_head/n_head_kv */
    int32_t head_dim_k, head_dim_v;
    float scale;               /* applied to q.k before the softmax */
    int32_t window;            /* 0: every earlier position; w: only positions > pos - w (sliding window) */
} ct_attn;

typedef struct ct_backend ct_backend;
struct ct_backend {
    const char *name;
    void *impl; /* backend-private state */
    /* Batch invariance (the engine's --deterministic), set by the caller before begin():
     * compute each token's rows with the same reduction order whatever the number and kind
     * of the other tokens in the batch (e.g. no matrix-vector vs matrix-matrix kernel choice
     * by token count), so a sequence's results are bit-identical however it is batched. A
     * backend that cannot must fail begin() with CT_ERR_UNSUPPORTED while it is set. */
    bool batch_invariant;

    /* ---- lifetime and memory (may fail) ---- */
    void (*destroy)(ct_backend *be);
    /* Scratch the ops need for rows of up to max_row elements and attention over up to
     * max_ctx positions; called when a context is created (grows, never shrinks). */
    ct_status (*reserve)(ct_backend *be, int64_t max_row, int64_t max_ctx);
    ct_status (*alloc)(ct_backend *be, size_t bytes, void **out);
    void (*release)(ct_backend *be, void *ptr);
    /* Make a weight whose data points into the mapped file usable by the ops (the CPU uses
     * the mapping as is; a GPU uploads it and repoints data). */
    ct_status (*load_weight)(ct_backend *be, ct_tensor *w);
    /* Free and total bytes of the backend's memory, for budgets (the engine's KV cache); NULL
     * where the backend allocates from host memory. */
    ct_status (*memory_info)(ct_backend *be, size_t *free_bytes, size_t *total_bytes);
    /* Optional (NULL: plain malloc serves, as on the CPU): page-locked host memory for buffers
     * read_rows copies into often (the context's logits), which a GPU then fills by DMA with
     * no staging copy. host_free takes what host_alloc gave. */
    ct_status (*host_alloc)(ct_backend *be, size_t bytes, void **out);
    void (*host_free)(ct_backend *be, void *ptr);
    /* Copy an F32 tensor's rows to host memory (ne0 floats per row). */
    ct_status (*read_rows)(ct_backend *be, const ct_tensor *src, float *dst);
    /* Start a forward pass over batch (kept until end()); end() waits for the ops. */
    ct_status (*begin)(ct_backend *be, const ct_forward_batch *batch);
    ct_status (*end)(ct_backend *be);

    /* ---- ops ---- */
    /* out[t] = table[token[t]] */
    void (*embed_tokens)(ct_backend *be, const ct_tensor *out, const ct_tensor *table);
    /* x[t] += table[pos[t]] (learned positions) */
    void (*add_positions)(ct_backend *be, const ct_tensor *x, const ct_tensor *table);
    /* out[t] = W in[t] (+ bias): out is ne1 x W.ne1, in is ne1 x W.ne0 */
    void (*matmul)(ct_backend *be, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                   const ct_tensor *in);
    /* out = x / sqrt(mean(x^2) + eps) * weight, per row (weight may be NULL) */
    void (*rmsnorm)(ct_backend *be, const ct_tensor *out, const ct_tensor *in, const ct_tensor *weight, float eps);
    /* out = (x - mean) / sqrt(var + eps) * weight + bias, per row */
    void (*layernorm)(ct_backend *be, const ct_tensor *out, const ct_tensor *in, const ct_tensor *weight,
                      const ct_tensor *bias, float eps);
    /* rotate each head of x[t] by its position */
    void (*rope)(ct_backend *be, const ct_tensor *x, const ct_rope *rope);
    /* write k[t], v[t] to cell kv_cell[t] of this layer's caches */
    void (*kv_store)(ct_backend *be, const ct_tensor *k_cache, const ct_tensor *v_cache, const ct_tensor *k,
                     const ct_tensor *v);
    /* out[t] = per head: softmax(scale * q.K^T over the visible positions of seq[t]) V */
    void (*attention)(ct_backend *be, const ct_tensor *out, const ct_tensor *q, const ct_tensor *k_cache,
                      const ct_tensor *v_cache, const ct_attn *attn);
    /* out = a + b */
    void (*add)(ct_backend *be, const ct_tensor *out, const ct_tensor *a, const ct_tensor *b);
    /* x *= s */
    void (*scale)(ct_backend *be, const ct_tensor *x, float s);
    /* x = gelu(x), tanh approximation */
    void (*gelu)(ct_backend *be, const ct_tensor *x);
    /* out = silu(gate) * up */
    void (*swiglu)(ct_backend *be, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up);
    /* out = gelu_tanh(gate) * up */
    void (*geglu)(ct_backend *be, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up);
    /* out[i] = in[out_rows[first + i]]: the rows whose logits are wanted */
    void (*gather_outputs)(ct_backend *be, const ct_tensor *out, const ct_tensor *in, int32_t first);
};

/* Create a backend by name ("cpu"); n_threads <= 0 means one per core. */
ct_status ct_backend_create(const char *name, int n_threads, ct_backend **out);
void ct_backend_destroy(ct_backend *be);

/* Views (no copies). */
static inline ct_tensor ct_tensor_rows(ct_tensor t, int64_t n_rows) {
    t.ne1 = n_rows;
    return t;
}
/* A contiguous F32 tensor of rows of heads seen as one row per head: [rows * ne0/head_dim][head_dim]. */
static inline ct_tensor ct_tensor_heads(ct_tensor t, int64_t head_dim) {
    t.ne1 = t.ne1 * (t.ne0 / head_dim);
    t.ne0 = head_dim;
    t.row_bytes = (size_t)head_dim * sizeof(float);
    return t;
}

#ifdef __cplusplus
}
#endif

#endif
