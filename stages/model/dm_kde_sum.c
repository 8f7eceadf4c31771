/* The KDE's log-sum-exp accumulator: block terms s exp(e) summed exactly,
 * so the result does not depend on the order the reference blocks arrive in
 * (see dm_kde.h, "Accuracy and reproducibility").
 *
 * Why not dm_xsum: its fixed point spans 2^-208 .. 2^208, while a query far
 * from every reference has terms like e^-1e6; the scale is only known once
 * the largest term has been seen. Here the fixed point slides with the
 * largest term instead, and what falls off its bottom is defined by the
 * final largest term alone, so sliding never depends on the order.
 *
 * Representation: a term s e^e is written t 2^E (E = floor(e log2 e), t in
 * [s, 2s)) and t is cut to an integer in units of 2^-52 (t < 2^11, so below
 * 2^63). Binade E falls in bucket g = floor(E / 32) at bit offset E - 32 g,
 * so bucket g adds integers below 2^94 exactly in 128 bits (room for 2^34
 * terms). The accumulator keeps the buckets top, top-1, .., top-3 of the
 * largest bucket seen; a term of a lower bucket is dropped, and so are
 * buckets that fall out of the window when top rises. The sum is therefore
 * exactly "every term whose bucket is within 3 of the final top bucket",
 * whatever the order. A dropped term is below 2^-85 of the largest one
 * (bucket 4 below: at least 96 binades lower, and t < 2^11), so even 2^34 of
 * them change the result by less than 2^-51 relative.
 *
 * This file is compiled once, without the kernel's target attributes, so the
 * accumulation is the same code whichever kernel variant runs. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dm_kde.h"

#define BUCKET_BITS 32
#define EMPTY INT64_MIN

/* A block sum s is at most DM_KDE_BLOCK: t < 2 s must stay below 2^11. */
_Static_assert(DM_KDE_BLOCK <= 1024, "block sums must stay below 1024");

void dm_kde_acc_clear(dm_kde_acc *a)
{
  memset(a, 0, sizeof *a);
  a->top = EMPTY;
}

void dm_kde_acc_add(dm_kde_acc *a, double e, double s)
{
  if (s == 0.0 || e == -INFINITY)
    return; /* an empty block, or one whose every term is 0 */
  if (isnan(e) || isnan(s) || !isfinite(s) || e == INFINITY) {
    a->nan = 1;
    return;
  }
  double y = e * M_LOG2E;
  double fe = floor(y);
  double t = s * exp2(y - fe);
  int64_t E = (int64_t)fe;
  /* Floor division by 32 for either sign. */
  int64_t g = E >= 0 ? E / BUCKET_BITS : -((-E + BUCKET_BITS - 1) / BUCKET_BITS);
  int sh = (int)(E - g * BUCKET_BITS);
  dm_kde_u128 v = (dm_kde_u128)(uint64_t)(t * 0x1p52) << sh;
  if (a->top == EMPTY || g > a->top) {
    int64_t k = a->top == EMPTY ? DM_KDE_ACC_BUCKETS : g - a->top;
    for (int i = DM_KDE_ACC_BUCKETS - 1; i >= 0; i--)
      a->b[i] = i >= k ? a->b[i - k] : 0;
    a->top = g;
  }
  int64_t i = a->top - g;
  if (i < DM_KDE_ACC_BUCKETS)
    a->b[i] += v;
}

double dm_kde_acc_log(const dm_kde_acc *a)
{
  if (a->nan)
    return NAN;
  if (a->top == EMPTY)
    return -INFINITY;
  /* The buckets in units of 2^(32 top - 52); b[0] >= 2^52 (the top term).
   * A fixed order of operations on the exact integers: the same bits for
   * the same sum. */
  double T = (double)a->b[0];
  for (int i = 1; i < DM_KDE_ACC_BUCKETS; i++)
    T += ldexp((double)a->b[i], -BUCKET_BITS * i);
  return log(T) + (double)(BUCKET_BITS * a->top - 52) * M_LN2;
}
