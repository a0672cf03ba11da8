/* Describe an opened GGUF file in the line format of tests/scripts/gguf_dump.py, so the
 * facts ctorch's reader sees can be compared line by line with those of the PyPI gguf
 * package's reader (golden files) and between files. Test-only code. */
#ifndef CT_TEST_GGUF_DUMP_H
#define CT_TEST_GGUF_DUMP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"

#define GGUF_DUMP_HEAD 3

static void gguf_dump_escaped(FILE *out, const char *s, uint64_t len) {
    for (uint64_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x21 && c <= 0x7e && c != '\\') fputc(c, out);
        else fprintf(out, "\\x%02x", c);
    }
}

/* A fixed-size scalar of type t, stored little-endian at p. */
static void gguf_dump_raw_scalar(FILE *out, gguf_type t, const uint8_t *p) {
    switch (t) {
    case GGUF_TYPE_UINT8: fprintf(out, "%u", (unsigned)p[0]); break;
    case GGUF_TYPE_INT8: fprintf(out, "%d", (int)(int8_t)p[0]); break;
    case GGUF_TYPE_BOOL: fprintf(out, "%d", p[0] != 0); break;
    case GGUF_TYPE_UINT16: { uint16_t x; memcpy(&x, p, 2); fprintf(out, "%u", (unsigned)x); break; }
    case GGUF_TYPE_INT16: { int16_t x; memcpy(&x, p, 2); fprintf(out, "%d", (int)x); break; }
    case GGUF_TYPE_UINT32: { uint32_t x; memcpy(&x, p, 4); fprintf(out, "%" PRIu32, x); break; }
    case GGUF_TYPE_INT32: { int32_t x; memcpy(&x, p, 4); fprintf(out, "%" PRId32, x); break; }
    case GGUF_TYPE_FLOAT32: { uint32_t x; memcpy(&x, p, 4); fprintf(out, "0x%08" PRIx32, x); break; }
    case GGUF_TYPE_UINT64: { uint64_t x; memcpy(&x, p, 8); fprintf(out, "%" PRIu64, x); break; }
    case GGUF_TYPE_INT64: { int64_t x; memcpy(&x, p, 8); fprintf(out, "%" PRId64, x); break; }
    case GGUF_TYPE_FLOAT64: { uint64_t x; memcpy(&x, p, 8); fprintf(out, "0x%016" PRIx64, x); break; }
    default: fprintf(out, "?"); break;
    }
}

/* A widened scalar value, printed as its stored type. */
static void gguf_dump_value_scalar(FILE *out, const gguf_value *v) {
    uint8_t buf[8];
    switch (v->type) {
    case GGUF_TYPE_FLOAT32: { float f = (float)v->f64; memcpy(buf, &f, 4); break; }
    case GGUF_TYPE_FLOAT64: memcpy(buf, &v->f64, 8); break;
    case GGUF_TYPE_BOOL: buf[0] = v->b; break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        fprintf(out, "%" PRId64, v->i64);
        return;
    default:
        fprintf(out, "%" PRIu64, v->u64);
        return;
    }
    gguf_dump_raw_scalar(out, v->type, buf);
}

static uint64_t gguf_dump_leaves(const gguf_value *arr) {
    if (arr->arr.elem_type != GGUF_TYPE_ARRAY) return arr->arr.count;
    uint64_t n = 0;
    for (uint64_t i = 0; i < arr->arr.count; i++) n += gguf_dump_leaves(&arr->arr.items[i]);
    return n;
}

static void gguf_dump_element(FILE *out, const gguf_value *arr, uint64_t i) {
    if (arr->arr.elem_type == GGUF_TYPE_STRING) {
        gguf_dump_escaped(out, arr->arr.strs[i].data, arr->arr.strs[i].len);
        return;
    }
    size_t size = arr->arr.elem_type == GGUF_TYPE_UINT8 || arr->arr.elem_type == GGUF_TYPE_INT8 ||
                          arr->arr.elem_type == GGUF_TYPE_BOOL ? 1
                  : arr->arr.elem_type == GGUF_TYPE_UINT16 || arr->arr.elem_type == GGUF_TYPE_INT16 ? 2
                  : arr->arr.elem_type == GGUF_TYPE_UINT64 || arr->arr.elem_type == GGUF_TYPE_INT64 ||
                          arr->arr.elem_type == GGUF_TYPE_FLOAT64 ? 8
                  : 4;
    gguf_dump_raw_scalar(out, arr->arr.elem_type, (const uint8_t *)arr->arr.raw + i * size);
}

static void gguf_dump_array(FILE *out, const gguf_value *arr) {
    uint64_t n = arr->arr.count;
    fprintf(out, "ARRAY %s count=%" PRIu64, gguf_type_name(arr->arr.elem_type), n);
    if (arr->arr.elem_type == GGUF_TYPE_ARRAY) {
        fprintf(out, " leaves=%" PRIu64, gguf_dump_leaves(arr));
        return;
    }
    if (arr->arr.elem_type == GGUF_TYPE_STRING) {
        uint64_t total = 0;
        for (uint64_t i = 0; i < n; i++) total += arr->arr.strs[i].len;
        fprintf(out, " bytes=%" PRIu64, total);
    }
    if (n == 0) return;
    fprintf(out, " head=");
    for (uint64_t i = 0; i < n && i < GGUF_DUMP_HEAD; i++) {
        if (i) fputc(' ', out);
        gguf_dump_element(out, arr, i);
    }
    fprintf(out, " tail=");
    gguf_dump_element(out, arr, n - 1);
}

static void gguf_dump(const gguf_file *f, FILE *out) {
    fprintf(out, "version %" PRIu32 "\n", gguf_version(f));
    fprintf(out, "alignment %" PRIu64 "\n", gguf_alignment(f));
    fprintf(out, "data_offset %" PRIu64 "\n", gguf_data_offset(f));
    fprintf(out, "kv_count %" PRIu64 "\n", gguf_kv_count(f));
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        fprintf(out, "kv ");
        gguf_dump_escaped(out, kv->key.data, kv->key.len);
        fputc(' ', out);
        if (kv->value.type == GGUF_TYPE_ARRAY) {
            gguf_dump_array(out, &kv->value);
        } else if (kv->value.type == GGUF_TYPE_STRING) {
            fprintf(out, "STRING ");
            gguf_dump_escaped(out, kv->value.str.data, kv->value.str.len);
        } else {
            fprintf(out, "%s ", gguf_type_name(kv->value.type));
            gguf_dump_value_scalar(out, &kv->value);
        }
        fputc('\n', out);
    }
    fprintf(out, "tensor_count %" PRIu64 "\n", gguf_tensor_count(f));
    const uint8_t *base = gguf_file_bytes(f);
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(f, i);
        fprintf(out, "tensor ");
        gguf_dump_escaped(out, t->name, strlen(t->name));
        fprintf(out, " type=%" PRIu32 " ne=", t->type);
        for (uint32_t j = 0; j < t->n_dims; j++) fprintf(out, j ? "x%" PRIu64 : "%" PRIu64, t->ne[j]);
        /* where the data pointer points, from the file start (PyPI gguf: data_offset + offset) */
        uint64_t from_pointer = (uint64_t)((const uint8_t *)t->data - base);
        fprintf(out, " offset=%" PRIu64 " nbytes=%" PRIu64 " head=", from_pointer, t->nbytes);
        for (uint64_t b = 0; b < t->nbytes && b < 8; b++) fprintf(out, "%02x", ((const uint8_t *)t->data)[b]);
        fputc('\n', out);
    }
}

#endif
