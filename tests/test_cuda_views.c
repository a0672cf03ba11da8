/* ct_cuda_views_overlap (cuda_views.h), which decides whether the CUDA fusion pass may merge
 * ops on views of one buffer: the fused q/k/v layout [tokens][q | k | v] (interleaved rows,
 * no shared element), and the cases where views do share bytes. Plain C on the CPU: the test
 * runs without CUDA. */
#include <stdint.h>

#include "backend/cuda/cuda_views.h"
#include "test_util.h"

static float buf[64 * 100];

static ct_tensor view(size_t first_float, int64_t ne0, int64_t ne1, size_t row_floats) {
    ct_tensor t = {buf + first_float, CT_TYPE_F32, ne0, ne1, row_floats * sizeof(float), "v"};
    return t;
}

static void expect(const ct_tensor *a, const ct_tensor *b, bool want, const char *what) {
    CHECK_MSG(ct_cuda_views_overlap(a, b) == want, "%s: expected %s", what, want ? "overlap" : "disjoint");
    CHECK_MSG(ct_cuda_views_overlap(b, a) == want, "%s (swapped): expected %s", what, want ? "overlap" : "disjoint");
}

int main(void) {
    /* q | k | v of 7 tokens in rows of 6 + 2 + 2 heads of 4 floats */
    const ct_tensor q = view(0, 24, 7, 40), k = view(24, 8, 7, 40), v = view(32, 8, 7, 40);
    expect(&q, &k, false, "q, k of a fused qkv row");
    expect(&q, &v, false, "q, v of a fused qkv row");
    expect(&k, &v, false, "k, v of a fused qkv row");
    const ct_tensor k_wide = view(24, 9, 7, 40); /* one float into v */
    expect(&k_wide, &v, true, "k one float wider than its part");
    const ct_tensor v_shift = view(31, 8, 7, 40); /* starts one float early, into k */
    expect(&k, &v_shift, true, "v one float early");
    const ct_tensor v_wrap = view(34, 8, 7, 40); /* runs 2 floats into the next row's q */
    expect(&q, &v_wrap, true, "v wrapping into the next row's q");
    expect(&q, &q, true, "a view with itself");
    /* one token: spans alone decide */
    const ct_tensor q1 = view(0, 24, 1, 40), k1 = view(24, 8, 1, 40);
    expect(&q1, &k1, false, "q, k of one token");
    const ct_tensor k1_early = view(23, 8, 1, 40);
    expect(&q1, &k1_early, true, "k of one token one float early");
    /* separate buffers, back to back */
    const ct_tensor a = view(0, 10, 5, 10), b = view(50, 10, 5, 10);
    expect(&a, &b, false, "back-to-back dense views");
    const ct_tensor b_early = view(49, 10, 5, 10);
    expect(&a, &b_early, true, "dense views sharing one float");
    /* different strides with overlapping spans: treated as overlapping (conservative) */
    const ct_tensor s1 = view(0, 4, 10, 8), s2 = view(4, 4, 10, 16);
    expect(&s1, &s2, true, "different strides, spans overlap");
    /* empty views share nothing */
    const ct_tensor e = view(0, 24, 0, 40);
    expect(&q, &e, false, "an empty view");
    return ct_test_finish("test_cuda_views");
}
