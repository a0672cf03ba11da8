/* CUDA attention and KV store (src/backend/cuda/attention*.cu, kv_store.cu) against a float64
 * reference of the op (and, for some cases, the CPU backend's reference ops):
 *   - random q, k, v (never zeros), F16 and F32 caches, head dims 64/128/256 and odd ones
 *     (K and V dims differing, 40, 320), groups 1, 3, 4, 8, 24;
 *   - single-sequence prompts of 1, 7, 64, 200 tokens, decode of 20 sequences at 1..3000
 *     positions, a mixed batch (prompt chunks, a chunk continuing a cache, short runs, decode
 *     tokens) in grouped and interleaved order, sliding windows 16 and 512;
 *   - paged caches: block tables of shuffled blocks, block sizes 16, 32, 24 and one block per
 *     sequence; every cache cell no sequence has written holds NaN, so a read outside the
 *     visible positions poisons the output;
 *   - "same keys" cases: every key row equal, so attention weights are exactly uniform and the
 *     output is the mean of the visible values: a key missed or counted twice shows far above
 *     the rounding (checked at 2e-5);
 *   - the plan's metadata and shape key on the host, and a CUDA graph captured for one decode
 *     step replayed for the next (same shape key, new positions).
 * Outputs are poisoned with NaN before each run and every element is checked. The kernels
 * need a GPU: without one (or without CUDA in the build) the GPU part is skipped (77). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#ifdef CTORCH_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "backend/cuda/attention_internal.cuh"
#include "backend/cuda/cuda_attention.h"
#include "quant/fp16.h"

/* Tolerances (absolute; outputs are convex combinations of values in [-1, 1]):
 * F16 caches: the tensor-core kernels round q (|q| < 4) and the probabilities to F16 (2^-11
 * relative each): scores move by ~1e-3 at most, the output by less (a numpy simulation of
 * this rounding on the same distributions stays below 3e-4); 2e-3 leaves room.
 * F32 caches: F32 arithmetic throughout (scores, expf, sums over <= 3000 terms): ~1e-6.
 * Same keys: weights are exactly 1 (the scores are equal bit for bit), so only the F32 sum of
 * <= 3000 values remains (~1e-6); one position too many or too few moves the mean by
 * |v - mean| / n, ~1e-4 at n = 3000.
 * CPU reference ops vs float64: F32 sums, ~1e-6. */
#define TOL_F16 2e-3
#define TOL_F32 2e-5
#define TOL_SAME_KEYS 2e-5
#define TOL_CPU 1e-4
#define Q_AMPLITUDE 4.0f

#define MAX_SEQ 24

typedef struct {
    const char *name;
    int n_head, n_head_kv, dk, dv;
} shape_t;

typedef struct {
    char name[160];
    shape_t shape;
    int window;
    uint32_t type; /* cache: CT_TYPE_F16 or CT_TYPE_F32 */
    int block_size;
    int n_seq;
    int hist[MAX_SEQ];  /* positions already in the cache */
    int n_new[MAX_SEQ]; /* tokens of the batch */
    bool round_robin;   /* the sequences' tokens interleaved */
    bool same_keys;
    bool cpu_check;
} attn_case;

/* ---- host side of a case: sequences, block tables, cache images, the batch, the reference ---- */

typedef struct {
    attn_case c;
    int total[MAX_SEQ]; /* positions with data (hist + n_new + extra) */
    int tbl_off[MAX_SEQ];
    int table_len, n_cells;
    int32_t *table; /* concatenated block tables (shuffled blocks) */
    ct_kv_view views[MAX_SEQ];
    float *kf[MAX_SEQ], *vf[MAX_SEQ]; /* per sequence [total][n_kv * d], as stored (F16-rounded for F16) */
    float *kx[MAX_SEQ], *vx[MAX_SEQ]; /* the same before rounding (what kv_store is given) */
    size_t k_row, v_row;              /* cache row bytes */
    uint8_t *k_img, *v_img;           /* caches before the batch */
    uint8_t *k_want, *v_want;         /* after the batch's store */
    /* the batch */
    int n_tok, max_ctx;
    int32_t *tok, *pos, *seq, *tbo;
    int64_t *cell;
    float *q, *k_new, *v_new;
    double *ref;
    ct_forward_batch fb;
} case_data;

static size_t elem_size(uint32_t type) { return type == CT_TYPE_F32 ? 4 : 2; }

static float as_stored(float x, uint32_t type) { return type == CT_TYPE_F32 ? x : ct_fp16_to_fp32(ct_fp32_to_fp16(x)); }

static void store_value(uint8_t *row, uint32_t type, int i, float x) {
    if (type == CT_TYPE_F32) {
        memcpy(row + 4 * (size_t)i, &x, 4);
    } else {
        uint16_t h = ct_fp32_to_fp16(x);
        memcpy(row + 2 * (size_t)i, &h, 2);
    }
}

static void fill_nan(uint8_t *img, size_t bytes, uint32_t type) {
    if (type == CT_TYPE_F32) {
        uint32_t nan = 0x7fc00000u;
        for (size_t i = 0; i + 4 <= bytes; i += 4) memcpy(img + i, &nan, 4);
    } else {
        uint16_t nan = 0x7e00u;
        for (size_t i = 0; i + 2 <= bytes; i += 2) memcpy(img + i, &nan, 2);
    }
}

static int64_t seq_cell(const case_data *d, int s, int p) {
    const int bs = d->c.block_size;
    return (int64_t)d->table[d->tbl_off[s] + p / bs] * bs + p % bs;
}

static void write_cell(case_data *d, uint8_t *k_img, uint8_t *v_img, int s, int p) {
    const int nk = d->c.shape.n_head_kv * d->c.shape.dk, nv = d->c.shape.n_head_kv * d->c.shape.dv;
    const int64_t cell = seq_cell(d, s, p);
    for (int i = 0; i < nk; i++)
        store_value(k_img + (size_t)cell * d->k_row, d->c.type, i, d->kx[s][(size_t)p * nk + i]);
    for (int i = 0; i < nv; i++)
        store_value(v_img + (size_t)cell * d->v_row, d->c.type, i, d->vx[s][(size_t)p * nv + i]);
}

static void case_free(case_data *d) {
    for (int s = 0; s < MAX_SEQ; s++) {
        free(d->kf[s]);
        free(d->vf[s]);
        free(d->kx[s]);
        free(d->vx[s]);
    }
    free(d->table);
    free(d->k_img);
    free(d->v_img);
    free(d->k_want);
    free(d->v_want);
    free(d->tok);
    free(d->pos);
    free(d->seq);
    free(d->tbo);
    free(d->cell);
    free(d->q);
    free(d->k_new);
    free(d->v_new);
    free(d->ref);
    memset(d, 0, sizeof *d);
}

/* Sequences (data for `extra` positions past the batch too), shuffled block tables with a
 * spare block now and then, NaN caches holding each sequence's history. */
static bool case_alloc(case_data *d, const attn_case *c, int extra, ct_test_rng *rng) {
    memset(d, 0, sizeof *d);
    d->c = *c;
    const shape_t *sh = &c->shape;
    const int bs = c->block_size, nk = sh->n_head_kv * sh->dk, nv = sh->n_head_kv * sh->dv;
    int n_blocks = 0;
    for (int s = 0; s < c->n_seq; s++) {
        d->total[s] = c->hist[s] + c->n_new[s] + extra;
        d->tbl_off[s] = n_blocks;
        n_blocks += (d->total[s] + bs - 1) / bs + (s % 3 == 1); /* some tables have an unused block */
    }
    d->table_len = n_blocks;
    const int pool = n_blocks + 3; /* blocks no sequence owns stay NaN */
    d->n_cells = pool * bs;
    d->table = malloc((size_t)n_blocks * sizeof *d->table);
    int32_t *perm = malloc((size_t)pool * sizeof *perm);
    d->k_row = (size_t)nk * elem_size(c->type);
    d->v_row = (size_t)nv * elem_size(c->type);
    d->k_img = malloc((size_t)d->n_cells * d->k_row);
    d->v_img = malloc((size_t)d->n_cells * d->v_row);
    if (!d->table || !perm || !d->k_img || !d->v_img) {
        free(perm);
        return false;
    }
    for (int i = 0; i < pool; i++) perm[i] = i;
    for (int i = pool - 1; i > 0; i--) {
        int j = (int)(ct_test_rng_next(rng) % (unsigned long long)(i + 1));
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    memcpy(d->table, perm, (size_t)n_blocks * sizeof *d->table);
    free(perm);
    for (int s = 0; s < c->n_seq; s++) d->views[s] = (ct_kv_view){.blocks = d->table + d->tbl_off[s], .block_size = bs};

    /* same keys: one random key row for every position of every sequence */
    float *key_row = malloc((size_t)nk * sizeof(float));
    if (!key_row) return false;
    for (int i = 0; i < nk; i++) key_row[i] = ct_test_rng_uniform(rng);
    for (int s = 0; s < c->n_seq; s++) {
        const size_t n = (size_t)d->total[s];
        d->kx[s] = malloc(n * nk * sizeof(float));
        d->vx[s] = malloc(n * nv * sizeof(float));
        d->kf[s] = malloc(n * nk * sizeof(float));
        d->vf[s] = malloc(n * nv * sizeof(float));
        if (!d->kx[s] || !d->vx[s] || !d->kf[s] || !d->vf[s]) {
            free(key_row);
            return false;
        }
        for (size_t i = 0; i < n * nk; i++) {
            d->kx[s][i] = c->same_keys ? key_row[i % nk] : ct_test_rng_uniform(rng);
            d->kf[s][i] = as_stored(d->kx[s][i], c->type);
        }
        for (size_t i = 0; i < n * nv; i++) {
            d->vx[s][i] = ct_test_rng_uniform(rng);
            d->vf[s][i] = as_stored(d->vx[s][i], c->type);
        }
    }
    free(key_row);
    fill_nan(d->k_img, (size_t)d->n_cells * d->k_row, c->type);
    fill_nan(d->v_img, (size_t)d->n_cells * d->v_row, c->type);
    for (int s = 0; s < c->n_seq; s++)
        for (int p = 0; p < c->hist[s]; p++) write_cell(d, d->k_img, d->v_img, s, p);
    return true;
}

/* float64 reference of the op for every token of the batch */
static void reference(case_data *d) {
    const shape_t *sh = &d->c.shape;
    const int group = sh->n_head / sh->n_head_kv, nk = sh->n_head_kv * sh->dk, nv = sh->n_head_kv * sh->dv;
    const double scale = 1.0 / sqrt((double)sh->dk);
    double *scores = malloc((size_t)(d->max_ctx + 1) * sizeof(double));
    if (!scores) return;
    for (int t = 0; t < d->n_tok; t++) {
        const int s = d->seq[t], pos = d->pos[t], w = d->c.window;
        const int lo = (w > 0 && pos >= w) ? pos - w + 1 : 0;
        for (int h = 0; h < sh->n_head; h++) {
            const int kvh = h / group;
            const float *q = d->q + (size_t)t * sh->n_head * sh->dk + (size_t)h * sh->dk;
            double mx = -INFINITY, sum = 0;
            for (int p = lo; p <= pos; p++) {
                const float *k = d->kf[s] + (size_t)p * nk + (size_t)kvh * sh->dk;
                double dot = 0;
                for (int i = 0; i < sh->dk; i++) dot += (double)q[i] * k[i];
                scores[p - lo] = scale * dot;
                if (scores[p - lo] > mx) mx = scores[p - lo];
            }
            for (int p = lo; p <= pos; p++) sum += (scores[p - lo] = exp(scores[p - lo] - mx));
            double *out = d->ref + (size_t)t * sh->n_head * sh->dv + (size_t)h * sh->dv;
            for (int i = 0; i < sh->dv; i++) out[i] = 0;
            for (int p = lo; p <= pos; p++) {
                const float *v = d->vf[s] + (size_t)p * nv + (size_t)kvh * sh->dv;
                const double wgt = scores[p - lo] / sum;
                for (int i = 0; i < sh->dv; i++) out[i] += wgt * v[i];
            }
        }
    }
    free(scores);
}

/* The batch of d->c.hist / n_new: token order, q, the new k/v rows, the caches it should
 * leave, the reference output. */
static bool case_tokens(case_data *d, ct_test_rng *rng) {
    const attn_case *c = &d->c;
    const shape_t *sh = &c->shape;
    const int nk = sh->n_head_kv * sh->dk, nv = sh->n_head_kv * sh->dv;
    int n = 0, longest = 0;
    for (int s = 0; s < c->n_seq; s++) {
        n += c->n_new[s];
        if (c->n_new[s] > longest) longest = c->n_new[s];
    }
    d->n_tok = n;
    d->tok = realloc(d->tok, (size_t)n * sizeof(int32_t));
    d->pos = realloc(d->pos, (size_t)n * sizeof(int32_t));
    d->seq = realloc(d->seq, (size_t)n * sizeof(int32_t));
    d->tbo = realloc(d->tbo, (size_t)n * sizeof(int32_t));
    d->cell = realloc(d->cell, (size_t)n * sizeof(int64_t));
    d->q = realloc(d->q, (size_t)n * sh->n_head * sh->dk * sizeof(float));
    d->k_new = realloc(d->k_new, (size_t)n * nk * sizeof(float));
    d->v_new = realloc(d->v_new, (size_t)n * nv * sizeof(float));
    d->ref = realloc(d->ref, (size_t)n * sh->n_head * sh->dv * sizeof(double));
    free(d->k_want);
    free(d->v_want);
    d->k_want = malloc((size_t)d->n_cells * d->k_row);
    d->v_want = malloc((size_t)d->n_cells * d->v_row);
    if (!d->tok || !d->pos || !d->seq || !d->tbo || !d->cell || !d->q || !d->k_new || !d->v_new || !d->ref ||
        !d->k_want || !d->v_want)
        return false;
    int t = 0;
    if (c->round_robin) {
        for (int j = 0; j < longest; j++)
            for (int s = 0; s < c->n_seq; s++)
                if (j < c->n_new[s]) d->seq[t] = s, d->pos[t] = c->hist[s] + j, t++;
    } else {
        for (int s = 0; s < c->n_seq; s++)
            for (int j = 0; j < c->n_new[s]; j++) d->seq[t] = s, d->pos[t] = c->hist[s] + j, t++;
    }
    d->max_ctx = 0;
    for (t = 0; t < n; t++) {
        const int s = d->seq[t], p = d->pos[t];
        d->tok[t] = t;
        d->tbo[t] = d->tbl_off[s];
        d->cell[t] = seq_cell(d, s, p);
        if (p + 1 > d->max_ctx) d->max_ctx = p + 1;
        memcpy(d->k_new + (size_t)t * nk, d->kx[s] + (size_t)p * nk, (size_t)nk * sizeof(float));
        memcpy(d->v_new + (size_t)t * nv, d->vx[s] + (size_t)p * nv, (size_t)nv * sizeof(float));
    }
    for (size_t i = 0; i < (size_t)n * sh->n_head * sh->dk; i++) d->q[i] = Q_AMPLITUDE * ct_test_rng_uniform(rng);
    memcpy(d->k_want, d->k_img, (size_t)d->n_cells * d->k_row);
    memcpy(d->v_want, d->v_img, (size_t)d->n_cells * d->v_row);
    for (t = 0; t < n; t++) write_cell(d, d->k_want, d->v_want, d->seq[t], d->pos[t]);
    d->fb = (ct_forward_batch){.n_tokens = n,
                               .token = d->tok,
                               .pos = d->pos,
                               .seq = d->seq,
                               .kv_cell = d->cell,
                               .seq_view = d->views,
                               .n_out = 0,
                               .out_rows = NULL};
    reference(d);
    return true;
}

static ct_attn case_attn(const attn_case *c) {
    return (ct_attn){.n_head = c->shape.n_head,
                     .n_head_kv = c->shape.n_head_kv,
                     .head_dim_k = c->shape.dk,
                     .head_dim_v = c->shape.dv,
                     .scale = (float)(1.0 / sqrt((double)c->shape.dk)),
                     .window = c->window};
}

/* ---- device side ------------------------------------------------------------------------ */

#define CUDA_OK(expr)                                                                                                  \
    do {                                                                                                               \
        ct_test_checks++;                                                                                              \
        cudaError_t e_ = (expr);                                                                                       \
        if (e_ != cudaSuccess) {                                                                                       \
            ct_test_failures++;                                                                                        \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_));                     \
            return false;                                                                                              \
        }                                                                                                              \
    } while (0)

typedef struct {
    void *k, *v, *q, *k_new, *v_new, *out, *tok, *pos, *seq, *cell, *table, *tbo, *meta;
    size_t meta_cap, out_bytes;
    uint8_t *host_meta;
    uint64_t key;
    ct_cuda_batch cb;
    ct_tensor kc, vc, qt, kn, vn, ot;
} gpu_case;

static void gpu_free(gpu_case *g) {
    void *ptrs[] = {g->k,   g->v,   g->q,    g->k_new, g->v_new, g->out, g->tok,
                    g->pos, g->seq, g->cell, g->table, g->tbo,   g->meta};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        if (ptrs[i]) cudaFree(ptrs[i]);
    free(g->host_meta);
    memset(g, 0, sizeof *g);
}

/* Buffers for d's batch (and any later batch of as many tokens over the same sequences). */
static bool gpu_alloc(gpu_case *g, const case_data *d, int max_ctx) {
    const shape_t *sh = &d->c.shape;
    const size_t n = (size_t)d->n_tok, nk = (size_t)sh->n_head_kv * sh->dk, nv = (size_t)sh->n_head_kv * sh->dv;
    memset(g, 0, sizeof *g);
    g->out_bytes = n * sh->n_head * sh->dv * sizeof(float);
    g->meta_cap = ct_cuda_attention_meta_capacity((int32_t)n, max_ctx);
    g->host_meta = malloc(g->meta_cap);
    CHECK(g->host_meta != NULL);
    if (!g->host_meta) return false;
    CUDA_OK(cudaMalloc(&g->k, (size_t)d->n_cells * d->k_row));
    CUDA_OK(cudaMalloc(&g->v, (size_t)d->n_cells * d->v_row));
    CUDA_OK(cudaMalloc(&g->q, n * sh->n_head * sh->dk * sizeof(float)));
    CUDA_OK(cudaMalloc(&g->k_new, n * nk * sizeof(float)));
    CUDA_OK(cudaMalloc(&g->v_new, n * nv * sizeof(float)));
    CUDA_OK(cudaMalloc(&g->out, g->out_bytes));
    CUDA_OK(cudaMalloc(&g->tok, n * sizeof(int32_t)));
    CUDA_OK(cudaMalloc(&g->pos, n * sizeof(int32_t)));
    CUDA_OK(cudaMalloc(&g->seq, n * sizeof(int32_t)));
    CUDA_OK(cudaMalloc(&g->cell, n * sizeof(int64_t)));
    CUDA_OK(cudaMalloc(&g->table, (size_t)d->table_len * sizeof(int32_t)));
    CUDA_OK(cudaMalloc(&g->tbo, n * sizeof(int32_t)));
    CUDA_OK(cudaMalloc(&g->meta, g->meta_cap));
    /* scratch and unused metadata: NaN bytes, so a read of anything not written shows */
    CUDA_OK(cudaMemset(g->meta, 0xff, g->meta_cap));
    return true;
}

static bool gpu_upload_cache(gpu_case *g, const case_data *d) {
    CUDA_OK(cudaMemcpy(g->k, d->k_img, (size_t)d->n_cells * d->k_row, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->v, d->v_img, (size_t)d->n_cells * d->v_row, cudaMemcpyHostToDevice));
    return true;
}

/* The batch's arrays, its plan (metadata uploaded, key in g->key), NaN outputs. */
static bool gpu_upload_batch(gpu_case *g, const case_data *d) {
    const shape_t *sh = &d->c.shape;
    const size_t n = (size_t)d->n_tok, nk = (size_t)sh->n_head_kv * sh->dk, nv = (size_t)sh->n_head_kv * sh->dv;
    CUDA_OK(cudaMemcpy(g->q, d->q, n * sh->n_head * sh->dk * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->k_new, d->k_new, n * nk * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->v_new, d->v_new, n * nv * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->tok, d->tok, n * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->pos, d->pos, n * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->seq, d->seq, n * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->cell, d->cell, n * sizeof(int64_t), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->tbo, d->tbo, n * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->table, d->table, (size_t)d->table_len * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemset(g->out, 0xff, g->out_bytes));
    size_t used = 0;
    ct_status st = ct_cuda_attention_plan(&d->fb, d->max_ctx, g->host_meta, g->meta_cap, &used, &g->key);
    CHECK_OK(st);
    if (st != CT_OK) return false;
    CHECK(used <= g->meta_cap);
    if (used) CUDA_OK(cudaMemcpy(g->meta, g->host_meta, used, cudaMemcpyHostToDevice));
    g->cb = (ct_cuda_batch){.n_tokens = d->n_tok,
                            .n_out = 0,
                            .token = g->tok,
                            .pos = g->pos,
                            .seq = g->seq,
                            .kv_cell = g->cell,
                            .out_rows = NULL,
                            .block_table = g->table,
                            .tok_block_off = g->tbo,
                            .block_size = d->c.block_size,
                            .attn_meta = g->meta,
                            .host = &d->fb,
                            .max_ctx = d->max_ctx};
    const int64_t nh = sh->n_head;
    g->kc = (ct_tensor){g->k, d->c.type, (int64_t)nk, d->n_cells, d->k_row, "k_cache"};
    g->vc = (ct_tensor){g->v, d->c.type, (int64_t)nv, d->n_cells, d->v_row, "v_cache"};
    g->qt = (ct_tensor){g->q, CT_TYPE_F32, nh * sh->dk, (int64_t)n, (size_t)(nh * sh->dk) * sizeof(float), "q"};
    g->kn = (ct_tensor){g->k_new, CT_TYPE_F32, (int64_t)nk, (int64_t)n, nk * sizeof(float), "k"};
    g->vn = (ct_tensor){g->v_new, CT_TYPE_F32, (int64_t)nv, (int64_t)n, nv * sizeof(float), "v"};
    g->ot = (ct_tensor){g->out, CT_TYPE_F32, nh * sh->dv, (int64_t)n, (size_t)(nh * sh->dv) * sizeof(float), "out"};
    return true;
}

static bool gpu_enqueue(gpu_case *g, const case_data *d, cudaStream_t stream) {
    const ct_attn attn = case_attn(&d->c);
    CUDA_OK(ct_cuda_kv_store(stream, &g->cb, &g->kc, &g->vc, &g->kn, &g->vn));
    CUDA_OK(ct_cuda_attention(stream, &g->cb, &g->ot, &g->qt, &g->kc, &g->vc, &attn));
    return true;
}

/* ---- checks ------------------------------------------------------------------------------ */

static void check_values(const char *what, const float *got, const double *want, int rows, int width, double tol) {
    double worst = 0;
    long bad = 0;
    for (long i = 0; i < (long)rows * width; i++) {
        const double err = fabs((double)got[i] - want[i]);
        if (!(err <= tol)) {
            if (bad < 4)
                fprintf(stderr, "  %s: row %ld col %ld: got %.8g want %.8g\n", what, i / width, i % width, got[i],
                        want[i]);
            bad++;
            worst = INFINITY;
        } else if (err > worst) {
            worst = err;
        }
    }
    CHECK_MSG(bad == 0, "%s: %ld of %ld values off by more than %g", what, bad, (long)rows * width, tol);
    printf("  %-72s max err %.2e (tol %.0e)\n", what, worst, tol);
}

static void check_cache(const char *what, const uint8_t *got, const uint8_t *want, int n_cells, size_t row) {
    for (int c = 0; c < n_cells; c++)
        if (memcmp(got + (size_t)c * row, want + (size_t)c * row, row)) {
            CHECK_MSG(false, "%s: cache cell %d differs", what, c);
            return;
        }
    CHECK(true);
}

static double case_tolerance(const attn_case *c) {
    if (c->same_keys) return TOL_SAME_KEYS;
    return c->type == CT_TYPE_F32 ? TOL_F32 : TOL_F16;
}

/* The CPU backend's reference kv_store + attention on copies of the caches. */
static void run_cpu(ct_backend *cpu, case_data *d) {
    const shape_t *sh = &d->c.shape;
    const size_t n = (size_t)d->n_tok, nk = (size_t)sh->n_head_kv * sh->dk, nv = (size_t)sh->n_head_kv * sh->dv;
    uint8_t *k = malloc((size_t)d->n_cells * d->k_row), *v = malloc((size_t)d->n_cells * d->v_row);
    float *out = malloc(n * sh->n_head * sh->dv * sizeof(float));
    CHECK(k && v && out);
    if (k && v && out) {
        memcpy(k, d->k_img, (size_t)d->n_cells * d->k_row);
        memcpy(v, d->v_img, (size_t)d->n_cells * d->v_row);
        for (size_t i = 0; i < n * sh->n_head * sh->dv; i++) out[i] = NAN;
        const ct_tensor kc = {k, d->c.type, (int64_t)nk, d->n_cells, d->k_row, "k_cache"};
        const ct_tensor vc = {v, d->c.type, (int64_t)nv, d->n_cells, d->v_row, "v_cache"};
        const ct_tensor kn = {d->k_new, CT_TYPE_F32, (int64_t)nk, (int64_t)n, nk * sizeof(float), "k"};
        const ct_tensor vn = {d->v_new, CT_TYPE_F32, (int64_t)nv, (int64_t)n, nv * sizeof(float), "v"};
        const ct_tensor qt = {
            d->q, CT_TYPE_F32, (int64_t)sh->n_head * sh->dk, (int64_t)n, (size_t)sh->n_head * sh->dk * sizeof(float),
            "q"};
        const ct_tensor ot = {
            out,  CT_TYPE_F32, (int64_t)sh->n_head * sh->dv, (int64_t)n, (size_t)sh->n_head * sh->dv * sizeof(float),
            "out"};
        const ct_attn attn = case_attn(&d->c);
        CHECK_OK(cpu->reserve(cpu, (int64_t)sh->n_head * (sh->dk > sh->dv ? sh->dk : sh->dv), d->max_ctx));
        CHECK_OK(cpu->begin(cpu, &d->fb));
        cpu->kv_store(cpu, &kc, &vc, &kn, &vn);
        cpu->attention(cpu, &ot, &qt, &kc, &vc, &attn);
        CHECK_OK(cpu->end(cpu));
        char what[240];
        snprintf(what, sizeof what, "%s [cpu reference ops]", d->c.name);
        check_cache(what, k, d->k_want, d->n_cells, d->k_row);
        check_cache(what, v, d->v_want, d->n_cells, d->v_row);
        check_values(what, out, d->ref, d->n_tok, sh->n_head * sh->dv, TOL_CPU);
    }
    free(k);
    free(v);
    free(out);
}

static bool run_case(const attn_case *c, cudaStream_t stream, ct_backend *cpu, ct_test_rng *rng) {
    case_data d;
    gpu_case g;
    memset(&g, 0, sizeof g);
    bool ok = case_alloc(&d, c, 0, rng) && case_tokens(&d, rng);
    CHECK_MSG(ok, "%s: host allocation", c->name);
    if (ok)
        ok = gpu_alloc(&g, &d, d.max_ctx) && gpu_upload_cache(&g, &d) && gpu_upload_batch(&g, &d) &&
             gpu_enqueue(&g, &d, stream);
    if (ok) {
        cudaError_t err = cudaStreamSynchronize(stream);
        CHECK_MSG(err == cudaSuccess, "%s: %s", c->name, cudaGetErrorString(err));
        ok = err == cudaSuccess;
    }
    if (ok) {
        const shape_t *sh = &c->shape;
        float *out = malloc(g.out_bytes);
        uint8_t *k = malloc((size_t)d.n_cells * d.k_row), *v = malloc((size_t)d.n_cells * d.v_row);
        CHECK(out && k && v);
        if (out && k && v && cudaMemcpy(out, g.out, g.out_bytes, cudaMemcpyDeviceToHost) == cudaSuccess &&
            cudaMemcpy(k, g.k, (size_t)d.n_cells * d.k_row, cudaMemcpyDeviceToHost) == cudaSuccess &&
            cudaMemcpy(v, g.v, (size_t)d.n_cells * d.v_row, cudaMemcpyDeviceToHost) == cudaSuccess) {
            check_cache(c->name, k, d.k_want, d.n_cells, d.k_row);
            check_cache(c->name, v, d.v_want, d.n_cells, d.v_row);
            check_values(c->name, out, d.ref, d.n_tok, sh->n_head * sh->dv, case_tolerance(c));
        } else {
            CHECK_MSG(false, "%s: reading results back", c->name);
        }
        free(out);
        free(k);
        free(v);
        if (c->cpu_check && cpu) run_cpu(cpu, &d);
    }
    gpu_free(&g);
    case_free(&d);
    return ok;
}

/* ---- the case matrix ---------------------------------------------------------------------- */

static const shape_t kShapes[] = {
    {"mha h4 d64", 4, 4, 64, 64},       /* GPT-2 */
    {"gqa4 h8/2 d128", 8, 2, 128, 128}, /* Llama */
    {"gqa8 h8/1 d256", 8, 1, 256, 256}, /* Gemma 3 */
    {"gqa3 h9/3 d64", 9, 3, 64, 64},    /* SmolLM2 */
};
static const shape_t kOddShapes[] = {
    {"dk96 dv64 h4/2", 4, 2, 96, 64},   /* K and V dims differ (padded tile 128) */
    {"d40 h6/2", 6, 2, 40, 40},         /* a multiple of 8, not of 16 */
    {"gqa24 h24/1 d64", 24, 1, 64, 64}, /* more than 16 heads per group: row groups */
    {"d320 h2/1 (plain kernel)", 2, 1, 320, 320},
};

static void batch_prompt(attn_case *c, int n, int hist) {
    c->n_seq = 1;
    c->hist[0] = hist;
    c->n_new[0] = n;
}

/* 20 sequences, one token each, seeing 1..3000 positions (split boundaries, block edges) */
static void batch_decode(attn_case *c) {
    static const int hist[] = {0,   1,   2,   15,  16,  17,  63,   64,   65,   127,
                               128, 129, 255, 256, 511, 777, 1000, 1500, 2047, 2999};
    c->n_seq = (int)(sizeof hist / sizeof hist[0]);
    for (int s = 0; s < c->n_seq; s++) c->hist[s] = hist[s], c->n_new[s] = 1;
}

/* prompt chunks (new and continuing), a short run (speculative-style) and decode tokens */
static void batch_mixed(attn_case *c) {
    static const int hist[] = {0, 300, 50, 5, 0, 10, 130, 700, 1200, 20};
    static const int n_new[] = {100, 37, 20, 3, 1, 1, 1, 1, 1, 16};
    c->n_seq = (int)(sizeof hist / sizeof hist[0]);
    for (int s = 0; s < c->n_seq; s++) c->hist[s] = hist[s], c->n_new[s] = n_new[s];
}

static attn_case make_case(const shape_t *sh, const char *batch, int window, uint32_t type, int bs, bool same_keys,
                           bool round_robin) {
    attn_case c;
    memset(&c, 0, sizeof c);
    c.shape = *sh;
    c.window = window;
    c.type = type;
    c.block_size = bs;
    c.same_keys = same_keys;
    c.round_robin = round_robin;
    snprintf(c.name, sizeof c.name, "%s %s %s bs%d w%d%s%s", sh->name, type == CT_TYPE_F32 ? "f32" : "f16", batch, bs,
             window, same_keys ? " same-keys" : "", round_robin ? " interleaved" : "");
    return c;
}

static void run_matrix(cudaStream_t stream, ct_backend *cpu, ct_test_rng *rng) {
    for (size_t i = 0; i < sizeof kShapes / sizeof kShapes[0]; i++) {
        const shape_t *sh = &kShapes[i];
        const int prompts[] = {1, 7, 64, 200};
        for (int j = 0; j < 4; j++) {
            char name[32];
            snprintf(name, sizeof name, "prompt%d", prompts[j]);
            attn_case c = make_case(sh, name, 0, CT_TYPE_F16, j % 2 ? 32 : 16, false, false);
            batch_prompt(&c, prompts[j], 0);
            c.cpu_check = i == 0 && j == 3;
            run_case(&c, stream, cpu, rng);
        }
        attn_case c = make_case(sh, "chunk40+500", 0, CT_TYPE_F16, 16, false, false);
        batch_prompt(&c, 40, 500);
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "decode20", 0, CT_TYPE_F16, 32, false, false);
        batch_decode(&c);
        c.cpu_check = i == 0;
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "decode20", 512, CT_TYPE_F16, 16, false, false);
        batch_decode(&c);
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "decode20", 0, CT_TYPE_F16, 16, true, false);
        batch_decode(&c);
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "mixed", 0, CT_TYPE_F16, 16, false, false);
        batch_mixed(&c);
        c.cpu_check = i == 0;
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "mixed", 0, CT_TYPE_F16, 32, false, true);
        batch_mixed(&c);
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "mixed", 16, CT_TYPE_F16, 16, false, false);
        batch_mixed(&c);
        c.cpu_check = i == 1;
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "mixed", 0, CT_TYPE_F16, 32, true, false);
        batch_mixed(&c);
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "mixed", 16, CT_TYPE_F16, 16, true, false);
        batch_mixed(&c);
        run_case(&c, stream, cpu, rng);
    }
    /* odd head dims and groups */
    for (size_t i = 0; i < sizeof kOddShapes / sizeof kOddShapes[0]; i++) {
        const shape_t *sh = &kOddShapes[i];
        attn_case c = make_case(sh, "mixed", 0, CT_TYPE_F16, 16, false, false);
        batch_mixed(&c);
        c.cpu_check = true;
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "decode20", 0, CT_TYPE_F16, 32, false, false);
        batch_decode(&c);
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "mixed", 0, CT_TYPE_F16, 16, true, false);
        batch_mixed(&c);
        run_case(&c, stream, cpu, rng);
    }
    /* F32 caches, other block layouts */
    {
        const shape_t *sh = &kShapes[1];
        attn_case c = make_case(sh, "mixed", 0, CT_TYPE_F32, 16, false, false);
        batch_mixed(&c);
        c.cpu_check = true;
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "decode20", 0, CT_TYPE_F32, 32, false, false);
        batch_decode(&c);
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "mixed", 16, CT_TYPE_F32, 16, true, false);
        batch_mixed(&c);
        run_case(&c, stream, cpu, rng);
        c = make_case(sh, "mixed", 0, CT_TYPE_F16, 24, false, false); /* block size not a power of two */
        batch_mixed(&c);
        run_case(&c, stream, cpu, rng);
        c = make_case(&kShapes[0], "decode20", 0, CT_TYPE_F16, 4096, true, false); /* one block per sequence */
        batch_decode(&c);
        run_case(&c, stream, cpu, rng);
    }
}

/* ---- CUDA graph replay: a decode step captured once, replayed for the next step ---------- */

static void test_graph_replay(cudaStream_t stream, ct_test_rng *rng) {
    static const int hist[] = {130, 300, 511, 700, 900, 1000, 47, 3};
    const shape_t sh = {"gqa4 h8/2 d128", 8, 2, 128, 128};
    attn_case c = make_case(&sh, "graph decode8", 0, CT_TYPE_F16, 16, false, false);
    c.n_seq = 8;
    for (int s = 0; s < c.n_seq; s++) c.hist[s] = hist[s], c.n_new[s] = 1;
    case_data d;
    gpu_case g;
    memset(&g, 0, sizeof g);
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    bool ok = case_alloc(&d, &c, 1, rng) && case_tokens(&d, rng);
    CHECK(ok);
    if (ok) ok = gpu_alloc(&g, &d, 1024) && gpu_upload_cache(&g, &d) && gpu_upload_batch(&g, &d);
    if (ok) {
        ok = cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal) == cudaSuccess;
        CHECK_MSG(ok, "begin capture");
    }
    if (ok) {
        bool enq = gpu_enqueue(&g, &d, stream);
        cudaError_t err = cudaStreamEndCapture(stream, &graph);
        CHECK_MSG(err == cudaSuccess, "end capture: %s", cudaGetErrorString(err));
        ok = enq && err == cudaSuccess && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
        CHECK_MSG(ok, "graph capture of kv_store + attention");
    }
    const uint64_t key0 = g.key;
    for (int step = 0; ok && step < 2; step++) {
        if (step == 1) {
            /* next decode step: the caches as the first step left them, one position further */
            memcpy(d.k_img, d.k_want, (size_t)d.n_cells * d.k_row);
            memcpy(d.v_img, d.v_want, (size_t)d.n_cells * d.v_row);
            for (int s = 0; s < c.n_seq; s++) d.c.hist[s]++;
            ok = case_tokens(&d, rng) && gpu_upload_batch(&g, &d);
            CHECK_MSG(g.key == key0, "same shape key for the next decode step");
            if (!ok || g.key != key0) break;
        }
        ok = cudaGraphLaunch(exec, stream) == cudaSuccess && cudaStreamSynchronize(stream) == cudaSuccess;
        CHECK_MSG(ok, "graph launch, step %d", step);
        if (!ok) break;
        float *out = malloc(g.out_bytes);
        uint8_t *k = malloc((size_t)d.n_cells * d.k_row);
        CHECK(out && k);
        if (out && k && cudaMemcpy(out, g.out, g.out_bytes, cudaMemcpyDeviceToHost) == cudaSuccess &&
            cudaMemcpy(k, g.k, (size_t)d.n_cells * d.k_row, cudaMemcpyDeviceToHost) == cudaSuccess) {
            char what[200];
            snprintf(what, sizeof what, "%s, replay %d", c.name, step);
            check_cache(what, k, d.k_want, d.n_cells, d.k_row);
            check_values(what, out, d.ref, d.n_tok, sh.n_head * sh.dv, TOL_F16);
        }
        free(out);
        free(k);
    }
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    gpu_free(&g);
    case_free(&d);
}

/* ---- the plan on the host (no GPU needed) ------------------------------------------------ */

static ct_status plan_of(int n, const int32_t *pos, const int32_t *seq, int max_ctx, size_t cap, uint8_t *meta,
                         size_t *used, uint64_t *key) {
    int64_t cell[256] = {0};
    int32_t tok[256] = {0};
    ct_forward_batch fb = {.n_tokens = n, .token = tok, .pos = pos, .seq = seq, .kv_cell = cell};
    return ct_cuda_attention_plan(&fb, max_ctx, meta, cap, used, key);
}

static void test_plan(void) {
    /* seq 0: a run of 3 (decode items); seq 1: 40 tokens from 0 (one tile); seq 2: 100 tokens
     * from 200 (tiles of 64 and 36); seq 3: one token at 4999 */
    int32_t pos[144], seq[144];
    int n = 0;
    for (int i = 0; i < 3; i++) pos[n] = 10 + i, seq[n++] = 0;
    for (int i = 0; i < 40; i++) pos[n] = i, seq[n++] = 1;
    for (int i = 0; i < 100; i++) pos[n] = 200 + i, seq[n++] = 2;
    pos[n] = 4999, seq[n++] = 3;
    const size_t cap = ct_cuda_attention_meta_capacity(n, 5000);
    uint8_t *meta = malloc(cap);
    CHECK(meta != NULL);
    if (!meta) return;
    size_t used = 0;
    uint64_t key = 0;
    CHECK_OK(plan_of(n, pos, seq, 5000, cap, meta, &used, &key));
    CHECK(used == ct_attn_meta_bytes(n) && used <= cap);
    const int32_t *dec = (const int32_t *)meta;
    const ct_attn_tile *tiles = (const ct_attn_tile *)(meta + ct_attn_tiles_offset(n));
    CHECK(dec[0] == 0 && dec[1] == 1 && dec[2] == 2 && dec[3] == n - 1);
    /* tiles longest first: seq 2's second (max 299), its first (263), seq 1's (39) */
    CHECK(tiles[0].first == 43 + 64 && tiles[0].count == 36 && tiles[0].max_pos == 299 && tiles[0].seq == 2);
    CHECK(tiles[1].first == 43 && tiles[1].count == 64 && tiles[1].max_pos == 263 && tiles[1].seq == 2);
    CHECK(tiles[2].first == 3 && tiles[2].count == 40 && tiles[2].max_pos == 39 && tiles[2].seq == 1);
    CHECK((key & 0xfffff) == (uint64_t)n); /* tokens */
    CHECK(((key >> 20) & 0xfffff) == 4);   /* decode tokens */
    CHECK(((key >> 40) & 0x3ffff) == 3);   /* tiles */
    CHECK((key >> 58) == 13);              /* 5000 positions: bucket 2^13 */

    /* decode batches: equal keys within a context bucket, different across */
    int32_t dpos[8], dseq[8];
    uint64_t k700, k1000, k1100, k7;
    for (int s = 0; s < 8; s++) dseq[s] = s, dpos[s] = 100 + s;
    dpos[5] = 699;
    CHECK_OK(plan_of(8, dpos, dseq, 5000, cap, meta, &used, &k700));
    dpos[5] = 999;
    CHECK_OK(plan_of(8, dpos, dseq, 5000, cap, meta, &used, &k1000));
    dpos[5] = 1099;
    CHECK_OK(plan_of(8, dpos, dseq, 5000, cap, meta, &used, &k1100));
    CHECK_OK(plan_of(7, dpos, dseq, 5000, cap, meta, &used, &k7));
    CHECK(k700 == k1000);
    CHECK(k1000 != k1100);
    CHECK(k7 != k1100);
    /* no scratch needed while no decode token sees more than CT_ATTN_MIN_SPLIT_KEYS positions */
    dpos[5] = 100;
    CHECK_OK(plan_of(8, dpos, dseq, 128, ct_cuda_attention_meta_capacity(8, 128), meta, &used, &k7));

    /* misuse is reported, not run */
    CHECK(plan_of(n, pos, seq, 5000, ct_attn_meta_bytes(n), meta, &used, &key) == CT_ERR_INTERNAL);
    CHECK(plan_of(n, pos, seq, 100, cap, meta, &used, &key) == CT_ERR_INTERNAL);
    pos[5] = -1;
    CHECK(plan_of(n, pos, seq, 5000, cap, meta, &used, &key) == CT_ERR_INVALID_ARGUMENT);
    free(meta);
}

/* kv_store alone on awkward values: overflow to inf, subnormals, rounding ties, negative zero;
 * rows of 48 values (4 at a time) and of 46 (one at a time: the last two cache values stay NaN) */
static void test_kv_store_values(cudaStream_t stream) {
    const float special[] = {65504.f,
                             65520.f,
                             1e6f,
                             -1e6f,
                             6.0e-8f,
                             3.0e-8f,
                             2.9e-8f,
                             1e-5f,
                             -0.f,
                             1.00048828125f /* tie: 1 + 2^-11, stays 1 */,
                             1.00146484375f /* tie, rounds up */,
                             0.1f,
                             -2.5f,
                             3.14159f,
                             1e-40f,
                             7.0f};
    const int n_val = (int)(sizeof special / sizeof special[0]);
    enum { W = 48 };
    float row[2][W];
    for (int i = 0; i < W; i++) row[0][i] = special[i % n_val] * (i >= 2 * n_val ? -1.f : 1.f);
    for (int i = 0; i < W; i++) row[1][i] = special[(i * 7) % n_val];
    const int64_t cells[2] = {2, 0};
    void *d_cache = NULL, *d_rows = NULL, *d_cells = NULL;
    if (cudaMalloc(&d_cache, 4 * W * sizeof(uint16_t)) != cudaSuccess ||
        cudaMalloc(&d_rows, sizeof row) != cudaSuccess || cudaMalloc(&d_cells, sizeof cells) != cudaSuccess) {
        CHECK_MSG(false, "kv_store values: cudaMalloc");
    } else {
        for (int width = W; width >= W - 2; width -= 2) {
            uint16_t init[4][W], want[4][W], got[4][W];
            for (int i = 0; i < 4 * W; i++) init[i / W][i % W] = want[i / W][i % W] = 0x7e00;
            for (int i = 0; i < width; i++)
                want[2][i] = ct_fp32_to_fp16(row[0][i]), want[0][i] = ct_fp32_to_fp16(row[1][i]);
            CHECK(cudaMemcpy(d_cache, init, sizeof init, cudaMemcpyHostToDevice) == cudaSuccess);
            CHECK(cudaMemcpy(d_rows, row, sizeof row, cudaMemcpyHostToDevice) == cudaSuccess);
            CHECK(cudaMemcpy(d_cells, cells, sizeof cells, cudaMemcpyHostToDevice) == cudaSuccess);
            ct_forward_batch fb = {.n_tokens = 2};
            ct_cuda_batch cb = {.n_tokens = 2, .kv_cell = d_cells, .block_size = 16, .host = &fb};
            const ct_tensor cache = {d_cache, CT_TYPE_F16, width, 4, W * 2, "cache"};
            const ct_tensor rows = {d_rows, CT_TYPE_F32, width, 2, W * 4, "rows"};
            /* the same rows to both caches: keys and values land in one buffer, identical */
            CHECK(ct_cuda_kv_store(stream, &cb, &cache, &cache, &rows, &rows) == cudaSuccess);
            CHECK(cudaStreamSynchronize(stream) == cudaSuccess);
            CHECK(cudaMemcpy(got, d_cache, sizeof got, cudaMemcpyDeviceToHost) == cudaSuccess);
            int bad = 0;
            for (int i = 0; i < 4 * W; i++)
                if (got[i / W][i % W] != want[i / W][i % W] && bad++ < 4)
                    fprintf(stderr, "kv_store width %d: cell %d value %d: got 0x%04x want 0x%04x\n", width, i / W,
                            i % W, got[i / W][i % W], want[i / W][i % W]);
            CHECK_MSG(bad == 0, "kv_store F16, rows of %d: %d values differ from ct_fp32_to_fp16", width, bad);
        }
    }
    cudaFree(d_cache);
    cudaFree(d_rows);
    cudaFree(d_cells);
}

int main(void) {
    test_plan();
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        printf("test_cuda_attention: plan: %d checks, %d failed\n", ct_test_checks, ct_test_failures);
        if (ct_test_failures) return 1;
        TEST_SKIP("no CUDA device");
    }
    setenv("CTORCH_CPU_LEVEL", "reference", 1);
    ct_backend *cpu = NULL;
    CHECK_OK(ct_backend_create("cpu", 1, &cpu));
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream) == cudaSuccess);
    ct_test_rng rng = {0x5eed1234abcdULL};
    test_kv_store_values(stream);
    run_matrix(stream, cpu, &rng);
    test_graph_replay(stream, &rng);
    cudaStreamDestroy(stream);
    ct_backend_destroy(cpu);
    return ct_test_finish("test_cuda_attention");
}

#else

int main(void) { TEST_SKIP("built without CUDA"); }

#endif
