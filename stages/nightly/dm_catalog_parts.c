/* The parts folder of a catalog (dm_catalog_parts.h). */
#include "dm_catalog_parts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dm_derived.h"
#include "dm_store.h"

/* Hex digits of the store_id in a part's name (as in derived-column files:
 * enough to keep names apart; the pairing is checked on all of it). */
#define ID_DIGITS 16

static const char *base_of(const char *p)
{
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

dm_status dm_catparts_init(dm_catparts *p, const char *catalog_path)
{
  const char *b = base_of(catalog_path);
  size_t dl = (size_t)(b - catalog_path), bl = strlen(b);
  if (bl > 3 && !strcmp(b + bl - 3, ".h5"))
    bl -= 3;
  if (bl == 0 || bl + 16 >= sizeof p->rel || dl + bl + 512 >= DM_PATH_MAX)
    return dm_error(DM_ERR_ARG, "bad or too long catalog name: %s", catalog_path);
  /* HDF5 reads '%' in a virtual dataset's source name as a format. */
  if (memchr(b, '%', bl))
    return dm_error(DM_ERR_ARG,
                    "catalog %s: its name must not contain '%%' (HDF5 would read the names "
                    "of its parts as a format)",
                    catalog_path);
  snprintf(p->top, sizeof p->top, "%.*s", (int)dl, catalog_path);
  snprintf(p->rel, sizeof p->rel, "%.*s.parts", (int)bl, b);
  memcpy(p->dir, catalog_path, dl);
  memcpy(p->dir + dl, p->rel, strlen(p->rel) + 1);
  return DM_OK;
}

dm_status dm_catparts_name(const dm_catparts *p, const char *input, const char *store_id,
                           char *rel, size_t cap)
{
  const char *b = base_of(input);
  size_t bl = strlen(b);
  if (bl > 3 && !strcmp(b + bl - 3, ".h5"))
    bl -= 3;
  if (bl > 200)
    bl = 200; /* the identity keeps long names apart */
  char name[256];
  for (size_t i = 0; i < bl; i++) {
    char c = b[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '+' || c == '-';
    name[i] = ok ? c : '_';
  }
  name[bl] = '\0';
  if (bl == 0 || strlen(store_id) < ID_DIGITS)
    return dm_error(DM_ERR_ARG, "catalog: no part name for %s", input);
  int w = snprintf(rel, cap, "%s/%s-%.*s.h5", p->rel, name, ID_DIGITS, store_id);
  if (w < 0 || (size_t)w >= cap)
    return dm_error(DM_ERR_ARG, "catalog: part name too long for %s", input);
  return DM_OK;
}

/* Copy `input` to `part` through a temporary of this run (dm_atomic.h). */
static dm_status copy_store(const char *input, const char *part)
{
  dm_atomic a;
  DM_FORWARD(dm_atomic_begin(&a, part));
  dm_status s = DM_OK;
  int in = open(input, O_RDONLY | O_CLOEXEC);
  int out = open(a.tmp_path, O_WRONLY | O_CLOEXEC);
  size_t cap = (size_t)4 << 20;
  char *buf = malloc(cap);
  if (in < 0)
    s = dm_error(DM_ERR_IO, "cannot open %s: %s", input, strerror(errno));
  else if (out < 0)
    s = dm_error(DM_ERR_IO, "cannot open %s: %s", a.tmp_path, dm_strerror_io(errno));
  else if (!buf)
    s = dm_error(DM_ERR_NOMEM, "no memory to copy %s", input);
  while (s == DM_OK) {
    ssize_t n = read(in, buf, cap);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      s = dm_error(DM_ERR_IO, "reading %s failed: %s", input, strerror(errno));
      break;
    }
    if (n == 0)
      break;
    for (ssize_t k = 0; s == DM_OK && k < n;) {
      ssize_t m = write(out, buf + k, (size_t)(n - k));
      if (m < 0 && errno == EINTR)
        continue;
      if (m <= 0)
        s = dm_error(DM_ERR_IO, "writing %s failed: %s", a.tmp_path,
                     dm_strerror_io(m < 0 ? errno : DM_ESHORT));
      else
        k += m;
    }
  }
  free(buf);
  if (in >= 0)
    close(in);
  if (out >= 0 && close(out) != 0 && s == DM_OK)
    s = dm_error(DM_ERR_IO, "writing %s failed: %s", a.tmp_path, dm_strerror_io(errno));
  return dm_atomic_end(&a, s);
}

dm_status dm_catparts_make(const dm_catparts *p, const char *input, const char *rel,
                           const char *store_id, int64_t n_events, int64_t n_objects, int *how)
{
  const char *dir = p->dir;
  char part[DM_PATH_MAX];
  size_t tl = strlen(p->top), rl = strlen(rel);
  if (tl + rl >= sizeof part)
    return dm_error(DM_ERR_ARG, "path too long: %s%s", p->top, rel);
  memcpy(part, p->top, tl);
  memcpy(part + tl, rel, rl + 1);
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return dm_error(DM_ERR_IO, "cannot create the parts folder %s: %s", dir, dm_strerror_io(errno));
  struct stat si, sp;
  if (stat(input, &si) != 0)
    return dm_error(DM_ERR_IO, "cannot open %s: %s", input, strerror(errno));
  if (lstat(part, &sp) == 0) {
    if (S_ISREG(sp.st_mode) && sp.st_dev == si.st_dev && sp.st_ino == si.st_ino) {
      *how = DM_CATPART_KEPT;
      return DM_OK;
    }
    /* A copy made by an earlier catalog: the same store if it carries the
     * same identity and counts (stores are never modified). */
    char id[DM_STORE_ID_LEN];
    int64_t ne = -1, no = -1;
    dm_status s = dm_store_identify(part, id, &ne, &no);
    if (s == DM_OK && !strcmp(id, store_id) && ne == n_events && no == n_objects) {
      *how = DM_CATPART_KEPT;
      return DM_OK;
    }
    if (s != DM_OK)
      dm_error_clear();
    return dm_error(DM_ERR_IO,
                    "catalog: %s exists and is not the store %s (store_id %s): it was not "
                    "made by dmpipe catalog; remove it",
                    part, input, store_id);
  }
  /* AT_SYMLINK_FOLLOW: a sample given through a symbolic link is linked
   * itself, not the link (which may be relative to another folder). */
  if (linkat(AT_FDCWD, input, AT_FDCWD, part, AT_SYMLINK_FOLLOW) == 0) {
    *how = DM_CATPART_LINKED;
    return DM_OK;
  }
  int e = errno;
  if (e != EXDEV && e != EPERM)
    return dm_error(DM_ERR_IO, "catalog: cannot link %s to %s: %s", part, input,
                    dm_strerror_io(e));
  DM_FORWARD(copy_store(input, part));
  *how = DM_CATPART_COPIED;
  return DM_OK;
}

dm_status dm_catparts_sync(const dm_catparts *p)
{
  const char *dir = p->dir;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return dm_error(DM_ERR_IO, "cannot open the parts folder %s: %s", dir, strerror(errno));
  /* Some file systems cannot sync a folder (EINVAL): durable by other means. */
  dm_status s = DM_OK;
  if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
    s = dm_error(DM_ERR_IO, "syncing the parts folder %s failed: %s", dir, dm_strerror_io(errno));
  close(fd);
  return s;
}

/* "NAME-<16 hex>.h5": only files of that form are parts. */
static int is_part_name(const char *n)
{
  size_t l = strlen(n);
  if (l < ID_DIGITS + 5 || strcmp(n + l - 3, ".h5") || n[l - 4 - ID_DIGITS] != '-')
    return 0;
  for (size_t i = l - 3 - ID_DIGITS; i < l - 3; i++)
    if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
      return 0;
  return 1;
}

/* Is "rel/name" a line of `list`? */
static int listed(const char *list, const char *rel, const char *name)
{
  size_t rl = strlen(rel), nl = strlen(name);
  for (const char *l = list; l && *l;) {
    const char *e = strchr(l, '\n');
    size_t ll = e ? (size_t)(e - l) : strlen(l);
    if (ll == rl + 1 + nl && !strncmp(l, rel, rl) && l[rl] == '/' && !strncmp(l + rl + 1, name, nl))
      return 1;
    l = e ? e + 1 : NULL;
  }
  return 0;
}

int dm_catparts_prune(const dm_catparts *p, const char *catalog_path)
{
  dm_atomic a;
  if (dm_atomic_begin(&a, catalog_path) != DM_OK) {
    dm_error_clear(); /* another run writes it: it prunes after itself */
    return 0;
  }
  char *keep = NULL;
  int ok = 1, removed = 0;
  struct stat st;
  if (stat(catalog_path, &st) == 0 && dm_store_catalog_parts(catalog_path, &keep) != DM_OK) {
    ok = 0; /* unreadable: it may still name them */
    dm_error_clear();
  }
  const char *dir = p->dir;
  DIR *d = ok ? opendir(dir) : NULL;
  struct dirent *e;
  int left = 0;
  while (d && (e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    if (!is_part_name(e->d_name) || listed(keep, p->rel, e->d_name)) {
      left++;
      continue;
    }
    char path[DM_PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path) == 0)
      removed++;
    else
      left++;
  }
  if (d) {
    closedir(d);
    if (!left)
      rmdir(dir);
  }
  free(keep);
  dm_atomic_abort(&a);
  return removed;
}
