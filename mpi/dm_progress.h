/* dm_progress.h - progress of a collective job, printed by rank 0.
 *
 * Counts are summed with a non-blocking reduction on a duplicated
 * communicator, so progress traffic never mixes with the caller's messages
 * and no rank waits for another to report.
 *
 * Whether progress is shown is one decision for the whole job, made on rank 0
 * (whose stderr is the one that prints) and broadcast before any stage runs:
 * a rank deciding from its own isatty(2) would start reductions the others
 * never match.
 */
#ifndef DM_PROGRESS_H
#define DM_PROGRESS_H

#include <mpi.h>
#include <stdint.h>

/* Values of `enabled` (and of the stages' `progress` option). */
enum {
  DM_PROGRESS_OFF = 0,
  DM_PROGRESS_TERMINAL = 1, /* a line every interval (default 2 s) and a final line */
  DM_PROGRESS_LOG = 2       /* for batch logs: a line every interval (default 30 s);
                             * the final line only if a line was printed before */
};
#define DM_PROGRESS_TERMINAL_INTERVAL 2.0
#define DM_PROGRESS_LOG_INTERVAL 30.0

typedef struct dm_progress dm_progress;

/* COLLECTIVE, agreed (every rank gets a handle or every rank gets NULL).
 * Start reporting "label" for a job of total_bytes (global, 0 if unknown).
 * enabled is a DM_PROGRESS_* mode and should be the same on every rank; if
 * it is not, the largest wins, so a caller's mistake costs a progress line,
 * never a hang. interval_s: seconds between lines, 0 for the mode's default.
 * Returns NULL if disabled. */
dm_progress *dm_progress_start(MPI_Comm comm, const char *label, int64_t total_bytes,
                               int enabled, double interval_s);

/* LOCAL. The job's total number of events (global), for the percentage and
 * the ETA when the bytes are unknown. Accepts NULL. */
void dm_progress_expect(dm_progress *p, int64_t total_items);

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

/* LOCAL. Formats one progress line (no newline) into buf: events done,
 * percentage and ETA when a total is known (events, else bytes), rate in
 * events/s and, when bytes are counted, MB/s. Exposed for tests. */
void dm_progress_format(char *buf, size_t size, const char *label, int64_t items, int64_t bytes,
                        int64_t total_items, int64_t total_bytes, double seconds, int final);

#endif
