/* Prefill attention: FlashAttention-2 style on the tensor cores.
 *
 * One block = 4 warps = 64 query rows of one KV head: the rows are (token, head) pairs of a
 * tile's tokens and the group's query heads, token-major (row r: token r / group, head
 * kv_head * group + r % group), so each key and value row brought to shared memory serves
 * every query head that reads it. Warp w owns rows 16w..16w+15 (one mma M tile).
 *
 * The block walks the union of its rows' visible positions in tiles of BN keys (double
 * buffered: cp.async of the next tile while the current one is multiplied), each key read
 * through the sequence's block table. Per tile and warp: S = Q K^T (mma, F32), masked by each
 * row's own position and window, online softmax in base 2 (running max m and sum l per row),
 * P rounded to F16 and O += P V (mma). l sums the rounded P, so O / l is an exact convex
 * combination of the values the mma saw. Q is rounded to F16 once; scale is applied to the
 * F32 scores. */
#include <climits>

#include "backend/cuda/attention_mma.cuh"

namespace {

constexpr int kThreads = 128;
constexpr int kRows = 64;

template <int D> constexpr int prefill_bn() { return D <= 128 ? 64 : 32; }

template <int D> constexpr size_t prefill_smem_bytes() {
    return (size_t)(kRows + 4 * prefill_bn<D>()) * (D + 8) * sizeof(__half);
}

template <int D, int BN> __global__ void __launch_bounds__(kThreads) prefill_kernel(const ct_attn_params p) {
    constexpr int LD = D + 8;
    constexpr bool kQInRegs = D <= 128; /* 256: Q fragments re-read from shared memory (registers) */
    extern __shared__ __align__(16) unsigned char smem[];
    __half *qs = reinterpret_cast<__half *>(smem);
    __half *ks = qs + kRows * LD; /* [2][BN][LD] */
    __half *vs = ks + 2 * BN * LD;
    __shared__ int s_kv_lo, s_kv_hi;

    const int tile_index = blockIdx.x / p.tile_blocks, sub = blockIdx.x % p.tile_blocks;
    const int kv_head = blockIdx.y;
    const ct_attn_tile tile = p.tiles[tile_index];
    const int tok0 = tile.first + sub * p.tile_tokens;
    const int n_tok = min(p.tile_tokens, tile.count - sub * p.tile_tokens);
    if (n_tok <= 0) return; /* the tile is shorter than this block's share */
    const int n_rows = n_tok * p.group;
    const int32_t *table = p.block_table + p.tok_block_off[tile.first];

    ct_load_q_tile<D>(qs, LD, kRows, p.dk, [&](int r) -> const float * {
        if (r >= n_rows) return nullptr;
        const int t = tok0 + r / p.group, h = kv_head * p.group + r % p.group;
        return p.q + (int64_t)t * p.q_row + (int64_t)h * p.dk;
    });

    /* the keys any row sees: from the lowest first visible position to the highest position */
    if (threadIdx.x == 0) {
        s_kv_lo = INT_MAX;
        s_kv_hi = -1;
    }
    __syncthreads();
    if ((int)threadIdx.x < n_tok) {
        const int pos = p.pos[tok0 + threadIdx.x];
        atomicMin(&s_kv_lo, ct_attn_lo(pos, p.window));
        atomicMax(&s_kv_hi, pos);
    }
    __syncthreads(); /* also: the Q tile is in place */
    const int kv_lo = s_kv_lo, kv_hi = s_kv_hi;

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t4 = lane % 4;
    /* this thread's two rows (g and g + 8 of the warp's 16): visible keys lo..pos (none for padding rows) */
    int row_lo[2], row_hi[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int r = warp * 16 + g + 8 * i;
        row_lo[i] = INT_MAX;
        row_hi[i] = -1;
        if (r < n_rows) {
            row_hi[i] = p.pos[tok0 + r / p.group];
            row_lo[i] = ct_attn_lo(row_hi[i], p.window);
        }
    }
    int warp_lo = min(row_lo[0], row_lo[1]), warp_hi = max(row_hi[0], row_hi[1]);
#pragma unroll
    for (int o = 16; o > 0; o /= 2) {
        warp_lo = min(warp_lo, __shfl_xor_sync(0xffffffffu, warp_lo, o));
        warp_hi = max(warp_hi, __shfl_xor_sync(0xffffffffu, warp_hi, o));
    }

    /* ldmatrix row addresses: Q (A operand, rows of this warp), K (B, non-transposed), V (B, transposed) */
    const int a_row = (lane & 7) + ((lane >> 3) & 1) * 8, a_col = (lane >> 4) * 8;
    const int k_row = (lane & 7) + (lane >> 4) * 8, k_col = ((lane >> 3) & 1) * 8;
    const int v_row = (lane & 7) + ((lane >> 3) & 1) * 8, v_col = (lane >> 4) * 8;
    const __half *q_warp = qs + (warp * 16 + a_row) * LD + a_col;

    uint32_t qf[kQInRegs ? D / 16 : 1][4];
    if constexpr (kQInRegs) {
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) ct_ldmatrix_x4(qf[kk], ct_smem_addr(q_warp + kk * 16));
    }

    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

    const int n_kv_tiles = (kv_hi - kv_lo + BN) / BN;
    ct_load_kv_tile<D, BN, kThreads>(p, table, kv_head, kv_lo, kv_hi, ks, vs);
    ct_cp_async_commit();
    for (int it = 0; it < n_kv_tiles; it++) {
        ct_cp_async_wait_all();
        __syncthreads(); /* tile it is in place; every warp is done with tile it - 1's buffers */
        if (it + 1 < n_kv_tiles) {
            const int nb = (it + 1) & 1;
            ct_load_kv_tile<D, BN, kThreads>(p, table, kv_head, kv_lo + (it + 1) * BN, kv_hi, ks + nb * BN * LD,
                                             vs + nb * BN * LD);
        }
        ct_cp_async_commit();

        const int ts = kv_lo + it * BN;
        if (ts > warp_hi || ts + BN - 1 < warp_lo) continue; /* nothing visible to this warp's rows */
        const __half *kt = ks + (it & 1) * BN * LD, *vt = vs + (it & 1) * BN * LD;

        /* S = Q K^T */
        float s[BN / 8][4];
#pragma unroll
        for (int j = 0; j < BN / 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t a_frag[4];
            if constexpr (kQInRegs) {
#pragma unroll
                for (int i = 0; i < 4; i++) a_frag[i] = qf[kk][i];
            } else {
                ct_ldmatrix_x4(a_frag, ct_smem_addr(q_warp + kk * 16));
            }
#pragma unroll
            for (int jp = 0; jp < BN / 16; jp++) {
                uint32_t b[4];
                ct_ldmatrix_x4(b, ct_smem_addr(kt + (jp * 16 + k_row) * LD + kk * 16 + k_col));
                ct_mma_16816(s[2 * jp], a_frag, b[0], b[1]);
                ct_mma_16816(s[2 * jp + 1], a_frag, b[2], b[3]);
            }
        }

        /* mask, scale, running max */
        float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int j = 0; j < BN / 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = ts + j * 8 + 2 * t4 + (e & 1), i = e >> 1;
                const bool visible = key >= row_lo[i] && key <= row_hi[i];
                s[j][e] = visible ? s[j][e] * p.scale_log2 : -INFINITY;
                tile_max[i] = fmaxf(tile_max[i], s[j][e]);
            }
        float m_use[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const float m_new = fmaxf(m[i], ct_quad_max(tile_max[i]));
            m_use[i] = m_new == -INFINITY ? 0.f : m_new; /* nothing visible yet: keep everything at zero */
            const float alpha = exp2f(m[i] - m_use[i]);
            m[i] = m_new;
            l[i] *= alpha;
#pragma unroll
            for (int n = 0; n < D / 8; n++) {
                o[n][2 * i] *= alpha;
                o[n][2 * i + 1] *= alpha;
            }
        }

        /* O += P V, P from the score registers (C layout of two key n-tiles = A layout of one k step) */
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
            uint32_t a_frag[4];
            a_frag[0] = ct_pack_half2(exp2f(s[2 * kk][0] - m_use[0]), exp2f(s[2 * kk][1] - m_use[0]));
            a_frag[1] = ct_pack_half2(exp2f(s[2 * kk][2] - m_use[1]), exp2f(s[2 * kk][3] - m_use[1]));
            a_frag[2] = ct_pack_half2(exp2f(s[2 * kk + 1][0] - m_use[0]), exp2f(s[2 * kk + 1][1] - m_use[0]));
            a_frag[3] = ct_pack_half2(exp2f(s[2 * kk + 1][2] - m_use[1]), exp2f(s[2 * kk + 1][3] - m_use[1]));
            l[0] += ct_half2_sum(a_frag[0]) + ct_half2_sum(a_frag[2]);
            l[1] += ct_half2_sum(a_frag[1]) + ct_half2_sum(a_frag[3]);
#pragma unroll
            for (int np = 0; np < D / 16; np++) {
                uint32_t b[4];
                ct_ldmatrix_x4_trans(b, ct_smem_addr(vt + (kk * 16 + v_row) * LD + np * 16 + v_col));
                ct_mma_16816(o[2 * np], a_frag, b[0], b[1]);
                ct_mma_16816(o[2 * np + 1], a_frag, b[2], b[3]);
            }
        }
    }

    /* out = O / l for the real rows */
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const float li = ct_quad_sum(l[i]);
        const int r = warp * 16 + g + 8 * i;
        if (r >= n_rows) continue;
        const float inv = 1.f / li;
        const int tok = tok0 + r / p.group, h = kv_head * p.group + r % p.group;
        float *dst = p.out + (int64_t)tok * p.out_row + (int64_t)h * p.dv + 2 * t4;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            if (n * 8 < p.dv)
                *reinterpret_cast<float2 *>(dst + n * 8) = make_float2(o[n][2 * i] * inv, o[n][2 * i + 1] * inv);
    }
}

template <int D> cudaError_t launch_prefill(cudaStream_t stream, const ct_attn_params *p) {
    constexpr int BN = prefill_bn<D>();
    constexpr size_t smem = prefill_smem_bytes<D>();
    cudaError_t err =
        cudaFuncSetAttribute(prefill_kernel<D, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (err != cudaSuccess) return err;
    dim3 grid((unsigned)(p->n_tiles * p->tile_blocks), (unsigned)p->n_head_kv);
    prefill_kernel<D, BN><<<grid, kThreads, smem, stream>>>(*p);
    return cudaGetLastError();
}

} // namespace

int ct_attn_mma_dim(int32_t dk, int32_t dv) {
    if (dk <= 0 || dv <= 0 || dk % 8 || dv % 8) return 0;
    int32_t d = dk > dv ? dk : dv;
    return d <= 64 ? 64 : d <= 128 ? 128 : d <= 256 ? 256 : 0;
}

cudaError_t ct_attn_launch_prefill(cudaStream_t stream, const ct_attn_params *p, int dim) {
    switch (dim) {
    case 64:
        return launch_prefill<64>(stream, p);
    case 128:
        return launch_prefill<128>(stream, p);
    case 256:
        return launch_prefill<256>(stream, p);
    default:
        return cudaErrorInvalidValue;
    }
}
