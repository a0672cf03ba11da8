/* Backend selection by name. */
#include "backend/backend.h"

#include <string.h>

#include "backend/cpu/backend_cpu.h"

ct_status ct_backend_create(const char *name, int n_threads, ct_backend **out) {
    *out = NULL;
    if (!name || !strcmp(name, "cpu")) return ct_backend_cpu_create(n_threads, out);
    if (!strcmp(name, "cuda"))
        return ct_fail(CT_ERR_UNSUPPORTED, "backend 'cuda': not available yet in this build (use --backend cpu)");
    return ct_fail(CT_ERR_INVALID_ARGUMENT, "unknown backend '%s' (expected: cpu)", name);
}

void ct_backend_destroy(ct_backend *be) {
    if (be) be->destroy(be);
}
