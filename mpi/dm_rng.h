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

/* The next 64 bits. Inline: event generators draw tens of numbers per event. */
static inline uint64_t dm_rng_u64(dm_rng *r)
{
  uint64_t *s = r->s;
  uint64_t x = s[1] * 5;
  uint64_t result = ((x << 7) | (x >> 57)) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = (s[3] << 45) | (s[3] >> 19);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double dm_rng_uniform(dm_rng *r) { return (double)(dm_rng_u64(r) >> 11) * 0x1.0p-53; }
/* Uniform integer in [0, n), unbiased. */
uint64_t dm_rng_below(dm_rng *r, uint64_t n);
/* Standard normal (polar Box-Muller; no cached spare, so streams stay simple). */
double dm_rng_normal(dm_rng *r);
/* Exponential with mean 1. */
double dm_rng_exponential(dm_rng *r);
/* Poisson with mean mu >= 0 (inversion below 30, PTRS transformed rejection above). */
int64_t dm_rng_poisson(dm_rng *r, double mu);

#endif
