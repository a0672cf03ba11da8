/* Seeded random tensor data, written straight into GGUF blocks.
 *
 * Quantized tensors are not made by drawing floats and running ggml's reference quantizers
 * (the k-quant scale search would take minutes for a 7B model); their blocks are filled
 * directly: uniformly random quants, with block scales (d, dmin, sub-block scales and mins)
 * chosen so that the dequantized weights have mean about 0 and standard deviation about
 * SYNTH_WEIGHT_STD. The bytes are valid blocks of the format, finite, with no outliers.
 * Float tensors (F32/F16/BF16) are drawn uniform with the same deviation; norm weights are
 * 1 +- SYNTH_NORM_SPREAD and biases use the weight deviation. */
#ifndef CT_SYNTH_WEIGHTS_H
#define CT_SYNTH_WEIGHTS_H

#include <stdint.h>

#include "core/status.h"
#include "quant/blocks.h"
#include "synth/tensors.h"

#define SYNTH_WEIGHT_STD 0.02f
#define SYNTH_NORM_SPREAD 0.05f

/* splitmix64: a tiny generator whose output is well mixed from any seed, even 0 or 1. */
typedef struct synth_rng {
    uint64_t state;
} synth_rng;

static inline uint64_t synth_rng_next(synth_rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The key of one chunk of one tensor: a hash of the seed, the tensor name and the chunk index,
 * so every chunk's data is fixed by (seed, name, chunk) whatever thread makes it. */
uint64_t synth_chunk_key(uint64_t seed, const char *tensor_name, uint64_t chunk);

/* Fill n elements (a multiple of the type's block size) of a tensor of the given role with
 * data drawn from key. Types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K. */
ct_status synth_fill(ct_type type, synth_role role, uint64_t n, uint64_t key, void *dst);

#endif
