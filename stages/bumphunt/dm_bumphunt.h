/* dm_bumphunt.h - a BumpHunter scan (Choudalakis, arXiv:1101.0390) of a
 * binned spectrum against a background expectation, with the global
 * significance from background-only pseudo-experiments generated in
 * parallel over ranks and the Gross-Vitells extrapolation (arXiv:1005.1891)
 * beyond the reach of the toys.
 *
 * Definitions:
 *  - a window is w consecutive bins, w_min <= w <= w_max, at every position;
 *    its observed count d and expected count b are sums over its bins;
 *  - local p of a window = P(n >= d | Poisson(b)) = gsl_sf_gamma_inc_P(d, b)
 *    for an excess (d > b), 1 otherwise (only excesses are sought);
 *  - test statistic t = -ln(min local p) over all windows;
 *  - global p from toys = fraction of background-only pseudo-experiments
 *    (each bin Poisson around b) whose t >= t_obs. Toy k draws from the
 *    stream dm_rng_init(seed, k, 0) in bin order, whichever rank runs it, so
 *    the answer is the same for any number of ranks;
 *  - Gross-Vitells: the scanned field is q(x) = max over widths of Z_local^2
 *    (Z_local = one-sided significance of the window's local p, 0 for a
 *    deficit) as a function of the window start x; <N(c0)> = mean number of
 *    upcrossings of q(x) through the level c0 along x over the first
 *    gv_toys toys; then p_global ~ p_local + <N(c0)> exp(-(c - c0)/2) with
 *    c = Z_local(obs)^2;
 *  - the reported global p is the toys' value when at least 10 toys reach
 *    t_obs, else the Gross-Vitells value; Z = Q^-1(p) (one-sided);
 *    trials factor = p_global / p_local.
 * Calibration mode: n background-only pseudo-datasets (stream
 * dm_rng_init(seed, j, 1)) are scanned and their global p-values taken from
 * the same toys; for a correct procedure the p-values are uniform.
 *
 * Functions are COLLECTIVE over comm unless marked LOCAL. The stage turns
 * GSL's abort-on-error handler off (gsl_set_error_handler_off) and checks
 * every GSL status itself.
 */
#ifndef DM_BUMPHUNT_H
#define DM_BUMPHUNT_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

typedef struct {
  /* Input: a CSV spectrum (header naming lo, hi, observed, expected), or a
   * histogram file (dmpipe-hist): observed = sum of weights of the
   * `observed` processes, expected = expected_scale x sum of weights of the
   * `expected` processes, over the interior bins of `channel`. */
  const char *spectrum;
  const char *hist;
  const char *channel;   /* hist input: channel name (default: the only one) */
  const char *variable;  /* hist input: variable (default: the channel's only one) */
  const char *observed;  /* hist input: comma-separated process names */
  const char *expected;  /* hist input: comma-separated process names */
  double expected_scale; /* hist input: default 1 */
  int width_min, width_max; /* window widths in bins; width_max 0 = n_bins / 2 */
  int64_t n_toys;           /* default 10000 */
  int64_t gv_toys;          /* toys that count upcrossings (default min(n_toys, 2000)) */
  double gv_level;          /* c0 in units of Z^2 (default 3) */
  uint64_t seed;
  int64_t calibrate;        /* pseudo-datasets for the calibration (0 = off) */
} dm_bumphunt_opts;

/* LOCAL. Defaults as documented above. */
void dm_bumphunt_opts_default(dm_bumphunt_opts *o);

typedef struct {
  int n_bins;
  int win_first, win_last;     /* bins of the most significant window (inclusive) */
  double win_lo, win_hi;       /* its edges */
  double d, b;                 /* observed and expected in it */
  double p_local, z_local, t_obs;
  int64_t n_toys, n_toys_ge;   /* toys, and toys with t >= t_obs */
  double p_toys, p_toys_err;   /* global p from toys and its binomial error */
  int64_t gv_toys;
  double gv_level, mean_upcrossings, p_gv;
  double p_global, z_global, trials_factor;
  int global_from_gv;          /* 1: p_global is the Gross-Vitells value */
  /* calibration */
  int64_t calib_n, calib_below;      /* pseudo-datasets, and those with p < 0.05 */
  double calib_fraction, calib_fraction_err;
  int64_t calib_deciles[10];         /* p-value histogram in 10 equal bins */
  /* The scanned spectrum (n_bins each, malloc'ed; dm_bumphunt_report_free),
   * so reports and plots show what was scanned. */
  double *spec_lo, *spec_hi, *spec_obs, *spec_exp;
  char variable[64];                 /* hist input: the histogram's variable */
  double seconds;
} dm_bumphunt_report;

/* LOCAL. Frees the spectrum arrays (accepts a zeroed report). */
void dm_bumphunt_report_free(dm_bumphunt_report *rep);

/* COLLECTIVE. Read the spectrum, scan, run toys and (optionally) the
 * calibration. Same report on every rank. */
dm_status dm_bumphunt_run(const dm_bumphunt_opts *opts, MPI_Comm comm, dm_bumphunt_report *rep);

/* ---- the scan (LOCAL, pure) ------------------------------------------------ */

typedef struct {
  int first, last;  /* bins, inclusive */
  double d, b;
  double log_p;     /* ln(local p) of the best window (<= 0) */
} dm_bh_window;

/* LOCAL. ln P(n >= d | Poisson(b)) for d > b (else 0), accurate far into the
 * tail where the p-value itself underflows. */
double dm_bh_log_pvalue(double d, double b);

/* LOCAL. One-sided Z of a p-value given as ln p (Z = Q^-1(p); 0 for p >= 0.5). */
double dm_bh_z_from_log_p(double log_p);

/* LOCAL. Scan windows of widths [wmin, wmax] over n bins; returns t =
 * -ln(min p) and the best window (first minimum in scan order: width, then
 * position). If q is not NULL it receives, per start bin x (n entries), the
 * max over widths of Z_local^2 of windows starting at x (0 where none). */
double dm_bh_scan(const double *d, const double *b, int n, int wmin, int wmax, dm_bh_window *best,
                  double *q);

/* LOCAL. Upcrossings of q[0..n) through level c0: x >= 1 with
 * q[x-1] <= c0 < q[x]. */
int64_t dm_bh_upcrossings(const double *q, int n, double c0);

#endif
