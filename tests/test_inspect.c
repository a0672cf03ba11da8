/* `ctorch inspect --json` against golden summaries computed independently by the PyPI gguf
 * reader (tests/scripts/gen_inspect_golden.py): every field of the summary, every metadata
 * entry and every tensor row must be equal. Files that are absent are skipped. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

#define GOLDEN_DIR CT_SOURCE_DIR "/tests/golden/inspect"

/* stdout of a command (NULL on failure); *status = its exit status. */
static char *run_capture(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    int rc = pclose(p);
    *status = rc == -1 ? -1 : (rc >> 8) & 0xff;
    if (buf) buf[len] = '\0';
    return buf;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where the file of a golden summary lives: the shared vocab files, or the model cache. */
static int locate(const char *basename, char *path, size_t size) {
    snprintf(path, size, "%s/testdata/vocab/%s", CT_TEST_SHARED_DIR, basename);
    if (file_exists(path)) return 1;
    snprintf(path, size, "%s/%s", CT_TEST_MODELS_DIR, basename);
    return file_exists(path);
}

static void compare_list(const char *file, const char *field, const char *id_key, const json_t *want,
                         const json_t *got) {
    CHECK_MSG(json_is_array(got), "%s: %s is not an array", file, field);
    if (!json_is_array(got)) return;
    CHECK_MSG(json_array_size(want) == json_array_size(got), "%s: %s has %zu entries, golden %zu", file, field,
              json_array_size(got), json_array_size(want));
    size_t n = json_array_size(want) < json_array_size(got) ? json_array_size(want) : json_array_size(got);
    for (size_t i = 0; i < n; i++) {
        const json_t *w = json_array_get(want, i), *g = json_array_get(got, i);
        if (!json_equal((json_t *)w, (json_t *)g)) {
            char *ws = json_dumps(w, JSON_COMPACT), *gs = json_dumps(g, JSON_COMPACT);
            CHECK_MSG(0, "%s: %s[%zu] (%s): got %s, golden %s", file, field, i,
                      json_string_value(json_object_get(w, id_key)), gs ? gs : "?", ws ? ws : "?");
            free(ws);
            free(gs);
        } else {
            CHECK(1);
        }
    }
}

static void compare_summary(const char *file, const json_t *want, const json_t *got) {
    const char *key;
    json_t *w;
    json_object_foreach((json_t *)want, key, w) {
        if (!strcmp(key, "file")) continue; /* a path, not a property of the file */
        const json_t *g = json_object_get(got, key);
        CHECK_MSG(g != NULL, "%s: field '%s' missing", file, key);
        if (!g) continue;
        if (!strcmp(key, "tensors")) compare_list(file, key, "name", w, g);
        else if (!strcmp(key, "metadata")) compare_list(file, key, "key", w, g);
        else if (!strcmp(key, "type_mix")) compare_list(file, key, "type", w, g);
        else {
            char *ws = json_dumps(w, JSON_ENCODE_ANY | JSON_COMPACT), *gs = json_dumps(g, JSON_ENCODE_ANY | JSON_COMPACT);
            CHECK_MSG(json_equal(w, (json_t *)g), "%s: %s: got %s, golden %s", file, key, gs ? gs : "?", ws ? ws : "?");
            free(ws);
            free(gs);
        }
    }
    json_t *g;
    json_object_foreach((json_t *)got, key, g) CHECK_MSG(json_object_get(want, key) != NULL, "%s: extra field '%s'", file, key);
}

static int check_file(const char *bin, const char *golden_path) {
    json_error_t err;
    json_t *want = json_load_file(golden_path, 0, &err);
    CHECK_MSG(want != NULL, "%s: %s", golden_path, err.text);
    if (!want) return 0;
    const char *base = json_string_value(json_object_get(want, "file"));
    char path[4096];
    if (!base || !locate(base, path, sizeof path)) {
        printf("  %s: file absent, not compared\n", base ? base : golden_path);
        json_decref(want);
        return 0;
    }
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "'%s' inspect --json '%s'", bin, path);
    int status = -1;
    char *out = run_capture(cmd, &status);
    CHECK_MSG(out && status == 0, "%s exited with %d", cmd, status);
    json_t *got = out ? json_loads(out, 0, &err) : NULL;
    CHECK_MSG(got != NULL, "%s: output is not JSON: %s", cmd, out ? err.text : "no output");
    if (got) {
        CHECK(strcmp(json_string_value(json_object_get(got, "file")), path) == 0);
        compare_summary(base, want, got);
        printf("  %s: %zu tensors, %zu metadata keys compared\n", base,
               json_array_size(json_object_get(want, "tensors")), json_array_size(json_object_get(want, "metadata")));
    }
    json_decref(got);
    free(out);
    json_decref(want);
    return 1;
}

int main(void) {
    const char *bin = getenv("CTORCH_BIN");
    if (!bin || !*bin) TEST_SKIP("CTORCH_BIN is not set (ctest sets it to the ctorch binary)");
    DIR *dir = opendir(GOLDEN_DIR);
    if (!dir) {
        fprintf(stderr, "cannot open %s\n", GOLDEN_DIR);
        return 1;
    }
    int compared = 0, goldens = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", GOLDEN_DIR, e->d_name);
        goldens++;
        compared += check_file(bin, path);
    }
    closedir(dir);
    CHECK_MSG(goldens > 0, "no golden files in %s", GOLDEN_DIR);
    if (goldens > 0 && compared == 0) TEST_SKIP("none of the %d GGUF files of the golden summaries is present", goldens);
    printf("%d of %d files compared\n", compared, goldens);
    return ct_test_finish("test_inspect");
}
