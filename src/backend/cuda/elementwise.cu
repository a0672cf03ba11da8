/* Element-wise ops on the GPU: residual add, scale, GELU, SwiGLU, GeGLU, learned positions
 * and the gather of output rows.
 *
 * One thread per four floats (one 16-byte load per operand) where every operand's rows are
 * 16-byte aligned, else per float; blocks tile a row, gridDim.y walks the rows. Tensors whose
 * rows are contiguous are treated as one long row. Each formula is the CPU reference's
 * (ops_math.c, backend_cpu.c) with the same rounding steps (no fused multiply-add), so add,
 * scale, positions and gather match it exactly and the activations differ only by the last
 * bits of expf/tanhf. */
#include <math.h>
#include <stdint.h>

#include <cuda_fp16.h>

#include "backend/cuda/activations.cuh"
#include "backend/cuda/cuda_elementwise.h"

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;

struct rows_view {
    char *data;
    size_t row_bytes;
    __device__ float *row(int64_t r) const { return reinterpret_cast<float *>(data + (size_t)r * row_bytes); }
};

template <int V>
__device__ __forceinline__ void load_vec(const float *p, float (&v)[V]) {
    if constexpr (V == 4) {
        const float4 t = *reinterpret_cast<const float4 *>(p);
        v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
    } else {
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = p[k];
    }
}

template <int V>
__device__ __forceinline__ void store_vec(float *p, const float (&v)[V]) {
    if constexpr (V == 4) {
        *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
    } else {
#pragma unroll
        for (int k = 0; k < V; k++) p[k] = v[k];
    }
}

template <int V>
__device__ __forceinline__ void load_f16(const uint16_t *p, float (&v)[V]) {
    if constexpr (V == 4) {
        const uint2 t = *reinterpret_cast<const uint2 *>(p);
        v[0] = __half2float(__ushort_as_half((unsigned short)(t.x & 0xffffu)));
        v[1] = __half2float(__ushort_as_half((unsigned short)(t.x >> 16)));
        v[2] = __half2float(__ushort_as_half((unsigned short)(t.y & 0xffffu)));
        v[3] = __half2float(__ushort_as_half((unsigned short)(t.y >> 16)));
    } else {
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = __half2float(__ushort_as_half(p[k]));
    }
}

template <int V>
__device__ __forceinline__ void fill_nan(float (&v)[V]) {
#pragma unroll
    for (int k = 0; k < V; k++) v[k] = __int_as_float(0x7fc00000);
}

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), rounded step by step as ct_cpu_gelu_tanh */
__device__ __forceinline__ float gelu_tanh(float x) { return ct_gelu_tanh(x); }

struct add_fn {
    __device__ float operator()(float a, float b) const { return __fadd_rn(a, b); }
};
struct swiglu_fn { /* silu(g) * u = g / (1 + exp(-g)) * u */
    __device__ float operator()(float g, float u) const {
        return ct_swiglu1(g, u);
    }
};
struct geglu_fn {
    __device__ float operator()(float g, float u) const { return ct_geglu1(g, u); }
};
struct scale_fn {
    float s;
    __device__ float operator()(float x) const { return __fmul_rn(x, s); }
};
struct gelu_fn {
    __device__ float operator()(float x) const { return gelu_tanh(x); }
};

/* out[r][j] = fn(a[r][j], b[r][j]); out may be a or b */
template <int V, class Fn>
__global__ void map2_rows(rows_view out, rows_view a, rows_view b, int64_t n, int64_t n_rows, Fn fn) {
    const int64_t j = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * V;
    if (j >= n) return;
    for (int64_t r = blockIdx.y; r < n_rows; r += gridDim.y) {
        float x[V], y[V];
        load_vec<V>(a.row(r) + j, x);
        load_vec<V>(b.row(r) + j, y);
#pragma unroll
        for (int k = 0; k < V; k++) x[k] = fn(x[k], y[k]);
        store_vec<V>(out.row(r) + j, x);
    }
}

/* x[r][j] = fn(x[r][j]) */
template <int V, class Fn>
__global__ void map1_rows(rows_view x, int64_t n, int64_t n_rows, Fn fn) {
    const int64_t j = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * V;
    if (j >= n) return;
    for (int64_t r = blockIdx.y; r < n_rows; r += gridDim.y) {
        float v[V];
        load_vec<V>(x.row(r) + j, v);
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = fn(v[k]);
        store_vec<V>(x.row(r) + j, v);
    }
}

/* x[r] += table[pos[r]]; a position outside the table makes the row NaN rather than read
 * outside it (the batch was validated before, so this is a bug made visible) */
template <int V, bool kF16>
__global__ void add_positions_rows(rows_view x, const char *table, size_t table_row_bytes, int64_t table_rows,
                                   const int32_t *pos, int64_t n, int64_t n_rows) {
    const int64_t j = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * V;
    if (j >= n) return;
    for (int64_t r = blockIdx.y; r < n_rows; r += gridDim.y) {
        const int32_t p = pos[r];
        float v[V], t[V];
        if (p >= 0 && p < table_rows) {
            const char *row = table + (size_t)p * table_row_bytes;
            if constexpr (kF16) load_f16<V>(reinterpret_cast<const uint16_t *>(row) + j, t);
            else load_vec<V>(reinterpret_cast<const float *>(row) + j, t);
            load_vec<V>(x.row(r) + j, v);
#pragma unroll
            for (int k = 0; k < V; k++) v[k] = __fadd_rn(v[k], t[k]);
        } else {
            fill_nan<V>(v);
        }
        store_vec<V>(x.row(r) + j, v);
    }
}

/* out[r] = in[rows[r]]; a row index outside in makes the row NaN */
template <int V>
__global__ void gather_rows(rows_view out, rows_view in, int64_t in_rows, const int32_t *rows, int64_t n,
                            int64_t n_rows) {
    const int64_t j = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * V;
    if (j >= n) return;
    for (int64_t r = blockIdx.y; r < n_rows; r += gridDim.y) {
        const int32_t src = rows[r];
        float v[V];
        if (src >= 0 && src < in_rows) load_vec<V>(in.row(src) + j, v);
        else fill_nan<V>(v);
        store_vec<V>(out.row(r) + j, v);
    }
}

/* ---- host side: validation and launch shapes ---- */

bool aligned(const void *p, uintptr_t bytes) { return ((uintptr_t)p & (bytes - 1)) == 0; }

/* F32 rows in device memory, float-aligned, rows not overlapping */
bool valid_rows(const ct_tensor *t) {
    return t && t->data && t->type == CT_TYPE_F32 && t->ne0 >= 0 && t->ne1 >= 0 && t->row_bytes % sizeof(float) == 0 &&
           aligned(t->data, sizeof(float)) && (t->ne1 <= 1 || t->row_bytes >= (size_t)t->ne0 * sizeof(float));
}

bool same_shape(const ct_tensor *a, const ct_tensor *b) { return a->ne0 == b->ne0 && a->ne1 == b->ne1; }

bool contiguous(const ct_tensor *t) { return t->ne1 <= 1 || t->row_bytes == (size_t)t->ne0 * sizeof(float); }

/* rows whose every vector of `elems` elements of `elem_bytes` is aligned to its size */
bool rows_aligned(const ct_tensor *t, int elems, size_t elem_bytes) {
    const size_t vec_bytes = elems * elem_bytes;
    return aligned(t->data, vec_bytes) && t->ne0 % elems == 0 && (t->ne1 <= 1 || t->row_bytes % vec_bytes == 0);
}

rows_view view(const ct_tensor *t) { return rows_view{static_cast<char *>(t->data), t->row_bytes}; }

/* n elements per row, n_rows rows: threads over the row's vectors, gridDim.y over rows */
struct map_plan {
    dim3 grid, block;
};

map_plan plan_map(int64_t n_vec, int64_t n_rows) {
    int64_t threads = (n_vec + 31) / 32 * 32;
    if (threads > kThreads) threads = kThreads;
    const int64_t blocks = (n_vec + threads - 1) / threads;
    return map_plan{dim3((unsigned)blocks, (unsigned)(n_rows < kMaxGridY ? n_rows : kMaxGridY)), dim3((unsigned)threads)};
}

/* The shape both map kernels run over: one long row when every operand is contiguous. */
struct map_shape {
    int64_t n, n_rows;
    bool vec;
    rows_view t[3];
};

map_shape shape_of(const ct_tensor *const *ts, int count) {
    map_shape s{};
    bool flat = true, vec = true;
    for (int i = 0; i < count; i++) flat = flat && contiguous(ts[i]);
    s.n = flat ? ts[0]->ne0 * ts[0]->ne1 : ts[0]->ne0;
    s.n_rows = flat ? 1 : ts[0]->ne1;
    for (int i = 0; i < count; i++) {
        s.t[i] = view(ts[i]);
        if (flat) s.t[i].row_bytes = 0;
        vec = vec && aligned(ts[i]->data, 16) && (flat ? s.n % 4 == 0 : rows_aligned(ts[i], 4, sizeof(float)));
    }
    s.vec = vec;
    return s;
}

template <class Fn>
cudaError_t launch_map2(cudaStream_t stream, const ct_tensor *out, const ct_tensor *a, const ct_tensor *b, Fn fn) {
    if (!valid_rows(out) || !valid_rows(a) || !valid_rows(b) || !same_shape(out, a) || !same_shape(out, b))
        return cudaErrorInvalidValue;
    if (out->ne0 == 0 || out->ne1 == 0) return cudaSuccess;
    const ct_tensor *ts[3] = {out, a, b};
    const map_shape s = shape_of(ts, 3);
    const map_plan p = plan_map(s.vec ? s.n / 4 : s.n, s.n_rows);
    if (s.vec) map2_rows<4><<<p.grid, p.block, 0, stream>>>(s.t[0], s.t[1], s.t[2], s.n, s.n_rows, fn);
    else map2_rows<1><<<p.grid, p.block, 0, stream>>>(s.t[0], s.t[1], s.t[2], s.n, s.n_rows, fn);
    return cudaGetLastError();
}

template <class Fn>
cudaError_t launch_map1(cudaStream_t stream, const ct_tensor *x, Fn fn) {
    if (!valid_rows(x)) return cudaErrorInvalidValue;
    if (x->ne0 == 0 || x->ne1 == 0) return cudaSuccess;
    const ct_tensor *ts[1] = {x};
    const map_shape s = shape_of(ts, 1);
    const map_plan p = plan_map(s.vec ? s.n / 4 : s.n, s.n_rows);
    if (s.vec) map1_rows<4><<<p.grid, p.block, 0, stream>>>(s.t[0], s.n, s.n_rows, fn);
    else map1_rows<1><<<p.grid, p.block, 0, stream>>>(s.t[0], s.n, s.n_rows, fn);
    return cudaGetLastError();
}

template <int V>
void launch_add_positions(cudaStream_t stream, const map_plan &p, const ct_tensor *x, const ct_tensor *table,
                          const int32_t *pos) {
    const char *t = static_cast<const char *>(table->data);
    if (table->type == CT_TYPE_F16)
        add_positions_rows<V, true><<<p.grid, p.block, 0, stream>>>(view(x), t, table->row_bytes, table->ne1, pos,
                                                                    x->ne0, x->ne1);
    else
        add_positions_rows<V, false><<<p.grid, p.block, 0, stream>>>(view(x), t, table->row_bytes, table->ne1, pos,
                                                                     x->ne0, x->ne1);
}

} // namespace

extern "C" cudaError_t ct_cuda_add(cudaStream_t stream, const ct_tensor *out, const ct_tensor *a, const ct_tensor *b) {
    return launch_map2(stream, out, a, b, add_fn{});
}

extern "C" cudaError_t ct_cuda_scale(cudaStream_t stream, const ct_tensor *x, float s) {
    return launch_map1(stream, x, scale_fn{s});
}

extern "C" cudaError_t ct_cuda_gelu(cudaStream_t stream, const ct_tensor *x) {
    return launch_map1(stream, x, gelu_fn{});
}

extern "C" cudaError_t ct_cuda_swiglu(cudaStream_t stream, const ct_tensor *out, const ct_tensor *gate,
                                      const ct_tensor *up) {
    return launch_map2(stream, out, gate, up, swiglu_fn{});
}

extern "C" cudaError_t ct_cuda_geglu(cudaStream_t stream, const ct_tensor *out, const ct_tensor *gate,
                                     const ct_tensor *up) {
    return launch_map2(stream, out, gate, up, geglu_fn{});
}

extern "C" cudaError_t ct_cuda_add_positions(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *x,
                                             const ct_tensor *table) {
    if (!batch || !valid_rows(x) || !table || !table->data ||
        (table->type != CT_TYPE_F32 && table->type != CT_TYPE_F16) || table->ne0 != x->ne0 || table->ne1 < 0)
        return cudaErrorInvalidValue;
    const size_t elem = table->type == CT_TYPE_F16 ? sizeof(uint16_t) : sizeof(float);
    if (!aligned(table->data, elem) || table->row_bytes % elem != 0 ||
        (table->ne1 > 1 && table->row_bytes < (size_t)table->ne0 * elem))
        return cudaErrorInvalidValue;
    if (x->ne0 == 0 || x->ne1 == 0) return cudaSuccess;
    if (!batch->pos || x->ne1 > batch->n_tokens) return cudaErrorInvalidValue;
    const bool vec = rows_aligned(x, 4, sizeof(float)) && rows_aligned(table, 4, elem);
    const map_plan p = plan_map(vec ? x->ne0 / 4 : x->ne0, x->ne1);
    if (vec) launch_add_positions<4>(stream, p, x, table, batch->pos);
    else launch_add_positions<1>(stream, p, x, table, batch->pos);
    return cudaGetLastError();
}

extern "C" cudaError_t ct_cuda_gather_outputs(cudaStream_t stream, const ct_cuda_batch *batch, const ct_tensor *out,
                                              const ct_tensor *in, int32_t first) {
    if (!batch || !valid_rows(out) || !valid_rows(in) || out->ne0 != in->ne0 || first < 0 ||
        (int64_t)first + out->ne1 > batch->n_out)
        return cudaErrorInvalidValue;
    if (out->ne0 == 0 || out->ne1 == 0) return cudaSuccess;
    if (!batch->out_rows) return cudaErrorInvalidValue;
    const bool vec = rows_aligned(out, 4, sizeof(float)) && rows_aligned(in, 4, sizeof(float));
    const map_plan p = plan_map(vec ? out->ne0 / 4 : out->ne0, out->ne1);
    const int32_t *rows = batch->out_rows + first;
    if (vec) gather_rows<4><<<p.grid, p.block, 0, stream>>>(view(out), view(in), in->ne1, rows, out->ne0, out->ne1);
    else gather_rows<1><<<p.grid, p.block, 0, stream>>>(view(out), view(in), in->ne1, rows, out->ne0, out->ne1);
    return cudaGetLastError();
}
