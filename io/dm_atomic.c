/* Outputs written under a claimed, run-unique temporary name, synced, then
 * renamed (dm_atomic.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* F_OFD_SETLK */
#endif
#include "dm_atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dm_comm.h"

/* The folder of path (a copy: dirname may modify its argument). */
static void folder_of(const char *path, char *dir, size_t cap)
{
  char tmp[DM_PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  snprintf(dir, cap, "%s", dirname(tmp));
}

static const char *base_of(const char *path)
{
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

dm_status dm_atomic_check(const char *path, const char *flag)
{
  const char *f = flag ? flag : "output";
  if (!path || !*path)
    return dm_error(DM_ERR_ARG, "%s: empty file name", f);
  if (strlen(path) + 64 >= DM_PATH_MAX)
    return dm_error(DM_ERR_ARG, "%s %s: path too long", f, path);
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return dm_error(DM_ERR_ARG, "%s %s is a folder: give the name of a file to write", f,
                      path);
    if (!S_ISREG(st.st_mode))
      return dm_error(DM_ERR_ARG, "%s %s exists and is not a regular file", f, path);
  }
  char dir[DM_PATH_MAX];
  folder_of(path, dir, sizeof dir);
  if (stat(dir, &st) != 0)
    return dm_error(DM_ERR_ARG, "%s %s: folder %s: %s", f, path, dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return dm_error(DM_ERR_ARG, "%s %s: %s is not a folder", f, path, dir);
  if (access(dir, W_OK | X_OK) != 0)
    return dm_error(DM_ERR_ARG, "%s %s: cannot write in folder %s: %s", f, path, dir,
                    strerror(errno));
  return DM_OK;
}

/* ---- the claim ------------------------------------------------------------- */

enum { LOCK_HELD, LOCK_BUSY, LOCK_NONE, LOCK_FAIL };

static int lock_excl(int fd)
{
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  /* Open file description locks belong to this open file, not to the process:
   * two claims made by one process conflict too, and closing some other
   * descriptor of the file does not drop them. */
  int rc = -1;
#ifdef F_OFD_SETLK
  rc = fcntl(fd, F_OFD_SETLK, &fl);
  if (rc != 0 && errno == EINVAL)
#endif
    rc = fcntl(fd, F_SETLK, &fl);
  if (rc == 0)
    return LOCK_HELD;
  if (errno == EAGAIN || errno == EACCES)
    return LOCK_BUSY;
  if (errno == ENOLCK || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)
    return LOCK_NONE;
  return LOCK_FAIL;
}

/* "host-pid": unique among the live processes that may write here. */
static void run_tag(char *tag, size_t cap)
{
  char host[256] = "host";
  if (gethostname(host, sizeof host - 1) != 0)
    snprintf(host, sizeof host, "host");
  host[sizeof host - 1] = '\0';
  char *p = host;
  for (; *p && *p != '.'; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_'))
      *p = '_';
  *p = '\0';
  snprintf(tag, cap, "%.64s-%ld", host[0] ? host : "host", (long)getpid());
}

/* Is name "BASE.<tag>.tmp" (or the "BASE.tmp" of earlier versions), with
 * <tag> of the form run_tag makes, or a file named after such a temporary by
 * the MPI-IO layer ("BASE.<tag>.tmp-<job>-<pid>.lock": Open MPI's shared file
 * pointer lock, left behind when a rank is killed)? Only such names are
 * removed. */
static int is_our_temporary(const char *name, const char *base)
{
  size_t bl = strlen(base), nl = strlen(name);
  if (nl <= bl || strncmp(name, base, bl) != 0 || name[bl] != '.')
    return 0;
  const char *mid = name + bl + 1;
  if (!strcmp(mid, "tmp"))
    return 1;
  /* <tag> = [A-Za-z0-9_]+ "-" [0-9]+, then ".tmp", then nothing or "-..." */
  const char *p = mid;
  while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
         *p == '_')
    p++;
  if (p == mid || *p != '-')
    return 0;
  const char *d = ++p;
  while (*p >= '0' && *p <= '9')
    p++;
  if (p == d || strncmp(p, ".tmp", 4) != 0)
    return 0;
  p += 4;
  return *p == '\0' || *p == '-';
}

/* With the claim held, no live run writes this output: temporaries of it are
 * leftovers of killed runs. */
static void remove_leftovers(const dm_atomic *a)
{
  char dir[DM_PATH_MAX];
  folder_of(a->final_path, dir, sizeof dir);
  const char *base = base_of(a->final_path);
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!is_our_temporary(e->d_name, base))
      continue;
    char p[DM_PATH_MAX + 256];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
}

void dm_claim_release(dm_claim *c)
{
  if (!c->held)
    return;
  /* Unlink while still holding the lock: a process that opened the old file
   * meanwhile sees its inode gone after it locks, and starts over. */
  unlink(c->path);
  close(c->fd);
  c->fd = -1;
  c->held = 0;
}

/* "host H, pid P, since T" of this process (H: run_tag's host). */
static int holder_text(char *who, size_t cap)
{
  char tag[128], host[128];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  run_tag(tag, sizeof tag);
  snprintf(host, sizeof host, "%s", tag);
  char *dash = strrchr(host, '-');
  if (dash)
    *dash = '\0';
  return snprintf(who, cap, "host %s, pid %ld, since %04d-%02d-%02dT%02d:%02d:%02dZ\n", host,
                  (long)getpid(), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
}

/* The first line of the file open as fd. */
static void read_holder(int fd, char *who, size_t cap)
{
  ssize_t n = pread(fd, who, cap - 1, 0);
  who[n > 0 ? n : 0] = '\0';
  who[strcspn(who, "\n")] = '\0';
}

dm_status dm_claim_take(dm_claim *c, const char *path)
{
  memset(c, 0, sizeof *c);
  c->fd = -1;
  if (snprintf(c->path, sizeof c->path, "%s", path) >= (int)sizeof c->path)
    return dm_error(DM_ERR_ARG, "lock file path too long: %s", path);
  for (int tries = 0; tries < 100; tries++) {
    int created = 1;
    int fd = open(c->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) {
      created = 0;
      fd = open(c->path, O_RDWR | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT)
        continue; /* released between the two opens */
    }
    if (fd < 0)
      return dm_error(DM_ERR_IO, "cannot create the lock file %s: %s", c->path,
                      dm_strerror_io(errno));
    int lk = lock_excl(fd);
    int err = errno;
    if (lk == LOCK_BUSY) {
      /* The holder writes its name right after it locks: an empty file is
       * one being written this moment. */
      read_holder(fd, c->holder, sizeof c->holder);
      for (int w = 0; w < 20 && !c->holder[0]; w++) {
        usleep(10000);
        read_holder(fd, c->holder, sizeof c->holder);
      }
      close(fd);
      c->busy = 1;
      if (!c->holder[0])
        snprintf(c->holder, sizeof c->holder, "holder unknown");
      return dm_error(DM_ERR_IO, "%s is held by another process (%s)", c->path, c->holder);
    }
    if (lk != LOCK_HELD) {
      close(fd);
      if (created)
        unlink(c->path);
      if (lk == LOCK_NONE)
        return DM_OK; /* no locks on this file system: unclaimed (see the header) */
      return dm_error(DM_ERR_IO, "cannot lock %s: %s", c->path, strerror(err));
    }
    struct stat held, now;
    if (fstat(fd, &held) == 0 && stat(c->path, &now) == 0 && held.st_dev == now.st_dev &&
        held.st_ino == now.st_ino) {
      c->fd = fd;
      c->held = 1;
      /* A file naming a holder, yet not locked: that holder died with it. */
      if (!created)
        read_holder(fd, c->holder, sizeof c->holder);
      char who[256];
      int len = holder_text(who, sizeof who);
      /* Who holds it is for the message of a process that finds it taken; a
       * full disk may refuse these bytes, which changes nothing else. */
      if (ftruncate(fd, 0) == 0 && pwrite(fd, who, (size_t)len, 0) < 0)
        (void)0;
      return DM_OK;
    }
    close(fd); /* locked a file that was removed meanwhile */
  }
  return dm_error(DM_ERR_IO, "cannot take the lock %s: it keeps changing", c->path);
}

static void release_claim(dm_atomic *a) { dm_claim_release(&a->claim); }

static dm_status take_claim(dm_atomic *a)
{
  char path[DM_PATH_MAX];
  snprintf(path, sizeof path, "%s", a->claim.path); /* dm_claim_take clears a->claim */
  dm_status s = dm_claim_take(&a->claim, path);
  if (s != DM_OK && a->claim.busy) {
    dm_error_clear();
    return dm_error(DM_ERR_IO,
                    "%s is being written by another run (%s); its claim %s is held. Wait "
                    "for that run or write to another name",
                    a->final_path, a->claim.holder, a->claim.path);
  }
  return s;
}

/* ---- begin / commit / abort ------------------------------------------------ */

dm_status dm_atomic_begin(dm_atomic *a, const char *final_path)
{
  memset(a, 0, sizeof *a);
  a->claim.fd = -1;
  char tag[128];
  run_tag(tag, sizeof tag);
  if (snprintf(a->final_path, sizeof a->final_path, "%s", final_path) >= DM_PATH_MAX ||
      snprintf(a->claim.path, sizeof a->claim.path, "%s.lock", final_path) >= DM_PATH_MAX ||
      snprintf(a->tmp_path, sizeof a->tmp_path, "%s.%s.tmp", final_path, tag) >= DM_PATH_MAX) {
    a->tmp_path[0] = '\0';
    return dm_error(DM_ERR_ARG, "output path too long: %s", final_path);
  }
  dm_status s = dm_atomic_check(final_path, NULL);
  if (s == DM_OK)
    s = take_claim(a);
  if (s != DM_OK) {
    a->tmp_path[0] = '\0';
    return s;
  }
  if (a->claim.held)
    remove_leftovers(a);
  /* Created empty and new, never by truncation (ext4 writes a file truncated
   * to zero and rewritten back at its close: 0.1 s per 340 MB store). */
  if (unlink(a->tmp_path) != 0 && errno != ENOENT)
    s = dm_error(DM_ERR_IO, "cannot remove the leftover %s: %s", a->tmp_path, strerror(errno));
  int fd = s == DM_OK ? open(a->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666) : -1;
  if (s == DM_OK && fd < 0)
    s = dm_error(DM_ERR_IO, "cannot create %s: %s", a->tmp_path, dm_strerror_io(errno));
  if (fd >= 0)
    close(fd);
  if (s != DM_OK) {
    release_claim(a);
    a->tmp_path[0] = '\0';
    return s;
  }
  a->active = 1;
  return DM_OK;
}

void dm_atomic_abort(dm_atomic *a)
{
  if (a->active && a->tmp_path[0])
    unlink(a->tmp_path);
  a->active = 0;
  release_claim(a);
}

dm_status dm_atomic_commit(dm_atomic *a)
{
  if (!a->active)
    return dm_error(DM_ERR_INTERNAL, "commit of %s, which was not begun", a->final_path);
  dm_status s = DM_OK;
  int fd = open(a->tmp_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    s = dm_error(DM_ERR_IO, "cannot reopen %s to sync it: %s", a->tmp_path, strerror(errno));
  else if (fsync(fd) != 0)
    s = dm_error(DM_ERR_IO, "syncing %s to disk failed: %s", a->tmp_path, dm_strerror_io(errno));
  if (fd >= 0)
    close(fd);
  if (s == DM_OK && rename(a->tmp_path, a->final_path) != 0)
    s = dm_error(DM_ERR_IO, "cannot rename %s to %s: %s", a->tmp_path, a->final_path,
                 strerror(errno));
  if (s != DM_OK) {
    dm_atomic_abort(a);
    return s;
  }
  a->active = 0;
  /* The rename is durable once the folder is. Some file systems cannot sync
   * a folder (EINVAL): their renames are durable by other means. */
  char dir[DM_PATH_MAX];
  folder_of(a->final_path, dir, sizeof dir);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)
      s = dm_error(DM_ERR_IO, "syncing folder %s after renaming %s failed: %s", dir,
                   a->final_path, dm_strerror_io(errno));
    close(dfd);
  }
  release_claim(a);
  return s;
}

dm_status dm_atomic_end(dm_atomic *a, dm_status ok)
{
  if (ok != DM_OK) {
    dm_atomic_abort(a);
    return ok;
  }
  return dm_atomic_commit(a);
}

/* ---- collective forms -------------------------------------------------------- */

dm_status dm_atomic_begin_all(dm_atomic *a, const char *final_path, MPI_Comm comm)
{
  memset(a, 0, sizeof *a);
  a->claim.fd = -1;
  dm_status s = dm_rank(comm) == 0 ? dm_atomic_begin(a, final_path) : DM_OK;
  s = dm_agree(s, comm);
  if (s != DM_OK)
    return s;
  /* The name is decided once, on rank 0 (its host and pid), for all. */
  MPI_Bcast(a->final_path, DM_PATH_MAX, MPI_CHAR, 0, comm);
  MPI_Bcast(a->tmp_path, DM_PATH_MAX, MPI_CHAR, 0, comm);
  MPI_Bcast(a->claim.path, DM_PATH_MAX, MPI_CHAR, 0, comm);
  return DM_OK;
}

dm_status dm_atomic_settle_all(dm_atomic *a, dm_status agreed, MPI_Comm comm)
{
  dm_status r = DM_OK;
  if (dm_rank(comm) == 0) {
    if (agreed == DM_OK)
      r = dm_atomic_commit(a);
    else
      dm_atomic_abort(a);
  }
  r = dm_agree(r, comm);
  return agreed != DM_OK ? agreed : r;
}

/* ---- stdio ----------------------------------------------------------------- */

dm_status dm_atomic_fopen(dm_atomic *a, const char *final_path, FILE **f)
{
  *f = NULL;
  DM_FORWARD(dm_atomic_begin(a, final_path));
  *f = fopen(a->tmp_path, "w");
  if (!*f) {
    int e = errno;
    dm_atomic_abort(a);
    return dm_error(DM_ERR_IO, "cannot open %s: %s", a->tmp_path, dm_strerror_io(e));
  }
  return DM_OK;
}

dm_status dm_atomic_fclose(dm_atomic *a, FILE *f, dm_status local)
{
  dm_status s = local;
  if (f) {
    errno = 0;
    int bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
      bad = 1;
      e = errno;
    }
    if (bad && s == DM_OK)
      s = dm_error(DM_ERR_IO, "writing %s failed: %s", a->tmp_path,
                   e ? dm_strerror_io(e) : "write error");
  }
  return dm_atomic_end(a, s);
}

dm_status dm_atomic_write_text(const char *path, const char *text)
{
  dm_atomic a;
  FILE *f = NULL;
  DM_FORWARD(dm_atomic_fopen(&a, path, &f));
  dm_status s = DM_OK;
  if (fputs(text, f) < 0)
    s = dm_error(DM_ERR_IO, "writing %s failed: %s", a.tmp_path, dm_strerror_io(errno));
  return dm_atomic_fclose(&a, f, s);
}
