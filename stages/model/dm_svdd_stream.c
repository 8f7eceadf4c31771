/* dm_svdd_stream.c - Deep SVDD on a training set streamed from its source,
 * window by window, within a memory budget (the scheme and what it
 * guarantees are in dm_svdd.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_rng.h"
#include "dm_svdd_impl.h"

/* Name the random streams of the block order and the window shuffles. */
#define DM_SVDD_STREAM_BLOCKS 0x424c4f43ULL
#define DM_SVDD_STREAM_SHUFFLE 0x53485546ULL
#define DM_SVDD_HIST_BINS 65536

/* Bytes one row of a window costs: the row, its weights, its distance and
 * its three indices (place in the window, batch order, sort scratch). */
static int64_t row_bytes(int dim, int weighted)
{
  return 4 * (int64_t)dim + 4 + 3 * 8 + (weighted ? 8 + 4 : 0);
}

dm_status dm_svdd_stream_geometry(int64_t budget, int dim, int weighted, int64_t batch,
                                  int64_t *block_events, int64_t *window_blocks)
{
  int64_t rows = budget / 4 * 3 / row_bytes(dim, weighted);
  if (rows < batch || rows < 1)
    return dm_error(DM_ERR_ARG, "--pool-mb: %lld bytes per rank hold %lld training rows of %d "
                    "columns, fewer than one batch of %lld: raise --pool-mb",
                    (long long)budget, (long long)rows, dim, (long long)batch);
  /* Up to DM_SVDD_WINDOW_BLOCKS blocks, but fewer (not under 4) rather than
   * blocks under DM_SVDD_BLOCK_EVENTS events: a read of a few events costs
   * about as much as one of a whole compressed chunk of the store. */
  int64_t w = rows / DM_SVDD_BLOCK_EVENTS;
  w = w > DM_SVDD_WINDOW_BLOCKS ? DM_SVDD_WINDOW_BLOCKS : w < 4 ? 4 : w;
  if (w > rows)
    w = rows;
  *window_blocks = w;
  *block_events = rows / w;
  return DM_OK;
}

void dm_svdd_stream_close(dm_svdd_stream *s)
{
  free(s->x);
  free(s->rw);
  free(s->d);
  free(s->w);
  free(s->pos);
  free(s->rows);
  free(s->start);
  free(s->scratch);
  free(s->cnt);
  memset(s, 0, sizeof *s);
}

dm_status dm_svdd_stream_open(dm_svdd_stream *s, const dm_model_stream *src, int dim,
                              int64_t n_total, int64_t batch, int64_t budget, MPI_Comm comm)
{
  memset(s, 0, sizeof *s);
  s->src = src;
  s->dim = dim;
  s->weighted = src->weighted;
  s->size = dm_size(comm);
  s->rank = dm_rank(comm);
  s->n_total = n_total;
  s->batch = batch;
  s->wscale = 1.0;
  DM_FORWARD(dm_svdd_stream_geometry(budget, dim, s->weighted, batch, &s->block_events,
                                     &s->window_blocks));
  s->n_blocks = (src->n_units + s->block_events - 1) / s->block_events;
  s->n_windows = (s->n_blocks + s->window_blocks - 1) / s->window_blocks;
  /* This rank reads ceil(E / P) events of each block at most: a window of
   * P = 1 is the whole budget, of P ranks about 1/P of it each. */
  int64_t per_block = (s->block_events + s->size - 1) / s->size;
  s->cap = per_block * s->window_blocks;
  size_t c = (size_t)(s->cap > 0 ? s->cap : 1);
  s->x = malloc(c * (size_t)dim * sizeof(float));
  s->d = malloc(c * sizeof(float));
  s->pos = malloc(c * sizeof(int64_t));
  s->rows = malloc(c * sizeof(int64_t));
  s->scratch = malloc(c * sizeof(int64_t));
  /* Batches of a window: at most ceil(W E / B) (a window holds at most one
   * row per event). */
  s->start = malloc((size_t)(s->block_events * s->window_blocks / batch + 2) * sizeof(int64_t));
  s->cnt = malloc((size_t)(3 * s->window_blocks) * sizeof(int64_t));
  if (s->weighted) {
    s->w = malloc(c * sizeof(double));
    s->rw = malloc(c * sizeof(float));
  }
  dm_status st = DM_OK;
  if (!s->x || !s->d || !s->pos || !s->rows || !s->scratch || !s->start || !s->cnt ||
      (s->weighted && (!s->w || !s->rw)))
    st = dm_error(DM_ERR_NOMEM, "svdd: no memory for a window of %lld rows", (long long)s->cap);
  st = dm_agree(st, comm);
  if (st != DM_OK)
    dm_svdd_stream_close(s);
  return st;
}

/* COLLECTIVE. Load window w: blocks order(wW) .. order(wW + W - 1) (order
 * NULL: the natural one). Every rank reads its 1/P of each block's events;
 * its rows get their place in the window (by block, then store order). */
static dm_status load_window(dm_svdd_stream *s, int64_t w, const dm_svdd_perm *order,
                             MPI_Comm comm)
{
  int64_t W = s->window_blocks, E = s->block_events, N = s->src->n_units;
  int64_t *mine = s->cnt, *below = s->cnt + W, *all = s->cnt + 2 * W;
  s->nl = 0;
  dm_status st = DM_OK;
  for (int64_t t = 0; t < W; t++) {
    int64_t p = w * W + t, n = 0;
    mine[t] = 0;
    if (p >= s->n_blocks)
      continue; /* the same on every rank: no read is skipped by one only */
    int64_t j = order ? (int64_t)dm_svdd_perm_fwd(order, (uint64_t)p) : p;
    int64_t a = j * E, b = a + E < N ? a + E : N;
    int64_t lo = a + (b - a) * s->rank / s->size, hi = a + (b - a) * (s->rank + 1) / s->size;
    st = s->src->read(s->src->ctx, lo, hi - lo, s->x + s->nl * s->dim,
                      s->weighted ? s->w + s->nl : NULL, &n, comm);
    if (st != DM_OK)
      return st; /* agreed by read */
    mine[t] = n;
    s->nl += n;
  }
  /* Rows of each block on lower ranks and in all: one scan, one sum. */
  if (MPI_Exscan(mine, below, (int)W, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS ||
      MPI_Allreduce(mine, all, (int)W, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
    return dm_error(DM_ERR_MPI, "svdd: counting a window's rows failed");
  if (s->rank == 0)
    memset(below, 0, (size_t)W * sizeof(int64_t));
  int64_t off = 0, k = 0;
  for (int64_t t = 0; t < W; t++) {
    for (int64_t i = 0; i < mine[t]; i++)
      s->pos[k++] = off + below[t] + i;
    off += all[t];
  }
  s->R = off;
  if (s->weighted)
    for (int64_t i = 0; i < s->nl; i++)
      s->rw[i] = (float)(s->w[i] * s->wscale);
  return st;
}

dm_status dm_svdd_stream_prepass(dm_svdd_stream *s, MPI_Comm comm, uint64_t *fingerprint)
{
  uint64_t fp = 0;
  dm_xsum wsum;
  memset(&wsum, 0, sizeof wsum);
  int64_t seen = 0;
  for (int64_t w = 0; w < s->n_windows; w++) {
    DM_FORWARD(load_window(s, w, NULL, comm));
    seen += s->R;
    /* The in-memory fit's row hash, so a row is the same row either way. */
    for (int64_t i = 0; i < s->nl; i++)
      fp += dm_svdd_hash(s->x + i * s->dim, (size_t)s->dim * sizeof(float), 0x53564444);
    for (int64_t i = 0; s->weighted && i < s->nl; i++) {
      fp += dm_svdd_hash(&s->w[i], sizeof(double), 0x57454947);
      dm_xsum_add(&wsum, s->w[i]);
    }
  }
  if (seen != s->n_total)
    return dm_error(DM_ERR_INTERNAL, "svdd: the stream gave %lld training rows, expected %lld "
                    "(did the store change?)", (long long)seen, (long long)s->n_total);
  MPI_Allreduce(MPI_IN_PLACE, &fp, 1, MPI_UINT64_T, MPI_SUM, comm);
  *fingerprint = fp;
  if (s->weighted) {
    DM_FORWARD(dm_xsum_allreduce(&wsum, 1, comm));
    double total = dm_xsum_value(&wsum);
    if (!(total > 0) || !isfinite(total))
      return dm_error(DM_ERR_NUMERIC, "svdd: the training weights sum to %g", total);
    s->wscale = (double)s->n_total / total;
  }
  return DM_OK;
}

dm_status dm_svdd_stream_centre(dm_svdd_stream *s, const dm_svdd_net *net, dm_svdd_work *ws,
                                MPI_Comm comm, float *c)
{
  int out = net->dims[net->n_layers];
  dm_xsum *acc = calloc((size_t)out, sizeof *acc);
  dm_status st = dm_agree(acc ? DM_OK : dm_error(DM_ERR_NOMEM, "svdd centre sums"), comm);
  for (int64_t w = 0; st == DM_OK && w < s->n_windows; w++) {
    st = load_window(s, w, NULL, comm);
    if (st == DM_OK)
      st = dm_agree(dm_svdd_centre_add(net, ws, s->x, s->weighted ? s->rw : NULL, s->nl, acc),
                    comm);
  }
  if (st == DM_OK)
    st = dm_svdd_centre_finish(acc, out, s->n_total, comm, c);
  free(acc);
  return st;
}

/* The window's batches: rows[] lists local rows grouped by batch (batch b is
 * rows[start[b] .. start[b+1]), ascending), as dm_svdd_epoch_batches does
 * for an in-memory epoch, but for rows with explicit places. */
static int64_t window_batches(dm_svdd_stream *s, uint64_t key)
{
  dm_svdd_perm p;
  dm_svdd_perm_init(&p, (uint64_t)s->R, key);
  int64_t B = s->batch, nb = (s->R + B - 1) / B, nl = s->nl;
  int64_t *bat = s->scratch;
#pragma omp parallel for schedule(static) if (nl > 4096)
  for (int64_t i = 0; i < nl; i++)
    bat[i] = (int64_t)(dm_svdd_perm_inv(&p, (uint64_t)s->pos[i]) / (uint64_t)B);
  int64_t *start = s->start;
  memset(start, 0, (size_t)(nb + 1) * sizeof(int64_t));
  for (int64_t i = 0; i < nl; i++)
    start[bat[i] + 1]++;
  for (int64_t b = 0; b < nb; b++)
    start[b + 1] += start[b];
  for (int64_t i = 0; i < nl; i++) {
    int64_t b = bat[i];
    bat[i] = start[b]++;
  }
  for (int64_t i = 0; i < nl; i++)
    s->rows[bat[i]] = i;
  for (int64_t b = nb; b > 0; b--)
    start[b] = start[b - 1];
  start[0] = 0;
  return nb;
}

static inline uint32_t top16(float f)
{
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u >> 16;
}

dm_status dm_svdd_stream_epoch(dm_svdd_stream *s, dm_svdd_stepper *st, const dm_svdd_opts *o,
                               const dm_svdd_schedule *sch, uint64_t seed, int epoch,
                               MPI_Comm comm, double *loss_sum, uint64_t *r2_hist)
{
  dm_svdd_perm order;
  dm_svdd_perm_init(&order, (uint64_t)s->n_blocks,
                    dm_rng_hash(seed, DM_SVDD_STREAM_BLOCKS, (uint64_t)epoch));
  uint64_t shuffle = dm_rng_hash(seed, DM_SVDD_STREAM_SHUFFLE, (uint64_t)epoch);
  int dim = s->dim;
  int64_t done = 0;
  *loss_sum = 0.0;
  dm_status rc = DM_OK;
  for (int64_t w = 0; rc == DM_OK && w < s->n_windows; w++) {
    rc = load_window(s, w, &order, comm);
    if (rc != DM_OK)
      break;
    int64_t nb = window_batches(s, dm_rng_hash(shuffle, (uint64_t)w, 0));
    for (int64_t bi = 0; bi < nb && rc == DM_OK; bi++) {
      int64_t bg = s->R - bi * s->batch < s->batch ? s->R - bi * s->batch : s->batch;
      const int64_t *rows = s->rows + s->start[bi];
      int64_t n = s->start[bi + 1] - s->start[bi];
#pragma omp parallel for schedule(static) if (n * dim > 65536)
      for (int64_t i = 0; i < n; i++)
        memcpy(st->x + i * dim, s->x + rows[i] * dim, (size_t)dim * sizeof(float));
      for (int64_t i = 0; st->rw && i < n; i++)
        st->rw[i] = s->rw[rows[i]];
      double lr = dm_svdd_lr_step(o, sch, epoch, (double)done / (double)s->n_total);
      double loss = 0.0;
      rc = dm_svdd_step(st, n, bg, lr, comm, &loss);
      *loss_sum += loss * (double)bg;
      done += bg;
      for (int64_t i = 0; r2_hist && i < n; i++)
        r2_hist[top16(st->d2[i])]++;
    }
    rc = dm_agree(rc, comm);
  }
  if (rc == DM_OK && done != s->n_total)
    rc = dm_error(DM_ERR_INTERNAL, "svdd: epoch %d stepped %lld rows of %lld (did the store "
                  "change?)", epoch + 1, (long long)done, (long long)s->n_total);
  return rc;
}

dm_status dm_svdd_stream_kth(uint64_t *hist, int64_t k, MPI_Comm comm, float *out)
{
  if (MPI_Allreduce(MPI_IN_PLACE, hist, DM_SVDD_HIST_BINS, MPI_UINT64_T, MPI_SUM, comm) !=
      MPI_SUCCESS)
    return dm_error(DM_ERR_MPI, "svdd radius: MPI_Allreduce failed");
  uint64_t below = 0;
  int bin = 0;
  /* Distances are >= 0: their bit patterns order as the values. */
  while (bin < DM_SVDD_HIST_BINS - 1 && below + hist[bin] <= (uint64_t)k)
    below += hist[bin++];
  uint32_t u = ((uint32_t)bin << 16) | 0xffffu;
  float v;
  memcpy(&v, &u, sizeof v);
  if (!isfinite(v) || v < 0.0f)
    return dm_error(DM_ERR_NUMERIC, "svdd radius: a training distance is negative or not finite");
  *out = v;
  return DM_OK;
}

dm_status dm_svdd_stream_stats(dm_svdd_stream *s, const dm_svdd_net *net, const float *c,
                               MPI_Comm comm, double *mean, double *sd, int64_t *distinct,
                               int64_t *sample)
{
  /* Exact sums of d and d^2 (a float squared is exact in double): the same
   * bits for any split of the rows. */
  dm_xsum acc[2];
  memset(acc, 0, sizeof acc);
  dm_status st = DM_OK;
  for (int64_t w = 0; st == DM_OK && w < s->n_windows; w++) {
    st = load_window(s, w, NULL, comm);
    if (st != DM_OK)
      break;
    st = dm_agree(dm_svdd_dist2_rows(net, c, s->x, s->nl, s->d), comm);
    if (st != DM_OK)
      break;
    for (int64_t i = 0; i < s->nl; i++) {
      double d = s->d[i];
      dm_xsum_add(&acc[0], d);
      dm_xsum_add(&acc[1], d * d);
    }
    if (w == 0) {
      *sample = s->R;
      st = dm_svdd_count_distinct(s->d, s->nl, comm, distinct);
    }
  }
  if (st == DM_OK)
    st = dm_xsum_allreduce(acc, 2, comm);
  if (st != DM_OK)
    return st;
  double n = (double)s->n_total;
  *mean = dm_xsum_value(&acc[0]) / n;
  double var = dm_xsum_value(&acc[1]) / n - *mean * *mean;
  *sd = var > 0 ? sqrt(var) : 0.0;
  return DM_OK;
}
