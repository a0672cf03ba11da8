/* The inspect summary as JSON, built from the reader's view of the file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/inspect.h"
#include "quant/types.h"

/* llama.cpp's llama_ftype names, as the gguf Python package's LlamaFileType spells them. */
static const struct {
    int64_t id;
    const char *name;
} file_types[] = {
    {0, "ALL_F32"},         {1, "MOSTLY_F16"},      {2, "MOSTLY_Q4_0"},     {3, "MOSTLY_Q4_1"},
    {7, "MOSTLY_Q8_0"},     {8, "MOSTLY_Q5_0"},     {9, "MOSTLY_Q5_1"},     {10, "MOSTLY_Q2_K"},
    {11, "MOSTLY_Q3_K_S"},  {12, "MOSTLY_Q3_K_M"},  {13, "MOSTLY_Q3_K_L"},  {14, "MOSTLY_Q4_K_S"},
    {15, "MOSTLY_Q4_K_M"},  {16, "MOSTLY_Q5_K_S"},  {17, "MOSTLY_Q5_K_M"},  {18, "MOSTLY_Q6_K"},
    {19, "MOSTLY_IQ2_XXS"}, {20, "MOSTLY_IQ2_XS"},  {21, "MOSTLY_Q2_K_S"},  {22, "MOSTLY_IQ3_XS"},
    {23, "MOSTLY_IQ3_XXS"}, {24, "MOSTLY_IQ1_S"},   {25, "MOSTLY_IQ4_NL"},  {26, "MOSTLY_IQ3_S"},
    {27, "MOSTLY_IQ3_M"},   {28, "MOSTLY_IQ2_S"},   {29, "MOSTLY_IQ2_M"},   {30, "MOSTLY_IQ4_XS"},
    {31, "MOSTLY_IQ1_M"},   {32, "MOSTLY_BF16"},    {36, "MOSTLY_TQ1_0"},   {37, "MOSTLY_TQ2_0"},
    {38, "MOSTLY_MXFP4_MOE"}, {39, "MOSTLY_NVFP4"}, {40, "MOSTLY_Q1_0"},    {1024, "GUESSED"},
};

const char *inspect_file_type_name(int64_t file_type) {
    for (size_t i = 0; i < sizeof file_types / sizeof file_types[0]; i++)
        if (file_types[i].id == file_type) return file_types[i].name;
    return NULL;
}

/* ---- values --------------------------------------------------------------------------- */

/* A JSON string of bytes that may not be valid UTF-8: invalid bytes become U+FFFD. */
static json_t *string_json(const char *s, size_t len) {
    json_t *j = json_stringn(s, len);
    if (j) return j;
    char *clean = malloc(len * 3 + 1);
    if (!clean) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        json_t *probe = n && i + n <= len ? json_stringn(s + i, n) : NULL;
        if (probe && c != 0) {
            memcpy(clean + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += 1;
        }
        json_decref(probe);
    }
    j = json_stringn(clean, o);
    free(clean);
    return j;
}

static json_t *float_json(double v) {
    if (isnan(v)) return json_string("nan");
    if (isinf(v)) return json_string(v > 0 ? "inf" : "-inf");
    return json_real(v);
}

static json_t *unsigned_json(uint64_t v) {
    if (v <= (uint64_t)INT64_MAX) return json_integer((json_int_t)v);
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return json_string(buf);
}

static size_t scalar_size(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

/* Element i of a scalar array, read from its packed little-endian bytes. */
static json_t *array_scalar_json(const gguf_value *arr, uint64_t i) {
    gguf_type t = arr->arr.elem_type;
    size_t size = scalar_size(t);
    const unsigned char *p = (const unsigned char *)arr->arr.raw + i * size;
    uint64_t bits = 0;
    memcpy(&bits, p, size); /* little-endian host */
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        return unsigned_json(bits);
    case GGUF_TYPE_INT8: return json_integer((int8_t)bits);
    case GGUF_TYPE_INT16: return json_integer((int16_t)bits);
    case GGUF_TYPE_INT32: return json_integer((int32_t)bits);
    case GGUF_TYPE_INT64: return json_integer((json_int_t)(int64_t)bits);
    case GGUF_TYPE_BOOL: return json_boolean(bits != 0);
    case GGUF_TYPE_FLOAT32: {
        float f;
        memcpy(&f, p, 4);
        return float_json(f);
    }
    case GGUF_TYPE_FLOAT64: {
        double d;
        memcpy(&d, p, 8);
        return float_json(d);
    }
    default: return json_null();
    }
}

static json_t *array_elem_json(const gguf_value *arr, uint64_t i) {
    if (arr->arr.elem_type == GGUF_TYPE_STRING) return string_json(arr->arr.strs[i].data, (size_t)arr->arr.strs[i].len);
    if (arr->arr.elem_type == GGUF_TYPE_ARRAY) return json_null();
    return array_scalar_json(arr, i);
}

/* The first `limit` elements of an array (null for nested arrays, as they are not shown). */
static json_t *array_json(const gguf_value *v, uint64_t limit) {
    if (v->arr.elem_type == GGUF_TYPE_ARRAY) return json_null();
    json_t *a = json_array();
    uint64_t n = v->arr.count < limit ? v->arr.count : limit;
    for (uint64_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, array_elem_json(v, i)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *value_json(const gguf_value *v) {
    switch (v->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        return unsigned_json(v->u64);
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        return json_integer((json_int_t)v->i64);
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64: return float_json(v->f64);
    case GGUF_TYPE_BOOL: return json_boolean(v->b);
    case GGUF_TYPE_STRING: return string_json(v->str.data, (size_t)v->str.len);
    case GGUF_TYPE_ARRAY: return array_json(v, UINT64_MAX);
    default: return json_null();
    }
}

/* ---- the summary ---------------------------------------------------------------------- */

/* Builder that remembers the first failure, so the code below reads as a list of fields. */
typedef struct builder {
    int failed;
} builder;

static void set(builder *b, json_t *obj, const char *key, json_t *value) {
    if (!value || json_object_set_new(obj, key, value) != 0) b->failed = 1;
}

static void append(builder *b, json_t *arr, json_t *value) {
    if (!value || json_array_append_new(arr, value) != 0) b->failed = 1;
}

static json_t *key_json(const gguf_file *f, const char *key) {
    const gguf_value *v = gguf_find(f, key);
    return v ? value_json(v) : json_null();
}

static json_t *arch_key_json(const gguf_file *f, const gguf_value *arch, const char *suffix) {
    if (!arch || arch->type != GGUF_TYPE_STRING) return json_null();
    char key[256];
    snprintf(key, sizeof key, "%.*s.%s", (int)(arch->str.len > 200 ? 200 : arch->str.len), arch->str.data, suffix);
    return key_json(f, key);
}

static json_t *metadata_json(builder *b, const gguf_file *f) {
    json_t *list = json_array();
    if (!list) return NULL;
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        json_t *e = json_object();
        if (!e) {
            b->failed = 1;
            break;
        }
        set(b, e, "key", string_json(kv->key.data, (size_t)kv->key.len));
        set(b, e, "type", json_string(gguf_type_name(kv->value.type)));
        if (kv->value.type == GGUF_TYPE_ARRAY) {
            set(b, e, "elem_type", json_string(gguf_type_name(kv->value.arr.elem_type)));
            set(b, e, "count", unsigned_json(kv->value.arr.count));
            set(b, e, "head", array_json(&kv->value, INSPECT_ARRAY_HEAD));
        } else {
            set(b, e, "value", value_json(&kv->value));
        }
        append(b, list, e);
    }
    return list;
}

static json_t *tensor_json(builder *b, const gguf_tensor_info *t, uint64_t n_elements) {
    json_t *e = json_object(), *shape = json_array();
    if (!e || !shape) {
        json_decref(e);
        json_decref(shape);
        return NULL;
    }
    for (uint32_t d = 0; d < t->n_dims; d++) append(b, shape, unsigned_json(t->ne[d]));
    set(b, e, "name", json_string(t->name));
    set(b, e, "type", json_string(ct_type_name(t->type)));
    set(b, e, "shape", shape);
    set(b, e, "n_elements", unsigned_json(n_elements));
    set(b, e, "bytes", unsigned_json(t->nbytes));
    set(b, e, "offset", unsigned_json(t->offset));
    return e;
}

#define N_TYPE_IDS 128 /* ggml type ids in use are well below this */

/* The tensor table, and per ggml type id (in increasing order) the count, elements and bytes. */
static void tensors_json(builder *b, const gguf_file *f, json_t *summary) {
    uint64_t count[N_TYPE_IDS] = {0}, params[N_TYPE_IDS] = {0}, bytes[N_TYPE_IDS] = {0};
    uint64_t total_params = 0, total_bytes = 0;
    json_t *list = json_array(), *mix = json_array();
    if (!list || !mix) b->failed = 1;
    for (uint64_t i = 0; list && i < gguf_tensor_count(f); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(f, i);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) n *= t->ne[d]; /* the reader checked the product fits */
        append(b, list, tensor_json(b, t, n));
        total_params += n;
        total_bytes += t->nbytes;
        if (t->type < N_TYPE_IDS) {
            count[t->type]++;
            params[t->type] += n;
            bytes[t->type] += t->nbytes;
        }
    }
    for (uint32_t id = 0; mix && id < N_TYPE_IDS; id++) {
        if (!count[id]) continue;
        json_t *m = json_object();
        if (!m) {
            b->failed = 1;
            break;
        }
        set(b, m, "type", json_string(ct_type_name(id)));
        set(b, m, "count", unsigned_json(count[id]));
        set(b, m, "params", unsigned_json(params[id]));
        set(b, m, "bytes", unsigned_json(bytes[id]));
        append(b, mix, m);
    }
    set(b, summary, "n_params", unsigned_json(total_params));
    set(b, summary, "tensor_bytes", unsigned_json(total_bytes));
    set(b, summary, "type_mix", mix);
    set(b, summary, "metadata", metadata_json(b, f));
    set(b, summary, "tensors", list);
}

json_t *inspect_summary_json(const gguf_file *f) {
    builder b = {0};
    json_t *s = json_object();
    if (!s) return NULL;
    const gguf_value *arch = gguf_find(f, "general.architecture");
    set(&b, s, "file", json_string(gguf_path(f)));
    set(&b, s, "gguf_version", json_integer(gguf_version(f)));
    set(&b, s, "file_size", unsigned_json(gguf_file_size(f)));
    set(&b, s, "alignment", unsigned_json(gguf_alignment(f)));
    set(&b, s, "data_offset", unsigned_json(gguf_data_offset(f)));
    set(&b, s, "n_kv", unsigned_json(gguf_kv_count(f)));
    set(&b, s, "n_tensors", unsigned_json(gguf_tensor_count(f)));
    set(&b, s, "architecture", arch ? value_json(arch) : json_null());
    set(&b, s, "name", key_json(f, "general.name"));
    set(&b, s, "context_length", arch_key_json(f, arch, "context_length"));
    set(&b, s, "embedding_length", arch_key_json(f, arch, "embedding_length"));
    set(&b, s, "block_count", arch_key_json(f, arch, "block_count"));
    set(&b, s, "feed_forward_length", arch_key_json(f, arch, "feed_forward_length"));
    set(&b, s, "head_count", arch_key_json(f, arch, "attention.head_count"));
    set(&b, s, "head_count_kv", arch_key_json(f, arch, "attention.head_count_kv"));
    json_t *vocab = arch_key_json(f, arch, "vocab_size");
    const gguf_value *tokens = gguf_find(f, "tokenizer.ggml.tokens");
    if (vocab && json_is_null(vocab) && tokens && tokens->type == GGUF_TYPE_ARRAY) {
        json_decref(vocab);
        vocab = unsigned_json(tokens->arr.count);
    }
    set(&b, s, "vocab_size", vocab);
    set(&b, s, "tokenizer_model", key_json(f, "tokenizer.ggml.model"));
    set(&b, s, "tokenizer_pre", key_json(f, "tokenizer.ggml.pre"));
    json_t *ft = key_json(f, "general.file_type");
    const char *ft_name = json_is_integer(ft) ? inspect_file_type_name(json_integer_value(ft)) : NULL;
    set(&b, s, "file_type", ft);
    set(&b, s, "file_type_name", ft_name ? json_string(ft_name) : json_null());
    tensors_json(&b, f, s); /* n_params, tensor_bytes, type_mix, metadata, tensors */
    if (b.failed) {
        json_decref(s);
        return NULL;
    }
    return s;
}
