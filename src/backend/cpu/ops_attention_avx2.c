/* ct_cpu_attention_head with AVX2 + FMA + F16C: the same computation as the reference in
 * ops_attention.c (scores, softmax, weighted sum of values), with the key and value rows
 * converted from F16 eight at a time (vcvtph2ps) instead of one table lookup per element,
 * and the softmax's exponentials eight at a time by a polynomial (exp_nonpositive).
 * Sums are reassociated (8 lanes), so results differ from the reference by float32
 * rounding only. Used by the fast path on CPUs with AVX2 (backend_cpu.c). */
#include "backend/cpu/ops_cpu.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET static inline __m256 load8(const void *row, uint32_t type, int64_t i) {
    if (type == CT_TYPE_F32) return _mm256_loadu_ps((const float *)row + i);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
}

AVX2_TARGET static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2_TARGET static inline float load1(const void *row, uint32_t type, int64_t i) {
    if (type == CT_TYPE_F32) return ((const float *)row)[i];
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(((const uint16_t *)row)[i])));
}

AVX2_TARGET static float dot_row(const void *row, uint32_t type, const float *q, int64_t n) {
    /* four chains: a 64-element head is two FMAs deep per chain instead of four */
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load8(row, type, i), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(load8(row, type, i + 8), _mm256_loadu_ps(q + i + 8), a1);
        a2 = _mm256_fmadd_ps(load8(row, type, i + 16), _mm256_loadu_ps(q + i + 16), a2);
        a3 = _mm256_fmadd_ps(load8(row, type, i + 24), _mm256_loadu_ps(q + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load8(row, type, i), _mm256_loadu_ps(q + i), a0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += load1(row, type, i) * q[i];
    return s;
}

AVX2_TARGET static void axpy_row(float *y, float a, const void *row, uint32_t type, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load8(row, type, i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * load1(row, type, i);
}

/* exp(x) for x <= 0 (softmax after subtracting the max): x = n ln2 + r with |r| <= ln2/2,
 * exp(r) by its Taylor polynomial to r^7 (truncation < 1e-8 relative), times 2^n built in
 * the exponent bits. Inputs below -87 give exp(-87) ~ 1.6e-38 instead of smaller values
 * (an absolute error far below float resolution of the sum they join). */
AVX2_TARGET static inline __m256 exp_nonpositive(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860682030941723e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* ct_cpu_softmax, eight lanes at a time */
AVX2_TARGET static void softmax_avx2(float *x, int32_t n) {
    float mx = x[0];
    int32_t i = 0;
    if (n >= 8) {
        __m256 m = _mm256_loadu_ps(x);
        for (i = 8; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        mx = _mm_cvtss_f32(h);
    }
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    double sum = hsum8(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    const __m256 vinv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
    for (; i < n; i++) x[i] *= inv;
}

static size_t elem_size(uint32_t type) { return type == CT_TYPE_F32 ? 4 : 2; }

/* The cache row of each visible position, walking the view block by block (one division
 * per block rather than per position). */
static void visible_rows(const ct_tensor *cache, const ct_kv_view *view, int32_t lo, int32_t pos, size_t off,
                         const uint8_t **rows) {
    const int32_t bs = view->block_size;
    for (int32_t p = lo; p <= pos;) {
        const int32_t b = p / bs, first = b * bs;
        const int32_t end = first + bs <= pos + 1 ? first + bs : pos + 1;
        const uint8_t *base = (const uint8_t *)cache->data + (size_t)view->blocks[b] * (size_t)bs * cache->row_bytes + off;
        for (; p < end; p++) rows[p - lo] = base + (size_t)(p - first) * cache->row_bytes;
    }
}

AVX2_TARGET void ct_cpu_attention_head_avx2(float *out, const float *q, const ct_tensor *k_cache,
                                            const ct_tensor *v_cache, const ct_kv_view *view, int32_t lo, int32_t pos,
                                            int32_t kv_head, const ct_attn *attn, float *scores) {
    const size_t k_off = (size_t)kv_head * attn->head_dim_k * elem_size(k_cache->type);
    const size_t v_off = (size_t)kv_head * attn->head_dim_v * elem_size(v_cache->type);
    const int32_t n = pos - lo + 1;
    enum { CHUNK = 64 }; /* positions per pass: their row pointers stay on the stack */
    const uint8_t *rows[CHUNK];
    for (int32_t j0 = 0; j0 < n; j0 += CHUNK) {
        const int32_t m = n - j0 < CHUNK ? n - j0 : CHUNK;
        visible_rows(k_cache, view, lo + j0, lo + j0 + m - 1, k_off, rows);
        for (int32_t j = 0; j < m; j++) scores[j0 + j] = attn->scale * dot_row(rows[j], k_cache->type, q, attn->head_dim_k);
    }
    softmax_avx2(scores, n);
    const int64_t hv = attn->head_dim_v;
    memset(out, 0, (size_t)hv * sizeof(float));
    for (int32_t j0 = 0; j0 < n; j0 += CHUNK) {
        const int32_t m = n - j0 < CHUNK ? n - j0 : CHUNK;
        visible_rows(v_cache, view, lo + j0, lo + j0 + m - 1, v_off, rows);
        int64_t d0 = 0;
        /* 64 output values at a time in eight registers across the chunk's positions */
        for (; d0 + 64 <= hv; d0 += 64) {
            __m256 acc[8];
            for (int u = 0; u < 8; u++) acc[u] = _mm256_loadu_ps(out + d0 + 8 * u);
            for (int32_t j = 0; j < m; j++) {
                const __m256 p = _mm256_set1_ps(scores[j0 + j]);
                for (int u = 0; u < 8; u++) acc[u] = _mm256_fmadd_ps(p, load8(rows[j], v_cache->type, d0 + 8 * u), acc[u]);
            }
            for (int u = 0; u < 8; u++) _mm256_storeu_ps(out + d0 + 8 * u, acc[u]);
        }
        if (d0 < hv) {
            for (int32_t j = 0; j < m; j++) {
                const uint8_t *row = rows[j] + (size_t)d0 * elem_size(v_cache->type);
                axpy_row(out + d0, scores[j0 + j], row, v_cache->type, hv - d0);
            }
        }
    }
}

#else

void ct_cpu_attention_head_avx2(float *out, const float *q, const ct_tensor *k_cache, const ct_tensor *v_cache,
                                const ct_kv_view *view, int32_t lo, int32_t pos, int32_t kv_head,
                                const ct_attn *attn, float *scores) {
    ct_cpu_attention_head(out, q, k_cache, v_cache, view, lo, pos, kv_head, attn, scores);
}

#endif
