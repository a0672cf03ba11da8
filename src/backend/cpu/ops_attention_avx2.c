/* ct_cpu_attention_head with AVX2 + FMA + F16C: the same computation as the reference in
 * ops_attention.c (scores, softmax, weighted sum of values), with the key and value rows
 * converted from F16 eight at a time (vcvtph2ps) instead of one table lookup per element.
 * Sums are reassociated (8 lanes), so results differ from the reference by float32
 * rounding only. Used by the fast path on CPUs with AVX2 (backend_cpu.c). */
#include "backend/cpu/ops_cpu.h"

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
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(load8(row, type, i), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(load8(row, type, i + 8), _mm256_loadu_ps(q + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load8(row, type, i), _mm256_loadu_ps(q + i), a0);
    float s = hsum8(_mm256_add_ps(a0, a1));
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

static size_t elem_size(uint32_t type) { return type == CT_TYPE_F32 ? 4 : 2; }

AVX2_TARGET void ct_cpu_attention_head_avx2(float *out, const float *q, const ct_tensor *k_cache,
                                            const ct_tensor *v_cache, const ct_kv_view *view, int32_t lo, int32_t pos,
                                            int32_t kv_head, const ct_attn *attn, float *scores) {
    const size_t k_off = (size_t)kv_head * attn->head_dim_k * elem_size(k_cache->type);
    const size_t v_off = (size_t)kv_head * attn->head_dim_v * elem_size(v_cache->type);
    const int32_t n = pos - lo + 1;
    for (int32_t j = 0; j < n; j++) {
        const int64_t cell = ct_kv_view_cell(view, lo + j);
        const uint8_t *k = (const uint8_t *)k_cache->data + (size_t)cell * k_cache->row_bytes + k_off;
        scores[j] = attn->scale * dot_row(k, k_cache->type, q, attn->head_dim_k);
    }
    ct_cpu_softmax(scores, n);
    memset(out, 0, (size_t)attn->head_dim_v * sizeof(float));
    for (int32_t j = 0; j < n; j++) {
        const int64_t cell = ct_kv_view_cell(view, lo + j);
        const uint8_t *v = (const uint8_t *)v_cache->data + (size_t)cell * v_cache->row_bytes + v_off;
        axpy_row(out, scores[j], v, v_cache->type, attn->head_dim_v);
    }
}

#else

void ct_cpu_attention_head_avx2(float *out, const float *q, const ct_tensor *k_cache, const ct_tensor *v_cache,
                                const ct_kv_view *view, int32_t lo, int32_t pos, int32_t kv_head,
                                const ct_attn *attn, float *scores) {
    ct_cpu_attention_head(out, q, k_cache, v_cache, view, lo, pos, kv_head, attn, scores);
}

#endif
