/* Per-type facts (block size, bytes per block) and names of ggml type ids. */
#include "quant/types.h"

#include <stddef.h>

#include "core/alloc.h"

#define TRAITS(id, nm, bs, ts, q) [id] = {.name = nm, .block_size = bs, .type_size = ts, .quantized = q}

/* Types ctorch reads and writes; an id missing here is unsupported (NULL traits). */
static const ct_type_traits supported_traits[CT_TYPE_COUNT_] = {
    TRAITS(CT_TYPE_F32, "F32", 1, 4, false),
    TRAITS(CT_TYPE_F16, "F16", 1, 2, false),
    TRAITS(CT_TYPE_BF16, "BF16", 1, 2, false),
    TRAITS(CT_TYPE_Q4_0, "Q4_0", QK4_0, sizeof(block_q4_0), true),
    TRAITS(CT_TYPE_Q4_1, "Q4_1", QK4_1, sizeof(block_q4_1), true),
    TRAITS(CT_TYPE_Q5_0, "Q5_0", QK5_0, sizeof(block_q5_0), true),
    TRAITS(CT_TYPE_Q5_1, "Q5_1", QK5_1, sizeof(block_q5_1), true),
    TRAITS(CT_TYPE_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0), true),
    TRAITS(CT_TYPE_Q8_1, "Q8_1", QK8_1, sizeof(block_q8_1), true),
    TRAITS(CT_TYPE_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K), true),
    TRAITS(CT_TYPE_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K), true),
    TRAITS(CT_TYPE_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K), true),
    TRAITS(CT_TYPE_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K), true),
    TRAITS(CT_TYPE_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K), true),
    TRAITS(CT_TYPE_Q8_K, "Q8_K", QK_K, sizeof(block_q8_K), true),
};

/* Every id ggml has assigned (some since retired), so messages can say what a file holds. */
static const char *const ggml_type_names[] = {
    [0] = "F32",        [1] = "F16",         [2] = "Q4_0",        [3] = "Q4_1",
    [4] = "Q4_2",       [5] = "Q4_3",        [6] = "Q5_0",        [7] = "Q5_1",
    [8] = "Q8_0",       [9] = "Q8_1",        [10] = "Q2_K",       [11] = "Q3_K",
    [12] = "Q4_K",      [13] = "Q5_K",       [14] = "Q6_K",       [15] = "Q8_K",
    [16] = "IQ2_XXS",   [17] = "IQ2_XS",     [18] = "IQ3_XXS",    [19] = "IQ1_S",
    [20] = "IQ4_NL",    [21] = "IQ3_S",      [22] = "IQ2_S",      [23] = "IQ4_XS",
    [24] = "I8",        [25] = "I16",        [26] = "I32",        [27] = "I64",
    [28] = "F64",       [29] = "IQ1_M",      [30] = "BF16",       [31] = "Q4_0_4_4",
    [32] = "Q4_0_4_8",  [33] = "Q4_0_8_8",   [34] = "TQ1_0",      [35] = "TQ2_0",
    [36] = "IQ4_NL_4_4", [37] = "IQ4_NL_4_8", [38] = "IQ4_NL_8_8", [39] = "MXFP4",
    [40] = "NVFP4",     [41] = "Q1_0",
};

const ct_type_traits *ct_type_traits_of(uint32_t type_id) {
    if (type_id >= CT_TYPE_COUNT_) return NULL;
    const ct_type_traits *t = &supported_traits[type_id];
    return t->name ? t : NULL;
}

const char *ct_type_name(uint32_t type_id) {
    size_t count = sizeof ggml_type_names / sizeof ggml_type_names[0];
    if (type_id >= count || !ggml_type_names[type_id]) return "unknown";
    return ggml_type_names[type_id];
}

static char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c; }

static bool name_equals_ci(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (ascii_upper(*a) != ascii_upper(*b)) return false;
    return *a == *b;
}

ct_status ct_type_from_name(const char *name, ct_type *out) {
    if (!name) return ct_fail(CT_ERR_INVALID_ARGUMENT, "type name: missing");
    for (uint32_t id = 0; id < CT_TYPE_COUNT_; id++) {
        const ct_type_traits *t = ct_type_traits_of(id);
        if (t && name_equals_ci(name, t->name)) {
            *out = (ct_type)id;
            return CT_OK;
        }
    }
    size_t count = sizeof ggml_type_names / sizeof ggml_type_names[0];
    for (uint32_t id = 0; id < count; id++)
        if (ggml_type_names[id] && name_equals_ci(name, ggml_type_names[id]))
            return ct_fail(CT_ERR_UNSUPPORTED, "type '%s' is a ggml type ctorch does not support", name);
    return ct_fail(CT_ERR_INVALID_ARGUMENT,
                   "unknown type name '%s' (expected one of F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, "
                   "Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K)",
                   name);
}

ct_status ct_type_row_bytes(ct_type type, uint64_t n, uint64_t *bytes) {
    const ct_type_traits *t = ct_type_traits_of((uint32_t)type);
    if (!t)
        return ct_fail(CT_ERR_UNSUPPORTED, "tensor type %s (id %u) is not supported",
                       ct_type_name((uint32_t)type), (unsigned)type);
    if (n % t->block_size != 0)
        return ct_fail(CT_ERR_FORMAT, "%s: %llu elements is not a multiple of the block size %u", t->name,
                       (unsigned long long)n, (unsigned)t->block_size);
    if (!ct_mul_u64(n / t->block_size, t->type_size, bytes))
        return ct_fail(CT_ERR_RANGE, "%s: byte size of %llu elements overflows", t->name, (unsigned long long)n);
    return CT_OK;
}
