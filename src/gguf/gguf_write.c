/* Streaming a GGUF v3 file: header, key-value pairs, tensor infos, zero padding to the
 * alignment, then each tensor's data padded to the alignment (also after the last tensor,
 * as ggml and the gguf Python package do). Every write is checked; a failure (disk full,
 * ...) is reported with the path and closes the file, which is then incomplete. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "gguf/gguf_writer_internal.h"

#define GGUF_WRITE_VERSION 3
#define ALIGNMENT_KEY "general.alignment"

static void close_stream(gguf_writer *w) {
    if (w->out) fclose(w->out);
    w->out = NULL;
}

static ct_status io_failure(gguf_writer *w, int err, const char *what) {
    ct_status st = ct_fail(CT_ERR_IO, "%s: %s failed at byte %llu: %s", w->path, what, (unsigned long long)w->pos,
                           strerror(err));
    close_stream(w);
    return st;
}

static ct_status put_bytes(gguf_writer *w, const void *p, size_t n) {
    if (n == 0) return CT_OK;
    errno = 0;
    if (fwrite(p, 1, n, w->out) != n) return io_failure(w, errno ? errno : EIO, "writing");
    w->pos += n;
    return CT_OK;
}

static ct_status put_u32(gguf_writer *w, uint32_t v) { return put_bytes(w, &v, 4); }
static ct_status put_u64(gguf_writer *w, uint64_t v) { return put_bytes(w, &v, 8); }

static ct_status put_str(gguf_writer *w, gguf_str s) {
    CT_TRY(put_u64(w, s.len));
    return put_bytes(w, s.data, (size_t)s.len);
}

static ct_status put_zeros(gguf_writer *w, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t chunk = n < sizeof zeros ? (size_t)n : sizeof zeros;
        CT_TRY(put_bytes(w, zeros, chunk));
        n -= chunk;
    }
    return CT_OK;
}

static ct_status pad_to_alignment(gguf_writer *w) {
    uint64_t aligned;
    if (!gguf_align_up(w->pos, w->alignment, &aligned)) return io_failure(w, EFBIG, "padding");
    return put_zeros(w, aligned - w->pos);
}

/* A scalar narrowed back to its stored width. */
static ct_status put_scalar(gguf_writer *w, const gguf_value *v) {
    switch (v->type) {
    case GGUF_TYPE_UINT8: { uint8_t x = (uint8_t)v->u64; return put_bytes(w, &x, 1); }
    case GGUF_TYPE_INT8: { int8_t x = (int8_t)v->i64; return put_bytes(w, &x, 1); }
    case GGUF_TYPE_UINT16: { uint16_t x = (uint16_t)v->u64; return put_bytes(w, &x, 2); }
    case GGUF_TYPE_INT16: { int16_t x = (int16_t)v->i64; return put_bytes(w, &x, 2); }
    case GGUF_TYPE_UINT32: { uint32_t x = (uint32_t)v->u64; return put_bytes(w, &x, 4); }
    case GGUF_TYPE_INT32: { int32_t x = (int32_t)v->i64; return put_bytes(w, &x, 4); }
    case GGUF_TYPE_UINT64: return put_bytes(w, &v->u64, 8);
    case GGUF_TYPE_INT64: return put_bytes(w, &v->i64, 8);
    case GGUF_TYPE_FLOAT32: { float x = (float)v->f64; return put_bytes(w, &x, 4); }
    case GGUF_TYPE_FLOAT64: return put_bytes(w, &v->f64, 8);
    case GGUF_TYPE_BOOL: { uint8_t x = v->b ? 1 : 0; return put_bytes(w, &x, 1); }
    default: return ct_fail(CT_ERR_INTERNAL, "GGUF writer: %s is not a scalar type", gguf_type_name(v->type));
    }
}

/* An array's element type, count and elements (the array's own type tag is the caller's). */
static ct_status put_array_body(gguf_writer *w, const gguf_value *v) {
    CT_TRY(put_u32(w, (uint32_t)v->arr.elem_type));
    CT_TRY(put_u64(w, v->arr.count));
    size_t size = gguf_type_size(v->arr.elem_type);
    if (size) return put_bytes(w, v->arr.raw, (size_t)v->arr.count * size);
    for (uint64_t i = 0; i < v->arr.count; i++) {
        if (v->arr.elem_type == GGUF_TYPE_STRING) CT_TRY(put_str(w, v->arr.strs[i]));
        else CT_TRY(put_array_body(w, &v->arr.items[i]));
    }
    return CT_OK;
}

static ct_status put_kv(gguf_writer *w, const gguf_writer_kv *kv) {
    CT_TRY(put_str(w, (gguf_str){kv->key, strlen(kv->key)}));
    CT_TRY(put_u32(w, (uint32_t)kv->value.type));
    if (kv->value.type == GGUF_TYPE_STRING) return put_str(w, kv->value.str);
    if (kv->value.type == GGUF_TYPE_ARRAY) return put_array_body(w, &kv->value);
    return put_scalar(w, &kv->value);
}

static ct_status put_tensor_info(gguf_writer *w, const gguf_writer_tensor *t) {
    CT_TRY(put_str(w, (gguf_str){t->name, strlen(t->name)}));
    CT_TRY(put_u32(w, t->n_dims));
    for (uint32_t j = 0; j < t->n_dims; j++) CT_TRY(put_u64(w, t->ne[j]));
    CT_TRY(put_u32(w, t->type));
    return put_u64(w, t->offset);
}

/* The alignment the file will use: general.alignment (a UINT32 power of two, as ggml
 * requires) when set, else the default. */
static ct_status writer_alignment(const gguf_writer *w, uint64_t *out) {
    *out = GGUF_DEFAULT_ALIGNMENT;
    const gguf_value *v = gguf_writer_find(w, ALIGNMENT_KEY);
    if (!v) return CT_OK;
    if (v->type != GGUF_TYPE_UINT32)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF writer: " ALIGNMENT_KEY " has type %s; ggml requires UINT32",
                       gguf_type_name(v->type));
    if (!gguf_is_pow2(v->u64))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF writer: " ALIGNMENT_KEY " %llu is not a power of two",
                       (unsigned long long)v->u64);
    *out = v->u64;
    return CT_OK;
}

ct_status gguf_writer_begin(gguf_writer *w, const char *path) {
    if (!w || !path) return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_writer_begin: writer or path is NULL");
    if (w->out) return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_writer_begin: already writing %s", w->path);
    CT_TRY(writer_alignment(w, &w->alignment));
    uint64_t offset = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        w->tensors[i].offset = offset;
        if (!ct_add_u64(offset, w->tensors[i].nbytes, &offset) || !gguf_align_up(offset, w->alignment, &offset))
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "GGUF writer: tensor data size overflows at tensor '%s'",
                           w->tensors[i].name);
    }
    char *path_copy = ct_strndup(path, strlen(path), "GGUF output path");
    if (!path_copy) return CT_ERR_OUT_OF_MEMORY;
    free(w->path);
    w->path = path_copy;
    w->pos = 0;
    w->next_tensor = 0;
    w->out = fopen(path, "wb");
    if (!w->out) return ct_fail(CT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    setvbuf(w->out, NULL, _IOFBF, 1 << 20);

    CT_TRY(put_bytes(w, GGUF_MAGIC, 4));
    CT_TRY(put_u32(w, GGUF_WRITE_VERSION));
    CT_TRY(put_u64(w, w->n_tensors));
    CT_TRY(put_u64(w, w->n_kv));
    for (uint64_t i = 0; i < w->n_kv; i++) CT_TRY(put_kv(w, &w->kvs[i]));
    for (uint64_t i = 0; i < w->n_tensors; i++) CT_TRY(put_tensor_info(w, &w->tensors[i]));
    CT_TRY(pad_to_alignment(w));
    w->data_start = w->pos;
    return CT_OK;
}

ct_status gguf_writer_write_tensor(gguf_writer *w, uint64_t index, const void *data) {
    if (!w || !w->out) return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_writer_write_tensor: not writing (call gguf_writer_begin)");
    if (index >= w->n_tensors)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s: tensor index %llu out of range (%llu tensors)", w->path,
                       (unsigned long long)index, (unsigned long long)w->n_tensors);
    if (index != w->next_tensor)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s: tensors are written in order: expected tensor %llu ('%s'), got %llu",
                       w->path, (unsigned long long)w->next_tensor,
                       w->next_tensor < w->n_tensors ? w->tensors[w->next_tensor].name : "none left",
                       (unsigned long long)index);
    const gguf_writer_tensor *t = &w->tensors[index];
    if (!data) return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s: tensor '%s': data is NULL", w->path, t->name);
    if (w->pos != w->data_start + t->offset)
        return ct_fail(CT_ERR_INTERNAL, "%s: tensor '%s' would start at byte %llu, not %llu", w->path, t->name,
                       (unsigned long long)w->pos, (unsigned long long)(w->data_start + t->offset));
    CT_TRY(put_bytes(w, data, (size_t)t->nbytes));
    CT_TRY(pad_to_alignment(w));
    w->next_tensor++;
    return CT_OK;
}

ct_status gguf_writer_write_tensor_part(gguf_writer *w, uint64_t index, const void *data, uint64_t nbytes) {
    if (!w || !w->out)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_writer_write_tensor_part: not writing (call gguf_writer_begin)");
    if (index >= w->n_tensors || index != w->next_tensor)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s: tensors are written in order: expected tensor %llu ('%s'), got %llu",
                       w->path, (unsigned long long)w->next_tensor,
                       w->next_tensor < w->n_tensors ? w->tensors[w->next_tensor].name : "none left",
                       (unsigned long long)index);
    const gguf_writer_tensor *t = &w->tensors[index];
    if (!data && nbytes) return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s: tensor '%s': data is NULL", w->path, t->name);
    /* how much of the tensor is written follows from the stream position */
    uint64_t start = w->data_start + t->offset;
    if (w->pos < start || w->pos - start > t->nbytes)
        return ct_fail(CT_ERR_INTERNAL, "%s: tensor '%s' starts at byte %llu but the stream is at %llu", w->path,
                       t->name, (unsigned long long)start, (unsigned long long)w->pos);
    uint64_t done = w->pos - start;
    if (nbytes > t->nbytes - done)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s: tensor '%s': a piece of %llu bytes overruns it (%llu of %llu written)",
                       w->path, t->name, (unsigned long long)nbytes, (unsigned long long)done,
                       (unsigned long long)t->nbytes);
    CT_TRY(put_bytes(w, data, (size_t)nbytes));
    if (done + nbytes == t->nbytes) {
        CT_TRY(pad_to_alignment(w));
        w->next_tensor++;
    }
    return CT_OK;
}

ct_status gguf_writer_finish(gguf_writer *w) {
    if (!w || !w->out) return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_writer_finish: not writing (call gguf_writer_begin)");
    if (w->next_tensor != w->n_tensors) {
        ct_status st = ct_fail(CT_ERR_INVALID_ARGUMENT, "%s: only %llu of %llu tensors were written (next: '%s')", w->path,
                               (unsigned long long)w->next_tensor, (unsigned long long)w->n_tensors,
                               w->tensors[w->next_tensor].name);
        close_stream(w);
        return st;
    }
    errno = 0;
    if (fflush(w->out) != 0 || ferror(w->out)) return io_failure(w, errno ? errno : EIO, "writing");
    FILE *out = w->out;
    w->out = NULL;
    errno = 0;
    if (fclose(out) != 0) return ct_fail(CT_ERR_IO, "%s: closing failed: %s", w->path, strerror(errno ? errno : EIO));
    return CT_OK;
}

ct_status gguf_writer_write_file(gguf_writer *w, const char *path) {
    if (w)
        for (uint64_t i = 0; i < w->n_tensors; i++)
            if (!w->tensors[i].data)
                return ct_fail(CT_ERR_INVALID_ARGUMENT,
                               "%s: tensor '%s' was added without data (stream it with gguf_writer_write_tensor)",
                               path ? path : "(null)", w->tensors[i].name);
    CT_TRY(gguf_writer_begin(w, path));
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        ct_status st = gguf_writer_write_tensor(w, i, w->tensors[i].data);
        if (st != CT_OK) {
            close_stream(w);
            return st;
        }
    }
    return gguf_writer_finish(w);
}
