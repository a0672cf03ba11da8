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

#endif
