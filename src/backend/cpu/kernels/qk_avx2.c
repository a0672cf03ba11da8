/* AVX2 level (placeholder until its kernels land: inherits the scalar ones). */
#include "backend/cpu/kernels/qk_internal.h"

void ct_qk_fill_avx2(ct_qkernels *k) { (void)k; }
