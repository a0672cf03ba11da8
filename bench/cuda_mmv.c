/* Kernel benchmark of the decode matrix-vector kernels (ct_cuda_mmv, src/backend/cuda/mmv*.cu)
 * on the Llama-2-7B shapes (rows x cols: 4096x4096 q/k/v/o, 11008x4096 gate/up, 4096x11008
 * down) at n = 1, 2 and 8 tokens, for every weight type, with each kernel mode
 * (ct_cuda_mmv_set_kernel: direct on Q16 activations, the quantizer included, then direct on
 * F32, then ring; a mode a type or n does not have runs what that type falls back to).
 *
 *   bench_cuda_mmv [type ...]        e.g. bench_cuda_mmv q4_k q6_k q4_0 (default: all types)
 *
 * Each time is the median over 31 samples of 10 consecutive calls, after 10 warm-up calls,
 * measured with CUDA events. The calls rotate over enough copies of the weight matrix
 * (>= 256 MiB in all) that the 50 MB L2 cannot serve them. Two figures per row:
 *   graph   the 10 calls captured once into a CUDA graph and replayed (as decode runs them:
 *           no host launch overhead, ~1 us between kernels);
 *   stream  the 10 calls launched one by one on a stream.
 * GB/s = weight bytes / graph time. The first line measures device-to-device copy bandwidth
 * (read + write bytes / time) as the roofline to compare against. Weight contents do not
 * change the timing: 16 rows quantized by the reference quantizer are tiled over the matrix.
 * Every CUDA call is checked; any failure exits 1. Prints "no CUDA" and exits 0 when built
 * without CUDA. */
#include <stdio.h>

#ifndef CTORCH_HAVE_CUDA
int main(void) {
    printf("no CUDA (built without -DCTORCH_CUDA=ON)\n");
    return 0;
}
#else

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_mmv.h"
#include "quant/quant.h"
#include "quant/types.h"

#define CK(expr)                                                                                           \
    do {                                                                                                   \
        cudaError_t ck_err_ = (expr);                                                                      \
        if (ck_err_ != cudaSuccess) {                                                                      \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(ck_err_));    \
            exit(1);                                                                                       \
        }                                                                                                  \
    } while (0)

#define WARMUP 10
#define CALLS 10   /* per sample */
#define SAMPLES 31
#define ROTATION_BYTES (256ull << 20)
#define MAX_COPIES 64
#define TILE_ROWS 16

static const ct_type all_types[] = {CT_TYPE_Q4_K, CT_TYPE_Q6_K, CT_TYPE_Q4_0, CT_TYPE_Q8_0, CT_TYPE_Q5_K,
                                    CT_TYPE_Q4_1, CT_TYPE_Q5_0, CT_TYPE_Q5_1, CT_TYPE_Q2_K, CT_TYPE_Q3_K,
                                    CT_TYPE_F16,  CT_TYPE_BF16, CT_TYPE_F32};
static const int64_t shapes[][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}}; /* rows, cols */
static const int token_counts[] = {1, 2, 8};

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of host memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static float uniform(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (float)((rng_state * 2685821657736338717ull) >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef struct {
    cudaStream_t stream;
    cudaEvent_t start, stop;
} timer;

/* Median of SAMPLES timings of fn(ctx), in milliseconds per call. */
static float median_ms(timer *tm, void (*fn)(void *), void *ctx) {
    float ms[SAMPLES];
    for (int s = 0; s < SAMPLES; s++) {
        CK(cudaEventRecord(tm->start, tm->stream));
        fn(ctx);
        CK(cudaEventRecord(tm->stop, tm->stream));
        CK(cudaEventSynchronize(tm->stop));
        CK(cudaEventElapsedTime(&ms[s], tm->start, tm->stop));
        ms[s] /= CALLS;
    }
    qsort(ms, SAMPLES, sizeof ms[0], cmp_float);
    return ms[SAMPLES / 2];
}

/* ---- device copy bandwidth (the roofline) ------------------------------------------- */

typedef struct {
    cudaStream_t stream;
    void *a, *b;
    size_t bytes;
} copy_ctx;

static void run_copies(void *p) {
    copy_ctx *c = p;
    for (int i = 0; i < CALLS; i++)
        CK(cudaMemcpyAsync(i % 2 ? c->a : c->b, i % 2 ? c->b : c->a, c->bytes, cudaMemcpyDeviceToDevice, c->stream));
}

static void bench_copy(timer *tm) {
    copy_ctx c = {tm->stream, NULL, NULL, 512ull << 20};
    CK(cudaMalloc(&c.a, c.bytes));
    CK(cudaMalloc(&c.b, c.bytes));
    CK(cudaMemset(c.a, 1, c.bytes));
    CK(cudaMemset(c.b, 2, c.bytes));
    run_copies(&c);
    CK(cudaStreamSynchronize(tm->stream));
    const float ms = median_ms(tm, run_copies, &c);
    printf("device copy bandwidth: %.0f GB/s (512 MiB D2D, read + write)\n\n", 2.0 * (double)c.bytes / ms / 1e6);
    CK(cudaFree(c.a));
    CK(cudaFree(c.b));
}

/* ---- one type x shape x n -------------------------------------------------------------- */

typedef struct {
    cudaStream_t stream;
    ct_tensor w[MAX_COPIES];
    int copies, next;
    ct_tensor in, out;
    ct_cuda_mmv_scratch scratch; /* the Q16 activations of the direct mode */
    cudaGraphExec_t graph;
} mmv_ctx;

static void launch_one(mmv_ctx *c) {
    const cudaError_t err = ct_cuda_mmv(c->stream, &c->out, &c->w[c->next], NULL, &c->in, &c->scratch);
    if (err != cudaSuccess) {
        fprintf(stderr, "ct_cuda_mmv(%s, %lldx%lld, n=%lld): %s\n", ct_type_name(c->w[0].type),
                (long long)c->w[0].ne1, (long long)c->w[0].ne0, (long long)c->in.ne1, cudaGetErrorString(err));
        exit(1);
    }
    c->next = (c->next + 1) % c->copies;
}

static void run_stream(void *p) {
    mmv_ctx *c = p;
    for (int i = 0; i < CALLS; i++) launch_one(c);
}

static void run_graph(void *p) {
    mmv_ctx *c = p;
    CK(cudaGraphLaunch(c->graph, c->stream));
}

/* Host copy of a rows x cols matrix of type: TILE_ROWS quantized rows, repeated. */
static uint8_t *make_matrix(ct_type type, int64_t rows, int64_t cols, size_t *row_bytes) {
    const ct_type_traits *tr = ct_type_traits_of((uint32_t)type);
    *row_bytes = (size_t)(cols / tr->block_size) * tr->type_size;
    uint8_t *m = xmalloc(*row_bytes * (size_t)rows);
    float *src = xmalloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < TILE_ROWS && r < rows; r++) {
        for (int64_t j = 0; j < cols; j++) src[j] = uniform();
        const ct_status st = ct_quantize_row(type, src, m + (size_t)r * *row_bytes, cols);
        if (st != CT_OK) {
            fprintf(stderr, "quantize %s: %s\n", ct_type_name((uint32_t)type), ct_last_error());
            exit(1);
        }
    }
    for (int64_t r = TILE_ROWS; r < rows; r++)
        memcpy(m + (size_t)r * *row_bytes, m + (size_t)(r % TILE_ROWS) * *row_bytes, *row_bytes);
    free(src);
    return m;
}

static void bench_shape(timer *tm, ct_type type, int64_t rows, int64_t cols) {
    size_t row_bytes;
    uint8_t *host = make_matrix(type, rows, cols, &row_bytes);
    const size_t bytes = row_bytes * (size_t)rows;
    mmv_ctx c;
    memset(&c, 0, sizeof c);
    c.stream = tm->stream;
    c.copies = (int)((ROTATION_BYTES + bytes - 1) / bytes);
    if (c.copies < 2) c.copies = 2;
    if (c.copies > MAX_COPIES) c.copies = MAX_COPIES;
    for (int i = 0; i < c.copies; i++) {
        void *dev;
        CK(cudaMalloc(&dev, bytes));
        if (i == 0)
            CK(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice));
        else
            CK(cudaMemcpy(dev, c.w[0].data, bytes, cudaMemcpyDeviceToDevice));
        const ct_tensor w = {dev, (uint32_t)type, cols, rows, row_bytes, "w"};
        c.w[i] = w;
    }
    free(host);

    const int max_n = token_counts[sizeof token_counts / sizeof token_counts[0] - 1];
    float *x = xmalloc(sizeof(float) * (size_t)(max_n * cols));
    for (int64_t i = 0; i < max_n * cols; i++) x[i] = uniform();
    void *d_in, *d_out;
    CK(cudaMalloc(&d_in, sizeof(float) * (size_t)(max_n * cols)));
    CK(cudaMalloc(&d_out, sizeof(float) * (size_t)(max_n * rows)));
    CK(cudaMemcpy(d_in, x, sizeof(float) * (size_t)(max_n * cols), cudaMemcpyHostToDevice));
    free(x);
    c.scratch.act_bytes = ct_cuda_mmv_act_bytes(max_n, cols);
    CK(cudaMalloc(&c.scratch.act, c.scratch.act_bytes));

    static const ct_cuda_mmv_kernel kernels[] = {CT_CUDA_MMV_DIRECT_Q16, CT_CUDA_MMV_DIRECT, CT_CUDA_MMV_RING};
    static const char *const kernel_names[] = {"q16", "f32", "ring"};
    for (size_t k = 0; k < sizeof token_counts / sizeof token_counts[0] * 3; k++) {
        const int n = token_counts[k / 3];
        const ct_cuda_mmv_kernel kernel = kernels[k % 3];
        ct_cuda_mmv_set_kernel(kernel);
        const ct_tensor in = {d_in, CT_TYPE_F32, cols, n, sizeof(float) * (size_t)cols, "in"};
        const ct_tensor out = {d_out, CT_TYPE_F32, rows, n, sizeof(float) * (size_t)rows, "out"};
        c.in = in;
        c.out = out;
        c.next = 0;
        for (int i = 0; i < WARMUP; i++) launch_one(&c);
        CK(cudaStreamSynchronize(tm->stream));
        CK(cudaGetLastError());
        const float stream_ms = median_ms(tm, run_stream, &c);

        /* CALLS launches over consecutive copies, captured once */
        cudaGraph_t graph;
        CK(cudaStreamBeginCapture(tm->stream, cudaStreamCaptureModeThreadLocal));
        c.next = 0;
        run_stream(&c);
        CK(cudaStreamEndCapture(tm->stream, &graph));
        CK(cudaGraphInstantiate(&c.graph, graph, 0));
        CK(cudaGraphDestroy(graph));
        CK(cudaGraphLaunch(c.graph, tm->stream));
        CK(cudaStreamSynchronize(tm->stream));
        const float graph_ms = median_ms(tm, run_graph, &c);
        CK(cudaGraphExecDestroy(c.graph));
        CK(cudaStreamSynchronize(tm->stream));
        CK(cudaGetLastError());

        printf("%-5s %5lldx%-5lld %2d %-6s %9.2f %8.0f %9.2f %7.2f %3d\n", ct_type_name((uint32_t)type), (long long)rows,
               (long long)cols, n, kernel_names[k % 3], graph_ms * 1e3, (double)bytes / graph_ms / 1e6, stream_ms * 1e3,
               (double)bytes / 1048576.0, c.copies);
        fflush(stdout);
    }
    for (int i = 0; i < c.copies; i++) CK(cudaFree(c.w[i].data));
    CK(cudaFree(c.scratch.act));
    CK(cudaFree(d_in));
    CK(cudaFree(d_out));
}

int main(int argc, char **argv) {
    ct_type types[sizeof all_types / sizeof all_types[0]];
    int n_types = 0;
    for (int i = 1; i < argc; i++) {
        ct_type t;
        if (ct_type_from_name(argv[i], &t) != CT_OK || !ct_cuda_mmv_type_supported((uint32_t)t)) {
            fprintf(stderr, "usage: %s [type ...]; '%s' is not a type ct_cuda_mmv takes\n", argv[0], argv[i]);
            return 2;
        }
        if (n_types < (int)(sizeof types / sizeof types[0])) types[n_types++] = t;
    }
    if (n_types == 0) {
        memcpy(types, all_types, sizeof all_types);
        n_types = (int)(sizeof all_types / sizeof all_types[0]);
    }

    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        fprintf(stderr, "no CUDA device\n");
        return 1;
    }
    struct cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("%s, %d SMs, L2 %d MiB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);

    timer tm;
    CK(cudaStreamCreateWithFlags(&tm.stream, cudaStreamNonBlocking));
    CK(cudaEventCreate(&tm.start));
    CK(cudaEventCreate(&tm.stop));
    bench_copy(&tm);

    printf("%-5s %11s %2s %-6s %9s %8s %9s %7s %3s\n", "type", "rows x cols", "n", "kernel", "graph us", "GB/s",
           "stream us", "MiB", "cps");
    for (int i = 0; i < n_types; i++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            bench_shape(&tm, types[i], shapes[s][0], shapes[s][1]);

    CK(cudaEventDestroy(tm.start));
    CK(cudaEventDestroy(tm.stop));
    CK(cudaStreamDestroy(tm.stream));
    return 0;
}

#endif
