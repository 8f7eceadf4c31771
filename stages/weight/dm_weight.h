/* dm_weight.h - the weight stage: cross-section weights at a luminosity.
 *
 *   w = sigma[pb] x L[fb^-1] x 1000 / N_process
 *
 * with N_process the number of events of that process in the store, counted
 * over all ranks in a pass over /events/process (and checked against the
 * store's /processes/n_events). sigma x L x 1000 is the expected number of
 * events, so a store holding exactly the 10 fb^-1 counts gets w = 1 at
 * L = 10. The result is the /derived/weight column (float64) of the store
 * (dm_derived.h), a new part committed atomically with the other derived
 * columns kept as they are; attributes: lumi_fb, xsec_checksum (XXH3-128 of the table's bytes),
 * xsec_table (its path), definition. The raw /events/weight is untouched.
 *
 * The store's own weights (/events/weight, the archive's) are read in the
 * same pass: per process their sum, min and max, and the ratio of the
 * computed weight to their mean, so a table that disagrees with the archive
 * (or a store holding a subset of a process's events) shows; a process
 * whose ratio departs from 1 by more than `tolerance` is counted in
 * n_disagree (the command warns). Ratios compare like with like only when
 * lumi_fb is the luminosity the store's weights are for (10 fb^-1 for the
 * Dark Machines archive).
 *
 * Rescaling (rescale = 1): no table; w = /events/weight x lumi_fb /
 * store_lumi_fb, event by event (store_lumi_fb: the luminosity the store's
 * weights are for, default 10). Then the weights keep whatever the store's
 * own normalisation was (sigma / N_lines of the archive file, so a selection
 * keeps its efficiency), only the luminosity changes.
 *
 * A store process missing from the table (or with an unknown cross
 * section) is DM_ERR_UNKNOWN naming it, unless allow_unknown: then its events
 * get weight NaN, so sums that include them are visibly undefined instead of
 * silently short (a weight of 0 would drop them from every total unnoticed).
 */
#ifndef DM_WEIGHT_H
#define DM_WEIGHT_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

typedef struct {
  const char *store_path;
  double lumi_fb;        /* > 0 */
  const char *xsec_path; /* NULL = the shipped table */
  int allow_unknown;
  int64_t batch_events;  /* events per rank per round; 0 = default */
  int rescale;           /* 1: rescale /events/weight to lumi_fb, no table */
  double store_lumi_fb;  /* luminosity of /events/weight (0 = 10) */
  double tolerance;      /* |ratio - 1| above this disagrees (0 = 1e-3) */
  int progress;          /* DM_PROGRESS_* mode (dm_progress.h), same on every rank */
  double progress_interval;  /* seconds between progress lines; 0 = the mode's default */
} dm_weight_opts;

typedef struct {
  char name[64];
  int64_t n_events;
  double sigma_pb; /* NaN if unknown */
  double weight;   /* NaN if unknown; rescaled: the mean new weight */
  double own_sum, own_min, own_max; /* the store's /events/weight (exact sum) */
  double ratio;    /* weight / (own_sum / n_events); NaN if undefined */
  int disagree;    /* |ratio - 1| > tolerance, or own weights vary within the process */
} dm_weight_process;

typedef struct {
  int n_proc;
  dm_weight_process *proc; /* n_proc entries (free with dm_weight_report_free) */
  int64_t n_events;
  int n_unknown;
  int n_disagree;
  int rescaled;
  double store_lumi_fb, tolerance;
  char xsec_checksum[33];
  char xsec_path[4096];
  double lumi_fb;
  double seconds;
} dm_weight_report;

/* COLLECTIVE. Compute and store /derived/weight. */
dm_status dm_weight_run(const dm_weight_opts *opts, MPI_Comm comm, dm_weight_report *rep);

/* LOCAL. Accepts a zeroed report. */
void dm_weight_report_free(dm_weight_report *rep);

#endif
