/* The KDE estimator: options, bandwidth rules, reference rows and weights,
 * and the replicated evaluation. The inner loop is in dm_kde_kernel.c, the
 * exact accumulation of its block sums in dm_kde_sum.c, the sharded
 * evaluation in dm_kde_ring.c, the model-backend table (fit, file I/O) in
 * dm_kde_backend.c, the cross-validated bandwidth in dm_kde_bandwidth.c. */
#include "dm_kde.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_kde_impl.h"
#include "dm_xsum.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define CHUNK 128 /* queries per OpenMP work item (and per pass over the reference) */

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

/* Weights ride in one more kernel column, so the kernel itself is the
 * unweighted one: reference j gets c_j = h sqrt(2 ln(w_max / w_j)) there and
 * every query 0, which adds c_j^2 / (2 h^2) = ln(w_max / w_j) to the
 * exponent, i.e. multiplies the kernel by w_j / w_max. The normalisation is
 * then sum_j w_j / w_max instead of n. w_max and sum_j w_j are the model's
 * (a shard gets them from every rank's rows), the sum exact so that it has
 * the same bits however the rows are split. */
static void weight_column(dm_kde *k)
{
  float *col = k->refT + (size_t)k->d * k->ld;
  for (int64_t j = 0; j < k->n; j++)
    col[j] = (float)(k->h * sqrt(2.0 * log(k->wmax / k->w[j])));
  k->log_norm = log(k->wsum / k->wmax) + 0.5 * k->d * log(2.0 * M_PI * k->h * k->h);
}

void dm_kde_set_bandwidth(dm_kde *k, double h)
{
  k->h = h;
  k->log_norm = log((double)k->n_total) + 0.5 * k->d * log(2.0 * M_PI * h * h);
  if (k->w)
    weight_column(k);
}

dm_status dm_kde_weights_check(const double *w, int64_t n, int64_t row0)
{
  for (int64_t j = 0; j < n; j++)
    if (!(w[j] > 0) || !isfinite(w[j]))
      return dm_error(DM_ERR_ARG, "KDE reference weight %lld is %g: weights must be finite and > 0",
                      (long long)(row0 + j), w[j]);
  return DM_OK;
}

dm_status dm_kde_attach_weights(dm_kde *k, const double *w, double wmax, double wsum)
{
  double *copy = malloc((size_t)(k->n > 0 ? k->n : 1) * sizeof *copy);
  /* A refT allocated with room for the weight column takes it in place;
   * otherwise it moves to a larger buffer (both alive for a moment). */
  float *refT = k->cols > k->d ? k->refT
                               : aligned_alloc(64, (size_t)k->ld * (k->d + 1) * sizeof(float));
  if (!copy || !refT) {
    free(copy);
    if (refT != k->refT)
      free(refT);
    return dm_error(DM_ERR_NOMEM, "no memory for %lld reference weights", (long long)k->n);
  }
  memcpy(copy, w, (size_t)k->n * sizeof *copy);
  if (refT != k->refT) {
    memcpy(refT, k->refT, (size_t)k->ld * k->d * sizeof(float));
    memset(refT + (size_t)k->d * k->ld, 0, (size_t)k->ld * sizeof(float));
    free(k->refT);
    k->refT = refT;
    k->cols = k->d + 1;
  }
  free(k->w);
  k->w = copy;
  k->dk = k->d + 1;
  k->wmax = wmax;
  k->wsum = wsum;
  weight_column(k);
  return DM_OK;
}

dm_status dm_kde_set_weights(dm_kde *k, const double *w)
{
  DM_FORWARD(dm_kde_weights_check(w, k->n, 0));
  double wmax = 0;
  dm_xsum sum;
  dm_xsum_clear(&sum);
  for (int64_t j = 0; j < k->n; j++) {
    wmax = w[j] > wmax ? w[j] : wmax;
    dm_xsum_add(&sum, w[j]);
  }
  return dm_kde_attach_weights(k, w, wmax, dm_xsum_value(&sum));
}

const double *dm_kde_weights(const dm_kde *k) { return k->w; }

float *dm_kde_pad_queries(const dm_kde *k, const float *x, int64_t n)
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

dm_status dm_kde_alloc(int64_t n, int64_t n_total, int64_t row0, int64_t ld, int dim, int cols,
                       double h, dm_kde **out)
{
  if (cols < dim)
    cols = dim;
  *out = NULL;
  dm_kde *k = calloc(1, sizeof *k);
  if (!k)
    return dm_error(DM_ERR_NOMEM, "no memory for the KDE");
  k->n = n;
  k->n_total = n_total;
  k->row0 = row0;
  k->d = dim;
  k->dk = dim;
  k->ld = ld;
  k->cols = cols;
  k->h = h;
  k->refT = aligned_alloc(64, (size_t)(ld > 0 ? ld : 16) * cols * sizeof(float));
  if (!k->refT) {
    dm_kde_free(k);
    return dm_error(DM_ERR_NOMEM, "no memory for %lld x %d reference rows", (long long)ld, dim);
  }
  /* The padding rows are never evaluated, but they travel in the ring. */
  memset(k->refT, 0, (size_t)ld * cols * sizeof(float));
  snprintf(k->rule, sizeof k->rule, "value");
  *out = k;
  return DM_OK;
}

void dm_kde_fill_rows(dm_kde *k, int64_t j0, int64_t n, const float *ref)
{
  for (int c = 0; c < k->d; c++) {
    float *col = k->refT + (size_t)c * k->ld + j0;
    for (int64_t j = 0; j < n; j++)
      col[j] = ref[j * k->d + c];
  }
}

void dm_kde_fill(dm_kde *k, const float *ref)
{
  dm_kde_fill_rows(k, 0, k->n, ref);
  dm_kde_set_bandwidth(k, k->h);
}

dm_status dm_kde_check_args(int64_t n, int dim, double h)
{
  if (n < 1 || dim < 1 || !(h > 0) || !isfinite(h))
    return dm_error(DM_ERR_ARG, "KDE needs at least one reference row, dim >= 1 and h > 0 "
                                "(got %lld rows, dim %d, h %g)",
                    (long long)n, dim, h);
  return DM_OK;
}

dm_status dm_kde_new(const float *ref, int64_t n, int dim, double h, dm_kde **out)
{
  *out = NULL;
  DM_FORWARD(dm_kde_check_args(n, dim, h));
  /* Columns start on 64-byte lines: aligned SIMD loads in the kernel. */
  dm_kde *k = NULL;
  DM_FORWARD(dm_kde_alloc(n, n, 0, (n + 15) / 16 * 16, dim, dim, h, &k));
  dm_kde_fill(k, ref);
  *out = k;
  return DM_OK;
}

void dm_kde_rows_at(const dm_kde *k, int64_t j0, int64_t n, float *rows)
{
  for (int c = 0; c < k->d; c++) {
    const float *col = k->refT + (size_t)c * k->ld + j0;
    for (int64_t j = 0; j < n; j++)
      rows[j * k->d + c] = col[j];
  }
}

void dm_kde_free(dm_kde *k)
{
  if (!k)
    return;
  free(k->refT);
  free(k->spare);
  free(k->row);
  free(k->w);
  free(k->cv_factor);
  free(k->cv_loglik);
  free(k);
}

double dm_kde_bandwidth(const dm_kde *k) { return k->h; }
int64_t dm_kde_n_ref(const dm_kde *k) { return k->n_total; }
void dm_kde_set_mode(dm_kde *k, dm_kde_mode mode) { k->mode = mode; }

void dm_kde_shard(int64_t n, int rank, int size, int64_t *begin, int64_t *end)
{
  int64_t b0, b1;
  dm_partition((n + DM_KDE_BLOCK - 1) / DM_KDE_BLOCK, rank, size, &b0, &b1);
  *begin = b0 * DM_KDE_BLOCK < n ? b0 * DM_KDE_BLOCK : n;
  *end = b1 * DM_KDE_BLOCK < n ? b1 * DM_KDE_BLOCK : n;
}

void dm_kde_lse_threads(const float *refT, int64_t ld, int64_t rows, int dk, double h,
                        const float *x, int64_t n, dm_kde_acc *acc, MPI_Request *rq, int nrq)
{
  double inv2h2 = 1.0 / (2.0 * h * h);
  int64_t nchunk = (n + CHUNK - 1) / CHUNK;
  /* Thread 0 of the team is the calling thread: it may call MPI if it is
   * the main thread and MPI allows the main thread beside other threads. */
  int poll = 0;
  if (nrq > 0) {
    int level = MPI_THREAD_SINGLE, is_main = 0;
    MPI_Query_thread(&level);
    MPI_Is_thread_main(&is_main);
    poll = level >= MPI_THREAD_FUNNELED && is_main;
  }
  int done = 0;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < nchunk; c++) {
    int64_t i0 = c * CHUNK, nc = n - i0 < CHUNK ? n - i0 : CHUNK;
    dm_kde_lse(refT, ld, 0, rows, dk, x + i0 * dk, nc, inv2h2, acc + i0);
#ifdef _OPENMP
    int master = omp_get_thread_num() == 0;
#else
    int master = 1;
#endif
    /* Only the master thread touches done and MPI. */
    if (poll && master && !done)
      MPI_Testall(nrq, rq, &done, MPI_STATUSES_IGNORE);
  }
}

/* log p of one query at a time with an accumulator on the stack: the
 * fallback when the buffers of a whole call do not fit (same numbers). */
static void logpdf_one_by_one(const dm_kde *k, const float *x, int64_t n, double *logp)
{
  float one[1024];
  for (int64_t i = 0; i < n; i++) {
    if (k->dk > 1024) {
      logp[i] = NAN;
      continue;
    }
    memcpy(one, x + i * k->d, (size_t)k->d * sizeof *one);
    if (k->dk != k->d)
      one[k->d] = 0.0f;
    dm_kde_acc a;
    dm_kde_acc_clear(&a);
    dm_kde_lse(k->refT, k->ld, 0, k->n, k->dk, one, 1, 1.0 / (2.0 * k->h * k->h), &a);
    logp[i] = dm_kde_acc_log(&a) - k->log_norm;
  }
}

void dm_kde_logpdf(const dm_kde *k, const float *x, int64_t n, double *logp)
{
  if (k->shard_size > 0) {
    /* A shard alone cannot give log p (kde_score refuses before this). */
    for (int64_t i = 0; i < n; i++)
      logp[i] = NAN;
    return;
  }
  float *xp = k->dk != k->d ? dm_kde_pad_queries(k, x, n) : NULL;
  dm_kde_acc *acc = malloc((size_t)(n > 0 ? n : 1) * sizeof *acc);
  if (!acc || (k->dk != k->d && !xp)) {
    free(xp);
    free(acc);
    logpdf_one_by_one(k, x, n, logp);
    return;
  }
  for (int64_t i = 0; i < n; i++)
    dm_kde_acc_clear(&acc[i]);
  dm_kde_lse_threads(k->refT, k->ld, k->n, k->dk, k->h, xp ? xp : x, n, acc, NULL, 0);
  for (int64_t i = 0; i < n; i++)
    logp[i] = dm_kde_acc_log(&acc[i]) - k->log_norm;
  free(acc);
  free(xp);
}
