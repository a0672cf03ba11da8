/* CTORCH_CUDA_PROFILE=1: where a pass's GPU time goes, op by op.
 *
 * Graphs are off while profiling (an event pair per op cannot live inside a replayed graph), so
 * the figures include no launch gaps: each op's time is from the event recorded before it to
 * the one after it on the stream, which is the kernel time plus the small gap of one launch.
 * Times are summed per (op, weight type, rows) and printed to stderr when the backend is
 * destroyed, largest first. */
#include "backend/cuda/cuda_profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "quant/types.h"

#define PROFILE_KEYS 256

typedef struct profile_row {
    char key[64];
    int64_t calls;
    double ms;
} profile_row;

struct cuda_profile {
    cudaEvent_t *events;
    size_t n_events, cap_events;
    profile_row rows[PROFILE_KEYS + 1]; /* the last: every key beyond PROFILE_KEYS */
    int n_rows;
    int64_t passes;
    double pass_ms;
};

cuda_profile *ct_cuda_profile_create(void) {
    cuda_profile *p = ct_calloc_array(1, sizeof *p, "CUDA profile");
    if (p) snprintf(p->rows[PROFILE_KEYS].key, sizeof p->rows[0].key, "(other keys)");
    return p;
}

static bool ensure_events(cuda_profile *p, size_t n) {
    if (n <= p->cap_events) return true;
    cudaEvent_t *ev = realloc(p->events, n * sizeof *ev);
    if (!ev) return false;
    p->events = ev;
    for (size_t i = p->cap_events; i < n; i++)
        if (cudaEventCreate(&p->events[i]) != cudaSuccess) {
            p->cap_events = i;
            return false;
        }
    p->cap_events = n;
    return true;
}

cudaError_t ct_cuda_profile_mark(cuda_profile *p, cudaStream_t stream, size_t i) {
    if (i == 0) p->n_events = 0;
    if (!ensure_events(p, i + 1)) return cudaErrorMemoryAllocation;
    p->n_events = i + 1;
    return cudaEventRecord(p->events[i], stream);
}

static void describe(const cuda_op *op, char *key, size_t cap) {
    const ct_tensor *w = ct_cuda_op_weight(op);
    if (w)
        snprintf(key, cap, "%s %s %lldx%lld n=%lld", ct_cuda_op_name(op), ct_type_name(w->type), (long long)w->ne1,
                 (long long)w->ne0, (long long)op->t[0].ne1);
    else
        snprintf(key, cap, "%s n=%lld", ct_cuda_op_name(op), (long long)op->t[0].ne1);
}

static profile_row *row_for(cuda_profile *p, const char *key) {
    for (int i = 0; i < p->n_rows; i++)
        if (strcmp(p->rows[i].key, key) == 0) return &p->rows[i];
    if (p->n_rows == PROFILE_KEYS) return &p->rows[PROFILE_KEYS];
    profile_row *r = &p->rows[p->n_rows++];
    snprintf(r->key, sizeof r->key, "%s", key);
    return r;
}

void ct_cuda_profile_collect(cuda_profile *p, const cuda_op *ops, size_t n_ops) {
    if (p->n_events != n_ops + 1) return; /* the pass failed part way */
    p->passes++;
    for (size_t i = 0; i < n_ops; i++) {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, p->events[i], p->events[i + 1]) != cudaSuccess) return;
        char key[64];
        describe(&ops[i], key, sizeof key);
        profile_row *r = row_for(p, key);
        r->calls++;
        r->ms += ms;
        p->pass_ms += ms;
    }
}

static int by_time_desc(const void *a, const void *b) {
    const profile_row *x = a, *y = b;
    return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

void ct_cuda_profile_destroy(cuda_profile *p) {
    if (!p) return;
    if (p->passes) {
        qsort(p->rows, (size_t)p->n_rows, sizeof p->rows[0], by_time_desc);
        fprintf(stderr, "\nCUDA profile: %lld passes, %.3f ms of GPU time (op by op, graphs off)\n",
                (long long)p->passes, p->pass_ms);
        fprintf(stderr, "%-58s %9s %11s %10s %6s\n", "op", "calls", "total ms", "mean us", "share");
        for (int i = 0; i <= PROFILE_KEYS; i++) {
            const profile_row *r = &p->rows[i];
            if (i == p->n_rows) i = PROFILE_KEYS, r = &p->rows[i];
            if (!r->calls) continue;
            fprintf(stderr, "%-58s %9lld %11.3f %10.2f %5.1f%%\n", r->key, (long long)r->calls, r->ms,
                    1000.0 * r->ms / (double)r->calls, 100.0 * r->ms / p->pass_ms);
        }
    }
    for (size_t i = 0; i < p->cap_events; i++) cudaEventDestroy(p->events[i]);
    free(p->events);
    free(p);
}
