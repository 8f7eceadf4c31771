#include "dm_proctable.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_prov.h"
#include "dm_text.h"

#ifndef DM_DATA_DIR
#define DM_DATA_DIR "data"
#endif

/* Tables are small (tens of lines); anything huge is the wrong file. */
#define DM_PROCTABLE_MAX_BYTES (64 << 20)

struct dm_proctable {
  char *source;
  char checksum[33];
  int64_t size;
  int n;
  dm_process *procs;
  char *arena; /* every string of procs points in here */
};

enum { COL_NAME, COL_KIND, COL_SIGMA, COL_GEN_CUT, COL_N10FB, COL_MODEL, COL_ALIASES, COL_DESC,
       NCOLS };
static const char *const col_names[NCOLS] = {"name",  "kind",    "sigma_pb", "gen_cut",
                                             "n_10fb", "model", "aliases",  "description"};

const char *dm_proctable_default_path(void)
{
  static char path[4200];
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      snprintf(path, sizeof path, "%s/../share/dmpipe/processes.csv", exe);
      if (access(path, R_OK) == 0)
        return path;
    }
  }
  snprintf(path, sizeof path, "%s/processes.csv", DM_DATA_DIR);
  return path;
}

/* Split one line into fields, unquoting into the arena. Returns the number of
 * fields, or -1 with an error recorded. */
static int split_fields(const char *line, size_t len, char **arena, char **fields, int cap,
                        const char *source, int lineno)
{
  int nf = 0;
  size_t i = 0;
  for (;;) {
    if (nf == cap)
      return dm_error(DM_ERR_FORMAT, "%s:%d: more than %d fields", source, lineno, cap), -1;
    char *out = *arena;
    fields[nf++] = out;
    if (i < len && line[i] == '"') {
      i++;
      for (;;) {
        if (i >= len)
          return dm_error(DM_ERR_FORMAT, "%s:%d: unterminated quoted field %d", source, lineno,
                          nf),
                 -1;
        if (line[i] == '"') {
          if (i + 1 < len && line[i + 1] == '"') {
            *out++ = '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        *out++ = line[i++];
      }
      if (i < len && line[i] != ',')
        return dm_error(DM_ERR_FORMAT, "%s:%d: text after closing quote in field %d", source,
                        lineno, nf),
               -1;
    } else {
      while (i < len && line[i] != ',')
        *out++ = line[i++];
    }
    /* Surrounding blanks are layout, not data. */
    while (out > fields[nf - 1] && (out[-1] == ' ' || out[-1] == '\t'))
      out--;
    *out++ = '\0';
    char *f = fields[nf - 1];
    size_t lead = strspn(f, " \t");
    if (lead)
      memmove(f, f + lead, strlen(f + lead) + 1);
    *arena = out;
    if (i >= len)
      return nf;
    i++; /* the comma */
  }
}

static int valid_name(const char *s)
{
  if (!*s)
    return 0;
  for (; *s; s++)
    if (*s == ';' || *s == ',' || isspace((unsigned char)*s) || (unsigned char)*s < 0x20)
      return 0;
  return 1;
}

/* Matches `name` (length len) against a space-separated alias list. */
static int alias_match(const char *aliases, const char *name, size_t len)
{
  const char *p = aliases;
  while (*p) {
    while (*p == ' ')
      p++;
    const char *e = p;
    while (*e && *e != ' ')
      e++;
    if ((size_t)(e - p) == len && len && !memcmp(p, name, len))
      return 1;
    p = e;
  }
  return 0;
}

int dm_proctable_index_n(const dm_proctable *t, const char *name, size_t len)
{
  if (!t)
    return -1;
  for (int i = 0; i < t->n; i++)
    if (strlen(t->procs[i].name) == len && !memcmp(t->procs[i].name, name, len))
      return i;
  for (int i = 0; i < t->n; i++)
    if (alias_match(t->procs[i].aliases, name, len))
      return i;
  return -1;
}

int dm_proctable_index(const dm_proctable *t, const char *name)
{
  return name ? dm_proctable_index_n(t, name, strlen(name)) : -1;
}

static dm_status parse_row(dm_proctable *t, char **f, const int *col, const char *source,
                           int lineno)
{
  dm_process *p = &t->procs[t->n];
  static char empty[] = "";
  const char *v[NCOLS];
  for (int c = 0; c < NCOLS; c++)
    v[c] = col[c] >= 0 ? f[col[c]] : empty;

  if (!valid_name(v[COL_NAME]))
    return dm_error(DM_ERR_FORMAT,
                    "%s:%d: process name '%s' is empty or holds ';', ',' or blanks", source,
                    lineno, v[COL_NAME]);
  p->name = v[COL_NAME];

  if (!strcmp(v[COL_KIND], "sm"))
    p->kind = DM_PROC_SM;
  else if (!strcmp(v[COL_KIND], "bsm"))
    p->kind = DM_PROC_BSM;
  else
    return dm_error(DM_ERR_FORMAT, "%s:%d: kind '%s' of %s must be 'sm' or 'bsm'", source, lineno,
                    v[COL_KIND], p->name);

  const char *s = v[COL_SIGMA];
  if (!*s || !strcasecmp(s, "unknown")) {
    p->sigma_pb = NAN;
  } else {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*end || errno || !isfinite(x) || x < 0)
      return dm_error(DM_ERR_FORMAT,
                      "%s:%d: sigma_pb '%s' of %s is not a finite number >= 0 (or 'unknown')",
                      source, lineno, s, p->name);
    p->sigma_pb = x;
  }

  s = v[COL_N10FB];
  if (!*s) {
    p->n_10fb = -1;
  } else {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end || errno || x < 0)
      return dm_error(DM_ERR_FORMAT, "%s:%d: n_10fb '%s' of %s is not an integer >= 0", source,
                      lineno, s, p->name);
    p->n_10fb = x;
  }
  p->gen_cut = v[COL_GEN_CUT];
  p->model = v[COL_MODEL];
  p->aliases = v[COL_ALIASES];
  p->description = v[COL_DESC];
  p->line = lineno;

  /* Every alias token must itself be a valid, unique name. */
  const char *a = p->aliases;
  while (*a) {
    while (*a == ' ')
      a++;
    const char *e = a;
    while (*e && *e != ' ')
      e++;
    if (e > a) {
      for (const char *q = a; q < e; q++)
        if (*q == ';' || *q == ',' || (unsigned char)*q < 0x20)
          return dm_error(DM_ERR_FORMAT, "%s:%d: alias '%.*s' holds ';' or ','", source, lineno,
                          (int)(e - a), a);
      if (dm_proctable_index_n(t, a, (size_t)(e - a)) >= 0 ||
          ((size_t)(e - a) == strlen(p->name) && !memcmp(a, p->name, (size_t)(e - a))))
        return dm_error(DM_ERR_FORMAT, "%s:%d: alias '%.*s' is already a name or alias", source,
                        lineno, (int)(e - a), a);
    }
    a = e;
  }
  int dup = dm_proctable_index(t, p->name);
  if (dup >= 0)
    return dm_error(DM_ERR_FORMAT, "%s:%d: process '%s' already defined on line %d", source,
                    lineno, p->name, t->procs[dup].line);
  /* A later name equal to an earlier alias was caught above; an earlier name
   * equal to a later alias is caught when the alias is checked. */
  t->n++;
  return DM_OK;
}

dm_status dm_proctable_parse(const char *text, size_t len, const char *source,
                             dm_proctable **out)
{
  *out = NULL;
  if (!source)
    source = "process table";
  dm_proctable *t = calloc(1, sizeof *t);
  if (!t)
    return dm_error(DM_ERR_NOMEM, "%s: out of memory", source);
  t->source = strdup(source);
  t->size = (int64_t)len;
  dm_checksum_buf(text, len, t->checksum);
  /* Unquoted fields never grow and each gains one NUL: 2*len bounds the arena. */
  t->arena = malloc(2 * len + 16);
  size_t max_rows = 1;
  for (size_t i = 0; i < len; i++)
    max_rows += text[i] == '\n';
  t->procs = calloc(max_rows, sizeof *t->procs);
  if (!t->source || !t->arena || !t->procs) {
    dm_proctable_free(t);
    return dm_error(DM_ERR_NOMEM, "%s: out of memory", source);
  }
  char *arena = t->arena;
  int col[NCOLS] = {-1, -1, -1, -1, -1, -1, -1, -1};
  int have_header = 0, ncol_file = 0;
  enum { MAXF = 64 };
  char *f[MAXF];
  dm_status st = DM_OK;
  int lineno = 0;
  size_t pos = 0;
  const char *line;
  size_t ll;
  while (st == DM_OK && dm_text_next_line(text, len, &pos, &line, &ll)) {
    lineno++;
    if (memchr(line, '\0', ll)) {
      st = dm_error(DM_ERR_FORMAT, "%s:%d: NUL byte (not a text file?)", source, lineno);
      break;
    }
    size_t k = 0;
    while (k < ll && (line[k] == ' ' || line[k] == '\t'))
      k++;
    if (k == ll || line[k] == '#')
      continue;
    int nf = split_fields(line, ll, &arena, f, MAXF, source, lineno);
    if (nf < 0) {
      st = DM_ERR_FORMAT;
      break;
    }
    if (!have_header) {
      for (int c = 0; c < NCOLS; c++)
        col[c] = -1;
      for (int i = 0; i < nf; i++)
        for (int c = 0; c < NCOLS; c++)
          if (!strcmp(f[i], col_names[c])) {
            if (col[c] >= 0) {
              st = dm_error(DM_ERR_FORMAT, "%s:%d: header names column '%s' twice", source,
                            lineno, f[i]);
              break;
            }
            col[c] = i;
          }
      for (int c = 0; c < 3 && st == DM_OK; c++)
        if (col[c] < 0)
          st = dm_error(DM_ERR_FORMAT,
                        "%s:%d: header lacks column '%s' (need name,kind,sigma_pb; the first "
                        "non-comment line is the header)",
                        source, lineno, col_names[c]);
      have_header = 1;
      ncol_file = nf;
      continue;
    }
    if (nf != ncol_file) {
      st = dm_error(DM_ERR_FORMAT, "%s:%d: %d fields, header has %d", source, lineno, nf,
                    ncol_file);
      break;
    }
    st = parse_row(t, f, col, source, lineno);
  }
  if (st == DM_OK && !have_header)
    st = dm_error(DM_ERR_FORMAT, "%s: no header line (need name,kind,sigma_pb)", source);
  if (st == DM_OK && t->n == 0)
    st = dm_error(DM_ERR_FORMAT, "%s: no processes after the header", source);
  if (st != DM_OK) {
    dm_proctable_free(t);
    return st;
  }
  *out = t;
  return DM_OK;
}

static dm_status read_file(const char *path, char **buf, size_t *len)
{
  return dm_text_read_file(path, "process table", DM_PROCTABLE_MAX_BYTES, buf, len);
}

dm_status dm_proctable_load(const char *path, dm_proctable **out)
{
  *out = NULL;
  if (!path || !*path)
    path = dm_proctable_default_path();
  char *buf;
  size_t len;
  DM_FORWARD(read_file(path, &buf, &len));
  dm_status st = dm_proctable_parse(buf, len, path, out);
  free(buf);
  return st;
}

dm_status dm_proctable_load_comm(const char *path, MPI_Comm comm, dm_proctable **out)
{
  *out = NULL;
  if (!path || !*path)
    path = dm_proctable_default_path();
  char *buf = NULL;
  size_t len = 0;
  dm_status st = DM_OK;
  /* Rank 0 alone touches the file system and validates; the others parse the
   * broadcast bytes, which cannot fail differently. */
  if (dm_rank(comm) == 0) {
    st = read_file(path, &buf, &len);
    if (st == DM_OK) {
      st = dm_proctable_parse(buf, len, path, out);
    }
  }
  long long hdr[2] = {(long long)st, (long long)len};
  MPI_Bcast(hdr, 2, MPI_LONG_LONG, 0, comm);
  if (hdr[0] != DM_OK) {
    free(buf);
    if (dm_rank(comm) != 0)
      st = dm_error_remote((dm_status)hdr[0], "process table %s: failed on rank 0 (see its message)",
                    path);
    return st;
  }
  if (dm_rank(comm) != 0) {
    len = (size_t)hdr[1];
    buf = malloc(len + 1);
  }
  /* Every rank must join the broadcast even if its allocation failed, then
   * agree; the table is tiny, so INT_MAX is never a concern. */
  int have = buf != NULL;
  if (!dm_alltrue(have, comm)) {
    free(buf);
    dm_proctable_free(*out);
    *out = NULL;
    return dm_error(DM_ERR_NOMEM, "process table %s: out of memory", path);
  }
  MPI_Bcast(buf, (int)len, MPI_CHAR, 0, comm);
  if (dm_rank(comm) != 0)
    st = dm_proctable_parse(buf, len, path, out);
  free(buf);
  return dm_agree(st, comm);
}

void dm_proctable_free(dm_proctable *t)
{
  if (!t)
    return;
  free(t->source);
  free(t->arena);
  free(t->procs);
  free(t);
}

int dm_proctable_count(const dm_proctable *t) { return t ? t->n : 0; }

const dm_process *dm_proctable_get(const dm_proctable *t, int i)
{
  return t && i >= 0 && i < t->n ? &t->procs[i] : NULL;
}

const dm_process *dm_proctable_find(const dm_proctable *t, const char *name)
{
  int i = dm_proctable_index(t, name);
  return i >= 0 ? &t->procs[i] : NULL;
}

dm_status dm_proctable_lookup(const dm_proctable *t, const char *name, int require_sigma,
                              const dm_process **out)
{
  *out = NULL;
  const dm_process *p = dm_proctable_find(t, name);
  if (!p)
    return dm_error(DM_ERR_UNKNOWN, "process '%s' is not in the process table %s (add a line or "
                                    "pass your own table with --xsec FILE)",
                    name, t ? t->source : "(none)");
  if (require_sigma && !isfinite(p->sigma_pb))
    return dm_error(DM_ERR_UNKNOWN,
                    "%s:%d: the cross section of process '%s' is unknown; put it (in pb) in the "
                    "sigma_pb column",
                    t->source, p->line, p->name);
  *out = p;
  return DM_OK;
}

const char *dm_proctable_source(const dm_proctable *t) { return t ? t->source : ""; }
const char *dm_proctable_checksum(const dm_proctable *t) { return t ? t->checksum : ""; }
int64_t dm_proctable_size(const dm_proctable *t) { return t ? t->size : 0; }
