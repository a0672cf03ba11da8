/* Core: status messages, context prefixing, overflow-checked allocation, fp16/bf16. */
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "quant/fp16.h"
#include "test_util.h"

static void test_status_messages(void) {
    ct_clear_error();
    CHECK(strcmp(ct_last_error(), "") == 0);
    CHECK(ct_fail(CT_ERR_FORMAT, "bad magic at offset %d", 0) == CT_ERR_FORMAT);
    CHECK(strcmp(ct_last_error(), "bad magic at offset 0") == 0);
    CHECK(ct_fail_context(CT_ERR_FORMAT, "reading %s", "m.gguf") == CT_ERR_FORMAT);
    CHECK(strcmp(ct_last_error(), "reading m.gguf: bad magic at offset 0") == 0);
    CHECK(strcmp(ct_status_name(CT_ERR_IO), "I/O error") == 0);
}

static void test_alloc_overflow(void) {
    ct_clear_error();
    void *p = ct_alloc_array(SIZE_MAX / 2, 4, "huge table");
    CHECK(p == NULL);
    CHECK(strstr(ct_last_error(), "huge table") != NULL);
    uint64_t r;
    CHECK(!ct_mul_u64(UINT64_MAX / 2, 3, &r));
    CHECK(ct_mul_u64(1u << 20, 1u << 20, &r) && r == (1ull << 40));
    CHECK(!ct_add_u64(UINT64_MAX, 1, &r));
}

static void test_fp16_roundtrip(void) {
    /* every finite half converts to float and back exactly */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (ct_fp32_to_fp16(ct_fp16_to_fp32((uint16_t)h)) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves did not round-trip", bad);
    CHECK(ct_fp16_to_fp32(0x3c00) == 1.0f);
    CHECK(ct_fp16_to_fp32(0xc000) == -2.0f);
    CHECK(ct_fp32_to_fp16(65520.0f) == 0x7c00);           /* rounds to inf */
    CHECK(ct_fp32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00); /* tie to even */
    CHECK(ct_fp32_to_fp16(1.0f + 3.0f / 2048) == 0x3c02);
    CHECK(ct_bf16_to_fp32(ct_fp32_to_bf16(1.5f)) == 1.5f);
    CHECK(ct_fp32_to_bf16(1.0f + 1.0f / 256) == 0x3f80); /* tie to even */
}

int main(void) {
    test_status_messages();
    test_alloc_overflow();
    test_fp16_roundtrip();
    return ct_test_finish("test_core");
}
