/* The direct GEMV's lane decoders (src/backend/cuda/mmv_lane.cuh) compiled for the CPU, with
 * shims for the few CUDA intrinsics they use, against the reference dequantizers (src/quant/).
 * Runs everywhere (no GPU): it checks the layouts, which the GPU test (test_cuda_mmv) can only
 * check through whole dot products on the device machine.
 *
 * For each type: rows of fresh random data quantized by the reference quantizer, stored at
 * byte offsets 0 and 2 mod 4 (the 2-byte-aligned types take both paths of ldw_words_a2);
 * every block is decoded as the kernel does, lane slice s = 0..T-1, chunk c = 0..C-1: four
 * levels through levels_to_float, scaled by the group's (alpha, beta). Checked: the chunks of
 * all lanes cover each of the block's columns exactly once, groups are runs of consecutive
 * chunks, and every decoded weight equals the reference dequantization within
 * 4e-6 * (|alpha| * 4 + |beta|) + 1e-30 (the kernel's form alpha * (2 + q/64) + beta rounds
 * twice in F32; one wrong level or scale is off by at least |alpha|/64). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "quant/fp16.h"
#include "quant/quant.h"
#include "quant/types.h"
}

/* ---- shims for the intrinsics the decoders use ---------------------------------------------- */
#define CT_MMV_HOST_EMULATION 1
#define __device__
#define __host__
#define __forceinline__ inline

struct uint4 {
    uint32_t x, y, z, w;
};
struct float4 {
    float x, y, z, w;
};

static inline uint32_t __byte_perm(uint32_t a, uint32_t b, uint32_t sel) {
    const uint64_t v = (static_cast<uint64_t>(b) << 32) | a;
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) {
        const uint32_t k = (sel >> (4 * i)) & 7;
        r |= static_cast<uint32_t>((v >> (8 * k)) & 0xFF) << (8 * i);
    }
    return r;
}
static inline uint32_t __funnelshift_r(uint32_t lo, uint32_t hi, uint32_t shift) {
    const uint64_t v = (static_cast<uint64_t>(hi) << 32) | lo;
    return static_cast<uint32_t>(v >> (shift & 31));
}
static inline float __uint_as_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline float __uint2float_rn(uint32_t u) { return static_cast<float>(u); }
static inline float __int2float_rn(int i) { return static_cast<float>(i); }

namespace ct_mmv {
static inline float half_bits_to_float(uint32_t bits) { return ct_fp16_to_fp32(static_cast<uint16_t>(bits & 0xFFFF)); }
static inline float4 ldg_float4(const float *p) { return float4{p[0], p[1], p[2], p[3]}; }
/* dp4a.u32.s32: unsigned bytes of u times signed bytes of a */
static inline int dp4a_us(uint32_t u, uint32_t a, int c) {
    for (int k = 0; k < 4; k++)
        c += static_cast<int>((u >> (8 * k)) & 0xFF) * static_cast<int>(static_cast<int8_t>((a >> (8 * k)) & 0xFF));
    return c;
}
static inline uint32_t ld_act32(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline float ld_act_d(const float *p) { return *p; }
} // namespace ct_mmv

#include "backend/cuda/mmv_lane.cuh"
#include "backend/cuda/mmv_q16.cuh"
#include "backend/cuda/mmv_unit.cuh"

static int checks, failures;
#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            if (failures++ < 20) {                                                    \
                fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
                fprintf(stderr, __VA_ARGS__);                                         \
                fputc('\n', stderr);                                                  \
            }                                                                         \
        }                                                                             \
    } while (0)

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float uniform(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return static_cast<float>((rng * 2685821657736338717ull) >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f;
}

template <class L>
static void check_type(ct_type type, const char *name) {
    using namespace ct_mmv;
    constexpr int kBlocks = 12, kCols = kBlocks * L::QK;
    static_assert(L::T * L::C * 4 == L::QK, "the lanes' chunks cover a block");
    const ct_type_traits *tr = ct_type_traits_of(static_cast<uint32_t>(type));
    CHECK_MSG(tr && tr->block_size == L::QK && tr->type_size == static_cast<uint32_t>(L::TS), "%s: block geometry", name);
    if (!tr) return;

    /* groups are runs of consecutive chunks (the kernel folds a group at its last chunk) */
    for (int c = 1; c < L::C; c++)
        for (int e = 0; e + 1 < c; e++)
            CHECK_MSG(!(L::group(e) == L::group(c) && L::group(c - 1) != L::group(c)), "%s: group %d not consecutive", name,
                      L::group(c));

    float src[kCols], ref[kCols];
    static uint8_t buf[kBlocks * 256 + 64];
    for (int rep = 0; rep < 8; rep++) {
        /* per-block scales and a per-row offset, so every scale and min field matters */
        const float offset = uniform() * 0.5f;
        for (int i = 0; i < kCols; i++) {
            const float block_scale = 0.05f + 2.0f * fabsf(sinf(static_cast<float>(i / 16 + rep)));
            src[i] = offset + block_scale * uniform();
        }
        for (int misalign = 0; misalign <= 2; misalign += 2) {
            uint8_t *row = buf + 16 + misalign;
            if (ct_quantize_row(type, src, row, kCols) != CT_OK ||
                ct_dequantize_row(type, row, ref, kCols) != CT_OK) {
                CHECK_MSG(false, "%s: reference quantizer failed", name);
                return;
            }
            int covered[kCols];
            memset(covered, 0, sizeof covered);
            for (int b = 0; b < kBlocks; b++) {
                const uint8_t *blk = row + static_cast<size_t>(b) * L::TS;
                for (int s = 0; s < L::T; s++) {
                    const typename L::Raw raw = L::load(blk, s);
                    for (int c = 0; c < L::C; c++) {
                        float alpha = 0.0f, beta = 0.0f;
                        L::scale(raw, s, L::group(c), alpha, beta);
                        if (!L::HAS_MIN) beta = L::BETA_K * alpha;
                        float w[4];
                        levels_to_float<L::MODE>(L::levels(raw, s, c), w);
                        for (int k = 0; k < 4; k++) {
                            const int col = b * L::QK + L::col(s, c) + k;
                            if (col < b * L::QK || col >= (b + 1) * L::QK) {
                                CHECK_MSG(false, "%s: lane %d chunk %d column %d outside its block", name, s, c, col);
                                continue;
                            }
                            covered[col]++;
                            const float got = L::MODE == kOffset7 ? fmaf(w[k], alpha, beta) : w[k] * alpha;
                            const double tol = 4e-6 * (4.0 * fabs(alpha) + fabs(beta)) + 1e-30;
                            CHECK_MSG(fabs(static_cast<double>(got) - ref[col]) <= tol,
                                      "%s (offset %d mod 4) block %d lane %d chunk %d: column %d is %.9g, reference "
                                      "%.9g",
                                      name, misalign, b, s, c, col, static_cast<double>(got), static_cast<double>(ref[col]));
                        }
                    }
                }
            }
            for (int i = 0; i < kCols; i++)
                CHECK_MSG(covered[i] == 1, "%s: column %d decoded %d times", name, i, covered[i]);
        }
    }
}

/* The integer path (mmv_q16.cuh): every lane's q16_block over rows of fresh random blocks
 * against fresh random Q16 activations (all of qs, ql and d random, so each half and scale
 * matters), summed over lanes and blocks, against the float64 dot of the reference
 * dequantization with the Q16 values d (256 qs + ql). Tolerance 1e-6 of sum |w x| plus
 * 1e-6 of sum |x| times the row's largest |w|: the integer sums are exact, the float steps per
 * group round a few times at the scale of a u and b (one wrong level moves the sum by at
 * least |a| |x| ~ 1/16 of a weight). */
template <class L>
static void check_q16(ct_type type, const char *name) {
    using namespace ct_mmv;
    constexpr int kBlocks = 8, kCols = kBlocks * L::QK;
    static float src[kCols], deq[kCols];
    static uint8_t buf[kBlocks * 256 + 64];
    static int8_t qs[kCols], ql[kCols];
    static float d[kCols / 32];
    for (int rep = 0; rep < 8; rep++) {
        const float offset = uniform() * 0.5f;
        for (int i = 0; i < kCols; i++) src[i] = offset + (0.05f + 2.0f * fabsf(sinf(static_cast<float>(i / 16 + rep)))) * uniform();
        for (int i = 0; i < kCols; i++) {
            qs[i] = static_cast<int8_t>(static_cast<int>(uniform() * 127.0f));
            ql[i] = static_cast<int8_t>(static_cast<int>(uniform() * 127.0f));
        }
        for (int b = 0; b < kCols / 32; b++) d[b] = (0.5f + fabsf(uniform())) * 1e-4f;
        for (int misalign = 0; misalign <= 2; misalign += 2) {
            uint8_t *row = buf + 16 + misalign;
            if (ct_quantize_row(type, src, row, kCols) != CT_OK || ct_dequantize_row(type, row, deq, kCols) != CT_OK) {
                CHECK_MSG(false, "%s: reference quantizer failed", name);
                return;
            }
            double want = 0, mag = 0, xsum = 0, wmax = 0;
            for (int i = 0; i < kCols; i++) {
                const double x = static_cast<double>(d[i / 32]) * (256.0 * qs[i] + ql[i]);
                want += deq[i] * x;
                mag += fabs(deq[i] * x);
                xsum += fabs(x);
                wmax = fabs(deq[i]) > wmax ? fabs(deq[i]) : wmax;
            }
            const Q16Row act[1] = {Q16Row{qs, ql, d}};
            float acc[1][1] = {{0.0f}};
            for (int b = 0; b < kBlocks; b++)
                for (int s = 0; s < L::T; s++) {
                    const typename L::Raw raw[1] = {L::load(row + static_cast<size_t>(b) * L::TS, s)};
                    q16_block<L, 1, 1>(raw, s, b * L::QK, act, acc);
                }
            const double tol = 1e-6 * mag + 1e-6 * xsum * wmax;
            CHECK_MSG(fabs(acc[0][0] - want) <= tol, "%s (offset %d mod 4) rep %d: integer path %.9g, reference %.9g (tol %.3g)",
                      name, misalign, rep, static_cast<double>(acc[0][0]), want, tol);
        }
    }
}

int main(void) {
    check_q16<ct_mmv::LaneQ4_0>(CT_TYPE_Q4_0, "q4_0 (q16)");
    check_q16<ct_mmv::LaneQ4_1>(CT_TYPE_Q4_1, "q4_1 (q16)");
    check_q16<ct_mmv::LaneQ8_0>(CT_TYPE_Q8_0, "q8_0 (q16)");
    check_q16<ct_mmv::LaneQ4_K>(CT_TYPE_Q4_K, "q4_K (q16)");
    check_q16<ct_mmv::LaneQ5_K>(CT_TYPE_Q5_K, "q5_K (q16)");
    check_q16<ct_mmv::LaneQ6_K>(CT_TYPE_Q6_K, "q6_K (q16)");
    check_type<ct_mmv::LaneQ4_0>(CT_TYPE_Q4_0, "q4_0");
    check_type<ct_mmv::LaneQ4_1>(CT_TYPE_Q4_1, "q4_1");
    check_type<ct_mmv::LaneQ8_0>(CT_TYPE_Q8_0, "q8_0");
    check_type<ct_mmv::LaneQ4_K>(CT_TYPE_Q4_K, "q4_K");
    check_type<ct_mmv::LaneQ5_K>(CT_TYPE_Q5_K, "q5_K");
    check_type<ct_mmv::LaneQ6_K>(CT_TYPE_Q6_K, "q6_K");
    printf("test_mmv_lanes: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
