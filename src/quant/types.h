/* Per-type facts: name, block size, bytes per block. */
#ifndef CT_QUANT_TYPES_H
#define CT_QUANT_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "quant/blocks.h"

typedef struct ct_type_traits {
    const char *name;     /* "Q4_K" */
    uint32_t block_size;  /* elements per block (1 for F32/F16/BF16) */
    uint32_t type_size;   /* bytes per block */
    bool quantized;
} ct_type_traits;

/* Traits of a supported type id, or NULL for an id ctorch does not handle. */
const ct_type_traits *ct_type_traits_of(uint32_t type_id);

/* Name of any ggml type id (also ones ctorch does not support, for messages); "unknown" else. */
const char *ct_type_name(uint32_t type_id);

/* Parse a type name ("q4_k", "F16", case-insensitive). */
ct_status ct_type_from_name(const char *name, ct_type *out);

/* Bytes of a row of n elements; fails (naming the type) if n is not a multiple of the
 * block size or the size overflows. */
ct_status ct_type_row_bytes(ct_type type, uint64_t n, uint64_t *bytes);

#endif
