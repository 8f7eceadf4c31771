/* Early write-back of a file being written (dm_writeback.h). */
#include "dm_writeback.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void dm_writeback_init(dm_writeback *wb)
{
  memset(wb, 0, sizeof *wb);
  wb->fd = -1;
}

void dm_writeback_open(dm_writeback *wb, const char *path, int64_t every)
{
  dm_writeback_init(wb);
  if (every <= 0)
    return;
  wb->every = every;
  /* A descriptor of its own: the MPI-IO handle that writes does not show
   * one. Read-only is enough for sync_file_range. */
  wb->fd = open(path, O_RDONLY | O_CLOEXEC);
}

void dm_writeback_span_add(dm_writeback_span *sp, int64_t off, int64_t len)
{
  if (len <= 0)
    return;
  if (sp->bytes == 0 || off < sp->lo)
    sp->lo = off;
  if (sp->bytes == 0 || off + len > sp->hi)
    sp->hi = off + len;
  sp->bytes += len;
}

void dm_writeback_done(dm_writeback *wb, dm_writeback_span *sp)
{
  if (wb->fd >= 0 && sp->bytes > 0) {
    if (wb->pending == 0 || sp->lo < wb->lo)
      wb->lo = sp->lo;
    if (wb->pending == 0 || sp->hi > wb->hi)
      wb->hi = sp->hi;
    wb->pending += sp->bytes;
    if (wb->pending >= wb->every) {
      (void)sync_file_range(wb->fd, (off_t)wb->lo, (off_t)(wb->hi - wb->lo),
                            SYNC_FILE_RANGE_WRITE);
      wb->pending = 0;
      wb->starts++;
    }
  }
  memset(sp, 0, sizeof *sp);
}

void dm_writeback_close(dm_writeback *wb)
{
  if (wb->fd >= 0)
    close(wb->fd);
  wb->fd = -1;
}
