/* The CUDA row-wise and element-wise ops (cuda_elementwise.h) against the CPU reference
 * backend (CTORCH_CPU_LEVEL=reference) on random data: odd widths, several row counts, strided
 * and misaligned views, in-place and aliased outputs. Outputs are poisoned with NaN first and
 * every float of each allocation is checked: the tensor's elements against the reference
 * within the op's tolerance, the padding between rows bit for bit (an op must not write it).
 * Argmax is checked against a loop in this file. Skips without a CUDA device. */
#define _POSIX_C_SOURCE 200112L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#ifndef CTORCH_HAVE_CUDA
int main(void) { TEST_SKIP("built without CUDA (configure with -DCTORCH_CUDA=ON)"); }
#else

#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "backend/cuda/cuda_elementwise.h"
#include "backend/cuda/cuda_mmv.h"
#include "quant/fp16.h"

static ct_test_rng rng = {0x2545f4914f6cdd1dULL};
static ct_backend *cpu;

#define CUDA_CHECK(expr)                                                                     \
    do {                                                                                     \
        cudaError_t ct_cuda_err_ = (expr);                                                   \
        CHECK_MSG(ct_cuda_err_ == cudaSuccess, "%s", cudaGetErrorString(ct_cuda_err_)); \
    } while (0)

/* ---- a tensor in host memory with a device twin of the same layout ------------------ */

typedef struct {
    ct_tensor host, dev; /* same type, shape and row_bytes */
    uint8_t *hbase;      /* the allocations, `offset` bytes before data */
    void *dbase;
    size_t bytes, offset;
} mat;

static size_t elem_size(uint32_t type) { return type == CT_TYPE_F16 ? 2 : 4; }

/* row_bytes 0: rows back to back; offset: bytes before the first row (misaligns data) */
static mat mat_new(uint32_t type, int64_t ne0, int64_t ne1, size_t row_bytes, size_t offset, const char *name) {
    mat m;
    memset(&m, 0, sizeof m);
    if (!row_bytes) row_bytes = (size_t)ne0 * elem_size(type);
    m.offset = offset;
    m.bytes = offset + (size_t)ne1 * row_bytes;
    if (m.bytes == 0) m.bytes = 4;
    m.hbase = malloc(m.bytes);
    CHECK(m.hbase != NULL);
    CUDA_CHECK(cudaMalloc(&m.dbase, m.bytes));
    if (!m.hbase || !m.dbase) {
        fprintf(stderr, "out of memory for %s\n", name);
        exit(1);
    }
    m.host = (ct_tensor){m.hbase + offset, type, ne0, ne1, row_bytes, name};
    m.dev = m.host;
    m.dev.data = (uint8_t *)m.dbase + offset;
    return m;
}

static void mat_free(mat *m) {
    free(m->hbase);
    CUDA_CHECK(cudaFree(m->dbase));
    memset(m, 0, sizeof *m);
}

static void mat_upload(const mat *m) { CUDA_CHECK(cudaMemcpy(m->dbase, m->hbase, m->bytes, cudaMemcpyHostToDevice)); }

/* every slot of the allocation, padding included: shift + scale * uniform(-1, 1), never 0 */
static void mat_fill(mat *m, float scale, float shift) {
    size_t es = elem_size(m->host.type);
    for (size_t b = 0; b + es <= m->bytes; b += es) {
        float v = shift + scale * ct_test_rng_uniform(&rng);
        if (v == 0.0f) v = 0.5f * scale;
        if (m->host.type == CT_TYPE_F16) {
            uint16_t h = ct_fp32_to_fp16(v);
            memcpy(m->hbase + b, &h, 2);
        } else {
            memcpy(m->hbase + b, &v, 4);
        }
    }
    mat_upload(m);
}

/* NaN in every byte of host and device (outputs) */
static void mat_poison(mat *m) {
    memset(m->hbase, 0xff, m->bytes);
    CUDA_CHECK(cudaMemset(m->dbase, 0xff, m->bytes));
}

static float *row_of(const ct_tensor *t, int64_t r) { return (float *)((uint8_t *)t->data + (size_t)r * t->row_bytes); }

/* the host tensor's elements, densely: [ne1][ne0] */
static float *dense_copy(const mat *m) {
    size_t n = (size_t)(m->host.ne0 * m->host.ne1);
    float *d = malloc((n ? n : 1) * sizeof(float));
    CHECK(d != NULL);
    if (!d) exit(1);
    for (int64_t r = 0; r < m->host.ne1; r++) memcpy(d + r * m->host.ne0, row_of(&m->host, r), (size_t)m->host.ne0 * 4);
    return d;
}

static double *tol_new(const mat *m) {
    size_t n = (size_t)(m->host.ne0 * m->host.ne1);
    double *t = calloc(n ? n : 1, sizeof(double));
    CHECK(t != NULL);
    if (!t) exit(1);
    return t;
}

/* tol[i] = rel * |reference[i]| */
static double *tol_relative(const mat *m, double rel) {
    double *t = tol_new(m);
    for (int64_t r = 0; r < m->host.ne1; r++)
        for (int64_t j = 0; j < m->host.ne0; j++) t[r * m->host.ne0 + j] = rel * fabs(row_of(&m->host, r)[j]);
    return t;
}

/* The device allocation against the host one (the reference): the tensor's elements within
 * tol (NULL: exact), every other float bit for bit. Waits for the device first. */
static void mat_expect(const mat *m, const double *tol, const char *what) {
    CUDA_CHECK(cudaDeviceSynchronize());
    uint8_t *got = malloc(m->bytes);
    CHECK(got != NULL);
    if (!got) return;
    CUDA_CHECK(cudaMemcpy(got, m->dbase, m->bytes, cudaMemcpyDeviceToHost));
    const ct_tensor *t = &m->host;
    int64_t bad = 0, checked = 0;
    double max_err = 0;
    for (size_t b = 0; b + 4 <= m->bytes; b += 4) {
        int64_t r = -1, j = -1;
        if (b >= m->offset) {
            size_t rel = b - m->offset;
            r = (int64_t)(rel / t->row_bytes);
            j = (int64_t)(rel % t->row_bytes) / 4;
            if (r >= t->ne1 || j >= t->ne0) r = -1;
        }
        float g, e;
        memcpy(&g, got + b, 4);
        memcpy(&e, m->hbase + b, 4);
        bool ok = memcmp(&g, &e, 4) == 0;
        double err = 0;
        if (!ok && r >= 0) {
            err = fabs((double)g - (double)e);
            ok = err <= (tol ? tol[r * t->ne0 + j] : 0.0);
            if (err > max_err || err != err) max_err = err;
        }
        checked += r >= 0;
        if (!ok && bad++ < 5)
            fprintf(stderr, "  %s: %s [%lld][%lld] gpu %.9g reference %.9g tolerance %g\n", what,
                    r >= 0 ? "element" : "padding", (long long)r, (long long)(r >= 0 ? j : (int64_t)b),
                    (double)g, (double)e, tol && r >= 0 ? tol[r * t->ne0 + j] : 0.0);
    }
    CHECK_MSG(bad == 0, "%s: %lld of %zu floats wrong (%lld elements), max element error %g", what, (long long)bad,
              m->bytes / 4, (long long)checked, max_err);
    free(got);
}

/* ---- the batch, on both sides ------------------------------------------------------- */

#define MAX_TOKENS 64

typedef struct {
    ct_forward_batch host;
    ct_cuda_batch dev;
    int32_t token[MAX_TOKENS], pos[MAX_TOKENS], seq[MAX_TOKENS], out_rows[MAX_TOKENS];
    int64_t kv_cell[MAX_TOKENS];
    int32_t *d_pos, *d_out_rows;
} test_batch;

static void batch_init(test_batch *b, int32_t n_tokens, const int32_t *pos, int32_t n_out, const int32_t *out_rows) {
    memset(b, 0, sizeof *b);
    for (int32_t t = 0; t < n_tokens; t++) b->pos[t] = pos[t];
    for (int32_t i = 0; i < n_out; i++) b->out_rows[i] = out_rows[i];
    b->host = (ct_forward_batch){n_tokens, b->token, b->pos, b->seq, b->kv_cell, NULL, n_out, b->out_rows};
    CUDA_CHECK(cudaMalloc((void **)&b->d_pos, MAX_TOKENS * sizeof(int32_t)));
    CUDA_CHECK(cudaMalloc((void **)&b->d_out_rows, MAX_TOKENS * sizeof(int32_t)));
    CUDA_CHECK(cudaMemcpy(b->d_pos, b->pos, sizeof b->pos, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(b->d_out_rows, b->out_rows, sizeof b->out_rows, cudaMemcpyHostToDevice));
    b->dev.n_tokens = n_tokens;
    b->dev.n_out = n_out;
    b->dev.pos = b->d_pos;
    b->dev.out_rows = b->d_out_rows;
    b->dev.host = &b->host;
    b->dev.max_ctx = 1;
    for (int32_t t = 0; t < n_tokens; t++)
        if (pos[t] + 1 > b->dev.max_ctx) b->dev.max_ctx = pos[t] + 1;
}

static void batch_free(test_batch *b) {
    CUDA_CHECK(cudaFree(b->d_pos));
    CUDA_CHECK(cudaFree(b->d_out_rows));
}

/* ---- norms ------------------------------------------------------------------------------ */

typedef struct {
    int64_t ne0, ne1;
    int64_t pad;    /* floats between rows */
    int64_t offset; /* floats before the first row */
    bool weight, bias, in_place;
    int64_t head_dim; /* >0: the op runs on the rows seen as heads (q/k norm), in place */
    float eps;
} norm_case;

static const norm_case norm_cases[] = {
    {1, 1, 0, 0, true, true, false, 0, 1e-5f},     {1, 5, 0, 0, false, false, false, 0, 1e-5f},
    {31, 3, 0, 0, true, true, false, 0, 1e-6f},    {32, 17, 0, 0, true, true, false, 0, 1e-5f},
    {576, 4, 0, 0, true, true, false, 0, 1e-5f},   {576, 3, 1, 0, true, false, false, 0, 1e-2f},
    {576, 2, 0, 1, true, true, false, 0, 1e-5f},   {768, 5, 4, 0, false, true, true, 0, 1e-5f},
    {4096, 2, 0, 0, true, true, false, 0, 1e-5f},  {4096, 3, 4, 0, true, true, true, 0, 1e-6f},
    {4097, 3, 0, 0, true, true, false, 0, 1e-5f},  {8192, 1, 0, 0, false, false, false, 0, 1e-5f},
    {20000, 2, 0, 0, true, true, false, 0, 1e-5f}, {2048, 4, 0, 0, true, false, true, 256, 1e-6f},
    {1024, 7, 0, 0, false, false, true, 64, 1e-6f}, {640, 3, 0, 0, true, false, true, 80, 1e-6f},
};

/* ct_cuda_rmsnorm_q16 (the norm that also writes the GEMV's Q16 input) against ct_cuda_rmsnorm
 * followed by ct_cuda_mmv_quantize of its output: both outputs bit for bit, padding included
 * (the fused launch where slices are whole 32-blocks, a second launch elsewhere). */
static void check_norm_q16(const norm_case *c, const mat *in, const ct_tensor *dw, const char *what) {
    mat a = mat_new(CT_TYPE_F32, c->ne0, c->ne1, in->dev.row_bytes, in->offset, "a");
    mat b = mat_new(CT_TYPE_F32, c->ne0, c->ne1, in->dev.row_bytes, in->offset, "b");
    if (c->in_place) { /* each runs in place on its own copy of the input */
        CUDA_CHECK(cudaMemcpy(a.dbase, in->dbase, in->bytes, cudaMemcpyDeviceToDevice));
        CUDA_CHECK(cudaMemcpy(b.dbase, in->dbase, in->bytes, cudaMemcpyDeviceToDevice));
    } else {
        mat_poison(&a);
        mat_poison(&b);
    }
    const size_t bytes = ct_cuda_mmv_act_bytes(c->ne1, c->ne0);
    void *qa, *qb;
    CUDA_CHECK(cudaMalloc(&qa, bytes));
    CUDA_CHECK(cudaMalloc(&qb, bytes));
    CUDA_CHECK(cudaMemset(qa, 0x55, bytes));
    CUDA_CHECK(cudaMemset(qb, 0xAA, bytes));
    CUDA_CHECK(ct_cuda_rmsnorm(0, &a.dev, c->in_place ? &a.dev : &in->dev, dw, c->eps));
    CUDA_CHECK(ct_cuda_mmv_quantize(0, &a.dev, qa, bytes));
    CHECK(ct_cuda_rmsnorm_q16(0, &b.dev, c->in_place ? &b.dev : &in->dev, dw, c->eps, qb, bytes - 1) ==
          cudaErrorInvalidValue);
    CUDA_CHECK(ct_cuda_rmsnorm_q16(0, &b.dev, c->in_place ? &b.dev : &in->dev, dw, c->eps, qb, bytes));
    CUDA_CHECK(cudaDeviceSynchronize());
    uint8_t *ha = malloc(a.bytes), *hb = malloc(b.bytes), *hqa = malloc(bytes), *hqb = malloc(bytes);
    CHECK(ha && hb && hqa && hqb);
    if (ha && hb && hqa && hqb) {
        CUDA_CHECK(cudaMemcpy(ha, a.dbase, a.bytes, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(hb, b.dbase, b.bytes, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(hqa, qa, bytes, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(hqb, qb, bytes, cudaMemcpyDeviceToHost));
        CHECK_MSG(memcmp(ha, hb, a.bytes) == 0, "%s: rmsnorm_q16's output differs from rmsnorm's", what);
        CHECK_MSG(memcmp(hqa, hqb, bytes) == 0, "%s: rmsnorm_q16's Q16 rows differ from the quantizer's", what);
    }
    free(ha);
    free(hb);
    free(hqa);
    free(hqb);
    CUDA_CHECK(cudaFree(qa));
    CUDA_CHECK(cudaFree(qb));
    mat_free(&a);
    mat_free(&b);
}

static void test_norm(const norm_case *c, bool layer) {
    char what[160];
    snprintf(what, sizeof what, "%s ne0=%lld ne1=%lld pad=%lld off=%lld w=%d b=%d inplace=%d heads=%lld", layer ? "layernorm" : "rmsnorm",
             (long long)c->ne0, (long long)c->ne1, (long long)c->pad, (long long)c->offset, c->weight, c->bias,
             c->in_place, (long long)c->head_dim);
    size_t rb = (size_t)(c->ne0 + c->pad) * 4, off = (size_t)c->offset * 4;
    int64_t nw = c->head_dim ? c->head_dim : c->ne0;
    mat in = mat_new(CT_TYPE_F32, c->ne0, c->ne1, rb, off, "in");
    mat out = c->in_place ? in : mat_new(CT_TYPE_F32, c->ne0, c->ne1, rb, off, "out");
    mat w = mat_new(CT_TYPE_F32, nw, 1, 0, 0, "weight"), b = mat_new(CT_TYPE_F32, nw, 1, 0, 0, "bias");
    /* rows of different scales and (for layernorm) a mean away from zero */
    mat_fill(&in, 1.0f, 0.0f);
    for (int64_t r = 0; r < c->ne1; r++) {
        float s = (r % 3 == 0) ? 1.0f : (r % 3 == 1) ? 37.0f : 2e-3f, shift = layer ? 0.7f * s : 0.0f;
        for (int64_t j = 0; j < c->ne0; j++) row_of(&in.host, r)[j] = row_of(&in.host, r)[j] * s + shift;
    }
    mat_upload(&in);
    mat_fill(&w, 1.0f, 1.0f);
    mat_fill(&b, 0.5f, 0.0f);
    if (!c->in_place) mat_poison(&out);

    ct_tensor hi = in.host, di = in.dev, ho = out.host, dout = out.dev;
    if (c->head_dim) {
        hi = ct_tensor_heads(hi, c->head_dim), di = ct_tensor_heads(di, c->head_dim);
        ho = ct_tensor_heads(ho, c->head_dim), dout = ct_tensor_heads(dout, c->head_dim);
    }
    const ct_tensor *hw = c->weight ? &w.host : NULL, *dw = c->weight ? &w.dev : NULL;
    const ct_tensor *hb = c->bias ? &b.host : NULL, *db = c->bias ? &b.dev : NULL;
    if (!layer && !c->head_dim && c->ne0 % 32 == 0 && rb % 16 == 0 && off % 16 == 0) check_norm_q16(c, &in, dw, what);
    if (layer) {
        cpu->layernorm(cpu, &ho, &hi, hw, hb, c->eps);
        CUDA_CHECK(ct_cuda_layernorm(0, &dout, &di, dw, db, c->eps));
    } else {
        cpu->rmsnorm(cpu, &ho, &hi, hw, c->eps);
        CUDA_CHECK(ct_cuda_rmsnorm(0, &dout, &di, dw, c->eps));
    }
    /* Both sides sum in double; only the order differs, so the float scale factor comes out
     * the same but for a rare last-bit flip, and then each output is the same float product
     * (+ bias). 1e-6 relative (about 8 float ulps) allows that flip; layernorm's bias add can
     * cancel, so its bound is relative to |out| + |bias|. Any formula error (eps placement,
     * n vs n-1, a float sum of 20000 squares) is far larger. */
    double *tol = tol_relative(&out, 1e-6);
    if (layer && c->bias)
        for (int64_t r = 0; r < c->ne1; r++)
            for (int64_t j = 0; j < c->ne0; j++)
                tol[r * c->ne0 + j] += 1e-6 * fabs(((float *)b.host.data)[c->head_dim ? j % c->head_dim : j]);
    mat_expect(&out, tol, what);
    free(tol);
    if (!c->in_place) mat_free(&out);
    mat_free(&in);
    mat_free(&w);
    mat_free(&b);
}

/* ---- rope ------------------------------------------------------------------------------- */

typedef struct {
    ct_rope_style style;
    int32_t head_dim, n_dims, n_heads, n_tokens;
    float base, scale;
    bool factors;
    bool heads_layout; /* GPU sees [tokens * heads][head_dim] */
    int64_t pad_heads; /* a strided view: rows carry this many more heads (fused qkv) */
    int64_t offset_heads;
    int32_t max_pos;
} rope_case;

static const rope_case rope_cases[] = {
    {CT_ROPE_NORM, 64, 64, 4, 3, 10000.0f, 1.0f, false, false, 0, 0, 2048},
    {CT_ROPE_NEOX, 128, 128, 5, 7, 1e6f, 1.0f, false, false, 0, 0, 131072},
    {CT_ROPE_NEOX, 256, 256, 4, 2, 1e6f, 0.125f, false, true, 0, 0, 32768},
    {CT_ROPE_NORM, 256, 256, 3, 5, 10000.0f, 1.0f, false, true, 0, 0, 8192},
    {CT_ROPE_NORM, 128, 64, 6, 5, 500000.0f, 1.0f, true, false, 4, 6, 100000},
    {CT_ROPE_NORM, 128, 128, 8, 4, 500000.0f, 1.0f, true, false, 16, 0, 100000},
    {CT_ROPE_NEOX, 80, 32, 3, 4, 10000.0f, 0.5f, false, false, 0, 0, 4096},
    {CT_ROPE_NEOX, 512, 512, 2, 3, 10000.0f, 1.0f, true, false, 0, 0, 65536},
    {CT_ROPE_NORM, 2, 2, 1, 1, 10000.0f, 1.0f, false, false, 0, 0, 10},
    {CT_ROPE_NEOX, 128, 128, 32, 1, 10000.0f, 1.0f, false, false, 0, 0, 4000},
    {CT_ROPE_NEOX, 64, 64, 9, 64, 100000.0f, 1.0f, false, true, 0, 0, 1000000},
    {CT_ROPE_NEOX, 64, 60, 7, 6, 10000.0f, 1.0f, false, false, 1, 1, 500},
};

static void test_rope(const rope_case *c) {
    char what[200];
    snprintf(what, sizeof what, "rope %s hd=%d nd=%d heads=%d tokens=%d base=%g scale=%g ff=%d headrows=%d pad=%lld off=%lld",
             c->style == CT_ROPE_NORM ? "norm" : "neox", c->head_dim, c->n_dims, c->n_heads, c->n_tokens,
             (double)c->base, (double)c->scale, c->factors, c->heads_layout, (long long)c->pad_heads,
             (long long)c->offset_heads);
    int32_t pos[MAX_TOKENS];
    for (int32_t t = 0; t < c->n_tokens; t++) pos[t] = (int32_t)(ct_test_rng_next(&rng) % (uint64_t)c->max_pos);
    pos[0] = c->n_tokens > 1 ? 0 : pos[0];
    if (c->n_tokens > 2) pos[c->n_tokens - 1] = c->max_pos - 1;
    test_batch batch;
    batch_init(&batch, c->n_tokens, pos, 0, NULL);

    int64_t ne0 = (int64_t)c->n_heads * c->head_dim;
    size_t rb = (size_t)(ne0 + c->pad_heads * c->head_dim) * 4, off = (size_t)(c->offset_heads * c->head_dim) * 4;
    mat x = mat_new(CT_TYPE_F32, ne0, c->n_tokens, rb, off, "x");
    mat_fill(&x, 1.0f, 0.0f);
    mat ff = mat_new(CT_TYPE_F32, c->n_dims / 2, 1, 0, 0, "rope_freqs");
    mat_fill(&ff, 3.5f, 4.5f); /* divisors in [1, 8], like Llama 3.1's */
    float *before = dense_copy(&x);

    ct_rope hrope = {c->style, c->head_dim, c->n_dims, c->base, c->scale, c->factors ? &ff.host : NULL};
    ct_rope drope = hrope;
    drope.freq_factors = c->factors ? &ff.dev : NULL;
    CHECK_OK(cpu->begin(cpu, &batch.host));
    cpu->rope(cpu, &x.host, &hrope);
    CHECK_OK(cpu->end(cpu));
    ct_tensor dx = x.dev;
    if (c->heads_layout) dx = ct_tensor_heads(dx, c->head_dim);
    CUDA_CHECK(ct_cuda_rope(0, &batch.dev, &dx, &drope));

    /* Same double angle, same float rotation without fused multiply-add: the only possible
     * difference is a double cos/sin whose last bit differs and flips the float rounding,
     * one float ulp of c or s, i.e. about 6e-8 times the head's largest input. 2e-6 of it
     * leaves room and still catches a float angle (1e-4 at these positions) or an off-by-one
     * position or pairing. */
    double *tol = tol_new(&x);
    for (int64_t t = 0; t < c->n_tokens; t++)
        for (int64_t h = 0; h < c->n_heads; h++) {
            double m = 0;
            for (int64_t j = 0; j < c->head_dim; j++) {
                double v = fabs(before[t * ne0 + h * c->head_dim + j]);
                if (v > m) m = v;
            }
            for (int64_t j = 0; j < c->head_dim; j++) tol[t * ne0 + h * c->head_dim + j] = 2e-6 * m;
        }
    mat_expect(&x, tol, what);
    free(tol);
    free(before);
    mat_free(&x);
    mat_free(&ff);
    batch_free(&batch);
}

/* ---- rope + KV store, fused ---------------------------------------------------------------- */

typedef struct {
    ct_rope_style style;
    int32_t head_dim, n_dims, q_heads, kv_heads, n_tokens;
    bool f32_cache;
    bool one_buffer; /* q, k, v as views of one fused qkv row, as the model has them */
} rope_store_case;

static const rope_store_case rope_store_cases[] = {
    {CT_ROPE_NORM, 128, 128, 32, 32, 1, false, true},  /* Llama-2-7B decode */
    {CT_ROPE_NEOX, 64, 64, 9, 3, 1, false, true},      /* SmolLM2-135M-like, GQA */
    {CT_ROPE_NEOX, 256, 256, 4, 1, 5, false, false},   /* Gemma 3-like: 128 pairs */
    {CT_ROPE_NORM, 128, 64, 6, 2, 7, true, true},      /* partial rotary, F32 cache */
    {CT_ROPE_NEOX, 80, 32, 3, 3, 4, false, false},     /* odd head: 16 pairs, a 48-value tail */
    {CT_ROPE_NEOX, 512, 512, 2, 2, 3, true, false},    /* 256 pairs: two per thread */
    {CT_ROPE_NORM, 128, 128, 32, 8, 64, false, true},  /* a prompt */
};

typedef struct {
    mat qkv, q_sep, k_sep, v_sep, kc, vc;
    ct_tensor q, k, v, kcache, vcache; /* device views */
} rope_store_set;

static void rope_store_set_new(rope_store_set *z, const rope_store_case *c, int64_t cells) {
    memset(z, 0, sizeof *z);
    const int64_t qn = (int64_t)c->q_heads * c->head_dim, kn = (int64_t)c->kv_heads * c->head_dim;
    const uint32_t ct = c->f32_cache ? CT_TYPE_F32 : CT_TYPE_F16;
    if (c->one_buffer) {
        z->qkv = mat_new(CT_TYPE_F32, qn + 2 * kn, c->n_tokens, 0, 0, "qkv");
        z->q = z->qkv.dev, z->k = z->qkv.dev, z->v = z->qkv.dev;
        z->q.ne0 = qn;
        z->k.ne0 = kn, z->k.data = (float *)z->qkv.dev.data + qn;
        z->v.ne0 = kn, z->v.data = (float *)z->qkv.dev.data + qn + kn;
    } else {
        z->q_sep = mat_new(CT_TYPE_F32, qn, c->n_tokens, 0, 0, "q");
        z->k_sep = mat_new(CT_TYPE_F32, kn, c->n_tokens, 0, 0, "k");
        z->v_sep = mat_new(CT_TYPE_F32, kn, c->n_tokens, 0, 0, "v");
        z->q = z->q_sep.dev, z->k = z->k_sep.dev, z->v = z->v_sep.dev;
    }
    z->kc = mat_new(ct, kn, cells, 0, 0, "k_cache");
    z->vc = mat_new(ct, kn, cells, 0, 0, "v_cache");
    z->kcache = z->kc.dev, z->vcache = z->vc.dev;
}

static mat *rope_store_mats(rope_store_set *z, int i) {
    mat *all[] = {&z->qkv, &z->q_sep, &z->k_sep, &z->v_sep, &z->kc, &z->vc};
    return all[i];
}

/* The fused op against rope(q), rope(k), kv_store(k, v) run one by one on a copy of the same
 * random inputs (each of those is checked against the CPU elsewhere): every byte of q, k, v and
 * both caches, the untouched cache cells included, must be equal. */
static void test_rope_store(const rope_store_case *c) {
    char what[160];
    snprintf(what, sizeof what, "rope_store %s hd=%d nd=%d q=%d kv=%d tokens=%d cache=%s %s",
             c->style == CT_ROPE_NORM ? "norm" : "neox", c->head_dim, c->n_dims, c->q_heads, c->kv_heads, c->n_tokens,
             c->f32_cache ? "f32" : "f16", c->one_buffer ? "qkv" : "separate");
    const int64_t cells = 2 * (int64_t)c->n_tokens + 3;
    int32_t pos[MAX_TOKENS];
    for (int32_t t = 0; t < c->n_tokens; t++) pos[t] = (int32_t)(ct_test_rng_next(&rng) % 4096u);
    test_batch batch;
    batch_init(&batch, c->n_tokens, pos, 0, NULL);
    int64_t cell[MAX_TOKENS]; /* distinct cells, out of order */
    for (int32_t t = 0; t < c->n_tokens; t++) {
        bool used;
        do {
            cell[t] = (int64_t)(ct_test_rng_next(&rng) % (uint64_t)cells);
            used = false;
            for (int32_t u = 0; u < t; u++) used |= cell[u] == cell[t];
        } while (used);
    }
    int64_t *d_cell = NULL;
    CUDA_CHECK(cudaMalloc((void **)&d_cell, sizeof cell));
    CUDA_CHECK(cudaMemcpy(d_cell, cell, sizeof cell, cudaMemcpyHostToDevice));
    batch.dev.kv_cell = d_cell;

    rope_store_set one, fused;
    rope_store_set_new(&one, c, cells);
    rope_store_set_new(&fused, c, cells);
    for (int i = 0; i < 6; i++) {
        mat *a = rope_store_mats(&one, i), *b = rope_store_mats(&fused, i);
        if (!a->hbase) continue;
        mat_fill(a, 2.0f, 0.0f);
        memcpy(b->hbase, a->hbase, a->bytes);
        mat_upload(b);
    }
    ct_rope rope = {c->style, c->head_dim, c->n_dims, 10000.0f, 1.0f, NULL};
    CUDA_CHECK(ct_cuda_rope(0, &batch.dev, &one.q, &rope));
    CUDA_CHECK(ct_cuda_rope(0, &batch.dev, &one.k, &rope));
    CUDA_CHECK(ct_cuda_kv_store(0, &batch.dev, &one.kcache, &one.vcache, &one.k, &one.v));
    /* success, not cudaErrorNotSupported: the fused kernel itself ran */
    CUDA_CHECK(ct_cuda_rope_store(0, &batch.dev, &fused.q, &fused.k, &fused.kcache, &fused.vcache, &fused.v, &rope));
    CUDA_CHECK(cudaDeviceSynchronize());
    for (int i = 0; i < 6; i++) {
        mat *a = rope_store_mats(&one, i), *b = rope_store_mats(&fused, i);
        if (!a->hbase) continue;
        CUDA_CHECK(cudaMemcpy(a->hbase, a->dbase, a->bytes, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(b->hbase, b->dbase, b->bytes, cudaMemcpyDeviceToHost));
        size_t differ = 0, first = 0;
        for (size_t j = 0; j < a->bytes; j++)
            if (a->hbase[j] != b->hbase[j] && differ++ == 0) first = j;
        CHECK_MSG(differ == 0, "%s: %s differs from the ops one by one in %zu of %zu bytes (first at byte %zu)", what,
                  a->host.name, differ, a->bytes, first);
    }
    for (int i = 0; i < 6; i++) {
        if (rope_store_mats(&one, i)->hbase) mat_free(rope_store_mats(&one, i));
        if (rope_store_mats(&fused, i)->hbase) mat_free(rope_store_mats(&fused, i));
    }
    CUDA_CHECK(cudaFree(d_cell));
    batch_free(&batch);
}

/* ---- element-wise ------------------------------------------------------------------------ */

typedef enum { OP_ADD, OP_SWIGLU, OP_GEGLU, OP_SCALE, OP_GELU } ew_op;
static const char *const ew_names[] = {"add", "swiglu", "geglu", "scale", "gelu"};

typedef struct {
    int64_t ne0, ne1, pad, offset;
    int alias; /* binary ops: 0 out separate, 1 out = a, 2 out = b */
} ew_case;

static const ew_case ew_cases[] = {
    {1, 1, 0, 0, 0},    {31, 3, 0, 0, 0},  {31, 3, 0, 0, 1},   {576, 4, 0, 0, 0}, {576, 3, 1, 0, 2},
    {576, 2, 0, 1, 0},  {4096, 2, 0, 0, 1}, {4096, 3, 4, 0, 0}, {4097, 2, 0, 0, 0}, {11008, 5, 0, 0, 1},
    {1, 70000, 1, 0, 0}, {8, 70001, 0, 0, 0},
};

/* gate-like inputs: wide enough to reach both tails, plus saturating values */
static void fill_activation_input(mat *m, float scale) {
    mat_fill(m, scale, 0.0f);
    const float extremes[] = {-100.0f, -30.0f, -9.5f, 9.5f, 30.0f, 100.0f, 1e-4f, -1e-4f};
    for (int64_t r = 0; r < m->host.ne1; r++)
        for (int k = 0; k < 8 && k < m->host.ne0; k++)
            if ((ct_test_rng_next(&rng) & 3) == 0) row_of(&m->host, r)[ct_test_rng_next(&rng) % (uint64_t)m->host.ne0] = extremes[k];
    mat_upload(m);
}

static void test_elementwise(ew_op op, const ew_case *c) {
    char what[160];
    bool unary = op == OP_SCALE || op == OP_GELU;
    snprintf(what, sizeof what, "%s ne0=%lld ne1=%lld pad=%lld off=%lld alias=%d", ew_names[op], (long long)c->ne0,
             (long long)c->ne1, (long long)c->pad, (long long)c->offset, unary ? 0 : c->alias);
    size_t rb = (size_t)(c->ne0 + c->pad) * 4, off = (size_t)c->offset * 4;
    mat a = mat_new(CT_TYPE_F32, c->ne0, c->ne1, rb, off, "a");
    mat b = mat_new(CT_TYPE_F32, c->ne0, c->ne1, rb, off, "b");
    if (op == OP_ADD) {
        mat_fill(&a, 3.0f, 0.0f);
        mat_fill(&b, 1.0f, 0.0f);
    } else {
        fill_activation_input(&a, op == OP_SWIGLU ? 8.0f : 4.0f);
        mat_fill(&b, 2.0f, 0.0f);
    }
    float *a0 = dense_copy(&a), *b0 = dense_copy(&b);
    mat out_m;
    bool own_out = !unary && c->alias == 0;
    if (own_out) {
        out_m = mat_new(CT_TYPE_F32, c->ne0, c->ne1, rb, off, "out");
        mat_poison(&out_m);
    } else {
        out_m = (unary || c->alias == 1) ? a : b;
    }

    const float s = -0.371f;
    switch (op) {
    case OP_ADD:
        cpu->add(cpu, &out_m.host, &a.host, &b.host);
        CUDA_CHECK(ct_cuda_add(0, &out_m.dev, &a.dev, &b.dev));
        break;
    case OP_SWIGLU:
        cpu->swiglu(cpu, &out_m.host, &a.host, &b.host);
        CUDA_CHECK(ct_cuda_swiglu(0, &out_m.dev, &a.dev, &b.dev));
        break;
    case OP_GEGLU:
        cpu->geglu(cpu, &out_m.host, &a.host, &b.host);
        CUDA_CHECK(ct_cuda_geglu(0, &out_m.dev, &a.dev, &b.dev));
        break;
    case OP_SCALE:
        cpu->scale(cpu, &a.host, s);
        CUDA_CHECK(ct_cuda_scale(0, &a.dev, s));
        break;
    case OP_GELU:
        cpu->gelu(cpu, &a.host);
        CUDA_CHECK(ct_cuda_gelu(0, &a.dev));
        break;
    }

    /* add and scale: one float operation, exact. The activations differ only in expf/tanhf
     * (CUDA: up to 2 ulp, glibc: under 1), every other step is rounded the same way:
     *  - swiglu: g / (1 + e^-g) * u, the exp error shrinks through 1 + e: 1e-6 relative;
     *  - gelu/geglu: an error d <= 4e-7 in tanh (|tanh| <= 1) moves 0.5 x (1 + tanh) by
     *    0.5 |x| d, which 1 + tanh near -1 does not shrink: 1e-6 (|x| + |out|) (times |u|). */
    double *tol = tol_new(&out_m);
    for (int64_t r = 0; r < c->ne1; r++)
        for (int64_t j = 0; j < c->ne0; j++) {
            size_t i = (size_t)(r * c->ne0 + j);
            double ref = fabs(row_of(&out_m.host, r)[j]), g = fabs(a0[i]), u = fabs(b0[i]);
            tol[i] = op == OP_SWIGLU ? 1e-6 * ref
                   : op == OP_GEGLU  ? 1e-6 * (g * u + ref)
                   : op == OP_GELU   ? 1e-6 * (g + ref)
                                     : 0.0;
        }
    mat_expect(&out_m, tol, what);
    if (!own_out && !unary) {
        /* the operand that was not the output is untouched */
        mat *other = c->alias == 1 ? &b : &a;
        mat_expect(other, NULL, "aliased op's other operand");
    }
    free(tol);
    free(a0);
    free(b0);
    if (own_out) mat_free(&out_m);
    mat_free(&a);
    mat_free(&b);
}

/* ---- learned positions and output gather -------------------------------------------------- */

static void test_add_positions(uint32_t table_type, int64_t ne0, int32_t n_tokens, int64_t pad, int64_t offset) {
    char what[128];
    snprintf(what, sizeof what, "add_positions %s ne0=%lld tokens=%d pad=%lld off=%lld",
             table_type == CT_TYPE_F16 ? "f16" : "f32", (long long)ne0, n_tokens, (long long)pad, (long long)offset);
    const int64_t n_ctx = 50;
    int32_t pos[MAX_TOKENS];
    for (int32_t t = 0; t < n_tokens; t++) pos[t] = (int32_t)(ct_test_rng_next(&rng) % (uint64_t)n_ctx);
    pos[n_tokens - 1] = (int32_t)n_ctx - 1;
    test_batch batch;
    batch_init(&batch, n_tokens, pos, 0, NULL);
    mat x = mat_new(CT_TYPE_F32, ne0, n_tokens, (size_t)(ne0 + pad) * 4, (size_t)offset * 4, "x");
    mat table = mat_new(table_type, ne0, n_ctx, 0, 0, "position_embd");
    mat_fill(&x, 1.0f, 0.0f);
    mat_fill(&table, 0.25f, 0.0f);
    CHECK_OK(cpu->begin(cpu, &batch.host));
    cpu->add_positions(cpu, &x.host, &table.host);
    CHECK_OK(cpu->end(cpu));
    CUDA_CHECK(ct_cuda_add_positions(0, &batch.dev, &x.dev, &table.dev));
    mat_expect(&x, NULL, what); /* one float add of an exactly converted value: exact */
    mat_free(&x);
    mat_free(&table);
    batch_free(&batch);
}

/* a position outside the table leaves that row NaN instead of reading past the table */
static void test_add_positions_out_of_range(void) {
    int32_t pos[2] = {3, 50};
    test_batch batch;
    batch_init(&batch, 2, pos, 0, NULL);
    mat x = mat_new(CT_TYPE_F32, 64, 2, 0, 0, "x"), table = mat_new(CT_TYPE_F32, 64, 50, 0, 0, "table");
    mat_fill(&x, 1.0f, 0.0f);
    mat_fill(&table, 1.0f, 0.0f);
    CUDA_CHECK(ct_cuda_add_positions(0, &batch.dev, &x.dev, &table.dev));
    CUDA_CHECK(cudaDeviceSynchronize());
    float got[128];
    CUDA_CHECK(cudaMemcpy(got, x.dev.data, sizeof got, cudaMemcpyDeviceToHost));
    int good = 0, nan = 0;
    for (int j = 0; j < 64; j++) {
        good += got[j] == row_of(&x.host, 0)[j] + row_of(&table.host, 3)[j];
        nan += isnan(got[64 + j]) != 0;
    }
    CHECK_MSG(good == 64 && nan == 64, "add_positions out of range: %d good, %d NaN of 64", good, nan);
    mat_free(&x);
    mat_free(&table);
    batch_free(&batch);
}

static void test_gather(int64_t ne0, int64_t pad, int32_t first, int32_t n) {
    char what[96];
    snprintf(what, sizeof what, "gather_outputs ne0=%lld pad=%lld first=%d n=%d", (long long)ne0, (long long)pad, first, n);
    const int32_t n_tokens = 7, out_rows[] = {6, 0, 3, 3, 5};
    int32_t pos[MAX_TOKENS] = {0};
    for (int32_t t = 0; t < n_tokens; t++) pos[t] = t;
    test_batch batch;
    batch_init(&batch, n_tokens, pos, 5, out_rows);
    mat in = mat_new(CT_TYPE_F32, ne0, n_tokens, (size_t)(ne0 + pad) * 4, 0, "in");
    mat out = mat_new(CT_TYPE_F32, ne0, n, (size_t)(ne0 + pad) * 4, 0, "out");
    mat_fill(&in, 10.0f, 0.0f);
    mat_poison(&out);
    CHECK_OK(cpu->begin(cpu, &batch.host));
    cpu->gather_outputs(cpu, &out.host, &in.host, first);
    CHECK_OK(cpu->end(cpu));
    CUDA_CHECK(ct_cuda_gather_outputs(0, &batch.dev, &out.dev, &in.dev, first));
    mat_expect(&out, NULL, what); /* a copy: exact */
    mat_free(&in);
    mat_free(&out);
    batch_free(&batch);
}

/* ---- argmax ------------------------------------------------------------------------------- */

/* the CPU sampler's greedy rule: largest, lowest index on ties; -1 for a row it refuses */
static int32_t argmax_reference(const float *x, int64_t n) {
    int32_t best = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!(x[i] < INFINITY)) return -1;
        if (x[i] > -INFINITY && (best < 0 || x[i] > x[best])) best = (int32_t)i;
    }
    return best;
}

static void test_argmax(int64_t ne0, int64_t ne1, int64_t pad) {
    char what[96];
    snprintf(what, sizeof what, "argmax ne0=%lld ne1=%lld pad=%lld", (long long)ne0, (long long)ne1, (long long)pad);
    mat x = mat_new(CT_TYPE_F32, ne0, ne1, (size_t)(ne0 + pad) * 4, 0, "logits");
    mat_fill(&x, 8.0f, 0.0f);
    for (int64_t r = 0; r < ne1; r++) {
        float *row = row_of(&x.host, r);
        uint64_t a = ct_test_rng_next(&rng) % (uint64_t)ne0, b = ct_test_rng_next(&rng) % (uint64_t)ne0;
        switch (r % 7) {
        case 1: row[a] = row[b] = 9.0f; break;               /* a tie: the lower index wins */
        case 2: row[a] = NAN; break;                         /* refused */
        case 3: row[b] = INFINITY; break;                    /* refused */
        case 4: for (int64_t j = 0; j < ne0; j++) row[j] = -INFINITY; break; /* refused */
        case 5: for (int64_t j = 0; j < ne0; j++) row[j] = j == (int64_t)a ? -3.0f : -INFINITY; break;
        case 6: for (int64_t j = 0; j < ne0; j++) row[j] = 1.5f; break; /* all equal: index 0 */
        default: row[b] = 8.5f; break;
        }
    }
    mat_upload(&x);
    int32_t *d_ids = NULL, *ids = calloc((size_t)ne1, sizeof(int32_t));
    CHECK(ids != NULL);
    CUDA_CHECK(cudaMalloc((void **)&d_ids, (size_t)ne1 * sizeof(int32_t)));
    CUDA_CHECK(cudaMemset(d_ids, 0x55, (size_t)ne1 * sizeof(int32_t)));
    CUDA_CHECK(ct_cuda_argmax_rows(0, &x.dev, d_ids));
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(ids, d_ids, (size_t)ne1 * sizeof(int32_t), cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int64_t r = 0; r < ne1; r++) {
        int32_t want = argmax_reference(row_of(&x.host, r), ne0);
        if (ids[r] != want && bad++ < 5) fprintf(stderr, "  %s row %lld: gpu %d, want %d\n", what, (long long)r, ids[r], want);
    }
    CHECK_MSG(bad == 0, "%s: %d rows wrong", what, bad);
    CUDA_CHECK(cudaFree(d_ids));
    free(ids);
    mat_free(&x);
}

/* ---- bad arguments are refused before any launch ------------------------------------------ */

static void test_refusals(void) {
    mat a = mat_new(CT_TYPE_F32, 64, 2, 0, 0, "a"), b = mat_new(CT_TYPE_F32, 32, 2, 0, 0, "b");
    mat h = mat_new(CT_TYPE_F16, 64, 2, 0, 0, "h");
    mat_fill(&a, 1.0f, 0.0f);
    mat_fill(&b, 1.0f, 0.0f);
    mat_fill(&h, 1.0f, 0.0f);
    CHECK(ct_cuda_add(0, &a.dev, &a.dev, &b.dev) == cudaErrorInvalidValue);
    CHECK(ct_cuda_rmsnorm(0, &a.dev, &h.dev, NULL, 1e-5f) == cudaErrorInvalidValue);
    CHECK(ct_cuda_rmsnorm(0, &a.dev, &a.dev, &b.dev, 1e-5f) == cudaErrorInvalidValue); /* weight too short */
    int32_t pos[3] = {0, 1, 2};
    test_batch batch;
    batch_init(&batch, 3, pos, 1, pos);
    ct_rope r = {CT_ROPE_NEOX, 64, 64, 10000.0f, 1.0f, NULL};
    CHECK(ct_cuda_rope(0, &batch.dev, &a.dev, &r) == cudaErrorInvalidValue); /* 2 rows, 3 tokens */
    r.n_dims = 66;
    batch.dev.n_tokens = 2;
    CHECK(ct_cuda_rope(0, &batch.dev, &a.dev, &r) == cudaErrorInvalidValue); /* n_dims > head_dim */
    CHECK(ct_cuda_gather_outputs(0, &batch.dev, &a.dev, &a.dev, 0) == cudaErrorInvalidValue); /* 2 rows, 1 output */
    CHECK(cudaGetLastError() == cudaSuccess);
    batch_free(&batch);
    mat_free(&a);
    mat_free(&b);
    mat_free(&h);
}

int main(void) {
    int n_dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n_dev);
    if (e != cudaSuccess || n_dev == 0)
        TEST_SKIP("no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    setenv("CTORCH_CPU_LEVEL", "reference", 1);
    CHECK_OK(ct_backend_create("cpu", 1, &cpu));
    if (!cpu) return ct_test_finish("test_cuda_elementwise");
    CHECK_OK(cpu->reserve(cpu, 32768, 16));

    for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases[0]; i++) {
        test_norm(&norm_cases[i], false);
        test_norm(&norm_cases[i], true);
    }
    for (size_t i = 0; i < sizeof rope_cases / sizeof rope_cases[0]; i++) test_rope(&rope_cases[i]);
    for (size_t i = 0; i < sizeof rope_store_cases / sizeof rope_store_cases[0]; i++)
        test_rope_store(&rope_store_cases[i]);
    for (int op = OP_ADD; op <= OP_GELU; op++)
        for (size_t i = 0; i < sizeof ew_cases / sizeof ew_cases[0]; i++) test_elementwise((ew_op)op, &ew_cases[i]);
    test_add_positions(CT_TYPE_F32, 768, 6, 0, 0);
    test_add_positions(CT_TYPE_F16, 768, 6, 0, 0);
    test_add_positions(CT_TYPE_F32, 31, 5, 0, 0);
    test_add_positions(CT_TYPE_F16, 31, 5, 3, 1);
    test_add_positions(CT_TYPE_F16, 1600, 1, 4, 0);
    test_add_positions(CT_TYPE_F32, 1024, 9, 1, 0);
    test_add_positions_out_of_range();
    test_gather(576, 0, 0, 5);
    test_gather(576, 0, 2, 3);
    test_gather(31, 0, 1, 4);
    test_gather(4096, 4, 4, 1);
    test_gather(100, 3, 0, 2);
    test_argmax(1, 3, 0);
    test_argmax(31, 7, 0);
    test_argmax(4097, 14, 0);
    test_argmax(32000, 8, 0);
    test_argmax(32000, 7, 3);
    test_argmax(151936, 3, 0);
    test_argmax(262144, 2, 0);
    test_refusals();

    CUDA_CHECK(cudaDeviceSynchronize());
    ct_backend_destroy(cpu);
    return ct_test_finish("test_cuda_elementwise");
}

#endif
