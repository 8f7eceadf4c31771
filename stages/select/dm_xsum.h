/* dm_xsum.h - exact sums of doubles, so a cutflow's sums of weights are the
 * same bits on 1, 2 or 1000 ranks.
 *
 * A floating-point sum depends on the order of its terms, and the order
 * depends on how events are split over ranks. Here every term is added
 * exactly into a fixed-point number of DM_XSUM_LIMBS 32-bit limbs (held in
 * int64 so carries can wait), covering magnitudes 2^-640 .. 2^600. Integer
 * addition is associative, so partial sums merge exactly in any order, and
 * the final rounding to double happens once, from a canonical form.
 * Terms below 2^-640 in magnitude lose their lowest bits (deterministically);
 * terms of 2^600 or more, and non-finite terms, make the sum NaN.
 * All calls LOCAL except dm_xsum_allreduce.
 */
#ifndef DM_XSUM_H
#define DM_XSUM_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

#define DM_XSUM_LIMBS 40

typedef struct {
  int64_t limb[DM_XSUM_LIMBS];
  int64_t pending; /* adds since the last carry propagation */
  int64_t invalid; /* > 0: a non-finite or too large term was added */
} dm_xsum;

void dm_xsum_clear(dm_xsum *a);
void dm_xsum_add(dm_xsum *a, double x);
/* a += b, exactly. */
void dm_xsum_merge(dm_xsum *a, const dm_xsum *b);
/* The sum rounded to double (NaN if invalid). Does not change the value. */
double dm_xsum_value(const dm_xsum *a);

/* COLLECTIVE. Replace each of the n sums with its sum over all ranks. */
dm_status dm_xsum_allreduce(dm_xsum *a, int64_t n, MPI_Comm comm);

#endif
