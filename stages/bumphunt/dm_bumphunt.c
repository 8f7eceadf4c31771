#include "dm_bumphunt.h"

#include <gsl/gsl_errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_hist_file.h"
#include "dm_rng.h"
#include "dm_text.h"

void dm_bumphunt_opts_default(dm_bumphunt_opts *o)
{
  memset(o, 0, sizeof *o);
  o->expected_scale = 1.0;
  o->width_min = 1;
  o->n_toys = 10000;
  o->gv_toys = -1;
  o->gv_level = 3.0;
  o->seed = 1;
}

typedef struct {
  int n;
  double *lo, *hi, *d, *b;
} spectrum;

static void spectrum_free(spectrum *s)
{
  free(s->lo);
  free(s->hi);
  free(s->d);
  free(s->b);
  memset(s, 0, sizeof *s);
}

static dm_status spectrum_alloc(spectrum *s, int n)
{
  s->n = n;
  size_t m = (size_t)(n > 0 ? n : 1) * sizeof(double);
  s->lo = malloc(m);
  s->hi = malloc(m);
  s->d = malloc(m);
  s->b = malloc(m);
  if (!s->lo || !s->hi || !s->d || !s->b) {
    spectrum_free(s);
    return dm_error(DM_ERR_NOMEM, "no memory for a spectrum of %d bins", n);
  }
  return DM_OK;
}

/* ---- CSV spectrum ------------------------------------------------------------ */

static dm_status parse_num(const char *path, int line, const char *col, const char *f, size_t fl,
                           double *out)
{
  if (!dm_text_f64(f, fl, out))
    return dm_error(DM_ERR_FORMAT, "%s:%d: column %s: '%.*s' is not a finite number", path, line,
                    col, (int)fl, f);
  return DM_OK;
}

static dm_status parse_csv(const char *path, const char *text, size_t len, spectrum *sp)
{
  static const char *const cols[4] = {"lo", "hi", "observed", "expected"};
  int idx[4] = {-1, -1, -1, -1}, n_fields = 0, have_header = 0, line = 0, cap = 0;
  memset(sp, 0, sizeof *sp);
  dm_status s = DM_OK;
  size_t pos = 0, ll;
  const char *ln;
  while (s == DM_OK && dm_text_next_line(text, len, &pos, &ln, &ll)) {
    line++;
    if (ll == 0 || ln[0] == '#')
      continue;
    const char *f[16];
    size_t fl[16];
    int nf = dm_text_split(ln, ll, 1, f, fl, 16);
    if (nf < 0) {
      s = dm_error(DM_ERR_FORMAT, "%s:%d: more than 16 fields", path, line);
      break;
    }
    if (!have_header) {
      for (int c = 0; c < 4; c++) {
        for (int i = 0; i < nf; i++)
          if (fl[i] == strlen(cols[c]) && memcmp(f[i], cols[c], fl[i]) == 0)
            idx[c] = i;
        if (idx[c] < 0)
          s = dm_error(DM_ERR_FORMAT, "%s:%d: the header must name the columns lo, hi, "
                       "observed, expected (missing '%s')", path, line, cols[c]);
      }
      have_header = 1;
      n_fields = nf;
      continue;
    }
    if (nf != n_fields) {
      s = dm_error(DM_ERR_FORMAT, "%s:%d: %d fields, the header has %d", path, line, nf,
                   n_fields);
      break;
    }
    if (sp->n == cap) {
      cap = cap ? 2 * cap : 256;
      spectrum g;
      if (spectrum_alloc(&g, cap) != DM_OK) {
        s = dm_error(DM_ERR_NOMEM, "no memory for %s", path);
        break;
      }
      if (sp->n) {
        memcpy(g.lo, sp->lo, (size_t)sp->n * sizeof(double));
        memcpy(g.hi, sp->hi, (size_t)sp->n * sizeof(double));
        memcpy(g.d, sp->d, (size_t)sp->n * sizeof(double));
        memcpy(g.b, sp->b, (size_t)sp->n * sizeof(double));
      }
      g.n = sp->n;
      spectrum_free(sp);
      *sp = g;
    }
    int k = sp->n;
    double v[4];
    for (int c = 0; s == DM_OK && c < 4; c++)
      s = parse_num(path, line, cols[c], f[idx[c]], fl[idx[c]], &v[c]);
    if (s != DM_OK)
      break;
    if (!(v[1] > v[0]))
      s = dm_error(DM_ERR_FORMAT, "%s:%d: hi %g is not above lo %g", path, line, v[1], v[0]);
    else if (k > 0 && v[0] < sp->hi[k - 1])
      s = dm_error(DM_ERR_FORMAT, "%s:%d: bin starts at %g, before the previous bin ends (%g)",
                   path, line, v[0], sp->hi[k - 1]);
    else if (v[2] < 0)
      s = dm_error(DM_ERR_FORMAT, "%s:%d: observed %g is negative", path, line, v[2]);
    else if (!(v[3] > 0))
      s = dm_error(DM_ERR_FORMAT, "%s:%d: expected %g must be positive", path, line, v[3]);
    if (s != DM_OK)
      break;
    sp->lo[k] = v[0];
    sp->hi[k] = v[1];
    sp->d[k] = v[2];
    sp->b[k] = v[3];
    sp->n++;
  }
  if (s == DM_OK && sp->n == 0)
    s = dm_error(DM_ERR_FORMAT, "%s: no bins", path);
  if (s != DM_OK)
    spectrum_free(sp);
  return s;
}

/* ---- histogram-file spectrum -------------------------------------------------- */

static dm_status sum_procs(const dm_hist *h, const char *list, const char *flag, double scale,
                           double *out)
{
  if (!list || !*list)
    return dm_error(DM_ERR_ARG, "%s is required with --hist", flag);
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", list);
  int row = h->n_bins + 2;
  for (int j = 0; j < h->n_bins; j++)
    out[j] = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    int i = dm_hist_process(h, tok);
    if (i < 0)
      return dm_error(DM_ERR_UNKNOWN, "%s: process '%s' is not in channel '%s'", flag, tok,
                      h->channel);
    for (int j = 0; j < h->n_bins; j++)
      out[j] += scale * h->sumw[(size_t)i * row + j + 1];
  }
  return DM_OK;
}

static dm_status spectrum_from_hist(const dm_bumphunt_opts *o, MPI_Comm comm, spectrum *sp,
                                    char *variable)
{
  dm_hist *hs = NULL;
  int n = 0;
  DM_FORWARD(dm_hist_file_read(o->hist, comm, &hs, &n));
  /* The histogram of the given channel and variable; either may be left out
   * when only one histogram fits. */
  const dm_hist *h = NULL;
  dm_status s = DM_OK;
  int fits = 0;
  for (int i = 0; i < n; i++)
    if ((!o->channel || strcmp(hs[i].channel, o->channel) == 0) &&
        (!o->variable || strcmp(hs[i].variable, o->variable) == 0)) {
      h = &hs[i];
      fits++;
    }
  if (fits == 0)
    s = dm_error(DM_ERR_UNKNOWN, "%s has no histogram of channel '%s', variable '%s'", o->hist,
                 o->channel ? o->channel : "(any)", o->variable ? o->variable : "(any)");
  else if (fits > 1)
    s = dm_error(DM_ERR_ARG, "%s has %d histograms%s%s: choose one with --channel and --variable",
                 o->hist, fits, o->channel ? " of channel " : "", o->channel ? o->channel : "");
  if (s == DM_OK)
    snprintf(variable, 64, "%s", h->variable);
  if (s == DM_OK)
    s = spectrum_alloc(sp, h->n_bins);
  if (s == DM_OK)
    s = sum_procs(h, o->observed, "--observed", 1.0, sp->d);
  if (s == DM_OK)
    s = sum_procs(h, o->expected, "--expected", o->expected_scale, sp->b);
  for (int j = 0; s == DM_OK && j < h->n_bins; j++) {
    sp->lo[j] = h->edges[j];
    sp->hi[j] = h->edges[j + 1];
    if (!(sp->b[j] > 0))
      s = dm_error(DM_ERR_NUMERIC, "%s, channel %s: bin %d [%g, %g) has no expected events; "
                   "the scan needs a positive expectation in every bin",
                   o->hist, h->channel, j, sp->lo[j], sp->hi[j]);
  }
  if (s != DM_OK)
    spectrum_free(sp);
  dm_hist_free_set(hs, n);
  return s;
}

/* ---- toys ------------------------------------------------------------------------- */

static void draw(dm_rng *r, const double *b, int n, double *out)
{
  for (int j = 0; j < n; j++)
    out[j] = (double)dm_rng_poisson(r, b[j]);
}

static int cmp_dbl(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

dm_status dm_bumphunt_run(const dm_bumphunt_opts *o, MPI_Comm comm, dm_bumphunt_report *rep)
{
  memset(rep, 0, sizeof *rep);
  double t0 = MPI_Wtime();
  gsl_set_error_handler_off();
  if ((o->spectrum != NULL) == (o->hist != NULL))
    return dm_error(DM_ERR_ARG, "give exactly one of --spectrum and --hist");
  if (o->n_toys < 1)
    return dm_error(DM_ERR_ARG, "--toys must be at least 1");
  spectrum sp = {0};
  dm_status s;
  if (o->spectrum) {
    char *text = NULL;
    size_t len = 0;
    s = dm_text_read_bcast(o->spectrum, "spectrum", (size_t)1 << 30, comm, &text, &len);
    if (s == DM_OK)
      s = parse_csv(o->spectrum, text, len, &sp); /* same text: same verdict everywhere */
    free(text);
  } else {
    s = spectrum_from_hist(o, comm, &sp, rep->variable);
  }
  if (s != DM_OK)
    return s;
  int n = sp.n;
  int wmin = o->width_min > 0 ? o->width_min : 1;
  int wmax = o->width_max > 0 ? o->width_max : (n / 2 > 0 ? n / 2 : 1);
  if (wmax > n)
    wmax = n;
  if (wmin > wmax) {
    spectrum_free(&sp);
    return dm_error(DM_ERR_ARG, "window widths %d..%d do not fit %d bins", wmin, wmax, n);
  }
  rep->n_bins = n;
  dm_bh_window best;
  double t_obs = dm_bh_scan(sp.d, sp.b, n, wmin, wmax, &best, NULL);
  rep->t_obs = t_obs;
  rep->win_first = best.first;
  rep->win_last = best.last;
  rep->win_lo = sp.lo[best.first];
  rep->win_hi = sp.hi[best.last];
  rep->d = best.d;
  rep->b = best.b;
  rep->p_local = exp(best.log_p);
  rep->z_local = dm_bh_z_from_log_p(best.log_p);

  /* Toys: contiguous blocks in rank order, so gathering them gives toy order. */
  int64_t gv_toys = o->gv_toys >= 0 ? o->gv_toys : (o->n_toys < 2000 ? o->n_toys : 2000);
  if (gv_toys > o->n_toys)
    gv_toys = o->n_toys;
  int64_t k0, k1;
  dm_partition(o->n_toys, dm_rank(comm), dm_size(comm), &k0, &k1);
  double *x = malloc((size_t)n * sizeof(double)), *q = malloc((size_t)n * sizeof(double));
  double *tt = malloc((size_t)(k1 - k0 > 0 ? k1 - k0 : 1) * sizeof(double));
  s = x && q && tt ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for toys");
  s = dm_agree(s, comm);
  int64_t cnt[2] = {0, 0}; /* toys with t >= t_obs, upcrossings */
  for (int64_t k = k0; s == DM_OK && k < k1; k++) {
    dm_rng r;
    dm_rng_init(&r, o->seed, (uint64_t)k, 0);
    draw(&r, sp.b, n, x);
    double t = dm_bh_scan(x, sp.b, n, wmin, wmax, NULL, k < gv_toys ? q : NULL);
    tt[k - k0] = t;
    if (t >= t_obs)
      cnt[0]++;
    if (k < gv_toys)
      cnt[1] += dm_bh_upcrossings(q, n, o->gv_level);
  }
  if (s == DM_OK)
    s = dm_allsum_i64_array(cnt, 2, comm);
  if (s == DM_OK) {
    rep->n_toys = o->n_toys;
    rep->n_toys_ge = cnt[0];
    rep->p_toys = (double)cnt[0] / (double)o->n_toys;
    rep->p_toys_err = sqrt(rep->p_toys * (1 - rep->p_toys) / (double)o->n_toys);
    rep->gv_toys = gv_toys;
    rep->gv_level = o->gv_level;
    rep->mean_upcrossings = gv_toys > 0 ? (double)cnt[1] / (double)gv_toys : NAN;
    double c = rep->z_local * rep->z_local;
    rep->p_gv = rep->p_local + rep->mean_upcrossings * exp(-(c - o->gv_level) / 2.0);
    if (rep->p_gv > 1)
      rep->p_gv = 1;
    rep->global_from_gv = cnt[0] < 10 && gv_toys > 0;
    rep->p_global = rep->global_from_gv ? rep->p_gv : rep->p_toys;
    rep->z_global = rep->p_global > 0 ? dm_bh_z_from_log_p(log(rep->p_global)) : INFINITY;
    rep->trials_factor = rep->p_local > 0 ? rep->p_global / rep->p_local : NAN;
  }

  /* Calibration: background-only pseudo-datasets against the same toys. */
  if (s == DM_OK && o->calibrate > 0) {
    double *all = NULL;
    int size = dm_size(comm);
    int *counts = malloc((size_t)size * sizeof(int)), *displs = malloc((size_t)size * sizeof(int));
    if (o->n_toys > INT_MAX)
      s = dm_error(DM_ERR_ARG, "calibration gathers the toys: at most %d", INT_MAX);
    else if (!(all = malloc((size_t)o->n_toys * sizeof(double))) || !counts || !displs)
      s = dm_error(DM_ERR_NOMEM, "no memory for %lld toys", (long long)o->n_toys);
    s = dm_agree(s, comm);
    if (s == DM_OK) {
      int mine = (int)(k1 - k0);
      MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm);
      int off = 0;
      for (int r = 0; r < size; r++) {
        displs[r] = off;
        off += counts[r];
      }
      MPI_Allgatherv(tt, mine, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, comm);
      qsort(all, (size_t)o->n_toys, sizeof(double), cmp_dbl);
      int64_t j0, j1, c2[12] = {0};
      dm_partition(o->calibrate, dm_rank(comm), size, &j0, &j1);
      for (int64_t j = j0; j < j1; j++) {
        dm_rng r;
        dm_rng_init(&r, o->seed, (uint64_t)j, 1);
        draw(&r, sp.b, n, x);
        double t = dm_bh_scan(x, sp.b, n, wmin, wmax, NULL, NULL);
        /* Toys with t' >= t: everything from the first t' >= t on. */
        int64_t lo = 0, hi = o->n_toys;
        while (lo < hi) {
          int64_t mid = lo + (hi - lo) / 2;
          if (all[mid] < t)
            lo = mid + 1;
          else
            hi = mid;
        }
        double p = (double)(o->n_toys - lo) / (double)o->n_toys;
        c2[0] += p < 0.05;
        int dec = (int)(p * 10);
        c2[2 + (dec > 9 ? 9 : dec)]++;
      }
      s = dm_allsum_i64_array(c2, 12, comm);
      rep->calib_n = o->calibrate;
      rep->calib_below = c2[0];
      rep->calib_fraction = (double)c2[0] / (double)o->calibrate;
      rep->calib_fraction_err = sqrt(0.05 * 0.95 / (double)o->calibrate);
      for (int i = 0; i < 10; i++)
        rep->calib_deciles[i] = c2[2 + i];
    }
    free(all);
    free(counts);
    free(displs);
  }
  free(x);
  free(q);
  free(tt);
  /* The report keeps the spectrum (freed by dm_bumphunt_report_free). */
  rep->spec_lo = sp.lo;
  rep->spec_hi = sp.hi;
  rep->spec_obs = sp.d;
  rep->spec_exp = sp.b;
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}

void dm_bumphunt_report_free(dm_bumphunt_report *rep)
{
  if (!rep)
    return;
  free(rep->spec_lo);
  free(rep->spec_hi);
  free(rep->spec_obs);
  free(rep->spec_exp);
  rep->spec_lo = rep->spec_hi = rep->spec_obs = rep->spec_exp = NULL;
}
