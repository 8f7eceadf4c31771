#include "dm_signif.h"

#include <math.h>

double dm_signif_simple(double s, double b)
{
  if (!(b > 0) || s < 0)
    return NAN;
  return s / sqrt(b);
}

double dm_signif_asimov(double s, double b)
{
  if (!(b > 0) || s < 0)
    return NAN;
  /* log1p keeps small s/b accurate, where the bracket is a difference of
   * nearly equal terms. */
  double q = 2.0 * ((s + b) * log1p(s / b) - s);
  return q > 0 ? sqrt(q) : 0.0;
}

double dm_signif_asimov_unc(double s, double b, double sigma_b)
{
  if (!(b > 0) || s < 0 || sigma_b < 0)
    return NAN;
  double sb2 = sigma_b * sigma_b;
  if (sb2 < 1e-12 * b * b)
    return dm_signif_asimov(s, b);
  double t1 = (s + b) * log((s + b) * (b + sb2) / (b * b + (s + b) * sb2));
  double t2 = (b * b / sb2) * log1p(sb2 * s / (b * (b + sb2)));
  double q = 2.0 * (t1 - t2);
  return q > 0 ? sqrt(q) : 0.0;
}
