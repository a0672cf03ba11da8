/* The CUDA backend's core: the device, its memory, and the forward pass's life cycle.
 *
 *   create    picks the device (CTORCH_CUDA_DEVICE, default 0), one non-blocking stream;
 *   memory    every cudaMalloc checked, a failure names what was needed and what is free;
 *             weights uploaded once by load_weight in their GGUF block types;
 *   begin     the batch's metadata (tokens, positions, cells, output rows, block tables,
 *             attention's plan) laid out in one pinned buffer at fixed offsets;
 *   ops       recorded (cuda_ops.c);
 *   end       metadata uploaded, the ops run directly or through a CUDA graph
 *             (cuda_graph_cache.c), one synchronization, logits copied to the caller.
 *
 * Environment: CTORCH_CUDA_GRAPHS=0 runs every pass op by op; CTORCH_CUDA_SYNC=1 synchronizes
 * and checks after every op (a failing kernel is then named exactly; the default in debug
 * builds, CTORCH_CUDA_SYNC=0 turns it off there); CTORCH_CUDA_FUSE=0 turns
 * the peephole fusion (cuda_fuse.c) off. */
#include "backend/cuda/backend_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_attention.h"
#include "backend/cuda/cuda_profile.h"
#include "backend/cuda/cuda_state.h"
#include "core/alloc.h"

static cuda_state *state_of(const ct_backend *be) { return (cuda_state *)be->impl; }

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

static int64_t pow2_at_least(int64_t x, int64_t floor) {
    int64_t p = floor;
    while (p < x) p *= 2;
    return p;
}

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

/* ---- device memory ------------------------------------------------------------------------------ */

static ct_status device_malloc(cuda_state *s, size_t bytes, const char *what, void **out) {
    *out = NULL;
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 16);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        *out = NULL;
        size_t free_b = 0, total_b = 0;
        (void)cudaMemGetInfo(&free_b, &total_b);
        return ct_fail(CT_ERR_OUT_OF_MEMORY,
                       "CUDA backend: %s: needed %.1f MiB of GPU memory, %.1f MiB free of %.1f MiB on %s "
                       "(%.1f MiB held by ctorch) (%s)",
                       what, mib(bytes), mib(free_b), mib(total_b), s->device_name, mib(s->device_bytes),
                       cudaGetErrorString(e));
    }
    return CT_OK;
}

static ct_status track(cuda_state *s, void *p, size_t bytes) {
    if (s->n_allocs == s->cap_allocs) {
        size_t cap = s->cap_allocs ? 2 * s->cap_allocs : 256;
        void **a = ct_realloc_array(s->allocs, cap, sizeof *a, "CUDA allocation list");
        if (!a) return CT_ERR_OUT_OF_MEMORY;
        s->allocs = a;
        size_t *b = ct_realloc_array(s->alloc_bytes, cap, sizeof *b, "CUDA allocation list");
        if (!b) return CT_ERR_OUT_OF_MEMORY;
        s->alloc_bytes = b;
        s->cap_allocs = cap;
    }
    s->alloc_bytes[s->n_allocs] = bytes;
    s->allocs[s->n_allocs++] = p;
    s->device_bytes += bytes;
    return CT_OK;
}

static ct_status alloc_tracked(cuda_state *s, size_t bytes, const char *what, void **out) {
    CT_TRY(device_malloc(s, bytes, what, out));
    ct_status st = track(s, *out, bytes);
    if (st != CT_OK) {
        cudaFree(*out);
        *out = NULL;
    }
    return st;
}

static ct_status cuda_alloc(ct_backend *be, size_t bytes, void **out) {
    char what[64];
    snprintf(what, sizeof what, "a buffer of %zu bytes", bytes);
    cuda_state *s = state_of(be);
    CT_TRY(alloc_tracked(s, bytes, what, out));
    /* zeroed: a KV cell never written reads as 0, not as garbage (NaN x 0 would poison attention);
     * on the backend's stream, so every later op is ordered after it */
    cudaError_t e = cudaMemsetAsync(*out, 0, bytes, s->stream);
    if (e != cudaSuccess) return ct_fail(CT_ERR_DEVICE, "CUDA backend: clearing %s: %s", what, cudaGetErrorString(e));
    return CT_OK;
}

static void cuda_release(ct_backend *be, void *p) {
    cuda_state *s = state_of(be);
    for (size_t i = 0; i < s->n_allocs; i++)
        if (s->allocs[i] == p) {
            cudaFree(p);
            s->device_bytes -= s->alloc_bytes[i];
            s->n_allocs--;
            s->allocs[i] = s->allocs[s->n_allocs];
            s->alloc_bytes[i] = s->alloc_bytes[s->n_allocs];
            return;
        }
}

static ct_status cuda_load_weight(ct_backend *be, ct_tensor *w) {
    cuda_state *s = state_of(be);
    const char *name = w->name ? w->name : "?";
    if (!ct_cuda_matmul_type_supported(w->type))
        return ct_fail(CT_ERR_UNSUPPORTED, "CUDA backend: weight %s: its type (%u) has no CUDA kernels", name,
                       (unsigned)w->type);
    size_t bytes = ct_cuda_weight_device_bytes(w);
    char what[160];
    snprintf(what, sizeof what, "uploading weight %s", name);
    void *dev = NULL;
    CT_TRY(alloc_tracked(s, bytes, what, &dev));
    ct_status st = ct_cuda_weight_upload(w, dev);
    if (st != CT_OK) {
        cuda_release(be, dev);
        return st;
    }
    w->data = dev;
    if (s->f16_weights && w->type != CT_TYPE_F16 && w->ne1 > 1) {
        snprintf(what, sizeof what, "the F16 copy of weight %s (CTORCH_CUDA_F16_WEIGHTS=1)", name);
        void *f16 = NULL;
        CT_TRY(alloc_tracked(s, ct_cuda_weight_f16_bytes(w), what, &f16));
        CT_TRY(ct_cuda_matmul_add_f16_copy(s->mm, w, f16));
    }
    return CT_OK;
}

static ct_status cuda_reserve(ct_backend *be, int64_t max_row, int64_t max_ctx) {
    cuda_state *s = state_of(be);
    if (max_row > s->max_row) s->max_row = max_row;
    if (max_ctx > s->max_ctx) s->max_ctx = max_ctx;
    return CT_OK; /* the scratch itself is sized in begin(), where the batch size is known */
}

static ct_status cuda_memory_info(ct_backend *be, size_t *free_bytes, size_t *total_bytes) {
    cudaError_t e = cudaMemGetInfo(free_bytes, total_bytes);
    if (e != cudaSuccess)
        return ct_fail(CT_ERR_DEVICE, "CUDA backend: free memory of %s: %s", state_of(be)->device_name,
                       cudaGetErrorString(e));
    return CT_OK;
}

/* ---- reading results ---------------------------------------------------------------------------- */

static ct_status cuda_read_rows(ct_backend *be, const ct_tensor *src, float *dst) {
    cuda_state *s = state_of(be);
    const size_t width = (size_t)src->ne0 * sizeof(float), bytes = width * (size_t)src->ne1;
    if (src->type != CT_TYPE_F32)
        return ct_fail(CT_ERR_INTERNAL, "CUDA backend: read_rows of %s: F32 expected", src->name ? src->name : "?");
    if (!s->in_pass) {
        cudaError_t e = cudaMemcpy2D(dst, width, src->data, src->row_bytes, width, (size_t)src->ne1,
                                     cudaMemcpyDeviceToHost);
        if (e != cudaSuccess)
            return ct_fail(CT_ERR_DEVICE, "CUDA backend: reading %s: %s", src->name ? src->name : "?",
                           cudaGetErrorString(e));
        return CT_OK;
    }
    /* during a pass, into page-locked memory of host_alloc: one copy in stream order */
    for (size_t i = 0; i < s->n_pinned; i++) {
        const uint8_t *p = s->pinned[i];
        if ((const uint8_t *)dst >= p && (size_t)((const uint8_t *)dst - p) + bytes <= s->pinned_bytes[i]) {
            cuda_op *op = ct_cuda_push_op(be, CUDA_OP_READ);
            if (!op) return s->pending;
            op->t[0] = *src;
            op->present = 1;
            op->host_dst = dst;
            return CT_OK;
        }
    }
    /* anywhere else: a copy to pinned staging in stream order, to the caller at end() */
    if (s->n_reads == s->cap_reads) {
        size_t cap = s->cap_reads ? 2 * s->cap_reads : 16;
        cuda_read *r = ct_realloc_array(s->reads, cap, sizeof *r, "CUDA read list");
        if (!r) return CT_ERR_OUT_OF_MEMORY;
        s->reads = r;
        s->cap_reads = cap;
    }
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_READ);
    if (!op) return s->pending;
    op->t[0] = *src;
    op->present = 1;
    op->staging_offset = s->staging_used;
    s->reads[s->n_reads++] = (cuda_read){.dst = dst, .staging_offset = s->staging_used, .bytes = bytes};
    s->staging_used = align_up(s->staging_used + bytes, 256);
    return CT_OK;
}

static ct_status cuda_host_alloc(ct_backend *be, size_t bytes, void **out) {
    cuda_state *s = state_of(be);
    *out = NULL;
    if (s->n_pinned == s->cap_pinned) {
        size_t cap = s->cap_pinned ? 2 * s->cap_pinned : 4;
        void **p = ct_realloc_array(s->pinned, cap, sizeof *p, "CUDA pinned list");
        if (!p) return CT_ERR_OUT_OF_MEMORY;
        s->pinned = p;
        size_t *b = ct_realloc_array(s->pinned_bytes, cap, sizeof *b, "CUDA pinned list");
        if (!b) return CT_ERR_OUT_OF_MEMORY;
        s->pinned_bytes = b;
        s->cap_pinned = cap;
    }
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "CUDA backend: %zu bytes of page-locked host memory: %s", bytes,
                       cudaGetErrorString(e));
    }
    s->pinned[s->n_pinned] = p;
    s->pinned_bytes[s->n_pinned++] = bytes;
    *out = p;
    return CT_OK;
}

static void cuda_host_free(ct_backend *be, void *ptr) {
    cuda_state *s = state_of(be);
    if (!ptr) return;
    for (size_t i = 0; i < s->n_pinned; i++)
        if (s->pinned[i] == ptr) {
            /* a graph may hold a copy into it: graphs go, the stream drains first */
            if (s->stream) (void)cudaStreamSynchronize(s->stream);
            ct_cuda_graphs_flush(&s->graphs);
            (void)cudaFreeHost(ptr);
            s->pinned[i] = s->pinned[s->n_pinned - 1];
            s->pinned_bytes[i] = s->pinned_bytes[s->n_pinned - 1];
            s->n_pinned--;
            return;
        }
}

/* ---- the batch's metadata ----------------------------------------------------------------------- */

/* Device layout: [attention meta + scratch][token pos seq out_rows tok_block_off (int32 x cap_tok)]
 * [kv_cell (int64 x cap_tok)][block_table (int32 x cap_blocks)]. Offsets depend only on the
 * capacities, so a captured graph's pointers stay valid until a capacity grows. The host copy
 * mirrors it, less attention's scratch. */
typedef struct meta_layout {
    int64_t cap_tok, cap_blocks;
    size_t attn_dev, attn_host, rest;
} meta_layout;

static size_t rest_bytes(int64_t cap_tok, int64_t cap_blocks) {
    return (size_t)cap_tok * (5 * sizeof(int32_t) + sizeof(int64_t)) + (size_t)cap_blocks * sizeof(int32_t);
}

static ct_status ensure_meta(cuda_state *s, int32_t n_tokens, int64_t n_blocks, int32_t plan_ctx, meta_layout *lay) {
    meta_layout want = *lay;
    bool grow = false;
    if (n_tokens > want.cap_tok) want.cap_tok = pow2_at_least(n_tokens, 64), grow = true;
    if (n_blocks > want.cap_blocks) want.cap_blocks = pow2_at_least(n_blocks, 256), grow = true;
    size_t attn_dev = align_up(ct_cuda_attention_meta_capacity((int32_t)want.cap_tok, plan_ctx), 256);
    if (attn_dev > want.attn_dev) want.attn_dev = attn_dev, grow = true;
    if (!grow && s->meta_dev) return CT_OK;
    want.attn_host = align_up(ct_cuda_attention_meta_capacity((int32_t)want.cap_tok, 0), 256);
    want.rest = rest_bytes(want.cap_tok, want.cap_blocks);

    ct_cuda_graphs_flush(&s->graphs); /* captured graphs point into the old buffers */
    if (s->meta_dev) cudaFree(s->meta_dev);
    if (s->meta_host) cudaFreeHost(s->meta_host);
    s->meta_dev = s->meta_host = NULL;
    *lay = (meta_layout){0};
    void *dev = NULL;
    CT_TRY(device_malloc(s, want.attn_dev + want.rest, "the batch's metadata", &dev));
    void *host = NULL;
    cudaError_t e = cudaHostAlloc(&host, want.attn_host + want.rest, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        cudaFree(dev);
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "CUDA backend: %.1f MiB of pinned host memory for the batch's metadata: %s",
                       mib(want.attn_host + want.rest), cudaGetErrorString(e));
    }
    s->meta_dev = dev;
    s->meta_host = host;
    *lay = want;
    return CT_OK;
}

static ct_status ensure_seq_arrays(cuda_state *s, int32_t max_seq) {
    if (max_seq < s->seq_cap) return CT_OK;
    int32_t cap = (int32_t)pow2_at_least((int64_t)max_seq + 1, 16);
    int32_t *off = ct_realloc_array(s->seq_table_off, (size_t)cap, sizeof *off, "CUDA block tables");
    if (!off) return CT_ERR_OUT_OF_MEMORY;
    s->seq_table_off = off;
    int32_t *blocks = ct_realloc_array(s->seq_blocks, (size_t)cap, sizeof *blocks, "CUDA block tables");
    if (!blocks) return CT_ERR_OUT_OF_MEMORY;
    s->seq_blocks = blocks;
    s->seq_cap = cap;
    return CT_OK;
}

/* the backend object: the interface, its state, and the metadata layout now allocated */
typedef struct cuda_backend {
    ct_backend be;
    cuda_state s;
    meta_layout lay;
} cuda_backend;

static ct_status build_metadata(cuda_backend *cb, const ct_forward_batch *b) {
    cuda_state *s = &cb->s;
    const int32_t n = b->n_tokens;
    int32_t max_seq = 0, max_pos = 0;
    for (int32_t t = 0; t < n; t++) {
        if (b->seq[t] < 0 || b->pos[t] < 0)
            return ct_fail(CT_ERR_INTERNAL, "CUDA backend: batch token %d has sequence %d, position %d", (int)t,
                           (int)b->seq[t], (int)b->pos[t]);
        if (b->seq[t] > max_seq) max_seq = b->seq[t];
        if (b->pos[t] > max_pos) max_pos = b->pos[t];
    }
    CT_TRY(ensure_seq_arrays(s, max_seq));
    for (int32_t t = 0; t < n; t++) s->seq_blocks[b->seq[t]] = 0, s->seq_table_off[b->seq[t]] = -1;
    int32_t block_size = 0;
    for (int32_t t = 0; t < n; t++) {
        const ct_kv_view *v = &b->seq_view[b->seq[t]];
        if (block_size == 0) block_size = v->block_size;
        if (v->block_size != block_size || block_size <= 0)
            return ct_fail(CT_ERR_INTERNAL, "CUDA backend: sequences of one batch with blocks of %d and %d cells",
                           (int)block_size, (int)v->block_size);
        int32_t need = b->pos[t] / block_size + 1;
        if (need > s->seq_blocks[b->seq[t]]) s->seq_blocks[b->seq[t]] = need;
    }
    int64_t n_blocks = 0;
    for (int32_t t = 0; t < n; t++)
        if (s->seq_table_off[b->seq[t]] < 0) {
            s->seq_table_off[b->seq[t]] = (int32_t)n_blocks;
            n_blocks += s->seq_blocks[b->seq[t]];
        }
    const int32_t plan_ctx = (int32_t)(s->max_ctx > max_pos + 1 ? s->max_ctx : max_pos + 1);
    CT_TRY(ensure_meta(s, n, n_blocks, plan_ctx, &cb->lay));
    const meta_layout *L = &cb->lay;

    /* the host copy */
    uint8_t *h = s->meta_host + L->attn_host;
    int32_t *token = (int32_t *)h, *pos = token + L->cap_tok, *seq = pos + L->cap_tok, *out_rows = seq + L->cap_tok;
    int32_t *tbo = out_rows + L->cap_tok;
    int64_t *cell = (int64_t *)(tbo + L->cap_tok);
    int32_t *table = (int32_t *)(cell + L->cap_tok);
    memcpy(token, b->token, (size_t)n * sizeof *token);
    memcpy(pos, b->pos, (size_t)n * sizeof *pos);
    memcpy(seq, b->seq, (size_t)n * sizeof *seq);
    memcpy(cell, b->kv_cell, (size_t)n * sizeof *cell);
    memcpy(out_rows, b->out_rows, (size_t)b->n_out * sizeof *out_rows);
    for (int32_t t = 0; t < n; t++) {
        int32_t sq = b->seq[t];
        tbo[t] = s->seq_table_off[sq];
        if (s->seq_blocks[sq] > 0) { /* first token of its sequence: copy the table once */
            memcpy(table + s->seq_table_off[sq], b->seq_view[sq].blocks, (size_t)s->seq_blocks[sq] * sizeof *table);
            s->seq_blocks[sq] = -s->seq_blocks[sq];
        }
    }
    size_t used = 0;
    CT_TRY(ct_cuda_attention_plan(b, plan_ctx, s->meta_host, L->attn_dev, &used, &s->attn_key));
    s->meta_used = used;

    /* the device view */
    uint8_t *d = s->meta_dev + L->attn_dev;
    const int32_t *dtoken = (const int32_t *)d;
    s->batch = (ct_cuda_batch){
        .n_tokens = n,
        .n_out = b->n_out,
        .token = dtoken,
        .pos = dtoken + L->cap_tok,
        .seq = dtoken + 2 * L->cap_tok,
        .out_rows = dtoken + 3 * L->cap_tok,
        .tok_block_off = dtoken + 4 * L->cap_tok,
        .kv_cell = (const int64_t *)(dtoken + 5 * L->cap_tok),
        .block_table = (const int32_t *)((const int64_t *)(dtoken + 5 * L->cap_tok) + L->cap_tok),
        .block_size = block_size,
        .attn_meta = s->meta_dev,
        .host = b,
        .max_ctx = max_pos + 1,
    };
    return CT_OK;
}

/* ---- the pass ------------------------------------------------------------------------------------- */

static ct_status cuda_begin(ct_backend *be, const ct_forward_batch *batch) {
    cuda_backend *cb = (cuda_backend *)be;
    cuda_state *s = &cb->s;
    if (s->in_pass) return ct_fail(CT_ERR_INTERNAL, "CUDA backend: begin() during a pass");
    if (batch->n_tokens < 1) return ct_fail(CT_ERR_INTERNAL, "CUDA backend: a pass of %d tokens", (int)batch->n_tokens);
    ct_host_times_mark(&s->host_times, CT_HT_OUTSIDE);
    /* matmul scratch for this many tokens (growth invalidates graphs that captured the old) */
    if (batch->n_tokens > s->mm_tokens || s->max_row > s->mm_row) {
        int64_t tokens = pow2_at_least(batch->n_tokens, 8), row = s->max_row > 0 ? s->max_row : 1;
        CT_TRY(ct_cuda_matmul_reserve(s->mm, tokens, row));
        ct_cuda_graphs_flush(&s->graphs);
        s->mm_tokens = tokens;
        s->mm_row = row;
    }
    CT_TRY(build_metadata(cb, batch));
    /* batch invariance: one matmul kernel for every batch size, and attention's per-(token,
     * head) kernel (no attention plan: the prefill tiles and decode splits depend on the batch) */
    s->batch_invariant = be->batch_invariant;
    ct_cuda_matmul_set_batch_invariant(s->mm, s->batch_invariant);
    if (s->batch_invariant || s->attn_simt) s->batch.attn_meta = NULL;
    s->n_ops = 0;
    s->n_reads = 0;
    s->staging_used = 0;
    s->pending = CT_OK;
    s->in_pass = true;
    ct_host_times_mark(&s->host_times, CT_HT_BEGIN);
    return CT_OK;
}

static ct_status ensure_staging(cuda_state *s) {
    if (s->staging_used <= s->staging_cap) return CT_OK;
    size_t cap = (size_t)pow2_at_least((int64_t)s->staging_used, 1 << 20);
    ct_cuda_graphs_flush(&s->graphs); /* captured read copies point into the old buffer */
    if (s->staging) cudaFreeHost(s->staging);
    s->staging = NULL;
    s->staging_cap = 0;
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, cap, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "CUDA backend: %.1f MiB of pinned host memory for the logits: %s",
                       mib(cap), cudaGetErrorString(e));
    }
    s->staging = p;
    s->staging_cap = cap;
    return CT_OK;
}

static ct_status ensure_glu_scratch(cuda_state *s) {
    size_t need = ct_cuda_fused_glu_scratch_bytes(s);
    if (need <= s->glu_scratch_bytes) return CT_OK;
    need = (size_t)pow2_at_least((int64_t)need, 1 << 16);
    ct_cuda_graphs_flush(&s->graphs); /* captured GLU launches point at the old scratch */
    if (s->glu_scratch) cudaFree(s->glu_scratch);
    s->glu_scratch = NULL;
    s->glu_scratch_bytes = 0;
    CT_TRY(device_malloc(s, need, "the fused gate/up scratch", &s->glu_scratch));
    cudaError_t e = cudaMemsetAsync(s->glu_scratch, 0, need, s->stream); /* the pairing counters start at zero */
    if (e != cudaSuccess) return ct_fail(CT_ERR_DEVICE, "CUDA backend: clearing the gate/up scratch: %s", cudaGetErrorString(e));
    s->glu_scratch_bytes = need;
    return CT_OK;
}

static ct_status cuda_end(ct_backend *be) {
    cuda_backend *cb = (cuda_backend *)be;
    cuda_state *s = &cb->s;
    if (!s->in_pass) return ct_fail(CT_ERR_INTERNAL, "CUDA backend: end() without begin()");
    s->in_pass = false;
    ct_host_times_mark(&s->host_times, CT_HT_RECORD);
    if (s->pending != CT_OK) return s->pending;
    CT_TRY(ensure_staging(s));
    const meta_layout *L = &cb->lay;
    cudaError_t e = cudaMemcpyAsync(s->meta_dev + L->attn_dev, s->meta_host + L->attn_host, L->rest,
                                    cudaMemcpyHostToDevice, s->stream);
    if (e == cudaSuccess && s->meta_used)
        e = cudaMemcpyAsync(s->meta_dev, s->meta_host, s->meta_used, cudaMemcpyHostToDevice, s->stream);
    if (e != cudaSuccess)
        return ct_fail(CT_ERR_DEVICE, "CUDA backend: uploading the batch: %s", cudaGetErrorString(e));
    ct_cuda_fuse_ops(s);
    CT_TRY(ensure_glu_scratch(s));
    ct_status st = ct_cuda_graphs_run(s);
    ct_host_times_mark(&s->host_times, CT_HT_SUBMIT);
    e = cudaStreamSynchronize(s->stream);
    ct_host_times_mark(&s->host_times, CT_HT_WAIT);
    if (st != CT_OK) return st;
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e != cudaSuccess)
        return ct_fail(CT_ERR_DEVICE,
                       "CUDA backend: running a pass of %d tokens: %s (run with CTORCH_CUDA_SYNC=1 to name the op)",
                       (int)s->batch.n_tokens, cudaGetErrorString(e));
    if (s->prof) ct_cuda_profile_collect(s->prof, s->ops, s->n_ops);
    for (size_t i = 0; i < s->n_reads; i++)
        memcpy(s->reads[i].dst, s->staging + s->reads[i].staging_offset, s->reads[i].bytes);
    ct_host_times_mark(&s->host_times, CT_HT_COPY);
    s->host_times.passes++;
    s->host_times.tokens += s->batch.n_tokens;
    return CT_OK;
}

/* ---- lifetime ------------------------------------------------------------------------------------- */

static void cuda_destroy(ct_backend *be) {
    if (!be) return;
    cuda_backend *cb = (cuda_backend *)be;
    cuda_state *s = &cb->s;
    if (s->stream) cudaStreamSynchronize(s->stream);
    ct_cuda_graphs_flush(&s->graphs);
    ct_cuda_profile_destroy(s->prof);
    ct_host_times_print(&s->host_times, s->graphs.replayed, s->graphs.captured, s->graphs.direct);
    ct_cuda_matmul_destroy(s->mm);
    for (size_t i = 0; i < s->n_allocs; i++) cudaFree(s->allocs[i]);
    free(s->allocs);
    free(s->alloc_bytes);
    if (s->meta_dev) cudaFree(s->meta_dev);
    if (s->meta_host) cudaFreeHost(s->meta_host);
    if (s->staging) cudaFreeHost(s->staging);
    if (s->glu_scratch) cudaFree(s->glu_scratch);
    if (s->stream) cudaStreamDestroy(s->stream);
    free(s->seq_table_off);
    free(s->seq_blocks);
    free(s->ops);
    free(s->reads);
    for (size_t i = 0; i < s->n_pinned; i++) cudaFreeHost(s->pinned[i]); /* contexts not freed first */
    free(s->pinned);
    free(s->pinned_bytes);
    free(cb);
}

static bool env_is(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && strcmp(v, value) == 0;
}

ct_status ct_backend_cuda_create(ct_backend **out) {
    *out = NULL;
    int n_dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n_dev);
    if (e != cudaSuccess || n_dev == 0) {
        (void)cudaGetLastError();
        return ct_fail(CT_ERR_DEVICE, "backend 'cuda': no CUDA device (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports none");
    }
    int device = 0;
    const char *dev_env = getenv("CTORCH_CUDA_DEVICE");
    if (dev_env && *dev_env) {
        char *end = NULL;
        long d = strtol(dev_env, &end, 10);
        if (*end || d < 0 || d >= n_dev)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "backend 'cuda': CTORCH_CUDA_DEVICE=%s: expected 0..%d", dev_env,
                           n_dev - 1);
        device = (int)d;
    }
    struct cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess) return ct_fail(CT_ERR_DEVICE, "backend 'cuda': device %d: %s", device, cudaGetErrorString(e));
    if (prop.major < 9)
        return ct_fail(CT_ERR_UNSUPPORTED,
                       "backend 'cuda': device %d (%s) has compute capability %d.%d; this build's kernels need 9.0 "
                       "(Hopper) or newer",
                       device, prop.name, prop.major, prop.minor);
    e = cudaSetDevice(device);
    if (e != cudaSuccess) return ct_fail(CT_ERR_DEVICE, "backend 'cuda': selecting device %d: %s", device, cudaGetErrorString(e));

    cuda_backend *cb = ct_calloc_array(1, sizeof *cb, "CUDA backend");
    if (!cb) return CT_ERR_OUT_OF_MEMORY;
    cuda_state *s = &cb->s;
    s->device = device;
    snprintf(s->device_name, sizeof s->device_name, "GPU %d (%.200s)", device, prop.name);
    s->graphs_enabled = !env_is("CTORCH_CUDA_GRAPHS", "0");
    /* debug builds check every launch by default (the "after each launch in debug builds") */
#ifdef NDEBUG
    s->sync_each_op = env_is("CTORCH_CUDA_SYNC", "1");
#else
    s->sync_each_op = !env_is("CTORCH_CUDA_SYNC", "0");
#endif
    s->fuse = !env_is("CTORCH_CUDA_FUSE", "0");
    s->attn_simt = env_is("CTORCH_CUDA_ATTN", "simt");
    s->f16_weights = env_is("CTORCH_CUDA_F16_WEIGHTS", "1");
    s->host_times.on = env_is("CTORCH_CUDA_HOST_TIMES", "1");
    if (env_is("CTORCH_CUDA_PROFILE", "1")) {
        s->prof = ct_cuda_profile_create();
        if (!s->prof) {
            free(cb);
            return CT_ERR_OUT_OF_MEMORY;
        }
        s->graphs_enabled = false; /* one event pair per op: see cuda_profile.c */
    }
    ct_backend *be = &cb->be;
    be->name = "cuda";
    be->impl = s;
    be->destroy = cuda_destroy;
    be->reserve = cuda_reserve;
    be->alloc = cuda_alloc;
    be->release = cuda_release;
    be->load_weight = cuda_load_weight;
    be->read_rows = cuda_read_rows;
    be->host_alloc = cuda_host_alloc;
    be->host_free = cuda_host_free;
    be->memory_info = cuda_memory_info;
    be->begin = cuda_begin;
    be->end = cuda_end;
    ct_cuda_install_ops(be);
    e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        s->stream = NULL;
        cuda_destroy(be);
        return ct_fail(CT_ERR_DEVICE, "backend 'cuda': creating a stream on %s: %s", s->device_name,
                       cudaGetErrorString(e));
    }
    ct_status st = ct_cuda_matmul_create(s->stream, &s->mm);
    if (st != CT_OK) {
        cuda_destroy(be);
        return st;
    }
    *out = be;
    return CT_OK;
}

void ct_backend_cuda_graph_stats(const ct_backend *be, int64_t *replayed, int64_t *captured, int64_t *direct) {
    const cuda_state *s = state_of(be);
    *replayed = s->graphs.replayed;
    *captured = s->graphs.captured;
    *direct = s->graphs.direct;
}
