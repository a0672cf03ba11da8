/* AVX-512 VNNI level: the shared AVX-512 kernels with vpdpbusd / vpdpwssd products, and
 * BF16 weights through vdpbf16ps when the CPU has AVX512-BF16. */
#include "backend/cpu/kernels/qk_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define QK_VNNI 1
#define QK_TARGET_STR "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
#define QK_LEVEL CT_CPU_AVX512_VNNI
#include "backend/cpu/kernels/qk_avx512_body.h"

/* ---- BF16 weights x BF16 activations with vdpbf16ps (32 products per instruction) ---- */

#define QK_BF16_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16")))

static inline __attribute__((always_inline)) QK_BF16_TARGET void
tile_bf16(const int R, const int T, const uint8_t *w, size_t wb, int64_t n, const uint8_t *act, size_t ab, float *out,
          size_t os) {
    const size_t ahead = prefetch_distance(R, wb);
    __m512 acc[QK_R][QK_T];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 32) {
        const __mmask32 k = n - i >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << (n - i)) - 1);
        __m512bh x[QK_T];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) x[t] = (__m512bh)_mm512_maskz_loadu_epi16(k, act + (size_t)t * ab + 2 * i);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (T == 1) prefetch_span(w + (size_t)r * wb + 2 * (size_t)i + ahead, 64);
            const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(k, w + (size_t)r * wb + 2 * i);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv, x[t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) out[(size_t)t * os + (size_t)r] = _mm512_reduce_add_ps(acc[r][t]);
}

static QK_BF16_TARGET void matmul_bf16_dp(const uint8_t *w, size_t wb, int64_t n, const uint8_t *act, size_t ab,
                                          int64_t nt, float *out, size_t os, int64_t r0, int64_t r1,
                                          bool invariant) {
    (void)invariant; /* tiles of any token count accumulate in the same order */
    int64_t r = r0;
    for (; r + QK_R <= r1; r += QK_R) {
        int64_t t = 0;
        for (; t + QK_T <= nt; t += QK_T)
            tile_bf16(QK_R, QK_T, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
        for (; t < nt; t++) tile_bf16(QK_R, 1, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
    }
    for (; r < r1; r++) {
        int64_t t = 0;
        for (; t + QK_T <= nt; t += QK_T)
            tile_bf16(1, QK_T, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
        for (; t < nt; t++) tile_bf16(1, 1, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
    }
}

void ct_qk_fill_avx512vnni(ct_qkernels *k, bool have_bf16) {
    fill_common(k);
    /* bf16 activations are the Q8 precision's format for BF16 weights; Q16 keeps f32 */
    if (have_bf16 && k->precision == CT_CPU_ACT_Q8) k->matmul[CT_TYPE_BF16] = matmul_bf16_dp;
}
#endif
