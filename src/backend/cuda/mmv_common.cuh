/* Private to the decode matrix-vector kernels (mmv*.cu): launch parameters, the geometry
 * every kernel shares, and small device helpers (async copies, shared-memory reads at the
 * alignment a block layout gives, integer-to-float tricks).
 *
 * How a kernel works (see mmv_kernel.cuh): one warp owns kRows weight rows and all n tokens.
 * It walks the rows' bytes in stages of BPS quantization blocks; each stage is copied, raw,
 * with 16-byte cp.async into a warp-private ring of shared memory (several stages in flight,
 * no registers held by the loads), then every lane decodes one "unit" of a block (a fixed
 * slice of it: a Q4_K lane takes 32 bytes of nibbles, i.e. two 32-weight sub-blocks) for
 * all kRows rows, so each activation it loads is used kRows times. */
#ifndef CT_BACKEND_CUDA_MMV_COMMON_CUH
#define CT_BACKEND_CUDA_MMV_COMMON_CUH

#include <stdint.h>

#ifndef CT_MMV_HOST_EMULATION /* a CPU harness compiles the decoders with its own shims (tests/test_mmv_lanes.cpp) */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include "backend/cuda/activations.cuh"
#endif

namespace ct_mmv {

constexpr int kRows = 4;          /* weight rows per warp: activation reuse factor */
constexpr int kWarps = 2;         /* warps per block (independent; only share the block) */
constexpr int kThreads = 32 * kWarps;
constexpr int kSmemPerWarp = 16 * 1024; /* ring budget per warp: 16 warps/SM fit in 228 KiB */
constexpr int kMaxStages = 3;

/* What a warp does with its finished sums (Params::epilogue). */
enum Epilogue {
    kStore = 0,      /* out = W in (+ bias) */
    kAccumulate = 1, /* out += W in (+ bias): the residual add fused (ct_cuda_mmv_add) */
    kSwiglu = 2,     /* segments 0 (gate) and 1 (up): out = silu(gate) * up (ct_cuda_mmv_glu) */
    kGeglu = 3,      /* the same with gelu_tanh(gate) */
};

constexpr int kMaxSegments = 3;

/* One matrix of a multi-matrix launch: the same input, the same weight type and row length. */
struct Segment {
    const uint8_t *w;
    uint64_t w_span;
    float *out;
    int64_t out_stride; /* floats between token rows of this segment's output */
    const float *bias;
    int ne1;
    int first_block; /* the launch's blocks from here on are this segment's (set by the launcher) */
};

struct Params {
    const uint8_t *w;     /* 16-byte aligned */
    uint64_t w_row_bytes; /* distance between weight rows */
    uint64_t w_span;      /* bytes from w to one past the last byte of the last row: never read beyond */
    const float *in;      /* 16-byte aligned rows */
    int64_t in_stride;    /* floats between token rows */
    float *out;
    int64_t out_stride;   /* floats between token rows */
    const float *bias;    /* NULL or ne1 floats */
    int ne1;              /* weight rows = outputs per token */
    int nb;               /* blocks per weight row */
    int stages;           /* ring depth, 1..kMaxStages, <= number of stages */
    int epilogue;         /* Epilogue */
    int seg;              /* the segment this warp computes (multi-matrix launches) */
    int n_seg;            /* 0: one matrix (the fields above); 2..kMaxSegments: segs[] */
    int direct;           /* the direct kernel (mmv_direct.cuh) where the type has one, else the ring */
    /* the direct kernel's integer path (mmv_q16.cuh): NULL, or the input quantized to Q16
     * rows act_stride bytes apart */
    const uint8_t *act;
    int64_t act_stride;
    Segment segs[kMaxSegments];
    /* kSwiglu/kGeglu: the two halves meet through pair_stride counters (in the scratch's
     * first third, whatever n and ne1: zero before a launch, zero again after it) and
     * [2][pair_stride] floats (after the counters' region) */
    float *pair_scratch;
    unsigned *pair_flags;
    int64_t pair_stride; /* n tokens x ne1 */
};

#ifndef CT_MMV_HOST_EMULATION
/* The epilogue for (token t, row): v is the warp's sum. The fused residual computes
 * x + (W in + bias) exactly as matmul then add would; the fused GLU rounds as the separate
 * swiglu/geglu ops (activations.cuh): every fusion is bit-identical to the unfused ops. */
__device__ __forceinline__ void store_result(const Params &p, int t, int64_t row, float v) {
    float *dst = p.out + t * p.out_stride + row;
    const float r = p.bias ? v + p.bias[row] : v;
    if (p.epilogue == kStore) {
        *dst = r;
    } else if (p.epilogue == kAccumulate) {
        *dst = *dst + r;
    } else {
        /* gate and up rows are computed by different warps: the second to finish combines */
        const int64_t i = static_cast<int64_t>(t) * p.ne1 + row;
        __stcg(p.pair_scratch + p.seg * p.pair_stride + i, r);
        __threadfence();
        if (atomicAdd(p.pair_flags + i, 1u) == 1u) {
            __threadfence();
            const float other = __ldcg(p.pair_scratch + (1 - p.seg) * p.pair_stride + i);
            const float g = p.seg == 0 ? r : other, u = p.seg == 0 ? other : r;
            *dst = p.epilogue == kSwiglu ? ct_swiglu1(g, u) : ct_geglu1(g, u);
            p.pair_flags[i] = 0u; /* ready for the next launch (stream order) */
        }
    }
}
#endif

/* How a decoder hands its weights to the kernel. */
enum Mode {
    kOffset7, /* 4 bytes, each a level q in 0..127; value = alpha * (2 + q/64) + beta */
    kExact8,  /* 4 bytes, each a signed level + 128 (0..255); value = alpha * q */
    kDirect,  /* 4 floats */
};

/* Shared-memory geometry of one decoder's stage: a ring slot holds kRows row slices, each
 * padded so the 16-byte-aligned copy of an unaligned slice fits, plus 16 bytes so the
 * two-word reads of lds_a2 never leave the slot. */
template <class D>
struct Geometry {
    static constexpr int kStageRowBytes = D::BPS * D::TS;
    static constexpr int kChunksPerRow = (kStageRowBytes + 30) / 16 + 1;
    static constexpr int kSlotRow = kChunksPerRow * 16;
    static constexpr int kSlot = kRows * kSlotRow;
    static constexpr int kUnitsPerStage = D::BPS * D::UPB;
    static constexpr int kUnitsPerLane = kUnitsPerStage / 32;
    static_assert(kUnitsPerStage % 32 == 0, "a stage must give every lane the same number of units");
    static_assert(kStageRowBytes % 16 == 0, "stages keep a row's alignment: one misalignment per row");
    static_assert(kSlot <= kSmemPerWarp, "one stage must fit the per-warp ring budget");
    static constexpr int max_stages() {
        return kSmemPerWarp / kSlot < kMaxStages ? kSmemPerWarp / kSlot : kMaxStages;
    }
};

/* ---- shared-memory reads ------------------------------------------------------------- */

__device__ __forceinline__ uint32_t lds16(const uint8_t *p) { return *reinterpret_cast<const uint16_t *>(p); }
__device__ __forceinline__ uint32_t lds32(const uint8_t *p) { return *reinterpret_cast<const uint32_t *>(p); }
__device__ __forceinline__ uint4 lds128(const uint8_t *p) { return *reinterpret_cast<const uint4 *>(p); }

/* Word i of the bytes at p, where p is only 2-byte aligned: two aligned words and a funnel
 * shift. Written with one base pointer so calls for consecutive i share their loads. */
__device__ __forceinline__ uint32_t lds_a2(const uint8_t *p, int i) {
    /* pointer arithmetic (not an integer round trip) keeps the shared address space */
    const uint32_t misalign = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p)) & 2;
    const uint32_t *base = reinterpret_cast<const uint32_t *>(p - misalign);
    return __funnelshift_r(base[i], base[i + 1], misalign * 8);
}

/* ---- conversions ---------------------------------------------------------------------- */

#ifndef CT_MMV_HOST_EMULATION /* the harness brings its own */
__device__ __forceinline__ float half_bits_to_float(uint32_t bits) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(bits & 0xFFFF)));
}
#endif

/* Byte k of q (a level 0..127) as the float 2 + q/64: the byte becomes bits 16..23 of a
 * float whose top byte is 0x40 (exponent 128), one PRMT and no int->float conversion. */
template <int K>
__device__ __forceinline__ float level7_to_float(uint32_t q) {
    return __uint_as_float(__byte_perm(q, 0x40000000u, 0x7044u | (K << 8)));
}
/* Byte k of u (a signed level + 128) as the exact float q: 2^23 + u, minus 2^23 + 128. */
template <int K>
__device__ __forceinline__ float level8_to_float(uint32_t u) {
    return __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7440u | K)) - 8388736.0f;
}

/* v + w . a, summed in the order w[0] a.x, w[1] a.y, w[2] a.z, w[3] a.w (each a fused
 * multiply-add): the one inner product every GEMV kernel takes per chunk and token. */
__device__ __forceinline__ float fma4(const float (&w)[4], const float4 &a, float v) {
    v = fmaf(w[0], a.x, v);
    v = fmaf(w[1], a.y, v);
    v = fmaf(w[2], a.z, v);
    return fmaf(w[3], a.w, v);
}

/* Word k (compile-time after unrolling) of a 16-byte load. */
__device__ __forceinline__ uint32_t word_of(const uint4 &v, int k) { return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w; }

#ifndef CT_MMV_HOST_EMULATION
__device__ __forceinline__ float4 ldg_float4(const float *p) { return __ldg(reinterpret_cast<const float4 *>(p)); }
#endif

} // namespace ct_mmv

#endif
