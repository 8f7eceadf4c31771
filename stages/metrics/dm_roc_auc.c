/* The AUC of a signal against a background spread over ranks, without
 * gathering either (dm_roc_auc in dm_roc.h).
 *
 * AUC * W_s * W_b = sum over signal entries s of w_s (B_<(k_s) + B_=(k_s) / 2),
 * with B_<(k) and B_=(k) the background mass below and at key k. After
 * dm_osel_balance every rank holds a slice of the sorted union of both sets,
 * so B_<(k) is the mass of the ranks below plus a running sum over the
 * rank's own slice. Only a run of equal keys at either end of a slice may
 * continue on other ranks; one exchange of each rank's end keys and the
 * background mass at them (the "edges") settles those.
 *
 * Rank-count independence: unweighted, every quantity is an integer count.
 * Weighted, B_< and B_= are exact sums (dm_xsum) rounded once, so each is
 * the same double whichever rank evaluates it and however the sum was split;
 * each signal entry then adds the same product w_s (B_< + B_= / 2) exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_roc.h"

/* One rank's slice as the others need it. */
typedef struct {
  int64_t has;     /* 1 if the slice holds any entry */
  uint64_t lo, hi; /* its smallest and largest key */
  dm_xsum at_lo, at_hi, below_hi; /* background mass at lo, at hi, below hi */
} roc_edge;

/* Background mass of a slice [i0, i1) of a sorted set (count when
 * unweighted) into an exact sum. */
static void mass(const dm_osel_set *b, int64_t i0, int64_t i1, dm_xsum *x)
{
  if (!b->weight) {
    dm_xsum_add(x, (double)(i1 - i0));
    return;
  }
  for (int64_t i = i0; i < i1; i++)
    dm_xsum_add(x, b->weight[i]);
}

/* The slice's end keys over every set (sets[0] the background), and the
 * background mass at them and below the upper one. */
static void edge_of(const dm_osel_set *sets, int n_sets, roc_edge *e)
{
  const dm_osel_set *b = &sets[0];
  memset(e, 0, sizeof *e);
  e->lo = UINT64_MAX;
  e->hi = 0;
  for (int k = 0; k < n_sets; k++) {
    const dm_osel_set *x = &sets[k];
    if (x->n == 0)
      continue;
    e->has = 1;
    e->lo = x->key[0] < e->lo ? x->key[0] : e->lo;
    e->hi = x->key[x->n - 1] > e->hi ? x->key[x->n - 1] : e->hi;
  }
  if (!e->has) {
    e->lo = e->hi = 0;
    return;
  }
  int64_t lo_end = e->lo == UINT64_MAX ? b->n : dm_osel_lower_bound(b->key, b->n, e->lo + 1);
  int64_t hi_beg = dm_osel_lower_bound(b->key, b->n, e->hi);
  mass(b, 0, lo_end, &e->at_lo);
  mass(b, hi_beg, b->n, &e->at_hi);
  mass(b, 0, hi_beg, &e->below_hi);
}

/* Background mass of rank r's slice at key k (k within this rank's range,
 * so only an end of r's slice can hold it). */
static const dm_xsum *mass_at(const roc_edge *e, uint64_t k)
{
  if (!e->has)
    return NULL;
  if (e->lo == k)
    return &e->at_lo;
  if (e->hi == k)
    return &e->at_hi;
  return NULL;
}

/* The walk over this rank's slice. edges[] are every rank's. */
static void walk(const dm_osel_set *b, const dm_osel_set *sg, const dm_xsum *below,
                 const roc_edge *edges, int rank, int size, int64_t cnt[2], dm_xsum *acc)
{
  const roc_edge *me = &edges[rank];
  if (!me->has || sg->n == 0)
    return;
  /* prefix: all background mass below the sets (`below`) and of the ranks
   * below; below_lo: the part of it below this slice's first key; g_lo,
   * g_hi: the mass at the slice's end keys over all ranks. */
  dm_xsum prefix = *below, below_lo = *below, g_lo, g_hi;
  dm_xsum_clear(&g_lo);
  dm_xsum_clear(&g_hi);
  for (int r = 0; r < size; r++) {
    const roc_edge *e = &edges[r];
    if (!e->has)
      continue;
    if (r < rank) {
      dm_xsum_merge(&prefix, &e->below_hi);
      dm_xsum_merge(&prefix, &e->at_hi);
      dm_xsum_merge(&below_lo, &e->below_hi);
      if (e->hi != me->lo)
        dm_xsum_merge(&below_lo, &e->at_hi);
    }
    const dm_xsum *m = mass_at(e, me->lo);
    if (m)
      dm_xsum_merge(&g_lo, m);
    if ((m = mass_at(e, me->hi)) != NULL)
      dm_xsum_merge(&g_hi, m);
  }
  const int weighted = b->weight != NULL;
  /* Unweighted, the exact sums hold integer counts below 2^53. */
  int64_t run_n = (int64_t)dm_xsum_value(&prefix);
  int64_t below_lo_n = (int64_t)dm_xsum_value(&below_lo);
  int64_t g_lo_n = (int64_t)dm_xsum_value(&g_lo), g_hi_n = (int64_t)dm_xsum_value(&g_hi);
  dm_xsum run = prefix;
  int64_t i = 0;
  for (int64_t j = 0; j < sg->n;) {
    uint64_t k = sg->key[j];
    int64_t j1 = j;
    while (j1 < sg->n && sg->key[j1] == k)
      j1++;
    if (!weighted) {
      int64_t i0 = i;
      while (i < b->n && b->key[i] < k)
        i++;
      run_n += i - i0;
      i0 = i;
      while (i < b->n && b->key[i] == k)
        i++;
      int64_t eq = i - i0;
      int64_t bb = k == me->lo ? below_lo_n : run_n;
      int64_t be = k == me->lo ? g_lo_n : k == me->hi ? g_hi_n : eq;
      run_n += eq;
      cnt[0] += (j1 - j) * bb;
      cnt[1] += (j1 - j) * be;
    } else {
      while (i < b->n && b->key[i] < k)
        dm_xsum_add(&run, b->weight[i++]);
      dm_xsum eq;
      dm_xsum_clear(&eq);
      while (i < b->n && b->key[i] == k)
        dm_xsum_add(&eq, b->weight[i++]);
      double bb = dm_xsum_value(k == me->lo ? &below_lo : &run);
      double be = dm_xsum_value(k == me->lo ? &g_lo : k == me->hi ? &g_hi : &eq);
      dm_xsum_merge(&run, &eq);
      double t = bb + 0.5 * be;
      for (int64_t q = j; q < j1; q++)
        dm_xsum_add(acc, sg->weight[q] * t);
    }
    j = j1;
  }
}

/* The background of the range is empty on every rank: each signal entry
 * pairs with the mass below alone, B_< = below and B_= = 0, as walk would
 * count it, without moving anything. */
static void below_only(const dm_osel_set *sg, const dm_xsum *below, int64_t cnt[2],
                       dm_xsum *acc)
{
  if (!sg->weight) {
    cnt[0] += sg->n * (int64_t)dm_xsum_value(below);
    return;
  }
  double t = dm_xsum_value(below) + 0.5 * 0.0;
  for (int64_t q = 0; q < sg->n; q++)
    dm_xsum_add(acc, sg->weight[q] * t);
}

dm_status dm_roc_auc_add(const dm_osel_set *bkg, const dm_osel_set *sig, int n_sig,
                         const dm_xsum *below, MPI_Comm comm, int64_t *cnt, dm_xsum *acc)
{
  for (int j = 0; j < n_sig; j++)
    if ((bkg->weight != NULL) != (sig[j].weight != NULL))
      return dm_error(DM_ERR_INTERNAL, "the AUC of a weighted against an unweighted set");
  int size = dm_size(comm), rank = dm_rank(comm);
  size_t ns = (size_t)(n_sig > 0 ? n_sig : 1);
  /* Per signal: pairs with s > b and with s == b, or the weighted sum. */
  int64_t *c = calloc(2 * ns, sizeof *c);
  dm_xsum *a = calloc(ns, sizeof *a);
  dm_osel_set *in = malloc((ns + 1) * sizeof *in), *own = calloc(ns + 1, sizeof *own);
  roc_edge *edges = malloc((size_t)size * sizeof *edges);
  dm_status s = c && a && in && own && edges
                    ? DM_OK
                    : dm_error(DM_ERR_NOMEM, "no memory for the AUC of %d signals", n_sig);
  s = dm_agree(s, comm);
  if (s == DM_OK && bkg->n_total == 0) {
    for (int j = 0; j < n_sig; j++)
      below_only(&sig[j], below, &c[2 * j], &a[j]);
  } else if (s == DM_OK) {
    in[0] = *bkg;
    for (int j = 0; j < n_sig; j++)
      in[1 + j] = sig[j];
    const dm_osel_set *sets = in;
    if (size > 1) {
      /* One rank already holds everything in order. */
      s = dm_osel_balance(in, n_sig + 1, comm, own);
      sets = own;
    }
    roc_edge mine;
    if (s == DM_OK) {
      edge_of(sets, n_sig + 1, &mine);
      if (MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, edges, (int)sizeof mine, MPI_BYTE,
                        comm) != MPI_SUCCESS)
        s = dm_error(DM_ERR_MPI, "MPI_Allgather of the AUC edges failed");
      s = dm_agree(s, comm);
    }
    for (int j = 0; s == DM_OK && j < n_sig; j++)
      walk(&sets[0], &sets[1 + j], below, edges, rank, size, &c[2 * j], &a[j]);
    for (int k = 0; size > 1 && k <= n_sig; k++)
      dm_osel_free(&own[k]);
  }
  if (s == DM_OK && !bkg->weight)
    s = dm_allsum_i64_array(c, 2 * n_sig, comm);
  if (s == DM_OK && bkg->weight)
    s = dm_xsum_allreduce(a, n_sig, comm);
  for (int j = 0; s == DM_OK && j < n_sig; j++) {
    cnt[2 * j] += c[2 * j];
    cnt[2 * j + 1] += c[2 * j + 1];
    dm_xsum_merge(&acc[j], &a[j]);
  }
  free(c);
  free(a);
  free(in);
  free(own);
  free(edges);
  return s;
}

dm_status dm_roc_auc(const dm_osel_set *bkg, const dm_osel_set *sig, MPI_Comm comm, double *auc)
{
  if (bkg->n_total == 0 || !(bkg->w_total > 0))
    return dm_error(DM_ERR_NUMERIC, "the background is empty (or has no positive weight)");
  if (sig->n_total == 0 || !(sig->w_total > 0))
    return dm_error(DM_ERR_NUMERIC, "the signal is empty (or has no positive weight)");
  if ((bkg->weight != NULL) != (sig->weight != NULL))
    return dm_error(DM_ERR_INTERNAL, "the AUC of a weighted against an unweighted set");
  /* Pair counts are int64 (2^63 pairs: e.g. 3e9 events against 3e9). */
  if (bkg->n_total > INT64_MAX / sig->n_total)
    return dm_error(DM_ERR_ARG, "%lld background x %lld signal events: more pairs than the "
                    "AUC counts (2^63)", (long long)bkg->n_total, (long long)sig->n_total);
  int64_t cnt[2] = {0, 0};
  dm_xsum below, acc;
  dm_xsum_clear(&below);
  dm_xsum_clear(&acc);
  DM_FORWARD(dm_roc_auc_add(bkg, sig, 1, &below, comm, cnt, &acc));
  return dm_roc_auc_value(cnt, &acc, bkg->weight != NULL, sig->n_total, bkg->n_total,
                          sig->w_total, bkg->w_total, auc);
}

dm_status dm_roc_auc_value(const int64_t cnt[2], const dm_xsum *acc, int weighted, int64_t n_sig,
                           int64_t n_bkg, double w_sig, double w_bkg, double *auc)
{
  if (!weighted) {
    *auc = ((double)cnt[0] + 0.5 * (double)cnt[1]) / ((double)n_sig * (double)n_bkg);
    return DM_OK;
  }
  DM_FORWARD(dm_xsum_check(acc, 1, "weighted AUC sum"));
  *auc = dm_xsum_value(acc) / (w_sig * w_bkg);
  return DM_OK;
}
