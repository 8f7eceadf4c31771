/* The CSV submission, read by byte ranges (dm_evaluate_csv.h). */
#include "dm_evaluate_csv.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dm_comm.h"
#include "dm_instream.h"
#include "dm_text.h"

/* Bytes read per step. */
#define STEP ((int64_t)1 << 20)
/* Bytes of a bad field shown in a message. */
#define SHOWN 40

typedef enum { BAD_NONE = 0, BAD_FIELDS, BAD_ID, BAD_SCORE } bad_kind;

/* A bad line, kept until its global line number is known. */
typedef struct {
  bad_kind kind;
  int64_t line; /* among this rank's lines, from 1 */
  int nf;
  int64_t id;
  char text[SHOWN];
  int text_len;
} bad_line;

/* What a rank makes of its lines. */
typedef struct {
  int64_t lines;   /* lines taken so far */
  int nonblank;    /* one of them is not blank */
  bad_line header; /* the first non-blank line, skipped as a header (BAD_ID) */
  bad_line bad;    /* the line that stopped the reading */
  int64_t n, cap;
  int64_t *ids;
  double *scores;
} part;

static dm_status parse_id(const char *f, size_t fl, int64_t *out)
{
  char b[32];
  if (fl == 0 || fl >= sizeof b)
    return DM_ERR_FORMAT;
  memcpy(b, f, fl);
  b[fl] = 0;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(b, &end, 10);
  if (errno || *end)
    return DM_ERR_FORMAT;
  *out = v;
  return DM_OK;
}

static void note_bad(bad_line *b, bad_kind k, int64_t line, const char *f, size_t fl)
{
  b->kind = k;
  b->line = line;
  b->text_len = (int)(fl > SHOWN ? SHOWN : fl);
  memcpy(b->text, f, (size_t)b->text_len);
}

/* One line (without its newline, nor a CR before it). 1: go on; 0: stop at
 * a bad line (p->bad) or on a failure (*s). */
static int take_line(part *p, const char *line, size_t ll, dm_status *s)
{
  p->lines++;
  const char *f[3];
  size_t fl[3];
  int nf = dm_text_split(line, ll, 1, f, fl, 3);
  if (nf == 1 && fl[0] == 0)
    return 1; /* blank */
  /* Whether it is the file's first non-blank line is known only once the
   * ranks before have said whether they hold one: a first one of this rank
   * that fails as an event ID is kept aside as a header for now. */
  int first = !p->nonblank;
  p->nonblank = 1;
  if (nf != 2) {
    note_bad(&p->bad, BAD_FIELDS, p->lines, "", 0);
    p->bad.nf = nf < 0 ? 4 : nf;
    return 0;
  }
  int64_t id;
  double v;
  if (parse_id(f[0], fl[0], &id) != DM_OK) {
    note_bad(first ? &p->header : &p->bad, BAD_ID, p->lines, f[0], fl[0]);
    return first;
  }
  if (!dm_text_f64(f[1], fl[1], &v)) {
    note_bad(&p->bad, BAD_SCORE, p->lines, f[1], fl[1]);
    p->bad.id = id;
    return 0;
  }
  if (p->n == p->cap) {
    int64_t cap = p->cap ? 2 * p->cap : 1024;
    int64_t *a = realloc(p->ids, sizeof(int64_t) * (size_t)cap);
    if (a)
      p->ids = a;
    double *b = realloc(p->scores, sizeof(double) * (size_t)cap);
    if (b)
      p->scores = b;
    if (!a || !b) {
      *s = dm_error(DM_ERR_NOMEM, "no memory for %lld scores", (long long)cap);
      return 0;
    }
    p->cap = cap;
  }
  p->ids[p->n] = id;
  p->scores[p->n] = v;
  p->n++;
  return 1;
}

/* The lines starting in bytes [a, e) of the file, in order, until one is bad.
 * buf holds file bytes [boff, boff + len); its first `cur` are done. */
static dm_status read_lines(const char *path, int64_t a, int64_t e, part *p)
{
  dm_instream *in = NULL;
  DM_FORWARD(dm_instream_open(path, DM_INSTREAM_PLAIN, 0, &in));
  size_t cap = (size_t)(2 * STEP), len = 0, cur = 0;
  char *buf = malloc(cap);
  dm_status s = buf ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory to read %s", path);
  /* From the byte before the block: the first line start at or after a is
   * just after the first newline found from there. */
  int64_t boff = a > 0 ? a - 1 : 0;
  int started = a == 0, eof = 0, go = 1;
  while (s == DM_OK && go) {
    if (cur > 0) {
      memmove(buf, buf + cur, len - cur);
      boff += (int64_t)cur;
      len -= cur;
      cur = 0;
    }
    if (cap - len < (size_t)STEP) { /* a line longer than what is held */
      char *nb = realloc(buf, 2 * cap);
      if (!nb) {
        s = dm_error(DM_ERR_NOMEM, "no memory for a line of %s of over %zu bytes", path, len);
        break;
      }
      buf = nb;
      cap *= 2;
    }
    int64_t k = dm_instream_pread(in, buf + len, STEP, boff + (int64_t)len);
    if (k < 0) {
      s = dm_error(DM_ERR_IO, "submission %s: read error", path);
      break;
    }
    len += (size_t)k;
    eof = k < STEP;
    if (!started) {
      const char *nl = memchr(buf, '\n', len);
      if (!nl) {
        /* No line starts in the block when the line before runs past it. */
        go = !eof && boff + (int64_t)len < e;
        cur = len;
        continue;
      }
      cur = (size_t)(nl - buf) + 1;
      started = 1;
    }
    /* Complete lines only, unless the file ends here. */
    size_t lim = len;
    if (!eof) {
      const char *nl = cur < len ? memrchr(buf + cur, '\n', len - cur) : NULL;
      lim = nl ? (size_t)(nl - buf) + 1 : cur;
    }
    const char *line;
    size_t ll;
    while (go && boff + (int64_t)cur < e && dm_text_next_line(buf, lim, &cur, &line, &ll))
      go = take_line(p, line, ll, &s);
    if (boff + (int64_t)cur >= e || eof)
      go = 0;
  }
  free(buf);
  dm_instream_close(in);
  return s;
}

static dm_status report(const char *path, const bad_line *b, int64_t line)
{
  switch (b->kind) {
  case BAD_FIELDS:
    return dm_error(DM_ERR_FORMAT, "%s:%lld: expected 2 fields event_id,score, found %d", path,
                    (long long)line, b->nf);
  case BAD_ID:
    return dm_error(DM_ERR_FORMAT, "%s:%lld: event ID '%.*s' is not an integer", path,
                    (long long)line, b->text_len, b->text);
  case BAD_SCORE:
    return dm_error(DM_ERR_FORMAT, "%s:%lld: score '%.*s' of event %lld is not a finite number",
                    path, (long long)line, b->text_len, b->text, (long long)b->id);
  default: return DM_OK;
  }
}

dm_status dm_evaluate_read_csv(const char *path, MPI_Comm comm, int64_t **ids, double **scores,
                               int64_t *n)
{
  *ids = NULL;
  *scores = NULL;
  *n = 0;
  int rank = dm_rank(comm), size = dm_size(comm);
  /* The size as rank 0 sees it: every rank splits the same bytes. */
  int64_t bytes = 0;
  dm_status s = DM_OK;
  if (rank == 0) {
    struct stat st;
    if (stat(path, &st) != 0)
      s = dm_error(DM_ERR_IO, "submission %s: %s", path, strerror(errno));
    else
      bytes = (int64_t)st.st_size;
  }
  DM_FORWARD_AGREED(s, comm);
  MPI_Bcast(&bytes, 1, MPI_INT64_T, 0, comm);
  int64_t a, e;
  dm_partition(bytes, rank, size, &a, &e);
  part p;
  memset(&p, 0, sizeof p);
  if (a < e)
    s = read_lines(path, a, e, &p);
  /* A rank that stopped early counted only part of its lines; only ranks
   * after it use that count, and their failures come later in the file. */
  int64_t lines_before = 0, nonblank_before = 0;
  dm_exscan_i64(p.lines, comm, &lines_before, NULL);
  dm_exscan_i64(p.nonblank, comm, &nonblank_before, NULL);
  /* A header after a non-blank line is a bad event ID; being this rank's
   * first non-blank line, it comes before any other bad line of the rank. */
  if (p.header.kind != BAD_NONE && nonblank_before > 0)
    p.bad = p.header;
  if (s == DM_OK && p.bad.kind != BAD_NONE)
    s = report(path, &p.bad, lines_before + p.bad.line);
  /* Scores travel to the label ranks in counts of int. */
  if (s == DM_OK && p.n > INT_MAX)
    s = dm_error(DM_ERR_ARG, "%s: %lld scores on one rank: too many per rank, use more ranks",
                 path, (long long)p.n);
  s = dm_agree_first(s, comm);
  if (s != DM_OK) {
    free(p.ids);
    free(p.scores);
    return s;
  }
  *ids = p.ids;
  *scores = p.scores;
  *n = p.n;
  return DM_OK;
}
