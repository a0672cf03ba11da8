/* Opening a GGUF file: map it, then parse the header, the key-value pairs, the tensor infos
 * and place the tensor data, validating everything against the file size as it goes.
 *
 * Layout (v2/v3, little-endian):
 *   "GGUF" | u32 version | u64 tensor count | u64 kv count
 *   kv pairs:     string key | u32 type | value
 *   tensor infos: string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset
 *   padding to `general.alignment` (default 32) | tensor data (offsets relative to here)
 * where a string is u64 length + bytes, and an array value is u32 element type + u64 count +
 * elements (nested arrays repeat the type and count). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "gguf/gguf_internal.h"

#define ALIGNMENT_KEY "general.alignment"

static gguf_str kv_key_at(const void *ctx, uint64_t index) {
    const gguf_file *f = ctx;
    return f->kvs[index].key;
}

static ct_status read_header(gguf_file *f, gguf_cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    gguf_cursor_set_context(c, "header");
    if (c->size == 0) return ct_fail(CT_ERR_FORMAT, "%s: empty file (0 bytes), not a GGUF file", f->path);
    CT_TRY(gguf_cursor_need(c, 4, "magic"));
    if (memcmp(c->base, GGUF_MAGIC, 4) != 0) {
        char shown[32];
        gguf_escape_for_message(shown, sizeof shown, (const char *)c->base, 4);
        return gguf_cursor_fail(c, 0, CT_ERR_FORMAT, "magic is '%s', expected 'GGUF': not a GGUF file", shown);
    }
    c->pos = 4;
    CT_TRY(gguf_cursor_u32(c, "version", &f->version));
    if (f->version != 2 && f->version != 3) {
        if (f->version != 0 && (f->version & 0xffffu) == 0)
            return gguf_cursor_fail(c, 4, CT_ERR_UNSUPPORTED,
                                    "version field reads %u, byte-swapped %u: a big-endian GGUF file, which ctorch "
                                    "does not read (it needs a little-endian file)",
                                    f->version, __builtin_bswap32(f->version));
        return gguf_cursor_fail(c, 4, CT_ERR_UNSUPPORTED, "unsupported GGUF version %u (ctorch reads versions 2 and 3)",
                                f->version);
    }
    CT_TRY(gguf_cursor_u64(c, "tensor count", n_tensors));
    return gguf_cursor_u64(c, "key-value count", n_kv);
}

static ct_status read_kvs(gguf_file *f, gguf_cursor *c, uint64_t n_kv) {
    /* Allocate for no more pairs than the bytes left can hold (+1): a count claiming more
     * makes the parse below fail, at the exact place the bytes run out, before the arrays do. */
    uint64_t cap = gguf_count_cap(c, n_kv, GGUF_MIN_KV_BYTES);
    CT_TRY(gguf_index_init(&f->kv_index, cap, kv_key_at, f));
    if (cap == 0) return CT_OK;
    /* calloc: pairs not yet read are UINT8 zeros, which gguf_close skips */
    f->kvs = ct_calloc_array((size_t)cap, sizeof(gguf_kv), "GGUF key-value pairs");
    f->kv_pos = ct_alloc_array((size_t)cap, sizeof(uint64_t), "GGUF key-value offsets");
    if (!f->kvs || !f->kv_pos) return CT_ERR_OUT_OF_MEMORY;
    f->n_kv = cap;

    for (uint64_t i = 0; i < n_kv; i++) {
        uint64_t start = c->pos;
        if (i == cap) /* unreachable: each pair takes at least GGUF_MIN_KV_BYTES */
            return gguf_cursor_fail(c, start, CT_ERR_FORMAT, "the header claims %llu key-value pairs, more than fit",
                                    (unsigned long long)n_kv);
        f->kv_pos[i] = start;
        gguf_cursor_set_context(c, "key %llu", (unsigned long long)i);
        gguf_str key;
        ct_status st = gguf_cursor_str(c, "key", &key);
        if (st != CT_OK) return gguf_count_fail("key-value pairs", n_kv, cap, st);
        char shown[96];
        gguf_escape_for_message(shown, sizeof shown, key.data, key.len);
        gguf_cursor_set_context(c, "key %llu ('%s')", (unsigned long long)i, shown);
        if (key.len == 0) return gguf_cursor_fail(c, start, CT_ERR_FORMAT, "key is empty");
        uint32_t type;
        st = gguf_cursor_u32(c, "value type", &type);
        if (st != CT_OK) return gguf_count_fail("key-value pairs", n_kv, cap, st);
        if (!gguf_type_is_valid(type))
            return gguf_cursor_fail(c, c->pos - 4, CT_ERR_FORMAT, "value type %u is not a GGUF value type", type);
        f->kvs[i].key = key;
        st = gguf_parse_value(c, (gguf_type)type, &f->kvs[i].value, 0);
        if (st != CT_OK) return gguf_count_fail("key-value pairs", n_kv, cap, st);
        uint64_t first;
        if (!gguf_index_insert(&f->kv_index, key, i, &first))
            return gguf_cursor_fail(c, start, CT_ERR_FORMAT, "duplicate key (also key %llu at byte offset %llu)",
                                    (unsigned long long)first, (unsigned long long)f->kv_pos[first]);
    }
    return CT_OK;
}

static ct_status read_alignment(gguf_file *f, gguf_cursor *c) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    uint64_t i;
    if (!gguf_index_find(&f->kv_index, ALIGNMENT_KEY, strlen(ALIGNMENT_KEY), &i)) return CT_OK;
    const gguf_value *v = &f->kvs[i].value;
    gguf_cursor_set_context(c, "key %llu ('" ALIGNMENT_KEY "')", (unsigned long long)i);
    if (!gguf_type_is_integer(v->type))
        return gguf_cursor_fail(c, f->kv_pos[i], CT_ERR_FORMAT, "alignment has type %s, expected an unsigned integer",
                                gguf_type_name(v->type));
    uint64_t a;
    if (!gguf_value_to_u64(v, &a) || !gguf_is_pow2(a)) {
        if (gguf_type_is_signed(v->type))
            return gguf_cursor_fail(c, f->kv_pos[i], CT_ERR_FORMAT, "alignment %lld is not a power of two",
                                    (long long)v->i64);
        return gguf_cursor_fail(c, f->kv_pos[i], CT_ERR_FORMAT, "alignment %llu is not a power of two",
                                (unsigned long long)v->u64);
    }
    f->alignment = a;
    return CT_OK;
}

static ct_status parse(gguf_file *f) {
    gguf_cursor c = {.base = f->base, .size = f->size, .pos = 0, .file = f->path};
    uint64_t n_tensors, n_kv;
    CT_TRY(read_header(f, &c, &n_tensors, &n_kv));
    CT_TRY(read_kvs(f, &c, n_kv));
    CT_TRY(read_alignment(f, &c));
    CT_TRY(gguf_read_tensor_infos(f, &c, n_tensors));
    if (!gguf_align_up(c.pos, f->alignment, &f->data_offset)) {
        gguf_cursor_set_context(&c, "tensor data section");
        return gguf_cursor_fail(&c, c.pos, CT_ERR_FORMAT, "start overflows when aligned to %llu",
                                (unsigned long long)f->alignment);
    }
    return gguf_place_tensor_data(f, &c);
}

/* Takes ownership of mapping (may be NULL) and parses base[0..size). */
static ct_status open_image(const char *name, const void *base, uint64_t size, void *mapping, size_t mapping_size,
                            gguf_file **out) {
    gguf_file *f = ct_calloc_array(1, sizeof *f, "GGUF file");
    if (!f) {
        if (mapping) munmap(mapping, mapping_size);
        return CT_ERR_OUT_OF_MEMORY;
    }
    f->mapping = mapping;
    f->mapping_size = mapping_size;
    f->base = base;
    f->size = size;
    f->path = ct_strndup(name, strlen(name), "GGUF file name");
    if (!f->path) {
        gguf_close(f);
        return CT_ERR_OUT_OF_MEMORY;
    }
    ct_status st = parse(f);
    if (st != CT_OK) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return CT_OK;
}

ct_status gguf_open(const char *path, gguf_file **out) {
    if (!out) return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_open: out is NULL");
    *out = NULL;
    if (!path) return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ct_fail(errno == ENOENT ? CT_ERR_NOT_FOUND : CT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return ct_fail(CT_ERR_IO, "%s: cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ct_fail(CT_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return ct_fail(CT_ERR_IO, "%s: file of %lld bytes is too large to map", path, (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    void *mapping = NULL;
    static const uint8_t empty[1];
    const void *base = empty;
    if (size > 0) {
        mapping = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (mapping == MAP_FAILED) {
            int err = errno;
            close(fd);
            return ct_fail(CT_ERR_IO, "%s: cannot map %zu bytes: %s", path, size, strerror(err));
        }
        base = mapping;
    }
    close(fd); /* the mapping stays valid */
    return open_image(path, base, size, mapping, size, out);
}

ct_status gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out) {
    if (!out) return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size > 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "gguf_open_memory: data is NULL");
    static const uint8_t empty[1];
    return open_image(name ? name : "(memory)", data ? data : empty, size, NULL, 0, out);
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->kvs)
        for (uint64_t i = 0; i < f->n_kv; i++) gguf_value_free_parsed(&f->kvs[i].value);
    free(f->kvs);
    free(f->kv_pos);
    gguf_index_free(&f->kv_index);
    if (f->tensors)
        for (uint64_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->tensor_offset_pos);
    gguf_index_free(&f->tensor_index);
    if (f->mapping) munmap(f->mapping, f->mapping_size);
    free(f->path);
    free(f);
}

/* ---- accessors ----------------------------------------------------------------- */
const char *gguf_path(const gguf_file *f) { return f ? f->path : NULL; }
uint32_t gguf_version(const gguf_file *f) { return f ? f->version : 0; }
uint64_t gguf_file_size(const gguf_file *f) { return f ? f->size : 0; }
const void *gguf_file_bytes(const gguf_file *f) { return f ? f->base : NULL; }
uint64_t gguf_alignment(const gguf_file *f) { return f ? f->alignment : 0; }
uint64_t gguf_data_offset(const gguf_file *f) { return f ? f->data_offset : 0; }
uint64_t gguf_kv_count(const gguf_file *f) { return f ? f->n_kv : 0; }
uint64_t gguf_tensor_count(const gguf_file *f) { return f ? f->n_tensors : 0; }

const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t index) {
    return f && index < f->n_kv ? &f->kvs[index] : NULL;
}

const gguf_tensor_info *gguf_tensor_at(const gguf_file *f, uint64_t index) {
    return f && index < f->n_tensors ? &f->tensors[index] : NULL;
}

const gguf_value *gguf_find(const gguf_file *f, const char *key) {
    uint64_t i;
    if (!f || !key || !gguf_index_find(&f->kv_index, key, strlen(key), &i)) return NULL;
    return &f->kvs[i].value;
}

const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name) {
    uint64_t i;
    if (!f || !name || !gguf_index_find(&f->tensor_index, name, strlen(name), &i)) return NULL;
    return &f->tensors[i];
}
