/* dm_svdd_ckpt.c - the Deep SVDD training checkpoint.
 *
 * One raw native-endian file, written by rank 0 (every rank holds the same
 * state) to PATH.tmp, flushed to disk and renamed, so a preemption at any
 * moment leaves either the previous or the new checkpoint, never a torn one:
 *   "DMSVDDC1"  8 bytes
 *   config_hash u64, n_members i64, n_params i64, out_dim i64
 *   per member: started i64, epochs_done i64, adam_step i64, r2 f64, last_loss f64
 *   w, m, v     f32 [n_members x n_params] each
 *   c           f32 [n_members x out_dim]
 *   xxh64 of all bytes before it (seed 0)
 */
#include "dm_svdd_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_atomic.h"
#include "dm_comm.h"

static const char dm_svdd_magic[8] = {'D', 'M', 'S', 'V', 'D', 'D', 'C', '1'};

dm_status dm_svdd_state_alloc(dm_svdd_state *s, int n_members, int64_t n_params, int out_dim)
{
  memset(s, 0, sizeof(*s));
  size_t k = (size_t)n_members, kp = k * (size_t)n_params;
  s->n_members = n_members;
  s->n_params = n_params;
  s->out_dim = out_dim;
  s->started = calloc(k, sizeof(int));
  s->epochs_done = calloc(k, sizeof(int));
  s->adam_step = calloc(k, sizeof(int64_t));
  s->r2 = calloc(k, sizeof(double));
  s->last_loss = calloc(k, sizeof(double));
  s->w = calloc(kp, sizeof(float));
  s->m = calloc(kp, sizeof(float));
  s->v = calloc(kp, sizeof(float));
  s->c = calloc(k * (size_t)out_dim, sizeof(float));
  if (!s->started || !s->epochs_done || !s->adam_step || !s->r2 || !s->last_loss || !s->w ||
      !s->m || !s->v || !s->c) {
    dm_svdd_state_free(s);
    return dm_error(DM_ERR_NOMEM, "svdd training state: %d members x %lld parameters",
                    n_members, (long long)n_params);
  }
  return DM_OK;
}

void dm_svdd_state_free(dm_svdd_state *s)
{
  if (!s)
    return;
  free(s->started);
  free(s->epochs_done);
  free(s->adam_step);
  free(s->r2);
  free(s->last_loss);
  free(s->w);
  free(s->m);
  free(s->v);
  free(s->c);
  memset(s, 0, sizeof(*s));
}

static size_t ckpt_size(const dm_svdd_state *s)
{
  size_t k = (size_t)s->n_members, kp = k * (size_t)s->n_params;
  return 8 + 4 * 8 + k * 5 * 8 + 3 * kp * sizeof(float) + k * (size_t)s->out_dim * sizeof(float) +
         8;
}

/* Serialise into buf (ckpt_size bytes), or parse from it when reading. */
static void ckpt_pack(const dm_svdd_state *s, unsigned char *buf)
{
  unsigned char *p = buf;
#define PUT(src, nbytes)            \
  do {                              \
    memcpy(p, (src), (nbytes));     \
    p += (nbytes);                  \
  } while (0)
  int64_t hdr[3] = {s->n_members, s->n_params, s->out_dim};
  PUT(dm_svdd_magic, 8);
  PUT(&s->config_hash, 8);
  PUT(hdr, sizeof(hdr));
  for (int k = 0; k < s->n_members; k++) {
    int64_t a[3] = {s->started[k], s->epochs_done[k], s->adam_step[k]};
    PUT(a, sizeof(a));
    PUT(&s->r2[k], 8);
    PUT(&s->last_loss[k], 8);
  }
  size_t kp = (size_t)s->n_members * (size_t)s->n_params;
  PUT(s->w, kp * sizeof(float));
  PUT(s->m, kp * sizeof(float));
  PUT(s->v, kp * sizeof(float));
  PUT(s->c, (size_t)s->n_members * (size_t)s->out_dim * sizeof(float));
  uint64_t h = dm_svdd_hash(buf, (size_t)(p - buf), 0);
  PUT(&h, 8);
#undef PUT
}

static dm_status ckpt_write_rank0(const dm_svdd_state *s, const char *path)
{
  size_t n = ckpt_size(s);
  unsigned char *buf = malloc(n);
  if (!buf)
    return dm_error(DM_ERR_NOMEM, "%s: checkpoint of %zu bytes", path, n);
  ckpt_pack(s, buf);
  /* The one atomic write path (io/dm_atomic.h): claimed, synced, renamed. */
  dm_atomic at;
  FILE *f = NULL;
  dm_status st = dm_atomic_fopen(&at, path, &f);
  if (st == DM_OK) {
    if (fwrite(buf, 1, n, f) != n)
      st = dm_error(DM_ERR_IO, "%s: writing checkpoint: %s", at.tmp_path, dm_strerror_io(errno));
    st = dm_atomic_fclose(&at, f, st);
  }
  free(buf);
  return st;
}

dm_status dm_svdd_ckpt_write(const dm_svdd_state *s, const char *path, MPI_Comm comm)
{
  dm_status st = DM_OK;
  if (dm_rank(comm) == 0)
    st = ckpt_write_rank0(s, path);
  return dm_agree(st, comm);
}

static dm_status ckpt_read_rank0(dm_svdd_state *s, const char *path, int *found)
{
  *found = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT)
      return DM_OK;
    return dm_error(DM_ERR_IO, "%s: %s", path, strerror(errno));
  }
  size_t n = ckpt_size(s);
  unsigned char *buf = malloc(n + 1);
  if (!buf) {
    fclose(f);
    return dm_error(DM_ERR_NOMEM, "%s: checkpoint of %zu bytes", path, n);
  }
  size_t got = fread(buf, 1, n + 1, f);
  fclose(f);
  dm_status st = DM_OK;
  uint64_t h_file = 0, cfg = 0;
  int64_t hdr[3] = {0, 0, 0};
  if (got >= 8 + 32) {
    memcpy(&cfg, buf + 8, 8);
    memcpy(hdr, buf + 16, sizeof(hdr));
  }
  if (got < 8 + 32 || memcmp(buf, dm_svdd_magic, 8) != 0) {
    st = dm_error(DM_ERR_SCHEMA, "%s: not a dmpipe Deep SVDD checkpoint", path);
  } else if (hdr[0] != s->n_members || hdr[1] != s->n_params || hdr[2] != s->out_dim) {
    st = dm_error(DM_ERR_SCHEMA,
                  "%s: checkpoint of %lld members x %lld parameters (out %lld); this run has "
                  "%d x %lld (out %d)", path, (long long)hdr[0], (long long)hdr[1],
                  (long long)hdr[2], s->n_members, (long long)s->n_params, s->out_dim);
  } else if (got != n) {
    st = dm_error(DM_ERR_SCHEMA, "%s: checkpoint has %zu bytes, expected %zu (truncated?)", path,
                  got, n);
  } else {
    memcpy(&h_file, buf + n - 8, 8);
    if (dm_svdd_hash(buf, n - 8, 0) != h_file)
      st = dm_error(DM_ERR_SCHEMA, "%s: checkpoint checksum mismatch (corrupt file)", path);
    else if (cfg != s->config_hash)
      st = dm_error(DM_ERR_SCHEMA, "%s: checkpoint is from other training data or options "
                    "(only --epochs may change on --resume)", path);
  }
  if (st == DM_OK) {
    const unsigned char *p = buf + 8 + 32;
    for (int k = 0; k < s->n_members; k++) {
      int64_t a[3];
      memcpy(a, p, sizeof(a));
      p += sizeof(a);
      s->started[k] = (int)a[0];
      s->epochs_done[k] = (int)a[1];
      s->adam_step[k] = a[2];
      memcpy(&s->r2[k], p, 8);
      memcpy(&s->last_loss[k], p + 8, 8);
      p += 16;
    }
    size_t kp = (size_t)s->n_members * (size_t)s->n_params * sizeof(float);
    memcpy(s->w, p, kp);
    memcpy(s->m, p + kp, kp);
    memcpy(s->v, p + 2 * kp, kp);
    memcpy(s->c, p + 3 * kp, (size_t)s->n_members * (size_t)s->out_dim * sizeof(float));
    *found = 1;
  }
  free(buf);
  return st;
}

dm_status dm_svdd_ckpt_read(dm_svdd_state *s, const char *path, MPI_Comm comm, int *found)
{
  dm_status st = DM_OK;
  int fnd = 0;
  /* Rank 0 reads and broadcasts, so every rank starts from the same bytes. */
  if (dm_rank(comm) == 0)
    st = ckpt_read_rank0(s, path, &fnd);
  st = dm_agree(st, comm);
  if (st != DM_OK)
    return st;
  MPI_Bcast(&fnd, 1, MPI_INT, 0, comm);
  *found = fnd;
  if (!fnd)
    return DM_OK;
  int K = s->n_members;
  size_t kp = (size_t)K * (size_t)s->n_params;
  int rc = MPI_SUCCESS;
  rc |= MPI_Bcast(s->started, K, MPI_INT, 0, comm);
  rc |= MPI_Bcast(s->epochs_done, K, MPI_INT, 0, comm);
  rc |= MPI_Bcast(s->adam_step, K, MPI_INT64_T, 0, comm);
  rc |= MPI_Bcast(s->r2, K, MPI_DOUBLE, 0, comm);
  rc |= MPI_Bcast(s->last_loss, K, MPI_DOUBLE, 0, comm);
  float *arrays[3] = {s->w, s->m, s->v};
  for (int a = 0; a < 3; a++)
    for (size_t off = 0; off < kp; off += 1 << 28) {
      size_t cnt = kp - off < (size_t)1 << 28 ? kp - off : (size_t)1 << 28;
      rc |= MPI_Bcast(arrays[a] + off, (int)cnt, MPI_FLOAT, 0, comm);
    }
  rc |= MPI_Bcast(s->c, K * s->out_dim, MPI_FLOAT, 0, comm);
  if (rc != MPI_SUCCESS)
    return dm_error(DM_ERR_MPI, "%s: broadcasting the checkpoint failed", path);
  return DM_OK;
}
