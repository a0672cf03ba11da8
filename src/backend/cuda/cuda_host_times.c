/* CTORCH_CUDA_HOST_TIMES=1: host-side phases of each pass (cuda_host_times.h). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "backend/cuda/cuda_host_times.h"

#include <stdio.h>
#include <time.h>

int64_t ct_host_times_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void ct_host_times_mark(ct_host_times *h, ct_host_phase phase) {
    if (!h->on) return;
    const int64_t now = ct_host_times_now();
    /* the first pass has no previous end: nothing is outside it yet */
    if (h->last_ns && !(phase == CT_HT_OUTSIDE && h->passes == 0)) h->ns[phase] += now - h->last_ns;
    h->last_ns = now;
}

void ct_host_times_print(const ct_host_times *h, int64_t replayed, int64_t captured, int64_t direct) {
    if (!h->on || h->passes == 0) return;
    static const char *names[CT_HT_PHASES] = {"begin (batch metadata)", "recording (model op calls)",
                                              "submit (uploads, fusion, graph launch)", "wait (stream sync)",
                                              "copy (staging -> logits)", "outside (caller: sampling, scheduling)"};
    int64_t total = 0;
    for (int i = 0; i < CT_HT_PHASES; i++) total += h->ns[i];
    fprintf(stderr, "\nCUDA host times: %lld passes (%lld replayed, %lld captured, %lld op by op), %lld tokens, %.3f ms per pass\n",
            (long long)h->passes, (long long)replayed, (long long)captured, (long long)direct, (long long)h->tokens,
            (double)total / 1e6 / (double)h->passes);
    fprintf(stderr, "| phase | ms per pass | share |\n| --- | --- | --- |\n");
    for (int i = 0; i < CT_HT_PHASES; i++)
        fprintf(stderr, "| %s | %.3f | %.1f%% |\n", names[i], (double)h->ns[i] / 1e6 / (double)h->passes,
                total ? 100.0 * (double)h->ns[i] / (double)total : 0.0);
}
