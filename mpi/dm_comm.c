#include "dm_comm.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

int dm_rank(MPI_Comm comm)
{
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return r;
}

int dm_size(MPI_Comm comm)
{
  int n = 1;
  MPI_Comm_size(comm, &n);
  return n;
}

int dm_alltrue(int ok, MPI_Comm comm)
{
  int in = ok ? 1 : 0, out = 0;
  MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LAND, comm);
  return out;
}

dm_status dm_agree(dm_status local, MPI_Comm comm)
{
  /* One reduction carries both the smallest failing code and the lowest
   * failing rank: pack (code, rank) so that MPI_MIN orders by code first. */
  int size = dm_size(comm);
  long long key = local == DM_OK ? LLONG_MAX
                                 : (long long)local * (long long)size + dm_rank(comm);
  long long min = LLONG_MAX;
  MPI_Allreduce(&key, &min, 1, MPI_LONG_LONG, MPI_MIN, comm);
  if (min == LLONG_MAX)
    return DM_OK;
  if (local != DM_OK)
    return local;
  return dm_error_remote((dm_status)(min / size), "failed on rank %lld (see its message)",
                  min % size);
}

dm_status dm_agree_first(dm_status local, MPI_Comm comm)
{
  int size = dm_size(comm), rank = dm_rank(comm);
  int mine = local == DM_OK ? size : rank, first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size)
    return DM_OK;
  /* The status and the message travel together, the message as the failing
   * rank holds it (dm_error keeps it below 2048 bytes with its NUL). */
  char buf[2048 + sizeof(int)];
  if (rank == first) {
    int code = (int)local;
    memcpy(buf, &code, sizeof code);
    snprintf(buf + sizeof code, sizeof buf - sizeof code, "%s", dm_error_message());
  }
  MPI_Bcast(buf, (int)sizeof buf, MPI_BYTE, first, comm);
  int code;
  memcpy(&code, buf, sizeof code);
  if (rank != first)
    dm_error((dm_status)code, "%s", buf + sizeof code);
  return (dm_status)code;
}

void dm_exscan_i64(int64_t v, MPI_Comm comm, int64_t *prefix, int64_t *total)
{
  int64_t p = 0, t = 0;
  MPI_Exscan(&v, &p, 1, MPI_INT64_T, MPI_SUM, comm);
  if (dm_rank(comm) == 0)
    p = 0; /* MPI leaves rank 0's result undefined */
  MPI_Allreduce(&v, &t, 1, MPI_INT64_T, MPI_SUM, comm);
  if (prefix)
    *prefix = p;
  if (total)
    *total = t;
}

int64_t dm_allsum_i64(int64_t v, MPI_Comm comm)
{
  int64_t o = 0;
  MPI_Allreduce(&v, &o, 1, MPI_INT64_T, MPI_SUM, comm);
  return o;
}

int64_t dm_allmax_i64(int64_t v, MPI_Comm comm)
{
  int64_t o = 0;
  MPI_Allreduce(&v, &o, 1, MPI_INT64_T, MPI_MAX, comm);
  return o;
}

double dm_allsum_f64(double v, MPI_Comm comm)
{
  double o = 0;
  MPI_Allreduce(&v, &o, 1, MPI_DOUBLE, MPI_SUM, comm);
  return o;
}

double dm_allmax_f64(double v, MPI_Comm comm)
{
  double o = 0;
  MPI_Allreduce(&v, &o, 1, MPI_DOUBLE, MPI_MAX, comm);
  return o;
}

double dm_allmin_f64(double v, MPI_Comm comm)
{
  double o = 0;
  MPI_Allreduce(&v, &o, 1, MPI_DOUBLE, MPI_MIN, comm);
  return o;
}

/* MPI counts are int: reduce large arrays in blocks. */
#define DM_REDUCE_BLOCK ((int64_t)1 << 26)

dm_status dm_allsum_i64_array(int64_t *v, int64_t n, MPI_Comm comm)
{
  for (int64_t off = 0; off < n; off += DM_REDUCE_BLOCK) {
    int64_t m = n - off < DM_REDUCE_BLOCK ? n - off : DM_REDUCE_BLOCK;
    if (MPI_Allreduce(MPI_IN_PLACE, v + off, (int)m, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
      return dm_error(DM_ERR_MPI, "MPI_Allreduce of %lld int64 values failed", (long long)n);
  }
  return DM_OK;
}

dm_status dm_allsum_f64_array(double *v, int64_t n, MPI_Comm comm)
{
  for (int64_t off = 0; off < n; off += DM_REDUCE_BLOCK) {
    int64_t m = n - off < DM_REDUCE_BLOCK ? n - off : DM_REDUCE_BLOCK;
    if (MPI_Allreduce(MPI_IN_PLACE, v + off, (int)m, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS)
      return dm_error(DM_ERR_MPI, "MPI_Allreduce of %lld doubles failed", (long long)n);
  }
  return DM_OK;
}

void dm_partition(int64_t n, int rank, int size, int64_t *begin, int64_t *end)
{
  int64_t base = n / size, extra = n % size;
  int64_t b = rank * base + (rank < extra ? rank : extra);
  *begin = b;
  *end = b + base + (rank < extra ? 1 : 0);
}

int dm_mpi_errno(int mpi_err)
{
  int cls = MPI_ERR_OTHER;
  if (MPI_Error_class(mpi_err, &cls) != MPI_SUCCESS)
    return EIO;
  if (cls == MPI_ERR_NO_SPACE)
    return ENOSPC;
  if (cls == MPI_ERR_QUOTA)
    return EDQUOT;
  if (cls == MPI_ERR_ACCESS)
    return EACCES;
  if (cls == MPI_ERR_NO_SUCH_FILE)
    return ENOENT;
  if (cls == MPI_ERR_READ_ONLY)
    return EROFS;
  return EIO;
}
