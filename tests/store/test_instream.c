/* io/dm_instream: content of plain, zstd, gzip and xz files read at any
 * offset, against the original bytes: forward runs, small steps back (inside
 * the window), big jumps back (decode again from the start), reads past the
 * end; concatenated frames; detection by name and magic; zstd sizes from
 * frame headers; truncated and corrupt data as errors naming the file. The
 * compressed files are made here with the libraries' own encoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lzma.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "dm_instream.h"

#define N_CONTENT ((size_t)5300000) /* several decoding steps */
static char *content;

static void make_content(void)
{
  content = malloc(N_CONTENT);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < N_CONTENT; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    /* Text-like: digits, separators, newlines every ~100 bytes. */
    content[i] = (x % 97 == 0) ? '\n' : (char)('0' + x % 12);
  }
}

static void put(const char *path, const void *b, size_t n)
{
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static size_t write_zstd(const char *path, int with_size, int frames)
{
  size_t cap = ZSTD_compressBound(N_CONTENT) + 64, len = 0;
  char *out = malloc(cap);
  ZSTD_CCtx *c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, with_size);
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  size_t part = N_CONTENT / (size_t)frames;
  for (int k = 0; k < frames; k++) {
    size_t a = part * (size_t)k, b = k == frames - 1 ? N_CONTENT : a + part;
    if (!with_size) {
      /* Streamed: the frame header cannot know the size. */
      ZSTD_inBuffer ib = {content + a, b - a, 0};
      ZSTD_outBuffer ob = {out + len, cap - len, 0};
      size_t r;
      do
        r = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
      while (r != 0 && !ZSTD_isError(r));
      assert_false(ZSTD_isError(r));
      len += ob.pos;
    } else {
      size_t r = ZSTD_compress2(c, out + len, cap - len, content + a, b - a);
      assert_false(ZSTD_isError(r));
      len += r;
    }
  }
  ZSTD_freeCCtx(c);
  put(path, out, len);
  free(out);
  return len;
}

static size_t write_gzip(const char *path, int members)
{
  size_t cap = N_CONTENT + N_CONTENT / 2 + 1024, len = 0;
  char *out = malloc(cap);
  size_t part = N_CONTENT / (size_t)members;
  for (int k = 0; k < members; k++) {
    size_t a = part * (size_t)k, b = k == members - 1 ? N_CONTENT : a + part;
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)content + a;
    z.avail_in = (uInt)(b - a);
    z.next_out = (Bytef *)out + len;
    z.avail_out = (uInt)(cap - len);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    len += z.total_out;
    deflateEnd(&z);
  }
  put(path, out, len);
  free(out);
  return len;
}

static size_t write_xz(const char *path)
{
  size_t cap = lzma_stream_buffer_bound(N_CONTENT), len = 0;
  uint8_t *out = malloc(cap);
  assert_int_equal(lzma_easy_buffer_encode(0, LZMA_CHECK_CRC64, NULL, (const uint8_t *)content,
                                           N_CONTENT, out, &len, cap),
                   LZMA_OK);
  put(path, out, len);
  free(out);
  return len;
}

/* Reads at offsets in an order that goes forward, steps back a little, jumps
 * back to the start, and runs past the end; every byte checked. */
static void check_reads(const char *path, dm_instream_kind kind)
{
  dm_instream *s = NULL;
  assert_int_equal(dm_instream_open(path, kind, 200000, &s), DM_OK);
  static char buf[1 << 21];
  const int64_t plan[][2] = {
      {0, 1000},        {1000, 70000},    {60000, 10},      {3000000, 1 << 20},
      {2900000, 50000}, {10, 100},        {5299990, 100},   {(int64_t)N_CONTENT, 10},
      {4000000, 1},     {100000, 2000000}, {5200000, 1 << 20}};
  for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
    int64_t off = plan[i][0], n = plan[i][1];
    int64_t want = off >= (int64_t)N_CONTENT ? 0
                   : off + n > (int64_t)N_CONTENT ? (int64_t)N_CONTENT - off
                                                  : n;
    int64_t got = dm_instream_pread(s, buf, n, off);
    if (got != want)
      fail_msg("%s: read %lld at %lld gave %lld (%s)", path, (long long)n, (long long)off,
               (long long)got, got < 0 ? dm_instream_message(s) : "");
    assert_memory_equal(buf, content + off, (size_t)want);
  }
  dm_instream_close(s);
}

static void test_kinds(void **state)
{
  (void)state;
  put("ti_plain.csv", content, N_CONTENT);
  write_zstd("ti_sized.csv.zst", 1, 1);
  write_zstd("ti_frames.csv.zst", 1, 3);
  write_zstd("ti_nosize.csv.zst", 0, 2);
  write_gzip("ti_one.csv.gz", 1);
  write_gzip("ti_members.csv.gz", 4);
  write_xz("ti.csv.xz");
  const struct {
    const char *path;
    dm_instream_kind kind;
  } f[] = {{"ti_plain.csv", DM_INSTREAM_PLAIN},    {"ti_sized.csv.zst", DM_INSTREAM_ZSTD},
           {"ti_frames.csv.zst", DM_INSTREAM_ZSTD}, {"ti_nosize.csv.zst", DM_INSTREAM_ZSTD},
           {"ti_one.csv.gz", DM_INSTREAM_GZIP},     {"ti_members.csv.gz", DM_INSTREAM_GZIP},
           {"ti.csv.xz", DM_INSTREAM_XZ}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    dm_instream_kind k;
    assert_int_equal(dm_instream_detect(f[i].path, &k), DM_OK);
    assert_int_equal(k, f[i].kind);
    check_reads(f[i].path, k);
  }
  int64_t size = 0;
  assert_int_equal(dm_instream_zstd_size("ti_sized.csv.zst", &size), DM_OK);
  assert_int_equal(size, (int64_t)N_CONTENT);
  assert_int_equal(dm_instream_zstd_size("ti_frames.csv.zst", &size), DM_OK);
  assert_int_equal(size, (int64_t)N_CONTENT);
  assert_int_equal(dm_instream_zstd_size("ti_nosize.csv.zst", &size), DM_OK);
  assert_int_equal(size, -1);
  assert_int_equal(dm_instream_xz_size("ti.csv.xz", &size), DM_OK);
  assert_int_equal(size, (int64_t)N_CONTENT);
}

static void test_detect(void **state)
{
  (void)state;
  dm_instream_kind k;
  /* gzip bytes under a plain name: read as gzip. */
  write_gzip("ti_gz_bytes.csv", 1);
  assert_int_equal(dm_instream_detect("ti_gz_bytes.csv", &k), DM_OK);
  assert_int_equal(k, DM_INSTREAM_GZIP);
  /* A compressed name over other bytes: an error naming the file. */
  put("ti_liar.csv.xz", content, 1000);
  assert_int_equal(dm_instream_detect("ti_liar.csv.xz", &k), DM_ERR_FORMAT);
  put("ti_empty.csv.gz", "", 0);
  assert_int_equal(dm_instream_detect("ti_empty.csv.gz", &k), DM_OK);
  assert_int_equal(k, DM_INSTREAM_PLAIN);
  assert_int_equal(dm_instream_detect("ti_missing.csv.gz", &k), DM_ERR_IO);
}

/* A copy of the first n bytes of path (or with 8 bytes overwritten at n). */
static void damage(const char *src, const char *dst, long n, int truncate)
{
  FILE *f = fopen(src, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)len);
  assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  if (!truncate)
    memset(b + n, 0xA5, 8);
  put(dst, b, truncate ? (size_t)n : (size_t)len);
  free(b);
}

static void expect_error(const char *path, dm_instream_kind kind, const char *what)
{
  dm_instream *s = NULL;
  assert_int_equal(dm_instream_open(path, kind, 0, &s), DM_OK);
  static char buf[1 << 20];
  int64_t off = 0, r;
  while ((r = dm_instream_pread(s, buf, sizeof buf, off)) > 0)
    off += r;
  if (r != -1 || !strstr(dm_instream_message(s), path) || !strstr(dm_instream_message(s), what))
    fail_msg("%s: got %lld, message '%s'", path, (long long)r, dm_instream_message(s));
  dm_instream_close(s);
}

static void test_damage(void **state)
{
  (void)state;
  damage("ti_sized.csv.zst", "ti_cut.csv.zst", 100000, 1);
  damage("ti_one.csv.gz", "ti_cut.csv.gz", 100000, 1);
  damage("ti.csv.xz", "ti_cut.csv.xz", 100000, 1);
  damage("ti_sized.csv.zst", "ti_bad.csv.zst", 50000, 0);
  damage("ti_one.csv.gz", "ti_bad.csv.gz", 50000, 0);
  damage("ti.csv.xz", "ti_bad.csv.xz", 50000, 0);
  expect_error("ti_cut.csv.zst", DM_INSTREAM_ZSTD, "truncated");
  expect_error("ti_cut.csv.gz", DM_INSTREAM_GZIP, "truncated");
  expect_error("ti_cut.csv.xz", DM_INSTREAM_XZ, "truncated");
  expect_error("ti_bad.csv.zst", DM_INSTREAM_ZSTD, "corrupt");
  expect_error("ti_bad.csv.gz", DM_INSTREAM_GZIP, "corrupt");
  expect_error("ti_bad.csv.xz", DM_INSTREAM_XZ, "corrupt");
  int64_t size = 0;
  assert_int_equal(dm_instream_zstd_size("ti_cut.csv.zst", &size), DM_ERR_FORMAT);
  assert_int_equal(dm_instream_xz_size("ti_cut.csv.xz", &size), DM_ERR_FORMAT);
}

int main(void)
{
  MPI_Init(NULL, NULL);
  make_content();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kinds),
      cmocka_unit_test(test_detect),
      cmocka_unit_test(test_damage),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(content);
  MPI_Finalize();
  return rc;
}
