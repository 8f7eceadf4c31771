/* The score file writer and reader on 3 ranks (uneven blocks, a rank with
 * nothing to write, two appends), a failed write leaving nothing behind, and
 * exact weight sums that give the same bits however the terms are split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <mpi.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_rng.h"
#include "dm_scores_file.h"
#include "dm_xsum.h"

static char dir[512];

static const char *const names[3] = {"ttbar", "w_jets", "gluino_01"};
static const int64_t counts[3] = {10, 20, 30};

/* Rank r contributes `n` rows starting at global index `first`. */
static void fill(int64_t first, int64_t n, int64_t *id, uint16_t *proc, double *score)
{
  for (int64_t i = 0; i < n; i++) {
    id[i] = (first + i) * 10 + 7;
    proc[i] = (uint16_t)((first + i) % 3);
    score[i] = 0.25 * (double)(first + i) - 3.0;
  }
}

static void test_write_read(void **state)
{
  MPI_Comm c = MPI_COMM_WORLD;
  int r = dm_rank(c), size = dm_size(c);
  char path[600];
  snprintf(path, sizeof path, "%s/s.h5", dir);
  dm_scores_meta meta;
  memset(&meta, 0, sizeof meta);
  snprintf(meta.model_kind, sizeof meta.model_kind, "kde");
  snprintf(meta.store_path, sizeof meta.store_path, "store.h5");
  snprintf(meta.channel, sizeof meta.channel, "chan3");
  dm_h5_layout lay = {3, 4}; /* tiny chunks: blocks straddle chunk borders */
  dm_scores_writer *w = NULL;
  assert_int_equal(dm_scores_writer_create(path, &meta, &lay, c, &w), DM_OK);
  int64_t id[64];
  uint16_t proc[64];
  double score[64];
  /* First append: rank r has r + 2 rows; second: rank 1 has none. */
  int64_t total = 0;
  for (int pass = 0; pass < 2; pass++) {
    int64_t mine = pass == 0 ? r + 2 : (r == 1 ? 0 : 5);
    int64_t before = 0, all = 0;
    dm_exscan_i64(mine, c, &before, &all);
    fill(total + before, mine, id, proc, score);
    assert_int_equal(dm_scores_writer_append(w, id, proc, score, mine), DM_OK);
    total += all;
  }
  assert_int_equal(dm_scores_writer_finish(w, DM_OK, names, counts, 3, "test", ""), DM_OK);
  assert_int_equal(access(path, F_OK), 0);

  dm_scores *sc = NULL;
  assert_int_equal(dm_scores_open(path, c, &sc), DM_OK);
  assert_int_equal(dm_scores_n_events(sc), total);
  assert_int_equal(dm_scores_n_processes(sc), 3);
  assert_string_equal(dm_scores_process_name(sc, 2), "gluino_01");
  assert_int_equal(dm_scores_process_events(sc, 1), 20);
  assert_string_equal(dm_scores_get_meta(sc)->model_kind, "kde");
  assert_string_equal(dm_scores_get_meta(sc)->channel, "chan3");
  /* Every rank reads a different range, one rank reads only one column. */
  int64_t b, e;
  dm_partition(total, (r + 1) % size, size, &b, &e);
  int64_t gid[64];
  uint16_t gp[64];
  double gs[64];
  assert_int_equal(dm_scores_read(sc, b, e - b, r == 0 ? NULL : gid, gp, gs), DM_OK);
  int64_t want_id[64];
  uint16_t want_p[64];
  double want_s[64];
  fill(b, e - b, want_id, want_p, want_s);
  for (int64_t i = 0; i < e - b; i++) {
    if (r != 0)
      assert_int_equal(gid[i], want_id[i]);
    assert_int_equal(gp[i], want_p[i]);
    assert_true(gs[i] == want_s[i]);
  }
  /* Out of range on one rank: an error naming the file, and every rank
   * still returns (the read is collective). */
  dm_status s = dm_scores_read(sc, r == 2 ? total - 1 : 0, 2, NULL, NULL, gs);
  s = dm_agree(s, c);
  assert_int_equal(s, size > 2 ? DM_ERR_ARG : DM_OK);
  assert_int_equal(dm_scores_close(sc), DM_OK);
}

static void test_failed_write(void **state)
{
  MPI_Comm c = MPI_COMM_WORLD;
  int r = dm_rank(c);
  char path[600], tmp[700];
  snprintf(path, sizeof path, "%s/failed.h5", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  dm_scores_writer *w = NULL;
  assert_int_equal(dm_scores_writer_create(path, NULL, NULL, c, &w), DM_OK);
  double score[2] = {1, 2};
  int64_t id[2] = {1, 2};
  uint16_t proc[2] = {0, 1};
  assert_int_equal(dm_scores_writer_append(w, id, proc, score, 2), DM_OK);
  dm_status mine = r == dm_size(c) - 1 ? dm_error(DM_ERR_NUMERIC, "model collapsed") : DM_OK;
  assert_int_not_equal(dm_scores_writer_finish(w, mine, names, counts, 3, "test", ""), DM_OK);
  MPI_Barrier(c);
  assert_int_equal(access(path, F_OK), -1);
  assert_int_equal(access(tmp, F_OK), -1);
  /* Not a score file: a clear error naming it. */
  dm_scores *sc = NULL;
  char bad[600];
  snprintf(bad, sizeof bad, "%s/nothing.h5", dir);
  assert_int_not_equal(dm_scores_open(bad, c, &sc), DM_OK);
  assert_null(sc);
  /* The failing rank holds the message; the others learn which rank failed. */
  int named = strstr(dm_error_message(), "nothing.h5") != NULL;
  assert_false(dm_alltrue(!named, c));
}

/* Sums of the same terms split over ranks in different ways give the same
 * bits, and agree with a long double reference to rounding. */
static void test_exact_sums(void **state)
{
  MPI_Comm c = MPI_COMM_WORLD;
  int r = dm_rank(c), size = dm_size(c);
  enum { N = 5000 };
  static double v[N];
  dm_rng g;
  dm_rng_init(&g, 99, 0, 0);
  for (int i = 0; i < N; i++)
    v[i] = (dm_rng_uniform(&g) - 0.3) * pow(10.0, (double)(i % 17) - 8.0);
  double got[3];
  for (int split = 0; split < 3; split++) {
    dm_xsum s;
    dm_xsum_clear(&s);
    for (int i = 0; i < N; i++) {
      /* split 0: blocks; 1: round robin; 2: everything on the last rank */
      int owner = split == 0 ? (int)((int64_t)i * size / N) : split == 1 ? i % size : size - 1;
      if (owner == r)
        dm_xsum_add(&s, v[i]);
    }
    assert_int_equal(dm_xsum_allreduce(&s, 1, c), DM_OK);
    got[split] = dm_xsum_value(&s);
  }
  assert_memory_equal(&got[0], &got[1], sizeof(double));
  assert_memory_equal(&got[0], &got[2], sizeof(double));
  long double ref = 0;
  for (int i = 0; i < N; i++)
    ref += v[i];
  assert_true(fabs(got[0] - (double)ref) <= 1e-12 * fabs((double)ref));
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  dm_h5_quiet();
  const char *t = getenv("DM_TEST_TMP");
  snprintf(dir, sizeof dir, "%s", t && *t ? t : "test_scores_file.tmp");
  if (dm_rank(MPI_COMM_WORLD) == 0) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "cannot create %s\n", dir);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_read),
      cmocka_unit_test(test_failed_write),
      cmocka_unit_test(test_exact_sums),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  int any = 0;
  MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any ? 1 : 0;
}
