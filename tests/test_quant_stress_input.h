/* Deterministic quantizer stress input, shared by test_quant_quantize_golden.c and the ggml
 * driver that tests/scripts/gen_quant_ggml_golden.py compiles (which includes this very
 * file), so the input need not be checked in: only a hash of ggml's blocks per 256 inputs.
 * Plain C with exact-integer randomness and float32 arithmetic only (no libm), so every
 * compiler and optimization level builds the same floats. */
#ifndef CT_TEST_QUANT_STRESS_INPUT_H
#define CT_TEST_QUANT_STRESS_INPUT_H

#include <stddef.h>
#include <stdint.h>

#define CT_QUANT_STRESS_SUPERBLOCKS 1024
#define CT_QUANT_STRESS_KINDS 12

typedef struct { uint64_t s; } ct_stress_rng;

static inline uint64_t ct_stress_next(ct_stress_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

/* uniform in [-1, 1): a 24-bit integer times 2^-23, minus 1 (all exact) */
static inline float ct_stress_uniform(ct_stress_rng *r) {
    return (float)(ct_stress_next(r) >> 40) * (1.0f / 8388608.0f) - 1.0f;
}

/* roughly normal, unit variance: the sum of four uniforms times sqrt(3)/2 (Irwin-Hall) */
static inline float ct_stress_gauss(ct_stress_rng *r) {
    float s = ct_stress_uniform(r);
    s += ct_stress_uniform(r);
    s += ct_stress_uniform(r);
    s += ct_stress_uniform(r);
    return s * 0.8660254f;
}

/* 256 * n_superblocks floats; super-block b uses kind b % CT_QUANT_STRESS_KINDS and a random
 * power-of-two-ish scale in [2^-12, 2^7). */
static inline void ct_quant_stress_input(float *x, int n_superblocks) {
    ct_stress_rng r = {0x51ED27A3C0FFEEULL};
    for (int b = 0; b < n_superblocks; b++) {
        const int e = (int)(ct_stress_next(&r) % 19) - 12;
        float scale = 1.0f + (float)(ct_stress_next(&r) % 16) / 16.0f;
        for (int k = 0; k < e; k++) scale *= 2.0f;
        for (int k = 0; k > e; k--) scale *= 0.5f;
        float *xb = x + (size_t)b * 256;
        for (int i = 0; i < 256; i++) {
            const float g = ct_stress_gauss(&r), u = ct_stress_uniform(&r);
            float v;
            switch (b % CT_QUANT_STRESS_KINDS) {
            case 0: v = u; break;
            case 1: v = g; break;
            case 2: v = (g < 0 ? -g : g) + 0.5f; break;                 /* all positive */
            case 3: v = g * 0.25f - 1.0f; break;                        /* all negative-ish */
            case 4: v = (ct_stress_next(&r) % 64 == 0) ? (u < 0 ? -4.0f : 4.0f) * (1.5f + u) : g * 0.03f; break;
            case 5: v = g * g * g; break;                               /* heavy tails */
            case 6: v = (ct_stress_next(&r) % 5 == 0) ? g : 0.0f; break; /* sparse */
            case 7: {                                                   /* sub-blocks of varied size */
                float m = g;
                for (int k = 0; k < (i / 16) % 8; k++) m *= 0.5f;
                v = m;
                break;
            }
            case 8: v = (float)(int)(g * 4.0f); break;                  /* small integers: ties */
            case 9: v = (i >= 64 && i < 96) ? 0.0f : g; break;          /* one zero sub-block */
            case 10: v = 1.0f + g * 0.001f; break;                      /* nearly constant */
            default: v = g * 0.1f + u * 0.02f; break;
            }
            xb[i] = v * scale;
        }
    }
}

/* FNV-1a, 32 bit: a short fingerprint of each 256-element group of blocks. */
static inline uint32_t ct_fnv1a32(const void *data, size_t size) {
    const uint8_t *p = (const uint8_t *)data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

#endif
