/* Benchmark of the CUDA attention kernels (src/backend/cuda/attention*.cu):
 *   decode: B sequences, one token each at context C: bytes of keys and values read per
 *           second (the kernel should be bound by them: compare with the device's copy
 *           bandwidth, ~3.0 TB/s read+write on an H100, ~3.3 TB/s read);
 *   prefill: one sequence's prompt of N tokens from position 0: causal FLOP per second;
 *   kv_store: B rows (bytes written per second).
 * Shapes: Llama-2-7B (32 heads, 32 KV heads, 128), Llama-3-8B (32/8/128), Gemma 3 270M
 * (4/1/256). F16 caches in 16-cell blocks, shuffled. Each figure is the mean over a CUDA
 * graph of 20 calls, launched several times after a warm-up (no launch overhead).
 *
 *   bench_cuda_attention [--quick]
 * Without CUDA in the build, or without a device, prints why and exits 0. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CTORCH_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_attention.h"

#define BLOCK 16
#define CALLS_PER_GRAPH 20
#define GRAPH_LAUNCHES 5

typedef struct {
    const char *name;
    int n_head, n_head_kv, d;
} shape_t;

typedef struct {
    /* host batch */
    int n_tok, n_seq, ctx;
    int32_t *tok, *pos, *seq, *tbo, *table;
    int64_t *cell;
    ct_kv_view *views;
    ct_forward_batch fb;
    /* device */
    void *k, *v, *q, *out, *d_tok, *d_pos, *d_seq, *d_cell, *d_table, *d_tbo, *meta, *k_new, *v_new;
    ct_cuda_batch cb;
    ct_tensor kc, vc, qt, ot, kn, vn;
    ct_attn attn;
    double kv_bytes, flops;
} bench_case;

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static unsigned rng_next(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (unsigned)((rng_state * 2685821657736338717ULL) >> 32);
}

static void bench_free(bench_case *b) {
    void *dev[] = {b->k,      b->v,       b->q,     b->out,  b->d_tok, b->d_pos, b->d_seq,
                   b->d_cell, b->d_table, b->d_tbo, b->meta, b->k_new, b->v_new};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) cudaFree(dev[i]);
    free(b->tok);
    free(b->pos);
    free(b->seq);
    free(b->tbo);
    free(b->table);
    free(b->cell);
    free(b->views);
    memset(b, 0, sizeof *b);
}

#define TRY_CUDA(expr)                                                                                                 \
    do {                                                                                                               \
        cudaError_t e_ = (expr);                                                                                       \
        if (e_ != cudaSuccess) {                                                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_));                     \
            return false;                                                                                              \
        }                                                                                                              \
    } while (0)

/* n_seq sequences of ctx positions; the batch is their last n_new positions each */
static bool bench_setup(bench_case *b, const shape_t *sh, int n_seq, int ctx, int n_new) {
    memset(b, 0, sizeof *b);
    b->n_seq = n_seq;
    b->ctx = ctx;
    b->n_tok = n_seq * n_new;
    const int nb = (ctx + BLOCK - 1) / BLOCK, n_blocks = nb * n_seq;
    const size_t cells = (size_t)n_blocks * BLOCK, k_row = (size_t)sh->n_head_kv * sh->d * 2;
    b->tok = calloc((size_t)b->n_tok, sizeof(int32_t));
    b->pos = malloc((size_t)b->n_tok * sizeof(int32_t));
    b->seq = malloc((size_t)b->n_tok * sizeof(int32_t));
    b->tbo = malloc((size_t)b->n_tok * sizeof(int32_t));
    b->cell = malloc((size_t)b->n_tok * sizeof(int64_t));
    b->table = malloc((size_t)n_blocks * sizeof(int32_t));
    b->views = malloc((size_t)n_seq * sizeof(ct_kv_view));
    if (!b->tok || !b->pos || !b->seq || !b->tbo || !b->cell || !b->table || !b->views) return false;
    for (int i = 0; i < n_blocks; i++) b->table[i] = i;
    for (int i = n_blocks - 1; i > 0; i--) {
        int j = (int)(rng_next() % (unsigned)(i + 1));
        int32_t t = b->table[i];
        b->table[i] = b->table[j];
        b->table[j] = t;
    }
    for (int s = 0; s < n_seq; s++) b->views[s] = (ct_kv_view){b->table + (size_t)s * nb, BLOCK};
    b->kv_bytes = 0;
    b->flops = 0;
    for (int s = 0, t = 0; s < n_seq; s++)
        for (int j = 0; j < n_new; j++, t++) {
            b->seq[t] = s;
            b->pos[t] = ctx - n_new + j;
            b->tbo[t] = s * nb;
            b->cell[t] = ct_kv_view_cell(&b->views[s], b->pos[t]);
            b->kv_bytes += (double)(b->pos[t] + 1) * sh->n_head_kv * sh->d * 2 * 2;
            b->flops += (double)(b->pos[t] + 1) * sh->n_head * sh->d * 2 * 2;
        }
    b->fb = (ct_forward_batch){
        .n_tokens = b->n_tok, .token = b->tok, .pos = b->pos, .seq = b->seq, .kv_cell = b->cell, .seq_view = b->views};
    const size_t q_row = (size_t)sh->n_head * sh->d * 4;
    TRY_CUDA(cudaMalloc(&b->k, cells * k_row));
    TRY_CUDA(cudaMalloc(&b->v, cells * k_row));
    TRY_CUDA(cudaMalloc(&b->q, (size_t)b->n_tok * q_row));
    TRY_CUDA(cudaMalloc(&b->out, (size_t)b->n_tok * q_row));
    TRY_CUDA(cudaMalloc(&b->k_new, (size_t)b->n_tok * k_row * 2));
    TRY_CUDA(cudaMalloc(&b->v_new, (size_t)b->n_tok * k_row * 2));
    /* values do not change the speed: 0x3c3c is 1.06 in F16, 0x3c3c3c3c 0.0115 in F32 */
    TRY_CUDA(cudaMemset(b->k, 0x3c, cells * k_row));
    TRY_CUDA(cudaMemset(b->v, 0x3c, cells * k_row));
    TRY_CUDA(cudaMemset(b->q, 0x3c, (size_t)b->n_tok * q_row));
    TRY_CUDA(cudaMemset(b->k_new, 0x3c, (size_t)b->n_tok * k_row * 2));
    TRY_CUDA(cudaMemset(b->v_new, 0x3c, (size_t)b->n_tok * k_row * 2));
    TRY_CUDA(cudaMalloc(&b->d_tok, (size_t)b->n_tok * 4));
    TRY_CUDA(cudaMalloc(&b->d_pos, (size_t)b->n_tok * 4));
    TRY_CUDA(cudaMalloc(&b->d_seq, (size_t)b->n_tok * 4));
    TRY_CUDA(cudaMalloc(&b->d_tbo, (size_t)b->n_tok * 4));
    TRY_CUDA(cudaMalloc(&b->d_cell, (size_t)b->n_tok * 8));
    TRY_CUDA(cudaMalloc(&b->d_table, (size_t)n_blocks * 4));
    TRY_CUDA(cudaMemcpy(b->d_tok, b->tok, (size_t)b->n_tok * 4, cudaMemcpyHostToDevice));
    TRY_CUDA(cudaMemcpy(b->d_pos, b->pos, (size_t)b->n_tok * 4, cudaMemcpyHostToDevice));
    TRY_CUDA(cudaMemcpy(b->d_seq, b->seq, (size_t)b->n_tok * 4, cudaMemcpyHostToDevice));
    TRY_CUDA(cudaMemcpy(b->d_tbo, b->tbo, (size_t)b->n_tok * 4, cudaMemcpyHostToDevice));
    TRY_CUDA(cudaMemcpy(b->d_cell, b->cell, (size_t)b->n_tok * 8, cudaMemcpyHostToDevice));
    TRY_CUDA(cudaMemcpy(b->d_table, b->table, (size_t)n_blocks * 4, cudaMemcpyHostToDevice));

    const size_t cap = ct_cuda_attention_meta_capacity(b->n_tok, ctx);
    void *host_meta = malloc(cap);
    size_t used = 0;
    uint64_t key = 0;
    if (!host_meta) return false;
    ct_status st = ct_cuda_attention_plan(&b->fb, ctx, host_meta, cap, &used, &key);
    if (st != CT_OK) {
        fprintf(stderr, "plan failed: %s\n", ct_last_error());
        free(host_meta);
        return false;
    }
    cudaError_t err = cudaMalloc(&b->meta, cap);
    if (err == cudaSuccess && used) err = cudaMemcpy(b->meta, host_meta, used, cudaMemcpyHostToDevice);
    free(host_meta);
    TRY_CUDA(err);

    b->cb = (ct_cuda_batch){.n_tokens = b->n_tok,
                            .token = b->d_tok,
                            .pos = b->d_pos,
                            .seq = b->d_seq,
                            .kv_cell = b->d_cell,
                            .block_table = b->d_table,
                            .tok_block_off = b->d_tbo,
                            .block_size = BLOCK,
                            .attn_meta = b->meta,
                            .host = &b->fb,
                            .max_ctx = ctx};
    const int64_t width_kv = (int64_t)sh->n_head_kv * sh->d, width_q = (int64_t)sh->n_head * sh->d;
    b->kc = (ct_tensor){b->k, CT_TYPE_F16, width_kv, (int64_t)cells, k_row, "k_cache"};
    b->vc = (ct_tensor){b->v, CT_TYPE_F16, width_kv, (int64_t)cells, k_row, "v_cache"};
    b->qt = (ct_tensor){b->q, CT_TYPE_F32, width_q, b->n_tok, q_row, "q"};
    b->ot = (ct_tensor){b->out, CT_TYPE_F32, width_q, b->n_tok, q_row, "out"};
    b->kn = (ct_tensor){b->k_new, CT_TYPE_F32, width_kv, b->n_tok, k_row * 2, "k"};
    b->vn = (ct_tensor){b->v_new, CT_TYPE_F32, width_kv, b->n_tok, k_row * 2, "v"};
    b->attn = (ct_attn){sh->n_head, sh->n_head_kv, sh->d, sh->d, 1.0f / 11.3137f, 0};
    return true;
}

/* microseconds per call of attention (op 0) or kv_store (op 1), from graph replays */
static double time_op(bench_case *b, cudaStream_t stream, int op) {
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    double us = -1;
    if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal) != cudaSuccess) return -1;
    cudaError_t err = cudaSuccess;
    for (int i = 0; i < CALLS_PER_GRAPH && err == cudaSuccess; i++)
        err = op == 0 ? ct_cuda_attention(stream, &b->cb, &b->ot, &b->qt, &b->kc, &b->vc, &b->attn)
                      : ct_cuda_kv_store(stream, &b->cb, &b->kc, &b->vc, &b->kn, &b->vn);
    cudaError_t end = cudaStreamEndCapture(stream, &graph);
    if (err != cudaSuccess || end != cudaSuccess) {
        fprintf(stderr, "capture: %s / %s\n", cudaGetErrorString(err), cudaGetErrorString(end));
        goto done;
    }
    if (cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess || cudaEventCreate(&t0) != cudaSuccess ||
        cudaEventCreate(&t1) != cudaSuccess)
        goto done;
    cudaGraphLaunch(exec, stream); /* warm-up */
    cudaEventRecord(t0, stream);
    for (int i = 0; i < GRAPH_LAUNCHES; i++) cudaGraphLaunch(exec, stream);
    cudaEventRecord(t1, stream);
    if (cudaEventSynchronize(t1) == cudaSuccess) {
        float ms = 0;
        cudaEventElapsedTime(&ms, t0, t1);
        us = 1000.0 * ms / (GRAPH_LAUNCHES * CALLS_PER_GRAPH);
    }
    err = cudaGetLastError();
    if (err != cudaSuccess) {
        fprintf(stderr, "run: %s\n", cudaGetErrorString(err));
        us = -1;
    }
done:
    if (t0) cudaEventDestroy(t0);
    if (t1) cudaEventDestroy(t1);
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    return us;
}

static void run_decode(const shape_t *sh, int batch, int ctx, cudaStream_t stream) {
    bench_case b;
    if (bench_setup(&b, sh, batch, ctx, 1)) {
        double us = time_op(&b, stream, 0);
        if (us > 0)
            printf("decode    %-22s %5d x 1    %6d %10.1f %9.0f GB/s\n", sh->name, batch, ctx, us,
                   b.kv_bytes / us / 1e3);
        double us_store = time_op(&b, stream, 1);
        if (us_store > 0 && batch >= 32)
            printf("kv_store  %-22s %5d rows   %6s %10.1f %9.0f GB/s written\n", sh->name, batch, "", us_store,
                   (double)batch * sh->n_head_kv * sh->d * 2 * 2 / us_store / 1e3);
    } else {
        printf("decode    %-22s %5d x 1    %6d   (setup failed)\n", sh->name, batch, ctx);
    }
    bench_free(&b);
}

static void run_prefill(const shape_t *sh, int n, cudaStream_t stream) {
    bench_case b;
    if (bench_setup(&b, sh, 1, n, n)) {
        double us = time_op(&b, stream, 0);
        if (us > 0)
            printf("prefill   %-22s %5d tokens %6d %10.1f %9.1f TFLOP/s\n", sh->name, n, n, us, b.flops / us / 1e6);
    } else {
        printf("prefill   %-22s %5d tokens   (setup failed)\n", sh->name, n);
    }
    bench_free(&b);
}

int main(int argc, char **argv) {
    const int quick = argc > 1 && !strcmp(argv[1], "--quick");
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        printf("no CUDA device\n");
        return 0;
    }
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
        printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    cudaStream_t stream;
    if (cudaStreamCreate(&stream) != cudaSuccess) return 1;
    static const shape_t shapes[] = {
        {"llama2-7b 32/32/128", 32, 32, 128},
        {"llama3-8b 32/8/128", 32, 8, 128},
        {"gemma3-270m 4/1/256", 4, 1, 256},
    };
    printf("op        shape                  tokens       ctx     us/call  rate\n");
    const int batches[] = {1, 8, 32, 64, 128};
    const int ctxs[] = {512, 2048, 4096};
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 5; i++) {
                if (quick && (c != 1 || (i != 0 && i != 3))) continue;
                /* at most ~9 GB of cache per run */
                if ((double)batches[i] * ctxs[c] * shapes[s].n_head_kv * shapes[s].d * 4 > 9e9) continue;
                run_decode(&shapes[s], batches[i], ctxs[c], stream);
            }
    const int prompts[] = {512, 2048, 4096};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 3; i++) {
            if (quick && i != 0) continue;
            run_prefill(&shapes[s], prompts[i], stream);
        }
    cudaStreamDestroy(stream);
    return 0;
}

#else

int main(void) {
    printf("no CUDA (built without CTORCH_CUDA)\n");
    return 0;
}

#endif
