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

typedef struct {
  uint64_t k;
  double w;
} kw_pair;

static int cmp_kw(const void *a, const void *b)
{
  const kw_pair *x = a, *y = b;
  if (x->k != y->k)
    return x->k < y->k ? -1 : 1;
  return x->w < y->w ? -1 : x->w > y->w;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
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
  int ok = set->key != NULL;
  kw_pair *tmp = NULL;
  if (w) {
    set->weight = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof(kw_pair));
    ok = ok && set->weight && tmp;
  }
  dm_status s = ok ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory to sort %lld scores", (long long)n);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    free(tmp);
    dm_osel_free(set);
    return s;
  }
  dm_wsum wsum;
  dm_wsum_zero(&wsum);
  if (w) {
    for (int64_t i = 0; i < n; i++) {
      tmp[i].k = dm_osel_key(v[i]);
      tmp[i].w = w[i];
    }
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_kw);
    for (int64_t i = 0; i < n; i++) {
      set->key[i] = tmp[i].k;
      set->weight[i] = tmp[i].w;
      dm_wsum_add(&wsum, tmp[i].w);
    }
    free(tmp);
  } else {
    for (int64_t i = 0; i < n; i++)
      set->key[i] = dm_osel_key(v[i]);
    qsort(set->key, (size_t)n, sizeof(uint64_t), cmp_u64);
  }
  set->n_total = dm_allsum_i64(n, comm);
  if (w) {
    s = dm_wsum_allreduce(&wsum, 1, comm);
    if (s != DM_OK)
      dm_error_context("weights");
    set->w_total = dm_wsum_value(&wsum);
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
                         dm_wsum *w_gt, dm_wsum *w_ge)
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
        dm_wsum_add(w_ge, set->weight[i]);
      if (w_gt && i >= ub)
        dm_wsum_add(w_gt, set->weight[i]);
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
  dm_wsum *above_w = calloc((size_t)(n_q > 0 ? n_q : 1), sizeof(dm_wsum));
  int *alive = calloc((size_t)(n_q > 0 ? n_q : 1), sizeof(int));
  int64_t *cnt = weighted ? NULL : malloc(cells * sizeof(int64_t));
  dm_wsum *wb = weighted ? malloc(cells * sizeof(dm_wsum)) : NULL;
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
        dm_wsum_zero(&wb[c]);
    } else {
      memset(cnt, 0, cells * sizeof(int64_t));
    }
    for (int q = 0; q < n_q; q++) {
      if (!alive[q])
        continue;
      uint64_t base = prefix[q] & ~low_mask;
      int64_t i0 = lower_bound(set->key, set->n, base);
      for (int b = 0; b < 256; b++) {
        uint64_t lo = base | ((uint64_t)b << shift);
        int64_t i1 = b == 255 ? (base + low_mask == UINT64_MAX
                                     ? set->n
                                     : lower_bound(set->key, set->n, base + low_mask + 1))
                              : lower_bound(set->key, set->n, lo + (UINT64_C(1) << shift));
        if (weighted) {
          for (int64_t i = i0; i < i1; i++)
            dm_wsum_add(&wb[(size_t)q * 256 + b], set->weight[i]);
        } else {
          cnt[(size_t)q * 256 + b] = i1 - i0;
        }
        i0 = i1;
      }
    }
    if (weighted)
      s = dm_wsum_allreduce(wb, (int64_t)cells, comm);
    else
      s = dm_allsum_i64_array(cnt, (int64_t)cells, comm);
    if (s != DM_OK)
      break;
    for (int q = 0; q < n_q; q++) {
      if (!alive[q])
        continue;
      int chosen = -1;
      for (int b = 255; b >= 0; b--) {
        double m_ge;
        if (weighted) {
          dm_wsum t = above_w[q];
          dm_wsum_add_sum(&t, &wb[(size_t)q * 256 + b]);
          m_ge = dm_wsum_value(&t);
          if (m_ge / set->w_total > f[q]) {
            chosen = b;
            res[q].mass_gt = dm_wsum_value(&above_w[q]);
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
