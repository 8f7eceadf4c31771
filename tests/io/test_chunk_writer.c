/* io/dm_chunk_writer: columns of several element sizes, chunk sizes from 1
 * element up, with and without compression, appended in rounds of uneven
 * counts (ranks with nothing, rounds where nobody writes, batches smaller and
 * larger than a chunk, so chunks are joined from several ranks and carried
 * across rounds). Run on 1, 2 and 4 ranks. Every element's value is a pure
 * function of its column and global index, so the file read back through
 * plain serial HDF5 must hold exactly f(c, i) at i, whatever the rank count;
 * the filter pipeline must be shuffle + zstd as a reader expects, every
 * chunk stored once, and a failed run must leave no file. With a budget of
 * compressed bytes smaller than a round (different on each rank), the
 * rounds go in sub-rounds: the same file, and the compressed buffers never
 * larger than the budget allows. */
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

#include "dm_chunk_pack.h"
#include "dm_chunk_writer.h"
#include "dm_comm.h"
#include "dm_zstd_filter.h"

static MPI_Comm comm;

#define NCOL 5
#define ROUNDS 7
static const char *const paths[NCOL] = {"/a/u8", "/a/u16", "/b/f32", "/b/i64", "/f64"};
static const int64_t chunks[NCOL] = {6, 5, 7, 1, 64};
static const int levels[NCOL] = {3, 3, 0, 1, 3};

static hid_t col_type(int c)
{
  const hid_t t[NCOL] = {H5T_NATIVE_UINT8, H5T_NATIVE_UINT16, H5T_NATIVE_FLOAT, H5T_NATIVE_INT64,
                         H5T_NATIVE_DOUBLE};
  return t[c];
}

/* The value of element i of column c, in the column's type. */
static void value(int c, int64_t i, void *out)
{
  switch (c) {
  case 0: *(uint8_t *)out = (uint8_t)(i * 37 + 11); break;
  case 1: *(uint16_t *)out = (uint16_t)(i * 7919 + 3); break;
  case 2: *(float *)out = (float)i * 0.5f + 0.25f; break;
  case 3: *(int64_t *)out = (i * 1000003) ^ 0x5555; break;
  default: *(double *)out = (double)i / 3.0; break;
  }
}

/* Elements rank r adds to column c in round k: zero for some, a few, or
 * many more than a chunk; round 3 adds nothing anywhere; rank 1 never
 * adds to column 2. */
static int64_t count(int k, int r, int c)
{
  if (k == 3 || (r == 1 && c == 2) || (k * 7 + r * 13 + c * 5) % 11 == 0)
    return 0;
  int64_t n = (k * 31 + r * 17 + c * 3) % 23;
  return k == 5 ? n * 40 : n;
}

struct extent {
  uint64_t addr, size;
};

static int cmp_extent(const void *a, const void *b)
{
  const struct extent *x = a, *y = b;
  return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int file_exists(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0;
}

/* budget > 0: dm_chunkw_set_budget; st (may be NULL) receives the stats. */
static void write_file(const char *path, dm_status fail_local, int64_t *total, int64_t budget,
                       dm_chunkw_stats *st)
{
  int me = dm_rank(comm), P = dm_size(comm);
  dm_chunkw *w = NULL;
  assert_int_equal(dm_chunkw_create(path, comm, &w), DM_OK);
  if (budget > 0)
    dm_chunkw_set_budget(w, budget);
  for (int c = 0; c < NCOL; c++) {
    dm_h5_layout lay = {levels[c], chunks[c]};
    int col = -1;
    assert_int_equal(dm_chunkw_add(w, paths[c], col_type(c), &lay, &col), DM_OK);
    assert_int_equal(col, c);
    total[c] = 0;
  }
  for (int k = 0; k < ROUNDS; k++) {
    void *bufs[NCOL];
    int64_t n[NCOL], first[NCOL], mine_first[NCOL];
    for (int c = 0; c < NCOL; c++) {
      int64_t before = 0, all = 0;
      for (int r = 0; r < P; r++) {
        if (r < me)
          before += count(k, r, c);
        all += count(k, r, c);
      }
      n[c] = count(k, me, c);
      mine_first[c] = total[c] + before;
      size_t esz = H5Tget_size(col_type(c));
      bufs[c] = malloc((size_t)(n[c] + 1) * esz);
      assert_non_null(bufs[c]);
      for (int64_t i = 0; i < n[c]; i++)
        value(c, mine_first[c] + i, (char *)bufs[c] + (size_t)i * esz);
      total[c] += all;
    }
    assert_int_equal(dm_chunkw_append(w, (const void *const *)bufs, n, first), DM_OK);
    for (int c = 0; c < NCOL; c++) {
      assert_int_equal(first[c], mine_first[c]);
      assert_int_equal(dm_chunkw_length(w, c), total[c]);
      free(bufs[c]);
    }
  }
  dm_status s = dm_chunkw_flush(w, fail_local);
  assert_int_equal(s, dm_agree(fail_local, comm));
  if (st)
    dm_chunkw_get_stats(w, st);
  assert_int_equal(dm_chunkw_finish(w, s), s);
}

static void check_file(const char *path, const int64_t *total)
{
  if (dm_rank(comm) != 0)
    return;
  assert_int_equal(dm_zstd_filter_register(), DM_OK);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  hsize_t stored = 0;
  struct extent *ext = NULL;
  int64_t next = 0;
  for (int c = 0; c < NCOL; c++) {
    hid_t d = H5Dopen2(f, paths[c], H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t sp = H5Dget_space(d);
    hsize_t len = 0;
    H5Sget_simple_extent_dims(sp, &len, NULL);
    assert_int_equal((int64_t)len, total[c]);
    hsize_t nchunks = 0;
    assert_true(H5Dget_num_chunks(d, sp, &nchunks) >= 0);
    assert_int_equal((int64_t)nchunks, (total[c] + chunks[c] - 1) / chunks[c]);
    ext = realloc(ext, (size_t)(next + (int64_t)nchunks + 1) * sizeof *ext);
    assert_non_null(ext);
    for (hsize_t i = 0; i < nchunks; i++) {
      hsize_t off = 0, size = 0;
      unsigned mask = 1;
      haddr_t addr = 0;
      assert_true(H5Dget_chunk_info(d, sp, i, &off, &mask, &addr, &size) >= 0);
      assert_int_equal(mask, 0); /* every filter applied */
      ext[next++] = (struct extent){(uint64_t)addr, (uint64_t)size};
    }
    H5Sclose(sp);
    stored += H5Dget_storage_size(d);
    /* The pipeline a reader expects: shuffle (multi-byte types) then zstd
     * with the level as its first parameter. */
    hid_t dcpl = H5Dget_create_plist(d);
    size_t esz = H5Tget_size(col_type(c));
    int want = levels[c] == 0 ? 0 : esz > 1 ? 2 : 1;
    assert_int_equal(H5Pget_nfilters(dcpl), want);
    for (int i = 0; i < want; i++) {
      unsigned flags = 0, cd[4] = {0};
      size_t ncd = 4;
      H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
      if (i + 1 < want) {
        assert_int_equal(id, H5Z_FILTER_SHUFFLE);
      } else {
        assert_int_equal(id, DM_ZSTD_FILTER_ID);
        assert_int_equal(cd[0], (unsigned)levels[c]);
      }
    }
    H5Pclose(dcpl);
    char *buf = malloc((size_t)(total[c] + 1) * esz);
    assert_non_null(buf);
    if (total[c] > 0)
      assert_true(H5Dread(d, col_type(c), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    char want_v[8];
    for (int64_t i = 0; i < total[c]; i++) {
      value(c, i, want_v);
      if (memcmp(buf + (size_t)i * esz, want_v, esz) != 0)
        fail_msg("%s[%lld] is wrong", paths[c], (long long)i);
    }
    free(buf);
    H5Dclose(d);
  }
  H5Fclose(f);
  /* Chunks never overlap (two ranks writing the same bytes would corrupt
   * each other) and all lie inside the file; the file is its chunks plus the
   * chunk index (a few dozen bytes per chunk) and a little metadata. */
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  qsort(ext, (size_t)next, sizeof *ext, cmp_extent);
  for (int64_t i = 0; i < next; i++) {
    assert_true(ext[i].addr + ext[i].size <= (uint64_t)st.st_size);
    if (i > 0)
      assert_true(ext[i - 1].addr + ext[i - 1].size <= ext[i].addr);
  }
  assert_true((hsize_t)st.st_size < stored + 64 * (hsize_t)next + 32 * 1024);
  free(ext);
}

/* File names unique to this run: CTest runs the np 1/2/4/threads variants of
 * this program at the same time in the same folder. */
static char path_ok[64], path_fail[64], path_budget[64], tmp_ok[80], tmp_fail[80];

static void name_files(void)
{
  long tag = (long)getpid();
  MPI_Bcast(&tag, 1, MPI_LONG, 0, comm);
  snprintf(path_ok, sizeof path_ok, "test_chunk_writer.%ld.h5", tag);
  snprintf(path_fail, sizeof path_fail, "test_chunk_writer_fail.%ld.h5", tag);
  snprintf(path_budget, sizeof path_budget, "test_chunk_writer_budget.%ld.h5", tag);
  snprintf(tmp_ok, sizeof tmp_ok, "%s.tmp", path_ok);
  snprintf(tmp_fail, sizeof tmp_fail, "%s.tmp", path_fail);
}

static void test_roundtrip(void **state)
{
  (void)state;
  const char *path = path_ok;
  int64_t total[NCOL];
  write_file(path, DM_OK, total, 0, NULL);
  for (int c = 0; c < NCOL; c++) /* at least one whole chunk and a partial one */
    assert_true((total[c] > chunks[c] && total[c] % chunks[c] != 0) || chunks[c] == 1);
  check_file(path, total);
  MPI_Barrier(comm);
  if (dm_rank(comm) == 0) {
    assert_false(file_exists(tmp_ok));
    unlink(path);
  }
}

static void test_failure_leaves_nothing(void **state)
{
  (void)state;
  const char *path = path_fail;
  int64_t total[NCOL];
  /* Only the last rank fails: every rank must return the error. */
  dm_status fail = dm_rank(comm) == dm_size(comm) - 1 ? DM_ERR_IO : DM_OK;
  write_file(path, fail, total, 0, NULL);
  MPI_Barrier(comm);
  assert_false(file_exists(path));
  assert_false(file_exists(tmp_fail));
}

static void test_small_budget(void **state)
{
  (void)state;
  const char *path = path_budget;
  int64_t total[NCOL], slot = 0;
  for (int c = 0; c < NCOL; c++) {
    int64_t b = dm_chunk_pack_bound(chunks[c], H5Tget_size(col_type(c)), levels[c]);
    slot = b > slot ? b : slot;
  }
  /* Rank 0: one chunk per sub-round (a budget below any chunk); the others
   * a few chunks' worth, odd, so sub-rounds end mid-column. */
  int me = dm_rank(comm);
  int64_t budget = me == 0 ? 1 : (2 * me + 3) * slot;
  dm_chunkw_stats st;
  write_file(path, DM_OK, total, budget, &st);
  check_file(path, total);
  /* Both buffers within the budget, or a chunk per compressing thread each
   * when that is more; round 5 alone completes dozens of chunks per rank. */
  int64_t least = 2 * dm_chunk_pack_threads() * slot;
  int64_t allow = budget > least ? budget : least;
  if (st.out_peak > allow)
    fail_msg("rank %d: compressed buffers of %lld bytes, budget %lld", me,
             (long long)st.out_peak, (long long)allow);
  assert_true(st.sub_rounds > ROUNDS);
  MPI_Barrier(comm);
  if (me == 0)
    unlink(path);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  comm = MPI_COMM_WORLD;
  name_files();
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_failure_leaves_nothing),
      cmocka_unit_test(test_small_budget),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  int any = 0;
  MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, comm);
  MPI_Finalize();
  return any ? 1 : 0;
}
