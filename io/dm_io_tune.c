/* File-system tuning from the environment (dm_io_tune.h). */
#include "dm_io_tune.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"

/* A size: digits, then an optional binary suffix (K, M, G, optionally
 * followed by "iB" or "B"), nothing else. 1 if it parsed to a value in
 * [lo, hi]. */
static int parse_bytes(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
  if (!isdigit((unsigned char)*s))
    return 0;
  int64_t v = 0;
  for (; isdigit((unsigned char)*s); s++) {
    if (v > (INT64_MAX - 9) / 10)
      return 0;
    v = v * 10 + (*s - '0');
  }
  int shift = 0;
  switch (toupper((unsigned char)*s)) {
  case 'K': shift = 10; break;
  case 'M': shift = 20; break;
  case 'G': shift = 30; break;
  default: break;
  }
  if (shift) {
    s++;
    if (!strcmp(s, "iB") || !strcmp(s, "B") || !strcmp(s, "ib") || !strcmp(s, "b"))
      s += strlen(s);
  }
  if (*s)
    return 0;
  if (v > (INT64_MAX >> shift))
    return 0;
  v <<= shift;
  if (v < lo || v > hi)
    return 0;
  *out = v;
  return 1;
}

/* The largest size any of the variables takes: beyond it a value is surely
 * a typo (HDF5 keeps sizes in hsize_t, the caches in size_t). */
#define TUNE_MAX ((int64_t)1 << 40)

static dm_status bad(const char *name, const char *value, const char *want)
{
  return dm_error(DM_ERR_ARG, "environment variable %s='%s': %s", name, value, want);
}

/* "k=v,k=v": keys and values non-empty, no spaces, within MPI's limits. The
 * normalised form drops empty items ("a=1,,b=2"). */
static dm_status parse_hints(dm_io_tune *t, const char *name, const char *value)
{
  char out[DM_IO_TUNE_HINTS_MAX];
  size_t len = 0;
  const char *p = value;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n > 0) {
      const char *eq = memchr(p, '=', n);
      size_t kn = eq ? (size_t)(eq - p) : 0, vn = eq ? n - kn - 1 : 0;
      char item[DM_IO_TUNE_HINTS_MAX];
      snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
      if (!eq || kn == 0 || vn == 0)
        return dm_error(DM_ERR_ARG, "environment variable %s='%s': hint '%s' is not "
                        "KEY=VALUE (hints are separated by commas)", name, value, item);
      for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)p[i]) || (p + i != eq && p[i] == '='))
          return dm_error(DM_ERR_ARG, "environment variable %s='%s': hint '%s' holds a space "
                          "or a second '='", name, value, item);
      if (kn >= MPI_MAX_INFO_KEY || vn >= MPI_MAX_INFO_VAL)
        return dm_error(DM_ERR_ARG, "environment variable %s='%s': hint '%s' is longer than "
                        "MPI allows", name, value, item);
      if (len + n + 2 > sizeof out)
        return dm_error(DM_ERR_ARG, "environment variable %s: more than %d characters of hints",
                        name, DM_IO_TUNE_HINTS_MAX - 1);
      if (len)
        out[len++] = ',';
      memcpy(out + len, p, n);
      len += n;
    }
    p += n + (e != NULL);
  }
  out[len] = '\0';
  memcpy(t->hints, out, len + 1);
  return DM_OK;
}

dm_status dm_io_tune_parse(dm_io_tune *t, const char *name, const char *value)
{
  if (!value || !*value)
    return DM_OK;
  if (!strcmp(name, "DMPIPE_H5_ALIGNMENT")) {
    const char *colon = strchr(value, ':');
    char th[64];
    int64_t a = 0, b = 0;
    if (!colon || (size_t)(colon - value) >= sizeof th)
      return bad(name, value, "expected THRESHOLD:BYTES, e.g. 256K:4M (objects of at least "
                              "THRESHOLD bytes start at multiples of BYTES)");
    snprintf(th, sizeof th, "%.*s", (int)(colon - value), value);
    if (!parse_bytes(th, 0, TUNE_MAX, &a) || !parse_bytes(colon + 1, 1, TUNE_MAX, &b))
      return bad(name, value, "expected THRESHOLD:BYTES, sizes as whole numbers with an "
                              "optional K, M or G suffix, BYTES at least 1, e.g. 256K:4M");
    t->align_threshold = a;
    t->align_bytes = b;
    return DM_OK;
  }
  int64_t *slot = !strcmp(name, "DMPIPE_H5_META_BLOCK")    ? &t->meta_block
                  : !strcmp(name, "DMPIPE_H5_MDC")         ? &t->mdc_bytes
                  : !strcmp(name, "DMPIPE_H5_CHUNK_CACHE") ? &t->chunk_cache
                                                           : NULL;
  if (slot) {
    /* HDF5 takes a metadata cache of 1 KiB to 128 MiB only
     * (H5C__MIN_MAX_CACHE_SIZE, H5C__MAX_MAX_CACHE_SIZE). */
    int mdc = slot == &t->mdc_bytes;
    if (!parse_bytes(value, mdc ? 1024 : 1, mdc ? (int64_t)128 << 20 : TUNE_MAX, slot))
      return bad(name, value, mdc ? "expected a size from 1K to 128M (HDF5's limits), a whole "
                                    "number of bytes with an optional K, M or G suffix, e.g. 64M"
                                  : "expected a size, a whole number of bytes (at least 1) "
                                    "with an optional K, M or G suffix, e.g. 1M");
    return DM_OK;
  }
  if (!strcmp(name, "DMPIPE_MPIIO_HINTS"))
    return parse_hints(t, name, value);
  if (!strcmp(name, "DMPIPE_WRITEBACK")) {
    int64_t v = 0;
    if (!parse_bytes(value, 0, TUNE_MAX, &v))
      return bad(name, value, "expected a size, a whole number of bytes with an optional K, M "
                              "or G suffix (e.g. 8M), or 0 for off");
    t->writeback = v > 0 ? v : -1;
    return DM_OK;
  }
  return dm_error(DM_ERR_INTERNAL, "unknown tuning variable %s", name);
}

dm_status dm_io_tune_from_env(dm_io_tune *t)
{
  static const char *const vars[] = {"DMPIPE_H5_ALIGNMENT", "DMPIPE_H5_META_BLOCK",
                                     "DMPIPE_H5_MDC", "DMPIPE_H5_CHUNK_CACHE",
                                     "DMPIPE_MPIIO_HINTS", "DMPIPE_WRITEBACK"};
  memset(t, 0, sizeof *t);
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    DM_FORWARD(dm_io_tune_parse(t, vars[i], getenv(vars[i])));
  return DM_OK;
}

dm_status dm_io_tune_get(MPI_Comm comm, dm_io_tune *t)
{
  dm_status s = dm_agree(dm_io_tune_from_env(t), comm);
  if (s != DM_OK) {
    memset(t, 0, sizeof *t);
    return s;
  }
  MPI_Bcast(t, (int)sizeof *t, MPI_BYTE, 0, comm);
  return DM_OK;
}

int64_t dm_io_tune_writeback(const dm_io_tune *t)
{
  return t->writeback < 0 ? 0 : t->writeback > 0 ? t->writeback : DM_IO_TUNE_WRITEBACK_DEFAULT;
}

MPI_Info dm_io_tune_info(const dm_io_tune *t)
{
  if (!t || !t->hints[0])
    return MPI_INFO_NULL;
  MPI_Info info = MPI_INFO_NULL;
  if (MPI_Info_create(&info) != MPI_SUCCESS)
    return MPI_INFO_NULL;
  char buf[DM_IO_TUNE_HINTS_MAX];
  snprintf(buf, sizeof buf, "%s", t->hints);
  char *save = NULL;
  for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(item, '=');
    *eq = '\0'; /* the parser made sure of KEY=VALUE */
    MPI_Info_set(info, item, eq + 1);
  }
  return info;
}

void dm_io_tune_info_free(MPI_Info *info)
{
  if (*info != MPI_INFO_NULL)
    MPI_Info_free(info);
  *info = MPI_INFO_NULL;
}

dm_status dm_io_tune_fapl(const dm_io_tune *t, hid_t fapl)
{
  if (t->align_bytes > 0 &&
      H5Pset_alignment(fapl, (hsize_t)t->align_threshold, (hsize_t)t->align_bytes) < 0)
    return dm_error(DM_ERR_HDF5, "HDF5 refused DMPIPE_H5_ALIGNMENT %lld:%lld",
                    (long long)t->align_threshold, (long long)t->align_bytes);
  if (t->meta_block > 0 && H5Pset_meta_block_size(fapl, (hsize_t)t->meta_block) < 0)
    return dm_error(DM_ERR_HDF5, "HDF5 refused DMPIPE_H5_META_BLOCK %lld",
                    (long long)t->meta_block);
  if (t->mdc_bytes > 0) {
    H5AC_cache_config_t c;
    memset(&c, 0, sizeof c);
    c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    herr_t e = H5Pget_mdc_config(fapl, &c);
    /* A fixed size: the cache starts at it and may shrink below it only
     * when HDF5's own adaptive resizing finds it idle. */
    c.set_initial_size = 1;
    c.initial_size = (size_t)t->mdc_bytes;
    c.max_size = (size_t)t->mdc_bytes;
    if (c.min_size > c.max_size)
      c.min_size = c.max_size;
    if (e < 0 || H5Pset_mdc_config(fapl, &c) < 0)
      return dm_error(DM_ERR_HDF5, "HDF5 refused DMPIPE_H5_MDC %lld",
                      (long long)t->mdc_bytes);
  }
  if (t->chunk_cache > 0) {
    int mdc_nelmts = 0;
    size_t slots = 0, nbytes = 0;
    double w0 = 0;
    herr_t e = H5Pget_cache(fapl, &mdc_nelmts, &slots, &nbytes, &w0);
    /* More slots for a bigger cache (HDF5 advises about 100 per chunk that
     * fits; chunks here are 0.25-2 MiB), a prime as it recommends. */
    size_t want = t->chunk_cache > ((int64_t)1 << 20) ? 10007 : slots;
    if (e < 0 || H5Pset_cache(fapl, mdc_nelmts, want, (size_t)t->chunk_cache, w0) < 0)
      return dm_error(DM_ERR_HDF5, "HDF5 refused DMPIPE_H5_CHUNK_CACHE %lld",
                      (long long)t->chunk_cache);
  }
  return DM_OK;
}

dm_status dm_io_tune_create(const dm_io_tune *t, const char *tmp_path, MPI_Comm comm)
{
  if (!t->hints[0])
    return DM_OK;
  dm_status s = DM_OK;
  if (dm_rank(comm) == 0) {
    /* The temporary is new, empty and named for this run, whose claim is
     * held: replacing it races with no one. */
    if (unlink(tmp_path) != 0 && errno != ENOENT)
      s = dm_error(DM_ERR_IO, "cannot replace %s: %s", tmp_path, strerror(errno));
    MPI_Info info = dm_io_tune_info(t);
    MPI_File fh;
    int e = s == DM_OK ? MPI_File_open(MPI_COMM_SELF, tmp_path,
                                       MPI_MODE_WRONLY | MPI_MODE_CREATE | MPI_MODE_EXCL, info,
                                       &fh)
                       : MPI_SUCCESS;
    if (s == DM_OK && e != MPI_SUCCESS)
      s = dm_error(DM_ERR_IO, "cannot create %s through MPI-IO with DMPIPE_MPIIO_HINTS: %s",
                   tmp_path, dm_strerror_io(dm_mpi_errno(e)));
    else if (s == DM_OK && MPI_File_close(&fh) != MPI_SUCCESS)
      s = dm_error(DM_ERR_IO, "cannot close %s after creating it", tmp_path);
    dm_io_tune_info_free(&info);
  }
  return dm_agree(s, comm);
}
