/* Deep SVDD network: backpropagated gradients against central finite
 * differences of an independent double-precision forward pass written here,
 * for both objectives; Adam against hand-derived values; the batch-order
 * permutation, the exact global statistics and the centre against brute force. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <mpi.h>

#include "dm_rng.h"
#include "dm_svdd_impl.h"

/* ---- reference: the loss in double, from the weights as doubles ----------- */

static double ref_loss(int L, const int *dims, const double *w, const double *x, int n,
                       const double *c, int obj, double r2, double nu)
{
  double total = 0.0;
  double a[64], b[64];
  for (int i = 0; i < n; i++) {
    memcpy(a, x + i * dims[0], (size_t)dims[0] * sizeof(double));
    const double *wl = w;
    for (int l = 0; l < L; l++) {
      for (int o = 0; o < dims[l + 1]; o++) {
        double s = 0.0;
        for (int k = 0; k < dims[l]; k++)
          s += wl[o * dims[l] + k] * a[k];
        b[o] = (l + 1 < L && s <= 0.0) ? 0.01 * s : s;
      }
      wl += dims[l] * dims[l + 1];
      memcpy(a, b, (size_t)dims[l + 1] * sizeof(double));
    }
    double d2 = 0.0;
    for (int j = 0; j < dims[L]; j++)
      d2 += (a[j] - c[j]) * (a[j] - c[j]);
    total += obj == 0 ? d2 : (d2 > r2 ? d2 - r2 : 0.0);
  }
  return obj == 0 ? total / n : r2 + total / (nu * n);
}

static void check_gradient(int obj)
{
  const int L = 3, dims[4] = {5, 7, 6, 3}, n = 9;
  dm_svdd_net net;
  assert_int_equal(dm_svdd_net_alloc(&net, L, dims), DM_OK);
  dm_svdd_net_init_uniform(&net, 42);
  /* Larger weights than the default keep activations away from the kink. */
  for (int64_t i = 0; i < net.n_params; i++)
    net.w[i] *= 2.0f;
  dm_svdd_work ws;
  assert_int_equal(dm_svdd_work_alloc(&ws, &net, n), DM_OK);
  dm_rng r;
  dm_rng_init(&r, 7, 1, 2);
  double xd[9 * 5];
  float *xin = dm_svdd_work_input(&ws);
  for (int i = 0; i < n * dims[0]; i++) {
    xin[i] = (float)dm_rng_normal(&r);
    xd[i] = xin[i];
  }
  float c[3] = {0.3f, -0.2f, 0.5f};
  double cd[3] = {0.3f, -0.2f, 0.5f};
  const float *phi = dm_svdd_forward(&net, &ws, xin, n);
  /* Soft-boundary: put R^2 at the middle distance so some rows are active. */
  float d2[9];
  dm_svdd_dist2(phi, n, dims[L], c, d2);
  float sorted[9];
  memcpy(sorted, d2, sizeof(sorted));
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (sorted[j] < sorted[i]) {
        float t = sorted[i];
        sorted[i] = sorted[j];
        sorted[j] = t;
      }
  double r2 = obj ? 0.5 * ((double)sorted[4] + sorted[5]) : 0.0, nu = 0.3;
  float *dout = malloc((size_t)n * dims[L] * sizeof(float));
  float *grad = calloc((size_t)net.n_params, sizeof(float));
  float d2b[9];
  double part = dm_svdd_loss_grad(obj ? DM_SVDD_SOFT_BOUNDARY : DM_SVDD_ONE_CLASS, phi, n,
                                  dims[L], c, r2, nu, 1.0 / n, dout, d2b);
  dm_svdd_backward(&net, &ws, n, dout, grad);
  double *wd = malloc((size_t)net.n_params * sizeof(double));
  for (int64_t i = 0; i < net.n_params; i++)
    wd[i] = net.w[i];
  double lref = ref_loss(L, dims, wd, xd, n, cd, obj, r2, nu);
  double lc = part + (obj ? r2 : 0.0);
  assert_true(fabs(lc - lref) <= 1e-5 * fabs(lref));
  double gmax = 0.0;
  for (int64_t i = 0; i < net.n_params; i++) {
    const double h = 1e-6;
    double keep = wd[i];
    wd[i] = keep + h;
    double lp = ref_loss(L, dims, wd, xd, n, cd, obj, r2, nu);
    wd[i] = keep - h;
    double lm = ref_loss(L, dims, wd, xd, n, cd, obj, r2, nu);
    wd[i] = keep;
    double fd = (lp - lm) / (2 * h);
    if (fabs(fd) > gmax)
      gmax = fabs(fd);
    double err = fabs(fd - grad[i]);
    if (err > 1e-3 * fabs(fd) + 1e-5)
      fail_msg("objective %d: parameter %lld: backprop %.8g, finite difference %.8g", obj,
               (long long)i, grad[i], fd);
  }
  assert_true(gmax > 1e-3); /* the check is not vacuous */
  free(wd);
  free(dout);
  free(grad);
  dm_svdd_work_free(&ws);
  dm_svdd_net_free(&net);
}

static void test_gradient_one_class(void **state) { check_gradient(0); }
static void test_gradient_soft_boundary(void **state) { check_gradient(1); }

/* Gradient accumulation: backward adds, so two half batches add up to the
 * whole batch (what the data-parallel allreduce relies on). */
static void test_gradient_split(void **state)
{
  const int dims[3] = {4, 8, 2};
  dm_svdd_net net;
  assert_int_equal(dm_svdd_net_alloc(&net, 2, dims), DM_OK);
  dm_svdd_net_init_uniform(&net, 3);
  dm_svdd_work ws;
  assert_int_equal(dm_svdd_work_alloc(&ws, &net, 10), DM_OK);
  float x[40], c[2] = {0.1f, -0.1f}, dout[20], d2[10];
  dm_rng r;
  dm_rng_init(&r, 9, 0, 0);
  for (int i = 0; i < 40; i++)
    x[i] = (float)dm_rng_normal(&r);
  float *gall = calloc((size_t)net.n_params, sizeof(float));
  float *gsplit = calloc((size_t)net.n_params, sizeof(float));
  const float *phi = dm_svdd_forward(&net, &ws, x, 10);
  dm_svdd_loss_grad(DM_SVDD_ONE_CLASS, phi, 10, 2, c, 0, 1, 0.1, dout, d2);
  dm_svdd_backward(&net, &ws, 10, dout, gall);
  for (int h = 0; h < 2; h++) {
    phi = dm_svdd_forward(&net, &ws, x + h * 20, 5);
    dm_svdd_loss_grad(DM_SVDD_ONE_CLASS, phi, 5, 2, c, 0, 1, 0.1, dout, d2);
    dm_svdd_backward(&net, &ws, 5, dout, gsplit);
  }
  for (int64_t i = 0; i < net.n_params; i++)
    assert_true(fabsf(gall[i] - gsplit[i]) <= 1e-5f * (1.0f + fabsf(gall[i])));
  free(gall);
  free(gsplit);
  dm_svdd_work_free(&ws);
  dm_svdd_net_free(&net);
}

/* Adam's first step moves every weight by lr * sign(g) (bias correction makes
 * m/sqrt(v) = g/|g|), with weight decay added to g first. */
static void test_adam_first_step(void **state)
{
  dm_svdd_adam a;
  assert_int_equal(dm_svdd_adam_alloc(&a, 3, 0.5), DM_OK);
  float w[3] = {1.0f, -2.0f, 0.0f}, g[3] = {0.25f, 0.5f, -3.0f};
  /* effective g: 0.75, -0.5, -3.0 */
  dm_svdd_adam_step(&a, w, g, 0.01);
  assert_float_equal(w[0], 1.0f - 0.01f, 1e-6);
  assert_float_equal(w[1], -2.0f + 0.01f, 1e-6);
  assert_float_equal(w[2], 0.0f + 0.01f, 1e-6);
  assert_int_equal(a.step, 1);
  dm_svdd_adam_free(&a);
}

static void test_permutation(void **state)
{
  uint64_t sizes[] = {1, 2, 3, 17, 1000, 4097};
  for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
    uint64_t n = sizes[s];
    dm_svdd_perm p;
    dm_svdd_perm_init(&p, n, 12345 + n);
    char *seen = calloc(n, 1);
    uint64_t fixed = 0;
    for (uint64_t i = 0; i < n; i++) {
      uint64_t y = dm_svdd_perm_fwd(&p, i);
      assert_true(y < n);
      assert_int_equal(seen[y], 0);
      seen[y] = 1;
      assert_int_equal(dm_svdd_perm_inv(&p, y), i);
      fixed += y == i;
    }
    if (n >= 1000)
      assert_true(fixed < 20); /* a shuffle, not the identity */
    free(seen);
  }
}

/* The batches of a 3-way split are the global batches restricted to each
 * part: the same for any split. */
static void test_epoch_batches_split(void **state)
{
  const int64_t n = 1001, B = 64, nb = (n + B - 1) / B;
  int64_t rows[1001], start[20], scratch[1001];
  int64_t batch_of_whole[1001];
  dm_svdd_epoch_batches(77, n, 0, n, B, rows, start, scratch);
  for (int64_t b = 0; b < nb; b++) {
    int64_t want = n - b * B < B ? n - b * B : B;
    assert_int_equal(start[b + 1] - start[b], want);
    for (int64_t i = start[b]; i < start[b + 1]; i++) {
      batch_of_whole[rows[i]] = b;
      if (i > start[b])
        assert_true(rows[i] > rows[i - 1]);
    }
  }
  int64_t cuts[4] = {0, 300, 301, n};
  for (int part = 0; part < 3; part++) {
    int64_t f = cuts[part], m = cuts[part + 1] - cuts[part];
    dm_svdd_epoch_batches(77, n, f, m, B, rows, start, scratch);
    for (int64_t b = 0; b < nb; b++)
      for (int64_t i = start[b]; i < start[b + 1]; i++)
        assert_int_equal(batch_of_whole[f + rows[i]], b);
  }
}

static int cmp_f(const void *a, const void *b)
{
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Exact statistics over the ranks of MPI_COMM_WORLD against one rank that
 * gathers everything. */
static void test_exact_statistics(void **state)
{
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t n = 5000;
  float *all = malloc(n * sizeof(float));
  dm_rng r;
  for (int64_t i = 0; i < n; i++) {
    dm_rng_init(&r, 5, (uint64_t)i, 0);
    /* Many ties: values on a coarse grid, plus an exact zero. */
    all[i] = i == 0 ? 0.0f : (float)floor(dm_rng_uniform(&r) * 700.0) / 8.0f;
  }
  int64_t b = n * rank / size, e = n * (rank + 1) / size;
  float *sorted = malloc(n * sizeof(float));
  memcpy(sorted, all, n * sizeof(float));
  qsort(sorted, n, sizeof(float), cmp_f);
  int64_t ks[5] = {0, 1, 2499, 4500, n - 1};
  for (int i = 0; i < 5; i++) {
    float got = -1;
    assert_int_equal(dm_svdd_select_kth(all + b, e - b, ks[i], comm, &got), DM_OK);
    assert_true(got == sorted[ks[i]]);
  }
  int64_t distinct = 0, want = 1;
  for (int64_t i = 1; i < n; i++)
    want += sorted[i] != sorted[i - 1];
  assert_int_equal(dm_svdd_count_distinct(all + b, e - b, comm, &distinct), DM_OK);
  assert_int_equal(distinct, want);
  /* The centre: the same bits however the rows are split over ranks and
   * batches (exact column sums), and the mean of the outputs (computed here
   * in double from one forward pass over all rows). */
  {
    enum { CIN = 4, COUT = 3 };
    const int cdims[3] = {CIN, 6, COUT};
    const int64_t nr = 3001;
    dm_svdd_net net;
    assert_int_equal(dm_svdd_net_alloc(&net, 2, cdims), DM_OK);
    dm_svdd_net_init_uniform(&net, 9);
    float *xr = malloc((size_t)nr * CIN * sizeof(float));
    dm_rng rr;
    dm_rng_init(&rr, 11, 3, 4);
    for (int64_t i = 0; i < nr * CIN; i++)
      xr[i] = (float)(3.0 * dm_rng_normal(&rr) + 2.0);
    dm_svdd_work wsmall, wall;
    assert_int_equal(dm_svdd_work_alloc(&wsmall, &net, 64), DM_OK);
    assert_int_equal(dm_svdd_work_alloc(&wall, &net, nr), DM_OK);
    int64_t cb = nr * rank / size, ce = nr * (rank + 1) / size;
    float cw[COUT], c1[COUT];
    assert_int_equal(dm_svdd_centre(&net, &wsmall, xr + cb * CIN, ce - cb, nr, comm, cw), DM_OK);
    assert_int_equal(dm_svdd_centre(&net, &wall, xr, nr, nr, MPI_COMM_SELF, c1), DM_OK);
    assert_memory_equal(cw, c1, sizeof cw);
    const float *y = dm_svdd_forward(&net, &wall, xr, nr);
    for (int j = 0; j < COUT; j++) {
      double m = 0.0;
      for (int64_t i = 0; i < nr; i++)
        m += y[i * COUT + j];
      m /= (double)nr;
      if (fabs(m) < 0.1)
        m = m < 0.0 ? -0.1 : 0.1;
      assert_true(fabs(cw[j] - m) <= 1e-6 * fabs(m));
    }
    dm_svdd_work_free(&wsmall);
    dm_svdd_work_free(&wall);
    dm_svdd_net_free(&net);
    free(xr);
  }
  free(all);
  free(sorted);
}

int main(void)
{
  MPI_Init(NULL, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradient_one_class),
      cmocka_unit_test(test_gradient_soft_boundary),
      cmocka_unit_test(test_gradient_split),
      cmocka_unit_test(test_adam_first_step),
      cmocka_unit_test(test_permutation),
      cmocka_unit_test(test_epoch_batches_split),
      cmocka_unit_test(test_exact_statistics),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
