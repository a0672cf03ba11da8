/* The fused matmul for mid-size batches (9..64 tokens by default): quantized weight tiles are copied
 * raw into shared memory, dequantized there to F16, and multiplied on the tensor cores
 * (mma.sync m16n8k16, F32 accumulate) against F16 activation tiles. Each weight byte is read
 * from device memory once per block of BN tokens, instead of the cuBLAS path's dequantized
 * F16 copy (write 2 B + read 2 B per weight on top of the 0.56 B of Q4_K).
 *
 * Block: BM weight rows x BN tokens, BN = 16|32|64|128 following the batch; 64 rows when that
 * grid fills the GPU, else 32 rows (a 4096-row matrix at n <= 64 would give only 64 blocks of
 * 64 rows for 132 SMs). 4 warps, 8 for the 128-token tile. The K loop runs in steps of 64
 * elements, pipelined with cp.async in two rings:
 *   raw stages: the bytes of KT elements (256 for quantized types: one k-quant super-block or
 *            eight 32-blocks per row; 64 for F16/BF16/F32) of each of the BM rows, as 16-byte
 *            chunks from the row's segment start rounded down to 16, so that shared addresses
 *            keep the global addresses' alignment modulo 16 and ct_dq8's aligned loads stay
 *            valid; issued DR steps ahead;
 *   activation tiles: the BN x 64 F16 activations of one step, SA - 1 steps ahead.
 * Staging activations per step rather than per stage keeps a block at 60-110 KiB of shared
 * memory, so that 2-3 blocks share an SM (the per-stage layout needed ~150 KiB: one block of
 * 4 warps an SM, ~50 TFLOP/s at 128 tokens).
 * Per step: every thread dequantizes groups of 8 into the F16 tile, one barrier, then each
 * warp runs its mma over the tile; a barrier at the top of the next step frees the tiles.
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
    int k_splits;         /* > 1: blockIdx.z takes 1/k_splits of the stages, sums go to partial */
    float *partial;       /* [k_splits][n][M] when k_splits > 1 (ct_mm_split_reduce finishes) */
} ct_mm_fused_args;

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

#define CT_MM_AK 64               /* elements per step: one dequantized tile, one activation tile */
#define CT_MM_ASTR (CT_MM_AK + 8) /* halves per row of both tiles (ldmatrix without bank conflicts) */

template <int T> struct ct_mm_tile {
    static constexpr int KT = ct_dq_traits<T>::plain ? 64 : 256; /* elements of K per raw weight stage */
    static_assert(KT % CT_MM_AK == 0 && KT % ct_dq_traits<T>::block == 0, "stages are whole blocks and steps");
    static constexpr int SPS = KT / CT_MM_AK;                                        /* steps per stage */
    static constexpr int SEG = KT / ct_dq_traits<T>::block * ct_dq_traits<T>::bytes; /* bytes per row per stage */
    static constexpr int NCH = (SEG + 15 + 15) / 16; /* 16-byte chunks covering a segment at any offset mod 16 */
    static constexpr int RAWB = NCH * 16;
};

/* Warps and pipeline of a BM x BN tile. A warp takes (BM / WM) x (BN / WN); 8 warps for the
 * 128-token tile, so that its one block per 64 rows still has 8 warps an SM.
 *   SA  activation tiles in flight (one per 64-element step, BN x 64 F16 each);
 *   SR  raw weight stages (KT elements of BM rows), issued DR steps before their first step.
 * Buffer reuse: a stage's raw buffer is refilled DR steps before its first use, after the
 * barrier that ends every step, so DR <= (SR - 1) * SPS; it must also land by then: DR >= SA - 1. */
template <int BM, int BN> struct ct_mm_warps {
    static constexpr int NW = BN == 128 ? 8 : 4;
    static constexpr int WM = BN == 128 ? 2 : BM == 64 && BN == 16 ? 4 : 2; /* warps along the rows */
    static constexpr int WN = NW / WM;                                        /* warps along the tokens */
    static constexpr int MT = BM / (16 * WM);                                 /* m16 tiles per warp */
    static constexpr int NT = BN / (8 * WN); /* n8 tiles per warp (even: ldmatrix.x4 loads two) */
    static constexpr int NTHR = 32 * NW;
    static_assert(NT % 2 == 0 && MT >= 1 && BM * CT_MM_AK % (8 * NTHR) == 0, "warp tiling");
};

template <int T, int BM, int BN> struct ct_mm_pipe {
    static constexpr int SPS = ct_mm_tile<T>::SPS;
    static constexpr int SA = BN == 128 ? 3 : 4;
    static constexpr int SR = SPS == 1 ? SA : 3;
    static constexpr int DR = (SR - 1) * SPS;
    static_assert(DR >= SA - 1 && DR <= (SR - 1) * SPS, "raw stages land in time and are not overwritten early");
};

template <int T, int BM, int BN> constexpr size_t ct_mm_fused_smem() {
    using P = ct_mm_pipe<T, BM, BN>;
    return (size_t)P::SR * BM * ct_mm_tile<T>::RAWB + ((size_t)P::SA * BN + BM) * CT_MM_ASTR * 2;
}

/* ---- the kernel ------------------------------------------------------------------------- */

template <int T, int BM, int BN>
__global__ void __launch_bounds__(ct_mm_warps<BM, BN>::NTHR) ct_mm_fused_kernel(const ct_mm_fused_args a) {
    using TK = ct_mm_tile<T>;
    using WL = ct_mm_warps<BM, BN>;
    using P = ct_mm_pipe<T, BM, BN>;
    constexpr int NTHR = WL::NTHR, SA = P::SA, SR = P::SR, DR = P::DR, SPS = TK::SPS;
    constexpr int KT = TK::KT, SEG = TK::SEG, NCH = TK::NCH, RAWB = TK::RAWB, ASTR = CT_MM_ASTR;
    constexpr int MT = WL::MT, NT = WL::NT;

    extern __shared__ __align__(16) uint8_t ct_mm_smem[];
    uint8_t *raw = ct_mm_smem;                                          /* [SR][BM][RAWB] */
    __half *bs = reinterpret_cast<__half *>(ct_mm_smem + SR * BM * RAWB); /* [SA][BN][ASTR] */
    __half *af = bs + SA * BN * ASTR;                                   /* [BM][ASTR] */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int n0 = blockIdx.x * BN, m0 = blockIdx.y * BM;
    /* this block's stages [st0, st1) of the row: all of them, or its split's share */
    const int all_steps = (a.K + CT_MM_AK - 1) / CT_MM_AK, all_stages = (a.K + KT - 1) / KT;
    const int per_split = (all_stages + a.k_splits - 1) / a.k_splits;
    const int st0 = blockIdx.z * per_split, st1 = min(all_stages, st0 + per_split);
    const int j0 = st0 * SPS, j1 = min(all_steps, st1 * SPS);

    /* cp.async of raw stage ks into buffer ks % SR (the last chunk of the allocation byte by byte) */
    auto load_raw = [&](int ks) {
        const size_t seg_off = (size_t)ks * SEG;
        uint8_t *rdst = raw + (ks % SR) * BM * RAWB;
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
    };
    /* cp.async of the BN x 64 activations of step j into buffer j % SA */
    auto load_act = [&](int j) {
        __half *bdst = bs + (j % SA) * BN * ASTR;
        const int k0 = j * CT_MM_AK;
        for (int i = tid; i < BN * (CT_MM_AK / 8); i += NTHR) {
            const int r = i / (CT_MM_AK / 8), c = i % (CT_MM_AK / 8);
            if (n0 + r >= a.n) continue;
            ct_cp_async16(bdst + r * ASTR + 8 * c, a.x + (size_t)(n0 + r) * a.ldx + k0 + 8 * c);
        }
    };

    /* dequantize the 64 elements of step j (stage j / SPS) into the tile */
    auto dequant = [&](int j) {
        const int ks = j / SPS, sub = j % SPS;
        const int g = tid & 7;
        const int kl = sub * CT_MM_AK + 8 * g; /* element within the stage */
        const int left = a.K - ks * KT;       /* elements of the row from the stage start */
        const uint8_t *rbase = raw + (ks % SR) * BM * RAWB;
#pragma unroll
        for (int q = 0; q < BM * CT_MM_AK / 8 / NTHR; q++) {
            const int r = (tid >> 3) + (NTHR / 8) * q;
            const uintptr_t start =
                reinterpret_cast<uintptr_t>(a.w) + (size_t)(m0 + r) * a.w_row_bytes + (size_t)ks * SEG;
            const uint8_t *row = rbase + r * RAWB + (start & 15);
            float v[8];
            ct_dq8_tail<T>(row, kl, left, v);
            *reinterpret_cast<uint4 *>(af + r * ASTR + 8 * g) = ct_pack_half8(v);
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

    /* the k16 products in order: an output's sum does not depend on the tile (batch invariance) */
    auto mma_step = [&](int j) {
        const __half *abase = af + (wm * MT * 16) * ASTR;
        const __half *bbase = bs + (j % SA) * BN * ASTR + (wn * NT * 8) * ASTR;
#pragma unroll
        for (int kk = 0; kk < CT_MM_AK / 16; kk++) {
            uint32_t afr[MT][4], bfr[NT][2];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                ct_ldmatrix_x4(afr[mt], abase + (mt * 16 + (lane & 15)) * ASTR + kk * 16 + 8 * (lane >> 4));
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                uint32_t r[4];
                const int tok = np * 16 + (lane & 7) + 8 * (lane >> 4), kc = kk * 16 + 8 * ((lane >> 3) & 1);
                ct_ldmatrix_x4(r, bbase + tok * ASTR + kc);
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

    /* Commit groups: the prologue's SA - 1 (the first also holds the raw stages issued before
     * step 0), then one per step. At step j, waiting for all but the newest SA - 2 groups
     * means step j's activations and its raw stage have landed. */
    for (int ks = st0; (ks - st0) * SPS < DR && ks < st1; ks++) load_raw(ks);
#pragma unroll
    for (int j = 0; j < SA - 1; j++) {
        if (j0 + j < j1) load_act(j0 + j);
        ct_cp_async_commit();
    }
    for (int j = j0; j < j1; j++) {
        ct_cp_async_wait<SA - 2>();
        __syncthreads(); /* everyone's copies for step j; step j - 1's tiles are free */
        if (j + SA - 1 < j1) load_act(j + SA - 1);
        if ((j + DR) % SPS == 0 && (j + DR) / SPS < st1) load_raw((j + DR) / SPS);
        ct_cp_async_commit();
        dequant(j);
        __syncthreads();
        mma_step(j);
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
                if (r >= a.M || t >= a.n) continue;
                if (a.k_splits > 1)
                    a.partial[((size_t)blockIdx.z * a.n + t) * a.M + r] = acc[mt][nt][e];
                else
                    a.out[(size_t)t * a.ldo + r] = acc[mt][nt][e] * a.xscale[t] + (a.bias ? a.bias[r] : 0.0f);
            }
}

/* out[t][r] = (partial[0][t][r] + partial[1][t][r] + ...) * xscale[t] + bias[r], the splits
 * summed in order */
static __global__ void __launch_bounds__(256) ct_mm_split_reduce(const ct_mm_fused_args a) {
    const int t = blockIdx.y, r = blockIdx.x * 256 + threadIdx.x;
    if (r >= a.M) return;
    float sum = a.partial[(size_t)t * a.M + r];
    for (int s = 1; s < a.k_splits; s++) sum += a.partial[((size_t)s * a.n + t) * a.M + r];
    a.out[(size_t)t * a.ldo + r] = sum * a.xscale[t] + (a.bias ? a.bias[r] : 0.0f);
}

template <int T, int BM, int BN>
static cudaError_t ct_mm_fused_launch_tile(const ct_mm_fused_args &a, cudaStream_t stream) {
    const dim3 grid((unsigned)((a.n + BN - 1) / BN), (unsigned)((a.M + BM - 1) / BM), (unsigned)a.k_splits);
    ct_mm_fused_kernel<T, BM, BN>
        <<<grid, ct_mm_warps<BM, BN>::NTHR, ct_mm_fused_smem<T, BM, BN>(), stream>>>(a);
    if (a.k_splits > 1) ct_mm_split_reduce<<<dim3((unsigned)((a.M + 255) / 256), (unsigned)a.n), 256, 0, stream>>>(a);
    return cudaGetLastError();
}

/* The tile: as many tokens as the batch has (up to 128), 64 rows when that gives a block per
 * SM, else 32 rows (and 64 tokens) for more blocks. */
template <int T> cudaError_t ct_mm_fused_launch(const ct_mm_fused_args &a, int n_sms, cudaStream_t stream) {
    const int bn = a.n <= 16 ? 16 : a.n <= 32 ? 32 : a.n <= 64 ? 64 : 128;
    const long blocks64 = (long)((a.M + 63) / 64) * ((a.n + bn - 1) / bn) * a.k_splits;
    if (blocks64 >= n_sms || (a.M + 31) / 32 > CT_MM_FUSED_MAX_BLOCKS_Y) {
        if (bn == 16) return ct_mm_fused_launch_tile<T, 64, 16>(a, stream);
        if (bn == 32) return ct_mm_fused_launch_tile<T, 64, 32>(a, stream);
        if (bn == 64) return ct_mm_fused_launch_tile<T, 64, 64>(a, stream);
        return ct_mm_fused_launch_tile<T, 64, 128>(a, stream);
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
    if (e == cudaSuccess) e = ct_mm_fused_prepare_tile<T, 64, 128>();
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
