/* Token ids against independent implementations (tests/golden/tokenizer/, made once by
 * tests/scripts/gen_tokenizer_golden.py):
 *   - every pre-tokenizer regex set over the GPT-2 vocabulary, against HF `tokenizers`
 *     (Oniguruma regexes): pre.inp with pre-<name>.out;
 *   - the real models' tokenizers (SmolLM2, Gemma 3), against HF transformers reading the
 *     same GGUF file: <model>.inp/.out with BOS as the model adds it, and
 *     <model>-special.inp/.out with control tokens parsed from the text. */
#include <stdbool.h>
#include <string.h>

#include "gguf/gguf.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"

#define GOLDEN_DIR CT_SOURCE_DIR "/tests/golden/tokenizer"

/* Compare encode(inputs) with the expected ids; returns the number that match. */
static int check_set(const ct_tokenizer *tok, const char *label, const char *inp_path, const char *out_path,
                     unsigned flags, int *n_cases) {
    size_t inp_len, out_len;
    char *inp = ct_test_read_file(inp_path, &inp_len);
    char *out = ct_test_read_file(out_path, &out_len);
    CHECK_MSG(inp && out, "cannot read %s / %s", inp_path, out_path);
    *n_cases = 0;
    if (!inp || !out) {
        free(inp);
        free(out);
        return 0;
    }
    tt_case *cases;
    int n = tt_parse_vectors(inp, inp_len, out, &cases);
    CHECK_MSG(n > 0, "%s: inputs and expected lines disagree", label);
    int passed = 0;
    for (int i = 0; i < n; i++) {
        ct_tokens got = {0};
        CHECK_OK(ct_tokenizer_encode(tok, cases[i].text, cases[i].text_len, flags, &got));
        bool same = got.count == cases[i].n_ids &&
                    (got.count == 0 || !memcmp(got.ids, cases[i].ids, got.count * sizeof(int32_t)));
        CHECK_MSG(same, "%s: case %d: '%.*s'", label, i, (int)cases[i].text_len, cases[i].text);
        if (same) passed++;
        else {
            tt_print_ids("expected", cases[i].ids, cases[i].n_ids);
            tt_print_ids("got     ", got.ids, got.count);
        }
        ct_tokens_free(&got);
    }
    printf("%s: %d/%d match\n", label, passed, n);
    *n_cases = n > 0 ? n : 0;
    tt_free_cases(cases, n > 0 ? n : 0);
    free(inp);
    free(out);
    return passed;
}

static const char *const pre_names[] = {
    "default", "gpt-2", "llama-bpe", "dbrx", "qwen2", "starcoder", "falcon",
    "deepseek-llm", "deepseek-coder", "deepseek-v3", "poro-chat", "viking",
};

static bool test_pre_tokenizers(void) {
    char path[2048];
    snprintf(path, sizeof path, "%s/testdata/vocab/ggml-vocab-gpt-2.gguf", CT_TEST_SHARED_DIR);
    gguf_file *f = NULL;
    if (gguf_open(path, &f) != CT_OK) {
        printf("skipped: pre-tokenizer goldens need %s\n", path);
        return false;
    }
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        ct_tokenizer *tok = NULL;
        CHECK_OK(tok_load_with_pre(f, pre_names[i], &tok));
        if (!tok) continue;
        char out_path[512], label[128];
        snprintf(out_path, sizeof out_path, GOLDEN_DIR "/pre-%s.out", pre_names[i]);
        snprintf(label, sizeof label, "pre-tokenizer %s", pre_names[i]);
        int n;
        check_set(tok, label, GOLDEN_DIR "/pre.inp", out_path, 0, &n);
        ct_tokenizer_free(tok);
    }
    gguf_close(f);
    return true;
}

static int32_t id_of(const ct_tokenizer *tok, const char *text) { return ct_tokenizer_find(tok, text, strlen(text)); }

/* Special ids and flags as the GGUF metadata and llama.cpp's rules give them. */
static void check_facts(const char *key, const ct_tokenizer *tok) {
    if (!strcmp(key, "smollm2")) {
        CHECK(ct_tokenizer_kind(tok) == CT_VOCAB_BPE && !strcmp(ct_tokenizer_pre_name(tok), "smollm"));
        CHECK(ct_tokenizer_bos(tok) == 1 && ct_tokenizer_eos(tok) == 2 && !ct_tokenizer_adds_bos(tok));
        CHECK(ct_tokenizer_eot(tok) == id_of(tok, "<|im_end|>") && ct_tokenizer_eot(tok) == 2);
        CHECK(ct_tokenizer_is_eog(tok, 2) && ct_tokenizer_is_eog(tok, id_of(tok, "<|endoftext|>")));
        CHECK(ct_tokenizer_is_eog(tok, id_of(tok, "<reponame>"))); /* llama.cpp's FIM repo token */
        CHECK(!ct_tokenizer_is_eog(tok, id_of(tok, "<|im_start|>")));
    } else {
        CHECK(ct_tokenizer_kind(tok) == CT_VOCAB_SPM && ct_tokenizer_n_vocab(tok) == 262144);
        CHECK(ct_tokenizer_bos(tok) == 2 && ct_tokenizer_eos(tok) == 1 && ct_tokenizer_adds_bos(tok));
        CHECK(!ct_tokenizer_adds_space_prefix(tok) && !ct_tokenizer_adds_eos(tok));
        CHECK(ct_tokenizer_eot(tok) == id_of(tok, "<end_of_turn>") && ct_tokenizer_eot(tok) >= 0);
        CHECK(ct_tokenizer_is_eog(tok, 1) && ct_tokenizer_is_eog(tok, ct_tokenizer_eot(tok)));
        CHECK(!ct_tokenizer_is_eog(tok, id_of(tok, "<start_of_turn>")));
        CHECK(ct_tokenizer_token_type(tok, id_of(tok, "\n\n")) == CT_TOKEN_USER_DEFINED);
    }
}

static bool test_model(const char *key, const char *file) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", CT_TEST_MODELS_DIR, file);
    gguf_file *f = NULL;
    if (gguf_open(path, &f) != CT_OK) {
        printf("skipped: %s not found at %s\n", key, path);
        return false;
    }
    ct_tokenizer *tok = NULL;
    CHECK_OK(ct_tokenizer_load(f, &tok));
    if (tok) {
        check_facts(key, tok);
        char inp[512], out[512], label[128];
        int n;
        snprintf(inp, sizeof inp, GOLDEN_DIR "/%s.inp", key);
        snprintf(out, sizeof out, GOLDEN_DIR "/%s.out", key);
        snprintf(label, sizeof label, "%s (HF transformers)", key);
        check_set(tok, label, inp, out, CT_ENCODE_ADD_SPECIAL, &n);
        snprintf(inp, sizeof inp, GOLDEN_DIR "/%s-special.inp", key);
        snprintf(out, sizeof out, GOLDEN_DIR "/%s-special.out", key);
        snprintf(label, sizeof label, "%s chat text (HF transformers)", key);
        check_set(tok, label, inp, out, CT_ENCODE_ADD_SPECIAL | CT_ENCODE_PARSE_SPECIAL, &n);
    }
    ct_tokenizer_free(tok);
    gguf_close(f);
    return true;
}

int main(void) {
    int ran = 0;
    ran += test_pre_tokenizers();
    ran += test_model("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf");
    ran += test_model("gemma3", "gemma-3-270m-q4_k_m.gguf");
    if (!ran) TEST_SKIP("neither the shared GPT-2 vocabulary nor the models are present");
    return ct_test_finish("test_tokenizer_golden");
}
