/* Reference matmul over weights kept as GGUF blocks: each weight row is dequantized once
 * and dotted with every token's activation row. */
#include <string.h>

#include "backend/cpu/ops_cpu.h"
#include "quant/fp16.h"
#include "quant/quant.h"

void ct_cpu_get_row(const ct_tensor *t, int64_t r, float *dst) {
    const uint8_t *src = (const uint8_t *)t->data + (size_t)r * t->row_bytes;
    int64_t n = t->ne0;
    switch (t->type) {
    case CT_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case CT_TYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = ct_fp16_to_fp32(h);
        }
        break;
    case CT_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = ct_bf16_to_fp32(h);
        }
        break;
    default:
        /* the loader checked the type is supported and ne0 a multiple of its block size */
        (void)ct_dequantize_row((ct_type)t->type, src, dst, n);
        break;
    }
}

void ct_cpu_matmul_rows(const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias, const ct_tensor *in,
                        int64_t r0, int64_t r1, float *row_scratch) {
    const float *b = bias ? (const float *)bias->data : NULL;
    /* a tile of weight rows at a time, so that a long batch's activations are read once per
     * tile rather than once per row */
    for (int64_t rt = r0; rt < r1; rt += CT_CPU_MATMUL_TILE) {
        int64_t nr = r1 - rt < CT_CPU_MATMUL_TILE ? r1 - rt : CT_CPU_MATMUL_TILE;
        const float *rows[CT_CPU_MATMUL_TILE];
        for (int64_t i = 0; i < nr; i++) {
            if (w->type == CT_TYPE_F32) {
                rows[i] = (const float *)((const uint8_t *)w->data + (size_t)(rt + i) * w->row_bytes);
            } else {
                float *dst = row_scratch + i * w->ne0;
                ct_cpu_get_row(w, rt + i, dst);
                rows[i] = dst;
            }
        }
        for (int64_t t = 0; t < out->ne1; t++) {
            const float *x = (const float *)((const uint8_t *)in->data + (size_t)t * in->row_bytes);
            float *y = (float *)((uint8_t *)out->data + (size_t)t * out->row_bytes);
            for (int64_t i = 0; i < nr; i++) y[rt + i] = ct_cpu_dot(rows[i], x, w->ne0) + (b ? b[rt + i] : 0.0f);
        }
    }
}
