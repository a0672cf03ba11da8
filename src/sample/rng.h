/* A small seeded PRNG whose stream depends only on the seed: xoshiro256** (Blackman & Vigna),
 * state filled from the seed by splitmix64. Integer-only, so the same --seed gives the same
 * numbers on every platform and compiler. */
#ifndef CT_SAMPLE_RNG_H
#define CT_SAMPLE_RNG_H

#include <stdint.h>

typedef struct ct_rng {
    uint64_t s[4];
} ct_rng;

/* One step of splitmix64: advances *state and returns the mixed value. */
uint64_t ct_splitmix64(uint64_t *state);

/* Seed the generator; every seed (including 0) gives a valid, non-zero state. */
void ct_rng_seed(ct_rng *rng, uint64_t seed);

/* Next 64 random bits. */
uint64_t ct_rng_next(ct_rng *rng);

/* Uniform double in [0, 1) with 53 random bits. */
double ct_rng_uniform(ct_rng *rng);

#endif
