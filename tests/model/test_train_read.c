/* What the train and score stages read with bounded memory, on a store
 * written here (three processes in store order, 0 to 11 objects an event):
 *  - dm_features_read in pieces of at most a few objects gives the rows,
 *    process indices and event ids of one whole dm_store_read, with ranks
 *    that need different numbers of pieces and events with more objects
 *    than a piece;
 *  - train's subsample found without holding keys, every selection round a
 *    pass over the store (select_hold 1) or the default, is the max_train
 *    pool events of smallest key, the pool and the sort computed here.
 * Run on 1, 2 and 3 ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_features.h"
#include "dm_h5.h"
#include "dm_rng.h"
#include "dm_store.h"
#include "dm_train.h"

#define W MPI_COMM_WORLD
#define N_EV 3000

/* Per rank count, so that the np variants may run side by side. */
static char STORE[64], MODEL[64];

static const char *const procs[3] = {"ttbar", "gluino_01", "w_jets"};
static const int64_t per_proc[3] = {1400, 300, 1300};

static int proc_of(int64_t g) { return g < per_proc[0] ? 0 : g < per_proc[0] + per_proc[1] ? 1 : 2; }

/* Objects of event g: 0..11, busier in the middle process. */
static int objs_of(int64_t g) { return (int)((g * 7 + g / 13) % (proc_of(g) == 1 ? 12 : 5)); }

static void write_store(void)
{
  int64_t b, e;
  dm_partition(N_EV, dm_rank(W), dm_size(W), &b, &e);
  dm_events ev;
  memset(&ev, 0, sizeof ev);
  assert_int_equal(dm_events_reserve(&ev, e - b, (e - b) * 12, 0), DM_OK);
  int64_t no = 0;
  ev.obj_offset[0] = 0;
  for (int64_t g = b; g < e; g++) {
    int64_t i = g - b;
    dm_rng r;
    dm_rng_init(&r, 5, (uint64_t)g, 0);
    ev.event_id[i] = 1000 + g;
    ev.process[i] = (uint16_t)proc_of(g);
    ev.weight[i] = 1.0;
    ev.met[i] = (float)(10 + 100 * dm_rng_uniform(&r));
    ev.met_phi[i] = (float)(3 * dm_rng_uniform(&r) - 1.5);
    for (int k = 0; k < objs_of(g); k++, no++) {
      ev.type[no] = (uint8_t)dm_rng_below(&r, DM_OBJ_NTYPES);
      ev.pt[no] = (float)(20 + 200 * dm_rng_uniform(&r));
      ev.eta[no] = (float)(4 * dm_rng_uniform(&r) - 2);
      ev.phi[no] = (float)(6 * dm_rng_uniform(&r) - 3);
      ev.e[no] = ev.pt[no] * (float)cosh(ev.eta[no]);
    }
    ev.obj_offset[i + 1] = no;
  }
  ev.n_events = e - b;
  ev.n_objects = no;
  dm_store_layout lay = {3, 512, 0};
  dm_store_writer *w = NULL;
  assert_int_equal(dm_store_writer_create(STORE, &lay, W, &w), DM_OK);
  assert_int_equal(dm_store_writer_append(w, &ev), DM_OK);
  assert_int_equal(dm_store_writer_finish(w, DM_OK, procs, per_proc, 3, "test", ""), DM_OK);
  dm_events_free(&ev);
}

static int setup(void **state)
{
  snprintf(STORE, sizeof STORE, "test_train_read.np%d.h5", dm_size(W));
  snprintf(MODEL, sizeof MODEL, "test_train_read.np%d.model.h5", dm_size(W));
  write_store();
  return 0;
}

static int teardown(void **state)
{
  MPI_Barrier(W);
  if (dm_rank(W) == 0)
    unlink(STORE);
  return 0;
}

static void test_pieces(void **state)
{
  dm_store *st = NULL;
  assert_int_equal(dm_store_open(STORE, W, 0, &st), DM_OK);
  int R = dm_rank(W);
  /* Uneven ranges: rank r reads from the middle of the busy process on. */
  int64_t begin = 1200 + 97 * R, count = 700 - 150 * R;
  dm_feature_spec specs[2] = {{DM_FEATURES_HIGHLEVEL, 20, DM_PHI_RAW},
                              {DM_FEATURES_OBJECTS, 6, DM_PHI_SINCOS}};
  for (int sp = 0; sp < 2; sp++) {
    int dim = 0;
    assert_int_equal(dm_features_dim(&specs[sp], &dim), DM_OK);
    /* The whole range in one read, as before pieces. */
    dm_events ev;
    memset(&ev, 0, sizeof ev);
    float *want = malloc((size_t)count * dim * sizeof *want);
    assert_int_equal(dm_store_read(st, begin, count, 0, &ev), DM_OK);
    assert_int_equal(dm_features_extract(&specs[sp], &ev, want), DM_OK);
    int64_t maxes[] = {0, 1, 7, 11, 12, 40};
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
      dm_features_batch b;
      memset(&b, 0, sizeof b);
      b.max_objects = maxes[m];
      float *got = malloc((size_t)count * dim * sizeof *got);
      /* Twice: the second read reuses the batch. */
      for (int rep = 0; rep < 2; rep++) {
        memset(got, 0xff, (size_t)count * dim * sizeof *got);
        assert_int_equal(dm_features_read(st, &specs[sp], begin, count, &b, got), DM_OK);
        assert_memory_equal(got, want, (size_t)count * dim * sizeof *got);
        assert_memory_equal(b.process, ev.process, (size_t)count * sizeof *b.process);
        assert_memory_equal(b.event_id, ev.event_id, (size_t)count * sizeof *b.event_id);
        if (maxes[m] > 0)
          assert_true(b.piece.n_objects <= maxes[m] || b.piece.n_events == 1);
      }
      /* A rank with nothing to read still takes part. */
      assert_int_equal(dm_features_read(st, &specs[sp], 0, R == 1 ? 0 : 30, &b, got), DM_OK);
      dm_features_batch_free(&b);
      free(got);
    }
    dm_events_free(&ev);
    free(want);
  }
  assert_int_equal(dm_store_close(st), DM_OK);
}

typedef struct {
  uint64_t key;
  int64_t idx;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
  const keyed *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_subsample(void **state)
{
  /* Background ttbar and w_jets; the pool is the first 0.9 of each. */
  int64_t pool[N_EV], np = 0;
  for (int p = 0; p < 3; p += 2) {
    int64_t first = p == 0 ? 0 : per_proc[0] + per_proc[1];
    for (int64_t i = 0; i < (int64_t)floor(0.9 * (double)per_proc[p]); i++)
      pool[np++] = first + i;
  }
  keyed *k = malloc((size_t)np * sizeof *k);
  int64_t ms[] = {2, 333, 2000, 2339};
  for (size_t t = 0; t < sizeof ms / sizeof ms[0]; t++) {
    for (int64_t i = 0; i < np; i++)
      k[i] = (keyed){dm_rng_hash(17, (uint64_t)pool[i], 0), pool[i]};
    qsort(k, (size_t)np, sizeof *k, cmp_keyed);
    int64_t *want = malloc((size_t)ms[t] * sizeof *want);
    for (int64_t i = 0; i < ms[t]; i++)
      want[i] = k[i].idx;
    qsort(want, (size_t)ms[t], sizeof *want, cmp_i64);
    for (int hold = 0; hold < 2; hold++) {
      dm_train_opts o;
      dm_train_opts_default(&o);
      o.in_path = STORE;
      o.out_path = MODEL;
      o.backend = "kde";
      o.background = "ttbar,w_jets";
      o.max_train = ms[t];
      o.seed = 17;
      o.batch = 250;
      o.select_hold = hold;
      o.command_line = "test";
      dm_train_report rep;
      assert_int_equal(dm_train_run(&o, W, &rep), DM_OK);
      assert_int_equal(rep.n_pool, np);
      assert_int_equal(rep.n_train, ms[t]);
      dm_train_report_free(&rep);
      hid_t f = H5I_INVALID_HID;
      assert_int_equal(dm_h5_open_serial(o.out_path, 0, &f), DM_OK);
      int nd = 0;
      int64_t dims[4], count = 0;
      void *rows = NULL;
      assert_int_equal(dm_h5_array_read(f, "/model/reference_row", H5T_NATIVE_INT64, &nd, dims,
                                        &count, &rows),
                       DM_OK);
      dm_h5_close(f);
      assert_int_equal(count, ms[t]);
      qsort(rows, (size_t)count, sizeof(int64_t), cmp_i64);
      assert_memory_equal(rows, want, (size_t)count * sizeof(int64_t));
      free(rows);
      MPI_Barrier(W);
      if (dm_rank(W) == 0)
        unlink(o.out_path);
    }
    free(want);
  }
  free(k);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  dm_h5_quiet();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pieces),
      cmocka_unit_test(test_subsample),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  int any = 0;
  MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, W);
  MPI_Finalize();
  return any;
}
