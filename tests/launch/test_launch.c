/* mpi/ layer, launch side: progress that only some ranks asked for, the
 * progress line, threads from a share of cores. Run on 3 ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "dm_comm.h"
#include "dm_progress.h"
#include "dm_threads.h"

/* Rank 0 alone asks for progress (its stderr is a terminal, the others' are
 * not): before the decision was made once, the other ranks skipped the
 * reductions rank 0 started and the job hung. Every rank must get a handle,
 * and every tick must match. */
static void test_progress_mixed_enable(void **state)
{
  (void)state;
  MPI_Comm c = MPI_COMM_WORLD;
  int r = dm_rank(c);
  dm_progress *p = dm_progress_start(c, "mixed", 0, r == 0 ? DM_PROGRESS_LOG : DM_PROGRESS_OFF,
                                     1e6);
  assert_non_null(p);
  for (int k = 0; k < 3 * DM_PROGRESS_DEPTH; k++) {
    dm_progress_add(p, 10, 0);
    dm_progress_tick(p);
  }
  dm_progress_finish(p);
  /* Off everywhere: no handle anywhere, and still one matched collective. */
  assert_null(dm_progress_start(c, "off", 0, DM_PROGRESS_OFF, 0));
  /* A value that is no mode counts as off. */
  assert_null(dm_progress_start(c, "bad", 0, 7, 0));
  /* The same communicator still works afterwards (nothing left in flight). */
  assert_int_equal(dm_allsum_i64(1, c), dm_size(c));
}

static void test_progress_format(void **state)
{
  (void)state;
  char b[256];
  /* 250 of 1000 events in 5 s: 50 events/s, 25%, 15 s left. */
  dm_progress_format(b, sizeof b, "weight", 250, 0, 1000, 0, 5.0, 0);
  assert_string_equal(b, "weight: 250 events, 50 events/s, 25.0%, ETA 15 s");
  /* Bytes known, events not (ingest): 2 MB of 8 MB in 2 s. */
  dm_progress_format(b, sizeof b, "ingest", 300, 2000000, 0, 8000000, 2.0, 0);
  assert_string_equal(b, "ingest: 300 events, 150 events/s, 1.0 MB/s, 25.0%, ETA 6 s");
  /* No total at all: no percentage, no ETA. */
  dm_progress_format(b, sizeof b, "train: features", 40, 0, 0, 0, 4.0, 0);
  assert_string_equal(b, "train: features: 40 events, 10 events/s");
  dm_progress_format(b, sizeof b, "score", 1000, 0, 1000, 0, 4.0, 1);
  assert_string_equal(b, "score: 1000 events in 4.0 s, 250 events/s (done)");
  /* Nothing done yet: 0%, no division by zero. */
  dm_progress_format(b, sizeof b, "select", 0, 0, 1000, 0, 0.0, 0);
  assert_string_equal(b, "select: 0 events, 0 events/s, 0.0%");
  /* A short buffer is cut, never overrun. */
  char small[12];
  memset(small, 'x', sizeof small);
  dm_progress_format(small, sizeof small, "generate", 123456789, 0, 0, 0, 1.0, 0);
  assert_int_equal(small[sizeof small - 1], '\0');
}

static void test_threads_share(void **state)
{
  (void)state;
  /* Two ranks on two cores, unbound: each core shared by 2 -> 1 thread. */
  assert_int_equal(dm_threads_from_share(0.5 + 0.5), 1);
  /* One rank alone on 8 cores. */
  assert_int_equal(dm_threads_from_share(8.0), 8);
  /* Three ranks on 2 cores: 2/3 each, still one thread. */
  assert_int_equal(dm_threads_from_share(2.0 / 3.0), 1);
  /* Three ranks sharing 3 cores, summed in thirds: exactly 1, not 0. */
  assert_int_equal(dm_threads_from_share(1.0 / 3 + 1.0 / 3 + 1.0 / 3), 1);
  /* Four ranks on 6 cores: 1.5 -> 1 (never more threads than cores). */
  assert_int_equal(dm_threads_from_share(1.5), 1);
}

static void test_threads_setup(void **state)
{
  (void)state;
  MPI_Comm c = MPI_COMM_WORLD;
  dm_threads_info info;
  /* An explicit request wins and reaches OpenMP. */
  assert_int_equal(dm_threads_setup(c, 3, 0, &info), DM_OK);
  assert_int_equal(info.threads, 3);
  assert_string_equal(info.source, "--threads");
  assert_int_equal(omp_get_max_threads(), 3);
  /* The counts are consistent over the node. */
  assert_true(info.node_ranks >= 1 && info.node_ranks <= dm_size(c));
  assert_true(info.cores >= 1 && info.cores <= info.node_cores);
  assert_int_equal(info.node_threads, 3 * info.node_ranks);
  /* The verdict on oversubscription is agreed. */
  assert_int_equal(dm_alltrue(info.oversubscribed, c), info.oversubscribed);
  /* Automatic, without OMP_NUM_THREADS: never more threads on the node than
   * cores, unless there are more ranks than cores (then one each). */
  unsetenv("OMP_NUM_THREADS");
  assert_int_equal(dm_threads_setup(c, 0, 0, &info), DM_OK);
  assert_string_equal(info.source, "affinity");
  assert_true(info.threads >= 1 && info.threads <= info.cores);
  if (info.node_ranks <= info.node_cores)
    assert_true(info.node_threads <= info.node_cores);
  else
    assert_int_equal(info.threads, 1);
  assert_int_equal(omp_get_max_threads(), info.threads);
  /* OMP_NUM_THREADS overrides the affinity share; a list takes its first. */
  setenv("OMP_NUM_THREADS", "2,1", 1);
  assert_int_equal(dm_threads_setup(c, 0, 0, &info), DM_OK);
  assert_int_equal(info.threads, 2);
  assert_string_equal(info.source, "OMP_NUM_THREADS");
  setenv("OMP_NUM_THREADS", "lots", 1);
  assert_int_equal(dm_threads_setup(c, 0, 0, &info), DM_OK);
  assert_string_equal(info.source, "affinity");
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_progress_mixed_enable),
      cmocka_unit_test(test_progress_format),
      cmocka_unit_test(test_threads_share),
      cmocka_unit_test(test_threads_setup),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  int all = 0;
  MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return all;
}
