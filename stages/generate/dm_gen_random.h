/* dm_gen_random.h - the random variates of the event models (private to
 * stages/generate; never included elsewhere).
 *
 * An event draws tens of numbers, so the fast paths are inline here: the
 * stream is xoshiro256** (the generator of dm_rng.h, seeded by dm_rng_init
 * from (seed, process, event index), so it stays a per-event stream that no
 * rank count can change), normals and exponentials come from 256-layer
 * ziggurats that need no logarithm or square root in 99% of draws, the
 * Poisson counts of the models' small means from inversion, and sin and cos
 * of angles from a short series instead of libm's general sincos.
 * Everything is plain double arithmetic in a fixed order (no threads, no
 * -march dependence), so an event is the same on every machine of a kind.
 * All calls are LOCAL and thread-compatible (the ziggurat tables are built
 * once, under pthread_once).
 */
#ifndef DM_GEN_RANDOM_H
#define DM_GEN_RANDOM_H

#include <stdint.h>

#include "dm_rng.h"

/* The per-event stream is dm_rng's own (inline in dm_rng.h). */
typedef dm_rng dm_gen_rng;

/* LOCAL. The stream of work item (a, b) under seed, as dm_rng_init. */
void dm_gen_rng_init(dm_gen_rng *r, uint64_t seed, uint64_t a, uint64_t b);

static inline uint64_t dm_gen_u64(dm_gen_rng *r) { return dm_rng_u64(r); }

/* Uniform in [0, 1) with 53 random bits. */
static inline double dm_gen_uniform(dm_gen_rng *r) { return dm_rng_uniform(r); }

/* Ziggurat layers: x[0] is the base layer's width (area / f(r)), x[1] = r,
 * x[256] = 0; f[i] = exp(-x[i]^2 / 2). Built by dm_gen_random_setup. */
extern double dm_gen_zig_x[257], dm_gen_zig_f[257];

/* LOCAL. Build the tables once per process (idempotent, thread-safe). */
void dm_gen_random_setup(void);

/* LOCAL. The rest of a normal draw after the fast path missed: the tail
 * beyond r for layer 0, the wedge test otherwise (and retries). */
double dm_gen_normal_slow(dm_gen_rng *r, uint64_t bits);

/* Standard normal. One 64-bit draw: 8 bits pick the layer, one the sign,
 * 53 the position; inside the layer's inner rectangle the point is taken
 * as it is. */
static inline double dm_gen_normal(dm_gen_rng *r)
{
  uint64_t bits = dm_gen_u64(r);
  unsigned i = (unsigned)(bits & 0xff);
  double x = (double)(bits >> 11) * 0x1.0p-53 * dm_gen_zig_x[i];
  if (x < dm_gen_zig_x[i + 1])
    return (bits & 0x100) ? -x : x;
  return dm_gen_normal_slow(r, bits);
}

/* Exponential ziggurat (mean 1), the same scheme on f(x) = exp(-x). */
extern double dm_gen_zexp_x[257], dm_gen_zexp_f[257];

double dm_gen_exponential_slow(dm_gen_rng *r, uint64_t bits);

/* Exponential with mean 1: -log(U) without the logarithm in 99% of draws. */
static inline double dm_gen_exponential(dm_gen_rng *r)
{
  uint64_t bits = dm_gen_u64(r);
  unsigned i = (unsigned)(bits & 0xff);
  double x = (double)(bits >> 11) * 0x1.0p-53 * dm_gen_zexp_x[i];
  if (x < dm_gen_zexp_x[i + 1])
    return x;
  return dm_gen_exponential_slow(r, bits);
}

/* sin and cos of x for |x| <= 4 (the models' angles are within [-pi, pi]):
 * reduction by the nearest multiple of pi/2 in two parts, then Taylor
 * series of sin to x^15 and cos to x^16 on [-pi/4, pi/4] (truncation below
 * 1e-16), all in double arithmetic: within a few 1e-16 of the true values,
 * at a third of the cost of libm's sincos, and the same on any machine. */
static inline void dm_gen_sincos(double x, double *sn, double *cs)
{
  int k = (int)(x * 0.63661977236758134 + 4.5) - 4; /* nearest integer of x / (pi/2) */
  double kd = (double)k;
  /* pi/2 = 1.5707963267341256 (33 bits, so k times it is exact) + the rest. */
  double r = (x - kd * 1.5707963267341256) - kd * 6.0771005065061922e-11;
  double r2 = r * r;
  double s = r + r * r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362880 +
             r2 * (-1.0 / 39916800 + r2 * (1.0 / 6227020800.0 + r2 * (-1.0 / 1307674368000.0)))))));
  double c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320 +
             r2 * (-1.0 / 3628800 + r2 * (1.0 / 479001600 + r2 * (-1.0 / 87178291200.0 +
             r2 * (1.0 / 20922789888000.0))))))));
  unsigned q = (unsigned)k & 3;
  double so = (q & 1) ? c : s, co = (q & 1) ? s : c;
  *sn = (q & 2) ? -so : so;
  *cs = ((q + 1) & 2) ? -co : co;
}

/* Poisson with mean mu in [0, 30], by inversion; p0 = exp(-mu), which the
 * caller computes once per mean. */
static inline int dm_gen_poisson(dm_gen_rng *r, double mu, double p0)
{
  double u = dm_gen_uniform(r), p = p0, f = p0;
  int k = 0;
  while (u > f && k < 1000) {
    k++;
    p *= mu / k;
    f += p;
  }
  return k;
}

#endif
