/* CUDA graphs for recorded passes.
 *
 * A decode step of a 7B model is ~300 kernel launches of a few microseconds each: launched one
 * by one, the CPU's launch rate, not the GPU, sets the token rate. A pass whose op list (every
 * op's kind, tensors, pointers and scalars) and batch shape (token count, outputs, attention's
 * launch plan) equal an earlier pass's is replayed from the graph captured then: the kernels
 * read the batch's changing contents (tokens, positions, block tables) from device buffers
 * at fixed addresses, uploaded before the launch.
 *
 * Capture costs about as much as a few direct passes, so a pass is captured only when its op
 * list was seen in a recent pass (a second decode step, not a one-off prompt chunk). */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_state.h"
#include "core/alloc.h"

/* what of the batch, besides the op list, a captured graph depends on */
typedef struct pass_shape {
    int32_t n_tokens, n_out, block_size, batch_invariant;
    uint64_t attn_key;
    const void *meta_dev;
} pass_shape;

static pass_shape shape_of(const cuda_state *s) {
    pass_shape p;
    memset(&p, 0, sizeof p);
    p.n_tokens = s->batch.n_tokens;
    p.n_out = s->batch.n_out;
    p.block_size = s->batch.block_size;
    p.batch_invariant = s->batch_invariant;
    p.attn_key = s->attn_key;
    p.meta_dev = s->meta_dev;
    return p;
}

/* 8 bytes a step: the op list of a 7B decode step is ~100 KB, hashed every pass */
static uint64_t hash_words(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (size_t i = n & ~(size_t)7; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t pass_hash(const cuda_state *s) {
    pass_shape p = shape_of(s);
    uint64_t h = hash_words(0xcbf29ce484222325ull, &p, sizeof p);
    return hash_words(h, s->ops, s->n_ops * sizeof *s->ops);
}

static void entry_clear(cuda_graph_entry *e) {
    if (e->exec) cudaGraphExecDestroy(e->exec);
    free(e->ops);
    memset(e, 0, sizeof *e);
}

void ct_cuda_graphs_flush(cuda_graph_cache *c) {
    for (int i = 0; i < CUDA_GRAPH_CACHE_SIZE; i++) entry_clear(&c->entries[i]);
    memset(c->seen, 0, sizeof c->seen);
}

/* the op list is stored with the pass shape in front of it, so one memcmp checks both */
static bool entry_matches(const cuda_graph_entry *e, uint64_t hash, const cuda_state *s) {
    if (!e->exec || e->hash != hash || e->n_ops != s->n_ops) return false;
    pass_shape p = shape_of(s);
    return memcmp(e->ops, &p, sizeof p) == 0 && memcmp((const uint8_t *)e->ops + sizeof p, s->ops,
                                                       s->n_ops * sizeof *s->ops) == 0;
}

static ct_status capture(cuda_state *s, uint64_t hash, cuda_graph_entry **out) {
    cuda_graph_cache *c = &s->graphs;
    cudaError_t e = cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) return ct_fail(CT_ERR_DEVICE, "CUDA backend: starting a graph capture: %s", cudaGetErrorString(e));
    ct_status st = ct_cuda_run_ops(s, true);
    cudaGraph_t graph = NULL;
    e = cudaStreamEndCapture(s->stream, &graph);
    if (st != CT_OK) {
        if (graph) cudaGraphDestroy(graph);
        (void)cudaGetLastError();
        return st;
    }
    if (e != cudaSuccess) return ct_fail(CT_ERR_DEVICE, "CUDA backend: capturing a pass: %s", cudaGetErrorString(e));
    cudaGraphExec_t exec = NULL;
    e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess)
        return ct_fail(CT_ERR_DEVICE, "CUDA backend: instantiating a captured pass: %s", cudaGetErrorString(e));

    /* the least recently used slot */
    cuda_graph_entry *slot = &c->entries[0];
    for (int i = 1; i < CUDA_GRAPH_CACHE_SIZE && slot->exec; i++)
        if (!c->entries[i].exec || c->entries[i].last_used < slot->last_used) slot = &c->entries[i];
    entry_clear(slot);
    pass_shape p = shape_of(s);
    uint8_t *copy = ct_alloc_array(1, sizeof p + s->n_ops * sizeof *s->ops, "CUDA graph cache");
    if (!copy) {
        cudaGraphExecDestroy(exec);
        return CT_ERR_OUT_OF_MEMORY;
    }
    memcpy(copy, &p, sizeof p);
    memcpy(copy + sizeof p, s->ops, s->n_ops * sizeof *s->ops);
    slot->ops = (cuda_op *)copy;
    slot->n_ops = s->n_ops;
    slot->hash = hash;
    slot->exec = exec;
    *out = slot;
    c->captured++;
    return CT_OK;
}

static bool seen_before(cuda_graph_cache *c, uint64_t hash) {
    for (int i = 0; i < CUDA_GRAPH_SEEN_SIZE; i++)
        if (c->seen[i] == hash) return true;
    c->seen[c->seen_next++ % CUDA_GRAPH_SEEN_SIZE] = hash;
    return false;
}

ct_status ct_cuda_graphs_run(cuda_state *s) {
    cuda_graph_cache *c = &s->graphs;
    if (!s->graphs_enabled || s->sync_each_op || !ct_cuda_ops_graph_safe(s)) {
        c->direct++;
        return ct_cuda_run_ops(s, false);
    }
    uint64_t hash = pass_hash(s);
    cuda_graph_entry *hit = NULL;
    for (int i = 0; i < CUDA_GRAPH_CACHE_SIZE && !hit; i++)
        if (entry_matches(&c->entries[i], hash, s)) hit = &c->entries[i];
    if (hit) {
        c->replayed++;
    } else if (seen_before(c, hash)) {
        ct_status st = capture(s, hash, &hit);
        if (st != CT_OK) {
            /* a pass that cannot be captured (a library call that refuses capture) still runs,
             * op by op; graphs stay off from here on rather than failing every pass */
            (void)cudaGetLastError();
            s->graphs_enabled = false;
            c->direct++;
            return ct_cuda_run_ops(s, false);
        }
    } else {
        c->direct++;
        return ct_cuda_run_ops(s, false);
    }
    hit->last_used = ++c->clock;
    cudaError_t e = cudaGraphLaunch(hit->exec, s->stream);
    if (e != cudaSuccess) return ct_fail(CT_ERR_DEVICE, "CUDA backend: launching a captured pass: %s", cudaGetErrorString(e));
    return CT_OK;
}
