/* dm_progress.h - progress of a collective job, printed by rank 0.
 *
 * Counts are summed with a non-blocking reduction on a duplicated
 * communicator, so progress traffic never mixes with the caller's messages
 * and no rank waits for another to report.
 */
#ifndef DM_PROGRESS_H
#define DM_PROGRESS_H

#include <mpi.h>
#include <stdint.h>

typedef struct dm_progress dm_progress;

/* COLLECTIVE. Start reporting "label" for a job of total_bytes (global, 0 if
 * unknown). enabled must be the same on every rank; a disabled handle costs
 * nothing. Returns NULL if disabled. interval_s: seconds between lines. */
dm_progress *dm_progress_start(MPI_Comm comm, const char *label, int64_t total_bytes,
                               int enabled, double interval_s);

/* LOCAL. Add to this rank's counts. */
void dm_progress_add(dm_progress *p, int64_t items, int64_t bytes);

/* COLLECTIVE but non-blocking: every rank calls it the same number of times
 * (for example once per round of work). Starts one reduction of the counts;
 * rank 0 prints the newest completed one. Waits only when DM_PROGRESS_DEPTH
 * reductions are still in flight. Accepts NULL. */
void dm_progress_tick(dm_progress *p);
#define DM_PROGRESS_DEPTH 8

/* COLLECTIVE. Final line and free. Accepts NULL. */
void dm_progress_finish(dm_progress *p);

#endif
