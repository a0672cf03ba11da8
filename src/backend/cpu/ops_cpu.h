/* The CPU backend's scalar reference ops, one row (or one head) at a time. These are the
 * definitions of correctness every faster kernel (SIMD, GPU) is tested against, so each is
 * a few plain loops; backend_cpu.c spreads them over threads. */
#ifndef CT_BACKEND_CPU_OPS_CPU_H
#define CT_BACKEND_CPU_OPS_CPU_H

#include <stdint.h>

#include "backend/backend.h"

/* sum a[i]*b[i] */
float ct_cpu_dot(const float *a, const float *b, int64_t n);
/* out = x / sqrt(mean(x^2) + eps) * w (w may be NULL); out may alias x */
void ct_cpu_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
/* out = (x - mean) / sqrt(var + eps) * w + b; out may alias x */
void ct_cpu_layernorm(float *out, const float *x, const float *w, const float *b, int64_t n, float eps);
/* x = exp(x - max) / sum, in place */
void ct_cpu_softmax(float *x, int64_t n);
float ct_cpu_gelu_tanh(float x);
float ct_cpu_silu(float x);

/* Rotate every head of one token's row x (n_heads * rope->head_dim floats) by position pos.
 * freq_factors: NULL or n_dims/2 floats. */
void ct_cpu_rope(float *x, int64_t n_heads, const ct_rope *rope, const float *freq_factors, int32_t pos);

/* out[t][r] = dot(W[r], in[t]) + bias[r] for weight rows [r0, r1) and every row t of in.
 * row_scratch holds CT_CPU_MATMUL_TILE * w->ne0 floats: a tile of dequantized weight rows,
 * each dequantized once and reused across the whole batch. */
#define CT_CPU_MATMUL_TILE 16
void ct_cpu_matmul_rows(const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias, const ct_tensor *in,
                        int64_t r0, int64_t r1, float *row_scratch);

/* Dequantize row r of a tensor of any supported type into dst (ne0 floats). */
void ct_cpu_get_row(const ct_tensor *t, int64_t r, float *dst);

/* One query head of one token against its sequence's cache:
 *   out = sum_j softmax_j(scale * q.k_j) v_j over positions j in [lo, pos].
 * k_cache/v_cache rows are cells (n_head_kv heads each, F16 or F32); kv_head picks the head;
 * scores holds pos + 1 floats. */
void ct_cpu_attention_head(float *out, const float *q, const ct_tensor *k_cache, const ct_tensor *v_cache,
                           const ct_kv_view *view, int32_t lo, int32_t pos, int32_t kv_head, const ct_attn *attn,
                           float *scores);

/* The same with AVX2 + FMA + F16C (ops_attention_avx2.c); only on CPUs that have them. */
void ct_cpu_attention_head_avx2(float *out, const float *q, const ct_tensor *k_cache, const ct_tensor *v_cache,
                                const ct_kv_view *view, int32_t lo, int32_t pos, int32_t kv_head,
                                const ct_attn *attn, float *scores);
typedef void (*ct_cpu_attention_head_fn)(float *out, const float *q, const ct_tensor *k_cache,
                                         const ct_tensor *v_cache, const ct_kv_view *view, int32_t lo, int32_t pos,
                                         int32_t kv_head, const ct_attn *attn, float *scores);

/* Store one row of floats into a cache row of type F16 or F32. */
void ct_cpu_store_row(void *dst, uint32_t type, const float *src, int64_t n);

#endif
