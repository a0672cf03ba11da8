/* Private to the GGUF writer: what gguf_writer.c builds and gguf_write.c streams out. */
#ifndef CT_GGUF_WRITER_INTERNAL_H
#define CT_GGUF_WRITER_INTERNAL_H

#include <stdio.h>

#include "gguf/gguf_internal.h"

/* A key and a value that owns copies of all its strings and arrays. */
typedef struct gguf_writer_kv {
    char *key;
    gguf_value value;
} gguf_writer_kv;

typedef struct gguf_writer_tensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    uint64_t offset;  /* in the data section, set by gguf_writer_begin() */
    const void *data; /* borrowed; NULL when streamed */
} gguf_writer_tensor;

struct gguf_writer {
    gguf_writer_kv *kvs;
    uint64_t n_kv, cap_kv;
    gguf_writer_tensor *tensors;
    uint64_t n_tensors, cap_tensors;

    /* streaming state, between gguf_writer_begin() and gguf_writer_finish() */
    FILE *out;
    char *path;
    uint64_t pos;
    uint64_t alignment;
    uint64_t data_start;
    uint64_t next_tensor;
};

/* The key's value, or NULL. */
const gguf_value *gguf_writer_find(const gguf_writer *w, const char *key);

#endif
