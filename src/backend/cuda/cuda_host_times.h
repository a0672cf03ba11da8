/* CTORCH_CUDA_HOST_TIMES=1: where a pass's wall time goes on the host, graphs left on. Per
 * pass: begin() (the batch's metadata), recording (the model's op calls, begin to end), submit
 * (uploads, fusion, graph lookup and launch), wait (the stream's synchronization: GPU work
 * not yet hidden), copy (staging to the caller's logits), and outside (end of one pass to the
 * next begin: the caller's sampling and scheduling). Summed, printed to stderr at destroy. */
#ifndef CT_BACKEND_CUDA_CUDA_HOST_TIMES_H
#define CT_BACKEND_CUDA_CUDA_HOST_TIMES_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    CT_HT_BEGIN,
    CT_HT_RECORD,
    CT_HT_SUBMIT,
    CT_HT_WAIT,
    CT_HT_COPY,
    CT_HT_OUTSIDE,
    CT_HT_PHASES
} ct_host_phase;

typedef struct ct_host_times {
    bool on;
    int64_t last_ns; /* end of the previous phase; 0 before the first pass */
    int64_t ns[CT_HT_PHASES];
    int64_t passes, tokens;
} ct_host_times;

int64_t ct_host_times_now(void);
/* Ends a phase at now: its time since last_ns is added to phase (nothing while off). */
void ct_host_times_mark(ct_host_times *h, ct_host_phase phase);
/* The table, with the passes' graph counts (replayed from a graph, captured, run op by op). */
void ct_host_times_print(const ct_host_times *h, int64_t replayed, int64_t captured, int64_t direct);

#endif
