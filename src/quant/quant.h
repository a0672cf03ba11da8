/* Scalar reference quantizers and dequantizers for every supported type. These define
 * correctness: every SIMD and GPU kernel is tested against them. */
#ifndef CT_QUANT_QUANT_H
#define CT_QUANT_QUANT_H

#include <stdint.h>

#include "core/status.h"
#include "quant/blocks.h"
#include "quant/fp16.h"

/* Dequantize n elements (a multiple of the type's block size) from src blocks to floats. */
ct_status ct_dequantize_row(ct_type type, const void *src, float *dst, int64_t n);

/* Quantize n floats (a multiple of the block size) into blocks at dst, as ggml's reference
 * quantizer does (so files we write are what llama.cpp would write). */
ct_status ct_quantize_row(ct_type type, const float *src, void *dst, int64_t n);

/* The per-type reference functions behind the two dispatchers above. */
void ct_dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n);
void ct_dequantize_row_q4_1(const block_q4_1 *x, float *y, int64_t n);
void ct_dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t n);
void ct_dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t n);
void ct_dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n);
void ct_dequantize_row_q8_1(const block_q8_1 *x, float *y, int64_t n);
void ct_dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t n);
void ct_dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t n);
void ct_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n);
void ct_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n);
void ct_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n);
void ct_dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n);

void ct_quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n);
void ct_quantize_row_q4_1(const float *x, block_q4_1 *y, int64_t n);
void ct_quantize_row_q5_0(const float *x, block_q5_0 *y, int64_t n);
void ct_quantize_row_q5_1(const float *x, block_q5_1 *y, int64_t n);
void ct_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void ct_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t n);
void ct_quantize_row_q2_K(const float *x, block_q2_K *y, int64_t n);
void ct_quantize_row_q3_K(const float *x, block_q3_K *y, int64_t n);
void ct_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n);
void ct_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n);
void ct_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n);
void ct_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n);

#endif
