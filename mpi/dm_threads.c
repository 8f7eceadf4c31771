/* Threads per rank from the cores each rank owns (dm_threads.h). */
#include "dm_threads.h"

#include <errno.h>
#include <omp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"

/* Weak, so this layer needs no BLAS: the program links OpenBLAS through the
 * model stages, and then this resolves to it. */
extern void openblas_set_num_threads(int n) __attribute__((weak));

int dm_threads_from_share(double share)
{
  /* The epsilon absorbs the rounding of sums like 1/3 + 1/3 + 1/3. */
  int t = (int)(share + 1e-9);
  return t < 1 ? 1 : t;
}

/* OMP_NUM_THREADS as OpenMP reads it: a positive number, or a list whose
 * first entry is the outer level's. 0 when unset or not a number. */
static int env_threads(void)
{
  const char *v = getenv("OMP_NUM_THREADS");
  if (!v)
    return 0;
  while (*v == ' ' || *v == '\t')
    v++;
  char *end = NULL;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (end == v || errno || n < 1 || n > 4096)
    return 0;
  while (*end == ' ' || *end == '\t')
    end++;
  return *end == '\0' || *end == ',' ? (int)n : 0;
}

dm_status dm_threads_setup(MPI_Comm comm, int requested, int warn, dm_threads_info *info)
{
  dm_threads_info r;
  memset(&r, 0, sizeof r);
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, dm_rank(comm), MPI_INFO_NULL, &node);
  int nr = dm_size(node);

  /* Every rank of the node needs the same mask size for the allgather. */
  long conf = sysconf(_SC_NPROCESSORS_CONF);
  int64_t bits = conf > 1024 ? (conf + 63) / 64 * 64 : 1024;
  bits = dm_allmax_i64(bits, node);
  size_t bytes = CPU_ALLOC_SIZE((int)bits);
  unsigned char *all = calloc((size_t)nr + 1, bytes);
  int ok = all != NULL;
  if (!dm_alltrue(ok, comm)) {
    free(all);
    MPI_Comm_free(&node);
    return dm_error(DM_ERR_NOMEM, "no memory for %d affinity masks", nr);
  }
  cpu_set_t *mine = (cpu_set_t *)(all + (size_t)nr * bytes);
  if (sched_getaffinity(0, bytes, mine) != 0) {
    /* No mask to read: count every processor as ours. */
    int np = omp_get_num_procs();
    for (int c = 0; c < np && c < bits; c++)
      CPU_SET_S(c, bytes, mine);
  }
  MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, node);

  double share = 0;
  for (int c = 0; c < bits; c++) {
    int users = 0;
    for (int k = 0; k < nr; k++)
      users += CPU_ISSET_S(c, bytes, (cpu_set_t *)(all + (size_t)k * bytes)) != 0;
    if (users > 0) {
      r.node_cores++;
      if (CPU_ISSET_S(c, bytes, mine)) {
        r.cores++;
        share += 1.0 / users;
      }
    }
  }
  free(all);

  int env = env_threads();
  if (requested > 0) {
    r.threads = requested;
    r.source = "--threads";
  } else if (env > 0) {
    r.threads = env;
    r.source = "OMP_NUM_THREADS";
  } else {
    r.threads = dm_threads_from_share(share);
    r.source = "affinity";
  }
  omp_set_num_threads(r.threads);
  if (openblas_set_num_threads)
    openblas_set_num_threads(r.threads);

  r.node_ranks = nr;
  r.node_threads = (int)dm_allsum_i64(r.threads, node);
  /* More ranks than cores is the launcher's choice (and mpirun's to warn
   * about); threads beyond one per rank on a full node are ours. */
  int over = r.node_threads > r.node_cores && r.node_threads > r.node_ranks;
  int v[3] = {over, over ? r.node_threads : 0, over ? r.node_cores : 0}, w[3];
  MPI_Allreduce(v, w, 3, MPI_INT, MPI_MAX, comm);
  r.oversubscribed = w[0];
  if (warn && w[0] && dm_rank(comm) == 0) {
    fprintf(stderr,
            "dmpipe: warning: up to %d threads on a node with %d cores (threads from %s); "
            "expect it to run slower than with fewer threads (--threads N)\n",
            w[1], w[2], r.source);
    fflush(stderr);
  }
  MPI_Comm_free(&node);
  if (info)
    *info = r;
  return DM_OK;
}
