/* dm_comm.h - collectives every stage uses: agreement on errors, global
 * offsets and sums, block partitions.
 *
 * COLLECTIVE calls must be made by every rank of comm, in the same order.
 * Pattern for a stage (decide locally, agree globally):
 *     dm_status s = local_work();
 *     s = dm_agree(s, comm);          // every rank now holds the same status
 *     if (s != DM_OK) goto fail;      // so every rank takes the same branch
 *
 * The one rule for statuses. Every header says, per COLLECTIVE call, whether
 * its status is "agreed" (the same on every rank when it returns) or "not
 * agreed" (a rank may fail alone: a refused write, a read past the end). A
 * status that decides whether the next collective call is made must be
 * agreed first: DM_FORWARD_AGREED(expr, comm) below, or dm_agree. Plain
 * DM_FORWARD (dm_status.h) forwards only statuses that are already agreed or
 * that no collective call follows. A rank never returns alone from a chain
 * of collective calls.
 */
#ifndef DM_COMM_H
#define DM_COMM_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

/* COLLECTIVE. 1 if ok is non-zero on every rank. */
int dm_alltrue(int ok, MPI_Comm comm);

/* COLLECTIVE. DM_OK if local is DM_OK on every rank; otherwise the failing
 * rank keeps its own status and message, and ranks that did not fail get the
 * smallest failing status code with the message "failed on rank R" naming
 * the lowest failing rank (whose own message is on its stderr). */
dm_status dm_agree(dm_status local, MPI_Comm comm);

/* COLLECTIVE. DM_OK if local is DM_OK on every rank; otherwise every rank
 * returns the status and message of the lowest failing rank, as its own
 * (not marked remote), and the other failures are dropped. For failures
 * that have an order, so that the first one is the one reported: the
 * earliest bad line of a file whose lines the ranks hold in rank order. */
dm_status dm_agree_first(dm_status local, MPI_Comm comm);

/* COLLECTIVE. The forwarding rule for collective calls: agree on the status
 * of expr over comm and return it, on every rank alike, unless it is DM_OK.
 * Use it wherever a status decides whether the next collective call is made;
 * plain DM_FORWARD (dm_status.h) only where the status is already agreed
 * (the callee says "agreed") or no collective call follows. */
#define DM_FORWARD_AGREED(expr, comm)                    \
  do {                                                   \
    dm_status dm_fwa_s_ = dm_agree((expr), (comm));      \
    if (dm_fwa_s_ != DM_OK)                              \
      return dm_fwa_s_;                                  \
  } while (0)

/* COLLECTIVE. Exclusive prefix sum (rank 0 gets 0) and total of v. */
void dm_exscan_i64(int64_t v, MPI_Comm comm, int64_t *prefix, int64_t *total);

/* COLLECTIVE. Sums, max, min. */
int64_t dm_allsum_i64(int64_t v, MPI_Comm comm);
int64_t dm_allmax_i64(int64_t v, MPI_Comm comm);
double dm_allsum_f64(double v, MPI_Comm comm);
double dm_allmax_f64(double v, MPI_Comm comm);
double dm_allmin_f64(double v, MPI_Comm comm);

/* COLLECTIVE. In-place element-wise sum of n int64 / double values, safe for
 * any n (split into blocks below INT_MAX elements). */
dm_status dm_allsum_i64_array(int64_t *v, int64_t n, MPI_Comm comm);
dm_status dm_allsum_f64_array(double *v, int64_t n, MPI_Comm comm);

/* LOCAL. Block partition of n items over size ranks: [*begin, *end) for rank;
 * the first n % size ranks get one more item. */
void dm_partition(int64_t n, int rank, int size, int64_t *begin, int64_t *end);

/* LOCAL. The errno value behind an MPI error code from a file operation
 * (MPI_ERR_NO_SPACE -> ENOSPC, MPI_ERR_QUOTA -> EDQUOT, ...; EIO when the
 * class says no more), for dm_strerror_io. */
int dm_mpi_errno(int mpi_err);

/* LOCAL. Rank and size of comm (never fail for a valid comm). */
int dm_rank(MPI_Comm comm);
int dm_size(MPI_Comm comm);

#endif
