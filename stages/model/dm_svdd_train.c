/* dm_svdd_train.c - data-parallel Deep SVDD training (see dm_svdd.h for what
 * is guaranteed across rank counts, resumes and threads). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_svdd_impl.h"
#include "dm_xsum.h"

/* Names the random stream of the batch order (any constant). */
#define DM_SVDD_STREAM_PERM 0x5045524dULL

void dm_svdd_opts_default(dm_svdd_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->n_hidden = 2;
  o->hidden[0] = 256;
  o->hidden[1] = 128;
  o->out_dim = 13;
  o->epochs = 20;
  o->batch = 500;
  o->lr = 1e-3;
  o->weight_decay = 1e-6;
  o->objective = DM_SVDD_ONE_CLASS;
  o->nu = 0.1;
  o->warm_up = 10;
  o->ensemble = 1;
  o->min_rows_per_rank = 8;
  o->lr_warm_up = 5;
}

dm_status dm_svdd_opts_check(const dm_svdd_opts *o)
{
  if (o->n_hidden < 0 || o->n_hidden > DM_SVDD_MAX_LAYERS - 1)
    return dm_error(DM_ERR_ARG, "svdd --hidden: %d layers (allowed 0..%d)", o->n_hidden,
                    DM_SVDD_MAX_LAYERS - 1);
  for (int i = 0; i < o->n_hidden; i++)
    if (o->hidden[i] < 1 || o->hidden[i] > (1 << 20))
      return dm_error(DM_ERR_ARG, "svdd --hidden: width %d (allowed 1..%d)", o->hidden[i],
                      1 << 20);
  if (o->out_dim < 1 || o->out_dim > (1 << 20))
    return dm_error(DM_ERR_ARG, "svdd --out-dim: %d (allowed 1..%d)", o->out_dim, 1 << 20);
  if (o->epochs < 0 || o->epochs > 1000000)
    return dm_error(DM_ERR_ARG, "svdd --epochs: %d (allowed 0..1000000)", o->epochs);
  if (o->batch < 1 || o->batch > (1 << 24))
    return dm_error(DM_ERR_ARG, "svdd --batch: %d (allowed 1..%d)", o->batch, 1 << 24);
  if (!(o->lr > 0.0) || !isfinite(o->lr))
    return dm_error(DM_ERR_ARG, "svdd --lr: %g (must be > 0)", o->lr);
  if (!(o->weight_decay >= 0.0) || !isfinite(o->weight_decay))
    return dm_error(DM_ERR_ARG, "svdd --weight-decay: %g (must be >= 0)", o->weight_decay);
  if (o->n_milestones < 0 || o->n_milestones > DM_SVDD_MAX_MILESTONES)
    return dm_error(DM_ERR_ARG, "svdd --milestones: %d values (at most %d)", o->n_milestones,
                    DM_SVDD_MAX_MILESTONES);
  for (int i = 0; i < o->n_milestones; i++)
    if (o->milestones[i] < 1 || (i > 0 && o->milestones[i] <= o->milestones[i - 1]))
      return dm_error(DM_ERR_ARG, "svdd --milestones: must be increasing epochs >= 1");
  if (o->objective != DM_SVDD_ONE_CLASS && o->objective != DM_SVDD_SOFT_BOUNDARY)
    return dm_error(DM_ERR_ARG, "svdd --objective: unknown value %d", (int)o->objective);
  if (!(o->nu > 0.0 && o->nu <= 1.0))
    return dm_error(DM_ERR_ARG, "svdd --nu: %g (allowed (0, 1])", o->nu);
  if (o->warm_up < 0)
    return dm_error(DM_ERR_ARG, "svdd --warm-up: %d (must be >= 0)", o->warm_up);
  if (o->ensemble < 1 || o->ensemble > DM_SVDD_MAX_ENSEMBLE)
    return dm_error(DM_ERR_ARG, "svdd --ensemble: %d (allowed 1..%d)", o->ensemble,
                    DM_SVDD_MAX_ENSEMBLE);
  if (o->resume && !o->checkpoint[0])
    return dm_error(DM_ERR_ARG, "svdd --resume needs a checkpoint path");
  if (o->min_rows_per_rank < 0 || o->min_rows_per_rank > (1 << 24))
    return dm_error(DM_ERR_ARG, "svdd --min-rows-per-rank: %d (allowed 0..%d)",
                    o->min_rows_per_rank, 1 << 24);
  if (o->lr_warm_up < 0 || o->lr_warm_up > 1000000)
    return dm_error(DM_ERR_ARG, "svdd --lr-warm-up: %d (allowed 0..1000000)", o->lr_warm_up);
  return DM_OK;
}

const char *dm_svdd_objective_name(dm_svdd_objective obj)
{
  return obj == DM_SVDD_SOFT_BOUNDARY ? "soft-boundary" : "one-class";
}

dm_status dm_svdd_objective_parse(const char *text, dm_svdd_objective *obj)
{
  if (strcmp(text, "one-class") == 0)
    *obj = DM_SVDD_ONE_CLASS;
  else if (strcmp(text, "soft-boundary") == 0)
    *obj = DM_SVDD_SOFT_BOUNDARY;
  else
    return dm_error(DM_ERR_UNKNOWN, "svdd objective '%s' (known: one-class, soft-boundary)",
                    text);
  return DM_OK;
}

double dm_svdd_lr_at(const dm_svdd_opts *o, int epoch)
{
  double lr = o->lr;
  for (int i = 0; i < o->n_milestones; i++)
    if (epoch >= o->milestones[i])
      lr *= 0.1;
  return lr;
}

dm_status dm_svdd_schedule_make(const dm_svdd_opts *o, int ranks, dm_svdd_schedule *s)
{
  memset(s, 0, sizeof *s);
  s->ranks = ranks;
  s->min_rows_per_rank = o->min_rows_per_rank;
  s->batch = s->batch_eff = o->batch;
  s->lr = s->lr_eff = o->lr;
  int64_t need = (int64_t)ranks * o->min_rows_per_rank;
  if (need > o->batch) {
    if (need > (1 << 24))
      return dm_error(DM_ERR_ARG, "svdd --min-rows-per-rank %d x %d ranks = a global batch of "
                      "%lld rows (at most %d): lower --min-rows-per-rank", o->min_rows_per_rank,
                      ranks, (long long)need, 1 << 24);
    s->batch_eff = need;
    s->lr_eff = o->lr * (double)need / (double)o->batch;
    s->lr_warm_up = o->lr_warm_up;
  }
  return DM_OK;
}

double dm_svdd_lr_step(const dm_svdd_opts *o, const dm_svdd_schedule *s, int epoch, double frac)
{
  double lr = dm_svdd_lr_at(o, epoch);
  if (s->batch_eff == s->batch)
    return lr; /* below the threshold: exactly the rate as given */
  double k = (double)s->batch_eff / (double)s->batch, t = epoch + frac;
  double ramp = s->lr_warm_up > 0 && t < s->lr_warm_up ? t / s->lr_warm_up : 1.0;
  return lr * (1.0 + (k - 1.0) * ramp);
}

/* ---- the centre ------------------------------------------------------- */

static void gather_rows(float *dst, const float *x, int dim, const int64_t *rows, int64_t n)
{
#pragma omp parallel for schedule(static) if (n * dim > 65536)
  for (int64_t i = 0; i < n; i++)
    memcpy(dst + i * dim, x + rows[i] * dim, (size_t)dim * sizeof(float));
}

dm_status dm_svdd_centre(const dm_svdd_net *net, dm_svdd_work *ws, const float *x,
                         int64_t n_local, int64_t n_total, MPI_Comm comm, float *c)
{
  return dm_svdd_centre_w(net, ws, x, NULL, n_local, n_total, comm, c);
}

dm_status dm_svdd_centre_w(const dm_svdd_net *net, dm_svdd_work *ws, const float *x,
                           const float *rw, int64_t n_local, int64_t n_total, MPI_Comm comm,
                           float *c)
{
  int out = net->dims[net->n_layers];
  /* Exact column sums (dm_xsum): the order of rows and ranks cannot change
   * the centre, so it is the same bits for any rank count. */
  dm_xsum *acc = calloc((size_t)out, sizeof *acc);
  dm_status s = acc ? DM_OK : dm_error(DM_ERR_NOMEM, "svdd centre sums");
  if (s == DM_OK)
    s = dm_svdd_centre_add(net, ws, x, rw, n_local, acc);
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = dm_svdd_centre_finish(acc, out, n_total, comm, c);
  free(acc);
  return s;
}

dm_status dm_svdd_centre_add(const dm_svdd_net *net, dm_svdd_work *ws, const float *x,
                             const float *rw, int64_t n_local, dm_xsum *acc)
{
  int dim = net->dims[0], out = net->dims[net->n_layers];
  dm_status s = DM_OK;
  for (int64_t b = 0; s == DM_OK && b < n_local; b += ws->cap) {
    int64_t nb = n_local - b < ws->cap ? n_local - b : ws->cap;
    const float *y = dm_svdd_forward(net, ws, x + b * dim, nb);
    for (int64_t i = 0; s == DM_OK && i < nb; i++)
      for (int j = 0; j < out; j++) {
        float v = y[i * out + j];
        if (!isfinite(v)) {
          s = dm_error(DM_ERR_NUMERIC, "svdd centre: network output %g of row %lld, column %d "
                       "is not finite", v, (long long)(b + i), j);
          break;
        }
        /* float x float is exact in double: the sum stays exact. */
        dm_xsum_add(&acc[j], rw ? (double)rw[b + i] * v : v);
      }
  }
  return s;
}

dm_status dm_svdd_centre_finish(dm_xsum *acc, int out, int64_t n_total, MPI_Comm comm, float *c)
{
  dm_status s = dm_xsum_allreduce(acc, out, comm);
  if (s == DM_OK)
    for (int j = 0; j < out; j++) {
      double v = dm_xsum_value(&acc[j]) / (double)n_total;
      /* Near-zero components would let the network reach c with small
       * weights (a step towards the trivial all-zero solution). */
      if (fabs(v) < 0.1)
        v = v < 0.0 ? -0.1 : 0.1;
      c[j] = (float)v;
    }
  return s;
}

/* ---- fit --------------------------------------------------------------------------- */

/* Everything that shapes the training except the epoch count, the data
 * fingerprint and the seed: a checkpoint is only resumed under the same. */
static uint64_t config_hash(const dm_svdd_opts *o, const dm_svdd_schedule *sch,
                            const dm_svdd_net *shape, int64_t n_total, uint64_t fingerprint,
                            uint64_t seed)
{
  double d[4 + 3] = {o->lr, o->weight_decay, o->nu, (double)o->objective, (double)o->batch,
                     (double)o->warm_up, (double)o->ensemble};
  int64_t i[DM_SVDD_MAX_LAYERS + 4 + DM_SVDD_MAX_MILESTONES] = {0};
  int k = 0;
  i[k++] = shape->n_layers;
  for (int l = 0; l <= shape->n_layers; l++)
    i[k++] = shape->dims[l];
  i[k++] = n_total;
  i[k++] = o->zero_init;
  for (int m = 0; m < o->n_milestones; m++)
    i[k++] = o->milestones[m];
  uint64_t h = dm_svdd_hash(d, sizeof(d), fingerprint);
  h = dm_svdd_hash(i, sizeof(i), h);
  /* The scaled batch and the streamed geometry make another run; below the
   * threshold and in memory the hash is what it always was, so earlier
   * checkpoints still resume. */
  if (sch->batch_eff != sch->batch) {
    int64_t e[2] = {sch->batch_eff, sch->lr_warm_up};
    h = dm_svdd_hash(e, sizeof(e), h);
  }
  if (sch->streamed) {
    int64_t e[3] = {1, sch->block_events, sch->window_blocks};
    h = dm_svdd_hash(e, sizeof(e), h);
  }
  return dm_svdd_hash(&seed, sizeof(seed), h);
}

/* Order-free fingerprint of the training rows: the sum (mod 2^64) of a hash
 * of every row, so it is the same for any split over ranks. */
static uint64_t data_fingerprint(const float *x, int64_t n, int dim, MPI_Comm comm)
{
  uint64_t s = 0;
  for (int64_t i = 0; i < n; i++)
    s += dm_svdd_hash(x + i * dim, (size_t)dim * sizeof(float), 0x53564444);
  uint64_t t = s;
  MPI_Allreduce(&s, &t, 1, MPI_UINT64_T, MPI_SUM, comm);
  return t;
}

/* Ranks apply identical updates and so should hold identical state; if an
 * MPI implementation ever returned different allreduce results to different
 * ranks, rank 0's state is broadcast (and counted in the report). */
static int sync_state(dm_svdd_net *net, dm_svdd_adam *adam, MPI_Comm comm)
{
  if (dm_size(comm) == 1)
    return 0;
  size_t nb = (size_t)net->n_params * sizeof(float);
  uint64_t h = dm_svdd_hash(net->w, nb, dm_svdd_hash(adam->m, nb, dm_svdd_hash(adam->v, nb, 0)));
  uint64_t lo = h, hi = h;
  MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, comm);
  MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, comm);
  if (lo == hi)
    return 0;
  MPI_Bcast(net->w, (int)net->n_params, MPI_FLOAT, 0, comm);
  MPI_Bcast(adam->m, (int)net->n_params, MPI_FLOAT, 0, comm);
  MPI_Bcast(adam->v, (int)net->n_params, MPI_FLOAT, 0, comm);
  return 1;
}

static double flops_per_event(const dm_svdd_net *net)
{
  double f = 0.0;
  for (int l = 0; l < net->n_layers; l++) {
    double mn = (double)net->dims[l] * net->dims[l + 1];
    f += 2.0 * mn * (l > 0 ? 3.0 : 2.0); /* forward, weight gradient, input gradient */
  }
  return f;
}

/* Final pass: every training row's distance, then the collapse statistics. */
static dm_status collapse_stats(const dm_svdd_net *net, const float *c, const float *x,
                                int64_t n_local, int64_t n_total, float *dist, MPI_Comm comm,
                                double *mean, double *sd, int64_t *distinct)
{
  dm_status st = dm_agree(dm_svdd_dist2_rows(net, c, x, n_local, dist), comm);
  if (st != DM_OK)
    return st;
  double s = 0.0;
  for (int64_t i = 0; i < n_local; i++)
    s += dist[i];
  *mean = dm_allsum_f64(s, comm) / (double)n_total;
  double q = 0.0;
  for (int64_t i = 0; i < n_local; i++)
    q += ((double)dist[i] - *mean) * ((double)dist[i] - *mean);
  *sd = sqrt(dm_allsum_f64(q, comm) / (double)n_total);
  return dm_svdd_count_distinct(dist, n_local, comm, distinct);
}

typedef struct {
  dm_svdd_net net;
  dm_svdd_adam adam;
  dm_svdd_work ws; /* for the centre's forward passes */
  dm_svdd_stepper stp;
  dm_svdd_state st;
  float *dist;
  float *tw;  /* weighted fits: n_local row weights scaled to mean 1, else NULL */
  int64_t *rows, *start, *scratch;
  dm_svdd_schedule sch;
  dm_svdd_stream sr; /* streamed fits (sch.streamed) */
  uint64_t *hist;    /* streamed soft-boundary: the distances' histogram */
} fit_buffers;

static void fit_buffers_free(fit_buffers *b)
{
  dm_svdd_net_free(&b->net);
  dm_svdd_adam_free(&b->adam);
  dm_svdd_work_free(&b->ws);
  dm_svdd_stepper_free(&b->stp);
  dm_svdd_state_free(&b->st);
  free(b->dist);
  free(b->tw);
  free(b->rows);
  free(b->start);
  free(b->scratch);
  free(b->hist);
  dm_svdd_stream_close(&b->sr);
}

static dm_status fit_alloc(fit_buffers *b, const dm_model_data *t, const dm_svdd_opts *o)
{
  int dims[DM_SVDD_MAX_LAYERS + 1];
  dims[0] = t->dim;
  for (int i = 0; i < o->n_hidden; i++)
    dims[i + 1] = o->hidden[i];
  dims[o->n_hidden + 1] = o->out_dim;
  DM_FORWARD(dm_svdd_net_alloc(&b->net, o->n_hidden + 1, dims));
  DM_FORWARD(dm_svdd_adam_alloc(&b->adam, b->net.n_params, o->weight_decay));
  /* A rank may hold every row of a batch; the centre and the final pass use
   * the same workspace in blocks of this size. */
  int64_t cap = b->sch.batch_eff;
  DM_FORWARD(dm_svdd_work_alloc(&b->ws, &b->net, cap));
  b->stp.objective = o->objective;
  b->stp.nu = o->nu;
  DM_FORWARD(dm_svdd_stepper_alloc(&b->stp, &b->net, &b->adam, cap));
  DM_FORWARD(dm_svdd_state_alloc(&b->st, o->ensemble, b->net.n_params, o->out_dim));
  int64_t nl = t->n_local > 0 ? t->n_local : 1;
  int64_t n_batches = t->stream ? 0 : (t->n_total + cap - 1) / cap;
  if (t->stream && o->objective == DM_SVDD_SOFT_BOUNDARY) {
    b->hist = calloc(65536, sizeof(uint64_t));
    if (!b->hist)
      return dm_error(DM_ERR_NOMEM, "svdd: no memory for the radius histogram");
  }
  b->dist = malloc((size_t)nl * sizeof(float));
  b->rows = malloc((size_t)nl * sizeof(int64_t));
  b->scratch = malloc((size_t)nl * sizeof(int64_t));
  b->start = malloc((size_t)(n_batches + 1) * sizeof(int64_t));
  if (!b->dist || !b->rows || !b->scratch || !b->start)
    return dm_error(DM_ERR_NOMEM, "svdd training buffers for %lld rows", (long long)t->n_local);
  return DM_OK;
}

/* COLLECTIVE. Weighted fits: the rows' weights scaled to mean 1 over all
 * ranks (sum w from an exact sum: the same scale on every rank), and the
 * stepper's buffer for a batch's weights. Soft-boundary would need a
 * weighted quantile for R: refused. */
static dm_status fit_weights(fit_buffers *b, const dm_model_data *t, const dm_svdd_opts *o,
                             MPI_Comm comm)
{
  if (o->objective != DM_SVDD_ONE_CLASS)
    return dm_error(DM_ERR_ARG, "svdd: event weights (--weighted) need --objective one-class");
  dm_xsum sum;
  memset(&sum, 0, sizeof sum);
  for (int64_t i = 0; i < t->n_local; i++)
    dm_xsum_add(&sum, t->weight[i]);
  DM_FORWARD(dm_xsum_allreduce(&sum, 1, comm));
  double total = dm_xsum_value(&sum);
  if (!(total > 0) || !isfinite(total))
    return dm_error(DM_ERR_NUMERIC, "svdd: the training weights sum to %g", total);
  b->tw = malloc((size_t)(t->n_local > 0 ? t->n_local : 1) * sizeof(float));
  b->stp.rw = malloc((size_t)(b->stp.cap > 0 ? b->stp.cap : 1) * sizeof(float));
  if (!b->tw || !b->stp.rw)
    return dm_error(DM_ERR_NOMEM, "svdd: no memory for %lld row weights",
                    (long long)t->n_local);
  double scale = (double)t->n_total / total;
  for (int64_t i = 0; i < t->n_local; i++)
    b->tw[i] = (float)(t->weight[i] * scale);
  return DM_OK;
}

/* Train member k from its state in b->st (started or not) to o->epochs. */
static dm_status fit_member(fit_buffers *b, const dm_model_data *t, const dm_svdd_opts *o,
                            int k, int64_t first, MPI_Comm comm, dm_svdd_report *rep,
                            double *seconds, int64_t *events)
{
  dm_svdd_state *st = &b->st;
  int64_t P = b->net.n_params;
  int out = o->out_dim, rank = dm_rank(comm);
  uint64_t seed = t->seed + (uint64_t)k;
  float *c = st->c + (size_t)k * out;
  dm_status s = DM_OK;
  if (!st->started[k]) {
    if (o->zero_init)
      memset(b->net.w, 0, (size_t)P * sizeof(float));
    else
      dm_svdd_net_init_uniform(&b->net, seed);
    if (b->sch.streamed)
      DM_FORWARD(dm_svdd_stream_centre(&b->sr, &b->net, &b->ws, comm, c));
    else
      DM_FORWARD(dm_svdd_centre_w(&b->net, &b->ws, t->x, b->tw, t->n_local, t->n_total, comm,
                                  c));
    memset(b->adam.m, 0, (size_t)P * sizeof(float));
    memset(b->adam.v, 0, (size_t)P * sizeof(float));
    b->adam.step = 0;
    st->r2[k] = 0.0;
    st->epochs_done[k] = 0;
    st->started[k] = 1;
  } else {
    memcpy(b->net.w, st->w + (size_t)k * P, (size_t)P * sizeof(float));
    memcpy(b->adam.m, st->m + (size_t)k * P, (size_t)P * sizeof(float));
    memcpy(b->adam.v, st->v + (size_t)k * P, (size_t)P * sizeof(float));
    b->adam.step = st->adam_step[k];
    if (st->epochs_done[k] > o->epochs)
      return dm_error(DM_ERR_ARG, "svdd --resume: the checkpoint of member %d already has %d "
                      "epochs; asked for %d", k, st->epochs_done[k], o->epochs);
    rep->resumed_epochs += st->epochs_done[k];
  }
  dm_svdd_stepper *stp = &b->stp;
  stp->c = c;
  int64_t B = b->sch.batch_eff;
  int64_t n_batches = (t->n_total + B - 1) / B;
  int dim = t->dim;
  double last_line = MPI_Wtime(); /* progress lines: rank 0's clock only */
  for (int e = st->epochs_done[k]; e < o->epochs; e++) {
    double t0 = MPI_Wtime();
    double loss_sum = 0.0;
    stp->r2 = st->r2[k];
    if (b->sch.streamed) {
      if (b->hist)
        memset(b->hist, 0, 65536 * sizeof(uint64_t));
      s = dm_svdd_stream_epoch(&b->sr, stp, o, &b->sch, seed, e, comm, &loss_sum, b->hist);
    } else {
      dm_svdd_epoch_batches(dm_rng_hash(seed, DM_SVDD_STREAM_PERM, (uint64_t)e), t->n_total,
                            first, t->n_local, B, b->rows, b->start, b->scratch);
      for (int64_t bi = 0; bi < n_batches && s == DM_OK; bi++) {
        int64_t bg = t->n_total - bi * B < B ? t->n_total - bi * B : B;
        const int64_t *rows = b->rows + b->start[bi];
        int64_t nb = b->start[bi + 1] - b->start[bi];
        gather_rows(stp->x, t->x, dim, rows, nb);
        for (int64_t i = 0; stp->rw && i < nb; i++)
          stp->rw[i] = b->tw[rows[i]];
        double loss = 0.0;
        /* Below the threshold this is dm_svdd_lr_at(o, e) for every step. */
        double lr_b = dm_svdd_lr_step(o, &b->sch, e, (double)(bi * B) / (double)t->n_total);
        s = dm_svdd_step(stp, nb, bg, lr_b, comm, &loss);
        loss_sum += loss * (double)bg;
        for (int64_t i = 0; i < nb; i++)
          b->dist[rows[i]] = stp->d2[i];
      }
    }
    DM_FORWARD(dm_agree(s, comm));
    double lr = dm_svdd_lr_step(o, &b->sch, e, 0.0);
    double loss = loss_sum / (double)t->n_total;
    /* loss came through the allreduce: every rank sees the same value. */
    if (!isfinite(loss))
      return dm_error(DM_ERR_NUMERIC, "svdd member %d diverged at epoch %d (loss %g); try a "
                      "smaller --lr", k, e + 1, loss);
    if (o->objective == DM_SVDD_SOFT_BOUNDARY && e + 1 >= o->warm_up) {
      int64_t kth = (int64_t)ceil((1.0 - o->nu) * (double)t->n_total) - 1;
      if (kth < 0)
        kth = 0;
      float q = 0.0f;
      if (b->sch.streamed)
        DM_FORWARD(dm_svdd_stream_kth(b->hist, kth, comm, &q));
      else
        DM_FORWARD(dm_svdd_select_kth(b->dist, t->n_local, kth, comm, &q));
      st->r2[k] = q;
    }
    rep->resyncs += sync_state(&b->net, &b->adam, comm);
    double t1 = MPI_Wtime();
    *seconds += t1 - t0;
    *events += t->n_total;
    memcpy(st->w + (size_t)k * P, b->net.w, (size_t)P * sizeof(float));
    memcpy(st->m + (size_t)k * P, b->adam.m, (size_t)P * sizeof(float));
    memcpy(st->v + (size_t)k * P, b->adam.v, (size_t)P * sizeof(float));
    st->adam_step[k] = b->adam.step;
    st->epochs_done[k] = e + 1;
    st->last_loss[k] = loss;
    if (o->checkpoint[0])
      DM_FORWARD(dm_svdd_ckpt_write(st, o->checkpoint, comm));
    /* A stop request: decided together at this epoch boundary, after the
     * checkpoint, so every rank leaves with the state on disk. */
    if (o->stop && o->checkpoint[0]) {
      int mine = *o->stop != 0, any = 0;
      MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
      if (any && (e + 1 < o->epochs || k + 1 < o->ensemble))
        return dm_error(DM_ERR_IO, "svdd: stopped by a signal after epoch %d of %d (member %d); "
                        "%s holds the training state: the same command with --resume "
                        "continues it", e + 1, o->epochs, k, o->checkpoint);
    }
    int due = o->progress_interval > 0 && t1 - last_line >= o->progress_interval;
    if ((o->verbose || due) && rank == 0) {
      last_line = t1;
      fprintf(stderr, "svdd: member %d epoch %d/%d  loss %.6g  lr %.3g  R %.4g  %.0f events/s\n",
              k, e + 1, o->epochs, loss, lr, sqrt(st->r2[k]),
              (double)t->n_total / (t1 - t0 > 0 ? t1 - t0 : 1e-9));
      fflush(stderr);
    }
  }
  /* A resumed, already finished member still needs its weights in net. */
  memcpy(b->net.w, st->w + (size_t)k * P, (size_t)P * sizeof(float));
  return DM_OK;
}

static dm_status fit_model_out(const fit_buffers *b, const dm_svdd_opts *o,
                               dm_svdd_model **model)
{
  dm_svdd_model *m = calloc(1, sizeof(*m));
  if (!m)
    return dm_error(DM_ERR_NOMEM, "svdd model");
  m->n_members = o->ensemble;
  m->sched = b->sch;
  m->objective = o->objective;
  m->nu = o->nu;
  m->nets = calloc((size_t)o->ensemble, sizeof(dm_svdd_net));
  m->c = malloc((size_t)o->ensemble * (size_t)o->out_dim * sizeof(float));
  m->r2 = malloc((size_t)o->ensemble * sizeof(double));
  dm_status s = (m->nets && m->c && m->r2) ? DM_OK : dm_error(DM_ERR_NOMEM, "svdd model");
  for (int k = 0; s == DM_OK && k < o->ensemble; k++) {
    s = dm_svdd_net_copy(&m->nets[k], &b->net);
    if (s == DM_OK)
      memcpy(m->nets[k].w, b->st.w + (size_t)k * b->net.n_params,
             (size_t)b->net.n_params * sizeof(float));
    m->r2[k] = b->st.r2[k];
  }
  if (s == DM_OK)
    memcpy(m->c, b->st.c, (size_t)o->ensemble * (size_t)o->out_dim * sizeof(float));
  if (s != DM_OK) {
    dm_svdd_model_free(m);
    return s;
  }
  *model = m;
  return DM_OK;
}

dm_status dm_svdd_fit(const dm_model_data *t, const dm_svdd_opts *opts, MPI_Comm comm,
                      dm_svdd_model **model, dm_svdd_report *report)
{
  *model = NULL;
  dm_svdd_opts def;
  if (!opts) {
    dm_svdd_opts_default(&def);
    opts = &def;
  }
  dm_svdd_report rep_local;
  dm_svdd_report *rep = report ? report : &rep_local;
  memset(rep, 0, sizeof(*rep));
  /* Options and sizes are the same on every rank: so is this decision. */
  DM_FORWARD(dm_svdd_opts_check(opts));
  if (t->n_total < 2)
    return dm_error(DM_ERR_NUMERIC, "svdd: %lld training rows (need at least 2)",
                    (long long)t->n_total);
  if (t->dim < 1)
    return dm_error(DM_ERR_ARG, "svdd: input dimension %d", t->dim);
  int rank = dm_rank(comm);
  int64_t first = 0, total = 0;
  dm_exscan_i64(t->n_local, comm, &first, &total);
  if (!t->stream && total != t->n_total)
    return dm_error(DM_ERR_INTERNAL, "svdd: rows over ranks %lld != n_total %lld",
                    (long long)total, (long long)t->n_total);
  fit_buffers b;
  memset(&b, 0, sizeof(b));
  dm_status s = dm_svdd_schedule_make(opts, dm_size(comm), &b.sch);
  if (s == DM_OK && t->stream) {
    b.sch.streamed = 1;
    b.sch.pool_mb = t->stream->budget_mb;
    if (t->stream->weighted && opts->objective != DM_SVDD_ONE_CLASS)
      s = dm_error(DM_ERR_ARG, "svdd: event weights (--weighted) need --objective one-class");
    if (s == DM_OK)
      s = dm_svdd_stream_geometry(t->stream->budget, t->dim, t->stream->weighted,
                                  b.sch.batch_eff, &b.sch.block_events, &b.sch.window_blocks);
  }
  if (s != DM_OK)
    return s; /* options and sizes only: the same on every rank */
  if (rank == 0 && b.sch.batch_eff != b.sch.batch)
    fprintf(stderr, "svdd: %d ranks x %d rows per rank (--min-rows-per-rank) > --batch %lld: "
            "global batch %lld, learning rate %g -> %g (x %.4g, linear in the batch) over a "
            "%d-epoch linear warm-up\n", b.sch.ranks, b.sch.min_rows_per_rank,
            (long long)b.sch.batch, (long long)b.sch.batch_eff, b.sch.lr, b.sch.lr_eff,
            b.sch.lr_eff / b.sch.lr, b.sch.lr_warm_up);
  s = dm_agree(fit_alloc(&b, t, opts), comm);
  if (s != DM_OK)
    goto done;
  uint64_t fp = 0;
  if (t->stream) {
    s = dm_svdd_stream_open(&b.sr, t->stream, t->dim, t->n_total, b.sch.batch_eff,
                            t->stream->budget, comm);
    if (s == DM_OK && t->stream->weighted) {
      b.stp.rw = malloc((size_t)(b.stp.cap > 0 ? b.stp.cap : 1) * sizeof(float));
      s = dm_agree(b.stp.rw ? DM_OK : dm_error(DM_ERR_NOMEM, "svdd: batch weights"), comm);
    }
    if (s == DM_OK)
      s = dm_svdd_stream_prepass(&b.sr, comm, &fp);
    if (s == DM_OK && rank == 0 && opts->verbose)
      fprintf(stderr, "svdd: streaming %lld rows from the store: windows of %lld blocks of "
              "%lld events (--pool-mb %lld)\n", (long long)t->n_total,
              (long long)b.sch.window_blocks, (long long)b.sch.block_events,
              (long long)b.sch.pool_mb);
    if (s != DM_OK)
      goto done;
  } else {
    if (t->weight) {
      s = dm_agree(fit_weights(&b, t, opts, comm), comm);
      if (s != DM_OK)
        goto done;
    }
    fp = data_fingerprint(t->x, t->n_local, t->dim, comm);
    if (b.tw)
      fp += data_fingerprint(b.tw, t->n_local, 1, comm); /* other weights: another run */
  }
  b.st.config_hash = config_hash(opts, &b.sch, &b.net, t->n_total, fp, t->seed);
  if (opts->resume) {
    int found = 0;
    s = dm_svdd_ckpt_read(&b.st, opts->checkpoint, comm, &found);
    if (s != DM_OK)
      goto done;
    if (!found && rank == 0)
      fprintf(stderr, "svdd: no checkpoint at %s; starting from the beginning\n",
                opts->checkpoint);
  }
  double seconds = 0.0;
  int64_t events = 0;
  for (int k = 0; k < opts->ensemble && s == DM_OK; k++) {
    s = fit_member(&b, t, opts, k, first, comm, rep, &seconds, &events);
    s = dm_agree(s, comm);
    if (s != DM_OK)
      break;
    float *c = b.st.c + (size_t)k * opts->out_dim;
    double c2 = 0.0;
    for (int j = 0; j < opts->out_dim; j++)
      c2 += (double)c[j] * c[j];
    rep->distinct_of = t->n_total;
    if (b.sch.streamed)
      s = dm_svdd_stream_stats(&b.sr, &b.net, c, comm, &rep->score_mean[k], &rep->score_std[k],
                               &rep->n_distinct[k], &rep->distinct_of);
    else
      s = collapse_stats(&b.net, c, t->x, t->n_local, t->n_total, b.dist, comm,
                         &rep->score_mean[k], &rep->score_std[k], &rep->n_distinct[k]);
    if (s != DM_OK)
      break;
    double ref = rep->score_mean[k] > c2 ? rep->score_mean[k] : c2;
    int64_t need = rep->distinct_of / 100 > 2 ? rep->distinct_of / 100 : 2;
    rep->collapsed[k] = rep->score_std[k] < 1e-6 * ref || rep->n_distinct[k] < need;
    rep->any_collapsed |= rep->collapsed[k];
    rep->final_loss[k] = b.st.last_loss[k];
    rep->r[k] = sqrt(b.st.r2[k]);
    if (rep->collapsed[k] && rank == 0)
      fprintf(stderr,
              "svdd: WARNING: member %d has COLLAPSED: training scores have std %.3g (mean %.3g) "
              "and %lld distinct values among %lld; the model cannot rank events (check the "
              "inputs for constant columns, lower --lr, or change --seed)\n",
              k, rep->score_std[k], rep->score_mean[k], (long long)rep->n_distinct[k],
              (long long)rep->distinct_of);
  }
  if (s != DM_OK)
    goto done;
  rep->n_members = opts->ensemble;
  rep->sched = b.sch;
  rep->epochs = opts->epochs;
  rep->n_train = t->n_total;
  rep->n_params = b.net.n_params;
  rep->seconds = seconds;
  rep->events_per_s = seconds > 0 ? (double)events / seconds : 0.0;
  rep->gflops = seconds > 0 ? flops_per_event(&b.net) * (double)events / seconds * 1e-9 : 0.0;
  if (rep->any_collapsed && opts->strict) {
    s = dm_error(DM_ERR_NUMERIC, "svdd: the model collapsed (constant scores on the training "
                 "set) and --strict is set");
    goto done;
  }
  s = dm_agree(fit_model_out(&b, opts, model), comm);
done:
  if (s != DM_OK && *model) {
    dm_svdd_model_free(*model);
    *model = NULL;
  }
  fit_buffers_free(&b);
  return s;
}
