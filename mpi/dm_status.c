#include "dm_status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char dm_msg[2048];
static _Thread_local int dm_remote;

const char *dm_status_name(dm_status s)
{
  static const char *const names[DM_STATUS_COUNT] = {
      [DM_OK] = "ok",
      [DM_ERR_ARG] = "bad argument",
      [DM_ERR_IO] = "i/o error",
      [DM_ERR_FORMAT] = "malformed input",
      [DM_ERR_BAD_FRACTION] = "too many bad input lines",
      [DM_ERR_HDF5] = "hdf5 error",
      [DM_ERR_SCHEMA] = "wrong file kind or version",
      [DM_ERR_MPI] = "mpi error",
      [DM_ERR_NOMEM] = "out of memory",
      [DM_ERR_UNKNOWN] = "unknown name",
      [DM_ERR_NUMERIC] = "numerical failure",
      [DM_ERR_REMOTE] = "failed on another rank",
      [DM_ERR_INTERNAL] = "internal error",
  };
  if ((int)s < 0 || s >= DM_STATUS_COUNT)
    return "invalid status";
  return names[s];
}

dm_status dm_error(dm_status s, const char *fmt, ...)
{
  dm_remote = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dm_msg, sizeof dm_msg, fmt, ap);
  va_end(ap);
  return s;
}

dm_status dm_error_remote(dm_status s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dm_msg, sizeof dm_msg, fmt, ap);
  va_end(ap);
  dm_remote = 1;
  return s;
}

int dm_error_is_remote(void) { return dm_remote; }

const char *dm_error_message(void) { return dm_msg; }

void dm_error_context(const char *fmt, ...)
{
  char prefix[512], old[sizeof dm_msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, dm_msg, sizeof old);
  snprintf(dm_msg, sizeof dm_msg, "%.500s: %.1500s", prefix, old);
}

void dm_error_clear(void)
{
  dm_msg[0] = '\0';
  dm_remote = 0;
}

int dm_errno_is_nospace(int errnum)
{
  return errnum == ENOSPC || errnum == EDQUOT || errnum == EFBIG;
}

const char *dm_strerror_io(int errnum)
{
  static _Thread_local char buf[160];
  if (errnum == DM_ESHORT)
    return "short write (out of space?)";
  const char *why = errnum == ENOSPC   ? " (out of space: the file system is full)"
                    : errnum == EDQUOT ? " (out of space: the disk quota is used up)"
                    : errnum == EFBIG  ? " (out of space: the file-size limit, ulimit -f)"
                                       : "";
  snprintf(buf, sizeof buf, "%s%s", strerror(errnum), why);
  return buf;
}
