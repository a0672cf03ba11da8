/* Device primitives of the tensor-core attention kernels (sm_80+ PTX): asynchronous 16-byte
 * copies to shared memory, ldmatrix, and mma.sync m16n8k16 (F16 inputs, F32 accumulators).
 *
 * Fragment layouts of mma.m16n8k16 (lane = 4 * g + t, g = lane / 4, t = lane % 4):
 *   A (16 x 16, row major), 4 x f16x2:  a0 (row g, cols 2t..2t+1), a1 (row g+8, same cols),
 *                                       a2 (row g, cols 2t+8..2t+9), a3 (row g+8, cols 2t+8..)
 *   B (16 x 8, k x n), 2 x f16x2:       b0 (k 2t..2t+1, col g), b1 (k 2t+8..2t+9, col g)
 *   C (16 x 8, row major), 4 x f32:     c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, same cols)
 * ldmatrix (8 x 8 matrices of 16-bit values, each row 16 contiguous bytes in shared memory;
 * lanes 8i..8i+7 give the row addresses of matrix i): lane gets (row g, cols 2t..2t+1) of each
 * matrix, or with .trans (rows 2t..2t+1, col g). */
#ifndef CT_BACKEND_CUDA_ATTENTION_MMA_CUH
#define CT_BACKEND_CUDA_ATTENTION_MMA_CUH

#include <cuda_fp16.h>
#include <stdint.h>

#include "backend/cuda/attention_internal.cuh"

__device__ __forceinline__ uint32_t ct_smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* 16 bytes from global src to shared dst; zero-filled instead when !valid (src is not read) */
__device__ __forceinline__ void ct_cp_async16(uint32_t dst, const void *src, bool valid) {
    int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n) : "memory");
}
__device__ __forceinline__ void ct_cp_async_commit(void) { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void ct_cp_async_wait_all(void) { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

__device__ __forceinline__ void ct_ldmatrix_x4(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}
__device__ __forceinline__ void ct_ldmatrix_x4_trans(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

/* c += a b */
__device__ __forceinline__ void ct_mma_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t ct_pack_half2(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
/* the two values of a packed pair, as F32 (the rounded values the mma sees) */
__device__ __forceinline__ float ct_half2_sum(uint32_t x) {
    __half2 h = *reinterpret_cast<__half2 *>(&x);
    return __low2float(h) + __high2float(h);
}

__device__ __forceinline__ float ct_quad_max(float x) {
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
    return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float ct_quad_sum(float x) {
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

/* Copy q rows into a shared F16 tile of `rows` rows of D halves (stride ld), zeros past dk and
 * for rows whose src is NULL. row_src(r) gives the F32 source of row r or NULL. dk % 4 == 0. */
template <int D, typename RowSrc>
__device__ __forceinline__ void ct_load_q_tile(__half *qs, int ld, int rows, int dk, RowSrc row_src) {
    constexpr int C4 = D / 4; /* float4 chunks per row */
    for (int i = threadIdx.x; i < rows * C4; i += blockDim.x) {
        int r = i / C4, c = (i % C4) * 4;
        const float *src = row_src(r);
        float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
        if (src && c < dk) x = *reinterpret_cast<const float4 *>(src + c);
        __half2 lo = __floats2half2_rn(x.x, x.y), hi = __floats2half2_rn(x.z, x.w);
        uint2 u;
        u.x = *reinterpret_cast<uint32_t *>(&lo);
        u.y = *reinterpret_cast<uint32_t *>(&hi);
        *reinterpret_cast<uint2 *>(qs + r * ld + c) = u;
    }
}

/* Keys and values of positions ts .. ts+BN-1 of one KV head into shared tiles [BN][D + 8]
 * (rows 16-byte chunks: D/8 per row, the first dk/8 (dv/8) real, the rest zero). Rows past
 * hi are zero-filled, never read: the cache cells there may hold anything (NaN), and a zero
 * row times a zero probability stays zero. NT threads (a multiple of D/8). */
template <int D, int BN, int NT>
__device__ __forceinline__ void ct_load_kv_tile(const ct_attn_params &p, const int32_t *table, int kv_head, int ts,
                                                int hi, __half *ks, __half *vs) {
    constexpr int CH = D / 8, LD = D + 8, RSTEP = NT / CH;
    static_assert(NT % CH == 0, "threads must cover whole rows");
    const int c = threadIdx.x % CH;
    const bool k_real = c < p.dk / 8, v_real = c < p.dv / 8;
    const char *k_base = (const char *)p.k + (size_t)kv_head * p.dk * 2 + c * 16;
    const char *v_base = (const char *)p.v + (size_t)kv_head * p.dv * 2 + c * 16;
#pragma unroll
    for (int r = threadIdx.x / CH; r < BN; r += RSTEP) {
        const int pos = ts + r;
        const bool ok = pos <= hi;
        const int64_t cell = ok ? ct_attn_cell(p, table, pos) : 0;
        ct_cp_async16(ct_smem_addr(ks + r * LD + c * 8), ok && k_real ? k_base + cell * p.k_row : p.k, ok && k_real);
        ct_cp_async16(ct_smem_addr(vs + r * LD + c * 8), ok && v_real ? v_base + cell * p.v_row : p.v, ok && v_real);
    }
}

#endif
