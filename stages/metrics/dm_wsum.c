#include "dm_wsum.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"

/* Limb i holds bits [32 i, 32 i + 32) of the fixed-point integer whose unit
 * is 2^-WSUM_LOW. */
#define WSUM_LOW 128
#define LIMB_BASE ((int64_t)1 << 32)

void dm_wsum_zero(dm_wsum *x) { memset(x, 0, sizeof *x); }

void dm_wsum_normalize(dm_wsum *x)
{
  for (int i = 0; i < DM_WSUM_LIMBS - 1; i++) {
    /* Floor division by 2^32 (also right for negative limbs). */
    int64_t c = x->limb[i] >= 0 ? x->limb[i] / LIMB_BASE : -((-x->limb[i] + LIMB_BASE - 1) / LIMB_BASE);
    x->limb[i] -= c * LIMB_BASE;
    x->limb[i + 1] += c;
  }
  int64_t top = x->limb[DM_WSUM_LIMBS - 1];
  if (top > (INT64_C(1) << 60) || top < -(INT64_C(1) << 60))
    x->overflow = 1;
  x->pending = 0;
}

void dm_wsum_add(dm_wsum *x, double v)
{
  if (v == 0.0)
    return;
  if (!isfinite(v)) {
    x->overflow = 1;
    return;
  }
  /* Mantissa and exponent straight from the bits (no frexp/ldexp: this is
   * the inner loop of weighted histograms and quantiles). */
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  int ex = (int)((bits >> 52) & 0x7ff);
  if (ex == 0)
    return; /* subnormal: far below the 2^-128 resolution */
  uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
  int q = ex - 1075 + WSUM_LOW; /* v = m 2^(ex - 1075); bit position of m's lowest bit */
  if (q < 0) {
    m = -q >= 64 ? 0 : m >> -q;
    q = 0;
  }
  if (m == 0)
    return;
  int li = q / 32, sh = q % 32;
  unsigned __int128 w = (unsigned __int128)m << sh; /* at most 85 bits */
  int64_t sign = v < 0 ? -1 : 1;
  for (int k = 0; k < 3; k++) {
    int64_t piece = (int64_t)(uint64_t)((w >> (32 * k)) & 0xffffffffu);
    if (piece == 0)
      continue;
    if (li + k >= DM_WSUM_LIMBS) {
      x->overflow = 1;
      continue;
    }
    x->limb[li + k] += sign * piece;
  }
  /* Each addition moves a limb by less than 2^32; normalise long before
   * 2^31 of them could overflow an int64 limb. */
  if (++x->pending >= (1 << 29))
    dm_wsum_normalize(x);
}

void dm_wsum_add_sum(dm_wsum *x, const dm_wsum *y)
{
  dm_wsum t = *y;
  dm_wsum_normalize(&t);
  dm_wsum_normalize(x);
  for (int i = 0; i < DM_WSUM_LIMBS; i++)
    x->limb[i] += t.limb[i];
  x->overflow |= t.overflow;
  dm_wsum_normalize(x);
}

double dm_wsum_value(const dm_wsum *x)
{
  dm_wsum t = *x;
  dm_wsum_normalize(&t);
  /* Top down in extended precision; the limbs are canonical, so equal exact
   * sums always give the same double. */
  long double acc = 0.0L;
  for (int i = DM_WSUM_LIMBS - 1; i >= 0; i--)
    acc += ldexpl((long double)t.limb[i], 32 * i - WSUM_LOW);
  return (double)acc;
}

dm_status dm_wsum_allreduce(dm_wsum *x, int64_t n, MPI_Comm comm)
{
  int64_t per = DM_WSUM_LIMBS + 1;
  int64_t *buf = malloc((size_t)(n > 0 ? n : 1) * (size_t)per * sizeof(int64_t));
  dm_status s = buf ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory to reduce %lld sums", (long long)n);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    free(buf);
    return s;
  }
  for (int64_t i = 0; i < n; i++) {
    dm_wsum_normalize(&x[i]);
    memcpy(buf + i * per, x[i].limb, DM_WSUM_LIMBS * sizeof(int64_t));
    buf[i * per + DM_WSUM_LIMBS] = x[i].overflow;
  }
  s = dm_allsum_i64_array(buf, n * per, comm);
  int bad = 0;
  if (s == DM_OK) {
    for (int64_t i = 0; i < n; i++) {
      memcpy(x[i].limb, buf + i * per, DM_WSUM_LIMBS * sizeof(int64_t));
      x[i].pending = 0;
      x[i].overflow = buf[i * per + DM_WSUM_LIMBS] != 0;
      dm_wsum_normalize(&x[i]);
      bad |= x[i].overflow;
    }
  }
  free(buf);
  if (s == DM_OK && bad)
    s = dm_error(DM_ERR_NUMERIC, "a weight sum is not finite or exceeds 2^126");
  return s;
}
