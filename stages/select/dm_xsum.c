#include "dm_xsum.h"

#include <math.h>
#include <string.h>

#include "dm_comm.h"

/* Bit 0 of limb 0 has weight 2^XSUM_EMIN. */
#define XSUM_EMIN (-640)
#define LIMB_BASE 4294967296.0
/* Each add puts less than 2^32 into a limb; 2^30 adds keep |limb| < 2^62. */
#define XSUM_FLUSH ((int64_t)1 << 30)

void dm_xsum_clear(dm_xsum *a) { memset(a, 0, sizeof *a); }

static void normalize(dm_xsum *a)
{
  for (int i = 0; i < DM_XSUM_LIMBS - 1; i++) {
    /* Floor division by 2^32 leaves every lower limb in [0, 2^32); the sign
     * lives in the top limb. The representation is then unique. */
    int64_t c = a->limb[i] >= 0 ? a->limb[i] / ((int64_t)1 << 32)
                                : -((-a->limb[i] + ((int64_t)1 << 32) - 1) / ((int64_t)1 << 32));
    a->limb[i] -= c * ((int64_t)1 << 32);
    a->limb[i + 1] += c;
  }
  a->pending = 0;
}

void dm_xsum_add(dm_xsum *a, double x)
{
  if (x == 0)
    return;
  if (!isfinite(x)) {
    a->invalid++;
    return;
  }
  int e = 0;
  double m = frexp(x, &e); /* x = m 2^e, 0.5 <= |m| < 1 */
  int64_t mant = (int64_t)ldexp(m, 53);
  int pos = e - 53 - XSUM_EMIN; /* bit position of mant's lowest bit */
  uint64_t mag = (uint64_t)(mant < 0 ? -mant : mant);
  if (pos < 0) {
    mag = -pos >= 64 ? 0 : mag >> -pos;
    pos = 0;
    if (!mag)
      return;
  }
  if (pos + 53 > 32 * (DM_XSUM_LIMBS - 2)) {
    a->invalid++;
    return;
  }
  int li = pos / 32, sh = pos % 32;
  unsigned __int128 v = (unsigned __int128)mag << sh;
  int64_t sign = mant < 0 ? -1 : 1;
  a->limb[li] += sign * (int64_t)(uint64_t)(v & 0xffffffffu);
  a->limb[li + 1] += sign * (int64_t)(uint64_t)((v >> 32) & 0xffffffffu);
  a->limb[li + 2] += sign * (int64_t)(uint64_t)(v >> 64);
  if (++a->pending >= XSUM_FLUSH)
    normalize(a);
}

void dm_xsum_merge(dm_xsum *a, const dm_xsum *b)
{
  dm_xsum t = *b;
  normalize(&t);
  normalize(a);
  for (int i = 0; i < DM_XSUM_LIMBS; i++)
    a->limb[i] += t.limb[i];
  a->invalid += t.invalid;
  a->pending = 1;
}

double dm_xsum_value(const dm_xsum *a)
{
  if (a->invalid)
    return NAN;
  dm_xsum t = *a;
  normalize(&t);
  /* From the canonical form, high limbs first: deterministic, and exact
   * whenever the sum fits in a double's 53 bits. */
  double r = 0;
  for (int i = DM_XSUM_LIMBS - 1; i >= 0; i--)
    if (t.limb[i])
      r += ldexp((double)t.limb[i], 32 * i + XSUM_EMIN);
  return r;
}

dm_status dm_xsum_allreduce(dm_xsum *a, int64_t n, MPI_Comm comm)
{
  for (int64_t i = 0; i < n; i++)
    normalize(&a[i]);
  /* Normalised limbs are below 2^32, so summing over up to 2^30 ranks
   * cannot overflow an int64. */
  return dm_allsum_i64_array((int64_t *)a, n * (int64_t)(sizeof(dm_xsum) / sizeof(int64_t)), comm);
}
