/* Histograms of the metrics stage: quantile-adaptive edges and counting
 * significance from histograms (filling and merging are dm_hist_file.h's). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_metrics.h"
#include "dm_metrics_impl.h"
#include "dm_signif.h"

/* ---- histograms ------------------------------------------------------------ */

static int cmp_dbl(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The most targets: far beyond any background (20 per decade of eps_B). */
#define MAX_TARGETS 8192

dm_status dm_metrics_edge_targets(int64_t nb, const dm_metrics_opts *o, double **f_out,
                                  int *n_f)
{
  double m = o->hist_min_count > 0 ? o->hist_min_count : 1;
  double ratio = pow(10.0, 1.0 / (o->hist_per_decade > 0 ? o->hist_per_decade : 20));
  int nq = 0;
  double *f = malloc((size_t)MAX_TARGETS * sizeof(double));
  if (!f)
    return dm_error(DM_ERR_NOMEM, "no memory for histogram edges");
  /* c = background events at or above the edge, counted from the top. */
  double c = m;
  while (c < (double)nb && nq < MAX_TARGETS) {
    int64_t ci = (int64_t)ceil(c);
    f[nq++] = ((double)ci - 0.5) / (double)nb;
    double frac = c / (double)nb;
    double step = frac < 0.01 ? c * (ratio - 1.0) : 0.01 * (double)nb;
    c += step > m ? step : m;
  }
  *f_out = f;
  *n_f = nq;
  return DM_OK;
}

dm_status dm_metrics_edges_from(const dm_osel_result *res, int nq, double lo, double hi,
                                const dm_metrics_opts *o, double **edges, int *n_edges,
                                char *binning, size_t binning_cap)
{
  double m = o->hist_min_count > 0 ? o->hist_min_count : 1;
  double *e = malloc((size_t)(nq + 3) * sizeof(double));
  if (!e)
    return dm_error(DM_ERR_NOMEM, "no memory for histogram edges");
  /* Targets run from the top down, so values descend. Tied scores can put
   * fewer than m events between consecutive quantiles: keep an edge only
   * when at least m background events lie between it and the last kept
   * edge above it (mass_ge is the exact count at or above the edge). */
  double kept_ge = 0;
  int n_kept = 0;
  for (int q = 0; q < nq; q++) {
    if (!res[q].found || res[q].mass_ge - kept_ge < m)
      continue;
    e[n_kept++] = res[q].value;
    kept_ge = res[q].mass_ge;
  }
  int ne = n_kept;
  e[ne++] = lo;
  qsort(e, (size_t)ne, sizeof(double), cmp_dbl);
  int k = 0;
  for (int i = 0; i < ne; i++)
    if (k == 0 || e[i] > e[k - 1])
      e[k++] = e[i];
  ne = k;
  double top = nextafter(hi, INFINITY);
  if (top > e[ne - 1])
    e[ne++] = top;
  if (ne < 2)
    e[ne++] = nextafter(e[0], INFINITY);
  snprintf(binning, binning_cap,
           "background quantiles: 1%% steps above eps_B 0.01, %d per decade below, >= %d "
           "events per bin",
           o->hist_per_decade, o->hist_min_count);
  *edges = e;
  *n_edges = ne;
  return DM_OK;
}

/* ---- significance ------------------------------------------------------------ */

dm_status dm_metrics_signif_from_hist(const dm_hist *h, const char *const *bkg, int n_bkg,
                                      const char *const *sig, int n_sig,
                                      const dm_metrics_opts *o, dm_metrics_report *rep)
{
  int row = h->n_bins + 2;
  /* Weighted background above each edge k (bins k+1 .. n_bins+1), summed in a
   * fixed order: processes as listed, bins from the top. */
  double *bw = calloc((size_t)row + 1, sizeof(double)), *bw2 = calloc((size_t)row + 1, sizeof(double));
  if (!bw || !bw2) {
    free(bw);
    free(bw2);
    return dm_error(DM_ERR_NOMEM, "no memory for significance");
  }
  double wb_total = 0, wb2_total = 0;
  for (int p = 0; p < n_bkg; p++) {
    int i = dm_hist_process(h, bkg[p]);
    if (i < 0)
      continue;
    for (int j = 0; j < row; j++) {
      wb_total += h->sumw[(size_t)i * row + j];
      wb2_total += h->sumw2[(size_t)i * row + j];
    }
  }
  /* Kish's effective number of background events behind the weighted
   * efficiencies: what decides whether a working point is resolved. */
  double n_eff = wb2_total > 0 ? wb_total * wb_total / wb2_total : 0.0;
  double k_min = o->min_bkg_per_wp > 0 ? o->min_bkg_per_wp : 10.0;
  for (int k = h->n_bins; k >= 0; k--) {
    double a = 0, a2 = 0;
    for (int p = 0; p < n_bkg; p++) {
      int i = dm_hist_process(h, bkg[p]);
      if (i < 0)
        continue;
      a += h->sumw[(size_t)i * row + k + 1];
      a2 += h->sumw2[(size_t)i * row + k + 1];
    }
    bw[k] = bw[k + 1] + a;
    bw2[k] = bw2[k + 1] + a2;
  }
  double scale = o->lumi / (o->weight_lumi > 0 ? o->weight_lumi : 10.0);
  dm_status s = DM_OK;
  for (int q = 0; s == DM_OK && q < n_sig; q++) {
    int si = dm_hist_process(h, sig[q]);
    if (si < 0)
      continue;
    double ws_total = 0;
    for (int j = 0; j < row; j++)
      ws_total += h->sumw[(size_t)si * row + j];
    for (int t = 0; t < o->n_thresholds; t++) {
      int k = 0;
      while (k < h->n_bins && !(wb_total > 0 && bw[k] / wb_total <= o->thresholds[t]))
        k++;
      double sw = 0;
      for (int j = row - 1; j >= k + 1; j--)
        sw += h->sumw[(size_t)si * row + j];
      dm_metrics_signif *g = realloc(rep->signif, (size_t)(rep->n_signif + 1) * sizeof *g);
      if (!g) {
        s = dm_error(DM_ERR_NOMEM, "no memory for significance rows");
        break;
      }
      rep->signif = g;
      g = &rep->signif[rep->n_signif++];
      memset(g, 0, sizeof *g);
      snprintf(g->signal, sizeof g->signal, "%s", sig[q]);
      snprintf(g->channel, sizeof g->channel, "%s", h->channel);
      g->target_eff_b = o->thresholds[t];
      g->threshold = h->edges[k];
      g->eff_b = wb_total > 0 ? bw[k] / wb_total : NAN;
      g->eff_s = ws_total > 0 ? sw / ws_total : NAN;
      g->s = scale * sw;
      g->b = scale * bw[k];
      g->b_mc_err = scale * sqrt(bw2[k]);
      g->z_simple = dm_signif_simple(g->s, g->b);
      g->z_asimov = dm_signif_asimov(g->s, g->b);
      g->z_asimov_unc = dm_signif_asimov_unc(g->s, g->b, o->bkg_uncertainty * g->b);
      g->n_background_eff = n_eff;
      double need = ceil(k_min / o->thresholds[t] * (1 - 1e-12));
      g->resolved = n_eff >= need;
      if (!(g->b > 0))
        snprintf(g->note, sizeof g->note,
                 "no background above the cut: %.4g effective background events cannot "
                 "resolve eps_B = %.0e (needs %.0f); s/sqrt(b) and Z undefined",
                 n_eff, o->thresholds[t], need);
      else if (!g->resolved)
        snprintf(g->note, sizeof g->note,
                 "unresolved: %.4g effective background events, eps_B = %.0e needs %.0f", n_eff,
                 o->thresholds[t], need);
      else if (g->eff_b < 0.5 * o->thresholds[t])
        snprintf(g->note, sizeof g->note, "coarse bins: the cut reaches eps_B = %.3g only",
                 g->eff_b);
      if (!(ws_total > 0) && !g->note[0])
        snprintf(g->note, sizeof g->note, "the signal has no weight in this channel");
    }
  }
  free(bw);
  free(bw2);
  return s;
}
