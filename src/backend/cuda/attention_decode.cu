/* Decode attention: split-KV on the tensor cores, then a combine kernel.
 *
 * Grid (decode token, split, KV head x row group). A block takes one token's query heads of
 * one KV group (up to 16: the 16 rows of one mma M tile, padded with zero rows) and one
 * split of the token's visible positions: positions are cut into n_splits splits of
 * ct_attn_split_len each (a multiple of the 64-key tile); splits past the end exit at once,
 * so the grid depends on the batch's shape (token count, splits chosen from the context
 * bucket) and never on the context length itself. Each key and value row is read once per
 * group, by one block.
 *
 * Inside the block, the 4 warps share the query rows and split each 64-key tile (16 keys
 * each): S = Q K^T and O += P V on the tensor cores with a per-warp online softmax, then
 * the warps' (m, l, O) are merged through shared memory. A token whose visible positions
 * fit in one split writes its output directly; otherwise the block writes its unnormalized
 * O, m and l to the scratch and the combine kernel merges the splits. */
#include <climits>

#include "backend/cuda/attention_mma.cuh"

namespace {

constexpr int kThreads = 128;
constexpr int kRows = 16;
constexpr int kKeys = 64; /* per tile: 16 per warp */

template <int D> constexpr size_t decode_smem_bytes() { return (size_t)(kRows + 4 * kKeys) * (D + 8) * sizeof(__half); }

template <int D> __global__ void __launch_bounds__(kThreads) decode_kernel(const ct_attn_params p) {
    constexpr int LD = D + 8, OLD = D + 8; /* O rows in the merge buffer: floats, padded (banks) */
    constexpr bool kQInRegs = D <= 128;
    static_assert((size_t)4 * kRows * OLD * sizeof(float) <= (size_t)4 * kKeys * LD * sizeof(__half),
                  "the merge buffer reuses the key/value tiles");
    extern __shared__ __align__(16) unsigned char smem[];
    __half *qs = reinterpret_cast<__half *>(smem);
    __half *ks = qs + kRows * LD; /* [2][kKeys][LD] */
    __half *vs = ks + 2 * kKeys * LD;
    __shared__ float s_m[4][kRows], s_l[4][kRows];

    const int item = blockIdx.x, split = blockIdx.y;
    const int kv_head = blockIdx.z / p.n_row_groups, row_group = blockIdx.z % p.n_row_groups;
    const int tok = p.dec[item];
    const int pos = p.pos[tok];
    const int lo = ct_attn_lo(pos, p.window);
    const int n_visible = pos - lo + 1;
    const int split_len = ct_attn_split_len(n_visible, p.n_splits);
    const int n_active = ct_attn_active_splits(n_visible, split_len);
    if (split >= n_active) return;
    const int s_lo = lo + split * split_len, s_hi = min(pos, s_lo + split_len - 1);
    const int head0 = kv_head * p.group + row_group * kRows;
    const int n_rows = min(kRows, p.group - row_group * kRows);
    const int32_t *table = p.block_table + p.tok_block_off[tok];

    ct_load_q_tile<D>(qs, LD, kRows, p.dk, [&](int r) -> const float * {
        return r < n_rows ? p.q + (int64_t)tok * p.q_row + (int64_t)(head0 + r) * p.dk : nullptr;
    });
    __syncthreads();

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int t4 = lane % 4;
    const int a_row = (lane & 7) + ((lane >> 3) & 1) * 8, a_col = (lane >> 4) * 8;
    const int k_row = (lane & 7) + (lane >> 4) * 8, k_col = ((lane >> 3) & 1) * 8;
    const int v_row = (lane & 7) + ((lane >> 3) & 1) * 8, v_col = (lane >> 4) * 8;
    const __half *q_frag = qs + a_row * LD + a_col;

    [[maybe_unused]] uint32_t qf[kQInRegs ? D / 16 : 1][4];
    if constexpr (kQInRegs) {
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) ct_ldmatrix_x4(qf[kk], ct_smem_addr(q_frag + kk * 16));
    }

    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

    const int n_tiles = (s_hi - s_lo + kKeys) / kKeys;
    ct_load_kv_tile<D, kKeys, kThreads>(p, table, kv_head, s_lo, s_hi, ks, vs);
    ct_cp_async_commit();
    for (int it = 0; it < n_tiles; it++) {
        ct_cp_async_wait_all();
        __syncthreads();
        if (it + 1 < n_tiles) {
            const int nb = (it + 1) & 1;
            ct_load_kv_tile<D, kKeys, kThreads>(p, table, kv_head, s_lo + (it + 1) * kKeys, s_hi, ks + nb * kKeys * LD,
                                                vs + nb * kKeys * LD);
        }
        ct_cp_async_commit();

        const int key0 = s_lo + it * kKeys + warp * 16; /* this warp's 16 keys */
        if (key0 > s_hi) continue;
        const __half *kt = ks + (it & 1) * kKeys * LD + warp * 16 * LD;
        const __half *vt = vs + (it & 1) * kKeys * LD + warp * 16 * LD;

        float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t a_frag[4];
            if constexpr (kQInRegs) {
#pragma unroll
                for (int i = 0; i < 4; i++) a_frag[i] = qf[kk][i];
            } else {
                ct_ldmatrix_x4(a_frag, ct_smem_addr(q_frag + kk * 16));
            }
            uint32_t b[4];
            ct_ldmatrix_x4(b, ct_smem_addr(kt + k_row * LD + kk * 16 + k_col));
            ct_mma_16816(s[0], a_frag, b[0], b[1]);
            ct_mma_16816(s[1], a_frag, b[2], b[3]);
        }

        /* every row is the same token: the split's range is the whole mask */
        float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = key0 + j * 8 + 2 * t4 + (e & 1);
                s[j][e] = key <= s_hi ? s[j][e] * p.scale_log2 : -INFINITY;
                tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[j][e]);
            }
        float m_use[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const float m_new = fmaxf(m[i], ct_quad_max(tile_max[i]));
            m_use[i] = m_new == -INFINITY ? 0.f : m_new;
            const float alpha = exp2f(m[i] - m_use[i]);
            m[i] = m_new;
            l[i] *= alpha;
#pragma unroll
            for (int n = 0; n < D / 8; n++) {
                o[n][2 * i] *= alpha;
                o[n][2 * i + 1] *= alpha;
            }
        }
        uint32_t a_frag[4];
        a_frag[0] = ct_pack_half2(exp2f(s[0][0] - m_use[0]), exp2f(s[0][1] - m_use[0]));
        a_frag[1] = ct_pack_half2(exp2f(s[0][2] - m_use[1]), exp2f(s[0][3] - m_use[1]));
        a_frag[2] = ct_pack_half2(exp2f(s[1][0] - m_use[0]), exp2f(s[1][1] - m_use[0]));
        a_frag[3] = ct_pack_half2(exp2f(s[1][2] - m_use[1]), exp2f(s[1][3] - m_use[1]));
        l[0] += ct_half2_sum(a_frag[0]) + ct_half2_sum(a_frag[2]);
        l[1] += ct_half2_sum(a_frag[1]) + ct_half2_sum(a_frag[3]);
#pragma unroll
        for (int np = 0; np < D / 16; np++) {
            uint32_t b[4];
            ct_ldmatrix_x4_trans(b, ct_smem_addr(vt + v_row * LD + np * 16 + v_col));
            ct_mma_16816(o[2 * np], a_frag, b[0], b[1]);
            ct_mma_16816(o[2 * np + 1], a_frag, b[2], b[3]);
        }
    }

    /* merge the 4 warps: O through shared memory (the key/value tiles are free now) */
    __syncthreads();
    float *ow = reinterpret_cast<float *>(ks); /* [4 warps][16 rows][OLD] */
    const int g = lane / 4;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const float li = ct_quad_sum(l[i]);
        const int r = g + 8 * i;
        float *row = ow + (warp * kRows + r) * OLD + 2 * t4;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            *reinterpret_cast<float2 *>(row + n * 8) = make_float2(o[n][2 * i], o[n][2 * i + 1]);
        if (t4 == 0) {
            s_m[warp][r] = m[i];
            s_l[warp][r] = li;
        }
    }
    __syncthreads();

    const bool direct = n_active == 1;
    for (int i = threadIdx.x; i < n_rows * p.dv; i += kThreads) {
        const int r = i / p.dv, c = i % p.dv;
        float mx = -INFINITY;
#pragma unroll
        for (int w = 0; w < 4; w++) mx = fmaxf(mx, s_m[w][r]);
        float sum = 0.f, acc = 0.f;
#pragma unroll
        for (int w = 0; w < 4; w++) {
            const float f = s_m[w][r] == -INFINITY ? 0.f : exp2f(s_m[w][r] - mx);
            sum += s_l[w][r] * f;
            acc += ow[(w * kRows + r) * OLD + c] * f;
        }
        const int h = head0 + r;
        if (direct) {
            p.out[(int64_t)tok * p.out_row + (int64_t)h * p.dv + c] = acc / sum;
        } else {
            const int64_t slot = ((int64_t)item * p.n_splits + split) * p.n_head + h;
            p.part_o[slot * p.dv + c] = acc;
            if (c == 0) {
                p.part_ml[2 * slot] = mx;
                p.part_ml[2 * slot + 1] = sum;
            }
        }
    }
}

/* out = sum over splits of O_s 2^(m_s - M) / sum of l_s 2^(m_s - M); one block per (token, head) */
__global__ void __launch_bounds__(kThreads) combine_kernel(const ct_attn_params p) {
    const int item = blockIdx.x, h = blockIdx.y;
    const int tok = p.dec[item];
    const int pos = p.pos[tok];
    const int n_visible = pos - ct_attn_lo(pos, p.window) + 1;
    const int n_active = ct_attn_active_splits(n_visible, ct_attn_split_len(n_visible, p.n_splits));
    if (n_active <= 1) return; /* written by the decode kernel */
    const int64_t slot0 = (int64_t)item * p.n_splits * p.n_head + h;
    float mx = -INFINITY;
    for (int s = 0; s < n_active; s++) mx = fmaxf(mx, p.part_ml[2 * (slot0 + (int64_t)s * p.n_head)]);
    float sum = 0.f;
    for (int s = 0; s < n_active; s++) {
        const int64_t slot = slot0 + (int64_t)s * p.n_head;
        sum += p.part_ml[2 * slot + 1] * exp2f(p.part_ml[2 * slot] - mx);
    }
    const float inv = 1.f / sum;
    for (int c = threadIdx.x; c < p.dv; c += kThreads) {
        float acc = 0.f;
        for (int s = 0; s < n_active; s++) {
            const int64_t slot = slot0 + (int64_t)s * p.n_head;
            acc += p.part_o[slot * p.dv + c] * exp2f(p.part_ml[2 * slot] - mx);
        }
        p.out[(int64_t)tok * p.out_row + (int64_t)h * p.dv + c] = acc * inv;
    }
}

template <int D> cudaError_t launch_decode(cudaStream_t stream, const ct_attn_params *p) {
    constexpr size_t smem = decode_smem_bytes<D>();
    cudaError_t err = cudaFuncSetAttribute(decode_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (err != cudaSuccess) return err;
    dim3 grid((unsigned)p->n_dec, (unsigned)p->n_splits, (unsigned)(p->n_head_kv * p->n_row_groups));
    decode_kernel<D><<<grid, kThreads, smem, stream>>>(*p);
    return cudaGetLastError();
}

} // namespace

cudaError_t ct_attn_launch_decode(cudaStream_t stream, const ct_attn_params *p, int dim) {
    switch (dim) {
    case 64:
        return launch_decode<64>(stream, p);
    case 128:
        return launch_decode<128>(stream, p);
    case 256:
        return launch_decode<256>(stream, p);
    default:
        return cudaErrorInvalidValue;
    }
}

cudaError_t ct_attn_launch_combine(cudaStream_t stream, const ct_attn_params *p) {
    dim3 grid((unsigned)p->n_dec, (unsigned)p->n_head);
    combine_kernel<<<grid, kThreads, 0, stream>>>(*p);
    return cudaGetLastError();
}
