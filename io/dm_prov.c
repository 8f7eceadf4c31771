#include "dm_prov.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "dm_h5.h"
#include "dm_version.h"

void dm_prov_now(char out[32])
{
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

dm_status dm_prov_write(hid_t file, const char *format, int version, const char *command_line,
                        const char *inputs)
{
  /* The creation time is taken on each rank; with collective metadata
   * writes HDF5 stores rank 0's value, so a one-second skew between ranks
   * cannot corrupt the file. */
  char now[32];
  dm_prov_now(now);
  DM_FORWARD(dm_h5_attr_set_str(file, "format", format));
  DM_FORWARD(dm_h5_attr_set_i64(file, "format_version", version));
  DM_FORWARD(dm_h5_attr_set_str(file, "dmpipe_version", DM_VERSION));
  DM_FORWARD(dm_h5_attr_set_str(file, "git_revision", DM_GIT_REV));
  DM_FORWARD(dm_h5_attr_set_str(file, "command_line", command_line ? command_line : ""));
  DM_FORWARD(dm_h5_attr_set_str(file, "created", now));
  DM_FORWARD(dm_h5_attr_set_str(file, "inputs", inputs ? inputs : ""));
  return DM_OK;
}

dm_status dm_prov_check(hid_t file, const char *path, const char *format, int max_version,
                        int *version)
{
  char got[128];
  if (dm_h5_attr_get_str(file, "format", got, sizeof got) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "%s is not a dmpipe file (no 'format' attribute)", path);
  if (strcmp(got, format))
    return dm_error(DM_ERR_SCHEMA, "%s is a %s file, expected %s", path, got, format);
  int64_t v = 0;
  if (dm_h5_attr_get_i64(file, "format_version", &v) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "%s has no format_version attribute", path);
  if (v > max_version || v < 1)
    return dm_error(DM_ERR_SCHEMA,
                    "%s has %s format version %lld; this dmpipe reads up to version %d "
                    "(upgrade dmpipe)",
                    path, format, (long long)v, max_version);
  if (version)
    *version = (int)v;
  return DM_OK;
}

static void hex128(XXH128_hash_t h, char hex[33])
{
  snprintf(hex, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

dm_status dm_checksum_file(const char *path, char hex[33], int64_t *size)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return dm_error(DM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  XXH3_state_t *st = XXH3_createState();
  size_t cap = 1 << 20;
  char *buf = malloc(cap);
  if (!st || !buf) {
    fclose(f);
    free(buf);
    XXH3_freeState(st);
    return dm_error(DM_ERR_NOMEM, "no memory to checksum %s", path);
  }
  XXH3_128bits_reset(st);
  int64_t total = 0;
  size_t n;
  while ((n = fread(buf, 1, cap, f)) > 0) {
    XXH3_128bits_update(st, buf, n);
    total += (int64_t)n;
  }
  int err = ferror(f);
  fclose(f);
  free(buf);
  if (err) {
    XXH3_freeState(st);
    return dm_error(DM_ERR_IO, "reading %s failed", path);
  }
  hex128(XXH3_128bits_digest(st), hex);
  XXH3_freeState(st);
  if (size)
    *size = total;
  return DM_OK;
}

void dm_checksum_buf(const void *buf, size_t n, char hex[33])
{
  hex128(XXH3_128bits(buf, n), hex);
}
