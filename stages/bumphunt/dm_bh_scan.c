/* The BumpHunter scan itself: local p-values of windows and the test
 * statistic. Pure functions of the spectrum, so every rank and every toy
 * computes bit-identical values from identical inputs. */
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <stdlib.h>

#include "dm_bumphunt.h"

double dm_bh_log_pvalue(double d, double b)
{
  if (!(d > b))
    return 0.0;
  if (!(b > 0))
    return -INFINITY; /* an event where none can be expected */
  gsl_sf_result r;
  if (gsl_sf_gamma_inc_P_e(d, b, &r) == GSL_SUCCESS && r.val > 1e-280)
    return log(r.val);
  /* Deep tail: P(a, x) = x^a e^-x / Gamma(a+1) * sum_k x^k / ((a+1)...(a+k)),
   * summed in logs; it converges since x < a + 1 here. */
  double sum = 1.0, term = 1.0;
  for (int k = 1; k < 100000; k++) {
    term *= b / (d + k);
    sum += term;
    if (term < 1e-17 * sum)
      break;
  }
  return d * log(b) - b - lgamma(d + 1.0) + log(sum);
}

double dm_bh_z_from_log_p(double log_p)
{
  if (!(log_p < log(0.5)))
    return 0.0;
  if (log_p > -690.0)
    return gsl_cdf_ugaussian_Qinv(exp(log_p));
  if (isinf(log_p))
    return INFINITY;
  /* ln Q(z) ~ -z^2/2 - ln z - ln(2 pi)/2 + ln(1 - 1/z^2 + 3/z^4): Newton. */
  double z = sqrt(-2.0 * log_p);
  for (int i = 0; i < 50; i++) {
    double z2 = z * z;
    double g = -0.5 * z2 - log(z) - 0.5 * log(2.0 * M_PI) + log1p(-1.0 / z2 + 3.0 / (z2 * z2)) -
               log_p;
    double step = g / (-z - 1.0 / z);
    z -= step;
    if (fabs(step) < 1e-14 * z)
      break;
  }
  return z;
}

double dm_bh_scan(const double *d, const double *b, int n, int wmin, int wmax, dm_bh_window *best,
                  double *q)
{
  double *cd = malloc((size_t)(n + 1) * sizeof(double));
  double *cb = malloc((size_t)(n + 1) * sizeof(double));
  dm_bh_window w0 = {0, 0, 0, 0, 0.0};
  if (!cd || !cb) {
    free(cd);
    free(cb);
    if (best)
      *best = w0;
    return NAN;
  }
  cd[0] = cb[0] = 0;
  for (int i = 0; i < n; i++) {
    cd[i + 1] = cd[i] + d[i];
    cb[i + 1] = cb[i] + b[i];
  }
  if (q)
    for (int i = 0; i < n; i++)
      q[i] = 0.0;
  double best_lp = 0.0;
  int have = 0;
  if (wmax > n)
    wmax = n;
  for (int w = wmin; w <= wmax; w++) {
    for (int x = 0; x + w <= n; x++) {
      double dd = cd[x + w] - cd[x], bb = cb[x + w] - cb[x];
      if (!(dd > bb))
        continue;
      double lp = dm_bh_log_pvalue(dd, bb);
      if (!have || lp < best_lp) {
        have = 1;
        best_lp = lp;
        w0.first = x;
        w0.last = x + w - 1;
        w0.d = dd;
        w0.b = bb;
        w0.log_p = lp;
      }
      if (q) {
        double z = dm_bh_z_from_log_p(lp);
        if (z * z > q[x])
          q[x] = z * z;
      }
    }
  }
  if (!have) {
    /* No excess anywhere: report the widest window at the start, p = 1. */
    w0.first = 0;
    w0.last = (wmin < n ? wmin : n) - 1;
    w0.d = cd[w0.last + 1];
    w0.b = cb[w0.last + 1];
    w0.log_p = 0.0;
  }
  free(cd);
  free(cb);
  if (best)
    *best = w0;
  return -best_lp;
}

int64_t dm_bh_upcrossings(const double *q, int n, double c0)
{
  int64_t k = 0;
  for (int x = 1; x < n; x++)
    if (q[x - 1] <= c0 && q[x] > c0)
      k++;
  return k;
}
