#include "dm_osel.h"

#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"

uint64_t dm_osel_key(double v)
{
  v += 0.0; /* -0 becomes +0: equal scores are ties */
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return (b >> 63) ? ~b : (b | (UINT64_C(1) << 63));
}

double dm_osel_value(uint64_t key)
{
  uint64_t b = (key >> 63) ? (key & ~(UINT64_C(1) << 63)) : ~key;
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

/* LSD radix sort of keys (and their weights) in 8 passes of 8 bits: linear
 * time, several times faster than qsort on millions of scores. Passes whose
 * byte is the same for every key are skipped. Stable, so equal keys keep
 * their input order (which does not matter: their weights are summed
 * exactly). */
static int radix_sort(uint64_t *k, double *w, int64_t n)
{
  if (n < 2)
    return 1;
  uint64_t *k2 = malloc((size_t)n * sizeof(uint64_t));
  double *w2 = w ? malloc((size_t)n * sizeof(double)) : NULL;
  if (!k2 || (w && !w2)) {
    free(k2);
    free(w2);
    return 0;
  }
  uint64_t *src = k, *dst = k2;
  double *wsrc = w, *wdst = w2;
  for (int pass = 0; pass < 8; pass++) {
    int sh = 8 * pass;
    int64_t cnt[256] = {0};
    for (int64_t i = 0; i < n; i++)
      cnt[(src[i] >> sh) & 255]++;
    if (cnt[(src[0] >> sh) & 255] == n)
      continue;
    int64_t off = 0;
    for (int b = 0; b < 256; b++) {
      int64_t c = cnt[b];
      cnt[b] = off;
      off += c;
    }
    for (int64_t i = 0; i < n; i++) {
      int64_t j = cnt[(src[i] >> sh) & 255]++;
      dst[j] = src[i];
      if (w)
        wdst[j] = wsrc[i];
    }
    uint64_t *t = src;
    src = dst;
    dst = t;
    double *tw = wsrc;
    wsrc = wdst;
    wdst = tw;
  }
  if (src != k) {
    memcpy(k, src, (size_t)n * sizeof(uint64_t));
    if (w)
      memcpy(w, wsrc, (size_t)n * sizeof(double));
  }
  free(k2);
  free(w2);
  return 1;
}

void dm_osel_free(dm_osel_set *set)
{
  if (!set)
    return;
  free(set->key);
  free(set->weight);
  memset(set, 0, sizeof *set);
}

dm_status dm_osel_build(dm_osel_set *set, const double *v, const double *w, int64_t n,
                        MPI_Comm comm)
{
  memset(set, 0, sizeof *set);
  set->n = n;
  set->key = malloc((size_t)(n > 0 ? n : 1) * sizeof(uint64_t));
  if (w)
    set->weight = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
  int ok = set->key != NULL && (!w || set->weight != NULL);
  if (ok) {
    for (int64_t i = 0; i < n; i++)
      set->key[i] = dm_osel_key(v[i]);
    if (w)
      memcpy(set->weight, w, (size_t)n * sizeof(double));
    ok = radix_sort(set->key, set->weight, n);
  }
  dm_status s = ok ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory to sort %lld scores", (long long)n);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    dm_osel_free(set);
    return s;
  }
  dm_xsum wsum;
  dm_xsum_clear(&wsum);
  for (int64_t i = 0; w && i < n; i++)
    dm_xsum_add(&wsum, set->weight[i]);
  set->n_total = dm_allsum_i64(n, comm);
  if (w) {
    s = dm_xsum_allreduce(&wsum, 1, comm);
    if (s == DM_OK)
      s = dm_xsum_check(&wsum, 1, "the total weight");
    if (s != DM_OK)
      dm_error_context("weights");
    set->w_total = dm_xsum_value(&wsum);
  } else {
    set->w_total = (double)set->n_total;
  }
  if (s != DM_OK)
    dm_osel_free(set);
  return s;
}

/* First index with key >= k. */
static int64_t lower_bound(const uint64_t *a, int64_t n, uint64_t k)
{
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (a[mid] < k)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void dm_osel_local_above(const dm_osel_set *set, uint64_t k, int64_t *n_gt, int64_t *n_ge,
                         dm_xsum *w_gt, dm_xsum *w_ge)
{
  int64_t lb = lower_bound(set->key, set->n, k);
  int64_t ub = k == UINT64_MAX ? set->n : lower_bound(set->key, set->n, k + 1);
  if (n_gt)
    *n_gt += set->n - ub;
  if (n_ge)
    *n_ge += set->n - lb;
  if (set->weight) {
    for (int64_t i = lb; i < set->n; i++) {
      if (w_ge)
        dm_xsum_add(w_ge, set->weight[i]);
      if (w_gt && i >= ub)
        dm_xsum_add(w_gt, set->weight[i]);
    }
  }
}

dm_status dm_osel_upper(const dm_osel_set *set, const double *f, int n_q, MPI_Comm comm,
                        dm_osel_result *res)
{
  const int weighted = set->weight != NULL;
  size_t cells = (size_t)(n_q > 0 ? n_q : 1) * 256;
  uint64_t *prefix = calloc((size_t)(n_q > 0 ? n_q : 1), sizeof(uint64_t));
  int64_t *above_n = calloc((size_t)(n_q > 0 ? n_q : 1), sizeof(int64_t));
  dm_xsum *above_w = calloc((size_t)(n_q > 0 ? n_q : 1), sizeof(dm_xsum));
  int *alive = calloc((size_t)(n_q > 0 ? n_q : 1), sizeof(int));
  int64_t *cnt = weighted ? NULL : malloc(cells * sizeof(int64_t));
  dm_xsum *wb = weighted ? malloc(cells * sizeof(dm_xsum)) : NULL;
  int ok = prefix && above_n && above_w && alive && (weighted ? wb != NULL : cnt != NULL);
  dm_status s = ok ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for %d quantiles", n_q);
  s = dm_agree(s, comm);
  for (int q = 0; s == DM_OK && q < n_q; q++) {
    memset(&res[q], 0, sizeof res[q]);
    alive[q] = set->n_total > 0 && set->w_total > 0;
  }
  for (int round = 0; s == DM_OK && round < 8; round++) {
    int shift = 56 - 8 * round;
    uint64_t low_mask = shift + 8 >= 64 ? UINT64_MAX : ((UINT64_C(1) << (shift + 8)) - 1);
    if (weighted) {
      for (size_t c = 0; c < cells; c++)
        dm_xsum_clear(&wb[c]);
    } else {
      memset(cnt, 0, cells * sizeof(int64_t));
    }
    for (int q = 0; q < n_q; q++) {
      if (!alive[q])
        continue;
      uint64_t base = prefix[q] & ~low_mask;
      /* Queries still in the same range share the bucket masses (always so
       * in the first round): count once. */
      int twin = -1;
      for (int p = 0; p < q && twin < 0; p++)
        if (alive[p] && (prefix[p] & ~low_mask) == base)
          twin = p;
      if (twin >= 0) {
        if (weighted)
          memcpy(&wb[(size_t)q * 256], &wb[(size_t)twin * 256], 256 * sizeof(dm_xsum));
        else
          memcpy(&cnt[(size_t)q * 256], &cnt[(size_t)twin * 256], 256 * sizeof(int64_t));
        continue;
      }
      int64_t i0 = lower_bound(set->key, set->n, base);
      for (int b = 0; b < 256; b++) {
        uint64_t lo = base | ((uint64_t)b << shift);
        int64_t i1 = b == 255 ? (base + low_mask == UINT64_MAX
                                     ? set->n
                                     : lower_bound(set->key, set->n, base + low_mask + 1))
                              : lower_bound(set->key, set->n, lo + (UINT64_C(1) << shift));
        if (weighted) {
          for (int64_t i = i0; i < i1; i++)
            dm_xsum_add(&wb[(size_t)q * 256 + b], set->weight[i]);
        } else {
          cnt[(size_t)q * 256 + b] = i1 - i0;
        }
        i0 = i1;
      }
    }
    if (weighted) {
      s = dm_xsum_allreduce(wb, (int64_t)cells, comm);
      if (s == DM_OK)
        s = dm_xsum_check(wb, (int64_t)cells, "weights above a quantile");
    } else {
      s = dm_allsum_i64_array(cnt, (int64_t)cells, comm);
    }
    if (s != DM_OK)
      break;
    for (int q = 0; q < n_q; q++) {
      if (!alive[q])
        continue;
      int chosen = -1;
      for (int b = 255; b >= 0; b--) {
        double m_ge;
        if (weighted) {
          dm_xsum t = above_w[q];
          dm_xsum_merge(&t, &wb[(size_t)q * 256 + b]);
          m_ge = dm_xsum_value(&t);
          if (m_ge / set->w_total > f[q]) {
            chosen = b;
            res[q].mass_gt = dm_xsum_value(&above_w[q]);
            res[q].mass_ge = m_ge;
            break;
          }
          above_w[q] = t;
        } else {
          int64_t t = above_n[q] + cnt[(size_t)q * 256 + b];
          m_ge = (double)t;
          if (m_ge / set->w_total > f[q]) {
            chosen = b;
            res[q].mass_gt = (double)above_n[q];
            res[q].mass_ge = m_ge;
            break;
          }
          above_n[q] = t;
        }
      }
      if (chosen < 0) {
        alive[q] = 0; /* f >= 1: no value qualifies */
        continue;
      }
      prefix[q] = (prefix[q] & ~low_mask) | ((uint64_t)chosen << shift);
      if (round == 7) {
        res[q].key = prefix[q];
        res[q].value = dm_osel_value(prefix[q]);
        res[q].found = 1;
      }
    }
  }
  free(prefix);
  free(above_n);
  free(above_w);
  free(alive);
  free(cnt);
  free(wb);
  return s;
}
