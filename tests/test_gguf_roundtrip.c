/* GGUF writer -> reader round trip: every metadata type (each scalar, strings incl. empty and
 * UTF-8, arrays of each scalar type, string arrays, nested arrays, empty arrays), tensors of
 * several types and shapes with a custom alignment, on seeded random data. Checks every
 * value, every tensor byte, the padding, the typed getters' conversions, that copying a file
 * through gguf_writer_set_value reproduces it byte for byte, that streaming and one-shot
 * writing agree, and the writer's argument and I/O errors.
 *
 * Leaves gguf_roundtrip.gguf and gguf_roundtrip.txt (our reader's view, in the format of
 * tests/scripts/gguf_dump.py) in the build directory for tests/scripts/check_writer_with_gguf_py.py. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "quant/blocks.h"
#include "test_gguf_dump.h"
#include "test_util.h"

#define ALIGNMENT 64
#define MAX_EXPECTED 64

static ct_test_rng rng = {0x9E3779B97F4A7C15ull};

typedef struct {
    const char *key;
    gguf_value value;
} expected_kv;

static expected_kv expected[MAX_EXPECTED];
static int n_expected;

static void expect(const char *key, gguf_value v) {
    for (int i = 0; i < n_expected; i++)
        if (strcmp(expected[i].key, key) == 0) { /* a replaced key keeps its position */
            expected[i].value = v;
            return;
        }
    if (n_expected < MAX_EXPECTED) expected[n_expected++] = (expected_kv){key, v};
}

static size_t elem_size(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static bool str_equal(gguf_str a, gguf_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0); }

static bool value_equal(const gguf_value *a, const gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case GGUF_TYPE_STRING: return str_equal(a->str, b->str);
    case GGUF_TYPE_BOOL: return a->b == b->b;
    case GGUF_TYPE_FLOAT32: return (float)a->f64 == (float)b->f64;
    case GGUF_TYPE_FLOAT64: return memcmp(&a->f64, &b->f64, 8) == 0;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64: return a->i64 == b->i64;
    case GGUF_TYPE_ARRAY: break;
    default: return a->u64 == b->u64;
    }
    if (a->arr.elem_type != b->arr.elem_type || a->arr.count != b->arr.count) return false;
    uint64_t n = a->arr.count;
    size_t size = elem_size(a->arr.elem_type);
    if (size) return n == 0 || memcmp(a->arr.raw, b->arr.raw, n * size) == 0;
    for (uint64_t i = 0; i < n; i++) {
        bool same = a->arr.elem_type == GGUF_TYPE_STRING ? str_equal(a->arr.strs[i], b->arr.strs[i])
                                                         : value_equal(&a->arr.items[i], &b->arr.items[i]);
        if (!same) return false;
    }
    return true;
}

static void fill_random(void *buf, size_t n) {
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(ct_test_rng_next(&rng) >> 56);
}

/* ---- metadata ------------------------------------------------------------------- */
/* Buffers the expected values point to; freed at exit. */
static void *owned[64];
static int n_owned;
static void *keep(void *p) {
    if (n_owned < 64) owned[n_owned++] = p;
    return p;
}

static gguf_value scalar(gguf_type t, uint64_t u, int64_t i, double f, bool b) {
    gguf_value v = {.type = t};
    if (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64) v.f64 = f;
    else if (t == GGUF_TYPE_BOOL) v.b = b;
    else if (t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64) v.i64 = i;
    else v.u64 = u;
    return v;
}

static void set_scalars(gguf_writer *w) {
    uint8_t u8 = (uint8_t)(ct_test_rng_next(&rng) | 0x80);
    int8_t i8 = (int8_t)-(int)(ct_test_rng_next(&rng) % 128 + 1);
    uint16_t u16 = (uint16_t)(ct_test_rng_next(&rng) | 0x8000);
    int16_t i16 = (int16_t)-(int)(ct_test_rng_next(&rng) % 32768 + 1);
    uint32_t u32 = (uint32_t)(ct_test_rng_next(&rng) | 0x80000000u);
    int32_t i32 = (int32_t)-(int64_t)(ct_test_rng_next(&rng) % 2147483648u + 1);
    uint64_t u64 = ct_test_rng_next(&rng) | (1ull << 63); /* above INT64_MAX */
    int64_t i64 = INT64_MIN + 1;
    float f32 = ct_test_rng_uniform(&rng) * 1000.0f;
    double f64 = (double)ct_test_rng_uniform(&rng) * 1e-3 + 1.0 / 3.0;
    CHECK_OK(gguf_writer_set_u8(w, "test.u8", u8));
    CHECK_OK(gguf_writer_set_i8(w, "test.i8", i8));
    CHECK_OK(gguf_writer_set_u16(w, "test.u16", u16));
    CHECK_OK(gguf_writer_set_i16(w, "test.i16", i16));
    CHECK_OK(gguf_writer_set_u32(w, "test.u32", u32));
    CHECK_OK(gguf_writer_set_i32(w, "test.i32", i32));
    CHECK_OK(gguf_writer_set_u64(w, "test.u64", u64));
    CHECK_OK(gguf_writer_set_i64(w, "test.i64", i64));
    CHECK_OK(gguf_writer_set_f32(w, "test.f32", f32));
    CHECK_OK(gguf_writer_set_f64(w, "test.f64", f64));
    CHECK_OK(gguf_writer_set_bool(w, "test.true", true));
    CHECK_OK(gguf_writer_set_bool(w, "test.false", false));
    expect("test.u8", scalar(GGUF_TYPE_UINT8, u8, 0, 0, 0));
    expect("test.i8", scalar(GGUF_TYPE_INT8, 0, i8, 0, 0));
    expect("test.u16", scalar(GGUF_TYPE_UINT16, u16, 0, 0, 0));
    expect("test.i16", scalar(GGUF_TYPE_INT16, 0, i16, 0, 0));
    expect("test.u32", scalar(GGUF_TYPE_UINT32, u32, 0, 0, 0));
    expect("test.i32", scalar(GGUF_TYPE_INT32, 0, i32, 0, 0));
    expect("test.u64", scalar(GGUF_TYPE_UINT64, u64, 0, 0, 0));
    expect("test.i64", scalar(GGUF_TYPE_INT64, 0, i64, 0, 0));
    expect("test.f32", scalar(GGUF_TYPE_FLOAT32, 0, 0, f32, 0));
    expect("test.f64", scalar(GGUF_TYPE_FLOAT64, 0, 0, f64, 0));
    expect("test.true", scalar(GGUF_TYPE_BOOL, 0, 0, 0, true));
    expect("test.false", scalar(GGUF_TYPE_BOOL, 0, 0, 0, false));
}

static const char utf8_text[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82";

static void set_strings(gguf_writer *w) {
    CHECK_OK(gguf_writer_set_str(w, "test.str", "hello, gguf"));
    CHECK_OK(gguf_writer_set_str(w, "test.str_empty", ""));
    CHECK_OK(gguf_writer_set_str(w, "test.str_utf8", utf8_text));
    expect("test.str", (gguf_value){.type = GGUF_TYPE_STRING, .str = {"hello, gguf", 11}});
    expect("test.str_empty", (gguf_value){.type = GGUF_TYPE_STRING, .str = {"", 0}});
    expect("test.str_utf8", (gguf_value){.type = GGUF_TYPE_STRING, .str = {utf8_text, sizeof utf8_text - 1}});
}

static gguf_value array_value(gguf_type elem, uint64_t count, const void *raw, gguf_str *strs, gguf_value *items) {
    gguf_value v = {.type = GGUF_TYPE_ARRAY};
    v.arr.elem_type = elem;
    v.arr.count = count;
    v.arr.raw = raw;
    v.arr.strs = strs;
    v.arr.items = items;
    return v;
}

static const char *const scalar_array_keys[] = {
    [GGUF_TYPE_UINT8] = "arr.u8",   [GGUF_TYPE_INT8] = "arr.i8",   [GGUF_TYPE_UINT16] = "arr.u16",
    [GGUF_TYPE_INT16] = "arr.i16",  [GGUF_TYPE_UINT32] = "arr.u32", [GGUF_TYPE_INT32] = "arr.i32",
    [GGUF_TYPE_FLOAT32] = "arr.f32", [GGUF_TYPE_BOOL] = "arr.bool", [GGUF_TYPE_UINT64] = "arr.u64",
    [GGUF_TYPE_INT64] = "arr.i64",  [GGUF_TYPE_FLOAT64] = "arr.f64",
};

static void set_scalar_arrays(gguf_writer *w) {
    for (int t = 0; t < GGUF_TYPE_COUNT_; t++) {
        size_t size = elem_size((gguf_type)t);
        if (!size) continue;
        uint64_t count = 1 + ct_test_rng_next(&rng) % 40;
        uint8_t *data = keep(malloc(count * size));
        for (uint64_t i = 0; i < count; i++) {
            uint8_t *e = data + i * size;
            if (t == GGUF_TYPE_BOOL) {
                e[0] = (uint8_t)(ct_test_rng_next(&rng) & 1);
            } else if (t == GGUF_TYPE_FLOAT32) {
                float f = ct_test_rng_uniform(&rng) * 100.0f;
                memcpy(e, &f, 4);
            } else if (t == GGUF_TYPE_FLOAT64) {
                double d = (double)ct_test_rng_uniform(&rng) * 1e6;
                memcpy(e, &d, 8);
            } else {
                fill_random(e, size);
            }
        }
        CHECK_OK(gguf_writer_set_array(w, scalar_array_keys[t], (gguf_type)t, data, count));
        expect(scalar_array_keys[t], array_value((gguf_type)t, count, data, NULL, NULL));
    }
}

static const char *const str_items[] = {"", "a", "h\xc3\xa9llo", "with space", "tab\tand\nnewline", "a\0b"};
static const uint64_t str_lens[] = {0, 1, 6, 10, 15, 3};

static void set_string_arrays(gguf_writer *w) {
    enum { N = 6 };
    gguf_str *strs = keep(malloc(N * sizeof(gguf_str)));
    for (int i = 0; i < N; i++) strs[i] = (gguf_str){str_items[i], str_lens[i]};
    CHECK_OK(gguf_writer_set_str_array(w, "arr.str", str_items, str_lens, N));
    expect("arr.str", array_value(GGUF_TYPE_STRING, N, NULL, strs, NULL));

    /* NUL-terminated form (lens NULL), random printable strings of random lengths */
    enum { M = 50 };
    char **texts = keep(malloc(M * sizeof(char *)));
    gguf_str *views = keep(malloc(M * sizeof(gguf_str)));
    for (int i = 0; i < M; i++) {
        size_t len = ct_test_rng_next(&rng) % 20;
        texts[i] = keep(malloc(len + 1));
        for (size_t j = 0; j < len; j++) texts[i][j] = (char)(0x21 + ct_test_rng_next(&rng) % 94);
        texts[i][len] = '\0';
        views[i] = (gguf_str){texts[i], len};
    }
    CHECK_OK(gguf_writer_set_str_array(w, "arr.str_random", (const char *const *)texts, NULL, M));
    expect("arr.str_random", array_value(GGUF_TYPE_STRING, M, NULL, views, NULL));
}

/* Nested arrays, built as reader-style values and written with gguf_writer_set_value. */
static int32_t nested_ints[] = {1, -2, 3, 4};
static uint8_t nested_bytes[] = {7, 8, 9};
static gguf_str nested_strs[] = {{"x", 1}, {"yy", 2}};
static gguf_value ints_rows[3], str_rows[2], inner3[2], inner3b[1], outer3[2];

static void set_nested_arrays(gguf_writer *w) {
    ints_rows[0] = array_value(GGUF_TYPE_INT32, 3, nested_ints, NULL, NULL);
    ints_rows[1] = array_value(GGUF_TYPE_INT32, 1, nested_ints + 3, NULL, NULL);
    ints_rows[2] = array_value(GGUF_TYPE_INT32, 0, NULL, NULL, NULL);
    gguf_value v = array_value(GGUF_TYPE_ARRAY, 3, NULL, NULL, ints_rows);
    CHECK_OK(gguf_writer_set_value(w, "nested.ints", &v));
    expect("nested.ints", v);

    str_rows[0] = array_value(GGUF_TYPE_STRING, 2, NULL, nested_strs, NULL);
    str_rows[1] = array_value(GGUF_TYPE_STRING, 0, NULL, NULL, NULL);
    v = array_value(GGUF_TYPE_ARRAY, 2, NULL, NULL, str_rows);
    CHECK_OK(gguf_writer_set_value(w, "nested.strs", &v));
    expect("nested.strs", v);

    /* three levels: [[[7], [8, 9]], [[]]] */
    inner3[0] = array_value(GGUF_TYPE_UINT8, 1, nested_bytes, NULL, NULL);
    inner3[1] = array_value(GGUF_TYPE_UINT8, 2, nested_bytes + 1, NULL, NULL);
    inner3b[0] = array_value(GGUF_TYPE_UINT8, 0, NULL, NULL, NULL);
    outer3[0] = array_value(GGUF_TYPE_ARRAY, 2, NULL, NULL, inner3);
    outer3[1] = array_value(GGUF_TYPE_ARRAY, 1, NULL, NULL, inner3b);
    v = array_value(GGUF_TYPE_ARRAY, 2, NULL, NULL, outer3);
    CHECK_OK(gguf_writer_set_value(w, "nested.deep", &v));
    expect("nested.deep", v);
}

static void set_empty_arrays(gguf_writer *w) {
    CHECK_OK(gguf_writer_set_array(w, "empty.u8", GGUF_TYPE_UINT8, NULL, 0));
    expect("empty.u8", array_value(GGUF_TYPE_UINT8, 0, NULL, NULL, NULL));
    CHECK_OK(gguf_writer_set_str_array(w, "empty.str", NULL, NULL, 0));
    expect("empty.str", array_value(GGUF_TYPE_STRING, 0, NULL, NULL, NULL));
    gguf_value v = array_value(GGUF_TYPE_ARRAY, 0, NULL, NULL, NULL);
    CHECK_OK(gguf_writer_set_value(w, "empty.nested", &v));
    expect("empty.nested", v);
}

static void set_metadata(gguf_writer *w) {
    CHECK_OK(gguf_writer_set_str(w, "general.architecture", "ctorch-test"));
    expect("general.architecture", (gguf_value){.type = GGUF_TYPE_STRING, .str = {"ctorch-test", 11}});
    CHECK_OK(gguf_writer_set_u32(w, "test.replaced", 1));
    expect("test.replaced", scalar(GGUF_TYPE_UINT32, 1, 0, 0, 0));
    CHECK_OK(gguf_writer_set_u32(w, "general.alignment", ALIGNMENT));
    expect("general.alignment", scalar(GGUF_TYPE_UINT32, ALIGNMENT, 0, 0, 0));
    set_scalars(w);
    set_strings(w);
    set_scalar_arrays(w);
    set_string_arrays(w);
    set_nested_arrays(w);
    set_empty_arrays(w);
    /* replacing a key keeps its position and takes the new type */
    CHECK_OK(gguf_writer_set_str(w, "test.replaced", "now a string"));
    expect("test.replaced", (gguf_value){.type = GGUF_TYPE_STRING, .str = {"now a string", 12}});
}

/* ---- tensors ------------------------------------------------------------------- */
typedef struct {
    const char *name;
    uint32_t type, n_dims;
    uint64_t ne[4];
    uint64_t nbytes; /* worked out by hand from the block sizes */
    uint8_t *data;
} test_tensor;

static test_tensor tensors[] = {
    {"t.f32", CT_TYPE_F32, 2, {7, 3, 1, 1}, 7 * 3 * 4, NULL},
    {"t.f16", CT_TYPE_F16, 1, {16, 1, 1, 1}, 16 * 2, NULL},
    {"blk.0.attn_q.q8_0", CT_TYPE_Q8_0, 2, {64, 2, 1, 1}, 2 * 2 * 34, NULL},      /* 34-byte blocks of 32 */
    {"blk.0.ffn_up.q4_k", CT_TYPE_Q4_K, 4, {256, 2, 1, 2}, 4 * 144, NULL},       /* 144-byte blocks of 256 */
    {"t.bf16", CT_TYPE_BF16, 3, {5, 1, 3, 1}, 15 * 2, NULL},
    {"t.q4_0", CT_TYPE_Q4_0, 2, {32, 3, 1, 1}, 3 * 18, NULL},                    /* 18-byte blocks of 32 */
};
enum { N_TENSORS = sizeof tensors / sizeof tensors[0] };

static void add_tensors(gguf_writer *w, bool with_data) {
    for (int i = 0; i < N_TENSORS; i++)
        CHECK_OK(gguf_writer_add_tensor(w, tensors[i].name, tensors[i].type, tensors[i].n_dims, tensors[i].ne,
                                        with_data ? tensors[i].data : NULL));
}

/* ---- reading back ----------------------------------------------------------------- */
static void check_metadata(const gguf_file *f) {
    CHECK(gguf_version(f) == 3);
    CHECK(gguf_alignment(f) == ALIGNMENT);
    CHECK(gguf_data_offset(f) % ALIGNMENT == 0);
    CHECK(gguf_kv_count(f) == (uint64_t)n_expected);
    for (int i = 0; i < n_expected && (uint64_t)i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, (uint64_t)i);
        CHECK_MSG(gguf_str_eq(kv->key, expected[i].key), "key %d is '%.*s', expected '%s'", i, (int)kv->key.len,
                  kv->key.data, expected[i].key);
        CHECK_MSG(value_equal(&kv->value, &expected[i].value), "value of '%s' differs", expected[i].key);
        CHECK(gguf_find(f, expected[i].key) == &kv->value);
    }
}

/* Typed getters and their conversions, on the values written above. */
static void check_getters(const gguf_file *f) {
    uint64_t u;
    int64_t i;
    double d;
    bool b;
    gguf_str s;
    const gguf_value *arr;
    const gguf_value *e_u8 = gguf_find(f, "test.u8"), *e_u32 = gguf_find(f, "test.u32");
    CHECK_OK(gguf_get_u64(f, "test.u8", &u));
    CHECK(e_u8 && u == e_u8->u64);
    CHECK_OK(gguf_get_i64(f, "test.u32", &i));
    CHECK(e_u32 && i == (int64_t)e_u32->u64);
    CHECK_OK(gguf_get_i64(f, "test.i64", &i));
    CHECK(i == INT64_MIN + 1);
    CHECK_OK(gguf_get_f64(f, "test.i32", &d));
    CHECK(d == (double)gguf_find(f, "test.i32")->i64);
    CHECK_OK(gguf_get_f64(f, "test.f32", &d));
    CHECK(d == (double)(float)gguf_find(f, "test.f32")->f64);
    CHECK_OK(gguf_get_bool(f, "test.true", &b));
    CHECK(b == true);
    CHECK_OK(gguf_get_bool(f, "test.false", &b));
    CHECK(b == false);
    CHECK_OK(gguf_get_str(f, "test.str_utf8", &s));
    CHECK(gguf_str_eq(s, utf8_text));
    CHECK_OK(gguf_get_str(f, "test.str_empty", &s));
    CHECK(s.len == 0 && gguf_str_eq(s, ""));
    CHECK_OK(gguf_get_u64(f, "general.alignment", &u));
    CHECK(u == ALIGNMENT);

    /* conversions that must fail, naming the key */
    CHECK(gguf_get_u64(f, "test.i8", &u) == CT_ERR_FORMAT); /* negative */
    CHECK(strstr(ct_last_error(), "test.i8") != NULL);
    CHECK(gguf_get_i64(f, "test.u64", &i) == CT_ERR_FORMAT); /* above INT64_MAX */
    CHECK(strstr(ct_last_error(), "test.u64") != NULL);
    CHECK(gguf_get_f64(f, "test.str", &d) == CT_ERR_FORMAT);
    CHECK(gguf_get_bool(f, "test.u8", &b) == CT_ERR_FORMAT);
    CHECK(gguf_get_str(f, "test.u8", &s) == CT_ERR_FORMAT);
    CHECK(strstr(ct_last_error(), "UINT8") != NULL && strstr(ct_last_error(), "STRING") != NULL);
    CHECK(gguf_get_u64(f, "test.f32", &u) == CT_ERR_FORMAT);
    CHECK(gguf_get_array(f, "test.u8", GGUF_TYPE_COUNT_, &arr) == CT_ERR_FORMAT);
    CHECK(gguf_get_array(f, "arr.i32", GGUF_TYPE_FLOAT32, &arr) == CT_ERR_FORMAT);
    CHECK(gguf_get_u64(f, "no.such.key", &u) == CT_ERR_NOT_FOUND);
    CHECK(strstr(ct_last_error(), "no.such.key") != NULL);

    /* array element accessors against the bytes written */
    CHECK_OK(gguf_get_array(f, "arr.i16", GGUF_TYPE_INT16, &arr));
    for (uint64_t k = 0; k < arr->arr.count; k++) {
        int16_t x;
        memcpy(&x, (const uint8_t *)arr->arr.raw + 2 * k, 2);
        CHECK(gguf_array_i64(arr, k, &i) && i == x);
        CHECK(gguf_array_f64(arr, k, &d) && d == (double)x);
    }
    CHECK(!gguf_array_i64(arr, arr->arr.count, &i)); /* out of range */
    CHECK_OK(gguf_get_array(f, "arr.f32", GGUF_TYPE_FLOAT32, &arr));
    for (uint64_t k = 0; k < arr->arr.count; k++) {
        float x;
        memcpy(&x, (const uint8_t *)arr->arr.raw + 4 * k, 4);
        CHECK(gguf_array_f64(arr, k, &d) && d == (double)x);
    }
    CHECK(!gguf_array_i64(arr, 0, &i)); /* floats are not integers */
    CHECK_OK(gguf_get_array(f, "arr.u64", GGUF_TYPE_COUNT_, &arr));
    for (uint64_t k = 0; k < arr->arr.count; k++) {
        uint64_t x;
        memcpy(&x, (const uint8_t *)arr->arr.raw + 8 * k, 8);
        CHECK(gguf_array_i64(arr, k, &i) == (x <= (uint64_t)INT64_MAX));
    }
    CHECK_OK(gguf_get_array(f, "arr.str", GGUF_TYPE_STRING, &arr));
    CHECK(!gguf_array_i64(arr, 0, &i) && !gguf_array_f64(arr, 0, &d));
}

static void check_tensors(const gguf_file *f) {
    CHECK(gguf_tensor_count(f) == N_TENSORS);
    const uint8_t *bytes = gguf_file_bytes(f);
    uint64_t expected_offset = 0;
    for (int k = 0; k < N_TENSORS && (uint64_t)k < gguf_tensor_count(f); k++) {
        const gguf_tensor_info *t = gguf_tensor_at(f, (uint64_t)k);
        const test_tensor *e = &tensors[k];
        CHECK(strcmp(t->name, e->name) == 0);
        CHECK(gguf_find_tensor(f, e->name) == t);
        CHECK(t->type == e->type);
        CHECK(t->n_dims == e->n_dims);
        for (int j = 0; j < 4; j++) CHECK(t->ne[j] == e->ne[j]);
        CHECK_MSG(t->nbytes == e->nbytes, "%s: nbytes %llu, expected %llu", e->name, (unsigned long long)t->nbytes,
                  (unsigned long long)e->nbytes);
        CHECK(t->offset == expected_offset);
        CHECK(t->offset % ALIGNMENT == 0);
        CHECK((const uint8_t *)t->data == bytes + gguf_data_offset(f) + t->offset);
        CHECK(memcmp(t->data, e->data, e->nbytes) == 0);
        /* zero padding up to the next multiple of the alignment */
        uint64_t padded = (e->nbytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
        bool zeros = true;
        for (uint64_t b = e->nbytes; b < padded; b++) zeros = zeros && ((const uint8_t *)t->data)[b] == 0;
        CHECK_MSG(zeros, "%s: padding after the data is not zero", e->name);
        expected_offset += padded;
    }
    CHECK(gguf_file_size(f) == gguf_data_offset(f) + expected_offset);
    CHECK(gguf_find_tensor(f, "t.missing") == NULL);
}

/* ---- helpers -------------------------------------------------------------------- */
static bool files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    uint8_t *da = ct_test_read_file(a, &na), *db = ct_test_read_file(b, &nb);
    bool same = da && db && na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return same;
}

/* Copies every key (gguf_writer_set_value) and tensor of f into a new file at path. */
static void copy_file(const gguf_file *f, const char *path) {
    gguf_writer *w = NULL;
    CHECK_OK(gguf_writer_create(&w));
    if (!w) return;
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.data);
        CHECK_OK(gguf_writer_set_value(w, key, &kv->value));
    }
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(f, i);
        CHECK_OK(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data));
    }
    CHECK_OK(gguf_writer_write_file(w, path));
    gguf_writer_free(w);
}

static void write_dump(const gguf_file *f, const char *path) {
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (!fp) return;
    gguf_dump(f, fp);
    CHECK(fclose(fp) == 0);
}

/* ---- writer errors ------------------------------------------------------------------ */
static void check_writer_errors(const char *dir) {
    gguf_writer *w = NULL;
    CHECK_OK(gguf_writer_create(&w));
    if (!w) return;
    uint64_t ne[5] = {256, 2, 1, 1, 1};
    uint8_t data[1024] = {0};
    CHECK_OK(gguf_writer_add_tensor(w, "a", CT_TYPE_Q4_K, 2, ne, data));
    CHECK(gguf_writer_add_tensor(w, "a", CT_TYPE_F32, 2, ne, data) == CT_ERR_INVALID_ARGUMENT); /* duplicate */
    CHECK(strstr(ct_last_error(), "'a'") != NULL);
    CHECK(gguf_writer_add_tensor(w, "b", 16 /* IQ2_XXS */, 2, ne, data) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(ct_last_error(), "IQ2_XXS") != NULL);
    CHECK(gguf_writer_add_tensor(w, "b", 99, 2, ne, data) == CT_ERR_UNSUPPORTED);
    uint64_t ne_odd[2] = {100, 2};
    CHECK(gguf_writer_add_tensor(w, "b", CT_TYPE_Q4_K, 2, ne_odd, data) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "block size") != NULL);
    CHECK(gguf_writer_add_tensor(w, "b", CT_TYPE_F32, 5, ne, data) == CT_ERR_INVALID_ARGUMENT);
    uint64_t ne_zero[2] = {32, 0};
    CHECK(gguf_writer_add_tensor(w, "b", CT_TYPE_F32, 2, ne_zero, data) == CT_ERR_INVALID_ARGUMENT);
    uint64_t ne_huge[3] = {1ull << 32, 1ull << 32, 4};
    CHECK(gguf_writer_add_tensor(w, "b", CT_TYPE_F32, 3, ne_huge, data) == CT_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_tensor(w, "", CT_TYPE_F32, 1, ne, data) == CT_ERR_INVALID_ARGUMENT);
    char long_name[80];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK(gguf_writer_add_tensor(w, long_name, CT_TYPE_F32, 1, ne, data) == CT_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_set_u8(w, "", 1) == CT_ERR_INVALID_ARGUMENT);
    gguf_value too_big = {.type = GGUF_TYPE_UINT8, .u64 = 300};
    CHECK(gguf_writer_set_value(w, "k", &too_big) == CT_ERR_INVALID_ARGUMENT);
    gguf_value not_arrays[1] = {{.type = GGUF_TYPE_UINT8}};
    gguf_value bad_nested = array_value(GGUF_TYPE_ARRAY, 1, NULL, NULL, not_arrays);
    CHECK(gguf_writer_set_value(w, "k", &bad_nested) == CT_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_set_array(w, "k", GGUF_TYPE_STRING, data, 1) == CT_ERR_INVALID_ARGUMENT);
    CHECK(gguf_find(NULL, "k") == NULL);

    char path[4096];
    snprintf(path, sizeof path, "%s/gguf_writer_errors.gguf", dir);
    /* bad alignment values */
    CHECK_OK(gguf_writer_set_u32(w, "general.alignment", 48));
    CHECK(gguf_writer_write_file(w, path) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "general.alignment") != NULL);
    CHECK_OK(gguf_writer_set_u32(w, "general.alignment", 0));
    CHECK(gguf_writer_write_file(w, path) == CT_ERR_INVALID_ARGUMENT);
    CHECK_OK(gguf_writer_set_str(w, "general.alignment", "32"));
    CHECK(gguf_writer_write_file(w, path) == CT_ERR_INVALID_ARGUMENT);
    CHECK_OK(gguf_writer_set_u32(w, "general.alignment", 32));

    /* streaming misuse */
    CHECK_OK(gguf_writer_add_tensor(w, "c", CT_TYPE_F32, 1, ne, NULL));
    CHECK(gguf_writer_write_file(w, path) == CT_ERR_INVALID_ARGUMENT); /* "c" has no data */
    CHECK(strstr(ct_last_error(), "'c'") != NULL);
    CHECK(gguf_writer_write_tensor(w, 0, data) == CT_ERR_INVALID_ARGUMENT); /* not begun */
    CHECK_OK(gguf_writer_begin(w, path));
    CHECK(gguf_writer_set_u8(w, "late", 1) == CT_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_tensor(w, "late", CT_TYPE_F32, 1, ne, data) == CT_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_write_tensor(w, 1, data) == CT_ERR_INVALID_ARGUMENT); /* out of order */
    CHECK(gguf_writer_write_tensor(w, 5, data) == CT_ERR_INVALID_ARGUMENT); /* no such tensor */
    CHECK_OK(gguf_writer_write_tensor(w, 0, data));
    CHECK(gguf_writer_finish(w) == CT_ERR_INVALID_ARGUMENT); /* "c" missing */
    CHECK(strstr(ct_last_error(), "1 of 2") != NULL);
    unlink(path);

    /* I/O errors name the path */
    const char *missing_dir = "/nonexistent-ctorch-dir/out.gguf";
    CHECK_OK(gguf_writer_set_u32(w, "general.alignment", 32));
    gguf_writer_free(w);
    CHECK_OK(gguf_writer_create(&w));
    if (!w) return;
    CHECK_OK(gguf_writer_add_tensor(w, "big", CT_TYPE_F32, 1, (uint64_t[]){256}, data));
    CHECK(gguf_writer_write_file(w, missing_dir) == CT_ERR_IO);
    CHECK(strstr(ct_last_error(), missing_dir) != NULL);
    if (access("/dev/full", W_OK) == 0) {
        CHECK(gguf_writer_write_file(w, "/dev/full") == CT_ERR_IO); /* disk full */
        CHECK(strstr(ct_last_error(), "/dev/full") != NULL);
        CHECK(strstr(ct_last_error(), "No space") != NULL);
        printf("disk-full error: %s\n", ct_last_error());
    } else {
        printf("note: /dev/full is not writable here; disk-full check not run\n");
    }
    gguf_writer_free(w);
}

int main(void) {
    const char *dir = CT_BINARY_DIR;
    char path[4096], stream_path[4096], copy_path[4096], dump_path[4096];
    snprintf(path, sizeof path, "%s/gguf_roundtrip.gguf", dir);
    snprintf(stream_path, sizeof stream_path, "%s/gguf_roundtrip_stream.gguf", dir);
    snprintf(copy_path, sizeof copy_path, "%s/gguf_roundtrip_copy.gguf", dir);
    snprintf(dump_path, sizeof dump_path, "%s/gguf_roundtrip.txt", dir);

    for (int i = 0; i < N_TENSORS; i++) {
        tensors[i].data = malloc(tensors[i].nbytes);
        fill_random(tensors[i].data, tensors[i].nbytes);
    }

    /* one shot: tensors added with their data */
    gguf_writer *w = NULL;
    CHECK_OK(gguf_writer_create(&w));
    if (!w) return ct_test_finish("test_gguf_roundtrip");
    ct_test_rng metadata_seed = rng;
    set_metadata(w);
    add_tensors(w, true);
    CHECK_OK(gguf_writer_write_file(w, path));
    gguf_writer_free(w);

    /* streamed: the same content, data given tensor by tensor */
    n_expected = 0;
    rng = metadata_seed; /* regenerates the same values */
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    n_owned = 0;
    CHECK_OK(gguf_writer_create(&w));
    set_metadata(w);
    add_tensors(w, false);
    CHECK_OK(gguf_writer_begin(w, stream_path));
    for (int i = 0; i < N_TENSORS; i++) CHECK_OK(gguf_writer_write_tensor(w, (uint64_t)i, tensors[i].data));
    CHECK_OK(gguf_writer_finish(w));
    gguf_writer_free(w);
    CHECK_MSG(files_equal(path, stream_path), "streamed and one-shot files differ");

    gguf_file *f = NULL;
    CHECK_OK(gguf_open(path, &f));
    if (f) {
        check_metadata(f);
        check_getters(f);
        check_tensors(f);
        write_dump(f, dump_path);
        copy_file(f, copy_path);
        CHECK_MSG(files_equal(path, copy_path), "copying every key and tensor did not reproduce the file");
        gguf_close(f);
    }
    unlink(stream_path);
    unlink(copy_path);

    check_writer_errors(dir);

    for (int i = 0; i < N_TENSORS; i++) free(tensors[i].data);
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    return ct_test_finish("test_gguf_roundtrip");
}
