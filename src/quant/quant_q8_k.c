/* Q8_K: the activation format of k-quant dot products. 256 int8 quants, a float32 scale,
 * and the sums of each 16 quants (bsums) so dot products can fold in sub-block mins. */
#include "quant/quant.h"
#include "quant/quant_k_search.h"

void ct_dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K)
        for (int j = 0; j < QK_K; ++j) y[j] = x[i].d * x[i].qs[j];
}

static void quantize_block_q8_K(const float *x, block_q8_K *y) {
    float max = 0, amax = 0;
    for (int j = 0; j < QK_K; ++j) {
        const float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (!amax) {
        /* ggml leaves bsums unset here; zeros are what they would sum to */
        memset(y, 0, sizeof *y);
        return;
    }
    /* -127 (not -128) so that every quant is in [-127, 127], as ggml does for IQ kernels */
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; ++j) {
        const int v = ct_kq_nearest_int(iscale * x[j]);
        y->qs[j] = (int8_t)(v < 127 ? (v > -128 ? v : -128) : 127);
    }
    for (int j = 0; j < QK_K / 16; ++j) {
        int sum = 0;
        for (int ii = 0; ii < 16; ++ii) sum += y->qs[16 * j + ii];
        y->bsums[j] = (int16_t)sum;
    }
    y->d = 1 / iscale;
}

void ct_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q8_K(x + i * QK_K, &y[i]);
}
