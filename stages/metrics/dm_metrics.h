/* dm_metrics.h - the metrics stage: from score files (one per channel) to
 * the challenge's metrics, merged score histograms per process, and
 * counting significance at chosen working points.
 *
 * Per channel, every rank reads a contiguous block of the score file, in
 * batches, and again in each pass. ROC quantities are exact (dm_roc.h): the
 * same numbers as scikit-learn on all the scores together, for any number
 * of ranks, without gathering them; they are found in passes over ranges
 * of score (dm_roc_scan.h), each rank holding at most opts.rows_mb of rows
 * at once, so memory per rank does not grow with the number of events.
 * Passes: one when a rank's rows fit (24 bytes a background or signal row,
 * 48 weighted), more otherwise; one more to fill the histograms when they
 * are written or used (hist_out, lumi).
 *
 * Histograms: edges are exact quantiles of the background scores (dm_osel):
 * 1 % steps of background efficiency in the bulk, then `per_decade` steps per
 * decade below eps_B = 1e-2, never fewer than `min_count` background events
 * per bin, so bins resolve eps_B = 1e-4 when the background has more than
 * min_count / 1e-4 events; one more edge at the lowest score and one just
 * above the highest. Or the edges of an existing histogram file, so that
 * histograms of separate runs can be merged. Counts are int64 sums, weights
 * exact sums (dm_xsum): bitwise identical for any number of ranks.
 *
 * Roles: "sm" / "bsm" take each process's kind from the process table
 * (dm_proctable.h; default table unless opts.proctable); a process missing
 * from the table is BSM if its name starts with a known signal prefix
 * (gluino, stop, Zp, glgl, sqsq, stlp, monojet, monotop, monoV, chacha,
 * chaneut, pp23mt, pp24mt) and SM otherwise. Explicit comma lists name the
 * processes; a listed name missing from every score file is an error.
 *
 * Inputs: one or more score files per channel (inputs with the same name are
 * taken together, e.g. a test background file and one file per signal);
 * their process tables are merged by name.
 *
 * Held-out evaluation: by default only events that were not among the
 * model's training events count (/scores/train == 0, io/dm_scores_file.h);
 * a score file without that column is an error unless include_train, which
 * counts every event (the behaviour of earlier versions).
 *
 * Resolved working points: eps_B = e counts in a channel only when its
 * evaluated background holds at least K/e events, K = min_bkg_per_wp
 * (default 10); weighted, the Kish effective count (sum w)^2 / sum w^2
 * stands for the number of events. Otherwise the point is "unresolved":
 * eps_S and SI are still computed but best SI and TI skip them unless
 * allow_unresolved. A signal with no resolved point in any channel has no
 * TI (NaN) and stays out of min/median/max TI.
 *
 * Functions are COLLECTIVE over comm unless marked LOCAL.
 */
#ifndef DM_METRICS_H
#define DM_METRICS_H

#include <mpi.h>
#include <stdint.h>

#include "dm_h5.h"
#include "dm_hist_file.h"
#include "dm_status.h"

#define DM_METRICS_MAX_CHANNELS 16
#define DM_METRICS_MAX_INPUTS 128
#define DM_METRICS_N_EPS 3
#define DM_METRICS_MAX_THRESHOLDS 8

typedef struct {
  char name[64];               /* channel name (CHANNEL= part) */
  char scores[DM_PATH_MAX];    /* score file */
  char store[DM_PATH_MAX];     /* the scored store, for event weights: its /derived "weight"
                                  column (dmpipe weight) if present, else /events/weight;
                                  "" = the score file's store_path */
} dm_metrics_input;

typedef struct {
  int n_inputs;
  dm_metrics_input inputs[DM_METRICS_MAX_INPUTS];
  const char *background; /* "sm" (default when NULL) or comma-separated names */
  const char *signals;    /* "bsm" (default when NULL) or comma-separated names */
  const char *proctable;  /* process table file; NULL = the shipped one */
  int weighted;           /* ROC metrics with event weights */
  const char *hist_out;   /* write histograms here (NULL: none) */
  const char *hist_edges; /* take edges from this histogram file (NULL: adaptive) */
  int hist_min_count;     /* background events per bin at least (default 10) */
  int hist_per_decade;    /* tail bins per decade of eps_B (default 20) */
  double lumi;            /* fb^-1 for counting significance; 0 = skip */
  double weight_lumi;     /* luminosity the store's weights are for (default 10 fb^-1) */
  int n_thresholds;       /* working points for significance (eps_B of the weighted background) */
  double thresholds[DM_METRICS_MAX_THRESHOLDS];
  double bkg_uncertainty; /* relative background uncertainty for Z_A (0 = none) */
  int include_train;      /* 1: count the model's training events too */
  double min_bkg_per_wp;  /* K: eps_B needs >= K/eps_B background events (default 10) */
  int allow_unresolved;   /* 1: best SI and TI may use unresolved working points */
  double rows_mb;         /* MiB per rank for the rows the exact ROC holds at once
                             (default 3); more rows take more passes */
  const char *command_line;
} dm_metrics_opts;

/* LOCAL. Defaults: sm/bsm, unweighted, min_count 10, per_decade 20,
 * weight_lumi 10, thresholds 1e-2, 1e-3, 1e-4, held-out events only,
 * K = 10, unresolved points skipped, 3 MiB of rows per rank. */
void dm_metrics_opts_default(dm_metrics_opts *o);

typedef struct {
  char name[64];
  char weights[64];            /* where event weights came from */
  int n_files;                 /* score files taken together */
  int64_t n_events;            /* rows of those files */
  int64_t n_train_excluded;    /* training events left out (0 with include_train) */
  int64_t n_train_background;  /* of which background */
  int64_t n_background;        /* background events evaluated */
  double w_background;
  double n_background_eff;     /* Kish effective count (= n_background unweighted) */
  int64_t needed[DM_METRICS_N_EPS]; /* events each working point needs: ceil(K / eps_B) */
  int resolved[DM_METRICS_N_EPS];
  int n_bins;
  int n_passes;                /* reads of the channel's score files */
} dm_metrics_channel;

typedef struct {
  char signal[64], channel[64];
  int64_t n_signal;               /* signal events evaluated */
  int64_t n_background;           /* background events evaluated (the channel's) */
  double auc;
  double auc_err;                 /* Hanley-McNeil standard error of the AUC */
  double eps_s[DM_METRICS_N_EPS]; /* at eps_B = 1e-2, 1e-3, 1e-4 */
  double si[DM_METRICS_N_EPS];    /* eps_S / sqrt(eps_B) */
  int resolved[DM_METRICS_N_EPS]; /* the channel's */
  double best_si;                 /* over usable points; NaN if none */
  int few_signal;                 /* n_signal < 10 K: eps_S < 0.1 rests on < K events */
} dm_metrics_row;

typedef struct {
  char signal[64];
  double ti;            /* max of best SI over channels; NaN: no usable point */
  char channel[64];     /* where the max is reached */
} dm_metrics_ti;

typedef struct {
  char signal[64], channel[64];
  double target_eff_b;  /* requested weighted background efficiency */
  double threshold;     /* score cut (events with score >= threshold pass) */
  double eff_b, eff_s;  /* weighted efficiencies at that cut (from histograms) */
  double s, b, b_mc_err; /* expected events at opts.lumi; MC error of b */
  double z_simple, z_asimov, z_asimov_unc;
  double n_background_eff; /* effective background events in the histogram */
  int resolved;            /* n_background_eff >= K / target */
  char note[192];          /* why a figure is missing or weak ("" when none) */
} dm_metrics_signif;

typedef struct {
  int n_channels;
  dm_metrics_channel channels[DM_METRICS_MAX_CHANNELS];
  int n_rows;
  dm_metrics_row *rows;
  int n_ti;
  dm_metrics_ti *ti;
  double ti_min, ti_median, ti_max; /* over signals with a TI */
  int n_ti_unresolved;              /* signals without one */
  int n_signif;
  dm_metrics_signif *signif;
  int n_hist;
  dm_hist *hist;          /* one per channel when filled (hist_out or lumi), else none */
  char background_names[1024], signal_names[1024];
  double seconds;
} dm_metrics_report;

/* COLLECTIVE. Run the stage. The report is filled identically on every rank. */
dm_status dm_metrics_run(const dm_metrics_opts *opts, MPI_Comm comm, dm_metrics_report *rep);

/* LOCAL. Frees the report's arrays (accepts a zeroed report). */
void dm_metrics_report_free(dm_metrics_report *rep);


/* LOCAL. Counting significance from (merged) histograms, for one channel:
 * for each signal process and each target eps_B, the cut at the lowest
 * edge whose weighted background efficiency is <= the target. Appends to
 * rep->signif. Background and signal are given by process-name lists. */
dm_status dm_metrics_signif_from_hist(const dm_hist *h, const char *const *bkg, int n_bkg,
                                      const char *const *sig, int n_sig,
                                      const dm_metrics_opts *opts, dm_metrics_report *rep);

#endif
