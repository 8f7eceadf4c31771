#include "dm_xsum.h"

#include <math.h>
#include <stdio.h>

#include "dm_comm.h"

#define LIMB_MASK INT64_C(0xffffffff)
#define LIMB_BASE (INT64_C(1) << 32)

/* The allreduce sums whole structs as int64 arrays: no padding allowed. */
_Static_assert(sizeof(dm_xsum) == (DM_XSUM_LIMBS + 2) * sizeof(int64_t),
               "dm_xsum must be a plain array of int64");

void dm_xsum_clear(dm_xsum *a) { memset(a, 0, sizeof *a); }

void dm_xsum_normalize(dm_xsum *a)
{
  for (int i = 0; i < DM_XSUM_LIMBS - 1; i++) {
    /* Keep the low 32 bits (as a non-negative number) and carry the rest,
     * an exact multiple of 2^32, so the division is exact for either sign.
     * The representation is then unique: equal values, equal limbs. */
    int64_t lo = (int64_t)((uint64_t)a->limb[i] & (uint64_t)LIMB_MASK);
    a->limb[i + 1] += (a->limb[i] - lo) / LIMB_BASE;
    a->limb[i] = lo;
  }
  a->pending = 0;
}

void dm_xsum_add_slow(dm_xsum *a, double x)
{
  if (x == 0)
    return;
  if (!isfinite(x)) {
    a->invalid = 1;
    return;
  }
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int ex = (int)((bits >> 52) & 0x7ff);
  uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
  if (ex == 0)
    ex = 1; /* subnormal: no implicit bit, exponent as for the smallest normal */
  else
    m |= UINT64_C(1) << 52;
  int q = ex - 1075 + DM_XSUM_UNIT_EXP;
  if (q > 32 * (DM_XSUM_LIMBS - 1) - 53) {
    a->invalid = 1;
    return;
  }
  if (q >= 0) { /* not reached from dm_xsum_add, kept for direct callers */
    int li = q >> 5;
    unsigned __int128 w = (unsigned __int128)m << (q & 31);
    int64_t sgn = (bits >> 63) ? -1 : 1;
    a->limb[li] += sgn * (int64_t)((uint64_t)w & (uint64_t)LIMB_MASK);
    a->limb[li + 1] += sgn * (int64_t)((uint64_t)(w >> 32) & (uint64_t)LIMB_MASK);
    a->limb[li + 2] += sgn * (int64_t)(uint64_t)(w >> 64);
  } else {
    /* Below the unit: truncate the magnitude, which depends on this term
     * alone and so is the same in every order. */
    m = -q >= 64 ? 0 : m >> -q;
    if (m == 0)
      return;
    int64_t sgn = (bits >> 63) ? -1 : 1;
    a->limb[0] += sgn * (int64_t)(m & (uint64_t)LIMB_MASK);
    a->limb[1] += sgn * (int64_t)(m >> 32);
  }
  if (++a->pending >= (INT64_C(1) << 30))
    dm_xsum_normalize(a);
}

void dm_xsum_merge(dm_xsum *a, const dm_xsum *b)
{
  dm_xsum t = *b;
  dm_xsum_normalize(&t);
  /* a's limbs are below 2^62 + 2^32 in magnitude (pending < 2^30), t's below
   * 2^32 except the top one, which counts terms: no overflow. */
  for (int i = 0; i < DM_XSUM_LIMBS; i++)
    a->limb[i] += t.limb[i];
  a->invalid = a->invalid || t.invalid;
  dm_xsum_normalize(a);
}

void dm_xsum_sub(dm_xsum *a, const dm_xsum *b)
{
  dm_xsum t = *b;
  dm_xsum_normalize(&t);
  /* As in merge: both sides' limbs are far from overflow. */
  for (int i = 0; i < DM_XSUM_LIMBS; i++)
    a->limb[i] -= t.limb[i];
  a->invalid = a->invalid || t.invalid;
  dm_xsum_normalize(a);
}

int dm_xsum_invalid(const dm_xsum *a) { return a->invalid != 0; }

double dm_xsum_value(const dm_xsum *a)
{
  if (a->invalid)
    return NAN;
  dm_xsum t = *a;
  dm_xsum_normalize(&t);
  int neg = t.limb[DM_XSUM_LIMBS - 1] < 0;
  if (neg) {
    for (int i = 0; i < DM_XSUM_LIMBS; i++)
      t.limb[i] = -t.limb[i];
    dm_xsum_normalize(&t);
  }
  /* Magnitude as 32-bit digits; the top limb (carries only, < 2^62) takes
   * two. */
  uint32_t d[DM_XSUM_LIMBS + 1];
  for (int i = 0; i < DM_XSUM_LIMBS - 1; i++)
    d[i] = (uint32_t)t.limb[i];
  uint64_t top = (uint64_t)t.limb[DM_XSUM_LIMBS - 1];
  d[DM_XSUM_LIMBS - 1] = (uint32_t)top;
  d[DM_XSUM_LIMBS] = (uint32_t)(top >> 32);
  int h = DM_XSUM_LIMBS;
  while (h >= 0 && d[h] == 0)
    h--;
  if (h < 0)
    return 0.0;
  /* The leading 64 bits, with every bit below them folded into the lowest
   * one (sticky). Rounding that 64-bit integer to 53 bits rounds the exact
   * value correctly: the fold never touches the round bit. */
  unsigned __int128 v = (unsigned __int128)d[h] << 64;
  if (h >= 1)
    v |= (unsigned __int128)d[h - 1] << 32;
  if (h >= 2)
    v |= d[h - 2];
  int sticky = 0;
  for (int i = h - 3; i >= 0 && !sticky; i--)
    sticky = d[i] != 0;
  int s = 32 - __builtin_clz(d[h]); /* v has 64 + s bits; 1 <= s <= 32 */
  uint64_t lead = (uint64_t)(v >> s);
  if ((v & (((unsigned __int128)1 << s) - 1)) != 0 || sticky)
    lead |= 1;
  double r = ldexp((double)lead, 32 * (h - 2) + s - DM_XSUM_UNIT_EXP);
  return neg ? -r : r;
}

dm_status dm_xsum_check(const dm_xsum *a, int64_t n, const char *what)
{
  for (int64_t i = 0; i < n; i++) {
    if (!a[i].invalid)
      continue;
    char where[64] = "";
    if (n > 1)
      snprintf(where, sizeof where, " (sum %lld of %lld)", (long long)i, (long long)n);
    return dm_error(DM_ERR_NUMERIC,
                    "%s%s: a term is not finite or its magnitude is 2^%d or more",
                    what ? what : "exact sum", where, 32 * (DM_XSUM_LIMBS - 1) - DM_XSUM_UNIT_EXP);
  }
  return DM_OK;
}

dm_status dm_xsum_allreduce(dm_xsum *a, int64_t n, MPI_Comm comm)
{
  /* Canonical limbs are below 2^32 (the top one counts terms), pending is 0
   * and invalid is 0 or 1 on every rank, so a plain int64 sum over up to
   * 2^30 ranks is exact and leaves pending at 0. */
  for (int64_t i = 0; i < n; i++) {
    dm_xsum_normalize(&a[i]);
    a[i].invalid = a[i].invalid != 0;
  }
  dm_status s =
      dm_allsum_i64_array((int64_t *)a, n * (int64_t)(sizeof(dm_xsum) / sizeof(int64_t)), comm);
  if (s != DM_OK)
    return s;
  for (int64_t i = 0; i < n; i++) {
    dm_xsum_normalize(&a[i]);
    a[i].invalid = a[i].invalid != 0;
  }
  return DM_OK;
}
