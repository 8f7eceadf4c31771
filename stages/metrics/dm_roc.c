#include "dm_roc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"

typedef struct {
  uint64_t k;
  double w;
} roc_kw;

static int cmp_kw(const void *a, const void *b)
{
  const roc_kw *x = a, *y = b;
  if (x->k != y->k)
    return x->k < y->k ? -1 : 1;
  return x->w < y->w ? -1 : x->w > y->w;
}

/* First index in sorted a[0..n) with key >= k. */
static int64_t lb_kw(const roc_kw *a, int64_t n, uint64_t k)
{
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (a[mid].k < k)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Gather every rank's signal (keys and weights) on every rank, sorted. */
static dm_status gather_signal(const dm_osel_set *sig, MPI_Comm comm, roc_kw **out, int64_t *n_out)
{
  *out = NULL;
  int size = dm_size(comm);
  if (sig->n_total > INT_MAX / 2)
    return dm_error(DM_ERR_ARG, "%lld signal events: the AUC gathers the signal on every rank "
                    "and supports at most %d", (long long)sig->n_total, INT_MAX / 2);
  int mine = (int)sig->n;
  int *counts = malloc((size_t)size * sizeof(int)), *displs = malloc((size_t)size * sizeof(int));
  uint64_t *keys = malloc((size_t)(sig->n_total > 0 ? sig->n_total : 1) * sizeof(uint64_t));
  double *w = malloc((size_t)(sig->n_total > 0 ? sig->n_total : 1) * sizeof(double));
  roc_kw *all = malloc((size_t)(sig->n_total > 0 ? sig->n_total : 1) * sizeof(roc_kw));
  dm_status s = counts && displs && keys && w && all
                    ? DM_OK
                    : dm_error(DM_ERR_NOMEM, "no memory to gather %lld signal scores",
                               (long long)sig->n_total);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm);
    int off = 0;
    for (int r = 0; r < size; r++) {
      displs[r] = off;
      off += counts[r];
    }
    MPI_Allgatherv(sig->key, mine, MPI_UINT64_T, keys, counts, displs, MPI_UINT64_T, comm);
    if (sig->weight)
      MPI_Allgatherv(sig->weight, mine, MPI_DOUBLE, w, counts, displs, MPI_DOUBLE, comm);
    for (int64_t i = 0; i < sig->n_total; i++) {
      all[i].k = keys[i];
      all[i].w = sig->weight ? w[i] : 1.0;
    }
    /* Sorting by (key, weight) makes the order, and so every later float
     * operation, independent of which rank held which event. */
    qsort(all, (size_t)sig->n_total, sizeof *all, cmp_kw);
  }
  free(counts);
  free(displs);
  free(keys);
  free(w);
  if (s != DM_OK) {
    free(all);
    return s;
  }
  *out = all;
  *n_out = sig->n_total;
  return DM_OK;
}

static dm_status compute_auc(const dm_osel_set *bkg, const dm_osel_set *sig, MPI_Comm comm,
                             double *auc)
{
  roc_kw *s_all = NULL;
  int64_t ns = 0;
  DM_FORWARD(gather_signal(sig, comm, &s_all, &ns));
  dm_status s = DM_OK;
  if (!bkg->weight) {
    int64_t cnt[2] = {0, 0}; /* pairs with s > b, pairs with s == b */
    for (int64_t i = 0; i < bkg->n; i++) {
      uint64_t k = bkg->key[i];
      int64_t lb = lb_kw(s_all, ns, k);
      int64_t ub = k == UINT64_MAX ? ns : lb_kw(s_all, ns, k + 1);
      cnt[0] += ns - ub;
      cnt[1] += ub - lb;
    }
    s = dm_allsum_i64_array(cnt, 2, comm);
    *auc = ((double)cnt[0] + 0.5 * (double)cnt[1]) / ((double)ns * (double)bkg->n_total);
  } else {
    /* Suffix sums of signal weight in sorted order: identical on every rank. */
    double *suf = malloc((size_t)(ns + 1) * sizeof(double));
    s = suf ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for the weighted AUC");
    s = dm_agree(s, comm);
    if (s == DM_OK) {
      suf[ns] = 0.0;
      for (int64_t i = ns - 1; i >= 0; i--)
        suf[i] = suf[i + 1] + s_all[i].w;
      dm_xsum acc;
      dm_xsum_clear(&acc);
      for (int64_t i = 0; i < bkg->n; i++) {
        uint64_t k = bkg->key[i];
        int64_t lb = lb_kw(s_all, ns, k);
        int64_t ub = k == UINT64_MAX ? ns : lb_kw(s_all, ns, k + 1);
        dm_xsum_add(&acc, bkg->weight[i] * (suf[ub] + 0.5 * (suf[lb] - suf[ub])));
      }
      s = dm_xsum_allreduce(&acc, 1, comm);
      if (s == DM_OK)
        s = dm_xsum_check(&acc, 1, "weighted AUC sum");
      *auc = dm_xsum_value(&acc) / (suf[0] * bkg->w_total);
    }
    free(suf);
  }
  free(s_all);
  return s;
}

dm_status dm_roc_compute(const dm_osel_set *bkg, const dm_osel_set *sig, const double *eps_b,
                         int n_eps, MPI_Comm comm, double *auc, double *eps_s)
{
  if (bkg->n_total == 0 || !(bkg->w_total > 0))
    return dm_error(DM_ERR_NUMERIC, "the background is empty (or has no positive weight)");
  if (sig->n_total == 0 || !(sig->w_total > 0))
    return dm_error(DM_ERR_NUMERIC, "the signal is empty (or has no positive weight)");
  dm_osel_result res[8];
  if (n_eps > 8)
    return dm_error(DM_ERR_INTERNAL, "at most 8 working points");
  DM_FORWARD(dm_osel_upper(bkg, eps_b, n_eps, comm, res));
  for (int q = 0; q < n_eps; q++) {
    if (!res[q].found) {
      eps_s[q] = 1.0; /* beyond the last ROC point numpy returns its value */
      continue;
    }
    double s_gt, s_ge;
    if (sig->weight) {
      dm_xsum a[2];
      dm_xsum_clear(&a[0]);
      dm_xsum_clear(&a[1]);
      dm_osel_local_above(sig, res[q].key, NULL, NULL, &a[0], &a[1]);
      DM_FORWARD(dm_xsum_allreduce(a, 2, comm));
      DM_FORWARD(dm_xsum_check(a, 2, "signal weight above a working point"));
      s_gt = dm_xsum_value(&a[0]);
      s_ge = dm_xsum_value(&a[1]);
    } else {
      int64_t c[2] = {0, 0};
      dm_osel_local_above(sig, res[q].key, &c[0], &c[1], NULL, NULL);
      DM_FORWARD(dm_allsum_i64_array(c, 2, comm));
      s_gt = (double)c[0];
      s_ge = (double)c[1];
    }
    /* The same arithmetic as numpy.interp on (fpr, tpr). */
    double x0 = res[q].mass_gt / bkg->w_total, x1 = res[q].mass_ge / bkg->w_total;
    double y0 = s_gt / sig->w_total, y1 = s_ge / sig->w_total;
    if (eps_b[q] == x0)
      eps_s[q] = y0;
    else
      eps_s[q] = (y1 - y0) / (x1 - x0) * (eps_b[q] - x0) + y0;
  }
  return compute_auc(bkg, sig, comm, auc);
}
