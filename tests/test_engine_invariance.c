/* Batch invariance of the CPU matmul kernels (what the engine's --deterministic relies on):
 * ct_cpu_qmatmul_invariant gives every token's outputs bit-identical whatever the number of
 * tokens in the call (1..9), wherever the token sits among them, and however the weight rows
 * are split between threads: for every weight type and every kernel level this CPU has.
 *
 * Teeth: the default ct_cpu_qmatmul does differ between one token alone (matrix-vector path)
 * and the same token in a 9-token call (matrix-matrix tiles summing K in chunks), at least on
 * the SIMD levels with K = 2304, longer than every level's K chunk (1024 or 2048 elements).
 *
 * Also a whole forward pass through a context: with batch invariance on, a sequence's logits
 * and hidden states are bit-identical decoded alone or beside 1, 2, 3 or 7 other sequences'
 * tokens (and without it the hidden states do change). */
#include "test_engine_util.h"

#include "backend/cpu/kernels/qk_internal.h"
#include "core/alloc.h"
#include "quant/quant.h"
#include "quant/types.h"

#define K 2304
#define ROWS 20
#define TOKENS 9

static const ct_type types[] = {CT_TYPE_Q4_0, CT_TYPE_Q4_1, CT_TYPE_Q5_0, CT_TYPE_Q5_1, CT_TYPE_Q8_0,
                                CT_TYPE_Q2_K, CT_TYPE_Q3_K, CT_TYPE_Q4_K, CT_TYPE_Q5_K, CT_TYPE_Q6_K,
                                CT_TYPE_F32,  CT_TYPE_F16,  CT_TYPE_BF16};
#define N_TYPES (sizeof types / sizeof types[0])

/* Returns how many outputs the default path changes between 1 and TOKENS tokens. */
static int check_type(const ct_qkernels *k, ct_type type, ct_test_rng *rng) {
    uint64_t rb;
    CHECK_OK(ct_type_row_bytes(type, K, &rb));
    const size_t ab = ct_cpu_act_row_bytes(type, K);
    uint8_t *w = ct_alloc_aligned((size_t)rb * ROWS, "test"), *act = ct_alloc_aligned(ab * TOKENS, "test");
    float *x = malloc(sizeof(float) * K * TOKENS), *all = malloc(sizeof(float) * ROWS * TOKENS),
          *part = malloc(sizeof(float) * ROWS * TOKENS), *one = malloc(sizeof(float) * ROWS);
    for (int64_t r = 0; r < ROWS; r++) {
        for (int64_t i = 0; i < K; i++) x[i] = ct_test_rng_uniform(rng);
        CHECK_OK(ct_quantize_row(type, x, w + (size_t)r * rb, K));
    }
    for (int64_t i = 0; i < (int64_t)K * TOKENS; i++) x[i] = ct_test_rng_uniform(rng);
    for (int t = 0; t < TOKENS; t++) ct_cpu_quantize_activations(k, type, x + (size_t)t * K, K, act + (size_t)t * ab);
    const ct_tensor wt = {.data = w, .type = type, .ne0 = K, .ne1 = ROWS, .row_bytes = (size_t)rb, .name = "w"};

    ct_cpu_qmatmul_invariant(k, &wt, act, TOKENS, all, ROWS, 0, ROWS);
    int bad = 0;
    for (int first = 0; first < TOKENS; first++)
        for (int nt = 1; first + nt <= TOKENS; nt++) {
            /* rows split as two threads might take them */
            int64_t split = (first * 7 + nt * 3) % ROWS;
            ct_cpu_qmatmul_invariant(k, &wt, act + (size_t)first * ab, nt, part, ROWS, 0, split);
            ct_cpu_qmatmul_invariant(k, &wt, act + (size_t)first * ab, nt, part, ROWS, split, ROWS);
            bad += memcmp(part, all + (size_t)first * ROWS, sizeof(float) * ROWS * (size_t)nt) != 0;
        }
    CHECK_MSG(bad == 0, "level %s, %s: %d token windows differ from the 9-token call", ct_cpu_level_name(ct_qkernels_level(k)),
              ct_type_name(type), bad);
    int changed = 0;
    for (int t = 0; t < TOKENS; t++) {
        ct_cpu_qmatmul(k, &wt, act + (size_t)t * ab, 1, one, ROWS, 0, ROWS);
        for (int r = 0; r < ROWS; r++) changed += memcmp(&one[r], &all[(size_t)t * ROWS + r], sizeof(float)) != 0;
    }
    ct_free_aligned(w);
    ct_free_aligned(act);
    free(x);
    free(all);
    free(part);
    free(one);
    return changed;
}

/* The residual stream of batch row 0 after each layer (the hidden state is compared too:
 * the logits come out of an 8-bit-quantized matmul that can hide last-bit differences). */
#define N_LAYER 2
#define N_EMBD 64
static float hidden[N_LAYER][N_EMBD];

static void grab_row0(void *user, int32_t layer, const ct_tensor *x, ct_backend *be) {
    (void)user;
    float *rows = malloc(sizeof(float) * (size_t)x->ne0 * (size_t)x->ne1);
    if (rows && layer < N_LAYER && x->ne0 == N_EMBD && be->read_rows(be, x, rows) == CT_OK)
        memcpy(hidden[layer], rows, sizeof hidden[layer]);
    free(rows);
}

/* Decode one step of sequence 0 beside `others` one-token sequences; its logits and hidden
 * states (out: n_vocab logits then N_LAYER * N_EMBD hidden values). */
static void decode_beside(ct_context *ctx, const ct_token *prompt, int32_t n_prompt, int others, float *out, int32_t n_vocab) {
    for (int32_t s = 0; s < 8; s++) ct_seq_truncate(ctx, s, 0);
    ct_batch b;
    CHECK_OK(ct_batch_init(&b, 64));
    for (int32_t i = 0; i < n_prompt; i++) CHECK_OK(ct_batch_add(&b, prompt[i], i, 0, false));
    for (int s = 1; s <= others; s++)
        for (int32_t i = 0; i < 3; i++) CHECK_OK(ct_batch_add(&b, prompt[(i + s) % n_prompt], i, s, false));
    CHECK_OK(ct_decode(ctx, &b));
    ct_batch_clear(&b);
    CHECK_OK(ct_batch_add(&b, prompt[0], n_prompt, 0, true));
    for (int s = 1; s <= others; s++) CHECK_OK(ct_batch_add(&b, prompt[s], 3, s, true));
    memset(hidden, 0, sizeof hidden);
    ct_context_set_layer_hook(ctx, grab_row0, NULL);
    CHECK_OK(ct_decode(ctx, &b));
    ct_context_set_layer_hook(ctx, NULL, NULL);
    const float *l = ct_get_logits(ctx, 0);
    CHECK(l != NULL);
    if (l) memcpy(out, l, sizeof(float) * (size_t)n_vocab);
    memcpy(out + n_vocab, hidden, sizeof hidden);
    ct_batch_free(&b);
}

int main(void) {
    ct_test_rng rng = {0x1a2b3c4d5e6full};
    for (int level = 0; level < CT_CPU_LEVEL_COUNT; level++) {
        const ct_qkernels *k;
        if (ct_qkernels_for_level((ct_cpu_level)level, &k) != CT_OK) continue;
        int changed = 0;
        for (size_t i = 0; i < N_TYPES; i++) changed += check_type(k, types[i], &rng);
        printf("  level %s: invariant path stable for 1..9 tokens; default path changes %d outputs\n",
               ct_cpu_level_name((ct_cpu_level)level), changed);
        if (level >= CT_CPU_AVX2)
            CHECK_MSG(changed > 0, "level %s: the matrix-vector and matrix-matrix paths agree bit for bit",
                      ct_cpu_level_name((ct_cpu_level)level));
    }

    eng_model m;
    if (!eng_model_open(&m, 3, 2, ENG_FF_LONG)) return 1;
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = 64;
    cp.n_batch = 64;
    cp.n_seq = 8;
    ct_context *ctx = NULL;
    CHECK_OK(ct_context_create(m.model, &cp, &ctx));
    ct_token prompt[11];
    eng_random_prompt(&rng, m.n_vocab, prompt, 11);
    const size_t n_out = (size_t)m.n_vocab + N_LAYER * N_EMBD;
    float *alone = malloc(sizeof(float) * n_out), *beside = malloc(sizeof(float) * n_out);
    if (ctx) {
        ct_context_set_batch_invariant(ctx, true);
        decode_beside(ctx, prompt, 11, 0, alone, m.n_vocab);
        const int others[] = {1, 2, 3, 7};
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
            decode_beside(ctx, prompt, 11, others[i], beside, m.n_vocab);
            CHECK_MSG(!memcmp(alone, beside, sizeof(float) * n_out),
                      "invariant: logits or hidden states change beside %d other sequences", others[i]);
        }
        /* without the flag the 1-token step takes the matrix-vector path, beside 3 others the tiles */
        ct_context_set_batch_invariant(ctx, false);
        decode_beside(ctx, prompt, 11, 0, alone, m.n_vocab);
        decode_beside(ctx, prompt, 11, 3, beside, m.n_vocab);
        CHECK_MSG(memcmp(alone + m.n_vocab, beside + m.n_vocab, sizeof(float) * N_LAYER * N_EMBD) != 0,
                  "default: hidden states alone and beside 3 sequences agree bit for bit (the test lost its teeth)");
    }
    free(alone);
    free(beside);
    ct_context_free(ctx);
    eng_model_close(&m);
    return ct_test_finish("test_engine_invariance");
}
