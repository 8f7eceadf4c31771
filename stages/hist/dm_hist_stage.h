/* dm_hist_stage.h - the hist stage: weighted histograms worth plotting, per
 * process, of a store's or selection's derived variables and of the scores a
 * model gave its events, on binnings the user chooses.
 *
 * One output file per input (format dmpipe-hist, io/dm_hist_file.h): the
 * input is one channel (a selection's "selection_name", else "all", or
 * opts->channel), and each histogram is keyed (channel, variable). Per
 * process and bin: entries, sum of weights, sum of squared weights, with
 * under- and overflow bins and the exact sums, so histograms of separate runs
 * or event ranges merge bit for bit (dm_hist_files_merge) and the file is
 * identical on any number of ranks (apart from its creation time).
 *
 * Variables: those of stages/physics (ht, n_jets, n_bjets, n_leptons,
 * n_photons, lead_jet_pt, met_over_ht, m_eff, met, n_obj; GeV), computed from
 * the events themselves, so no /derived column needs to exist; and scores,
 * one variable per scores file ("score_<model kind>" unless named). Scores
 * are histogrammed on the test split only (rows with /scores/train == 0) when
 * the scores file says which events trained the model; otherwise on every
 * event, and the histogram's `subset` attribute says the split is unknown.
 *
 * Weights: /derived/weight (dmpipe weight) when the store has it, else the
 * archive's /events/weight; the `weights` attribute says which. With
 * unit_weights every event weighs 1 (sums of weights = entry counts): the
 * per-sample histograms of dmpipe nightly, which dm_hist_files_merge then
 * gives each process's weight (dm_hist_weights_load) exactly.
 *
 * Calls are LOCAL unless marked COLLECTIVE.
 */
#ifndef DM_HIST_STAGE_H
#define DM_HIST_STAGE_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "dm_hist_file.h"
#include "dm_status.h"

#define DM_HIST_MAX_SPECS 64

/* The histograms' `weights` attribute: where the weights came from. */
#define DM_HIST_W_DERIVED "derived/weight (dmpipe weight)"
#define DM_HIST_W_ARCHIVE "events/weight (archive)"
#define DM_HIST_W_UNIT "unit (entry counts; dmpipe hist --unit-weights)"
#define DM_HIST_MAX_SCORES 8

/* One binning: n_bins equal bins in x (or in log x when log_scale) over
 * [lo, hi). For a score variable lo and hi may both be NaN ("auto"): the
 * range of the filled scores (then files of separate runs may not merge). */
typedef struct {
  char name[64]; /* a physics variable, "score" (every score variable) or "score_<name>" */
  int n_bins;
  double lo, hi;
  int log_scale;
} dm_hist_spec;

/* Parse "NAME:NBINS:LO:HI[:log]" (LO and HI may be "auto" for scores).
 * DM_ERR_ARG naming the text on error. */
dm_status dm_hist_spec_parse(const char *text, dm_hist_spec *spec);

/* Read a binning file (INI; one section per variable with keys bins, lo, hi
 * and optionally log = yes|no; lo/hi may be "auto" for scores), appending to
 * specs[*n] (capacity cap); a section naming a variable already in specs
 * replaces it. Errors name the file and line. */
dm_status dm_hist_bins_load(const char *path, dm_hist_spec *specs, int *n, int cap);

/* The built-in binnings (GeV): *n specs into specs (capacity >= 16). */
void dm_hist_default_specs(dm_hist_spec *specs, int *n);

/* Print specs in the binning-file format (a starting point to edit). */
void dm_hist_specs_print(FILE *f, const dm_hist_spec *specs, int n);

/* The n_bins + 1 edges of a spec with a known range (lo < hi; lo > 0 for
 * log): equal steps, endpoints exactly lo and hi. DM_ERR_ARG naming the
 * variable if the spec is not usable. */
dm_status dm_hist_spec_edges(const dm_hist_spec *spec, double *edges);

typedef struct {
  const char *in_path;     /* store or selection */
  const char *out_path;    /* histogram file to write */
  const char *channel;     /* NULL: the selection's name, else "all" */
  const char *scores[DM_HIST_MAX_SCORES];      /* scores files of in_path's events */
  const char *score_names[DM_HIST_MAX_SCORES]; /* variable names (NULL: score_<kind>) */
  int n_scores;
  const dm_hist_spec *specs; /* binnings of the variables to fill */
  int n_specs;
  int no_physics;          /* 1: only the score variables */
  int unit_weights;        /* 1: every event weighs 1 (see above) */
  const char *command_line;
  int64_t batch_events;    /* events per rank per round; 0 = default */
  int progress;            /* DM_PROGRESS_* mode (dm_progress.h), same on every rank */
  double progress_interval; /* seconds between progress lines; 0 = the mode's default */
} dm_hist_opts;

typedef struct {
  char channel[64];
  char weight_source[64];
  int64_t n_events;
  int n_hists;
  int n_scores_test_split; /* scores files whose test split was used */
  double seconds;
} dm_hist_report;

/* COLLECTIVE. The per-process weights of a `dmpipe weight --json` file (format
 * dmpipe-weights, version 2 or later: weights printed exactly) for
 * dm_hist_files_merge; sc->label becomes DM_HIST_W_DERIVED, so merged
 * histograms read as those filled from the weighted store. Weights rescaled
 * from the store's own (--rescale-lumi: one weight per event, not per
 * process) and files of an older dmpipe weight are DM_ERR_SCHEMA naming the
 * file. Agreed; free with dm_hist_scale_free. */
dm_status dm_hist_weights_load(const char *path, MPI_Comm comm, dm_hist_scale *sc);

/* COLLECTIVE. Fill and write the histograms. On failure nothing is left
 * under out_path. Errors name the file, the variable or the row. Agreed. */
dm_status dm_hist_run(const dm_hist_opts *opts, MPI_Comm comm, dm_hist_report *rep);

#endif
