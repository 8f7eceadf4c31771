/* io/dm_store: the collective writer and the range reader, with batches
 * built by hand (tests/io/store_pattern.h). Run on 1 and 3 ranks: uneven
 * batches, ranks with nothing to write, events without objects, reads of
 * ranges that start and end anywhere, single and double precision, and a
 * failed write that must leave nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_prov.h"
#include "dm_store.h"
#include "store_pattern.h"

static MPI_Comm comm;
static const char *const procs[3] = {"ttbar", "monojet_Zp2000.0_DM_50.0", "z"};

static int file_exists(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0;
}

/* Events rank r appends in round k (uneven, some zero). */
static int64_t round_events(int k, int r, int n)
{
  if ((k + r) % 3 == 1)
    return 0;
  return 17 + 11 * r + 5 * k;
}

static int64_t write_store(const char *path, int dbl, int zstd, int64_t chunk, int rounds,
                           dm_status fail_local)
{
  int r = dm_rank(comm), n = dm_size(comm);
  dm_store_layout lay = {zstd, chunk, dbl};
  dm_store_writer *w = NULL;
  assert_int_equal(dm_store_writer_create(path, &lay, comm, &w), DM_OK);
  dm_events ev = {0};
  int64_t written = 0;
  int64_t counts[3] = {0, 0, 0};
  for (int k = 0; k < rounds; k++) {
    int64_t before = 0, total = 0;
    for (int q = 0; q < n; q++) {
      if (q < r)
        before += round_events(k, q, n);
      total += round_events(k, q, n);
    }
    int64_t mine = round_events(k, r, n);
    assert_int_equal(pat_fill(&ev, written + before, mine, dbl), DM_OK);
    assert_int_equal(dm_store_writer_append(w, &ev), DM_OK);
    for (int64_t g = written; g < written + total; g++)
      counts[pat_process(g)]++;
    written += total;
    assert_int_equal(dm_store_writer_n_events(w), written);
  }
  dm_events_free(&ev);
  dm_status s = dm_store_writer_finish(w, fail_local, procs, counts, 3, "dmpipe test", "none");
  assert_int_equal(s, dm_agree(fail_local, comm));
  return written;
}

static void check_range(dm_store *st, int64_t b, int64_t m, int dbl_read, int dbl_store)
{
  dm_events ev = {0};
  assert_int_equal(dm_store_read(st, b, m, dbl_read, &ev), DM_OK);
  assert_int_equal(ev.n_events, m);
  assert_int_equal(ev.first_event, b);
  assert_int_equal(ev.obj_offset[0], 0);
  int64_t o = 0;
  for (int64_t i = 0; i < m; i++) {
    int64_t g = b + i;
    assert_int_equal(ev.event_id[i], pat_event_id(g));
    assert_int_equal(ev.process[i], pat_process(g));
    assert_true(ev.weight[i] == pat_weight(g));
    assert_true(ev.met[i] == (float)pat_met(g));
    assert_true(ev.met_phi[i] == (float)pat_met_phi(g));
    if (dbl_read)
      assert_true(ev.met_d[i] == (dbl_store ? pat_met(g) : (double)(float)pat_met(g)));
    assert_int_equal(ev.obj_offset[i + 1] - ev.obj_offset[i], pat_nobj(g));
    for (int k = 0; k < pat_nobj(g); k++, o++) {
      assert_int_equal(ev.type[o], pat_type(g, k));
      assert_true(ev.e[o] == (float)pat_e(g, k));
      assert_true(ev.pt[o] == (float)pat_pt(g, k));
      assert_true(ev.eta[o] == (float)pat_eta(g, k));
      assert_true(ev.phi[o] == (float)pat_phi(g, k));
      if (dbl_read)
        assert_true(ev.pt_d[o] == (double)(float)pat_pt(g, k));
    }
  }
  assert_int_equal(ev.n_objects, o);
  dm_events_free(&ev);
}

static void roundtrip(int dbl, int zstd, int64_t chunk, const char *tag)
{
  char path[256], tmp[300];
  snprintf(path, sizeof path, "test_store_np%d_%s.h5", dm_size(comm), tag);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int64_t total = write_store(path, dbl, zstd, chunk, 7, DM_OK);
  MPI_Barrier(comm);
  assert_true(file_exists(path));
  assert_false(file_exists(tmp));

  dm_store *st = NULL;
  assert_int_equal(dm_store_open(path, comm, 0, &st), DM_OK);
  assert_int_equal(dm_store_n_events(st), total);
  int64_t nobj = 0;
  for (int64_t g = 0; g < total; g++)
    nobj += pat_nobj(g);
  assert_int_equal(dm_store_n_objects(st), nobj);
  assert_int_equal(dm_store_n_processes(st), 3);
  int64_t sum = 0;
  for (int i = 0; i < 3; i++) {
    assert_string_equal(dm_store_process_name(st, i), procs[i]);
    sum += dm_store_process_events(st, i);
  }
  assert_int_equal(sum, total);
  assert_int_equal(dm_store_is_double(st), dbl);
  assert_false(dm_store_has_derived(st, "ht"));

  /* Every rank a different block; then ranges with odd edges and an empty
   * read on some ranks. */
  int r = dm_rank(comm), n = dm_size(comm);
  int64_t b, e;
  dm_partition(total, r, n, &b, &e);
  check_range(st, b, e - b, 0, dbl);
  check_range(st, b, e - b, 1, dbl);
  int64_t ob = (r * 37) % total, om = r % 2 ? 0 : (total - ob < 53 ? total - ob : 53);
  check_range(st, ob, om, 0, dbl);
  check_range(st, 0, r == 0 ? total : 1, 0, dbl);

  /* A range past the end is an error on every rank, not a hang. */
  dm_events ev = {0};
  dm_status s = dm_store_read(st, r == n - 1 ? total - 1 : 0, 2, 0, &ev);
  assert_int_equal(s, r == n - 1 ? DM_ERR_ARG : DM_ERR_ARG);
  dm_events_free(&ev);

  char fmt[64];
  assert_int_equal(dm_h5_attr_get_str(dm_store_file(st), "format", fmt, sizeof fmt), DM_OK);
  assert_string_equal(fmt, DM_FORMAT_STORE);
  assert_int_equal(dm_h5_attr_get_str(dm_store_file(st), "precision", fmt, sizeof fmt), DM_OK);
  assert_string_equal(fmt, dbl ? "double" : "single");
  assert_int_equal(dm_store_close(st), DM_OK);
  MPI_Barrier(comm);
  if (r == 0)
    unlink(path);
}

static void test_single_zstd(void **state) { roundtrip(0, 3, 16, "single"); }
static void test_double_zstd(void **state) { roundtrip(1, 1, 64, "double"); }
static void test_single_plain(void **state) { roundtrip(0, 0, 1000, "plain"); }

/* A double-precision store keeps values float32 cannot. */
static void test_double_keeps_digits(void **state)
{
  char path[256];
  snprintf(path, sizeof path, "test_store_np%d_digits.h5", dm_size(comm));
  dm_store_layout lay = {3, 8, 1};
  dm_store_writer *w = NULL;
  assert_int_equal(dm_store_writer_create(path, &lay, comm, &w), DM_OK);
  dm_events ev = {0};
  int r = dm_rank(comm);
  assert_int_equal(pat_fill(&ev, r * 3, 3, 1), DM_OK);
  for (int i = 0; i < 3; i++) {
    ev.met_d[i] = 123.456789012345 + r * 3 + i;
    ev.process[i] = 0;
  }
  ev.pt_d[0] = 0.1;
  assert_int_equal(dm_store_writer_append(w, &ev), DM_OK);
  const char *one[1] = {"x"};
  int64_t cnt[1] = {3 * dm_size(comm)};
  assert_int_equal(dm_store_writer_finish(w, DM_OK, one, cnt, 1, "t", ""), DM_OK);
  dm_store *st = NULL;
  assert_int_equal(dm_store_open(path, comm, 0, &st), DM_OK);
  assert_int_equal(dm_store_read(st, r * 3, 3, 1, &ev), DM_OK);
  for (int i = 0; i < 3; i++)
    assert_true(ev.met_d[i] == 123.456789012345 + r * 3 + i);
  if (pat_nobj(r * 3) > 0)
    assert_true(ev.pt_d[0] == 0.1);
  dm_events_free(&ev);
  assert_int_equal(dm_store_close(st), DM_OK);
  MPI_Barrier(comm);
  if (r == 0)
    unlink(path);
}

static void test_failed_store_leaves_nothing(void **state)
{
  char path[256], tmp[300];
  snprintf(path, sizeof path, "test_store_np%d_failed.h5", dm_size(comm));
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int r = dm_rank(comm), n = dm_size(comm);
  dm_status mine = r == n / 2 ? dm_error(DM_ERR_BAD_FRACTION, "too many bad lines") : DM_OK;
  write_store(path, 0, 3, 16, 2, mine);
  MPI_Barrier(comm);
  assert_false(file_exists(path));
  assert_false(file_exists(tmp));
}

static void test_empty_store(void **state)
{
  char path[256];
  snprintf(path, sizeof path, "test_store_np%d_empty.h5", dm_size(comm));
  dm_store_layout lay = {3, 8, 0};
  dm_store_writer *w = NULL;
  assert_int_equal(dm_store_writer_create(path, &lay, comm, &w), DM_OK);
  assert_int_equal(dm_store_writer_finish(w, DM_OK, NULL, NULL, 0, "t", ""), DM_OK);
  dm_store *st = NULL;
  assert_int_equal(dm_store_open(path, comm, 0, &st), DM_OK);
  assert_int_equal(dm_store_n_events(st), 0);
  assert_int_equal(dm_store_n_processes(st), 0);
  dm_events ev = {0};
  assert_int_equal(dm_store_read(st, 0, 0, 0, &ev), DM_OK);
  assert_int_equal(ev.n_events, 0);
  dm_events_free(&ev);
  assert_int_equal(dm_store_close(st), DM_OK);
  MPI_Barrier(comm);
  if (dm_rank(comm) == 0)
    unlink(path);
}

static void test_bad_layout_and_not_a_store(void **state)
{
  dm_store_layout lay = {23, 8, 0};
  dm_store_writer *w = NULL;
  assert_int_equal(dm_store_writer_create("never.h5", &lay, comm, &w), DM_ERR_ARG);
  assert_null(w);
  /* An HDF5 file of another kind is refused with a schema error. */
  char path[256];
  snprintf(path, sizeof path, "test_store_np%d_other.h5", dm_size(comm));
  dm_h5_out out;
  assert_int_equal(dm_h5_out_create(&out, path, comm), DM_OK);
  assert_int_equal(dm_prov_write(out.file, DM_FORMAT_MODEL, 1, "t", ""), DM_OK);
  assert_int_equal(dm_h5_out_finish(&out, DM_OK), DM_OK);
  dm_store *st = NULL;
  assert_int_equal(dm_store_open(path, comm, 0, &st), DM_ERR_SCHEMA);
  assert_null(st);
  if (dm_rank(comm) == 0)
    assert_non_null(strstr(dm_error_message(), "dmpipe-model"));
  MPI_Barrier(comm);
  if (dm_rank(comm) == 0)
    unlink(path);
}

int main(void)
{
  MPI_Init(NULL, NULL);
  comm = MPI_COMM_WORLD;
  dm_h5_quiet();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_zstd),
      cmocka_unit_test(test_double_zstd),
      cmocka_unit_test(test_single_plain),
      cmocka_unit_test(test_double_keeps_digits),
      cmocka_unit_test(test_failed_store_leaves_nothing),
      cmocka_unit_test(test_empty_store),
      cmocka_unit_test(test_bad_layout_and_not_a_store),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
