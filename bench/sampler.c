/* Benchmark of greedy sampling over a batch step: 128 rows of 32,000 random logits (a
 * Llama-2 vocabulary, 128 sequences decoding together), through ct_sampler_sample with
 * temperature 0, once on its one-pass path (no penalties) and once through the candidate set
 * (a presence penalty over an empty window: the same logits, the general path).
 *
 *   bench_sampler [rows] [n_vocab]
 *
 * Prints the median time per step of 21 steps for each path. */
#define _POSIX_C_SOURCE 200112L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sample/sampler.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const int rows = argc > 1 ? atoi(argv[1]) : 128, n_vocab = argc > 2 ? atoi(argv[2]) : 32000;
    if (rows < 1 || n_vocab < 1) {
        fprintf(stderr, "usage: %s [rows >= 1] [n_vocab >= 1]\n", argv[0]);
        return 2;
    }
    float *logits = malloc(sizeof(float) * (size_t)rows * (size_t)n_vocab);
    if (!logits) return 1;
    unsigned x = 12345;
    for (size_t i = 0; i < (size_t)rows * (size_t)n_vocab; i++) {
        x = x * 1664525u + 1013904223u;
        logits[i] = (float)(x >> 8) * (10.0f / 16777216.0f);
    }
    for (int path = 0; path < 2; path++) {
        ct_sampler_params p = ct_sampler_params_default();
        p.temperature = 0.0f;
        if (path == 1) p.presence_penalty = 1.0f;
        ct_sampler *s = NULL;
        if (ct_sampler_create(&p, n_vocab, &s) != CT_OK) {
            fprintf(stderr, "sampler: %s\n", ct_last_error());
            return 1;
        }
        enum { STEPS = 21 };
        double ms[STEPS];
        long checksum = 0;
        for (int step = 0; step < STEPS; step++) {
            const double t0 = now_ms();
            for (int r = 0; r < rows; r++) {
                int32_t tok = -1;
                if (ct_sampler_sample(s, logits + (size_t)r * (size_t)n_vocab, &tok) != CT_OK) return 1;
                checksum += tok;
            }
            ms[step] = now_ms() - t0;
        }
        qsort(ms, STEPS, sizeof ms[0], by_value);
        printf("%-28s %d rows x %d logits: %.2f ms per step (median of %d; checksum %ld)\n",
               path == 0 ? "greedy, one pass:" : "greedy, candidate set:", rows, n_vocab, ms[STEPS / 2], STEPS,
               checksum);
        ct_sampler_free(s);
    }
    free(logits);
    return 0;
}
