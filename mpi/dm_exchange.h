/* dm_exchange.h - all-to-all personalised exchange of arrays with 64-bit
 * counts and displacements (MPI_Alltoallv takes int counts and int
 * displacements, so it stops at 2^31 - 1 elements per rank and buffer).
 *
 * Several arrays travel in one collective per round: each rank's part for a
 * peer is described by an MPI datatype built on the arrays' absolute
 * addresses (MPI_Alltoallw on MPI_BOTTOM), so nothing is packed or copied on
 * either side. An exchange larger than the round limit is split into rounds,
 * each moving at most a fixed number of bytes between any two ranks; the
 * number of rounds is agreed, so every rank makes the same calls.
 *
 * Cost per round: one MPI_Alltoallw (at most P - 1 messages sent and P - 1
 * received per rank, carrying exactly the parts), 2 P datatypes built and
 * freed, two one-integer agreements (dm_agree); plus one MPI_Allreduce of an
 * int64 per exchange for the round count. Memory: O(P) per rank.
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
