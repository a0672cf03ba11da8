/* Internal to src/quant: the scale searches behind the k-quant reference quantizers, and
 * the 6-bit scale/min packing that Q4_K and Q5_K share.
 *
 * These follow ggml's reference quantizers float operation by float operation (same
 * expressions, same evaluation order), because their output must be the bytes llama.cpp
 * writes: a different rounding anywhere flips a quant now and then. Do not "simplify" an
 * expression here without re-running test_quant_quantize against llama.cpp output. */
#ifndef CT_QUANT_K_SEARCH_H
#define CT_QUANT_K_SEARCH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Below this absolute maximum a group counts as all-zero (ggml's GROUP_MAX_EPS). */
#define CT_KQ_GROUP_EPS 1e-15f

/* Round to the nearest integer, ties to even, as the default FP rounding mode does.
 * Adding 1.5*2^23 leaves the rounded integer in the low mantissa bits. Out-of-range
 * and NaN arguments (only reachable from non-finite or absurd inputs) saturate / give 0
 * instead of garbage, so no caller ever indexes or shifts with a wild value. */
static inline int ct_kq_nearest_int(float v) {
    if (!(fabsf(v) <= 4194303.f)) return v > 0 ? 4194303 : (v < 0 ? -4194303 : 0);
    const float shifted = v + 12582912.f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

static inline int ct_kq_clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Symmetric search (Q6_K): levels in [-nmax, nmax-1] stored as l+nmax in L, weights x^2,
 * trying 19 candidate scales around -nmax/max. Returns the scale. */
float ct_kq_make_qx_quants(int n, int nmax, const float *x, int8_t *L);

/* Symmetric search with coordinate-descent refinement (Q3_K): levels in [-nmax, nmax-1]
 * stored as l+nmax in L, weights x^2. Returns the scale. */
float ct_kq_make_q3_quants(int n, int nmax, const float *x, int8_t *L);

/* Asymmetric search (Q2_K, Q4_K, Q5_K): x ~ scale*L - the_min with L in [0, nmax] and
 * the_min >= 0, minimizing the weighted error (absolute if use_mad, else squared) over
 * nstep+1 candidate scales (rmin + rdelta*is + nmax)/(max - min). Laux is scratch of n. */
float ct_kq_make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                             float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                             bool use_mad);

/* Q4_K/Q5_K: 8 6-bit scales and 8 6-bit mins in 12 bytes. Bytes 0-3 hold scales 0-3 (low
 * 6 bits) and the top 2 bits of scales 4-7; bytes 4-7 the same for mins; bytes 8-11 the
 * low 4 bits of scale (low nibble) and min (high nibble) 4-7. */
static inline void ct_kq_get_scale_min_k4(int j, const uint8_t *q, uint8_t *scale, uint8_t *min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *min = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Inverse of ct_kq_get_scale_min_k4 for 8 scales and mins each <= 63. */
static inline void ct_kq_pack_scale_min_k4(const uint8_t scale[8], const uint8_t min[8], uint8_t q[12]) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(scale[j] | ((scale[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(min[j] | ((min[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((scale[j + 4] & 0xF) | ((min[j + 4] & 0xF) << 4));
    }
}

#endif
