/* io/dm_atomic.h: the claim, the run's temporary, commit and abort, the
 * checks made before a run. One process: a second claim of the same output
 * by the same process conflicts too (open file description locks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <mpi.h>

#include "dm_atomic.h"
#include "dm_status.h"

static int exists(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0;
}

static char dir[256];

static void path_in(char *buf, size_t cap, const char *name)
{
  snprintf(buf, cap, "%s/%s", dir, name);
}

static void test_commit(void **state)
{
  (void)state;
  char fin[512], want[600];
  path_in(fin, sizeof fin, "out.json");
  dm_atomic a;
  assert_int_equal(dm_atomic_begin(&a, fin), DM_OK);
  /* FINAL.<host>-<pid>.tmp exists, empty; the claim FINAL.lock names us. */
  snprintf(want, sizeof want, "-%ld.tmp", (long)getpid());
  assert_non_null(strstr(a.tmp_path, want));
  assert_int_equal(strncmp(a.tmp_path, fin, strlen(fin)), 0);
  assert_true(exists(a.tmp_path));
  snprintf(want, sizeof want, "%s.lock", fin);
  assert_true(exists(want));
  assert_false(exists(fin));
  FILE *f = fopen(a.tmp_path, "w");
  fputs("{}\n", f);
  fclose(f);
  assert_int_equal(dm_atomic_commit(&a), DM_OK);
  assert_true(exists(fin));
  assert_false(exists(a.tmp_path));
  assert_false(exists(want)); /* claim released and removed */
  dm_atomic_abort(&a);        /* after commit: nothing to do, final kept */
  assert_true(exists(fin));
}

static void test_second_claim_refused(void **state)
{
  (void)state;
  char fin[512];
  path_in(fin, sizeof fin, "busy.h5");
  dm_atomic a, b;
  assert_int_equal(dm_atomic_begin(&a, fin), DM_OK);
  assert_int_equal(dm_atomic_begin(&b, fin), DM_ERR_IO);
  assert_non_null(strstr(dm_error_message(), "is being written by another run (host "));
  char pid[32];
  snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
  assert_non_null(strstr(dm_error_message(), pid));
  assert_true(exists(a.tmp_path)); /* the holder's work is untouched */
  dm_atomic_abort(&a);
  assert_false(exists(a.tmp_path));
  assert_false(exists(fin));
  /* Released: the next run gets it. */
  assert_int_equal(dm_atomic_begin(&b, fin), DM_OK);
  dm_atomic_abort(&b);
}

static void test_leftovers_removed(void **state)
{
  (void)state;
  char fin[512], old[600], run[600], other[600], lock[600], mpiio[600];
  path_in(fin, sizeof fin, "lo.h5");
  snprintf(mpiio, sizeof mpiio, "%s.node_7-4242.tmp-553582593-4242.lock", fin);
  snprintf(old, sizeof old, "%s.tmp", fin);
  snprintf(run, sizeof run, "%s.node_7-4242.tmp", fin);
  snprintf(other, sizeof other, "%s.notes.tmp", fin); /* not a dmpipe name: kept */
  snprintf(lock, sizeof lock, "%s.lock", fin);
  const char *mk[] = {old, run, other, lock, mpiio};
  for (int i = 0; i < 5; i++) {
    FILE *f = fopen(mk[i], "w");
    fputs("x", f);
    fclose(f);
  }
  dm_atomic a;
  assert_int_equal(dm_atomic_begin(&a, fin), DM_OK); /* the stale claim is taken over */
  assert_false(exists(old));
  assert_false(exists(run));
  assert_false(exists(mpiio));
  assert_true(exists(other));
  dm_atomic_abort(&a);
  assert_false(exists(lock));
  unlink(other);
}

/* The claim on its own (a pipeline's work folder): a second take is refused
 * naming the holder; release removes the file; a file left by a holder that
 * died (text, no lock) is taken over and names that holder. */
static void test_claim_alone(void **state)
{
  (void)state;
  char lock[512], want[128];
  path_in(lock, sizeof lock, "folder.lock");
  dm_claim a, b;
  assert_int_equal(dm_claim_take(&a, lock), DM_OK);
  assert_int_equal(a.held, 1);
  assert_string_equal(a.holder, "");
  assert_int_not_equal(dm_claim_take(&b, lock), DM_OK);
  assert_int_equal(b.busy, 1);
  assert_int_equal(b.held, 0);
  snprintf(want, sizeof want, ", pid %ld, since ", (long)getpid());
  assert_non_null(strstr(b.holder, want));
  assert_non_null(strstr(dm_error_message(), lock));
  dm_error_clear();
  dm_claim_release(&b); /* not held: nothing */
  assert_true(exists(lock));
  dm_claim_release(&a);
  assert_false(exists(lock));
  dm_claim_release(&a); /* twice: nothing */
  FILE *f = fopen(lock, "w");
  fputs("host gone, pid 4242, since 2026-01-01T00:00:00Z\n", f);
  fclose(f);
  assert_int_equal(dm_claim_take(&a, lock), DM_OK);
  assert_string_equal(a.holder, "host gone, pid 4242, since 2026-01-01T00:00:00Z");
  dm_claim_release(&a);
  assert_false(exists(lock));
}

static void test_checks(void **state)
{
  (void)state;
  dm_atomic a;
  assert_int_equal(dm_atomic_check(dir, "--out"), DM_ERR_ARG);
  assert_non_null(strstr(dm_error_message(), "is a folder"));
  char p[512];
  path_in(p, sizeof p, "missing/x.h5");
  assert_int_equal(dm_atomic_check(p, "--out"), DM_ERR_ARG);
  assert_non_null(strstr(dm_error_message(), "--out"));
  assert_int_equal(dm_atomic_begin(&a, p), DM_ERR_ARG);
  assert_int_equal(dm_atomic_check("", "--json"), DM_ERR_ARG);
  assert_int_equal(dm_atomic_begin(&a, dir), DM_ERR_ARG);
  int fd0 = fcntl(0, F_GETFD) != -1;
  dm_atomic zero;
  memset(&zero, 0, sizeof zero);
  dm_atomic_abort(&zero); /* never begun: harmless, and descriptor 0 is not closed */
  assert_int_equal(fcntl(0, F_GETFD) != -1, fd0);
}

static void test_text(void **state)
{
  (void)state;
  char fin[512];
  path_in(fin, sizeof fin, "report.txt");
  assert_int_equal(dm_atomic_write_text(fin, "hello\n"), DM_OK);
  char buf[16] = "";
  FILE *f = fopen(fin, "r");
  assert_non_null(fgets(buf, sizeof buf, f));
  fclose(f);
  assert_string_equal(buf, "hello\n");
  /* A failure before the close: the temporary goes, the old content stays. */
  dm_atomic a;
  FILE *g = NULL;
  assert_int_equal(dm_atomic_fopen(&a, fin, &g), DM_OK);
  fputs("half", g);
  char tmp[sizeof a.tmp_path];
  snprintf(tmp, sizeof tmp, "%s", a.tmp_path);
  assert_int_equal(dm_atomic_fclose(&a, g, DM_ERR_FORMAT), DM_ERR_FORMAT);
  assert_false(exists(tmp));
  f = fopen(fin, "r");
  assert_non_null(fgets(buf, sizeof buf, f));
  fclose(f);
  assert_string_equal(buf, "hello\n");
}

int main(void)
{
  MPI_Init(NULL, NULL);
  snprintf(dir, sizeof dir, "test_atomic.%ld", (long)getpid());
  mkdir(dir, 0777);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_commit),          cmocka_unit_test(test_second_claim_refused),
      cmocka_unit_test(test_leftovers_removed), cmocka_unit_test(test_checks),
      cmocka_unit_test(test_text),            cmocka_unit_test(test_claim_alone),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char p[600];
  const char *left[] = {"out.json", "report.txt"};
  for (int i = 0; i < 2; i++) {
    path_in(p, sizeof p, left[i]);
    unlink(p);
  }
  if (rmdir(dir) != 0 && rc == 0) {
    fprintf(stderr, "test_atomic: files left in %s\n", dir);
    rc = 1;
  }
  MPI_Finalize();
  return rc;
}
