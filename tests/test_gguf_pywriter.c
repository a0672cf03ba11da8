/* ctorch's GGUF writer against the PyPI gguf package's GGUFWriter, byte for byte:
 * tests/golden/gguf/pywriter.gguf was written by tests/scripts/gen_gguf_pywriter.py; this test
 * builds the same content with our writer and compares the files, then reads the Python-written
 * file with our reader and checks every value and tensor element. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "quant/blocks.h"
#include "quant/fp16.h"
#include "test_util.h"

#define GOLDEN CT_SOURCE_DIR "/tests/golden/gguf/pywriter.gguf"

/* The content of gen_gguf_pywriter.py. */
static const char utf8_str[] = "hello, w\xc3\xb6rld \xe2\x9c\x93";
static const int32_t arr_i32[] = {1, -2, 300000};
static const float arr_f32[] = {0.5f, -1.25f, 3.0f};
static const uint8_t arr_bool[] = {1, 0, 1};
static const char *const arr_str[] = {"a", "", "\xc3\xbc", "<s>"};
static const uint8_t arr_u8[] = {1, 2, 255};
static const uint64_t arr_u64[] = {UINT64_MAX, 0};
static const double arr_f64[] = {0.1, -2.5};
static const int32_t nested_a[] = {1, 2}, nested_b[] = {3};
static gguf_str nested_s1[] = {{"x", 1}, {"yy", 2}}, nested_s2[] = {{"z", 1}};

static float f32_data[24];
static uint16_t f16_data[16];
static uint8_t q8_data[2 * 68];

static void make_tensor_data(void) {
    for (int i = 0; i < 24; i++) f32_data[i] = (float)i * 0.25f - 3.0f;
    for (int i = 0; i < 16; i++) f16_data[i] = ct_fp32_to_fp16((float)i * 0.5f - 2.0f); /* exact in fp16 */
    for (int i = 0; i < 2 * 68; i++) q8_data[i] = (uint8_t)((i * 37 + 11) % 256);
}

static gguf_value array_of(gguf_type elem, uint64_t count, const void *raw, gguf_str *strs, gguf_value *items) {
    gguf_value v = {.type = GGUF_TYPE_ARRAY};
    v.arr.elem_type = elem;
    v.arr.count = count;
    v.arr.raw = raw;
    v.arr.strs = strs;
    v.arr.items = items;
    return v;
}

static void build(gguf_writer *w) {
    CHECK_OK(gguf_writer_set_str(w, "general.architecture", "ctorch-test"));
    CHECK_OK(gguf_writer_set_u32(w, "general.alignment", 64));
    CHECK_OK(gguf_writer_set_u8(w, "test.u8", 200));
    CHECK_OK(gguf_writer_set_i8(w, "test.i8", -100));
    CHECK_OK(gguf_writer_set_u16(w, "test.u16", 60000));
    CHECK_OK(gguf_writer_set_i16(w, "test.i16", -30000));
    CHECK_OK(gguf_writer_set_u32(w, "test.u32", 4000000000u));
    CHECK_OK(gguf_writer_set_i32(w, "test.i32", -2000000000));
    CHECK_OK(gguf_writer_set_u64(w, "test.u64", (1ull << 63) + 5));
    CHECK_OK(gguf_writer_set_i64(w, "test.i64", -(INT64_C(1) << 62) - 3));
    CHECK_OK(gguf_writer_set_f32(w, "test.f32", -0.1f));
    CHECK_OK(gguf_writer_set_f64(w, "test.f64", 3.141592653589793));
    CHECK_OK(gguf_writer_set_bool(w, "test.true", true));
    CHECK_OK(gguf_writer_set_bool(w, "test.false", false));
    CHECK_OK(gguf_writer_set_str(w, "test.str", utf8_str));
    CHECK_OK(gguf_writer_set_array(w, "test.arr_i32", GGUF_TYPE_INT32, arr_i32, 3));
    CHECK_OK(gguf_writer_set_array(w, "test.arr_f32", GGUF_TYPE_FLOAT32, arr_f32, 3));
    CHECK_OK(gguf_writer_set_array(w, "test.arr_bool", GGUF_TYPE_BOOL, arr_bool, 3));
    CHECK_OK(gguf_writer_set_str_array(w, "test.arr_str", arr_str, NULL, 4));
    CHECK_OK(gguf_writer_set_array(w, "test.arr_u8", GGUF_TYPE_UINT8, arr_u8, 3));
    CHECK_OK(gguf_writer_set_array(w, "test.arr_u64", GGUF_TYPE_UINT64, arr_u64, 2));
    CHECK_OK(gguf_writer_set_array(w, "test.arr_f64", GGUF_TYPE_FLOAT64, arr_f64, 2));
    gguf_value rows[2] = {array_of(GGUF_TYPE_INT32, 2, nested_a, NULL, NULL),
                          array_of(GGUF_TYPE_INT32, 1, nested_b, NULL, NULL)};
    gguf_value nested = array_of(GGUF_TYPE_ARRAY, 2, NULL, NULL, rows);
    CHECK_OK(gguf_writer_set_value(w, "test.nested", &nested));
    gguf_value srows[2] = {array_of(GGUF_TYPE_STRING, 2, NULL, nested_s1, NULL),
                           array_of(GGUF_TYPE_STRING, 1, NULL, nested_s2, NULL)};
    gguf_value nested_str = array_of(GGUF_TYPE_ARRAY, 2, NULL, NULL, srows);
    CHECK_OK(gguf_writer_set_value(w, "test.nested_str", &nested_str));
    CHECK_OK(gguf_writer_add_tensor(w, "t.f32", CT_TYPE_F32, 2, (uint64_t[]){8, 3}, f32_data));
    CHECK_OK(gguf_writer_add_tensor(w, "t.f16", CT_TYPE_F16, 1, (uint64_t[]){16}, f16_data));
    CHECK_OK(gguf_writer_add_tensor(w, "blk.0.q8_0", CT_TYPE_Q8_0, 2, (uint64_t[]){64, 2}, q8_data));
}

static void compare_bytes(const char *ours_path) {
    size_t n_py = 0, n_ours = 0;
    uint8_t *py = ct_test_read_file(GOLDEN, &n_py), *ours = ct_test_read_file(ours_path, &n_ours);
    CHECK_MSG(py != NULL, "cannot read %s", GOLDEN);
    CHECK(ours != NULL);
    if (py && ours) {
        CHECK_MSG(n_py == n_ours, "sizes differ: gguf (PyPI) %zu bytes, ctorch %zu bytes", n_py, n_ours);
        size_t n = n_py < n_ours ? n_py : n_ours, first = n;
        for (size_t i = 0; i < n && first == n; i++)
            if (py[i] != ours[i]) first = i;
        CHECK_MSG(first == n, "first difference at byte %zu: gguf (PyPI) 0x%02x, ctorch 0x%02x", first,
                  first < n ? py[first] : 0, first < n ? ours[first] : 0);
        printf("compared %zu bytes with %s\n", n, GOLDEN);
    }
    free(py);
    free(ours);
}

static void check_read(const gguf_file *f) {
    uint64_t u;
    int64_t i;
    double d;
    bool b;
    gguf_str s;
    const gguf_value *a;
    CHECK(gguf_version(f) == 3);
    CHECK(gguf_alignment(f) == 64);
    CHECK(gguf_kv_count(f) == 24);
    CHECK_OK(gguf_get_str(f, "general.architecture", &s));
    CHECK(gguf_str_eq(s, "ctorch-test"));
    CHECK(gguf_get_u64(f, "test.u8", &u) == CT_OK && u == 200);
    CHECK(gguf_get_i64(f, "test.i8", &i) == CT_OK && i == -100);
    CHECK(gguf_get_u64(f, "test.u16", &u) == CT_OK && u == 60000);
    CHECK(gguf_get_i64(f, "test.i16", &i) == CT_OK && i == -30000);
    CHECK(gguf_get_u64(f, "test.u32", &u) == CT_OK && u == 4000000000u);
    CHECK(gguf_get_i64(f, "test.i32", &i) == CT_OK && i == -2000000000);
    CHECK(gguf_get_u64(f, "test.u64", &u) == CT_OK && u == (1ull << 63) + 5);
    CHECK(gguf_get_i64(f, "test.i64", &i) == CT_OK && i == -(INT64_C(1) << 62) - 3);
    CHECK(gguf_get_f64(f, "test.f32", &d) == CT_OK && d == (double)-0.1f);
    CHECK(gguf_get_f64(f, "test.f64", &d) == CT_OK && d == 3.141592653589793);
    CHECK(gguf_get_bool(f, "test.true", &b) == CT_OK && b);
    CHECK(gguf_get_bool(f, "test.false", &b) == CT_OK && !b);
    CHECK(gguf_get_str(f, "test.str", &s) == CT_OK && gguf_str_eq(s, utf8_str));
    CHECK_OK(gguf_get_array(f, "test.arr_i32", GGUF_TYPE_INT32, &a));
    for (uint64_t k = 0; k < 3; k++) CHECK(gguf_array_i64(a, k, &i) && i == arr_i32[k]);
    CHECK_OK(gguf_get_array(f, "test.arr_f32", GGUF_TYPE_FLOAT32, &a));
    for (uint64_t k = 0; k < 3; k++) CHECK(gguf_array_f64(a, k, &d) && d == arr_f32[k]);
    CHECK_OK(gguf_get_array(f, "test.arr_bool", GGUF_TYPE_BOOL, &a));
    CHECK(a->arr.count == 3 && memcmp(a->arr.raw, arr_bool, 3) == 0);
    CHECK_OK(gguf_get_array(f, "test.arr_str", GGUF_TYPE_STRING, &a));
    CHECK(a->arr.count == 4);
    for (uint64_t k = 0; k < 4 && k < a->arr.count; k++) CHECK(gguf_str_eq(a->arr.strs[k], arr_str[k]));
    CHECK_OK(gguf_get_array(f, "test.arr_u8", GGUF_TYPE_UINT8, &a));
    CHECK(a->arr.count == 3 && memcmp(a->arr.raw, arr_u8, 3) == 0);
    CHECK_OK(gguf_get_array(f, "test.arr_u64", GGUF_TYPE_UINT64, &a));
    CHECK(a->arr.count == 2 && memcmp(a->arr.raw, arr_u64, 16) == 0);
    CHECK(!gguf_array_i64(a, 0, &i)); /* UINT64_MAX does not fit int64 */
    CHECK_OK(gguf_get_array(f, "test.arr_f64", GGUF_TYPE_FLOAT64, &a));
    for (uint64_t k = 0; k < 2; k++) CHECK(gguf_array_f64(a, k, &d) && d == arr_f64[k]);
    CHECK_OK(gguf_get_array(f, "test.nested", GGUF_TYPE_ARRAY, &a));
    CHECK(a->arr.count == 2);
    if (a->arr.count == 2) {
        CHECK(a->arr.items[0].arr.elem_type == GGUF_TYPE_INT32 && a->arr.items[0].arr.count == 2);
        CHECK(gguf_array_i64(&a->arr.items[0], 1, &i) && i == 2);
        CHECK(a->arr.items[1].arr.count == 1 && gguf_array_i64(&a->arr.items[1], 0, &i) && i == 3);
    }
    CHECK_OK(gguf_get_array(f, "test.nested_str", GGUF_TYPE_ARRAY, &a));
    CHECK(a->arr.count == 2);
    if (a->arr.count == 2) {
        CHECK(a->arr.items[0].arr.elem_type == GGUF_TYPE_STRING && a->arr.items[0].arr.count == 2);
        CHECK(a->arr.items[0].arr.count == 2 && gguf_str_eq(a->arr.items[0].arr.strs[1], "yy"));
        CHECK(a->arr.items[1].arr.count == 1 && gguf_str_eq(a->arr.items[1].arr.strs[0], "z"));
    }

    CHECK(gguf_tensor_count(f) == 3);
    const gguf_tensor_info *t = gguf_find_tensor(f, "t.f32");
    CHECK(t && t->type == CT_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 8 && t->ne[1] == 3 && t->nbytes == 96);
    if (t) {
        for (int k = 0; k < 24; k++) {
            float x;
            memcpy(&x, (const uint8_t *)t->data + 4 * k, 4);
            CHECK(x == (float)k * 0.25f - 3.0f);
        }
    }
    t = gguf_find_tensor(f, "t.f16");
    CHECK(t && t->type == CT_TYPE_F16 && t->n_dims == 1 && t->ne[0] == 16 && t->nbytes == 32);
    if (t) {
        for (int k = 0; k < 16; k++) {
            uint16_t h;
            memcpy(&h, (const uint8_t *)t->data + 2 * k, 2);
            CHECK(ct_fp16_to_fp32(h) == (float)k * 0.5f - 2.0f);
        }
    }
    t = gguf_find_tensor(f, "blk.0.q8_0");
    CHECK(t && t->type == CT_TYPE_Q8_0 && t->ne[0] == 64 && t->ne[1] == 2 && t->nbytes == 2 * 2 * sizeof(block_q8_0));
    if (t) CHECK(memcmp(t->data, q8_data, sizeof q8_data) == 0);
    for (uint64_t k = 0; k < gguf_tensor_count(f); k++) CHECK(gguf_tensor_at(f, k)->offset % 64 == 0);
}

int main(void) {
    make_tensor_data();
    char path[4096];
    snprintf(path, sizeof path, "%s/gguf_pywriter_ours.gguf", CT_BINARY_DIR);
    gguf_writer *w = NULL;
    CHECK_OK(gguf_writer_create(&w));
    if (w) {
        build(w);
        CHECK_OK(gguf_writer_write_file(w, path));
        gguf_writer_free(w);
        compare_bytes(path);
        unlink(path);
    }
    gguf_file *f = NULL;
    CHECK_OK(gguf_open(GOLDEN, &f));
    if (f) {
        check_read(f);
        gguf_close(f);
    }
    return ct_test_finish("test_gguf_pywriter");
}
