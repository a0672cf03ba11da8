/* Dequantization against the PyPI gguf package's numpy dequantizers (golden files from
 * tests/scripts/gen_quant_golden.py): every element within 1 ulp of float32.
 *
 * In practice the distance is 0 for every type: numpy evaluates each formula in float32
 * with one rounding per operation and no fused multiply-add, in the same order as our
 * scalar code (Q4_1: (d*q) + m; k-quants: (d*sc)*q - (dmin*m); Q6_K: (d*sc)*q), and
 * CMake builds us as ISO C11, where GCC does not contract a*b+c into an FMA. The 1 ulp
 * allowance is for a future compiler or target that contracts anyway (one FMA changes a
 * result by at most 1 ulp here, since d*q is exact or rounded once). Q8_1 and Q8_K have no
 * gguf dequantizer; their expected values are the script's numpy d*q. */
#include "test_quant_util.h"

static const int64_t max_ulp_allowed = 1;

static void check_type(ct_type type) {
    const ct_type_traits *t = ct_type_traits_of(type);
    char bin_name[64], f32_name[64];
    snprintf(bin_name, sizeof bin_name, "%s.bin", t->name);
    snprintf(f32_name, sizeof f32_name, "%s.f32", t->name);
    size_t bin_size = 0, f32_size = 0;
    uint8_t *blocks = ct_quant_read_golden(bin_name, &bin_size);
    float *expected = ct_quant_read_golden(f32_name, &f32_size);
    CHECK_MSG(blocks && expected, "%s: golden files missing", t->name);
    if (!blocks || !expected) goto done;

    const int64_t n = (int64_t)(f32_size / sizeof(float));
    uint64_t row_bytes = 0;
    CHECK_OK(ct_type_row_bytes(type, (uint64_t)n, &row_bytes));
    CHECK_MSG(n > 0 && row_bytes == bin_size, "%s: %zu block bytes for %lld floats", t->name, bin_size, (long long)n);
    if (n <= 0 || row_bytes != bin_size) goto done;

    float *got = malloc((size_t)n * sizeof(float));
    CHECK(got != NULL);
    if (!got) goto done;
    CHECK_OK(ct_dequantize_row(type, blocks, got, n));
    int64_t max_ulp = 0, bad = 0, nonzero_ulp = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t ulp = ct_ulp_distance(got[i], expected[i]);
        if (ulp > max_ulp) max_ulp = ulp;
        if (ulp > 0) nonzero_ulp++;
        if (ulp > max_ulp_allowed && bad++ < 5)
            fprintf(stderr, "%s: element %lld (block %lld): got %.9g expected %.9g (%lld ulp)\n", t->name, (long long)i,
                    (long long)(i / t->block_size), got[i], expected[i], (long long)ulp);
    }
    CHECK_MSG(bad == 0, "%s: %lld of %lld elements differ by more than %lld ulp", t->name, (long long)bad,
              (long long)n, (long long)max_ulp_allowed);
    printf("%-5s %6lld elements, max ulp %lld, %lld elements not bit-exact\n", t->name, (long long)n,
           (long long)max_ulp, (long long)nonzero_ulp);
    free(got);
done:
    free(blocks);
    free(expected);
}

static void test_ulp_distance(void) {
    CHECK(ct_ulp_distance(1.0f, 1.0f) == 0);
    CHECK(ct_ulp_distance(0.0f, -0.0f) == 0);
    CHECK(ct_ulp_distance(1.0f, nextafterf(1.0f, 2.0f)) == 1);
    CHECK(ct_ulp_distance(-1.0f, nextafterf(-1.0f, -2.0f)) == 1);
    /* across zero: smallest subnormals on either side are 2 apart */
    CHECK(ct_ulp_distance(1e-45f, -1e-45f) == 2);
    CHECK(ct_ulp_distance(1.0f, 2.0f) == (1 << 23));
    CHECK(ct_ulp_distance(NAN, NAN) == 0);
    CHECK(ct_ulp_distance(NAN, 1.0f) == INT64_MAX);
    CHECK(ct_ulp_distance(INFINITY, 3.4028235e38f) == 1);
}

int main(void) {
    test_ulp_distance();
    for (size_t i = 0; i < CT_QUANT_ALL_TYPES_COUNT; i++)
        if (ct_quant_all_types[i] != CT_TYPE_F32) check_type(ct_quant_all_types[i]);
    return ct_test_finish("test_quant_golden");
}
