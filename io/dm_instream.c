/* Plain and compressed input files read by content offset (dm_instream.h). */
#include "dm_instream.h"

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "dm_h5.h"

/* Content bytes decoded per step, and compressed bytes read per refill. */
#define STEP ((int64_t)1 << 20)
#define IN_CHUNK ((size_t)256 << 10)

struct dm_instream {
  char path[DM_PATH_MAX];
  dm_instream_kind kind;
  int fd;
  int64_t history;
  char *win;                 /* content [win_start, win_start + win_len) */
  int64_t win_cap, win_len, win_start;
  int done;                  /* all content decoded */
  unsigned char *in;         /* compressed bytes [in_pos, in_len) not yet decoded */
  size_t in_len, in_pos;
  int in_eof;
  int64_t in_off;            /* compressed bytes read from the file */
  int mid;                   /* inside a frame/member: end of file here = truncated */
  ZSTD_DStream *zd;
  z_stream gz;
  int gz_init;
  lzma_stream xz;
  int xz_init;
  char msg[DM_PATH_MAX + 256];
};

const char *dm_instream_kind_name(dm_instream_kind k)
{
  switch (k) {
  case DM_INSTREAM_ZSTD: return "zstd";
  case DM_INSTREAM_GZIP: return "gzip";
  case DM_INSTREAM_XZ: return "xz";
  default: return "plain";
  }
}

static int ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), k = strlen(suffix);
  return n > k && !strcmp(s + n - k, suffix);
}

dm_status dm_instream_detect(const char *path, dm_instream_kind *kind)
{
  *kind = DM_INSTREAM_PLAIN;
  dm_instream_kind by_name = DM_INSTREAM_PLAIN;
  if (ends_with(path, ".zst") || ends_with(path, ".zstd"))
    by_name = DM_INSTREAM_ZSTD;
  else if (ends_with(path, ".gz"))
    by_name = DM_INSTREAM_GZIP;
  else if (ends_with(path, ".xz"))
    by_name = DM_INSTREAM_XZ;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return dm_error(DM_ERR_IO, "cannot open input %s: %s", path, strerror(errno));
  unsigned char m[6] = {0};
  ssize_t n = read(fd, m, sizeof m);
  close(fd);
  if (n < 0)
    return dm_error(DM_ERR_IO, "cannot read input %s: %s", path, strerror(errno));
  dm_instream_kind by_bytes = DM_INSTREAM_PLAIN;
  /* zstd frames (and skippable frames 0x184D2A50..5F), gzip, xz. */
  if (n >= 4 && ((m[0] == 0x28 && m[1] == 0xB5 && m[2] == 0x2F && m[3] == 0xFD) ||
                 ((m[0] & 0xF0) == 0x50 && m[1] == 0x2A && m[2] == 0x4D && m[3] == 0x18)))
    by_bytes = DM_INSTREAM_ZSTD;
  else if (n >= 2 && m[0] == 0x1F && m[1] == 0x8B)
    by_bytes = DM_INSTREAM_GZIP;
  else if (n >= 6 && !memcmp(m, "\xFD" "7zXZ\0", 6))
    by_bytes = DM_INSTREAM_XZ;
  if (n == 0) /* empty: no content, whatever the name */
    return DM_OK;
  if (by_name != DM_INSTREAM_PLAIN && by_bytes != by_name)
    return dm_error(DM_ERR_FORMAT, "input %s is named as %s-compressed but does not start like %s data%s",
                    path, dm_instream_kind_name(by_name), dm_instream_kind_name(by_name),
                    by_bytes != DM_INSTREAM_PLAIN ? " (it looks like another compression)" : "");
  *kind = by_bytes;
  return DM_OK;
}

/* Exactly n bytes at off, or a short count at the end of the file; -1. */
static int64_t pread_all(int fd, void *dst, int64_t n, int64_t off)
{
  int64_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (char *)dst + got, (size_t)(n - got), (off_t)(off + got));
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

dm_status dm_instream_zstd_size(const char *path, int64_t *size)
{
  *size = -1;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return dm_error(DM_ERR_IO, "cannot open input %s: %s", path, strerror(errno));
  off_t end = lseek(fd, 0, SEEK_END);
  int64_t pos = 0, total = 0;
  dm_status st = DM_OK;
  unsigned char h[18]; /* the longest frame header */
  while (st == DM_OK && pos < (int64_t)end) {
    int64_t n = pread_all(fd, h, sizeof h, pos);
    if (n < 8) { /* shorter than any frame */
      st = n < 0 ? dm_error(DM_ERR_IO, "reading %s: %s", path, strerror(errno))
                 : dm_error(DM_ERR_FORMAT, "%s: zstd data is truncated at byte %lld", path,
                            (long long)pos);
      break;
    }
    if ((h[0] & 0xF0) == 0x50 && h[1] == 0x2A && h[2] == 0x4D && h[3] == 0x18) {
      /* A skippable frame: 4-byte magic, 4-byte little-endian size. */
      pos += 8 + ((int64_t)h[4] | (int64_t)h[5] << 8 | (int64_t)h[6] << 16 | (int64_t)h[7] << 24);
      continue;
    }
    /* Frame header (RFC 8878, 3.1.1.1): magic, descriptor, optional window
     * descriptor, dictionary id and content size. */
    unsigned fhd = h[4];
    static const int did_bytes[4] = {0, 1, 2, 4}, fcs_bytes[4] = {0, 2, 4, 8};
    int single = (fhd >> 5) & 1, fcs = fcs_bytes[fhd >> 6];
    if (fcs == 0 && single)
      fcs = 1;
    int64_t header = 5 + !single + did_bytes[fhd & 3] + fcs;
    unsigned long long content = ZSTD_getFrameContentSize(h, (size_t)n);
    if (!(h[0] == 0x28 && h[1] == 0xB5 && h[2] == 0x2F && h[3] == 0xFD) || (fhd & 0x08) ||
        content == ZSTD_CONTENTSIZE_ERROR || header > n) {
      st = dm_error(DM_ERR_FORMAT, "%s: corrupt zstd data at byte %lld (not a frame header)", path,
                    (long long)pos);
      break;
    }
    if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
      total = -1;
      break;
    }
    total += (int64_t)content;
    pos += header;
    int checksum = (fhd >> 2) & 1;
    /* Blocks: a 3-byte header (last flag, type, size); RLE blocks hold one
     * byte, raw and compressed ones `size` bytes. */
    for (int last = 0; !last;) {
      unsigned char b[3];
      if (pread_all(fd, b, 3, pos) != 3) {
        st = dm_error(DM_ERR_FORMAT, "%s: zstd data is truncated (ends inside a frame at byte %lld)",
                      path, (long long)pos);
        break;
      }
      uint32_t bh = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
      last = bh & 1;
      int type = (bh >> 1) & 3;
      if (type == 3) {
        st = dm_error(DM_ERR_FORMAT, "%s: corrupt zstd data at byte %lld (reserved block type)",
                      path, (long long)pos);
        break;
      }
      pos += 3 + (type == 1 ? 1 : (int64_t)(bh >> 3));
    }
    if (st == DM_OK && checksum)
      pos += 4;
    if (st == DM_OK && pos > (int64_t)end)
      st = dm_error(DM_ERR_FORMAT, "%s: zstd data is truncated (ends inside a frame)", path);
  }
  close(fd);
  if (st == DM_OK)
    *size = total;
  return st;
}

dm_status dm_instream_xz_size(const char *path, int64_t *size)
{
  *size = -1;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return dm_error(DM_ERR_IO, "cannot open input %s: %s", path, strerror(errno));
  off_t end = lseek(fd, 0, SEEK_END);
  lzma_stream x = LZMA_STREAM_INIT;
  lzma_index *idx = NULL;
  uint8_t *buf = malloc(IN_CHUNK);
  dm_status st = DM_OK;
  if (!buf || lzma_file_info_decoder(&x, &idx, UINT64_MAX, (uint64_t)end) != LZMA_OK)
    st = dm_error(DM_ERR_NOMEM, "no memory to read %s", path);
  int64_t pos = 0;
  while (st == DM_OK) {
    int64_t n = pread_all(fd, buf, (int64_t)IN_CHUNK, pos);
    if (n < 0) {
      st = dm_error(DM_ERR_IO, "reading %s: %s", path, strerror(errno));
      break;
    }
    x.next_in = buf;
    x.avail_in = (size_t)n;
    lzma_ret r = lzma_code(&x, n == 0 ? LZMA_FINISH : LZMA_RUN);
    pos += n - (int64_t)x.avail_in;
    if (r == LZMA_SEEK_NEEDED)
      pos = (int64_t)x.seek_pos;
    else if (r == LZMA_STREAM_END)
      *size = (int64_t)lzma_index_uncompressed_size(idx);
    else if (r != LZMA_OK || n == 0)
      st = dm_error(DM_ERR_FORMAT, "%s: xz data is %s (liblzma error %d reading its index)",
                    path, r == LZMA_DATA_ERROR || r == LZMA_OK || r == LZMA_BUF_ERROR
                              ? "truncated or corrupt" : "unreadable", (int)r);
    if (r == LZMA_STREAM_END)
      break;
  }
  lzma_end(&x);
  if (idx)
    lzma_index_end(idx, NULL);
  free(buf);
  close(fd);
  return st;
}

static int64_t failf(dm_instream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t failf(dm_instream *s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  return -1;
}

/* More compressed bytes when all are used. 0 ok, -1 read error. */
static int refill(dm_instream *s)
{
  if (s->in_pos < s->in_len || s->in_eof)
    return 0;
  ssize_t r;
  do
    r = read(s->fd, s->in, IN_CHUNK);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    failf(s, "reading %s at compressed byte %lld: %s", s->path, (long long)s->in_off,
          strerror(errno));
    return -1;
  }
  s->in_len = (size_t)r;
  s->in_pos = 0;
  s->in_off += r;
  s->in_eof = r == 0;
  return 0;
}

static int64_t truncated(dm_instream *s)
{
  return failf(s, "%s: %s data is truncated (ends inside a %s after %lld compressed bytes)",
               s->path, dm_instream_kind_name(s->kind),
               s->kind == DM_INSTREAM_GZIP ? "member" : s->kind == DM_INSTREAM_XZ ? "stream" : "frame",
               (long long)s->in_off);
}

/* Compressed bytes read so far, for messages (decoders see damage up to a
 * block after where it is). */
static long long at(const dm_instream *s) { return (long long)s->in_off; }

static int64_t produce_zstd(dm_instream *s, char *dst, int64_t cap)
{
  ZSTD_outBuffer ob = {dst, (size_t)cap, 0};
  while (ob.pos < ob.size) {
    if (refill(s) < 0)
      return -1;
    if (s->in_pos == s->in_len) {
      if (s->mid)
        return truncated(s);
      break;
    }
    ZSTD_inBuffer ib = {s->in, s->in_len, s->in_pos};
    size_t r = ZSTD_decompressStream(s->zd, &ob, &ib);
    s->in_pos = ib.pos;
    if (ZSTD_isError(r))
      return failf(s, "%s: corrupt zstd data (within the first %lld compressed bytes): %s", s->path, at(s),
                   ZSTD_getErrorName(r));
    s->mid = r != 0; /* 0: a frame ended and everything is flushed */
  }
  return (int64_t)ob.pos;
}

static int64_t produce_gzip(dm_instream *s, char *dst, int64_t cap)
{
  z_stream *z = &s->gz;
  z->next_out = (Bytef *)dst;
  z->avail_out = (uInt)cap;
  while (z->avail_out > 0) {
    if (refill(s) < 0)
      return -1;
    if (s->in_pos == s->in_len) {
      if (s->mid)
        return truncated(s);
      break;
    }
    z->next_in = s->in + s->in_pos;
    z->avail_in = (uInt)(s->in_len - s->in_pos);
    int r = inflate(z, Z_NO_FLUSH);
    s->in_pos = s->in_len - z->avail_in;
    if (r == Z_STREAM_END) {
      /* One member done; another may follow (gzip reads them as one). */
      s->mid = 0;
      inflateReset(z);
    } else if (r == Z_OK || r == Z_BUF_ERROR) {
      s->mid = 1;
    } else {
      return failf(s, "%s: corrupt gzip data (within the first %lld compressed bytes): %s", s->path, at(s),
                   z->msg ? z->msg : zError(r));
    }
  }
  return cap - (int64_t)z->avail_out;
}

static int64_t produce_xz(dm_instream *s, char *dst, int64_t cap)
{
  lzma_stream *x = &s->xz;
  x->next_out = (uint8_t *)dst;
  x->avail_out = (size_t)cap;
  while (x->avail_out > 0 && !s->done) {
    if (refill(s) < 0)
      return -1;
    x->next_in = s->in + s->in_pos;
    x->avail_in = s->in_len - s->in_pos;
    lzma_ret r = lzma_code(x, s->in_eof ? LZMA_FINISH : LZMA_RUN);
    s->in_pos = s->in_len - x->avail_in;
    if (r == LZMA_STREAM_END)
      s->done = 1;
    else if (r == LZMA_BUF_ERROR && s->in_eof)
      return truncated(s);
    else if (r != LZMA_OK)
      return failf(s, "%s: corrupt xz data (within the first %lld compressed bytes; liblzma error %d%s)",
                   s->path, at(s), (int)r,
                   r == LZMA_FORMAT_ERROR ? ": not xz" : r == LZMA_DATA_ERROR ? ": bad data" : "");
  }
  return cap - (int64_t)x->avail_out;
}

static int64_t produce_plain(dm_instream *s, char *dst, int64_t cap)
{
  int64_t got = 0;
  while (got < cap) {
    ssize_t r = read(s->fd, dst + got, (size_t)(cap - got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return failf(s, "reading %s: %s", s->path, strerror(errno));
    if (r == 0)
      break;
    got += r;
  }
  return got;
}

/* Decode up to cap content bytes into dst: the count, 0 at the end, -1. */
static int64_t produce(dm_instream *s, char *dst, int64_t cap)
{
  switch (s->kind) {
  case DM_INSTREAM_ZSTD: return produce_zstd(s, dst, cap);
  case DM_INSTREAM_GZIP: return produce_gzip(s, dst, cap);
  case DM_INSTREAM_XZ: return produce_xz(s, dst, cap);
  default: return produce_plain(s, dst, cap);
  }
}

/* Back to the first content byte: rewind the file, reset the decoder. */
static int restart(dm_instream *s)
{
  if (lseek(s->fd, 0, SEEK_SET) != 0) {
    failf(s, "cannot rewind %s: %s", s->path, strerror(errno));
    return -1;
  }
  s->in_len = s->in_pos = 0;
  s->in_eof = 0;
  s->in_off = 0;
  s->mid = 0;
  s->done = 0;
  s->win_len = 0;
  s->win_start = 0;
  int ok = 1;
  if (s->zd)
    ok = !ZSTD_isError(ZSTD_DCtx_reset(s->zd, ZSTD_reset_session_only));
  if (s->gz_init)
    ok = inflateReset(&s->gz) == Z_OK;
  if (s->xz_init) {
    lzma_end(&s->xz);
    s->xz = (lzma_stream)LZMA_STREAM_INIT;
    ok = lzma_stream_decoder(&s->xz, UINT64_MAX, LZMA_CONCATENATED) == LZMA_OK;
  }
  if (!ok) {
    failf(s, "cannot reset the %s decoder for %s", dm_instream_kind_name(s->kind), s->path);
    return -1;
  }
  return 0;
}

dm_status dm_instream_open(const char *path, dm_instream_kind kind, int64_t history,
                           dm_instream **out)
{
  *out = NULL;
  dm_instream *s = calloc(1, sizeof *s);
  if (!s)
    return dm_error(DM_ERR_NOMEM, "no memory to read %s", path);
  snprintf(s->path, sizeof s->path, "%s", path);
  s->kind = kind;
  /* The window runs up to one step ahead of what was asked for. */
  s->history = (history > 0 ? history : 0) + STEP;
  s->win_cap = s->history + STEP;
  if (kind != DM_INSTREAM_PLAIN) { /* a plain file needs no window */
    s->win = malloc((size_t)s->win_cap);
    s->in = malloc(IN_CHUNK);
  }
  s->fd = open(path, O_RDONLY);
  s->xz = (lzma_stream)LZMA_STREAM_INIT;
  dm_status st = DM_OK;
  if (kind != DM_INSTREAM_PLAIN && (!s->win || !s->in))
    st = dm_error(DM_ERR_NOMEM, "no memory to read %s", path);
  else if (s->fd < 0)
    st = dm_error(DM_ERR_IO, "cannot open input %s: %s", path, strerror(errno));
  else if (kind == DM_INSTREAM_ZSTD && !(s->zd = ZSTD_createDStream()))
    st = dm_error(DM_ERR_NOMEM, "no memory for a zstd decoder (%s)", path);
  else if (kind == DM_INSTREAM_GZIP) {
    /* 15 + 32: a 32 KiB window, gzip or zlib header detected. */
    if (inflateInit2(&s->gz, 15 + 32) != Z_OK)
      st = dm_error(DM_ERR_NOMEM, "no memory for a gzip decoder (%s)", path);
    else
      s->gz_init = 1;
  } else if (kind == DM_INSTREAM_XZ) {
    if (lzma_stream_decoder(&s->xz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
      st = dm_error(DM_ERR_NOMEM, "no memory for an xz decoder (%s)", path);
    else
      s->xz_init = 1;
  }
  if (st != DM_OK) {
    dm_instream_close(s);
    return st;
  }
  *out = s;
  return DM_OK;
}

int64_t dm_instream_pread(dm_instream *s, void *dst, int64_t n, int64_t off)
{
  /* A plain file is entered where asked: no window, no reading from the
   * start, so ranks reading their own byte ranges read only those. */
  if (s->kind == DM_INSTREAM_PLAIN) {
    int64_t got = pread_all(s->fd, dst, n, off);
    if (got < 0)
      return failf(s, "reading %s at byte %lld: %s", s->path, (long long)off, strerror(errno));
    return got;
  }
  if (off < s->win_start && restart(s) < 0)
    return -1;
  int64_t got = 0;
  while (got < n) {
    int64_t pos = off + got, end = s->win_start + s->win_len;
    if (pos < end) {
      int64_t k = end - pos < n - got ? end - pos : n - got;
      memcpy((char *)dst + got, s->win + (pos - s->win_start), (size_t)k);
      got += k;
      continue;
    }
    if (s->done)
      break;
    if (s->win_len + STEP > s->win_cap) {
      /* Keep what a later read may still ask for: the last `history`
       * bytes, and nothing before pos - history (all of it when skipping). */
      int64_t keep_from = end - s->history;
      if (keep_from < pos - s->history)
        keep_from = pos - s->history;
      if (keep_from < s->win_start)
        keep_from = s->win_start;
      if (keep_from > end)
        keep_from = end;
      int64_t drop = keep_from - s->win_start;
      memmove(s->win, s->win + drop, (size_t)(s->win_len - drop));
      s->win_len -= drop;
      s->win_start += drop;
    }
    int64_t k = produce(s, s->win + s->win_len, STEP);
    if (k < 0)
      return -1;
    if (k == 0)
      s->done = 1;
    s->win_len += k;
  }
  return got;
}

const char *dm_instream_message(const dm_instream *s) { return s->msg; }

void dm_instream_close(dm_instream *s)
{
  if (!s)
    return;
  if (s->fd >= 0)
    close(s->fd);
  ZSTD_freeDStream(s->zd);
  if (s->gz_init)
    inflateEnd(&s->gz);
  if (s->xz_init)
    lzma_end(&s->xz);
  free(s->win);
  free(s->in);
  free(s);
}
