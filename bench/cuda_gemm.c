/* Kernel benchmark of the CUDA matmul paths (cuda_matmul.h) on Llama-2-7B shapes:
 *   mmv     ct_cuda_mmv, the decode GEMV (n <= 8; what auto mode runs there)
 *   mma     the fused dequantize + mma.sync kernel (CTORCH_CUDA_MATMUL=mma)
 *   cublas  weights dequantized to F16 in chunks + cublasGemmEx (CTORCH_CUDA_MATMUL=cublas)
 * for each weight type, shape and token count n; then, per type and n, the matmul time of a
 * whole 7B forward pass (32 layers of q, k, v, o 4096x4096, gate, up 11008x4096, down
 * 4096x11008; no output head) and the tokens per second it allows, per path and for the best.
 * The crossover between mma and cublas is what CT_MM_FUSED_MAX_TOKENS (matmul.cu) encodes.
 *
 *   bench_cuda_gemm [--types=q4_k,q4_0,q6_k,q8_0,f16] [--n=1,8,16,32,64,128,256,512] [--reps=20]
 *
 * Weight contents do not change the timing: a 64-row tile quantized by the reference
 * quantizer is repeated over the matrix. Times are per call, averaged over --reps calls after
 * 3 warm-up calls, on one stream, measured with CUDA events (launch overhead included, as the
 * backend sees it without graphs). Prints "no CUDA" and exits 0 when built without CUDA. */
#define _POSIX_C_SOURCE 200112L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CTORCH_HAVE_CUDA
int main(void) {
    printf("no CUDA (built without -DCTORCH_CUDA=ON)\n");
    return 0;
}
#else

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_matmul.h"
#include "backend/cuda/cuda_mmv.h"
#include "quant/quant.h"
#include "quant/types.h"

#define MAX_LIST 16
enum { MODE_MMV, MODE_MMA, MODE_CUBLAS, N_MODES };
static const char *const mode_names[N_MODES] = {"mmv", "mma", "cublas"};
static const char *const mode_env[N_MODES] = {"auto", "mma", "cublas"};

typedef struct {
    int64_t M, K;
    int count; /* per layer */
    const char *what;
} shape;
static const shape shapes[] = {
    {4096, 4096, 4, "q,k,v,o"},
    {11008, 4096, 2, "gate,up"},
    {4096, 11008, 1, "down"},
};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])
#define N_LAYERS 32

#define CK(expr)                                                                                           \
    do {                                                                                                   \
        cudaError_t e_ = (expr);                                                                           \
        if (e_ != cudaSuccess) {                                                                           \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_));         \
            exit(1);                                                                                       \
        }                                                                                                  \
    } while (0)

static int parse_list(const char *s, char out[][16], int max) {
    int n = 0;
    while (*s && n < max) {
        size_t len = strcspn(s, ",");
        if (len > 0 && len < 16) {
            memcpy(out[n], s, len);
            out[n][len] = '\0';
            n++;
        }
        s += len;
        if (*s == ',') s++;
    }
    return n;
}

static float frand(unsigned long long *s) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (float)((*s * 2685821657736338717ULL) >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

/* a device weight of M x K of type, rows repeating a random 64-row tile */
static ct_tensor make_weight(ct_type type, int64_t M, int64_t K) {
    const ct_type_traits *tr = ct_type_traits_of(type);
    const size_t row_bytes = (size_t)(K / tr->block_size) * tr->type_size;
    enum { TILE = 64 };
    float *src = malloc((size_t)K * sizeof(float));
    uint8_t *tile = malloc(row_bytes * TILE), *host = malloc(row_bytes * (size_t)M);
    if (!src || !tile || !host) exit(1);
    unsigned long long s = 0x243f6a8885a308d3ULL;
    for (int r = 0; r < TILE; r++) {
        for (int64_t k = 0; k < K; k++) src[k] = 0.05f * frand(&s);
        if (ct_quantize_row(type, src, tile + (size_t)r * row_bytes, K) != CT_OK) exit(1);
    }
    for (int64_t r = 0; r < M; r++)
        memcpy(host + (size_t)r * row_bytes, tile + (size_t)(r % TILE) * row_bytes, row_bytes);
    ct_tensor w = {host, (uint32_t)type, K, M, row_bytes, "bench.weight"};
    void *dev = NULL;
    CK(cudaMalloc(&dev, ct_cuda_weight_device_bytes(&w)));
    if (ct_cuda_weight_upload(&w, dev) != CT_OK) {
        fprintf(stderr, "upload: %s\n", ct_last_error());
        exit(1);
    }
    w.data = dev;
    free(src);
    free(tile);
    free(host);
    return w;
}

int main(int argc, char **argv) {
    char type_names[MAX_LIST][16], n_names[MAX_LIST][16];
    int n_types = parse_list("q4_k,q4_0,q6_k,q8_0,f16", type_names, MAX_LIST);
    int n_counts = parse_list("1,8,16,32,64,128,256,512", n_names, MAX_LIST);
    int reps = 20;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--types=", 8) == 0) n_types = parse_list(argv[i] + 8, type_names, MAX_LIST);
        else if (strncmp(argv[i], "--n=", 4) == 0) n_counts = parse_list(argv[i] + 4, n_names, MAX_LIST);
        else if (strncmp(argv[i], "--reps=", 7) == 0) reps = atoi(argv[i] + 7);
        else {
            fprintf(stderr, "usage: %s [--types=q4_k,...] [--n=1,8,...] [--reps=20]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    int counts[MAX_LIST], n_max = 1;
    for (int i = 0; i < n_counts; i++) {
        counts[i] = atoi(n_names[i]);
        if (counts[i] < 1) {
            fprintf(stderr, "bad token count %s\n", n_names[i]);
            return 2;
        }
        if (counts[i] > n_max) n_max = counts[i];
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("no CUDA device\n");
        return 0;
    }
    struct cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);

    cudaStream_t stream;
    CK(cudaStreamCreate(&stream));
    ct_cuda_matmul *mm[N_MODES];
    for (int m = 0; m < N_MODES; m++) {
        setenv("CTORCH_CUDA_MATMUL", mode_env[m], 1);
        if (ct_cuda_matmul_create(stream, &mm[m]) != CT_OK || ct_cuda_matmul_reserve(mm[m], n_max, 11008) != CT_OK) {
            fprintf(stderr, "matmul setup: %s\n", ct_last_error());
            return 1;
        }
    }
    unsetenv("CTORCH_CUDA_MATMUL");

    int64_t max_k = 0, max_m = 0;
    for (int s = 0; s < N_SHAPES; s++) {
        if (shapes[s].K > max_k) max_k = shapes[s].K;
        if (shapes[s].M > max_m) max_m = shapes[s].M;
    }
    float *hx = malloc((size_t)(n_max * max_k) * sizeof(float));
    if (!hx) return 1;
    unsigned long long seed = 0x13198a2e03707344ULL;
    for (int64_t i = 0; i < n_max * max_k; i++) hx[i] = frand(&seed);
    void *dx = NULL, *dout = NULL;
    CK(cudaMalloc(&dx, (size_t)(n_max * max_k) * sizeof(float)));
    CK(cudaMalloc(&dout, (size_t)(n_max * max_m) * sizeof(float)));
    CK(cudaMemcpy(dx, hx, (size_t)(n_max * max_k) * sizeof(float), cudaMemcpyHostToDevice));
    cudaEvent_t ev0, ev1;
    CK(cudaEventCreate(&ev0));
    CK(cudaEventCreate(&ev1));

    printf("\n| type | shape (M x K) | n | path | us | TFLOP/s | weight GB/s |\n"
           "| --- | --- | --- | --- | --- | --- | --- |\n");
    /* us[type][n][mode][shape] for the summary */
    static double us[MAX_LIST][MAX_LIST][N_MODES][N_SHAPES];
    for (int ti = 0; ti < n_types; ti++) {
        ct_type type;
        if (ct_type_from_name(type_names[ti], &type) != CT_OK || !ct_cuda_matmul_type_supported(type)) {
            fprintf(stderr, "unknown or unsupported type %s\n", type_names[ti]);
            return 2;
        }
        for (int s = 0; s < N_SHAPES; s++) {
            ct_tensor w = make_weight(type, shapes[s].M, shapes[s].K);
            const double wbytes = (double)ct_cuda_weight_device_bytes(&w);
            for (int ci = 0; ci < n_counts; ci++) {
                const int n = counts[ci];
                const ct_tensor in = {dx, CT_TYPE_F32, w.ne0, n, (size_t)w.ne0 * sizeof(float), "x"};
                const ct_tensor out = {dout, CT_TYPE_F32, w.ne1, n, (size_t)w.ne1 * sizeof(float), "out"};
                for (int m = 0; m < N_MODES; m++) {
                    us[ti][ci][m][s] = -1;
                    if (m == MODE_MMV && (n > CT_CUDA_MMV_MAX_TOKENS || !ct_cuda_mmv_type_supported(type))) continue;
                    cudaError_t e = cudaSuccess;
                    for (int r = 0; r < 3 && e == cudaSuccess; r++) e = ct_cuda_matmul_run(mm[m], &out, &w, NULL, &in);
                    CK(cudaEventRecord(ev0, stream));
                    for (int r = 0; r < reps && e == cudaSuccess; r++)
                        e = ct_cuda_matmul_run(mm[m], &out, &w, NULL, &in);
                    CK(cudaEventRecord(ev1, stream));
                    CK(cudaStreamSynchronize(stream));
                    if (e != cudaSuccess) {
                        fprintf(stderr, "%s %s n=%d: %s (%s)\n", type_names[ti], mode_names[m], n,
                                cudaGetErrorString(e), ct_last_error());
                        return 1;
                    }
                    float ms = 0;
                    CK(cudaEventElapsedTime(&ms, ev0, ev1));
                    const double t = 1e3 * ms / reps;
                    us[ti][ci][m][s] = t;
                    printf("| %s | %lldx%lld | %d | %s | %.1f | %.1f | %.0f |\n", ct_type_name(type),
                           (long long)shapes[s].M, (long long)shapes[s].K, n, mode_names[m], t,
                           2.0 * (double)shapes[s].M * (double)shapes[s].K * n / (t * 1e6), wbytes / (t * 1e3));
                }
            }
            CK(cudaFree(w.data));
        }
    }

    printf("\n7B matmuls per forward pass (32 layers, no output head): ms (tokens/s)\n\n"
           "| type | n | mmv | mma | cublas | best |\n| --- | --- | --- | --- | --- | --- |\n");
    for (int ti = 0; ti < n_types; ti++)
        for (int ci = 0; ci < n_counts; ci++) {
            const int n = counts[ci];
            double best = -1;
            int best_m = -1;
            printf("| %s | %d |", type_names[ti], n);
            for (int m = 0; m < N_MODES; m++) {
                double total = 0;
                for (int s = 0; s < N_SHAPES && total >= 0; s++)
                    total = us[ti][ci][m][s] < 0 ? -1 : total + us[ti][ci][m][s] * shapes[s].count * N_LAYERS;
                if (total < 0) {
                    printf(" - |");
                    continue;
                }
                printf(" %.2f (%.0f) |", total / 1e3, n / (total / 1e6));
                if (best < 0 || total < best) best = total, best_m = m;
            }
            printf(" %s |\n", best_m >= 0 ? mode_names[best_m] : "-");
        }

    for (int m = 0; m < N_MODES; m++) ct_cuda_matmul_destroy(mm[m]);
    cudaFree(dx);
    cudaFree(dout);
    free(hx);
    cudaEventDestroy(ev0);
    cudaEventDestroy(ev1);
    cudaStreamDestroy(stream);
    return 0;
}

#endif
