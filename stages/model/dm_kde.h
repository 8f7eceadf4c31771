/* dm_kde.h - exact Gaussian kernel density estimate, the "kde" model backend.
 *
 *   log p(x) = logsumexp_j ( -|x - y_j|^2 / (2 h^2) ) - log n - (d/2) log(2 pi h^2)
 *
 * over the n reference rows y_j (d columns, transformed features); the
 * anomaly score is -log p(x). This is exactly what scikit-learn's
 * KernelDensity(kernel="gaussian", bandwidth=h).score_samples computes with
 * rtol = atol = 0, evaluated here without approximation.
 *
 * Accuracy and reproducibility:
 *  - the reference rows are cut into blocks of DM_KDE_BLOCK rows at fixed
 *    positions (block b = rows [b B, (b+1) B) of the model), held column-major
 *    so the inner loop over references is a SIMD loop; several queries share
 *    each load of a block;
 *  - per (query, block), distances and the block sum are float, with the
 *    exponents shifted by the block's largest one (no underflow even for
 *    queries far from every reference): a pair (e_b, s_b) = log-sum-exp
 *    e_b + log s_b of the block, ~1e-7 relative;
 *  - the blocks' s_b exp(e_b) are summed exactly (dm_kde_acc, dm_kde_sum.c:
 *    an integer accumulator whose scale slides with the largest term), so
 *    log p is a function of the set of block pairs alone, not of the order
 *    they are added in: within ~1e-7 relative of a double-precision direct
 *    sum, and bit-identical for any number of OpenMP threads, any number of
 *    ranks and in both modes below;
 *  - the kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64 and the
 *    best the CPU supports is chosen at run time (dm_kde_isa(); the ranks of
 *    a run agree on the lowest, dm_kde_isa_agree).
 *
 * Distributed scoring (mode, set by dmpipe score --set mode=...):
 *  replicated (default): every rank holds the whole reference sample and
 *    scores its own queries; no communication. Memory per rank: the
 *    reference once, column-major for the kernel, 4 d N_ref bytes (the file's
 *    rows go into it 4096 at a time), plus the queries.
 *  sharded: the reference is cut into P shards of whole blocks (block
 *    partition of the ceil(N_ref / B) blocks over the P ranks, dm_kde_shard);
 *    rank r keeps its own queries and reads only shard r of the model file.
 *    Per scoring call the shards travel around a ring: at step s = 0..P-1
 *    rank r evaluates its queries against shard (r + s) mod P while it sends
 *    that shard to rank r-1 and receives the next one from rank r+1
 *    (MPI_Isend/MPI_Irecv into the other of two buffers, progressed from
 *    the kernel's loop, so the transfer overlaps the evaluation; OpenMP
 *    threads split the queries as in replicated mode). The queries never
 *    move and the partial sums are not merged across ranks: every query
 *    meets every block on its own rank. For P >= 3 a P-th transfer brings
 *    each shard back to its owner, since its buffer is reused on the way.
 *    Per rank and scoring call (n_q local queries, d_k = d, or d + 1 when
 *    weighted, C = ceil(ceil(N_ref / B) / P) B rows of the largest shard):
 *      memory    2 shards of d_k C floats (the own one and one in flight),
 *                the queries (4 d n_q bytes) and 80 bytes of accumulator
 *                per query: independent of the total query count, and the
 *                reference part falls like 1/P. (An estimator holding the
 *                whole reference, e.g. fitted in this process, keeps it and
 *                packs its slice into two buffers of the call instead; the
 *                score stage reads the model shard by shard.) Reading costs
 *                the same: each rank reads its shard of the file;
 *      messages  P - 1 sends and receives of one shard (P when P >= 3),
 *                each of the shard's rows only (4 d_k bytes a row, 0 for an
 *                empty shard): 4 d_k N_ref bytes sent and received per rank
 *                and call (plus one shard when P >= 3), whatever P and the
 *                query count. The score stage calls once per round of
 *                --batch events per rank, so a run moves 4 d_k N_ref bytes
 *                per rank times ceil(N_events / (batch P)) rounds. (The
 *                earlier sharded mode gathered all P n_q queries on every
 *                rank, 4 d P n_q bytes, and reduce-scattered 16 P n_q bytes
 *                of partial sums, per call.)
 *      limits    the ring takes P steps per call, each a kernel pass of n_q
 *                queries over at most C rows (n_q C d_k multiply-adds)
 *                overlapping one shard transfer; the transfer hides behind
 *                the pass while n_q > 4 d_k R / BW (R the rank's kernel
 *                rate in pairs per second, BW the link's bytes per second:
 *                with d_k = 9, 3e9 pairs/s per core and 10 GB/s, about 11
 *                queries per core), far below the default batch. When P
 *                exceeds the block count ceil(N_ref / B), the surplus
 *                ranks hold empty shards and every call still takes P
 *                steps (latency only): replicated mode is then faster, and
 *                it is generally as fast when the reference fits a rank.
 *                A shard must hold at most INT_MAX rows (MPI counts).
 *    Numbers: validation/README.md, "kde".
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

/* Reference rows per kernel block, and the granularity of the shards. */
#define DM_KDE_BLOCK 512

/* The fitted estimator (the backend's state). It holds either the whole
 * reference sample, or (loaded with mode=sharded) one rank's shard of it. */
typedef struct dm_kde dm_kde;

/* LOCAL. An estimator over n reference rows (copied) with bandwidth h. */
dm_status dm_kde_new(const float *ref, int64_t n, int dim, double h, dm_kde **k);
void dm_kde_free(dm_kde *k);
double dm_kde_bandwidth(const dm_kde *k);
/* LOCAL. Reference rows of the model (all shards together). */
int64_t dm_kde_n_ref(const dm_kde *k);
void dm_kde_set_mode(dm_kde *k, dm_kde_mode mode);
void dm_kde_set_bandwidth(dm_kde *k, double h);
/* LOCAL. Rows [*begin, *end) of shard `rank` of `size` for n reference rows:
 * whole blocks of DM_KDE_BLOCK rows, dm_partition of the blocks (so the
 * first ranks may hold one block more, and ranks beyond the block count
 * none). */
void dm_kde_shard(int64_t n, int rank, int size, int64_t *begin, int64_t *end);
/* LOCAL. Give the reference rows weights w[0..n) (copied; finite, > 0):
 *   log p(x) = log sum_j w_j N(x; y_j, h^2 I) - log sum_j w_j.
 * Implemented as one more kernel column (dm_kde.c), so the exact kernel
 * and its accuracy are unchanged. */
dm_status dm_kde_set_weights(dm_kde *k, const double *w);
/* LOCAL. The weights, or NULL when unweighted. */
const double *dm_kde_weights(const dm_kde *k);

/* COLLECTIVE. k-fold cross-validated bandwidth on the reference rows that
 * every rank holds identically (n rows, row ids for the fold hash; column c
 * of row j at ref[j rs + c cs]: rs = d, cs = 1 for rows as stored, rs = 1,
 * cs = ld for the estimator's column-major copy, so a fit needs no
 * row-major copy of the reference beside it). At most
 * o->cv_rows rows take part: those with the smallest dm_rng_hash(seed, row,
 * 2); row goes to fold dm_rng_hash(seed, row, 3) % k. The (fold, grid point)
 * items are spread over ranks (item i on rank i % size); each item's held-out
 * log-likelihood is computed by one rank, so the result is the same for any
 * rank count. factor[g] (grid multiples of Scott's h at the cv reference
 * size) and loglik[g] (mean held-out log p) receive o->cv_grid values; *h is
 * the best factor times Scott's h for all n rows; *best its grid index. */
dm_status dm_kde_cv(const float *ref, int64_t rs, int64_t cs, const int64_t *row, int64_t n, int d,
                    const dm_kde_opts *o, uint64_t seed, MPI_Comm comm, double *h,
                    double *factor, double *loglik, int *best, int64_t *cv_rows_used);

/* LOCAL. log p(x) of n query rows (OpenMP threads over queries). The
 * estimator must hold the whole reference (not a shard). */
void dm_kde_logpdf(const dm_kde *k, const float *x, int64_t n, double *logp);

/* COLLECTIVE, agreed. The same through the ring of reference shards (see
 * above): every rank calls it with its own queries (n may be 0 on any
 * rank) and gets the same bits dm_kde_logpdf gives. k holds the whole
 * reference (each rank then sends its slice of it, packed into two call
 * buffers) or the shard of this rank for comm (loaded with mode=sharded; k
 * lends its shard buffer to the ring and gets the shard back, hence not
 * const). */
dm_status dm_kde_logpdf_sharded(dm_kde *k, const float *x, int64_t n, double *logp,
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

/* The exact accumulator of one query's log-sum-exp (dm_kde_sum.c). */
__extension__ typedef unsigned __int128 dm_kde_u128;
#define DM_KDE_ACC_BUCKETS 4
typedef struct {
  int64_t top; /* largest bucket seen (INT64_MIN: nothing added yet) */
  int64_t nan; /* 1: a NaN term was offered */
  dm_kde_u128 b[DM_KDE_ACC_BUCKETS]; /* b[i]: integer sum of bucket top - i */
} dm_kde_acc;

/* LOCAL. Empty sum (log = -inf). */
void dm_kde_acc_clear(dm_kde_acc *a);
/* LOCAL. Add s exp(e), for a block's pair: e finite or -inf (adds
 * nothing), 1 <= s <= 1024. NaN in e or s makes the sum NaN. */
void dm_kde_acc_add(dm_kde_acc *a, double e, double s);
/* LOCAL. log of the sum: -inf when empty, NaN after a NaN term. */
double dm_kde_acc_log(const dm_kde_acc *a);

/* LOCAL, the kernel itself. For each of the n queries (row-major, d
 * columns), the terms exp(-|x - y_j|^2 * inv2h2) of the reference rows j in
 * [r0, r1) of refT (column-major: column c of row j at refT[c*ld + j]) are
 * added to acc[i], one (e_b, s_b) pair per block of DM_KDE_BLOCK rows
 * starting at r0 (so r0 must sit on a block boundary of the model for the
 * pairs to be the model's blocks). acc is not cleared. */
void dm_kde_lse(const float *refT, int64_t ld, int64_t r0, int64_t r1, int d, const float *x,
                int64_t n, double inv2h2, dm_kde_acc *acc);

#endif
