/* dm_kde_impl.h - the KDE estimator's state, shared by the files of the KDE
 * (dm_kde.c: estimator, backend table, file I/O; dm_kde_ring.c: sharded
 * evaluation). Not for use outside stages/model/dm_kde*.c. */
#ifndef DM_KDE_IMPL_H
#define DM_KDE_IMPL_H

#include <mpi.h>
#include <stdint.h>

#include "dm_kde.h"

struct dm_kde {
  int64_t n;       /* reference rows held here: all of them, or this rank's shard */
  int64_t n_total; /* reference rows of the model */
  int64_t row0;    /* model index of the first row held (0 unless a shard) */
  int d;
  int dk; /* columns the kernel sees: d, or d + 1 with weights (dm_kde.c) */
  double h, log_norm;
  double wmax, wsum; /* weighted: largest weight and sum of weights of the model */
  /* The only copy of the reference: a fit gathers the rows straight into it,
   * a read fills it a block at a time, and the rows as stored are rebuilt
   * from it a block at a time when the model is written (dm_kde_rows_at). */
  float *refT;       /* dk x ld, column-major for the kernel */
  int64_t ld;
  int cols;          /* columns refT has room for (dk <= cols <= d + 1) */
  int64_t *row; /* n model rows' store indices (a fit), or NULL (read from a
                   model file: only a fit writes them) */
  double *w;    /* n reference weights, or NULL (unit weights) */
  dm_kde_mode mode;
  /* A shard: the rows of dm_kde_shard(n_total, shard_rank, shard_size), and
   * ld is the largest shard's row count, so any shard fits refT and spare
   * (the ring's second buffer, allocated on first use). shard_size 0: the
   * estimator holds the whole reference. */
  int shard_rank, shard_size;
  float *spare;
  char rule[16];
  int cv_folds, cv_grid;
  int64_t cv_rows;
  double *cv_factor, *cv_loglik;
};

/* LOCAL. Add the terms of reference rows [0, rows) of refT (column-major, ld
 * floats per column, dk columns, rows starting on a model block boundary)
 * to acc for n queries (dk columns each), OpenMP threads over chunks of
 * queries. nrq > 0: the master thread calls MPI_Testall on rq between
 * chunks, so that transfers in flight progress while the kernel runs (the
 * program initialises MPI with MPI_THREAD_FUNNELED; the master thread is the
 * one that called it). */
void dm_kde_lse_threads(const float *refT, int64_t ld, int64_t rows, int dk, double h,
                        const float *x, int64_t n, dm_kde_acc *acc, MPI_Request *rq, int nrq);

/* LOCAL. An estimator holding n of the model's n_total rows from row0 on, in
 * a refT of ld rows (>= n, a multiple of 16; zeroed) and room for cols
 * columns (dim, or dim + 1 for a fit that will be given weights, which then
 * go in place), bandwidth h, no rows filled in yet (dm_kde_fill, or column
 * c written at refT + c ld by the caller). */
dm_status dm_kde_alloc(int64_t n, int64_t n_total, int64_t row0, int64_t ld, int dim, int cols,
                       double h, dm_kde **k);
/* LOCAL. Copy the n held rows (row-major, d columns) into refT and set the
 * normalisation for h. */
void dm_kde_fill(dm_kde *k, const float *ref);
/* LOCAL. Copy n rows (row-major, d columns) into held rows [j0, j0 + n) of
 * refT; the normalisation is left to the caller (dm_kde_set_bandwidth). */
void dm_kde_fill_rows(dm_kde *k, int64_t j0, int64_t n, const float *ref);

/* LOCAL. Held rows [j0, j0 + n) of the reference, row-major as stored (the
 * first d columns of refT, exactly), into rows (n d floats): the model file
 * is written from them a block at a time. */
void dm_kde_rows_at(const dm_kde *k, int64_t j0, int64_t n, float *rows);
/* LOCAL. DM_OK if an estimator of n reference rows of dim columns can take
 * bandwidth h (n >= 1, dim >= 1, h finite and > 0); else DM_ERR_ARG saying
 * which. */
dm_status dm_kde_check_args(int64_t n, int dim, double h);
/* LOCAL. DM_OK if the n weights are finite and > 0; else DM_ERR_ARG naming
 * the model row (row0 + index). */
dm_status dm_kde_weights_check(const double *w, int64_t n, int64_t row0);
/* LOCAL. Give the n held rows weights w (copied), with the model's largest
 * weight and sum of weights (dm_kde_set_weights for a whole estimator). */
dm_status dm_kde_attach_weights(dm_kde *k, const double *w, double wmax, double wsum);

/* LOCAL. Queries with the weight column's 0 appended (weighted estimators),
 * or NULL when out of memory. */
float *dm_kde_pad_queries(const dm_kde *k, const float *x, int64_t n);

#endif
