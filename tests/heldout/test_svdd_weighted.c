/* Deep SVDD with event weights (train svdd --weighted), data-parallel over
 * MPI_COMM_WORLD (run on 3 ranks) and on one rank:
 *  - integer weights equal duplicated rows: with one batch holding every row
 *    the weighted loss is the mean over the duplicated set, so after several
 *    Adam steps the network and the centre agree with a run on the rows
 *    repeated w times (float rounding apart);
 *  - equal weights (any value) give bitwise the unweighted model, minibatches
 *    included (the weights are scaled to mean 1);
 *  - the weighted run agrees across rank counts as the unweighted one does;
 *  - soft-boundary with weights is refused on every rank. */
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

#include "dm_comm.h"
#include "dm_rng.h"
#include "dm_svdd_impl.h"

#define DIM 6
#define N 240

static void row(int64_t i, float *x)
{
  dm_rng r;
  dm_rng_init(&r, 77, 0, (uint64_t)i);
  for (int j = 0; j < DIM; j++)
    x[j] = (float)(dm_rng_normal(&r) * (1.0 + 0.3 * j));
}

static int weight_of(int64_t i) { return 1 + (int)(i % 3); }

typedef struct {
  float *x;
  double *w;
  int64_t *id;
  dm_model_data d;
} shard;

/* This rank's block of the n rows; dup: each base row repeated weight_of
 * times (unit weights); else the base rows with their weights (or all equal
 * to `equal` when > 0). */
static void make(shard *s, MPI_Comm comm, int dup, double equal, int weighted)
{
  int64_t total = 0;
  for (int64_t i = 0; i < N; i++)
    total += dup ? weight_of(i) : 1;
  int64_t b, e;
  dm_partition(total, dm_rank(comm), dm_size(comm), &b, &e);
  s->x = malloc((size_t)(e - b + 1) * DIM * sizeof(float));
  s->w = malloc((size_t)(e - b + 1) * sizeof(double));
  s->id = malloc((size_t)(e - b + 1) * sizeof(int64_t));
  int64_t g = 0, k = 0;
  for (int64_t i = 0; i < N; i++)
    for (int r = 0; r < (dup ? weight_of(i) : 1); r++, g++)
      if (g >= b && g < e) {
        row(i, s->x + k * DIM);
        s->w[k] = equal > 0 ? equal : weight_of(i);
        s->id[k] = g;
        k++;
      }
  memset(&s->d, 0, sizeof s->d);
  s->d.x = s->x;
  s->d.n_local = e - b;
  s->d.n_total = total;
  s->d.dim = DIM;
  s->d.row_id = s->id;
  s->d.seed = 5;
  s->d.weight = weighted ? s->w : NULL;
}

static void drop(shard *s)
{
  free(s->x);
  free(s->w);
  free(s->id);
}

static void opts(dm_svdd_opts *o, int batch)
{
  dm_svdd_opts_default(o);
  o->n_hidden = 1;
  o->hidden[0] = 16;
  o->out_dim = 4;
  o->epochs = 6;
  o->batch = batch;
  o->lr = 2e-3;
}

static double rel_diff(const float *a, const float *b, int64_t n)
{
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    d = fmax(d, fabs((double)a[i] - b[i]));
    m = fmax(m, fabs((double)a[i]));
  }
  return d / m;
}

static dm_svdd_model *fit(shard *s, const dm_svdd_opts *o, MPI_Comm comm)
{
  dm_svdd_model *m = NULL;
  dm_svdd_report rep;
  assert_int_equal(dm_svdd_fit(&s->d, o, comm, &m, &rep), DM_OK);
  return m;
}

static void test_integer_weights_are_duplication(void **state)
{
  (void)state;
  dm_svdd_opts o;
  opts(&o, 100000); /* one batch: every row */
  for (int world = 0; world < 2; world++) {
    MPI_Comm comm = world ? MPI_COMM_WORLD : MPI_COMM_SELF;
    shard sw, sd;
    make(&sw, comm, 0, 0, 1);
    make(&sd, comm, 1, 0, 0);
    dm_svdd_model *mw = fit(&sw, &o, comm), *md = fit(&sd, &o, comm);
    double dw = rel_diff(md->nets[0].w, mw->nets[0].w, md->nets[0].n_params);
    double dc = rel_diff(md->c, mw->c, o.out_dim);
    float xs[DIM * 8];
    double sw8[8], sd8[8];
    for (int i = 0; i < 8; i++)
      row(1000 + i, xs + i * DIM);
    assert_int_equal(dm_svdd_score(mw, xs, 8, DIM, sw8), DM_OK);
    assert_int_equal(dm_svdd_score(md, xs, 8, DIM, sd8), DM_OK);
    double ds = 0;
    for (int i = 0; i < 8; i++)
      ds = fmax(ds, fabs(sw8[i] - sd8[i]) / fabs(sd8[i]));
    if (dm_rank(MPI_COMM_WORLD) == 0)
      printf("%s: weighted vs duplicated: weights rel %.3g, centre rel %.3g, scores rel %.3g\n",
             world ? "world" : "self", dw, dc, ds);
    assert_true(dc < 1e-6);
    assert_true(dw < 1e-4);
    assert_true(ds < 1e-4);
    /* The duplicated run is not the unweighted run on the base rows. */
    shard su;
    make(&su, comm, 0, 0, 0);
    dm_svdd_model *mu = fit(&su, &o, comm);
    assert_true(rel_diff(md->c, mu->c, o.out_dim) > 1e-4);
    dm_svdd_model_free(mu);
    drop(&su);
    dm_svdd_model_free(mw);
    dm_svdd_model_free(md);
    drop(&sw);
    drop(&sd);
  }
}

static void test_equal_weights_are_unweighted(void **state)
{
  (void)state;
  dm_svdd_opts o;
  opts(&o, 64); /* minibatches */
  shard se, su;
  make(&se, MPI_COMM_WORLD, 0, 2.0, 1);
  make(&su, MPI_COMM_WORLD, 0, 0, 0);
  dm_svdd_model *me = fit(&se, &o, MPI_COMM_WORLD), *mu = fit(&su, &o, MPI_COMM_WORLD);
  assert_memory_equal(me->c, mu->c, (size_t)o.out_dim * sizeof(float));
  assert_memory_equal(me->nets[0].w, mu->nets[0].w, (size_t)mu->nets[0].n_params * sizeof(float));
  dm_svdd_model_free(me);
  dm_svdd_model_free(mu);
  drop(&se);
  drop(&su);
}

static void test_ranks_agree_weighted(void **state)
{
  (void)state;
  dm_svdd_opts o;
  opts(&o, 64);
  shard sw, s1;
  make(&sw, MPI_COMM_WORLD, 0, 0, 1);
  make(&s1, MPI_COMM_SELF, 0, 0, 1);
  dm_svdd_model *mw = fit(&sw, &o, MPI_COMM_WORLD), *m1 = fit(&s1, &o, MPI_COMM_SELF);
  /* The centre is an exact weighted sum: bitwise the same. */
  assert_memory_equal(mw->c, m1->c, (size_t)o.out_dim * sizeof(float));
  assert_true(rel_diff(m1->nets[0].w, mw->nets[0].w, m1->nets[0].n_params) < 1e-5);
  dm_svdd_model_free(mw);
  dm_svdd_model_free(m1);
  drop(&sw);
  drop(&s1);
}

static void test_soft_boundary_refused(void **state)
{
  (void)state;
  dm_svdd_opts o;
  opts(&o, 64);
  o.objective = DM_SVDD_SOFT_BOUNDARY;
  shard sw;
  make(&sw, MPI_COMM_WORLD, 0, 0, 1);
  dm_svdd_model *m = NULL;
  dm_svdd_report rep;
  assert_int_equal(dm_svdd_fit(&sw.d, &o, MPI_COMM_WORLD, &m, &rep), DM_ERR_ARG);
  assert_null(m);
  assert_non_null(strstr(dm_error_message(), "one-class"));
  drop(&sw);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_integer_weights_are_duplication),
      cmocka_unit_test(test_equal_weights_are_unweighted),
      cmocka_unit_test(test_ranks_agree_weighted),
      cmocka_unit_test(test_soft_boundary_refused),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  int any = 0;
  MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any ? 1 : 0;
}
