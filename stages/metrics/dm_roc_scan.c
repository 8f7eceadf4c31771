/* Exact ROC quantities in passes over ranges of score, with a row budget
 * per rank (dm_roc_scan.h). */
#include "dm_roc_scan.h"

#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_roc.h"

/* Above the key of every score, infinite ones included: "no cut". */
#define NO_CUT UINT64_MAX

struct dm_roc_scan {
  int n_sig, n_grp, weighted;
  int64_t rows; /* R: rows a rank keeps after dropping the larger half */
  int reads;
  /* Totals over all ranks, per group (from the first read). */
  int64_t *n_tot;
  dm_xsum *w_tot;
  /* Mass below lo over all ranks, per group. */
  int64_t *n_below;
  dm_xsum *w_below;
  uint64_t lo; /* keys below lo are settled */
  /* This pass, local: the rows kept (keys in [lo, cut)), and the rows at
   * key lo and above it as counted while reading. */
  uint64_t cut;
  int64_t n, cap;
  uint64_t *key;
  uint16_t *grp;
  double *w;
  /* At settling, the kept rows by group (views into these), exact size. */
  uint64_t *gkey;
  double *gwt;
  int64_t *n_eq, n_above;
  dm_xsum *w_eq;
  /* A weighted tie whose products the current read adds (local sums). */
  int tie;
  uint64_t tie_key;
  double tie_t;
  dm_xsum *tie_acc;
  /* The AUC's sums per signal, over all ranks. */
  int64_t *cnt;
  dm_xsum *acc;
  /* Per-pass scratch, per group: local rows, offsets, range masses. */
  int64_t *gn, *off, *pos;
  dm_xsum *gw;
  /* Queries: working points (with each signal's mass above the answer)
   * and count targets. */
  int n_eps;
  double eps[DM_ROC_SCAN_MAX_EPS];
  dm_osel_result eps_res[DM_ROC_SCAN_MAX_EPS];
  int eps_done[DM_ROC_SCAN_MAX_EPS];
  double *s_gt, *s_ge; /* [signal][working point] */
  int n_f;
  double *f;
  dm_osel_result *f_res;
  int *f_done;
};

dm_status dm_roc_scan_create(int n_signals, int weighted, double budget_bytes,
                             dm_roc_scan **out)
{
  *out = NULL;
  if (n_signals < 0 || n_signals > 65533)
    return dm_error(DM_ERR_INTERNAL, "a ROC scan of %d signals", n_signals);
  dm_roc_scan *sc = calloc(1, sizeof *sc);
  if (!sc)
    return dm_error(DM_ERR_NOMEM, "no memory for the ROC scan");
  sc->n_sig = n_signals;
  sc->n_grp = 2 + n_signals;
  sc->weighted = weighted != 0;
  /* The most at once is at settling: the rows kept, by group (8 bytes a
   * row, 16 weighted), dm_roc_auc_add's slice of at most R entries and the
   * merge copy of one set; before that, while grouping, the read buffer of
   * 1.5 R rows (10 or 18 bytes) and the grouped rows. */
  double per_row = weighted ? 3 * 16 : 3 * 8;
  double r = budget_bytes / per_row;
  sc->rows = r < 2 ? 2 : r > 1e15 ? (int64_t)1e15 : (int64_t)r;
  size_t g = (size_t)sc->n_grp, ns = (size_t)(n_signals > 0 ? n_signals : 1);
  sc->n_tot = calloc(g, sizeof(int64_t));
  sc->n_below = calloc(g, sizeof(int64_t));
  sc->n_eq = calloc(g, sizeof(int64_t));
  sc->gn = calloc(g, sizeof(int64_t));
  sc->off = calloc(g + 1, sizeof(int64_t));
  sc->pos = calloc(g, sizeof(int64_t));
  sc->w_tot = calloc(g, sizeof(dm_xsum));
  sc->w_below = calloc(g, sizeof(dm_xsum));
  sc->w_eq = calloc(g, sizeof(dm_xsum));
  sc->gw = calloc(g, sizeof(dm_xsum));
  sc->tie_acc = calloc(ns, sizeof(dm_xsum));
  sc->acc = calloc(ns, sizeof(dm_xsum));
  sc->cnt = calloc(2 * ns, sizeof(int64_t));
  if (!sc->n_tot || !sc->n_below || !sc->n_eq || !sc->gn || !sc->off || !sc->pos ||
      !sc->w_tot || !sc->w_below || !sc->w_eq || !sc->gw || !sc->tie_acc || !sc->acc ||
      !sc->cnt) {
    dm_roc_scan_free(sc);
    return dm_error(DM_ERR_NOMEM, "no memory for the ROC scan of %d signals", n_signals);
  }
  *out = sc;
  return DM_OK;
}

void dm_roc_scan_free(dm_roc_scan *sc)
{
  if (!sc)
    return;
  free(sc->n_tot);
  free(sc->w_tot);
  free(sc->n_below);
  free(sc->w_below);
  free(sc->key);
  free(sc->grp);
  free(sc->w);
  free(sc->gkey);
  free(sc->gwt);
  free(sc->n_eq);
  free(sc->w_eq);
  free(sc->tie_acc);
  free(sc->cnt);
  free(sc->acc);
  free(sc->gn);
  free(sc->off);
  free(sc->pos);
  free(sc->gw);
  free(sc->s_gt);
  free(sc->s_ge);
  free(sc->f);
  free(sc->f_res);
  free(sc->f_done);
  free(sc);
}

int64_t dm_roc_scan_count(const dm_roc_scan *sc, int group) { return sc->n_tot[group]; }

const dm_xsum *dm_roc_scan_weight(const dm_roc_scan *sc, int group)
{
  return sc->weighted ? &sc->w_tot[group] : NULL;
}

int dm_roc_scan_passes(const dm_roc_scan *sc) { return sc->reads; }

dm_status dm_roc_scan_queries(dm_roc_scan *sc, const double *eps, int n_eps, const double *f,
                              int n_f)
{
  if (n_eps < 0 || n_eps > DM_ROC_SCAN_MAX_EPS || n_f < 0)
    return dm_error(DM_ERR_INTERNAL, "%d working points and %d targets", n_eps, n_f);
  sc->n_eps = n_eps;
  memcpy(sc->eps, eps, (size_t)n_eps * sizeof *eps);
  memset(sc->eps_res, 0, sizeof sc->eps_res);
  memset(sc->eps_done, 0, sizeof sc->eps_done);
  size_t ne = (size_t)(sc->n_sig > 0 ? sc->n_sig : 1) * (size_t)(n_eps > 0 ? n_eps : 1);
  size_t nf = (size_t)(n_f > 0 ? n_f : 1);
  sc->s_gt = calloc(ne, sizeof(double));
  sc->s_ge = calloc(ne, sizeof(double));
  sc->f = malloc(nf * sizeof(double));
  sc->f_res = calloc(nf, sizeof(dm_osel_result));
  sc->f_done = calloc(nf, sizeof(int));
  if (!sc->s_gt || !sc->s_ge || !sc->f || !sc->f_res || !sc->f_done)
    return dm_error(DM_ERR_NOMEM, "no memory for %d quantiles", n_f);
  if (n_f > 0)
    memcpy(sc->f, f, (size_t)n_f * sizeof *f);
  sc->n_f = n_f;
  return DM_OK;
}

/* ---- the rows kept -------------------------------------------------------- */

static int grow(dm_roc_scan *sc, int64_t cap)
{
  uint64_t *k = realloc(sc->key, (size_t)cap * sizeof *k);
  if (k)
    sc->key = k;
  uint16_t *g = realloc(sc->grp, (size_t)cap * sizeof *g);
  if (g)
    sc->grp = g;
  double *w = sc->weighted ? realloc(sc->w, (size_t)cap * sizeof *w) : NULL;
  if (w)
    sc->w = w;
  if (!k || !g || (sc->weighted && !w))
    return 0;
  sc->cap = cap;
  return 1;
}

/* The key at ascending position r (0-based, r < n) of k[0..n): a radix
 * descent on the key bytes, from the top. */
static uint64_t kth_key(const uint64_t *k, int64_t n, int64_t r)
{
  uint64_t prefix = 0;
  for (int level = 0; level < 8; level++) {
    int sh = 56 - 8 * level;
    uint64_t high = level == 0 ? 0 : ~((UINT64_C(1) << (sh + 8)) - 1);
    int64_t c[256] = {0};
    for (int64_t i = 0; i < n; i++)
      if ((k[i] & high) == prefix)
        c[(k[i] >> sh) & 255]++;
    int b = 0;
    while (r >= c[b]) {
      r -= c[b];
      b++;
    }
    prefix |= (uint64_t)b << sh;
  }
  return prefix;
}

/* Keep, in order, the rows whose key is below `cut`. */
static void keep_below(dm_roc_scan *sc, uint64_t cut)
{
  int64_t j = 0;
  for (int64_t i = 0; i < sc->n; i++)
    if (sc->key[i] < cut) {
      sc->key[j] = sc->key[i];
      sc->grp[j] = sc->grp[i];
      if (sc->weighted)
        sc->w[j] = sc->w[i];
      j++;
    }
  sc->n = j;
}

/* Keep the rows with keys below the key at position R (at most R rows: a
 * run of equal keys there goes as a whole) and cut there. */
static void drop_half(dm_roc_scan *sc)
{
  uint64_t c = kth_key(sc->key, sc->n, sc->rows);
  keep_below(sc, c);
  sc->cut = c;
}

/* Room for one more row: a larger buffer up to 1.5 R rows, then keep the
 * smallest R (the R / 2 rows of slack make that rare: a pass appends only
 * rows below the cut, about R (1 + ln(rows read / R)) of them). */
static int make_room(dm_roc_scan *sc)
{
  int64_t most = sc->rows + sc->rows / 2;
  if (sc->cap < most) {
    int64_t cap = sc->cap * 2 > 65536 ? sc->cap * 2 : 65536;
    return grow(sc, cap < most ? cap : most);
  }
  drop_half(sc);
  return 1;
}

static void free_kept(dm_roc_scan *sc)
{
  free(sc->key);
  free(sc->grp);
  free(sc->w);
  sc->key = NULL;
  sc->grp = NULL;
  sc->w = NULL;
  sc->n = sc->cap = 0;
}

dm_status dm_roc_scan_read(dm_roc_scan *sc, dm_roc_source src, void *ctx, MPI_Comm comm)
{
  const int first = sc->reads == 0, weighted = sc->weighted;
  sc->cut = NO_CUT;
  sc->n = 0;
  sc->n_above = 0;
  memset(sc->n_eq, 0, (size_t)sc->n_grp * sizeof *sc->n_eq);
  memset(sc->w_eq, 0, (size_t)sc->n_grp * sizeof *sc->w_eq);
  const uint64_t lo = sc->lo;
  dm_status l = DM_OK;
  for (;;) {
    dm_roc_rows r;
    int more = 0;
    dm_status s = src(ctx, &r, &more);
    if (s != DM_OK)
      return s; /* agreed by the source */
    if (!more)
      break;
    for (int64_t i = 0; i < r.n && l == DM_OK; i++) {
      int g = r.group[i];
      if (g == 0)
        continue;
      if (g >= sc->n_grp) {
        l = dm_error(DM_ERR_INTERNAL, "row group %d of %d", g, sc->n_grp);
        break;
      }
      double wi = weighted ? r.weight[i] : 1.0;
      if (first) {
        sc->n_tot[g]++;
        if (weighted)
          dm_xsum_add(&sc->w_tot[g], wi);
      }
      uint64_t k = dm_osel_key(r.score[i]);
      if (sc->tie && k == sc->tie_key && g >= 2)
        dm_xsum_add(&sc->tie_acc[g - 2], wi * sc->tie_t);
      if (k < lo)
        continue;
      if (k == lo) {
        sc->n_eq[g]++;
        if (weighted)
          dm_xsum_add(&sc->w_eq[g], wi);
      } else {
        sc->n_above++;
      }
      if (k >= sc->cut)
        continue;
      if (sc->n == sc->cap) {
        if (!make_room(sc)) {
          l = dm_error(DM_ERR_NOMEM, "no memory for %lld score rows",
                       (long long)(2 * sc->rows));
          break;
        }
        if (k >= sc->cut)
          continue;
      }
      sc->key[sc->n] = k;
      sc->grp[sc->n] = (uint16_t)g;
      if (weighted)
        sc->w[sc->n] = wi;
      sc->n++;
    }
  }
  sc->reads++;
  dm_status s = dm_agree(l, comm);
  if (s == DM_OK && first) {
    s = dm_allsum_i64_array(sc->n_tot, sc->n_grp, comm);
    if (s == DM_OK && weighted)
      s = dm_xsum_allreduce(sc->w_tot, sc->n_grp, comm);
  }
  return s;
}

/* ---- settling a pass ---------------------------------------------------- */

/* The test of dm_osel_upper for a target f: mass at or above a value,
 * out of the total, above f. */
static int passes_w(const dm_xsum *m, double total, double f)
{
  return dm_xsum_value(m) / total > f;
}
static int passes_n(int64_t m, double total, double f) { return (double)m / total > f; }

/* Background mass at or above hi: the total less the mass below lo and the
 * mass of [lo, hi) (range_n / range_w). */
static void mass_above(const dm_roc_scan *sc, int g, int64_t range_n, const dm_xsum *range_w,
                       int64_t *n, dm_xsum *w)
{
  *n = sc->n_tot[g] - sc->n_below[g] - range_n;
  dm_xsum_clear(w);
  if (sc->weighted) {
    *w = sc->w_tot[g];
    dm_xsum_sub(w, &sc->w_below[g]);
    dm_xsum_sub(w, range_w);
  }
}

static double total_of(const dm_roc_scan *sc, int g, int weighted)
{
  return weighted ? dm_xsum_value(&sc->w_tot[g]) : (double)sc->n_tot[g];
}

/* A tie pass: the one key lo, from the counts (and sums) of the read. */
static dm_status settle_tie(dm_roc_scan *sc, MPI_Comm comm)
{
  const uint64_t lo = sc->lo;
  DM_FORWARD(dm_allsum_i64_array(sc->n_eq, sc->n_grp, comm));
  if (sc->weighted)
    DM_FORWARD(dm_xsum_allreduce(sc->w_eq, sc->n_grp, comm));
  int64_t gt_n, ge_n;
  dm_xsum gt_w, ge_w;
  mass_above(sc, 1, sc->n_eq[1], &sc->w_eq[1], &gt_n, &gt_w);
  mass_above(sc, 1, 0, &(dm_xsum){0}, &ge_n, &ge_w);
  /* Working points: the key lo is the answer when the mass above it does
   * not pass and the mass at or above it does. */
  double wb = total_of(sc, 1, sc->weighted);
  for (int q = 0; q < sc->n_eps; q++) {
    if (sc->eps_done[q])
      continue;
    int later = sc->weighted ? passes_w(&gt_w, wb, sc->eps[q]) : passes_n(gt_n, wb, sc->eps[q]);
    if (later)
      continue;
    sc->eps_done[q] = 1;
    dm_osel_result *r = &sc->eps_res[q];
    memset(r, 0, sizeof *r);
    if (!(sc->weighted ? passes_w(&ge_w, wb, sc->eps[q]) : passes_n(ge_n, wb, sc->eps[q])))
      continue;
    r->found = 1;
    r->key = lo;
    r->value = dm_osel_value(lo);
    r->mass_gt = sc->weighted ? dm_xsum_value(&gt_w) : (double)gt_n;
    r->mass_ge = sc->weighted ? dm_xsum_value(&ge_w) : (double)ge_n;
    for (int j = 0; j < sc->n_sig; j++) {
      int64_t sg_n, se_n;
      dm_xsum sg_w, se_w;
      mass_above(sc, 2 + j, sc->n_eq[2 + j], &sc->w_eq[2 + j], &sg_n, &sg_w);
      mass_above(sc, 2 + j, 0, &(dm_xsum){0}, &se_n, &se_w);
      sc->s_gt[(size_t)j * sc->n_eps + q] = sc->weighted ? dm_xsum_value(&sg_w) : (double)sg_n;
      sc->s_ge[(size_t)j * sc->n_eps + q] = sc->weighted ? dm_xsum_value(&se_w) : (double)se_n;
    }
  }
  double nb = (double)sc->n_tot[1];
  for (int q = 0; q < sc->n_f; q++) {
    if (sc->f_done[q] || passes_n(gt_n, nb, sc->f[q]))
      continue;
    sc->f_done[q] = 1;
    dm_osel_result *r = &sc->f_res[q];
    memset(r, 0, sizeof *r);
    if (!passes_n(ge_n, nb, sc->f[q]))
      continue;
    r->found = 1;
    r->key = lo;
    r->value = dm_osel_value(lo);
    r->mass_gt = (double)gt_n;
    r->mass_ge = (double)ge_n;
  }
  /* AUC: every signal entry at lo pairs with all background below lo, and
   * half with the background at lo. */
  for (int j = 0; j < sc->n_sig; j++) {
    int64_t e = sc->n_eq[2 + j];
    if (e == 0)
      continue;
    if (!sc->weighted) {
      sc->cnt[2 * j] += e * sc->n_below[1];
      sc->cnt[2 * j + 1] += e * sc->n_eq[1];
    } else if (!sc->tie) {
      sc->tie = 1;
      sc->tie_key = lo;
      sc->tie_t = dm_xsum_value(&sc->w_below[1]) + 0.5 * dm_xsum_value(&sc->w_eq[1]);
      memset(sc->tie_acc, 0, (size_t)sc->n_sig * sizeof *sc->tie_acc);
    }
  }
  for (int g = 1; g < sc->n_grp; g++) {
    sc->n_below[g] += sc->n_eq[g];
    if (sc->weighted)
      dm_xsum_merge(&sc->w_below[g], &sc->w_eq[g]);
  }
  sc->lo = lo + 1;
  return DM_OK;
}

/* The kept rows by group, each sorted by key, into exact-size arrays (the
 * read buffer serving as the sort's scratch, then freed); local masses per
 * group. */
static int group_kept(dm_roc_scan *sc)
{
  int64_t n = sc->n;
  size_t m = (size_t)(n > 0 ? n : 1);
  sc->gkey = malloc(m * sizeof *sc->gkey);
  sc->gwt = sc->weighted ? malloc(m * sizeof *sc->gwt) : NULL;
  if (!sc->gkey || (sc->weighted && !sc->gwt))
    return 0;
  memset(sc->gn, 0, (size_t)sc->n_grp * sizeof *sc->gn);
  for (int64_t i = 0; i < n; i++)
    sc->gn[sc->grp[i]]++;
  sc->off[0] = 0;
  for (int g = 0; g < sc->n_grp; g++) {
    sc->off[g + 1] = sc->off[g] + sc->gn[g];
    sc->pos[g] = sc->off[g];
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t p = sc->pos[sc->grp[i]]++;
    sc->gkey[p] = sc->key[i];
    if (sc->weighted)
      sc->gwt[p] = sc->w[i];
  }
  for (int g = 0; g < sc->n_grp; g++) {
    int64_t o = sc->off[g];
    double *w = sc->weighted ? sc->gwt + o : NULL;
    dm_osel_sort(sc->gkey + o, w, sc->gn[g], sc->key, sc->w);
    dm_xsum_clear(&sc->gw[g]);
    for (int64_t i = 0; w && i < sc->gn[g]; i++)
      dm_xsum_add(&sc->gw[g], w[i]);
  }
  free_kept(sc);
  return 1;
}

static void free_grouped(dm_roc_scan *sc)
{
  free(sc->gkey);
  free(sc->gwt);
  sc->gkey = NULL;
  sc->gwt = NULL;
}

/* Group g's kept rows as a set of the range (range totals given). */
static dm_osel_set view(const dm_roc_scan *sc, int g, int weighted, int64_t n_total,
                        double w_total)
{
  dm_osel_set v;
  memset(&v, 0, sizeof v);
  v.n = sc->gn[g];
  v.key = sc->gkey + sc->off[g];
  v.weight = weighted ? sc->gwt + sc->off[g] : NULL;
  v.n_total = n_total;
  v.w_total = w_total;
  return v;
}

/* Working points answered in [lo, hi): the background query, then each
 * signal's mass above and at the answers (local parts reduced at once). */
static dm_status range_eps(dm_roc_scan *sc, const int64_t *rn, const dm_xsum *rw,
                           MPI_Comm comm)
{
  int64_t a_n;
  dm_xsum a_w;
  mass_above(sc, 1, rn[1], &rw[1], &a_n, &a_w);
  double wb = total_of(sc, 1, sc->weighted);
  int idx[DM_ROC_SCAN_MAX_EPS], m = 0;
  double f[DM_ROC_SCAN_MAX_EPS];
  for (int q = 0; q < sc->n_eps; q++)
    if (!sc->eps_done[q] &&
        !(sc->weighted ? passes_w(&a_w, wb, sc->eps[q]) : passes_n(a_n, wb, sc->eps[q]))) {
      idx[m] = q;
      f[m++] = sc->eps[q];
    }
  if (m == 0)
    return DM_OK;
  dm_osel_result res[DM_ROC_SCAN_MAX_EPS];
  dm_osel_set b = view(sc, 1, sc->weighted, rn[1], 0);
  DM_FORWARD(dm_osel_upper_part(&b, wb, a_n, &a_w, f, m, comm, res));
  for (int i = 0; i < m; i++) {
    sc->eps_done[idx[i]] = 1;
    sc->eps_res[idx[i]] = res[i];
  }
  if (sc->n_sig == 0)
    return DM_OK;
  /* Per signal and answer: local rows below the answer and at it. */
  size_t cells = (size_t)sc->n_sig * (size_t)m * 2;
  int64_t *c = calloc(cells, sizeof *c);
  dm_xsum *x = sc->weighted ? calloc(cells, sizeof *x) : NULL;
  dm_status s = c && (!sc->weighted || x) ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
  s = dm_agree(s, comm);
  for (int j = 0; s == DM_OK && j < sc->n_sig; j++) {
    dm_osel_set v = view(sc, 2 + j, sc->weighted, 0, 0);
    for (int i = 0; i < m; i++) {
      if (!res[i].found)
        continue;
      uint64_t k = res[i].key;
      int64_t a = dm_osel_lower_bound(v.key, v.n, k);
      int64_t z = k == NO_CUT ? v.n : dm_osel_lower_bound(v.key, v.n, k + 1);
      size_t at = ((size_t)j * m + i) * 2;
      c[at] = a;
      c[at + 1] = z - a;
      for (int64_t t = 0; x && t < z; t++)
        dm_xsum_add(&x[at + (t >= a)], v.weight[t]);
    }
  }
  if (s == DM_OK)
    s = dm_allsum_i64_array(c, (int64_t)cells, comm);
  if (s == DM_OK && x)
    s = dm_xsum_allreduce(x, (int64_t)cells, comm);
  for (int j = 0; s == DM_OK && j < sc->n_sig; j++)
    for (int i = 0; i < m; i++) {
      if (!res[i].found)
        continue;
      size_t at = ((size_t)j * m + i) * 2;
      /* At or above the answer: the total less what lies below lo and
       * below the answer in the range; above it: less the rows at it too. */
      int64_t ge_n, gt_n;
      dm_xsum ge_w, gt_w;
      mass_above(sc, 2 + j, c[at], x ? &x[at] : &(dm_xsum){0}, &ge_n, &ge_w);
      gt_n = ge_n - c[at + 1];
      gt_w = ge_w;
      if (x)
        dm_xsum_sub(&gt_w, &x[at + 1]);
      size_t o = (size_t)j * sc->n_eps + idx[i];
      sc->s_gt[o] = sc->weighted ? dm_xsum_value(&gt_w) : (double)gt_n;
      sc->s_ge[o] = sc->weighted ? dm_xsum_value(&ge_w) : (double)ge_n;
    }
  free(c);
  free(x);
  return s;
}

/* Count targets answered in [lo, hi). */
static dm_status range_f(dm_roc_scan *sc, const int64_t *rn, MPI_Comm comm)
{
  int64_t a_n = sc->n_tot[1] - sc->n_below[1] - rn[1];
  double nb = (double)sc->n_tot[1];
  int m = 0;
  for (int q = 0; q < sc->n_f; q++)
    m += !sc->f_done[q] && !passes_n(a_n, nb, sc->f[q]);
  if (m == 0)
    return DM_OK;
  int *idx = malloc((size_t)m * sizeof *idx);
  double *f = malloc((size_t)m * sizeof *f);
  dm_osel_result *res = malloc((size_t)m * sizeof *res);
  dm_status s = idx && f && res ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for %d quantiles", m);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    m = 0;
    for (int q = 0; q < sc->n_f; q++)
      if (!sc->f_done[q] && !passes_n(a_n, nb, sc->f[q])) {
        idx[m] = q;
        f[m++] = sc->f[q];
      }
    dm_osel_set b = view(sc, 1, 0, rn[1], (double)rn[1]);
    s = dm_osel_upper_part(&b, nb, a_n, NULL, f, m, comm, res);
  }
  for (int i = 0; s == DM_OK && i < m; i++) {
    sc->f_done[idx[i]] = 1;
    sc->f_res[idx[i]] = res[i];
  }
  free(idx);
  free(f);
  free(res);
  return s;
}

/* A range pass: [lo, hi) from the rows kept. */
static dm_status settle_range(dm_roc_scan *sc, uint64_t hi, MPI_Comm comm)
{
  keep_below(sc, hi);
  dm_status s = group_kept(sc) ? DM_OK
                               : dm_error(DM_ERR_NOMEM, "no memory to sort %lld scores",
                                          (long long)sc->n);
  DM_FORWARD_AGREED(s, comm);
  /* The range's counts and masses per group, over all ranks. */
  int64_t *rn = sc->pos; /* the scatter positions are no longer needed */
  memcpy(rn, sc->gn, (size_t)sc->n_grp * sizeof *rn);
  DM_FORWARD(dm_allsum_i64_array(rn, sc->n_grp, comm));
  dm_xsum *rw = sc->gw;
  if (sc->weighted)
    DM_FORWARD(dm_xsum_allreduce(rw, sc->n_grp, comm));
  DM_FORWARD(range_eps(sc, rn, rw, comm));
  DM_FORWARD(range_f(sc, rn, comm));
  dm_xsum below;
  if (sc->weighted) {
    below = sc->w_below[1];
  } else {
    dm_xsum_clear(&below);
    dm_xsum_add(&below, (double)sc->n_below[1]);
  }
  double wr = sc->weighted ? dm_xsum_value(&rw[1]) : (double)rn[1];
  dm_osel_set b = view(sc, 1, sc->weighted, rn[1], wr);
  int64_t sig_rows = 0;
  for (int k = 0; k < sc->n_sig; k++)
    sig_rows += rn[2 + k];
  if (sig_rows > 0) {
    /* Every signal against the background in one balance. */
    dm_osel_set *v = malloc((size_t)sc->n_sig * sizeof *v);
    s = dm_agree(v ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory"), comm);
    for (int k = 0; s == DM_OK && k < sc->n_sig; k++)
      v[k] = view(sc, 2 + k, sc->weighted, rn[2 + k],
                  sc->weighted ? dm_xsum_value(&rw[2 + k]) : (double)rn[2 + k]);
    if (s == DM_OK)
      s = dm_roc_auc_add(&b, v, sc->n_sig, &below, comm, sc->cnt, sc->acc);
    free(v);
    if (s != DM_OK)
      return s;
  }
  free_grouped(sc);
  for (int g = 1; g < sc->n_grp; g++) {
    sc->n_below[g] += rn[g];
    if (sc->weighted)
      dm_xsum_merge(&sc->w_below[g], &rw[g]);
  }
  sc->lo = hi;
  return DM_OK;
}

dm_status dm_roc_scan_settle(dm_roc_scan *sc, MPI_Comm comm, int *done)
{
  *done = 0;
  /* A rank that kept more than R rows without filling its buffer drops
   * half now, so that no rank holds more than R in the range. */
  if (sc->n > sc->rows)
    drop_half(sc);
  uint64_t hi = sc->cut;
  if (MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MIN, comm) != MPI_SUCCESS)
    return dm_agree(dm_error(DM_ERR_MPI, "MPI_Allreduce of the range's end failed"), comm);
  int64_t above = dm_allsum_i64(sc->n_above, comm);
  if (sc->tie) {
    /* The products of the last tie, added while this pass read. */
    DM_FORWARD(dm_xsum_allreduce(sc->tie_acc, sc->n_sig, comm));
    for (int j = 0; j < sc->n_sig; j++)
      dm_xsum_merge(&sc->acc[j], &sc->tie_acc[j]);
    sc->tie = 0;
  }
  if (hi == sc->lo) {
    sc->n = 0;
    DM_FORWARD(settle_tie(sc, comm));
    *done = above == 0 && !sc->tie;
  } else {
    DM_FORWARD(settle_range(sc, hi, comm));
    *done = hi == NO_CUT;
  }
  return DM_OK;
}

dm_status dm_roc_scan_auc(const dm_roc_scan *sc, int j, double *auc)
{
  return dm_roc_auc_value(&sc->cnt[2 * j], &sc->acc[j], sc->weighted, sc->n_tot[2 + j],
                          sc->n_tot[1], total_of(sc, 2 + j, sc->weighted),
                          total_of(sc, 1, sc->weighted), auc);
}

double dm_roc_scan_eps_s(const dm_roc_scan *sc, int j, int q)
{
  size_t o = (size_t)j * sc->n_eps + q;
  return dm_roc_eps_s(sc->eps[q], &sc->eps_res[q], total_of(sc, 1, sc->weighted), sc->s_gt[o],
                      sc->s_ge[o], total_of(sc, 2 + j, sc->weighted));
}

const dm_osel_result *dm_roc_scan_quantile(const dm_roc_scan *sc, int q) { return &sc->f_res[q]; }
