/* mpi/ layer: agreement, prefix sums, partitions, random streams. Run on 3
 * ranks so that uneven splits and a failing middle rank are exercised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <mpi.h>

#include "dm_comm.h"
#include "dm_rng.h"

static void test_agree(void **state)
{
  MPI_Comm c = MPI_COMM_WORLD;
  int r = dm_rank(c), n = dm_size(c);
  assert_int_equal(dm_agree(DM_OK, c), DM_OK);
  /* The last rank fails with an I/O error: everyone sees a failure, the
   * failing rank keeps its own status, others learn which rank failed. */
  dm_status mine = r == n - 1 ? dm_error(DM_ERR_IO, "disk on fire") : DM_OK;
  dm_status all = dm_agree(mine, c);
  assert_int_equal(all, DM_ERR_IO);
  if (r == n - 1) {
    assert_string_equal(dm_error_message(), "disk on fire");
    assert_false(dm_error_is_remote());
  } else {
    assert_true(dm_error_is_remote());
    char want[64];
    snprintf(want, sizeof want, "failed on rank %d", n - 1);
    assert_non_null(strstr(dm_error_message(), want));
  }
  assert_int_equal(dm_alltrue(r != 0, c), 0);
  assert_int_equal(dm_alltrue(1, c), 1);
}

static void test_agree_first(void **state)
{
  MPI_Comm c = MPI_COMM_WORLD;
  int r = dm_rank(c), n = dm_size(c);
  assert_int_equal(dm_agree_first(DM_OK, c), DM_OK);
  /* Ranks 1.. fail with different statuses and messages: every rank gets
   * rank 1's, as its own. */
  dm_status mine = r == 0 ? DM_OK
                   : r == 1 ? dm_error(DM_ERR_FORMAT, "f.csv:%d: bad", 10 + r)
                            : dm_error(DM_ERR_ARG, "f.csv:%d: worse", 10 + r);
  assert_int_equal(dm_agree_first(mine, c), n > 1 ? DM_ERR_FORMAT : DM_OK);
  if (n > 1) {
    assert_string_equal(dm_error_message(), "f.csv:11: bad");
    assert_false(dm_error_is_remote());
  }
}

static void test_exscan(void **state)
{
  MPI_Comm c = MPI_COMM_WORLD;
  int r = dm_rank(c), n = dm_size(c);
  int64_t prefix = -1, total = -1;
  dm_exscan_i64(r + 1, c, &prefix, &total);
  assert_int_equal(prefix, (int64_t)r * (r + 1) / 2);
  assert_int_equal(total, (int64_t)n * (n + 1) / 2);
}

static void test_partition(void **state)
{
  for (int size = 1; size <= 7; size++) {
    int64_t expect = 0;
    for (int r = 0; r < size; r++) {
      int64_t b, e;
      dm_partition(100, r, size, &b, &e);
      assert_int_equal(b, expect);
      assert_true(e - b == 100 / size || e - b == 100 / size + 1);
      expect = e;
    }
    assert_int_equal(expect, 100);
  }
}

static void test_rng(void **state)
{
  dm_rng a, b;
  dm_rng_init(&a, 42, 7, 9);
  dm_rng_init(&b, 42, 7, 9);
  for (int i = 0; i < 100; i++)
    assert_true(dm_rng_u64(&a) == dm_rng_u64(&b));
  dm_rng_init(&b, 42, 7, 10);
  assert_false(dm_rng_u64(&a) == dm_rng_u64(&b));
  /* Moments of the samplers, loose 5-sigma bounds. */
  double s = 0, s2 = 0, p = 0;
  int n = 200000;
  for (int i = 0; i < n; i++) {
    double x = dm_rng_normal(&a);
    s += x;
    s2 += x * x;
    p += (double)dm_rng_poisson(&a, i % 2 ? 3.5 : 80.0);
  }
  assert_true(fabs(s / n) < 5 / sqrt(n));
  assert_true(fabs(s2 / n - 1) < 5 * sqrt(2.0 / n));
  double pmean = (3.5 + 80.0) / 2;
  assert_true(fabs(p / n - pmean) < 5 * sqrt((3.5 + 80.0) / 2 / n) + 0.05);
}

int main(void)
{
  MPI_Init(NULL, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_agree),
      cmocka_unit_test(test_agree_first),
      cmocka_unit_test(test_exscan),
      cmocka_unit_test(test_partition),
      cmocka_unit_test(test_rng),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
