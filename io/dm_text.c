#include "dm_text.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"

dm_status dm_text_read_file(const char *path, const char *what, size_t max_bytes, char **buf,
                            size_t *len)
{
  const char *sp = what ? " " : "";
  what = what ? what : "";
  *buf = NULL;
  *len = 0;
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return dm_error(DM_ERR_IO, "%s%s%s: %s", what, sp, path, strerror(errno));
  /* Grown by doubling rather than sized by seeking: pipes and /dev/stdin
   * have no size. */
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap + 1);
  dm_status st = DM_OK;
  while (b) {
    if (n == cap) {
      if (cap >= max_bytes) {
        st = dm_error(DM_ERR_FORMAT, "%s%s%s: larger than %zu bytes", what, sp, path,
                      max_bytes);
        break;
      }
      char *nb = realloc(b, cap * 2 + 1);
      if (!nb) {
        free(b);
        b = NULL;
        break;
      }
      b = nb;
      cap *= 2;
    }
    size_t got = fread(b + n, 1, cap - n, fp);
    n += got;
    if (got == 0) {
      if (ferror(fp))
        st = dm_error(DM_ERR_IO, "%s%s%s: read error", what, sp, path);
      break;
    }
  }
  fclose(fp);
  if (!b)
    return dm_error(DM_ERR_NOMEM, "%s%s%s: out of memory", what, sp, path);
  if (st == DM_OK && n > max_bytes)
    st = dm_error(DM_ERR_FORMAT, "%s%s%s: larger than %zu bytes", what, sp, path, max_bytes);
  if (st != DM_OK) {
    free(b);
    return st;
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return DM_OK;
}

dm_status dm_text_read_bcast(const char *path, const char *what, size_t max_bytes,
                             MPI_Comm comm, char **buf, size_t *len)
{
  *buf = NULL;
  *len = 0;
  if (max_bytes >= INT_MAX)
    max_bytes = INT_MAX - 1;
  char *b = NULL;
  size_t n = 0;
  dm_status s = dm_rank(comm) == 0 ? dm_text_read_file(path, what, max_bytes, &b, &n) : DM_OK;
  DM_FORWARD(dm_agree(s, comm));
  long long nn = (long long)n;
  MPI_Bcast(&nn, 1, MPI_LONG_LONG, 0, comm);
  if (dm_rank(comm) != 0) {
    n = (size_t)nn;
    b = malloc(n + 1);
  }
  s = dm_agree(b ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for %s", path), comm);
  if (s != DM_OK) {
    free(b);
    return s;
  }
  MPI_Bcast(b, (int)n, MPI_CHAR, 0, comm);
  b[n] = '\0';
  *buf = b;
  *len = n;
  return DM_OK;
}

int dm_text_next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *ll)
{
  size_t p = *pos;
  if (p >= len)
    return 0;
  size_t end = p;
  while (end < len && text[end] != '\n')
    end++;
  *line = text + p;
  *ll = end - p;
  if (*ll && text[end - 1] == '\r')
    (*ll)--;
  *pos = end + 1;
  return 1;
}

int dm_text_split(const char *line, size_t len, int trim, const char **f, size_t *fl, int cap)
{
  int n = 0;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && line[i] != ',')
      continue;
    if (n == cap)
      return -1;
    const char *a = line + start;
    size_t l = i - start;
    if (trim) {
      while (l && (*a == ' ' || *a == '\t')) {
        a++;
        l--;
      }
      while (l && (a[l - 1] == ' ' || a[l - 1] == '\t'))
        l--;
    }
    f[n] = a;
    fl[n] = l;
    n++;
    start = i + 1;
  }
  return n;
}

int dm_text_f64(const char *f, size_t fl, double *out)
{
  char buf[64];
  if (fl == 0 || fl >= sizeof buf)
    return 0;
  memcpy(buf, f, fl);
  buf[fl] = '\0';
  char *e = NULL;
  errno = 0;
  double v = strtod(buf, &e);
  if (*e != '\0' || errno == ERANGE || !isfinite(v))
    return 0;
  *out = v;
  return 1;
}
