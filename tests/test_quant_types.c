/* Type traits, names and row sizes agree with ggml's (values from gguf-py's GGML_QUANT_SIZES,
 * except Q8_1: gguf-py lists 40 bytes, a leftover of the old float d/s layout; ggml's block_q8_1
 * is two halves + 32 quants = 36 bytes, which is what blocks.h and ggml's type_size use). */
#include <string.h>

#include "quant/types.h"
#include "test_util.h"

typedef struct { uint32_t id; const char *name; uint32_t block_size, type_size; } expected_traits;

static const expected_traits expected[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},       {30, "BF16", 1, 2},     {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},    {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},    {8, "Q8_0", 32, 34},
    {9, "Q8_1", 32, 36},    {10, "Q2_K", 256, 84},  {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144},
    {13, "Q5_K", 256, 176}, {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292},
};

static void test_supported_traits(void) {
    int supported = 0;
    for (uint32_t id = 0; id < 64; id++)
        if (ct_type_traits_of(id)) supported++;
    CHECK(supported == (int)(sizeof expected / sizeof expected[0]));
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const expected_traits *e = &expected[i];
        const ct_type_traits *t = ct_type_traits_of(e->id);
        CHECK_MSG(t != NULL, "id %u", e->id);
        if (!t) continue;
        CHECK_MSG(strcmp(t->name, e->name) == 0, "id %u: %s", e->id, t->name);
        CHECK_MSG(t->block_size == e->block_size, "%s", e->name);
        CHECK_MSG(t->type_size == e->type_size, "%s", e->name);
        CHECK_MSG(t->quantized == (e->block_size > 1), "%s", e->name);
        CHECK(strcmp(ct_type_name(e->id), e->name) == 0);
        ct_type parsed = CT_TYPE_COUNT_;
        CHECK_OK(ct_type_from_name(e->name, &parsed));
        CHECK(parsed == (ct_type)e->id);
    }
}

static void test_names(void) {
    CHECK(strcmp(ct_type_name(16), "IQ2_XXS") == 0);
    CHECK(strcmp(ct_type_name(23), "IQ4_XS") == 0);
    CHECK(strcmp(ct_type_name(24), "I8") == 0);
    CHECK(strcmp(ct_type_name(27), "I64") == 0);
    CHECK(strcmp(ct_type_name(28), "F64") == 0);
    CHECK(strcmp(ct_type_name(35), "TQ2_0") == 0);
    CHECK(strcmp(ct_type_name(39), "MXFP4") == 0);
    CHECK(strcmp(ct_type_name(1000), "unknown") == 0);
    CHECK(ct_type_traits_of(20) == NULL); /* IQ4_NL: named, not supported */
    CHECK(ct_type_traits_of(4) == NULL);
    CHECK(ct_type_traits_of(1000) == NULL);

    ct_type t = CT_TYPE_F32;
    CHECK_OK(ct_type_from_name("q4_k", &t));
    CHECK(t == CT_TYPE_Q4_K);
    CHECK_OK(ct_type_from_name("bf16", &t));
    CHECK(t == CT_TYPE_BF16);
    CHECK(ct_type_from_name("iq2_xxs", &t) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(ct_last_error(), "iq2_xxs") != NULL);
    CHECK(ct_type_from_name("q4", &t) == CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_type_from_name("q4_k_extra", &t) == CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_type_from_name("", &t) == CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_type_from_name(NULL, &t) == CT_ERR_INVALID_ARGUMENT);
}

static void test_row_bytes(void) {
    uint64_t bytes = 0;
    CHECK_OK(ct_type_row_bytes(CT_TYPE_Q4_K, 4096, &bytes));
    CHECK(bytes == 16 * 144);
    CHECK_OK(ct_type_row_bytes(CT_TYPE_F32, 7, &bytes));
    CHECK(bytes == 28);
    CHECK_OK(ct_type_row_bytes(CT_TYPE_Q8_0, 0, &bytes));
    CHECK(bytes == 0);
    CHECK(ct_type_row_bytes(CT_TYPE_Q4_0, 33, &bytes) == CT_ERR_FORMAT);
    CHECK(strstr(ct_last_error(), "Q4_0") && strstr(ct_last_error(), "33"));
    CHECK(ct_type_row_bytes((ct_type)20, 32, &bytes) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(ct_last_error(), "IQ4_NL") != NULL);
    /* 2^62 elements of F32 is 2^64 bytes: must report overflow, not wrap */
    CHECK(ct_type_row_bytes(CT_TYPE_F32, 1ULL << 62, &bytes) == CT_ERR_RANGE);
    CHECK_OK(ct_type_row_bytes(CT_TYPE_F16, 1ULL << 62, &bytes));
    CHECK(bytes == 1ULL << 63);
}

int main(void) {
    test_supported_traits();
    test_names();
    test_row_bytes();
    return ct_test_finish("test_quant_types");
}
