#include "dm_gen_random.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* 256 layers of equal area V under f(x) = exp(-x^2/2), the base layer
 * including the tail beyond R (Marsaglia and Tsang's constants for this
 * layer count: the recursion below then closes at the top to 1e-11). */
#define ZIG_R 3.6541528853610088
#define ZIG_V 4.92867323399e-3

/* The same for f(x) = exp(-x); its tail beyond R is R plus a fresh draw. */
#define ZEXP_R 7.69711747013104972
#define ZEXP_V 3.949659822581572e-3

double dm_gen_zig_x[257], dm_gen_zig_f[257];
double dm_gen_zexp_x[257], dm_gen_zexp_f[257];

static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void zig_build(void)
{
  double *x = dm_gen_zig_x, *f = dm_gen_zig_f;
  x[0] = ZIG_V / exp(-0.5 * ZIG_R * ZIG_R);
  x[1] = ZIG_R;
  for (int i = 1; i < 255; i++)
    x[i + 1] = sqrt(-2.0 * log(exp(-0.5 * x[i] * x[i]) + ZIG_V / x[i]));
  x[256] = 0.0;
  for (int i = 0; i <= 256; i++)
    f[i] = exp(-0.5 * x[i] * x[i]);
  x = dm_gen_zexp_x;
  f = dm_gen_zexp_f;
  x[0] = ZEXP_V / exp(-ZEXP_R);
  x[1] = ZEXP_R;
  for (int i = 1; i < 255; i++)
    x[i + 1] = -log(exp(-x[i]) + ZEXP_V / x[i]);
  x[256] = 0.0;
  for (int i = 0; i <= 256; i++)
    f[i] = exp(-x[i]);
}

void dm_gen_random_setup(void) { pthread_once(&zig_once, zig_build); }

void dm_gen_rng_init(dm_gen_rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
  dm_rng_init(r, seed, a, b);
}

double dm_gen_normal_slow(dm_gen_rng *r, uint64_t bits)
{
  const double *x = dm_gen_zig_x, *f = dm_gen_zig_f;
  for (;;) {
    unsigned i = (unsigned)(bits & 0xff);
    double sign = (bits & 0x100) ? -1.0 : 1.0;
    double v = (double)(bits >> 11) * 0x1.0p-53 * x[i];
    if (v < x[i + 1])
      return sign * v;
    if (i == 0) {
      /* Tail beyond R (Marsaglia 1964): exponential proposals accepted
       * with the Gaussian's ratio. 1 - U keeps the logarithms finite. */
      double a, b;
      do {
        a = -log(1.0 - dm_gen_uniform(r)) / ZIG_R;
        b = -log(1.0 - dm_gen_uniform(r));
      } while (b + b <= a * a);
      return sign * (ZIG_R + a);
    }
    /* Wedge between the inner rectangle and the curve. */
    if (f[i] + dm_gen_uniform(r) * (f[i + 1] - f[i]) < exp(-0.5 * v * v))
      return sign * v;
    bits = dm_gen_u64(r);
  }
}

double dm_gen_exponential_slow(dm_gen_rng *r, uint64_t bits)
{
  const double *x = dm_gen_zexp_x, *f = dm_gen_zexp_f;
  double base = 0.0;
  for (;;) {
    unsigned i = (unsigned)(bits & 0xff);
    double v = (double)(bits >> 11) * 0x1.0p-53 * x[i];
    if (v < x[i + 1])
      return base + v;
    if (i == 0) {
      base += ZEXP_R; /* memoryless: the tail is R further on */
    } else if (f[i] + dm_gen_uniform(r) * (f[i + 1] - f[i]) < exp(-v)) {
      return base + v;
    }
    bits = dm_gen_u64(r);
  }
}
