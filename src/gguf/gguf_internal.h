/* Private to src/gguf/: the reader's state, its bounds-checked cursor, the name index,
 * and helpers shared by the reader and the writer. */
#ifndef CT_GGUF_INTERNAL_H
#define CT_GGUF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

/* Arrays may contain arrays; deeper nesting than this is refused (no file needs it, and it
 * bounds the reader's recursion). */
#define GGUF_MAX_ARRAY_DEPTH 16

/* Fewest bytes a key-value pair (8-byte key length, 4-byte type, 1-byte value) and a tensor
 * info (8-byte name length, n_dims, type, offset) can take: counts claimed in the header are
 * checked against these before anything is allocated. */
#define GGUF_MIN_KV_BYTES 13u
#define GGUF_MIN_TENSOR_INFO_BYTES 24u

/* ---- name index: open addressing over strings owned elsewhere ---------------------- */
typedef gguf_str (*gguf_index_key_fn)(const void *ctx, uint64_t index);

typedef struct gguf_index_slot {
    uint64_t hash;
    uint64_t index_plus_1; /* 0 = empty */
} gguf_index_slot;

typedef struct gguf_index {
    gguf_index_slot *slots;
    uint64_t mask;
    gguf_index_key_fn key_at;
    const void *ctx;
} gguf_index;

/* Room for `count` entries at a load factor of at most 1/2. */
ct_status gguf_index_init(gguf_index *ix, uint64_t count, gguf_index_key_fn key_at, const void *ctx);
void gguf_index_free(gguf_index *ix);
/* Adds entry `index` under `key`; when an equal key is present, adds nothing, stores that
 * entry's index in *existing and returns false. */
bool gguf_index_insert(gguf_index *ix, gguf_str key, uint64_t index, uint64_t *existing);
bool gguf_index_find(const gguf_index *ix, const char *key, size_t len, uint64_t *index);

/* ---- the opened file ------------------------------------------------------------ */
struct gguf_file {
    char *path;          /* name used in messages */
    const uint8_t *base; /* whole file */
    uint64_t size;
    void *mapping; /* non-NULL when we mmap'd the file */
    size_t mapping_size;

    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;

    uint64_t n_kv;
    gguf_kv *kvs;
    uint64_t *kv_pos; /* byte offset of each pair, for messages */
    gguf_index kv_index;

    uint64_t n_tensors;
    gguf_tensor_info *tensors;
    uint64_t *tensor_offset_pos; /* byte offset of each tensor's offset field */
    gguf_index tensor_index;
};

/* ---- bounds-checked reading with messages ---------------------------------------- */
typedef struct gguf_cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *file;   /* for messages */
    char context[160];  /* what is being read, e.g. "key 3 ('general.name')" */
} gguf_cursor;

/* "<file>: byte offset <offset>: <context>: <message>" */
ct_status gguf_cursor_fail(const gguf_cursor *c, uint64_t offset, ct_status status, const char *fmt, ...)
    CT_PRINTF(4, 5);
void gguf_cursor_set_context(gguf_cursor *c, const char *fmt, ...) CT_PRINTF(2, 3);
uint64_t gguf_cursor_left(const gguf_cursor *c);
/* Fails (naming `field`) unless n more bytes are present. */
ct_status gguf_cursor_need(gguf_cursor *c, uint64_t n, const char *field);
ct_status gguf_cursor_u32(gguf_cursor *c, const char *field, uint32_t *out);
ct_status gguf_cursor_u64(gguf_cursor *c, const char *field, uint64_t *out);
/* A length-prefixed string; the length is checked against the bytes left. */
ct_status gguf_cursor_str(gguf_cursor *c, const char *field, gguf_str *out);

/* How many items of at least min_bytes each to allocate for a claimed count: the count, or
 * when the bytes left cannot hold that many, one more than they can (so parsing fails on
 * running out of bytes before running out of room). */
uint64_t gguf_count_cap(const gguf_cursor *c, uint64_t count, uint64_t min_bytes);
/* After a failure while reading `count` items of `what` with room for `cap`: when cap < count
 * (the header's count could never have fit in the file), says so after the current message.
 * Returns status. */
ct_status gguf_count_fail(const char *what, uint64_t count, uint64_t cap, ct_status status);

/* Writes a printable, escaped, possibly shortened copy of s into dst (for messages). */
void gguf_escape_for_message(char *dst, size_t cap, const char *s, uint64_t len);

/* Parse one value of `type` (a KV value, or an array element) at the cursor. */
ct_status gguf_parse_value(gguf_cursor *c, gguf_type type, gguf_value *out, int depth);

/* Tensor infos at the cursor (gguf_read_tensors.c), then, once the data section start is
 * known, each tensor's data range checked and pointed to. */
ct_status gguf_read_tensor_infos(gguf_file *f, gguf_cursor *c, uint64_t n_tensors);
ct_status gguf_place_tensor_data(gguf_file *f, gguf_cursor *c);

/* ---- values ------------------------------------------------------------------ */
/* Bytes of one fixed-size element of type, 0 for STRING, ARRAY and invalid types. */
size_t gguf_type_size(gguf_type type);
bool gguf_type_is_valid(uint32_t type);
bool gguf_type_is_integer(gguf_type type);
bool gguf_type_is_signed(gguf_type type);
/* Value of a fixed-size scalar stored little-endian at p, widened into v. */
void gguf_load_scalar(gguf_type type, const void *p, gguf_value *v);
/* Frees the arrays a reader-built value allocated (strings point into the file). */
void gguf_value_free_parsed(gguf_value *v);
/* Integer value widened to a signed/unsigned pair: false when it does not fit. */
bool gguf_value_to_u64(const gguf_value *v, uint64_t *out);
bool gguf_value_to_i64(const gguf_value *v, int64_t *out);

static inline bool gguf_is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }
/* x rounded up to a multiple of the power of two a; false on overflow. */
static inline bool gguf_align_up(uint64_t x, uint64_t a, uint64_t *out) {
    uint64_t y;
    if (__builtin_add_overflow(x, a - 1, &y)) return false;
    *out = y & ~(a - 1);
    return true;
}

#endif
