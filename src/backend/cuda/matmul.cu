/* The CUDA matmul op (cuda_matmul.h): weights stay in their GGUF block layout on the device;
 * each call picks one of three paths by the number of tokens n:
 *
 *   n <= CT_CUDA_MMV_MAX_TOKENS       ct_cuda_mmv (decode GEMV, cuda_mmv.h): F32 activations,
 *                                     or Q16 ones in mm->act (CTORCH_CUDA_MMV=q16), every weight
 *                                     byte read once;
 *   n <= CT_MM_FUSED_MAX_TOKENS (64)  the fused kernel (dequant_mma.cuh): activations to F16,
 *                                     weight tiles dequantized in shared memory, mma.sync;
 *   larger n (prefill)                activations to F16, weights dequantized to F16 in chunks
 *                                     of rows into a scratch buffer, cublasGemmEx (F16 inputs,
 *                                     F32 compute and output), then an epilogue kernel.
 *
 * All three launch work on fixed scratch (cuBLAS with its workspace set), so every path may be
 * captured in CUDA graphs (ct_cuda_matmul_graph_safe).
 *
 * F16 activations overflow past 65504 (Gemma's FFN activations can get there), so each token
 * row is scaled by a power of two when its largest magnitude reaches 2^15 and its outputs are
 * scaled back (exact; rows below 2^15, nearly all of them, are untouched).
 *
 * CTORCH_CUDA_MATMUL=auto|mma|cublas (read at create, and by graph_safe) forces one path for
 * every n: for tests and benchmarks. */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_matmul.h"
#include "backend/cuda/cuda_mmv.h"
#include "backend/cuda/dequant.cuh"
#include "backend/cuda/dequant_mma.cuh"
#include "core/status.h"
extern "C" {
#include "quant/types.h"
}

CT_DQ_FOR_EACH_TYPE(CT_MM_FUSED_EXTERN)

/* largest batch the fused kernel takes in auto mode; above it, dequantize + cuBLAS. First
 * predicted near 256 tokens; measured on an H100 (docs/perf.md, batched decode of 128
 * sequences of a Llama-2-7B Q4_K_M): 128-token passes through cuBLAS 1.55x faster.
 * CTORCH_CUDA_FUSED_MAX=n overrides it (for measuring the crossover). */
#define CT_MM_FUSED_MAX_TOKENS 64

/* a count from the environment variable `name` (def when unset), read once at create; false
 * for a value that is not a count */
static bool count_from_env(const char *name, int64_t def, int64_t *out) {
    const char *s = getenv(name);
    *out = def;
    if (!s || !*s) return true;
    char *end = NULL;
    const long long v = strtoll(s, &end, 10);
    if (*end || v < 0 || v > INT32_MAX) return false;
    *out = (int64_t)v;
    return true;
}
/* bound on the dequantized-weight scratch of the cuBLAS path (whole 4096x4096 matrices fit) */
#define CT_MM_DEQUANT_SCRATCH_BYTES ((size_t)64 << 20)
/* CTORCH_CUDA_DQ_CHUNK_MB=n: dequantize and multiply at most n MiB of F16 rows at a time
 * (default: the whole scratch). A chunk that fits in L2 is read by cuBLAS from there instead
 * of device memory; this knob measures whether that pays for the extra launches. */
#define CT_MM_DQ_CHUNK_MB_DEFAULT 64
/* the dequantized chunk holds at least this many rows, and a multiple of it */
#define CT_MM_CHUNK_ROWS_ALIGN 128
/* cuBLAS workspace (NVIDIA recommends 32 MiB on Hopper) */
#define CT_MM_CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)
/* activation rows in the F16 buffer are padded to a multiple of this many elements */
#define CT_MM_X_PAD 256

typedef enum { CT_MM_AUTO, CT_MM_MMA, CT_MM_CUBLAS } ct_mm_mode;

/* An F16 copy of a quantized weight (ct_cuda_matmul_add_f16_copy), found by the weight's
 * device address; the array is kept sorted by it. */
typedef struct ct_mm_f16_copy {
    const void *w;
    const __half *f16;
    int ld; /* halves between rows */
} ct_mm_f16_copy;
typedef enum { CT_MM_PATH_MMV, CT_MM_PATH_FUSED, CT_MM_PATH_CUBLAS } ct_mm_path;

struct ct_cuda_matmul {
    cudaStream_t stream;
    ct_mm_mode mode;
    int64_t fused_max; /* largest batch of the fused kernel in auto mode (CTORCH_CUDA_FUSED_MAX) */
    bool invariant; /* ct_cuda_matmul_set_batch_invariant */
    int n_sms; /* the fused kernel's tiling looks at how many blocks fill the GPU */
    cublasHandle_t cublas;
    void *workspace;
    /* F16 activations [cap_tokens][cap_ldx] and their per-row output factors */
    __half *x16;
    float *xscale;
    int64_t cap_tokens, cap_ldx;
    /* dequantized weight rows for cuBLAS */
    __half *wdq;
    size_t wdq_bytes;
    size_t dq_chunk_bytes; /* CTORCH_CUDA_DQ_CHUNK_MB */
    /* the fused kernel's split-K partial sums, for batches of up to partial_tokens */
    float *partial;
    int64_t partial_tokens;
    /* the GEMV's quantized activations (ct_cuda_mmv_scratch.act) */
    void *act;
    size_t act_bytes;
    /* F16 copies of weights (CTORCH_CUDA_F16_WEIGHTS): batches past the GEMV go to cuBLAS on them */
    ct_mm_f16_copy *f16s;
    size_t n_f16, cap_f16;
};

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* ---- types and uploads -------------------------------------------------------------------- */

extern "C" bool ct_cuda_matmul_type_supported(uint32_t type) {
    switch (type) {
#define CT_MM_CASE(T) case T:
        CT_DQ_FOR_EACH_TYPE(CT_MM_CASE)
#undef CT_MM_CASE
        return true;
    default: return false;
    }
}

extern "C" size_t ct_cuda_weight_device_bytes(const ct_tensor *w) { return w->row_bytes * (size_t)w->ne1; }

/* The layout the kernels rely on, as a message (NULL when w is fine). */
static const char *weight_layout_problem(const ct_tensor *w) {
    const ct_type_traits *tr = ct_type_traits_of(w->type);
    if (!tr || !ct_cuda_matmul_type_supported(w->type)) return "its type has no CUDA kernels";
    if (w->ne0 <= 0 || w->ne1 <= 0 || w->ne0 > INT32_MAX || w->ne1 > INT32_MAX) return "its shape is out of range";
    if (w->ne0 % tr->block_size != 0) return "its row length is not a multiple of the block size";
    if (w->row_bytes < (size_t)(w->ne0 / tr->block_size) * tr->type_size) return "its row stride is shorter than a row";
    if (w->row_bytes % tr->type_size != 0) return "its row stride is not a whole number of blocks";
    return NULL;
}

extern "C" ct_status ct_cuda_weight_upload(const ct_tensor *w, void *dev) {
    const char *name = w->name ? w->name : "(unnamed)";
    if (!ct_cuda_matmul_type_supported(w->type))
        return ct_fail(CT_ERR_UNSUPPORTED, "weight %s: type %s (id %u) has no CUDA kernels", name,
                       ct_type_name(w->type), (unsigned)w->type);
    const char *problem = weight_layout_problem(w);
    if (problem)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "weight %s (%s, %lld x %lld, row stride %zu): %s", name,
                       ct_type_name(w->type), (long long)w->ne1, (long long)w->ne0, w->row_bytes, problem);
    if ((uintptr_t)dev % 16 != 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "weight %s: device address %p is not 16-byte aligned", name, dev);
    cudaError_t e = cudaMemcpy(dev, w->data, ct_cuda_weight_device_bytes(w), cudaMemcpyHostToDevice);
    /* from pageable memory cudaMemcpy returns once the bytes are staged, before the DMA has
     * landed, and the backend's kernels run on a non-blocking stream that does not wait for
     * the legacy one: wait here */
    if (e == cudaSuccess) e = cudaStreamSynchronize(cudaStreamLegacy);
    if (e != cudaSuccess)
        return ct_fail(CT_ERR_DEVICE, "weight %s: uploading %zu bytes: %s", name, ct_cuda_weight_device_bytes(w),
                       cudaGetErrorString(e));
    return CT_OK;
}

/* ---- mode ------------------------------------------------------------------------------------ */

static bool mode_from_env(ct_mm_mode *mode) {
    const char *s = getenv("CTORCH_CUDA_MATMUL");
    *mode = CT_MM_AUTO;
    if (!s || !*s || strcmp(s, "auto") == 0) return true;
    if (strcmp(s, "mma") == 0) *mode = CT_MM_MMA;
    else if (strcmp(s, "cublas") == 0) *mode = CT_MM_CUBLAS;
    else return false;
    return true;
}

static ct_mm_path choose_path(ct_mm_mode mode, int64_t fused_max, int64_t n, uint32_t type) {
    if (mode == CT_MM_MMA) return CT_MM_PATH_FUSED;
    if (mode == CT_MM_CUBLAS) return CT_MM_PATH_CUBLAS;
    if (n <= CT_CUDA_MMV_MAX_TOKENS) return ct_cuda_mmv_type_supported(type) ? CT_MM_PATH_MMV : CT_MM_PATH_FUSED;
    return n <= fused_max ? CT_MM_PATH_FUSED : CT_MM_PATH_CUBLAS;
}

extern "C" bool ct_cuda_matmul_graph_safe(int64_t n_tokens) {
    /* every path, cuBLAS included: with a fixed workspace (cublasSetWorkspace) cuBLAS GEMMs
     * are captured like kernels, and the dequantized-chunk loop is the same for the same
     * shapes; the graph cache falls back to op-by-op passes if a capture fails anyway */
    (void)n_tokens;
    return true;
}

/* ---- lifetime ---------------------------------------------------------------------------------- */

static ct_status device_alloc(void **p, size_t bytes, const char *what) {
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaSuccess) return CT_OK;
    (void)cudaGetLastError();
    *p = NULL;
    size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    return ct_fail(CT_ERR_OUT_OF_MEMORY, "CUDA matmul: %s needs %zu bytes of device memory, %zu of %zu free (%s)",
                   what, bytes, free_b, total_b, cudaGetErrorString(e));
}

static cudaError_t prepare_fused_kernels(void) {
    cudaError_t e = cudaSuccess;
#define CT_MM_PREPARE(T) \
    if (e == cudaSuccess) e = ct_mm_fused_prepare<T>();
    CT_DQ_FOR_EACH_TYPE(CT_MM_PREPARE)
#undef CT_MM_PREPARE
    return e;
}

extern "C" ct_status ct_cuda_matmul_create(cudaStream_t stream, ct_cuda_matmul **out) {
    *out = NULL;
    ct_mm_mode mode;
    if (!mode_from_env(&mode))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "CTORCH_CUDA_MATMUL=%s: expected auto, mma or cublas",
                       getenv("CTORCH_CUDA_MATMUL"));
    int64_t fused_max, dq_chunk_mb;
    if (!count_from_env("CTORCH_CUDA_DQ_CHUNK_MB", CT_MM_DQ_CHUNK_MB_DEFAULT, &dq_chunk_mb) || dq_chunk_mb < 1)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "CTORCH_CUDA_DQ_CHUNK_MB=%s: expected a size in MiB (1 .. 2^31-1)",
                       getenv("CTORCH_CUDA_DQ_CHUNK_MB"));
    if (!count_from_env("CTORCH_CUDA_FUSED_MAX", CT_MM_FUSED_MAX_TOKENS, &fused_max))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "CTORCH_CUDA_FUSED_MAX=%s: expected a token count (0 .. 2^31-1)",
                       getenv("CTORCH_CUDA_FUSED_MAX"));
    const char *mmv_kernel = getenv("CTORCH_CUDA_MMV");
    if (mmv_kernel && *mmv_kernel && strcmp(mmv_kernel, "direct") != 0 && strcmp(mmv_kernel, "ring") != 0 &&
        strcmp(mmv_kernel, "q16") != 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "CTORCH_CUDA_MMV=%s: expected direct, q16 or ring", mmv_kernel);
    ct_cuda_mmv_set_kernel(!mmv_kernel                       ? CT_CUDA_MMV_DIRECT
                           : strcmp(mmv_kernel, "ring") == 0 ? CT_CUDA_MMV_RING
                           : strcmp(mmv_kernel, "q16") == 0  ? CT_CUDA_MMV_DIRECT_Q16
                                                             : CT_CUDA_MMV_DIRECT);
    ct_cuda_matmul *mm = (ct_cuda_matmul *)calloc(1, sizeof *mm);
    if (!mm) return ct_fail(CT_ERR_OUT_OF_MEMORY, "CUDA matmul: out of host memory");
    mm->stream = stream;
    mm->mode = mode;
    mm->fused_max = fused_max;
    mm->dq_chunk_bytes = (size_t)dq_chunk_mb << 20;
    int device = 0;
    cudaError_t ce = cudaGetDevice(&device);
    if (ce == cudaSuccess) ce = cudaDeviceGetAttribute(&mm->n_sms, cudaDevAttrMultiProcessorCount, device);
    if (ce == cudaSuccess) ce = prepare_fused_kernels();
    if (ce != cudaSuccess) {
        ct_cuda_matmul_destroy(mm);
        return ct_fail(CT_ERR_DEVICE, "CUDA matmul: device attributes, fused kernels' shared memory: %s",
                       cudaGetErrorString(ce));
    }
    cublasStatus_t st = cublasCreate(&mm->cublas);
    if (st != CUBLAS_STATUS_SUCCESS) {
        mm->cublas = NULL;
        ct_cuda_matmul_destroy(mm);
        return ct_fail(CT_ERR_DEVICE, "CUDA matmul: cublasCreate: %s", cublasGetStatusString(st));
    }
    ct_status s = device_alloc(&mm->workspace, CT_MM_CUBLAS_WORKSPACE_BYTES, "the cuBLAS workspace");
    if (s != CT_OK) {
        ct_cuda_matmul_destroy(mm);
        return s;
    }
    /* the stream first: cublasSetStream resets the workspace to cuBLAS's own pool */
    st = cublasSetStream(mm->cublas, stream);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetWorkspace(mm->cublas, mm->workspace, CT_MM_CUBLAS_WORKSPACE_BYTES);
    if (st != CUBLAS_STATUS_SUCCESS) {
        ct_cuda_matmul_destroy(mm);
        return ct_fail(CT_ERR_DEVICE, "CUDA matmul: binding cuBLAS to the stream: %s", cublasGetStatusString(st));
    }
    *out = mm;
    return CT_OK;
}

extern "C" void ct_cuda_matmul_set_batch_invariant(ct_cuda_matmul *mm, bool on) { mm->invariant = on; }

extern "C" void ct_cuda_matmul_destroy(ct_cuda_matmul *mm) {
    if (!mm) return;
    if (mm->cublas) cublasDestroy(mm->cublas);
    cudaFree(mm->workspace);
    cudaFree(mm->x16);
    cudaFree(mm->xscale);
    cudaFree(mm->wdq);
    cudaFree(mm->partial);
    cudaFree(mm->act);
    free(mm->f16s); /* the copies themselves belong to the caller */
    free(mm);
}

/* Split-K for the fused kernel: a matrix of few rows (q/k/v/o: 4096) gives few row blocks, one
 * block an SM or less, and each block walks the whole row in a latency-bound chain of steps.
 * Splitting the row k ways gives k times the blocks, finished by ct_mm_split_reduce. The split
 * depends on M and K only, never on n. Batches up to CT_MM_SPLIT_MAX_TOKENS tokens; none in
 * batch-invariant mode (one kernel for every n there, and the same sums). */
#define CT_MM_SPLIT_MAX_TOKENS 256
#define CT_MM_SPLIT_MAX 8
#define CT_MM_SPLIT_MIN_K 1024 /* elements of a row per split, at least */

/* rows that make ~4 blocks of 32 rows per SM */
static int64_t split_row_budget(const ct_cuda_matmul *mm) { return (int64_t)4 * 32 * (mm->n_sms > 0 ? mm->n_sms : 132); }

static int choose_k_splits(const ct_cuda_matmul *mm, int M, int K, int64_t n) {
    if (mm->invariant || !mm->partial || n > mm->partial_tokens) return 1;
    int64_t k = (split_row_budget(mm) + M - 1) / M;
    const int64_t most = K / CT_MM_SPLIT_MIN_K;
    if (k > most) k = most;
    if (k > CT_MM_SPLIT_MAX) k = CT_MM_SPLIT_MAX;
    return k > 1 ? (int)k : 1;
}

extern "C" ct_status ct_cuda_matmul_reserve(ct_cuda_matmul *mm, int64_t max_tokens, int64_t max_row) {
    if (max_tokens < 0 || max_row < 0 || max_tokens > INT32_MAX || max_row > INT32_MAX)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "CUDA matmul reserve: %lld tokens of rows of %lld elements",
                       (long long)max_tokens, (long long)max_row);
    const int64_t tokens = max_tokens > mm->cap_tokens ? max_tokens : mm->cap_tokens;
    const int64_t ldx = round_up(max_row, CT_MM_X_PAD) > mm->cap_ldx ? round_up(max_row, CT_MM_X_PAD) : mm->cap_ldx;
    if (tokens > mm->cap_tokens || ldx > mm->cap_ldx) {
        __half *x16 = NULL;
        float *xscale = NULL;
        CT_TRY(device_alloc((void **)&x16, (size_t)tokens * (size_t)ldx * sizeof(__half), "the F16 activations"));
        ct_status s = device_alloc((void **)&xscale, (size_t)tokens * sizeof(float), "the activation scales");
        if (s != CT_OK) {
            cudaFree(x16);
            return s;
        }
        cudaFree(mm->x16);
        cudaFree(mm->xscale);
        mm->x16 = x16;
        mm->xscale = xscale;
        mm->cap_tokens = tokens;
        mm->cap_ldx = ldx;
    }
    /* the cuBLAS path's weight chunks, when a batch can take it */
    const bool cublas_possible =
        mm->mode == CT_MM_CUBLAS || (mm->mode == CT_MM_AUTO && tokens > mm->fused_max);
    if (cublas_possible) {
        size_t need = CT_MM_DEQUANT_SCRATCH_BYTES;
        const size_t min_chunk = (size_t)CT_MM_CHUNK_ROWS_ALIGN * (size_t)round_up(max_row, 8) * sizeof(__half);
        if (min_chunk > need) need = min_chunk;
        if (need > mm->wdq_bytes) {
            __half *wdq = NULL;
            CT_TRY(device_alloc((void **)&wdq, need, "the dequantized weight chunk"));
            cudaFree(mm->wdq);
            mm->wdq = wdq;
            mm->wdq_bytes = need;
        }
    }
    /* split-K partials: a matrix of M rows splits at most ~kSplitRowBudget / M ways + 1
     * (choose_k_splits), so M x splits < 2 x kSplitRowBudget(n_sms) whatever M is */
    const int64_t ptok = tokens < CT_MM_SPLIT_MAX_TOKENS ? tokens : CT_MM_SPLIT_MAX_TOKENS;
    if (ptok > mm->partial_tokens) {
        float *partial = NULL;
        CT_TRY(device_alloc((void **)&partial, (size_t)ptok * 2 * (size_t)split_row_budget(mm) * sizeof(float),
                            "the split-K partial sums"));
        cudaFree(mm->partial);
        mm->partial = partial;
        mm->partial_tokens = ptok;
    }
    /* the GEMV's Q16 activations: CT_CUDA_MMV_MAX_TOKENS rows of max_row */
    const size_t act = ct_cuda_mmv_act_bytes(CT_CUDA_MMV_MAX_TOKENS, max_row);
    if (act > mm->act_bytes) {
        void *buf = NULL;
        CT_TRY(device_alloc(&buf, act, "the GEMV's quantized activations"));
        cudaFree(mm->act);
        mm->act = buf;
        mm->act_bytes = act;
    }
    return CT_OK;
}

extern "C" ct_cuda_mmv_scratch ct_cuda_matmul_mmv_scratch(const ct_cuda_matmul *mm) {
    ct_cuda_mmv_scratch s = {mm->act, mm->act_bytes, false, NULL, 0};
    return s;
}

/* ---- kernels of the F16 paths ---------------------------------------------------------------- */

#define CT_MM_CONVERT_THREADS 256

/* x16[t] = in[t] * 2^-e (zero-padded to ldx), xscale[t] = 2^e, e = 0 unless max|in[t]| >= 2^15 */
__global__ void __launch_bounds__(CT_MM_CONVERT_THREADS)
    ct_mm_convert_kernel(const float *in, size_t ldin, int K, __half *x16, int ldx, float *xscale) {
    const int t = blockIdx.x;
    const float *x = in + (size_t)t * ldin;
    float amax = 0.0f;
    for (int k = threadIdx.x; k < K; k += blockDim.x) amax = fmaxf(amax, fabsf(x[k]));
    __shared__ float red[CT_MM_CONVERT_THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = amax;
    __syncthreads();
    amax = red[0];
    for (int i = 1; i < CT_MM_CONVERT_THREADS / 32; i++) amax = fmaxf(amax, red[i]);
    int e = 0;
    if (amax >= 32768.0f && isfinite(amax)) {
        int ex;
        frexpf(amax, &ex); /* amax < 2^ex */
        e = ex - 15;       /* amax * 2^-e < 2^15 */
    }
    const float mul = ldexpf(1.0f, -e);
    __half *y = x16 + (size_t)t * ldx;
    for (int k = 2 * threadIdx.x; k < ldx; k += 2 * blockDim.x) {
        const float a = k < K ? x[k] * mul : 0.0f, b = k + 1 < K ? x[k + 1] * mul : 0.0f;
        *reinterpret_cast<__half2 *>(y + k) = __floats2half2_rn(a, b);
    }
    if (threadIdx.x == 0) xscale[t] = ldexpf(1.0f, e);
}

/* dst[r][0..ldd) = rows r0 + r of w as F16 (zero past K), r < rows */
template <int T>
__global__ void __launch_bounds__(256)
    ct_mm_dequant_f16_kernel(const uint8_t *w, size_t row_bytes, int K, int64_t r0, int64_t rows, __half *dst,
                             int ldd) {
    const int64_t groups = ldd / 8;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * groups) return;
    const int64_t r = i / groups;
    const int k = (int)(i % groups) * 8;
    float v[8];
    ct_dq8_tail<T>(w + (size_t)(r0 + r) * row_bytes, k, K, v);
    *reinterpret_cast<uint4 *>(dst + r * ldd + k) = ct_pack_half8(v);
}

#define CT_MM_EPI_PER_BLOCK 2048
/* out[t][r] = out[t][r] * xscale[t] + bias[r]; blocks of tokens without either return at once */
__global__ void __launch_bounds__(256)
    ct_mm_epilogue_kernel(float *out, size_t ldo, int M, const float *xscale, const float *bias) {
    const int t = blockIdx.x;
    const float s = xscale[t];
    if (s == 1.0f && !bias) return;
    float *o = out + (size_t)t * ldo;
    const int end = min(M, (int)(blockIdx.y + 1) * CT_MM_EPI_PER_BLOCK);
    for (int r = blockIdx.y * CT_MM_EPI_PER_BLOCK + threadIdx.x; r < end; r += blockDim.x)
        o[r] = o[r] * s + (bias ? bias[r] : 0.0f);
}

/* ---- the op ----------------------------------------------------------------------------------- */

static cudaError_t fail_op(cudaError_t e, const char *what, const ct_tensor *w) {
    ct_fail(CT_ERR_DEVICE, "CUDA matmul %s: %s", w && w->name ? w->name : "(unnamed)", what);
    return e;
}

static cudaError_t launch_fused(uint32_t type, const ct_mm_fused_args &a, int n_sms, cudaStream_t stream) {
    switch (type) {
#define CT_MM_FUSED_CASE(T) \
    case T: return ct_mm_fused_launch<T>(a, n_sms, stream);
        CT_DQ_FOR_EACH_TYPE(CT_MM_FUSED_CASE)
#undef CT_MM_FUSED_CASE
    default: return cudaErrorInvalidValue;
    }
}

static cudaError_t launch_dequant_f16(uint32_t type, const ct_tensor *w, int64_t r0, int64_t rows, __half *dst,
                                      int ldd, cudaStream_t stream) {
    const int64_t total = rows * (ldd / 8);
    const unsigned blocks = (unsigned)((total + 255) / 256);
    const uint8_t *wp = (const uint8_t *)w->data;
    const int K = (int)w->ne0;
    switch (type) {
#define CT_MM_DQ_CASE(T)                                                                                 \
    case T: ct_mm_dequant_f16_kernel<T><<<blocks, 256, 0, stream>>>(wp, w->row_bytes, K, r0, rows, dst, ldd); \
        break;
        CT_DQ_FOR_EACH_TYPE(CT_MM_DQ_CASE)
#undef CT_MM_DQ_CASE
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

/* ---- F16 copies of the weights ------------------------------------------------------------- */

static int f16_ld(const ct_tensor *w) { return (int)round_up(w->ne0, 8); }

extern "C" size_t ct_cuda_weight_f16_bytes(const ct_tensor *w) {
    return (size_t)f16_ld(w) * (size_t)w->ne1 * sizeof(__half);
}

/* the first copy whose weight address is not below w's */
static size_t f16_lower_bound(const ct_cuda_matmul *mm, const void *w) {
    size_t lo = 0, hi = mm->n_f16;
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if ((uintptr_t)mm->f16s[mid].w < (uintptr_t)w) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static const ct_mm_f16_copy *find_f16(const ct_cuda_matmul *mm, const void *w) {
    const size_t at = f16_lower_bound(mm, w);
    return at < mm->n_f16 && mm->f16s[at].w == w ? &mm->f16s[at] : NULL;
}

extern "C" ct_status ct_cuda_matmul_add_f16_copy(ct_cuda_matmul *mm, const ct_tensor *w, void *dst) {
    const char *name = w->name ? w->name : "(unnamed)";
    const char *problem = weight_layout_problem(w);
    if (problem) return ct_fail(CT_ERR_INVALID_ARGUMENT, "F16 copy of weight %s: %s", name, problem);
    if (mm->n_f16 == mm->cap_f16) {
        const size_t cap = mm->cap_f16 ? 2 * mm->cap_f16 : 64;
        ct_mm_f16_copy *grown = (ct_mm_f16_copy *)realloc(mm->f16s, cap * sizeof *grown);
        if (!grown) return ct_fail(CT_ERR_OUT_OF_MEMORY, "F16 copy of weight %s: out of host memory", name);
        mm->f16s = grown;
        mm->cap_f16 = cap;
    }
    const int ld = f16_ld(w);
    cudaError_t e = cudaMemsetAsync(dst, 0, ct_cuda_weight_f16_bytes(w), mm->stream); /* the padding columns */
    if (e == cudaSuccess) e = launch_dequant_f16(w->type, w, 0, w->ne1, (__half *)dst, ld, mm->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(mm->stream);
    if (e != cudaSuccess)
        return ct_fail(CT_ERR_DEVICE, "F16 copy of weight %s (%s, %lld x %lld): %s", name, ct_type_name(w->type),
                       (long long)w->ne1, (long long)w->ne0, cudaGetErrorString(e));
    const size_t at = f16_lower_bound(mm, w->data);
    const bool replace = at < mm->n_f16 && mm->f16s[at].w == w->data; /* a new weight at a freed one's address */
    if (!replace) memmove(mm->f16s + at + 1, mm->f16s + at, (mm->n_f16 - at) * sizeof *mm->f16s);
    mm->f16s[at].w = w->data;
    mm->f16s[at].f16 = (const __half *)dst;
    mm->f16s[at].ld = ld;
    if (!replace) mm->n_f16++;
    return CT_OK;
}

static cudaError_t run_cublas(ct_cuda_matmul *mm, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                              int n, int ldx, const ct_mm_f16_copy *copy) {
    const int M = (int)w->ne1, K = (int)w->ne0;
    const int ldo = (int)(out->row_bytes / sizeof(float));
    const float alpha = 1.0f, beta = 0.0f;
    float *o = (float *)out->data;
    cudaError_t e;
    if (w->type == CT_TYPE_F16 || copy) {
        /* F16 weights, or a weight's F16 copy, go in as they are */
        const void *a = copy ? (const void *)copy->f16 : w->data;
        const int lda = copy ? copy->ld : (int)(w->row_bytes / 2);
        cublasStatus_t st = cublasGemmEx(mm->cublas, CUBLAS_OP_T, CUBLAS_OP_N, M, n, K, &alpha, a, CUDA_R_16F, lda,
                                         mm->x16, CUDA_R_16F, ldx, &beta, o, CUDA_R_32F, ldo, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT);
        if (st != CUBLAS_STATUS_SUCCESS) return fail_op(cudaErrorUnknown, cublasGetStatusString(st), w);
    } else {
        const int ldw = (int)round_up(K, 8);
        const size_t chunk_bytes = mm->dq_chunk_bytes < mm->wdq_bytes ? mm->dq_chunk_bytes : mm->wdq_bytes;
        int64_t chunk = (int64_t)(chunk_bytes / ((size_t)ldw * sizeof(__half)));
        if (chunk < CT_MM_CHUNK_ROWS_ALIGN) chunk = CT_MM_CHUNK_ROWS_ALIGN; /* the scratch holds that many */
        chunk = chunk / CT_MM_CHUNK_ROWS_ALIGN * CT_MM_CHUNK_ROWS_ALIGN;
        if (chunk <= 0) return fail_op(cudaErrorInvalidValue, "rows longer than reserved (dequantized chunk)", w);
        for (int64_t r0 = 0; r0 < M; r0 += chunk) {
            const int rows = (int)(M - r0 < chunk ? M - r0 : chunk);
            if ((e = launch_dequant_f16(w->type, w, r0, rows, mm->wdq, ldw, mm->stream)) != cudaSuccess) return e;
            cublasStatus_t st = cublasGemmEx(mm->cublas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, K, &alpha, mm->wdq,
                                             CUDA_R_16F, ldw, mm->x16, CUDA_R_16F, ldx, &beta, o + r0, CUDA_R_32F, ldo,
                                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            if (st != CUBLAS_STATUS_SUCCESS) return fail_op(cudaErrorUnknown, cublasGetStatusString(st), w);
        }
    }
    const dim3 grid((unsigned)n, (unsigned)((M + CT_MM_EPI_PER_BLOCK - 1) / CT_MM_EPI_PER_BLOCK));
    ct_mm_epilogue_kernel<<<grid, 256, 0, mm->stream>>>(o, (size_t)ldo, M, mm->xscale,
                                                        bias ? (const float *)bias->data : NULL);
    return cudaGetLastError();
}

extern "C" cudaError_t ct_cuda_matmul_run(ct_cuda_matmul *mm, const ct_tensor *out, const ct_tensor *w,
                                          const ct_tensor *bias, const ct_tensor *in) {
    return ct_cuda_matmul_run_q16(mm, out, w, bias, in, false);
}

extern "C" cudaError_t ct_cuda_matmul_run_q16(ct_cuda_matmul *mm, const ct_tensor *out, const ct_tensor *w,
                                              const ct_tensor *bias, const ct_tensor *in, bool act_ready) {
    /* the core validated the model; these checks are cheap and keep a bad call from reading
     * or writing out of bounds */
    const char *problem = weight_layout_problem(w);
    if (problem) return fail_op(cudaErrorInvalidValue, problem, w);
    if ((uintptr_t)w->data % 16 != 0) return fail_op(cudaErrorMisalignedAddress, "weight not 16-byte aligned", w);
    if (in->type != CT_TYPE_F32 || out->type != CT_TYPE_F32 || in->ne0 != w->ne0 || out->ne0 != w->ne1 ||
        out->ne1 != in->ne1 || in->row_bytes % 4 || out->row_bytes % 4 || in->row_bytes < (size_t)in->ne0 * 4 ||
        out->row_bytes < (size_t)out->ne0 * 4)
        return fail_op(cudaErrorInvalidValue, "input/output shapes do not match the weight", w);
    if (bias && (bias->type != CT_TYPE_F32 || bias->ne0 * bias->ne1 != w->ne1))
        return fail_op(cudaErrorInvalidValue, "bias shape does not match the weight", w);
    const int64_t n = in->ne1;
    if (n == 0) return cudaSuccess;
    if (n > INT32_MAX) return fail_op(cudaErrorInvalidValue, "too many tokens", w);

    ct_mm_path path = mm->invariant ? CT_MM_PATH_FUSED : choose_path(mm->mode, mm->fused_max, n, w->type);
    if (path == CT_MM_PATH_MMV) {
        ct_cuda_mmv_scratch scratch = ct_cuda_matmul_mmv_scratch(mm);
        scratch.act_ready = act_ready;
        return ct_cuda_mmv(mm->stream, out, w, bias, in, &scratch);
    }
    /* an F16 copy makes cuBLAS the better path for every batch past the GEMV: no dequantization */
    const ct_mm_f16_copy *copy = mm->invariant || mm->mode == CT_MM_MMA ? NULL : find_f16(mm, w->data);
    if (copy) path = CT_MM_PATH_CUBLAS;

    const int K = (int)w->ne0, M = (int)w->ne1;
    const int ldx = (int)round_up(K, CT_MM_X_PAD);
    if (n > mm->cap_tokens || ldx > mm->cap_ldx)
        return fail_op(cudaErrorInvalidValue, "batch larger than reserved (ct_cuda_matmul_reserve)", w);
    if (path == CT_MM_PATH_CUBLAS && w->type != CT_TYPE_F16 && !copy && !mm->wdq)
        return fail_op(cudaErrorInvalidValue, "no dequantization buffer reserved for a cuBLAS-sized batch", w);
    if ((M + 63) / 64 > 65535) return fail_op(cudaErrorInvalidValue, "more than 4M rows", w);

    ct_mm_convert_kernel<<<(unsigned)n, CT_MM_CONVERT_THREADS, 0, mm->stream>>>(
        (const float *)in->data, in->row_bytes / sizeof(float), K, mm->x16, ldx, mm->xscale);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;

    if (path == CT_MM_PATH_CUBLAS) return run_cublas(mm, out, w, bias, (int)n, ldx, copy);

    ct_mm_fused_args a;
    a.w = (const uint8_t *)w->data;
    a.w_row_bytes = w->row_bytes;
    a.w_end = a.w + ct_cuda_weight_device_bytes(w);
    a.M = M;
    a.K = K;
    a.x = mm->x16;
    a.ldx = ldx;
    a.xscale = mm->xscale;
    a.n = (int)n;
    a.out = (float *)out->data;
    a.ldo = out->row_bytes / sizeof(float);
    a.bias = bias ? (const float *)bias->data : NULL;
    a.k_splits = choose_k_splits(mm, M, K, n);
    a.partial = mm->partial;
    return launch_fused(w->type, a, mm->n_sms, mm->stream);
}
