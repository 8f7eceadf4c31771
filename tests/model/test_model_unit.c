/* Model layer: feature extraction on a hand-built event, the transform's
 * independence of the rank split, the KDE against a direct double sum (near
 * and far queries, replicated and sharded), the distributed selection, the
 * cross-validated bandwidth across rank counts, and a model file round trip.
 * Run on 3 ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dm_comm.h"
#include "dm_features.h"
#include "dm_h5.h"
#include "dm_kde.h"
#include "dm_model.h"
#include "dm_rng.h"
#include "dm_train.h"

#define W MPI_COMM_WORLD

/* One event: jets 100 and 300 GeV (a b-jet), a 50 GeV muon, a 30 GeV photon,
 * MET 80, listed out of pT order. Expected values derived by hand. */
static void make_event(dm_events *ev)
{
  memset(ev, 0, sizeof *ev);
  assert_int_equal(dm_events_reserve(ev, 1, 4, 0), DM_OK);
  static const uint8_t t[4] = {DM_OBJ_JET, DM_OBJ_MUPLUS, DM_OBJ_BJET, DM_OBJ_PHOTON};
  static const float pt[4] = {100, 50, 300, 30}, eta[4] = {0.5f, -1, 0, 2},
                     phi[4] = {1, 2, -1, 3};
  for (int i = 0; i < 4; i++) {
    ev->type[i] = t[i];
    ev->pt[i] = pt[i];
    ev->eta[i] = eta[i];
    ev->phi[i] = phi[i];
    ev->e[i] = (float)(pt[i] * cosh(eta[i]));
  }
  ev->n_events = 1;
  ev->n_objects = 4;
  ev->obj_offset[0] = 0;
  ev->obj_offset[1] = 4;
  ev->met[0] = 80;
  ev->met_phi[0] = 0.25f;
  ev->event_id[0] = 42;
  ev->process[0] = 0;
}

static void test_features(void **state)
{
  dm_events ev;
  make_event(&ev);
  dm_feature_spec hl = {DM_FEATURES_HIGHLEVEL, 20, DM_PHI_RAW};
  float row[DM_FEATURES_HIGHLEVEL_DIM];
  assert_int_equal(dm_features_extract(&hl, &ev, row), DM_OK);
  /* H_T = 400, m_eff = 480, MET/H_T = 0.2; 2 jets, 1 b, 1 lepton, 1 photon. */
  const double want[DM_FEATURES_HIGHLEVEL_DIM] = {
      log1p(400), log1p(80), log1p(480), log1p(0.2), 2, 1, 1, 1,
      log1p(300), log1p(100), 0, log1p(50), log1p(30)};
  for (int j = 0; j < DM_FEATURES_HIGHLEVEL_DIM; j++)
    assert_float_equal(row[j], want[j], 1e-5);

  dm_feature_spec ob = {DM_FEATURES_OBJECTS, 3, DM_PHI_SINCOS};
  int dim = 0;
  assert_int_equal(dm_features_dim(&ob, &dim), DM_OK);
  assert_int_equal(dim, 3 * 12 + 3);
  float r2[64];
  assert_int_equal(dm_features_extract(&ob, &ev, r2), DM_OK);
  /* Slot 1: the b-jet (300, eta 0, phi -1); slot 2: the jet; slot 3: the
   * muon; the photon (lowest pT) is dropped. */
  assert_float_equal(r2[1], log1p(300), 1e-5);
  assert_float_equal(r2[0], log1p(300), 1e-5); /* E = pT at eta 0 */
  assert_float_equal(r2[3], sin(-1.0), 1e-6);
  assert_float_equal(r2[4], cos(-1.0), 1e-6);
  assert_float_equal(r2[5 + DM_OBJ_BJET], 1, 0);
  assert_float_equal(r2[12 + 1], log1p(100), 1e-5);
  assert_float_equal(r2[12 + 5 + DM_OBJ_JET], 1, 0);
  assert_float_equal(r2[24 + 1], log1p(50), 1e-5);
  assert_float_equal(r2[24 + 5 + DM_OBJ_MUPLUS], 1, 0);
  assert_float_equal(r2[36], log1p(80), 1e-5);
  assert_float_equal(r2[37], sin(0.25), 1e-6);
  char name[64];
  dm_features_column_name(&ob, 24 + 5 + DM_OBJ_MUPLUS, name, sizeof name);
  assert_string_equal(name, "obj3_is_m+");
  ev.pt[2] = NAN;
  assert_int_equal(dm_features_extract(&hl, &ev, row), DM_ERR_NUMERIC);
  assert_non_null(strstr(dm_error_message(), "event_id 42"));
  dm_events_free(&ev);
}

/* Rows of a seeded correlated 4-d cloud; row g is the same on every rank. */
static void rows(int64_t g0, int64_t n, float *x)
{
  for (int64_t i = 0; i < n; i++) {
    dm_rng r;
    dm_rng_init(&r, 5, (uint64_t)(g0 + i), 0);
    double a = dm_rng_normal(&r), b = dm_rng_normal(&r);
    x[i * 4 + 0] = (float)(3 + a);
    x[i * 4 + 1] = (float)(10 + 2 * a + 0.5 * b);
    x[i * 4 + 2] = (float)(-1 + 0.1 * dm_rng_normal(&r));
    x[i * 4 + 3] = (float)(b * b);
  }
}

static void test_transform_split(void **state)
{
  /* Rows shaped like high-level features: 4 informative columns, a
   * constant one, zeros after. */
  const int64_t N = 5001;
  int d = DM_FEATURES_HIGHLEVEL_DIM;
  float *all = calloc((size_t)N * d, sizeof(float)), *tmp = malloc((size_t)N * 4 * sizeof(float));
  rows(0, N, tmp);
  for (int64_t i = 0; i < N; i++) {
    memcpy(all + i * d, tmp + i * 4, 4 * sizeof(float));
    all[i * d + 4] = 7.0f; /* a constant column: scale 1 */
  }
  dm_feature_spec hl = {DM_FEATURES_HIGHLEVEL, 20, DM_PHI_RAW};
  int64_t b, e;
  dm_partition(N, dm_rank(W), dm_size(W), &b, &e);
  dm_transform tw, ts;
  assert_int_equal(dm_transform_fit(&tw, &hl, 3, all + b * d, e - b, W), DM_OK);
  assert_int_equal(dm_transform_fit(&ts, &hl, 3, all, N, MPI_COMM_SELF), DM_OK);
  assert_memory_equal(tw.mean, ts.mean, (size_t)d * sizeof(double));
  assert_memory_equal(tw.scale, ts.scale, (size_t)d * sizeof(double));
  assert_memory_equal(tw.pca, ts.pca, (size_t)3 * d * sizeof(double));
  assert_memory_equal(tw.pca_var, ts.pca_var, 3 * sizeof(double));
  /* Against a plain two-pass double computation (population std). */
  for (int j = 0; j < 5; j++) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < N; i++)
      m += all[i * d + j];
    m /= N;
    for (int64_t i = 0; i < N; i++)
      v += (all[i * d + j] - m) * (all[i * d + j] - m);
    v /= N;
    assert_float_equal(tw.mean[j], m, 1e-6 * (1 + fabs(m)));
    assert_float_equal(tw.scale[j], j == 4 ? 1.0 : sqrt(v), 1e-6 * sqrt(v + 1));
  }
  /* The projected training rows are whitened: unit variance, uncorrelated. */
  float *y = malloc((size_t)N * 3 * sizeof(float));
  dm_transform_apply(&tw, all, N, y);
  for (int c = 0; c < 3; c++) {
    double s = 0, s2 = 0, x01 = 0;
    for (int64_t i = 0; i < N; i++) {
      s += y[i * 3 + c];
      s2 += (double)y[i * 3 + c] * y[i * 3 + c];
      x01 += (double)y[i * 3 + c] * y[i * 3 + (c + 1) % 3];
    }
    assert_float_equal(s / N, 0, 1e-3);
    assert_float_equal(s2 / N, 1, 1e-3);
    assert_float_equal(x01 / N, 0, 1e-3);
  }
  /* Too many components for the data's rank: columns 5.. are constant. */
  dm_transform tb;
  assert_int_equal(dm_transform_fit(&tb, &hl, 6, all + b * d, e - b, W), DM_ERR_NUMERIC);
  assert_null(tb.mean);
  dm_transform_free(&tw);
  dm_transform_free(&ts);
  free(all);
  free(tmp);
  free(y);
}

static double direct_logp(const float *ref, int64_t n, int d, const float *q, double h)
{
  double mx = -INFINITY, s = 0;
  double *e = malloc((size_t)n * sizeof *e);
  for (int64_t j = 0; j < n; j++) {
    double d2 = 0;
    for (int c = 0; c < d; c++) {
      double t = (double)q[c] - ref[j * d + c];
      d2 += t * t;
    }
    e[j] = -d2 / (2 * h * h);
    mx = fmax(mx, e[j]);
  }
  for (int64_t j = 0; j < n; j++)
    s += exp(e[j] - mx);
  free(e);
  return mx + log(s) - log((double)n) - 0.5 * d * log(2 * M_PI * h * h);
}

/* d = 7 takes the kernel's unrolled path, d = 20 the generic one. */
static void check_exact(int d)
{
  const int64_t n = 3001; /* not a multiple of the kernel's blocks */
  const int nq = 97;
  float *ref = malloc((size_t)n * d * sizeof(float)), *q = malloc((size_t)nq * d * sizeof(float));
  dm_rng r;
  dm_rng_init(&r, 9, 1, 2);
  for (int64_t i = 0; i < n * d; i++)
    ref[i] = (float)dm_rng_normal(&r);
  for (int i = 0; i < nq; i++)
    for (int c = 0; c < d; c++)
      /* Queries from the bulk out to 40 sigma, where every kernel term
       * would underflow without the log-sum-exp shift. */
      q[i * d + c] = (float)(dm_rng_normal(&r) * (1 + i * 0.4));
  double h = 0.3;
  dm_kde *k = NULL;
  assert_int_equal(dm_kde_new(ref, n, d, h, &k), DM_OK);
  double *lp = malloc(nq * sizeof(double)), *ls = malloc(nq * sizeof(double));
  dm_kde_logpdf(k, q, nq, lp);
  for (int i = 0; i < nq; i++) {
    double want = direct_logp(ref, n, d, q + i * d, h);
    assert_true(isfinite(lp[i]));
    assert_true(fabs(lp[i] - want) <= 1e-6 * fabs(want));
  }
  /* Sharded: each rank passes a different subset of the queries. */
  int64_t b, e;
  dm_partition(nq, dm_rank(W), dm_size(W), &b, &e);
  assert_int_equal(dm_kde_logpdf_sharded(k, q + b * d, e - b, ls, W), DM_OK);
  for (int64_t i = b; i < e; i++)
    assert_true(fabs(ls[i - b] - lp[i]) <= 1e-6 * fabs(lp[i]));
  /* Threads must not change a single bit. */
  double *l1 = malloc(nq * sizeof(double));
#ifdef _OPENMP
  omp_set_num_threads(3);
#endif
  dm_kde_logpdf(k, q, nq, l1);
  assert_memory_equal(l1, lp, nq * sizeof(double));
  /* Bandwidth rules (standardised data). */
  assert_float_equal(dm_kde_scott(10000, 6), pow(10000.0, -0.1), 1e-12);
  assert_float_equal(dm_kde_silverman(10000, 6), pow(10000.0 * 8 / 4, -0.1), 1e-12);
  dm_kde_free(k);
  free(ref);
  free(q);
  free(lp);
  free(ls);
  free(l1);
}

static void test_kde_exact(void **state)
{
  check_exact(7);
  check_exact(20);
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_select(void **state)
{
  /* 1000 keys with duplicates, split unevenly; the m smallest in order. */
  const int64_t N = 1000;
  uint64_t *keys = malloc(N * sizeof *keys), *sorted = malloc(N * sizeof *sorted);
  for (int64_t i = 0; i < N; i++)
    keys[i] = dm_rng_hash(3, (uint64_t)i, 0) >> (i % 3 == 0 ? 60 : 0); /* many small ties */
  memcpy(sorted, keys, N * sizeof *keys);
  qsort(sorted, N, sizeof *sorted, cmp_u64);
  int P = dm_size(W), R = dm_rank(W);
  int64_t b = N * R * R / (P * P), e = N * (R + 1) * (R + 1) / (P * P); /* uneven */
  unsigned char *take = malloc(N);
  int64_t ms[] = {1, 7, 70, 400, 999, 1000, 5000, 0};
  for (size_t t = 0; t < sizeof ms / sizeof ms[0]; t++) {
    int64_t got = -1;
    assert_int_equal(dm_train_select_smallest(keys + b, e - b, ms[t], W, take, &got), DM_OK);
    int64_t want = ms[t] <= 0 || ms[t] > N ? N : ms[t];
    assert_int_equal(got, want);
    int64_t local = 0;
    for (int64_t i = 0; i < e - b; i++) {
      local += take[i];
      if (want < N && take[i])
        assert_true(keys[b + i] <= sorted[want - 1]);
      if (want < N && !take[i])
        assert_true(keys[b + i] >= sorted[want - 1]);
    }
    assert_int_equal(dm_allsum_i64(local, W), want);
  }
  free(keys);
  free(sorted);
  free(take);
}

static void test_cv_ranks(void **state)
{
  const int64_t n = 1200;
  float *x = malloc((size_t)n * 4 * sizeof(float));
  int64_t *row = malloc(n * sizeof *row);
  rows(100, n, x);
  for (int64_t i = 0; i < n; i++)
    row[i] = 100 + i;
  dm_kde_opts o;
  dm_kde_opts_default(&o);
  o.cv_grid = 7;
  o.cv_rows = 1000;
  double hw, hs, fw[7], fs[7], lw[7], ls[7];
  int bw, bs;
  int64_t uw, us;
  /* The same rows column-major (as a fit passes its estimator's copy): the
   * rows taken, hence every number, must not depend on the layout. */
  float *xt = malloc((size_t)n * 4 * sizeof(float));
  for (int64_t i = 0; i < n; i++)
    for (int c = 0; c < 4; c++)
      xt[c * n + i] = x[i * 4 + c];
  assert_int_equal(dm_kde_cv(x, 4, 1, row, n, 4, &o, 17, W, &hw, fw, lw, &bw, &uw), DM_OK);
  assert_int_equal(dm_kde_cv(xt, 1, n, row, n, 4, &o, 17, MPI_COMM_SELF, &hs, fs, ls, &bs, &us),
                   DM_OK);
  free(xt);
  assert_memory_equal(lw, ls, sizeof lw);
  assert_true(hw == hs);
  assert_int_equal(uw, 1000);
  /* The held-out likelihood of a smooth cloud peaks inside the grid. */
  assert_true(bw > 0 && bw < 6);
  free(x);
  free(row);
}

static void test_model_file(void **state)
{
  /* Fit a tiny model through the backend table, save, load, score again. */
  const int64_t N = 600;
  int d = DM_FEATURES_HIGHLEVEL_DIM;
  float *raw = calloc((size_t)N * d, sizeof(float)), *tmp = malloc((size_t)N * 4 * sizeof(float));
  rows(0, N, tmp);
  for (int64_t i = 0; i < N; i++)
    memcpy(raw + i * d, tmp + i * 4, 4 * sizeof(float));
  int64_t b, e;
  dm_partition(N, dm_rank(W), dm_size(W), &b, &e);
  dm_model m;
  memset(&m, 0, sizeof m);
  dm_feature_spec hl = {DM_FEATURES_HIGHLEVEL, 20, DM_PHI_RAW};
  assert_int_equal(dm_transform_fit(&m.transform, &hl, 2, raw + b * d, e - b, W), DM_OK);
  float *x = malloc((size_t)N * 2 * sizeof(float));
  dm_transform_apply(&m.transform, raw, N, x);
  int64_t *ids = malloc(N * sizeof *ids);
  for (int64_t i = 0; i < N; i++)
    ids[i] = i;
  m.backend = dm_model_backend_find("kde");
  assert_non_null(m.backend);
  assert_null(dm_model_backend_find("nope"));
  dm_model_data data = {x + b * 2, e - b, N, 2, ids + b, 3, NULL, NULL};
  dm_kde_opts ko;
  dm_kde_opts_default(&ko);
  assert_int_equal(m.backend->fit(&data, &ko, W, &m.state, NULL), DM_OK);
  m.n_train = m.n_train_pool = N;
  char path[256];
  snprintf(path, sizeof path, "test_model_unit.h5");
  assert_int_equal(dm_model_save(&m, path, "unit test", "test", "", W), DM_OK);
  dm_model l;
  assert_int_equal(dm_model_load(&l, path, W), DM_OK);
  assert_string_equal(l.backend->name, "kde");
  assert_int_equal(l.transform.dim, 2);
  double s1[8], s2[8];
  float work[16];
  assert_int_equal(dm_model_score_raw(&m, raw, 8, work, s1, W), DM_OK);
  assert_int_equal(dm_model_score_raw(&l, raw, 8, work, s2, W), DM_OK);
  assert_memory_equal(s1, s2, sizeof s1);
  if (dm_rank(W) == 0)
    assert_int_equal(dm_model_info(path, stdout, MPI_COMM_SELF), DM_OK);
  MPI_Barrier(W);
  if (dm_rank(W) == 0)
    unlink(path);
  dm_model_free(&m);
  dm_model_free(&l);
  free(raw);
  free(tmp);
  free(x);
  free(ids);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  dm_h5_quiet();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_features),  cmocka_unit_test(test_transform_split),
      cmocka_unit_test(test_kde_exact), cmocka_unit_test(test_select),
      cmocka_unit_test(test_cv_ranks),  cmocka_unit_test(test_model_file),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  int any = 0;
  MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, W);
  MPI_Finalize();
  return any;
}
