/* Deep SVDD training, data-parallel over MPI_COMM_WORLD (run on 2 and 3
 * ranks): anomaly ranking on two Gaussian blobs, agreement with a one-rank
 * run, empty ranks, bitwise resume, collapse detection, soft-boundary radius,
 * and the model group round trip. The AUC here is computed by the test
 * (Mann-Whitney with ties), not by the code under test. */
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
#include <omp.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_rng.h"
#include "dm_svdd_impl.h"

#define DIM 8
#define N_TRAIN 3000
#define N_TEST 1000

static char tmpdir[256];

/* Row i of blob `which` (0: N(0, I); 1: N(0, I) shifted by 2 per column):
 * seeded by the row, so any split over ranks sees the same rows. */
static void blob_rows(int which, int64_t first, int64_t n, float *x)
{
  for (int64_t i = 0; i < n; i++) {
    dm_rng r;
    dm_rng_init(&r, 2024, (uint64_t)which, (uint64_t)(first + i));
    for (int j = 0; j < DIM; j++)
      x[i * DIM + j] = (float)(dm_rng_normal(&r) + (which == 1 ? 2.0 : 0.0));
  }
}

static double auc(const double *neg, int64_t nn, const double *pos, int64_t np)
{
  double wins = 0.0;
  for (int64_t i = 0; i < np; i++)
    for (int64_t j = 0; j < nn; j++)
      wins += pos[i] > neg[j] ? 1.0 : (pos[i] == neg[j] ? 0.5 : 0.0);
  return wins / ((double)np * (double)nn);
}

static void small_opts(dm_svdd_opts *o)
{
  dm_svdd_opts_default(o);
  o->n_hidden = 2;
  o->hidden[0] = 32;
  o->hidden[1] = 16;
  o->out_dim = 4;
  o->epochs = 8;
  o->batch = 128;
  o->lr = 3e-3;
}

/* The training rows of this rank of comm (a block split), or all on rank 0
 * when all_on_zero is set. */
typedef struct {
  float *x;
  dm_model_data d;
} shard;

static void make_shard(shard *s, MPI_Comm comm, int all_on_zero, const float *rows)
{
  int rank = dm_rank(comm), size = dm_size(comm);
  int64_t b, e;
  dm_partition(N_TRAIN, rank, size, &b, &e);
  if (all_on_zero) {
    b = 0;
    e = rank == 0 ? N_TRAIN : 0;
  }
  s->x = malloc((size_t)(e - b + 1) * DIM * sizeof(float));
  if (rows)
    memcpy(s->x, rows + b * DIM, (size_t)(e - b) * DIM * sizeof(float));
  else
    blob_rows(0, b, e - b, s->x);
  memset(&s->d, 0, sizeof(s->d));
  s->d.x = s->x;
  s->d.n_local = e - b;
  s->d.n_total = N_TRAIN;
  s->d.dim = DIM;
  s->d.seed = 11;
}

static double test_auc(const dm_svdd_model *m)
{
  float *a = malloc(N_TEST * DIM * sizeof(float)), *b = malloc(N_TEST * DIM * sizeof(float));
  double *sa = malloc(N_TEST * sizeof(double)), *sb = malloc(N_TEST * sizeof(double));
  blob_rows(0, 1000000, N_TEST, a); /* rows never used for training */
  blob_rows(1, 0, N_TEST, b);
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

static void test_blobs_and_rank_agreement(void **state)
{
  MPI_Comm world = MPI_COMM_WORLD;
  dm_svdd_opts o;
  small_opts(&o);
  shard sw, s1;
  make_shard(&sw, world, 0, NULL);
  make_shard(&s1, MPI_COMM_SELF, 0, NULL);
  dm_svdd_model *mw = NULL, *m1 = NULL;
  dm_svdd_report rw, r1;
  assert_int_equal(dm_svdd_fit(&sw.d, &o, world, &mw, &rw), DM_OK);
  assert_int_equal(dm_svdd_fit(&s1.d, &o, MPI_COMM_SELF, &m1, &r1), DM_OK);
  assert_false(rw.any_collapsed);
  double aw = test_auc(mw), a1 = test_auc(m1);
  if (dm_rank(world) == 0)
    printf("blobs: AUC %d ranks %.5f, 1 rank %.5f; loss %.6g vs %.6g; weights rel diff %.3g\n",
           dm_size(world), aw, a1, rw.final_loss[0], r1.final_loss[0],
           max_rel_diff(m1->nets[0].w, mw->nets[0].w, m1->nets[0].n_params));
  assert_true(aw > 0.95);
  assert_true(a1 > 0.95);
  /* Same initial weights and batches; the centre is an exact sum of per-row
   * outputs and so is bitwise the same. */
  assert_memory_equal(mw->c, m1->c, (size_t)o.out_dim * sizeof(float));
  /* Only the float summation order of the gradients differs. */
  assert_true(max_rel_diff(m1->nets[0].w, mw->nets[0].w, m1->nets[0].n_params) < 1e-5);
  assert_true(fabs(aw - a1) < 1e-4);
  assert_true(fabs(rw.final_loss[0] - r1.final_loss[0]) < 1e-5 * r1.final_loss[0]);
  /* Every rank holds the same model. */
  uint64_t h = dm_svdd_hash(mw->nets[0].w, (size_t)mw->nets[0].n_params * 4, 0), h0 = h;
  MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, world);
  assert_true(h == h0);
  /* All rows on rank 0, none elsewhere: the other ranks add exact zeros, so
   * the result is bitwise the one-rank result. */
  shard sz;
  make_shard(&sz, world, 1, NULL);
  dm_svdd_model *mz = NULL;
  assert_int_equal(dm_svdd_fit(&sz.d, &o, world, &mz, NULL), DM_OK);
  assert_memory_equal(mz->nets[0].w, m1->nets[0].w, (size_t)m1->nets[0].n_params * 4);
  dm_svdd_model_free(mw);
  dm_svdd_model_free(m1);
  dm_svdd_model_free(mz);
  free(sw.x);
  free(s1.x);
  free(sz.x);
}

static void ckpt_path(char *buf, size_t cap, const char *name)
{
  snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static void test_resume_bitwise(void **state)
{
  MPI_Comm world = MPI_COMM_WORLD;
  dm_svdd_opts o;
  small_opts(&o);
  o.objective = DM_SVDD_SOFT_BOUNDARY;
  o.warm_up = 1;
  o.nu = 0.2;
  o.ensemble = 2;
  o.n_milestones = 1;
  o.milestones[0] = 3;
  shard s;
  make_shard(&s, world, 0, NULL);
  dm_svdd_model *full = NULL, *part = NULL, *resumed = NULL;
  o.epochs = 4;
  ckpt_path(o.checkpoint, sizeof o.checkpoint, "full.ckpt");
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &full, NULL), DM_OK);
  o.epochs = 2;
  ckpt_path(o.checkpoint, sizeof o.checkpoint, "part.ckpt");
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &part, NULL), DM_OK);
  o.epochs = 4;
  o.resume = 1;
  dm_svdd_report rep;
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &resumed, &rep), DM_OK);
  assert_int_equal(rep.resumed_epochs, 4); /* 2 members x 2 epochs */
  for (int k = 0; k < 2; k++) {
    assert_memory_equal(full->nets[k].w, resumed->nets[k].w,
                        (size_t)full->nets[k].n_params * sizeof(float));
    assert_true(full->r2[k] == resumed->r2[k]);
    assert_true(full->r2[k] > 0.0);
  }
  assert_memory_equal(full->c, resumed->c, 2 * (size_t)o.out_dim * sizeof(float));
  /* The two members differ (seeds seed + k). */
  assert_true(memcmp(full->nets[0].w, full->nets[1].w, 64) != 0);
  /* Fewer epochs than the checkpoint holds. */
  o.epochs = 3;
  dm_svdd_model *bad = NULL;
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &bad, NULL), DM_ERR_ARG);
  assert_null(bad);
  /* Other options: refused. */
  o.epochs = 4;
  o.lr *= 2;
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &bad, NULL), DM_ERR_SCHEMA);
  o.lr /= 2;
  /* A corrupted checkpoint: refused, naming the file. */
  if (dm_rank(world) == 0) {
    FILE *f = fopen(o.checkpoint, "r+b");
    assert_non_null(f);
    fseek(f, 200, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(ch ^ 0x40, f);
    fclose(f);
  }
  MPI_Barrier(world);
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &bad, NULL), DM_ERR_SCHEMA);
  if (dm_rank(world) == 0)
    assert_non_null(strstr(dm_error_message(), "part.ckpt"));
  /* No checkpoint at all: --resume starts afresh (a first Slurm run). */
  ckpt_path(o.checkpoint, sizeof o.checkpoint, "none.ckpt");
  dm_svdd_model *fresh = NULL;
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &fresh, NULL), DM_OK);
  assert_memory_equal(full->nets[1].w, fresh->nets[1].w,
                      (size_t)full->nets[1].n_params * sizeof(float));
  dm_svdd_model_free(full);
  dm_svdd_model_free(part);
  dm_svdd_model_free(resumed);
  dm_svdd_model_free(fresh);
  free(s.x);
}

static void test_collapse(void **state)
{
  MPI_Comm world = MPI_COMM_WORLD;
  dm_svdd_opts o;
  small_opts(&o);
  o.epochs = 2;
  shard s;
  make_shard(&s, world, 0, NULL);
  dm_svdd_model *m = NULL;
  dm_svdd_report rep;
  /* All-zero weights map every event to 0: one distinct score. */
  o.zero_init = 1;
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &m, &rep), DM_OK);
  assert_true(rep.any_collapsed);
  assert_int_equal(rep.n_distinct[0], 1);
  assert_true(rep.score_std[0] == 0.0);
  dm_svdd_model_free(m);
  m = NULL;
  o.strict = 1;
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &m, &rep), DM_ERR_NUMERIC);
  assert_null(m);
  /* Constant input: a working network, but nothing to tell events apart. */
  o.zero_init = 0;
  float *same = malloc(N_TRAIN * DIM * sizeof(float));
  for (int i = 0; i < N_TRAIN * DIM; i++)
    same[i] = (float)(i % DIM) * 0.5f - 1.0f;
  shard c;
  make_shard(&c, world, 0, same);
  assert_int_equal(dm_svdd_fit(&c.d, &o, world, &m, &rep), DM_ERR_NUMERIC);
  assert_true(rep.any_collapsed);
  /* A healthy model passes --strict. */
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &m, &rep), DM_OK);
  assert_false(rep.any_collapsed);
  assert_true(rep.n_distinct[0] > N_TRAIN / 2);
  dm_svdd_model_free(m);
  free(same);
  free(s.x);
  free(c.x);
}

/* Soft-boundary: R^2 is the (1 - nu) quantile of the epoch's distances, so
 * about a fraction nu of the training events stays outside the sphere. */
static void test_soft_boundary_radius(void **state)
{
  MPI_Comm world = MPI_COMM_WORLD;
  dm_svdd_opts o;
  small_opts(&o);
  o.objective = DM_SVDD_SOFT_BOUNDARY;
  o.nu = 0.1;
  o.warm_up = 3;
  o.lr = 1e-3;
  shard s;
  make_shard(&s, world, 0, NULL);
  dm_svdd_model *m = NULL;
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &m, NULL), DM_OK);
  double *sc = malloc((size_t)(s.d.n_local + 1) * sizeof(double));
  assert_int_equal(dm_svdd_score(m, s.x, s.d.n_local, DIM, sc), DM_OK);
  int64_t out = 0;
  for (int64_t i = 0; i < s.d.n_local; i++)
    out += sc[i] > m->r2[0];
  out = dm_allsum_i64(out, world);
  double frac = (double)out / N_TRAIN;
  if (dm_rank(world) == 0)
    printf("soft-boundary: R^2 %.4g, fraction outside %.4f (nu 0.1)\n", m->r2[0], frac);
  assert_true(m->r2[0] > 0.0);
  assert_true(frac > 0.03 && frac < 0.25);
  assert_true(test_auc(m) > 0.95);
  free(sc);
  dm_svdd_model_free(m);
  free(s.x);
}

static void test_save_load(void **state)
{
  MPI_Comm world = MPI_COMM_WORLD;
  dm_svdd_opts o;
  small_opts(&o);
  o.epochs = 2;
  o.ensemble = 2;
  shard s;
  make_shard(&s, world, 0, NULL);
  void *st = NULL;
  cJSON *info = cJSON_CreateObject();
  const dm_model_backend *be = &dm_model_backend_svdd;
  assert_int_equal(be->fit(&s.d, &o, world, &st, info), DM_OK);
  assert_non_null(cJSON_GetObjectItem(info, "train_events_per_s"));
  char path[512];
  ckpt_path(path, sizeof path, "model.h5");
  dm_h5_out out;
  assert_int_equal(dm_h5_out_create(&out, path, world), DM_OK);
  assert_int_equal(dm_h5_group_ensure(out.file, "model"), DM_OK);
  hid_t g = H5Gopen2(out.file, "model", H5P_DEFAULT);
  assert_int_equal(be->save(st, g, world), DM_OK);
  H5Gclose(g);
  assert_int_equal(dm_h5_out_finish(&out, DM_OK), DM_OK);
  hid_t f;
  assert_int_equal(dm_h5_open(path, world, 0, &f), DM_OK);
  g = H5Gopen2(f, "model", H5P_DEFAULT);
  void *back = NULL;
  assert_int_equal(be->load(g, DM_SVDD_BACKEND_VERSION, world, &back), DM_OK);
  H5Gclose(g);
  dm_h5_close(f);
  double a[N_TEST], b[N_TEST];
  float *x = malloc(N_TEST * DIM * sizeof(float));
  blob_rows(1, 0, N_TEST, x);
  assert_int_equal(be->score(st, x, N_TEST, DIM, a, world), DM_OK);
  assert_int_equal(be->score(back, x, N_TEST, DIM, b, world), DM_OK);
  assert_memory_equal(a, b, sizeof(a));
  /* Ensemble score = mean of the members' distances. */
  const dm_svdd_model *m = st;
  dm_svdd_model one = *m;
  one.n_members = 1;
  double s0[N_TEST], s1[N_TEST];
  assert_int_equal(dm_svdd_score(&one, x, N_TEST, DIM, s0), DM_OK);
  one.nets = m->nets + 1;
  one.c = m->c + o.out_dim;
  assert_int_equal(dm_svdd_score(&one, x, N_TEST, DIM, s1), DM_OK);
  for (int i = 0; i < N_TEST; i++)
    assert_true(fabs(a[i] - 0.5 * (s0[i] + s1[i])) <= 1e-12 * (1 + a[i]));
  be->free(st);
  be->free(back);
  cJSON_Delete(info);
  free(x);
  free(s.x);
}

/* Two OpenMP threads split each rank's part of a batch: reproducible bitwise
 * for a fixed thread count (twice, and across a resume), and equal to the
 * one-thread result up to the rounding of the gradient sums. */
static void test_threads(void **state)
{
  MPI_Comm world = MPI_COMM_WORLD;
  int keep = omp_get_max_threads();
  dm_svdd_opts o;
  small_opts(&o);
  o.batch = 1024; /* >= 2 x 64 rows per rank and thread on 3 ranks */
  o.epochs = 4;
  shard s;
  make_shard(&s, world, 0, NULL);
  dm_svdd_model *m1 = NULL, *a = NULL, *b = NULL, *r = NULL, *part = NULL;
  omp_set_num_threads(1);
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &m1, NULL), DM_OK);
  omp_set_num_threads(2);
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &a, NULL), DM_OK);
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &b, NULL), DM_OK);
  size_t nb = (size_t)a->nets[0].n_params * sizeof(float);
  assert_memory_equal(a->nets[0].w, b->nets[0].w, nb);
  double rel = max_rel_diff(m1->nets[0].w, a->nets[0].w, a->nets[0].n_params);
  if (dm_rank(world) == 0)
    printf("threads: 1 vs 2 threads, weights rel diff %.3g\n", rel);
  assert_true(rel < 1e-5);
  ckpt_path(o.checkpoint, sizeof o.checkpoint, "threads.ckpt");
  o.epochs = 2;
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &part, NULL), DM_OK);
  o.epochs = 4;
  o.resume = 1;
  assert_int_equal(dm_svdd_fit(&s.d, &o, world, &r, NULL), DM_OK);
  assert_memory_equal(a->nets[0].w, r->nets[0].w, nb);
  omp_set_num_threads(keep);
  dm_svdd_model_free(m1);
  dm_svdd_model_free(a);
  dm_svdd_model_free(b);
  dm_svdd_model_free(r);
  dm_svdd_model_free(part);
  free(s.x);
}

int main(void)
{
  MPI_Init(NULL, NULL);
  dm_h5_quiet();
  if (dm_rank(MPI_COMM_WORLD) == 0) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/dm_svdd_test_XXXXXX", base);
    if (!mkdtemp(tmpdir))
      tmpdir[0] = 0;
  }
  MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, MPI_COMM_WORLD);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_blobs_and_rank_agreement),
      cmocka_unit_test(test_resume_bitwise),
      cmocka_unit_test(test_collapse),
      cmocka_unit_test(test_soft_boundary_radius),
      cmocka_unit_test(test_save_load),
      cmocka_unit_test(test_threads),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Barrier(MPI_COMM_WORLD);
  if (dm_rank(MPI_COMM_WORLD) == 0 && tmpdir[0]) {
    const char *names[] = {"full.ckpt", "part.ckpt", "none.ckpt", "model.h5", "threads.ckpt"};
    char p[512];
    for (int i = 0; i < 5; i++) {
      ckpt_path(p, sizeof p, names[i]);
      remove(p);
    }
    rmdir(tmpdir);
  }
  MPI_Finalize();
  return rc;
}
