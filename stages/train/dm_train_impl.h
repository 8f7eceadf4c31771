/* dm_train_impl.h - PRIVATE to stages/train: the state the train stage's
 * passes share, and the streamed pool (dm_train_stream.c). */
#ifndef DM_TRAIN_IMPL_H
#define DM_TRAIN_IMPL_H

#include <mpi.h>
#include <stdint.h>

#include "dm_derived.h"
#include "dm_features.h"
#include "dm_model.h"
#include "dm_rng.h"
#include "dm_store.h"
#include "dm_train.h"

/* Everything the passes share. */
typedef struct {
  const dm_train_opts *o;
  dm_store *st;
  MPI_Comm comm;
  int64_t ev0, ev1;      /* this rank's event range */
  int64_t batch;         /* events per read (opts->batch, or less when streamed) */
  int64_t rounds;        /* reads per pass, same on every rank */
  unsigned char *is_bg;  /* per store process */
  int64_t *cls_before;   /* per class: its background events on lower ranks */
  int64_t *cls_pool;     /* per class: pool rows (the first ones in store order) */
  int64_t *cls_seen;     /* per class: this rank's events met so far in a pass */
  int64_t *cls_cut;      /* per class: its pool is its events before this index */
  int64_t *proc_pool;    /* per store process: pool rows over all ranks */
  int64_t pool_local;    /* this rank's pool rows */
  int selecting;         /* max_train picks a subsample of the pool */
  dm_train_radix radix;  /* its search (dm_train_select.c), while it runs */
  uint64_t sel_hash;     /* selecting: the rule (dm_train.h, dm_train_selected) */
  int64_t sel_tie;
  int64_t n_take_local;
  float *sel;            /* n_take_local x dim_in raw rows, then transformed */
  int64_t *sel_row;      /* their global event indices */
  double *sel_w;         /* their event weights (weighted runs) */
  dm_derived *dd;        /* derived columns, when their "weight" is used */
  int dim_in;
  /* streamed pool */
  int streamed;
  const dm_transform *tf; /* the fitted transform */
  dm_features_batch sev; /* read scratch */
  float *sraw;           /* batch x dim_in */
  double *sw;            /* batch weights */
} train_ctx;

/* The pool's class of a background process (per process, or one class). */
static inline int dm_train_pool_class(const train_ctx *c, uint16_t proc)
{
  return c->o->split_global ? 0 : proc;
}

/* Is pool event idx in the subsample? The rule c->sel_hash and c->sel_tie
 * found by the selection (dm_train.c). */
static inline int dm_train_selected(const train_ctx *c, int64_t idx)
{
  if (!c->selecting)
    return 1;
  uint64_t h = dm_rng_hash(c->o->seed, (uint64_t)idx, 0);
  return h < c->sel_hash || (h == c->sel_hash && idx < c->sel_tie);
}

/* LOCAL. DM_OK if training weight w of store row `row` (process index
 * `proc`) is finite and > 0, else an error naming the event, its process and
 * the column the weight came from. */
dm_status dm_train_check_weight(const train_ctx *c, int64_t row, uint16_t proc, double w);

/* LOCAL. Bytes the fitted rows of n rows would take in memory. */
int64_t dm_train_pool_bytes(const train_ctx *c, int64_t n_rows, int dim);

/* LOCAL. Events per read within a quarter of the pool budget. */
int64_t dm_train_stream_batch(const train_ctx *c, int dim);

/* LOCAL. Keep freed memory in the process: each small read has HDF5
 * allocate and free chunk-sized buffers, which glibc by default hands back
 * to the kernel every time, so every read page-faults them in again (6x the
 * training time measured on 90,000 streamed rows). Peak memory is unchanged:
 * what is kept was in use before. */
void dm_train_stream_malloc(void);

/* COLLECTIVE. Buffers of the reads, and the source over c for the backend. */
dm_status dm_train_stream_source(train_ctx *c, int dim, dm_model_stream *src);
void dm_train_stream_free(train_ctx *c);

#endif
