/* Histograms of the metrics stage: quantile-adaptive edges, filling with
 * exact sums, counting significance from histograms, merging files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_metrics.h"
#include "dm_metrics_impl.h"
#include "dm_prov.h"
#include "dm_signif.h"
#include "dm_xsum.h"

/* ---- histograms ------------------------------------------------------------ */

static int cmp_dbl(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

dm_status dm_metrics_adaptive_edges(const dm_osel_set *bkg_u, double lo, double hi,
                                    const dm_metrics_opts *o, MPI_Comm comm, double **edges,
                                    int *n_edges, char *binning, size_t binning_cap)
{
  int64_t nb = bkg_u->n_total;
  double m = o->hist_min_count > 0 ? o->hist_min_count : 1;
  double ratio = pow(10.0, 1.0 / (o->hist_per_decade > 0 ? o->hist_per_decade : 20));
  int cap = 8192, nq = 0;
  double *f = malloc((size_t)cap * sizeof(double));
  double *e = malloc((size_t)(cap + 3) * sizeof(double));
  dm_osel_result *res = malloc((size_t)cap * sizeof(dm_osel_result));
  dm_status s = f && e && res ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for histogram edges");
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    /* c = background events at or above the edge, counted from the top. */
    double c = m;
    while (c < (double)nb && nq < cap) {
      int64_t ci = (int64_t)ceil(c);
      f[nq++] = ((double)ci - 0.5) / (double)nb;
      double frac = c / (double)nb;
      double step = frac < 0.01 ? c * (ratio - 1.0) : 0.01 * (double)nb;
      c += step > m ? step : m;
    }
    s = dm_osel_upper(bkg_u, f, nq, comm, res);
  }
  int ne = 0;
  if (s == DM_OK) {
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
    ne = n_kept;
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
  }
  free(f);
  free(res);
  if (s != DM_OK) {
    free(e);
    return s;
  }
  *edges = e;
  *n_edges = ne;
  return DM_OK;
}

/* Processes without a finite weight (no cross section known; they take no
 * part as background or signal, see read_channel) get NaN sums of weights in
 * every bin: visibly undefined rather than silently short. Counts stay exact. */
dm_status dm_metrics_fill_hist(dm_hist *h, const uint16_t *proc, const double *score,
                               const double *w, int64_t n, MPI_Comm comm)
{
  size_t row = (size_t)(h->n_bins + 2), cells = (size_t)h->n_proc * row;
  dm_xsum *acc = calloc(cells * 2 > 0 ? cells * 2 : 1, sizeof(dm_xsum));
  int64_t *bad = calloc((size_t)h->n_proc + 1, sizeof(int64_t));
  dm_status s = acc && bad ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory to fill histograms");
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    free(acc);
    free(bad);
    return s;
  }
  for (int64_t i = 0; i < n; i++) {
    size_t c = (size_t)proc[i] * row + (size_t)dm_hist_bin(h, score[i]);
    double wi = w ? w[i] : 1.0;
    h->count[c]++;
    if (!isfinite(wi)) {
      bad[proc[i]] = 1;
      continue;
    }
    dm_xsum_add(&acc[c], wi);
    dm_xsum_add(&acc[cells + c], wi * wi);
  }
  s = dm_allsum_i64_array(h->count, (int64_t)cells, comm);
  if (s == DM_OK)
    s = dm_allsum_i64_array(bad, h->n_proc, comm);
  if (s == DM_OK)
    s = dm_xsum_allreduce(acc, (int64_t)(2 * cells), comm);
  if (s == DM_OK)
    s = dm_xsum_check(acc, (int64_t)(2 * cells), "histogram sums of weights");
  if (s == DM_OK)
    for (size_t c = 0; c < cells; c++) {
      int undefined = bad[c / row] != 0;
      h->sumw[c] = undefined ? NAN : dm_xsum_value(&acc[c]);
      h->sumw2[c] = undefined ? NAN : dm_xsum_value(&acc[cells + c]);
    }
  free(acc);
  free(bad);
  return s;
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
  double wb_total = 0;
  for (int p = 0; p < n_bkg; p++) {
    int i = dm_hist_process(h, bkg[p]);
    if (i < 0)
      continue;
    for (int j = 0; j < row; j++)
      wb_total += h->sumw[(size_t)i * row + j];
  }
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
    }
  }
  free(bw);
  free(bw2);
  return s;
}

dm_status dm_metrics_merge_hist(const char *out, const char *const *in, int n_in, MPI_Comm comm,
                                const char *command_line)
{
  if (n_in < 1)
    return dm_error(DM_ERR_ARG, "no histogram files to merge");
  dm_hist *acc = NULL;
  int n_acc = 0;
  dm_status s = DM_OK;
  char inputs[8192] = "";
  for (int i = 0; s == DM_OK && i < n_in; i++) {
    dm_hist *hs = NULL;
    int n = 0;
    s = dm_hist_file_read(in[i], comm, &hs, &n);
    if (s == DM_OK) {
      s = dm_hist_merge_set(&acc, &n_acc, hs, n);
      if (s != DM_OK)
        dm_error_context("merging %s", in[i]);
      s = dm_agree(s, comm);
    }
    dm_hist_free_set(hs, n);
    char hex[33] = "";
    int64_t size = 0;
    if (s == DM_OK) {
      /* Rank 0's checksum for all: the provenance attribute must be the
       * same bytes on every rank, and one read of the file serves all. */
      int ok = dm_rank(comm) == 0 && dm_checksum_file(in[i], hex, &size) == DM_OK;
      MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
      MPI_Bcast(hex, 33, MPI_CHAR, 0, comm);
      MPI_Bcast(&size, 1, MPI_INT64_T, 0, comm);
      if (ok) {
        size_t l = strlen(inputs);
        snprintf(inputs + l, sizeof inputs - l, "%s\t%lld\t%s\n", in[i], (long long)size, hex);
      }
      dm_error_clear();
    }
  }
  if (s == DM_OK)
    s = dm_hist_file_write(out, acc, n_acc, comm, command_line, inputs);
  dm_hist_free_set(acc, n_acc);
  return s;
}
