/* dm_hist_file.h - score histograms per process (format "dmpipe-hist") and
 * their merging, so histograms of separate runs (nightly reprocessing of new
 * archive files) add up to the histograms of one run over everything.
 *
 * A histogram set holds one dm_hist per channel. Each dm_hist has n_bins
 * interior bins [edges[j], edges[j+1]) plus an underflow bin (index 0,
 * x < edges[0]) and an overflow bin (index n_bins + 1, x >= edges[n_bins]),
 * so no entry is ever dropped. Per process and bin it holds the number of
 * entries (int64), the sum of weights and the sum of squared weights.
 *
 * Schema, version DM_HIST_VERSION:
 *   /channel_names                 fixed-length strings, one per channel
 *   /channels/<name>/edges         float64 [n_bins + 1], strictly increasing
 *   /channels/<name>/process_names fixed-length strings [n_proc]
 *   /channels/<name>/count         int64   [n_proc, n_bins + 2]
 *   /channels/<name>/sumw          float64 [n_proc, n_bins + 2]
 *   /channels/<name>/sumw2         float64 [n_proc, n_bins + 2]
 *   /channels/<name> attributes: variable (what was histogrammed, "score"),
 *                    binning (how the edges were chosen, free text)
 * Root attributes: provenance (dm_prov.h, format DM_FORMAT_HIST).
 *
 * Histograms are small: every rank holds the whole set. Calls are LOCAL
 * unless marked COLLECTIVE.
 */
#ifndef DM_HIST_FILE_H
#define DM_HIST_FILE_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

#define DM_HIST_VERSION 1

typedef struct {
  char channel[64];
  char variable[64];
  char binning[256];
  int n_proc;
  char **proc_names;   /* n_proc strings, owned */
  int n_bins;          /* interior bins; each row has n_bins + 2 entries */
  double *edges;       /* n_bins + 1 */
  int64_t *count;      /* [n_proc][n_bins + 2] */
  double *sumw, *sumw2; /* [n_proc][n_bins + 2] */
} dm_hist;

/* Allocate an empty (zeroed) histogram. edges must be strictly increasing
 * (n_bins >= 1); a violation is DM_ERR_ARG naming the channel. */
dm_status dm_hist_init(dm_hist *h, const char *channel, const char *variable, int n_proc,
                       const char *const *proc_names, int n_bins, const double *edges);

/* Free the arrays (accepts a zeroed struct) and zero the struct. */
void dm_hist_free(dm_hist *h);
void dm_hist_free_set(dm_hist *hs, int n); /* frees each, then the array */

/* Bin index of x: 0 (underflow) .. n_bins + 1 (overflow). NaN is -1. */
int dm_hist_bin(const dm_hist *h, double x);

/* Index of a process by name, -1 if absent. */
int dm_hist_process(const dm_hist *h, const char *name);

/* Add `add` into `into`: same channel name and bitwise identical edges are
 * required (DM_ERR_SCHEMA naming the channel otherwise); processes are
 * matched by name and those new to `into` are appended. Sums are added in
 * call order, so merging the same files in the same order gives the same
 * bits. */
dm_status dm_hist_merge(dm_hist *into, const dm_hist *add);

/* Merge a whole set into another: channels matched by name, new ones
 * appended (*n_into and *into grow). */
dm_status dm_hist_merge_set(dm_hist **into, int *n_into, const dm_hist *add, int n_add);

/* COLLECTIVE. Write a set that every rank holds identically to `path`
 * (written under a temporary name, renamed when every rank succeeded). */
dm_status dm_hist_file_write(const char *path, const dm_hist *hs, int n, MPI_Comm comm,
                             const char *command_line, const char *inputs);

/* COLLECTIVE. Read a set; *hs is a malloc'ed array of *n histograms (free
 * with dm_hist_free_set). Errors name the path and the dataset. */
dm_status dm_hist_file_read(const char *path, MPI_Comm comm, dm_hist **hs, int *n);

#endif
