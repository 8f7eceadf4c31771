/* The zstd codec behind the HDF5 filter. Deliberately calls no libhdf5
 * function (only the H5Z_FLAG_REVERSE macro), so the loadable plugin can be
 * built from this file alone. */
#include <hdf5.h> /* types and macros only */
#include <stdlib.h>
#include <zstd.h>

#include "dm_zstd_filter.h"

size_t dm_zstd_filter_apply(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[],
                            size_t nbytes, size_t *buf_size, void **buf)
{
  if (flags & H5Z_FLAG_REVERSE) {
    unsigned long long n = ZSTD_getFrameContentSize(*buf, nbytes);
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN)
      return 0;
    void *out = malloc(n ? n : 1);
    if (!out)
      return 0;
    size_t got = ZSTD_decompress(out, n, *buf, nbytes);
    if (ZSTD_isError(got) || got != n) {
      free(out);
      return 0;
    }
    free(*buf);
    *buf = out;
    *buf_size = n;
    return got;
  }
  int level = cd_nelmts > 0 ? (int)cd_values[0] : 3;
  if (level < 1 || level > ZSTD_maxCLevel())
    level = 3;
  size_t cap = ZSTD_compressBound(nbytes);
  void *out = malloc(cap);
  if (!out)
    return 0;
  /* One context per thread, reused across chunks: context creation costs
   * more than compressing a small chunk. */
  static _Thread_local ZSTD_CCtx *cctx;
  if (!cctx)
    cctx = ZSTD_createCCtx();
  size_t got = cctx ? ZSTD_compressCCtx(cctx, out, cap, *buf, nbytes, level) : 0;
  if (!cctx || ZSTD_isError(got)) {
    free(out);
    return 0;
  }
  free(*buf);
  *buf = out;
  *buf_size = cap;
  return got;
}

