/* The engine on the real SmolLM2-135M (skipped when models/ lacks it): 16 text prompts of
 * different lengths (3 to ~60 tokens) submitted together to a deterministic engine, with
 * chunked prefill (chunks of 16) and 6 sequences at a time, give greedy tokens and logits
 * bit-identical to each prompt run alone through a single-sequence context with
 * batch-invariant kernels. A sanitizer build (~20x slower) runs 4 prompts and 2 tokens. */
#include "test_engine_record.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static const char *const texts[] = {
    "The capital of France is",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
    "1, 2, 3,",
    "def fibonacci(n):",
    "The three primary colors are",
    "Water boils at",
    "In 1969, the first humans landed on the Moon. The mission was called",
    "A haiku about autumn:",
    "The quick brown fox",
    "Question: What is the largest planet in the solar system?\nAnswer:",
    "Translate to French: Good morning, how are you?\nFrench:",
    "The recipe for pancakes needs flour, eggs, milk and",
    "Hi",
    "Photosynthesis is the process by which plants convert sunlight, water and carbon dioxide into glucose and "
    "oxygen. It takes place mainly in the leaves, inside structures called",
    "The best way to learn a new language is",
    "Roses are red, violets are blue,",
};
#define N_TEXTS (sizeof texts / sizeof texts[0])

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", CT_TEST_MODELS_DIR);
    FILE *f = fopen(path, "rb");
    if (!f) TEST_SKIP("%s absent (scripts/fetch_models.sh fetches it)", path);
    fclose(f);
    ct_log_set_level(CT_LOG_ERROR);
    eng_model m = {0};
    ct_model_params mp = ct_model_params_default();
    mp.n_threads = 2;
    CHECK_OK(ct_model_load(path, &mp, &m.model));
    if (!m.model) return ct_test_finish("test_engine_smollm2");
    ct_model_info info;
    ct_model_get_info(m.model, &info);
    m.n_vocab = info.n_vocab;

    const size_t n_prompts = SANITIZED ? 4 : N_TEXTS;
    const int32_t max_tokens = SANITIZED ? 2 : 8;
    ct_token *prompt[N_TEXTS];
    size_t n_prompt[N_TEXTS];
    eng_reference ref[N_TEXTS];
    for (size_t i = 0; i < n_prompts; i++) {
        CHECK_OK(ct_tokenize(m.model, texts[i], strlen(texts[i]), true, true, &prompt[i], &n_prompt[i]));
        CHECK_OK(eng_reference_run(&m, prompt[i], (int32_t)n_prompt[i], max_tokens, true, &ref[i]));
    }

    ct_engine_params ep = ct_engine_params_default();
    ep.n_parallel = 6;
    ep.n_ctx = 128;
    ep.chunk_size = 16;
    ep.max_batch_tokens = 40;
    ep.deterministic = true;
    ct_engine *e = NULL;
    CHECK_OK(ct_engine_create(m.model, &ep, &e));
    eng_record rec[N_TEXTS];
    for (size_t i = 0; e && i < n_prompts; i++) {
        eng_record_init(&rec[i], m.n_vocab, true);
        ct_request_params rp = eng_greedy_request(prompt[i], (int32_t)n_prompt[i], max_tokens, &rec[i]);
        CHECK_OK(ct_engine_submit(e, &rp, &rec[i].id));
    }
    if (e) CHECK_OK(ct_engine_run(e));
    int same = 0;
    for (size_t i = 0; e && i < n_prompts; i++) {
        bool ok = eng_same_bits(&rec[i], &ref[i], m.n_vocab);
        CHECK_MSG(ok, "prompt %zu (%zu tokens): %d tokens batched, %d alone", i, n_prompt[i], rec[i].n_tokens,
                  ref[i].n_tokens);
        same += ok;
        CHECK(rec[i].n_final == 1 && rec[i].bad_index == 0);
    }
    /* a known continuation, so the comparison is not between two broken runs */
    char *text = NULL;
    size_t len = 0;
    if (e && rec[0].n_tokens > 0) CHECK_OK(ct_detokenize(m.model, rec[0].tokens, (size_t)rec[0].n_tokens, false, &text, &len));
    CHECK_MSG(text && strstr(text, "Paris"), "'The capital of France is' continued with '%s'", text ? text : "");
    printf("  %d/%zu prompts bit-identical batched and alone; first: '%s'\n", same, n_prompts, text ? text : "");
    ct_free(text);
    for (size_t i = 0; i < n_prompts; i++) {
        if (e) eng_record_free(&rec[i]);
        eng_reference_free(&ref[i]);
        ct_free(prompt[i]);
    }
    ct_engine_free(e);
    ct_model_free(m.model);
    return ct_test_finish("test_engine_smollm2");
}
