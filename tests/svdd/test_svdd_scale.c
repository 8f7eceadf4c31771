/* Deep SVDD at scale (run on 2 and 3 ranks): the global batch rule for many
 * ranks (effective batch and learning rate against the formula written out
 * here, convergence), and the streamed training set (rows read window by
 * window from a source): the block geometry, agreement with a one-rank run,
 * bitwise resume, weights. The rows come from a synthetic source built here;
 * the expected values are hand-written formulas, never the code's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <mpi.h>

#include "dm_comm.h"
#include "dm_rng.h"
#include "dm_svdd_impl.h"

#define DIM 8
#define N_UNITS 4000
#define N_TEST 800

static char tmpdir[256];

/* Row of unit u (blob 0: N(0, I); blob 1 shifted by 2): a pure function of
 * the unit, so every split over ranks sees the same rows. */
static void unit_row(int which, int64_t u, float *x)
{
  dm_rng r;
  dm_rng_init(&r, 77, (uint64_t)which, (uint64_t)u);
  for (int j = 0; j < DIM; j++)
    x[j] = (float)(dm_rng_normal(&r) + (which == 1 ? 2.0 : 0.0));
}

/* Units with u % 5 == 3 hold no training row (as events outside the pool). */
static int has_row(int64_t u) { return u % 5 != 3; }

static int64_t rows_in(int64_t a, int64_t b)
{
  int64_t n = 0;
  for (int64_t u = a; u < b; u++)
    n += has_row(u);
  return n;
}

typedef struct {
  int64_t reads;
} source_ctx;

static dm_status src_read(void *ctx, int64_t begin, int64_t count, float *x, double *w,
                          int64_t *n, MPI_Comm comm)
{
  ((source_ctx *)ctx)->reads++;
  *n = 0;
  for (int64_t u = begin; u < begin + count; u++)
    if (has_row(u)) {
      unit_row(0, u, x + *n * DIM);
      if (w)
        w[*n] = 1.0 + (double)(u % 3);
      (*n)++;
    }
  /* The real source reads collectively: keep the calls matched. */
  return dm_agree(DM_OK, comm);
}

static void make_source(dm_model_stream *s, source_ctx *ctx, int64_t budget, int weighted)
{
  memset(s, 0, sizeof *s);
  s->ctx = ctx;
  s->n_units = N_UNITS;
  s->budget = budget;
  s->budget_mb = 1;
  s->weighted = weighted;
  s->read = src_read;
}

static void small_opts(dm_svdd_opts *o)
{
  dm_svdd_opts_default(o);
  o->n_hidden = 2;
  o->hidden[0] = 32;
  o->hidden[1] = 16;
  o->out_dim = 4;
  o->epochs = 4;
  o->batch = 128;
  o->lr = 3e-3;
}

static double auc(const double *neg, int64_t nn, const double *pos, int64_t np)
{
  double wins = 0.0;
  for (int64_t i = 0; i < np; i++)
    for (int64_t j = 0; j < nn; j++)
      wins += pos[i] > neg[j] ? 1.0 : (pos[i] == neg[j] ? 0.5 : 0.0);
  return wins / ((double)np * (double)nn);
}

static double model_auc(const dm_svdd_model *m)
{
  float *a = malloc(N_TEST * DIM * sizeof(float)), *b = malloc(N_TEST * DIM * sizeof(float));
  double *sa = malloc(N_TEST * sizeof(double)), *sb = malloc(N_TEST * sizeof(double));
  for (int i = 0; i < N_TEST; i++) {
    unit_row(0, 1000000 + i, a + i * DIM); /* never trained on */
    unit_row(1, i, b + i * DIM);
  }
  assert_int_equal(dm_svdd_score(m, a, N_TEST, DIM, sa), DM_OK);
  assert_int_equal(dm_svdd_score(m, b, N_TEST, DIM, sb), DM_OK);
  double v = auc(sa, N_TEST, sb, N_TEST);
  free(a);
  free(b);
  free(sa);
  free(sb);
  return v;
}

static double max_rel_diff(const float *a, const float *b, int64_t n)
{
  double d = 0.0, s = 0.0;
  for (int64_t i = 0; i < n; i++) {
    d = fmax(d, fabs((double)a[i] - b[i]));
    s = fmax(s, fabs((double)a[i]));
  }
  return d / s;
}

/* ---- the global batch rule ------------------------------------------------- */

static void test_schedule_formula(void **state)
{
  (void)state;
  dm_svdd_opts o;
  small_opts(&o);
  o.batch = 64;
  o.lr = 2e-3;
  o.min_rows_per_rank = 50;
  o.lr_warm_up = 4;
  o.n_milestones = 1;
  o.milestones[0] = 6;
  dm_svdd_schedule s;
  /* One rank: 64 >= 50, the rule stays off and the rate is the plain one. */
  assert_int_equal(dm_svdd_schedule_make(&o, 1, &s), DM_OK);
  assert_int_equal(s.batch_eff, 64);
  assert_true(s.lr_eff == 2e-3 && s.lr_warm_up == 0);
  for (int e = 0; e < 8; e++)
    assert_true(dm_svdd_lr_step(&o, &s, e, 0.37) == dm_svdd_lr_at(&o, e));
  /* 3 ranks: 64 < 150, B_eff = 150, lr x 150/64 reached linearly over 4
   * epochs, then the milestone's 0.1. */
  assert_int_equal(dm_svdd_schedule_make(&o, 3, &s), DM_OK);
  assert_int_equal(s.batch_eff, 150);
  assert_true(fabs(s.lr_eff - 2e-3 * 150.0 / 64.0) < 1e-18);
  assert_int_equal(s.lr_warm_up, 4);
  double k = 150.0 / 64.0;
  struct {
    int e;
    double frac, want;
  } pts[] = {{0, 0.0, 2e-3},
             {0, 0.5, 2e-3 * (1 + (k - 1) * 0.5 / 4)},
             {2, 0.25, 2e-3 * (1 + (k - 1) * 2.25 / 4)},
             {4, 0.0, 2e-3 * k},
             {5, 0.9, 2e-3 * k},
             {6, 0.0, 2e-4 * k}};
  for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++)
    assert_true(fabs(dm_svdd_lr_step(&o, &s, pts[i].e, pts[i].frac) - pts[i].want) <
                1e-15 * pts[i].want);
  /* No warm-up: the scaled rate from the first step. */
  o.lr_warm_up = 0;
  assert_int_equal(dm_svdd_schedule_make(&o, 3, &s), DM_OK);
  assert_true(fabs(dm_svdd_lr_step(&o, &s, 0, 0.0) - 2e-3 * k) < 1e-18);
  /* 0 turns the rule off at any rank count. */
  o.min_rows_per_rank = 0;
  assert_int_equal(dm_svdd_schedule_make(&o, 1000000, &s), DM_OK);
  assert_int_equal(s.batch_eff, 64);
  /* A batch past the limit is refused, naming the option. */
  o.min_rows_per_rank = 1 << 20;
  assert_int_equal(dm_svdd_schedule_make(&o, 1 << 10, &s), DM_ERR_ARG);
  assert_non_null(strstr(dm_error_message(), "--min-rows-per-rank"));
  dm_error_clear();
  o.min_rows_per_rank = -1;
  assert_int_equal(dm_svdd_opts_check(&o), DM_ERR_ARG);
  assert_non_null(strstr(dm_error_message(), "--min-rows-per-rank"));
  dm_error_clear();
  o.min_rows_per_rank = 8;
  o.lr_warm_up = -2;
  assert_int_equal(dm_svdd_opts_check(&o), DM_ERR_ARG);
  assert_non_null(strstr(dm_error_message(), "--lr-warm-up"));
  dm_error_clear();
}

/* In-memory rows of this rank: a block split of the units, with all their
 * rows, or (filtered) only the units that hold one, as the source gives. */
static float *memory_rows(MPI_Comm comm, dm_model_data *d, int filtered)
{
  int64_t b, e, k = 0;
  dm_partition(N_UNITS, dm_rank(comm), dm_size(comm), &b, &e);
  float *x = malloc((size_t)(e - b + 1) * DIM * sizeof(float));
  for (int64_t i = b; i < e; i++)
    if (!filtered || has_row(i))
      unit_row(0, i, x + k++ * DIM);
  memset(d, 0, sizeof *d);
  d->x = x;
  d->n_local = k;
  d->n_total = filtered ? rows_in(0, N_UNITS) : N_UNITS;
  d->dim = DIM;
  d->seed = 5;
  return x;
}

static void test_rule_converges(void **state)
{
  (void)state;
  MPI_Comm world = MPI_COMM_WORLD;
  int P = dm_size(world);
  dm_svdd_opts o;
  small_opts(&o);
  o.batch = 64;
  o.min_rows_per_rank = 50; /* 2 ranks: 100, 3 ranks: 150 */
  o.lr_warm_up = 2;
  o.epochs = 8;
  dm_model_data d;
  float *x = memory_rows(world, &d, 0);
  dm_svdd_model *m = NULL, *m1 = NULL;
  dm_svdd_report r, r1;
  assert_int_equal(dm_svdd_fit(&d, &o, world, &m, &r), DM_OK);
  assert_int_equal(r.sched.batch_eff, 50 * P);
  assert_true(fabs(r.sched.lr_eff - 3e-3 * 50.0 * P / 64.0) < 1e-15);
  assert_int_equal(r.sched.ranks, P);
  assert_int_equal(m->sched.batch_eff, 50 * P);
  /* Converges: the last epoch's loss is well below the first's, and the
   * shifted blob ranks above the training one. */
  o.epochs = 1;
  assert_int_equal(dm_svdd_fit(&d, &o, world, &m1, &r1), DM_OK);
  double a = model_auc(m);
  if (dm_rank(world) == 0)
    printf("rule: %d ranks, batch %lld, lr %g: loss epoch 1 %.4g, epoch 8 %.4g, AUC %.4f\n", P,
           (long long)r.sched.batch_eff, r.sched.lr_eff, r1.final_loss[0], r.final_loss[0], a);
  assert_true(r.final_loss[0] < 0.5 * r1.final_loss[0]);
  assert_true(a > 0.95);
  assert_false(r.any_collapsed);
  dm_svdd_model_free(m);
  dm_svdd_model_free(m1);
  free(x);
}

/* ---- streamed training set ------------------------------------------------- */

/* 64 KiB: rows of 8 columns cost 4 x 8 + 28 = 60 bytes, so a window holds
 * floor(49152 / 60) = 819 rows: 4 blocks of 204 units (819 / 65536 < 4),
 * 20 blocks, 5 windows. */
#define BUDGET 65536

static void test_stream_geometry(void **state)
{
  (void)state;
  int64_t e = 0, w = 0;
  assert_int_equal(dm_svdd_stream_geometry(BUDGET, DIM, 0, 128, &e, &w), DM_OK);
  assert_int_equal(w, 4);
  assert_int_equal(e, 204);
  /* Weighted rows cost 12 bytes more: floor(49152 / 72) = 682 rows. */
  assert_int_equal(dm_svdd_stream_geometry(BUDGET, DIM, 1, 128, &e, &w), DM_OK);
  assert_int_equal(w * e, 680);
  /* 64 MiB of 13-column rows: 50331648 / 80 = 629145 rows, 9 blocks. */
  assert_int_equal(dm_svdd_stream_geometry(64 << 20, 13, 0, 500, &e, &w), DM_OK);
  assert_int_equal(w, 9);
  assert_int_equal(e, 69905);
  /* A window smaller than a batch is refused, naming the option. */
  assert_int_equal(dm_svdd_stream_geometry(BUDGET, DIM, 0, 1000, &e, &w), DM_ERR_ARG);
  assert_non_null(strstr(dm_error_message(), "--pool-mb"));
  dm_error_clear();
}

static void test_stream_rank_agreement(void **state)
{
  (void)state;
  MPI_Comm world = MPI_COMM_WORLD;
  dm_svdd_opts o;
  small_opts(&o);
  source_ctx cw = {0}, c1 = {0};
  dm_model_stream sw, s1;
  make_source(&sw, &cw, BUDGET, 0);
  make_source(&s1, &c1, BUDGET, 0);
  int64_t n = rows_in(0, N_UNITS);
  dm_model_data dw = {.n_total = n, .dim = DIM, .seed = 9, .stream = &sw};
  dm_model_data d1 = dw;
  d1.stream = &s1;
  dm_svdd_model *mw = NULL, *m1 = NULL;
  dm_svdd_report rw, r1;
  assert_int_equal(dm_svdd_fit(&dw, &o, world, &mw, &rw), DM_OK);
  if (dm_rank(world) == 0)
    assert_int_equal(dm_svdd_fit(&d1, &o, MPI_COMM_SELF, &m1, &r1), DM_OK);
  assert_true(rw.sched.streamed);
  assert_int_equal(rw.sched.block_events, 204);
  assert_int_equal(rw.sched.window_blocks, 4);
  /* The distinct count is over the first window in store order: the rows of
   * units [0, 4 x 204). */
  assert_int_equal(rw.distinct_of, rows_in(0, 4 * 204));
  assert_false(rw.any_collapsed);
  double a = model_auc(mw);
  assert_true(a > 0.95);
  /* Every rank holds the same model. */
  uint64_t h = dm_svdd_hash(mw->nets[0].w, (size_t)mw->nets[0].n_params * 4, 0), h0 = h;
  MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, world);
  assert_true(h == h0);
  if (dm_rank(world) == 0) {
    double rel = max_rel_diff(m1->nets[0].w, mw->nets[0].w, m1->nets[0].n_params);
    printf("streamed: %d ranks vs 1: weights rel diff %.3g, loss %.6g vs %.6g, AUC %.4f, "
           "%lld reads here\n", dm_size(world), rel, rw.final_loss[0], r1.final_loss[0], a,
           (long long)cw.reads);
    /* The centre is an exact sum of the rows' outputs, but a row's output
     * can differ in its last bit with the shape of the product it was in
     * (OpenBLAS kernels split the rows by block size): equal to rounding. */
    assert_true(max_rel_diff(m1->c, mw->c, o.out_dim) < 1e-6);
    assert_true(rel < 1e-5);
    assert_true(fabs(rw.final_loss[0] - r1.final_loss[0]) < 1e-5 * r1.final_loss[0]);
    assert_int_equal(r1.distinct_of, rw.distinct_of);
    dm_svdd_model_free(m1);
  }
  /* The in-memory fit of the same rows is another run (block-level
   * shuffle): it trains as well but not to the same weights. */
  dm_svdd_model_free(mw);
}

static void test_stream_resume_bitwise(void **state)
{
  (void)state;
  MPI_Comm world = MPI_COMM_WORLD;
  dm_svdd_opts o;
  small_opts(&o);
  o.objective = DM_SVDD_SOFT_BOUNDARY;
  o.warm_up = 1;
  o.nu = 0.2;
  o.ensemble = 2;
  o.n_milestones = 1;
  o.milestones[0] = 3;
  source_ctx cx = {0};
  dm_model_stream s;
  make_source(&s, &cx, BUDGET, 0);
  dm_model_data d = {.n_total = rows_in(0, N_UNITS), .dim = DIM, .seed = 3, .stream = &s};
  dm_svdd_model *full = NULL, *part = NULL, *resumed = NULL;
  o.epochs = 4;
  snprintf(o.checkpoint, sizeof o.checkpoint, "%s/full.ckpt", tmpdir);
  assert_int_equal(dm_svdd_fit(&d, &o, world, &full, NULL), DM_OK);
  o.epochs = 2;
  snprintf(o.checkpoint, sizeof o.checkpoint, "%s/part.ckpt", tmpdir);
  assert_int_equal(dm_svdd_fit(&d, &o, world, &part, NULL), DM_OK);
  o.epochs = 4;
  o.resume = 1;
  dm_svdd_report rep;
  assert_int_equal(dm_svdd_fit(&d, &o, world, &resumed, &rep), DM_OK);
  assert_int_equal(rep.resumed_epochs, 4);
  for (int k = 0; k < 2; k++) {
    assert_memory_equal(full->nets[k].w, resumed->nets[k].w,
                        (size_t)full->nets[k].n_params * sizeof(float));
    assert_true(full->r2[k] == resumed->r2[k]);
    assert_true(full->r2[k] > 0.0);
  }
  /* A checkpoint of the streamed run does not resume an in-memory one. */
  dm_model_data dm;
  float *x = memory_rows(world, &dm, 1);
  dm.seed = 3;
  dm_svdd_model *other = NULL;
  assert_int_equal(dm_svdd_fit(&dm, &o, world, &other, NULL), DM_ERR_SCHEMA);
  dm_error_clear();
  free(x);
  dm_svdd_model_free(full);
  dm_svdd_model_free(part);
  dm_svdd_model_free(resumed);
}

static void test_stream_weighted(void **state)
{
  (void)state;
  MPI_Comm world = MPI_COMM_WORLD;
  dm_svdd_opts o;
  small_opts(&o);
  o.epochs = 3;
  source_ctx cw = {0}, c1 = {0};
  dm_model_stream sw, s1;
  make_source(&sw, &cw, BUDGET, 1);
  make_source(&s1, &c1, BUDGET, 1);
  dm_model_data dw = {.n_total = rows_in(0, N_UNITS), .dim = DIM, .seed = 4, .stream = &sw};
  dm_model_data d1 = dw;
  d1.stream = &s1;
  dm_svdd_model *mw = NULL, *m1 = NULL;
  dm_svdd_report rw;
  assert_int_equal(dm_svdd_fit(&dw, &o, world, &mw, &rw), DM_OK);
  assert_int_equal(rw.sched.block_events * rw.sched.window_blocks, 680);
  if (dm_rank(world) == 0) {
    assert_int_equal(dm_svdd_fit(&d1, &o, MPI_COMM_SELF, &m1, NULL), DM_OK);
    assert_true(max_rel_diff(m1->c, mw->c, o.out_dim) < 1e-6);
    assert_true(max_rel_diff(m1->nets[0].w, mw->nets[0].w, m1->nets[0].n_params) < 1e-5);
    dm_svdd_model_free(m1);
  }
  /* Soft-boundary with weights is refused as in memory. */
  o.objective = DM_SVDD_SOFT_BOUNDARY;
  dm_svdd_model *bad = NULL;
  assert_int_equal(dm_svdd_fit(&dw, &o, world, &bad, NULL), DM_ERR_ARG);
  dm_error_clear();
  dm_svdd_model_free(mw);
}

int main(void)
{
  MPI_Init(NULL, NULL);
  if (dm_rank(MPI_COMM_WORLD) == 0) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dm_svdd_scale_XXXXXX");
    if (!mkdtemp(tmpdir))
      MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, MPI_COMM_WORLD);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_schedule_formula),
      cmocka_unit_test(test_rule_converges),
      cmocka_unit_test(test_stream_geometry),
      cmocka_unit_test(test_stream_rank_agreement),
      cmocka_unit_test(test_stream_resume_bitwise),
      cmocka_unit_test(test_stream_weighted),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  int any = 0;
  MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  if (dm_rank(MPI_COMM_WORLD) == 0) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", tmpdir);
  }
  MPI_Finalize();
  return any;
}
