/* Whether two views of F32 rows (ct_tensor: data, ne0 floats a row, ne1 rows row_bytes apart)
 * share a byte. Views of one buffer interleave row by row when a fused q/k/v matmul writes
 * [tokens][q | k | v]: their spans overlap but their elements do not, which is what the
 * per-row test below sees; other layouts fall back to comparing spans (conservative). Plain C,
 * for the fusion pass and the kernels' entry points alike. */
#ifndef CT_BACKEND_CUDA_VIEWS_H
#define CT_BACKEND_CUDA_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

static inline bool ct_cuda_views_overlap(const ct_tensor *a, const ct_tensor *b) {
    const uintptr_t a0 = (uintptr_t)a->data, b0 = (uintptr_t)b->data;
    const size_t la = (size_t)a->ne0 * sizeof(float), lb = (size_t)b->ne0 * sizeof(float);
    if (a->ne1 <= 0 || b->ne1 <= 0 || la == 0 || lb == 0) return false;
    const uintptr_t a1 = a0 + a->row_bytes * (size_t)(a->ne1 - 1) + la;
    const uintptr_t b1 = b0 + b->row_bytes * (size_t)(b->ne1 - 1) + lb;
    if (a0 >= b1 || b0 >= a1) return false; /* disjoint spans */
    /* same stride R: with b starting d bytes into a's row (mod R), every row of b sits in the
     * gap [la, R) of a's rows when la <= d and d + lb <= R */
    const size_t R = a->row_bytes;
    if (R == 0 || b->row_bytes != R || (a->ne1 > 1 && R < la) || (b->ne1 > 1 && R < lb)) return true;
    const uintptr_t lo = a0 <= b0 ? a0 : b0, hi = a0 <= b0 ? b0 : a0;
    const size_t l_lo = a0 <= b0 ? la : lb, l_hi = a0 <= b0 ? lb : la;
    const size_t d = (size_t)(hi - lo) % R;
    return !(l_lo <= d && d + l_hi <= R);
}

#endif
