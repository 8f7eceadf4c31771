/* Text outputs under a temporary name (dm_text_out.h). */
#include "dm_text_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_h5.h"

struct dm_text_out {
  MPI_Comm comm;
  int fd;
  int64_t bytes;
  char path[DM_PATH_MAX], tmp[DM_PATH_MAX];
};

static dm_status pwrite_all(int fd, const char *p, int64_t n, int64_t off, const char *path)
{
  while (n > 0) {
    ssize_t w = pwrite(fd, p, (size_t)(n > (1 << 30) ? (1 << 30) : n), (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return dm_error(DM_ERR_IO, "writing %s at byte %lld: %s", path, (long long)off,
                      w < 0 ? strerror(errno) : "no progress");
    p += w;
    off += w;
    n -= w;
  }
  return DM_OK;
}

dm_status dm_text_out_create(const char *path, MPI_Comm comm, dm_text_out **wp)
{
  *wp = NULL;
  dm_text_out *w = calloc(1, sizeof *w);
  dm_status s = w ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for a text writer");
  if (s == DM_OK) {
    w->comm = comm;
    w->fd = -1;
    if (snprintf(w->path, sizeof w->path, "%s", path) >= (int)sizeof w->path ||
        snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path) >= (int)sizeof w->tmp)
      s = dm_error(DM_ERR_ARG, "output path too long: %s", path);
  }
  if (s == DM_OK && dm_rank(comm) == 0)
    s = dm_h5_tmp_create(w->tmp);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    w->fd = open(w->tmp, O_WRONLY);
    if (w->fd < 0)
      s = dm_error(DM_ERR_IO, "cannot open %s: %s", w->tmp, strerror(errno));
    s = dm_agree(s, comm);
  }
  if (s != DM_OK) {
    if (w && w->fd >= 0)
      close(w->fd);
    if (w && dm_rank(comm) == 0 && w->tmp[0])
      unlink(w->tmp);
    free(w);
    return s;
  }
  *wp = w;
  return DM_OK;
}

dm_status dm_text_out_append(dm_text_out *w, const char *text, int64_t n)
{
  int64_t prefix = 0, total = 0;
  dm_exscan_i64(n, w->comm, &prefix, &total);
  dm_status s = dm_agree(pwrite_all(w->fd, text, n, w->bytes + prefix, w->tmp), w->comm);
  w->bytes += total;
  return s;
}

int64_t dm_text_out_bytes(const dm_text_out *w) { return w->bytes; }

dm_status dm_text_out_finish(dm_text_out *w, dm_status local)
{
  if (!w)
    return local;
  MPI_Comm comm = w->comm;
  dm_status s = dm_agree(local, comm);
  dm_status c = DM_OK;
  if (fsync(w->fd) != 0 && s == DM_OK)
    c = dm_error(DM_ERR_IO, "syncing %s: %s (disk full?)", w->tmp, strerror(errno));
  if (close(w->fd) != 0 && c == DM_OK && s == DM_OK)
    c = dm_error(DM_ERR_IO, "closing %s: %s (disk full?)", w->tmp, strerror(errno));
  c = dm_agree(c, comm);
  if (s == DM_OK)
    s = c;
  dm_status r = DM_OK;
  if (dm_rank(comm) == 0) {
    if (s == DM_OK && rename(w->tmp, w->path) != 0)
      r = dm_error(DM_ERR_IO, "cannot rename %s to %s: %s", w->tmp, w->path, strerror(errno));
    if (s != DM_OK || r != DM_OK)
      unlink(w->tmp);
  }
  r = dm_agree(r, comm);
  free(w);
  return s != DM_OK ? s : r;
}

dm_status dm_text_out_write_whole(const char *path, const char *text, size_t n, MPI_Comm comm)
{
  dm_status s = DM_OK;
  if (dm_rank(comm) == 0) {
    char tmp[DM_PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
      return dm_agree(dm_error(DM_ERR_ARG, "output path too long: %s", path), comm);
    s = dm_h5_tmp_create(tmp);
    int fd = s == DM_OK ? open(tmp, O_WRONLY) : -1;
    if (s == DM_OK && fd < 0)
      s = dm_error(DM_ERR_IO, "cannot open %s: %s", tmp, strerror(errno));
    if (s == DM_OK)
      s = pwrite_all(fd, text, (int64_t)n, 0, tmp);
    if (s == DM_OK && fsync(fd) != 0)
      s = dm_error(DM_ERR_IO, "syncing %s: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && s == DM_OK)
      s = dm_error(DM_ERR_IO, "closing %s: %s", tmp, strerror(errno));
    if (s == DM_OK && rename(tmp, path) != 0)
      s = dm_error(DM_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (s != DM_OK)
      unlink(tmp);
  }
  return dm_agree(s, comm);
}
