/* The fused matmul for mid-size batches (9..64 tokens by default): quantized weight tiles are copied
 * raw into shared memory, dequantized there to F16, and multiplied on the tensor cores
 * (mma.sync m16n8k16, F32 accumulate) against F16 activation tiles. Each weight byte is read
 * from device memory once per block of BN tokens, instead of the cuBLAS path's dequantized
 * F16 copy (write 2 B + read 2 B per weight on top of the 0.56 B of Q4_K).
 *
 * Block: BM weight rows x BN tokens, 4 warps; (BM, BN) = (64, 16|32|64) when that grid fills
 * the GPU, else (32, 32|64) with a deeper pipeline (a 4096-row matrix at n <= 64 would give
 * only 64 blocks of 64 rows for 132 SMs). The K loop runs over stages of KT elements (256 for
 * quantized types: one k-quant super-block or eight 32-blocks per row; 64 for F16/BF16/F32),
 * pipelined S stages deep with cp.async:
 *   stage s: the raw bytes of KT elements of each of the 64 rows (16-byte chunks from the
 *            row's segment start rounded down to 16, so that shared addresses keep the global
 *            addresses' alignment modulo 16 and ct_dq8's aligned loads stay valid), and the
 *            BN x KT F16 activations;
 *   per 64 elements of a stage: every thread dequantizes 4 groups of 8 into the F16 tile
 *            (double-buffered), one barrier, then each warp runs its mma over the tile.
 * Rows past M and tokens past n are computed on stale shared memory and never stored.
 * Elements past K are zero in both operands (the activation buffer is zero-padded to a
 * multiple of 256, the dequantizer writes zeros), so no garbage reaches a stored output.
 *
 * Only matmul.cu and the matmul_fused_*.cu files (explicit instantiations, one file per group
 * of types so they compile in parallel) include this header. */
#ifndef CT_BACKEND_CUDA_DEQUANT_MMA_CUH
#define CT_BACKEND_CUDA_DEQUANT_MMA_CUH

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/cuda/dequant.cuh"

typedef struct ct_mm_fused_args {
    const uint8_t *w;     /* weight rows as uploaded (16-byte aligned) */
    size_t w_row_bytes;
    const uint8_t *w_end; /* w + w_row_bytes * M: no load goes past it */
    int M, K;             /* weight rows, elements per row */
    const __half *x;      /* F16 activations [n][ldx], zero in [K, ldx) */
    int ldx;              /* a multiple of 256 */
    const float *xscale;  /* [n] power-of-two factor each token's outputs are multiplied by */
    int n;
    float *out;           /* [n][ldo] */
    size_t ldo;
    const float *bias;    /* NULL or [M] */
} ct_mm_fused_args;

#define CT_MM_FUSED_THREADS 128
#define CT_MM_FUSED_MAX_BLOCKS_Y 65535 /* row blocks of 32: M up to 2M */

/* Enqueue the fused matmul for weight type T (the tile follows n, M and the SM count). */
template <int T> cudaError_t ct_mm_fused_launch(const ct_mm_fused_args &a, int n_sms, cudaStream_t stream);
/* Allow the kernels of type T their dynamic shared memory (> 48 KiB); once per process is enough. */
template <int T> cudaError_t ct_mm_fused_prepare(void);

/* ---- PTX wrappers ------------------------------------------------------------------------ */

__device__ __forceinline__ void ct_cp_async16(void *smem, const void *gmem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
}
__device__ __forceinline__ void ct_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void ct_cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void ct_ldmatrix_x4(uint32_t r[4], const void *smem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s)
                 : "memory");
}
/* d += a b: a 16x16 row-major F16, b 16x8 (k x n) F16, d 16x8 F32 */
__device__ __forceinline__ void ct_mma_16816(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* ---- tile geometry ---------------------------------------------------------------------- */

template <int T> struct ct_mm_tile {
    static constexpr int KT = ct_dq_traits<T>::plain ? 64 : 256; /* elements of K per stage */
    static_assert(KT % 64 == 0 && KT % ct_dq_traits<T>::block == 0, "stages are whole blocks and dequantize steps");
    static constexpr int SEG = KT / ct_dq_traits<T>::block * ct_dq_traits<T>::bytes; /* bytes per row per stage */
    static constexpr int NCH = (SEG + 15 + 15) / 16; /* 16-byte chunks covering a segment at any offset mod 16 */
    static constexpr int RAWB = NCH * 16;
    static constexpr int BSTR = KT + 8; /* halves per activation row in shared memory (ldmatrix without conflicts) */
};

#define CT_MM_AK 64             /* elements per dequantize step */
#define CT_MM_ASTR (CT_MM_AK + 8) /* halves per row of the dequantized tile */

template <int BM, int BN> struct ct_mm_warps {
    static constexpr int WM = BM == 64 && BN == 16 ? 4 : 2; /* warps along the rows */
    static constexpr int WN = 4 / WM;                       /* warps along the tokens */
    static constexpr int MT = BM / (16 * WM);               /* m16 tiles per warp */
    static constexpr int NT = BN / (8 * WN);                /* n8 tiles per warp (even: ldmatrix.x4 loads two) */
    static_assert(NT % 2 == 0 && MT >= 1 && BM * CT_MM_AK % (8 * CT_MM_FUSED_THREADS) == 0, "warp tiling");
};

/* pipeline depth: 3 stages for 64-row blocks (two blocks per SM for the smaller tiles); the
 * 32-row blocks run about one per SM and keep more bytes in flight themselves */
template <int BM, int BN> struct ct_mm_stages {
    static constexpr int S = BM == 64 ? 3 : BN == 32 ? 5 : 4;
};

template <int T, int BM, int BN> constexpr size_t ct_mm_fused_smem() {
    using TK = ct_mm_tile<T>;
    return (size_t)ct_mm_stages<BM, BN>::S * (BM * TK::RAWB + BN * TK::BSTR * 2) + 2 * BM * CT_MM_ASTR * 2;
}

/* ---- the kernel ------------------------------------------------------------------------- */

template <int T, int BM, int BN>
__global__ void __launch_bounds__(CT_MM_FUSED_THREADS) ct_mm_fused_kernel(const ct_mm_fused_args a) {
    using TK = ct_mm_tile<T>;
    using WL = ct_mm_warps<BM, BN>;
    constexpr int NTHR = CT_MM_FUSED_THREADS, S = ct_mm_stages<BM, BN>::S;
    constexpr int KT = TK::KT, SEG = TK::SEG, NCH = TK::NCH, RAWB = TK::RAWB, BSTR = TK::BSTR;
    constexpr int MT = WL::MT, NT = WL::NT;

    extern __shared__ __align__(16) uint8_t ct_mm_smem[];
    uint8_t *raw = ct_mm_smem;                                         /* [S][BM][RAWB] */
    __half *bs = reinterpret_cast<__half *>(ct_mm_smem + S * BM * RAWB); /* [S][BN][BSTR] */
    __half *af = bs + S * BN * BSTR;                                   /* [2][BM][ASTR] */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int n0 = blockIdx.x * BN, m0 = blockIdx.y * BM;
    const int nks = (a.K + KT - 1) / KT;

    /* cp.async of stage ks into buffer buf (the last chunk of the allocation byte by byte) */
    auto load_stage = [&](int ks, int buf) {
        const size_t seg_off = (size_t)ks * SEG;
        uint8_t *rdst = raw + buf * BM * RAWB;
        for (int i = tid; i < BM * NCH; i += NTHR) {
            const int r = i / NCH, c = i % NCH;
            if (m0 + r >= a.M) continue;
            const uint8_t *start = a.w + (size_t)(m0 + r) * a.w_row_bytes + seg_off;
            const uintptr_t start_al = reinterpret_cast<uintptr_t>(start) & ~(uintptr_t)15;
            const uint8_t *src = reinterpret_cast<const uint8_t *>(start_al) + 16 * c;
            if (src >= start + SEG) continue;
            uint8_t *dst = rdst + r * RAWB + 16 * c;
            if (src + 16 <= a.w_end) {
                ct_cp_async16(dst, src);
            } else {
                for (int j = 0; j < 16 && src + j < a.w_end; j++) dst[j] = src[j];
            }
        }
        __half *bdst = bs + buf * BN * BSTR;
        const int k0 = ks * KT;
        for (int i = tid; i < BN * (KT / 8); i += NTHR) {
            const int r = i / (KT / 8), c = i % (KT / 8);
            if (n0 + r >= a.n) continue;
            ct_cp_async16(bdst + r * BSTR + 8 * c, a.x + (size_t)(n0 + r) * a.ldx + k0 + 8 * c);
        }
    };

    /* dequantize elements [64 sub, 64 sub + 64) of stage ks (buffer buf) into tile par */
    auto dequant = [&](int ks, int buf, int sub, int par) {
        const int g = tid & 7;
        const int kl = sub * CT_MM_AK + 8 * g; /* element within the stage */
        const int left = a.K - ks * KT;       /* elements of the row from the stage start */
        const uint8_t *rbase = raw + buf * BM * RAWB;
        __half *adst = af + par * BM * CT_MM_ASTR;
#pragma unroll
        for (int q = 0; q < BM * CT_MM_AK / 8 / NTHR; q++) {
            const int r = (tid >> 3) + (NTHR / 8) * q;
            const uintptr_t start =
                reinterpret_cast<uintptr_t>(a.w) + (size_t)(m0 + r) * a.w_row_bytes + (size_t)ks * SEG;
            const uint8_t *row = rbase + r * RAWB + (start & 15);
            float v[8];
            ct_dq8_tail<T>(row, kl, left, v);
            *reinterpret_cast<uint4 *>(adst + r * CT_MM_ASTR + 8 * g) = ct_pack_half8(v);
        }
    };

    const int wm = warp % WL::WM, wn = warp / WL::WM;
    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    auto mma_step = [&](int buf, int sub, int par) {
        const __half *abase = af + par * BM * CT_MM_ASTR + (wm * MT * 16) * CT_MM_ASTR;
        const __half *bbase = bs + buf * BN * BSTR + (wn * NT * 8) * BSTR + sub * CT_MM_AK;
#pragma unroll
        for (int kk = 0; kk < CT_MM_AK / 16; kk++) {
            uint32_t afr[MT][4], bfr[NT][2];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                ct_ldmatrix_x4(afr[mt], abase + (mt * 16 + (lane & 15)) * CT_MM_ASTR + kk * 16 + 8 * (lane >> 4));
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                uint32_t r[4];
                const int tok = np * 16 + (lane & 7) + 8 * (lane >> 4), kc = kk * 16 + 8 * ((lane >> 3) & 1);
                ct_ldmatrix_x4(r, bbase + tok * BSTR + kc);
                bfr[2 * np][0] = r[0];
                bfr[2 * np][1] = r[1];
                bfr[2 * np + 1][0] = r[2];
                bfr[2 * np + 1][1] = r[3];
            }
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++) ct_mma_16816(acc[mt][nt], afr[mt], bfr[nt]);
        }
    };

#pragma unroll
    for (int s = 0; s < S - 1; s++) {
        if (s < nks) load_stage(s, s);
        ct_cp_async_commit();
    }
    int par = 0;
    for (int ks = 0; ks < nks; ks++) {
        ct_cp_async_wait<S - 2>(); /* stage ks has landed (this thread's copies) */
        __syncthreads();           /* ... everyone's; and stage ks-1's buffer is free */
        if (ks + S - 1 < nks) load_stage(ks + S - 1, (ks + S - 1) % S);
        ct_cp_async_commit();
        const int buf = ks % S;
#pragma unroll
        for (int sub = 0; sub < KT / CT_MM_AK; sub++) {
            if (ks * KT + sub * CT_MM_AK >= a.K) break;
            dequant(ks, buf, sub, par);
            __syncthreads();
            mma_step(buf, sub, par);
            par ^= 1; /* the next step writes the other tile while slow warps may still read this one */
        }
    }

    /* c0,c1: row g, tokens 2c, 2c+1; c2,c3: row g+8 (g = lane/4, c = lane%4) */
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int r = m0 + wm * MT * 16 + mt * 16 + (lane >> 2) + 8 * (e >> 1);
                const int t = n0 + wn * NT * 8 + nt * 8 + 2 * (lane & 3) + (e & 1);
                if (r < a.M && t < a.n)
                    a.out[(size_t)t * a.ldo + r] = acc[mt][nt][e] * a.xscale[t] + (a.bias ? a.bias[r] : 0.0f);
            }
}

template <int T, int BM, int BN>
static cudaError_t ct_mm_fused_launch_tile(const ct_mm_fused_args &a, cudaStream_t stream) {
    const dim3 grid((unsigned)((a.n + BN - 1) / BN), (unsigned)((a.M + BM - 1) / BM));
    ct_mm_fused_kernel<T, BM, BN><<<grid, CT_MM_FUSED_THREADS, ct_mm_fused_smem<T, BM, BN>(), stream>>>(a);
    return cudaGetLastError();
}

template <int T> cudaError_t ct_mm_fused_launch(const ct_mm_fused_args &a, int n_sms, cudaStream_t stream) {
    const int bn = a.n <= 16 ? 16 : a.n <= 32 ? 32 : 64;
    const long blocks64 = (long)((a.M + 63) / 64) * ((a.n + bn - 1) / bn);
    if (blocks64 >= n_sms || (a.M + 31) / 32 > CT_MM_FUSED_MAX_BLOCKS_Y) {
        if (bn == 16) return ct_mm_fused_launch_tile<T, 64, 16>(a, stream);
        if (bn == 32) return ct_mm_fused_launch_tile<T, 64, 32>(a, stream);
        return ct_mm_fused_launch_tile<T, 64, 64>(a, stream);
    }
    if (bn <= 32) return ct_mm_fused_launch_tile<T, 32, 32>(a, stream);
    return ct_mm_fused_launch_tile<T, 32, 64>(a, stream);
}

template <int T, int BM, int BN> static cudaError_t ct_mm_fused_prepare_tile(void) {
    return cudaFuncSetAttribute(ct_mm_fused_kernel<T, BM, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)ct_mm_fused_smem<T, BM, BN>());
}

template <int T> cudaError_t ct_mm_fused_prepare(void) {
    cudaError_t e = ct_mm_fused_prepare_tile<T, 64, 16>();
    if (e == cudaSuccess) e = ct_mm_fused_prepare_tile<T, 64, 32>();
    if (e == cudaSuccess) e = ct_mm_fused_prepare_tile<T, 64, 64>();
    if (e == cudaSuccess) e = ct_mm_fused_prepare_tile<T, 32, 32>();
    if (e == cudaSuccess) e = ct_mm_fused_prepare_tile<T, 32, 64>();
    return e;
}

/* Explicit instantiation declarations/definitions, one X per type. */
#define CT_MM_FUSED_EXTERN(T)                                                                   \
    extern template cudaError_t ct_mm_fused_launch<T>(const ct_mm_fused_args &, int, cudaStream_t); \
    extern template cudaError_t ct_mm_fused_prepare<T>(void);
#define CT_MM_FUSED_INSTANTIATE(T)                                                       \
    template cudaError_t ct_mm_fused_launch<T>(const ct_mm_fused_args &, int, cudaStream_t); \
    template cudaError_t ct_mm_fused_prepare<T>(void);

#endif
