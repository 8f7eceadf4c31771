/* The KDE's exact block accumulation and the sharded evaluation (reference
 * shards passed around a ring of ranks):
 *  - the accumulator gives the same bits in any order of its terms, and the
 *    log-sum-exp of a long double computation;
 *  - replicated log p against a direct long double sum in this file (near
 *    and far queries, weighted and not, both kernel paths d = 7 and d = 14);
 *  - sharded log p bit-identical to replicated on every communicator size
 *    from 1 to the world's (sub-communicators of the first ranks), with one
 *    rank holding no queries, called twice in a row;
 *  - a model file read with mode=sharded (each rank reads only its shard;
 *    900 reference rows are 2 blocks, so on 3 ranks one rank holds none)
 *    scores bit-identically to the whole model, weighted and not, over
 *    several calls (the shards must come home between calls);
 *  - refusals, on every rank alike: a shard-read model scored replicated or
 *    on a communicator it was not cut for, or written back to a file.
 * Registered for 1, 2 and 3 ranks. */
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

#include "dm_comm.h"
#include "dm_features.h"
#include "dm_h5.h"
#include "dm_kde.h"
#include "dm_model.h"
#include "dm_rng.h"

#define W MPI_COMM_WORLD

/* log sum_j w_j N(x; y_j, h^2 I) / sum_j w_j in long double, two passes
 * (largest exponent first), independent of the code under test. */
static double direct_logp(const float *ref, const double *w, int64_t n, int d, const float *x,
                          double h)
{
  long double mx = -INFINITY, s = 0, sw = 0;
  long double *e = malloc((size_t)n * sizeof *e);
  for (int64_t j = 0; j < n; j++) {
    long double d2 = 0;
    for (int c = 0; c < d; c++) {
      long double t = (long double)x[c] - ref[j * d + c];
      d2 += t * t;
    }
    e[j] = -d2 / (2.0L * h * h);
    mx = e[j] > mx ? e[j] : mx;
  }
  for (int64_t j = 0; j < n; j++) {
    long double wj = w ? w[j] : 1.0L;
    s += wj * expl(e[j] - mx);
    sw += wj;
  }
  free(e);
  return (double)(mx + logl(s) - logl(sw) - 0.5L * d * logl(2.0L * M_PI * h * h));
}

static void gaussian_rows(uint64_t seed, int64_t n, int d, double spread, float *x)
{
  dm_rng r;
  dm_rng_init(&r, seed, 1, 2);
  for (int64_t i = 0; i < n; i++)
    for (int c = 0; c < d; c++)
      /* Queries from the bulk out to tens of sigma when spread > 0. */
      x[i * d + c] = (float)(dm_rng_normal(&r) * (1 + spread * (double)i));
}

/* The queries of rank `rank` of `size`: rank 1 gets none, the others share
 * all nq unevenly (rank 0 the first third or all). */
static void query_share(int64_t nq, int rank, int size, int64_t *b, int64_t *e)
{
  if (size == 1) {
    *b = 0;
    *e = nq;
    return;
  }
  int64_t cut = nq / 3;
  if (rank == 0) {
    *b = 0;
    *e = size == 2 ? nq : cut;
  } else if (rank == 1) {
    *b = *e = 0;
  } else {
    int64_t lo, hi;
    dm_partition(nq - cut, rank - 2, size - 2, &lo, &hi);
    *b = cut + lo;
    *e = cut + hi;
  }
}

static void test_acc(void **state)
{
  enum { N = 2000 };
  double e[N], s[N];
  dm_rng r;
  dm_rng_init(&r, 4, 5, 6);
  long double mx = -INFINITY, sum = 0;
  for (int i = 0; i < N; i++) {
    /* Exponents over 300 binades, and some far below (dropped or not,
     * the order must not matter). */
    e[i] = -fabs(dm_rng_normal(&r)) * (i % 7 == 0 ? 5000 : 60);
    s[i] = 1 + 511 * dm_rng_uniform(&r);
    mx = e[i] > mx ? e[i] : mx;
  }
  for (int i = 0; i < N; i++)
    sum += s[i] * expl(e[i] - mx);
  double want = (double)(mx + logl(sum));
  dm_kde_acc fwd, bwd, mix;
  dm_kde_acc_clear(&fwd);
  dm_kde_acc_clear(&bwd);
  dm_kde_acc_clear(&mix);
  for (int i = 0; i < N; i++) {
    dm_kde_acc_add(&fwd, e[i], s[i]);
    dm_kde_acc_add(&bwd, e[N - 1 - i], s[N - 1 - i]);
    int j = (int)((i * 997L) % N); /* a permutation: 997 is prime to 2000 */
    dm_kde_acc_add(&mix, e[j], s[j]);
  }
  double lf = dm_kde_acc_log(&fwd), lb = dm_kde_acc_log(&bwd), lm = dm_kde_acc_log(&mix);
  assert_memory_equal(&lf, &lb, sizeof lf);
  assert_memory_equal(&lf, &lm, sizeof lf);
  assert_true(fabs(lf - want) <= 1e-13 * fabs(want));
  /* A term e^-1e6 next to e^0: nothing of it survives, in either order. */
  dm_kde_acc a, b;
  dm_kde_acc_clear(&a);
  dm_kde_acc_clear(&b);
  dm_kde_acc_add(&a, -1e6, 3);
  dm_kde_acc_add(&a, 0, 2);
  dm_kde_acc_add(&b, 0, 2);
  dm_kde_acc_add(&b, -1e6, 3);
  double la = dm_kde_acc_log(&a), lb2 = dm_kde_acc_log(&b);
  assert_memory_equal(&la, &lb2, sizeof la);
  assert_true(fabs(la - log(2.0)) <= 1e-14);
  /* Far from everything: log p around -1e6 keeps its relative accuracy. */
  dm_kde_acc_clear(&a);
  dm_kde_acc_add(&a, -1e6, 5);
  dm_kde_acc_add(&a, -1e6 - 1, 5);
  double far = -1e6 + log(5 + 5 * exp(-1.0));
  assert_true(fabs(dm_kde_acc_log(&a) - far) <= 1e-15 * 1e6);
  /* Empty, -inf terms, NaN. */
  dm_kde_acc_clear(&a);
  assert_true(isinf(dm_kde_acc_log(&a)) && dm_kde_acc_log(&a) < 0);
  dm_kde_acc_add(&a, -INFINITY, 4);
  assert_true(isinf(dm_kde_acc_log(&a)) && dm_kde_acc_log(&a) < 0);
  dm_kde_acc_add(&a, -3, 4);
  assert_true(fabs(dm_kde_acc_log(&a) - (-3 + log(4.0))) <= 1e-14);
  dm_kde_acc_add(&a, NAN, 4);
  assert_true(isnan(dm_kde_acc_log(&a)));
}

/* Replicated against the direct sum, sharded against replicated on every
 * communicator of the first c ranks. */
static void check_ring(int d, int weighted)
{
  const int64_t n = 1100; /* 3 blocks, the last one partial */
  const int64_t nq = 50;
  const double h = 0.35;
  float *ref = malloc((size_t)n * d * sizeof *ref), *q = malloc((size_t)nq * d * sizeof *q);
  double *w = NULL;
  gaussian_rows(11, n, d, 0, ref);
  gaussian_rows(12, nq, d, 0.8, q);
  memcpy(q + 5 * d, ref + 3 * d, (size_t)d * sizeof *q); /* a query on a reference row */
  dm_kde *k = NULL;
  assert_int_equal(dm_kde_new(ref, n, d, h, &k), DM_OK);
  if (weighted) {
    w = malloc((size_t)n * sizeof *w);
    dm_rng r;
    dm_rng_init(&r, 13, 0, 0);
    for (int64_t j = 0; j < n; j++)
      w[j] = exp(4.6 * (dm_rng_uniform(&r) - 0.5)); /* 0.1 .. 10 */
    assert_int_equal(dm_kde_set_weights(k, w), DM_OK);
  }
  double *lp = malloc(nq * sizeof *lp), *ls = malloc(nq * sizeof *ls);
  dm_kde_logpdf(k, q, nq, lp);
  for (int64_t i = 0; i < nq; i++) {
    double want = direct_logp(ref, w, n, d, q + i * d, h);
    assert_true(isfinite(lp[i]));
    assert_true(fabs(lp[i] - want) <= 1e-6 * fabs(want));
  }
  int size = dm_size(W), rank = dm_rank(W);
  for (int c = 1; c <= size; c++) {
    MPI_Comm sub;
    MPI_Comm_split(W, rank < c ? 0 : MPI_UNDEFINED, rank, &sub);
    if (sub == MPI_COMM_NULL)
      continue;
    int64_t b, e;
    query_share(nq, rank, c, &b, &e);
    for (int call = 0; call < 2; call++) {
      memset(ls, 0, nq * sizeof *ls);
      assert_int_equal(dm_kde_logpdf_sharded(k, q + b * d, e - b, ls, sub), DM_OK);
      if (e > b)
        assert_memory_equal(ls, lp + b, (size_t)(e - b) * sizeof *ls);
    }
    MPI_Comm_free(&sub);
  }
  dm_kde_free(k);
  free(ref);
  free(q);
  free(w);
  free(lp);
  free(ls);
}

static void test_ring_d7(void **state) { check_ring(7, 0); }
static void test_ring_d14(void **state) { check_ring(14, 0); }
static void test_ring_weighted(void **state) { check_ring(7, 1); }

/* A model file with the kde backend over 900 reference rows of the 13
 * high-level columns (no PCA: the kernel's generic path). */
static void write_model(const char *path, int weighted, const float *raw, int64_t N)
{
  int d = DM_FEATURES_HIGHLEVEL_DIM;
  int64_t b, e;
  dm_partition(N, dm_rank(W), dm_size(W), &b, &e);
  dm_model m;
  memset(&m, 0, sizeof m);
  dm_feature_spec hl = {DM_FEATURES_HIGHLEVEL, 20, DM_PHI_RAW};
  assert_int_equal(dm_transform_fit(&m.transform, &hl, 0, raw + b * d, e - b, W), DM_OK);
  float *x = malloc((size_t)N * d * sizeof *x);
  dm_transform_apply(&m.transform, raw, N, x);
  int64_t *ids = malloc(N * sizeof *ids);
  double *wt = malloc(N * sizeof *wt);
  for (int64_t i = 0; i < N; i++) {
    ids[i] = i;
    wt[i] = 0.5 + (double)(i % 5);
  }
  m.backend = dm_model_backend_find("kde");
  dm_model_data data = {x + b * d, e - b, N, d, ids + b, 3, weighted ? wt + b : NULL, NULL};
  dm_kde_opts ko;
  dm_kde_opts_default(&ko);
  assert_int_equal(m.backend->fit(&data, &ko, W, &m.state, NULL), DM_OK);
  m.n_train = m.n_train_pool = N;
  assert_int_equal(dm_model_save(&m, path, "unit test", "test", "", W), DM_OK);
  dm_model_free(&m);
  free(x);
  free(ids);
  free(wt);
}

static void check_file(int weighted)
{
  const int64_t N = 900, nq = 40;
  int d = DM_FEATURES_HIGHLEVEL_DIM, rank = dm_rank(W), size = dm_size(W);
  float *raw = malloc((size_t)N * d * sizeof *raw), *qraw = malloc((size_t)nq * d * sizeof *qraw);
  gaussian_rows(21, N, d, 0, raw);
  gaussian_rows(22, nq, d, 0.5, qraw);
  char path[64];
  snprintf(path, sizeof path, "test_kde_ring_np%d_w%d.h5", size, weighted);
  write_model(path, weighted, raw, N);
  dm_model whole, shard;
  const char *set[] = {"mode=sharded"};
  assert_int_equal(dm_model_load(&whole, path, W), DM_OK);
  assert_int_equal(dm_model_load_set(&shard, path, 1, set, W), DM_OK);
  assert_int_equal(dm_kde_n_ref(shard.state), N);
  int64_t b, e;
  query_share(nq, rank, size, &b, &e);
  float *work = malloc((size_t)nq * d * sizeof *work);
  double *s1 = malloc(nq * sizeof *s1), *s2 = malloc(nq * sizeof *s2);
  assert_int_equal(dm_model_score_raw(&whole, qraw, nq, work, s1, W), DM_OK);
  /* Against the direct sum on the transformed rows. */
  float *ref = malloc((size_t)N * d * sizeof *ref);
  dm_transform_apply(&whole.transform, raw, N, ref);
  double *wt = NULL;
  if (weighted) {
    wt = malloc(N * sizeof *wt);
    for (int64_t i = 0; i < N; i++)
      wt[i] = 0.5 + (double)(i % 5);
  }
  double h = dm_kde_bandwidth(whole.state);
  for (int64_t i = 0; i < nq; i++) {
    double want = -direct_logp(ref, wt, N, d, work + i * d, h);
    assert_true(fabs(s1[i] - want) <= 1e-6 * fabs(want));
  }
  for (int call = 0; call < 3; call++) {
    memset(s2, 0, nq * sizeof *s2);
    assert_int_equal(dm_model_score_raw(&shard, qraw + b * d, e - b, work, s2, W), DM_OK);
    if (e > b)
      assert_memory_equal(s2, s1 + b, (size_t)(e - b) * sizeof *s2);
  }
  /* Refusals, the same on every rank. */
  assert_int_equal(shard.backend->set(shard.state, "mode", "replicated"), DM_OK);
  assert_int_equal(dm_agree(dm_model_score_raw(&shard, qraw, nq, work, s2, W), W), DM_ERR_ARG);
  assert_int_equal(shard.backend->set(shard.state, "mode", "sharded"), DM_OK);
  if (size > 1)
    assert_int_equal(dm_kde_logpdf_sharded(shard.state, work, 1, s2, MPI_COMM_SELF),
                     DM_ERR_ARG);
  char again[80];
  snprintf(again, sizeof again, "again_%s", path);
  assert_int_not_equal(dm_model_save(&shard, again, "", "", "", W), DM_OK);
  dm_error_clear();
  /* Still scores after the refusals. */
  assert_int_equal(dm_model_score_raw(&shard, qraw + b * d, e - b, work, s2, W), DM_OK);
  if (e > b)
    assert_memory_equal(s2, s1 + b, (size_t)(e - b) * sizeof *s2);
  MPI_Barrier(W);
  if (rank == 0) {
    unlink(path);
    unlink(again);
  }
  dm_model_free(&whole);
  dm_model_free(&shard);
  free(raw);
  free(qraw);
  free(work);
  free(s1);
  free(s2);
  free(ref);
  free(wt);
}

static void test_file(void **state) { check_file(0); }
static void test_file_weighted(void **state) { check_file(1); }

int main(int argc, char **argv)
{
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  dm_h5_quiet();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_acc),       cmocka_unit_test(test_ring_d7),
      cmocka_unit_test(test_ring_d14),  cmocka_unit_test(test_ring_weighted),
      cmocka_unit_test(test_file),      cmocka_unit_test(test_file_weighted),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  int any = 0;
  MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, W);
  MPI_Finalize();
  return any;
}
