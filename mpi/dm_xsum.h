/* dm_xsum.h - exact sums of doubles, so sums of weights (cutflows, weighted
 * histograms, ROC quantities) are the same bits on 1, 2 or 1000 ranks.
 *
 * Why: a floating-point sum depends on the order of its terms, and the order
 * depends on how events are split over ranks. Here every term is added
 * exactly into a fixed-point integer; integer addition is associative, so
 * partial sums merge exactly in any grouping, and the one rounding to double
 * happens at the end, from a canonical form.
 *
 * Representation: DM_XSUM_LIMBS = 14 limbs of 32 bits, each held in an int64
 * so that carries can wait (normalisation after at most 2^30 additions), unit
 * 2^-208 (limb i has weight 2^(32 i - 208)).
 *   - A term occupies limbs 0..12 only; the top limb receives carries alone,
 *     so a sum of N terms cannot overflow before N = 2^62 (1e10 terms of the
 *     largest size are far inside).
 *   - Terms are exact for 2^-156 <= |x| < 2^208 (about 1.1e-47 .. 4.1e62):
 *     weights 1e-6..1e6, their squares 1e-12..1e12 and products of weights
 *     with sums of weights have 30+ decades of margin on both sides.
 *   - Speed: an addition touches three limbs and a counter whatever the
 *     number of limbs, so the limb count only sets memory (128 bytes per
 *     accumulator) and reduction volume; what costs is the add itself, kept
 *     inline and branch-free here. Measured on one core of the 2-core test
 *     machine (-O3, 1e7 weights log-uniform in 1e-6..1e6, best of 7;
 *     "histogram" = 6000 accumulators picked at random):
 *                                              ns per add: one sum  histogram
 *       this code, 14 limbs                                  4.2      5.8
 *       this code with 8 limbs / 40 limbs (noise)        6.2/5.5  6.9/6.2
 *       out-of-line add, 8 limbs, unit 2^-128 (earlier)      7.8      7.9
 *       out-of-line frexp add, 40 limbs (earlier)            8.1      7.6
 *       plain double +=                                      0.5      1.3
 *     All exact variants gave the same bits; the plain sum did not.
 *
 * Edge cases, each a function of the single term (so independent of order
 * and of the split over ranks):
 *   - 0 and -0 add nothing; an exactly zero sum reads as +0.
 *   - 0 < |x| < 2^-156 (subnormals included): the bits below 2^-208 are
 *     dropped (truncation toward zero of that term, the same for every
 *     order), so such a term is not exact but the sum stays reproducible.
 *   - |x| >= 2^208, Inf, NaN: the term is not added and the sum is marked
 *     invalid. An invalid sum reads as NaN (dm_xsum_value); allreduce carries
 *     the mark to every rank; callers that need an error rather than a NaN
 *     call dm_xsum_check after the reduction (every rank then holds the same
 *     marks, so every rank takes the same branch without another collective).
 *
 * dm_xsum_value rounds the exact sum to the nearest double (ties to even;
 * default rounding mode assumed). All calls LOCAL except dm_xsum_allreduce.
 */
#ifndef DM_XSUM_H
#define DM_XSUM_H

#include <mpi.h>
#include <stdint.h>
#include <string.h>

#include "dm_status.h"

#define DM_XSUM_LIMBS 14
#define DM_XSUM_UNIT_EXP 208 /* limb 0, bit 0 has weight 2^-DM_XSUM_UNIT_EXP */

typedef struct {
  int64_t pending; /* additions since the last normalisation */
  int64_t invalid; /* 1: a non-finite or too large term was offered */
  int64_t limb[DM_XSUM_LIMBS];
} dm_xsum;

/* LOCAL. Set to zero (valid). memset to 0 / calloc give the same. */
void dm_xsum_clear(dm_xsum *a);

/* LOCAL. Bring the limbs to canonical form (limbs 0..12 in [0, 2^32), the
 * sign in the top limb). Never changes the value; add/merge call it when
 * needed, callers never have to. */
void dm_xsum_normalize(dm_xsum *a);

/* LOCAL. Out-of-range path of dm_xsum_add (zero, tiny, huge, non-finite). */
void dm_xsum_add_slow(dm_xsum *a, double x);

/* LOCAL. a += x, exactly (see the edge cases above). Inline: it runs per
 * event and per histogram fill. */
static inline void dm_xsum_add(dm_xsum *a, double x)
{
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  /* x = m 2^(e - 1075) for normal x; q is the position of m's lowest bit in
   * the fixed-point integer. One unsigned compare sends zero, subnormals,
   * tiny, huge and non-finite terms to the slow path. */
  uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
  int q = (int)((bits >> 52) & 0x7ff) - 1075 + DM_XSUM_UNIT_EXP;
  if ((unsigned)q > (unsigned)(32 * (DM_XSUM_LIMBS - 1) - 53)) {
    dm_xsum_add_slow(a, x);
    return;
  }
  int li = q >> 5;
  unsigned __int128 w = (unsigned __int128)m << (q & 31); /* < 2^84 */
  int64_t neg = -(int64_t)(bits >> 63);                   /* 0 or -1 */
  int64_t p0 = (int64_t)((uint64_t)w & 0xffffffffu);
  int64_t p1 = (int64_t)((uint64_t)(w >> 32) & 0xffffffffu);
  int64_t p2 = (int64_t)(uint64_t)(w >> 64);
  a->limb[li] += (p0 ^ neg) - neg;
  a->limb[li + 1] += (p1 ^ neg) - neg;
  a->limb[li + 2] += (p2 ^ neg) - neg;
  /* Each addition moves a limb by less than 2^32: 2^30 of them keep every
   * limb below 2^63 in magnitude. */
  if (++a->pending >= (INT64_C(1) << 30))
    dm_xsum_normalize(a);
}

/* LOCAL. a += b, exactly (b unchanged; invalid marks combine). */
void dm_xsum_merge(dm_xsum *a, const dm_xsum *b);

/* LOCAL. a -= b, exactly (b unchanged; invalid marks combine): the mass of a
 * part from the mass of the whole and of the other parts, with the same
 * value (and so the same rounding) as summing the part's own terms. */
void dm_xsum_sub(dm_xsum *a, const dm_xsum *b);

/* LOCAL. The exact sum rounded to the nearest double; NaN if invalid. Does
 * not change a. Equal exact sums always give the same bits. */
double dm_xsum_value(const dm_xsum *a);

/* LOCAL. 1 if a non-finite or too large term was offered to a (or to any sum
 * merged or reduced into it). */
int dm_xsum_invalid(const dm_xsum *a);

/* LOCAL. DM_OK, or DM_ERR_NUMERIC naming `what` and the first invalid index
 * among the n sums. After dm_xsum_allreduce every rank gets the same answer. */
dm_status dm_xsum_check(const dm_xsum *a, int64_t n, const char *what);

/* COLLECTIVE. Replace each of the n sums (same n on every rank) with its
 * exact sum over all ranks of comm, invalid marks included; every rank ends
 * with the same canonical limbs. Fails only if MPI fails (DM_ERR_MPI): an
 * invalid sum is reported by dm_xsum_value / dm_xsum_check, not here. */
dm_status dm_xsum_allreduce(dm_xsum *a, int64_t n, MPI_Comm comm);

#endif
