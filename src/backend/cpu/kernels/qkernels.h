/* Quantized matmul kernels for the CPU: weights stay in their GGUF blocks, activations are
 * quantized once per matmul to an integer block format, and each weight block meets each
 * activation block in an integer dot product (the approach of ggml's vec_dot, with our own
 * formats and code).
 *
 * Two activation precisions (ct_cpu_act_precision): Q16, the default, keeps ~15 bits per
 * value as two int8 halves and costs a second integer dot per block; Q8 keeps 8 bits (as
 * llama.cpp does), which moves a small model's logits by up to ~1-2 and changes greedy
 * output at near-ties (docs/perf.md, "Activation precision").
 *
 * Usage, per matmul out[t][r] = dot(W[r], x[t]):
 *   const ct_qkernels *k;  ct_qkernels_select(&k);          once, at backend creation
 *   size_t ab = ct_cpu_act_row_bytes(w->type, w->ne0);      bytes of one quantized row
 *   for each token t: ct_cpu_quantize_activations(k, w->type, x[t], w->ne0, act + t * ab);
 *   on each thread:   ct_cpu_qmatmul(k, w, act, n_tokens, out, out_stride, r0, r1);
 *
 * Several levels of the same kernels exist (scalar, AVX2, AVX-512, AVX-512 VNNI); the
 * scalar one is the definition the others are tested against. The activation format does
 * not depend on the level (every level's quantizer writes the same bytes), so activations
 * quantized by one level may be used by another. */
#ifndef CT_BACKEND_CPU_KERNELS_QKERNELS_H
#define CT_BACKEND_CPU_KERNELS_QKERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/status.h"

/* Instruction-set levels, each a superset of the one before. */
typedef enum ct_cpu_level {
    CT_CPU_SCALAR = 0,
    CT_CPU_AVX2,        /* AVX2 + FMA + F16C */
    CT_CPU_AVX512,      /* AVX-512 F, BW, VL */
    CT_CPU_AVX512_VNNI, /* + VNNI (vpdpbusd, vpdpwssd); BF16 weights use AVX512-BF16 when present */
    CT_CPU_LEVEL_COUNT
} ct_cpu_level;

/* Activation precision of the integer formats. */
typedef enum ct_cpu_act_precision {
    CT_CPU_ACT_Q16 = 0, /* default: |error| <= 1.5 * absmax/32512 per value */
    CT_CPU_ACT_Q8,      /* |error| <= 0.5 * absmax/127 per value */
    CT_CPU_ACT_PRECISION_COUNT
} ct_cpu_act_precision;

/* One level's kernel table (internal layout). */
typedef struct ct_qkernels ct_qkernels;

const char *ct_cpu_level_name(ct_cpu_level level); /* "scalar", "avx2", "avx512", "avx512vnni" */
ct_status ct_cpu_level_parse(const char *name, ct_cpu_level *out);

/* The highest level this CPU (and OS) supports. */
ct_cpu_level ct_cpu_level_best(void);

const char *ct_cpu_act_precision_name(ct_cpu_act_precision p); /* "q16", "q8" */
ct_status ct_cpu_act_precision_parse(const char *name, ct_cpu_act_precision *out);

/* The table of the best level, or of the level named by the environment variable
 * CTORCH_CPU_LEVEL (scalar|avx2|avx512|avx512vnni), at the precision named by
 * CTORCH_CPU_ACTIVATIONS (q16, the default, or q8). Fails, naming the variable, when one
 * names an unknown value or a level this CPU lacks. */
ct_status ct_qkernels_select(const ct_qkernels **out);

/* The table of one level at the default precision (Q16); CT_ERR_UNSUPPORTED when this CPU
 * lacks the level. */
ct_status ct_qkernels_for_level(ct_cpu_level level, const ct_qkernels **out);
/* The same at a given precision. */
ct_status ct_qkernels_for(ct_cpu_level level, ct_cpu_act_precision precision, const ct_qkernels **out);

ct_cpu_level ct_qkernels_level(const ct_qkernels *k);
ct_cpu_act_precision ct_qkernels_precision(const ct_qkernels *k);

/* The level whose code runs for this weight type in table k: k's own level, or a lower one
 * where k's level has no kernel of its own for the type (then it inherits the lower one). */
ct_cpu_level ct_qkernels_type_level(const ct_qkernels *k, uint32_t weight_type);

/* Whether ct_cpu_qmatmul handles weights of this type (the others go through the
 * dequantize-row path): F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K. */
bool ct_cpu_qmatmul_supports(uint32_t weight_type);

/* Whether activations quantized for weights of type a (by table k) serve weights of type b:
 * the same format at k's precision (e.g. Q4_K and Q6_K; Q4_0 and Q8_0). */
bool ct_cpu_act_shared(const ct_qkernels *k, uint32_t type_a, uint32_t type_b);

/* Bytes of one quantized activation row of n elements for weights of this type, the same at
 * both precisions (a multiple of 64, so consecutive rows stay 64-byte aligned); 0 if the
 * type is not supported or n is not a multiple of its block size. */
size_t ct_cpu_act_row_bytes(uint32_t weight_type, int64_t n);

/* Quantize one activation row x[n] into dst (ct_cpu_act_row_bytes bytes, 64-byte aligned
 * for speed) at k's precision. The format depends on the weight type:
 *   Q4_0..Q8_0:  integers per 32-block with a float scale and sum (qk_internal.h)
 *   Q2_K..Q6_K:  integers per 256-block with a float scale and int16 sums of each 16
 *   F32, F16:    the floats;   BF16: bfloat16 at Q8 (round to nearest even), floats at Q16. */
void ct_cpu_quantize_activations(const ct_qkernels *k, uint32_t weight_type, const float *x, int64_t n, void *dst);

/* out[t * out_stride + r] = dot(W[r], x[t]) for rows r in [r0, r1) and tokens t in
 * [0, n_tokens), x[t] being the quantized row at act + t * ct_cpu_act_row_bytes(...).
 * w must be of a supported type with ne0 a multiple of its block size; act 64-byte aligned.
 * Threads may call it concurrently on disjoint row ranges. */
void ct_cpu_qmatmul(const ct_qkernels *k, const ct_tensor *w, const void *act, int64_t n_tokens, float *out,
                    size_t out_stride, int64_t r0, int64_t r1);

/* ct_cpu_qmatmul with batch invariance: every token goes through the matrix-matrix tiles,
 * even when n_tokens is below the matrix-vector threshold, so each out[t][r] is bit-identical
 * whatever n_tokens is and wherever token t sits among them (--deterministic). Costs the
 * matrix-vector kernels' speed for calls of fewer than 4 tokens (docs/perf.md). */
void ct_cpu_qmatmul_invariant(const ct_qkernels *k, const ct_tensor *w, const void *act, int64_t n_tokens,
                              float *out, size_t out_stride, int64_t r0, int64_t r1);

#endif
