/* The CPU backend's fast matmul: the input rows quantized once (kernels/qkernels.h), then one
 * pool job over the weight rows.
 *
 * Fusion. Inside begin/end a matmul does not run at once: it waits in s->pending, and the
 * next matmuls of the same input (q, k and v of one normed row; gate and up) join it, up to
 * CT_CPU_MAX_GROUP, so the input is quantized once and the group runs as one pool job (one
 * barrier instead of three). A swiglu/geglu whose operands are the two waiting outputs runs
 * in that job's epilogue, on each chunk of rows while it is still in cache. Anything else
 * (another op, read_rows, end) runs the group first (ct_cpu_flush), so ops still appear in
 * program order; end() waiting for the ops is the backend contract. Results are bit-identical
 * to running the ops one by one: each output row is the same kernel call on the same bytes,
 * whatever rows share its job. */
#include <string.h>

#include "backend/cpu/cpu_state.h"

/* Below this many tokens the caller quantizes the activations itself (about a microsecond a
 * row): a pool job costs a barrier, and decode issues hundreds of matmuls per token. */
#define CT_CPU_PARALLEL_QUANTIZE_TOKENS 8
/* Weight rows per pool grain: a multiple of the kernels' 4-row tile. */
#define CT_CPU_QMATMUL_GRAIN 16

/* ---- one group: quantize once, one pool job ------------------------------------------- */

typedef struct {
    cpu_state *s;
    const ct_tensor *in;
    const cpu_pending_matmul *mm;
    int n;                                 /* matmuls */
    int64_t t0, n_tokens;                  /* the rows of in / out this job covers */
    size_t act_bytes;
    int64_t first_grain[CT_CPU_MAX_GROUP + 1]; /* matmul i owns grains [first_grain[i], first_grain[i + 1]) */
    bool glu;                              /* epilogue: glu_out = act(out[0]) * out[1] */
    ct_cpu_glu glu_act;
    ct_tensor glu_out;
} group_job;

static void quantize_task(void *arg, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    group_job *j = arg;
    for (int64_t t = t0; t < t1; t++)
        ct_cpu_quantize_activations(j->s->qk, j->mm[0].w.type, ct_cpu_row_ptr(j->in, j->t0 + t), j->in->ne0,
                                    j->s->act + (size_t)t * j->act_bytes);
}

/* rows [r0, r1) of matmul i */
static void run_rows(const group_job *j, int i, int64_t r0, int64_t r1) {
    const cpu_pending_matmul *m = &j->mm[i];
    float *out = ct_cpu_row_ptr(&m->out, j->t0);
    const size_t os = m->out.row_bytes / sizeof(float);
    if (j->s->batch_invariant) ct_cpu_qmatmul_invariant(j->s->qk, &m->w, j->s->act, j->n_tokens, out, os, r0, r1);
    else ct_cpu_qmatmul(j->s->qk, &m->w, j->s->act, j->n_tokens, out, os, r0, r1);
    if (!m->has_bias) return;
    const float *b = m->bias.data;
    for (int64_t t = 0; t < j->n_tokens; t++) {
        float *y = ct_cpu_row_ptr(&m->out, j->t0 + t);
        for (int64_t r = r0; r < r1; r++) y[r] += b[r];
    }
}

/* items are grains of CT_CPU_QMATMUL_GRAIN rows over the group's matmuls in turn */
static void group_task(void *arg, int64_t g0, int64_t g1, int thread) {
    (void)thread;
    group_job *j = arg;
    if (j->glu) { /* gate and up have the same rows: both for this range, then the epilogue */
        const int64_t r0 = g0 * CT_CPU_QMATMUL_GRAIN, rows = j->mm[0].w.ne1;
        const int64_t r1 = g1 * CT_CPU_QMATMUL_GRAIN < rows ? g1 * CT_CPU_QMATMUL_GRAIN : rows;
        run_rows(j, 0, r0, r1);
        run_rows(j, 1, r0, r1);
        ct_cpu_glu_rows(j->glu_act, &j->glu_out, &j->mm[0].out, &j->mm[1].out, j->t0, j->t0 + j->n_tokens, r0, r1);
        return;
    }
    for (int i = 0; i < j->n; i++) {
        const int64_t a = g0 > j->first_grain[i] ? g0 : j->first_grain[i];
        const int64_t b = g1 < j->first_grain[i + 1] ? g1 : j->first_grain[i + 1];
        if (a >= b) continue;
        const int64_t rows = j->mm[i].w.ne1, base = j->first_grain[i];
        const int64_t r1 = (b - base) * CT_CPU_QMATMUL_GRAIN;
        run_rows(j, i, (a - base) * CT_CPU_QMATMUL_GRAIN, r1 < rows ? r1 : rows);
    }
}

/* Run matmuls mm[0..n) of one input (same activation format), with the glu epilogue when
 * glu_out is set (n = 2: gate, up). A batch longer than the activation buffer (an op called
 * outside begin/end with more tokens than begin() provided for) runs in chunks of tokens,
 * each reading the weights once. */
static void run_group(cpu_state *s, const ct_tensor *in, const cpu_pending_matmul *mm, int n, const ct_tensor *glu_out,
                      ct_cpu_glu glu_act) {
    group_job j = {.s = s, .in = in, .mm = mm, .n = n, .glu = glu_out != NULL, .glu_act = glu_act};
    if (glu_out) j.glu_out = *glu_out;
    j.act_bytes = ct_cpu_act_row_bytes(mm[0].w.type, mm[0].w.ne0);
    const int64_t cap = (int64_t)(s->act_cap / j.act_bytes);
    for (int i = 0; i < n; i++)
        j.first_grain[i + 1] = j.first_grain[i] + (mm[i].w.ne1 + CT_CPU_QMATMUL_GRAIN - 1) / CT_CPU_QMATMUL_GRAIN;
    const int64_t items = j.glu ? j.first_grain[1] : j.first_grain[n];
    s->stats.matmuls += (uint64_t)n;
    s->stats.grouped_jobs += n > 1;
    s->stats.fused_glu += j.glu;
    for (j.t0 = 0; j.t0 < in->ne1; j.t0 += cap) {
        j.n_tokens = in->ne1 - j.t0 < cap ? in->ne1 - j.t0 : cap;
        s->stats.quantized_inputs++;
        if (j.n_tokens < CT_CPU_PARALLEL_QUANTIZE_TOKENS) quantize_task(&j, 0, j.n_tokens, 0);
        else ct_threadpool_run(s->pool, j.n_tokens, 1, quantize_task, &j);
        ct_threadpool_run(s->pool, items, 1, group_task, &j);
    }
}

/* ---- deferral --------------------------------------------------------------------------- */

static bool overlap(const ct_tensor *a, const ct_tensor *b) {
    const uint8_t *a0 = a->data, *b0 = b->data;
    const uint8_t *a1 = a0 + a->row_bytes * (size_t)a->ne1, *b1 = b0 + b->row_bytes * (size_t)b->ne1;
    return a0 < b1 && b0 < a1;
}

static bool same_view(const ct_tensor *a, const ct_tensor *b) {
    return a->data == b->data && a->ne0 == b->ne0 && a->ne1 == b->ne1 && a->row_bytes == b->row_bytes;
}

void ct_cpu_flush(cpu_state *s) {
    if (s->n_pending == 0) return;
    const int n = s->n_pending;
    s->n_pending = 0;
    run_group(s, &s->pending_in, s->pending, n, NULL, CT_CPU_GLU_SILU);
}

/* Can this matmul join the waiting group? Same input rows, activations in the same format,
 * and no output that overlaps the input or another output (those must run in order). */
static bool joins(const cpu_state *s, const ct_tensor *out, const ct_tensor *w, const ct_tensor *in) {
    if (s->n_pending == 0 || s->n_pending == CT_CPU_MAX_GROUP) return false;
    if (!same_view(in, &s->pending_in) || !ct_cpu_act_shared(s->qk, s->pending[0].w.type, w->type)) return false;
    if (overlap(out, in)) return false;
    for (int i = 0; i < s->n_pending; i++)
        if (overlap(out, &s->pending[i].out)) return false;
    return true;
}

void ct_cpu_fast_matmul(cpu_state *s, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                        const ct_tensor *in) {
    cpu_pending_matmul m = {.out = *out, .w = *w, .has_bias = bias != NULL};
    if (bias) m.bias = *bias;
    if (!s->fuse || !s->batch || in->ne1 > (int64_t)(s->act_cap / ct_cpu_act_row_bytes(w->type, w->ne0))) {
        ct_cpu_flush(s);
        run_group(s, in, &m, 1, NULL, CT_CPU_GLU_SILU);
        return;
    }
    if (!joins(s, out, w, in)) {
        ct_cpu_flush(s);
        if (overlap(out, in)) { /* in place: nothing can join it */
            run_group(s, in, &m, 1, NULL, CT_CPU_GLU_SILU);
            return;
        }
        s->pending_in = *in;
    }
    s->pending[s->n_pending++] = m;
}

bool ct_cpu_fuse_glu(cpu_state *s, ct_cpu_glu act, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up) {
    if (s->n_pending != 2) return false;
    const cpu_pending_matmul *g = &s->pending[0], *u = &s->pending[1];
    if (!same_view(gate, &g->out) || !same_view(up, &u->out) || g->w.ne1 != u->w.ne1) return false;
    /* out may be gate or up itself (each element is read before it is written) or a buffer
     * apart from all three operands */
    if (!same_view(out, gate) && !same_view(out, up) &&
        (overlap(out, gate) || overlap(out, up) || overlap(out, &s->pending_in)))
        return false;
    if (out->ne1 != gate->ne1 || out->ne0 != gate->ne0) return false;
    s->n_pending = 0;
    run_group(s, &s->pending_in, s->pending, 2, out, act);
    return true;
}

void ct_cpu_glu_rows(ct_cpu_glu act, const ct_tensor *out, const ct_tensor *gate, const ct_tensor *up, int64_t t0,
                     int64_t t1, int64_t c0, int64_t c1) {
    for (int64_t t = t0; t < t1; t++) {
        float *y = ct_cpu_row_ptr(out, t);
        const float *g = ct_cpu_row_ptr(gate, t), *u = ct_cpu_row_ptr(up, t);
        if (act == CT_CPU_GLU_SILU)
            for (int64_t i = c0; i < c1; i++) y[i] = ct_cpu_silu(g[i]) * u[i];
        else
            for (int64_t i = c0; i < c1; i++) y[i] = ct_cpu_gelu_tanh(g[i]) * u[i];
    }
}
