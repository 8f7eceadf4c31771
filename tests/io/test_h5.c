/* io/dm_h5 layer: temporary-name outputs, collective appends of 1-D columns
 * (with ranks that have nothing to write, chunks shared between ranks and
 * chunks completed over several appends), reading back, small arrays,
 * strings, attributes, and the error paths. Run on 1 and 3 ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_h5.h"

static MPI_Comm comm;

static int file_exists(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0;
}

/* Same name on every rank; per test so tests never see each other's files. */
static void test_path(char *buf, size_t cap, const char *what)
{
  snprintf(buf, cap, "test_h5_np%d_%s.h5", dm_size(comm), what);
}

/* Elements each rank appends in round k: deliberately uneven, with a rank
 * that has nothing in some rounds and a round where only one rank writes. */
static int64_t round_count(int k, int rank, int size)
{
  if (k == 2)
    return rank == size - 1 ? 5 : 0;
  if (rank == 1 && k % 2 == 0)
    return 0;
  return 3 + 4 * rank + k;
}

/* Value at global index i: integers that float32 and float64 both hold
 * exactly, so the comparison can be exact. */
static double value_at(int64_t i) { return (double)i * 0.25 - 100.0; }

static void append_rounds(hid_t d64, hid_t df32, hid_t du8, int rounds, int64_t *total)
{
  int r = dm_rank(comm), n = dm_size(comm);
  int64_t written = 0;
  for (int k = 0; k < rounds; k++) {
    int64_t mine = round_count(k, r, n), before = 0;
    for (int q = 0; q < r; q++)
      before += round_count(k, q, n);
    int64_t *a = malloc((size_t)(mine + 1) * sizeof *a);
    float *b = malloc((size_t)(mine + 1) * sizeof *b);
    uint8_t *c = malloc((size_t)(mine + 1));
    for (int64_t j = 0; j < mine; j++) {
      int64_t g = written + before + j;
      a[j] = g * 7 - 3;
      b[j] = (float)value_at(g);
      c[j] = (uint8_t)(g % 251);
    }
    int64_t first = -1;
    assert_int_equal(dm_h5_col_append(d64, H5T_NATIVE_INT64, a, mine, comm, &first), DM_OK);
    assert_int_equal(first, written + before);
    assert_int_equal(dm_h5_col_append(df32, H5T_NATIVE_FLOAT, b, mine, comm, NULL), DM_OK);
    assert_int_equal(dm_h5_col_append(du8, H5T_NATIVE_UINT8, c, mine, comm, NULL), DM_OK);
    for (int q = 0; q < n; q++)
      written += round_count(k, q, n);
    free(a);
    free(b);
    free(c);
  }
  *total = written;
}

static void check_columns(hid_t file, int64_t total)
{
  int r = dm_rank(comm), n = dm_size(comm);
  int64_t len = -1;
  assert_int_equal(dm_h5_col_length(file, "/cols/i64", &len), DM_OK);
  assert_int_equal(len, total);
  assert_int_equal(dm_h5_col_length(file, "/cols/f32", &len), DM_OK);
  assert_int_equal(len, total);
  /* Each rank reads a different block (one rank possibly none), then the
   * whole column, converted to another type on the way. */
  int64_t b, e;
  dm_partition(total, r, n + 1, &b, &e);
  int64_t m = e - b;
  int64_t *a = malloc((size_t)(total + 1) * sizeof *a);
  double *f = malloc((size_t)(total + 1) * sizeof *f);
  uint8_t *c = malloc((size_t)(total + 1));
  assert_int_equal(dm_h5_col_read(file, "/cols/i64", H5T_NATIVE_INT64, b, m, a), DM_OK);
  assert_int_equal(dm_h5_col_read(file, "/cols/f32", H5T_NATIVE_DOUBLE, b, m, f), DM_OK);
  for (int64_t j = 0; j < m; j++) {
    assert_int_equal(a[j], (b + j) * 7 - 3);
    assert_true(f[j] == value_at(b + j));
  }
  /* Rank 0 reads nothing, the others everything. */
  int64_t cnt = r == 0 && n > 1 ? 0 : total;
  assert_int_equal(dm_h5_col_read(file, "/cols/u8", H5T_NATIVE_UINT8, 0, cnt, c), DM_OK);
  assert_int_equal(dm_h5_col_read(file, "/cols/i64", H5T_NATIVE_INT64, 0, cnt, a), DM_OK);
  for (int64_t j = 0; j < cnt; j++) {
    assert_int_equal(c[j], (uint8_t)(j % 251));
    assert_int_equal(a[j], j * 7 - 3);
  }
  free(a);
  free(f);
  free(c);
}

/* Columns written in several collective appends, read back after the file
 * is renamed, with and without compression, with chunks smaller and larger
 * than one append. */
static void columns_roundtrip(int zstd_level, int64_t chunk, const char *tag)
{
  char path[256], tmp[DM_PATH_MAX];
  test_path(path, sizeof path, tag);
  dm_h5_out out;
  assert_int_equal(dm_h5_out_create(&out, path, comm), DM_OK);
  /* The temporary is "<path>.<host>-<pid>.tmp", named by rank 0 for all. */
  snprintf(tmp, sizeof tmp, "%s", out.tmp_path);
  assert_true(file_exists(tmp));
  assert_int_equal(strncmp(tmp, path, strlen(path)), 0);
  assert_string_equal(tmp + strlen(tmp) - 4, ".tmp");
  dm_h5_layout lay = {zstd_level, chunk};
  hid_t d64, df32, du8;
  assert_int_equal(dm_h5_col_create(out.file, "/cols/i64", H5T_NATIVE_INT64, &lay, &d64), DM_OK);
  assert_int_equal(dm_h5_col_create(out.file, "/cols/f32", H5T_NATIVE_FLOAT, &lay, &df32), DM_OK);
  assert_int_equal(dm_h5_col_create(out.file, "/cols/u8", H5T_NATIVE_UINT8, &lay, &du8), DM_OK);
  int64_t total = 0;
  append_rounds(d64, df32, du8, 6, &total);
  /* The column is readable while the file is still being written. */
  check_columns(out.file, total);
  H5Dclose(d64);
  H5Dclose(df32);
  H5Dclose(du8);
  assert_int_equal(dm_h5_out_finish(&out, DM_OK), DM_OK);
  MPI_Barrier(comm);
  assert_true(file_exists(path));
  assert_false(file_exists(tmp));

  hid_t f;
  assert_int_equal(dm_h5_open(path, comm, 0, &f), DM_OK);
  check_columns(f, total);
  if (zstd_level > 0) {
    /* The filter is really on the dataset (not silently dropped). */
    hid_t d = H5Dopen2(f, "/cols/f32", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(d);
    int nf = H5Pget_nfilters(dcpl);
    int has_zstd = 0, has_shuffle = 0;
    for (int i = 0; i < nf; i++) {
      unsigned flags = 0, cd[4];
      size_t ncd = 4;
      char name[64];
      H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name,
                                       NULL);
      if (id == 32015) {
        has_zstd = 1;
        assert_int_equal(cd[0], (unsigned)zstd_level);
      }
      if (id == H5Z_FILTER_SHUFFLE)
        has_shuffle = 1;
    }
    assert_true(has_zstd);
    assert_true(has_shuffle);
    H5Pclose(dcpl);
    H5Dclose(d);
  }
  assert_int_equal(dm_h5_close(f), DM_OK);
  MPI_Barrier(comm);
  if (dm_rank(comm) == 0)
    unlink(path);
}

static void test_columns_zstd_small_chunks(void **state) { columns_roundtrip(3, 7, "z7"); }
static void test_columns_zstd_big_chunks(void **state) { columns_roundtrip(5, 4096, "z4096"); }
static void test_columns_plain(void **state) { columns_roundtrip(0, 16, "plain"); }

/* write_at into a pre-sized column, each rank its own range. */
static void test_write_at(void **state)
{
  char path[256];
  test_path(path, sizeof path, "writeat");
  int r = dm_rank(comm), n = dm_size(comm);
  dm_h5_out out;
  assert_int_equal(dm_h5_out_create(&out, path, comm), DM_OK);
  dm_h5_layout lay = {3, 10};
  hid_t d;
  assert_int_equal(dm_h5_col_create(out.file, "x", H5T_NATIVE_DOUBLE, &lay, &d), DM_OK);
  assert_int_equal(dm_h5_col_resize(d, 95), DM_OK);
  int64_t b, e;
  dm_partition(95, r, n, &b, &e);
  double v[95];
  for (int64_t i = b; i < e; i++)
    v[i - b] = value_at(i);
  assert_int_equal(dm_h5_col_write_at(d, H5T_NATIVE_DOUBLE, v, b, e - b), DM_OK);
  double all[95];
  assert_int_equal(dm_h5_dset_read(d, H5T_NATIVE_DOUBLE, 0, 95, all), DM_OK);
  for (int i = 0; i < 95; i++)
    assert_true(all[i] == value_at(i));
  H5Dclose(d);
  assert_int_equal(dm_h5_out_finish(&out, DM_OK), DM_OK);
  MPI_Barrier(comm);
  if (r == 0)
    unlink(path);
}

/* One failing rank: nothing under either name afterwards, everyone fails. */
static void test_finish_failure_removes(void **state)
{
  char path[256], tmp[DM_PATH_MAX];
  test_path(path, sizeof path, "fail");
  int r = dm_rank(comm), n = dm_size(comm);
  dm_h5_out out;
  assert_int_equal(dm_h5_out_create(&out, path, comm), DM_OK);
  snprintf(tmp, sizeof tmp, "%s", out.tmp_path);
  assert_true(file_exists(tmp));
  dm_h5_layout lay = {3, 8};
  hid_t d;
  assert_int_equal(dm_h5_col_create(out.file, "x", H5T_NATIVE_INT64, &lay, &d), DM_OK);
  int64_t v[4] = {1, 2, 3, 4};
  assert_int_equal(dm_h5_col_append(d, H5T_NATIVE_INT64, v, 4, comm, NULL), DM_OK);
  H5Dclose(d);
  dm_status mine = r == n - 1 ? dm_error(DM_ERR_FORMAT, "bad line") : DM_OK;
  dm_status got = dm_h5_out_finish(&out, mine);
  assert_int_equal(got, DM_ERR_FORMAT);
  MPI_Barrier(comm);
  assert_false(file_exists(path));
  assert_false(file_exists(tmp));
}

static void test_create_in_missing_folder(void **state)
{
  dm_h5_out out;
  dm_status s = dm_h5_out_create(&out, "no-such-folder-dmpipe/x.h5", comm);
  assert_int_equal(s, DM_ERR_ARG);
  if (dm_rank(comm) == 0)
    assert_non_null(strstr(dm_error_message(), "no-such-folder-dmpipe/x.h5"));
  assert_true(out.file < 0);
}

static void test_open_errors(void **state)
{
  hid_t f;
  assert_int_equal(dm_h5_open("missing-dmpipe-file.h5", comm, 0, &f), DM_ERR_IO);
  if (dm_rank(comm) == 0)
    assert_non_null(strstr(dm_error_message(), "missing-dmpipe-file.h5"));
  char path[256];
  test_path(path, sizeof path, "nothdf5");
  if (dm_rank(comm) == 0) {
    FILE *t = fopen(path, "w");
    assert_non_null(t);
    fputs("1;ttbar;1;2;3\n", t);
    fclose(t);
  }
  MPI_Barrier(comm);
  assert_int_equal(dm_h5_open(path, comm, 0, &f), DM_ERR_SCHEMA);
  if (dm_rank(comm) == 0) {
    assert_non_null(strstr(dm_error_message(), "not an HDF5 file"));
    unlink(path);
  }
}

static void test_arrays_strings_attrs(void **state)
{
  char path[256];
  test_path(path, sizeof path, "arrays");
  dm_h5_out out;
  assert_int_equal(dm_h5_out_create(&out, path, comm), DM_OK);
  double m[2][3] = {{1, 2, 3}, {4, 5.5, -6}};
  int64_t dims[2] = {2, 3};
  assert_int_equal(dm_h5_array_write(out.file, "/g/sub/m", H5T_NATIVE_DOUBLE, 2, dims, m, comm),
                   DM_OK);
  int64_t zd[1] = {0};
  assert_int_equal(dm_h5_array_write(out.file, "/g/empty", H5T_NATIVE_INT64, 1, zd, NULL, comm),
                   DM_OK);
  const char *names[] = {"ttbar", "monojet_Zp2000.0_DM_50.0", "z"};
  assert_int_equal(dm_h5_strings_write(out.file, "/p/name", names, 3, comm), DM_OK);
  assert_int_equal(dm_h5_group_ensure(out.file, "/a/b/c"), DM_OK);
  assert_int_equal(dm_h5_group_ensure(out.file, "/a/b/c"), DM_OK);
  assert_int_equal(dm_h5_attr_set_str(out.file, "format", "dmpipe-test"), DM_OK);
  assert_int_equal(dm_h5_attr_set_str(out.file, "empty", ""), DM_OK);
  assert_int_equal(dm_h5_attr_set_i64(out.file, "n", -1234567890123LL), DM_OK);
  assert_int_equal(dm_h5_attr_set_f64(out.file, "x", 0.125), DM_OK);
  /* Replacing an attribute keeps one copy with the new value. */
  assert_int_equal(dm_h5_attr_set_f64(out.file, "x", 2.5), DM_OK);
  double arr[3] = {1, -2, 3.5};
  assert_int_equal(dm_h5_attr_set_f64_array(out.file, "arr", arr, 3), DM_OK);
  assert_int_equal(dm_h5_attr_set_str_at(out.file, "/g/sub/m", "unit", "GeV"), DM_OK);
  assert_int_equal(dm_h5_out_finish(&out, DM_OK), DM_OK);

  hid_t f;
  assert_int_equal(dm_h5_open(path, comm, 0, &f), DM_OK);
  assert_true(dm_h5_exists(f, "/g/sub/m"));
  assert_true(dm_h5_exists(f, "a/b/c"));
  assert_false(dm_h5_exists(f, "/nope/m"));
  assert_false(dm_h5_exists(f, "/g/nope"));
  int nd = 0;
  int64_t d[4], count = 0;
  double *back = NULL;
  assert_int_equal(dm_h5_array_read(f, "/g/sub/m", H5T_NATIVE_DOUBLE, &nd, d, &count,
                                    (void **)&back),
                   DM_OK);
  assert_int_equal(nd, 2);
  assert_int_equal(d[0], 2);
  assert_int_equal(d[1], 3);
  assert_int_equal(count, 6);
  assert_memory_equal(back, m, sizeof m);
  free(back);
  void *e = NULL;
  assert_int_equal(dm_h5_array_read(f, "/g/empty", H5T_NATIVE_INT64, &nd, d, &count, &e), DM_OK);
  assert_int_equal(count, 0);
  free(e);
  char **s = NULL;
  int64_t ns = 0;
  assert_int_equal(dm_h5_strings_read(f, "/p/name", &s, &ns), DM_OK);
  assert_int_equal(ns, 3);
  for (int i = 0; i < 3; i++)
    assert_string_equal(s[i], names[i]);
  free(s);
  char buf[64];
  assert_int_equal(dm_h5_attr_get_str(f, "format", buf, sizeof buf), DM_OK);
  assert_string_equal(buf, "dmpipe-test");
  assert_int_equal(dm_h5_attr_get_str(f, "empty", buf, sizeof buf), DM_OK);
  assert_string_equal(buf, "");
  int64_t n = 0;
  assert_int_equal(dm_h5_attr_get_i64(f, "n", &n), DM_OK);
  assert_int_equal(n, -1234567890123LL);
  double x = 0;
  assert_int_equal(dm_h5_attr_get_f64(f, "x", &x), DM_OK);
  assert_true(x == 2.5);
  assert_int_equal(dm_h5_attr_get_f64(f, "missing", &x), DM_ERR_SCHEMA);
  assert_int_equal(dm_h5_attr_get_str(f, "n", buf, sizeof buf), DM_ERR_SCHEMA);
  hid_t o = H5Oopen(f, "/g/sub/m", H5P_DEFAULT);
  assert_int_equal(dm_h5_attr_get_str(o, "unit", buf, sizeof buf), DM_OK);
  assert_string_equal(buf, "GeV");
  H5Oclose(o);
  int64_t len;
  assert_int_equal(dm_h5_col_length(f, "/g/sub/m", &len), DM_ERR_SCHEMA);
  assert_int_equal(dm_h5_col_length(f, "/g/none", &len), DM_ERR_SCHEMA);
  assert_int_equal(dm_h5_close(f), DM_OK);

  /* A file one rank reads alone, through the serial driver. */
  MPI_Barrier(comm);
  if (dm_rank(comm) == 0) {
    hid_t sf;
    assert_int_equal(dm_h5_open_serial(path, 0, &sf), DM_OK);
    double *b2 = NULL;
    assert_int_equal(dm_h5_array_read(sf, "/g/sub/m", H5T_NATIVE_DOUBLE, &nd, d, &count,
                                      (void **)&b2),
                     DM_OK);
    assert_memory_equal(b2, m, sizeof m);
    free(b2);
    H5Fclose(sf);
    unlink(path);
  }
  MPI_Barrier(comm);
}

/* A file opened read-only keeps a small metadata cache: reading a column of
 * 20,000 one-element chunks (a version 1 B-tree index of about 320 nodes,
 * 650 KiB as stored, 5.7 MiB as HDF5 holds them) leaves at most 256 KiB in
 * the cache (dm_h5.c), where HDF5's default keeps every node read. */
static void test_read_only_metadata_cache(void **state)
{
  (void)state;
  enum { N = 20000, STEP = 1500 };
  const size_t cap = (size_t)256 << 10;
  char path[256];
  test_path(path, sizeof path, "mdc");
  if (dm_rank(comm) == 0) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = N, one = 1;
    hid_t sp = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(H5Pset_chunk(dcpl, 1, &one) >= 0);
    hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_INT64, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int64_t *v = malloc(N * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < N; i++)
      v[i] = 3 * i + 1;
    assert_true(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    free(v);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    /* The same reads with HDF5's default cache: it grows past the cap,
     * so the cap is what keeps the cache small below. */
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    d = H5Dopen2(f, "x", H5P_DEFAULT);
    int64_t buf[STEP];
    for (int64_t b = 0; b < N; b += STEP) {
      int64_t m = N - b < STEP ? N - b : STEP;
      assert_int_equal(dm_h5_dset_read(d, H5T_NATIVE_INT64, b, m, buf), DM_OK);
    }
    size_t max = 0, min = 0, cur = 0;
    int ne = 0;
    assert_true(H5Fget_mdc_size(f, &max, &min, &cur, &ne) >= 0);
    assert_true(cur > cap);
    H5Dclose(d);
    H5Fclose(f);
  }
  MPI_Barrier(comm);
  hid_t f;
  assert_int_equal(dm_h5_open(path, comm, 0, &f), DM_OK);
  hid_t d = H5Dopen2(f, "x", H5P_DEFAULT);
  assert_true(d >= 0);
  int64_t buf[STEP];
  for (int64_t b = 0; b < N; b += STEP) {
    int64_t m = N - b < STEP ? N - b : STEP;
    assert_int_equal(dm_h5_dset_read(d, H5T_NATIVE_INT64, b, m, buf), DM_OK);
    for (int64_t i = 0; i < m; i++)
      assert_int_equal(buf[i], 3 * (b + i) + 1);
  }
  size_t max = 0, min = 0, cur = 0;
  int ne = 0;
  assert_true(H5Fget_mdc_size(f, &max, &min, &cur, &ne) >= 0);
  if (max > cap || cur > cap)
    fail_msg("read-only metadata cache: %zu bytes of at most %zu, cap %zu", cur, max, cap);
  H5Dclose(d);
  assert_int_equal(dm_h5_close(f), DM_OK);
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
      cmocka_unit_test(test_columns_zstd_small_chunks),
      cmocka_unit_test(test_columns_zstd_big_chunks),
      cmocka_unit_test(test_columns_plain),
      cmocka_unit_test(test_write_at),
      cmocka_unit_test(test_finish_failure_removes),
      cmocka_unit_test(test_create_in_missing_folder),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_arrays_strings_attrs),
      cmocka_unit_test(test_read_only_metadata_cache),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
