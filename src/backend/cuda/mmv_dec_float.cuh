/* Decoders for unquantized weights (F32, F16, BF16): a "block" is 8 consecutive elements
 * and a lane's unit is one block. Rows must be 16-byte aligned and ne0 a multiple of 8
 * (the launcher sends other shapes to the simple fallback kernel in mmv.cu). */
#ifndef CT_BACKEND_CUDA_MMV_DEC_FLOAT_CUH
#define CT_BACKEND_CUDA_MMV_DEC_FLOAT_CUH

#include "backend/cuda/mmv_common.cuh"

namespace ct_mmv {

/* 8 floats = 32 bytes per block; two float4 chunks. */
struct DecF32 {
    static constexpr int QK = 8, TS = 32, UPB = 1, BPS = 32, NG = 1, STEPS = 1, CPS = 2, ALIGN = 16;
    static constexpr Mode MODE = kDirect;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = 0.0f;
    __device__ static int col(int, int, int j) { return 4 * j; }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static float4 values(const uint8_t *blk, int, int, int j) {
        const uint4 v = lds128(blk + 16 * j);
        return make_float4(__uint_as_float(v.x), __uint_as_float(v.y), __uint_as_float(v.z), __uint_as_float(v.w));
    }
};

/* 8 halves = 16 bytes per block; two lanes' worth of blocks per stage keeps stages 1 KiB. */
struct DecF16 {
    static constexpr int QK = 8, TS = 16, UPB = 1, BPS = 64, NG = 1, STEPS = 1, CPS = 2, ALIGN = 16;
    static constexpr Mode MODE = kDirect;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = 0.0f;
    __device__ static int col(int, int, int j) { return 4 * j; }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static float4 values(const uint8_t *blk, int, int, int j) {
        const uint4 v = lds128(blk);
        const uint32_t a = j ? v.z : v.x, b = j ? v.w : v.y;
        const float2 lo = __half22float2(*reinterpret_cast<const __half2 *>(&a));
        const float2 hi = __half22float2(*reinterpret_cast<const __half2 *>(&b));
        return make_float4(lo.x, lo.y, hi.x, hi.y);
    }
};

/* bfloat16 is the top half of a float: a shift or a mask per element. */
struct DecBF16 {
    static constexpr int QK = 8, TS = 16, UPB = 1, BPS = 64, NG = 1, STEPS = 1, CPS = 2, ALIGN = 16;
    static constexpr Mode MODE = kDirect;
    static constexpr bool HAS_MIN = false;
    static constexpr float BETA_K = 0.0f;
    __device__ static int col(int, int, int j) { return 4 * j; }
    __device__ static constexpr int group(int) { return 0; }
    __device__ static float4 values(const uint8_t *blk, int, int, int j) {
        const uint4 v = lds128(blk);
        const uint32_t a = j ? v.z : v.x, b = j ? v.w : v.y;
        return make_float4(__uint_as_float(a << 16), __uint_as_float(a & 0xFFFF0000u), __uint_as_float(b << 16),
                           __uint_as_float(b & 0xFFFF0000u));
    }
};

} // namespace ct_mmv

#endif
