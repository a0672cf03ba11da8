/* The CPU backend: the ops of ops_*.c behind the backend interface, with matmul rows and
 * attention heads spread over a thread pool. Weights are used where they lie in the mapped
 * GGUF file. Cheap elementwise ops run on the calling thread.
 *
 * matmul has two paths:
 *   fast (default):  the SIMD kernels of kernels/qkernels.h: each input row is quantized once
 *                    to integer blocks (16-bit values as two int8 halves by default, 8-bit
 *                    with CTORCH_CPU_ACTIVATIONS=q8; f32 for F32/F16/BF16 weights), then
 *                    every weight block meets every activation block in integer dot products.
 *   reference:       ct_cpu_matmul_rows: each weight row dequantized to f32 and dotted in f32
 *                    (the definition of correctness; no activation rounding).
 * CTORCH_CPU_LEVEL=reference selects the reference path; scalar|avx2|avx512|avx512vnni force
 * a kernel level of the fast path (see ct_qkernels_select). Inside begin/end the fast path
 * runs consecutive matmuls of one input as one job, with a following swiglu/geglu in its
 * epilogue (matmul_fast.c; CTORCH_CPU_FUSE=0 runs every op on its own, for comparison). Attention runs its AVX2 version
 * (same math, f16 converted 8 at a time) at the avx2 level and above, the reference below.
 *
 * Batch invariance (ct_backend.batch_invariant, the engine's --deterministic): the only
 * op whose per-token arithmetic depends on the batch is the fast matmul, whose kernels take a
 * matrix-vector path below 4 tokens and matrix-matrix tiles (K summed in chunks) above; under
 * the flag every call takes the tiles. Everything else is already per row (norms, rope,
 * quantization of a row, attention per (token, head)), and threads split weight rows, never
 * a row's reduction. */
#include "backend/cpu/backend_cpu.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/cpu/cpu_state.h"
#include "backend/cpu/kernels/qkernels.h"
#include "backend/cpu/ops_cpu.h"
#include "core/alloc.h"
#include "core/threadpool.h"

/* The state, with the deferred matmuls run (matmul_fast.c): every op but matmul and the
 * gated activations starts with it, as do read_rows, end and anything touching memory. */
static cpu_state *state_of(ct_backend *be) {
    cpu_state *s = be->impl;
    ct_cpu_flush(s);
    return s;
}

static float *row_ptr(const ct_tensor *t, int64_t r) { return ct_cpu_row_ptr(t, r); }

/* ---- lifetime and memory ---------------------------------------------------------- */

static void free_scratch(float **bufs, int n) {
    if (!bufs) return;
    for (int i = 0; i < n; i++) ct_free_aligned(bufs[i]);
    free(bufs);
}

static void cpu_destroy(ct_backend *be) {
    cpu_state *s = be->impl;
    if (s) {
        ct_threadpool_free(s->pool);
        free_scratch(s->row_scratch, s->n_threads);
        free_scratch(s->score_scratch, s->n_threads);
        ct_free_aligned(s->act);
        free(s);
    }
    free(be);
}

static ct_status grow_scratch(float **bufs, int n_threads, int64_t n, const char *what) {
    for (int i = 0; i < n_threads; i++) {
        float *p = ct_alloc_aligned((size_t)n * sizeof(float), what);
        if (!p) return CT_ERR_OUT_OF_MEMORY;
        ct_free_aligned(bufs[i]);
        bufs[i] = p;
    }
    return CT_OK;
}

/* Room for n_tokens quantized activation rows of up to max_row elements (the f32 format of
 * F32/F16 weights is the largest: 4 bytes per element). */
static ct_status grow_act(cpu_state *s, int64_t n_tokens) {
    if (!s->qk || s->max_row <= 0) return CT_OK;
    size_t row = ct_cpu_act_row_bytes(CT_TYPE_F32, s->max_row);
    if (n_tokens < 1) n_tokens = 1;
    if ((uint64_t)n_tokens > SIZE_MAX / row)
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "cpu backend: %lld activation rows of %zu bytes", (long long)n_tokens, row);
    size_t need = row * (size_t)n_tokens;
    if (need <= s->act_cap) return CT_OK;
    uint8_t *p = ct_alloc_aligned(need, "cpu backend quantized activations");
    if (!p) return CT_ERR_OUT_OF_MEMORY;
    ct_free_aligned(s->act);
    s->act = p;
    s->act_cap = need;
    return CT_OK;
}

static ct_status cpu_reserve(ct_backend *be, int64_t max_row, int64_t max_ctx) {
    cpu_state *s = state_of(be);
    if (max_row > s->max_row) {
        CT_TRY(grow_scratch(s->row_scratch, s->n_threads, max_row * CT_CPU_MATMUL_TILE, "cpu backend row scratch"));
        /* as many tokens as before (at least one, for decode) in rows of the new length;
         * begin() grows it to the longest batch seen (the first prompt allocates) */
        int64_t tokens = s->max_row > 0 ? (int64_t)(s->act_cap / ct_cpu_act_row_bytes(CT_TYPE_F32, s->max_row)) : 1;
        s->max_row = max_row;
        s->act_cap = 0;
        ct_free_aligned(s->act);
        s->act = NULL;
        CT_TRY(grow_act(s, tokens));
    }
    if (max_ctx > s->max_ctx) {
        CT_TRY(grow_scratch(s->score_scratch, s->n_threads, max_ctx, "cpu backend attention scratch"));
        s->max_ctx = max_ctx;
    }
    return CT_OK;
}

static ct_status cpu_alloc(ct_backend *be, size_t bytes, void **out) {
    ct_cpu_flush(be->impl); /* run the deferred matmuls first */
    *out = ct_alloc_aligned(bytes ? bytes : 1, "cpu backend buffer");
    return *out ? CT_OK : CT_ERR_OUT_OF_MEMORY;
}

static void cpu_release(ct_backend *be, void *ptr) {
    ct_cpu_flush(be->impl); /* run the deferred matmuls first */
    ct_free_aligned(ptr);
}

static ct_status cpu_load_weight(ct_backend *be, ct_tensor *w) {
    ct_cpu_flush(be->impl); /* run the deferred matmuls first */
    (void)w; /* read in place from the mapping */
    return CT_OK;
}

static ct_status cpu_read_rows(ct_backend *be, const ct_tensor *src, float *dst) {
    ct_cpu_flush(be->impl); /* run the deferred matmuls first */
    for (int64_t r = 0; r < src->ne1; r++) memcpy(dst + r * src->ne0, row_ptr(src, r), (size_t)src->ne0 * sizeof(float));
    return CT_OK;
}

static ct_status cpu_begin(ct_backend *be, const ct_forward_batch *batch) {
    cpu_state *s = state_of(be);
    CT_TRY(grow_act(s, batch->n_tokens));
    s->batch = batch;
    return CT_OK;
}

static ct_status cpu_end(ct_backend *be) {
    state_of(be)->batch = NULL;
    return CT_OK;
}

/* ---- ops ------------------------------------------------------------------------------ */

static void cpu_embed_tokens(ct_backend *be, const ct_tensor *out, const ct_tensor *table) {
    const ct_forward_batch *b = state_of(be)->batch;
    for (int64_t t = 0; t < out->ne1; t++) ct_cpu_get_row(table, b->token[t], row_ptr(out, t));
}

static void cpu_add_positions(ct_backend *be, const ct_tensor *x, const ct_tensor *table) {
    cpu_state *s = state_of(be);
    float *tmp = s->row_scratch[0];
    for (int64_t t = 0; t < x->ne1; t++) {
        ct_cpu_get_row(table, s->batch->pos[t], tmp);
        float *y = row_ptr(x, t);
        for (int64_t i = 0; i < x->ne0; i++) y[i] += tmp[i];
    }
}

typedef struct {
    cpu_state *s;
    const ct_tensor *out, *w, *bias, *in;
} matmul_job;

static void matmul_task(void *arg, int64_t r0, int64_t r1, int thread) {
    matmul_job *j = arg;
    ct_cpu_matmul_rows(j->out, j->w, j->bias, j->in, r0, r1, j->s->row_scratch[thread]);
}

static void reference_matmul(cpu_state *s, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                             const ct_tensor *in) {
    matmul_job j = {s, out, w, bias, in};
    ct_threadpool_run(s->pool, w->ne1, out->ne1 > 1 ? CT_CPU_MATMUL_TILE : 4, matmul_task, &j);
}

/* The fast path (matmul_fast.c) may defer the matmul to run with the next ones of the same
 * input; the reference path runs at once. */
static void cpu_matmul(ct_backend *be, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                       const ct_tensor *in) {
    cpu_state *s = be->impl;
    size_t act_bytes = s->qk && ct_cpu_qmatmul_supports(w->type) ? ct_cpu_act_row_bytes(w->type, w->ne0) : 0;
    if (!act_bytes || s->act_cap < act_bytes) {
        ct_cpu_flush(s);
        reference_matmul(s, out, w, bias, in);
        return;
    }
    s->batch_invariant = be->batch_invariant;
    ct_cpu_fast_matmul(s, out, w, bias, in);
}

/* Row-wise ops over a prompt's rows go to the pool (a few percent of a prefill on one
 * thread); a decode step's single row stays on the caller (a job costs a barrier). */
#define CT_CPU_PARALLEL_ROWS 4

typedef struct {
    const ct_tensor *out, *a, *b;
    const float *w;
    float eps;
} rows_job;

static void run_rows(cpu_state *s, int64_t n_rows, ct_parallel_fn fn, rows_job *j) {
    if (n_rows >= CT_CPU_PARALLEL_ROWS) ct_threadpool_run(s->pool, n_rows, 1, fn, j);
    else fn(j, 0, n_rows, 0);
}

static void rmsnorm_task(void *arg, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    rows_job *j = arg;
    for (int64_t r = r0; r < r1; r++) ct_cpu_rmsnorm(row_ptr(j->out, r), row_ptr(j->a, r), j->w, j->a->ne0, j->eps);
}

static void cpu_rmsnorm(ct_backend *be, const ct_tensor *out, const ct_tensor *in, const ct_tensor *weight,
                        float eps) {
    rows_job j = {out, in, NULL, weight ? weight->data : NULL, eps};
    run_rows(state_of(be), out->ne1, rmsnorm_task, &j);
}

static void cpu_layernorm(ct_backend *be, const ct_tensor *out, const ct_tensor *in, const ct_tensor *weight,
                          const ct_tensor *bias, float eps) {
    ct_cpu_flush(be->impl); /* run the deferred matmuls first */
    const float *w = weight ? weight->data : NULL, *b = bias ? bias->data : NULL;
    for (int64_t r = 0; r < out->ne1; r++) ct_cpu_layernorm(row_ptr(out, r), row_ptr(in, r), w, b, in->ne0, eps);
}

static void cpu_rope(ct_backend *be, const ct_tensor *x, const ct_rope *rope) {
    const ct_forward_batch *b = state_of(be)->batch;
    const float *ff = rope->freq_factors ? rope->freq_factors->data : NULL;
    for (int64_t t = 0; t < x->ne1; t++) ct_cpu_rope(row_ptr(x, t), x->ne0 / rope->head_dim, rope, ff, b->pos[t]);
}

static void cpu_kv_store(ct_backend *be, const ct_tensor *k_cache, const ct_tensor *v_cache, const ct_tensor *k,
                         const ct_tensor *v) {
    const ct_forward_batch *b = state_of(be)->batch;
    for (int64_t t = 0; t < k->ne1; t++) {
        int64_t cell = b->kv_cell[t];
        ct_cpu_store_row((uint8_t *)k_cache->data + (size_t)cell * k_cache->row_bytes, k_cache->type, row_ptr(k, t), k->ne0);
        ct_cpu_store_row((uint8_t *)v_cache->data + (size_t)cell * v_cache->row_bytes, v_cache->type, row_ptr(v, t), v->ne0);
    }
}

typedef struct {
    cpu_state *s;
    const ct_tensor *out, *q, *k_cache, *v_cache;
    const ct_attn *attn;
} attention_job;

/* items are (token, head) pairs, token-major */
static void attention_task(void *arg, int64_t i0, int64_t i1, int thread) {
    attention_job *j = arg;
    const ct_forward_batch *b = j->s->batch;
    const ct_attn *a = j->attn;
    int32_t group = a->n_head / a->n_head_kv;
    for (int64_t i = i0; i < i1; i++) {
        int64_t t = i / a->n_head;
        int32_t h = (int32_t)(i % a->n_head);
        int32_t pos = b->pos[t];
        int32_t lo = (a->window > 0 && pos >= a->window) ? pos - a->window + 1 : 0;
        j->s->attention_head(row_ptr(j->out, t) + (int64_t)h * a->head_dim_v, row_ptr(j->q, t) + (int64_t)h * a->head_dim_k,
                              j->k_cache, j->v_cache, &b->seq_view[b->seq[t]], lo, pos, h / group, a,
                              j->s->score_scratch[thread]);
    }
}

static void cpu_attention(ct_backend *be, const ct_tensor *out, const ct_tensor *q, const ct_tensor *k_cache,
                          const ct_tensor *v_cache, const ct_attn *attn) {
    attention_job j = {state_of(be), out, q, k_cache, v_cache, attn};
    ct_threadpool_run(j.s->pool, out->ne1 * attn->n_head, 1, attention_task, &j);
}

static void cpu_add(ct_backend *be, const ct_tensor *out, const ct_tensor *a, const ct_tensor *b) {
    ct_cpu_flush(be->impl); /* run the deferred matmuls first */
    for (int64_t r = 0; r < out->ne1; r++) {
        float *y = row_ptr(out, r);
        const float *x0 = row_ptr(a, r), *x1 = row_ptr(b, r);
        for (int64_t i = 0; i < out->ne0; i++) y[i] = x0[i] + x1[i];
    }
}

static void cpu_scale(ct_backend *be, const ct_tensor *x, float s) {
    ct_cpu_flush(be->impl); /* run the deferred matmuls first */
    for (int64_t r = 0; r < x->ne1; r++) {
        float *y = row_ptr(x, r);
        for (int64_t i = 0; i < x->ne0; i++) y[i] *= s;
    }
}

static void cpu_gelu(ct_backend *be, const ct_tensor *x) {
    ct_cpu_flush(be->impl); /* run the deferred matmuls first */
    for (int64_t r = 0; r < x->ne1; r++) {
        float *y = row_ptr(x, r);
        for (int64_t i = 0; i < x->ne0; i++) y[i] = ct_cpu_gelu_tanh(y[i]);
    }
}

static void swiglu_task(void *arg, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    rows_job *j = arg;
    ct_cpu_glu_rows(CT_CPU_GLU_SILU, j->out, j->a, j->b, r0, r1, 0, j->out->ne0);
}

/* in the epilogue of the gate and up matmuls when they are waiting (matmul_fast.c) */
static void cpu_swiglu(ct_backend *be, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up) {
    if (ct_cpu_fuse_glu(be->impl, CT_CPU_GLU_SILU, out, gate, up)) return;
    rows_job j = {out, gate, up, NULL, 0};
    run_rows(state_of(be), out->ne1, swiglu_task, &j);
}

static void geglu_task(void *arg, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    rows_job *j = arg;
    ct_cpu_glu_rows(CT_CPU_GLU_GELU, j->out, j->a, j->b, r0, r1, 0, j->out->ne0);
}

static void cpu_geglu(ct_backend *be, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up) {
    if (ct_cpu_fuse_glu(be->impl, CT_CPU_GLU_GELU, out, gate, up)) return;
    rows_job j = {out, gate, up, NULL, 0};
    run_rows(state_of(be), out->ne1, geglu_task, &j);
}

static void cpu_gather_outputs(ct_backend *be, const ct_tensor *out, const ct_tensor *in, int32_t first) {
    const ct_forward_batch *b = state_of(be)->batch;
    for (int64_t i = 0; i < out->ne1; i++)
        memcpy(row_ptr(out, i), row_ptr(in, b->out_rows[first + i]), (size_t)in->ne0 * sizeof(float));
}

const char *ct_backend_cpu_matmul_path(const ct_backend *be) {
    static const char *const q8_names[CT_CPU_LEVEL_COUNT] = {"scalar/q8", "avx2/q8", "avx512/q8", "avx512vnni/q8"};
    const cpu_state *s = be->impl;
    if (!s->qk) return "reference";
    const ct_cpu_level level = ct_qkernels_level(s->qk);
    return ct_qkernels_precision(s->qk) == CT_CPU_ACT_Q8 ? q8_names[level] : ct_cpu_level_name(level);
}

void ct_backend_cpu_get_stats(const ct_backend *be, ct_backend_cpu_stats *out) {
    *out = ((const cpu_state *)be->impl)->stats;
}

ct_status ct_backend_cpu_create(int n_threads, ct_backend **out) {
    *out = NULL;
    ct_backend *be = ct_calloc_array(1, sizeof *be, "cpu backend");
    if (!be) return CT_ERR_OUT_OF_MEMORY;
    cpu_state *s = ct_calloc_array(1, sizeof *s, "cpu backend state");
    if (!s) {
        free(be);
        return CT_ERR_OUT_OF_MEMORY;
    }
    be->impl = s;
    be->name = "cpu";
    be->destroy = cpu_destroy;
    be->reserve = cpu_reserve;
    be->alloc = cpu_alloc;
    be->release = cpu_release;
    be->load_weight = cpu_load_weight;
    be->read_rows = cpu_read_rows;
    be->begin = cpu_begin;
    be->end = cpu_end;
    be->embed_tokens = cpu_embed_tokens;
    be->add_positions = cpu_add_positions;
    be->matmul = cpu_matmul;
    be->rmsnorm = cpu_rmsnorm;
    be->layernorm = cpu_layernorm;
    be->rope = cpu_rope;
    be->kv_store = cpu_kv_store;
    be->attention = cpu_attention;
    be->add = cpu_add;
    be->scale = cpu_scale;
    be->gelu = cpu_gelu;
    be->swiglu = cpu_swiglu;
    be->geglu = cpu_geglu;
    be->gather_outputs = cpu_gather_outputs;

    s->n_threads = n_threads > 0 ? n_threads : ct_cpu_count();
    s->row_scratch = ct_calloc_array((size_t)s->n_threads, sizeof(float *), "cpu backend scratch");
    s->score_scratch = ct_calloc_array((size_t)s->n_threads, sizeof(float *), "cpu backend scratch");
    ct_status st = (s->row_scratch && s->score_scratch) ? CT_OK : CT_ERR_OUT_OF_MEMORY;
    const char *level = getenv("CTORCH_CPU_LEVEL");
    bool reference = level && strcasecmp(level, "reference") == 0;
    ct_cpu_level parsed;
    if (st == CT_OK && level && *level && !reference && ct_cpu_level_parse(level, &parsed) != CT_OK)
        st = ct_fail(CT_ERR_INVALID_ARGUMENT,
                     "environment variable CTORCH_CPU_LEVEL: unknown value '%s' (expected reference, scalar, avx2, "
                     "avx512 or avx512vnni)", level);
    if (st == CT_OK && !reference) st = ct_qkernels_select(&s->qk);
    const char *fuse = getenv("CTORCH_CPU_FUSE");
    s->fuse = !(fuse && !strcmp(fuse, "0"));
    s->attention_head = s->qk && ct_qkernels_level(s->qk) >= CT_CPU_AVX2 ? ct_cpu_attention_head_avx2
                                                                          : ct_cpu_attention_head;
    if (st == CT_OK) st = ct_threadpool_create(s->n_threads, &s->pool);
    if (st != CT_OK) {
        cpu_destroy(be);
        return st;
    }
    *out = be;
    return CT_OK;
}
