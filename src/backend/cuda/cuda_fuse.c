/* Peephole fusion over a recorded pass (see cuda_state.h): the op list is known whole before
 * anything runs, so neighbouring ops can be merged where that saves a launch and a round trip
 * of an activation through memory, without the model code knowing.
 *
 *   matmul(h = W in) ; add(x = x + h)   ->   matmul_add(x += W in)
 *     for decode-sized batches (the GEMV path), when h is dead afterwards (overwritten before
 *     anything reads it, or never read again). Bit-identical: the GEMV epilogue computes
 *     x + (W in + bias) exactly as the add would. Saves 2 of ~17 launches per Llama layer.
 *   matmul(g = Wg in) ; matmul(u = Wu in) ; swiglu|geglu(out = act(g) * u)
 *                                         ->   matmul_glu (one GEMV launch over both matrices;
 *     the warp finishing a row's second half applies the activation), when u (and g, unless
 *     it is out) is dead afterwards. Saves 2 launches and the round trip of g and u.
 *
 *   2-3 matmuls of one input (q, k, v)    ->   matmul_multi (one GEMV launch), when their
 *     weights have one type and row stride. Saves 1-2 launches.
 *   rope(q) ; rope(k) ; kv_store(k, v)    ->   rope_store (one launch, one block per token
 *     computes the cos/sin pairs once, rotates q and k, stores k and v), when the two ropes are
 *     the same and q, k, v do not overlap. Bit-identical; saves 2 launches per layer.
 *
 *   rmsnorm(y) ; GEMV ops on y            ->   the norm also writes y as their Q16 input
 *     (ct_cuda_rmsnorm_q16), and they skip their quantizer launch (mark_q16_inputs).
 *
 * The matmul fusions only for GEMV-sized batches (the GEMV path, whose results these reproduce
 * bit for bit; see CUDA_FUSE_MAX_TOKENS); rope_store for any batch; none in batch-invariant
 * passes.
 * CTORCH_CUDA_FUSE=0 turns it off (bench and tests compare). */
#include <string.h>

#include "backend/cuda/cuda_mmv.h"
#include "backend/cuda/cuda_state.h"
#include "backend/cuda/cuda_views.h"

/* which of an op's tensors it reads, and which it writes without reading first */
static void access_of(int32_t kind, uint32_t *reads, uint32_t *overwrites) {
    *reads = 0, *overwrites = 0;
    switch ((cuda_op_kind)kind) {
    case CUDA_OP_EMBED: *reads = 1u << 1, *overwrites = 1u; break;
    case CUDA_OP_ADD_POSITIONS:
    case CUDA_OP_ROPE:
    case CUDA_OP_SCALE:
    case CUDA_OP_GELU: *reads = 1u; break; /* in place: reads and writes t[0] */
    case CUDA_OP_MATMUL:
    case CUDA_OP_ATTENTION: *reads = 0xEu, *overwrites = 1u; break;
    case CUDA_OP_MATMUL_ADD: *reads = 0xFu; break;
    case CUDA_OP_RMSNORM:
    case CUDA_OP_LAYERNORM: *reads = 0xEu, *overwrites = 1u; break;
    case CUDA_OP_KV_STORE: *reads = 0xCu; break; /* writes some cells of t[0], t[1]: never overwrites whole */
    case CUDA_OP_ADD:
    case CUDA_OP_SWIGLU:
    case CUDA_OP_GEGLU: *reads = 0x6u, *overwrites = 1u; break;
    case CUDA_OP_GATHER: *reads = 1u << 1, *overwrites = 1u; break;
    case CUDA_OP_READ: *reads = 1u; break;
    case CUDA_OP_MATMUL_MULTI: *reads = 0x3F8u, *overwrites = 0x7u; break;
    case CUDA_OP_MATMUL_GLU: *reads = 0xF8u, *overwrites = 1u; break;
    case CUDA_OP_ROPE_STORE: *reads = 0x13u; break; /* q, k in place; v; cache cells written */
    }
}



/* a writes every element of b (the same rows, at least as wide) */
static bool covers(const ct_tensor *a, const ct_tensor *b) {
    return a->data == b->data && a->row_bytes == b->row_bytes && a->ne0 >= b->ne0 && a->ne1 >= b->ne1;
}

static bool same_view(const ct_tensor *a, const ct_tensor *b) {
    return a->data == b->data && a->type == b->type && a->ne0 == b->ne0 && a->ne1 == b->ne1 &&
           a->row_bytes == b->row_bytes;
}

/* nothing after op `from` reads t before something overwrites all of it */
static bool dead_after(const cuda_state *s, size_t from, const ct_tensor *t) {
    for (size_t k = from + 1; k < s->n_ops; k++) {
        const cuda_op *op = &s->ops[k];
        uint32_t reads, overwrites;
        access_of(op->kind, &reads, &overwrites);
        for (int i = 0; i < CUDA_OP_MAX_TENSORS; i++)
            if ((reads >> i & 1u) && (op->present >> i & 1u) && ct_cuda_views_overlap(&op->t[i], t)) return false;
        for (int i = 0; i < CUDA_OP_MAX_TENSORS; i++)
            if ((overwrites >> i & 1u) && covers(&op->t[i], t)) return true;
    }
    return true;
}

/* Fusion covers every pass the GEMV kernels take (up to CT_CUDA_MMV_MAX_TOKENS tokens); larger
 * ones go to the tensor-core matmul, which has no fused forms. */
#define CUDA_FUSE_MAX_TOKENS CT_CUDA_MMV_MAX_TOKENS

/* a matmul the GEMV kernels run */
static bool gemv_matmul(const cuda_op *op) {
    return op->kind == CUDA_OP_MATMUL && op->t[3].ne1 <= CUDA_FUSE_MAX_TOKENS &&
           ct_cuda_mmv_type_supported(op->t[1].type);
}

static bool same_weight_layout(const ct_tensor *a, const ct_tensor *b) {
    return a->type == b->type && a->ne0 == b->ne0 && a->row_bytes == b->row_bytes;
}

/* matmul(h = W in) at i, add(x = x + h) at i + 1 */
static bool matmul_add_pair(const cuda_state *s, size_t i) {
    const cuda_op *mm = &s->ops[i], *add = &s->ops[i + 1];
    if (!gemv_matmul(mm) || add->kind != CUDA_OP_ADD) return false;
    const ct_tensor *h = &mm->t[0], *x = &add->t[0];
    bool ok = (same_view(&add->t[1], x) && same_view(&add->t[2], h)) ||
              (same_view(&add->t[2], x) && same_view(&add->t[1], h));
    if (!ok || ct_cuda_views_overlap(x, h) || ct_cuda_views_overlap(x, &mm->t[3])) return false;
    return dead_after(s, i + 1, h);
}

/* matmul, matmul, swiglu|geglu at i..i+2 (gate and up in either order): the fused op, or false */
static bool glu_triple(const cuda_state *s, size_t i, cuda_op *fused) {
    const cuda_op *a = &s->ops[i], *b = &s->ops[i + 1], *act = &s->ops[i + 2];
    if (act->kind != CUDA_OP_SWIGLU && act->kind != CUDA_OP_GEGLU) return false;
    if (!gemv_matmul(a) || !gemv_matmul(b) || !same_view(&a->t[3], &b->t[3])) return false;
    const cuda_op *g = same_view(&act->t[1], &a->t[0]) ? a : same_view(&act->t[1], &b->t[0]) ? b : NULL;
    const cuda_op *u = g == a ? b : a;
    if (!g || !same_view(&act->t[2], &u->t[0]) || !same_weight_layout(&g->t[1], &u->t[1]) ||
        g->t[1].ne1 != u->t[1].ne1)
        return false;
    const ct_tensor *out = &act->t[0], *in = &a->t[3];
    if (ct_cuda_views_overlap(&g->t[0], &u->t[0]) || ct_cuda_views_overlap(out, in) ||
        ct_cuda_views_overlap(&g->t[0], in) || ct_cuda_views_overlap(&u->t[0], in))
        return false;
    if (!dead_after(s, i + 2, &u->t[0]) || ct_cuda_views_overlap(out, &u->t[0])) return false;
    if (!same_view(out, &g->t[0]) && (ct_cuda_views_overlap(out, &g->t[0]) || !dead_after(s, i + 2, &g->t[0])))
        return false;
    memset(fused, 0, sizeof *fused);
    fused->kind = CUDA_OP_MATMUL_GLU;
    fused->i = act->kind == CUDA_OP_GEGLU;
    fused->t[0] = *out, fused->t[1] = g->t[0], fused->t[2] = u->t[0];
    fused->t[3] = g->t[1], fused->t[4] = u->t[1];
    fused->present = 0x9Fu; /* 0-4, 7 */
    if (g->present >> 2 & 1u) fused->t[5] = g->t[2], fused->present |= 1u << 5;
    if (u->present >> 2 & 1u) fused->t[6] = u->t[2], fused->present |= 1u << 6;
    fused->t[7] = *in;
    return true;
}

/* 2-3 matmuls of one input from i on, weights of one layout: the fused op and how many */
static int multi_run(const cuda_state *s, size_t i, cuda_op *fused) {
    const cuda_op *first = &s->ops[i];
    if (!gemv_matmul(first)) return 0;
    int n = 1;
    while (n < 3 && i + (size_t)n < s->n_ops) {
        const cuda_op *op = &s->ops[i + (size_t)n];
        if (!gemv_matmul(op) || !same_view(&op->t[3], &first->t[3]) || !same_weight_layout(&op->t[1], &first->t[1]))
            break;
        bool clash = ct_cuda_views_overlap(&op->t[0], &first->t[3]);
        for (int k = 0; k < n; k++) clash = clash || ct_cuda_views_overlap(&op->t[0], &s->ops[i + (size_t)k].t[0]);
        if (clash) break;
        n++;
    }
    if (n < 2 || ct_cuda_views_overlap(&first->t[0], &first->t[3])) return 0;
    memset(fused, 0, sizeof *fused);
    fused->kind = CUDA_OP_MATMUL_MULTI;
    fused->i = n;
    for (int k = 0; k < n; k++) {
        const cuda_op *op = &s->ops[i + (size_t)k];
        fused->t[k] = op->t[0];
        fused->t[3 + k] = op->t[1];
        fused->present |= 1u << k | 1u << (3 + k);
        if (op->present >> 2 & 1u) fused->t[6 + k] = op->t[2], fused->present |= 1u << (6 + k);
    }
    fused->t[9] = first->t[3];
    fused->present |= 1u << 9;
    return n;
}

/* rope(q), rope(k), kv_store(k, v) at i..i+2, one rope: the fused op, or false */
static bool rope_store_triple(const cuda_state *s, size_t i, cuda_op *fused) {
    const cuda_op *rq = &s->ops[i], *rk = &s->ops[i + 1], *st = &s->ops[i + 2];
    if (rq->kind != CUDA_OP_ROPE || rk->kind != CUDA_OP_ROPE || st->kind != CUDA_OP_KV_STORE) return false;
    /* the recorded rope and freq factors byte for byte (ops are zeroed before they are filled) */
    if (memcmp(&rq->rope, &rk->rope, sizeof rq->rope) != 0 || memcmp(&rq->aux, &rk->aux, sizeof rq->aux) != 0 ||
        rq->present != rk->present)
        return false;
    const ct_tensor *q = &rq->t[0], *k = &rk->t[0], *v = &st->t[3];
    if (!same_view(&st->t[2], k) || ct_cuda_views_overlap(q, k) || ct_cuda_views_overlap(q, v) ||
        ct_cuda_views_overlap(k, v))
        return false;
    memset(fused, 0, sizeof *fused);
    fused->kind = CUDA_OP_ROPE_STORE;
    fused->t[0] = *q, fused->t[1] = *k, fused->t[2] = st->t[0], fused->t[3] = st->t[1], fused->t[4] = *v;
    fused->present = 0x1Fu | (rq->present & (1u << CUDA_OP_MAX_TENSORS));
    fused->rope = rq->rope;
    fused->aux = rq->aux;
    return true;
}

/* the input of a GEMV op (one the fusion made, or a GEMV-sized matmul) whose weights take the
 * integer path, or NULL */
static const ct_tensor *q16_gemv_input(const cuda_op *op) {
    switch ((cuda_op_kind)op->kind) {
    case CUDA_OP_MATMUL:
        return gemv_matmul(op) && ct_cuda_mmv_takes_q16(op->t[1].type, op->t[3].ne1) ? &op->t[3] : NULL;
    case CUDA_OP_MATMUL_ADD: return ct_cuda_mmv_takes_q16(op->t[1].type, op->t[3].ne1) ? &op->t[3] : NULL;
    case CUDA_OP_MATMUL_MULTI: return ct_cuda_mmv_takes_q16(op->t[3].type, op->t[9].ne1) ? &op->t[9] : NULL;
    case CUDA_OP_MATMUL_GLU: return ct_cuda_mmv_takes_q16(op->t[3].type, op->t[7].ne1) ? &op->t[7] : NULL;
    default: return NULL;
    }
}

/* An RMSNorm whose output feeds the GEMV ops right after it writes that output as their Q16
 * input too (ct_cuda_rmsnorm_q16, mostly in the same launch), and they skip their quantizer
 * launch: the run of consumers ends at the first other op, so nothing rewrites the scratch in
 * between. Saves 1-2 launches per layer (the q/k/v and gate/up inputs). */
static void mark_q16_inputs(cuda_state *s) {
    for (size_t i = 0; i + 1 < s->n_ops; i++) {
        cuda_op *norm = &s->ops[i];
        const ct_tensor *y = &norm->t[0];
        if (norm->kind != CUDA_OP_RMSNORM || y->ne0 % 32 != 0 || y->row_bytes % 16 != 0 || (uintptr_t)y->data % 16 != 0)
            continue;
        size_t j = i + 1;
        for (; j < s->n_ops; j++) {
            const ct_tensor *in = q16_gemv_input(&s->ops[j]);
            if (!in || !same_view(in, y)) break;
            s->ops[j].flags |= CUDA_OP_Q16_IN;
        }
        if (j > i + 1) norm->flags |= CUDA_OP_Q16_OUT;
    }
}

void ct_cuda_fuse_ops(cuda_state *s) {
    if (!s->fuse || s->batch_invariant) return; /* invariant passes keep one matmul kernel */
    size_t out = 0;
    for (size_t i = 0; i < s->n_ops; i++) {
        cuda_op op = s->ops[i];
        int n;
        if (i + 2 < s->n_ops && (glu_triple(s, i, &op) || rope_store_triple(s, i, &op))) {
            i += 2;
        } else if (i + 1 < s->n_ops && matmul_add_pair(s, i)) {
            op.kind = CUDA_OP_MATMUL_ADD;
            op.t[0] = s->ops[i + 1].t[0];
            i++;
        } else if ((n = multi_run(s, i, &op)) > 0) {
            i += (size_t)n - 1;
        }
        s->ops[out++] = op;
    }
    s->n_ops = out;
    mark_q16_inputs(s);
}

size_t ct_cuda_fused_glu_scratch_bytes(const cuda_state *s) {
    size_t need = 0;
    for (size_t i = 0; i < s->n_ops; i++)
        if (s->ops[i].kind == CUDA_OP_MATMUL_GLU) {
            size_t b = ct_cuda_mmv_glu_scratch_bytes(s->ops[i].t[7].ne1, s->ops[i].t[3].ne1);
            if (b > need) need = b;
        }
    return need;
}
