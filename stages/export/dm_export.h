/* dm_export.h - the export stage: an event store back to the archive's CSV
 * format, in store order, written in parallel into one file.
 *
 * Each round every rank formats a block of events; an exclusive prefix sum
 * of the text sizes gives each rank its byte offset, and ranks pwrite their
 * text into OUT.tmp, renamed to OUT when every rank succeeded. Memory per
 * rank is one block of events and its text, whatever the store's size.
 * Numbers: float32 stores print 6 significant digits (the archive's %g);
 * float64 stores print the shortest text that reads back to the same double.
 */
#ifndef DM_EXPORT_H
#define DM_EXPORT_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

typedef struct {
  const char *in;          /* store */
  const char *out;         /* CSV file */
  int trailing_semicolon;  /* end lines with ';' as the archive files do (1) */
  int64_t block_events;    /* events per rank per round (65536) */
  int progress;            /* DM_PROGRESS_* mode (dm_progress.h), same on every rank */
  double progress_interval; /* seconds between progress lines; 0 = the mode's default */
} dm_export_opts;

typedef struct {
  int64_t n_events, bytes;
  double seconds;
  int n_ranks;
} dm_export_report;

/* LOCAL. Defaults as documented above. */
void dm_export_opts_default(dm_export_opts *o);

/* COLLECTIVE. Every rank returns the same status. */
dm_status dm_export_run(const dm_export_opts *opts, MPI_Comm comm, dm_export_report *report);

#endif
