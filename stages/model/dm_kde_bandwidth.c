/* Cross-validated KDE bandwidth: k-fold held-out log-likelihood over a
 * log-spaced grid of multiples of Scott's bandwidth, (fold, grid point)
 * items spread over ranks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_kde.h"
#include "dm_rng.h"

typedef struct {
  uint64_t key;
  int64_t i;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
  const keyed *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

dm_status dm_kde_cv(const float *ref, int64_t rs, int64_t cs, const int64_t *row, int64_t n, int d,
                    const dm_kde_opts *o, uint64_t seed, MPI_Comm comm, double *h,
                    double *factor, double *loglik, int *best, int64_t *cv_rows_used)
{
  int K = o->cv_folds, G = o->cv_grid, P = dm_size(comm), r = dm_rank(comm);
  int64_t m = n < o->cv_rows ? n : o->cv_rows;
  dm_status s = m >= 2 * K ? DM_OK
                           : dm_error(DM_ERR_NUMERIC,
                                      "bandwidth cv: %lld rows for %d folds; need at least %d",
                                      (long long)m, K, 2 * K);
  keyed *order = malloc((size_t)n * sizeof *order);
  int *fold = malloc((size_t)(m > 0 ? m : 1) * sizeof *fold);
  int64_t *fcount = calloc((size_t)K, sizeof *fcount);
  double *item = calloc((size_t)K * G, sizeof *item);
  float *q = malloc((size_t)(m > 0 ? m : 1) * d * sizeof *q);
  float *y = malloc((size_t)(m > 0 ? m : 1) * d * sizeof *y);
  double *lp = malloc((size_t)(m > 0 ? m : 1) * sizeof *lp);
  if (s == DM_OK && (!order || !fold || !fcount || !item || !q || !y || !lp))
    s = dm_error(DM_ERR_NOMEM, "no memory for bandwidth cv on %lld rows", (long long)m);
  if (s == DM_OK) {
    /* The cv rows: smallest hashes, then back in store order so the sums
     * below run in a fixed order. */
    for (int64_t i = 0; i < n; i++) {
      order[i].key = dm_rng_hash(seed, (uint64_t)row[i], 2);
      order[i].i = i;
    }
    qsort(order, (size_t)n, sizeof *order, cmp_keyed);
    for (int64_t i = 0; i < m; i++)
      order[i].key = (uint64_t)order[i].i;
    qsort(order, (size_t)m, sizeof *order, cmp_keyed);
    for (int64_t i = 0; i < m; i++) {
      fold[i] = (int)(dm_rng_hash(seed, (uint64_t)row[order[i].i], 3) % (uint64_t)K);
      fcount[fold[i]]++;
    }
    for (int f = 0; f < K; f++)
      if (fcount[f] == 0 || fcount[f] == m)
        s = dm_error(DM_ERR_NUMERIC, "bandwidth cv: fold %d is empty; use fewer folds", f);
  }
  /* Scott's h at the size of a fold's reference set: the grid is relative
   * to it, and the winning factor is carried over to the full n below. */
  double h_cv = dm_kde_scott(m - (m + K - 1) / K, d);
  for (int g = 0; g < G; g++)
    factor[g] = o->cv_lo * pow(o->cv_hi / o->cv_lo, (double)g / (G - 1));
  for (int f = 0; s == DM_OK && f < K; f++) {
    int mine = 0;
    for (int g = 0; g < G; g++)
      mine |= (f * G + g) % P == r;
    if (!mine)
      continue;
    int64_t nq = 0, ny = 0;
    for (int64_t i = 0; i < m; i++) {
      const float *src = ref + order[i].i * rs;
      float *dst = fold[i] == f ? q + nq++ * d : y + ny++ * d;
      for (int c = 0; c < d; c++)
        dst[c] = src[c * cs];
    }
    dm_kde *k = NULL;
    s = dm_kde_new(y, ny, d, h_cv, &k);
    for (int g = 0; s == DM_OK && g < G; g++) {
      if ((f * G + g) % P != r)
        continue;
      dm_kde_set_bandwidth(k, factor[g] * h_cv);
      dm_kde_logpdf(k, q, nq, lp);
      double sum = 0;
      for (int64_t i = 0; i < nq; i++)
        sum += lp[i];
      item[f * G + g] = sum;
    }
    dm_kde_free(k);
  }
  s = dm_agree(s, comm);
  /* Every item was computed by exactly one rank and is zero elsewhere, so
   * the sum over ranks is exact and independent of the rank count. */
  if (s == DM_OK)
    s = dm_allsum_f64_array(item, (int64_t)K * G, comm);
  if (s == DM_OK) {
    int b = 0;
    for (int g = 0; g < G; g++) {
      double tot = 0;
      for (int f = 0; f < K; f++)
        tot += item[f * G + g];
      loglik[g] = tot / (double)m;
      if (!isfinite(loglik[g]))
        s = dm_error(DM_ERR_NUMERIC, "bandwidth cv: non-finite held-out log-likelihood");
      if (loglik[g] > loglik[b])
        b = g;
    }
    *best = b;
    *h = factor[b] * dm_kde_scott(n, d);
    *cv_rows_used = m;
  }
  free(order);
  free(fold);
  free(fcount);
  free(item);
  free(q);
  free(y);
  free(lp);
  return s;
}
