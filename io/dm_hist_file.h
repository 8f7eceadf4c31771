/* dm_hist_file.h - weighted histograms per process (format "dmpipe-hist")
 * and their merging, so histograms of separate runs (nightly reprocessing of
 * new archive files) or of separate ranks add up to the histograms of one run
 * over everything, bit for bit.
 *
 * A histogram set holds dm_hists keyed by (channel, variable): the score
 * histograms of `dmpipe metrics` (variable "score") and the derived-variable
 * and score histograms of `dmpipe hist`. Each dm_hist has n_bins interior
 * bins [edges[j], edges[j+1]) plus an underflow bin (index 0,
 * x < edges[0]) and an overflow bin (index n_bins + 1, x >= edges[n_bins]),
 * so no entry is ever dropped. Per process and bin it holds the number of
 * entries (int64), the sum of weights and the sum of squared weights.
 *
 * Exact sums: beside the rounded sums, each cell keeps its exact fixed-point
 * accumulator (dm_xsum.h), in the file too. Merging adds accumulators, so a
 * histogram merged from any split of the events (ranks, files, runs) has the
 * same bits as one filled from all of them at once.
 *
 * Schema, version DM_HIST_VERSION (2):
 *   /histogram_names     fixed-length strings "<channel>/<variable>", one per histogram
 *   /histograms/<channel>/<variable>/
 *       edges            float64 [n_bins + 1], strictly increasing
 *       process_names    fixed-length strings [n_proc]
 *       count            int64   [n_proc, n_bins + 2]
 *       sumw, sumw2      float64 [n_proc, n_bins + 2] (each the exact sum rounded once)
 *       sumw_exact, sumw2_exact
 *                        int64 [n_proc, n_bins + 2, DM_XSUM_LIMBS + 1]: the
 *                        canonical limbs of the exact sums, then 1 if the sum
 *                        is undefined (a non-finite weight: sumw is NaN)
 *     attributes: channel, variable, binning (how the edges were chosen, free
 *     text), log_scale (1 when the edges are log-spaced), subset (which events
 *     were filled), weights (where the weights came from)
 * Version 1 files (/channel_names, /channels/<name>/..., score histograms
 * without exact sums) are still read: their rounded sums seed the exact ones.
 * Root attributes: provenance (dm_prov.h, format DM_FORMAT_HIST).
 *
 * Channel and variable names are at most 63 bytes without '/'. Histograms are
 * small: every rank holds the whole set. Calls are LOCAL unless marked
 * COLLECTIVE.
 */
#ifndef DM_HIST_FILE_H
#define DM_HIST_FILE_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"
#include "dm_xsum.h"

#define DM_HIST_VERSION 2

typedef struct {
  char channel[64];
  char variable[64];
  char binning[256];
  char subset[128];    /* which events were filled ("" = all) */
  char weights[64];    /* where the weights came from ("" = not recorded) */
  int log_scale;       /* 1 when the edges are log-spaced (a plotting hint) */
  int n_proc;
  char **proc_names;   /* n_proc strings, owned */
  int n_bins;          /* interior bins; each row has n_bins + 2 entries */
  double *edges;       /* n_bins + 1 */
  int64_t *count;      /* [n_proc][n_bins + 2] */
  double *sumw, *sumw2; /* [n_proc][n_bins + 2], the exact sums rounded */
  dm_xsum *xsumw, *xsumw2; /* [n_proc][n_bins + 2], the exact sums */
} dm_hist;

/* Allocate an empty (zeroed) histogram. edges must be strictly increasing
 * (n_bins >= 1) and finite; channel and variable non-empty, without '/'; a
 * violation is DM_ERR_ARG naming the channel. variable NULL means "score". */
dm_status dm_hist_init(dm_hist *h, const char *channel, const char *variable, int n_proc,
                       const char *const *proc_names, int n_bins, const double *edges);

/* Free the arrays (accepts a zeroed struct) and zero the struct. */
void dm_hist_free(dm_hist *h);
void dm_hist_free_set(dm_hist *hs, int n); /* frees each, then the array */

/* Bin index of x: 0 (underflow) .. n_bins + 1 (overflow). NaN is -1. */
int dm_hist_bin(const dm_hist *h, double x);

/* Index of a process by name, -1 if absent. */
int dm_hist_process(const dm_hist *h, const char *name);

/* Recompute sumw and sumw2 from the exact sums (NaN where undefined). Call
 * after changing xsumw/xsumw2 directly. */
void dm_hist_round(dm_hist *h);

/* Fill from this rank's n entries: x[i] of process proc[i] (< n_proc) with
 * weight w[i] (w NULL: weight 1), skipping entries with keep[i] == 0 (keep
 * may be NULL). A NaN x is DM_ERR_NUMERIC naming the variable (nothing of
 * that call is then added). A non-finite weight makes every sum of its
 * process undefined (NaN), rather than silently short. Counts and exact sums
 * are updated; the rounded sums only by dm_hist_round / dm_hist_allreduce. */
dm_status dm_hist_fill_local(dm_hist *h, const uint16_t *proc, const double *x, const double *w,
                             const uint8_t *keep, int64_t n);

/* COLLECTIVE. Replace each rank's counts and exact sums by their sum over
 * comm and round; afterwards every rank holds the same histogram. Each rank's
 * h must hold only its own entries (same edges and processes everywhere). */
dm_status dm_hist_allreduce(dm_hist *h, MPI_Comm comm);

/* COLLECTIVE. dm_hist_fill_local on an empty histogram, agree, then
 * dm_hist_allreduce. Returns the agreed status. */
dm_status dm_hist_fill(dm_hist *h, const uint16_t *proc, const double *x, const double *w,
                       const uint8_t *keep, int64_t n, MPI_Comm comm);

/* Add `add` into `into`: same channel and variable and bitwise identical
 * edges are required (DM_ERR_SCHEMA naming them otherwise); processes are
 * matched by name and those new to `into` are appended. Sums are exact, so
 * the result does not depend on the order of merging (only the order of
 * processes does: first seen, first listed). */
dm_status dm_hist_merge(dm_hist *into, const dm_hist *add);

/* Merge a whole set into another: histograms matched by (channel, variable),
 * new ones appended (*n_into and *into grow). */
dm_status dm_hist_merge_set(dm_hist **into, int *n_into, const dm_hist *add, int n_add);

/* COLLECTIVE. Write a set that every rank holds identically to `path`
 * (written under a temporary name, renamed when every rank succeeded). */
dm_status dm_hist_file_write(const char *path, const dm_hist *hs, int n, MPI_Comm comm,
                             const char *command_line, const char *inputs);

/* COLLECTIVE. Read a set; *hs is a malloc'ed array of *n histograms (free
 * with dm_hist_free_set). Errors name the path and the dataset. */
dm_status dm_hist_file_read(const char *path, MPI_Comm comm, dm_hist **hs, int *n);

/* Weights of one value per process (w_p = sigma_p L 1000 / N_p, as dmpipe
 * weight gives every event of process p), to turn histograms filled with
 * unit weights into the histograms of those weights. */
typedef struct {
  int n;
  char **names;     /* process names, owned */
  double *weight;   /* w_p; NaN for a process without a cross section */
  int64_t *events;  /* N_p: events of p in the weighted store */
  char label[64];   /* the histograms' `weights` attribute afterwards */
  char path[4096];  /* where they came from (messages, provenance) */
} dm_hist_scale;

void dm_hist_scale_free(dm_hist_scale *sc); /* accepts a zeroed struct */

/* LOCAL. h was filled with unit weights (every cell's sums of weights and of
 * squared weights equal its entry count c, checked: DM_ERR_SCHEMA otherwise).
 * Each cell of process p becomes what filling its c events with weight w_p
 * gives, to the bit: sumw the exact c x w_p and sumw2 the exact c x fl(w_p^2),
 * each rounded once (the exact sum of c copies of a term is that product;
 * it is formed exactly as the sum of w_p 2^k over the set bits k of c). A
 * non-finite w_p makes every sum of a process with entries undefined, as
 * filling does. When h holds every event (subset "all events"), each
 * process's entries must equal its N_p: histograms of other events than the
 * weighted store's are refused (DM_ERR_SCHEMA naming the process). A process
 * of h without a weight is DM_ERR_UNKNOWN naming it; |w_p| outside
 * [2^-78, 2^73) (where the sums stop being exact) is DM_ERR_NUMERIC. */
dm_status dm_hist_scale_weights(dm_hist *h, const dm_hist_scale *sc);

/* COLLECTIVE. Merge the histogram files in[0..n_in) into `out` (written
 * atomically, inputs and their checksums recorded). Histograms of the same
 * (channel, variable) must have identical edges. With `scale` (NULL: none),
 * the inputs are unit-weight histograms and the merged ones are scaled
 * (dm_hist_scale_weights) before they are written; scale->path is recorded
 * as an input too. Agreed status. */
dm_status dm_hist_files_merge(const char *out, const char *const *in, int n_in,
                              const dm_hist_scale *scale, MPI_Comm comm,
                              const char *command_line);

#endif
