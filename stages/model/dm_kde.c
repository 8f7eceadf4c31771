/* The KDE estimator and its model-backend table: evaluation (replicated and
 * sharded), fit, file I/O. The inner loop is in dm_kde_kernel.c, the
 * cross-validated bandwidth in dm_kde_bandwidth.c. */
#include "dm_kde.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_h5.h"

#define CHUNK 128 /* queries per OpenMP work item (and per pass over the reference) */
/* Version 2 adds the optional reference_weight dataset (weighted fits): a
 * reader that ignored it would score a weighted model wrongly. */
#define KDE_VERSION 2

struct dm_kde {
  int64_t n;
  int d;
  double h, log_norm;
  float *ref;  /* n x d, row-major (as stored) */
  float *refT; /* d x ld, column-major copy for the kernel */
  int64_t ld;
  int64_t *row; /* n global store indices, or NULL */
  double *w;    /* n reference weights, or NULL (unit weights) */
  int dk;       /* columns the kernel sees: d, or d + 1 with weights (below) */
  dm_kde_mode mode;
  char rule[16];
  int cv_folds, cv_grid;
  int64_t cv_rows;
  double *cv_factor, *cv_loglik;
};

void dm_kde_opts_default(dm_kde_opts *o)
{
  memset(o, 0, sizeof *o);
  o->rule = DM_KDE_BW_SCOTT;
  o->cv_folds = 5;
  o->cv_grid = 13;
  o->cv_lo = 0.25;
  o->cv_hi = 2.0;
  o->cv_rows = 20000;
}

dm_status dm_kde_bandwidth_parse(const char *text, dm_kde_opts *o)
{
  if (!strcmp(text, "scott"))
    o->rule = DM_KDE_BW_SCOTT;
  else if (!strcmp(text, "silverman"))
    o->rule = DM_KDE_BW_SILVERMAN;
  else if (!strcmp(text, "cv"))
    o->rule = DM_KDE_BW_CV;
  else {
    char *end = NULL;
    double v = strtod(text, &end);
    if (!end || end == text || *end || !(v > 0) || !isfinite(v))
      return dm_error(DM_ERR_ARG,
                      "--bandwidth '%s': expected scott, silverman, cv or a positive number",
                      text);
    o->rule = DM_KDE_BW_VALUE;
    o->bandwidth = v;
  }
  return DM_OK;
}

double dm_kde_scott(int64_t n, int d) { return pow((double)n, -1.0 / (d + 4)); }

double dm_kde_silverman(int64_t n, int d)
{
  return pow((double)n * (d + 2) / 4.0, -1.0 / (d + 4));
}

static const char *rule_name(dm_kde_bw_rule r)
{
  static const char *const names[] = {"scott", "silverman", "cv", "value"};
  return names[r];
}

/* Weights ride in one more kernel column, so the kernel itself is the
 * unweighted one: reference j gets c_j = h sqrt(2 ln(w_max / w_j)) there and
 * every query 0, which adds c_j^2 / (2 h^2) = ln(w_max / w_j) to the
 * exponent, i.e. multiplies the kernel by w_j / w_max. The normalisation is
 * then sum_j w_j / w_max instead of n. */
static void weight_column(dm_kde *k)
{
  double wmax = 0, wsum = 0;
  for (int64_t j = 0; j < k->n; j++) {
    wmax = k->w[j] > wmax ? k->w[j] : wmax;
    wsum += k->w[j];
  }
  float *col = k->refT + (size_t)k->d * k->ld;
  for (int64_t j = 0; j < k->n; j++)
    col[j] = (float)(k->h * sqrt(2.0 * log(wmax / k->w[j])));
  k->log_norm = log(wsum / wmax) + 0.5 * k->d * log(2.0 * M_PI * k->h * k->h);
}

void dm_kde_set_bandwidth(dm_kde *k, double h)
{
  k->h = h;
  k->log_norm = log((double)k->n) + 0.5 * k->d * log(2.0 * M_PI * h * h);
  if (k->w)
    weight_column(k);
}

dm_status dm_kde_set_weights(dm_kde *k, const double *w)
{
  for (int64_t j = 0; j < k->n; j++)
    if (!(w[j] > 0) || !isfinite(w[j]))
      return dm_error(DM_ERR_ARG, "KDE reference weight %lld is %g: weights must be finite and > 0",
                      (long long)j, w[j]);
  double *copy = malloc((size_t)k->n * sizeof *copy);
  float *refT = aligned_alloc(64, (size_t)k->ld * (k->d + 1) * sizeof(float));
  if (!copy || !refT) {
    free(copy);
    free(refT);
    return dm_error(DM_ERR_NOMEM, "no memory for %lld reference weights", (long long)k->n);
  }
  memcpy(copy, w, (size_t)k->n * sizeof *copy);
  memcpy(refT, k->refT, (size_t)k->ld * k->d * sizeof(float));
  memset(refT + (size_t)k->d * k->ld, 0, (size_t)k->ld * sizeof(float));
  free(k->refT);
  free(k->w);
  k->refT = refT;
  k->w = copy;
  k->dk = k->d + 1;
  weight_column(k);
  return DM_OK;
}

const double *dm_kde_weights(const dm_kde *k) { return k->w; }

/* Queries with the weight column's 0 appended (weighted estimators only);
 * NULL when out of memory. */
static float *pad_queries(const dm_kde *k, const float *x, int64_t n)
{
  float *p = malloc((size_t)(n > 0 ? n : 1) * k->dk * sizeof *p);
  if (!p)
    return NULL;
  for (int64_t i = 0; i < n; i++) {
    memcpy(p + i * k->dk, x + i * k->d, (size_t)k->d * sizeof *p);
    p[i * k->dk + k->d] = 0.0f;
  }
  return p;
}

dm_status dm_kde_new(const float *ref, int64_t n, int dim, double h, dm_kde **out)
{
  *out = NULL;
  if (n < 1 || dim < 1 || !(h > 0) || !isfinite(h))
    return dm_error(DM_ERR_ARG, "KDE needs at least one reference row, dim >= 1 and h > 0 "
                                "(got %lld rows, dim %d, h %g)",
                    (long long)n, dim, h);
  dm_kde *k = calloc(1, sizeof *k);
  if (!k)
    return dm_error(DM_ERR_NOMEM, "no memory for the KDE");
  k->n = n;
  k->d = dim;
  k->dk = dim;
  /* Columns start on 64-byte lines: aligned SIMD loads in the kernel. */
  k->ld = (n + 15) / 16 * 16;
  k->ref = malloc((size_t)n * dim * sizeof(float));
  k->refT = aligned_alloc(64, (size_t)k->ld * dim * sizeof(float));
  if (!k->ref || !k->refT) {
    dm_kde_free(k);
    return dm_error(DM_ERR_NOMEM, "no memory for %lld x %d reference rows", (long long)n, dim);
  }
  memcpy(k->ref, ref, (size_t)n * dim * sizeof(float));
  for (int c = 0; c < dim; c++) {
    float *col = k->refT + (size_t)c * k->ld;
    for (int64_t j = 0; j < n; j++)
      col[j] = ref[j * dim + c];
    for (int64_t j = n; j < k->ld; j++)
      col[j] = 0.0f;
  }
  snprintf(k->rule, sizeof k->rule, "value");
  dm_kde_set_bandwidth(k, h);
  *out = k;
  return DM_OK;
}

void dm_kde_free(dm_kde *k)
{
  if (!k)
    return;
  free(k->ref);
  free(k->refT);
  free(k->row);
  free(k->w);
  free(k->cv_factor);
  free(k->cv_loglik);
  free(k);
}

double dm_kde_bandwidth(const dm_kde *k) { return k->h; }
int64_t dm_kde_n_ref(const dm_kde *k) { return k->n; }
void dm_kde_set_mode(dm_kde *k, dm_kde_mode mode) { k->mode = mode; }

/* log-sum-exp of queries against reference rows [r0, r1), threads over
 * chunks of queries; results per query do not depend on the chunking. */
static void lse_threads(const dm_kde *k, int64_t r0, int64_t r1, const float *x, int64_t n,
                        double *mx, double *sm)
{
  double inv2h2 = 1.0 / (2.0 * k->h * k->h);
  int64_t nchunk = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < nchunk; c++) {
    int64_t i0 = c * CHUNK, nc = n - i0 < CHUNK ? n - i0 : CHUNK;
    dm_kde_lse(k->refT, k->ld, r0, r1, k->dk, x + i0 * k->dk, nc, inv2h2, mx + i0, sm + i0);
  }
}

void dm_kde_logpdf(const dm_kde *k, const float *x, int64_t n, double *logp)
{
  float *xp = NULL;
  if (k->dk != k->d) {
    xp = pad_queries(k, x, n);
    if (!xp) {
      /* Rare: one query at a time through a stack copy, same numbers
       * (feature dimensions stay far below the copy's size). */
      float one[1024];
      for (int64_t i = 0; i < n; i++) {
        if (k->dk > 1024) {
          logp[i] = NAN;
          continue;
        }
        memcpy(one, x + i * k->d, (size_t)k->d * sizeof *one);
        one[k->d] = 0.0f;
        double m1, s1;
        dm_kde_lse(k->refT, k->ld, 0, k->n, k->dk, one, 1, 1.0 / (2.0 * k->h * k->h), &m1, &s1);
        logp[i] = m1 + log(s1) - k->log_norm;
      }
      return;
    }
    x = xp;
  }
  double *sm = malloc((size_t)(n > 0 ? n : 1) * sizeof *sm);
  if (!sm) {
    /* Rare: fall back to one chunk at a time, same numbers. */
    double m1, s1;
    double inv2h2 = 1.0 / (2.0 * k->h * k->h);
    for (int64_t i = 0; i < n; i++) {
      dm_kde_lse(k->refT, k->ld, 0, k->n, k->dk, x + i * k->dk, 1, inv2h2, &m1, &s1);
      logp[i] = m1 + log(s1) - k->log_norm;
    }
    free(xp);
    return;
  }
  lse_threads(k, 0, k->n, x, n, logp, sm);
  for (int64_t i = 0; i < n; i++)
    logp[i] = logp[i] + log(sm[i]) - k->log_norm;
  free(sm);
  free(xp);
}

/* MPI reduction operator on (max, sum) pairs: the log-sum-exp merge. */
static void lse_merge_op(void *in, void *inout, int *len, MPI_Datatype *dt)
{
  const double *a = in;
  double *b = inout;
  for (int i = 0; i < *len; i++) {
    double am = a[2 * i], as = a[2 * i + 1], bm = b[2 * i], bs = b[2 * i + 1];
    if (as == 0.0)
      continue;
    if (bs == 0.0 || am > bm) {
      b[2 * i] = am;
      b[2 * i + 1] = as + (bs == 0.0 ? 0.0 : bs * exp(bm - am));
    } else {
      b[2 * i + 1] = bs + as * exp(am - bm);
    }
  }
}

dm_status dm_kde_logpdf_sharded(const dm_kde *k, const float *x, int64_t n, double *logp,
                                MPI_Comm comm)
{
  int P = dm_size(comm), r = dm_rank(comm);
  int64_t total = dm_allsum_i64(n, comm);
  dm_status s = DM_OK;
  float *xp = NULL;
  if (k->dk != k->d) {
    xp = pad_queries(k, x, n);
    s = xp ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for %lld queries", (long long)n);
    x = xp;
  }
  if (total * k->dk > INT_MAX || total * 2 > INT_MAX)
    s = dm_error(DM_ERR_ARG, "sharded KDE: %lld queries per call is too many for one exchange",
                 (long long)total);
  int *cnt = malloc((size_t)P * sizeof(int)), *dsp = malloc((size_t)P * sizeof(int));
  int *pairs = malloc((size_t)P * sizeof(int));
  float *allx = malloc((size_t)(total > 0 ? total : 1) * k->dk * sizeof(float));
  double *part = malloc((size_t)(total > 0 ? total : 1) * 2 * sizeof(double));
  double *mine = malloc((size_t)(n > 0 ? n : 1) * 2 * sizeof(double));
  double *mx = malloc((size_t)(total > 0 ? total : 1) * sizeof(double));
  double *sm = malloc((size_t)(total > 0 ? total : 1) * sizeof(double));
  if (s == DM_OK && (!cnt || !dsp || !pairs || !allx || !part || !mine || !mx || !sm))
    s = dm_error(DM_ERR_NOMEM, "no memory for %lld sharded KDE queries", (long long)total);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    int mycount = (int)(n * k->dk);
    MPI_Allgather(&mycount, 1, MPI_INT, cnt, 1, MPI_INT, comm);
    dsp[0] = 0;
    for (int i = 1; i < P; i++)
      dsp[i] = dsp[i - 1] + cnt[i - 1];
    for (int i = 0; i < P; i++)
      pairs[i] = cnt[i] / k->dk;
    if (MPI_Allgatherv(x, mycount, MPI_FLOAT, allx, cnt, dsp, MPI_FLOAT, comm) != MPI_SUCCESS)
      s = dm_error(DM_ERR_MPI, "sharded KDE: gathering queries failed");
  }
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    int64_t r0, r1;
    dm_partition(k->n, r, P, &r0, &r1);
    lse_threads(k, r0, r1, allx, total, mx, sm);
    for (int64_t i = 0; i < total; i++) {
      part[2 * i] = mx[i];
      part[2 * i + 1] = sm[i];
    }
    MPI_Datatype pair;
    MPI_Op op;
    MPI_Type_contiguous(2, MPI_DOUBLE, &pair);
    MPI_Type_commit(&pair);
    MPI_Op_create(lse_merge_op, 1, &op);
    int e = MPI_Reduce_scatter(part, mine, pairs, pair, op, comm);
    MPI_Op_free(&op);
    MPI_Type_free(&pair);
    if (e != MPI_SUCCESS)
      s = dm_error(DM_ERR_MPI, "sharded KDE: merging partial sums failed");
    for (int64_t i = 0; s == DM_OK && i < n; i++)
      logp[i] = mine[2 * i] + log(mine[2 * i + 1]) - k->log_norm;
  }
  free(cnt);
  free(dsp);
  free(pairs);
  free(allx);
  free(part);
  free(mine);
  free(mx);
  free(sm);
  free(xp);
  return dm_agree(s, comm);
}

/* ---- the backend table -------------------------------------------------------- */

/* COLLECTIVE. Every rank gets all training rows, in rank order. */
static dm_status gather_rows(const dm_model_data *tr, MPI_Comm comm, float **ref, int64_t **row,
                             double **w)
{
  int P = dm_size(comm);
  int64_t n = tr->n_total, d = tr->dim;
  dm_status s = DM_OK;
  if (n * d > INT_MAX)
    s = dm_error(DM_ERR_ARG, "%lld reference rows of %lld columns are too many: lower --max-train",
                 (long long)n, (long long)d);
  int *cf = malloc((size_t)P * sizeof(int)), *df = malloc((size_t)P * sizeof(int));
  int *cr = malloc((size_t)P * sizeof(int)), *dr = malloc((size_t)P * sizeof(int));
  *ref = malloc((size_t)(n > 0 ? n : 1) * d * sizeof(float));
  *row = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  *w = tr->weight ? malloc((size_t)(n > 0 ? n : 1) * sizeof(double)) : NULL;
  if (s == DM_OK && (!cf || !df || !cr || !dr || !*ref || !*row || (tr->weight && !*w)))
    s = dm_error(DM_ERR_NOMEM, "no memory for %lld reference rows", (long long)n);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    int mine = (int)tr->n_local;
    MPI_Allgather(&mine, 1, MPI_INT, cr, 1, MPI_INT, comm);
    dr[0] = df[0] = 0;
    for (int i = 0; i < P; i++) {
      cf[i] = cr[i] * (int)d;
      if (i > 0) {
        dr[i] = dr[i - 1] + cr[i - 1];
        df[i] = df[i - 1] + cf[i - 1];
      }
    }
    int e1 = MPI_Allgatherv(tr->x, mine * (int)d, MPI_FLOAT, *ref, cf, df, MPI_FLOAT, comm);
    int e2 = MPI_Allgatherv(tr->row_id, mine, MPI_INT64_T, *row, cr, dr, MPI_INT64_T, comm);
    int e3 = tr->weight ? MPI_Allgatherv(tr->weight, mine, MPI_DOUBLE, *w, cr, dr, MPI_DOUBLE, comm)
                        : MPI_SUCCESS;
    if (e1 != MPI_SUCCESS || e2 != MPI_SUCCESS || e3 != MPI_SUCCESS)
      s = dm_error(DM_ERR_MPI, "gathering the reference rows failed");
  }
  free(cf);
  free(df);
  free(cr);
  free(dr);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    free(*ref);
    free(*row);
    free(*w);
    *ref = NULL;
    *row = NULL;
    *w = NULL;
  }
  return s;
}

static dm_status kde_fit(const dm_model_data *tr, const void *opts_, MPI_Comm comm, void **state,
                         cJSON *info)
{
  *state = NULL;
  dm_kde_isa_agree(comm);
  dm_kde_opts o;
  if (opts_)
    o = *(const dm_kde_opts *)opts_;
  else
    dm_kde_opts_default(&o);
  int d = tr->dim;
  if (tr->n_total < 2)
    return dm_error(DM_ERR_NUMERIC, "KDE: %lld training rows; need at least 2",
                    (long long)tr->n_total);
  if (o.rule == DM_KDE_BW_CV &&
      (o.cv_folds < 2 || o.cv_grid < 2 || !(o.cv_lo > 0) || !(o.cv_hi > o.cv_lo)))
    return dm_error(DM_ERR_ARG, "KDE cv: need folds >= 2, grid >= 2 and 0 < lo < hi");
  if (tr->weight && o.rule == DM_KDE_BW_CV)
    return dm_error(DM_ERR_ARG, "KDE: --bandwidth cv does not take event weights into account; "
                                "with --weighted give scott, silverman or a value");
  float *ref = NULL;
  int64_t *row = NULL;
  double *w = NULL;
  DM_FORWARD(gather_rows(tr, comm, &ref, &row, &w));
  int64_t n = tr->n_total;
  /* The rules of thumb take Kish's effective count when weighted (summed in
   * store order on every rank, so every rank gets the same bits). */
  int64_t n_rule = n;
  if (w) {
    double sw = 0, sw2 = 0;
    for (int64_t j = 0; j < n; j++) {
      sw += w[j];
      sw2 += w[j] * w[j];
    }
    n_rule = sw2 > 0 ? (int64_t)llround(sw * sw / sw2) : 1;
    if (n_rule < 1)
      n_rule = 1;
  }
  double h = 0;
  double *factor = NULL, *loglik = NULL;
  int best = -1;
  int64_t cv_used = 0;
  dm_status s = DM_OK;
  switch (o.rule) {
  case DM_KDE_BW_SCOTT:
    h = dm_kde_scott(n_rule, d);
    break;
  case DM_KDE_BW_SILVERMAN:
    h = dm_kde_silverman(n_rule, d);
    break;
  case DM_KDE_BW_VALUE:
    h = o.bandwidth;
    break;
  case DM_KDE_BW_CV:
    factor = calloc((size_t)o.cv_grid, sizeof *factor);
    loglik = calloc((size_t)o.cv_grid, sizeof *loglik);
    s = factor && loglik ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for the cv grid");
    s = dm_agree(s, comm);
    if (s == DM_OK)
      s = dm_kde_cv(ref, row, n, d, &o, tr->seed, comm, &h, factor, loglik, &best, &cv_used);
    break;
  }
  dm_kde *k = NULL;
  if (s == DM_OK)
    s = dm_kde_new(ref, n, d, h, &k);
  if (s == DM_OK && w)
    s = dm_kde_set_weights(k, w);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    k->row = row;
    row = NULL;
    snprintf(k->rule, sizeof k->rule, "%s", rule_name(o.rule));
    if (o.rule == DM_KDE_BW_CV) {
      k->cv_folds = o.cv_folds;
      k->cv_grid = o.cv_grid;
      k->cv_rows = cv_used;
      k->cv_factor = factor;
      k->cv_loglik = loglik;
      factor = loglik = NULL;
    }
    if (info) {
      cJSON_AddNumberToObject(info, "bandwidth", h);
      cJSON_AddStringToObject(info, "bandwidth_rule", k->rule);
      cJSON_AddNumberToObject(info, "scott_bandwidth", dm_kde_scott(n_rule, d));
      cJSON_AddBoolToObject(info, "weighted", w != NULL);
      if (w)
        cJSON_AddNumberToObject(info, "effective_rows", (double)n_rule);
      cJSON_AddNumberToObject(info, "reference_rows", (double)n);
      cJSON_AddNumberToObject(info, "dim", d);
      cJSON_AddStringToObject(info, "kernel_isa", dm_kde_isa());
      if (o.rule == DM_KDE_BW_CV) {
        cJSON *cv = cJSON_AddObjectToObject(info, "cv");
        cJSON_AddNumberToObject(cv, "folds", o.cv_folds);
        cJSON_AddNumberToObject(cv, "rows", (double)cv_used);
        cJSON_AddItemToObject(cv, "factor", cJSON_CreateDoubleArray(k->cv_factor, o.cv_grid));
        cJSON_AddItemToObject(cv, "mean_heldout_loglik",
                              cJSON_CreateDoubleArray(k->cv_loglik, o.cv_grid));
        cJSON_AddNumberToObject(cv, "best_factor", k->cv_factor[best]);
        cJSON_AddBoolToObject(cv, "best_at_grid_edge", best == 0 || best == o.cv_grid - 1);
      }
    }
    *state = k;
  } else {
    dm_kde_free(k);
  }
  free(ref);
  free(row);
  free(w);
  free(factor);
  free(loglik);
  return s;
}

static dm_status kde_score(void *state, const float *x, int64_t n, int dim, double *score,
                           MPI_Comm comm)
{
  dm_kde *k = state;
  dm_status s = dim == k->d ? DM_OK
                            : dm_error(DM_ERR_INTERNAL, "KDE scoring %d columns, model has %d",
                                       dim, k->d);
  if (k->mode == DM_KDE_SHARDED) {
    s = dm_agree(s, comm);
    if (s == DM_OK)
      s = dm_kde_logpdf_sharded(k, x, n, score, comm);
  } else if (s == DM_OK) {
    dm_kde_logpdf(k, x, n, score);
  }
  for (int64_t i = 0; s == DM_OK && i < n; i++)
    score[i] = -score[i];
  return s;
}

static dm_status kde_set(void *state, const char *key, const char *value)
{
  dm_kde *k = state;
  if (!strcmp(key, "mode")) {
    if (!strcmp(value, "replicated"))
      k->mode = DM_KDE_REPLICATED;
    else if (!strcmp(value, "sharded"))
      k->mode = DM_KDE_SHARDED;
    else
      return dm_error(DM_ERR_ARG, "kde setting mode=%s: expected replicated or sharded", value);
    return DM_OK;
  }
  return dm_error(DM_ERR_ARG, "kde has no setting '%s' (known: mode)", key);
}

static dm_status kde_save(const void *state, hid_t g, MPI_Comm comm)
{
  const dm_kde *k = state;
  int64_t dims[2] = {k->n, k->d}, d1[1] = {k->n}, dg[1] = {k->cv_grid};
  DM_FORWARD_AGREED(dm_h5_attr_set_f64(g, "bandwidth", k->h), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str(g, "bandwidth_rule", k->rule), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(g, "n_ref", k->n), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(g, "dim", k->d), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(g, "cv_folds", k->cv_folds), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(g, "cv_rows", k->cv_rows), comm);
  DM_FORWARD_AGREED(dm_h5_array_write(g, "reference", H5T_NATIVE_FLOAT, 2, dims, k->ref, comm), comm);
  if (k->row)
    DM_FORWARD_AGREED(dm_h5_array_write(g, "reference_row", H5T_NATIVE_INT64, 1, d1, k->row, comm), comm);
  if (k->w)
    DM_FORWARD_AGREED(dm_h5_array_write(g, "reference_weight", H5T_NATIVE_DOUBLE, 1, d1, k->w, comm), comm);
  if (k->cv_grid > 0) {
    DM_FORWARD_AGREED(dm_h5_array_write(g, "cv_factor", H5T_NATIVE_DOUBLE, 1, dg, k->cv_factor, comm), comm);
    DM_FORWARD_AGREED(dm_h5_array_write(g, "cv_loglik", H5T_NATIVE_DOUBLE, 1, dg, k->cv_loglik, comm), comm);
  }
  return DM_OK;
}

static dm_status kde_load(hid_t g, int version, MPI_Comm comm, void **state)
{
  *state = NULL;
  dm_kde_isa_agree(comm);
  double h = 0;
  int64_t n = 0, d = 0, folds = 0, cv_rows = 0;
  char rule[16] = "";
  if (dm_h5_attr_get_f64(g, "bandwidth", &h) != DM_OK ||
      dm_h5_attr_get_i64(g, "n_ref", &n) != DM_OK || dm_h5_attr_get_i64(g, "dim", &d) != DM_OK ||
      dm_h5_attr_get_str(g, "bandwidth_rule", rule, sizeof rule) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "attribute bandwidth, bandwidth_rule, n_ref or dim missing");
  if (!(h > 0) || !isfinite(h))
    return dm_error(DM_ERR_SCHEMA, "attribute bandwidth = %g is not positive", h);
  dm_h5_attr_get_i64(g, "cv_folds", &folds);
  dm_h5_attr_get_i64(g, "cv_rows", &cv_rows);
  int nd = 0;
  int64_t dims[4] = {0}, count = 0;
  void *buf = NULL;
  DM_FORWARD_AGREED(dm_h5_array_read(g, "reference", H5T_NATIVE_FLOAT, &nd, dims, &count, &buf),
                    comm);
  dm_status s = DM_OK;
  if (nd != 2 || dims[0] != n || dims[1] != d || n < 1 || d < 1)
    s = dm_error(DM_ERR_SCHEMA, "dataset reference has shape %lld x %lld, attributes say %lld x %lld",
                 (long long)dims[0], (long long)(nd > 1 ? dims[1] : 0), (long long)n,
                 (long long)d);
  for (int64_t i = 0; s == DM_OK && i < count; i++)
    if (!isfinite(((float *)buf)[i]))
      s = dm_error(DM_ERR_SCHEMA, "dataset reference: row %lld holds a non-finite value",
                   (long long)(i / d));
  dm_kde *k = NULL;
  if (s == DM_OK)
    s = dm_kde_new(buf, n, (int)d, h, &k);
  free(buf);
  if (s == DM_OK && dm_h5_exists(g, "reference_row")) {
    void *rb = NULL;
    s = dm_h5_array_read(g, "reference_row", H5T_NATIVE_INT64, &nd, dims, &count, &rb);
    if (s == DM_OK && count != n)
      s = dm_error(DM_ERR_SCHEMA, "dataset reference_row has %lld entries, expected %lld",
                   (long long)count, (long long)n);
    if (s == DM_OK)
      k->row = rb;
    else
      free(rb);
  }
  if (s == DM_OK && version >= 2 && dm_h5_exists(g, "reference_weight")) {
    void *wb = NULL;
    s = dm_h5_array_read(g, "reference_weight", H5T_NATIVE_DOUBLE, &nd, dims, &count, &wb);
    if (s == DM_OK && count != n)
      s = dm_error(DM_ERR_SCHEMA, "dataset reference_weight has %lld entries, expected %lld",
                   (long long)count, (long long)n);
    if (s == DM_OK)
      s = dm_kde_set_weights(k, wb);
    if (s != DM_OK && !strstr(dm_error_message(), "reference_weight"))
      dm_error_context("dataset reference_weight");
    free(wb);
  }
  if (s == DM_OK && dm_h5_exists(g, "cv_factor") && dm_h5_exists(g, "cv_loglik")) {
    void *fb = NULL, *lb = NULL;
    int64_t c2 = 0;
    s = dm_h5_array_read(g, "cv_factor", H5T_NATIVE_DOUBLE, &nd, dims, &count, &fb);
    if (s == DM_OK)
      s = dm_h5_array_read(g, "cv_loglik", H5T_NATIVE_DOUBLE, &nd, dims, &c2, &lb);
    if (s == DM_OK && (count != c2 || count < 1))
      s = dm_error(DM_ERR_SCHEMA, "datasets cv_factor and cv_loglik differ in length");
    if (s == DM_OK) {
      k->cv_factor = fb;
      k->cv_loglik = lb;
      k->cv_grid = (int)count;
      k->cv_folds = (int)folds;
      k->cv_rows = cv_rows;
    } else {
      free(fb);
      free(lb);
    }
  }
  if (s != DM_OK) {
    dm_kde_free(k);
    return s;
  }
  snprintf(k->rule, sizeof k->rule, "%s", rule);
  *state = k;
  return DM_OK;
}

static void kde_describe(const void *state, FILE *out)
{
  const dm_kde *k = state;
  fprintf(out, "  KDE:            Gaussian kernel, %lld reference rows x %d columns%s\n",
          (long long)k->n, k->d, k->w ? ", weighted (reference_weight)" : "");
  fprintf(out, "  bandwidth:      %.6g (%s; Scott's rule would give %.6g)\n", k->h, k->rule,
          dm_kde_scott(k->n, k->d));
  if (k->cv_grid > 0) {
    fprintf(out, "  cross-validation: %d folds on %lld rows; factor x Scott -> mean held-out log p\n",
            k->cv_folds, (long long)k->cv_rows);
    for (int g = 0; g < k->cv_grid; g++)
      fprintf(out, "      %8.4f  %12.6f\n", k->cv_factor[g], k->cv_loglik[g]);
  }
  fprintf(out, "  kernel ISA:     %s\n", dm_kde_isa());
}

static void kde_free(void *state) { dm_kde_free(state); }

const dm_model_backend dm_model_backend_kde = {
    .name = "kde",
    .summary = "exact Gaussian kernel density estimate; score = -log p(x)",
    .version = KDE_VERSION,
    .fit = kde_fit,
    .score = kde_score,
    .save = kde_save,
    .load = kde_load,
    .set = kde_set,
    .describe = kde_describe,
    .free = kde_free,
};
