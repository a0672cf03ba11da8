/* Synthetic models run: for each architecture, a small `synth` model (generated vocabulary,
 * random weights) loads through the public API, its tokenizer encodes text, and a forward
 * pass over a prompt and two decoded tokens gives finite, non-degenerate logits. This is what
 * synth's weight statistics are for (deviation 0.02, norms ~1): nothing overflows. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctorch.h"
#include "synth/synth.h"
#include "test_util.h"

static char tmp_dir[256];

typedef struct arch_case {
    synth_arch arch;
    const char *type;
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
} arch_case;

static void check_logits(const char *what, const float *logits, int32_t n_vocab) {
    CHECK_MSG(logits != NULL, "%s: no logits", what);
    if (!logits) return;
    double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
    int bad = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        if (!isfinite(logits[i])) {
            bad++;
            continue;
        }
        sum += logits[i];
        sq += (double)logits[i] * logits[i];
        if (logits[i] < lo) lo = logits[i];
        if (logits[i] > hi) hi = logits[i];
    }
    double mean = sum / n_vocab, std = sqrt(sq / n_vocab - mean * mean);
    CHECK_MSG(bad == 0, "%s: %d non-finite logits", what, bad);
    /* random weights give logits of deviation ~0.5-1.5 (seen 0.48-1.36 over the presets);
     * bounds two orders of magnitude wide catch both a collapsed and an exploding pass */
    CHECK_MSG(std > 0.01 && std < 100.0, "%s: logits deviation %g", what, std);
    CHECK_MSG(hi > lo, "%s: all logits equal", what);
}

static void run_case(const arch_case *c) {
    synth_options opt = {.seed = 11, .n_threads = 2};
    synth_hparams_defaults(c->arch, &opt.hp);
    opt.hp.n_embd = c->n_embd, opt.hp.n_layer = c->n_layer, opt.hp.n_head = c->n_head;
    opt.hp.n_head_kv = c->n_head_kv, opt.hp.head_dim = c->head_dim, opt.hp.n_ff = c->n_ff;
    opt.hp.n_vocab = 600, opt.hp.n_ctx = 256;
    synth_hparams_complete(&opt.hp);
    CHECK_OK(synth_ftype_parse(c->type, &opt.ftype));
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", tmp_dir, synth_arch_name(c->arch));
    opt.out_path = path;
    CHECK_OK(synth_write(&opt, NULL));

    char what[128];
    snprintf(what, sizeof what, "%s %s", synth_arch_name(c->arch), c->type);
    ct_model_params mp = ct_model_params_default();
    mp.n_threads = 2;
    ct_model *m = NULL;
    ct_status st = ct_model_load(path, &mp, &m);
    CHECK_MSG(st == CT_OK, "%s: load: %s", what, ct_last_error());
    if (st != CT_OK) {
        remove(path);
        return;
    }
    ct_model_info info;
    ct_model_get_info(m, &info);
    CHECK(!strcmp(info.arch, synth_arch_name(c->arch)) && info.n_vocab == 600 && info.n_layer == (int32_t)c->n_layer);

    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = 64;
    ct_context *ctx = NULL;
    CHECK_OK(ct_context_create(m, &cp, &ctx));
    const char text[] = "Once upon a time, in 2024, a tiny model said: hello!";
    ct_token *toks = NULL;
    size_t n = 0;
    CHECK_OK(ct_tokenize(m, text, sizeof text - 1, true, false, &toks, &n));
    ct_batch b;
    CHECK_OK(ct_batch_init(&b, 64));
    if (ctx && toks && n > 1) {
        for (size_t i = 0; i < n; i++) CHECK_OK(ct_batch_add(&b, toks[i], (int32_t)i, 0, i + 1 == n));
        CHECK_OK(ct_decode(ctx, &b));
        check_logits(what, ct_get_logits(ctx, (int32_t)n - 1), info.n_vocab);
        /* two greedy steps */
        for (int step = 0; step < 2; step++) {
            const float *l = ct_get_logits(ctx, b.n_tokens - 1);
            if (!l) break;
            ct_token best = 0;
            for (int32_t i = 1; i < info.n_vocab; i++)
                if (l[i] > l[best]) best = i;
            ct_batch_clear(&b);
            CHECK_OK(ct_batch_add(&b, best, (int32_t)(n + (size_t)step), 0, true));
            CHECK_OK(ct_decode(ctx, &b));
            check_logits(what, ct_get_logits(ctx, 0), info.n_vocab);
        }
    }
    printf("  %s: %zu prompt tokens, forward ok\n", what, n);
    ct_batch_free(&b);
    ct_free(toks);
    ct_context_free(ctx);
    ct_model_free(m);
    remove(path);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "%s/ctorch-synth-fwd-XXXXXX", ct_test_env_or("TMPDIR", "/tmp"));
    if (!mkdtemp(tmp_dir)) return 1;
    static const arch_case cases[] = {
        {SYNTH_ARCH_LLAMA, "q4_k_m", 256, 2, 4, 2, 64, 512},
        {SYNTH_ARCH_QWEN2, "q8_0", 128, 2, 4, 2, 32, 256},
        {SYNTH_ARCH_GEMMA3, "q4_k_m", 128, 2, 2, 1, 128, 256}, /* q is n_head * head_dim = 256 wide */
        {SYNTH_ARCH_GPT2, "f16", 128, 2, 4, 4, 32, 512},
        {SYNTH_ARCH_LLAMA, "q6_k", 256, 1, 4, 4, 64, 256},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    rmdir(tmp_dir);
    return ct_test_finish("test_synth_forward");
}
