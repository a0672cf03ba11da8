/* AVX2 level (AVX2 + FMA + F16C, 256-bit vectors, 16 registers): the same structure as the
 * AVX-512 kernels (qk_avx512_body.h) with vpmaddubsw + vpmaddwd products and one 32-element
 * block, or one 32-element chunk of a super-block, per vector. With 16 registers the
 * matrix-vector kernels expand and consume one chunk at a time instead of a whole block. */
#include "backend/cpu/kernels/qk_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define Y_TARGET __attribute__((target("avx2,fma,f16c")))
#define Y_INLINE static inline __attribute__((always_inline)) Y_TARGET

enum {
    Y_R = 4,        /* matrix-vector: weight rows per tile */
    Y_GR = 2,       /* matrix-matrix: weight rows per tile */
    Y_GT = 4,       /* matrix-matrix: tokens per tile */
    Y_GEMM_MIN_T = 4,
    Y_KC32 = 32,    /* blocks per K chunk of the matrix-matrix scratch */
    Y_KC256 = 4,    /* super-blocks per K chunk */
};

Y_INLINE __m256i y_dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

Y_INLINE float y_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

Y_INLINE uint16_t y_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

Y_INLINE void y_prefetch(const uint8_t *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 64) _mm_prefetch((const char *)(p + i), _MM_HINT_T0);
}

/* a 32-bit mask (bit j = element j) -> 0xFF / 0x00 bytes */
Y_INLINE __m256i y_bits_to_bytes(uint32_t bits) {
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                                          3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* ==== 32-element blocks: the dot of a block is (dw * da) * (sum(u * a) - off * sum(a)) + m * s,
 * a = qs (P = 1, Q8) or 256 qs + ql (P = 2, Q16; see qk_avx512_body.h) ==== */

typedef struct {
    __m256i u;
    __m256 d, m;
} y_e32;

typedef struct {
    __m256i a, al, c; /* qs, ql (P = 2); c = -off * lane sums of a */
    __m256 d, s;  /* da; s / 8 (each of 8 lanes adds an eighth of m * s) */
} y_a32;

Y_INLINE int y_off32(const int type) { return type == CT_TYPE_Q4_0 ? 8 : type == CT_TYPE_Q5_0 ? 16 : 0; }
Y_INLINE int y_min32(const int type) { return type == CT_TYPE_Q4_1 || type == CT_TYPE_Q5_1; }

Y_INLINE size_t y_bytes32(const int type) {
    switch (type) {
    case CT_TYPE_Q4_0: return sizeof(block_q4_0);
    case CT_TYPE_Q4_1: return sizeof(block_q4_1);
    case CT_TYPE_Q5_0: return sizeof(block_q5_0);
    case CT_TYPE_Q5_1: return sizeof(block_q5_1);
    default: return sizeof(block_q8_0);
    }
}

/* Q8_0 keeps its signed weights in u: the dot uses |w| and the activation with w's sign. */
Y_INLINE void y_expand32(const int type, const uint8_t *p, y_e32 *e) {
    e->d = _mm256_set1_ps(_cvtsh_ss(y_u16(p)));
    e->m = _mm256_setzero_ps();
    if (type == CT_TYPE_Q8_0) {
        e->u = _mm256_loadu_si256((const __m256i *)(p + 2));
        return;
    }
    const size_t qs = type == CT_TYPE_Q4_0 ? 2 : type == CT_TYPE_Q4_1 ? 4 : type == CT_TYPE_Q5_0 ? 6 : 8;
    const __m128i x = _mm_loadu_si128((const __m128i *)(p + qs));
    e->u = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1),
                            _mm256_set1_epi8(0x0F));
    if (type == CT_TYPE_Q5_0 || type == CT_TYPE_Q5_1) {
        const __m256i high = y_bits_to_bytes(ct_qk_load_u32(p + (type == CT_TYPE_Q5_0 ? 2 : 4)));
        e->u = _mm256_or_si256(e->u, _mm256_and_si256(high, _mm256_set1_epi8(16)));
    }
    if (y_min32(type)) e->m = _mm256_set1_ps(_cvtsh_ss(y_u16(p + 2)));
}

Y_INLINE void y_prep32(const int type, const int P, const ct_act_view *a, int64_t b, y_a32 *o) {
    o->a = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * b));
    o->al = P == 2 ? _mm256_loadu_si256((const __m256i *)(a->ql + 32 * b)) : _mm256_setzero_si256();
    o->d = _mm256_set1_ps(a->d[b]);
    o->c = _mm256_setzero_si256();
    if (y_off32(type)) {
        const __m256i offs = _mm256_set1_epi8((char)y_off32(type));
        __m256i sum = y_dot_u8s8(_mm256_setzero_si256(), offs, o->a);
        if (P == 2) sum = y_dot_u8s8(_mm256_slli_epi32(sum, 8), offs, o->al);
        o->c = _mm256_sub_epi32(o->c, sum);
    }
    o->s = y_min32(type) ? _mm256_set1_ps(a->s[b] * 0.125f) : _mm256_setzero_ps();
}

Y_INLINE __m256 y_compute32(const int type, const int P, const y_e32 *e, const y_a32 *a, __m256 acc) {
    __m256i lanes;
    if (type == CT_TYPE_Q8_0) {
        const __m256i u = _mm256_abs_epi8(e->u);
        lanes = y_dot_u8s8(_mm256_setzero_si256(), u, _mm256_sign_epi8(a->a, e->u));
        if (P == 2) lanes = y_dot_u8s8(_mm256_slli_epi32(lanes, 8), u, _mm256_sign_epi8(a->al, e->u));
    } else if (P == 2) {
        const __m256i hi = y_dot_u8s8(_mm256_setzero_si256(), e->u, a->a);
        lanes = _mm256_add_epi32(y_dot_u8s8(a->c, e->u, a->al), _mm256_slli_epi32(hi, 8));
    } else {
        lanes = y_dot_u8s8(a->c, e->u, a->a);
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_mul_ps(e->d, a->d), acc);
    if (y_min32(type)) acc = _mm256_fmadd_ps(e->m, a->s, acc);
    return acc;
}

Y_INLINE void y_gemv32(const int type, const int P, const int R, const uint8_t *w, size_t wb, int64_t n,
                       const uint8_t *act, float *out) {
    const ct_act_view a = ct_act_view_q8_32(act, n);
    const size_t bs = y_bytes32(type);
    __m256 acc[Y_R];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        y_a32 at;
        y_prep32(type, P, &a, b, &at);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            y_e32 e;
            y_prefetch(w + (size_t)(r + R) * wb + (size_t)b * bs, bs); /* the next tile's rows, see qk_avx512_body.h */
            y_expand32(type, w + (size_t)r * wb + (size_t)b * bs, &e);
            acc[r] = y_compute32(type, P, &e, &at, acc[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) out[r] = y_hsum(acc[r]);
}

Y_INLINE void y_tile32(const int type, const int P, const int R, const int T, const y_e32 *buf, int64_t b0,
                       int64_t nblk, const uint8_t *act, size_t ab, int64_t n, float *out, size_t os, int first) {
    __m256 acc[Y_GR][Y_GT];
    ct_act_view av[Y_GT];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) av[t] = ct_act_view_q8_32(act + (size_t)t * ab, n);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t k = 0; k < nblk; k++) {
        y_a32 at[Y_GT];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) y_prep32(type, P, &av[t], b0 + k, &at[t]);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[r][t] = y_compute32(type, P, &buf[r * Y_KC32 + k], &at[t], acc[r][t]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const float v = y_hsum(acc[r][t]);
            float *o = &out[(size_t)t * os + (size_t)r];
            *o = first ? v : *o + v;
        }
}

Y_INLINE void y_gemm32_rows(const int type, const int P, const int R, const uint8_t *w, size_t wb, int64_t n,
                            const uint8_t *act, size_t ab, int64_t nt, float *out, size_t os) {
    y_e32 buf[Y_GR * Y_KC32];
    const size_t bs = y_bytes32(type);
    const int64_t nb = n / 32;
    for (int64_t b0 = 0; b0 < nb; b0 += Y_KC32) {
        const int64_t nblk = nb - b0 < Y_KC32 ? nb - b0 : Y_KC32;
        for (int r = 0; r < R; r++)
            for (int64_t k = 0; k < nblk; k++) y_expand32(type, w + (size_t)r * wb + (size_t)(b0 + k) * bs, &buf[r * Y_KC32 + k]);
        int64_t t = 0;
        for (; t + Y_GT <= nt; t += Y_GT)
            y_tile32(type, P, R, Y_GT, buf, b0, nblk, act + (size_t)t * ab, ab, n, out + (size_t)t * os, os, b0 == 0);
        for (; t < nt; t++)
            y_tile32(type, P, R, 1, buf, b0, nblk, act + (size_t)t * ab, ab, n, out + (size_t)t * os, os, b0 == 0);
    }
}

Y_INLINE void y_matmul32(const int type, const int P, const uint8_t *w, size_t wb, int64_t n, const uint8_t *act,
                         size_t ab, int64_t nt, float *out, size_t os, int64_t r0, int64_t r1, bool invariant) {
    if (nt < Y_GEMM_MIN_T && !invariant) {
        for (int64_t t = 0; t < nt; t++) {
            int64_t r = r0;
            for (; r + Y_R <= r1; r += Y_R)
                y_gemv32(type, P, Y_R, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, out + (size_t)t * os + r);
            for (; r < r1; r++) y_gemv32(type, P, 1, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, out + (size_t)t * os + r);
        }
        return;
    }
    int64_t r = r0;
    for (; r + Y_GR <= r1; r += Y_GR) y_gemm32_rows(type, P, Y_GR, w + (size_t)r * wb, wb, n, act, ab, nt, out + r, os);
    for (; r < r1; r++) y_gemm32_rows(type, P, 1, w + (size_t)r * wb, wb, n, act, ab, nt, out + r, os);
}

/* ==== k-quants, one 32-element chunk (c = 0..7) per vector:
 *   dot = (d * da) * sum(sc * q * a) - (dm * da) * sum(mc * bsum)  (see qk_avx512_body.h) ==== */

typedef struct {
    __m128i sc8;  /* the 16 per-16 scales as bytes (signed) */
    __m256i mc;   /* the 16 per-16 coefficients of the activation sums, int16 */
    float d, dm;
} y_kscales;

Y_INLINE int y_offset256(const int type) { return type == CT_TYPE_Q3_K || type == CT_TYPE_Q6_K; }

Y_INLINE size_t y_bytes256(const int type) {
    switch (type) {
    case CT_TYPE_Q2_K: return sizeof(block_q2_K);
    case CT_TYPE_Q3_K: return sizeof(block_q3_K);
    case CT_TYPE_Q4_K: return sizeof(block_q4_K);
    case CT_TYPE_Q5_K: return sizeof(block_q5_K);
    default: return sizeof(block_q6_K);
    }
}

Y_INLINE void y_scales256(const int type, const uint8_t *p, y_kscales *s) {
    switch (type) {
    case CT_TYPE_Q2_K: {
        const block_q2_K *b = (const block_q2_K *)p;
        const __m128i raw = _mm_loadu_si128((const __m128i *)b->scales);
        s->sc8 = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
        s->mc = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F)));
        s->d = _cvtsh_ss(b->d);
        s->dm = _cvtsh_ss(b->dmin);
        break;
    }
    case CT_TYPE_Q3_K: {
        const block_q3_K *b = (const block_q3_K *)p;
        uint32_t w[4];
        ct_qk_q3k_scale_words(b->scales, w);
        s->sc8 = _mm_sub_epi8(_mm_setr_epi32((int)w[0], (int)w[1], (int)w[2], (int)w[3]), _mm_set1_epi8(32));
        s->mc = _mm256_slli_epi16(_mm256_cvtepi8_epi16(s->sc8), 2);
        s->d = s->dm = _cvtsh_ss(b->d);
        break;
    }
    case CT_TYPE_Q4_K:
    case CT_TYPE_Q5_K: {
        uint32_t w[4];
        ct_qk_k4_scale_words(p + 4, w);
        const __m128i s8 = _mm_setr_epi32((int)w[0], (int)w[1], 0, 0), m8 = _mm_setr_epi32((int)w[2], (int)w[3], 0, 0);
        s->sc8 = _mm_unpacklo_epi8(s8, s8); /* one scale per 32 = the same scale for both 16s */
        s->mc = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
        s->d = _cvtsh_ss(y_u16(p));
        s->dm = _cvtsh_ss(y_u16(p + 2));
        break;
    }
    default: {
        const block_q6_K *b = (const block_q6_K *)p;
        s->sc8 = _mm_loadu_si128((const __m128i *)b->scales);
        s->mc = _mm256_slli_epi16(_mm256_cvtepi8_epi16(s->sc8), 5);
        s->d = s->dm = _cvtsh_ss(b->d);
        break;
    }
    }
}

/* int16 scale lanes of chunk c: lanes 0-7 sub-block 2c, lanes 8-15 sub-block 2c+1, the byte
 * placed in each lane's high byte and shifted down arithmetically (sign extension) */
Y_INLINE __m256i y_chunk_scales(__m128i sc8, int c) {
    const __m256i both = _mm256_broadcastsi128_si256(sc8);
    const char lo = (char)(2 * c), hi = (char)(2 * c + 1), z = (char)0x80;
    const __m256i ctrl = _mm256_setr_epi8(z, lo, z, lo, z, lo, z, lo, z, lo, z, lo, z, lo, z, lo, z, hi, z, hi, z, hi, z,
                                          hi, z, hi, z, hi, z, hi, z, hi);
    return _mm256_srai_epi16(_mm256_shuffle_epi8(both, ctrl), 8);
}

/* unsigned levels of elements 32c..32c+31 */
Y_INLINE __m256i y_chunk_levels(const int type, const uint8_t *p, int c) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    switch (type) {
    case CT_TYPE_Q2_K:
    case CT_TYPE_Q3_K: {
        const uint8_t *qs = type == CT_TYPE_Q2_K ? ((const block_q2_K *)p)->qs : ((const block_q3_K *)p)->qs;
        const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (c / 4)));
        __m256i v = _mm256_and_si256(_mm256_srli_epi16(q, 2 * (c % 4)), _mm256_set1_epi8(3));
        if (type == CT_TYPE_Q3_K) { /* hmask[l] bit c: +4 */
            const __m256i h = _mm256_loadu_si256((const __m256i *)((const block_q3_K *)p)->hmask);
            const __m256i bit = _mm256_set1_epi8((char)(1 << c));
            v = _mm256_or_si256(v, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), _mm256_set1_epi8(4)));
        }
        return v;
    }
    case CT_TYPE_Q4_K:
    case CT_TYPE_Q5_K: {
        const uint8_t *qs = p + (type == CT_TYPE_Q4_K ? 16 : 48);
        const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (c / 2)));
        __m256i v = _mm256_and_si256(c % 2 ? _mm256_srli_epi16(q, 4) : q, low4);
        if (type == CT_TYPE_Q5_K) { /* qh[l] bit c: +16 */
            const __m256i h = _mm256_loadu_si256((const __m256i *)(p + 16));
            const __m256i bit = _mm256_set1_epi8((char)(1 << c));
            v = _mm256_or_si256(v, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), _mm256_set1_epi8(16)));
        }
        return v;
    }
    default: { /* Q6_K: chunk c = 4h + g */
        const block_q6_K *b = (const block_q6_K *)p;
        const int h = c / 4, g = c % 4;
        const __m256i l = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32 * (g % 2)));
        const __m256i q = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        const __m256i low = _mm256_and_si256(g < 2 ? l : _mm256_srli_epi16(l, 4), low4);
        const __m256i hs = g == 0 ? _mm256_slli_epi16(q, 4) : g == 1 ? _mm256_slli_epi16(q, 2) : g == 2 ? q : _mm256_srli_epi16(q, 2);
        return _mm256_or_si256(low, _mm256_and_si256(hs, _mm256_set1_epi8(0x30)));
    }
    }
}

Y_INLINE __m256 y_finish256(const int type, __m256i isum, __m256i msum, float d, float dm, float da, __m256 acc) {
    if (y_offset256(type)) return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum, msum)), _mm256_set1_ps(d * da), acc);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * da), acc);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-(dm * da)), acc);
}

/* P = 2: the sums of the qs and ql halves combined as 256 hi + lo: in int32 where that
 * cannot overflow, in float for Q6_K (see qk_avx512_body.h) */
Y_INLINE __m256 y_finish256_p(const int type, const int P, __m256i ihi, __m256i ilo, __m256i mhi, __m256i mlo, float d,
                              float dm, float da, __m256 acc) {
    if (P == 1) return y_finish256(type, ihi, mhi, d, dm, da, acc);
    if (type == CT_TYPE_Q6_K) {
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(ihi, mhi)), _mm256_set1_ps(d * da * 256.0f), acc);
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(ilo, mlo)), _mm256_set1_ps(d * da), acc);
    }
    return y_finish256(type, _mm256_add_epi32(_mm256_slli_epi32(ihi, 8), ilo), _mm256_add_epi32(_mm256_slli_epi32(mhi, 8), mlo),
                       d, dm, da, acc);
}

/* sum(mc * bsum) over a super-block's 16 (qs, ql) sum pairs: of the qs sums into *hi, of the
 * ql sums into *lo (P = 2), each as 8 int32 lanes */
Y_INLINE void y_msums(const int P, __m256i mc, const int16_t *pairs, __m256i *hi, __m256i *lo) {
    const __m256i p0 = _mm256_loadu_si256((const __m256i *)pairs), p1 = _mm256_loadu_si256((const __m256i *)(pairs + 16));
    const __m256i m0 = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(mc)); /* (mc, 0) pairs, sub-blocks 0-7 */
    const __m256i m1 = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(mc, 1)); /* 8-15 */
    *hi = _mm256_add_epi32(_mm256_madd_epi16(m0, p0), _mm256_madd_epi16(m1, p1));
    *lo = _mm256_setzero_si256();
    if (P == 2)
        *lo = _mm256_add_epi32(_mm256_madd_epi16(_mm256_slli_epi32(m0, 16), p0), _mm256_madd_epi16(_mm256_slli_epi32(m1, 16), p1));
}

Y_INLINE __m256i y_kdot(__m256i acc, __m256i q, const int8_t *a, __m256i sc) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)a)), sc));
}

Y_INLINE void y_gemv256(const int type, const int P, const int R, const uint8_t *w, size_t wb, int64_t n,
                        const uint8_t *act, float *out) {
    const ct_act_view a = ct_act_view_q8_256(act, n);
    const size_t bs = y_bytes256(type);
    __m256 acc[Y_R];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; b++) {
        const int8_t *aq = a.qs + 256 * b, *al = a.ql + 256 * b;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w + (size_t)r * wb + (size_t)b * bs;
            y_prefetch(w + (size_t)(r + R) * wb + (size_t)b * bs, bs);
            y_kscales s;
            y_scales256(type, p, &s);
            __m256i i0 = _mm256_setzero_si256(), i1 = _mm256_setzero_si256();
            __m256i j0 = _mm256_setzero_si256(), j1 = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int c = 0; c < 8; c += 2) {
                const __m256i q0 = y_chunk_levels(type, p, c), q1 = y_chunk_levels(type, p, c + 1);
                const __m256i s0 = y_chunk_scales(s.sc8, c), s1 = y_chunk_scales(s.sc8, c + 1);
                i0 = y_kdot(i0, q0, aq + 32 * c, s0);
                i1 = y_kdot(i1, q1, aq + 32 * c + 32, s1);
                if (P == 2) {
                    j0 = y_kdot(j0, q0, al + 32 * c, s0);
                    j1 = y_kdot(j1, q1, al + 32 * c + 32, s1);
                }
            }
            __m256i mhi, mlo;
            y_msums(P, s.mc, a.bsums + 32 * b, &mhi, &mlo);
            acc[r] = y_finish256_p(type, P, _mm256_add_epi32(i0, i1), _mm256_add_epi32(j0, j1), mhi, mlo, s.d, s.dm,
                                   a.d[b], acc[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) out[r] = y_hsum(acc[r]);
}

typedef struct {
    __m256i q[8], sc[8];
    __m256i mc;
    float d, dm;
} y_e256;

Y_INLINE void y_expand256(const int type, const uint8_t *p, y_e256 *e) {
    y_kscales s;
    y_scales256(type, p, &s);
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
        e->q[c] = y_chunk_levels(type, p, c);
        e->sc[c] = y_chunk_scales(s.sc8, c);
    }
    e->mc = s.mc;
    e->d = s.d;
    e->dm = s.dm;
}

Y_INLINE void y_tile256(const int type, const int P, const int R, const int T, const y_e256 *buf, int64_t b0,
                        int64_t nblk, const uint8_t *act, size_t ab, int64_t n, float *out, size_t os, int first) {
    __m256 acc[Y_GR][Y_GT];
    ct_act_view av[Y_GT];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) av[t] = ct_act_view_q8_256(act + (size_t)t * ab, n);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t k = 0; k < nblk; k++) {
        const int64_t b = b0 + k;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const y_e256 *e = &buf[r * Y_KC256 + k];
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                const int8_t *aq = av[t].qs + 256 * b, *al = av[t].ql + 256 * b;
                __m256i i0 = _mm256_setzero_si256(), i1 = _mm256_setzero_si256();
                __m256i j0 = _mm256_setzero_si256(), j1 = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int c = 0; c < 8; c += 2) {
                    i0 = y_kdot(i0, e->q[c], aq + 32 * c, e->sc[c]);
                    i1 = y_kdot(i1, e->q[c + 1], aq + 32 * c + 32, e->sc[c + 1]);
                    if (P == 2) {
                        j0 = y_kdot(j0, e->q[c], al + 32 * c, e->sc[c]);
                        j1 = y_kdot(j1, e->q[c + 1], al + 32 * c + 32, e->sc[c + 1]);
                    }
                }
                __m256i msum, msum_lo;
                y_msums(P, e->mc, av[t].bsums + 32 * b, &msum, &msum_lo);
                acc[r][t] = y_finish256_p(type, P, _mm256_add_epi32(i0, i1), _mm256_add_epi32(j0, j1), msum, msum_lo, e->d,
                                          e->dm, av[t].d[b], acc[r][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const float v = y_hsum(acc[r][t]);
            float *o = &out[(size_t)t * os + (size_t)r];
            *o = first ? v : *o + v;
        }
}

Y_INLINE void y_gemm256_rows(const int type, const int P, const int R, const uint8_t *w, size_t wb, int64_t n,
                             const uint8_t *act, size_t ab, int64_t nt, float *out, size_t os) {
    y_e256 buf[Y_GR * Y_KC256];
    const size_t bs = y_bytes256(type);
    const int64_t nb = n / 256;
    for (int64_t b0 = 0; b0 < nb; b0 += Y_KC256) {
        const int64_t nblk = nb - b0 < Y_KC256 ? nb - b0 : Y_KC256;
        for (int r = 0; r < R; r++)
            for (int64_t k = 0; k < nblk; k++) y_expand256(type, w + (size_t)r * wb + (size_t)(b0 + k) * bs, &buf[r * Y_KC256 + k]);
        int64_t t = 0;
        for (; t + Y_GT <= nt; t += Y_GT)
            y_tile256(type, P, R, Y_GT, buf, b0, nblk, act + (size_t)t * ab, ab, n, out + (size_t)t * os, os, b0 == 0);
        for (; t < nt; t++)
            y_tile256(type, P, R, 1, buf, b0, nblk, act + (size_t)t * ab, ab, n, out + (size_t)t * os, os, b0 == 0);
    }
}

Y_INLINE void y_matmul256(const int type, const int P, const uint8_t *w, size_t wb, int64_t n, const uint8_t *act,
                          size_t ab, int64_t nt, float *out, size_t os, int64_t r0, int64_t r1, bool invariant) {
    if (nt < Y_GEMM_MIN_T && !invariant) {
        for (int64_t t = 0; t < nt; t++) {
            int64_t r = r0;
            for (; r + Y_R <= r1; r += Y_R)
                y_gemv256(type, P, Y_R, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, out + (size_t)t * os + r);
            for (; r < r1; r++) y_gemv256(type, P, 1, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, out + (size_t)t * os + r);
        }
        return;
    }
    int64_t r = r0;
    for (; r + Y_GR <= r1; r += Y_GR) y_gemm256_rows(type, P, Y_GR, w + (size_t)r * wb, wb, n, act, ab, nt, out + r, os);
    for (; r < r1; r++) y_gemm256_rows(type, P, 1, w + (size_t)r * wb, wb, n, act, ab, nt, out + r, os);
}

/* ==== float weights: 8 elements per step; the tail goes through zero-padded copies ==== */

Y_INLINE __m256 y_load_w8(const int type, const uint8_t *p) {
    switch (type) {
    case CT_TYPE_F32: return _mm256_loadu_ps((const float *)p);
    case CT_TYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    default: return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    }
}

/* activations: bf16 for BF16 weights at the Q8 precision (P = 1), else f32 */
Y_INLINE __m256 y_load_a8(const int type, const int P, const uint8_t *p) {
    if (type == CT_TYPE_BF16 && P == 1)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    return _mm256_loadu_ps((const float *)p);
}

Y_INLINE void y_tile_float(const int type, const int P, const int R, const int T, const uint8_t *w, size_t wb,
                           int64_t n, const uint8_t *act, size_t ab, float *out, size_t os) {
    const size_t we = type == CT_TYPE_F32 ? 4 : 2, ae = type == CT_TYPE_BF16 && P == 1 ? 2 : 4;
    __m256 acc[Y_GR][Y_GT];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x[Y_GT];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) x[t] = y_load_a8(type, P, act + (size_t)t * ab + (size_t)i * ae);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (T == 1) y_prefetch(w + (size_t)(r + R) * wb + (size_t)i * we, 8 * we);
            const __m256 wv = y_load_w8(type, w + (size_t)r * wb + (size_t)i * we);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[r][t] = _mm256_fmadd_ps(wv, x[t], acc[r][t]);
        }
    }
    if (i < n) {
        uint8_t wt[32] = {0}, at[32] = {0};
        __m256 x[Y_GT];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            memcpy(at, act + (size_t)t * ab + (size_t)i * ae, (size_t)(n - i) * ae);
            x[t] = y_load_a8(type, P, at);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            memcpy(wt, w + (size_t)r * wb + (size_t)i * we, (size_t)(n - i) * we);
            const __m256 wv = y_load_w8(type, wt);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[r][t] = _mm256_fmadd_ps(wv, x[t], acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) out[(size_t)t * os + (size_t)r] = y_hsum(acc[r][t]);
}

/* row tiles outside, token tiles inside (see matmul_float in qk_avx512_body.h) */
Y_INLINE void y_matmul_float(const int type, const int P, const uint8_t *w, size_t wb, int64_t n, const uint8_t *act,
                             size_t ab, int64_t nt, float *out, size_t os, int64_t r0, int64_t r1, bool invariant) {
    (void)invariant; /* tiles of any token count accumulate in the same order */
    int64_t r = r0;
    for (; r + Y_GR <= r1; r += Y_GR) {
        int64_t t = 0;
        for (; t + Y_GT <= nt; t += Y_GT)
            y_tile_float(type, P, Y_GR, Y_GT, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
        for (; t < nt; t++)
            y_tile_float(type, P, Y_GR, 1, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
    }
    for (; r < r1; r++) {
        int64_t t = 0;
        for (; t + Y_GT <= nt; t += Y_GT)
            y_tile_float(type, P, 1, Y_GT, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
        for (; t < nt; t++)
            y_tile_float(type, P, 1, 1, w + (size_t)r * wb, wb, n, act + (size_t)t * ab, ab, out + (size_t)t * os + r, os);
    }
}

/* ==== activation quantizers (the scalar ones' bytes) ==== */

Y_INLINE __m256 y_absmax_step(__m256 m, __m256 x) {
    return _mm256_max_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), m); /* NaN loses, as in the scalar loop */
}

Y_INLINE float y_hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

Y_INLINE __m256i y_round8(__m256 x, __m256 id) {
    __m256 v = _mm256_max_ps(_mm256_mul_ps(x, id), _mm256_set1_ps(-127.0f)); /* NaN -> -127 */
    v = _mm256_min_ps(v, _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(v);
}

/* 8 values -> their Q16 halves (ct_qk_split_q16) */
Y_INLINE void y_round16(__m256 x, __m256 id, __m256i *hi, __m256i *lo) {
    __m256 v = _mm256_max_ps(_mm256_mul_ps(x, id), _mm256_set1_ps(-(float)CT_QK_Q16_MAX)); /* NaN -> -32512 */
    v = _mm256_min_ps(v, _mm256_set1_ps((float)CT_QK_Q16_MAX));
    const __m256i V = _mm256_cvtps_epi32(v);
    *hi = _mm256_srai_epi32(_mm256_add_epi32(V, _mm256_set1_epi32(128)), 8);
    *lo = _mm256_max_epi32(_mm256_sub_epi32(V, _mm256_slli_epi32(*hi, 8)), _mm256_set1_epi32(-127));
}

/* 4 x 8 int32 in [-127, 127] -> 32 int8 in order */
Y_INLINE void y_store32(__m256i q0, __m256i q1, __m256i q2, __m256i q3, int8_t *q) {
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
    _mm256_storeu_si256((__m256i *)q, _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

Y_INLINE int y_hsum_i32(__m256i s) {
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    return _mm_cvtsi128_si32(h);
}

/* 32 floats -> 32 quants in order (and their ql at P = 2, zeros at P = 1); returns the sum
 * of the values (qs, or 256 qs + ql) */
Y_INLINE int y_quantize32(const int P, const float *x, __m256 id, int8_t *qs, int8_t *ql) {
    if (P == 1) {
        const __m256i q0 = y_round8(_mm256_loadu_ps(x), id), q1 = y_round8(_mm256_loadu_ps(x + 8), id);
        const __m256i q2 = y_round8(_mm256_loadu_ps(x + 16), id), q3 = y_round8(_mm256_loadu_ps(x + 24), id);
        y_store32(q0, q1, q2, q3, qs);
        _mm256_storeu_si256((__m256i *)ql, _mm256_setzero_si256());
        return y_hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3)));
    }
    __m256i h[4], l[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) y_round16(_mm256_loadu_ps(x + 8 * j), id, &h[j], &l[j]);
    y_store32(h[0], h[1], h[2], h[3], qs);
    y_store32(l[0], l[1], l[2], l[3], ql);
    const __m256i hs = _mm256_add_epi32(_mm256_add_epi32(h[0], h[1]), _mm256_add_epi32(h[2], h[3]));
    const __m256i ls = _mm256_add_epi32(_mm256_add_epi32(l[0], l[1]), _mm256_add_epi32(l[2], l[3]));
    return y_hsum_i32(_mm256_add_epi32(_mm256_slli_epi32(hs, 8), ls));
}

Y_INLINE float y_block_amax(const float *x, int n) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) m = y_absmax_step(m, _mm256_loadu_ps(x + j));
    return y_hmax(m);
}

Y_INLINE void y_quantize_32(const int P, const float *x, int64_t n, uint8_t *dst) {
    int8_t *qs = (int8_t *)dst, *ql = qs + n;
    float *d = (float *)(dst + 2 * n);
    float *s = d + n / 32;
    const float lim = P == 2 ? (float)CT_QK_Q16_MAX : 127.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        const float amax = y_block_amax(xb, 32);
        const int sum = y_quantize32(P, xb, _mm256_set1_ps(amax > 0.0f ? lim / amax : 0.0f), qs + 32 * b, ql + 32 * b);
        d[b] = amax / lim;
        s[b] = d[b] * (float)sum;
    }
}

Y_INLINE void y_quantize_256(const int P, const float *x, int64_t n, uint8_t *dst) {
    int8_t *qs = (int8_t *)dst, *ql = qs + n;
    float *d = (float *)(dst + 2 * n);
    int16_t *bsums = (int16_t *)(d + n / 256);
    const float lim = P == 2 ? (float)CT_QK_Q16_MAX : 127.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const float *xb = x + 256 * b;
        const float amax = y_block_amax(xb, 256);
        const __m256 id = _mm256_set1_ps(amax > 0.0f ? lim / amax : 0.0f);
        for (int j = 0; j < 8; j++) y_quantize32(P, xb + 32 * j, id, qs + 256 * b + 32 * j, ql + 256 * b + 32 * j);
        d[b] = amax / lim;
    }
    for (int64_t g = 0; g < n / 16; g++) {
        int sum = 0, sum_lo = 0;
        for (int i = 0; i < 16; i++) sum += qs[16 * g + i], sum_lo += ql[16 * g + i];
        bsums[2 * g] = (int16_t)sum;
        bsums[2 * g + 1] = (int16_t)sum_lo;
    }
}

static Y_TARGET void y_quantize_q8_32(const float *x, int64_t n, uint8_t *dst) { y_quantize_32(1, x, n, dst); }
static Y_TARGET void y_quantize_q16_32(const float *x, int64_t n, uint8_t *dst) { y_quantize_32(2, x, n, dst); }
static Y_TARGET void y_quantize_q8_256(const float *x, int64_t n, uint8_t *dst) { y_quantize_256(1, x, n, dst); }
static Y_TARGET void y_quantize_q16_256(const float *x, int64_t n, uint8_t *dst) { y_quantize_256(2, x, n, dst); }

/* ==== entry points ==== */

#define Y_MATMUL(name, driver, type, P)                                                                      \
    static Y_TARGET void name(const uint8_t *w, size_t wb, int64_t n, const uint8_t *act, size_t ab,         \
                              int64_t nt, float *out, size_t os, int64_t r0, int64_t r1, bool invariant) {   \
        driver(type, P, w, wb, n, act, ab, nt, out, os, r0, r1, invariant);                                  \
    }
/* P = 1: the Q8 precision; P = 2: Q16 */
#define Y_MATMUL_BOTH(name, driver, type) Y_MATMUL(name##_p1, driver, type, 1) Y_MATMUL(name##_p2, driver, type, 2)
Y_MATMUL_BOTH(y_matmul_q4_0, y_matmul32, CT_TYPE_Q4_0)
Y_MATMUL_BOTH(y_matmul_q4_1, y_matmul32, CT_TYPE_Q4_1)
Y_MATMUL_BOTH(y_matmul_q5_0, y_matmul32, CT_TYPE_Q5_0)
Y_MATMUL_BOTH(y_matmul_q5_1, y_matmul32, CT_TYPE_Q5_1)
Y_MATMUL_BOTH(y_matmul_q8_0, y_matmul32, CT_TYPE_Q8_0)
Y_MATMUL_BOTH(y_matmul_q2_K, y_matmul256, CT_TYPE_Q2_K)
Y_MATMUL_BOTH(y_matmul_q3_K, y_matmul256, CT_TYPE_Q3_K)
Y_MATMUL_BOTH(y_matmul_q4_K, y_matmul256, CT_TYPE_Q4_K)
Y_MATMUL_BOTH(y_matmul_q5_K, y_matmul256, CT_TYPE_Q5_K)
Y_MATMUL_BOTH(y_matmul_q6_K, y_matmul256, CT_TYPE_Q6_K)
Y_MATMUL(y_matmul_f32, y_matmul_float, CT_TYPE_F32, 1)
Y_MATMUL(y_matmul_f16, y_matmul_float, CT_TYPE_F16, 1)
Y_MATMUL_BOTH(y_matmul_bf16, y_matmul_float, CT_TYPE_BF16)

void ct_qk_fill_avx2(ct_qkernels *k) {
    k->quantize[CT_ACT_Q8_32] = y_quantize_q8_32;
    k->quantize[CT_ACT_Q8_256] = y_quantize_q8_256;
    k->quantize[CT_ACT_Q16_32] = y_quantize_q16_32;
    k->quantize[CT_ACT_Q16_256] = y_quantize_q16_256;
    const int q16 = k->precision == CT_CPU_ACT_Q16;
#define Y_PICK(name) (q16 ? name##_p2 : name##_p1)
    const struct {
        ct_type type;
        ct_qk_matmul_fn fn;
    } entries[] = {
        {CT_TYPE_Q4_0, Y_PICK(y_matmul_q4_0)}, {CT_TYPE_Q4_1, Y_PICK(y_matmul_q4_1)},
        {CT_TYPE_Q5_0, Y_PICK(y_matmul_q5_0)}, {CT_TYPE_Q5_1, Y_PICK(y_matmul_q5_1)},
        {CT_TYPE_Q8_0, Y_PICK(y_matmul_q8_0)}, {CT_TYPE_Q2_K, Y_PICK(y_matmul_q2_K)},
        {CT_TYPE_Q3_K, Y_PICK(y_matmul_q3_K)}, {CT_TYPE_Q4_K, Y_PICK(y_matmul_q4_K)},
        {CT_TYPE_Q5_K, Y_PICK(y_matmul_q5_K)}, {CT_TYPE_Q6_K, Y_PICK(y_matmul_q6_K)},
        {CT_TYPE_F32, y_matmul_f32},           {CT_TYPE_F16, y_matmul_f16},
        {CT_TYPE_BF16, Y_PICK(y_matmul_bf16)},
    };
#undef Y_PICK
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        k->matmul[entries[i].type] = entries[i].fn;
        k->matmul_level[entries[i].type] = CT_CPU_AVX2;
    }
}
#else
void ct_qk_fill_avx2(ct_qkernels *k) { (void)k; }
#endif
