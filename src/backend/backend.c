/* Backend selection by name. */
#include "backend/backend.h"

#include <string.h>

#include "backend/cpu/backend_cpu.h"
#ifdef CTORCH_HAVE_CUDA
#include "backend/cuda/backend_cuda.h"
#endif

ct_status ct_backend_create(const char *name, int n_threads, ct_backend **out) {
    *out = NULL;
    if (!name || !strcmp(name, "cpu")) return ct_backend_cpu_create(n_threads, out);
    if (!strcmp(name, "cuda")) {
#ifdef CTORCH_HAVE_CUDA
        (void)n_threads; /* the host side of a GPU pass is one thread */
        return ct_backend_cuda_create(out);
#else
        return ct_fail(CT_ERR_UNSUPPORTED,
                       "backend 'cuda': this build has no CUDA backend (configure with -DCTORCH_CUDA=ON where nvcc "
                       "is installed), use --backend cpu");
#endif
    }
    return ct_fail(CT_ERR_INVALID_ARGUMENT, "unknown backend '%s' (expected: cpu or cuda)", name);
}

void ct_backend_destroy(ct_backend *be) {
    if (be) be->destroy(be);
}
