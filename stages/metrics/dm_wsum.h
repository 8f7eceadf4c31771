/* dm_wsum.h - exact sums of doubles, so weighted histograms and weighted
 * ROC quantities do not depend on how events are split over ranks.
 *
 * A dm_wsum is a fixed-point number with 256 bits (eight 32-bit limbs held
 * in int64, unit 2^-128). Adding a double adds its exact value (bits below
 * 2^-128, about 3e-39, are dropped, the same way for every event); integer
 * limb sums are associative, so any grouping of the same addends over ranks
 * gives the same limbs after normalisation and therefore the same double.
 * Magnitudes up to about 2^126 are representable; beyond that the sum is
 * flagged as overflowed. All calls are LOCAL except dm_wsum_allreduce.
 */
#ifndef DM_WSUM_H
#define DM_WSUM_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

#define DM_WSUM_LIMBS 8

typedef struct {
  int64_t limb[DM_WSUM_LIMBS];
  int32_t pending;  /* additions since the last normalisation */
  int32_t overflow; /* 1 if a term did not fit (or was not finite) */
} dm_wsum;

/* LOCAL. Set to zero. */
void dm_wsum_zero(dm_wsum *x);
/* LOCAL. Add the exact value of v (finite; else the overflow flag is set). */
void dm_wsum_add(dm_wsum *x, double v);
/* LOCAL. x += y exactly. */
void dm_wsum_add_sum(dm_wsum *x, const dm_wsum *y);
/* LOCAL. Bring limbs to canonical form (0 <= limb < 2^32 below the top). */
void dm_wsum_normalize(dm_wsum *x);
/* LOCAL. The sum as a double: deterministic function of the exact value. */
double dm_wsum_value(const dm_wsum *x);

/* COLLECTIVE. Element-wise exact sum of n accumulators over comm, in place;
 * every rank receives the same canonical limbs. A flagged overflow on any
 * rank is DM_ERR_NUMERIC on every rank. */
dm_status dm_wsum_allreduce(dm_wsum *x, int64_t n, MPI_Comm comm);

#endif
