/* Random blocks with controlled statistics. Quants are uniform random bits; the scales are
 * set from the deviation of a uniform integer on [0, 2^b): sqrt((4^b - 1) / 12), i.e. 4.61 for
 * 4 bits, 9.23 for 5, 18.47 for 6 and 73.9 for 8. A per-block factor in [0.8, 1.2] (and random
 * sub-block scales for k-quants) keeps the blocks from being all alike. */
#include "synth/weights.h"

#include <string.h>

#include "quant/fp16.h"
#include "quant/types.h"

static uint64_t mix64(uint64_t x) {
    synth_rng r = {x};
    return synth_rng_next(&r);
}

uint64_t synth_chunk_key(uint64_t seed, const char *tensor_name, uint64_t chunk) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name */
    for (const unsigned char *p = (const unsigned char *)tensor_name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return mix64(mix64(mix64(seed) ^ h) ^ chunk);
}

static void random_bytes(synth_rng *r, uint8_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = synth_rng_next(r);
        memcpy(dst + i, &v, 8);
    }
    if (i < n) {
        uint64_t v = synth_rng_next(r);
        memcpy(dst + i, &v, n - i);
    }
}

/* uniform in [0, 1) with 24 random bits */
static float unit(synth_rng *r) { return (float)(synth_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

/* uniform integer in [lo, hi] (hi - lo < 2^32; the tiny modulo bias does not matter here) */
static uint32_t uniform_int(synth_rng *r, uint32_t lo, uint32_t hi) {
    return lo + (uint32_t)((synth_rng_next(r) >> 32) % (hi - lo + 1));
}

/* per-block jitter of the scale: [0.8, 1.2) */
static float jitter(synth_rng *r) { return 0.8f + 0.4f * unit(r); }

/* The symmetric formats (x = d*(q - 2^(b-1))) have quants of mean -1/2, not 0; a random sign
 * on the scale cancels that bias over the blocks. */
static float signed_jitter(synth_rng *r) {
    uint64_t v = synth_rng_next(r);
    float j = 0.8f + 0.4f * (float)(v >> 40) * (1.0f / 16777216.0f);
    return (v & 1) ? -j : j;
}

#define SQRT3 1.7320508f
#define STD_U4 4.6098f  /* deviation of a uniform integer on [0, 16) */
#define STD_U5 9.2331f  /* [0, 32) */
#define STD_U6 18.4730f /* [0, 64) */
#define STD_U8 73.9002f /* [0, 256) */

static float float_value(synth_rng *r, synth_role role) {
    float u = 2.0f * unit(r) - 1.0f; /* [-1, 1) */
    if (role == SYNTH_ROLE_NORM) return 1.0f + SYNTH_NORM_SPREAD * u;
    return SYNTH_WEIGHT_STD * SQRT3 * u;
}

static void fill_f32(synth_rng *r, synth_role role, float *y, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) y[i] = float_value(r, role);
}

static void fill_f16(synth_rng *r, synth_role role, uint16_t *y, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) y[i] = ct_fp32_to_fp16(float_value(r, role));
}

static void fill_bf16(synth_rng *r, synth_role role, uint16_t *y, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) y[i] = ct_fp32_to_bf16(float_value(r, role));
}

static void fill_q4_0(synth_rng *r, block_q4_0 *y, uint64_t nb) {
    for (uint64_t i = 0; i < nb; i++) {
        y[i].d = ct_fp32_to_fp16(SYNTH_WEIGHT_STD / STD_U4 * signed_jitter(r));
        random_bytes(r, y[i].qs, sizeof y[i].qs);
    }
}

static void fill_q4_1(synth_rng *r, block_q4_1 *y, uint64_t nb) {
    for (uint64_t i = 0; i < nb; i++) {
        float d = SYNTH_WEIGHT_STD / STD_U4 * jitter(r);
        y[i].d = ct_fp32_to_fp16(d);
        y[i].m = ct_fp32_to_fp16(-7.5f * ct_fp16_to_fp32(y[i].d)); /* centre q in [0, 15] on 0 */
        random_bytes(r, y[i].qs, sizeof y[i].qs);
    }
}

static void fill_q5_0(synth_rng *r, block_q5_0 *y, uint64_t nb) {
    for (uint64_t i = 0; i < nb; i++) {
        y[i].d = ct_fp32_to_fp16(SYNTH_WEIGHT_STD / STD_U5 * signed_jitter(r));
        random_bytes(r, y[i].qh, sizeof y[i].qh);
        random_bytes(r, y[i].qs, sizeof y[i].qs);
    }
}

static void fill_q5_1(synth_rng *r, block_q5_1 *y, uint64_t nb) {
    for (uint64_t i = 0; i < nb; i++) {
        float d = SYNTH_WEIGHT_STD / STD_U5 * jitter(r);
        y[i].d = ct_fp32_to_fp16(d);
        y[i].m = ct_fp32_to_fp16(-15.5f * ct_fp16_to_fp32(y[i].d));
        random_bytes(r, y[i].qh, sizeof y[i].qh);
        random_bytes(r, y[i].qs, sizeof y[i].qs);
    }
}

static void fill_q8_0(synth_rng *r, block_q8_0 *y, uint64_t nb) {
    for (uint64_t i = 0; i < nb; i++) {
        y[i].d = ct_fp32_to_fp16(SYNTH_WEIGHT_STD / STD_U8 * signed_jitter(r));
        random_bytes(r, (uint8_t *)y[i].qs, sizeof y[i].qs);
    }
}

/* Pack 8 six-bit scales and mins as ggml's get_scale_min_k4() unpacks them: sub-blocks 0-3
 * in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 split into a low
 * nibble in bytes 8-11 and two high bits in the top of bytes 0-7. */
static void pack_scales_k4(const uint8_t sc[8], const uint8_t m[8], uint8_t out[K_SCALE_SIZE]) {
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

/* Q4_K / Q5_K: x = d*sc*q - dmin*m per 32-element sub-block. With dmin = dmin_ratio*d, the
 * min m = sc*mean(q)/dmin_ratio cancels the mean of q; sub-block scales sc in [lo, hi]. */
static void k_scales(synth_rng *r, float std_q, float mean_q, float dmin_ratio, uint32_t lo, uint32_t hi,
                     uint16_t *d_out, uint16_t *dmin_out, uint8_t scales[K_SCALE_SIZE]) {
    float mid = 0.5f * (float)(lo + hi);
    uint16_t dh = ct_fp32_to_fp16(SYNTH_WEIGHT_STD / (std_q * mid) * jitter(r));
    float d = ct_fp16_to_fp32(dh);
    uint16_t dminh = ct_fp32_to_fp16(d * dmin_ratio);
    float dmin = ct_fp16_to_fp32(dminh);
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)uniform_int(r, lo, hi);
        float mj = (float)sc[j] * mean_q * d / dmin + 0.5f;
        m[j] = (uint8_t)(mj > 63.0f ? 63.0f : mj);
    }
    pack_scales_k4(sc, m, scales);
    *d_out = dh;
    *dmin_out = dminh;
}

static void fill_q4_K(synth_rng *r, block_q4_K *y, uint64_t nb) {
    for (uint64_t i = 0; i < nb; i++) {
        k_scales(r, STD_U4, 7.5f, 8.0f, 32, 63, &y[i].d, &y[i].dmin, y[i].scales);
        random_bytes(r, y[i].qs, sizeof y[i].qs);
    }
}

static void fill_q5_K(synth_rng *r, block_q5_K *y, uint64_t nb) {
    for (uint64_t i = 0; i < nb; i++) {
        k_scales(r, STD_U5, 15.5f, 16.0f, 16, 31, &y[i].d, &y[i].dmin, y[i].scales);
        random_bytes(r, y[i].qh, sizeof y[i].qh);
        random_bytes(r, y[i].qs, sizeof y[i].qs);
    }
}

/* Q6_K: x = d*sc*(q-32) per 16-element sub-block, q in [0, 64); sc in +-[8, 15], the random
 * sign cancelling the -1/2 mean of q-32. */
static void fill_q6_K(synth_rng *r, block_q6_K *y, uint64_t nb) {
    for (uint64_t i = 0; i < nb; i++) {
        y[i].d = ct_fp32_to_fp16(SYNTH_WEIGHT_STD / (STD_U6 * 11.5f) * jitter(r));
        for (int j = 0; j < QK_K / 16; j++) {
            uint32_t v = uniform_int(r, 0, 15); /* bit 3 is the sign, bits 0-2 the size: 8 + [0, 7] */
            y[i].scales[j] = (int8_t)((v & 8) ? -(int)(8 + (v & 7)) : (int)(8 + (v & 7)));
        }
        random_bytes(r, y[i].ql, sizeof y[i].ql);
        random_bytes(r, y[i].qh, sizeof y[i].qh);
    }
}

ct_status synth_fill(ct_type type, synth_role role, uint64_t n, uint64_t key, void *dst) {
    const ct_type_traits *tr = ct_type_traits_of(type);
    if (!tr) return ct_fail(CT_ERR_UNSUPPORTED, "synth: cannot generate type id %u", (unsigned)type);
    if (n % tr->block_size != 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "synth: %llu elements are not a whole number of %s blocks of %u",
                       (unsigned long long)n, tr->name, tr->block_size);
    uint64_t nb = n / tr->block_size;
    synth_rng r = {key};
    switch (type) {
    case CT_TYPE_F32: fill_f32(&r, role, dst, n); break;
    case CT_TYPE_F16: fill_f16(&r, role, dst, n); break;
    case CT_TYPE_BF16: fill_bf16(&r, role, dst, n); break;
    case CT_TYPE_Q4_0: fill_q4_0(&r, dst, nb); break;
    case CT_TYPE_Q4_1: fill_q4_1(&r, dst, nb); break;
    case CT_TYPE_Q5_0: fill_q5_0(&r, dst, nb); break;
    case CT_TYPE_Q5_1: fill_q5_1(&r, dst, nb); break;
    case CT_TYPE_Q8_0: fill_q8_0(&r, dst, nb); break;
    case CT_TYPE_Q4_K: fill_q4_K(&r, dst, nb); break;
    case CT_TYPE_Q5_K: fill_q5_K(&r, dst, nb); break;
    case CT_TYPE_Q6_K: fill_q6_K(&r, dst, nb); break;
    default: return ct_fail(CT_ERR_UNSUPPORTED, "synth: cannot generate %s data", tr->name);
    }
    return CT_OK;
}
