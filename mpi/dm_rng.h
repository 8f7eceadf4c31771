/* dm_rng.h - reproducible random numbers that do not depend on how work is
 * split over ranks or threads.
 *
 * The rule: seed a stream from (seed, stream id) where the stream id names
 * the piece of work (a process and event index, a toy number, an epoch), never
 * the rank. Then any decomposition draws the same numbers for the same piece.
 * All calls are LOCAL. Generator: xoshiro256** seeded through splitmix64.
 */
#ifndef DM_RNG_H
#define DM_RNG_H

#include <stdint.h>

typedef struct {
  uint64_t s[4];
} dm_rng;

/* Stateless 64-bit mix of (seed, a, b): for hashing work items to seeds. */
uint64_t dm_rng_hash(uint64_t seed, uint64_t a, uint64_t b);

/* A stream for work item (a, b) under seed. */
void dm_rng_init(dm_rng *r, uint64_t seed, uint64_t a, uint64_t b);

uint64_t dm_rng_u64(dm_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double dm_rng_uniform(dm_rng *r);
/* Uniform integer in [0, n), unbiased. */
uint64_t dm_rng_below(dm_rng *r, uint64_t n);
/* Standard normal (polar Box-Muller; no cached spare, so streams stay simple). */
double dm_rng_normal(dm_rng *r);
/* Exponential with mean 1. */
double dm_rng_exponential(dm_rng *r);
/* Poisson with mean mu >= 0 (inversion below 30, PTRS transformed rejection above). */
int64_t dm_rng_poisson(dm_rng *r, double mu);

#endif
