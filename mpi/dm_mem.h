/* dm_mem.h - the process's peak resident memory, for reports that show
 * what a bounded-memory mode holds to. */
#ifndef DM_MEM_H
#define DM_MEM_H

#include <mpi.h>
#include <stdint.h>

/* LOCAL. Peak resident set of this process in KiB (VmHWM of
 * /proc/self/status), or -1 where the kernel does not say. */
int64_t dm_mem_peak_kb(void);

/* COLLECTIVE. Every rank's peak into per_rank (size entries, on every rank);
 * returns the largest. */
int64_t dm_mem_peak_kb_all(MPI_Comm comm, int64_t *per_rank);

#endif
