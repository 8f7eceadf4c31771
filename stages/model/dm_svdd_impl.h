/* dm_svdd_impl.h - PRIVATE to stages/model/dm_svdd*.c (and tests/svdd):
 * the pieces of the Deep SVDD trainer that are not the network itself.
 * Never included by train or score. */
#ifndef DM_SVDD_IMPL_H
#define DM_SVDD_IMPL_H

#include <mpi.h>
#include <stdint.h>

#include "dm_svdd.h"
#include "dm_xsum.h"

/* ---- batch order ------------------------------------------------------------
 * A keyed pseudo-random permutation of [0, n): a 4-round balanced Feistel
 * network on 2h bits (the smallest 2h with 2^(2h) >= n) with cycle walking,
 * so it is a bijection of [0, n) whose inverse is as cheap as the forward. */
typedef struct {
  uint64_t n, key, half_mask;
  int half_bits;
} dm_svdd_perm;

void dm_svdd_perm_init(dm_svdd_perm *p, uint64_t n, uint64_t key);
uint64_t dm_svdd_perm_fwd(const dm_svdd_perm *p, uint64_t i);
uint64_t dm_svdd_perm_inv(const dm_svdd_perm *p, uint64_t x);

/* LOCAL. The epoch's batches restricted to this rank's rows
 * [first, first + n_local) of a training set of n_total rows: rows[] lists
 * local row indices grouped by batch (batch b is rows[start[b] .. start[b+1])
 * in ascending row order), start has n_batches + 1 entries. The caller
 * allocates rows (n_local) and start (n_batches + 1) and scratch (n_local). */
void dm_svdd_epoch_batches(uint64_t key, int64_t n_total, int64_t first, int64_t n_local,
                           int64_t batch, int64_t *rows, int64_t *start, int64_t *scratch);

/* ---- exact global statistics ----------------------------------------------- */

/* COLLECTIVE. The k-th smallest (0-based) of the non-negative floats v of all
 * ranks (n_total in all), exactly, by a radix selection on the bit patterns:
 * 4 allreduces of 256 counts. */
dm_status dm_svdd_select_kth(const float *v, int64_t n_local, int64_t k, MPI_Comm comm,
                             float *out);

/* COLLECTIVE. Number of distinct float values (by bit pattern) over all
 * ranks, exactly: values are sent to rank hash(value) % size and counted
 * there. */
dm_status dm_svdd_count_distinct(const float *v, int64_t n_local, MPI_Comm comm,
                                 int64_t *distinct);

/* ---- checkpoints ------------------------------------------------------------ */

/* The whole training state; identical on every rank. */
typedef struct {
  uint64_t config_hash;  /* options (all but epochs) + data fingerprint */
  int n_members;
  int64_t n_params;
  int out_dim;
  /* per member */
  int *started;          /* 1 once c is set and training began */
  int *epochs_done;
  int64_t *adam_step;
  double *r2;
  double *last_loss;
  float *w, *m, *v;      /* n_members x n_params each */
  float *c;              /* n_members x out_dim */
} dm_svdd_state;

dm_status dm_svdd_state_alloc(dm_svdd_state *s, int n_members, int64_t n_params, int out_dim);
void dm_svdd_state_free(dm_svdd_state *s);

/* COLLECTIVE. Rank 0 writes path (via path.tmp and rename); agreed status. */
dm_status dm_svdd_ckpt_write(const dm_svdd_state *s, const char *path, MPI_Comm comm);

/* COLLECTIVE. Every rank reads path into s (allocated to the expected
 * shape). *found = 0 when the file does not exist (not an error). A file
 * whose checksum, shape or config_hash differs is DM_ERR_SCHEMA naming it. */
dm_status dm_svdd_ckpt_read(dm_svdd_state *s, const char *path, MPI_Comm comm, int *found);

/* LOCAL. xxh64 of a byte range, for fingerprints and checks. */
uint64_t dm_svdd_hash(const void *p, size_t n, uint64_t seed);

/* ---- one training step (also used by the PyTorch comparison test) ----------
 * Threads: a rank's rows of a batch are split into n_threads contiguous
 * parts; each OpenMP thread runs forward and backward on its part with its
 * own workspace (single-threaded BLAS: one large product per thread instead
 * of a fork and join inside every product), and the per-thread gradients are
 * added in thread order. The result is bitwise reproducible for a given
 * thread count; another thread count changes the float sums (rounding). */
typedef struct {
  dm_svdd_net *net;
  dm_svdd_adam *adam;
  const float *c;
  dm_svdd_objective objective;
  double nu, r2;
  /* owned (dm_svdd_stepper_alloc) */
  int64_t cap;
  int n_threads;
  float *x;            /* cap x dims[0]: put this rank's rows of the batch here */
  float *rw;           /* NULL, or cap weights of those rows (malloc'ed by the
                          caller after alloc; freed by dm_svdd_stepper_free) */
  float *d2;           /* cap: their squared distances after a step */
  float *grad;         /* n_params + 1: the last slot carries the loss */
  float *tgrad;        /* (n_threads - 1) x n_params */
  double *tpart;       /* n_threads */
  dm_svdd_work *tws;   /* n_threads */
} dm_svdd_stepper;

/* LOCAL. Buffers for batches of up to cap rows on this rank, for the
 * current omp_get_max_threads(). net and adam stay the caller's. */
dm_status dm_svdd_stepper_alloc(dm_svdd_stepper *st, dm_svdd_net *net, dm_svdd_adam *adam,
                                int64_t cap);
void dm_svdd_stepper_free(dm_svdd_stepper *st);

/* COLLECTIVE. One optimiser step on a global batch of b_global rows, of
 * which this rank holds n (already in st->x): forward, gradient, allreduce
 * over comm, Adam at rate lr. *loss receives the batch loss (identical on
 * every rank). d2 of the n rows is left in st->d2. */
dm_status dm_svdd_step(dm_svdd_stepper *st, int64_t n, int64_t b_global, double lr,
                       MPI_Comm comm, double *loss);

/* LOCAL. Squared distances to c of n rows of x through net, into d2, with
 * the OpenMP threads each taking blocks of rows (own workspace, serial
 * BLAS). A row's value does not depend on the threads or the block. */
dm_status dm_svdd_dist2_rows(const dm_svdd_net *net, const float *c, const float *x, int64_t n,
                             float *d2);

/* COLLECTIVE. The centre for net over the rows of every rank (rows of dim
 * columns), with the |c_j| < 0.1 push, into c (out_dim floats). ws: a
 * workspace (any cap) for the forward passes. */
dm_status dm_svdd_centre(const dm_svdd_net *net, dm_svdd_work *ws, const float *x,
                         int64_t n_local, int64_t n_total, MPI_Comm comm, float *c);
/* The same, weighted: c = sum_i rw_i phi(x_i) / n_total (rw NULL = 1; the
 * trainer's weights have mean 1, so this is the weighted mean). */
dm_status dm_svdd_centre_w(const dm_svdd_net *net, dm_svdd_work *ws, const float *x,
                           const float *rw, int64_t n_local, int64_t n_total, MPI_Comm comm,
                           float *c);
/* Its two halves, for rows that arrive in parts: LOCAL, add the (weighted)
 * outputs of n rows to the out exact column sums acc; COLLECTIVE, sum acc
 * over the ranks and set c. */
dm_status dm_svdd_centre_add(const dm_svdd_net *net, dm_svdd_work *ws, const float *x,
                             const float *rw, int64_t n_local, dm_xsum *acc);
dm_status dm_svdd_centre_finish(dm_xsum *acc, int out, int64_t n_total, MPI_Comm comm, float *c);

/* ---- streamed training set (dm_svdd_stream.c; the scheme is in dm_svdd.h) ---- */

/* Blocks per window (at most), and the block size worth a read (the
 * store's chunk of events). */
#define DM_SVDD_WINDOW_BLOCKS 32
#define DM_SVDD_BLOCK_EVENTS 65536

/* LOCAL. The block geometry for a budget of `budget` bytes and rows of dim
 * columns: a window of W x E rows (at most 3/4 of the budget with every
 * buffer a row needs) in W blocks of E events, W = rows / 65536 within
 * [4, 32]. Depends on nothing else, so not on the rank count. DM_ERR_ARG naming --pool-mb when a window would
 * hold fewer than `batch` rows. */
dm_status dm_svdd_stream_geometry(int64_t budget, int dim, int weighted, int64_t batch,
                                  int64_t *block_events, int64_t *window_blocks);

typedef struct {
  const dm_model_stream *src;
  int dim, weighted, size, rank;
  int64_t n_total, batch;
  int64_t block_events, window_blocks, n_blocks, n_windows;
  int64_t cap;          /* rows this rank can hold of one window */
  double wscale;        /* weighted: n_total / sum of weights (mean 1) */
  /* the loaded window: this rank's rows and their place in the window */
  int64_t nl, R;        /* rows here; rows over all ranks */
  float *x, *rw, *d;    /* cap x dim; cap scaled weights; cap distances */
  double *w;            /* cap raw weights (weighted) */
  int64_t *pos, *rows, *start, *scratch;
  int64_t *cnt;         /* 3 x window_blocks: rows per block here, below, all */
} dm_svdd_stream;

/* COLLECTIVE. Geometry and buffers for the rows of src (n_total in all). */
dm_status dm_svdd_stream_open(dm_svdd_stream *s, const dm_model_stream *src, int dim,
                              int64_t n_total, int64_t batch, int64_t budget, MPI_Comm comm);
void dm_svdd_stream_close(dm_svdd_stream *s);

/* COLLECTIVE. One pass in store order: the order-free fingerprint of the
 * rows (and of their weights), and when weighted the scale to mean 1. */
dm_status dm_svdd_stream_prepass(dm_svdd_stream *s, MPI_Comm comm, uint64_t *fingerprint);

/* COLLECTIVE. The centre of net over every row (dm_svdd_centre_w's sums). */
dm_status dm_svdd_stream_centre(dm_svdd_stream *s, const dm_svdd_net *net, dm_svdd_work *ws,
                                MPI_Comm comm, float *c);

/* COLLECTIVE. Epoch e of the member seeded `seed`: every window of the
 * epoch's block order, its batches stepped through st. *loss_sum receives
 * sum over batches of loss x rows; r2_hist (65536 counts, or NULL) the
 * top-16-bit histogram of the rows' distances. */
dm_status dm_svdd_stream_epoch(dm_svdd_stream *s, dm_svdd_stepper *st, const dm_svdd_opts *o,
                               const dm_svdd_schedule *sch, uint64_t seed, int epoch,
                               MPI_Comm comm, double *loss_sum, uint64_t *r2_hist);

/* COLLECTIVE. The k-th smallest (0-based) of the values histogrammed by
 * dm_svdd_stream_epoch, to its bin: the bin's largest float. */
dm_status dm_svdd_stream_kth(uint64_t *hist, int64_t k, MPI_Comm comm, float *out);

/* COLLECTIVE. Collapse statistics of the rows through net: mean and
 * standard deviation of the distances (exact sums), and the distinct
 * distances over the first window (*sample rows). */
dm_status dm_svdd_stream_stats(dm_svdd_stream *s, const dm_svdd_net *net, const float *c,
                               MPI_Comm comm, double *mean, double *sd, int64_t *distinct,
                               int64_t *sample);

#endif
