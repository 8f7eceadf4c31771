/* dm_svdd_impl.h - PRIVATE to stages/model/dm_svdd*.c (and tests/svdd):
 * the pieces of the Deep SVDD trainer that are not the network itself.
 * Never included by train or score. */
#ifndef DM_SVDD_IMPL_H
#define DM_SVDD_IMPL_H

#include <mpi.h>
#include <stdint.h>

#include "dm_svdd.h"

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

#endif
