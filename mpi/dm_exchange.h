/* dm_exchange.h - all-to-all personalised exchange of arrays with 64-bit
 * counts and displacements (MPI_Alltoallv takes int counts and int
 * displacements, so it stops at 2^31 - 1 elements per rank and buffer).
 *
 * The usual case (every part of every array within one round and within an
 * int count of elements from its array's start): one MPI_Alltoallv per
 * array. Otherwise the exchange goes in rounds, each moving at most a fixed
 * number of bytes between any two ranks, all arrays in one MPI_Alltoallw
 * per round whose datatypes name the parts by absolute address (MPI_BOTTOM),
 * so nothing is packed on either side; the number of rounds is agreed, so
 * every rank makes the same calls. (Open MPI copies such datatypes several
 * times slower than contiguous buffers, hence the plain path.)
 *
 * Cost: one MPI_Allreduce of 2 int64 to choose the path; then per array
 * (plain) or per round: one all-to-all (at most P - 1 messages sent and
 * received per rank, carrying exactly the parts) and one or two
 * one-integer agreements (dm_agree); rounds build and free 2 P datatypes.
 * Memory: O(P) per rank besides the caller's arrays.
 */
#ifndef DM_EXCHANGE_H
#define DM_EXCHANGE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "dm_status.h"

/* One array of the exchange. Counts and displacements are in elements, one
 * per rank of comm (the same peer layout as MPI_Alltoallv). */
typedef struct {
  const void *send; /* the part for rank r starts at send + sdispl[r] * size */
  void *recv;       /* the part from rank r lands at recv + rdispl[r] * size */
  size_t size;      /* bytes per element, the same on every rank */
  const int64_t *scount, *sdispl, *rcount, *rdispl;
} dm_exchange_array;

/* Default limit of one round: bytes moved from one rank to another. */
#define DM_EXCHANGE_ROUND_BYTES ((int64_t)1 << 30)

/* COLLECTIVE. Exchange the n_arr arrays (same n_arr and element sizes on
 * every rank; rcount must match the peers' scount, as after an MPI_Alltoall
 * of the counts). round_bytes (> 0) bounds the bytes one rank sends one peer
 * per round; pass DM_EXCHANGE_ROUND_BYTES (tests pass small values to force
 * many rounds). Status agreed. */
dm_status dm_exchange(const dm_exchange_array *arr, int n_arr, int64_t round_bytes,
                      MPI_Comm comm);

#endif
