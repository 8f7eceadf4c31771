/* dm_mem.c - peak resident memory from /proc (Linux). */
#include "dm_mem.h"

#include <stdio.h>
#include <string.h>

int64_t dm_mem_peak_kb(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) {
      if (sscanf(line + 6, "%lld", &kb) != 1)
        kb = -1;
      break;
    }
  fclose(f);
  return (int64_t)kb;
}

int64_t dm_mem_peak_kb_all(MPI_Comm comm, int64_t *per_rank)
{
  int64_t mine = dm_mem_peak_kb(), hi = mine;
  MPI_Allgather(&mine, 1, MPI_INT64_T, per_rank, 1, MPI_INT64_T, comm);
  int n = 0;
  MPI_Comm_size(comm, &n);
  for (int r = 0; r < n; r++)
    if (per_rank[r] > hi)
      hi = per_rank[r];
  return hi;
}
