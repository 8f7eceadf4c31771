/* SHA-256 of files (dm_sha256.h), through nettle. */
#include "dm_sha256.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dm_status dm_sha256_file(const char *path, char hex[65])
{
  hex[0] = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return dm_error(DM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  size_t cap = 1 << 20;
  unsigned char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return dm_error(DM_ERR_NOMEM, "no memory to hash %s", path);
  }
  struct sha256_ctx ctx;
  sha256_init(&ctx);
  size_t n;
  while ((n = fread(buf, 1, cap, f)) > 0)
    sha256_update(&ctx, n, buf);
  int err = ferror(f);
  fclose(f);
  free(buf);
  if (err)
    return dm_error(DM_ERR_IO, "reading %s failed", path);
  uint8_t d[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, sizeof d, d);
  for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
    snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return DM_OK;
}
