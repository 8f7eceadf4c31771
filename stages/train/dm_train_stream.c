/* dm_train_stream.c - the train stage's bounded pool: when the fitted rows
 * do not fit the budget, the backend reads them from the store through a
 * dm_model_stream (see dm_train.h for the rule that names the rows). */
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_train_impl.h"

int64_t dm_train_pool_bytes(const train_ctx *c, int64_t n_rows, int dim)
{
  /* Raw and transformed rows, the event index, the selection's key and
   * flag, and what the backend keeps per row (distance, batch order). */
  int64_t per = 4 * ((int64_t)c->dim_in + dim) + 48 + (c->o->weighted ? 16 : 0);
  return n_rows * per;
}

int64_t dm_train_stream_batch(const train_ctx *c, int dim)
{
  /* Per event read: the raw row twice (the transform's pass keeps the pool
   * rows aside), the transformed row, the event columns, the weight, and
   * the objects (twice the store's mean count, for busier stretches). */
  int64_t ne = dm_store_n_events(c->st), no = dm_store_n_objects(c->st);
  int64_t objs = ne > 0 ? 2 * ((no + ne - 1) / ne) + 1 : 1;
  int64_t per = 8 * (int64_t)c->dim_in + 4 * dim + 44 + 8 + 17 * objs;
  int64_t n = (c->o->pool_mb << 20) / 4 / per;
  if (n < 1)
    n = 1;
  return n < c->o->batch ? n : c->o->batch;
}

void dm_train_stream_malloc(void)
{
  /* Fixed thresholds also stop glibc's own adjustment of them. */
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

void dm_train_stream_free(train_ctx *c)
{
  dm_features_batch_free(&c->sev);
  free(c->sraw);
  free(c->sw);
  c->sraw = NULL;
  c->sw = NULL;
}

static int is_row(const train_ctx *c, uint16_t proc, int64_t idx)
{
  if (proc >= dm_store_n_processes(c->st) || !c->is_bg[proc])
    return 0;
  if (idx >= c->cls_cut[dm_train_pool_class(c, proc)])
    return 0;
  return dm_train_selected(c, idx);
}

static dm_status stream_read(void *ctx, int64_t begin, int64_t count, float *x, double *w,
                             int64_t *n, MPI_Comm comm)
{
  train_ctx *c = ctx;
  int dim = c->tf->dim, di = c->dim_in;
  int64_t C = c->batch;
  *n = 0;
  int64_t rounds = dm_allmax_i64((count + C - 1) / C, comm);
  dm_status s = DM_OK;
  for (int64_t r = 0; r < rounds && s == DM_OK; r++) {
    int64_t b = begin + r * C, nb = begin + count - b;
    if (nb > C)
      nb = C;
    if (nb < 0)
      nb = 0;
    s = dm_agree(dm_features_read(c->st, &c->o->features, b, nb, &c->sev, c->sraw), comm);
    /* Every rank reads the weights or none does: w is the same on all. */
    if (s == DM_OK && w)
      s = dm_agree(c->dd ? dm_derived_read(c->dd, "weight", b, nb, c->sw)
                         : dm_h5_col_read(dm_store_file(c->st), "/events/weight",
                                          H5T_NATIVE_DOUBLE, b, nb, c->sw),
                   comm);
    if (s != DM_OK)
      break;
    int64_t k = 0;
    for (int64_t i = 0; i < nb; i++) {
      if (!is_row(c, c->sev.process[i], b + i))
        continue;
      if (w) {
        double v = c->sw[i];
        if (s == DM_OK)
          s = dm_train_check_weight(c, b + i, c->sev.process[i], v);
        w[*n + k] = v;
      }
      if (k != i)
        memcpy(c->sraw + k * di, c->sraw + i * di, (size_t)di * sizeof(float));
      k++;
    }
    dm_transform_apply(c->tf, c->sraw, k, x + *n * dim);
    *n += k;
    s = dm_agree(s, comm);
  }
  return s;
}

dm_status dm_train_stream_source(train_ctx *c, int dim, dm_model_stream *src)
{
  c->sraw = malloc((size_t)c->batch * (size_t)c->dim_in * sizeof(float));
  if (c->o->weighted)
    c->sw = malloc((size_t)c->batch * sizeof(double));
  dm_status s = c->sraw && (!c->o->weighted || c->sw)
                    ? DM_OK
                    : dm_error(DM_ERR_NOMEM, "no memory for a read of %lld events",
                               (long long)c->batch);
  DM_FORWARD(dm_agree(s, c->comm));
  (void)dim;
  memset(src, 0, sizeof *src);
  src->ctx = c;
  src->n_units = dm_store_n_events(c->st);
  src->budget = c->o->pool_mb << 20;
  src->budget_mb = c->o->pool_mb;
  src->weighted = c->o->weighted;
  src->read = stream_read;
  return DM_OK;
}
