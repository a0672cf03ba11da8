/* ct_cuda_mmv: argument checks and dispatch to the per-type decode kernels
 * (mmv_kernel.cuh, one mmv_<type>.cu each), plus a plain fallback kernel for F32/F16/BF16
 * weights whose rows the fast kernel cannot take (ne0 not a multiple of 8, unaligned rows).
 *
 * What the fast kernels need (checked here; a quantized weight that misses them gets
 * cudaErrorMisalignedAddress, other bad arguments cudaErrorInvalidValue):
 *   - w->data 16-byte aligned, w->row_bytes a multiple of the decoder's ALIGN (true for
 *     every packed GGUF row: 16 for Q4_K/Q5_K/F*, 4 for Q4_1/Q5_1/Q2_K, 2 otherwise);
 *   - in->data 16-byte aligned and, for n > 1, in->row_bytes a multiple of 16;
 *   - rows of at most 2^28 bytes;
 *   - out must not overlap in (or w).
 * Weights are read only inside their rows' bytes (never past the last row's last byte). */
#include <stdint.h>

#include <atomic>

#include "backend/cuda/cuda_mmv.h"
#include "backend/cuda/mmv_dec_float.cuh"
#include "backend/cuda/mmv_dec_k.cuh"
#include "backend/cuda/mmv_dec_legacy.cuh"
#include "backend/cuda/mmv_launch.cuh"
#include "backend/cuda/mmv_q16.cuh"

namespace {

using ct_mmv::Params;
typedef cudaError_t (*launch_fn)(const Params &, int, cudaStream_t);

struct TypeInfo {
    int qk, ts, align; /* block: elements, bytes; row stride alignment the kernel's reads need */
    int float_bytes;   /* element size of an unquantized type, 0 for block types */
    launch_fn launch;
    bool q16;          /* the direct kernel has its integer path (a lane decoder, mmv_lane.cuh) */
};

template <class D>
constexpr TypeInfo info(launch_fn fn, int float_bytes = 0, bool q16 = false) {
    return TypeInfo{D::QK, D::TS, D::ALIGN, float_bytes, fn, q16};
}

const TypeInfo *type_info(uint32_t type) {
    using namespace ct_mmv;
    static const TypeInfo f32 = info<DecF32>(launch_f32, 4), f16 = info<DecF16>(launch_f16, 2),
                          bf16 = info<DecBF16>(launch_bf16, 2), q4_0 = info<DecQ4_0>(launch_q4_0, 0, true),
                          q4_1 = info<DecQ4_1>(launch_q4_1, 0, true), q5_0 = info<DecQ5_0>(launch_q5_0),
                          q5_1 = info<DecQ5_1>(launch_q5_1), q8_0 = info<DecQ8_0>(launch_q8_0, 0, true),
                          q2_k = info<DecQ2_K>(launch_q2_k), q3_k = info<DecQ3_K>(launch_q3_k),
                          q4_k = info<DecQ4_K>(launch_q4_k, 0, true), q5_k = info<DecQ5_K>(launch_q5_k, 0, true),
                          q6_k = info<DecQ6_K>(launch_q6_k, 0, true);
    switch (type) {
    case CT_TYPE_F32: return &f32;
    case CT_TYPE_F16: return &f16;
    case CT_TYPE_BF16: return &bf16;
    case CT_TYPE_Q4_0: return &q4_0;
    case CT_TYPE_Q4_1: return &q4_1;
    case CT_TYPE_Q5_0: return &q5_0;
    case CT_TYPE_Q5_1: return &q5_1;
    case CT_TYPE_Q8_0: return &q8_0;
    case CT_TYPE_Q2_K: return &q2_k;
    case CT_TYPE_Q3_K: return &q3_k;
    case CT_TYPE_Q4_K: return &q4_k;
    case CT_TYPE_Q5_K: return &q5_k;
    case CT_TYPE_Q6_K: return &q6_k;
    default: return nullptr;
    }
}

/* ---- fallback for unquantized weights of any shape: one warp per row ----------------- */

constexpr int kFallbackWarps = 4;
/* Token counts of the direct kernel (see p.direct below): on F32 input up to 2, on Q16 all. */
constexpr int kDirectMaxTokensF32 = 2;
constexpr int kDirectMaxTokensQ16 = CT_CUDA_MMV_MAX_TOKENS;

template <int N>
__global__ void __launch_bounds__(32 * kFallbackWarps) mmv_float_fallback(const Params p, uint32_t type, int ne0) {
    const int lane = threadIdx.x & 31;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kFallbackWarps + (threadIdx.x >> 5);
    if (row >= p.ne1) return;
    const uint8_t *w = p.w + static_cast<uint64_t>(row) * p.w_row_bytes;
    float acc[N];
#pragma unroll
    for (int t = 0; t < N; t++) acc[t] = 0.0f;
    for (int j = lane; j < ne0; j += 32) {
        float v;
        if (type == CT_TYPE_F32)
            v = reinterpret_cast<const float *>(w)[j];
        else if (type == CT_TYPE_F16)
            v = ct_mmv::half_bits_to_float(reinterpret_cast<const uint16_t *>(w)[j]);
        else
            v = __uint_as_float(static_cast<uint32_t>(reinterpret_cast<const uint16_t *>(w)[j]) << 16);
#pragma unroll
        for (int t = 0; t < N; t++) acc[t] = fmaf(v, p.in[t * p.in_stride + j], acc[t]);
    }
#pragma unroll
    for (int t = 0; t < N; t++) {
        float v = acc[t];
#pragma unroll
        for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, m);
        if (lane == t) store_result(p, t, row, v);
    }
}

template <int N>
cudaError_t launch_fallback_n(const Params &p, uint32_t type, int ne0, cudaStream_t stream) {
    Params copy = p;
    void *args[] = {&copy, &type, &ne0};
    const dim3 grid(static_cast<unsigned>((p.ne1 + kFallbackWarps - 1) / kFallbackWarps));
    return cudaLaunchKernel(reinterpret_cast<const void *>(&mmv_float_fallback<N>), grid, dim3(32 * kFallbackWarps),
                            args, 0, stream);
}

cudaError_t launch_fallback(const Params &p, uint32_t type, int ne0, int n, cudaStream_t stream) {
    switch (n) {
    case 1: return launch_fallback_n<1>(p, type, ne0, stream);
    case 2: return launch_fallback_n<2>(p, type, ne0, stream);
    case 3: return launch_fallback_n<3>(p, type, ne0, stream);
    case 4: return launch_fallback_n<4>(p, type, ne0, stream);
    case 5: return launch_fallback_n<5>(p, type, ne0, stream);
    case 6: return launch_fallback_n<6>(p, type, ne0, stream);
    case 7: return launch_fallback_n<7>(p, type, ne0, stream);
    case 8: return launch_fallback_n<8>(p, type, ne0, stream);
    default: return cudaErrorInvalidValue;
    }
}

constexpr uint64_t kMaxFastRowBytes = 1u << 28;

bool aligned(const void *ptr, uint64_t to) { return reinterpret_cast<uintptr_t>(ptr) % to == 0; }

} // namespace

extern "C" bool ct_cuda_mmv_type_supported(uint32_t type) { return type_info(type) != nullptr; }

namespace {
std::atomic<int> g_kernel{CT_CUDA_MMV_DIRECT};
}

extern "C" void ct_cuda_mmv_set_kernel(ct_cuda_mmv_kernel kernel) { g_kernel.store(kernel, std::memory_order_relaxed); }
extern "C" ct_cuda_mmv_kernel ct_cuda_mmv_get_kernel(void) {
    return static_cast<ct_cuda_mmv_kernel>(g_kernel.load(std::memory_order_relaxed));
}

namespace {

using namespace ct_mmv;

/* A checked call: its parameters and which kernel may take it. */
struct Prepared {
    Params p;
    const TypeInfo *ti;
    int64_t n;
    bool empty;    /* nothing to compute */
    bool fast;     /* the block kernel takes it */
    bool fallback; /* only the plain float fallback takes it */
};

cudaError_t prepare(const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias, const ct_tensor *in,
                    Prepared *r) {
    if (!out || !w || !in) return cudaErrorInvalidValue;
    const TypeInfo *ti = type_info(w->type);
    if (!ti || in->type != CT_TYPE_F32 || out->type != CT_TYPE_F32) return cudaErrorInvalidValue;
    const int64_t n = in->ne1, ne0 = w->ne0, ne1 = w->ne1;
    if (n < 0 || n > CT_CUDA_MMV_MAX_TOKENS || ne0 < 0 || ne0 > INT32_MAX || ne1 < 0 || ne1 > INT32_MAX)
        return cudaErrorInvalidValue;
    if (in->ne0 != ne0 || out->ne0 != ne1 || out->ne1 < n) return cudaErrorInvalidValue;
    if (bias && (bias->type != CT_TYPE_F32 || bias->ne0 < ne1 || !bias->data)) return cudaErrorInvalidValue;
    r->ti = ti;
    r->n = n;
    r->empty = n == 0 || ne1 == 0;
    r->fast = r->fallback = false;
    if (r->empty) return cudaSuccess;
    if (!w->data || !in->data || !out->data) return cudaErrorInvalidValue;
    if (in->row_bytes % 4 != 0 || in->row_bytes < static_cast<uint64_t>(ne0) * 4 || out->row_bytes % 4 != 0 ||
        out->row_bytes < static_cast<uint64_t>(ne1) * 4)
        return cudaErrorInvalidValue;
    /* unquantized rows of any length: the fast kernel's 8-element blocks, or the fallback */
    const bool float_blocks = ti->float_bytes && ne0 % ti->qk == 0;
    if (!ti->float_bytes && ne0 % ti->qk != 0) return cudaErrorInvalidValue;
    const uint64_t row_bytes = w->row_bytes;
    const uint64_t packed = ti->float_bytes ? static_cast<uint64_t>(ne0) * ti->float_bytes
                                            : static_cast<uint64_t>(ne0 / ti->qk) * ti->ts;
    if (row_bytes < packed) return cudaErrorInvalidValue;

    Params &p = r->p;
    p = Params{};
    p.w = static_cast<const uint8_t *>(w->data);
    p.w_row_bytes = row_bytes;
    p.w_span = static_cast<uint64_t>(ne1 - 1) * row_bytes + packed;
    p.in = static_cast<const float *>(in->data);
    p.in_stride = static_cast<int64_t>(in->row_bytes / 4);
    p.out = static_cast<float *>(out->data);
    p.out_stride = static_cast<int64_t>(out->row_bytes / 4);
    p.bias = bias ? static_cast<const float *>(bias->data) : nullptr;
    p.ne1 = static_cast<int>(ne1);
    p.nb = static_cast<int>(ne0 / ti->qk); /* fast kernel only */
    p.stages = 0;                          /* set by the launcher */
    p.epilogue = kStore;
    /* The direct kernel on F32 input up to 2 tokens: its 3..8-token form wrote NaN for every
     * output of two cases of test_cuda_mmv on an H200. The likely cause is the test's own race
     * (its NaN poison, a cudaMemset on the legacy stream, against a non-blocking stream; fixed
     * in the test), but that has not yet been run on a GPU, so 3..8 tokens stay on the ring
     * kernel there. The Q16 mode (opt-in) takes the direct kernel for every count. */
    const ct_cuda_mmv_kernel kernel = ct_cuda_mmv_get_kernel();
    p.direct = (kernel == CT_CUDA_MMV_DIRECT && n <= kDirectMaxTokensF32) ||
               (kernel == CT_CUDA_MMV_DIRECT_Q16 && n <= kDirectMaxTokensQ16);
    p.act = nullptr; /* set by with_q16 */

    /* the fast kernel addresses a warp's rows with 32-bit offsets */
    if (!ti->float_bytes && row_bytes > kMaxFastRowBytes) return cudaErrorInvalidValue;
    const bool fast = aligned(w->data, 16) && row_bytes % ti->align == 0 && row_bytes <= kMaxFastRowBytes &&
                      aligned(in->data, 16) && (n == 1 || in->row_bytes % 16 == 0);
    if (ti->float_bytes) {
        if (fast && float_blocks) {
            r->fast = true;
            return cudaSuccess;
        }
        /* the fallback reads elements and floats one at a time */
        if (!aligned(w->data, ti->float_bytes) || row_bytes % ti->float_bytes != 0 || !aligned(in->data, 4))
            return cudaErrorMisalignedAddress;
        r->fallback = true;
        return cudaSuccess;
    }
    if (!fast) return cudaErrorMisalignedAddress;
    r->fast = true;
    return cudaSuccess;
}

/* The direct kernel's integer path where it applies (a type with a lane decoder, the direct
 * kernel's token counts, room in the scratch): the input quantized into `act`, p.act set.
 * Elsewhere p is left as it is (F32 activations). */
/* the one rule of which calls take the integer path (ct_cuda_mmv_takes_q16 tells callers) */
bool takes_q16(const TypeInfo *ti, int64_t n) {
    return ti && ti->q16 && ct_cuda_mmv_get_kernel() == CT_CUDA_MMV_DIRECT_Q16 && n >= 1 && n <= kDirectMaxTokensQ16;
}

cudaError_t with_q16(Prepared &r, const ct_tensor *in, const ct_cuda_mmv_scratch *scratch, cudaStream_t stream) {
    Params &p = r.p;
    if (!scratch || !scratch->act || !r.fast || !takes_q16(r.ti, r.n)) return cudaSuccess;
    const int64_t k = static_cast<int64_t>(p.nb) * r.ti->qk, stride = q16_row_bytes(k);
    if (k % 32 != 0 || scratch->act_bytes < static_cast<size_t>(stride * r.n) ||
        reinterpret_cast<uintptr_t>(scratch->act) % 16 != 0)
        return cudaSuccess;
    uint8_t *act = static_cast<uint8_t *>(scratch->act);
    if (!scratch->act_ready) {
        const cudaError_t e = q16_quantize(static_cast<const float *>(in->data), p.in_stride, static_cast<int>(k),
                                           static_cast<int>(r.n), act, stride, stream);
        if (e != cudaSuccess) return e;
    }
    p.act = act;
    p.act_stride = stride;
    return cudaSuccess;
}

cudaError_t mmv(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                const ct_tensor *in, int epilogue, const ct_cuda_mmv_scratch *scratch) {
    Prepared r;
    cudaError_t e = prepare(out, w, bias, in, &r);
    if (e != cudaSuccess || r.empty) return e;
    r.p.epilogue = epilogue;
    e = with_q16(r, in, scratch, stream);
    if (e != cudaSuccess) return e;
    if (r.fast) return r.ti->launch(r.p, static_cast<int>(r.n), stream);
    return launch_fallback(r.p, w->type, static_cast<int>(w->ne0), static_cast<int>(r.n), stream);
}

/* Bytes at the start of a GLU scratch of scratch_bytes that hold the pairing counters. */
size_t glu_flags_bytes(size_t scratch_bytes) { return (scratch_bytes / 3) & ~static_cast<size_t>(15); }

/* Several matrices on one input, one launch; cudaErrorNotSupported where they cannot share it. */
cudaError_t multi(cudaStream_t stream, int n_seg, const ct_tensor *const out[], const ct_tensor *const w[],
                  const ct_tensor *const bias[], const ct_tensor *in, int epilogue,
                  const ct_cuda_mmv_scratch *scratch) {
    if (n_seg < 2 || n_seg > kMaxSegments) return cudaErrorInvalidValue;
    Prepared r[kMaxSegments];
    for (int i = 0; i < n_seg; i++) {
        const cudaError_t e = prepare(out[i], w[i], bias[i], in, &r[i]);
        if (e != cudaSuccess) return e;
    }
    for (int i = 0; i < n_seg; i++)
        if (!r[i].fast || r[i].empty || w[i]->type != w[0]->type || w[i]->ne0 != w[0]->ne0 ||
            w[i]->row_bytes != w[0]->row_bytes)
            return cudaErrorNotSupported;
    Params p = r[0].p;
    p.n_seg = n_seg;
    p.epilogue = epilogue;
    for (int i = 0; i < n_seg; i++)
        p.segs[i] = Segment{r[i].p.w, r[i].p.w_span, r[i].p.out, r[i].p.out_stride, r[i].p.bias, r[i].p.ne1, 0};
    if (epilogue == kSwiglu || epilogue == kGeglu) {
        void *const pair_scratch = scratch ? scratch->glu : nullptr;
        const size_t scratch_bytes = scratch ? scratch->glu_bytes : 0;
        if (n_seg != 2 || r[0].p.ne1 != r[1].p.ne1 || out[0]->data != out[1]->data || !pair_scratch ||
            scratch_bytes < ct_cuda_mmv_glu_scratch_bytes(r[0].n, r[0].p.ne1))
            return cudaErrorInvalidValue;
        p.pair_stride = r[0].n * r[0].p.ne1;
        /* the counters' region depends only on the scratch's size: with a layout that followed
         * n or the row count, one call's floats would land where a later call expects zeroed
         * counters */
        p.pair_flags = static_cast<unsigned *>(pair_scratch);
        p.pair_scratch = reinterpret_cast<float *>(static_cast<uint8_t *>(pair_scratch) + glu_flags_bytes(scratch_bytes));
    }
    const cudaError_t e = with_q16(r[0], in, scratch, stream);
    if (e != cudaSuccess) return e;
    p.act = r[0].p.act;
    p.act_stride = r[0].p.act_stride;
    return r[0].ti->launch(p, static_cast<int>(r[0].n), stream);
}

} // namespace

extern "C" bool ct_cuda_mmv_takes_q16(uint32_t type, int64_t n_tokens) {
    return takes_q16(type_info(type), n_tokens);
}

extern "C" size_t ct_cuda_mmv_act_bytes(int64_t n_tokens, int64_t row) {
    if (n_tokens <= 0 || row <= 0) return 0;
    return static_cast<size_t>(n_tokens) * static_cast<size_t>(q16_row_bytes((row + 31) / 32 * 32));
}

extern "C" cudaError_t ct_cuda_mmv_quantize(cudaStream_t stream, const ct_tensor *in, void *act, size_t act_bytes) {
    if (!in || !act || in->type != CT_TYPE_F32 || in->ne0 <= 0 || in->ne0 % 32 != 0 || in->ne0 > INT32_MAX ||
        in->ne1 < 1 || in->ne1 > INT32_MAX || in->row_bytes % 16 != 0 || !in->data || !aligned(in->data, 16) ||
        !aligned(act, 16) || act_bytes < ct_cuda_mmv_act_bytes(in->ne1, in->ne0))
        return cudaErrorInvalidValue;
    return q16_quantize(static_cast<const float *>(in->data), static_cast<int64_t>(in->row_bytes / 4),
                        static_cast<int>(in->ne0), static_cast<int>(in->ne1), static_cast<uint8_t *>(act),
                        q16_row_bytes(in->ne0), stream);
}

extern "C" cudaError_t ct_cuda_mmv(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w,
                                   const ct_tensor *bias, const ct_tensor *in, const ct_cuda_mmv_scratch *scratch) {
    return mmv(stream, out, w, bias, in, kStore, scratch);
}

extern "C" cudaError_t ct_cuda_mmv_add(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w,
                                       const ct_tensor *bias, const ct_tensor *in, const ct_cuda_mmv_scratch *scratch) {
    return mmv(stream, out, w, bias, in, kAccumulate, scratch);
}

extern "C" cudaError_t ct_cuda_mmv_multi(cudaStream_t stream, int n, const ct_tensor *const out[],
                                         const ct_tensor *const w[], const ct_tensor *const bias[],
                                         const ct_tensor *in, const ct_cuda_mmv_scratch *scratch) {
    return multi(stream, n, out, w, bias, in, kStore, scratch);
}

extern "C" size_t ct_cuda_mmv_glu_scratch_bytes(int64_t n_tokens, int64_t rows) {
    /* a third for the counters (rounded down to 16 bytes by glu_flags_bytes), two thirds for
     * the floats, plus slack for that rounding */
    return 3 * static_cast<size_t>(n_tokens) * static_cast<size_t>(rows) * sizeof(float) + 64;
}

extern "C" cudaError_t ct_cuda_mmv_glu(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w_gate,
                                       const ct_tensor *b_gate, const ct_tensor *w_up, const ct_tensor *b_up,
                                       const ct_tensor *in, bool geglu, const ct_cuda_mmv_scratch *scratch) {
    const ct_tensor *outs[2] = {out, out}, *ws[2] = {w_gate, w_up}, *bs[2] = {b_gate, b_up};
    return multi(stream, 2, outs, ws, bs, in, geglu ? kGeglu : kSwiglu, scratch);
}
