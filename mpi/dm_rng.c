#include "dm_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t dm_rng_hash(uint64_t seed, uint64_t a, uint64_t b)
{
  uint64_t x = seed;
  uint64_t h = splitmix64(&x);
  x = h ^ a;
  h = splitmix64(&x);
  x = h ^ b;
  return splitmix64(&x);
}

void dm_rng_init(dm_rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
  uint64_t x = dm_rng_hash(seed, a, b);
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

uint64_t dm_rng_below(dm_rng *r, uint64_t n)
{
  if (n <= 1)
    return 0;
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do
    x = dm_rng_u64(r);
  while (x >= limit);
  return x % n;
}

double dm_rng_normal(dm_rng *r)
{
  double u, v, s;
  do {
    u = 2 * dm_rng_uniform(r) - 1;
    v = 2 * dm_rng_uniform(r) - 1;
    s = u * u + v * v;
  } while (s >= 1 || s == 0);
  return u * sqrt(-2 * log(s) / s);
}

double dm_rng_exponential(dm_rng *r) { return -log1p(-dm_rng_uniform(r)); }

int64_t dm_rng_poisson(dm_rng *r, double mu)
{
  if (!(mu > 0))
    return 0;
  if (mu < 30) {
    /* Inversion by sequential search. */
    double p = exp(-mu), f = p, u = dm_rng_uniform(r);
    int64_t k = 0;
    while (u > f && k < 1000) {
      k++;
      p *= mu / (double)k;
      f += p;
    }
    return k;
  }
  /* Hormann's PTRS (transformed rejection with squeeze). */
  double slam = sqrt(mu), loglam = log(mu);
  double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    double u = dm_rng_uniform(r) - 0.5, v = dm_rng_uniform(r);
    double us = 0.5 - fabs(u);
    double k = floor((2 * a / us + b) * u + mu + 0.43);
    if (us >= 0.07 && v <= vr)
      return (int64_t)k;
    if (k < 0 || (us < 0.013 && v > us))
      continue;
    if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -mu + k * loglam - lgamma(k + 1))
      return (int64_t)k;
  }
}
