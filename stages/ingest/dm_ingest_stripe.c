/* Loading and parsing one stripe (dm_ingest_stripe.h). */
#include "dm_ingest_stripe.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "dm_ingest.h"
#include "dm_instream.h"

/* Extra bytes read past a stripe's end per step while finishing its last
 * line: most lines are a few hundred bytes, so one small step suffices. */
#define EXTEND_STEP ((int64_t)64 << 10)

static void fail(dm_stripe_buf *b, dm_status s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->message, sizeof b->message, fmt, ap);
  va_end(ap);
  b->status = s;
}

dm_status dm_stripe_buf_init(dm_stripe_buf *b, int64_t stripe_bytes, int64_t hash_block)
{
  memset(b, 0, sizeof *b);
  b->ref.file = -1;
  b->hash_block = hash_block;
  /* The stripe, the byte before it, and its last line's rest (at most
   * DM_INGEST_MAX_LINE + 1 bytes past the end, read in steps). */
  b->cap = stripe_bytes + 1 + DM_INGEST_MAX_LINE + EXTEND_STEP + 1;
  b->buf = malloc((size_t)b->cap);
  b->cap_leaves = (int)(stripe_bytes / hash_block) + 1;
  b->leaves = malloc((size_t)b->cap_leaves * 16);
  if (!b->buf || !b->leaves) {
    free(b->buf);
    free(b->leaves);
    memset(b, 0, sizeof *b);
    return dm_error(DM_ERR_NOMEM, "no memory for a stripe buffer of %lld MiB",
                    (long long)(stripe_bytes >> 20));
  }
  return DM_OK;
}

void dm_stripe_buf_free(dm_stripe_buf *b)
{
  free(b->buf);
  free(b->leaves);
  memset(b, 0, sizeof *b);
}

/* Where a stripe's bytes come from: the file itself, or the decoded content
 * of a compressed one. */
typedef struct {
  int fd;
  dm_instream *zs;
} reader;

static int64_t read_full_fd(int fd, char *dst, int64_t n, int64_t off);

/* Exactly n bytes at off (fewer only at the end); -1 on failure (errno, or
 * the stream's message: see read_failed). */
static int64_t read_full(const reader *r, char *dst, int64_t n, int64_t off)
{
  return r->zs ? dm_instream_pread(r->zs, dst, n, off) : read_full_fd(r->fd, dst, n, off);
}

/* A failed read: the stream's own message (it names the file and says what
 * is wrong with the data), or the system's. */
static void read_failed(dm_stripe_buf *b, const reader *r, const char *path, int64_t pos)
{
  if (r->zs)
    fail(b, DM_ERR_FORMAT, "%s", dm_instream_message(r->zs));
  else
    fail(b, DM_ERR_IO, "reading %s at byte %lld: %s", path, (long long)pos, strerror(errno));
}

/* pread until n bytes or the end of the file. */
static int64_t read_full_fd(int fd, char *dst, int64_t n, int64_t off)
{
  int64_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, dst + got, (size_t)(n - got), (off_t)(off + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -1;
    if (r == 0)
      break;
    got += r;
  }
  return got;
}

void dm_stripe_src_close(dm_stripe_src *src)
{
  dm_instream_close(src->s);
  src->s = NULL;
  src->file = -1;
}

/* The window a rank's stream keeps: a rank's next stripe starts one byte
 * before the end of its last one, and finishing that one's last line reads
 * at most a line and a step past its end. */
#define STREAM_HISTORY (DM_INGEST_MAX_LINE + 4 * EXTEND_STEP)

void dm_stripe_load(dm_stripe_buf *b, const char *path, int64_t file_size, dm_stripe_ref ref,
                    int kind, dm_stripe_src *src)
{
  b->ref = ref;
  b->status = DM_OK;
  b->message[0] = '\0';
  b->len = b->own_begin = b->own_end = 0;
  b->last_unterminated = b->last_too_long = 0;
  b->last_line_len = 0;
  b->n_leaves = 0;
  if (ref.file < 0)
    return;
  reader rd = {-1, NULL};
  if (kind != DM_INSTREAM_PLAIN) {
    if (src->file != ref.file) {
      dm_stripe_src_close(src);
      dm_status s = dm_instream_open(path, (dm_instream_kind)kind, STREAM_HISTORY, &src->s);
      if (s != DM_OK) {
        fail(b, s, "%s", dm_error_message());
        return;
      }
      src->file = ref.file;
    }
    rd.zs = src->s;
  }
  /* (close(-1) below is a harmless no-op for a compressed input.) */
  int fd = rd.zs ? -1 : open(path, O_RDONLY);
  rd.fd = fd;
  if (!rd.zs && fd < 0) {
    fail(b, DM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    return;
  }
  int64_t a = ref.begin, e = ref.end;
  int64_t a0 = a > 0 ? a - 1 : 0;
  b->buf_off = a0;
  int64_t want = e - a0;
  int64_t got = read_full(&rd, b->buf, want, a0);
  if (got != want) {
    if (got < 0)
      read_failed(b, &rd, path, a0);
    else
      fail(b, DM_ERR_IO, "%s shrank while being read (%lld bytes expected at %lld)", path,
           (long long)want, (long long)a0);
    close(fd);
    return;
  }
  b->len = got;

  /* Checksum leaves of the stripe's own bytes [a, e) (of the file as
   * given: a compressed one is hashed whole, elsewhere). */
  const char *own = b->buf + (a - a0);
  for (int64_t off = 0; !rd.zs && off < e - a; off += b->hash_block) {
    int64_t n = e - a - off < b->hash_block ? e - a - off : b->hash_block;
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(own + off, (size_t)n));
    memcpy(b->leaves + 16 * b->n_leaves++, c.digest, 16);
  }

  /* First owned line: the file start, or just after the first newline at or
   * after byte a-1. None if that newline is the stripe's last byte. */
  int64_t ob = 0;
  if (a > 0) {
    const char *nl = memchr(b->buf, '\n', (size_t)b->len);
    ob = nl ? nl - b->buf + 1 : b->len;
  }
  b->own_begin = ob;
  if (ob >= b->len) {
    b->own_end = ob = b->len;
    close(fd);
    return;
  }
  /* Last owned line: the one holding byte e-1; finish it past e. */
  if (b->buf[b->len - 1] == '\n') {
    b->own_end = b->len;
  } else if (e >= file_size) {
    b->own_end = b->len;
    b->last_unterminated = 1;
  } else {
    const char *lnl = memrchr(b->buf + ob, '\n', (size_t)(b->len - ob));
    int64_t ls = lnl ? lnl - b->buf + 1 : ob;
    int64_t scanned = b->len;
    for (;;) {
      int64_t step = EXTEND_STEP;
      if (b->len + step > b->cap)
        step = b->cap - b->len;
      int64_t r = step > 0 ? read_full(&rd, b->buf + b->len, step, b->buf_off + b->len) : 0;
      if (r < 0) {
        read_failed(b, &rd, path, b->buf_off + b->len);
        close(fd);
        return;
      }
      b->len += r;
      const char *nl = memchr(b->buf + scanned, '\n', (size_t)(b->len - scanned));
      scanned = b->len;
      if (nl) {
        b->own_end = nl - b->buf + 1;
        break;
      }
      if (b->buf_off + b->len >= file_size || r == 0) {
        b->own_end = b->len;
        b->last_unterminated = 1;
        break;
      }
      if (b->len - ls > DM_INGEST_MAX_LINE) {
        b->own_end = b->len;
        b->last_too_long = 1;
        /* Its length, for the rejects file: scan on through the buffer's
         * last step (what was loaded is kept for the line's prefix). */
        int64_t pos = b->buf_off + b->len, full = -1;
        char *scratch = b->buf + b->cap - EXTEND_STEP;
        while (full < 0) {
          int64_t r2 = read_full(&rd, scratch, EXTEND_STEP, pos);
          if (r2 < 0) {
            read_failed(b, &rd, path, pos);
            close(fd);
            return;
          }
          const char *nl2 = r2 > 0 ? memchr(scratch, '\n', (size_t)r2) : NULL;
          if (nl2)
            full = pos + (nl2 - scratch) - (b->buf_off + ls);
          else if (r2 < EXTEND_STEP)
            full = pos + r2 - (b->buf_off + ls);
          pos += r2;
        }
        b->last_line_len = full;
        break;
      }
    }
  }
  close(fd);
}

/* ---- pieces ------------------------------------------------------------------ */

void dm_piece_reset(dm_piece *p)
{
  dm_events_clear(&p->ev);
  p->names_len = 0;
  p->n_names = 0;
  for (int i = 0; i < p->n_slots; i++)
    p->slots[i] = -1;
  p->last = -1;
  p->rejects.len = 0;
  p->n_lines = p->n_bad = p->inexact_values = p->inexact_events = 0;
  memset(p->bad, 0, sizeof p->bad);
}

void dm_piece_free(dm_piece *p)
{
  dm_events_free(&p->ev);
  free(p->names);
  free(p->name_off);
  free(p->name_len);
  free(p->slots);
  free(p->rejects.data);
  memset(p, 0, sizeof *p);
}

static uint64_t name_hash(const char *s, size_t n) { return XXH3_64bits(s, n); }

static int rehash(dm_piece *p, int n_slots)
{
  int32_t *s = malloc((size_t)n_slots * sizeof *s);
  if (!s)
    return 0;
  for (int i = 0; i < n_slots; i++)
    s[i] = -1;
  for (int k = 0; k < p->n_names; k++) {
    uint64_t h = name_hash(p->names + p->name_off[k], (size_t)p->name_len[k]);
    int i = (int)(h & (uint64_t)(n_slots - 1));
    while (s[i] >= 0)
      i = (i + 1) & (n_slots - 1);
    s[i] = k;
  }
  free(p->slots);
  p->slots = s;
  p->n_slots = n_slots;
  return 1;
}

int dm_piece_name_index(dm_piece *p, const char *s, size_t n)
{
  if (p->last >= 0 && (size_t)p->name_len[p->last] == n &&
      !memcmp(p->names + p->name_off[p->last], s, n))
    return p->last;
  if (p->n_slots == 0 && !rehash(p, 64))
    return -1;
  uint64_t h = name_hash(s, n);
  int i = (int)(h & (uint64_t)(p->n_slots - 1));
  while (p->slots[i] >= 0) {
    int k = p->slots[i];
    if ((size_t)p->name_len[k] == n && !memcmp(p->names + p->name_off[k], s, n))
      return p->last = k;
    i = (i + 1) & (p->n_slots - 1);
  }
  if (p->n_names >= 65535)
    return -1;
  if (p->n_names == p->cap_names) {
    int cap = p->cap_names ? 2 * p->cap_names : 16;
    int64_t *o = realloc(p->name_off, (size_t)cap * sizeof *o);
    if (!o)
      return -1;
    p->name_off = o;
    int32_t *l = realloc(p->name_len, (size_t)cap * sizeof *l);
    if (!l)
      return -1;
    p->name_len = l;
    p->cap_names = cap;
  }
  if (p->names_len + (int64_t)n > p->names_cap) {
    int64_t cap = 2 * (p->names_cap + (int64_t)n) + 256;
    char *q = realloc(p->names, (size_t)cap);
    if (!q)
      return -1;
    p->names = q;
    p->names_cap = cap;
  }
  int k = p->n_names++;
  memcpy(p->names + p->names_len, s, n);
  p->name_off[k] = p->names_len;
  p->name_len[k] = (int32_t)n;
  p->names_len += (int64_t)n;
  p->slots[i] = k;
  if (2 * p->n_names > p->n_slots && !rehash(p, 2 * p->n_slots))
    return -1;
  return p->last = k;
}

int dm_piece_name_find(dm_piece *p, const char *s, size_t n)
{
  if (p->n_slots == 0)
    return -1;
  int i = (int)(name_hash(s, n) & (uint64_t)(p->n_slots - 1));
  while (p->slots[i] >= 0) {
    int k = p->slots[i];
    if ((size_t)p->name_len[k] == n && !memcmp(p->names + p->name_off[k], s, n))
      return k;
    i = (i + 1) & (p->n_slots - 1);
  }
  return -1;
}

/* Reject records: reason (int32), line in stripe (int64), full length
 * (int64), text length (int32), text. */
#define REC_HEAD 24

static int reject_add(dm_reject_buf *r, int reason, int64_t line, const char *text, int64_t len)
{
  int64_t keep = len > DM_INGEST_MAX_LINE ? DM_INGEST_REJECT_PREFIX : len;
  if (r->len + REC_HEAD + keep > r->cap) {
    int64_t cap = 2 * (r->cap + REC_HEAD + keep) + 4096;
    char *d = realloc(r->data, (size_t)cap);
    if (!d)
      return 0;
    r->data = d;
    r->cap = cap;
  }
  char *o = r->data + r->len;
  int32_t rs = reason, tl = (int32_t)keep;
  memcpy(o, &rs, 4);
  memcpy(o + 4, &line, 8);
  memcpy(o + 12, &len, 8);
  memcpy(o + 20, &tl, 4);
  memcpy(o + REC_HEAD, text, (size_t)keep);
  r->len += REC_HEAD + keep;
  return 1;
}

int dm_reject_next(const dm_reject_buf *r, int64_t *pos, int *reason, int64_t *line_in_stripe,
                   int64_t *full_len, const char **text, int64_t *text_len)
{
  if (*pos + REC_HEAD > r->len)
    return 0;
  const char *o = r->data + *pos;
  int32_t rs, tl;
  memcpy(&rs, o, 4);
  memcpy(line_in_stripe, o + 4, 8);
  memcpy(full_len, o + 12, 8);
  memcpy(&tl, o + 20, 4);
  *reason = rs;
  *text = o + REC_HEAD;
  *text_len = tl;
  *pos += REC_HEAD + tl;
  return 1;
}

/* Parse lines [p, end) of buffer; last_flags apply to the final line when
 * it has no newline. first_line: index of the first line in the stripe. */
static dm_status parse_range(const char *p, const char *end, int last_unterminated,
                             int last_too_long, int64_t last_len, int want_double, dm_piece *pc)
{
  dm_events *ev = &pc->ev;
  dm_csv_event ce;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    int64_t len = le - p, line = pc->n_lines++;
    dm_bad_kind k = DM_BAD_NONE;
    if (len > DM_INGEST_MAX_LINE || (!nl && last_too_long)) {
      k = DM_BAD_TOO_LONG;
    } else {
      if (ev->n_events + 1 > ev->cap_events || (want_double && !ev->met_d))
        DM_FORWARD(dm_events_reserve(ev, ev->n_events + 1, ev->n_objects, want_double));
      /* Room for every object the line could hold, so the parser never
       * allocates (and never confuses memory with a bad line). */
      DM_FORWARD(dm_csv_reserve(ev, len / 10 + 1, want_double));
      k = dm_csv_parse_line(p, (size_t)len, &ce, ev, want_double);
      if (k != DM_BAD_NONE && !nl && last_unterminated)
        k = DM_BAD_TRUNCATED;
    }
    if (k == DM_BAD_NONE) {
      int idx = dm_piece_name_index(pc, ce.process, ce.process_len);
      if (idx < 0)
        return dm_error(DM_ERR_NOMEM, "more than 65535 process names in one stripe, or no memory");
      int64_t i = ev->n_events++;
      ev->event_id[i] = ce.event_id;
      ev->process[i] = (uint16_t)idx;
      ev->weight[i] = ce.weight;
      ev->met[i] = (float)ce.met;
      ev->met_phi[i] = (float)ce.met_phi;
      if (want_double) {
        ev->met_d[i] = ce.met;
        ev->met_phi_d[i] = ce.met_phi;
      }
      ev->n_objects += ce.n_obj;
      ev->obj_offset[i + 1] = ev->n_objects;
      pc->inexact_values += ce.inexact_float;
      pc->inexact_events += ce.inexact_float > 0;
    } else {
      pc->n_bad++;
      pc->bad[k]++;
      if (!reject_add(&pc->rejects, (int)k, line, p, !nl && last_too_long ? last_len : len))
        return dm_error(DM_ERR_NOMEM, "no memory to keep rejected lines");
    }
    p = nl ? nl + 1 : end;
  }
  return DM_OK;
}

/* Append piece q (parsed after piece p's lines) to p. */
static dm_status join(dm_piece *p, const dm_piece *q, int want_double)
{
  dm_events *a = &p->ev;
  const dm_events *b = &q->ev;
  DM_FORWARD(dm_events_reserve(a, a->n_events + b->n_events, a->n_objects + b->n_objects,
                               want_double));
  int64_t e0 = a->n_events, o0 = a->n_objects;
  for (int64_t i = 0; i < b->n_events; i++) {
    int32_t k = b->process[i];
    int idx = dm_piece_name_index(p, q->names + q->name_off[k], (size_t)q->name_len[k]);
    if (idx < 0)
      return dm_error(DM_ERR_NOMEM, "more than 65535 process names in one stripe, or no memory");
    a->process[e0 + i] = (uint16_t)idx;
    a->obj_offset[e0 + i + 1] = o0 + b->obj_offset[i + 1];
  }
  memcpy(a->event_id + e0, b->event_id, (size_t)b->n_events * sizeof *a->event_id);
  memcpy(a->weight + e0, b->weight, (size_t)b->n_events * sizeof *a->weight);
  memcpy(a->met + e0, b->met, (size_t)b->n_events * sizeof *a->met);
  memcpy(a->met_phi + e0, b->met_phi, (size_t)b->n_events * sizeof *a->met_phi);
  memcpy(a->type + o0, b->type, (size_t)b->n_objects);
  memcpy(a->e + o0, b->e, (size_t)b->n_objects * sizeof *a->e);
  memcpy(a->pt + o0, b->pt, (size_t)b->n_objects * sizeof *a->pt);
  memcpy(a->eta + o0, b->eta, (size_t)b->n_objects * sizeof *a->eta);
  memcpy(a->phi + o0, b->phi, (size_t)b->n_objects * sizeof *a->phi);
  if (want_double) {
    memcpy(a->met_d + e0, b->met_d, (size_t)b->n_events * sizeof(double));
    memcpy(a->met_phi_d + e0, b->met_phi_d, (size_t)b->n_events * sizeof(double));
    memcpy(a->e_d + o0, b->e_d, (size_t)b->n_objects * sizeof(double));
    memcpy(a->pt_d + o0, b->pt_d, (size_t)b->n_objects * sizeof(double));
    memcpy(a->eta_d + o0, b->eta_d, (size_t)b->n_objects * sizeof(double));
    memcpy(a->phi_d + o0, b->phi_d, (size_t)b->n_objects * sizeof(double));
  }
  a->n_events += b->n_events;
  a->n_objects += b->n_objects;
  /* Rejects: line numbers shift by the lines of p. */
  int64_t pos = 0, line, full, tl;
  int reason;
  const char *text;
  while (dm_reject_next(&q->rejects, &pos, &reason, &line, &full, &text, &tl)) {
    if (!reject_add(&p->rejects, reason, p->n_lines + line, text, tl))
      return dm_error(DM_ERR_NOMEM, "no memory to keep rejected lines");
    /* keep the full length of a cut line */
    memcpy(p->rejects.data + p->rejects.len - REC_HEAD - tl + 12, &full, 8);
  }
  p->n_lines += q->n_lines;
  p->n_bad += q->n_bad;
  for (int k = 0; k < DM_BAD_NKINDS; k++)
    p->bad[k] += q->bad[k];
  p->inexact_values += q->inexact_values;
  p->inexact_events += q->inexact_events;
  return DM_OK;
}

dm_status dm_stripe_parse(const dm_stripe_buf *b, int want_double, int threads, dm_piece *piece)
{
  dm_piece_reset(piece);
  if (b->ref.file < 0 || b->own_end <= b->own_begin)
    return DM_OK;
  const char *s = b->buf + b->own_begin, *e = b->buf + b->own_end;
  /* Threads only pay for stripes of some size. */
  if (threads > 1 && e - s < ((int64_t)4 << 20))
    threads = 1;
  if (threads <= 1)
    return parse_range(s, e, b->last_unterminated, b->last_too_long, b->last_line_len,
                       want_double, piece);

  /* Cut at line boundaries: each cut point moves forward to just after a
   * newline; the last part keeps the end-of-stripe flags. */
  const char **cut = malloc((size_t)(threads + 1) * sizeof *cut);
  dm_piece *parts = calloc((size_t)threads, sizeof *parts);
  dm_status *st = malloc((size_t)threads * sizeof *st);
  char(*msg)[256] = malloc((size_t)threads * sizeof *msg);
  if (!cut || !parts || !st || !msg) {
    free(cut);
    free(parts);
    free(st);
    free(msg);
    return dm_error(DM_ERR_NOMEM, "no memory to split a stripe between threads");
  }
  cut[0] = s;
  cut[threads] = e;
  for (int t = 1; t < threads; t++) {
    const char *c = s + (e - s) * t / threads;
    if (c < cut[t - 1])
      c = cut[t - 1];
    const char *nl = c < e ? memchr(c, '\n', (size_t)(e - c)) : NULL;
    cut[t] = nl ? nl + 1 : e;
  }
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; t++) {
    dm_piece *pc = t == 0 ? piece : &parts[t];
    if (t > 0)
      dm_piece_reset(pc);
    int last = t == threads - 1;
    st[t] = parse_range(cut[t], cut[t + 1], last && b->last_unterminated,
                        last && b->last_too_long, b->last_line_len, want_double, pc);
    snprintf(msg[t], sizeof msg[t], "%s", st[t] == DM_OK ? "" : dm_error_message());
  }
  dm_status s0 = DM_OK;
  for (int t = 0; t < threads && s0 == DM_OK; t++)
    if (st[t] != DM_OK)
      s0 = dm_error(st[t], "%s", msg[t]);
  for (int t = 1; t < threads && s0 == DM_OK; t++)
    s0 = join(piece, &parts[t], want_double);
  for (int t = 1; t < threads; t++)
    dm_piece_free(&parts[t]);
  free(cut);
  free(parts);
  free(st);
  free(msg);
  return s0;
}
