/* Q2_K: 256-element super-blocks of 16 sub-blocks of 16; 2-bit quants, a 4-bit scale and a
 * 4-bit min per sub-block, fp16 super-scales d and dmin.  x = d*sc*q - dmin*m. */
#include "quant/quant.h"
#include "quant/quant_k_search.h"

void ct_dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = ct_fp16_to_fp32(x[i].d);
        const float dmin = ct_fp16_to_fp32(x[i].dmin);
        /* qs[32*h + l] holds, in bit pairs 0..3, elements 128*h + 32*pair + l */
        for (int sub = 0; sub < QK_K / 16; sub++) {
            const uint8_t sc = x[i].scales[sub];
            const float dl = d * (sc & 0xF);
            const float ml = dmin * (sc >> 4);
            const int half = sub / 8, pair = (sub % 8) / 2, l0 = 16 * (sub % 2);
            const uint8_t *qs = x[i].qs + 32 * half;
            for (int l = l0; l < l0 + 16; l++) y[16 * sub + l - l0] = dl * ((qs[l] >> (2 * pair)) & 3) - ml;
        }
        y += QK_K;
    }
}

static void quantize_block_q2_K(const float *x, block_q2_K *y) {
    uint8_t L[QK_K];
    uint8_t Laux[16];
    float weights[16];
    float mins[QK_K / 16];
    float scales[QK_K / 16];
    const float q4scale = 15.f;

    /* best (scale, min) per sub-block, weighting each element by |x| (mean abs error) */
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
        for (int l = 0; l < 16; ++l) weights[l] = fabsf(x[16 * j + l]);
        scales[j] = ct_kq_make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f,
                                           15, true);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }

    /* 4-bit sub-block scales and mins relative to the largest of each */
    if (max_scale > 0) {
        const float iscale = q4scale / max_scale;
        for (int j = 0; j < QK_K / 16; ++j) y->scales[j] = (uint8_t)ct_kq_nearest_int(iscale * scales[j]);
        y->d = ct_fp32_to_fp16(max_scale / q4scale);
    } else {
        memset(y->scales, 0, sizeof y->scales);
        y->d = ct_fp32_to_fp16(0.f);
    }
    if (max_min > 0) {
        const float iscale = q4scale / max_min;
        for (int j = 0; j < QK_K / 16; ++j)
            y->scales[j] = (uint8_t)(y->scales[j] | ((unsigned)ct_kq_nearest_int(iscale * mins[j]) << 4));
        y->dmin = ct_fp32_to_fp16(max_min / q4scale);
    } else {
        y->dmin = ct_fp32_to_fp16(0.f);
    }

    /* requantize against the scales as stored; a zero scale keeps the search's levels */
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = ct_fp16_to_fp32(y->d) * (y->scales[j] & 0xF);
        if (!d) continue;
        const float dm = ct_fp16_to_fp32(y->dmin) * (y->scales[j] >> 4);
        for (int ii = 0; ii < 16; ++ii) {
            const int l = ct_kq_nearest_int((x[16 * j + ii] + dm) / d);
            L[16 * j + ii] = (uint8_t)ct_kq_clamp(l, 0, 3);
        }
    }

    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            y->qs[j / 4 + l] =
                (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

void ct_quantize_row_q2_K(const float *x, block_q2_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q2_K(x + i * QK_K, &y[i]);
}
