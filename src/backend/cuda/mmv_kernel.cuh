/* The decode matrix-vector kernel, templated on a block decoder D (mmv_dec_*.cuh) and the
 * token count N, and its launcher. Included by one mmv_<type>.cu per weight type so the
 * types compile in parallel.
 *
 * Per warp: kRows consecutive weight rows, all N tokens, the whole row length.
 *   copy:    the rows' bytes, stage by stage (BPS blocks of each row), go raw into a ring of
 *            `stages` slots in shared memory with 16-byte cp.async (coalesced: lane c takes
 *            chunk c of a row slice). Up to stages-1 stages are in flight while one is decoded.
 *   decode:  lane u of a stage takes unit u (block u / UPB, slice u % UPB) of each of the
 *            kRows rows: mmv_unit (mmv_unit.cuh).
 *   end:     butterfly sums over the warp; lane r*N + t writes row r, token t (+ bias).
 * Everything is F32 (activations, weights, accumulation). */
#ifndef CT_BACKEND_CUDA_MMV_KERNEL_CUH
#define CT_BACKEND_CUDA_MMV_KERNEL_CUH

#include "backend/cuda/mmv_common.cuh"
#include "backend/cuda/mmv_unit.cuh"

namespace ct_mmv {

/* ---- asynchronous global -> shared copies (sm_80+) ---------------------------------- */

/* Copies 16 bytes. */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src) : "memory");
}
/* Copies src_bytes (1..16) from src and zero-fills the rest of the 16 bytes at dst. */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, uint32_t src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int K>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(K) : "memory");
}
/* p + offset, computed once: left to itself the compiler re-adds the kernel parameter p
 * (reloaded from the constant bank) for every predicated copy. */
__device__ __forceinline__ const uint8_t *opaque_add(const uint8_t *p, uint64_t offset) {
    const uint8_t *q;
    asm("add.s64 %0, %1, %2;" : "=l"(q) : "l"(p), "l"(offset));
    return q;
}

/* The last stage of the warp holding the tensor's last row: every chunk clamped to the
 * weights' end and zero-filled, so nothing past the last weight byte is read. Rare (once per
 * launch), out of line so the common copy stays short. */
static __device__ __noinline__ void copy_stage_clamped(uint32_t slot, uint32_t slot_row, const uint8_t *w, uint64_t first,
                                                uint32_t delta0, uint32_t row_bytes, int rows, uint32_t bytes,
                                                uint64_t w_span, int lane) {
    for (int r = 0; r < rows; r++) {
        const uint32_t rel = delta0 + r * row_bytes;
        const uint32_t chunks = ((rel & 15) + bytes + 15) >> 4;
        for (uint32_t c = lane; c < chunks; c += 32) {
            const uint64_t src = first + (rel & ~15u) + 16u * c;
            const uint64_t left = w_span - src; /* >= 1: the chunk starts inside the slice */
            cp_async16(slot + r * slot_row + 16 * c, w + src, left < 16 ? static_cast<uint32_t>(left) : 16u);
        }
    }
}

/* Wait until at most `pending` of this thread's newest groups are still in flight. */
__device__ __forceinline__ void cp_async_wait_pending(int pending) {
    static_assert(kMaxStages <= 3, "one case per possible pending count");
    switch (pending) {
    case 0: cp_async_wait<0>(); break;
    case 1: cp_async_wait<1>(); break;
    default: cp_async_wait<2>(); break;
    }
}

/* Register cap: 128 per thread (16 warps per SM, as many as the rings allow) up to 4
 * tokens, where latency hiding matters; 168 (12 warps: three per register-file quarter)
 * for more tokens, which are FMA-bound with plenty of independent accumulators. */
template <int N>
constexpr int min_blocks_per_sm() {
    return N <= 4 ? 65536 / (kThreads * 128) : 65536 / (kThreads * 168);
}

/* One block's work: block `block` of the matrix p describes. */
template <class D, int N>
__device__ __forceinline__ void mmv_body(const Params &p, unsigned block) {
    using G = Geometry<D>;
    static_assert(kRows * N <= 32, "one lane writes each (row, token) result");
    extern __shared__ __align__(16) uint8_t smem[];

    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int64_t row0 = (static_cast<int64_t>(block) * kWarps + warp) * kRows;
    if (row0 >= p.ne1) return; /* whole warp: no block-level barriers are used */

    uint8_t *const ring = smem + warp * p.stages * G::kSlot;
    const uint32_t ring_s = static_cast<uint32_t>(__cvta_generic_to_shared(ring));
    const int n_stages = (p.nb + D::BPS - 1) / D::BPS;
    const uint32_t last_bytes = static_cast<uint32_t>(p.nb - (n_stages - 1) * D::BPS) * D::TS;

    /* Row r's slice of stage s starts at rel(r) + s * kStageRowBytes bytes past `first`
     * (row0's start rounded down to 16), with rel(r) = delta0 + r * row_bytes; a stage is a
     * multiple of 16 bytes, so a row keeps one misalignment rel(r) & 15 in every slice.
     * 32-bit offsets: the launcher checks that kRows rows fit. Rows past ne1 are not copied:
     * their slots hold stale bytes whose results are never written. */
    const uint64_t first = (static_cast<uint64_t>(row0) * p.w_row_bytes) & ~static_cast<uint64_t>(15);
    const uint32_t delta0 = static_cast<uint32_t>(row0 * p.w_row_bytes) & 15;
    const uint32_t row_bytes = static_cast<uint32_t>(p.w_row_bytes);
    const int rows_here = p.ne1 - row0 < kRows ? static_cast<int>(p.ne1 - row0) : kRows;
    const bool has_last_row = row0 + rows_here == p.ne1;

    /* Stage s of every row into ring slot slot_no: lane l copies chunks l, l + 32, ... of
     * each row's slice (a compile-time count, predicated); coalesced 16-byte cp.async. */
    auto issue = [&](int s, int slot_no) {
        const uint32_t slot = ring_s + static_cast<uint32_t>(slot_no * G::kSlot);
        const bool last = s == n_stages - 1;
        const uint32_t bytes = last ? last_bytes : static_cast<uint32_t>(G::kStageRowBytes);
        const uint64_t stage_first = first + static_cast<uint64_t>(s) * G::kStageRowBytes;
        if (last && has_last_row) { /* warp-uniform */
            copy_stage_clamped(slot, G::kSlotRow, p.w, stage_first, delta0, row_bytes, rows_here, bytes, p.w_span,
                               lane);
            return;
        }
        const uint8_t *const src = opaque_add(p.w, stage_first + 16 * lane);
#pragma unroll
        for (int r = 0; r < kRows; r++) {
            const uint32_t rel = delta0 + r * row_bytes;
            const uint32_t chunks = r < rows_here ? ((rel & 15) + bytes + 15) >> 4 : 0;
            const uint8_t *const row_src = src + (rel & ~15u);
            const uint32_t dst = slot + r * G::kSlotRow + 16 * lane;
#pragma unroll
            for (int m = 0; m < (G::kChunksPerRow + 31) / 32; m++)
                if (lane + 32u * m < chunks) cp_async16(dst + 512 * m, row_src + 512 * m);
        }
    };

    for (int s = 0; s < p.stages - 1; s++) {
        issue(s, s); /* stages <= n_stages */
        cp_async_commit();
    }

    float acc[kRows][N];
#pragma unroll
    for (int r = 0; r < kRows; r++)
#pragma unroll
        for (int t = 0; t < N; t++) acc[r][t] = 0.0f;

    /* stage s sits in slot s % stages: `slot` for the one decoded, `prev` for the one issued */
    int slot_index = 0, prev_index = p.stages - 1;
    for (int s = 0; s < n_stages; s++) {
        __syncwarp(); /* every lane is done reading the slot the next issue overwrites */
        if (s + p.stages - 1 < n_stages) issue(s + p.stages - 1, prev_index);
        cp_async_commit(); /* possibly empty: keeps one group per stage */
        cp_async_wait_pending(p.stages - 1);
        __syncwarp(); /* stage s landed for every lane's copies */

        const uint8_t *const slot = ring + slot_index * G::kSlot;
        prev_index = slot_index;
        slot_index = slot_index + 1 == p.stages ? 0 : slot_index + 1;
        const uint8_t *rows[kRows];
#pragma unroll
        for (int r = 0; r < kRows; r++) rows[r] = slot + r * G::kSlotRow + ((delta0 + r * row_bytes) & 15);
#pragma unroll
        for (int k = 0; k < G::kUnitsPerLane; k++) {
            const int unit = lane + 32 * k;
            const int local_block = unit / D::UPB;
            const int block = s * D::BPS + local_block;
            if (block < p.nb) {
                const uint8_t *blk[kRows];
#pragma unroll
                for (int r = 0; r < kRows; r++) blk[r] = rows[r] + local_block * D::TS;
                mmv_unit<D, N>(blk, unit % D::UPB, p.in, p.in_stride, block * D::QK, acc);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < kRows; r++) {
#pragma unroll
        for (int t = 0; t < N; t++) {
            float v = acc[r][t];
#pragma unroll
            for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, m);
            const int64_t row = row0 + r;
            if (lane == r * N + t && row < p.ne1) store_result(p, t, row, v);
        }
    }
}

template <class D, int N>
__global__ void __launch_bounds__(kThreads, min_blocks_per_sm<N>()) mmv_kernel(const Params p) {
    mmv_body<D, N>(p, blockIdx.x);
}

/* Several matrices of one input in one launch: the block index picks the segment. */
template <class D, int N>
__global__ void __launch_bounds__(kThreads, min_blocks_per_sm<N>()) mmv_multi_kernel(const Params p0) {
    int seg = 0;
#pragma unroll
    for (int i = 1; i < kMaxSegments; i++)
        if (i < p0.n_seg && static_cast<int>(blockIdx.x) >= p0.segs[i].first_block) seg = i;
    Params p = p0;
    const Segment &s = p0.segs[seg];
    p.w = s.w;
    p.w_span = s.w_span;
    p.out = s.out;
    p.out_stride = s.out_stride;
    p.bias = s.bias;
    p.ne1 = s.ne1;
    p.seg = seg;
    mmv_body<D, N>(p, blockIdx.x - static_cast<unsigned>(s.first_block));
}

inline int64_t blocks_for_rows(int64_t ne1) { return ((ne1 + kRows - 1) / kRows + kWarps - 1) / kWarps; }

template <class D, int N>
cudaError_t mmv_launch_n(const Params &p, cudaStream_t stream) {
    using G = Geometry<D>;
    const size_t smem = static_cast<size_t>(kWarps) * p.stages * G::kSlot;
    Params copy = p;
    void *args[] = {&copy};
    if (p.n_seg > 1) {
        int64_t blocks = 0;
        for (int i = 0; i < p.n_seg; i++) {
            copy.segs[i].first_block = static_cast<int>(blocks);
            blocks += blocks_for_rows(p.segs[i].ne1);
        }
        return cudaLaunchKernel(reinterpret_cast<const void *>(&mmv_multi_kernel<D, N>),
                                dim3(static_cast<unsigned>(blocks)), dim3(kThreads), args, smem, stream);
    }
    const dim3 grid(static_cast<unsigned>(blocks_for_rows(p.ne1)));
    return cudaLaunchKernel(reinterpret_cast<const void *>(&mmv_kernel<D, N>), grid, dim3(kThreads), args, smem,
                            stream);
}

/* Launch for n = 1..8 tokens; p.stages is filled in here. */
template <class D>
cudaError_t mmv_launch(Params p, int n, cudaStream_t stream) {
    const int n_stages = (p.nb + D::BPS - 1) / D::BPS;
    p.stages = min(Geometry<D>::max_stages(), n_stages);
    switch (n) {
    case 1: return mmv_launch_n<D, 1>(p, stream);
    case 2: return mmv_launch_n<D, 2>(p, stream);
    case 3: return mmv_launch_n<D, 3>(p, stream);
    case 4: return mmv_launch_n<D, 4>(p, stream);
    case 5: return mmv_launch_n<D, 5>(p, stream);
    case 6: return mmv_launch_n<D, 6>(p, stream);
    case 7: return mmv_launch_n<D, 7>(p, stream);
    case 8: return mmv_launch_n<D, 8>(p, stream);
    default: return cudaErrorInvalidValue;
    }
}

} // namespace ct_mmv

#endif
