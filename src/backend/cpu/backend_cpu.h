/* The CPU backend: scalar reference ops, threaded over matmul rows and attention heads. */
#ifndef CT_BACKEND_CPU_BACKEND_CPU_H
#define CT_BACKEND_CPU_BACKEND_CPU_H

#include "backend/backend.h"

/* n_threads <= 0: one per online core. */
ct_status ct_backend_cpu_create(int n_threads, ct_backend **out);

#endif
