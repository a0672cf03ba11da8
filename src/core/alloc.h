/* Allocation that reports failure as a status and checks sizes for overflow. */
#ifndef CT_CORE_ALLOC_H
#define CT_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* a*b and a+b without wrap-around; false when the result does not fit. */
static inline bool ct_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool ct_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }

/* malloc/calloc/realloc of count*size bytes; on failure (or overflow) return NULL
 * and set the error message naming `what`. */
void *ct_alloc_array(size_t count, size_t size, const char *what);
void *ct_calloc_array(size_t count, size_t size, const char *what);
void *ct_realloc_array(void *ptr, size_t count, size_t size, const char *what);
/* 64-byte aligned, for SIMD rows; free with ct_free_aligned. */
void *ct_alloc_aligned(size_t bytes, const char *what);
void ct_free_aligned(void *ptr);
/* strdup of the first len bytes, NUL-terminated. */
char *ct_strndup(const char *s, size_t len, const char *what);

#endif
