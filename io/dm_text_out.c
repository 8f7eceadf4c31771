/* Text outputs under a temporary name (dm_text_out.h). */
#include "dm_text_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_atomic.h"

struct dm_text_out {
  MPI_Comm comm;
  int fd;
  int64_t bytes;
  dm_atomic at; /* the one atomic write path: claim, run-unique temporary, commit */
};

static dm_status pwrite_all(int fd, const char *p, int64_t n, int64_t off, const char *path)
{
  while (n > 0) {
    ssize_t w = pwrite(fd, p, (size_t)(n > (1 << 30) ? (1 << 30) : n), (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return dm_error(DM_ERR_IO, "writing %s at byte %lld: %s", path, (long long)off,
                      w < 0 ? dm_strerror_io(errno) : "no progress");
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
  dm_status s = dm_agree(w ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for a text writer"), comm);
  if (s != DM_OK) {
    free(w);
    return s;
  }
  w->comm = comm;
  w->fd = -1;
  s = dm_atomic_begin_all(&w->at, path, comm);
  if (s == DM_OK) {
    w->fd = open(w->at.tmp_path, O_WRONLY);
    s = dm_agree(w->fd >= 0 ? DM_OK
                            : dm_error(DM_ERR_IO, "cannot open %s: %s", w->at.tmp_path,
                                       strerror(errno)),
                 comm);
    if (s != DM_OK) {
      if (w->fd >= 0)
        close(w->fd);
      dm_atomic_settle_all(&w->at, s, comm);
    }
  }
  if (s != DM_OK) {
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
  dm_status s =
      dm_agree(pwrite_all(w->fd, text, n, w->bytes + prefix, w->at.tmp_path), w->comm);
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
  /* Every rank's bytes reach the disk before rank 0 renames (it syncs only
   * its own descriptor of the temporary). */
  dm_status c = DM_OK;
  if (fsync(w->fd) != 0 && s == DM_OK)
    c = dm_error(DM_ERR_IO, "syncing %s: %s", w->at.tmp_path, dm_strerror_io(errno));
  if (close(w->fd) != 0 && c == DM_OK && s == DM_OK)
    c = dm_error(DM_ERR_IO, "closing %s: %s", w->at.tmp_path, dm_strerror_io(errno));
  c = dm_agree(c, comm);
  if (s == DM_OK)
    s = c;
  s = dm_atomic_settle_all(&w->at, s, comm);
  free(w);
  return s;
}

dm_status dm_text_out_write_whole(const char *path, const char *text, size_t n, MPI_Comm comm)
{
  dm_status s = DM_OK;
  if (dm_rank(comm) == 0) {
    dm_atomic at;
    memset(&at, 0, sizeof at);
    s = dm_atomic_begin(&at, path);
    if (s == DM_OK) {
      int fd = open(at.tmp_path, O_WRONLY);
      if (fd < 0) {
        s = dm_error(DM_ERR_IO, "cannot open %s: %s", at.tmp_path, strerror(errno));
      } else {
        s = pwrite_all(fd, text, (int64_t)n, 0, at.tmp_path);
        if (close(fd) != 0 && s == DM_OK)
          s = dm_error(DM_ERR_IO, "closing %s: %s", at.tmp_path, dm_strerror_io(errno));
      }
      s = dm_atomic_end(&at, s); /* syncs, renames, syncs the folder; or removes */
    }
  }
  return dm_agree(s, comm);
}
