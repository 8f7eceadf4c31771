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
 * centre is an exact sum, so the order of rows and ranks cannot change it;
 * it was bitwise the same for 1, 2 and 3 ranks in the tests, but a row's
 * network output itself can differ in its last bit with the number of rows
 * in the product it was part of (OpenBLAS picks kernels by shape), so in
 * general the centre agrees to rounding too. On the same rank count and
 * thread count a run is bitwise reproducible, and a resumed run bitwise
 * equals an uninterrupted one.
 *
 * Large rank counts (the global batch rule). With P ranks each step costs
 * one MPI_Allreduce of the whole gradient: n_params + 1 floats, so
 * 4 (n_params + 1) bytes, and an epoch of n rows takes ceil(n / B_eff) of
 * them. A ring or recursive-doubling allreduce of m bytes costs about
 * 2 log2(P) alpha + 2 m / beta (alpha the latency, beta the bandwidth), so
 * the latency part of an epoch is ceil(n / B_eff) x 2 log2(P) alpha while a
 * rank's compute per step shrinks as B_eff / P rows. Hence the rule, with
 * m = min_rows_per_rank (default 8; 0 = never):
 *   B >= P m  (the usual case: 1-62 ranks at the default B = 500): B_eff = B,
 *             the learning rates as given; results are those above, the same
 *             to rounding for any rank count (bitwise what this code did
 *             before the rule existed);
 *   B <  P m: B_eff = P m and the learning rate is scaled linearly,
 *             lr_eff = lr x B_eff / B (Goyal et al. 2017), reached by a
 *             linear ramp over the first lr_warm_up epochs (default 5):
 *             lr(t) = lr_at(e) x (1 + (B_eff / B - 1) min(1, t / lr_warm_up)),
 *             t = e + (rows of epoch e already stepped) / n. Then the batches
 *             and the schedule depend on P (another P above the threshold is
 *             another training run; the same P is bitwise reproducible and
 *             resumable). A resume under a P that changes B_eff is refused.
 * The effective batch, lr and warm-up are printed by rank 0, reported, and
 * recorded in the model group (dm_svdd_schedule).
 *
 * Bounded training pool (streamed rows, dm_model_data.stream). When the
 * train stage cannot hold a rank's pool within its budget (dmpipe train svdd
 * --pool-mb), the rows stay in the store and each epoch reads them again,
 * window by window. The store's events are cut into fixed blocks of
 * block_events consecutive events and blocks are grouped into windows of
 * window_blocks blocks; both follow from the budget, the row width and
 * whether the fit is weighted, never from P (dm_svdd_stream_geometry), and
 * a window holds at most 3/4 of the budget of rows even when one rank holds
 * all of them (one rank: every row; P ranks: each reads 1/P of every block's
 * events). Epoch e takes the blocks in the order of a keyed permutation
 * sigma_e (seed, member, epoch); window w is blocks sigma_e(wW .. wW + W - 1);
 * its R_w rows, numbered by block (in that order) then store order, are
 * shuffled by a keyed permutation of [0, R_w) and cut into batches of B_eff
 * (the last one of each window smaller). The statistical difference from the
 * in-memory mode: a batch mixes rows of only W blocks (a block-level shuffle,
 * rows of nearby events share windows), and each window ends with a partial
 * batch. It is the same for any P below the threshold: results agree across
 * rank counts to rounding (tests/svdd: weights to 1e-5, centre to 1e-6;
 * measured 2e-7 to 8e-7), and a resumed run bitwise equals an uninterrupted
 * one. I/O: an epoch reads every block once, each rank 1/P of its events
 * (E / P contiguous events per block), so a read of one of the store's
 * compressed chunks serves fewer rows as P grows. The centre and the collapse statistics are streamed passes (exact
 * sums); the soft-boundary R^2 is then the upper edge of the bin holding the
 * (1 - nu) order statistic in a histogram of the distances' top 16 bits
 * (relative precision 2^-7) instead of the exact value; the distinct-score
 * count of the collapse guard is taken over the first window of rows in
 * store order (the report says over how many). Which mode ran is recorded.
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
  int min_rows_per_rank;              /* global batch rule (above); 0 = never scale */
  int lr_warm_up;                     /* epochs of the lr ramp when B_eff > B */
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
 * one-class, nu 0.1, warm_up 10, ensemble 1, no checkpoint, 8 minimum rows
 * per rank, 5 lr warm-up epochs. */
void dm_svdd_opts_default(dm_svdd_opts *o);

/* LOCAL. Check ranges; DM_ERR_ARG naming the option. */
dm_status dm_svdd_opts_check(const dm_svdd_opts *o);

/* LOCAL. "one-class" / "soft-boundary". */
const char *dm_svdd_objective_name(dm_svdd_objective obj);
dm_status dm_svdd_objective_parse(const char *text, dm_svdd_objective *obj);

/* LOCAL. Learning rate of epoch e (0-based): lr * 0.1^(milestones <= e), as
 * torch.optim.lr_scheduler.MultiStepLR stepped once per epoch. */
double dm_svdd_lr_at(const dm_svdd_opts *o, int epoch);

/* How a fit was run: the effective batch and learning rate of the global
 * batch rule and the pool mode (recorded in the model group). */
typedef struct {
  int ranks;                 /* P of the fit */
  int min_rows_per_rank;
  int64_t batch, batch_eff;  /* B as asked, B_eff as used */
  double lr, lr_eff;         /* lr as asked; lr x B_eff / B after the warm-up */
  int lr_warm_up;            /* epochs of the ramp (0 when B_eff == B) */
  int streamed;              /* 1: rows read from the store every epoch */
  int64_t pool_mb;           /* streamed: the budget per rank */
  int64_t block_events, window_blocks; /* streamed: the geometry */
} dm_svdd_schedule;

/* LOCAL. The schedule of a fit on `ranks` ranks (the pool fields zero).
 * DM_ERR_ARG naming --min-rows-per-rank when P x m exceeds the largest
 * batch. */
dm_status dm_svdd_schedule_make(const dm_svdd_opts *o, int ranks, dm_svdd_schedule *s);

/* LOCAL. The learning rate of a step of epoch e taken after `frac` (in
 * [0, 1)) of the epoch's rows: dm_svdd_lr_at when B_eff == B, else the
 * scaled rate on its warm-up ramp (above). */
double dm_svdd_lr_step(const dm_svdd_opts *o, const dm_svdd_schedule *s, int epoch,
                       double frac);

/* The fitted model (the backend state): identical on every rank. */
typedef struct {
  int n_members;
  dm_svdd_objective objective;
  double nu;
  dm_svdd_net *nets; /* n_members, same shape */
  float *c;          /* n_members x out_dim */
  double *r2;        /* n_members: R^2 (0 for one-class) */
  dm_svdd_schedule sched; /* how it was trained (zero: a file from before
                             the record) */
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
  int64_t distinct_of;     /* rows the distinct counts are over (n_train, or
                              the first window when streamed) */
  dm_svdd_schedule sched;
} dm_svdd_report;

/* COLLECTIVE. Train on the rows of every rank (train->x, n_local rows of
 * dim columns; the training set is the rows of all ranks in rank order), or
 * on the rows of train->stream (read window by window, above).
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
 *              n_layers, dims (n_layers + 1 values, as f64), leak;
 *              the schedule: ranks, batch, batch_effective, lr, lr_effective,
 *              lr_warm_up, min_rows_per_rank, pool ("memory"|"streamed"),
 *              pool_mb, pool_block_events, pool_window_blocks (absent from
 *              files written before they existed)
 *   datasets   weights [n_members, n_params] f32 (layers concatenated, each
 *              out x in row-major), centre [n_members, out_dim] f32,
 *              r2 [n_members] f64 */
extern const dm_model_backend dm_model_backend_svdd;

#endif
