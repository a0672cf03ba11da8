/* The CUDA backend's core (src/backend/cuda/backend_cuda.c), on a GPU:
 *   - CUDA graphs: decode steps replayed from a captured graph give bit-identical logits to
 *     the same steps run op by op (graphs off), and the replay really happened (statistics);
 *   - several sequences decoded in one batch (ragged positions) agree with each run alone;
 *   - errors: an allocation larger than the GPU names what was needed and what is free; an op
 *     outside begin()/end() is reported, not run.
 * Skipped without a CUDA build or device. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctorch.h"
#include "test_util.h"

#ifdef CTORCH_HAVE_CUDA
#include "api/context_internal.h"
#include "backend/cuda/backend_cuda.h"
#include "model/model.h"
#include "synth/synth.h"

#define N_PROMPT 17
#define N_STEPS 12

static char model_path[512];

static ct_status open_ctx(const char *backend, int32_t n_seq, ct_model **m, ct_context **ctx) {
    ct_model_params mp = ct_model_params_default();
    mp.backend = backend;
    ct_status st = ct_model_load(model_path, &mp, m);
    if (st != CT_OK) return st;
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = 128;
    cp.n_batch = 64;
    cp.n_seq = n_seq;
    return ct_context_create(*m, &cp, ctx);
}

static ct_token argmax(const float *l, int32_t n) {
    ct_token best = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

/* Greedy run of one sequence; logits of every step into out[N_STEPS][n_vocab]. */
static void greedy(ct_context *ctx, const ct_token *prompt, int32_t n_vocab, float *out) {
    const float *l = NULL;
    CHECK_OK(ct_eval(ctx, 0, prompt, N_PROMPT, &l));
    for (int32_t s = 0; s < N_STEPS && l; s++) {
        ct_token t = argmax(l, n_vocab);
        memcpy(out + (size_t)s * n_vocab, l, sizeof(float) * (size_t)n_vocab);
        CHECK_OK(ct_eval(ctx, 0, &t, 1, &l));
    }
}

/* Also: the peephole fusion (q/k/v, gate/up + GLU, matmul + residual add, rope q/k + KV store) against unfused ops,
 * bit-identical. */
static void test_graphs(void) {
    ct_model *ma = NULL, *mb = NULL, *mc = NULL;
    ct_context *ca = NULL, *cb = NULL, *cc = NULL;
    /* the caller's settings are restored afterwards (the later tests honour them) */
    char *graphs_env = getenv("CTORCH_CUDA_GRAPHS") ? strdup(getenv("CTORCH_CUDA_GRAPHS")) : NULL;
    char *fuse_env = getenv("CTORCH_CUDA_FUSE") ? strdup(getenv("CTORCH_CUDA_FUSE")) : NULL;
    setenv("CTORCH_CUDA_GRAPHS", "1", 1);
    setenv("CTORCH_CUDA_FUSE", "1", 1);
    CHECK_OK(open_ctx("cuda", 1, &ma, &ca));
    setenv("CTORCH_CUDA_GRAPHS", "0", 1);
    CHECK_OK(open_ctx("cuda", 1, &mb, &cb));
    setenv("CTORCH_CUDA_FUSE", "0", 1);
    CHECK_OK(open_ctx("cuda", 1, &mc, &cc));
    if (graphs_env) setenv("CTORCH_CUDA_GRAPHS", graphs_env, 1);
    else unsetenv("CTORCH_CUDA_GRAPHS");
    if (fuse_env) setenv("CTORCH_CUDA_FUSE", fuse_env, 1);
    else unsetenv("CTORCH_CUDA_FUSE");
    free(graphs_env);
    free(fuse_env);
    if (!ca || !cb || !cc) goto done;
    ct_model_info info;
    ct_model_get_info(ma, &info);
    ct_token prompt[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++) prompt[i] = (ct_token)(3 + i * 37 % (info.n_vocab - 3));
    size_t n = (size_t)N_STEPS * (size_t)info.n_vocab;
    float *la = malloc(n * sizeof(float)), *lb = malloc(n * sizeof(float));
    greedy(ca, prompt, info.n_vocab, la);
    greedy(cb, prompt, info.n_vocab, lb);
    CHECK_MSG(memcmp(la, lb, n * sizeof(float)) == 0, "graph replay: logits differ from the op-by-op run");
    greedy(cc, prompt, info.n_vocab, la);
    CHECK_MSG(memcmp(la, lb, n * sizeof(float)) == 0, "fusion: logits differ from the unfused ops");
    int64_t replayed, captured, direct;
    ct_backend_cuda_graph_stats(ma->be, &replayed, &captured, &direct);
    printf("  graphs on: %lld replayed, %lld captured, %lld direct\n", (long long)replayed, (long long)captured,
           (long long)direct);
    /* N_STEPS decode passes of one token: one capture, the rest replays */
    CHECK_MSG(captured >= 1 && replayed >= N_STEPS - 2, "graphs on: %lld replayed, %lld captured", (long long)replayed,
              (long long)captured);
    ct_backend_cuda_graph_stats(mb->be, &replayed, &captured, &direct);
    CHECK_MSG(replayed == 0 && captured == 0 && direct >= N_STEPS, "graphs off: %lld replayed, %lld captured",
              (long long)replayed, (long long)captured);
    free(la);
    free(lb);
done:
    ct_context_free(ca);
    ct_context_free(cb);
    ct_context_free(cc);
    ct_model_free(ma);
    ct_model_free(mb);
    ct_model_free(mc);
}

/* Four sequences of different lengths prefilled together, then decoded together, against
 * each alone: the same greedy tokens, logits within 5e-3 relative (batch shape changes the
 * matmul path: F16 tensor cores, rounding activations to 2^-11 relative, for the 34-token
 * prompt batch vs F32 GEMV for 1-5 tokens; a wrong row or position errs by order 1). */
/* deterministic: batch-invariant passes (--deterministic), where batched and alone must give
 * bit-identical logits. */
static void test_ragged_batch(bool deterministic) {
    enum { N_SEQ = 4 };
    ct_model *m = NULL;
    ct_context *ctx = NULL;
    CHECK_OK(open_ctx("cuda", N_SEQ, &m, &ctx));
    if (!ctx) {
        ct_model_free(m);
        return;
    }
    ct_context_set_batch_invariant(ctx, deterministic);
    const double tol = deterministic ? 0.0 : 5e-3;
    ct_model_info info;
    ct_model_get_info(m, &info);
    int32_t lens[N_SEQ] = {5, 17, 1, 11};
    ct_token prompts[N_SEQ][17];
    for (int s = 0; s < N_SEQ; s++)
        for (int i = 0; i < lens[s]; i++) prompts[s][i] = (ct_token)(7 + (s * 101 + i * 13) % (info.n_vocab - 7));
    /* alone: logits after the prompt and after 3 greedy steps */
    float *alone = malloc(sizeof(float) * (size_t)info.n_vocab * N_SEQ * 4);
    for (int s = 0; s < N_SEQ; s++) {
        const float *l = NULL;
        CHECK_OK(ct_seq_truncate(ctx, 0, 0));
        CHECK_OK(ct_eval(ctx, 0, prompts[s], (size_t)lens[s], &l));
        for (int k = 0; k < 4 && l; k++) {
            memcpy(alone + ((size_t)s * 4 + k) * info.n_vocab, l, sizeof(float) * (size_t)info.n_vocab);
            ct_token t = argmax(l, info.n_vocab);
            if (k < 3) CHECK_OK(ct_eval(ctx, 0, &t, 1, &l));
        }
    }
    CHECK_OK(ct_seq_truncate(ctx, 0, 0));
    ct_batch b;
    CHECK_OK(ct_batch_init(&b, 64));
    for (int s = 0; s < N_SEQ; s++)
        for (int i = 0; i < lens[s]; i++) CHECK_OK(ct_batch_add(&b, prompts[s][i], i, s, i == lens[s] - 1));
    CHECK_OK(ct_decode(ctx, &b));
    double worst = 0;
    int32_t pos[N_SEQ];
    for (int k = 0; k < 4; k++) {
        ct_token next[N_SEQ];
        for (int s = 0, row = 0; s < N_SEQ; s++) {
            /* the logits rows are the batch rows that asked for them */
            int32_t r = k == 0 ? (int32_t)(row += lens[s]) - 1 : s;
            const float *l = ct_get_logits(ctx, r);
            const float *want = alone + ((size_t)s * 4 + k) * info.n_vocab;
            double num = 0, den = 0;
            for (int32_t i = 0; i < info.n_vocab && l; i++) {
                num += ((double)l[i] - want[i]) * ((double)l[i] - want[i]);
                den += (double)want[i] * want[i];
            }
            double rel = sqrt(num / den);
            if (rel > worst) worst = rel;
            CHECK_MSG(l && rel <= tol, "ragged batch%s: seq %d step %d: relative error %.3g",
                      deterministic ? " (deterministic)" : "", s, k, rel);
            next[s] = l ? argmax(l, info.n_vocab) : 0;
            CHECK_MSG(next[s] == argmax(want, info.n_vocab), "ragged batch: seq %d step %d: greedy token differs", s, k);
            pos[s] = lens[s] + k;
        }
        if (k == 3) break;
        ct_batch_clear(&b);
        for (int s = 0; s < N_SEQ; s++) CHECK_OK(ct_batch_add(&b, next[s], pos[s], s, true));
        CHECK_OK(ct_decode(ctx, &b));
    }
    printf("  ragged batch of %d sequences%s: max relative error vs alone %.2e\n", N_SEQ,
           deterministic ? " (deterministic)" : "", worst);
    ct_batch_free(&b);
    free(alone);
    ct_context_free(ctx);
    ct_model_free(m);
}

static void test_errors(void) {
    ct_backend *be = NULL;
    CHECK_OK(ct_backend_create("cuda", 0, &be));
    if (!be) return;
    void *p = NULL;
    ct_status st = be->alloc(be, (size_t)1 << 50, &p); /* 1 PiB */
    CHECK_MSG(st == CT_ERR_OUT_OF_MEMORY && p == NULL, "huge alloc: status %d", (int)st);
    CHECK_MSG(strstr(ct_last_error(), "needed") && strstr(ct_last_error(), "free"), "huge alloc message: %s",
              ct_last_error());
    printf("  huge allocation: %s\n", ct_last_error());
    /* the backend still works after the failure */
    st = be->alloc(be, 1 << 20, &p);
    CHECK_MSG(st == CT_OK && p, "1 MiB after a failed allocation: %s", ct_last_error());
    if (p) be->release(be, p);
    /* end() without begin() */
    st = be->end(be);
    CHECK_MSG(st == CT_ERR_INTERNAL, "end() without begin(): status %d", (int)st);
    ct_backend_destroy(be);
}
#endif

int main(void) {
#ifndef CTORCH_HAVE_CUDA
    printf("skipped: built without CUDA\n");
    return 77;
#else
    ct_backend *probe = NULL;
    ct_status st = ct_backend_create("cuda", 0, &probe);
    if (st != CT_OK) {
        printf("skipped: %s\n", ct_last_error());
        return 77;
    }
    ct_backend_destroy(probe);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/ctorch-cuda-backend-XXXXXX", ct_test_env_or("TMPDIR", "/tmp"));
    if (!mkdtemp(dir)) return 1;
    snprintf(model_path, sizeof model_path, "%s/llama.gguf", dir);
    synth_options opt = {.seed = 9, .n_threads = 2, .out_path = model_path};
    synth_hparams_defaults(SYNTH_ARCH_LLAMA, &opt.hp);
    opt.hp.n_embd = 256, opt.hp.n_layer = 2, opt.hp.n_head = 4, opt.hp.n_head_kv = 2, opt.hp.head_dim = 64;
    opt.hp.n_ff = 512, opt.hp.n_vocab = 700, opt.hp.n_ctx = 256;
    synth_hparams_complete(&opt.hp);
    CHECK_OK(synth_ftype_parse("q4_k_m", &opt.ftype));
    CHECK_OK(synth_write(&opt, NULL));
    test_graphs();
    test_ragged_batch(false);
    test_ragged_batch(true);
    test_errors();
    remove(model_path);
    rmdir(dir);
    return ct_test_finish("test_cuda_backend");
#endif
}
