/* Reference attention for one query head of one token, reading the KV cache through the
 * sequence's view. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>

#include "backend/cpu/ops_cpu.h"
#include "quant/fp16.h"

/* F16 -> F32 by table: attention converts every cached key and value it reads, O(n^2) times
 * over a prompt, and the bit-exact conversion function is several branches per value. */
static float f16_table[1 << 16];
static pthread_once_t f16_table_once = PTHREAD_ONCE_INIT;

static void fill_f16_table(void) {
    for (uint32_t i = 0; i < (1u << 16); i++) f16_table[i] = ct_fp16_to_fp32((uint16_t)i);
}

static float cache_dot(const void *row, uint32_t type, const float *q, int64_t n) {
    if (type == CT_TYPE_F32) return ct_cpu_dot(row, q, n);
    const uint16_t *h = row;
    float acc[4] = {0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) acc[j] += f16_table[h[i + j]] * q[i + j];
    for (; i < n; i++) acc[0] += f16_table[h[i]] * q[i];
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}

static void cache_axpy(float *y, float a, const void *row, uint32_t type, int64_t n) {
    if (type == CT_TYPE_F32) {
        const float *x = row;
        for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
    } else {
        const uint16_t *h = row;
        for (int64_t i = 0; i < n; i++) y[i] += a * f16_table[h[i]];
    }
}

static size_t cache_elem_size(uint32_t type) { return type == CT_TYPE_F32 ? 4 : 2; }

void ct_cpu_attention_head(float *out, const float *q, const ct_tensor *k_cache, const ct_tensor *v_cache,
                           const ct_kv_view *view, int32_t lo, int32_t pos, int32_t kv_head, const ct_attn *attn,
                           float *scores) {
    size_t k_off = (size_t)kv_head * attn->head_dim_k * cache_elem_size(k_cache->type);
    size_t v_off = (size_t)kv_head * attn->head_dim_v * cache_elem_size(v_cache->type);
    int32_t n = pos - lo + 1;
    pthread_once(&f16_table_once, fill_f16_table);
    /* scores_j = scale * q . k_j */
    for (int32_t j = 0; j < n; j++) {
        int64_t cell = ct_kv_view_cell(view, lo + j);
        const uint8_t *k = (const uint8_t *)k_cache->data + (size_t)cell * k_cache->row_bytes + k_off;
        scores[j] = attn->scale * cache_dot(k, k_cache->type, q, attn->head_dim_k);
    }
    ct_cpu_softmax(scores, n);
    /* out = sum_j p_j v_j */
    memset(out, 0, (size_t)attn->head_dim_v * sizeof(float));
    for (int32_t j = 0; j < n; j++) {
        int64_t cell = ct_kv_view_cell(view, lo + j);
        const uint8_t *v = (const uint8_t *)v_cache->data + (size_t)cell * v_cache->row_bytes + v_off;
        cache_axpy(out, scores[j], v, v_cache->type, attn->head_dim_v);
    }
}

void ct_cpu_store_row(void *dst, uint32_t type, const float *src, int64_t n) {
    if (type == CT_TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = ct_fp32_to_fp16(src[i]);
}
