/* Metadata values: type facts, widening from the file, typed getters with conversions. */
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf_internal.h"

const char *gguf_type_name(gguf_type type) {
    switch (type) {
    case GGUF_TYPE_UINT8: return "UINT8";
    case GGUF_TYPE_INT8: return "INT8";
    case GGUF_TYPE_UINT16: return "UINT16";
    case GGUF_TYPE_INT16: return "INT16";
    case GGUF_TYPE_UINT32: return "UINT32";
    case GGUF_TYPE_INT32: return "INT32";
    case GGUF_TYPE_FLOAT32: return "FLOAT32";
    case GGUF_TYPE_BOOL: return "BOOL";
    case GGUF_TYPE_STRING: return "STRING";
    case GGUF_TYPE_ARRAY: return "ARRAY";
    case GGUF_TYPE_UINT64: return "UINT64";
    case GGUF_TYPE_INT64: return "INT64";
    case GGUF_TYPE_FLOAT64: return "FLOAT64";
    case GGUF_TYPE_COUNT_: break;
    }
    return "unknown";
}

bool gguf_type_is_valid(uint32_t type) { return type < GGUF_TYPE_COUNT_; }

size_t gguf_type_size(gguf_type type) {
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

bool gguf_type_is_integer(gguf_type type) {
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: return true;
    default: return false;
    }
}

bool gguf_type_is_signed(gguf_type type) {
    return type == GGUF_TYPE_INT8 || type == GGUF_TYPE_INT16 || type == GGUF_TYPE_INT32 || type == GGUF_TYPE_INT64;
}

void gguf_load_scalar(gguf_type type, const void *p, gguf_value *v) {
    v->type = type;
    switch (type) {
    case GGUF_TYPE_UINT8: { uint8_t x; memcpy(&x, p, 1); v->u64 = x; break; }
    case GGUF_TYPE_INT8: { int8_t x; memcpy(&x, p, 1); v->i64 = x; break; }
    case GGUF_TYPE_UINT16: { uint16_t x; memcpy(&x, p, 2); v->u64 = x; break; }
    case GGUF_TYPE_INT16: { int16_t x; memcpy(&x, p, 2); v->i64 = x; break; }
    case GGUF_TYPE_UINT32: { uint32_t x; memcpy(&x, p, 4); v->u64 = x; break; }
    case GGUF_TYPE_INT32: { int32_t x; memcpy(&x, p, 4); v->i64 = x; break; }
    case GGUF_TYPE_UINT64: { uint64_t x; memcpy(&x, p, 8); v->u64 = x; break; }
    case GGUF_TYPE_INT64: { int64_t x; memcpy(&x, p, 8); v->i64 = x; break; }
    case GGUF_TYPE_FLOAT32: { float x; memcpy(&x, p, 4); v->f64 = x; break; }
    case GGUF_TYPE_FLOAT64: { double x; memcpy(&x, p, 8); v->f64 = x; break; }
    case GGUF_TYPE_BOOL: { uint8_t x; memcpy(&x, p, 1); v->b = x != 0; break; }
    default: break;
    }
}

void gguf_value_free_parsed(gguf_value *v) {
    if (v->type != GGUF_TYPE_ARRAY) return;
    free(v->arr.strs);
    if (v->arr.items) {
        for (uint64_t i = 0; i < v->arr.count; i++) gguf_value_free_parsed(&v->arr.items[i]);
        free(v->arr.items);
    }
    v->arr.strs = NULL;
    v->arr.items = NULL;
}

bool gguf_value_to_u64(const gguf_value *v, uint64_t *out) {
    if (!gguf_type_is_integer(v->type)) return false;
    if (gguf_type_is_signed(v->type)) {
        if (v->i64 < 0) return false;
        *out = (uint64_t)v->i64;
    } else {
        *out = v->u64;
    }
    return true;
}

bool gguf_value_to_i64(const gguf_value *v, int64_t *out) {
    if (!gguf_type_is_integer(v->type)) return false;
    if (gguf_type_is_signed(v->type)) {
        *out = v->i64;
    } else {
        if (v->u64 > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v->u64;
    }
    return true;
}

static bool value_to_f64(const gguf_value *v, double *out) {
    if (v->type == GGUF_TYPE_FLOAT32 || v->type == GGUF_TYPE_FLOAT64) {
        *out = v->f64;
        return true;
    }
    if (!gguf_type_is_integer(v->type)) return false;
    *out = gguf_type_is_signed(v->type) ? (double)v->i64 : (double)v->u64;
    return true;
}

/* ---- getters ------------------------------------------------------------------ */
static ct_status find_or_fail(const gguf_file *file, const char *key, const gguf_value **out) {
    *out = gguf_find(file, key);
    if (*out) return CT_OK;
    return ct_fail(CT_ERR_NOT_FOUND, "%s: key '%s' not found", file ? gguf_path(file) : "(no file)",
                   key ? key : "(null)");
}

static ct_status wrong_type(const gguf_file *file, const char *key, const gguf_value *v, const char *wanted) {
    return ct_fail(CT_ERR_FORMAT, "%s: key '%s' has type %s, which does not convert to %s", gguf_path(file), key,
                   gguf_type_name(v->type), wanted);
}

static ct_status out_of_range(const gguf_file *file, const char *key, const gguf_value *v, const char *wanted) {
    if (gguf_type_is_signed(v->type))
        return ct_fail(CT_ERR_FORMAT, "%s: key '%s': %s value %lld does not fit %s", gguf_path(file), key,
                       gguf_type_name(v->type), (long long)v->i64, wanted);
    return ct_fail(CT_ERR_FORMAT, "%s: key '%s': %s value %llu does not fit %s", gguf_path(file), key,
                   gguf_type_name(v->type), (unsigned long long)v->u64, wanted);
}

ct_status gguf_get_u64(const gguf_file *file, const char *key, uint64_t *out) {
    const gguf_value *v;
    CT_TRY(find_or_fail(file, key, &v));
    if (!gguf_type_is_integer(v->type)) return wrong_type(file, key, v, "an unsigned integer");
    if (!gguf_value_to_u64(v, out)) return out_of_range(file, key, v, "an unsigned integer");
    return CT_OK;
}

ct_status gguf_get_i64(const gguf_file *file, const char *key, int64_t *out) {
    const gguf_value *v;
    CT_TRY(find_or_fail(file, key, &v));
    if (!gguf_type_is_integer(v->type)) return wrong_type(file, key, v, "a signed integer");
    if (!gguf_value_to_i64(v, out)) return out_of_range(file, key, v, "INT64");
    return CT_OK;
}

ct_status gguf_get_f64(const gguf_file *file, const char *key, double *out) {
    const gguf_value *v;
    CT_TRY(find_or_fail(file, key, &v));
    if (!value_to_f64(v, out)) return wrong_type(file, key, v, "a number");
    return CT_OK;
}

ct_status gguf_get_bool(const gguf_file *file, const char *key, bool *out) {
    const gguf_value *v;
    CT_TRY(find_or_fail(file, key, &v));
    if (v->type != GGUF_TYPE_BOOL) return wrong_type(file, key, v, "BOOL");
    *out = v->b;
    return CT_OK;
}

ct_status gguf_get_str(const gguf_file *file, const char *key, gguf_str *out) {
    const gguf_value *v;
    CT_TRY(find_or_fail(file, key, &v));
    if (v->type != GGUF_TYPE_STRING) return wrong_type(file, key, v, "STRING");
    *out = v->str;
    return CT_OK;
}

ct_status gguf_get_array(const gguf_file *file, const char *key, gguf_type elem_type, const gguf_value **out) {
    const gguf_value *v;
    CT_TRY(find_or_fail(file, key, &v));
    if (v->type != GGUF_TYPE_ARRAY) return wrong_type(file, key, v, "ARRAY");
    if (elem_type != GGUF_TYPE_COUNT_ && v->arr.elem_type != elem_type)
        return ct_fail(CT_ERR_FORMAT, "%s: key '%s' is an array of %s, expected an array of %s", gguf_path(file), key,
                       gguf_type_name(v->arr.elem_type), gguf_type_name(elem_type));
    *out = v;
    return CT_OK;
}

/* ---- array elements ------------------------------------------------------------ */
static bool array_element(const gguf_value *arr, uint64_t index, gguf_value *elem) {
    if (!arr || arr->type != GGUF_TYPE_ARRAY || index >= arr->arr.count) return false;
    size_t size = gguf_type_size(arr->arr.elem_type);
    if (size == 0) return false;
    gguf_load_scalar(arr->arr.elem_type, (const uint8_t *)arr->arr.raw + index * size, elem);
    return true;
}

bool gguf_array_i64(const gguf_value *arr, uint64_t index, int64_t *out) {
    gguf_value elem;
    return array_element(arr, index, &elem) && gguf_value_to_i64(&elem, out);
}

bool gguf_array_f64(const gguf_value *arr, uint64_t index, double *out) {
    gguf_value elem;
    return array_element(arr, index, &elem) && value_to_f64(&elem, out);
}

bool gguf_str_eq(gguf_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.len == n && (n == 0 || memcmp(s.data, cstr, n) == 0);
}
