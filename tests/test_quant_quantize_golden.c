/* Quantizer output, byte for byte, against two independent references:
 *  - ggml's own quantize_row_*_ref (the code llama.cpp's quantize tool runs without an
 *    importance matrix), built from the ggml sources that ggml-python vendors on PyPI, for
 *    all 12 block types (tests/scripts/gen_quant_ggml_golden.py): full blocks for a small
 *    hand-picked input, and a 32-bit hash per 256 inputs of ggml's blocks for 1024 super-
 *    blocks of the generated input of test_quant_stress_input.h (a subtle search difference,
 *    e.g. one candidate scale fewer in Q4_K, changes ~1% of super-blocks);
 *  - the PyPI gguf package's numpy quantizers, for the types it implements: F16, BF16,
 *    Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (tests/scripts/gen_quant_golden.py --quantize).
 * Identical bytes are required: any difference is a real divergence from llama.cpp. */
#include "test_quant_stress_input.h"
#include "test_quant_util.h"

/* Quantize input (n floats) as type and compare with expected; returns differing blocks. */
static void check_bytes(const char *source, ct_type type, const float *input, int64_t n, const uint8_t *expected,
                        size_t expected_size) {
    const ct_type_traits *t = ct_type_traits_of(type);
    uint64_t row_bytes = 0;
    CHECK_OK(ct_type_row_bytes(type, (uint64_t)n, &row_bytes));
    CHECK_MSG(n > 0 && row_bytes == expected_size, "%s %s: %zu expected bytes for %lld floats", source, t->name,
              expected_size, (long long)n);
    if (n <= 0 || row_bytes != expected_size) return;
    uint8_t *got = malloc(row_bytes);
    CHECK(got != NULL);
    if (!got) return;
    memset(got, 0xA5, row_bytes); /* every byte must be written */
    CHECK_OK(ct_quantize_row(type, input, got, n));
    const size_t block_bytes = t->type_size;
    const int64_t blocks = (int64_t)(row_bytes / block_bytes);
    int64_t bad_blocks = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *g = got + (size_t)b * block_bytes, *e = expected + (size_t)b * block_bytes;
        if (memcmp(g, e, block_bytes) == 0) continue;
        if (bad_blocks++ < 4) {
            size_t off = 0;
            while (g[off] == e[off]) off++;
            fprintf(stderr, "%s %s: block %lld (elements %lld..) differs first at byte %zu: got 0x%02x expected 0x%02x\n",
                    source, t->name, (long long)b, (long long)(b * t->block_size), off, g[off], e[off]);
        }
    }
    CHECK_MSG(bad_blocks == 0, "%s %s: %lld of %lld blocks differ", source, t->name, (long long)bad_blocks,
              (long long)blocks);
    printf("%-5s vs %-5s: %4lld blocks, %lld differ\n", t->name, source, (long long)blocks, (long long)bad_blocks);
    free(got);
}

static void check_against_ggml(void) {
    static const ct_type types[] = {CT_TYPE_Q4_0, CT_TYPE_Q4_1, CT_TYPE_Q5_0, CT_TYPE_Q5_1, CT_TYPE_Q8_0, CT_TYPE_Q8_1,
                                    CT_TYPE_Q2_K, CT_TYPE_Q3_K, CT_TYPE_Q4_K, CT_TYPE_Q5_K, CT_TYPE_Q6_K, CT_TYPE_Q8_K};
    size_t input_size = 0;
    float *input = ct_quant_read_golden("ggml_quantize.input.f32", &input_size);
    CHECK(input != NULL);
    if (!input) return;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "ggml_quantize_%s.bin", ct_type_name(types[i]));
        size_t size = 0;
        uint8_t *expected = ct_quant_read_golden(name, &size);
        CHECK_MSG(expected != NULL, "%s", name);
        if (expected) check_bytes("ggml", types[i], input, (int64_t)(input_size / sizeof(float)), expected, size);
        free(expected);
    }
    free(input);
}

static void check_stress_hashes(void) {
    static const ct_type types[] = {CT_TYPE_Q4_0, CT_TYPE_Q4_1, CT_TYPE_Q5_0, CT_TYPE_Q5_1, CT_TYPE_Q8_0, CT_TYPE_Q8_1,
                                    CT_TYPE_Q2_K, CT_TYPE_Q3_K, CT_TYPE_Q4_K, CT_TYPE_Q5_K, CT_TYPE_Q6_K, CT_TYPE_Q8_K};
    const int groups = CT_QUANT_STRESS_SUPERBLOCKS;
    const int64_t n = 256 * (int64_t)groups;
    float *x = malloc((size_t)n * sizeof(float));
    uint8_t *q = malloc((size_t)groups * sizeof(block_q8_K)); /* the largest group */
    CHECK(x && q);
    if (!x || !q) goto done;
    ct_quant_stress_input(x, groups);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const char *name = ct_type_name(types[i]);
        char file[64];
        snprintf(file, sizeof file, "ggml_stress_%s.fnv32", name);
        size_t size = 0;
        uint8_t *expected = ct_quant_read_golden(file, &size);
        CHECK_MSG(expected && size == (size_t)groups * 4, "%s", file);
        if (!expected || size != (size_t)groups * 4) {
            free(expected);
            continue;
        }
        uint64_t group_bytes = 0;
        CHECK_OK(ct_type_row_bytes(types[i], 256, &group_bytes));
        CHECK_OK(ct_quantize_row(types[i], x, q, n));
        int bad = 0;
        for (int g = 0; g < groups; g++) {
            const uint8_t *e = expected + 4 * g;
            const uint32_t want = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
            if (ct_fnv1a32(q + g * group_bytes, group_bytes) != want && bad++ < 4)
                fprintf(stderr, "ggml stress %s: super-block %d (kind %d) differs\n", name, g, g % CT_QUANT_STRESS_KINDS);
        }
        CHECK_MSG(bad == 0, "ggml stress %s: %d of %d super-blocks differ", name, bad, groups);
        printf("%-5s vs ggml stress: %d groups of 256, %d differ\n", name, groups, bad);
        free(expected);
    }
done:
    free(x);
    free(q);
}

static void check_against_gguf_numpy(void) {
    static const ct_type types[] = {CT_TYPE_F16,  CT_TYPE_BF16, CT_TYPE_Q4_0, CT_TYPE_Q4_1,
                                    CT_TYPE_Q5_0, CT_TYPE_Q5_1, CT_TYPE_Q8_0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char in_name[64], exp_name[64];
        snprintf(in_name, sizeof in_name, "quantize_%s.input.f32", ct_type_name(types[i]));
        snprintf(exp_name, sizeof exp_name, "quantize_%s.expected.bin", ct_type_name(types[i]));
        size_t in_size = 0, exp_size = 0;
        float *input = ct_quant_read_golden(in_name, &in_size);
        uint8_t *expected = ct_quant_read_golden(exp_name, &exp_size);
        CHECK_MSG(input && expected, "%s", in_name);
        if (input && expected)
            check_bytes("numpy", types[i], input, (int64_t)(in_size / sizeof(float)), expected, exp_size);
        free(input);
        free(expected);
    }
}

int main(void) {
    check_against_ggml();
    check_stress_hashes();
    check_against_gguf_numpy();
    return ct_test_finish("test_quant_quantize_golden");
}
