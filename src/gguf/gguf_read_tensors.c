/* Tensor infos: name, shape, type, offset; then each tensor's data range, checked against
 * the alignment and the file size. Shapes are checked before any size is computed: every
 * dimension nonzero, their product within INT64_MAX (ggml's element count type), the row a
 * whole number of blocks, and the byte size without overflow. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "gguf/gguf_internal.h"
#include "quant/types.h"

static gguf_str tensor_name_at(const void *ctx, uint64_t index) {
    const gguf_file *f = ctx;
    const char *name = f->tensors[index].name;
    return (gguf_str){name, strlen(name)};
}

static void set_tensor_context(gguf_cursor *c, uint64_t index, const char *name) {
    char shown[96];
    gguf_escape_for_message(shown, sizeof shown, name, strlen(name));
    gguf_cursor_set_context(c, "tensor info %llu ('%s')", (unsigned long long)index, shown);
}

static ct_status read_shape(gguf_cursor *c, gguf_tensor_info *t) {
    uint64_t start = c->pos;
    CT_TRY(gguf_cursor_u32(c, "number of dimensions", &t->n_dims));
    if (t->n_dims > GGUF_MAX_DIMS)
        return gguf_cursor_fail(c, start, CT_ERR_FORMAT, "number of dimensions is %u, more than %d", t->n_dims,
                                GGUF_MAX_DIMS);
    for (int j = 0; j < GGUF_MAX_DIMS; j++) t->ne[j] = 1;
    uint64_t n_elements = 1;
    for (uint32_t j = 0; j < t->n_dims; j++) {
        uint64_t pos = c->pos;
        char field[32];
        snprintf(field, sizeof field, "dimension %u", j);
        CT_TRY(gguf_cursor_u64(c, field, &t->ne[j]));
        if (t->ne[j] == 0)
            return gguf_cursor_fail(c, pos, CT_ERR_FORMAT, "dimension %u is 0 (empty tensors are not allowed)", j);
        if (t->ne[j] > (uint64_t)INT64_MAX)
            return gguf_cursor_fail(c, pos, CT_ERR_FORMAT, "dimension %u is %llu, more than INT64_MAX", j,
                                    (unsigned long long)t->ne[j]);
        if (!ct_mul_u64(n_elements, t->ne[j], &n_elements) || n_elements > (uint64_t)INT64_MAX)
            return gguf_cursor_fail(c, pos, CT_ERR_FORMAT,
                                    "dimension %u (%llu) makes the element count overflow INT64_MAX", j,
                                    (unsigned long long)t->ne[j]);
    }
    return CT_OK;
}

static ct_status read_type_and_size(gguf_cursor *c, gguf_tensor_info *t) {
    uint64_t pos = c->pos;
    CT_TRY(gguf_cursor_u32(c, "type", &t->type));
    const ct_type_traits *traits = ct_type_traits_of(t->type);
    if (!traits) {
        const char *name = ct_type_name(t->type);
        if (strcmp(name, "unknown") == 0)
            return gguf_cursor_fail(c, pos, CT_ERR_FORMAT, "type id %u is not a ggml tensor type", t->type);
        return gguf_cursor_fail(c, pos, CT_ERR_UNSUPPORTED, "type %s (id %u) is not supported by ctorch", name,
                                t->type);
    }
    if (t->ne[0] % traits->block_size != 0)
        return gguf_cursor_fail(c, pos, CT_ERR_FORMAT,
                                "dimension 0 is %llu, not a multiple of the %s block size %u",
                                (unsigned long long)t->ne[0], traits->name, traits->block_size);
    uint64_t bytes = traits->type_size;
    bool ok = ct_mul_u64(t->ne[0] / traits->block_size, bytes, &bytes);
    for (int j = 1; j < GGUF_MAX_DIMS && ok; j++) ok = ct_mul_u64(bytes, t->ne[j], &bytes);
    if (!ok) return gguf_cursor_fail(c, pos, CT_ERR_FORMAT, "byte size of the %s tensor overflows", traits->name);
    t->nbytes = bytes;
    return CT_OK;
}

/* Name, shape, type and offset of tensor i at the cursor. */
static ct_status read_tensor_info(gguf_file *f, gguf_cursor *c, uint64_t i) {
    gguf_tensor_info *t = &f->tensors[i];
    uint64_t start = c->pos;
    gguf_cursor_set_context(c, "tensor info %llu", (unsigned long long)i);
    gguf_str name;
    CT_TRY(gguf_cursor_str(c, "name", &name));
    if (name.len == 0) return gguf_cursor_fail(c, start, CT_ERR_FORMAT, "name is empty");
    if (memchr(name.data, '\0', (size_t)name.len))
        return gguf_cursor_fail(c, start, CT_ERR_FORMAT, "name contains a NUL byte");
    t->name = ct_strndup(name.data, (size_t)name.len, "tensor name");
    if (!t->name) return CT_ERR_OUT_OF_MEMORY;
    set_tensor_context(c, i, t->name);
    CT_TRY(read_shape(c, t));
    CT_TRY(read_type_and_size(c, t));
    f->tensor_offset_pos[i] = c->pos;
    CT_TRY(gguf_cursor_u64(c, "data offset", &t->offset));
    uint64_t first;
    if (!gguf_index_insert(&f->tensor_index, (gguf_str){t->name, name.len}, i, &first))
        return gguf_cursor_fail(c, start, CT_ERR_FORMAT, "duplicate tensor name (also tensor info %llu)",
                                (unsigned long long)first);
    return CT_OK;
}

ct_status gguf_read_tensor_infos(gguf_file *f, gguf_cursor *c, uint64_t n) {
    /* Room for no more infos than the bytes left can hold (+1), as for key-value pairs. */
    uint64_t cap = gguf_count_cap(c, n, GGUF_MIN_TENSOR_INFO_BYTES);
    CT_TRY(gguf_index_init(&f->tensor_index, cap, tensor_name_at, f));
    if (cap == 0) return CT_OK;
    f->tensors = ct_calloc_array((size_t)cap, sizeof(gguf_tensor_info), "GGUF tensor infos");
    f->tensor_offset_pos = ct_alloc_array((size_t)cap, sizeof(uint64_t), "GGUF tensor offsets");
    if (!f->tensors || !f->tensor_offset_pos) return CT_ERR_OUT_OF_MEMORY;
    f->n_tensors = cap;
    for (uint64_t i = 0; i < n; i++) {
        if (i == cap) /* unreachable: each info takes at least GGUF_MIN_TENSOR_INFO_BYTES */
            return gguf_cursor_fail(c, c->pos, CT_ERR_FORMAT, "the header claims %llu tensors, more than fit",
                                    (unsigned long long)n);
        ct_status st = read_tensor_info(f, c, i);
        if (st != CT_OK) return gguf_count_fail("tensors", n, cap, st);
    }
    return CT_OK;
}

ct_status gguf_place_tensor_data(gguf_file *f, gguf_cursor *c) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor_info *t = &f->tensors[i];
        uint64_t pos = f->tensor_offset_pos[i];
        set_tensor_context(c, i, t->name);
        if (t->offset % f->alignment != 0)
            return gguf_cursor_fail(c, pos, CT_ERR_FORMAT, "data offset %llu is not a multiple of the alignment %llu",
                                    (unsigned long long)t->offset, (unsigned long long)f->alignment);
        uint64_t start, end;
        if (!ct_add_u64(f->data_offset, t->offset, &start) || !ct_add_u64(start, t->nbytes, &end))
            return gguf_cursor_fail(c, pos, CT_ERR_FORMAT, "data offset %llu + %llu bytes overflows",
                                    (unsigned long long)t->offset, (unsigned long long)t->nbytes);
        if (end > f->size)
            return gguf_cursor_fail(c, pos, CT_ERR_FORMAT,
                                    "tensor data [%llu, %llu) runs past the end of the file (%llu bytes)",
                                    (unsigned long long)start, (unsigned long long)end, (unsigned long long)f->size);
        t->data = f->base + start;
    }
    return CT_OK;
}
