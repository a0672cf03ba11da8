/* Helpers shared by the tests/test_quant_*.c tests: golden files, ulp distance, random data. */
#ifndef CT_TEST_QUANT_UTIL_H
#define CT_TEST_QUANT_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "quant/types.h"
#include "test_util.h"

#define CT_QUANT_GOLDEN_DIR CT_SOURCE_DIR "/tests/golden/quant"

/* Every type ctorch (de)quantizes. */
static const ct_type ct_quant_all_types[] = {
    CT_TYPE_F32,  CT_TYPE_F16,  CT_TYPE_BF16, CT_TYPE_Q4_0, CT_TYPE_Q4_1, CT_TYPE_Q5_0,
    CT_TYPE_Q5_1, CT_TYPE_Q8_0, CT_TYPE_Q8_1, CT_TYPE_Q2_K, CT_TYPE_Q3_K, CT_TYPE_Q4_K,
    CT_TYPE_Q5_K, CT_TYPE_Q6_K, CT_TYPE_Q8_K,
};
#define CT_QUANT_ALL_TYPES_COUNT (sizeof ct_quant_all_types / sizeof ct_quant_all_types[0])

/* Read a whole golden file (malloc'd; *size in bytes). NULL + message on failure. */
static inline void *ct_quant_read_golden(const char *name, size_t *size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CT_QUANT_GOLDEN_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open golden file %s\n", path);
        return NULL;
    }
    void *data = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc(len > 0 ? (size_t)len : 1);
        if (data && fread(data, 1, (size_t)len, f) != (size_t)len) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    if (!data) fprintf(stderr, "cannot read golden file %s\n", path);
    else *size = (size_t)len;
    return data;
}

/* Distance in units in the last place between two floats: the number of representable
 * floats between them (+0 and -0 are 0 apart). Both NaN: 0; one NaN: INT64_MAX. */
static inline int64_t ct_ulp_distance(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : INT64_MAX;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    /* map sign-magnitude bit patterns onto a monotonic integer line */
    const int64_t ka = ia < 0 ? (int64_t)INT32_MIN - ia : ia;
    const int64_t kb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return ka > kb ? ka - kb : kb - ka;
}

/* Standard normal via Box-Muller from the test rng. */
static inline float ct_quant_gauss(ct_test_rng *r) {
    const double u1 = ((ct_test_rng_next(r) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    const double u2 = (ct_test_rng_next(r) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#endif
