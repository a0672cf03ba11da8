/* Q4_K and Q5_K: 256-element super-blocks of 8 sub-blocks of 32; 4-bit (Q4_K) or 5-bit
 * (Q5_K, high bit in qh) quants, a 6-bit scale and 6-bit min per sub-block packed in 12
 * bytes, fp16 super-scales d and dmin.  x = d*sc*q - dmin*m. */
#include "quant/quant.h"
#include "quant/quant_k_search.h"

void ct_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = ct_fp16_to_fp32(x[i].d);
        const float dmin = ct_fp16_to_fp32(x[i].dmin);
        /* qs[32*p + l]: low nibble is element 64*p + l, high nibble element 64*p + 32 + l */
        for (int sub = 0; sub < QK_K / 32; sub++) {
            uint8_t sc, m;
            ct_kq_get_scale_min_k4(sub, x[i].scales, &sc, &m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            const uint8_t *q = x[i].qs + 32 * (sub / 2);
            const int shift = 4 * (sub % 2);
            for (int l = 0; l < 32; l++) y[32 * sub + l] = d1 * ((q[l] >> shift) & 0xF) - m1;
        }
        y += QK_K;
    }
}

void ct_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = ct_fp16_to_fp32(x[i].d);
        const float dmin = ct_fp16_to_fp32(x[i].dmin);
        /* low 4 bits as in Q4_K; qh[l] bit s is the 5th bit of element 32*s + l */
        for (int sub = 0; sub < QK_K / 32; sub++) {
            uint8_t sc, m;
            ct_kq_get_scale_min_k4(sub, x[i].scales, &sc, &m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            const uint8_t *ql = x[i].qs + 32 * (sub / 2);
            const int shift = 4 * (sub % 2);
            for (int l = 0; l < 32; l++) {
                const int q = ((ql[l] >> shift) & 0xF) + (((x[i].qh[l] >> sub) & 1) << 4);
                y[32 * sub + l] = d1 * q - m1;
            }
        }
        y += QK_K;
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per-sub-block (scale, min) search, 6-bit
 * quantized scales and mins, then the final levels against the stored scales. */
static void quantize_scales_and_levels_k(const float *x, int nmax, float rmin, float rdelta, int nstep,
                                         uint8_t packed_scales[12], uint16_t *d_out, uint16_t *dmin_out,
                                         uint8_t L[QK_K]) {
    uint8_t Laux[32];
    float weights[32];
    float mins[QK_K / 32];
    float scales[QK_K / 32];

    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        /* weight |x| plus the sub-block's rms, so small values still count */
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = ct_kq_make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta,
                                           nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }

    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[QK_K / 32], lm[QK_K / 32];
    for (int j = 0; j < QK_K / 32; ++j) {
        /* stored through uint8_t first, as ggml does, then capped at 63 */
        const uint8_t s = (uint8_t)ct_kq_nearest_int(inv_scale * scales[j]);
        const uint8_t m = (uint8_t)ct_kq_nearest_int(inv_min * mins[j]);
        ls[j] = s < 63 ? s : 63;
        lm[j] = m < 63 ? m : 63;
    }
    ct_kq_pack_scale_min_k4(ls, lm, packed_scales);
    *d_out = ct_fp32_to_fp16(max_scale / 63.f);
    *dmin_out = ct_fp32_to_fp16(max_min / 63.f);

    /* requantize against the stored scales; a zero scale keeps the search's levels */
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        ct_kq_get_scale_min_k4(j, packed_scales, &sc, &m);
        const float d = ct_fp16_to_fp32(*d_out) * sc;
        if (!d) continue;
        const float dm = ct_fp16_to_fp32(*dmin_out) * m;
        for (int ii = 0; ii < 32; ++ii) {
            const int l = ct_kq_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)ct_kq_clamp(l, 0, nmax);
        }
    }
}

void ct_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_scales_and_levels_k(x, 15, -1.f, 0.1f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
        for (int p = 0; p < QK_K / 64; p++)
            for (int l = 0; l < 32; ++l) y[i].qs[32 * p + l] = (uint8_t)(L[64 * p + l] | (L[64 * p + l + 32] << 4));
    }
}

void ct_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_scales_and_levels_k(x, 31, -0.5f, 0.1f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
        memset(y[i].qh, 0, QK_K / 8);
        for (int p = 0; p < QK_K / 64; p++) {
            for (int l = 0; l < 32; ++l) {
                const int lo = L[64 * p + l], hi = L[64 * p + l + 32];
                y[i].qh[l] = (uint8_t)(y[i].qh[l] | ((lo >> 4) << (2 * p)) | ((hi >> 4) << (2 * p + 1)));
                y[i].qs[32 * p + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
            }
        }
    }
}
