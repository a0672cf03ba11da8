/* Row (de)quantization dispatch: argument checks, then the per-type reference function. */
#include "quant/quant.h"

#include <string.h>

#include "quant/types.h"

static ct_status check_row(const char *op, ct_type type, const void *src, const void *dst, int64_t n) {
    const ct_type_traits *t = ct_type_traits_of((uint32_t)type);
    if (!t)
        return ct_fail(CT_ERR_UNSUPPORTED, "%s: type %s (id %u) is not supported", op,
                       ct_type_name((uint32_t)type), (unsigned)type);
    if (n < 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s %s: negative element count %lld", op, t->name, (long long)n);
    if (n % t->block_size != 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s %s: n = %lld is not a multiple of the block size %u", op, t->name,
                       (long long)n, (unsigned)t->block_size);
    if (n > 0 && (!src || !dst))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s %s: NULL %s buffer", op, t->name, src ? "destination" : "source");
    return CT_OK;
}

ct_status ct_dequantize_row(ct_type type, const void *src, float *dst, int64_t n) {
    CT_TRY(check_row("dequantize", type, src, dst, n));
    switch (type) {
    case CT_TYPE_F32: {
        if (n > 0) memcpy(dst, src, (size_t)n * sizeof(float));
        return CT_OK;
    }
    case CT_TYPE_F16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = ct_fp16_to_fp32(h[i]);
        return CT_OK;
    }
    case CT_TYPE_BF16: {
        const uint16_t *b = src;
        for (int64_t i = 0; i < n; i++) dst[i] = ct_bf16_to_fp32(b[i]);
        return CT_OK;
    }
    case CT_TYPE_Q4_0: ct_dequantize_row_q4_0(src, dst, n); return CT_OK;
    case CT_TYPE_Q4_1: ct_dequantize_row_q4_1(src, dst, n); return CT_OK;
    case CT_TYPE_Q5_0: ct_dequantize_row_q5_0(src, dst, n); return CT_OK;
    case CT_TYPE_Q5_1: ct_dequantize_row_q5_1(src, dst, n); return CT_OK;
    case CT_TYPE_Q8_0: ct_dequantize_row_q8_0(src, dst, n); return CT_OK;
    case CT_TYPE_Q8_1: ct_dequantize_row_q8_1(src, dst, n); return CT_OK;
    case CT_TYPE_Q2_K: ct_dequantize_row_q2_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q3_K: ct_dequantize_row_q3_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q4_K: ct_dequantize_row_q4_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q5_K: ct_dequantize_row_q5_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q6_K: ct_dequantize_row_q6_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q8_K: ct_dequantize_row_q8_K(src, dst, n); return CT_OK;
    default: break;
    }
    return ct_fail(CT_ERR_INTERNAL, "dequantize: no dequantizer for supported type %s", ct_type_name((uint32_t)type));
}

ct_status ct_quantize_row(ct_type type, const float *src, void *dst, int64_t n) {
    CT_TRY(check_row("quantize", type, src, dst, n));
    switch (type) {
    case CT_TYPE_F32: {
        if (n > 0) memcpy(dst, src, (size_t)n * sizeof(float));
        return CT_OK;
    }
    case CT_TYPE_F16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++) h[i] = ct_fp32_to_fp16(src[i]);
        return CT_OK;
    }
    case CT_TYPE_BF16: {
        uint16_t *b = dst;
        for (int64_t i = 0; i < n; i++) b[i] = ct_fp32_to_bf16(src[i]);
        return CT_OK;
    }
    case CT_TYPE_Q4_0: ct_quantize_row_q4_0(src, dst, n); return CT_OK;
    case CT_TYPE_Q4_1: ct_quantize_row_q4_1(src, dst, n); return CT_OK;
    case CT_TYPE_Q5_0: ct_quantize_row_q5_0(src, dst, n); return CT_OK;
    case CT_TYPE_Q5_1: ct_quantize_row_q5_1(src, dst, n); return CT_OK;
    case CT_TYPE_Q8_0: ct_quantize_row_q8_0(src, dst, n); return CT_OK;
    case CT_TYPE_Q8_1: ct_quantize_row_q8_1(src, dst, n); return CT_OK;
    case CT_TYPE_Q2_K: ct_quantize_row_q2_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q3_K: ct_quantize_row_q3_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q4_K: ct_quantize_row_q4_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q5_K: ct_quantize_row_q5_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q6_K: ct_quantize_row_q6_K(src, dst, n); return CT_OK;
    case CT_TYPE_Q8_K: ct_quantize_row_q8_K(src, dst, n); return CT_OK;
    default: break;
    }
    return ct_fail(CT_ERR_INTERNAL, "quantize: no quantizer for supported type %s", ct_type_name((uint32_t)type));
}
