/* ctorch's GGUF reader against the PyPI gguf package's reader on real files: the tokenizer
 * vocabularies in ${CTORCH_SHARED_DIR}/testdata/vocab and the real models in
 * ${CTORCH_MODELS_DIR}. tests/scripts/gen_gguf_golden.py recorded what GGUFReader sees
 * (header, every key with its type and value or array digest, every tensor's name, type,
 * shape, absolute offset, size and first bytes) in tests/golden/gguf/<basename>.txt; this test
 * prints the same facts from our reader and compares every line. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "test_gguf_dump.h"
#include "test_util.h"

static const char *const real_models[] = {"SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *read_text_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[65536];
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *grown = realloc(buf, cap);
            if (!grown) break;
            buf = grown;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(fp);
    if (buf) buf[len] = '\0';
    return buf;
}

/* Next line of *cursor that is not a '#' comment (NUL-terminated in place), or NULL. */
static char *next_line(char **cursor) {
    while (*cursor && **cursor) {
        char *line = *cursor, *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
            *cursor = nl + 1;
        } else {
            *cursor = line + strlen(line);
        }
        if (line[0] != '#') return line;
    }
    return NULL;
}

static void compare_with_golden(const gguf_file *f, const char *name) {
    char golden_path[4096];
    snprintf(golden_path, sizeof golden_path, "%s/tests/golden/gguf/%s.txt", CT_SOURCE_DIR, name);
    char *golden = read_text_file(golden_path);
    CHECK_MSG(golden != NULL, "missing golden file %s (run tests/scripts/gen_gguf_golden.py)", golden_path);
    char *ours = NULL;
    size_t ours_len = 0;
    FILE *mem = open_memstream(&ours, &ours_len);
    CHECK(mem != NULL);
    if (!golden || !mem) {
        free(golden);
        if (mem) fclose(mem);
        free(ours);
        return;
    }
    gguf_dump(f, mem);
    fclose(mem);
    char *g = golden, *o = ours;
    int line = 0, mismatches = 0;
    for (;;) {
        char *gl = next_line(&g), *ol = next_line(&o);
        if (!gl && !ol) break;
        line++;
        bool same = gl && ol && strcmp(gl, ol) == 0;
        if (!same && ++mismatches <= 5)
            fprintf(stderr, "%s: line %d differs:\n  gguf (PyPI): %.300s\n  ctorch:      %.300s\n", name, line,
                    gl ? gl : "(end)", ol ? ol : "(end)");
        CHECK(same);
        if (!gl || !ol) break;
    }
    printf("%s: %d lines compared, %d differ\n", name, line, mismatches);
    free(golden);
    free(ours);
}

/* Name lookups agree with positions. */
static void check_lookups(const gguf_file *f) {
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        char key[512];
        if (kv->key.len >= sizeof key) continue;
        memcpy(key, kv->key.data, kv->key.len);
        key[kv->key.len] = '\0';
        CHECK(gguf_find(f, key) == &kv->value);
    }
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(f, i);
        CHECK(gguf_find_tensor(f, t->name) == t);
    }
    CHECK(gguf_find(f, "no.such.key") == NULL);
    CHECK(gguf_find_tensor(f, "no.such.tensor") == NULL);
}

static void check_file(const char *path, const char *name, double max_open_ms) {
    gguf_file *f = NULL;
    double t0 = now_ms();
    ct_status st = gguf_open(path, &f);
    double ms = now_ms() - t0;
    CHECK_OK(st);
    if (st != CT_OK) return;
    printf("%s: opened in %.1f ms (%llu keys, %llu tensors)\n", name, ms, (unsigned long long)gguf_kv_count(f),
           (unsigned long long)gguf_tensor_count(f));
    /* Generous bound (sanitizer builds, busy CI): a linear-time open takes a few ms; this
     * catches accidental quadratic work on 10^5-entry vocabularies. */
    CHECK_MSG(ms < max_open_ms, "%s: open took %.1f ms", name, ms);
    compare_with_golden(f, name);
    check_lookups(f);
    gguf_close(f);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int check_vocab_dir(void) {
    char dir_path[4096];
    snprintf(dir_path, sizeof dir_path, "%s/testdata/vocab", CT_TEST_SHARED_DIR);
    DIR *dir = opendir(dir_path);
    if (!dir) {
        printf("skipped vocab files: %s is absent\n", dir_path);
        return 0;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".gguf") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir_path, names[i]);
        check_file(path, names[i], 2000.0);
        free(names[i]);
    }
    CHECK_MSG(n > 0, "no .gguf files in %s", dir_path);
    return n;
}

int main(void) {
    int checked = check_vocab_dir();
    for (size_t i = 0; i < sizeof real_models / sizeof real_models[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", CT_TEST_MODELS_DIR, real_models[i]);
        if (access(path, R_OK) != 0) {
            printf("skipped model %s: %s is absent\n", real_models[i], path);
            continue;
        }
        check_file(path, real_models[i], 2000.0);
        checked++;
    }
    if (checked == 0) TEST_SKIP("no vocab files in %s and no models in %s", CT_TEST_SHARED_DIR, CT_TEST_MODELS_DIR);
    return ct_test_finish("test_gguf_shared_vocab");
}
