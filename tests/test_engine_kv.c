/* The paged KV cache, through contexts of the tiny synthetic model:
 *   - block accounting: a pool of 7 blocks of 8 cells shared by 3 sequences; blocks taken as
 *     sequences grow and returned when they are truncated or cleared; a batch that needs more
 *     blocks than are free fails with CT_ERR_RANGE ("KV cache full") taking nothing, and the
 *     cache stays usable;
 *   - every stored position of every sequence has its own cell, inside the pool;
 *   - paging is invisible to the model: two sequences decoded interleaved through 4-cell
 *     blocks (their blocks alternate in the pool, reused out of order after a truncation)
 *     give bit-identical logits to the same batches in a cache of one contiguous block per
 *     sequence;
 *   - ct_context_create's default pool holds every sequence's whole context. */
#include "test_engine_util.h"

static ct_status decode_run(ct_context *ctx, int32_t seq, int32_t pos0, const ct_token *tok, int32_t n) {
    ct_batch b;
    ct_status st = ct_batch_init(&b, n);
    for (int32_t i = 0; st == CT_OK && i < n; i++) st = ct_batch_add(&b, tok[i], pos0 + i, seq, i == n - 1);
    if (st == CT_OK) st = ct_decode(ctx, &b);
    ct_batch_free(&b);
    return st;
}

static void check_cells_distinct(const ct_context *ctx) {
    const ct_kv_cache *kv = &ctx->kv;
    int64_t cells = (int64_t)kv->n_blocks * kv->block_size;
    char *used = calloc((size_t)cells, 1);
    int clash = 0, outside = 0;
    for (int32_t s = 0; s < kv->n_seq; s++)
        for (int32_t p = 0; p < kv->seq_len[s]; p++) {
            int64_t c = ct_kv_view_cell(&kv->views[s], p);
            if (c < 0 || c >= cells) outside++;
            else clash += used[c]++ > 0;
        }
    CHECK_MSG(clash == 0 && outside == 0, "%d positions share a cell, %d lie outside the pool", clash, outside);
    int32_t held = 0;
    for (int32_t s = 0; s < kv->n_seq; s++) held += kv->seq_blocks[s];
    CHECK_MSG(held + kv->n_free == kv->n_blocks, "%d blocks held + %d free != %d", held, kv->n_free, kv->n_blocks);
    free(used);
}

static void accounting(const eng_model *m, ct_test_rng *rng) {
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = 40;
    cp.n_batch = 40;
    cp.n_seq = 3;
    ct_context *ctx = NULL;
    CHECK_OK(ct_context_create_paged(m->model, &cp, 8, 7, &ctx));
    if (!ctx) return;
    const ct_kv_cache *kv = &ctx->kv;
    CHECK(kv->n_blocks == 7 && kv->block_size == 8 && kv->n_free == 7 && kv->max_blocks == 5);
    ct_token tok[40];
    eng_random_prompt(rng, m->n_vocab, tok, 40);

    CHECK_OK(decode_run(ctx, 0, 0, tok, 17)); /* 3 blocks */
    CHECK(ct_seq_len(ctx, 0) == 17 && kv->seq_blocks[0] == 3 && kv->n_free == 4);
    ct_status st = decode_run(ctx, 1, 0, tok, 33); /* 5 blocks > 4 free */
    CHECK(st == CT_ERR_RANGE && strstr(ct_last_error(), "KV cache full"));
    CHECK(ct_seq_len(ctx, 1) == 0 && kv->seq_blocks[1] == 0 && kv->n_free == 4);
    CHECK_OK(decode_run(ctx, 1, 0, tok, 32)); /* exactly the 4 left */
    CHECK(kv->n_free == 0);
    check_cells_distinct(ctx);

    /* one batch: seq 0 fits its third block, seq 2 needs a block: all or nothing */
    ct_batch b;
    CHECK_OK(ct_batch_init(&b, 4));
    CHECK_OK(ct_batch_add(&b, tok[17], 17, 0, true));
    CHECK_OK(ct_batch_add(&b, tok[0], 0, 2, true));
    st = ct_decode(ctx, &b);
    CHECK(st == CT_ERR_RANGE && strstr(ct_last_error(), "KV cache full"));
    CHECK(ct_seq_len(ctx, 0) == 17 && ct_seq_len(ctx, 2) == 0 && kv->n_free == 0);
    /* seq 0 alone still decodes within its blocks */
    ct_batch_clear(&b);
    CHECK_OK(ct_batch_add(&b, tok[17], 17, 0, true));
    CHECK_OK(ct_decode(ctx, &b));
    CHECK(ct_seq_len(ctx, 0) == 18 && kv->n_free == 0);
    ct_batch_free(&b);

    CHECK_OK(ct_seq_truncate(ctx, 0, 9)); /* keeps 2 blocks */
    CHECK(ct_seq_len(ctx, 0) == 9 && kv->seq_blocks[0] == 2 && kv->n_free == 1);
    CHECK_OK(decode_run(ctx, 2, 0, tok, 8));
    CHECK(kv->n_free == 0 && kv->seq_blocks[2] == 1);
    check_cells_distinct(ctx);
    CHECK_OK(ct_seq_truncate(ctx, 1, 0));
    CHECK(kv->seq_blocks[1] == 0 && kv->n_free == 4);
    /* a sequence cannot outgrow n_ctx whatever the pool */
    CHECK_OK(ct_seq_truncate(ctx, 2, 0));
    CHECK_OK(decode_run(ctx, 0, 9, tok, 31)); /* 40 positions */
    st = decode_run(ctx, 0, 40, tok, 1);
    CHECK(st == CT_ERR_RANGE && strstr(ct_last_error(), "context full"));
    check_cells_distinct(ctx);
    ct_context_free(ctx);

    /* the default pool: every sequence can hold n_ctx positions */
    cp.n_seq = 4;
    CHECK_OK(ct_context_create(m->model, &cp, &ctx));
    if (ctx) CHECK(ctx->kv.n_blocks == 4 * ((40 + CT_KV_BLOCK_SIZE_DEFAULT - 1) / CT_KV_BLOCK_SIZE_DEFAULT));
    ct_context_free(ctx);
}

/* Two sequences decoded interleaved; the last logits of each step of seq 0 and 1. */
static void interleaved(ct_context *ctx, const ct_token *tok, float *out, int32_t n_vocab) {
    int32_t len[2] = {0, 0};
    int k = 0;
    for (int round = 0; round < 6; round++) {
        for (int32_t s = 0; s < 2; s++) {
            int32_t n = 1 + (round * 3 + s * 5) % 7;
            CHECK_OK(decode_run(ctx, s, len[s], tok + len[s], n));
            len[s] += n;
            const float *l = ct_get_logits(ctx, n - 1);
            if (l) memcpy(out + (size_t)k * n_vocab, l, sizeof(float) * (size_t)n_vocab);
            k++;
        }
        if (round == 2) {
            /* free seq 0's tail and regrow it: blocks come back in another order */
            CHECK_OK(ct_seq_truncate(ctx, 0, 3));
            len[0] = 3;
        }
    }
}

static void paging_invisible(const eng_model *m, ct_test_rng *rng) {
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = 64;
    cp.n_batch = 16;
    cp.n_seq = 2;
    ct_context *paged = NULL, *flat = NULL;
    CHECK_OK(ct_context_create_paged(m->model, &cp, 4, 0, &paged));
    CHECK_OK(ct_context_create_paged(m->model, &cp, 64, 0, &flat));
    if (!paged || !flat) return;
    CHECK(paged->kv.block_size == 4 && flat->kv.block_size == 64 && flat->kv.n_blocks == 2);
    ct_token tok[64];
    eng_random_prompt(rng, m->n_vocab, tok, 64);
    float *a = malloc(sizeof(float) * 12 * (size_t)m->n_vocab), *b = malloc(sizeof(float) * 12 * (size_t)m->n_vocab);
    interleaved(paged, tok, a, m->n_vocab);
    interleaved(flat, tok, b, m->n_vocab);
    /* the paged cache really scattered sequence 0: its blocks are not consecutive */
    const int32_t *t0 = paged->kv.views[0].blocks;
    int scattered = 0;
    for (int32_t i = 1; i < paged->kv.seq_blocks[0]; i++) scattered += t0[i] != t0[i - 1] + 1;
    CHECK(scattered > 0);
    check_cells_distinct(paged);
    CHECK_MSG(!memcmp(a, b, sizeof(float) * 12 * (size_t)m->n_vocab), "paged and contiguous caches give different logits");
    free(a);
    free(b);
    ct_context_free(paged);
    ct_context_free(flat);
}

int main(void) {
    eng_model m;
    if (!eng_model_open(&m, 5, 2, ENG_FF_SHORT)) return 1;
    ct_test_rng rng = {0xcafe1234ull};
    accounting(&m, &rng);
    paging_invisible(&m, &rng);
    eng_model_close(&m);
    return ct_test_finish("test_engine_kv");
}
