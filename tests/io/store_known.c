/* Writes a store of the test pattern (store_pattern.h) for the checks done
 * from outside dmpipe (h5py, h5dump through the plugin):
 *   store_known OUT.h5 N_EVENTS [double]
 * Under mpiexec each rank writes a block of every append. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "store_pattern.h"

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  if (argc < 3) {
    fprintf(stderr, "usage: store_known OUT.h5 N_EVENTS [double]\n");
    MPI_Finalize();
    return 2;
  }
  dm_h5_quiet();
  int64_t total = atoll(argv[2]);
  int dbl = argc > 3 && !strcmp(argv[3], "double");
  dm_store_layout lay = {3, 100, dbl};
  dm_store_writer *w = NULL;
  dm_status s = dm_store_writer_create(argv[1], &lay, comm, &w);
  dm_events ev = {0};
  const int64_t per_round = 250;
  for (int64_t g0 = 0; s == DM_OK && g0 < total; g0 += per_round) {
    int64_t m = total - g0 < per_round ? total - g0 : per_round, b, e;
    dm_partition(m, dm_rank(comm), dm_size(comm), &b, &e);
    s = dm_agree(pat_fill(&ev, g0 + b, e - b, dbl), comm);
    if (s == DM_OK)
      s = dm_store_writer_append(w, &ev);
  }
  dm_events_free(&ev);
  const char *names[3] = {"ttbar", "monojet_Zp2000.0_DM_50.0", "z"};
  int64_t counts[3] = {0, 0, 0};
  for (int64_t g = 0; g < total; g++)
    counts[pat_process(g)]++;
  if (w)
    s = dm_store_writer_finish(w, s, names, counts, 3, "store_known", "");
  if (s != DM_OK)
    fprintf(stderr, "store_known: %s\n", dm_error_message());
  MPI_Finalize();
  return s == DM_OK ? 0 : 1;
}
