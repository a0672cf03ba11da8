/* The CUDA backend's ops: recorded during a pass (ct_backend entry points), launched at end()
 * (ct_cuda_run_op). See cuda_state.h for why they are recorded first. */
#include <string.h>

#include "backend/cuda/cuda_attention.h"
#include "backend/cuda/cuda_elementwise.h"
#include "backend/cuda/cuda_matmul.h"
#include "backend/cuda/cuda_mmv.h"
#include "backend/cuda/cuda_state.h"
#include "backend/cuda/cuda_profile.h"
#include "core/alloc.h"

static cuda_state *state_of(ct_backend *be) { return (cuda_state *)be->impl; }

cuda_op *ct_cuda_push_op(ct_backend *be, cuda_op_kind kind) {
    cuda_state *s = state_of(be);
    if (s->pending != CT_OK) return NULL;
    if (!s->in_pass) {
        s->pending = ct_fail(CT_ERR_INTERNAL, "CUDA backend: an op outside begin()/end()");
        return NULL;
    }
    if (s->n_ops == s->cap_ops) {
        size_t cap = s->cap_ops ? 2 * s->cap_ops : 512;
        cuda_op *ops = ct_realloc_array(s->ops, cap, sizeof *ops, "CUDA backend op list");
        if (!ops) {
            s->pending = CT_ERR_OUT_OF_MEMORY;
            return NULL;
        }
        s->ops = ops;
        s->cap_ops = cap;
    }
    cuda_op *op = &s->ops[s->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    return op;
}

static void put(cuda_op *op, int i, const ct_tensor *t) {
    if (!t) return;
    op->t[i] = *t;
    op->present |= 1u << i;
}

static const ct_tensor *get(const cuda_op *op, int i) { return (op->present >> i) & 1u ? &op->t[i] : NULL; }

static void rec_embed(ct_backend *be, const ct_tensor *out, const ct_tensor *table) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_EMBED);
    if (!op) return;
    put(op, 0, out);
    put(op, 1, table);
}

static void rec_add_positions(ct_backend *be, const ct_tensor *x, const ct_tensor *table) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_ADD_POSITIONS);
    if (!op) return;
    put(op, 0, x);
    put(op, 1, table);
}

static void rec_matmul(ct_backend *be, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                       const ct_tensor *in) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_MATMUL);
    if (!op) return;
    put(op, 0, out);
    put(op, 1, w);
    put(op, 2, bias);
    put(op, 3, in);
}

static void rec_rmsnorm(ct_backend *be, const ct_tensor *out, const ct_tensor *in, const ct_tensor *weight,
                        float eps) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_RMSNORM);
    if (!op) return;
    put(op, 0, out);
    put(op, 1, in);
    put(op, 2, weight);
    op->f = eps;
}

static void rec_layernorm(ct_backend *be, const ct_tensor *out, const ct_tensor *in, const ct_tensor *weight,
                          const ct_tensor *bias, float eps) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_LAYERNORM);
    if (!op) return;
    put(op, 0, out);
    put(op, 1, in);
    put(op, 2, weight);
    put(op, 3, bias);
    op->f = eps;
}

static void rec_rope(ct_backend *be, const ct_tensor *x, const ct_rope *rope) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_ROPE);
    if (!op) return;
    put(op, 0, x);
    op->rope = *rope;
    op->rope.freq_factors = NULL;
    if (rope->freq_factors) {
        op->aux = *rope->freq_factors;
        op->present |= 1u << CUDA_OP_MAX_TENSORS;
    }
}

static void rec_kv_store(ct_backend *be, const ct_tensor *k_cache, const ct_tensor *v_cache, const ct_tensor *k,
                         const ct_tensor *v) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_KV_STORE);
    if (!op) return;
    put(op, 0, k_cache);
    put(op, 1, v_cache);
    put(op, 2, k);
    put(op, 3, v);
}

static void rec_attention(ct_backend *be, const ct_tensor *out, const ct_tensor *q, const ct_tensor *k_cache,
                          const ct_tensor *v_cache, const ct_attn *attn) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_ATTENTION);
    if (!op) return;
    put(op, 0, out);
    put(op, 1, q);
    put(op, 2, k_cache);
    put(op, 3, v_cache);
    op->attn = *attn;
}

static void rec_binary(ct_backend *be, cuda_op_kind kind, const ct_tensor *out, const ct_tensor *a,
                       const ct_tensor *b) {
    cuda_op *op = ct_cuda_push_op(be, kind);
    if (!op) return;
    put(op, 0, out);
    put(op, 1, a);
    put(op, 2, b);
}

static void rec_add(ct_backend *be, const ct_tensor *out, const ct_tensor *a, const ct_tensor *b) {
    rec_binary(be, CUDA_OP_ADD, out, a, b);
}
static void rec_swiglu(ct_backend *be, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up) {
    rec_binary(be, CUDA_OP_SWIGLU, out, gate, up);
}
static void rec_geglu(ct_backend *be, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up) {
    rec_binary(be, CUDA_OP_GEGLU, out, gate, up);
}

static void rec_scale(ct_backend *be, const ct_tensor *x, float f) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_SCALE);
    if (!op) return;
    put(op, 0, x);
    op->f = f;
}

static void rec_gelu(ct_backend *be, const ct_tensor *x) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_GELU);
    if (!op) return;
    put(op, 0, x);
}

static void rec_gather(ct_backend *be, const ct_tensor *out, const ct_tensor *in, int32_t first) {
    cuda_op *op = ct_cuda_push_op(be, CUDA_OP_GATHER);
    if (!op) return;
    put(op, 0, out);
    put(op, 1, in);
    op->i = first;
}

void ct_cuda_install_ops(ct_backend *be) {
    be->embed_tokens = rec_embed;
    be->add_positions = rec_add_positions;
    be->matmul = rec_matmul;
    be->rmsnorm = rec_rmsnorm;
    be->layernorm = rec_layernorm;
    be->rope = rec_rope;
    be->kv_store = rec_kv_store;
    be->attention = rec_attention;
    be->add = rec_add;
    be->scale = rec_scale;
    be->gelu = rec_gelu;
    be->swiglu = rec_swiglu;
    be->geglu = rec_geglu;
    be->gather_outputs = rec_gather;
}

const char *ct_cuda_op_name(const cuda_op *op) {
    static const char *const names[] = {
        [CUDA_OP_EMBED] = "embed_tokens", [CUDA_OP_ADD_POSITIONS] = "add_positions", [CUDA_OP_MATMUL] = "matmul",
        [CUDA_OP_RMSNORM] = "rmsnorm",    [CUDA_OP_LAYERNORM] = "layernorm",         [CUDA_OP_ROPE] = "rope",
        [CUDA_OP_KV_STORE] = "kv_store",  [CUDA_OP_ATTENTION] = "attention",         [CUDA_OP_ADD] = "add",
        [CUDA_OP_SCALE] = "scale",        [CUDA_OP_GELU] = "gelu",                   [CUDA_OP_SWIGLU] = "swiglu",
        [CUDA_OP_GEGLU] = "geglu",        [CUDA_OP_GATHER] = "gather_outputs",       [CUDA_OP_READ] = "read_rows",
        [CUDA_OP_MATMUL_ADD] = "matmul+add", [CUDA_OP_MATMUL_MULTI] = "matmul x n",
        [CUDA_OP_MATMUL_GLU] = "matmul gate/up+glu", [CUDA_OP_ROPE_STORE] = "rope q,k+kv_store",
    };
    if (op->kind <= 0 || op->kind > CUDA_OP_ROPE_STORE) return "unknown op";
    return names[op->kind];
}

bool ct_cuda_ops_graph_safe(const cuda_state *s) {
    for (size_t i = 0; i < s->n_ops; i++)
        if (s->ops[i].kind == CUDA_OP_MATMUL && !ct_cuda_matmul_graph_safe(s->ops[i].t[3].ne1)) return false;
    return true;
}

cudaError_t ct_cuda_run_op(cuda_state *s, const cuda_op *op) {
    cudaStream_t st = s->stream;
    const ct_cuda_batch *b = &s->batch;
    const ct_tensor *t0 = get(op, 0), *t1 = get(op, 1), *t2 = get(op, 2), *t3 = get(op, 3);
    ct_cuda_mmv_scratch scratch = ct_cuda_matmul_mmv_scratch(s->mm);
    scratch.act_ready = (op->flags & CUDA_OP_Q16_IN) != 0;
    scratch.glu = s->glu_scratch;
    scratch.glu_bytes = s->glu_scratch_bytes;
    switch ((cuda_op_kind)op->kind) {
    case CUDA_OP_EMBED: return ct_cuda_get_rows(st, t0, t1, b->token, (int32_t)t0->ne1);
    case CUDA_OP_ADD_POSITIONS: return ct_cuda_add_positions(st, b, t0, t1);
    case CUDA_OP_MATMUL: return ct_cuda_matmul_run_q16(s->mm, t0, t1, t2, t3, scratch.act_ready);
    case CUDA_OP_MATMUL_ADD: return ct_cuda_mmv_add(st, t0, t1, t2, t3, &scratch);
    case CUDA_OP_MATMUL_MULTI: {
        const ct_tensor *outs[3] = {0}, *ws[3] = {0}, *bs[3] = {0};
        for (int k = 0; k < op->i && k < 3; k++) outs[k] = &op->t[k], ws[k] = &op->t[3 + k], bs[k] = get(op, 6 + k);
        cudaError_t e = ct_cuda_mmv_multi(st, op->i, outs, ws, bs, &op->t[9], &scratch);
        if (e != cudaErrorNotSupported) return e;
        e = cudaSuccess; /* the matrices cannot share a launch: one by one */
        for (int k = 0; k < op->i && e == cudaSuccess; k++) e = ct_cuda_matmul_run(s->mm, outs[k], ws[k], bs[k], &op->t[9]);
        return e;
    }
    case CUDA_OP_MATMUL_GLU: {
        const bool geglu = op->i == 1;
        cudaError_t e = ct_cuda_mmv_glu(st, t0, &op->t[3], get(op, 5), &op->t[4], get(op, 6), &op->t[7], geglu,
                                        &scratch);
        if (e != cudaErrorNotSupported) return e;
        e = ct_cuda_matmul_run(s->mm, t1, &op->t[3], get(op, 5), &op->t[7]);
        if (e == cudaSuccess) e = ct_cuda_matmul_run(s->mm, t2, &op->t[4], get(op, 6), &op->t[7]);
        if (e == cudaSuccess) e = geglu ? ct_cuda_geglu(st, t0, t1, t2) : ct_cuda_swiglu(st, t0, t1, t2);
        return e;
    }
    case CUDA_OP_RMSNORM:
        if (op->flags & CUDA_OP_Q16_OUT) return ct_cuda_rmsnorm_q16(st, t0, t1, t2, op->f, scratch.act, scratch.act_bytes);
        return ct_cuda_rmsnorm(st, t0, t1, t2, op->f);
    case CUDA_OP_LAYERNORM: return ct_cuda_layernorm(st, t0, t1, t2, t3, op->f);
    case CUDA_OP_ROPE: {
        ct_rope rope = op->rope;
        if ((op->present >> CUDA_OP_MAX_TENSORS) & 1u) rope.freq_factors = &op->aux;
        return ct_cuda_rope(st, b, t0, &rope);
    }
    case CUDA_OP_KV_STORE: return ct_cuda_kv_store(st, b, t0, t1, t2, t3);
    case CUDA_OP_ROPE_STORE: {
        ct_rope rope = op->rope;
        if ((op->present >> CUDA_OP_MAX_TENSORS) & 1u) rope.freq_factors = &op->aux;
        cudaError_t e = ct_cuda_rope_store(st, b, t0, t1, t2, t3, &op->t[4], &rope);
        if (e != cudaErrorNotSupported) return e;
        e = ct_cuda_rope(st, b, t0, &rope); /* the three ops one by one */
        if (e == cudaSuccess) e = ct_cuda_rope(st, b, t1, &rope);
        if (e == cudaSuccess) e = ct_cuda_kv_store(st, b, t2, t3, t1, &op->t[4]);
        return e;
    }
    case CUDA_OP_ATTENTION: return ct_cuda_attention(st, b, t0, t1, t2, t3, &op->attn);
    case CUDA_OP_ADD: return ct_cuda_add(st, t0, t1, t2);
    case CUDA_OP_SCALE: return ct_cuda_scale(st, t0, op->f);
    case CUDA_OP_GELU: return ct_cuda_gelu(st, t0);
    case CUDA_OP_SWIGLU: return ct_cuda_swiglu(st, t0, t1, t2);
    case CUDA_OP_GEGLU: return ct_cuda_geglu(st, t0, t1, t2);
    case CUDA_OP_GATHER: return ct_cuda_gather_outputs(st, b, t0, t1, op->i);
    case CUDA_OP_READ: {
        const size_t width = (size_t)t0->ne0 * sizeof(float);
        void *dst = op->host_dst ? op->host_dst : (void *)(s->staging + op->staging_offset);
        return cudaMemcpy2DAsync(dst, width, t0->data, t0->row_bytes, width, (size_t)t0->ne1, cudaMemcpyDeviceToHost,
                                 st);
    }
    }
    return cudaErrorInvalidValue;
}

const ct_tensor *ct_cuda_op_weight(const cuda_op *op) {
    if (op->kind == CUDA_OP_MATMUL || op->kind == CUDA_OP_MATMUL_ADD) return &op->t[1];
    if (op->kind == CUDA_OP_MATMUL_MULTI || op->kind == CUDA_OP_MATMUL_GLU) return &op->t[3];
    return NULL;
}

/* the tensor an error message names: the weight of a matmul, else the op's output */
static const char *op_tensor_name(const cuda_op *op) {
    const ct_tensor *w = ct_cuda_op_weight(op);
    const ct_tensor *t = w ? w : &op->t[0];
    return t->name ? t->name : "?";
}

ct_status ct_cuda_run_ops(cuda_state *s, bool capturing) {
    for (size_t i = 0; i < s->n_ops; i++) {
        const cuda_op *op = &s->ops[i];
        cudaError_t e = s->prof && !capturing ? ct_cuda_profile_mark(s->prof, s->stream, i) : cudaSuccess;
        if (e == cudaSuccess) e = ct_cuda_run_op(s, op);
        if (e == cudaSuccess && s->sync_each_op && !capturing) {
            e = cudaStreamSynchronize(s->stream);
            if (e == cudaSuccess) e = cudaGetLastError();
        }
        if (e != cudaSuccess)
            return ct_fail(CT_ERR_DEVICE, "CUDA backend: op %zu of the pass, %s (%s, %lld rows): %s", i,
                           ct_cuda_op_name(op), op_tensor_name(op), (long long)op->t[0].ne1, cudaGetErrorString(e));
    }
    if (s->prof && !capturing) {
        cudaError_t e = ct_cuda_profile_mark(s->prof, s->stream, s->n_ops);
        if (e != cudaSuccess) return ct_fail(CT_ERR_DEVICE, "CUDA backend: profiling event: %s", cudaGetErrorString(e));
    }
    return CT_OK;
}
