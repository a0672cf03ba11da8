/* Internal to the CPU backend: its state, shared by backend_cpu.c (lifetime, memory, the
 * row-wise ops) and matmul_fast.c (the quantized matmuls and their fusion). */
#ifndef CT_BACKEND_CPU_CPU_STATE_H
#define CT_BACKEND_CPU_CPU_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/cpu/backend_cpu.h"
#include "backend/cpu/kernels/qkernels.h"
#include "backend/cpu/ops_cpu.h"
#include "core/threadpool.h"

/* At most this many matmuls of one input run as one pool job (q, k, v). */
#define CT_CPU_MAX_GROUP 3

/* A matmul whose run is deferred (by value: the caller's tensors may be temporaries). */
typedef struct {
    ct_tensor out, w, bias;
    bool has_bias;
} cpu_pending_matmul;

typedef struct {
    ct_threadpool *pool;
    int n_threads;
    const ct_qkernels *qk; /* NULL: the reference matmul */
    uint8_t *act;          /* quantized activation rows, 64-byte aligned */
    size_t act_cap;        /* bytes of act */
    ct_cpu_attention_head_fn attention_head; /* the reference, or its AVX2 version on the fast path */
    float **row_scratch;   /* per thread: a tile of dequantized rows (CT_CPU_MATMUL_TILE x max_row) */
    float **score_scratch; /* per thread: attention scores */
    int64_t max_row, max_ctx;
    const ct_forward_batch *batch; /* between begin() and end() */
    bool batch_invariant;          /* of the batch being run */
    bool fuse;                     /* defer and fuse matmuls (off: CTORCH_CPU_FUSE=0) */
    /* matmuls of one input waiting to run as one job (matmul_fast.c) */
    ct_backend_cpu_stats stats;
    int n_pending;
    ct_tensor pending_in;
    cpu_pending_matmul pending[CT_CPU_MAX_GROUP];
} cpu_state;

static inline float *ct_cpu_row_ptr(const ct_tensor *t, int64_t r) {
    return (float *)((uint8_t *)t->data + (size_t)r * t->row_bytes);
}

/* The fast path's matmul (s->qk set, weight type supported): runs it, or, inside begin/end,
 * defers it to run with the next matmuls of the same input as one job. */
void ct_cpu_fast_matmul(cpu_state *s, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                        const ct_tensor *in);

/* Run the deferred matmuls, if any. Every op that reads or writes memory calls it first. */
void ct_cpu_flush(cpu_state *s);

/* out = act(gate) * up, act = silu (swiglu) or gelu_tanh (geglu): when gate and up are the
 * outputs of the two deferred matmuls, runs them with this as their epilogue and returns
 * true; otherwise returns false having run nothing. */
typedef enum { CT_CPU_GLU_SILU, CT_CPU_GLU_GELU } ct_cpu_glu;
bool ct_cpu_fuse_glu(cpu_state *s, ct_cpu_glu act, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up);

/* out = act(gate) * up for rows [r0, r1) of every token (columns [c0, c1)). */
void ct_cpu_glu_rows(ct_cpu_glu act, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up, int64_t t0,
                     int64_t t1, int64_t c0, int64_t c1);

#endif
