/* GGUF container: a memory-mapped, bounds-checked reader and a streaming writer.
 *
 * The reader validates every count, length, dimension, offset and size against the file
 * size before use; a bad file yields CT_ERR_FORMAT with a message naming the file, the
 * field and its byte offset ("m.gguf: byte offset 1234: tensor info 5 ('blk.0.attn_q.weight'):
 * dimension 2 is 0 (empty tensors are not allowed)"). Versions 2 and 3 are read; others, and
 * big-endian files, give CT_ERR_UNSUPPORTED, as do tensor types ctorch does not handle.
 * Rejected as malformed: duplicate keys or tensor names, a zero dimension, more than 4 dims,
 * element counts above INT64_MAX, a row that is not whole blocks, data offsets not a multiple
 * of the alignment (`general.alignment`: any integer type, a nonzero power of two; default
 * 32) or running past the end of the file, arrays nested more than 16 deep. Strings and
 * tensor data point into the mapping (not copied); they live until gguf_close(). Values are
 * little-endian on disk; ctorch assumes a little-endian host. Lookups by name are hashed. */
#ifndef CT_GGUF_GGUF_H
#define CT_GGUF_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

typedef enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT_
} gguf_type;

const char *gguf_type_name(gguf_type type);

/* A string inside the file: not NUL-terminated. */
typedef struct gguf_str {
    const char *data;
    uint64_t len;
} gguf_str;

typedef struct gguf_value gguf_value;
struct gguf_value {
    gguf_type type;
    union {
        uint64_t u64; /* UINT8/16/32/64 widened */
        int64_t i64;  /* INT8/16/32/64 widened */
        double f64;   /* FLOAT32/64 widened */
        bool b;
        gguf_str str;
        struct {
            gguf_type elem_type;
            uint64_t count;
            const void *raw;   /* scalar elements, packed little-endian, possibly unaligned */
            gguf_str *strs;    /* STRING elements (count entries), else NULL */
            gguf_value *items; /* ARRAY elements (nested arrays, count entries), else NULL */
        } arr;
    };
};

typedef struct gguf_kv {
    gguf_str key;
    gguf_value value;
} gguf_kv;

typedef struct gguf_tensor_info {
    char *name;                 /* NUL-terminated copy */
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* elements per dim, ne[0] innermost; unused dims are 1 */
    uint32_t type;              /* ct_type id */
    uint64_t offset;            /* relative to the data section */
    uint64_t nbytes;
    const void *data;           /* into the mapping */
} gguf_tensor_info;

typedef struct gguf_file gguf_file;

/* ---- reader ----------------------------------------------------------------- */
ct_status gguf_open(const char *path, gguf_file **out);
/* Parse a buffer in memory (not copied; must outlive the gguf_file). name is for messages. */
ct_status gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out);
void gguf_close(gguf_file *file);

const char *gguf_path(const gguf_file *file);
uint32_t gguf_version(const gguf_file *file);
uint64_t gguf_file_size(const gguf_file *file);
/* The whole file image (the mapping, or the buffer given to gguf_open_memory). */
const void *gguf_file_bytes(const gguf_file *file);
uint64_t gguf_alignment(const gguf_file *file);
uint64_t gguf_data_offset(const gguf_file *file);

uint64_t gguf_kv_count(const gguf_file *file);
const gguf_kv *gguf_kv_at(const gguf_file *file, uint64_t index);
const gguf_value *gguf_find(const gguf_file *file, const char *key); /* NULL when absent */

uint64_t gguf_tensor_count(const gguf_file *file);
const gguf_tensor_info *gguf_tensor_at(const gguf_file *file, uint64_t index);
const gguf_tensor_info *gguf_find_tensor(const gguf_file *file, const char *name);

/* Typed getters. CT_ERR_NOT_FOUND when the key is absent (message names it);
 * CT_ERR_FORMAT when the stored type does not convert (message names key, stored type and
 * wanted type). Integers of any width convert when the value fits; floats accept
 * FLOAT32/FLOAT64 and integers. */
ct_status gguf_get_u64(const gguf_file *file, const char *key, uint64_t *out);
ct_status gguf_get_i64(const gguf_file *file, const char *key, int64_t *out);
ct_status gguf_get_f64(const gguf_file *file, const char *key, double *out);
ct_status gguf_get_bool(const gguf_file *file, const char *key, bool *out);
ct_status gguf_get_str(const gguf_file *file, const char *key, gguf_str *out);
/* An array whose elements are elem_type (GGUF_TYPE_COUNT_ accepts any). */
ct_status gguf_get_array(const gguf_file *file, const char *key, gguf_type elem_type, const gguf_value **out);

/* Element access on a scalar array value (bounds and type checked by the caller's choice of
 * accessor: they return false when index >= count or the element type does not convert). */
bool gguf_array_i64(const gguf_value *arr, uint64_t index, int64_t *out);
bool gguf_array_f64(const gguf_value *arr, uint64_t index, double *out);

/* Compare a gguf_str with a C string. */
bool gguf_str_eq(gguf_str s, const char *cstr);

/* ---- writer ----------------------------------------------------------------- */
/* Build metadata and tensor infos in memory, then stream: gguf_writer_begin() writes the
 * header and infos, gguf_writer_write_tensor() writes each tensor's data in the order the
 * tensors were added, gguf_writer_finish() closes the file. gguf_writer_write_file() does
 * all three for tensors added with their data. Keys are written in insertion order; setting
 * an existing key replaces its value (keeping its position). Values are copied.
 * Output is GGUF v3, laid out as the PyPI gguf package's GGUFWriter does (byte-identical for
 * the same content): data aligned to `general.alignment` (must be a UINT32 power of two, as
 * ggml requires) or 32, zero padding after every tensor including the last. Tensor names are
 * limited to 63 bytes (ggml's limit). Write errors (disk full, ...) give CT_ERR_IO naming the
 * path; after any error while streaming the file is closed and left incomplete. */
typedef struct gguf_writer gguf_writer;

ct_status gguf_writer_create(gguf_writer **out);
void gguf_writer_free(gguf_writer *w);

ct_status gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
ct_status gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v);
ct_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
ct_status gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
ct_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
ct_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
ct_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
ct_status gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
ct_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
ct_status gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
ct_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
ct_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
/* Array of count fixed-size scalars of elem_type, packed little-endian at data. */
ct_status gguf_writer_set_array(gguf_writer *w, const char *key, gguf_type elem_type, const void *data, uint64_t count);
/* Array of strings (lens may be NULL for NUL-terminated strings). */
ct_status gguf_writer_set_str_array(gguf_writer *w, const char *key, const char *const *strs, const uint64_t *lens, uint64_t count);
/* Copy any value as read by the reader (including nested arrays): used to copy a vocabulary. */
ct_status gguf_writer_set_value(gguf_writer *w, const char *key, const gguf_value *v);

/* Add a tensor; data may be NULL when it will be streamed with gguf_writer_write_tensor(). */
ct_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                 const uint64_t *ne, const void *data);

ct_status gguf_writer_begin(gguf_writer *w, const char *path);
ct_status gguf_writer_write_tensor(gguf_writer *w, uint64_t index, const void *data);
/* Stream tensor `index` in pieces: successive calls append nbytes of its data; when the
 * pieces reach its size it is padded and complete, and the next tensor may start. Lets a
 * producer (ctorch synth) generate a large tensor through a small buffer. */
ct_status gguf_writer_write_tensor_part(gguf_writer *w, uint64_t index, const void *data, uint64_t nbytes);
ct_status gguf_writer_finish(gguf_writer *w);
ct_status gguf_writer_write_file(gguf_writer *w, const char *path);

#endif
