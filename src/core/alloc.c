#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

static void *report_oom(size_t count, size_t size, const char *what) {
    ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory allocating %zu x %zu bytes for %s", count, size,
            what ? what : "(unnamed)");
    return NULL;
}

void *ct_alloc_array(size_t count, size_t size, const char *what) {
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) return report_oom(count, size, what);
    void *p = malloc(bytes ? bytes : 1);
    return p ? p : report_oom(count, size, what);
}

void *ct_calloc_array(size_t count, size_t size, const char *what) {
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) return report_oom(count, size, what);
    void *p = calloc(count ? count : 1, size ? size : 1);
    return p ? p : report_oom(count, size, what);
}

void *ct_realloc_array(void *ptr, size_t count, size_t size, const char *what) {
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) return report_oom(count, size, what);
    void *p = realloc(ptr, bytes ? bytes : 1);
    return p ? p : report_oom(count, size, what);
}

void *ct_alloc_aligned(size_t bytes, const char *what) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) return report_oom(1, bytes, what);
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    return p ? p : report_oom(1, bytes, what);
}

void ct_free_aligned(void *ptr) { free(ptr); }

char *ct_strndup(const char *s, size_t len, const char *what) {
    char *p = ct_alloc_array(len + 1, 1, what);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
