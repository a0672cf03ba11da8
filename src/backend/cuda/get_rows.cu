/* ct_cuda_get_rows (cuda_matmul.h): the embedding lookup, out[t] = row rows[t] of a table of any
 * supported weight type, dequantized to F32 bit-identically to the CPU reference (dequant.cuh).
 * One thread per 8 elements; a row id outside the table gives a row of NaN (the core validates
 * tokens before the pass, so this only keeps a bad id from reading out of bounds). */
#include <cuda_runtime_api.h>
#include <math.h>

#include "backend/cuda/cuda_matmul.h"
#include "backend/cuda/dequant.cuh"

#define CT_GET_ROWS_THREADS 128

template <int T>
__global__ void __launch_bounds__(CT_GET_ROWS_THREADS)
    ct_get_rows_kernel(const uint8_t *table, size_t row_bytes, int64_t n_rows, int K, const int32_t *rows,
                       float *out, size_t ldo) {
    const int t = blockIdx.x;
    const int k = 8 * (blockIdx.y * CT_GET_ROWS_THREADS + threadIdx.x);
    if (k >= K) return;
    float *o = out + (size_t)t * ldo + k;
    const int count = K - k < 8 ? K - k : 8;
    const int32_t id = rows[t];
    float v[8];
    if (id < 0 || id >= n_rows) {
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = __int_as_float(0x7fc00000);
    } else {
        ct_dq8_tail<T>(table + (size_t)id * row_bytes, k, K, v);
    }
    if (count == 8 && (reinterpret_cast<uintptr_t>(o) & 15) == 0) {
        reinterpret_cast<float4 *>(o)[0] = make_float4(v[0], v[1], v[2], v[3]);
        reinterpret_cast<float4 *>(o)[1] = make_float4(v[4], v[5], v[6], v[7]);
    } else {
#pragma unroll
        for (int i = 0; i < 8; i++)
            if (i < count) o[i] = v[i];
    }
}

extern "C" cudaError_t ct_cuda_get_rows(cudaStream_t stream, const ct_tensor *out, const ct_tensor *table,
                                        const int32_t *rows, int32_t n) {
    if (n < 0 || out->type != CT_TYPE_F32 || out->ne0 != table->ne0 || out->ne1 < n || out->row_bytes % 4 ||
        out->row_bytes < (size_t)out->ne0 * 4 || table->ne0 <= 0 || table->ne0 > INT32_MAX ||
        !ct_cuda_matmul_type_supported(table->type) || (uintptr_t)table->data % 16 != 0)
        return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    const int K = (int)table->ne0;
    const unsigned groups = (unsigned)((K + 7) / 8);
    const dim3 grid((unsigned)n, (groups + CT_GET_ROWS_THREADS - 1) / CT_GET_ROWS_THREADS);
    const uint8_t *tp = (const uint8_t *)table->data;
    float *op = (float *)out->data;
    const size_t ldo = out->row_bytes / sizeof(float);
    switch (table->type) {
#define CT_GET_ROWS_CASE(T)                                                                                     \
    case T:                                                                                                     \
        ct_get_rows_kernel<T><<<grid, CT_GET_ROWS_THREADS, 0, stream>>>(tp, table->row_bytes, table->ne1, K, rows, \
                                                                         op, ldo);                              \
        break;
        CT_DQ_FOR_EACH_TYPE(CT_GET_ROWS_CASE)
#undef CT_GET_ROWS_CASE
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}
