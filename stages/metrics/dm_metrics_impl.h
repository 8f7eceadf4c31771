/* dm_metrics_impl.h - private to stages/metrics: the histogram helpers and
 * the channel's row reader the stage driver (dm_metrics.c) calls. Not part
 * of the stage's interface. */
#ifndef DM_METRICS_IMPL_H
#define DM_METRICS_IMPL_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "dm_hist_file.h"
#include "dm_metrics.h"
#include "dm_osel.h"
#include "dm_roc_scan.h"
#include "dm_scores_file.h"
#include "dm_xsum.h"

/* LOCAL. The targets of the adaptive edges (rules in dm_metrics.h): the
 * fractions f[0..*n_f) for dm_osel_upper on the counts of a background of
 * nb events, from the top down; *f malloc'ed. */
dm_status dm_metrics_edge_targets(int64_t nb, const dm_metrics_opts *o, double **f, int *n_f);

/* LOCAL. The edges from the answers res[0..n_f) to those targets, plus lo
 * and just above hi; *edges malloc'ed, *n_edges >= 2. */
dm_status dm_metrics_edges_from(const dm_osel_result *res, int n_f, double lo, double hi,
                                const dm_metrics_opts *o, double **edges, int *n_edges,
                                char *binning, size_t binning_cap);

enum { DM_METRICS_ROLE_NONE = 0, DM_METRICS_ROLE_BKG = 1, DM_METRICS_ROLE_SIG = 2 };

/* A channel's rows, read again in every pass: this rank's block of each of
 * its score files (dm_partition), in batches of at most 65536 rows, with
 * training events left out unless include_train, processes mapped to the
 * channel's table, and event weights read from each file's store when
 * need_w. The first pass also checks the rows (finite scores, and finite
 * weights of background and signal events: errors name the file and row)
 * and counts what the channel reports. Memory: the batch (at most 65536
 * rows, 13 bytes a row, 21 with weights) and each open file's chunk caches
 * (one chunk a column: io/dm_scores_file.h), whatever the files' lengths. */
typedef struct dm_metrics_rows {
  /* Set by the caller before dm_metrics_rows_open: */
  int nf;
  dm_scores **sc;                    /* the open score files */
  const dm_metrics_input *const *in; /* their inputs */
  const int *map;       /* each file's process index -> the channel's, files one after another */
  int np;               /* processes of the channel */
  const int *role;      /* per channel process: DM_METRICS_ROLE_* */
  const uint16_t *group; /* per channel process: dm_roc_rows group (0, 1, 2 + signal) */
  int need_w;           /* read event weights */
  int roc_weights;      /* give them to the ROC rows too */
  int kish;             /* sum the background's weights and squares (first pass) */
  int include_train;
  /* Counted in the first pass, this rank's rows: */
  int64_t *per_proc;    /* rows kept per channel process */
  int64_t excl[2];      /* training rows left out, of which background */
  double lo, hi;        /* smallest and largest score kept */
  dm_xsum kish_sum[2];  /* background sum of w and of w^2 */
  char weight_source[64];
  /* The current batch: channel process and weight of each row. */
  uint16_t *proc;
  double *w;
  /* Internal. */
  MPI_Comm comm;
  int64_t batch, *b, *e, *n_batches;
  int *off;
  int file, pass;
  int64_t next_batch;
  uint16_t *grp;
  double *score;
  uint8_t *train;
  struct dm_metrics_weights *ws;
} dm_metrics_rows;

/* COLLECTIVE. Allocate the batch and place this rank's blocks. */
dm_status dm_metrics_rows_open(dm_metrics_rows *r, MPI_Comm comm);

/* COLLECTIVE (dm_roc_source). The next batch; the end of a pass; the next
 * call after it starts the next pass. Status agreed. */
dm_status dm_metrics_rows_next(void *ctx, dm_roc_rows *rows, int *more);

/* COLLECTIVE. Close the stores opened for weights and free (also after a
 * failed open). */
dm_status dm_metrics_rows_close(dm_metrics_rows *r);


#endif
