/* Reference rotary position embedding. */
#include <math.h>

#include "backend/cpu/ops_cpu.h"

void ct_cpu_rope(float *x, int64_t n_heads, const ct_rope *rope, const float *freq_factors, int32_t pos) {
    int32_t half = rope->n_dims / 2;
    for (int32_t i = 0; i < half; i++) {
        /* angle in double: positions in the thousands times a float frequency would lose digits */
        double freq = pow((double)rope->freq_base, -2.0 * i / rope->n_dims) * rope->freq_scale;
        if (freq_factors) freq /= freq_factors[i];
        double angle = (double)pos * freq;
        float c = (float)cos(angle), s = (float)sin(angle);
        /* NORM pairs neighbours (2i, 2i+1); NEOX pairs element i with i + n_dims/2 */
        int32_t a = rope->style == CT_ROPE_NORM ? 2 * i : i;
        int32_t b = rope->style == CT_ROPE_NORM ? 2 * i + 1 : i + half;
        for (int64_t h = 0; h < n_heads; h++) {
            float *head = x + h * rope->head_dim;
            float x0 = head[a], x1 = head[b];
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}
