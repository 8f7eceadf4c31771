/* The random variates and fast functions behind the event models
 * (stages/generate/dm_gen_random.h), checked against independent references:
 * the stream against dm_rng, the ziggurat normal and exponential against
 * their distribution functions from libm's erfc and exp (Kolmogorov-Smirnov
 * distance, moments, the tails beyond the ziggurats' base layers), sincos
 * against libm, Poisson against its mean and variance. Seeds are fixed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_gen_random.h"
#include "dm_rng.h"

#define NDRAW 2000000

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Kolmogorov-Smirnov distance of sorted x[0..n) from the CDF F. */
static double ks_distance(const double *x, int n, double (*F)(double))
{
  double d = 0;
  for (int i = 0; i < n; i++) {
    double f = F(x[i]);
    double lo = f - (double)i / n, hi = (double)(i + 1) / n - f;
    if (lo > d)
      d = lo;
    if (hi > d)
      d = hi;
  }
  return d;
}

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double exponential_cdf(double x) { return x <= 0 ? 0 : -expm1(-x); }

/* |observed - expected| within 5 binomial standard deviations. */
static void expect_count(long got, double p, long n, const char *what)
{
  double mu = p * n, sd = sqrt(n * p * (1 - p));
  if (fabs(got - mu) > 5 * sd + 1)
    fail_msg("%s: %ld, expected %.1f +- %.1f", what, got, mu, sd);
}

static void test_stream_is_dm_rng(void **state)
{
  dm_gen_rng g;
  dm_rng r;
  dm_gen_rng_init(&g, 20200227, 0x1234, 987654321);
  dm_rng_init(&r, 20200227, 0x1234, 987654321);
  for (int i = 0; i < 10000; i++) {
    assert_true(dm_gen_u64(&g) == dm_rng_u64(&r));
    assert_true(dm_gen_uniform(&g) == dm_rng_uniform(&r));
  }
}

static void test_normal(void **state)
{
  dm_gen_random_setup();
  dm_gen_rng g;
  dm_gen_rng_init(&g, 5, 6, 7);
  double *x = malloc(sizeof *x * NDRAW);
  assert_non_null(x);
  double s1 = 0, s2 = 0, s4 = 0;
  long beyond_r = 0, beyond_2 = 0, negative = 0;
  for (int i = 0; i < NDRAW; i++) {
    double v = dm_gen_normal(&g);
    x[i] = v;
    s1 += v;
    s2 += v * v;
    s4 += v * v * v * v;
    beyond_r += fabs(v) > 3.6541528853610088;
    beyond_2 += fabs(v) > 2.0;
    negative += v < 0;
  }
  double mean = s1 / NDRAW, var = s2 / NDRAW - mean * mean, kurt = s4 / NDRAW;
  /* Standard errors: mean 1/sqrt(n), variance sqrt(2/n), E x^4 sqrt(96/n). */
  assert_true(fabs(mean) < 5 / sqrt(NDRAW));
  assert_true(fabs(var - 1) < 5 * sqrt(2.0 / NDRAW));
  assert_true(fabs(kurt - 3) < 5 * sqrt(96.0 / NDRAW));
  expect_count(beyond_r, erfc(3.6541528853610088 / sqrt(2.0)), NDRAW, "normal tail beyond r");
  expect_count(beyond_2, erfc(2.0 / sqrt(2.0)), NDRAW, "normal beyond 2");
  expect_count(negative, 0.5, NDRAW, "normal below 0");
  qsort(x, NDRAW, sizeof *x, cmp_double);
  /* KS: the 0.1% critical value is 1.95 / sqrt(n). */
  double d = ks_distance(x, NDRAW, normal_cdf);
  if (d > 1.95 / sqrt(NDRAW))
    fail_msg("normal KS distance %g", d);
  free(x);
}

static void test_exponential(void **state)
{
  dm_gen_random_setup();
  dm_gen_rng g;
  dm_gen_rng_init(&g, 8, 9, 10);
  double *x = malloc(sizeof *x * NDRAW);
  assert_non_null(x);
  double s1 = 0, s2 = 0;
  long beyond_r = 0, beyond_2r = 0;
  for (int i = 0; i < NDRAW; i++) {
    double v = dm_gen_exponential(&g);
    assert_true(v >= 0);
    x[i] = v;
    s1 += v;
    s2 += v * v;
    beyond_r += v > 7.69711747013104972;
    beyond_2r += v > 2 * 7.69711747013104972;
  }
  double mean = s1 / NDRAW, m2 = s2 / NDRAW;
  assert_true(fabs(mean - 1) < 5 / sqrt(NDRAW));
  /* E x^2 = 2, its variance E x^4 - 4 = 20. */
  assert_true(fabs(m2 - 2) < 5 * sqrt(20.0 / NDRAW));
  expect_count(beyond_r, exp(-7.69711747013104972), NDRAW, "exponential tail beyond r");
  expect_count(beyond_2r, exp(-2 * 7.69711747013104972), NDRAW, "exponential beyond 2r");
  qsort(x, NDRAW, sizeof *x, cmp_double);
  double d = ks_distance(x, NDRAW, exponential_cdf);
  if (d > 1.95 / sqrt(NDRAW))
    fail_msg("exponential KS distance %g", d);
  free(x);
}

static void test_sincos(void **state)
{
  double worst = 0;
  for (int i = -4000000; i <= 4000000; i++) {
    double x = i * (4.0 / 4000000); /* the documented range, |x| <= 4 */
    double s, c;
    dm_gen_sincos(x, &s, &c);
    double e = fmax(fabs(s - sin(x)), fabs(c - cos(x)));
    if (e > worst)
      worst = e;
  }
  if (worst > 5e-16)
    fail_msg("sincos error %g", worst);
  /* Quadrant edges and the ends of [-pi, pi]. */
  static const double edge[] = {0.0, M_PI_4, M_PI_2, 3 * M_PI_4, M_PI, -M_PI_4, -M_PI_2, -M_PI};
  for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
    for (int k = -2; k <= 2; k++) {
      double x = edge[i] + k * 1e-16, s, c;
      dm_gen_sincos(x, &s, &c);
      assert_true(fabs(s - sin(x)) < 5e-16 && fabs(c - cos(x)) < 5e-16);
    }
  }
}

static void test_poisson(void **state)
{
  static const double mus[] = {0.15, 0.5, 1.0, 1.6, 4.0};
  for (size_t j = 0; j < sizeof mus / sizeof mus[0]; j++) {
    double mu = mus[j];
    dm_gen_rng g;
    dm_gen_rng_init(&g, 11, j, 12);
    double s1 = 0, s2 = 0;
    long zeros = 0;
    int n = 500000;
    for (int i = 0; i < n; i++) {
      int k = dm_gen_poisson(&g, mu, exp(-mu));
      s1 += k;
      s2 += (double)k * k;
      zeros += k == 0;
    }
    double mean = s1 / n, var = s2 / n - mean * mean;
    assert_true(fabs(mean - mu) < 5 * sqrt(mu / n));
    /* Var of the sample variance ~ (mu + 2 mu^2) / n for a Poisson. */
    assert_true(fabs(var - mu) < 5 * sqrt((mu + 2 * mu * mu) / n));
    expect_count(zeros, exp(-mu), n, "Poisson zeros");
  }
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_is_dm_rng), cmocka_unit_test(test_normal),
      cmocka_unit_test(test_exponential),      cmocka_unit_test(test_sincos),
      cmocka_unit_test(test_poisson),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
