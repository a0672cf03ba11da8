/* The CPU backend: SIMD quantized matmuls (or the scalar reference ones), threaded over matmul
 * rows and attention heads. */
#ifndef CT_BACKEND_CPU_BACKEND_CPU_H
#define CT_BACKEND_CPU_BACKEND_CPU_H

#include "backend/backend.h"

/* n_threads <= 0: one per online core. */
ct_status ct_backend_cpu_create(int n_threads, ct_backend **out);

/* Which matmul a CPU backend runs: "reference" (CTORCH_CPU_LEVEL=reference) or the kernel
 * level of the fast path ("scalar", "avx2", "avx512", "avx512vnni"), with "/q8" appended
 * at the 8-bit activation precision (CTORCH_CPU_ACTIVATIONS=q8). */
const char *ct_backend_cpu_matmul_path(const ct_backend *be);

/* What the fast matmul did since the backend was created (tests, profiling): quantizations
 * of an input, pool jobs running two or more matmuls of one input, and gated activations
 * run in such a job's epilogue. */
typedef struct {
    uint64_t quantized_inputs, matmuls, grouped_jobs, fused_glu;
} ct_backend_cpu_stats;
void ct_backend_cpu_get_stats(const ct_backend *be, ct_backend_cpu_stats *out);

#endif
