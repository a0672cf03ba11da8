/* AVX-512 kernels, compiled twice: by qk_avx512.c (F/BW/VL: vpmaddubsw + vpmaddwd) and by
 * qk_avx512vnni.c (+VNNI: vpdpbusd, vpdpwssd). The includer defines QK_VNNI (0 or 1),
 * QK_TARGET_STR (the target attribute string), QK_FILL (the fill function's name) and
 * QK_LEVEL.
 *
 * Every quantized type goes through one shape of code:
 *   expand:  weight blocks -> an "expanded" struct of vectors (unsigned 8-bit levels in
 *            element order, 16-bit sub-block scales, float block scales);
 *   compute: expanded weights x one token's activations -> a vector accumulator.
 * Matrix-vector (decode) expands each weight block into registers and uses it once.
 * Matrix-matrix (prefill) expands R rows x a chunk of K once into an L1-sized scratch and
 * reuses it for every token, T tokens at a time, so the unpacking cost is paid once per
 * weight block instead of once per token. */
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>

#include "backend/cpu/kernels/qk_internal.h"

#define QK_TARGET __attribute__((target(QK_TARGET_STR)))
#define QK_INLINE static inline __attribute__((always_inline)) QK_TARGET

enum {
    QK_R = 4,          /* weight rows per tile */
    QK_T = 4,          /* tokens per tile (matrix-matrix) */
    QK_GEMM_MIN_T = 4, /* fewer tokens than this: one matrix-vector product per token */
    QK_KC32 = 16,      /* block pairs (64 elements each) per K chunk of the scratch */
    QK_KC256 = 8,      /* super-blocks per K chunk of the scratch */
    QK_PREFETCH_MAX = 65536, /* matrix-vector prefetch distance cap, bytes */
};

/* acc += sum over each group of 4 bytes of u (unsigned) * s (signed), per int32 lane. */
QK_INLINE __m512i dot_u8s8(__m512i acc, __m512i u, __m512i s) {
#if QK_VNNI
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

/* acc += p[2i] * s[2i] + p[2i+1] * s[2i+1] (int16 pairs into int32 lanes). */
QK_INLINE __m512i dot_i16(__m512i acc, __m512i p, __m512i s) {
#if QK_VNNI
    return _mm512_dpwssd_epi32(acc, p, s);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(p, s));
#endif
}

/* Matrix-vector kernels read R rows side by side, R short streams that the hardware
 * prefetcher alone kept at ~7 of ~40 GB/s. So each row is prefetched `ahead` bytes ahead:
 * the same position in the next tile's rows (one tile ahead). Measured on the 2-core Zen 5
 * VM, a fixed 4 KB ahead within each row was ~40% slower for 6 KB rows than one tile ahead;
 * only rows so long that a tile exceeds QK_PREFETCH_MAX fall back to a distance along the
 * row. Prefetching past the matrix is harmless (prefetches never fault). */
QK_INLINE void prefetch_span(const uint8_t *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 64) _mm_prefetch((const char *)(p + i), _MM_HINT_T0);
}

QK_INLINE size_t prefetch_distance(int R, size_t wb) {
    return (size_t)R * wb < QK_PREFETCH_MAX ? (size_t)R * wb : QK_PREFETCH_MAX;
}

QK_INLINE float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

QK_INLINE uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* [a x8, b x8] as floats, from two fp16 values */
QK_INLINE __m512 f16_pair(uint16_t a, uint16_t b) {
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)a)),
                                              _mm_set1_epi16((short)b), 1);
    return _mm512_cvtph_ps(h);
}

/* ========================================================================================
 * Q16 matrix-matrix through int16 x int16 products (vpdpwssd), for Q4_K, Q6_K and Q8_0.
 * The (qs, ql) halves cost two int8 products per weight byte plus the scale work; here each
 * call first turns its tokens' activations into one int16 value per element (V = 256 qs +
 * ql, exactly the value the halves stand for), and each tile of weight rows is expanded
 * into int16 levels already multiplied by their sub-block scale (offsets folded in), so one
 * vpdpwssd does 32 multiply-adds of the full-precision product and a 256-element group
 * needs 8 of them, one int32 -> float conversion and two float operations per row and token.
 * A group is 256 elements: a k-quant super-block (every lane shares one scale d), or eight
 * 32-element blocks stored transposed in 4-element units, so that int32 lanes 2b and 2b+1
 * hold block b's products and the float scale is a per-lane vector.
 * int32 lanes: 16 products each; |level x scale| <= 4096 (Q6_K: 32 x 128), |V| <= 32639:
 * 16 x 4096 x 32639 = 2139029504 < 2^31 - 1, so the integer part is exact.
 * ======================================================================================== */

enum {
    QK_W16_GROUP = 640, /* bytes of one expanded group: int16[256] | float[16] scale | float[16] min term */
    QK_W16_KC = 8,      /* groups per K chunk of the weight scratch */
    QK_W16_R = 4,       /* rows per tile */
    QK_W16_T = 3,       /* tokens per tile */
    /* fewer tokens than this take the two-halves kernels: the conversion and the expansion
     * are paid per call and per tile of rows, and the matrix-vector kernels (below 4 tokens)
     * and the two-halves tiles (4-15 tokens) then give a short batch the same arithmetic as
     * decode steps of the same tokens, as before; batch-invariant calls never take it */
    QK_W16_MIN_T = 16,
};

/* A Q6_K block's 256 levels (0..63) as bytes, four 64-byte vectors: element 128h + 32g + l
 * in q[2h + g/2], byte 32(g%2) + l; the low nibble from ql[64h + 32(g%2) + l] (>> 4 for
 * g >= 2), the high 2 bits from qh[32h + l] at bit pair g. */
QK_INLINE void q6k_levels(const block_q6_K *b, __m512i q[4]) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m512i l = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        const __m512i h01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_slli_epi16(qh, 4)), _mm256_slli_epi16(qh, 2), 1);
        const __m512i h23 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, low4), _mm512_and_si512(h01, bits45));
        q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4), _mm512_and_si512(h23, bits45));
    }
}

QK_INLINE int w16_type(const int type) { return type == CT_TYPE_Q4_K || type == CT_TYPE_Q6_K || type == CT_TYPE_Q8_0; }
QK_INLINE int w16_has_min(const int type) { return type == CT_TYPE_Q4_K; }

/* thread-local scratch for the converted activations, freed when the thread exits */
static pthread_key_t w16_key;
static pthread_once_t w16_key_once = PTHREAD_ONCE_INIT;
static _Thread_local void *w16_buf;
static _Thread_local size_t w16_cap;
static void w16_make_key(void) { (void)pthread_key_create(&w16_key, free); }

static void *w16_scratch(size_t bytes) {
    if (bytes <= w16_cap) return w16_buf;
    pthread_once(&w16_key_once, w16_make_key);
    free(w16_buf);
    bytes = (bytes + 65535) & ~(size_t)65535;
    w16_buf = aligned_alloc(64, bytes);
    w16_cap = w16_buf ? bytes : 0;
    (void)pthread_setspecific(w16_key, w16_buf);
    return w16_buf;
}

/* the int16 value of 32 elements from their halves */
QK_INLINE __m512i w16_v32(const int8_t *qs, const int8_t *ql) {
    const __m512i hi = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)qs));
    const __m512i lo = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)ql));
    return _mm512_add_epi16(_mm512_slli_epi16(hi, 8), lo);
}

/* 8x8 transpose of 64-bit units: r[i] unit c <-> r[c] unit i */
QK_INLINE void w16_transpose8(__m512i r[8]) {
#pragma GCC unroll 3
    for (int d = 4; d >= 1; d /= 2) {
        __m512i ia, ib;
        {
            int64_t a[8], b[8];
            for (int c = 0; c < 8; c++) {
                a[c] = c & d ? 8 + c - d : c;
                b[c] = c & d ? 8 + c : c + d;
            }
            ia = _mm512_loadu_si512((const void *)a);
            ib = _mm512_loadu_si512((const void *)b);
        }
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            if (!(i & d)) {
                const __m512i x = r[i], y = r[i + d];
                r[i] = _mm512_permutex2var_epi64(x, ia, y);
                r[i + d] = _mm512_permutex2var_epi64(x, ib, y);
            }
    }
}

/* Activations of one token: groups [0, ng) of the row -> dst (ng x QK_W16_GROUP bytes). */
QK_INLINE void w16_convert(const int type, const uint8_t *act, int64_t n, uint8_t *dst) {
    if (type == CT_TYPE_Q8_0) {
        const ct_act_view a = ct_act_view_q8_32(act, n);
        const int64_t nb = n / 32;
        for (int64_t g = 0; g * 8 < nb; g++, dst += QK_W16_GROUP) {
            const int64_t b0 = 8 * g, nbg = nb - b0 < 8 ? nb - b0 : 8;
            __m512i v[8];
#pragma GCC unroll 8
            for (int b = 0; b < 8; b++)
                v[b] = b < nbg ? w16_v32(a.qs + 32 * (b0 + b), a.ql + 32 * (b0 + b)) : _mm512_setzero_si512();
            w16_transpose8(v);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) _mm512_store_si512((void *)(dst + 64 * j), v[j]);
            /* lanes 2b, 2b+1: block b's scale; the min term is unused (Q8_0 has none) */
            const __mmask16 kb = (__mmask16)((1u << nbg) - 1);
            const __m512i pair_idx = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
            const __m512 d8 = _mm512_maskz_loadu_ps(kb, a.d + b0);
            _mm512_store_ps((float *)(dst + 512), _mm512_permutexvar_ps(pair_idx, d8));
            _mm512_store_ps((float *)(dst + 576), _mm512_setzero_ps());
        }
        return;
    }
    const ct_act_view a = ct_act_view_q8_256(act, n);
    for (int64_t g = 0; g < n / 256; g++, dst += QK_W16_GROUP) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            _mm512_store_si512((void *)(dst + 64 * j), w16_v32(a.qs + 256 * g + 32 * j, a.ql + 256 * g + 32 * j));
        const __m512 da = _mm512_set1_ps(a.d[g]);
        _mm512_store_ps((float *)(dst + 512), da);
        /* the sums of V over each 16 elements: (hs, ls) pairs . (256, 1) */
        const __m512i s = _mm512_madd_epi16(_mm512_loadu_si512((const void *)(a.bsums + 32 * g)), _mm512_set1_epi32(0x00010100));
        _mm512_store_ps((float *)(dst + 576), _mm512_mul_ps(_mm512_cvtepi32_ps(s), da));
    }
}

/* One row's groups [g0, g0 + ng) -> dst (ng x QK_W16_GROUP bytes). */
QK_INLINE void w16_expand(const int type, const uint8_t *row, int64_t n, int64_t g0, int64_t ng, uint8_t *dst) {
    for (int64_t g = g0; g < g0 + ng; g++, dst += QK_W16_GROUP) {
        __m512i *w = (__m512i *)dst;
        float *dv = (float *)(dst + 512), *mv = (float *)(dst + 576);
        if (type == CT_TYPE_Q8_0) {
            const int64_t nb = n / 32, b0 = 8 * g, nbg = nb - b0 < 8 ? nb - b0 : 8;
            __m512i v[8];
            __m512 d8 = _mm512_setzero_ps();
            float ds[16] = {0};
            for (int b = 0; b < 8; b++) {
                if (b < nbg) {
                    const uint8_t *p = row + (size_t)(b0 + b) * sizeof(block_q8_0);
                    v[b] = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(p + 2)));
                    ds[2 * b] = ds[2 * b + 1] = f16_to_f32(load_u16(p));
                } else {
                    v[b] = _mm512_setzero_si512();
                }
            }
            w16_transpose8(v);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) _mm512_store_si512(w + j, v[j]);
            d8 = _mm512_loadu_ps(ds);
            _mm512_store_ps(dv, d8);
            _mm512_store_ps(mv, _mm512_setzero_ps());
        } else if (type == CT_TYPE_Q4_K) {
            const uint8_t *p = row + (size_t)g * sizeof(block_q4_K);
            uint32_t sw[4];
            ct_qk_k4_scale_words(p + 4, sw);
            uint8_t sc[8], m[8];
            memcpy(sc, sw, 8);
            memcpy(m, sw + 2, 8);
            const __m256i low4 = _mm256_set1_epi8(0x0F);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * c));
                const __m512i lo = _mm512_cvtepu8_epi16(_mm256_and_si256(q, low4));
                const __m512i hi = _mm512_cvtepu8_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
                _mm512_store_si512(w + 2 * c, _mm512_mullo_epi16(lo, _mm512_set1_epi16((short)sc[2 * c])));
                _mm512_store_si512(w + 2 * c + 1, _mm512_mullo_epi16(hi, _mm512_set1_epi16((short)sc[2 * c + 1])));
            }
            const float d = f16_to_f32(load_u16(p)), dm = f16_to_f32(load_u16(p + 2));
            _mm512_store_ps(dv, _mm512_set1_ps(d));
            const __m512 mf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_setr_epi8(
                (char)m[0], (char)m[0], (char)m[1], (char)m[1], (char)m[2], (char)m[2], (char)m[3], (char)m[3], (char)m[4],
                (char)m[4], (char)m[5], (char)m[5], (char)m[6], (char)m[6], (char)m[7], (char)m[7])));
            _mm512_store_ps(mv, _mm512_mul_ps(mf, _mm512_set1_ps(-dm)));
        } else { /* Q6_K */
            const block_q6_K *b = (const block_q6_K *)(row + (size_t)g * sizeof(block_q6_K));
            __m512i q[4];
            q6k_levels(b, q);
            const __m512i s16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales)));
            const __m512i off = _mm512_set1_epi16(32);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                const __m256i half = j % 2 ? _mm512_extracti64x4_epi64(q[j / 2], 1) : _mm512_castsi512_si256(q[j / 2]);
                const __m512i lv = _mm512_sub_epi16(_mm512_cvtepu8_epi16(half), off);
                const __m512i sidx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(2 * j))),
                                                        _mm256_set1_epi16((short)(2 * j + 1)), 1);
                _mm512_store_si512(w + j, _mm512_mullo_epi16(lv, _mm512_permutexvar_epi16(sidx, s16)));
            }
            _mm512_store_ps(dv, _mm512_set1_ps(f16_to_f32(b->d)));
            _mm512_store_ps(mv, _mm512_setzero_ps());
        }
    }
}

/* R rows (buf: r-th row's groups at buf + r * QK_W16_KC * QK_W16_GROUP) x T tokens (act: token t's
 * groups at act + t * as) over ng groups; adds into out (or stores when first). */
/* [sum(a), sum(b), sum(c), sum(d)] */
QK_INLINE __m128 w16_sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    /* halves: [a lo+hi (8), b lo+hi (8)] and the same for c, d */
    const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
    /* 128-bit lanes: [a (4), b (4), c (4), d (4)] */
    __m512 y = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
    y = _mm512_add_ps(y, _mm512_permute_ps(y, 0x4E)); /* swap pairs within each lane */
    y = _mm512_add_ps(y, _mm512_permute_ps(y, 0xB1)); /* swap neighbours: every element = the lane's sum */
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), y));
}

QK_INLINE void w16_tile(const int type, const int R, const int T, const uint8_t *buf, const uint8_t *act, size_t as,
                        int64_t ng, float *out, size_t os, int first) {
    __m512 accf[QK_W16_R][QK_W16_T];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) accf[r][t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < ng; k++) {
        __m512i acc[QK_W16_R][QK_W16_T];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_si512();
        const uint8_t *ak = act + (size_t)k * QK_W16_GROUP, *wk = buf + (size_t)k * QK_W16_GROUP;
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i v[QK_W16_T];
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) v[t] = _mm512_load_si512((const void *)(ak + (size_t)t * as + 64 * j));
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m512i w = _mm512_load_si512((const void *)(wk + (size_t)r * QK_W16_KC * QK_W16_GROUP + 64 * j));
#pragma GCC unroll 8
                for (int t = 0; t < T; t++) acc[r][t] = dot_i16(acc[r][t], w, v[t]);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint8_t *wr = wk + (size_t)r * QK_W16_KC * QK_W16_GROUP;
            const __m512 dw = _mm512_load_ps((const float *)(wr + 512));
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const uint8_t *at = ak + (size_t)t * as;
                const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][t]), dw);
                accf[r][t] = _mm512_fmadd_ps(f, _mm512_load_ps((const float *)(at + 512)), accf[r][t]);
                if (w16_has_min(type))
                    accf[r][t] = _mm512_fmadd_ps(_mm512_load_ps((const float *)(wr + 576)),
                                                 _mm512_load_ps((const float *)(at + 576)), accf[r][t]);
            }
        }
    }
    if (R == 4) { /* each token's 4 row sums at once, into out[t][0..3] */
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const __m128 v = w16_sum4(accf[0][t], accf[1][t], accf[2][t], accf[3][t]);
            float *o = &out[(size_t)t * os];
            _mm_storeu_ps(o, first ? v : _mm_add_ps(_mm_loadu_ps(o), v));
        }
        return;
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const float v = _mm512_reduce_add_ps(accf[r][t]);
            float *o = &out[(size_t)t * os + (size_t)r];
            *o = first ? v : *o + v;
        }
}

QK_INLINE void w16_rows(const int type, const int R, const uint8_t *w, size_t wb, int64_t n, const uint8_t *cv,
                        size_t as, int64_t ng, int64_t nt, float *out, size_t os, uint8_t *buf) {
    for (int64_t g0 = 0; g0 < ng; g0 += QK_W16_KC) {
        const int64_t kc = ng - g0 < QK_W16_KC ? ng - g0 : QK_W16_KC;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            w16_expand(type, w + (size_t)r * wb, n, g0, kc, buf + (size_t)r * QK_W16_KC * QK_W16_GROUP);
        const uint8_t *ag = cv + (size_t)g0 * QK_W16_GROUP;
        int64_t t = 0;
        for (; t + QK_W16_T <= nt; t += QK_W16_T)
            w16_tile(type, R, QK_W16_T, buf, ag + (size_t)t * as, as, kc, out + (size_t)t * os, os, g0 == 0);
        for (; t < nt; t++) w16_tile(type, R, 1, buf, ag + (size_t)t * as, as, kc, out + (size_t)t * os, os, g0 == 0);
    }
}

/* The whole call; false when the scratch could not be had (the caller then runs the
 * two-halves kernels). */
QK_INLINE bool w16_matmul(const int type, const uint8_t *w, size_t wb, int64_t n, const uint8_t *act, size_t ab,
                          int64_t nt, float *out, size_t os, int64_t r0, int64_t r1) {
    const int64_t ng = (n + 255) / 256;
    const size_t as = (size_t)ng * QK_W16_GROUP;
    uint8_t *cv = w16_scratch(as * (size_t)nt);
    if (!cv) return false;
    for (int64_t t = 0; t < nt; t++) w16_convert(type, act + (size_t)t * ab, n, cv + (size_t)t * as);
    uint8_t buf[QK_W16_R * QK_W16_KC * QK_W16_GROUP] __attribute__((aligned(64)));
    int64_t r = r0;
    for (; r + QK_W16_R <= r1; r += QK_W16_R)
        w16_rows(type, QK_W16_R, w + (size_t)r * wb, wb, n, cv, as, ng, nt, out + r, os, buf);
    for (; r < r1; r++) w16_rows(type, 1, w + (size_t)r * wb, wb, n, cv, as, ng, nt, out + r, os, buf);
    return true;
}

/* ========================================================================================
 * 32-element blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), two blocks per vector.
 * Expanded: u = unsigned levels of blocks b, b+1 in element order; the dot of a block is
 *   (dw * da) * (sum(u * a) - off * sum(a)) + m * s,
 * with off the type's level offset and a = qs (P = 1, the Q8 precision) or 256 qs + ql
 * (P = 2, Q16: two products per byte, sum(u * a) = 256 sum(u * qs) + sum(u * ql)); the
 * integer part is exact in every lane (|lane| <= 4 * 255 * 127 * 257 + the offset term
 * 128 * 4 * 32512 < 2^26).
 * ======================================================================================== */

typedef struct {
    __m512i u;
    __m512 d;   /* [dw_b x8, dw_b+1 x8] */
    __m512 m;   /* [m_b x8, m_b+1 x8] (types with a min) */
    __mmask64 neg; /* Q8_0 without VNNI: elements whose weight is negative (u = |w|) */
} e32;

typedef struct {
    __m512i a;  /* activations of blocks b, b+1: qs */
    __m512i al; /* their ql (P = 2) */
    __m512i c;  /* -off * (sum of a over each lane's 4 bytes): the exact offset correction */
    __m512 d;   /* [da_b x8, da_b+1 x8] */
    __m512 s;   /* [s_b / 8 x8, s_b+1 / 8 x8]: each lane adds an eighth of m * s */
} a32;

QK_INLINE int type_off32(const int type) {
    switch (type) {
    case CT_TYPE_Q4_0: return 8;
    case CT_TYPE_Q5_0: return 16;
#if QK_VNNI
    case CT_TYPE_Q8_0: return 128; /* u = w + 128, vpdpbusd takes the full 0..255 range */
#endif
    default: return 0;
    }
}

QK_INLINE int type_has_min32(const int type) { return type == CT_TYPE_Q4_1 || type == CT_TYPE_Q5_1; }
QK_INLINE int type_neg32(const int type) { return !QK_VNNI && type == CT_TYPE_Q8_0; }

QK_INLINE size_t block_bytes32(const int type) {
    switch (type) {
    case CT_TYPE_Q4_0: return sizeof(block_q4_0);
    case CT_TYPE_Q4_1: return sizeof(block_q4_1);
    case CT_TYPE_Q5_0: return sizeof(block_q5_0);
    case CT_TYPE_Q5_1: return sizeof(block_q5_1);
    default: return sizeof(block_q8_0);
    }
}

/* 16 bytes of packed nibbles -> [low nibbles, high nibbles] = the block's 32 levels */
QK_INLINE __m256i nibbles32(const uint8_t *qs) {
    const __m128i x = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
}

/* Expand blocks b and b+1 (b+1 absent when single: its lanes become zeros). */
QK_INLINE void expand32(const int type, const uint8_t *row, int64_t b, int single, e32 *e) {
    const size_t bs = block_bytes32(type);
    const uint8_t *p0 = row + (size_t)b * bs, *p1 = p0 + bs;
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const uint16_t d0 = load_u16(p0), d1 = single ? 0 : load_u16(p1);
    e->d = f16_pair(d0, d1);
    e->m = _mm512_setzero_ps();
    e->neg = 0;
    switch (type) {
    case CT_TYPE_Q4_0:
    case CT_TYPE_Q4_1:
    case CT_TYPE_Q5_0:
    case CT_TYPE_Q5_1: {
        const size_t qs_off = type == CT_TYPE_Q4_0 ? 2 : type == CT_TYPE_Q4_1 ? 4 : type == CT_TYPE_Q5_0 ? 6 : 8;
        const __m256i lo = nibbles32(p0 + qs_off);
        const __m256i hi = single ? _mm256_setzero_si256() : nibbles32(p1 + qs_off);
        e->u = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), low4);
        if (type == CT_TYPE_Q5_0 || type == CT_TYPE_Q5_1) {
            /* the fifth bits are a 32-bit mask per block, bit j = element j */
            const size_t qh_off = type == CT_TYPE_Q5_0 ? 2 : 4;
            const uint64_t h = (uint64_t)ct_qk_load_u32(p0 + qh_off) |
                               (single ? 0 : (uint64_t)ct_qk_load_u32(p1 + qh_off) << 32);
            e->u = _mm512_mask_add_epi8(e->u, _cvtu64_mask64(h), e->u, _mm512_set1_epi8(16));
        }
        if (type_has_min32(type)) e->m = f16_pair(load_u16(p0 + 2), single ? 0 : load_u16(p1 + 2));
        break;
    }
    default: { /* Q8_0 */
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(p0 + 2));
        const __m256i w1 = single ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *)(p1 + 2));
        const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(w0), w1, 1);
        if (type_neg32(type)) {
            e->neg = _mm512_movepi8_mask(w);
            e->u = _mm512_abs_epi8(w); /* |-128| = 128 reads as unsigned 128 */
        } else {
            e->u = _mm512_xor_si512(w, _mm512_set1_epi8((char)0x80));
            if (single) e->u = _mm512_maskz_mov_epi8(0xFFFFFFFFull, e->u);
        }
        break;
    }
    }
}

/* Activations of blocks b and b+1 (only b when single). */
QK_INLINE void prep32(const int type, const int P, const ct_act_view *a, int64_t b, int single, a32 *o) {
    const __mmask64 kq = single ? 0xFFFFFFFFull : ~0ull;
    const __mmask16 kd = single ? 0x1 : 0x3;
    o->a = _mm512_maskz_loadu_epi8(kq, a->qs + 32 * b);
    o->al = P == 2 ? _mm512_maskz_loadu_epi8(kq, a->ql + 32 * b) : _mm512_setzero_si512();
    const __m512i pair_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    o->d = _mm512_permutexvar_ps(pair_idx, _mm512_maskz_loadu_ps(kd, a->d + b));
    const int off = type_off32(type);
    o->c = _mm512_setzero_si512();
    if (off) {
        const __m512i offs = _mm512_set1_epi8((char)off);
        __m512i sum = dot_u8s8(_mm512_setzero_si512(), offs, o->a);
        if (P == 2) sum = dot_u8s8(_mm512_slli_epi32(sum, 8), offs, o->al);
        o->c = _mm512_sub_epi32(o->c, sum);
    }
    o->s = _mm512_setzero_ps();
    if (type_has_min32(type))
        o->s = _mm512_mul_ps(_mm512_permutexvar_ps(pair_idx, _mm512_maskz_loadu_ps(kd, a->s + b)), _mm512_set1_ps(0.125f));
}

QK_INLINE __m512 compute32(const int type, const int P, const e32 *e, const a32 *a, __m512 acc) {
    __m512i lanes;
    if (type_neg32(type)) {
        const __m512i as = _mm512_mask_sub_epi8(a->a, e->neg, _mm512_setzero_si512(), a->a);
        lanes = dot_u8s8(_mm512_setzero_si512(), e->u, as);
        if (P == 2) {
            const __m512i asl = _mm512_mask_sub_epi8(a->al, e->neg, _mm512_setzero_si512(), a->al);
            lanes = dot_u8s8(_mm512_slli_epi32(lanes, 8), e->u, asl);
        }
    } else if (P == 2) {
        /* two independent products, then 256 * hi + lo */
        const __m512i hi = dot_u8s8(_mm512_setzero_si512(), e->u, a->a);
        lanes = _mm512_add_epi32(dot_u8s8(a->c, e->u, a->al), _mm512_slli_epi32(hi, 8));
    } else {
        lanes = dot_u8s8(a->c, e->u, a->a);
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lanes), _mm512_mul_ps(e->d, a->d), acc);
    if (type_has_min32(type)) acc = _mm512_fmadd_ps(e->m, a->s, acc);
    return acc;
}

/* Matrix-vector: rows [0, R) of w against one token. */
QK_INLINE void gemv32(const int type, const int P, const int R, const uint8_t *w, size_t wb, int64_t n,
                      const uint8_t *act, float *out) {
    const ct_act_view a = ct_act_view_q8_32(act, n);
    const int64_t nb = n / 32;
    const size_t ahead = prefetch_distance(R, wb);
    __m512 acc[QK_R];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        a32 at;
        prep32(type, P, &a, b, 0, &at);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            e32 e;
            prefetch_span(w + (size_t)r * wb + (size_t)b * block_bytes32(type) + ahead, 2 * block_bytes32(type));
            expand32(type, w + (size_t)r * wb, b, 0, &e);
            acc[r] = compute32(type, P, &e, &at, acc[r]);
        }
    }
    if (b < nb) {
        a32 at;
        prep32(type, P, &a, b, 1, &at);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            e32 e;
            expand32(type, w + (size_t)r * wb, b, 1, &e);
            acc[r] = compute32(type, P, &e, &at, acc[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) out[r] = _mm512_reduce_add_ps(acc[r]);
}

/* Matrix-matrix tile: R rows (expanded in buf[r][pair]) x T tokens over npairs pairs
 * starting at block b0; adds into out (or stores when first). */
QK_INLINE void tile32(const int type, const int P, const int R, const int T, const e32 *buf, int64_t b0,
                      int64_t npairs, int last_single, const uint8_t *act, size_t ab, int64_t n, float *out, size_t os,
                      int first) {
    __m512 acc[QK_R][QK_T];
    ct_act_view av[QK_T];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) av[t] = ct_act_view_q8_32(act + (size_t)t * ab, n);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t p = 0; p < npairs; p++) {
        const int single = last_single && p == npairs - 1;
        a32 at[QK_T];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) prep32(type, P, &av[t], b0 + 2 * p, single, &at[t]);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const e32 *e = &buf[r * QK_KC32 + p];
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[r][t] = compute32(type, P, e, &at[t], acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const float v = _mm512_reduce_add_ps(acc[r][t]);
            float *o = &out[(size_t)t * os + (size_t)r];
            *o = first ? v : *o + v;
        }
}

QK_INLINE void gemm32_rows(const int type, const int P, const int R, const uint8_t *w, size_t wb, int64_t n,
                           const uint8_t *act, size_t ab, int64_t nt, float *out, size_t os) {
    e32 buf[QK_R * QK_KC32];
    const int64_t nb = n / 32;
    for (int64_t b0 = 0; b0 < nb; b0 += 2 * QK_KC32) {
        const int64_t nblk = nb - b0 < 2 * QK_KC32 ? nb - b0 : 2 * QK_KC32;
        const int64_t npairs = (nblk + 1) / 2;
        const int last_single = nblk % 2;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            for (int64_t p = 0; p < npairs; p++)
                expand32(type, w + (size_t)r * wb, b0 + 2 * p, last_single && p == npairs - 1, &buf[r * QK_KC32 + p]);
        int64_t t = 0;
        for (; t + QK_T <= nt; t += QK_T)
            tile32(type, P, R, QK_T, buf, b0, npairs, last_single, act + (size_t)t * ab, ab, n, out + (size_t)t * os,
                   os, b0 == 0);
        for (; t < nt; t++)
            tile32(type, P, R, 1, buf, b0, npairs, last_single, act + (size_t)t * ab, ab, n, out + (size_t)t * os, os,
                   b0 == 0);
    }
}

QK_INLINE void matmul32(const int type, const int P, const uint8_t *w, size_t wb, int64_t n, const uint8_t *act,
                        size_t ab, int64_t nt, float *out, size_t os, int64_t r0, int64_t r1, bool invariant) {
    if (P == 2 && w16_type(type) && !invariant && nt >= QK_W16_MIN_T && w16_matmul(type, w, wb, n, act, ab, nt, out, os, r0, r1))
        return;
    if (nt < QK_GEMM_MIN_T && !invariant) {
        for (int64_t t = 0; t < nt; t++) {
            const uint8_t *at = act + (size_t)t * ab;
            float *ot = out + (size_t)t * os;
            int64_t r = r0;
            for (; r + QK_R <= r1; r += QK_R) gemv32(type, P, QK_R, w + (size_t)r * wb, wb, n, at, ot + r);
            for (; r < r1; r++) gemv32(type, P, 1, w + (size_t)r * wb, wb, n, at, ot + r);
        }
        return;
    }
    int64_t r = r0;
    for (; r + QK_R <= r1; r += QK_R) gemm32_rows(type, P, QK_R, w + (size_t)r * wb, wb, n, act, ab, nt, out + r, os);
    for (; r < r1; r++) gemm32_rows(type, P, 1, w + (size_t)r * wb, wb, n, act, ab, nt, out + r, os);
}

/* ========================================================================================
 * k-quants (Q2_K..Q6_K), 256-element super-blocks. Expanded: q[c] = unsigned levels of
 * elements 64c..64c+63, sc[c] = the 16-bit scale of each int16 pair lane, mc = the 16
 * per-sub-block coefficients of the activation sums (mins, or offset * scale), so
 *   dot = (d * da) * sum(sc * q * a) - (dm * da) * sum(mc * bsum)
 * For the offset types (Q3_K, Q6_K: dm = d) the two integers are subtracted first, exactly.
 * At the Q16 precision (P = 2) each half (qs, ql) has its own integer sums; they are combined
 * as 256 * hi + lo in int32 where that cannot overflow (Q2_K..Q5_K: |lane| < 2^30), and in
 * float for Q6_K, whose signed 8-bit scales could overflow it.
 * ======================================================================================== */

typedef struct {
    __m512i q[4];
    __m512i sc[4];
    __m512i sc256[4]; /* P = 2 (not Q6_K): sc * 256, for the qs half */
    __m256i mc;
    __m512i mcp;      /* mc as int16 pairs against the (qs, ql) sum pairs: (mc, 0) at P = 1 and
                         for Q6_K, (256 mc, mc) at P = 2 */
    __m512i mcp_lo;   /* Q6_K at P = 2: (0, mc) */
    float d, dm;
} e256;

#define QK_I8(v) v, v, v, v, v, v, v, v
/* int16 lane k of chunk c belongs to sub-block 4c + k/8 */
static const int16_t qk_sub_index[4][32] __attribute__((aligned(64))) = {
    {QK_I8(0), QK_I8(1), QK_I8(2), QK_I8(3)},
    {QK_I8(4), QK_I8(5), QK_I8(6), QK_I8(7)},
    {QK_I8(8), QK_I8(9), QK_I8(10), QK_I8(11)},
    {QK_I8(12), QK_I8(13), QK_I8(14), QK_I8(15)},
};
#define QK_B32(v) QK_I8(v), QK_I8(v), QK_I8(v), QK_I8(v)
/* byte j of chunk c: the bit of element 64c + j in a "one bit per 32 elements" mask byte */
static const uint8_t qk_bit_select[4][64] __attribute__((aligned(64))) = {
    {QK_B32(1), QK_B32(2)}, {QK_B32(4), QK_B32(8)}, {QK_B32(16), QK_B32(32)}, {QK_B32(64), QK_B32(128)}};

QK_INLINE int type_offset256(const int type) { return type == CT_TYPE_Q3_K || type == CT_TYPE_Q6_K; }

QK_INLINE size_t block_bytes256(const int type) {
    switch (type) {
    case CT_TYPE_Q2_K: return sizeof(block_q2_K);
    case CT_TYPE_Q3_K: return sizeof(block_q3_K);
    case CT_TYPE_Q4_K: return sizeof(block_q4_K);
    case CT_TYPE_Q5_K: return sizeof(block_q5_K);
    default: return sizeof(block_q6_K);
    }
}

QK_INLINE void set_scales256(e256 *e, __m256i s16) {
    const __m512i s = _mm512_castsi256_si512(s16);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) e->sc[c] = _mm512_permutexvar_epi16(_mm512_load_si512(qk_sub_index[c]), s);
}

/* 8 per-32 int16 values -> 16 per-16 int16 lanes, each value twice */
QK_INLINE __m256i dup16(__m128i x) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(x, x)), _mm_unpackhi_epi16(x, x), 1);
}

/* Q2_K / Q3_K low bits: chunk c takes bit pairs 2(c%2) and 2(c%2)+1 of qs[32 (c/2) + l] */
QK_INLINE __m512i two_bit_chunk(const uint8_t *qs, int c) {
    const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (c / 2)));
    const int sh = 4 * (c % 2);
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_srli_epi16(q, sh)), _mm256_srli_epi16(q, sh + 2), 1);
    return _mm512_and_si512(z, _mm512_set1_epi8(3));
}

/* Q4_K / Q5_K low nibbles: chunk c = [qs[32c..] & 15, qs[32c..] >> 4] */
QK_INLINE __m512i nibble_chunk(const uint8_t *qs, int c) {
    const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
}

/* add `add` to the bytes of chunk c whose bit in mask32 (32 bytes, one bit per 32 elements) is set */
QK_INLINE __m512i add_high_bit(__m512i q, __m512i mask2x, int c, char add) {
    const __mmask64 k = _mm512_test_epi8_mask(mask2x, _mm512_load_si512(qk_bit_select[c]));
    return _mm512_mask_add_epi8(q, k, q, _mm512_set1_epi8(add));
}

QK_INLINE __m512i dup256(const uint8_t *p) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)p);
    return _mm512_inserti64x4(_mm512_castsi256_si512(v), v, 1);
}

QK_INLINE void expand256_scales(const int type, const uint8_t *p, e256 *e);

/* P = 2 also fills sc256 (the products with the qs half are scaled by 256 through it) */
QK_INLINE void expand256p(const int type, const int P, const uint8_t *p, e256 *e) {
    expand256_scales(type, p, e);
    const __m512i mc32 = _mm512_cvtepu16_epi32(e->mc); /* (mc, 0) pairs */
    e->mcp = mc32;
    if (P == 2 && type == CT_TYPE_Q6_K) e->mcp_lo = _mm512_slli_epi32(mc32, 16);
    if (P == 2 && type != CT_TYPE_Q6_K) {
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) e->sc256[c] = _mm512_slli_epi16(e->sc[c], 8);
        e->mcp = _mm512_or_si512(_mm512_cvtepu16_epi32(_mm256_slli_epi16(e->mc, 8)), _mm512_slli_epi32(mc32, 16));
    }
}

QK_INLINE void expand256_scales(const int type, const uint8_t *p, e256 *e) {
    switch (type) {
    case CT_TYPE_Q2_K: {
        const block_q2_K *b = (const block_q2_K *)p;
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) e->q[c] = two_bit_chunk(b->qs, c);
        const __m128i s = _mm_loadu_si128((const __m128i *)b->scales);
        const __m128i low4 = _mm_set1_epi8(0x0F);
        set_scales256(e, _mm256_cvtepu8_epi16(_mm_and_si128(s, low4)));
        e->mc = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), low4));
        e->d = f16_to_f32(b->d);
        e->dm = f16_to_f32(b->dmin);
        break;
    }
    case CT_TYPE_Q3_K: {
        const block_q3_K *b = (const block_q3_K *)p;
        const __m512i hm = dup256(b->hmask);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) e->q[c] = add_high_bit(two_bit_chunk(b->qs, c), hm, c, 4); /* level + 4 */
        uint32_t w[4];
        ct_qk_q3k_scale_words(b->scales, w);
        const __m128i sc = _mm_sub_epi8(_mm_setr_epi32((int)w[0], (int)w[1], (int)w[2], (int)w[3]), _mm_set1_epi8(32));
        const __m256i s16 = _mm256_cvtepi8_epi16(sc);
        set_scales256(e, s16);
        e->mc = _mm256_slli_epi16(s16, 2); /* offset 4 */
        e->d = e->dm = f16_to_f32(b->d);
        break;
    }
    case CT_TYPE_Q4_K:
    case CT_TYPE_Q5_K: {
        const uint8_t *scales = p + 4, *qs = type == CT_TYPE_Q4_K ? p + 16 : p + 48;
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) e->q[c] = nibble_chunk(qs, c);
        if (type == CT_TYPE_Q5_K) {
            const __m512i qh = dup256(p + 16);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) e->q[c] = add_high_bit(e->q[c], qh, c, 16);
        }
        uint32_t w[4];
        ct_qk_k4_scale_words(scales, w);
        const __m128i sm = _mm_cvtepu8_epi16(_mm_setr_epi32((int)w[0], (int)w[1], 0, 0));
        const __m128i mm = _mm_cvtepu8_epi16(_mm_setr_epi32((int)w[2], (int)w[3], 0, 0));
        set_scales256(e, dup16(sm));
        e->mc = dup16(mm);
        e->d = f16_to_f32(load_u16(p));
        e->dm = f16_to_f32(load_u16(p + 2));
        break;
    }
    default: { /* Q6_K: levels as q6k_levels lays them out */
        const block_q6_K *b = (const block_q6_K *)p;
        q6k_levels(b, e->q);
        const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
        set_scales256(e, s16);
        e->mc = _mm256_slli_epi16(s16, 5); /* offset 32 */
        e->d = e->dm = f16_to_f32(b->d);
        break;
    }
    }
}

/* sum(sc * q * a) of one super-block for one half of the activations, per int32 lane */
QK_INLINE __m512i isum256(const e256 *e, const int8_t *aq) {
    /* two chains, so consecutive vpdpwssd do not wait on each other */
    __m512i isum0 = _mm512_setzero_si512(), isum1 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; c += 2) {
        isum0 = dot_i16(isum0, _mm512_maddubs_epi16(e->q[c], _mm512_loadu_si512((const void *)(aq + 64 * c))), e->sc[c]);
        isum1 = dot_i16(isum1, _mm512_maddubs_epi16(e->q[c + 1], _mm512_loadu_si512((const void *)(aq + 64 * c + 64))),
                        e->sc[c + 1]);
    }
    return _mm512_add_epi32(isum0, isum1);
}

/* 256 sum(sc * q * qs) + sum(sc * q * ql) per int32 lane, the qs products scaled through
 * sc256: in the same two chains, no combining step. |lane| <= 4 * 2 * 2 * 31 * 127 * 63 * 257
 * ~ 1.0e9 < 2^31 for Q5_K (the largest levels and scales but Q6_K's) */
QK_INLINE __m512i isum256_q16(const e256 *e, const int8_t *aq, const int8_t *al) {
    __m512i isum0 = _mm512_setzero_si512(), isum1 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; c += 2) {
        isum0 = dot_i16(isum0, _mm512_maddubs_epi16(e->q[c], _mm512_loadu_si512((const void *)(aq + 64 * c))), e->sc256[c]);
        isum1 = dot_i16(isum1, _mm512_maddubs_epi16(e->q[c + 1], _mm512_loadu_si512((const void *)(aq + 64 * c + 64))),
                        e->sc256[c + 1]);
        isum0 = dot_i16(isum0, _mm512_maddubs_epi16(e->q[c], _mm512_loadu_si512((const void *)(al + 64 * c))), e->sc[c]);
        isum1 = dot_i16(isum1, _mm512_maddubs_epi16(e->q[c + 1], _mm512_loadu_si512((const void *)(al + 64 * c + 64))),
                        e->sc[c + 1]);
    }
    return _mm512_add_epi32(isum0, isum1);
}

/* acc += the dot of expanded super-block e with super-block b of the activations */
QK_INLINE __m512 compute256(const int type, const int P, const e256 *e, const ct_act_view *a, int64_t b, __m512 acc) {
    const float da = a->d[b];
    if (P == 2 && type != CT_TYPE_Q6_K) {
        const __m512i isum = isum256_q16(e, a->qs + 256 * b, a->ql + 256 * b);
        const __m512i msum = _mm512_madd_epi16(e->mcp, _mm512_loadu_si512((const void *)(a->bsums + 32 * b)));
        if (type_offset256(type))
            return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum, msum)), _mm512_set1_ps(e->d * da), acc);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(e->d * da), acc);
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_set1_ps(-(e->dm * da)), acc);
    }
    const __m512i isum = isum256(e, a->qs + 256 * b);
    const __m512i pairs = _mm512_loadu_si512((const void *)(a->bsums + 32 * b));
    const __m512i msum = _mm512_madd_epi16(e->mcp, pairs); /* one lane per sub-block */
    if (P == 2) { /* Q6_K: hi and lo each exact, combined in float (its scales could overflow int32) */
        const __m512i hi = _mm512_sub_epi32(isum, msum);
        const __m512i lo = _mm512_sub_epi32(isum256(e, a->ql + 256 * b), _mm512_madd_epi16(e->mcp_lo, pairs));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), _mm512_set1_ps(e->d * da * 256.0f), acc);
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), _mm512_set1_ps(e->d * da), acc);
    }
    if (type_offset256(type))
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum, msum)), _mm512_set1_ps(e->d * da), acc);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(e->d * da), acc);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_set1_ps(-(e->dm * da)), acc);
}

QK_INLINE void gemv256(const int type, const int P, const int R, const uint8_t *w, size_t wb, int64_t n,
                       const uint8_t *act, float *out) {
    const ct_act_view a = ct_act_view_q8_256(act, n);
    const size_t bs = block_bytes256(type);
    const size_t ahead = prefetch_distance(R, wb);
    __m512 acc[QK_R];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / 256; b++) {
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            e256 e;
            prefetch_span(w + (size_t)r * wb + (size_t)b * bs + ahead, bs);
            expand256p(type, P, w + (size_t)r * wb + (size_t)b * bs, &e);
            acc[r] = compute256(type, P, &e, &a, b, acc[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) out[r] = _mm512_reduce_add_ps(acc[r]);
}

QK_INLINE void tile256(const int type, const int P, const int R, const int T, const e256 *buf, int64_t b0,
                       int64_t nblk, const uint8_t *act, size_t ab, int64_t n, float *out, size_t os, int first) {
    __m512 acc[QK_R][QK_T];
    ct_act_view av[QK_T];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) av[t] = ct_act_view_q8_256(act + (size_t)t * ab, n);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < nblk; k++) {
        const int64_t b = b0 + k;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const e256 *e = &buf[r * QK_KC256 + k];
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[r][t] = compute256(type, P, e, &av[t], b, acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const float v = _mm512_reduce_add_ps(acc[r][t]);
            float *o = &out[(size_t)t * os + (size_t)r];
            *o = first ? v : *o + v;
        }
}

QK_INLINE void gemm256_rows(const int type, const int P, const int R, const uint8_t *w, size_t wb, int64_t n,
                            const uint8_t *act, size_t ab, int64_t nt, float *out, size_t os) {
    e256 buf[QK_R * QK_KC256];
    const size_t bs = block_bytes256(type);
    const int64_t nb = n / 256;
    for (int64_t b0 = 0; b0 < nb; b0 += QK_KC256) {
        const int64_t nblk = nb - b0 < QK_KC256 ? nb - b0 : QK_KC256;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            for (int64_t k = 0; k < nblk; k++)
                expand256p(type, P, w + (size_t)r * wb + (size_t)(b0 + k) * bs, &buf[r * QK_KC256 + k]);
        int64_t t = 0;
        for (; t + QK_T <= nt; t += QK_T)
            tile256(type, P, R, QK_T, buf, b0, nblk, act + (size_t)t * ab, ab, n, out + (size_t)t * os, os, b0 == 0);
        for (; t < nt; t++)
            tile256(type, P, R, 1, buf, b0, nblk, act + (size_t)t * ab, ab, n, out + (size_t)t * os, os, b0 == 0);
    }
}

QK_INLINE void matmul256(const int type, const int P, const uint8_t *w, size_t wb, int64_t n, const uint8_t *act,
                         size_t ab, int64_t nt, float *out, size_t os, int64_t r0, int64_t r1, bool invariant) {
    if (P == 2 && w16_type(type) && !invariant && nt >= QK_W16_MIN_T && w16_matmul(type, w, wb, n, act, ab, nt, out, os, r0, r1))
        return;
    if (nt < QK_GEMM_MIN_T && !invariant) {
        for (int64_t t = 0; t < nt; t++) {
            const uint8_t *at = act + (size_t)t * ab;
            float *ot = out + (size_t)t * os;
            int64_t r = r0;
            for (; r + QK_R <= r1; r += QK_R) gemv256(type, P, QK_R, w + (size_t)r * wb, wb, n, at, ot + r);
            for (; r < r1; r++) gemv256(type, P, 1, w + (size_t)r * wb, wb, n, at, ot + r);
        }
        return;
    }
    int64_t r = r0;
    for (; r + QK_R <= r1; r += QK_R) gemm256_rows(type, P, QK_R, w + (size_t)r * wb, wb, n, act, ab, nt, out + r, os);
    for (; r < r1; r++) gemm256_rows(type, P, 1, w + (size_t)r * wb, wb, n, act, ab, nt, out + r, os);
}

/* ========================================================================================
 * Float weights: F32 and F16 against float activations, BF16 against bf16 activations.
 * R rows x T tokens per tile, 16 elements per step, a masked tail.
 * ======================================================================================== */

QK_INLINE __m512 load_w16(const int type, const uint8_t *row, int64_t i, __mmask16 k) {
    switch (type) {
    case CT_TYPE_F32: return _mm512_maskz_loadu_ps(k, row + 4 * i);
    case CT_TYPE_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, row + 2 * i));
    default: /* BF16: the bits are the top half of a float */
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, row + 2 * i)), 16));
    }
}

/* activations: bf16 for BF16 weights at the Q8 precision, else f32 */
QK_INLINE __m512 load_a16(const int type, const int P, const uint8_t *act, int64_t i, __mmask16 k) {
    if (type == CT_TYPE_BF16 && P == 1)
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, act + 2 * i)), 16));
    return _mm512_maskz_loadu_ps(k, act + 4 * i);
}

QK_INLINE void tile_float(const int type, const int P, const int R, const int T, const uint8_t *w, size_t wb,
                          int64_t n, const uint8_t *act, size_t ab, float *out, size_t os) {
    const size_t ahead = prefetch_distance(R, wb);
    __m512 acc[QK_R][QK_T];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 x[QK_T];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) x[t] = load_a16(type, P, act + (size_t)t * ab, i, k);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (T == 1) prefetch_span(w + (size_t)r * wb + (size_t)i * (type == CT_TYPE_F32 ? 4 : 2) + ahead, type == CT_TYPE_F32 ? 64 : 32);
            const __m512 wv = load_w16(type, w + (size_t)r * wb, i, k);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[r][t] = _mm512_fmadd_ps(wv, x[t], acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) out[(size_t)t * os + (size_t)r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* Row tiles outside, token tiles inside: a tile's R weight rows stay in cache while every
 * token passes over them (the other order streams the whole matrix once per token tile). */
QK_INLINE void matmul_float(const int type, const int P, const uint8_t *w, size_t wb, int64_t n, const uint8_t *act,
                            size_t ab, int64_t nt, float *out, size_t os, int64_t r0, int64_t r1, bool invariant) {
    (void)invariant; /* tiles of any token count accumulate in the same order */
    int64_t r = r0;
    for (; r + QK_R <= r1; r += QK_R) {
        int64_t t = 0;
        for (; t + QK_T <= nt; t += QK_T)
            tile_float(type, P, QK_R, QK_T, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
        for (; t < nt; t++)
            tile_float(type, P, QK_R, 1, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
    }
    for (; r < r1; r++) {
        int64_t t = 0;
        for (; t + QK_T <= nt; t += QK_T)
            tile_float(type, P, 1, QK_T, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
        for (; t < nt; t++)
            tile_float(type, P, 1, 1, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
    }
}

/* ========================================================================================
 * Activation quantizers: the same bytes as the scalar ones in qk_ref.c.
 * ======================================================================================== */

/* max |x| over 16 floats into m, a NaN never winning (maxps returns its second operand when
 * the first is NaN), as the scalar loop skips NaN */
QK_INLINE __m512 absmax_step(__m512 m, __m512 x) { return _mm512_max_ps(_mm512_abs_ps(x), m); }

QK_INLINE __m512i round_q8x16(__m512 x, __m512 id) {
    __m512 v = _mm512_mul_ps(x, id);
    v = _mm512_max_ps(v, _mm512_set1_ps(-127.0f)); /* NaN -> -127 */
    v = _mm512_min_ps(v, _mm512_set1_ps(127.0f));
    return _mm512_cvtps_epi32(v); /* round to nearest even */
}

/* 16 values -> their Q16 halves (ct_qk_split_q16); returns 256 hi + lo per lane */
QK_INLINE __m512i round_q16x16(__m512 x, __m512 id, __m512i *hi, __m512i *lo) {
    __m512 v = _mm512_mul_ps(x, id);
    v = _mm512_max_ps(v, _mm512_set1_ps(-(float)CT_QK_Q16_MAX)); /* NaN -> -32512 */
    v = _mm512_min_ps(v, _mm512_set1_ps((float)CT_QK_Q16_MAX));
    const __m512i V = _mm512_cvtps_epi32(v);
    *hi = _mm512_srai_epi32(_mm512_add_epi32(V, _mm512_set1_epi32(128)), 8);
    *lo = _mm512_max_epi32(_mm512_sub_epi32(V, _mm512_slli_epi32(*hi, 8)), _mm512_set1_epi32(-127));
    return _mm512_add_epi32(_mm512_slli_epi32(*hi, 8), *lo);
}

/* one block of 16 * nv floats at either precision: quants to qs (and ql), returns d; sums[j]
 * = the sum of the values of the j-th 16 (qs for Q8, 256 qs + ql for Q16), lo_sums[j] = of
 * the ql alone */
QK_INLINE float quantize_block(const int P, const int nv, const float *x, int8_t *qs, int8_t *ql, int *sums,
                               int *hi_sums, int *lo_sums) {
    __m512 m = _mm512_setzero_ps();
    for (int j = 0; j < nv; j++) m = absmax_step(m, _mm512_loadu_ps(x + 16 * j));
    const float amax = _mm512_reduce_max_ps(m);
    const float lim = P == 2 ? (float)CT_QK_Q16_MAX : 127.0f;
    const __m512 id = _mm512_set1_ps(amax > 0.0f ? lim / amax : 0.0f);
    for (int j = 0; j < nv; j++) {
        const __m512 xv = _mm512_loadu_ps(x + 16 * j);
        if (P == 2) {
            __m512i hi, lo;
            sums[j] = _mm512_reduce_add_epi32(round_q16x16(xv, id, &hi, &lo));
            hi_sums[j] = _mm512_reduce_add_epi32(hi);
            lo_sums[j] = _mm512_reduce_add_epi32(lo);
            _mm_storeu_si128((__m128i *)(qs + 16 * j), _mm512_cvtepi32_epi8(hi));
            _mm_storeu_si128((__m128i *)(ql + 16 * j), _mm512_cvtepi32_epi8(lo));
        } else {
            const __m512i q = round_q8x16(xv, id);
            sums[j] = hi_sums[j] = _mm512_reduce_add_epi32(q);
            lo_sums[j] = 0;
            _mm_storeu_si128((__m128i *)(qs + 16 * j), _mm512_cvtepi32_epi8(q));
            _mm_storeu_si128((__m128i *)(ql + 16 * j), _mm_setzero_si128());
        }
    }
    return amax / lim;
}

QK_INLINE void quantize_32(const int P, const float *x, int64_t n, uint8_t *dst) {
    int8_t *qs = (int8_t *)dst, *ql = qs + n;
    float *d = (float *)(dst + 2 * n);
    float *s = d + n / 32;
    for (int64_t b = 0; b < n / 32; b++) {
        int sums[2], hs[2], ls[2];
        d[b] = quantize_block(P, 2, x + 32 * b, qs + 32 * b, ql + 32 * b, sums, hs, ls);
        s[b] = d[b] * (float)(sums[0] + sums[1]);
    }
}

QK_INLINE void quantize_256(const int P, const float *x, int64_t n, uint8_t *dst) {
    int8_t *qs = (int8_t *)dst, *ql = qs + n;
    float *d = (float *)(dst + 2 * n);
    int16_t *bsums = (int16_t *)(d + n / 256);
    for (int64_t b = 0; b < n / 256; b++) {
        int sums[16], hs[16], ls[16];
        d[b] = quantize_block(P, 16, x + 256 * b, qs + 256 * b, ql + 256 * b, sums, hs, ls);
        for (int j = 0; j < 16; j++) {
            bsums[32 * b + 2 * j] = (int16_t)hs[j];
            bsums[32 * b + 2 * j + 1] = (int16_t)ls[j];
        }
    }
}

static QK_TARGET void quantize_q8_32(const float *x, int64_t n, uint8_t *dst) { quantize_32(1, x, n, dst); }
static QK_TARGET void quantize_q16_32(const float *x, int64_t n, uint8_t *dst) { quantize_32(2, x, n, dst); }
static QK_TARGET void quantize_q8_256(const float *x, int64_t n, uint8_t *dst) { quantize_256(1, x, n, dst); }
static QK_TARGET void quantize_q16_256(const float *x, int64_t n, uint8_t *dst) { quantize_256(2, x, n, dst); }

static QK_TARGET void quantize_bf16(const float *x, int64_t n, uint8_t *dst) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(k, x + i));
        /* round to nearest even; a NaN keeps its top bits and becomes quiet (ct_fp32_to_bf16) */
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
        const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                      _mm512_set1_epi32(0x7f800000));
        const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
        _mm256_mask_storeu_epi16(dst + 2 * i, k, _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet)));
    }
}

/* ---- entry points ---------------------------------------------------------------------- */

#define QK_MATMUL(name, driver, type, P)                                                                     \
    static QK_TARGET void name(const uint8_t *w, size_t wb, int64_t n, const uint8_t *act, size_t ab,        \
                               int64_t nt, float *out, size_t os, int64_t r0, int64_t r1, bool invariant) {  \
        driver(type, P, w, wb, n, act, ab, nt, out, os, r0, r1, invariant);                                  \
    }
/* P = 1: the Q8 precision; P = 2: Q16 */
#define QK_MATMUL_BOTH(name, driver, type) QK_MATMUL(name##_p1, driver, type, 1) QK_MATMUL(name##_p2, driver, type, 2)
QK_MATMUL_BOTH(matmul_q4_0, matmul32, CT_TYPE_Q4_0)
QK_MATMUL_BOTH(matmul_q4_1, matmul32, CT_TYPE_Q4_1)
QK_MATMUL_BOTH(matmul_q5_0, matmul32, CT_TYPE_Q5_0)
QK_MATMUL_BOTH(matmul_q5_1, matmul32, CT_TYPE_Q5_1)
QK_MATMUL_BOTH(matmul_q8_0, matmul32, CT_TYPE_Q8_0)
QK_MATMUL_BOTH(matmul_q2_K, matmul256, CT_TYPE_Q2_K)
QK_MATMUL_BOTH(matmul_q3_K, matmul256, CT_TYPE_Q3_K)
QK_MATMUL_BOTH(matmul_q4_K, matmul256, CT_TYPE_Q4_K)
QK_MATMUL_BOTH(matmul_q5_K, matmul256, CT_TYPE_Q5_K)
QK_MATMUL_BOTH(matmul_q6_K, matmul256, CT_TYPE_Q6_K)
QK_MATMUL(matmul_f32, matmul_float, CT_TYPE_F32, 1)
QK_MATMUL(matmul_f16, matmul_float, CT_TYPE_F16, 1)
QK_MATMUL_BOTH(matmul_bf16, matmul_float, CT_TYPE_BF16)

static void fill_common(ct_qkernels *k) {
    k->quantize[CT_ACT_Q8_32] = quantize_q8_32;
    k->quantize[CT_ACT_Q8_256] = quantize_q8_256;
    k->quantize[CT_ACT_Q16_32] = quantize_q16_32;
    k->quantize[CT_ACT_Q16_256] = quantize_q16_256;
    k->quantize[CT_ACT_BF16] = quantize_bf16;
    const int q16 = k->precision == CT_CPU_ACT_Q16;
#define QK_PICK(name) (q16 ? name##_p2 : name##_p1)
    const struct {
        ct_type type;
        ct_qk_matmul_fn fn;
    } entries[] = {
        {CT_TYPE_Q4_0, QK_PICK(matmul_q4_0)}, {CT_TYPE_Q4_1, QK_PICK(matmul_q4_1)},
        {CT_TYPE_Q5_0, QK_PICK(matmul_q5_0)}, {CT_TYPE_Q5_1, QK_PICK(matmul_q5_1)},
        {CT_TYPE_Q8_0, QK_PICK(matmul_q8_0)}, {CT_TYPE_Q2_K, QK_PICK(matmul_q2_K)},
        {CT_TYPE_Q3_K, QK_PICK(matmul_q3_K)}, {CT_TYPE_Q4_K, QK_PICK(matmul_q4_K)},
        {CT_TYPE_Q5_K, QK_PICK(matmul_q5_K)}, {CT_TYPE_Q6_K, QK_PICK(matmul_q6_K)},
        {CT_TYPE_F32, matmul_f32},            {CT_TYPE_F16, matmul_f16},
        {CT_TYPE_BF16, QK_PICK(matmul_bf16)},
    };
#undef QK_PICK
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        k->matmul[entries[i].type] = entries[i].fn;
        k->matmul_level[entries[i].type] = QK_LEVEL;
    }
}
