/* dm_svdd.h - the Deep SVDD model backend ("svdd" in the registry of
 * dm_model.h): options, the fitted state, and the calls train and score use.
 *
 * The model (Ruff et al., ICML 2018): a bias-free network phi (dm_svdd_net.h)
 * is trained so that the training events map close to a fixed centre c; the
 * anomaly score of x is |phi(x) - c|^2 (the mean over the members of an
 * ensemble). Objectives:
 *   one-class      mean |phi(x) - c|^2 over a batch;
 *   soft-boundary  R^2 + (1/nu) mean max(0, |phi(x) - c|^2 - R^2), where R is
 *                  not trained by gradient: from the end of epoch warm_up - 1
 *                  on, R^2 is set after every epoch to the global (1 - nu)
 *                  quantile of the training distances seen during that epoch
 *                  (the order statistic of rank ceil((1 - nu) n), exact, found
 *                  by a radix selection over all ranks).
 * The centre c is the mean of phi over ALL training events of all ranks under
 * the initial weights (summed in exact fixed point), with components of
 * |c_j| < 0.1 pushed to +-0.1 (0 to +0.1), then fixed.
 *
 * Data parallelism and what it guarantees. Training row g (global index in
 * rank order) belongs to batch floor(pi_e(g) / B) of epoch e, where pi_e is a
 * pseudo-random permutation of [0, n) keyed by (seed, member, epoch) (a Feistel
 * network with cycle walking: each rank inverts it for its own rows only, so
 * no rank ever holds a global index list). Each rank computes the gradient of
 * its rows of a batch; one MPI_Allreduce sums them; every rank applies the same
 * Adam update. Hence the global batches, the initial weights, c, the learning
 * rates and the updates are the same for any number of ranks. What differs:
 * the float sums inside each batch gradient are split differently (per rank
 * and OpenMP thread inside sgemm, then added over threads and over ranks in
 * the allreduce), so weights agree to rounding, not bitwise, across rank or
 * thread counts (tests/svdd checks 1 vs 2 vs 3 ranks and 1 vs 2 threads to a
 * relative 1e-5 of the weights after 4-8 epochs; measured about 2e-7). The
 * centre is bitwise the same for any rank count. On the same rank count and
 * thread count a run is bitwise reproducible, and a resumed run bitwise
 * equals an uninterrupted one.
 *
 * Checkpoints: after every epoch rank 0 writes the full training state (all
 * members' weights, Adam moments and step, c, R^2, epochs done) to
 * opts->checkpoint (".tmp" then rename, xxh64 checksum). The epoch's batch
 * order is a pure function of (seed, member, epoch), so no random-generator
 * position needs saving. With resume set, training continues from the
 * checkpoint when one exists (and starts afresh, saying so, when none does);
 * a checkpoint from different data or options (all but epochs) is refused.
 * The file is kept after success so a run can be extended (more epochs).
 *
 * Collapse guard: after training every member scores all training events;
 * the report gives their standard deviation and the number of distinct
 * values (exact over all ranks). A member is collapsed when the std is below
 * 1e-6 * max(mean score, |c|^2) or fewer than max(2, 1%) of the values are
 * distinct; rank 0 prints a warning, and with strict the fit fails with
 * DM_ERR_NUMERIC.
 */
#ifndef DM_SVDD_H
#define DM_SVDD_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "dm_model.h"
#include <signal.h>

#include "dm_svdd_net.h"

#define DM_SVDD_BACKEND_VERSION 1
#define DM_SVDD_MAX_MILESTONES 8
#define DM_SVDD_MAX_ENSEMBLE 64
#define DM_SVDD_CKPT_PATH_MAX 4096

typedef struct {
  int n_hidden;                       /* hidden layers, 0..DM_SVDD_MAX_LAYERS-1 */
  int hidden[DM_SVDD_MAX_LAYERS];     /* their widths */
  int out_dim;                        /* dimension of phi */
  int epochs;
  int batch;                          /* global batch size B */
  double lr;
  double weight_decay;                /* PyTorch Adam's L2 weight_decay */
  int n_milestones;                   /* lr *= 0.1 from each milestone epoch on */
  int milestones[DM_SVDD_MAX_MILESTONES];
  dm_svdd_objective objective;
  double nu;                          /* soft-boundary: (0, 1] */
  int warm_up;                        /* soft-boundary: epochs before R is set */
  int ensemble;                       /* members, seeds seed + k */
  int strict;                         /* a collapsed member fails the fit */
  int resume;                         /* continue from checkpoint if present */
  char checkpoint[DM_SVDD_CKPT_PATH_MAX]; /* "" = no checkpoints */
  int zero_init;                      /* tests: all weights 0 (collapses) */
  int verbose;                        /* rank 0 prints a line per epoch */
  double progress_interval;           /* > 0: rank 0 prints an epoch's line when this
                                       * many seconds passed since the last (progress
                                       * in logs); only rank 0 prints, so ranks may
                                       * differ here */
  /* When *stop becomes non-zero on any rank (a SIGTERM handler of the
   * program: Slurm's preemption and time-limit signal), training stops after
   * the current epoch's checkpoint, agreed over the ranks, and the fit fails
   * saying so; the same command with --resume continues to the same weights.
   * Only with a checkpoint; NULL = never. */
  const volatile sig_atomic_t *stop;
} dm_svdd_opts;

/* LOCAL. Defaults: hidden 256,128, out_dim 13 (the challenge's Deep SVDD
 * shape), 20 epochs, batch 500, lr 1e-3, weight decay 1e-6, no milestones,
 * one-class, nu 0.1, warm_up 10, ensemble 1, no checkpoint. */
void dm_svdd_opts_default(dm_svdd_opts *o);

/* LOCAL. Check ranges; DM_ERR_ARG naming the option. */
dm_status dm_svdd_opts_check(const dm_svdd_opts *o);

/* LOCAL. "one-class" / "soft-boundary". */
const char *dm_svdd_objective_name(dm_svdd_objective obj);
dm_status dm_svdd_objective_parse(const char *text, dm_svdd_objective *obj);

/* LOCAL. Learning rate of epoch e (0-based): lr * 0.1^(milestones <= e), as
 * torch.optim.lr_scheduler.MultiStepLR stepped once per epoch. */
double dm_svdd_lr_at(const dm_svdd_opts *o, int epoch);

/* The fitted model (the backend state): identical on every rank. */
typedef struct {
  int n_members;
  dm_svdd_objective objective;
  double nu;
  dm_svdd_net *nets; /* n_members, same shape */
  float *c;          /* n_members x out_dim */
  double *r2;        /* n_members: R^2 (0 for one-class) */
} dm_svdd_model;

/* Training summary (identical on every rank). */
typedef struct {
  int n_members, epochs;
  int64_t n_train;
  int64_t n_params;        /* per member */
  double seconds;          /* training loop, all members */
  double events_per_s;     /* training events (epochs x n x members) per second */
  double gflops;           /* estimated flops of the training loop / seconds */
  int resumed_epochs;      /* epochs taken from a checkpoint */
  int resyncs;             /* times ranks' states differed and were re-broadcast */
  double final_loss[DM_SVDD_MAX_ENSEMBLE];
  double r[DM_SVDD_MAX_ENSEMBLE];
  double score_mean[DM_SVDD_MAX_ENSEMBLE], score_std[DM_SVDD_MAX_ENSEMBLE];
  int64_t n_distinct[DM_SVDD_MAX_ENSEMBLE];
  int collapsed[DM_SVDD_MAX_ENSEMBLE];
  int any_collapsed;
} dm_svdd_report;

/* COLLECTIVE. Train on the rows of every rank (train->x, n_local rows of
 * dim columns; the training set is the rows of all ranks in rank order).
 * Member k is seeded with train->seed + k. report may be NULL. On success
 * *model is identical on every rank; on failure it is NULL. Every rank
 * returns the same status. */
dm_status dm_svdd_fit(const dm_model_data *train, const dm_svdd_opts *opts, MPI_Comm comm,
                      dm_svdd_model **model, dm_svdd_report *report);

/* LOCAL. Scores (mean over members of |phi(x) - c|^2) of n rows. */
dm_status dm_svdd_score(const dm_svdd_model *m, const float *x, int64_t n, int dim,
                        double *score);

/* LOCAL. Free; accepts NULL. */
void dm_svdd_model_free(dm_svdd_model *m);

/* LOCAL. Print the report as a table (rank 0 calls it). */
void dm_svdd_report_print(const dm_svdd_report *r, FILE *out);

/* The registry entry (fit's opts is a const dm_svdd_opts *, NULL for the
 * defaults). The model group (/model of the model file) holds:
 *   attributes objective ("one-class"|"soft-boundary"), nu, n_members,
 *              n_layers, dims (n_layers + 1 values, as f64), leak
 *   datasets   weights [n_members, n_params] f32 (layers concatenated, each
 *              out x in row-major), centre [n_members, out_dim] f32,
 *              r2 [n_members] f64 */
extern const dm_model_backend dm_model_backend_svdd;

#endif
