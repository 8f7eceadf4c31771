/* The ingest stage (dm_ingest.h): stripes, rounds, the per-round exchange of
 * line counts, process names, rejects and checksum leaves, and the store. */
#include "dm_ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "dm_atomic.h"
#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_ingest_stripe.h"
#include "dm_instream.h"
#include "dm_progress.h"
#include "dm_store.h"

void dm_ingest_opts_default(dm_ingest_opts *o)
{
  memset(o, 0, sizeof *o);
  o->max_bad_fraction = 1e-6;
  o->zstd_level = 1;
  o->chunk_events = 65536;
  o->buffer_mb = 128;
}

/* ---- the plan: stripes of all inputs in one ordered list ------------------ */

typedef struct {
  const dm_ingest_opts *o;
  MPI_Comm comm;
  int rank, size;
  int64_t stripe, hash_block;
  int64_t *fsize;       /* content bytes per input (decompressed when compressed) */
  int *kind;            /* dm_instream_kind per input */
  int64_t *csize;       /* bytes of each input file as given */
  char (*chex)[33];     /* checksum of a compressed input as given */
  int64_t *first;       /* index of each input's first stripe; first[n] = total */
  int64_t n_stripes, n_rounds, total_bytes;
} plan;

static dm_stripe_ref stripe_ref(const plan *pl, int64_t s)
{
  dm_stripe_ref r = {-1, 0, 0};
  if (s >= pl->n_stripes)
    return r;
  int lo = 0, hi = pl->o->n_inputs - 1;
  /* Last input whose first stripe is <= s and that has stripes. */
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (pl->first[mid] <= s)
      lo = mid;
    else
      hi = mid - 1;
  }
  while (pl->first[lo + 1] <= s)
    lo++;
  r.file = lo;
  r.begin = (s - pl->first[lo]) * pl->stripe;
  r.end = r.begin + pl->stripe < pl->fsize[lo] ? r.begin + pl->stripe : pl->fsize[lo];
  return r;
}

static int64_t count_stripes(const int64_t *fsize, int n, int64_t stripe)
{
  int64_t k = 0;
  for (int i = 0; i < n; i++)
    k += (fsize[i] + stripe - 1) / stripe;
  return k;
}

/* The stripe size actually used, at most `budget`: the largest multiple of
 * the checksum block whose stripe count fills the last round (a multiple of
 * the rank count) without adding a round. Why: with 31 stripes on 2 ranks,
 * one rank idles through the whole last round, 3% of the run. When no size
 * fills it (many files of odd sizes), the budget stays. The output does not
 * depend on the stripe size, so this may depend on the rank count. */
static int64_t balanced_stripe(const int64_t *fsize, int n, int64_t budget, int ranks)
{
  int64_t k = count_stripes(fsize, n, budget);
  if (ranks <= 1 || k % ranks == 0 || budget <= DM_INGEST_HASH_BLOCK)
    return budget;
  int64_t rounds = (k + ranks - 1) / ranks;
  for (int64_t st = budget - DM_INGEST_HASH_BLOCK; st >= DM_INGEST_HASH_BLOCK;
       st -= DM_INGEST_HASH_BLOCK) {
    int64_t c = count_stripes(fsize, n, st);
    if (c > rounds * ranks)
      break;
    if (c % ranks == 0)
      return st;
  }
  return budget;
}

/* LOCAL. One compressed input read through: its content size, and the
 * tree checksum (as in dm_ingest.h) of the file as given. A corrupt or
 * truncated file fails here, before anything is written. */
static dm_status measure_one(const char *path, int kind, int64_t hash_block, int64_t *content,
                             char hex[33])
{
  /* zstd frames usually record their size, xz streams always do (in their
   * index): then no decoding is needed here, and corrupt data shows in the
   * main pass (still before any store is committed). gzip must be decoded. */
  int64_t known = -1;
  if (kind == DM_INSTREAM_ZSTD)
    DM_FORWARD(dm_instream_zstd_size(path, &known));
  else if (kind == DM_INSTREAM_XZ)
    DM_FORWARD(dm_instream_xz_size(path, &known));
  dm_instream *zs = NULL;
  if (known < 0)
    DM_FORWARD(dm_instream_open(path, (dm_instream_kind)kind, 0, &zs));
  char *buf = malloc((size_t)hash_block);
  XXH3_state_t *st = XXH3_createState();
  dm_status s = buf && st ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory to read %s", path);
  int64_t off = 0, k = 0;
  while (zs && s == DM_OK && (k = dm_instream_pread(zs, buf, hash_block, off)) > 0)
    off += k;
  if (s == DM_OK && k < 0)
    s = dm_error(DM_ERR_FORMAT, "%s", dm_instream_message(zs));
  *content = known >= 0 ? known : off;
  int fd = s == DM_OK ? open(path, O_RDONLY) : -1;
  if (s == DM_OK && fd < 0)
    s = dm_error(DM_ERR_IO, "cannot open input %s: %s", path, strerror(errno));
  if (s == DM_OK)
    XXH3_128bits_reset(st);
  for (int64_t pos = 0; s == DM_OK;) {
    int64_t got = 0;
    while (got < hash_block) {
      ssize_t r = pread(fd, buf + got, (size_t)(hash_block - got), (off_t)(pos + got));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        s = dm_error(DM_ERR_IO, "reading %s: %s", path, strerror(errno));
      if (r <= 0)
        break;
      got += r;
    }
    if (s != DM_OK || got == 0)
      break;
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(buf, (size_t)got));
    XXH3_128bits_update(st, c.digest, 16);
    pos += got;
  }
  if (s == DM_OK) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
    for (int i = 0; i < 16; i++)
      snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
  }
  if (fd >= 0)
    close(fd);
  if (st)
    XXH3_freeState(st);
  free(buf);
  dm_instream_close(zs);
  return s;
}

/* COLLECTIVE. Content sizes and checksums of the compressed inputs, one
 * file per rank at a time (largest first, each to the least loaded rank),
 * shared with all. Why a pass of its own: the stripes are cut in content
 * bytes, which a compressed file does not tell without being read. */
static dm_status measure_compressed(plan *pl)
{
  int n = pl->o->n_inputs, any = 0;
  for (int i = 0; i < n; i++)
    any |= pl->kind[i] != DM_INSTREAM_PLAIN;
  if (!any)
    return DM_OK;
  int *order = malloc((size_t)n * sizeof *order);
  int64_t *load = calloc((size_t)pl->size, sizeof *load);
  int64_t *content = malloc((size_t)n * sizeof *content);
  dm_status s = order && load && content ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
  s = dm_agree(s, pl->comm);
  int m = 0;
  for (int i = 0; s == DM_OK && i < n; i++) {
    content[i] = -1;
    if (pl->kind[i] != DM_INSTREAM_PLAIN)
      order[m++] = i;
  }
  /* Insertion sort by size, largest first, ties in input order: the same
   * assignment on every rank. */
  for (int a = 1; s == DM_OK && a < m; a++)
    for (int b = a; b > 0 && pl->csize[order[b]] > pl->csize[order[b - 1]]; b--) {
      int t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  for (int j = 0; s == DM_OK && j < m; j++) {
    int i = order[j], r = 0;
    for (int q = 1; q < pl->size; q++)
      if (load[q] < load[r])
        r = q;
    load[r] += pl->csize[i] + 1;
    if (r == pl->rank) {
      s = measure_one(pl->o->inputs[i], pl->kind[i], pl->hash_block, &content[i], pl->chex[i]);
      if (s != DM_OK)
        break;
    }
  }
  s = dm_agree(s, pl->comm);
  if (s == DM_OK) {
    MPI_Allreduce(MPI_IN_PLACE, content, n, MPI_INT64_T, MPI_MAX, pl->comm);
    MPI_Allreduce(MPI_IN_PLACE, pl->chex, n * 33, MPI_UNSIGNED_CHAR, MPI_MAX, pl->comm);
    for (int i = 0; i < n; i++)
      if (pl->kind[i] != DM_INSTREAM_PLAIN)
        pl->fsize[i] = content[i];
  }
  free(order);
  free(load);
  free(content);
  return s;
}

/* Rank 0 checks every input and learns its size; then everyone knows. */
static dm_status plan_inputs(plan *pl)
{
  const dm_ingest_opts *o = pl->o;
  int n = o->n_inputs;
  dm_status s = DM_OK;
  pl->fsize = calloc((size_t)n + 1, sizeof *pl->fsize);
  pl->first = calloc((size_t)n + 1, sizeof *pl->first);
  pl->kind = calloc((size_t)n + 1, sizeof *pl->kind);
  pl->csize = calloc((size_t)n + 1, sizeof *pl->csize);
  pl->chex = calloc((size_t)n + 1, sizeof *pl->chex);
  if (!pl->fsize || !pl->first || !pl->kind || !pl->csize || !pl->chex)
    s = dm_error(DM_ERR_NOMEM, "no memory for %d inputs", n);
  DM_FORWARD(dm_agree(s, pl->comm));
  if (pl->rank == 0) {
    for (int i = 0; i < n && s == DM_OK; i++) {
      const char *p = o->inputs[i];
      struct stat st;
      int fd = open(p, O_RDONLY);
      if (fd < 0)
        s = dm_error(DM_ERR_IO, "cannot open input %s: %s", p, strerror(errno));
      else if (fstat(fd, &st) != 0)
        s = dm_error(DM_ERR_IO, "cannot stat input %s: %s", p, strerror(errno));
      else if (!S_ISREG(st.st_mode))
        s = dm_error(DM_ERR_IO, "input %s is not a regular file", p);
      else
        pl->fsize[i] = (int64_t)st.st_size;
      if (fd >= 0)
        close(fd);
      dm_instream_kind k = DM_INSTREAM_PLAIN;
      if (s == DM_OK)
        s = dm_instream_detect(p, &k);
      pl->kind[i] = (int)k;
    }
  }
  DM_FORWARD(dm_agree(s, pl->comm));
  MPI_Bcast(pl->fsize, n, MPI_INT64_T, 0, pl->comm);
  MPI_Bcast(pl->kind, n, MPI_INT, 0, pl->comm);
  memcpy(pl->csize, pl->fsize, (size_t)n * sizeof *pl->fsize);
  DM_FORWARD(measure_compressed(pl));
  if (o->stripe_kb == 0)
    pl->stripe = balanced_stripe(pl->fsize, n, pl->stripe, pl->size);
  int64_t k = 0, bytes = 0;
  for (int i = 0; i < n; i++) {
    pl->first[i] = k;
    k += (pl->fsize[i] + pl->stripe - 1) / pl->stripe;
    bytes += pl->fsize[i];
  }
  pl->first[n] = k;
  pl->n_stripes = k;
  pl->n_rounds = (k + pl->size - 1) / pl->size;
  pl->total_bytes = bytes;
  return DM_OK;
}

/* ---- prefetch: the next stripe is read on a helper thread ------------------ */

typedef struct {
  pthread_t tid;
  int running;
  dm_stripe_buf *buf;
  const char *path;
  int64_t fsize;
  int kind;
  dm_stripe_ref ref;
  dm_stripe_src src; /* this rank's stream through a compressed input */
} prefetch;

static void *prefetch_main(void *arg)
{
  prefetch *p = arg;
  dm_stripe_load(p->buf, p->path, p->fsize, p->ref, p->kind, &p->src);
  return NULL;
}

static void prefetch_start(prefetch *p, const plan *pl, dm_stripe_buf *buf, int64_t s)
{
  p->buf = buf;
  p->ref = stripe_ref(pl, s);
  p->path = p->ref.file >= 0 ? pl->o->inputs[p->ref.file] : "";
  p->fsize = p->ref.file >= 0 ? pl->fsize[p->ref.file] : 0;
  p->kind = p->ref.file >= 0 ? pl->kind[p->ref.file] : DM_INSTREAM_PLAIN;
  /* A thread only for real work; fall back to reading inline. */
  p->running = p->ref.file >= 0 && pthread_create(&p->tid, NULL, prefetch_main, p) == 0;
  if (!p->running)
    prefetch_main(p);
}

static void prefetch_wait(prefetch *p)
{
  if (p->running)
    pthread_join(p->tid, NULL);
  p->running = 0;
}

/* ---- the global process table and the per-round merge ---------------------- */

/* Pack the names of piece that the global table lacks (int32 length +
 * bytes), gather every rank's, add them in rank order (= input order) on
 * every rank, and remap the piece's indices to global ones. */
static dm_status merge_names(const plan *pl, dm_piece *global, dm_piece *piece, char **pack,
                             int64_t *pack_cap, int64_t **counts, int *counts_cap)
{
  int64_t len = 0;
  dm_status s = DM_OK;
  for (int i = 0; i < piece->n_names; i++) {
    const char *nm = piece->names + piece->name_off[i];
    int32_t l = piece->name_len[i];
    if (dm_piece_name_find(global, nm, (size_t)l) >= 0)
      continue;
    if (len + 4 + l > *pack_cap) {
      int64_t cap = 2 * (len + 4 + l) + 256;
      char *q = realloc(*pack, (size_t)cap);
      if (!q) {
        s = dm_error(DM_ERR_NOMEM, "no memory for process names");
        break;
      }
      *pack = q;
      *pack_cap = cap;
    }
    memcpy(*pack + len, &l, 4);
    memcpy(*pack + len + 4, nm, (size_t)l);
    len += 4 + l;
  }
  if (len > INT32_MAX / 2)
    s = dm_error(DM_ERR_FORMAT, "too many distinct process names in one stripe");
  DM_FORWARD(dm_agree(s, pl->comm));
  int n = pl->size;
  int *sizes = malloc((size_t)n * sizeof *sizes), *displ = malloc((size_t)n * sizeof *displ);
  int my = (int)len;
  s = sizes && displ ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for the name exchange");
  DM_FORWARD(dm_agree(s, pl->comm));
  MPI_Allgather(&my, 1, MPI_INT, sizes, 1, MPI_INT, pl->comm);
  int64_t total = 0;
  for (int r = 0; r < n; r++) {
    displ[r] = (int)total;
    total += sizes[r];
  }
  char *all = NULL;
  if (total > 0) {
    all = malloc((size_t)total);
    s = all ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for the name exchange");
    s = dm_agree(s, pl->comm);
    if (s == DM_OK)
      MPI_Allgatherv(*pack, my, MPI_CHAR, all, sizes, displ, MPI_CHAR, pl->comm);
    /* Same bytes on every rank, so every rank builds the same table and
     * fails (if at all) in the same place. */
    for (int64_t off = 0; s == DM_OK && off < total;) {
      int32_t l;
      memcpy(&l, all + off, 4);
      if (dm_piece_name_index(global, all + off + 4, (size_t)l) < 0)
        s = dm_error(DM_ERR_FORMAT,
                     "more than 65535 distinct process names: the input is not an archive of "
                     "a few processes (is the process column right?)");
      off += 4 + l;
    }
  }
  free(all);
  free(sizes);
  free(displ);
  DM_FORWARD(s);
  if (global->n_names > *counts_cap) {
    int cap = global->n_names + 64;
    int64_t *c = realloc(*counts, (size_t)cap * sizeof *c);
    s = c ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for process counts");
    if (c) {
      memset(c + *counts_cap, 0, (size_t)(cap - *counts_cap) * sizeof *c);
      *counts = c;
      *counts_cap = cap;
    }
  }
  /* Remap: local index -> global index. */
  int *m = malloc((size_t)(piece->n_names + 1) * sizeof *m);
  if (s == DM_OK && !m)
    s = dm_error(DM_ERR_NOMEM, "no memory for process names");
  for (int i = 0; s == DM_OK && i < piece->n_names; i++) {
    m[i] = dm_piece_name_find(global, piece->names + piece->name_off[i],
                              (size_t)piece->name_len[i]);
    if (m[i] < 0)
      s = dm_error(DM_ERR_INTERNAL, "process name lost in the merge");
  }
  for (int64_t i = 0; s == DM_OK && i < piece->ev.n_events; i++) {
    int g = m[piece->ev.process[i]];
    piece->ev.process[i] = (uint16_t)g;
    (*counts)[g]++;
  }
  free(m);
  return dm_agree(s, pl->comm);
}

/* ---- rejects, streamed to rank 0 in input order ---------------------------- */

typedef struct {
  FILE *f;              /* rank 0, NULL if no rejects file */
  dm_atomic at;         /* its claim and temporary (rank 0) */
  int failed;           /* a write failed (rank 0) */
  char *buf;
  int64_t cap;
} rejects_out;

static void rejects_write(rejects_out *ro, const plan *pl, const dm_reject_buf *rb,
                          dm_stripe_ref ref, int64_t first_line)
{
  int64_t pos = 0, line, full, tl;
  int reason;
  const char *text;
  const char *name = ref.file >= 0 ? pl->o->inputs[ref.file] : "?";
  while (dm_reject_next(rb, &pos, &reason, &line, &full, &text, &tl)) {
    if (fprintf(ro->f, "%s\t%lld\t%s\t", name, (long long)(first_line + line),
                dm_bad_kind_name((dm_bad_kind)reason)) < 0 ||
        fwrite(text, 1, (size_t)tl, ro->f) != (size_t)tl)
      ro->failed = 1;
    if (full > tl)
      fprintf(ro->f, "...[%lld bytes]", (long long)full);
    if (fputc('\n', ro->f) == EOF)
      ro->failed = 1;
  }
}

/* COLLECTIVE. refs[r] and first_line[r]: rank r's stripe and its first line
 * number in its file. */
static dm_status rejects_round(rejects_out *ro, int enabled, const plan *pl,
                               const dm_piece *piece, const dm_stripe_ref *refs,
                               const int64_t *first_line)
{
  int64_t my = enabled ? piece->rejects.len : 0;
  int n = pl->size;
  int64_t *sizes = pl->rank == 0 ? malloc((size_t)n * sizeof *sizes) : NULL;
  dm_status s = pl->rank == 0 && !sizes ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK;
  DM_FORWARD(dm_agree(s, pl->comm));
  MPI_Gather(&my, 1, MPI_INT64_T, sizes, 1, MPI_INT64_T, 0, pl->comm);
  /* One rank's records at a time: rank 0 never holds more than one stripe's
   * rejects, whatever the rank count. */
  if (pl->rank == 0) {
    if (my > 0 && ro->f)
      rejects_write(ro, pl, &piece->rejects, refs[0], first_line[0]);
    for (int r = 1; r < n; r++) {
      if (sizes[r] == 0)
        continue;
      if (sizes[r] > ro->cap) {
        char *b = realloc(ro->buf, (size_t)sizes[r]);
        if (!b) {
          /* Still receive (into nothing useful) to keep ranks matched. */
          ro->failed = 1;
          s = dm_error(DM_ERR_NOMEM, "no memory for rejected lines");
        } else {
          ro->buf = b;
          ro->cap = sizes[r];
        }
      }
      for (int64_t off = 0; off < sizes[r];) {
        int chunk = sizes[r] - off > (1 << 30) ? (1 << 30) : (int)(sizes[r] - off);
        char *dst = ro->cap >= sizes[r] ? ro->buf + off : NULL;
        if (dst)
          MPI_Recv(dst, chunk, MPI_CHAR, r, 77, pl->comm, MPI_STATUS_IGNORE);
        else {
          char *tmp = malloc((size_t)chunk);
          MPI_Recv(tmp, chunk, MPI_CHAR, r, 77, pl->comm, MPI_STATUS_IGNORE);
          free(tmp);
        }
        off += chunk;
      }
      if (ro->cap >= sizes[r] && ro->f) {
        dm_reject_buf rb = {ro->buf, sizes[r], ro->cap};
        rejects_write(ro, pl, &rb, refs[r], first_line[r]);
      }
    }
    if (ro->failed && s == DM_OK)
      s = dm_error(DM_ERR_IO, "writing the rejects file %s failed (disk full?)", ro->at.tmp_path);
  } else if (my > 0) {
    for (int64_t off = 0; off < my;) {
      int chunk = my - off > (1 << 30) ? (1 << 30) : (int)(my - off);
      MPI_Send(piece->rejects.data + off, chunk, MPI_CHAR, 0, 77, pl->comm);
      off += chunk;
    }
  }
  free(sizes);
  return dm_agree(s, pl->comm);
}

/* ---- checksums: leaves gathered to rank 0, folded per input in order ------- */

typedef struct {
  XXH3_state_t *st; /* rank 0 */
  int cur;          /* input being hashed, -1 none */
  char (*hex)[33];  /* per input */
  uint8_t *all;     /* gather buffer */
} hasher;

static void hash_finish_input(hasher *h)
{
  if (h->cur < 0)
    return;
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h->st));
  for (int i = 0; i < 16; i++)
    snprintf(h->hex[h->cur] + 2 * i, 3, "%02x", c.digest[i]);
  h->cur = -1;
}

/* Rank 0: stripes arrive in input order, so one running state suffices: the
 * current input is closed when the next one starts. */
static void hash_advance(hasher *h, int file)
{
  if (h->cur == file)
    return;
  hash_finish_input(h);
  h->cur = file;
  XXH3_128bits_reset(h->st);
}

static dm_status hash_round(hasher *h, const plan *pl, const dm_stripe_buf *b,
                            const dm_stripe_ref *refs, int cap_leaves)
{
  int64_t slot = 4 + (int64_t)cap_leaves * 16;
  uint8_t *mine = calloc(1, (size_t)slot);
  dm_status s = mine ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
  DM_FORWARD(dm_agree(s, pl->comm));
  int32_t nl = b->ref.file >= 0 ? b->n_leaves : 0;
  memcpy(mine, &nl, 4);
  memcpy(mine + 4, b->leaves, (size_t)nl * 16);
  MPI_Gather(mine, (int)slot, MPI_BYTE, h->all, (int)slot, MPI_BYTE, 0, pl->comm);
  free(mine);
  if (pl->rank == 0) {
    for (int r = 0; r < pl->size; r++) {
      if (refs[r].file < 0)
        continue;
      const uint8_t *p = h->all + (int64_t)r * slot;
      int32_t n;
      memcpy(&n, p, 4);
      hash_advance(h, refs[r].file);
      XXH3_128bits_update(h->st, p + 4, (size_t)n * 16);
    }
  }
  return DM_OK;
}

/* ---- the run --------------------------------------------------------------- */

static double now(void) { return MPI_Wtime(); }

static dm_status check_opts(const dm_ingest_opts *o)
{
  if (!o->out || !*o->out)
    return dm_error(DM_ERR_ARG, "no output store given (--out)");
  if (o->n_inputs < 1)
    return dm_error(DM_ERR_ARG, "no input files given");
  if (!(o->max_bad_fraction >= 0 && o->max_bad_fraction <= 1))
    return dm_error(DM_ERR_ARG, "--max-bad-fraction must be in [0, 1]");
  if (o->buffer_mb < 8 || o->buffer_mb > (1 << 20))
    return dm_error(DM_ERR_ARG, "--buffer-mb must be in [8, 1048576]");
  if (o->stripe_kb < 0 || (o->stripe_kb >= 1024 && o->stripe_kb % 1024) ||
      o->stripe_kb > ((int64_t)1 << 30) / 1024 * 1024)
    return dm_error(DM_ERR_ARG, "--stripe-kb must be below 1024 or a multiple of 1024");
  return DM_OK;
}

dm_status dm_ingest_run(const dm_ingest_opts *o, MPI_Comm comm, dm_ingest_report *rep)
{
  double t0 = now();
  memset(rep, 0, sizeof *rep);
  plan pl = {.o = o, .comm = comm, .rank = dm_rank(comm), .size = dm_size(comm)};
  DM_FORWARD(dm_agree(check_opts(o), comm));
  pl.stripe = o->stripe_kb > 0 ? o->stripe_kb * 1024 : (o->buffer_mb / 4) << 20;
  pl.hash_block = pl.stripe < DM_INGEST_HASH_BLOCK ? pl.stripe : DM_INGEST_HASH_BLOCK;
  int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
  dm_status s = plan_inputs(&pl);
  if (s != DM_OK) {
    free(pl.fsize);
    free(pl.first);
    free(pl.kind);
    free(pl.csize);
    free(pl.chex);
    return s;
  }

  /* Everything that can fail before the first round: buffers, the rejects
   * file, the store. */
  dm_stripe_buf bufs[2];
  memset(bufs, 0, sizeof bufs);
  dm_piece piece, global;
  memset(&piece, 0, sizeof piece);
  memset(&global, 0, sizeof global);
  dm_piece_reset(&global);
  rejects_out ro;
  memset(&ro, 0, sizeof ro);
  hasher h = {NULL, -1, NULL, NULL};
  int cap_leaves = (int)(pl.stripe / pl.hash_block) + 1;
  s = dm_stripe_buf_init(&bufs[0], pl.stripe, pl.hash_block);
  if (s == DM_OK)
    s = dm_stripe_buf_init(&bufs[1], pl.stripe, pl.hash_block);
  if (s == DM_OK && pl.rank == 0) {
    h.st = XXH3_createState();
    h.hex = calloc((size_t)o->n_inputs, sizeof *h.hex);
    h.all = malloc((size_t)pl.size * (4 + (size_t)cap_leaves * 16));
    if (!h.st || !h.hex || !h.all)
      s = dm_error(DM_ERR_NOMEM, "no memory for checksums");
  }
  if (s == DM_OK && pl.rank == 0 && o->rejects) {
    s = dm_atomic_fopen(&ro.at, o->rejects, &ro.f);
    if (s != DM_OK)
      dm_error_context("the rejects file");
    else
      fputs("# input\tline\treason\ttext\n", ro.f);
  }
  s = dm_agree(s, comm);
  dm_store_writer *w = NULL;
  dm_store_write_stats wst;
  memset(&wst, 0, sizeof wst);
  if (s == DM_OK) {
    dm_store_layout lay = {o->zstd_level, o->chunk_events, o->precision_double};
    s = dm_store_writer_create(o->out, &lay, comm, &w);
  }
  dm_progress *prog = NULL;
  if (s == DM_OK)
    prog = dm_progress_start(comm, "ingest", pl.total_bytes, o->progress, o->progress_interval);

  int64_t *counts = NULL;
  int counts_cap = 0;
  char *pack = NULL;
  int64_t pack_cap = 0;
  int64_t *file_lines = calloc((size_t)o->n_inputs, sizeof *file_lines);
  int64_t *nlines = malloc((size_t)pl.size * sizeof *nlines);
  int64_t *first_line = malloc((size_t)pl.size * sizeof *first_line);
  dm_stripe_ref *refs = malloc((size_t)pl.size * sizeof *refs);
  if (s == DM_OK && (!file_lines || !nlines || !first_line || !refs))
    s = dm_error(DM_ERR_NOMEM, "no memory");
  s = dm_agree(s, comm);

  prefetch pf = {0};
  pf.src.file = -1;
  int cur = 0;
  double t_wait = 0, t_parse = 0, t_write = 0, t_exch = 0, t_finish = 0;
  if (s == DM_OK && pl.n_rounds > 0)
    prefetch_start(&pf, &pl, &bufs[cur], pl.rank);
  for (int64_t k = 0; s == DM_OK && k < pl.n_rounds; k++) {
    double ta = now();
    prefetch_wait(&pf);
    dm_stripe_buf *b = &bufs[cur];
    if (k + 1 < pl.n_rounds)
      prefetch_start(&pf, &pl, &bufs[1 - cur], (k + 1) * pl.size + pl.rank);
    double tb = now();
    s = b->status == DM_OK ? DM_OK : dm_error(b->status, "%s", b->message);
    if (s == DM_OK)
      s = dm_stripe_parse(b, o->precision_double, threads, &piece);
    double tc = now();
    s = dm_agree(s, comm);
    if (s != DM_OK)
      break;

    /* Line numbers: every rank learns every stripe's line count. */
    MPI_Allgather(&piece.n_lines, 1, MPI_INT64_T, nlines, 1, MPI_INT64_T, comm);
    for (int r = 0; r < pl.size; r++) {
      refs[r] = stripe_ref(&pl, k * pl.size + r);
      if (refs[r].file >= 0) {
        first_line[r] = file_lines[refs[r].file] + 1;
        file_lines[refs[r].file] += nlines[r];
      }
    }
    s = merge_names(&pl, &global, &piece, &pack, &pack_cap, &counts, &counts_cap);
    double td = now();
    if (s == DM_OK)
      s = dm_store_writer_append(w, &piece.ev);
    double te = now();
    if (s == DM_OK)
      s = rejects_round(&ro, o->rejects != NULL, &pl, &piece, refs, first_line);
    if (s == DM_OK)
      s = hash_round(&h, &pl, b, refs, cap_leaves);
    rep->n_lines += piece.n_lines;
    rep->n_bad += piece.n_bad;
    for (int i = 0; i < DM_BAD_NKINDS; i++)
      rep->bad[i] += piece.bad[i];
    rep->inexact_values += piece.inexact_values;
    rep->inexact_events += piece.inexact_events;
    dm_progress_add(prog, piece.ev.n_events, b->ref.file >= 0 ? b->ref.end - b->ref.begin : 0);
    dm_progress_tick(prog);
    cur = 1 - cur;
    double tf = now();
    t_wait += tb - ta;
    t_parse += tc - tb;
    t_write += te - td;
    t_exch += (td - tc) + (tf - te);
  }
  prefetch_wait(&pf);
  dm_stripe_src_close(&pf.src);
  dm_progress_finish(prog);

  /* Global numbers (every rank counted its own stripes). */
  int64_t sums[4 + DM_BAD_NKINDS] = {rep->n_lines, rep->n_bad, rep->inexact_values,
                                     rep->inexact_events};
  for (int i = 0; i < DM_BAD_NKINDS; i++)
    sums[4 + i] = rep->bad[i];
  dm_allsum_i64_array(sums, 4 + DM_BAD_NKINDS, comm);
  rep->n_lines = sums[0];
  rep->n_bad = sums[1];
  rep->inexact_values = sums[2];
  rep->inexact_events = sums[3];
  for (int i = 0; i < DM_BAD_NKINDS; i++)
    rep->bad[i] = sums[4 + i];
  int n_proc = global.n_names;
  if (s == DM_OK && n_proc > 0)
    s = dm_allsum_i64_array(counts, n_proc, comm);

  /* Too many bad lines: the store fails, the rejects file is kept. */
  int bad_fraction = 0;
  if (s == DM_OK && rep->n_lines > 0 &&
      (double)rep->n_bad > o->max_bad_fraction * (double)rep->n_lines) {
    bad_fraction = 1;
    s = dm_error(DM_ERR_BAD_FRACTION,
                 "%lld of %lld lines rejected (%.3g), above --max-bad-fraction %g%s%s",
                 (long long)rep->n_bad, (long long)rep->n_lines,
                 (double)rep->n_bad / (double)rep->n_lines, o->max_bad_fraction,
                 o->rejects ? "; see " : "", o->rejects ? o->rejects : "");
  }

  /* Provenance: each input's name, size and tree checksum, from rank 0. */
  char *inputs = NULL;
  int64_t inputs_len = 0;
  if (pl.rank == 0 && s == DM_OK) {
    hash_finish_input(&h);
    size_t cap = 256;
    for (int i = 0; i < o->n_inputs; i++)
      cap += strlen(o->inputs[i]) + 96;
    inputs = malloc(cap);
    if (inputs) {
      size_t len = 0;
      char algo[64];
      if (pl.hash_block >= ((int64_t)1 << 20))
        snprintf(algo, sizeof algo, "xxh3-128-tree-%lldMiB", (long long)(pl.hash_block >> 20));
      else
        snprintf(algo, sizeof algo, "xxh3-128-tree-%lldKiB", (long long)(pl.hash_block >> 10));
      for (int i = 0; i < o->n_inputs; i++) {
        if (pl.kind[i] != DM_INSTREAM_PLAIN) {
          /* The compressed file as given, checksummed whole. */
          memcpy(h.hex[i], pl.chex[i], 33);
        } else if (pl.first[i] == pl.first[i + 1]) {
          /* An empty input: the tree over no leaves. */
          XXH128_canonical_t c;
          XXH128_canonicalFromHash(&c, XXH3_128bits("", 0));
          for (int j = 0; j < 16; j++)
            snprintf(h.hex[i] + 2 * j, 3, "%02x", c.digest[j]);
        }
        len += (size_t)snprintf(inputs + len, cap - len, "%s\t%lld\t%s:%s\n", o->inputs[i],
                                (long long)pl.csize[i], algo, h.hex[i]);
      }
      inputs_len = (int64_t)len;
    }
  }
  MPI_Bcast(&inputs_len, 1, MPI_INT64_T, 0, comm);
  if (pl.rank != 0 && inputs_len > 0)
    inputs = malloc((size_t)inputs_len + 1);
  if (inputs_len > 0) {
    int ok = dm_alltrue(inputs != NULL, comm);
    if (ok) {
      MPI_Bcast(inputs, (int)inputs_len, MPI_CHAR, 0, comm);
      inputs[inputs_len] = '\0';
    } else if (s == DM_OK) {
      s = dm_error(DM_ERR_NOMEM, "no memory for provenance");
    }
  }

  /* Ingest numbers as store attributes (same values on every rank). */
  if (w && s == DM_OK) {
    hid_t f = dm_store_writer_file(w);
    s = dm_h5_attr_set_i64(f, "source_bytes", pl.total_bytes);
    if (s == DM_OK)
      s = dm_h5_attr_set_i64(f, "source_lines", rep->n_lines);
    if (s == DM_OK)
      s = dm_h5_attr_set_i64(f, "rejected_lines", rep->n_bad);
    if (s == DM_OK)
      s = dm_h5_attr_set_i64(f, "inexact_float32_values", rep->inexact_values);
    s = dm_agree(s, comm);
  }
  if (w) {
    const char **names = malloc((size_t)(n_proc + 1) * sizeof *names);
    char *text0 = malloc((size_t)global.names_len + (size_t)n_proc + 1), *text = text0;
    if (names && text) {
      for (int i = 0; i < n_proc; i++) {
        names[i] = text;
        memcpy(text, global.names + global.name_off[i], (size_t)global.name_len[i]);
        text += global.name_len[i];
        *text++ = '\0';
      }
    } else if (s == DM_OK) {
      s = dm_error(DM_ERR_NOMEM, "no memory for the process table");
    }
    rep->n_events = dm_store_writer_n_events(w);
    rep->n_objects = dm_store_writer_n_objects(w);
    dm_store_writer_stats_to(w, &wst);
    t_finish = now();
    s = dm_store_writer_finish(w, s, names, counts, n_proc,
                               o->command_line ? o->command_line : "dmpipe ingest", inputs);
    t_finish = now() - t_finish;
    free(text0);
    free(names);
  }

  /* The rejects file: renamed when the run succeeded or failed only for too
   * many bad lines (it explains the failure); removed otherwise. */
  if (pl.rank == 0 && ro.f) {
    int keep = s == DM_OK || (bad_fraction && s == DM_ERR_BAD_FRACTION);
    dm_status r = ro.failed ? dm_error(DM_ERR_IO, "writing the rejects file %s failed (disk "
                                       "full?)", ro.at.tmp_path)
                            : DM_OK;
    /* Committed (synced, renamed) when kept, removed otherwise. */
    r = dm_atomic_fclose(&ro.at, ro.f, keep ? r : s);
    ro.f = NULL;
    if (s == DM_OK)
      s = r;
  }
  s = dm_agree(s, comm);

  if (s == DM_OK && pl.rank == 0) {
    struct stat st;
    if (stat(o->out, &st) == 0)
      rep->store_bytes = (int64_t)st.st_size;
  }
  MPI_Bcast(&rep->store_bytes, 1, MPI_INT64_T, 0, comm);
  rep->input_bytes = pl.total_bytes;
  rep->n_processes = n_proc;
  rep->stripe_bytes = pl.stripe;
  rep->n_stripes = pl.n_stripes;
  rep->n_rounds = pl.n_rounds;
  rep->n_ranks = pl.size;
  rep->n_threads = threads;
  rep->t_read_wait = dm_allmax_f64(t_wait, comm);
  rep->t_parse = dm_allmax_f64(t_parse, comm);
  rep->t_write = dm_allmax_f64(t_write, comm);
  rep->t_exchange = dm_allmax_f64(t_exch, comm);
  rep->t_compress = dm_allmax_f64(wst.compress, comm);
  rep->t_mpiio = dm_allmax_f64(wst.write, comm);
  /* Placement is rank 0's (the others hold zeros). */
  rep->t_chunk_register = dm_allmax_f64(wst.register_s, comm);
  rep->chunks = dm_allmax_i64(wst.chunks, comm);
  rep->t_addr_wait = dm_allmax_f64(pl.rank == 0 ? 0.0 : wst.addr_wait, comm);
  rep->t_finish = dm_allmax_f64(t_finish, comm);
  rep->writebacks = wst.writebacks;
  dm_allsum_i64_array(&rep->writebacks, 1, comm);
  rep->seconds = dm_allmax_f64(now() - t0, comm);

  free(inputs);
  free(counts);
  free(pack);
  free(file_lines);
  free(nlines);
  free(first_line);
  free(refs);
  free(ro.buf);
  if (h.st)
    XXH3_freeState(h.st);
  free(h.hex);
  free(h.all);
  dm_piece_free(&piece);
  dm_piece_free(&global);
  dm_stripe_buf_free(&bufs[0]);
  dm_stripe_buf_free(&bufs[1]);
  free(pl.fsize);
  free(pl.first);
  free(pl.kind);
  free(pl.csize);
  free(pl.chex);
  return s;
}
