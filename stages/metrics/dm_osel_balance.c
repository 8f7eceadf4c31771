/* Spreading distributed sorted sets evenly over the ranks in key order
 * (dm_osel_balance in dm_osel.h). */
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_exchange.h"
#include "dm_osel.h"

/* Sort k[0..n) (and w, may be NULL) made of n_runs sorted runs starting at
 * start[0] = 0 < ... : merge neighbouring runs pairwise, ceil(log2 n_runs)
 * linear passes (one for two ranks), where a radix sort would take up to
 * eight. Returns 0 when out of memory. */
static int merge_runs(uint64_t *k, double *w, int64_t n, const int64_t *start, int n_runs)
{
  int64_t *b = malloc((size_t)(n_runs + 1) * sizeof *b);
  uint64_t *k2 = malloc((size_t)(n > 0 ? n : 1) * sizeof *k2);
  double *w2 = w ? malloc((size_t)(n > 0 ? n : 1) * sizeof *w2) : NULL;
  if (!b || !k2 || (w && !w2)) {
    free(b);
    free(k2);
    free(w2);
    return 0;
  }
  /* Empty runs dropped: b[0..m] are the bounds of m non-empty runs. */
  int m = 0;
  b[0] = 0;
  for (int r = 0; r < n_runs; r++) {
    int64_t end = r + 1 < n_runs ? start[r + 1] : n;
    if (end > b[m])
      b[++m] = end;
  }
  uint64_t *ks = k, *kd = k2;
  double *ws = w, *wd = w2;
  while (m > 1) {
    int out = 0;
    /* Runs r and r + 1 into one (a last odd run is copied); the bounds are
     * rewritten in place, behind the ones still to be read. */
    for (int r = 0; r < m; r += 2) {
      int64_t i = b[r], mid = b[r + 1], e = r + 2 <= m ? b[r + 2] : mid;
      int64_t j = mid, o = i;
      while (i < mid && j < e) {
        int take_j = ks[j] < ks[i]; /* equal keys: the earlier run first */
        int64_t from = take_j ? j++ : i++;
        kd[o] = ks[from];
        if (w)
          wd[o] = ws[from];
        o++;
      }
      for (; i < mid; i++, o++) {
        kd[o] = ks[i];
        if (w)
          wd[o] = ws[i];
      }
      for (; j < e; j++, o++) {
        kd[o] = ks[j];
        if (w)
          wd[o] = ws[j];
      }
      b[++out] = e;
    }
    m = out;
    uint64_t *tk = ks;
    ks = kd;
    kd = tk;
    double *tw = ws;
    ws = wd;
    wd = tw;
  }
  if (ks != k) {
    memcpy(k, ks, (size_t)n * sizeof *k);
    if (w)
      memcpy(w, ws, (size_t)n * sizeof *w);
  }
  free(b);
  free(k2);
  free(w2);
  return 1;
}

/* Where this rank's entries go: cut[k * (P + 1) + r] = how many of set k's
 * local entries belong to ranks below r (0 for r = 0, n for r = P). */
static dm_status cuts(const dm_osel_set *in, int n_sets, MPI_Comm comm, int64_t *cut)
{
  int size = dm_size(comm);
  int64_t n_total = 0;
  for (int k = 0; k < n_sets; k++)
    n_total += in[k].n_total;
  /* Rank r starts at union position b_r; ranks whose share is empty at the
   * end start at n_total and need no splitter. */
  int nq = 0;
  size_t ns = (size_t)size * n_sets;
  int64_t *pos = malloc((size_t)size * sizeof *pos), *below = malloc((size_t)size * sizeof *below);
  int64_t *eq = malloc(ns * sizeof *eq), *lt = malloc(ns * sizeof *lt);
  int64_t *run = malloc((size_t)size * sizeof *run), *ahead = calloc((size_t)size, sizeof *ahead);
  uint64_t *key = malloc((size_t)size * sizeof *key);
  dm_status s = pos && below && eq && lt && run && ahead && key
                    ? DM_OK
                    : dm_error(DM_ERR_NOMEM, "no memory for %d splitters", size);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    for (int r = 1; r < size; r++) {
      int64_t b, e;
      dm_partition(n_total, r, size, &b, &e);
      if (b < n_total)
        pos[nq++] = b;
    }
    s = dm_osel_at_positions(in, n_sets, pos, nq, comm, key, below);
  }
  if (s == DM_OK) {
    /* Equal keys are ordered by source rank, then set, then local order:
     * ahead[q] = entries equal to splitter q on the ranks below this one. */
    for (int q = 0; q < nq; q++) {
      run[q] = 0;
      for (int k = 0; k < n_sets; k++) {
        int64_t a = dm_osel_lower_bound(in[k].key, in[k].n, key[q]);
        int64_t z = key[q] == UINT64_MAX ? in[k].n : dm_osel_lower_bound(in[k].key, in[k].n, key[q] + 1);
        lt[(size_t)k * size + q] = a;
        eq[(size_t)k * size + q] = z - a;
        run[q] += z - a;
      }
    }
    if (nq > 0 && MPI_Exscan(run, ahead, nq, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
      s = dm_error(DM_ERR_MPI, "MPI_Exscan of %d splitter counts failed", nq);
    if (dm_rank(comm) == 0)
      memset(ahead, 0, (size_t)size * sizeof *ahead); /* MPI leaves rank 0's undefined */
    s = dm_agree(s, comm);
  }
  for (int k = 0; s == DM_OK && k < n_sets; k++) {
    int64_t *c = cut + (size_t)k * (size + 1);
    c[0] = 0;
    c[size] = in[k].n;
    for (int r = 1; r < size; r++)
      c[r] = in[k].n;
  }
  for (int q = 0; s == DM_OK && q < nq; q++) {
    /* Of the entries equal to the splitter, the first pos - below (over all
     * ranks, in the order above) go below rank q + 1. */
    int64_t t = pos[q] - below[q] - ahead[q];
    if (t < 0)
      t = 0;
    for (int k = 0; k < n_sets; k++) {
      int64_t e = eq[(size_t)k * size + q], take = t < e ? t : e;
      cut[(size_t)k * (size + 1) + q + 1] = lt[(size_t)k * size + q] + take;
      t -= take;
    }
  }
  free(pos);
  free(below);
  free(eq);
  free(lt);
  free(run);
  free(ahead);
  free(key);
  return s;
}

dm_status dm_osel_balance(const dm_osel_set *in, int n_sets, MPI_Comm comm, dm_osel_set *out)
{
  if (n_sets < 1)
    return dm_error(DM_ERR_INTERNAL, "dm_osel_balance of %d sets", n_sets);
  memset(out, 0, (size_t)n_sets * sizeof *out);
  const int weighted = in[0].weight != NULL;
  for (int k = 1; k < n_sets; k++)
    if ((in[k].weight != NULL) != weighted)
      return dm_error(DM_ERR_INTERNAL, "dm_osel_balance: weighted and unweighted sets");
  int size = dm_size(comm), rank = dm_rank(comm);
  size_t per = (size_t)n_sets * (size + 1);
  int64_t *cut = malloc(per * sizeof *cut);
  /* Per set: send counts, send displacements, receive counts, receive
   * displacements, P each; packed counts for the MPI_Alltoall. */
  int64_t *cnt = malloc((size_t)n_sets * 4 * size * sizeof *cnt);
  int64_t *sp = malloc((size_t)n_sets * size * sizeof *sp);
  int64_t *rp = malloc((size_t)n_sets * size * sizeof *rp);
  dm_exchange_array *a = malloc((size_t)n_sets * 2 * sizeof *a);
  dm_status s = cut && cnt && sp && rp && a
                    ? DM_OK
                    : dm_error(DM_ERR_NOMEM, "no memory to spread %d sets", n_sets);
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = cuts(in, n_sets, comm, cut);
  if (s == DM_OK) {
    for (int k = 0; k < n_sets; k++)
      for (int r = 0; r < size; r++) {
        int64_t *c = cut + (size_t)k * (size + 1);
        cnt[((size_t)k * 4 + 0) * size + r] = c[r + 1] - c[r];
        cnt[((size_t)k * 4 + 1) * size + r] = c[r];
        sp[(size_t)r * n_sets + k] = c[r + 1] - c[r];
      }
    if (MPI_Alltoall(sp, n_sets, MPI_INT64_T, rp, n_sets, MPI_INT64_T, comm) != MPI_SUCCESS)
      s = dm_error(DM_ERR_MPI, "MPI_Alltoall of %d counts failed", n_sets);
    s = dm_agree(s, comm);
  }
  int64_t got = 0;
  for (int k = 0; s == DM_OK && k < n_sets; k++) {
    int64_t off = 0;
    for (int r = 0; r < size; r++) {
      cnt[((size_t)k * 4 + 2) * size + r] = rp[(size_t)r * n_sets + k];
      cnt[((size_t)k * 4 + 3) * size + r] = off;
      off += rp[(size_t)r * n_sets + k];
    }
    out[k].n = off;
    out[k].n_total = in[k].n_total;
    out[k].w_total = in[k].w_total;
    out[k].key = malloc((size_t)(off > 0 ? off : 1) * sizeof(uint64_t));
    out[k].weight = weighted ? malloc((size_t)(off > 0 ? off : 1) * sizeof(double)) : NULL;
    if (!out[k].key || (weighted && !out[k].weight))
      s = dm_error(DM_ERR_NOMEM, "no memory for %lld scores", (long long)off);
    got += off;
  }
  if (s == DM_OK) {
    int64_t n_total = 0, b, e;
    for (int k = 0; k < n_sets; k++)
      n_total += in[k].n_total;
    dm_partition(n_total, rank, size, &b, &e);
    if (got != e - b)
      s = dm_error(DM_ERR_INTERNAL, "rank %d received %lld entries instead of %lld", rank,
                   (long long)got, (long long)(e - b));
  }
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    int n_arr = 0;
    for (int k = 0; k < n_sets; k++) {
      const int64_t *c = cnt + (size_t)k * 4 * size;
      a[n_arr++] = (dm_exchange_array){in[k].key, out[k].key, sizeof(uint64_t), c, c + size,
                                       c + 2 * size, c + 3 * size};
      if (weighted)
        a[n_arr++] = (dm_exchange_array){in[k].weight, out[k].weight, sizeof(double), c,
                                         c + size, c + 2 * size, c + 3 * size};
    }
    /* dm_exchange takes up to 8 arrays a call. */
    for (int a0 = 0; s == DM_OK && a0 < n_arr; a0 += 8)
      s = dm_exchange(a + a0, n_arr - a0 < 8 ? n_arr - a0 : 8, DM_EXCHANGE_ROUND_BYTES, comm);
  }
  /* Each source's part is sorted: merge them. */
  dm_status l = DM_OK;
  for (int k = 0; s == DM_OK && k < n_sets && l == DM_OK; k++)
    if (!merge_runs(out[k].key, out[k].weight, out[k].n, cnt + ((size_t)k * 4 + 3) * size, size))
      l = dm_error(DM_ERR_NOMEM, "no memory to sort %lld scores", (long long)out[k].n);
  if (s == DM_OK)
    s = dm_agree(l, comm);
  free(cut);
  free(cnt);
  free(sp);
  free(rp);
  free(a);
  if (s != DM_OK)
    for (int k = 0; k < n_sets; k++)
      dm_osel_free(&out[k]);
  return s;
}
