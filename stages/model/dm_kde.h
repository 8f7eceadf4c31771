/* dm_kde.h - exact Gaussian kernel density estimate, the "kde" model backend.
 *
 *   log p(x) = logsumexp_j ( -|x - y_j|^2 / (2 h^2) ) - log n - (d/2) log(2 pi h^2)
 *
 * over the n reference rows y_j (d columns, transformed features); the
 * anomaly score is -log p(x). This is exactly what scikit-learn's
 * KernelDensity(kernel="gaussian", bandwidth=h).score_samples computes with
 * rtol = atol = 0, evaluated here without approximation:
 *  - distances in float, in blocks of references held column-major so the
 *    inner loop over references is a SIMD loop; several queries share each
 *    load of a reference block;
 *  - per block, the exponents are shifted by the block's largest one before
 *    exponentiation (no underflow even for queries far from every reference),
 *    the block sum is float, and blocks are merged in double as
 *    (max, sum) pairs: the log-sum-exp stays within ~1e-7 relative of a
 *    double-precision direct sum;
 *  - OpenMP threads split the queries; each query's sum runs in one fixed
 *    order, so results are bit-identical for any number of threads or ranks
 *    (in the default replicated mode).
 * The kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64 and the
 * best the CPU supports is chosen at run time (dm_kde_isa()).
 *
 * Distributed scoring (mode, set by dmpipe score --set mode=...):
 *  replicated (default): every rank holds the whole reference sample and
 *    scores its own queries; no communication.
 *  sharded: rank r evaluates all queries of the call against its slice of
 *    the reference (dm_partition of the rows); the per-query partial
 *    (max, sum) pairs are merged with MPI_Reduce_scatter and a log-sum-exp
 *    operator. Agrees with replicated to the kernel's float accuracy (~1e-7
 *    relative; the reference blocks start at other rows, and the merge order
 *    depends on the rank count), and both are within 1e-6 of the exact sum.
 *
 * Weighted fits (train --weighted): every reference row keeps its event
 * weight, log p(x) = log sum_j w_j K_h(x - y_j) - log sum_j w_j (the same as
 * scikit-learn's KernelDensity.fit(..., sample_weight=w)); Scott's and
 * Silverman's rules use Kish's effective count (sum w)^2 / sum w^2; cv is
 * refused (its held-out likelihood is unweighted).
 *
 * Model group (/model of a dmpipe-model file, backend version 2; version 1
 * files, without weights, still read):
 *   attributes  bandwidth f64, bandwidth_rule str ("scott", "silverman",
 *               "cv", "value"), n_ref i64, dim i64, cv_folds i64, cv_rows i64
 *   datasets    reference [n_ref, dim] f32 (transformed rows, store order)
 *               reference_row [n_ref] i64 (global store index of each row)
 *               reference_weight [n_ref] f64 (weighted fits only)
 *               cv_factor, cv_loglik [grid] f64 (bandwidth cv only: the grid
 *               as multiples of Scott's bandwidth, mean held-out log p)
 */
#ifndef DM_KDE_H
#define DM_KDE_H

#include <mpi.h>
#include <stdint.h>

#include "dm_model.h"
#include "dm_status.h"

extern const dm_model_backend dm_model_backend_kde;

typedef enum {
  DM_KDE_BW_SCOTT = 0,
  DM_KDE_BW_SILVERMAN,
  DM_KDE_BW_CV,
  DM_KDE_BW_VALUE
} dm_kde_bw_rule;

typedef enum { DM_KDE_REPLICATED = 0, DM_KDE_SHARDED = 1 } dm_kde_mode;

/* Options of the kde backend's fit (dm_model_backend.fit's opts). */
typedef struct {
  dm_kde_bw_rule rule;
  double bandwidth;  /* DM_KDE_BW_VALUE: h in transformed units (> 0) */
  int cv_folds;      /* k of k-fold cross-validation (>= 2, default 5) */
  int cv_grid;       /* grid points (>= 2, default 13) */
  double cv_lo, cv_hi; /* grid from cv_lo to cv_hi times Scott's h, log-spaced
                          (default 0.25 .. 2) */
  int64_t cv_rows;   /* at most this many reference rows take part in cv
                        (those with the smallest hash; default 20000) */
} dm_kde_opts;

/* LOCAL. Defaults: Scott's rule; cv 5 folds x 13 points over 0.25..2. */
void dm_kde_opts_default(dm_kde_opts *o);

/* LOCAL. Parse "scott", "silverman", "cv" or a positive number. */
dm_status dm_kde_bandwidth_parse(const char *text, dm_kde_opts *o);

/* LOCAL. Bandwidth rules of thumb for n rows in d standardised dimensions:
 * Scott n^(-1/(d+4)), Silverman (n (d+2) / 4)^(-1/(d+4)). */
double dm_kde_scott(int64_t n, int d);
double dm_kde_silverman(int64_t n, int d);

/* The fitted estimator (the backend's state). */
typedef struct dm_kde dm_kde;

/* LOCAL. An estimator over n reference rows (copied) with bandwidth h. */
dm_status dm_kde_new(const float *ref, int64_t n, int dim, double h, dm_kde **k);
void dm_kde_free(dm_kde *k);
double dm_kde_bandwidth(const dm_kde *k);
int64_t dm_kde_n_ref(const dm_kde *k);
void dm_kde_set_mode(dm_kde *k, dm_kde_mode mode);
void dm_kde_set_bandwidth(dm_kde *k, double h);
/* LOCAL. Give the reference rows weights w[0..n) (copied; finite, > 0):
 *   log p(x) = log sum_j w_j N(x; y_j, h^2 I) - log sum_j w_j.
 * Implemented as one more kernel column (dm_kde.c), so the exact kernel
 * and its accuracy are unchanged. */
dm_status dm_kde_set_weights(dm_kde *k, const double *w);
/* LOCAL. The weights, or NULL when unweighted. */
const double *dm_kde_weights(const dm_kde *k);

/* COLLECTIVE. k-fold cross-validated bandwidth on the reference rows that
 * every rank holds identically (n rows, row ids for the fold hash). At most
 * o->cv_rows rows take part: those with the smallest dm_rng_hash(seed, row,
 * 2); row goes to fold dm_rng_hash(seed, row, 3) % k. The (fold, grid point)
 * items are spread over ranks (item i on rank i % size); each item's held-out
 * log-likelihood is computed by one rank, so the result is the same for any
 * rank count. factor[g] (grid multiples of Scott's h at the cv reference
 * size) and loglik[g] (mean held-out log p) receive o->cv_grid values; *h is
 * the best factor times Scott's h for all n rows; *best its grid index. */
dm_status dm_kde_cv(const float *ref, const int64_t *row, int64_t n, int d,
                    const dm_kde_opts *o, uint64_t seed, MPI_Comm comm, double *h,
                    double *factor, double *loglik, int *best, int64_t *cv_rows_used);

/* LOCAL. log p(x) of n query rows (OpenMP threads over queries). */
void dm_kde_logpdf(const dm_kde *k, const float *x, int64_t n, double *logp);

/* COLLECTIVE. The same through the sharded decomposition (see above):
 * every rank calls it, each with its own queries (n may be 0). */
dm_status dm_kde_logpdf_sharded(const dm_kde *k, const float *x, int64_t n, double *logp,
                                MPI_Comm comm);

/* LOCAL. The instruction set the kernel runs with ("avx512", "avx2",
 * "baseline"). DM_KDE_ISA=avx2|baseline in the environment caps it (for
 * tests and measurements). */
const char *dm_kde_isa(void);

/* COLLECTIVE. Every rank of comm takes the lowest instruction set any of them
 * runs (its CPU, or DM_KDE_ISA): kernels for different instruction sets round
 * differently, and on a mix of nodes the scores would otherwise depend on
 * which rank scored an event. Called by the model's fit and load. */
void dm_kde_isa_agree(MPI_Comm comm);

/* LOCAL, the kernel itself. For each of the n queries (row-major, d
 * columns), the log-sum-exp of -|x - y_j|^2 * inv2h2 over reference rows
 * j in [r0, r1) of refT (column-major: column c of row j at refT[c*ld + j]),
 * as a pair: max[i] (the largest exponent) and sum[i] (sum of exp(e_j -
 * max[i]), >= 1), so that the log-sum-exp is max + log(sum). Empty range:
 * max = -inf, sum = 0. */
void dm_kde_lse(const float *refT, int64_t ld, int64_t r0, int64_t r1, int d, const float *x,
                int64_t n, double inv2h2, double *max, double *sum);

#endif
