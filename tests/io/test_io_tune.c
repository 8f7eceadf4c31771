/* io/dm_io_tune: the tuning variables parse as documented (sizes with
 * suffixes, THRESHOLD:BYTES, KEY=VALUE hints), bad values fail naming the
 * variable and the value, and the settings reach the files: read back from
 * HDF5's own property lists of a file made by dm_h5_out_create and of one
 * opened by dm_h5_open (H5Pget_alignment, H5Pget_meta_block_size,
 * H5Pget_mdc_config, H5Pget_cache, H5Pget_fapl_mpio's MPI_Info). Run on 1
 * and 3 ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_io_tune.h"

static MPI_Comm comm;

static const char *const vars[] = {"DMPIPE_H5_ALIGNMENT", "DMPIPE_H5_META_BLOCK", "DMPIPE_H5_MDC",
                                   "DMPIPE_H5_CHUNK_CACHE", "DMPIPE_MPIIO_HINTS",
                                   "DMPIPE_WRITEBACK"};

static void clear_env(void)
{
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    unsetenv(vars[i]);
}

static dm_io_tune parsed(const char *name, const char *value, dm_status want)
{
  dm_io_tune t;
  memset(&t, 0, sizeof t);
  dm_error_clear();
  assert_int_equal(dm_io_tune_parse(&t, name, value), want);
  if (want != DM_OK) {
    /* The message names the variable and repeats the value as given. */
    assert_non_null(strstr(dm_error_message(), name));
    assert_non_null(strstr(dm_error_message(), value));
  }
  return t;
}

static void test_parse_sizes(void **state)
{
  (void)state;
  dm_io_tune t = parsed("DMPIPE_H5_META_BLOCK", "4096", DM_OK);
  assert_int_equal(t.meta_block, 4096);
  t = parsed("DMPIPE_H5_META_BLOCK", "64K", DM_OK);
  assert_int_equal(t.meta_block, 65536);
  t = parsed("DMPIPE_H5_META_BLOCK", "64KiB", DM_OK);
  assert_int_equal(t.meta_block, 65536);
  t = parsed("DMPIPE_H5_CHUNK_CACHE", "16m", DM_OK);
  assert_int_equal(t.chunk_cache, 16 << 20);
  t = parsed("DMPIPE_H5_CHUNK_CACHE", "2G", DM_OK);
  assert_int_equal(t.chunk_cache, (int64_t)2 << 30);
  t = parsed("DMPIPE_H5_MDC", "128M", DM_OK);
  assert_int_equal(t.mdc_bytes, 128 << 20);
  t = parsed("DMPIPE_H5_MDC", "1K", DM_OK);
  assert_int_equal(t.mdc_bytes, 1024);
  /* Unset and empty mean HDF5's default. */
  t = parsed("DMPIPE_H5_MDC", "", DM_OK);
  assert_int_equal(t.mdc_bytes, 0);
  t = parsed("DMPIPE_H5_MDC", NULL, DM_OK);
  assert_int_equal(t.mdc_bytes, 0);
  const char *bad[] = {"abc", "-5", "0", "1.5M", "12Q", "4 K", " 4", "64KB2", "M",
                       "99999999999999999999", "16384G"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    parsed("DMPIPE_H5_META_BLOCK", bad[i], DM_ERR_ARG);
    parsed("DMPIPE_H5_CHUNK_CACHE", bad[i], DM_ERR_ARG);
  }
  /* Early write-back: unset is the default 8 MiB, 0 is off. */
  t = parsed("DMPIPE_WRITEBACK", NULL, DM_OK);
  assert_int_equal(dm_io_tune_writeback(&t), 8 << 20);
  t = parsed("DMPIPE_WRITEBACK", "64K", DM_OK);
  assert_int_equal(dm_io_tune_writeback(&t), 65536);
  t = parsed("DMPIPE_WRITEBACK", "0", DM_OK);
  assert_int_equal(dm_io_tune_writeback(&t), 0);
  const char *bad_wb[] = {"off", "-1", "1.5M", "8X", "16384G"};
  for (size_t i = 0; i < sizeof bad_wb / sizeof bad_wb[0]; i++)
    parsed("DMPIPE_WRITEBACK", bad_wb[i], DM_ERR_ARG);
  /* HDF5's metadata cache limits: 1 KiB to 128 MiB. */
  parsed("DMPIPE_H5_MDC", "1023", DM_ERR_ARG);
  parsed("DMPIPE_H5_MDC", "129M", DM_ERR_ARG);
}

static void test_parse_alignment(void **state)
{
  (void)state;
  dm_io_tune t = parsed("DMPIPE_H5_ALIGNMENT", "256K:4M", DM_OK);
  assert_int_equal(t.align_threshold, 256 << 10);
  assert_int_equal(t.align_bytes, 4 << 20);
  t = parsed("DMPIPE_H5_ALIGNMENT", "0:1048576", DM_OK);
  assert_int_equal(t.align_threshold, 0);
  assert_int_equal(t.align_bytes, 1 << 20);
  const char *bad[] = {"4M", "4M:", ":4M", "1M:0", "a:b", "1M:4M:8M", "1M;4M", "-1:4M"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    parsed("DMPIPE_H5_ALIGNMENT", bad[i], DM_ERR_ARG);
}

static void test_parse_hints(void **state)
{
  (void)state;
  dm_io_tune t = parsed("DMPIPE_MPIIO_HINTS", "cb_buffer_size=16777216,,romio_cb_write=enable,",
                        DM_OK);
  assert_string_equal(t.hints, "cb_buffer_size=16777216,romio_cb_write=enable");
  MPI_Info info = dm_io_tune_info(&t);
  assert_true(info != MPI_INFO_NULL);
  int nkeys = 0, flag = 0;
  MPI_Info_get_nkeys(info, &nkeys);
  assert_int_equal(nkeys, 2);
  char v[MPI_MAX_INFO_VAL + 1];
  MPI_Info_get(info, "romio_cb_write", MPI_MAX_INFO_VAL, v, &flag);
  assert_true(flag);
  assert_string_equal(v, "enable");
  dm_io_tune_info_free(&info);
  assert_true(info == MPI_INFO_NULL);
  t = parsed("DMPIPE_MPIIO_HINTS", "", DM_OK);
  assert_true(dm_io_tune_info(&t) == MPI_INFO_NULL);
  const char *bad[] = {"cb_nodes", "=4", "cb_nodes=", "cb_nodes=4,striping", "a b=1",
                       "a=1=2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    parsed("DMPIPE_MPIIO_HINTS", bad[i], DM_ERR_ARG);
}

/* The settings as HDF5 holds them for an open file. */
static void check_fapl(hid_t file, int tuned)
{
  hid_t fapl = H5Fget_access_plist(file);
  assert_true(fapl >= 0);
  hsize_t th = 0, al = 0, mb = 0;
  assert_true(H5Pget_alignment(fapl, &th, &al) >= 0);
  assert_true(H5Pget_meta_block_size(fapl, &mb) >= 0);
  H5AC_cache_config_t c;
  memset(&c, 0, sizeof c);
  c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  assert_true(H5Pget_mdc_config(fapl, &c) >= 0);
  int nel = 0;
  size_t slots = 0, nbytes = 0;
  double w0 = 0;
  assert_true(H5Pget_cache(fapl, &nel, &slots, &nbytes, &w0) >= 0);
  MPI_Comm fc = MPI_COMM_NULL;
  MPI_Info info = MPI_INFO_NULL;
  assert_true(H5Pget_fapl_mpio(fapl, &fc, &info) >= 0);
  char v[MPI_MAX_INFO_VAL + 1] = "";
  int flag = 0;
  if (info != MPI_INFO_NULL)
    MPI_Info_get(info, "cb_buffer_size", MPI_MAX_INFO_VAL, v, &flag);
  if (tuned) {
    assert_int_equal(th, 4096);
    assert_int_equal(al, 65536);
    assert_int_equal(mb, 8192);
    assert_int_equal(c.max_size, 8 << 20);
    assert_int_equal(c.initial_size, 8 << 20);
    assert_int_equal(nbytes, 4 << 20);
    assert_true(flag);
    assert_string_equal(v, "8388608");
  } else {
    /* HDF5's defaults: no alignment, 2 KiB metadata blocks, 1 MiB chunk
     * cache, and no hint of ours. */
    assert_int_equal(al, 1);
    assert_int_equal(mb, 2048);
    assert_int_equal(nbytes, 1 << 20);
    assert_false(flag);
  }
  if (info != MPI_INFO_NULL)
    MPI_Info_free(&info);
  if (fc != MPI_COMM_NULL)
    MPI_Comm_free(&fc);
  H5Pclose(fapl);
}

static void write_and_check(int tuned)
{
  char path[64];
  snprintf(path, sizeof path, "test_io_tune_np%d_%d.h5", dm_size(comm), tuned);
  dm_h5_out out;
  assert_int_equal(dm_h5_out_create(&out, path, comm), DM_OK);
  check_fapl(out.file, tuned);
  /* A contiguous dataset above the threshold starts at a multiple of the
   * alignment (the address as HDF5 gives it). */
  int64_t dims[1] = {4096};
  double *x = calloc(4096, sizeof *x);
  assert_int_equal(dm_h5_array_write(out.file, "/x", H5T_NATIVE_DOUBLE, 1, dims, x, comm), DM_OK);
  free(x);
  hid_t d = H5Dopen2(out.file, "/x", H5P_DEFAULT);
  haddr_t off = H5Dget_offset(d);
  H5Dclose(d);
  assert_true(off != HADDR_UNDEF);
  if (tuned)
    assert_int_equal(off % 65536, 0);
  assert_int_equal(dm_h5_out_finish(&out, DM_OK), DM_OK);
  hid_t f;
  assert_int_equal(dm_h5_open(path, comm, 0, &f), DM_OK);
  check_fapl(f, tuned);
  assert_int_equal(dm_h5_close(f), DM_OK);
  MPI_Barrier(comm);
  if (dm_rank(comm) == 0)
    unlink(path);
}

static void set_env(void)
{
  setenv("DMPIPE_H5_ALIGNMENT", "4K:64K", 1);
  setenv("DMPIPE_H5_META_BLOCK", "8K", 1);
  setenv("DMPIPE_H5_MDC", "8M", 1);
  setenv("DMPIPE_H5_CHUNK_CACHE", "4M", 1);
  /* striping_* make the temporary be created through MPI-IO (ignored by
   * file systems without stripes). */
  setenv("DMPIPE_MPIIO_HINTS", "cb_buffer_size=8388608,striping_unit=1048576", 1);
}

static void test_files_tuned(void **state)
{
  (void)state;
  clear_env();
  write_and_check(0);
  set_env();
  write_and_check(1);
  clear_env();
}

/* A bad value on one rank only: every rank fails (agreed), nothing is left. */
static void test_bad_on_one_rank(void **state)
{
  (void)state;
  clear_env();
  int last = dm_size(comm) - 1;
  if (dm_rank(comm) == last)
    setenv("DMPIPE_H5_ALIGNMENT", "4M", 1);
  char path[64];
  snprintf(path, sizeof path, "test_io_tune_np%d_bad.h5", dm_size(comm));
  dm_h5_out out;
  dm_error_clear();
  dm_status s = dm_h5_out_create(&out, path, comm);
  assert_int_not_equal(s, DM_OK);
  if (dm_rank(comm) == last)
    assert_non_null(strstr(dm_error_message(), "DMPIPE_H5_ALIGNMENT='4M'"));
  MPI_Barrier(comm);
  assert_int_equal(access(path, F_OK), -1);
  dm_io_tune t;
  assert_int_not_equal(dm_io_tune_get(comm, &t), DM_OK);
  clear_env();
  assert_int_equal(dm_io_tune_get(comm, &t), DM_OK);
  assert_int_equal(t.align_bytes, 0);
}

/* Different (valid) settings per rank: rank 0's are used by all. */
static void test_rank0_decides(void **state)
{
  (void)state;
  clear_env();
  setenv("DMPIPE_H5_META_BLOCK", dm_rank(comm) == 0 ? "4K" : "16K", 1);
  dm_io_tune t;
  assert_int_equal(dm_io_tune_get(comm, &t), DM_OK);
  assert_int_equal(t.meta_block, 4096);
  clear_env();
}

int main(void)
{
  MPI_Init(NULL, NULL);
  comm = MPI_COMM_WORLD;
  dm_h5_quiet();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_sizes),     cmocka_unit_test(test_parse_alignment),
      cmocka_unit_test(test_parse_hints),     cmocka_unit_test(test_files_tuned),
      cmocka_unit_test(test_bad_on_one_rank), cmocka_unit_test(test_rank0_decides),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
