/* mpiprof_probe.c - an MPI program whose calls are known in advance, for the
 * profiler's test (tests/mpiprof/check_profile.py holds the expected counts
 * and bytes, written from this file by hand).
 *
 *   mpirun -np P mpiprof_probe FILE
 *
 * It also interposes MPI_File_sync itself, forwarding to PMPI_File_sync, as
 * dmpipe's io/dm_mpiio_guard.c does for four MPI-IO calls: the profiler must
 * count such a call exactly once. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

static int own_sync_calls;

int MPI_File_sync(MPI_File fh)
{
  own_sync_calls++;
  return PMPI_File_sync(fh);
}

#define CHECK(e)                                                 \
  do {                                                           \
    if ((e) != MPI_SUCCESS) {                                    \
      fprintf(stderr, "mpiprof_probe: %s failed\n", #e);         \
      MPI_Abort(MPI_COMM_WORLD, 1);                              \
    }                                                            \
  } while (0)

int main(int argc, char **argv)
{
  int provided = 0, rank = 0, size = 1;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 2) {
    if (rank == 0)
      fprintf(stderr, "usage: mpiprof_probe FILE\n");
    MPI_Finalize();
    return 2;
  }

  /* collectives */
  double v[10], s[10];
  for (int i = 0; i < 10; i++)
    v[i] = rank + i;
  for (int k = 0; k < 3; k++)
    CHECK(MPI_Allreduce(v, s, 10, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD)); /* 3 x 80 B */
  int b[100] = {0};
  CHECK(MPI_Bcast(b, 100, MPI_INT, 0, MPI_COMM_WORLD)); /* 400 B from rank 0 */
  int g[3] = {rank, rank, rank}, all[3 * 64];
  CHECK(MPI_Gather(g, 3, MPI_INT, all, 3, MPI_INT, 0, MPI_COMM_WORLD)); /* 12 B each */
  CHECK(MPI_Barrier(MPI_COMM_WORLD));
  MPI_Comm dup;
  CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
  MPI_Request r;
  CHECK(MPI_Iallreduce(v, s, 4, MPI_DOUBLE, MPI_MAX, dup, &r)); /* 32 B */
  CHECK(MPI_Wait(&r, MPI_STATUS_IGNORE));

  /* point-to-point: a ring */
  char out[1000], in[1000];
  memset(out, rank, sizeof out);
  int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  CHECK(MPI_Sendrecv(out, 1000, MPI_CHAR, next, 7, in, 1000, MPI_CHAR, prev, 7, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE));
  double x[2] = {1, 2}, y[2];
  MPI_Request rr[2];
  CHECK(MPI_Irecv(y, 2, MPI_DOUBLE, prev, 8, MPI_COMM_WORLD, &rr[0]));
  CHECK(MPI_Isend(x, 2, MPI_DOUBLE, next, 8, MPI_COMM_WORLD, &rr[1]));
  CHECK(MPI_Waitall(2, rr, MPI_STATUSES_IGNORE));

  /* MPI-IO: each rank writes 4096 (rank + 1) bytes at its own offset */
  MPI_File fh;
  CHECK(MPI_File_open(MPI_COMM_WORLD, argv[1], MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL,
                      &fh));
  static char blk[4096 * 64];
  memset(blk, 'a' + rank % 26, sizeof blk);
  MPI_Offset off = 0;
  for (int i = 0; i < rank; i++)
    off += 4096 * (i + 1);
  MPI_Offset end = 0;
  for (int i = 0; i < size; i++)
    end += 4096 * (i + 1);
  CHECK(MPI_File_write_at(fh, off, blk, 4096 * (rank + 1), MPI_BYTE, MPI_STATUS_IGNORE));
  CHECK(MPI_File_iwrite_at(fh, end + 100 * rank, blk, 25, MPI_INT, &r)); /* 100 B */
  CHECK(MPI_Wait(&r, MPI_STATUS_IGNORE));
  end += 100 * size;
  CHECK(MPI_File_write_at_all(fh, end + 50 * rank, blk, 50, MPI_BYTE, MPI_STATUS_IGNORE));
  end += 50 * size;
  CHECK(MPI_File_sync(fh));
  CHECK(MPI_File_set_size(fh, end));
  char back[10];
  CHECK(MPI_File_read_at(fh, off, back, 10, MPI_BYTE, MPI_STATUS_IGNORE));
  CHECK(MPI_File_close(&fh));
  int bad = back[0] != 'a' + rank % 26 || own_sync_calls != 1;
  MPI_Comm_free(&dup);
  MPI_Finalize();
  if (bad)
    fprintf(stderr, "mpiprof_probe: rank %d read back the wrong bytes\n", rank);
  return bad;
}
