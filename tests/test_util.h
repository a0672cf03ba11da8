/* A minimal test harness: CHECK-style assertions that count and report, and a skip code.
 * Each tests/test_*.c is one ctest executable; exit 0 = pass, 1 = fail, 77 = skipped. */
#ifndef CT_TEST_UTIL_H
#define CT_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctorch.h"

static int ct_test_checks;
static int ct_test_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        ct_test_checks++;                                                             \
        if (!(cond)) {                                                                \
            ct_test_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        ct_test_checks++;                                                             \
        if (!(cond)) {                                                                \
            ct_test_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

/* expr must return CT_OK; on failure prints the library's message. */
#define CHECK_OK(expr)                                                                   \
    do {                                                                                 \
        ct_test_checks++;                                                                \
        ct_status ct_check_status_ = (expr);                                             \
        if (ct_check_status_ != CT_OK) {                                                 \
            ct_test_failures++;                                                          \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #expr,     \
                    ct_status_name(ct_check_status_), ct_last_error());                  \
        }                                                                                \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                \
    do {                                                                                     \
        ct_test_checks++;                                                                    \
        double ct_a_ = (double)(a), ct_b_ = (double)(b);                                     \
        if (!(fabs(ct_a_ - ct_b_) <= (tol))) {                                               \
            ct_test_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s=%.9g %s=%.9g tol=%g\n", __FILE__, \
                    __LINE__, #a, ct_a_, #b, ct_b_, (double)(tol));                          \
        }                                                                                    \
    } while (0)

#define CT_TEST_SKIP_CODE 77
#define TEST_SKIP(...)                          \
    do {                                        \
        printf("skipped: ");                    \
        printf(__VA_ARGS__);                    \
        printf("\n");                           \
        return CT_TEST_SKIP_CODE;               \
    } while (0)

/* End of main: print a summary and return the exit code. */
static inline int ct_test_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, ct_test_checks, ct_test_failures);
    return ct_test_failures ? 1 : 0;
}

/* Directories: the repo, the shared test data beside it, the model cache. */
static inline const char *ct_test_env_or(const char *var, const char *fallback) {
    const char *v = getenv(var);
    return v && *v ? v : fallback;
}
#define CT_TEST_SHARED_DIR ct_test_env_or("CTORCH_SHARED_DIR", CT_SOURCE_DIR "/../shared")
#define CT_TEST_MODELS_DIR ct_test_env_or("CTORCH_MODELS_DIR", CT_SOURCE_DIR "/models")

/* The whole file at path in a malloc'd buffer with a NUL after its *size bytes (so text
 * files are C strings); NULL (and *size 0) when it cannot be read. Free with free(). */
static inline void *ct_test_read_file(const char *path, size_t *size) {
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *grown = realloc(buf, (cap *= 2) + 1);
        if (!grown) free(buf);
        buf = grown;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (size) *size = n;
    return buf;
}

/* Deterministic random numbers for tests (xorshift64*), never zeros by accident. */
typedef struct { unsigned long long s; } ct_test_rng;
static inline unsigned long long ct_test_rng_next(ct_test_rng *r) {
    r->s ^= r->s >> 12; r->s ^= r->s << 25; r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}
/* uniform in [-1, 1) */
static inline float ct_test_rng_uniform(ct_test_rng *r) {
    return (float)((ct_test_rng_next(r) >> 40) * (1.0 / (1ULL << 24))) * 2.0f - 1.0f;
}

#endif
