/* Hostile and broken GGUF files: each case builds bad bytes in memory (or on disk) and checks
 * that opening fails with the right status and a message naming the file, the byte offset
 * and the field. Then every truncation of a small valid file, and 2000 seeded random byte
 * flips, must fail cleanly or open to something safe to walk (ASan checks the "cleanly").
 * Buffers are allocated at their exact size so any over-read is caught by ASan. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "quant/blocks.h"
#include "test_util.h"

#define NAME "bad.gguf"

/* ---- building bytes --------------------------------------------------------------- */
typedef struct {
    uint8_t data[4096];
    size_t n;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->n + n > sizeof b->data) {
        fprintf(stderr, "test buffer overflow\n");
        exit(1);
    }
    memcpy(b->data + b->n, p, n);
    b->n += n;
}
static void put_u8(bytes *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(bytes *b, float v) { put(b, &v, 4); }
static void put_str(bytes *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_zeros(bytes *b, size_t n) {
    for (size_t i = 0; i < n; i++) put_u8(b, 0);
}
static void pad_to(bytes *b, size_t align) { put_zeros(b, (align - b->n % align) % align); }

static void header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b->n = 0;
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
static void kv_u32(bytes *b, const char *key, uint32_t v) {
    put_str(b, key);
    put_u32(b, GGUF_TYPE_UINT32);
    put_u32(b, v);
}
static void kv_str(bytes *b, const char *key, const char *v) {
    put_str(b, key);
    put_u32(b, GGUF_TYPE_STRING);
    put_str(b, v);
}
static void tensor_info(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                        uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t j = 0; j < n_dims; j++) put_u64(b, ne[j]);
    put_u32(b, type);
    put_u64(b, offset);
}
/* A file with one tensor "w" of the given shape/type/offset and `data_bytes` of data. */
static void one_tensor(bytes *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset,
                       size_t data_bytes) {
    header(b, 3, 1, 0);
    tensor_info(b, "w", n_dims, ne, type, offset);
    pad_to(b, 32);
    for (size_t i = 0; i < data_bytes; i++) put_u8(b, (uint8_t)(i * 7 + 1));
}

/* ---- expectations ----------------------------------------------------------------- */
static uint8_t *exact_copy(const uint8_t *p, size_t n) {
    uint8_t *copy = malloc(n ? n : 1);
    if (copy && n) memcpy(copy, p, n);
    return copy;
}

/* Opening must fail with `want`; the message must name the file and contain each needle. */
static void expect_fail_n(const char *case_name, const uint8_t *p, size_t n, ct_status want, const char *needle1,
                          const char *needle2) {
    uint8_t *copy = exact_copy(p, n);
    gguf_file *f = (gguf_file *)(uintptr_t)1;
    ct_status st = gguf_open_memory(copy, n, NAME, &f);
    const char *msg = ct_last_error();
    CHECK_MSG(st == want, "%s: status %s, expected %s (%s)", case_name, ct_status_name(st), ct_status_name(want), msg);
    CHECK_MSG(f == NULL, "%s: out not cleared", case_name);
    CHECK_MSG(strstr(msg, NAME) != NULL, "%s: message does not name the file: %s", case_name, msg);
    if (needle1) CHECK_MSG(strstr(msg, needle1) != NULL, "%s: message lacks '%s': %s", case_name, needle1, msg);
    if (needle2) CHECK_MSG(strstr(msg, needle2) != NULL, "%s: message lacks '%s': %s", case_name, needle2, msg);
    printf("%-28s -> %s: %s\n", case_name, ct_status_name(st), msg);
    if (st == CT_OK && f) gguf_close(f);
    free(copy);
}

static void expect_fail(const char *case_name, const bytes *b, ct_status want, const char *needle1,
                        const char *needle2) {
    expect_fail_n(case_name, b->data, b->n, want, needle1, needle2);
}

static void expect_ok(const char *case_name, const bytes *b) {
    uint8_t *copy = exact_copy(b->data, b->n);
    gguf_file *f = NULL;
    ct_status st = gguf_open_memory(copy, b->n, NAME, &f);
    CHECK_MSG(st == CT_OK, "%s: %s", case_name, ct_last_error());
    gguf_close(f);
    free(copy);
}

/* ---- the cases ---------------------------------------------------------------------- */
static void header_cases(void) {
    bytes b;
    expect_fail_n("empty file", (const uint8_t *)"", 0, CT_ERR_FORMAT, "empty", NULL);
    header(&b, 3, 0, 0);
    memcpy(b.data, "GGML", 4);
    expect_fail("wrong magic", &b, CT_ERR_FORMAT, "magic", "GGML");
    expect_fail_n("shorter than the magic", (const uint8_t *)"GG", 2, CT_ERR_FORMAT, "magic", "end of file");
    header(&b, 1, 0, 0);
    expect_fail("version 1", &b, CT_ERR_UNSUPPORTED, "unsupported GGUF version 1", "byte offset 4");
    header(&b, 4, 0, 0);
    expect_fail("version 4", &b, CT_ERR_UNSUPPORTED, "unsupported GGUF version 4", NULL);
    header(&b, 0x03000000u, 0, 0); /* version 3 written big-endian */
    expect_fail("big-endian", &b, CT_ERR_UNSUPPORTED, "big-endian", NULL);
    header(&b, 3, 0, 0);
    expect_fail_n("truncated: version", b.data, 6, CT_ERR_FORMAT, "header", "version");
    expect_fail_n("truncated: tensor count", b.data, 12, CT_ERR_FORMAT, "header", "tensor count");
    expect_fail_n("truncated: kv count", b.data, 20, CT_ERR_FORMAT, "header", "key-value count");
    header(&b, 3, 0, 1ull << 60);
    expect_fail("kv count past the end", &b, CT_ERR_FORMAT, "key 0", "claims 1152921504606846976 key-value pairs");
    header(&b, 3, UINT64_MAX, 0);
    expect_fail("tensor count past the end", &b, CT_ERR_FORMAT, "tensor info 0", "claims 18446744073709551615 tensors");
    header(&b, 3, 0, 0);
    expect_ok("header only", &b);
}

static void kv_cases(void) {
    bytes b;
    header(&b, 3, 0, 1);
    kv_str(&b, "general.name", "hello");
    expect_ok("one string key", &b);
    expect_fail_n("truncated: key length", b.data, 28, CT_ERR_FORMAT, "key 0", "key");
    expect_fail_n("truncated: value type", b.data, 24 + 8 + 12 + 2, CT_ERR_FORMAT, "key 0 ('general.name')",
                  "value type");
    expect_fail_n("truncated: string value", b.data, b.n - 1, CT_ERR_FORMAT, "key 0 ('general.name')",
                  "string length 5");

    header(&b, 3, 0, 1);
    put_str(&b, "general.name");
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, 1000);
    put(&b, "abc", 3);
    expect_fail("string length past end", &b, CT_ERR_FORMAT, "string length 1000", "general.name");

    header(&b, 3, 0, 1);
    put_u64(&b, 1ull << 63); /* key length */
    put(&b, "abcdefghijklmnop", 16);
    expect_fail("key length past end", &b, CT_ERR_FORMAT, "key 0", "string length 9223372036854775808");

    header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, 99);
    put_u64(&b, 0);
    expect_fail("invalid value type", &b, CT_ERR_FORMAT, "value type 99", "'k'");

    header(&b, 3, 0, 1);
    put_str(&b, "");
    put_u32(&b, GGUF_TYPE_UINT8);
    put_u8(&b, 1);
    expect_fail("empty key", &b, CT_ERR_FORMAT, "key is empty", NULL);

    header(&b, 3, 0, 2);
    kv_u32(&b, "llama.block_count", 1);
    kv_u32(&b, "llama.block_count", 2);
    expect_fail("duplicate keys", &b, CT_ERR_FORMAT, "duplicate key", "llama.block_count");
}

static void array_cases(void) {
    bytes b;
    /* 2^61 UINT64 elements: 2^64 bytes, the byte size overflows */
    header(&b, 3, 0, 1);
    put_str(&b, "arr");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_UINT64);
    put_u64(&b, 1ull << 61);
    put_u64(&b, 0);
    expect_fail("array byte size overflows", &b, CT_ERR_FORMAT, "array count 2305843009213693952", "'arr'");

    /* 2^60 strings: must fail before allocating 2^64 bytes of string views */
    header(&b, 3, 0, 1);
    put_str(&b, "tokenizer.ggml.tokens");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, 1ull << 60);
    put_str(&b, "a");
    expect_fail("string array count huge", &b, CT_ERR_FORMAT, "array count", "tokenizer.ggml.tokens");

    header(&b, 3, 0, 1);
    put_str(&b, "nested");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u64(&b, UINT64_MAX);
    expect_fail("nested array count huge", &b, CT_ERR_FORMAT, "array count", "'nested'");

    /* a string inside a string array running past the end */
    header(&b, 3, 0, 1);
    put_str(&b, "tokens");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, 2);
    put_str(&b, "ok");
    put_u64(&b, 50);
    put(&b, "short", 5);
    expect_fail("string array element", &b, CT_ERR_FORMAT, "string 1 of the array", "string length 50");

    header(&b, 3, 0, 1);
    put_str(&b, "arr");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, 77);
    put_u64(&b, 0);
    expect_fail("invalid array element type", &b, CT_ERR_FORMAT, "array element type 77", NULL);

    /* arrays nested 17 deep */
    header(&b, 3, 0, 1);
    put_str(&b, "deep");
    put_u32(&b, GGUF_TYPE_ARRAY);
    for (int d = 0; d < 17; d++) {
        put_u32(&b, GGUF_TYPE_ARRAY);
        put_u64(&b, 1);
    }
    put_u32(&b, GGUF_TYPE_UINT8);
    put_u64(&b, 0);
    expect_fail("arrays nested too deep", &b, CT_ERR_FORMAT, "nested deeper than 16", "'deep'");

    header(&b, 3, 0, 1);
    put_str(&b, "empty");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, 0);
    expect_ok("empty string array", &b);
}

static void alignment_cases(void) {
    bytes b;
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 0);
    expect_fail("alignment 0", &b, CT_ERR_FORMAT, "general.alignment", "alignment 0 is not a power of two");
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 48);
    expect_fail("alignment 48", &b, CT_ERR_FORMAT, "general.alignment", "48 is not a power of two");
    header(&b, 3, 0, 1);
    kv_str(&b, "general.alignment", "32");
    expect_fail("alignment is a string", &b, CT_ERR_FORMAT, "general.alignment", "STRING");
    header(&b, 3, 0, 1);
    put_str(&b, "general.alignment");
    put_u32(&b, GGUF_TYPE_INT32);
    put_u32(&b, (uint32_t)-64);
    expect_fail("alignment negative", &b, CT_ERR_FORMAT, "general.alignment", "-64");
}

static void tensor_cases(void) {
    bytes b;
    uint64_t ne2[2] = {32, 2};
    one_tensor(&b, 2, ne2, CT_TYPE_F32, 0, 256);
    expect_ok("one F32 tensor", &b);
    size_t info_start = 24;
    expect_fail_n("truncated: tensor name", b.data, info_start + 4, CT_ERR_FORMAT, "tensor info 0", "name");
    expect_fail_n("truncated: n_dims", b.data, info_start + 9 + 2, CT_ERR_FORMAT, "tensor info 0 ('w')",
                  "number of dimensions");
    expect_fail_n("truncated: dimension", b.data, info_start + 9 + 4 + 8 + 3, CT_ERR_FORMAT, "tensor info 0 ('w')",
                  "dimension 1");
    expect_fail_n("truncated: type", b.data, info_start + 9 + 4 + 16 + 1, CT_ERR_FORMAT, "tensor info 0 ('w')",
                  "type");
    expect_fail_n("truncated: data offset", b.data, info_start + 9 + 4 + 16 + 4 + 7, CT_ERR_FORMAT,
                  "tensor info 0 ('w')", "data offset");
    expect_fail_n("truncated: data", b.data, b.n - 1, CT_ERR_FORMAT, "tensor info 0 ('w')",
                  "runs past the end of the file");

    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    one_tensor(&b, 5, ne5, CT_TYPE_F32, 0, 4);
    expect_fail("more than 4 dims", &b, CT_ERR_FORMAT, "number of dimensions is 5", "'w'");

    uint64_t zero[2] = {32, 0};
    one_tensor(&b, 2, zero, CT_TYPE_F32, 0, 0);
    expect_fail("zero dimension", &b, CT_ERR_FORMAT, "dimension 1 is 0", "tensor info 0 ('w')");

    uint64_t huge[3] = {1ull << 32, 1ull << 32, 1ull << 32};
    one_tensor(&b, 3, huge, CT_TYPE_F32, 0, 0);
    expect_fail("dims product overflows", &b, CT_ERR_FORMAT, "dimension 1", "overflow");

    uint64_t too_big[1] = {1ull << 63};
    one_tensor(&b, 1, too_big, CT_TYPE_F32, 0, 0);
    expect_fail("dim above INT64_MAX", &b, CT_ERR_FORMAT, "dimension 0", "INT64_MAX");

    uint64_t bytes_overflow[1] = {1ull << 62}; /* 2^62 elements fit int64, 2^64 bytes do not */
    one_tensor(&b, 1, bytes_overflow, CT_TYPE_F32, 0, 0);
    expect_fail("byte size overflows", &b, CT_ERR_FORMAT, "byte size", "'w'");

    one_tensor(&b, 2, ne2, CT_TYPE_F32, 1ull << 40, 256);
    expect_fail("data outside the file", &b, CT_ERR_FORMAT, "tensor data", "past the end of the file");

    one_tensor(&b, 2, ne2, CT_TYPE_F32, UINT64_MAX - 31, 256);
    expect_fail("data offset overflows", &b, CT_ERR_FORMAT, "data offset", "overflows");

    one_tensor(&b, 2, ne2, CT_TYPE_F32, 4, 260);
    expect_fail("misaligned offset", &b, CT_ERR_FORMAT, "data offset 4", "not a multiple of the alignment 32");

    one_tensor(&b, 2, ne2, 99, 0, 256);
    expect_fail("unknown type id", &b, CT_ERR_FORMAT, "type id 99", "tensor info 0 ('w')");

    one_tensor(&b, 2, ne2, 16, 0, 256);
    expect_fail("unsupported type", &b, CT_ERR_UNSUPPORTED, "IQ2_XXS", "tensor info 0 ('w')");

    uint64_t odd[2] = {100, 2};
    one_tensor(&b, 2, odd, CT_TYPE_Q4_K, 0, 1024);
    expect_fail("row not whole blocks", &b, CT_ERR_FORMAT, "not a multiple of the Q4_K block size 256", "'w'");

    header(&b, 3, 2, 0);
    tensor_info(&b, "blk.0.attn_q.weight", 2, ne2, CT_TYPE_F32, 0);
    tensor_info(&b, "blk.0.attn_q.weight", 2, ne2, CT_TYPE_F32, 256);
    pad_to(&b, 32);
    put_zeros(&b, 512);
    expect_fail("duplicate tensor names", &b, CT_ERR_FORMAT, "duplicate tensor name", "blk.0.attn_q.weight");

    header(&b, 3, 1, 0);
    tensor_info(&b, "", 2, ne2, CT_TYPE_F32, 0);
    pad_to(&b, 32);
    put_zeros(&b, 256);
    expect_fail("empty tensor name", &b, CT_ERR_FORMAT, "name is empty", NULL);

    /* alignment taken from general.alignment: offset 32 is misaligned at 64 */
    header(&b, 3, 2, 1);
    kv_u32(&b, "general.alignment", 64);
    uint64_t ne1[1] = {8};
    tensor_info(&b, "a", 1, ne1, CT_TYPE_F32, 0);
    tensor_info(&b, "b", 1, ne1, CT_TYPE_F32, 32);
    pad_to(&b, 64);
    put_zeros(&b, 96);
    expect_fail("misaligned at 64", &b, CT_ERR_FORMAT, "tensor info 1 ('b')", "alignment 64");
}

/* ---- real files on disk ---------------------------------------------------------------- */
static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp) return;
    CHECK(fwrite(p, 1, n, fp) == n || n == 0);
    CHECK(fclose(fp) == 0);
}

static void disk_cases(void) {
    char path[4096];
    gguf_file *f = NULL;
    snprintf(path, sizeof path, "%s/gguf_bad_empty.gguf", CT_BINARY_DIR);
    write_bytes(path, "", 0);
    CHECK(gguf_open(path, &f) == CT_ERR_FORMAT && f == NULL);
    CHECK_MSG(strstr(ct_last_error(), path) && strstr(ct_last_error(), "empty"), "%s", ct_last_error());
    unlink(path);

    bytes b;
    uint64_t ne[2] = {32, 2};
    one_tensor(&b, 2, ne, CT_TYPE_F32, 0, 256);
    snprintf(path, sizeof path, "%s/gguf_bad_truncated.gguf", CT_BINARY_DIR);
    write_bytes(path, b.data, b.n - 100);
    CHECK(gguf_open(path, &f) == CT_ERR_FORMAT && f == NULL);
    CHECK_MSG(strstr(ct_last_error(), path) && strstr(ct_last_error(), "past the end"), "%s", ct_last_error());
    write_bytes(path, b.data, 12); /* inside the tensor count */
    CHECK(gguf_open(path, &f) == CT_ERR_FORMAT && f == NULL);
    CHECK_MSG(strstr(ct_last_error(), path) && strstr(ct_last_error(), "tensor count"), "%s", ct_last_error());
    write_bytes(path, b.data, b.n);
    CHECK_OK(gguf_open(path, &f));
    gguf_close(f);
    unlink(path);

    CHECK(gguf_open("/nonexistent-ctorch-dir/model.gguf", &f) == CT_ERR_NOT_FOUND);
    CHECK(strstr(ct_last_error(), "/nonexistent-ctorch-dir/model.gguf") != NULL);
    CHECK(gguf_open(CT_BINARY_DIR, &f) == CT_ERR_IO); /* a directory */
    CHECK(strstr(ct_last_error(), "not a regular file") != NULL);
    CHECK(gguf_open_memory(NULL, 10, NAME, &f) == CT_ERR_INVALID_ARGUMENT);
}

/* ---- every truncation, random corruption ------------------------------------------------ */
/* A small valid file using every structure: strings, string/float/nested arrays, a bool,
 * custom alignment, two tensors; the last tensor ends exactly at the end of the file, so
 * every proper prefix is invalid. */
static void small_valid_file(bytes *b) {
    header(b, 3, 2, 6);
    kv_str(b, "general.architecture", "llama");
    kv_u32(b, "general.alignment", 32);
    put_str(b, "tokenizer.ggml.tokens");
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_STRING);
    put_u64(b, 4);
    put_str(b, "<s>");
    put_str(b, "</s>");
    put_str(b, "hello");
    put_str(b, "");
    put_str(b, "tokenizer.ggml.scores");
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_FLOAT32);
    put_u64(b, 4);
    for (int i = 0; i < 4; i++) put_f32(b, (float)i - 1.5f);
    put_str(b, "nested");
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u64(b, 2);
    put_u32(b, GGUF_TYPE_UINT8);
    put_u64(b, 2);
    put_u8(b, 1);
    put_u8(b, 2);
    put_u32(b, GGUF_TYPE_STRING);
    put_u64(b, 0);
    put_str(b, "flag");
    put_u32(b, GGUF_TYPE_BOOL);
    put_u8(b, 1);
    uint64_t ne_q[2] = {32, 2}, ne_f[1] = {8};
    tensor_info(b, "tok.q8", 2, ne_q, CT_TYPE_Q8_0, 0);  /* 2 x 34 bytes, padded to 96 */
    tensor_info(b, "out.f32", 1, ne_f, CT_TYPE_F32, 96); /* 32 bytes, ends the file */
    pad_to(b, 32);
    ct_test_rng r = {12345};
    for (int i = 0; i < 68; i++) put_u8(b, (uint8_t)(ct_test_rng_next(&r) >> 56));
    put_zeros(b, 96 - 68);
    for (int i = 0; i < 32; i++) put_u8(b, (uint8_t)(ct_test_rng_next(&r) >> 56));
}

/* Walk everything an opened file exposes, touching the first and last byte of every
 * string and tensor (an out-of-bounds pointer would trip ASan). */
static unsigned walk(const gguf_file *f) {
    unsigned sum = 0;
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (kv->key.len) sum += (uint8_t)kv->key.data[0] + (uint8_t)kv->key.data[kv->key.len - 1];
        const gguf_value *v = &kv->value;
        if (v->type == GGUF_TYPE_STRING && v->str.len) sum += (uint8_t)v->str.data[v->str.len - 1];
        if (v->type == GGUF_TYPE_ARRAY && v->arr.elem_type == GGUF_TYPE_STRING)
            for (uint64_t k = 0; k < v->arr.count; k++)
                if (v->arr.strs[k].len) sum += (uint8_t)v->arr.strs[k].data[v->arr.strs[k].len - 1];
        int64_t x;
        double d;
        if (v->type == GGUF_TYPE_ARRAY && v->arr.count) {
            if (gguf_array_i64(v, v->arr.count - 1, &x)) sum += (unsigned)x;
            if (gguf_array_f64(v, v->arr.count - 1, &d)) sum += d == d;
        }
    }
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(f, i);
        const uint8_t *p = t->data;
        sum += p[0] + p[t->nbytes - 1];
        sum += gguf_find_tensor(f, t->name) != NULL;
    }
    return sum;
}

static void truncation_and_corruption(void) {
    bytes b;
    small_valid_file(&b);
    printf("valid file: %zu bytes\n", b.n);
    expect_ok("small valid file", &b);

    int clean_failures = 0;
    for (size_t n = 0; n < b.n; n++) {
        uint8_t *copy = exact_copy(b.data, n);
        gguf_file *f = NULL;
        ct_status st = gguf_open_memory(copy, n, NAME, &f);
        bool clean = st != CT_OK && f == NULL && strstr(ct_last_error(), NAME) != NULL;
        CHECK_MSG(clean, "truncated at %zu bytes: status %s: %s", n, ct_status_name(st), ct_last_error());
        clean_failures += clean;
        gguf_close(f);
        free(copy);
    }
    printf("every truncation (%zu) failed cleanly: %d\n", b.n, clean_failures);

    ct_test_rng r = {0xC0FFEEull};
    int opened = 0, failed = 0;
    unsigned sink = 0;
    for (int iter = 0; iter < 2000; iter++) {
        uint8_t *copy = exact_copy(b.data, b.n);
        int flips = 1 + (int)(ct_test_rng_next(&r) % 4);
        for (int k = 0; k < flips; k++) {
            size_t pos = (size_t)(ct_test_rng_next(&r) % b.n);
            copy[pos] ^= (uint8_t)(1 + ct_test_rng_next(&r) % 255);
        }
        gguf_file *f = NULL;
        ct_status st = gguf_open_memory(copy, b.n, NAME, &f);
        if (st == CT_OK) {
            opened++;
            sink += walk(f);
            gguf_close(f);
        } else {
            failed++;
            CHECK_MSG(f == NULL && ct_last_error()[0] != '\0', "iteration %d: failure without a message", iter);
        }
        free(copy);
    }
    CHECK(opened + failed == 2000);
    printf("2000 corrupted files: %d opened, %d rejected (checksum %u)\n", opened, failed, sink);
}

int main(void) {
    header_cases();
    kv_cases();
    array_cases();
    alignment_cases();
    tensor_cases();
    disk_cases();
    truncation_and_corruption();
    return ct_test_finish("test_gguf_bad_input");
}
