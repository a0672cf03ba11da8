/* Building a GGUF file in memory: metadata values (deep copies, validated) and tensor
 * descriptions. gguf_write.c streams them out. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "gguf/gguf_writer_internal.h"
#include "quant/types.h"

/* ggml keeps tensor names in a 64-byte field with a terminating NUL. */
#define GGML_MAX_NAME 64

ct_status gguf_writer_create(gguf_writer **out) {
    if (!out) return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_writer_create: out is NULL");
    *out = ct_calloc_array(1, sizeof(gguf_writer), "GGUF writer");
    return *out ? CT_OK : CT_ERR_OUT_OF_MEMORY;
}

/* Frees what a value built by copy_value() owns. */
static void free_owned_value(gguf_value *v) {
    if (v->type == GGUF_TYPE_STRING) {
        free((void *)v->str.data);
    } else if (v->type == GGUF_TYPE_ARRAY) {
        free((void *)v->arr.raw);
        if (v->arr.strs) {
            for (uint64_t i = 0; i < v->arr.count; i++) free((void *)v->arr.strs[i].data);
            free(v->arr.strs);
        }
        if (v->arr.items) {
            for (uint64_t i = 0; i < v->arr.count; i++) free_owned_value(&v->arr.items[i]);
            free(v->arr.items);
        }
    }
    memset(v, 0, sizeof *v);
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    if (w->out) fclose(w->out); /* an unfinished stream: the file is left incomplete */
    free(w->path);
    for (uint64_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free_owned_value(&w->kvs[i].value);
    }
    free(w->kvs);
    for (uint64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w);
}

/* ---- values -------------------------------------------------------------------- */
static bool scalar_fits(const gguf_value *v) {
    switch (v->type) {
    case GGUF_TYPE_UINT8: return v->u64 <= UINT8_MAX;
    case GGUF_TYPE_UINT16: return v->u64 <= UINT16_MAX;
    case GGUF_TYPE_UINT32: return v->u64 <= UINT32_MAX;
    case GGUF_TYPE_INT8: return v->i64 >= INT8_MIN && v->i64 <= INT8_MAX;
    case GGUF_TYPE_INT16: return v->i64 >= INT16_MIN && v->i64 <= INT16_MAX;
    case GGUF_TYPE_INT32: return v->i64 >= INT32_MIN && v->i64 <= INT32_MAX;
    default: return true;
    }
}

static ct_status copy_string(gguf_str src, gguf_str *dst, const char *key) {
    if (!src.data && src.len > 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': string data is NULL", key);
    if (src.len >= SIZE_MAX) return ct_fail(CT_ERR_OUT_OF_MEMORY, "GGUF key '%s': string too long", key);
    char *copy = ct_strndup(src.len ? src.data : "", (size_t)src.len, "GGUF string value");
    if (!copy) return CT_ERR_OUT_OF_MEMORY;
    dst->data = copy;
    dst->len = src.len;
    return CT_OK;
}

static ct_status copy_value(const gguf_value *src, gguf_value *dst, int depth, const char *key);

static ct_status copy_array(const gguf_value *src, gguf_value *dst, int depth, const char *key) {
    gguf_type elem = src->arr.elem_type;
    uint64_t count = src->arr.count;
    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': arrays nested deeper than %d levels", key,
                       GGUF_MAX_ARRAY_DEPTH);
    if (!gguf_type_is_valid(elem))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': array element type %d is not a GGUF value type", key,
                       (int)elem);
    if (count > SIZE_MAX / 16) return ct_fail(CT_ERR_OUT_OF_MEMORY, "GGUF key '%s': array of %llu elements", key,
                                              (unsigned long long)count);
    dst->arr.elem_type = elem;
    size_t size = gguf_type_size(elem);
    if (size) {
        if (!src->arr.raw && count > 0)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': array data is NULL", key);
        void *raw = ct_alloc_array((size_t)count, size, "GGUF array value");
        if (!raw) return CT_ERR_OUT_OF_MEMORY;
        if (count) memcpy(raw, src->arr.raw, (size_t)count * size);
        dst->arr.raw = raw;
        dst->arr.count = count;
        return CT_OK;
    }
    if (count == 0) return CT_OK;
    if (elem == GGUF_TYPE_STRING) {
        if (!src->arr.strs) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': string array strs is NULL", key);
        dst->arr.strs = ct_calloc_array((size_t)count, sizeof(gguf_str), "GGUF string array");
        if (!dst->arr.strs) return CT_ERR_OUT_OF_MEMORY;
        dst->arr.count = count;
        for (uint64_t i = 0; i < count; i++) CT_TRY(copy_string(src->arr.strs[i], &dst->arr.strs[i], key));
        return CT_OK;
    }
    if (!src->arr.items) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': nested array items is NULL", key);
    dst->arr.items = ct_calloc_array((size_t)count, sizeof(gguf_value), "GGUF nested array");
    if (!dst->arr.items) return CT_ERR_OUT_OF_MEMORY;
    dst->arr.count = count;
    for (uint64_t i = 0; i < count; i++) {
        if (src->arr.items[i].type != GGUF_TYPE_ARRAY)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': element %llu of an array of arrays has type %s",
                           key, (unsigned long long)i, gguf_type_name(src->arr.items[i].type));
        CT_TRY(copy_value(&src->arr.items[i], &dst->arr.items[i], depth + 1, key));
    }
    return CT_OK;
}

/* Deep copy; on failure dst holds what was copied so far (free it with free_owned_value). */
static ct_status copy_value(const gguf_value *src, gguf_value *dst, int depth, const char *key) {
    memset(dst, 0, sizeof *dst);
    if (!gguf_type_is_valid(src->type))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': type %d is not a GGUF value type", key, (int)src->type);
    dst->type = src->type;
    if (src->type == GGUF_TYPE_STRING) return copy_string(src->str, &dst->str, key);
    if (src->type == GGUF_TYPE_ARRAY) return copy_array(src, dst, depth, key);
    if (!scalar_fits(src))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': value does not fit %s", key, gguf_type_name(src->type));
    *dst = *src;
    return CT_OK;
}

static ct_status check_building(const gguf_writer *w, const char *what) {
    if (!w) return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s: writer is NULL", what);
    if (w->out) return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s: the GGUF writer is already writing %s", what, w->path);
    return CT_OK;
}

const gguf_value *gguf_writer_find(const gguf_writer *w, const char *key) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kvs[i].key, key) == 0) return &w->kvs[i].value;
    return NULL;
}

ct_status gguf_writer_set_value(gguf_writer *w, const char *key, const gguf_value *v) {
    CT_TRY(check_building(w, "gguf_writer_set_value"));
    if (!key || !*key) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF writer: key is missing or empty");
    if (!v) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': value is NULL", key);
    gguf_value copy;
    ct_status st = copy_value(v, &copy, 0, key);
    if (st != CT_OK) {
        free_owned_value(&copy);
        return st;
    }
    gguf_value *existing = (gguf_value *)gguf_writer_find(w, key);
    if (existing) { /* replace in place: the key keeps its position */
        free_owned_value(existing);
        *existing = copy;
        return CT_OK;
    }
    if (w->n_kv == w->cap_kv) {
        uint64_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        gguf_writer_kv *kvs = ct_realloc_array(w->kvs, (size_t)cap, sizeof *kvs, "GGUF writer keys");
        if (!kvs) {
            free_owned_value(&copy);
            return CT_ERR_OUT_OF_MEMORY;
        }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    char *key_copy = ct_strndup(key, strlen(key), "GGUF key");
    if (!key_copy) {
        free_owned_value(&copy);
        return CT_ERR_OUT_OF_MEMORY;
    }
    w->kvs[w->n_kv].key = key_copy;
    w->kvs[w->n_kv].value = copy;
    w->n_kv++;
    return CT_OK;
}

#define SETTER(fn, ctype, gtype, field)                                  \
    ct_status fn(gguf_writer *w, const char *key, ctype v) {             \
        gguf_value value = {.type = gtype};                              \
        value.field = v;                                                 \
        return gguf_writer_set_value(w, key, &value);                    \
    }
SETTER(gguf_writer_set_u8, uint8_t, GGUF_TYPE_UINT8, u64)
SETTER(gguf_writer_set_i8, int8_t, GGUF_TYPE_INT8, i64)
SETTER(gguf_writer_set_u16, uint16_t, GGUF_TYPE_UINT16, u64)
SETTER(gguf_writer_set_i16, int16_t, GGUF_TYPE_INT16, i64)
SETTER(gguf_writer_set_u32, uint32_t, GGUF_TYPE_UINT32, u64)
SETTER(gguf_writer_set_i32, int32_t, GGUF_TYPE_INT32, i64)
SETTER(gguf_writer_set_u64, uint64_t, GGUF_TYPE_UINT64, u64)
SETTER(gguf_writer_set_i64, int64_t, GGUF_TYPE_INT64, i64)
SETTER(gguf_writer_set_f32, float, GGUF_TYPE_FLOAT32, f64)
SETTER(gguf_writer_set_f64, double, GGUF_TYPE_FLOAT64, f64)
SETTER(gguf_writer_set_bool, bool, GGUF_TYPE_BOOL, b)
#undef SETTER

ct_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!v) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': string is NULL", key ? key : "(null)");
    gguf_value value = {.type = GGUF_TYPE_STRING, .str = {v, strlen(v)}};
    return gguf_writer_set_value(w, key, &value);
}

ct_status gguf_writer_set_array(gguf_writer *w, const char *key, gguf_type elem_type, const void *data,
                                uint64_t count) {
    if (gguf_type_size(elem_type) == 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT,
                       "GGUF key '%s': gguf_writer_set_array takes fixed-size elements, not %s (use "
                       "gguf_writer_set_str_array or gguf_writer_set_value)",
                       key ? key : "(null)", gguf_type_name(elem_type));
    gguf_value value = {.type = GGUF_TYPE_ARRAY};
    value.arr.elem_type = elem_type;
    value.arr.count = count;
    value.arr.raw = data;
    return gguf_writer_set_value(w, key, &value);
}

ct_status gguf_writer_set_str_array(gguf_writer *w, const char *key, const char *const *strs, const uint64_t *lens,
                                    uint64_t count) {
    const char *name = key ? key : "(null)";
    if (!strs && count > 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': strings are NULL", name);
    if (count > SIZE_MAX / sizeof(gguf_str))
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "GGUF key '%s': %llu strings", name, (unsigned long long)count);
    gguf_str *views = ct_alloc_array(count ? (size_t)count : 1, sizeof(gguf_str), "GGUF string array");
    if (!views) return CT_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < count; i++) {
        if (!strs[i]) {
            free(views);
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF key '%s': string %llu is NULL", name, (unsigned long long)i);
        }
        views[i].data = strs[i];
        views[i].len = lens ? lens[i] : strlen(strs[i]);
    }
    gguf_value value = {.type = GGUF_TYPE_ARRAY};
    value.arr.elem_type = GGUF_TYPE_STRING;
    value.arr.count = count;
    value.arr.strs = views;
    ct_status st = gguf_writer_set_value(w, key, &value);
    free(views);
    return st;
}

/* ---- tensors ------------------------------------------------------------------- */
static ct_status tensor_bytes(const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne, uint64_t *out) {
    const ct_type_traits *traits = ct_type_traits_of(type);
    if (!traits)
        return ct_fail(CT_ERR_UNSUPPORTED, "GGUF tensor '%s': type %s (id %u) is not supported", name,
                       ct_type_name(type), type);
    if (n_dims > GGUF_MAX_DIMS)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF tensor '%s': %u dimensions, more than %d", name, n_dims,
                       GGUF_MAX_DIMS);
    if (n_dims > 0 && !ne) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF tensor '%s': shape is NULL", name);
    uint64_t n_elements = 1;
    for (uint32_t j = 0; j < n_dims; j++) {
        if (ne[j] == 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF tensor '%s': dimension %u is 0", name, j);
        if (!ct_mul_u64(n_elements, ne[j], &n_elements) || n_elements > (uint64_t)INT64_MAX)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF tensor '%s': element count overflows INT64_MAX", name);
    }
    uint64_t ne0 = n_dims > 0 ? ne[0] : 1;
    if (ne0 % traits->block_size != 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF tensor '%s': dimension 0 is %llu, not a multiple of the %s block size %u",
                       name, (unsigned long long)ne0, traits->name, traits->block_size);
    /* n_elements / block_size blocks, exact since ne0 is a multiple of the block size */
    if (!ct_mul_u64(n_elements / traits->block_size, traits->type_size, out))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF tensor '%s': byte size overflows", name);
    return CT_OK;
}

ct_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne,
                                 const void *data) {
    CT_TRY(check_building(w, "gguf_writer_add_tensor"));
    if (!name || !*name) return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF writer: tensor name is missing or empty");
    size_t name_len = strlen(name);
    if (name_len >= GGML_MAX_NAME)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF tensor '%s': name is %zu bytes, ggml allows at most %d", name,
                       name_len, GGML_MAX_NAME - 1);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF tensor '%s' was already added (tensor %llu)", name,
                           (unsigned long long)i);
    uint64_t nbytes = 0;
    CT_TRY(tensor_bytes(name, type, n_dims, ne, &nbytes));
    if (w->n_tensors == w->cap_tensors) {
        uint64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 16;
        gguf_writer_tensor *ts = ct_realloc_array(w->tensors, (size_t)cap, sizeof *ts, "GGUF writer tensors");
        if (!ts) return CT_ERR_OUT_OF_MEMORY;
        w->tensors = ts;
        w->cap_tensors = cap;
    }
    gguf_writer_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = ct_strndup(name, name_len, "GGUF tensor name");
    if (!t->name) return CT_ERR_OUT_OF_MEMORY;
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t j = 0; j < GGUF_MAX_DIMS; j++) t->ne[j] = j < n_dims ? ne[j] : 1;
    t->nbytes = nbytes;
    t->data = data;
    w->n_tensors++;
    return CT_OK;
}
