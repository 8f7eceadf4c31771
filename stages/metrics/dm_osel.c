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
 * byte is the same for every key are skipped (all but one or two for keys
 * from a narrow range of scores). Stable, so equal keys keep their input
 * order (which does not matter: their weights are summed exactly). */
void dm_osel_sort(uint64_t *k, double *w, int64_t n, uint64_t *k2, double *w2)
{
  if (n < 2)
    return;
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
}

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
  dm_osel_sort(k, w, n, k2, w2);
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

int64_t dm_osel_lower_bound(const uint64_t *a, int64_t n, uint64_t k)
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
  int64_t lb = dm_osel_lower_bound(set->key, set->n, k);
  int64_t ub = k == UINT64_MAX ? set->n : dm_osel_lower_bound(set->key, set->n, k + 1);
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

/* The radix descent behind every query. For each of n_q queries: the largest
 * key v of the union of the n_sets sets whose mass at or above v passes the
 * query's test, mass / w_total > f[q] (f given) or count >= need[q] (need
 * given; counts, weights ignored). Each round counts the union's mass in 256
 * buckets below every query's prefix found so far and reduces the counts of
 * the distinct prefixes only: queries given in monotone order that still
 * share a prefix (all of them in the first round) share one set of buckets,
 * so a round reduces 256 cells per distinct prefix. */
static dm_status descend(const dm_osel_set *sets, int n_sets, int weighted, double w_total,
                         int64_t above0_n, const dm_xsum *above0_w, const double *f,
                         const int64_t *need, int n_q, MPI_Comm comm, dm_osel_result *res)
{
  size_t nq1 = (size_t)(n_q > 0 ? n_q : 1), cells = nq1 * 256;
  uint64_t *prefix = calloc(nq1, sizeof(uint64_t));
  int64_t *above_n = calloc(nq1, sizeof(int64_t));
  dm_xsum *above_w = calloc(nq1, sizeof(dm_xsum));
  int *alive = calloc(nq1, sizeof(int)), *slot = calloc(nq1, sizeof(int));
  int64_t *cnt = weighted ? NULL : malloc(cells * sizeof(int64_t));
  dm_xsum *wb = weighted ? malloc(cells * sizeof(dm_xsum)) : NULL;
  int ok = prefix && above_n && above_w && alive && slot && (weighted ? wb != NULL : cnt != NULL);
  dm_status s = ok ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for %d quantiles", n_q);
  s = dm_agree(s, comm);
  int64_t n_total = 0;
  for (int k = 0; k < n_sets; k++)
    n_total += sets[k].n_total;
  for (int q = 0; s == DM_OK && q < n_q; q++) {
    memset(&res[q], 0, sizeof res[q]);
    alive[q] = n_total > 0 && (need || w_total > 0);
    /* The mass above everything the sets hold (0 for a whole sample). */
    above_n[q] = above0_n;
    if (above0_w)
      above_w[q] = *above0_w;
  }
  for (int round = 0; s == DM_OK && round < 8; round++) {
    int shift = 56 - 8 * round;
    uint64_t low_mask = shift + 8 >= 64 ? UINT64_MAX : ((UINT64_C(1) << (shift + 8)) - 1);
    int n_slots = 0, last = -1;
    for (int q = 0; q < n_q; q++) {
      if (!alive[q])
        continue;
      uint64_t base = prefix[q] & ~low_mask;
      if (last >= 0 && (prefix[last] & ~low_mask) == base) {
        slot[q] = slot[last];
        last = q;
        continue;
      }
      last = q;
      int u = slot[q] = n_slots++;
      if (weighted) {
        for (int b = 0; b < 256; b++)
          dm_xsum_clear(&wb[(size_t)u * 256 + b]);
      } else {
        memset(&cnt[(size_t)u * 256], 0, 256 * sizeof(int64_t));
      }
      for (int k = 0; k < n_sets; k++) {
        const dm_osel_set *set = &sets[k];
        int64_t i0 = dm_osel_lower_bound(set->key, set->n, base);
        for (int b = 0; b < 256; b++) {
          uint64_t lo = base | ((uint64_t)b << shift);
          int64_t i1 = b == 255 ? (base + low_mask == UINT64_MAX
                                       ? set->n
                                       : dm_osel_lower_bound(set->key, set->n, base + low_mask + 1))
                                : dm_osel_lower_bound(set->key, set->n, lo + (UINT64_C(1) << shift));
          if (weighted) {
            for (int64_t i = i0; i < i1; i++)
              dm_xsum_add(&wb[(size_t)u * 256 + b], set->weight[i]);
          } else {
            cnt[(size_t)u * 256 + b] += i1 - i0;
          }
          i0 = i1;
        }
      }
    }
    if (n_slots == 0)
      break; /* no query left: the same on every rank */
    if (weighted) {
      s = dm_xsum_allreduce(wb, (int64_t)n_slots * 256, comm);
      if (s == DM_OK)
        s = dm_xsum_check(wb, (int64_t)n_slots * 256, "weights above a quantile");
    } else {
      s = dm_allsum_i64_array(cnt, (int64_t)n_slots * 256, comm);
    }
    if (s != DM_OK)
      break;
    for (int q = 0; q < n_q; q++) {
      if (!alive[q])
        continue;
      size_t c0 = (size_t)slot[q] * 256;
      int chosen = -1;
      for (int b = 255; b >= 0; b--) {
        if (weighted) {
          dm_xsum t = above_w[q];
          dm_xsum_merge(&t, &wb[c0 + b]);
          double m_ge = dm_xsum_value(&t);
          if (m_ge / w_total > f[q]) {
            chosen = b;
            res[q].mass_gt = dm_xsum_value(&above_w[q]);
            res[q].mass_ge = m_ge;
            break;
          }
          above_w[q] = t;
        } else {
          int64_t t = above_n[q] + cnt[c0 + b];
          if (need ? t >= need[q] : (double)t / w_total > f[q]) {
            chosen = b;
            res[q].mass_gt = (double)above_n[q];
            res[q].mass_ge = (double)t;
            break;
          }
          above_n[q] = t;
        }
      }
      if (chosen < 0) {
        alive[q] = 0; /* f >= 1 (or need > n_total): no value qualifies */
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
  free(slot);
  free(cnt);
  free(wb);
  return s;
}

dm_status dm_osel_upper(const dm_osel_set *set, const double *f, int n_q, MPI_Comm comm,
                        dm_osel_result *res)
{
  return descend(set, 1, set->weight != NULL, set->w_total, 0, NULL, f, NULL, n_q, comm, res);
}

dm_status dm_osel_upper_part(const dm_osel_set *part, double w_total, int64_t above_n,
                             const dm_xsum *above_w, const double *f, int n_q, MPI_Comm comm,
                             dm_osel_result *res)
{
  return descend(part, 1, part->weight != NULL, w_total, above_n, part->weight ? above_w : NULL,
                 f, NULL, n_q, comm, res);
}

dm_status dm_osel_at_positions(const dm_osel_set *sets, int n_sets, const int64_t *pos, int n_q,
                               MPI_Comm comm, uint64_t *key, int64_t *n_below)
{
  int64_t n_total = 0;
  for (int k = 0; k < n_sets; k++)
    n_total += sets[k].n_total;
  for (int q = 0; q < n_q; q++)
    if (pos[q] < 0 || pos[q] >= n_total)
      return dm_error(DM_ERR_INTERNAL, "position %lld of a union of %lld entries",
                      (long long)pos[q], (long long)n_total);
  size_t nq1 = (size_t)(n_q > 0 ? n_q : 1);
  int64_t *need = malloc(nq1 * sizeof *need);
  dm_osel_result *res = malloc(nq1 * sizeof *res);
  dm_status s = need && res ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for %d splitters", n_q);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    /* The entry at ascending position p is the largest key with at least
     * n_total - p entries at or above it. */
    for (int q = 0; q < n_q; q++)
      need[q] = n_total - pos[q];
    s = descend(sets, n_sets, 0, (double)n_total, 0, NULL, NULL, need, n_q, comm, res);
  }
  for (int q = 0; s == DM_OK && q < n_q; q++) {
    key[q] = res[q].key;
    n_below[q] = n_total - (int64_t)res[q].mass_ge;
  }
  free(need);
  free(res);
  return s;
}
