/* Q6_K: 256-element super-blocks of 16 sub-blocks of 16; 6-bit quants (low 4 bits in ql,
 * high 2 in qh), signed 8-bit sub-block scales, an fp16 super-scale.  x = d*sc*(q-32). */
#include "quant/quant.h"
#include "quant/quant_k_search.h"

void ct_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = ct_fp16_to_fp32(x[i].d);
        /* Element 128*h + 32*g + l: low nibble in ql[64*h + 32*(g%2) + l] (the high nibble
         * for g >= 2), high bits in qh[32*h + l] at bit pair g. */
        for (int sub = 0; sub < QK_K / 16; sub++) {
            const float dl = d * x[i].scales[sub];
            const int h = sub / 8, g = (sub % 8) / 2, l0 = 16 * (sub % 2);
            const uint8_t *ql = x[i].ql + 64 * h + 32 * (g % 2);
            const uint8_t *qh = x[i].qh + 32 * h;
            const int nibble_shift = g < 2 ? 0 : 4;
            for (int l = l0; l < l0 + 16; l++) {
                const int q = (((ql[l] >> nibble_shift) & 0xF) | (((qh[l] >> (2 * g)) & 3) << 4)) - 32;
                y[16 * sub + l - l0] = dl * q;
            }
        }
        y += QK_K;
    }
}

static void quantize_block_q6_K(const float *x, block_q6_K *y) {
    int8_t L[QK_K];
    float scales[QK_K / 16];

    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        scales[ib] = ct_kq_make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
        const float abs_scale = fabsf(scales[ib]);
        if (abs_scale > max_abs_scale) {
            max_abs_scale = abs_scale;
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < CT_KQ_GROUP_EPS) {
        memset(y, 0, sizeof *y);
        y->d = ct_fp32_to_fp16(0.f);
        return;
    }

    /* signed 8-bit sub-block scales; the largest maps to -128 (capped to 127 on the other side) */
    const float iscale = -128.f / max_scale;
    y->d = ct_fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const int s = ct_kq_nearest_int(iscale * scales[ib]);
        y->scales[ib] = (int8_t)(s < 127 ? s : 127);
    }

    /* requantize against the stored scales; a zero scale keeps the search's levels */
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = ct_fp16_to_fp32(y->d) * y->scales[j];
        if (!d) continue;
        for (int ii = 0; ii < 16; ++ii) {
            const int l = ct_kq_nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = (int8_t)(ct_kq_clamp(l, -32, 31) + 32);
        }
    }

    for (int h = 0; h < QK_K / 128; h++) {
        const int8_t *Lh = L + 128 * h;
        uint8_t *ql = y->ql + 64 * h;
        uint8_t *qh = y->qh + 32 * h;
        for (int l = 0; l < 32; ++l) {
            ql[l] = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
            ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
            qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                              ((Lh[l + 96] >> 4) << 6));
        }
    }
}

void ct_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q6_K(x + i * QK_K, &y[i]);
}
