/* Every tokenizer test vector in the shared directory (llama.cpp's test set: vocab-only
 * GGUFs with inputs and the ids the model's reference tokenizer gives, no BOS) must come
 * out exactly. Every NAME.gguf with NAME.gguf.inp and NAME.gguf.out is tested. */
#include <dirent.h>
#include <stdbool.h>
#include <string.h>

#include "gguf/gguf.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

static int run_vocab(const char *dir, const char *name) {
    char path[2048], inp_path[2100], out_path[2100];
    if (snprintf(path, sizeof path, "%s/%.1000s", dir, name) >= (int)sizeof path) return -1;
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    size_t inp_len, out_len;
    char *inp = ct_test_read_file(inp_path, &inp_len);
    char *out = ct_test_read_file(out_path, &out_len);
    if (!inp || !out) {
        free(inp);
        free(out);
        return -1; /* not a vector set */
    }
    tt_case *cases;
    int n = tt_parse_vectors(inp, inp_len, out, &cases);
    CHECK_MSG(n > 0, "%s: %d inputs do not match the lines of the .out file", name, n);
    gguf_file *f = NULL;
    ct_tokenizer *tok = NULL;
    CHECK_OK(gguf_open(path, &f));
    if (f) CHECK_OK(ct_tokenizer_load(f, &tok));
    int passed = 0;
    for (int i = 0; tok && i < n; i++) {
        ct_tokens got = {0};
        CHECK_OK(ct_tokenizer_encode(tok, cases[i].text, cases[i].text_len, 0, &got));
        bool same = got.count == cases[i].n_ids &&
                    (got.count == 0 || !memcmp(got.ids, cases[i].ids, got.count * sizeof(int32_t)));
        CHECK_MSG(same, "%s: case %d: '%.*s'", name, i, (int)cases[i].text_len, cases[i].text);
        if (same) passed++;
        else {
            tt_print_ids("expected", cases[i].ids, cases[i].n_ids);
            tt_print_ids("got     ", got.ids, got.count);
        }
        /* and back: the ids decode to the input (all inputs are valid UTF-8) */
        char *text;
        size_t len;
        CHECK_OK(ct_tokenizer_decode(tok, got.ids, got.count, 0, &text, &len));
        CHECK_MSG(len == cases[i].text_len && !memcmp(text, cases[i].text, len), "%s: case %d decodes to '%s'", name,
                  i, text);
        free(text);
        ct_tokens_free(&got);
    }
    printf("%s: %d/%d vectors pass\n", name, passed, n);
    ct_tokenizer_free(tok);
    gguf_close(f);
    tt_free_cases(cases, n > 0 ? n : 0);
    free(inp);
    free(out);
    return passed;
}

int main(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/testdata/vocab", CT_TEST_SHARED_DIR);
    DIR *d = opendir(dir);
    if (!d) TEST_SKIP("no shared vocab vectors at %s", dir);
    int n_vocabs = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0) continue;
        if (run_vocab(dir, e->d_name) >= 0) n_vocabs++;
    }
    closedir(d);
    if (n_vocabs == 0) TEST_SKIP("no NAME.gguf with .inp/.out in %s", dir);
    printf("%d vocabularies\n", n_vocabs);
    return ct_test_finish("test_tokenizer_vectors");
}
