/* Q3_K: 256-element super-blocks of 16 sub-blocks of 16; 3-bit quants (2 low bits in qs,
 * the high bit in hmask), signed 6-bit sub-block scales, an fp16 super-scale.
 * x = d*(sc-32)*(q-4), where q's high bit set means +4 (so hmask bit clear means q-4). */
#include "quant/quant.h"
#include "quant/quant_k_search.h"

/* 6-bit scale j of 16: low 4 bits in nibbles of bytes 0-7, high 2 bits in bytes 8-11. */
static int q3_K_scale(const uint8_t s[12], int j) {
    const int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return low | (high << 4);
}

void ct_dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d_all = ct_fp16_to_fp32(x[i].d);
        /* qs[32*h + l] holds, in bit pairs 0..3, elements 128*h + 32*pair + l;
         * hmask[l] bit b is the high bit of element 32*b + l */
        for (int sub = 0; sub < QK_K / 16; sub++) {
            const float dl = d_all * (q3_K_scale(x[i].scales, sub) - 32);
            const int half = sub / 8, pair = (sub % 8) / 2, l0 = 16 * (sub % 2);
            const uint8_t *qs = x[i].qs + 32 * half;
            for (int l = l0; l < l0 + 16; l++) {
                const int low = (qs[l] >> (2 * pair)) & 3;
                const int minus = (x[i].hmask[l] >> (sub / 2)) & 1 ? 0 : 4;
                y[16 * sub + l - l0] = dl * (low - minus);
            }
        }
        y += QK_K;
    }
}

static void quantize_block_q3_K(const float *x, block_q3_K *y) {
    int8_t L[QK_K];
    float scales[QK_K / 16];

    float max_scale = 0, amax = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
        scales[j] = ct_kq_make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
        const float scale = fabsf(scales[j]);
        if (scale > amax) {
            amax = scale;
            max_scale = scales[j];
        }
    }

    /* signed 6-bit scales, stored +32 */
    memset(y->scales, 0, 12);
    if (max_scale) {
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < QK_K / 16; ++j) {
            const int l = ct_kq_clamp(ct_kq_nearest_int(iscale * scales[j]), -32, 31) + 32;
            if (j < 8)
                y->scales[j] = (uint8_t)(l & 0xF);
            else
                y->scales[j - 8] = (uint8_t)(y->scales[j - 8] | ((l & 0xF) << 4));
            y->scales[j % 4 + 8] = (uint8_t)(y->scales[j % 4 + 8] | ((l >> 4) << (2 * (j / 4))));
        }
        y->d = ct_fp32_to_fp16(1 / iscale);
    } else {
        y->d = ct_fp32_to_fp16(0.f);
    }

    /* requantize against the stored scales; a zero scale keeps the search's levels */
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = ct_fp16_to_fp32(y->d) * (q3_K_scale(y->scales, j) - 32);
        if (!d) continue;
        for (int ii = 0; ii < 16; ++ii) {
            const int l = ct_kq_nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = (int8_t)(ct_kq_clamp(l, -4, 3) + 4);
        }
    }

    /* high bit of element j goes to hmask[j % 32], bit j / 32 */
    memset(y->hmask, 0, QK_K / 8);
    for (int j = 0; j < QK_K; ++j) {
        if (L[j] > 3) {
            y->hmask[j % 32] = (uint8_t)(y->hmask[j % 32] | (1u << (j / 32)));
            L[j] = (int8_t)(L[j] - 4);
        }
    }
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            y->qs[j / 4 + l] =
                (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

void ct_quantize_row_q3_K(const float *x, block_q3_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q3_K(x + i * QK_K, &y[i]);
}
