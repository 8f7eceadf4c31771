/* The KDE as a model backend: fit (on every rank's training rows), score
 * (replicated or sharded), settings, and the /model group of a model file,
 * read whole or, for mode=sharded, one shard per rank. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_kde.h"
#include "dm_kde_impl.h"
#include "dm_xsum.h"

/* Version 2 adds the optional reference_weight dataset (weighted fits): a
 * reader that ignored it would score a weighted model wrongly. */
#define KDE_VERSION 2

static const char *rule_name(dm_kde_bw_rule r)
{
  static const char *const names[] = {"scott", "silverman", "cv", "value"};
  return names[r];
}

/* Reference rows a model write or read takes at a time: they come from, or
 * go into, the kernel's column-major copy block by block, so the rows as
 * stored are never held whole beside it (4 d bytes per reference row less
 * while a model is written or read). */
#define IO_ROWS 4096

/* COLLECTIVE, agreed. Every rank gets all training rows, in rank order,
 * straight into a new estimator's column-major copy (bandwidth still to be
 * set; room for the weight column when weighted): one gather per column,
 * each from a pack of that column of the local rows, so no row-major copy of
 * the whole reference exists beside it. Also every row's store index and,
 * when weighted, its weight. */
static dm_status gather_rows(const dm_model_data *tr, MPI_Comm comm, dm_kde **k, int64_t **row,
                             double **w)
{
  int P = dm_size(comm);
  int64_t n = tr->n_total, d = tr->dim;
  *k = NULL;
  *row = NULL;
  *w = NULL;
  dm_status s = DM_OK;
  if (n * d > INT_MAX)
    s = dm_error(DM_ERR_ARG, "%lld reference rows of %lld columns are too many: lower --max-train",
                 (long long)n, (long long)d);
  s = dm_agree(s, comm);
  if (s != DM_OK)
    return s;
  int *cr = malloc((size_t)P * sizeof(int)), *dr = malloc((size_t)P * sizeof(int));
  float *col = malloc((size_t)(tr->n_local > 0 ? tr->n_local : 1) * sizeof *col);
  *row = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  *w = tr->weight ? malloc((size_t)(n > 0 ? n : 1) * sizeof(double)) : NULL;
  if (!cr || !dr || !col || !*row || (tr->weight && !*w))
    s = dm_error(DM_ERR_NOMEM, "no memory for %lld reference rows", (long long)n);
  /* Columns start on 64-byte lines: aligned SIMD loads in the kernel. */
  if (s == DM_OK)
    s = dm_kde_alloc(n, n, 0, (n + 15) / 16 * 16, (int)d, tr->weight ? (int)d + 1 : (int)d, 1.0,
                     k);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    int mine = (int)tr->n_local;
    MPI_Allgather(&mine, 1, MPI_INT, cr, 1, MPI_INT, comm);
    dr[0] = 0;
    for (int i = 1; i < P; i++)
      dr[i] = dr[i - 1] + cr[i - 1];
    /* Every rank makes every gather whatever one of them returned (a rank
     * that stopped at its first error would leave the others' next gather
     * unmatched); the outcome is agreed below. */
    int bad = 0;
    for (int64_t c = 0; c < d; c++) {
      for (int64_t i = 0; i < tr->n_local; i++)
        col[i] = tr->x[i * d + c];
      bad |= MPI_Allgatherv(col, mine, MPI_FLOAT, (*k)->refT + c * (*k)->ld, cr, dr, MPI_FLOAT,
                            comm) != MPI_SUCCESS;
    }
    bad |= MPI_Allgatherv(tr->row_id, mine, MPI_INT64_T, *row, cr, dr, MPI_INT64_T, comm) !=
           MPI_SUCCESS;
    if (tr->weight)
      bad |= MPI_Allgatherv(tr->weight, mine, MPI_DOUBLE, *w, cr, dr, MPI_DOUBLE, comm) !=
             MPI_SUCCESS;
    if (bad)
      s = dm_error(DM_ERR_MPI, "gathering the reference rows failed");
  }
  free(cr);
  free(dr);
  free(col);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    dm_kde_free(*k);
    free(*row);
    free(*w);
    *k = NULL;
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
  dm_kde *k = NULL;
  int64_t *row = NULL;
  double *w = NULL;
  DM_FORWARD(gather_rows(tr, comm, &k, &row, &w));
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
      s = dm_kde_cv(k->refT, 1, k->ld, row, n, d, &o, tr->seed, comm, &h, factor, loglik,
                    &best, &cv_used);
    break;
  }
  if (s == DM_OK)
    s = dm_kde_check_args(n, d, h);
  if (s == DM_OK)
    dm_kde_set_bandwidth(k, h);
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
  } else if (s == DM_OK && k->shard_size > 0) {
    s = dm_error(DM_ERR_ARG, "kde: the model was read as one shard per rank (mode=sharded); "
                             "replicated scoring needs the whole reference");
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

static void fill_rows(void *k, int64_t begin, int64_t n, void *rows)
{
  dm_kde_rows_at(k, begin, n, rows);
}

static dm_status kde_save(const void *state, hid_t g, MPI_Comm comm)
{
  const dm_kde *k = state;
  DM_FORWARD_AGREED(k->shard_size > 0
                        ? dm_error(DM_ERR_INTERNAL, "a KDE read as shards cannot be written")
                        : DM_OK,
                    comm);
  int64_t dims[2] = {k->n, k->d}, d1[1] = {k->n}, dg[1] = {k->cv_grid};
  DM_FORWARD_AGREED(dm_h5_attr_set_f64(g, "bandwidth", k->h), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str(g, "bandwidth_rule", k->rule), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(g, "n_ref", k->n), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(g, "dim", k->d), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(g, "cv_folds", k->cv_folds), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(g, "cv_rows", k->cv_rows), comm);
  /* Rank 0 transposes IO_ROWS rows at a time back to the rows as stored and
   * writes them; the others only take part in the writes. */
  DM_FORWARD(dm_h5_array_write_rows(g, "reference", H5T_NATIVE_FLOAT, dims, IO_ROWS, fill_rows,
                                    (void *)k, comm));
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

/* LOCAL. The first non-finite value of n rows x d, as an error naming its
 * model row (rows start at row0). */
static dm_status check_finite(const float *x, int64_t n, int64_t d, int64_t row0)
{
  for (int64_t i = 0; i < n * d; i++)
    if (!isfinite(x[i]))
      return dm_error(DM_ERR_SCHEMA, "dataset reference: row %lld holds a non-finite value",
                      (long long)(row0 + i / d));
  return DM_OK;
}

/* COLLECTIVE, agreed (every rank calls; the ranges may differ). Model rows
 * [r0, r1) of the reference into k's held rows from 0 on, each checked
 * finite. */
static dm_status read_reference(hid_t g, dm_kde *k, int64_t r0, int64_t r1, MPI_Comm comm)
{
  int64_t d = k->d;
  float *buf = malloc((size_t)IO_ROWS * d * sizeof *buf);
  DM_FORWARD_AGREED(buf ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for reference rows"),
                    comm);
  int64_t rounds = dm_allmax_i64((r1 - r0 + IO_ROWS - 1) / IO_ROWS, comm);
  dm_status s = DM_OK;
  for (int64_t q = 0; s == DM_OK && q < rounds; q++) {
    int64_t j0 = r0 + q * IO_ROWS < r1 ? r0 + q * IO_ROWS : r1;
    int64_t nb = r1 - j0 < IO_ROWS ? r1 - j0 : IO_ROWS;
    s = dm_agree(dm_h5_array_read_rows(g, "reference", H5T_NATIVE_FLOAT, j0, nb, buf), comm);
    if (s == DM_OK)
      s = dm_agree(check_finite(buf, nb, d, j0), comm);
    if (s == DM_OK)
      dm_kde_fill_rows(k, j0 - r0, nb, buf);
  }
  free(buf);
  return s;
}

/* COLLECTIVE, agreed. The whole reference on every rank. reference_row
 * (only needed to write the model again) is checked for its length, not
 * read. */
static dm_status load_whole(hid_t g, int version, int64_t n, int64_t d, double h, MPI_Comm comm,
                            dm_kde **out)
{
  *out = NULL;
  int nd = 0;
  int64_t dims[4] = {0}, count = 0;
  dm_kde *k = NULL;
  /* Columns start on 64-byte lines: aligned SIMD loads in the kernel; room
   * for the weight column of a weighted model, so the weights go in place. */
  int cols = version >= 2 && dm_h5_exists(g, "reference_weight") ? (int)d + 1 : (int)d;
  DM_FORWARD_AGREED(dm_kde_alloc(n, n, 0, (n + 15) / 16 * 16, (int)d, cols, h, &k), comm);
  dm_status s = read_reference(g, k, 0, n, comm);
  if (s == DM_OK)
    dm_kde_set_bandwidth(k, h);
  if (s == DM_OK && dm_h5_exists(g, "reference_row")) {
    int64_t len = 0;
    s = dm_h5_col_length(g, "reference_row", &len);
    if (s == DM_OK && len != n)
      s = dm_error(DM_ERR_SCHEMA, "dataset reference_row has %lld entries, expected %lld",
                   (long long)len, (long long)n);
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
  s = dm_agree(s, comm);
  if (s == DM_OK)
    *out = k;
  else
    dm_kde_free(k);
  return s;
}

/* COLLECTIVE, agreed. Only this rank's shard of the reference (and of its
 * weights): nobody holds, or reads, the whole sample. The weights'
 * maximum and exact sum come from every rank's share, so the
 * normalisation has the bits a whole read gives. reference_row (only
 * needed to write the model again) is not read. */
static dm_status load_shard(hid_t g, int version, int64_t n, int64_t d, double h, MPI_Comm comm,
                            dm_kde **out)
{
  *out = NULL;
  int P = dm_size(comm), r = dm_rank(comm);
  int64_t r0, r1, c0, c1;
  dm_kde_shard(n, r, P, &r0, &r1);
  dm_kde_shard(n, 0, P, &c0, &c1);
  int64_t ld = (c1 - c0 + 15) / 16 * 16;
  dm_kde *k = NULL;
  int weighted = version >= 2 && dm_h5_exists(g, "reference_weight");
  DM_FORWARD_AGREED(dm_kde_alloc(r1 - r0, n, r0, ld, (int)d, weighted ? (int)d + 1 : (int)d, h, &k),
                    comm);
  dm_status s = read_reference(g, k, r0, r1, comm);
  if (s == DM_OK) {
    k->shard_rank = r;
    k->shard_size = P;
    dm_kde_set_bandwidth(k, h);
  }
  if (s == DM_OK && weighted) {
    int64_t len = 0;
    s = dm_h5_col_length(g, "reference_weight", &len);
    if (s == DM_OK && len != n)
      s = dm_error(DM_ERR_SCHEMA, "dataset reference_weight has %lld entries, expected %lld",
                   (long long)len, (long long)n);
    s = dm_agree(s, comm);
    double *w = malloc((size_t)(r1 > r0 ? r1 - r0 : 1) * sizeof *w);
    dm_status m = w ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for reference weights");
    if (s == DM_OK)
      s = dm_agree(m, comm);
    if (s == DM_OK)
      s = dm_agree(dm_h5_col_read(g, "reference_weight", H5T_NATIVE_DOUBLE, r0, r1 - r0, w),
                   comm);
    if (s == DM_OK) {
      s = dm_kde_weights_check(w, r1 - r0, r0);
      if (s != DM_OK)
        dm_error_context("dataset reference_weight");
      s = dm_agree(s, comm);
    }
    if (s == DM_OK) {
      double wmax = 0;
      dm_xsum sum;
      dm_xsum_clear(&sum);
      for (int64_t j = 0; j < r1 - r0; j++) {
        wmax = w[j] > wmax ? w[j] : wmax;
        dm_xsum_add(&sum, w[j]);
      }
      wmax = dm_allmax_f64(wmax, comm);
      s = dm_xsum_allreduce(&sum, 1, comm);
      if (s == DM_OK)
        s = dm_kde_attach_weights(k, w, wmax, dm_xsum_value(&sum));
      s = dm_agree(s, comm);
    }
    free(w);
  }
  if (s == DM_OK)
    *out = k;
  else
    dm_kde_free(k);
  return s;
}

/* The mode the settings end with (the last mode=...; anything but sharded
 * reads the whole reference, and set reports a bad value). */
static int settings_sharded(int n_set, const char *const *set)
{
  int sharded = 0;
  for (int i = 0; i < n_set; i++)
    if (!strncmp(set[i], "mode=", 5))
      sharded = !strcmp(set[i] + 5, "sharded");
  return sharded;
}

static dm_status kde_load_set(hid_t g, int version, int n_set, const char *const *set,
                              MPI_Comm comm, void **state)
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
  /* The shape first (metadata, the same answer on every rank), so that no
   * rank reads a share of a dataset that does not match. */
  int nd = 0;
  int64_t dims[4] = {0}, count = 0;
  DM_FORWARD(dm_h5_array_dims(g, "reference", &nd, dims));
  if (nd != 2 || dims[0] != n || dims[1] != d || n < 1 || d < 1)
    return dm_error(DM_ERR_SCHEMA,
                    "dataset reference has shape %lld x %lld, attributes say %lld x %lld",
                    (long long)dims[0], (long long)(nd > 1 ? dims[1] : 0), (long long)n,
                    (long long)d);
  dm_kde *k = NULL;
  if (settings_sharded(n_set, set))
    DM_FORWARD(load_shard(g, version, n, d, h, comm, &k));
  else
    DM_FORWARD(load_whole(g, version, n, d, h, comm, &k));
  dm_status s = DM_OK;
  if (dm_h5_exists(g, "cv_factor") && dm_h5_exists(g, "cv_loglik")) {
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

static dm_status kde_load(hid_t g, int version, MPI_Comm comm, void **state)
{
  return kde_load_set(g, version, 0, NULL, comm, state);
}

static void kde_describe(const void *state, FILE *out)
{
  const dm_kde *k = state;
  fprintf(out, "  KDE:            Gaussian kernel, %lld reference rows x %d columns%s\n",
          (long long)k->n_total, k->d, k->w ? ", weighted (reference_weight)" : "");
  fprintf(out, "  bandwidth:      %.6g (%s; Scott's rule would give %.6g)\n", k->h, k->rule,
          dm_kde_scott(k->n_total, k->d));
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
    .load_set = kde_load_set,
    .set = kde_set,
    .describe = kde_describe,
    .free = kde_free,
};
