/* Parsing one metadata value: scalars, strings and (nested) arrays. Array counts are
 * checked against the bytes left before anything is allocated, so a count claiming 2^60
 * elements fails at once; allocations are sized by validated counts only. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "gguf/gguf_internal.h"

/* Fewest bytes one element of each kind takes in the file. */
#define MIN_STRING_BYTES 8u  /* u64 length */
#define MIN_ARRAY_BYTES 12u  /* u32 element type + u64 count */

static ct_status parse_string_elements(gguf_cursor *c, gguf_value *v) {
    uint64_t count = v->arr.count;
    if (count == 0) return CT_OK;
    v->arr.strs = ct_alloc_array((size_t)count, sizeof(gguf_str), "GGUF string array");
    if (!v->arr.strs) return CT_ERR_OUT_OF_MEMORY;
    /* The hot loop of opening a model (vocabularies hold ~10^5 strings): no formatting
     * unless something is wrong. */
    for (uint64_t i = 0; i < count; i++) {
        uint64_t len, left = gguf_cursor_left(c);
        if (left < 8 || (memcpy(&len, c->base + c->pos, 8), len > left - 8)) {
            char field[64];
            snprintf(field, sizeof field, "string %llu of the array", (unsigned long long)i);
            return gguf_cursor_str(c, field, &v->arr.strs[i]); /* fails with the message */
        }
        v->arr.strs[i].data = (const char *)c->base + c->pos + 8;
        v->arr.strs[i].len = len;
        c->pos += 8 + len;
    }
    return CT_OK;
}

static ct_status parse_nested_arrays(gguf_cursor *c, gguf_value *v, int depth) {
    uint64_t count = v->arr.count;
    if (count == 0) return CT_OK;
    /* calloc: items not yet parsed are UINT8 zeros, which gguf_value_free_parsed skips */
    v->arr.items = ct_calloc_array((size_t)count, sizeof(gguf_value), "GGUF nested array");
    if (!v->arr.items) return CT_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < count; i++) CT_TRY(gguf_parse_value(c, GGUF_TYPE_ARRAY, &v->arr.items[i], depth + 1));
    return CT_OK;
}

static ct_status parse_array(gguf_cursor *c, gguf_value *v, int depth) {
    uint64_t start = c->pos;
    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return gguf_cursor_fail(c, start, CT_ERR_FORMAT, "arrays nested deeper than %d levels", GGUF_MAX_ARRAY_DEPTH);
    uint32_t elem_type;
    uint64_t count;
    CT_TRY(gguf_cursor_u32(c, "array element type", &elem_type));
    if (!gguf_type_is_valid(elem_type))
        return gguf_cursor_fail(c, start, CT_ERR_FORMAT, "array element type %u is not a GGUF value type", elem_type);
    CT_TRY(gguf_cursor_u64(c, "array count", &count));
    v->arr.elem_type = (gguf_type)elem_type;
    v->arr.raw = c->base + c->pos;

    size_t elem_size = gguf_type_size((gguf_type)elem_type);
    uint64_t min_elem = elem_size ? elem_size : elem_type == GGUF_TYPE_STRING ? MIN_STRING_BYTES : MIN_ARRAY_BYTES;
    if (count > gguf_cursor_left(c) / min_elem)
        return gguf_cursor_fail(c, start + 4, CT_ERR_FORMAT,
                                "array count %llu of %s needs at least %llu bytes each, more than the %llu bytes left",
                                (unsigned long long)count, gguf_type_name((gguf_type)elem_type),
                                (unsigned long long)min_elem, (unsigned long long)gguf_cursor_left(c));
    v->arr.count = count;
    if (elem_size) {
        c->pos += count * elem_size; /* no overflow: checked against the bytes left above */
        return CT_OK;
    }
    if (elem_type == GGUF_TYPE_STRING) return parse_string_elements(c, v);
    return parse_nested_arrays(c, v, depth);
}

ct_status gguf_parse_value(gguf_cursor *c, gguf_type type, gguf_value *out, int depth) {
    memset(out, 0, sizeof *out);
    out->type = type;
    if (type == GGUF_TYPE_STRING) return gguf_cursor_str(c, "string value", &out->str);
    if (type == GGUF_TYPE_ARRAY) return parse_array(c, out, depth);
    size_t size = gguf_type_size(type);
    CT_TRY(gguf_cursor_need(c, size, gguf_type_name(type)));
    gguf_load_scalar(type, c->base + c->pos, out);
    c->pos += size;
    return CT_OK;
}
