/* dm_score.h - the score stage: every event of a store (or selection)
 * through a model file, written as a score file (io/dm_scores_file.h) in
 * store order with event_id and process index, plus the process table.
 *
 * The store is streamed in rounds (dm_physics_round): round k covers the
 * global events [k B P, (k+1) B P) split over the P ranks, B events per
 * rank; each rank extracts features, transforms and scores its block, and
 * the blocks are appended in rank order, so the file is in store order for
 * any rank count and memory stays bounded by B events per rank (plus the
 * model). Every rank calls the backend's score once per round, which lets a
 * backend shard its parameters (KDE: --set mode=sharded); the settings are
 * given when the model is read (dm_model_load_set), so a sharded backend
 * reads only its share.
 *
 * Training events (dm_split.h): when the model file records its training
 * split, the score file gets a /scores/train column: if the scored store's
 * XXH3-128 checksum equals the recorded training store's, the split rule is
 * applied again (1 = training event; the count per process must match the
 * record), otherwise every row is 0. Models without the record give no
 * column.
 *
 * dm_score_run is COLLECTIVE over comm; the rest is LOCAL.
 */
#ifndef DM_SCORE_H
#define DM_SCORE_H

#include <mpi.h>
#include <stdint.h>

#include "dm_h5.h"
#include "dm_status.h"

#define DM_SCORE_MAX_SET 8

typedef struct {
  const char *model_path;
  const char *in_path;
  const char *out_path;
  int64_t batch;                  /* events per rank per round (default 65536) */
  int n_set;                      /* backend settings, "key=value" */
  const char *set[DM_SCORE_MAX_SET];
  const char *channel;            /* recorded in the score file; may be NULL */
  int checksums;                  /* record xxh3 checksums of model and store */
  int progress;                   /* DM_PROGRESS_* mode (dm_progress.h), same on every rank */
  double progress_interval;  /* seconds between progress lines; 0 = the mode's default */
  const char *command_line;
} dm_score_opts;

typedef struct {
  int64_t n_events;
  char backend[32];
  int dim;                        /* model input columns */
  int64_t n_nonfinite;            /* scores that are NaN or infinite */
  double score_min, score_max;    /* over finite scores */
  int64_t n_train;                /* events marked as training events (/scores/train) */
  char train_marking[DM_PATH_MAX + 400]; /* how /scores/train was filled, or why absent */
  double seconds_load, seconds_features, seconds_score, seconds_write, seconds_total;
  double events_per_second;       /* n_events / seconds_total */
} dm_score_report;

/* LOCAL. Defaults: batch 65536, checksums on. */
void dm_score_opts_default(dm_score_opts *o);

/* COLLECTIVE. Score and write opts->out_path (as .tmp, renamed when every
 * rank succeeded). The report is filled on every rank (times are the
 * slowest rank's). */
dm_status dm_score_run(const dm_score_opts *opts, MPI_Comm comm, dm_score_report *rep);

#endif
