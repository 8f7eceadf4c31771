/* dm_threads.h - how many threads each rank runs, decided from the cores it
 * owns.
 *
 * A rank that takes every core it sees (OpenMP's default) oversubscribes a
 * node as soon as two ranks share it: under `mpirun --bind-to none` every
 * rank sees every core. The default here divides each core among the ranks
 * of the node whose affinity masks contain it (ranks found with
 * MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), masks allgathered), so a node
 * never runs more threads than it has cores. `--threads` (requested > 0) and
 * OMP_NUM_THREADS override; OpenMP and OpenBLAS both get the result.
 */
#ifndef DM_THREADS_H
#define DM_THREADS_H

#include <mpi.h>

#include "dm_status.h"

typedef struct {
  int threads;        /* this rank's OpenMP and OpenBLAS threads */
  int cores;          /* cores in this rank's affinity mask */
  int node_ranks;     /* ranks of comm on this rank's node */
  int node_cores;     /* cores in the union of their masks */
  int node_threads;   /* threads of all of them together */
  int oversubscribed; /* agreed: some node runs more threads than cores, and
                       * more than one per rank */
  const char *source; /* "--threads", "OMP_NUM_THREADS" or "affinity" */
} dm_threads_info;

/* LOCAL. Threads for a rank owning `cores` of which `share` (a sum over its
 * cores of 1 / ranks sharing that core) is its part: floor(share), at least
 * 1. Exposed for tests. */
int dm_threads_from_share(double share);

/* COLLECTIVE, agreed. Sets this rank's thread count (omp_set_num_threads and,
 * when OpenBLAS is linked, openblas_set_num_threads) from, in order:
 * requested > 0, this rank's OMP_NUM_THREADS (first entry of the list), or
 * its share of its node's cores. When warn is set and threads outnumber the
 * cores of a node beyond one per rank, rank 0 prints one warning on stderr.
 * info may be NULL. */
dm_status dm_threads_setup(MPI_Comm comm, int requested, int warn, dm_threads_info *info);

#endif
