/* Peephole fusion over a recorded pass (see cuda_state.h): the op list is known whole before
 * anything runs, so neighbouring ops can be merged where that saves a launch and a round trip
 * of an activation through memory, without the model code knowing.
 *
 *   matmul(h = W in) ; add(x = x + h)   ->   matmul_add(x += W in)
 *     for decode-sized batches (the GEMV path), when h is dead afterwards (overwritten before
 *     anything reads it, or never read again). Bit-identical: the GEMV epilogue computes
 *     x + (W in + bias) exactly as the add would. Saves 2 of ~17 launches per Llama layer.
 *
 * CTORCH_CUDA_FUSE=0 turns it off (bench and tests compare). */
#include <string.h>

#include "backend/cuda/cuda_mmv.h"
#include "backend/cuda/cuda_state.h"

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
    }
}

static const uint8_t *begin_of(const ct_tensor *t) { return (const uint8_t *)t->data; }
static const uint8_t *end_of(const ct_tensor *t) {
    return (const uint8_t *)t->data + t->row_bytes * (size_t)(t->ne1 > 0 ? t->ne1 - 1 : 0) +
           (size_t)t->ne0 * sizeof(float);
}

static bool overlaps(const ct_tensor *a, const ct_tensor *b) {
    return begin_of(a) < end_of(b) && begin_of(b) < end_of(a);
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
            if ((reads >> i & 1u) && (op->present >> i & 1u) && overlaps(&op->t[i], t)) return false;
        if ((overwrites & 1u) && covers(&op->t[0], t)) return true;
    }
    return true;
}

/* matmul(h = W in) at i, add(x = x + h) at i + 1 */
static bool matmul_add_pair(const cuda_state *s, size_t i) {
    const cuda_op *mm = &s->ops[i], *add = &s->ops[i + 1];
    if (mm->kind != CUDA_OP_MATMUL || add->kind != CUDA_OP_ADD) return false;
    const ct_tensor *h = &mm->t[0], *w = &mm->t[1], *x = &add->t[0];
    if (mm->t[3].ne1 > CT_CUDA_MMV_MAX_TOKENS || !ct_cuda_mmv_type_supported(w->type)) return false;
    const ct_tensor *other = NULL;
    if (same_view(&add->t[1], x) && same_view(&add->t[2], h)) other = &add->t[2];
    else if (same_view(&add->t[2], x) && same_view(&add->t[1], h)) other = &add->t[1];
    if (!other || overlaps(x, h) || overlaps(x, &mm->t[3])) return false;
    return dead_after(s, i + 1, h);
}

void ct_cuda_fuse_ops(cuda_state *s) {
    if (!s->fuse || s->batch_invariant) return; /* invariant passes keep one matmul kernel */
    size_t out = 0;
    for (size_t i = 0; i < s->n_ops; i++) {
        cuda_op op = s->ops[i];
        if (i + 1 < s->n_ops && matmul_add_pair(s, i)) {
            op.kind = CUDA_OP_MATMUL_ADD;
            op.t[0] = s->ops[i + 1].t[0];
            i++;
        }
        s->ops[out++] = op;
    }
    s->n_ops = out;
}
