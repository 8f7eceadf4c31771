/* dm_train.h - the train stage: fit an anomaly model on the background
 * events of a store (or selection) and write a model file.
 *
 * Which events train (the challenge's convention, reproducible for any
 * number of ranks):
 *  1. background = events of the SM processes of the process table (or of
 *     the processes named in opts->background);
 *  2. the training pool = for each background process, its first
 *     floor(train_fraction x N_process) events in store order (so every
 *     process trains, and its last events are held out, even though a store
 *     is ordered process by process); with split_global, the first
 *     floor(train_fraction x N_background) background events in store order
 *     (the challenge's rule for its shuffled files). The transform
 *     (standardisation, PCA) is fitted on the whole pool;
 *  3. the backend is fitted on at most max_train rows of the pool: those
 *     whose dm_rng_hash(seed, global event index, 0) is among the max_train
 *     smallest (found by a distributed radix selection over all ranks; ties
 *     broken by store order), kept in store order. max_train 0 = the pool.
 *     The keys are not held: each round of the selection recomputes them in
 *     a pass over the process column, and the rows are then named by a rule
 *     on the event index alone, hash < T or (hash == T and index < a tie
 *     cut), T the max_train-th smallest key. The selection holds two
 *     histograms (1 MiB) and, for its last rounds, the keys that share T's
 *     leading bits (fewer than select_hold over all ranks, about pool /
 *     65536 after the first round), whatever the pool's size.
 * Weighted (opts->weighted): every fitted row carries its event weight,
 * from the store's derived column "weight" (dmpipe weight) when present,
 * else /events/weight; a weight that is not finite and > 0 is an error
 * naming the event. The transform stays unweighted (a change of units);
 * the backend uses the weights (dm_model_data.weight).
 * The model file records the split and the weights used (dm_split.h).
 *
 * The store is streamed in batches of opts->batch events per rank (two
 * passes, three with PCA, and for a subsample one more over the process
 * column), so memory is bounded by the batch plus the max_train rows.
 *
 * Bounded pool (opts->pool_mb > 0, for a backend that streams: svdd). When
 * some rank's fitted rows would take more than pool_mb MB in memory (about
 * 4 x (raw + transformed columns) + 48 bytes a row, + 16 weighted), the rows
 * are not held: the backend gets a dm_model_stream that reads them from the
 * store on demand (each call reads, filters and transforms a range of events
 * in chunks within pool_mb / 4), and the reads of the transform fit use the
 * same chunks. Which events are training rows is then a rule on (process,
 * event index) alone: per class, the events before the one that ends its
 * pool, and with max_train, the selection's rule above. The decision
 * depends on the rank count (more ranks, smaller shares); the backend
 * records which mode ran. pool_mb 0 = always in memory.
 *
 * dm_train_run is COLLECTIVE over comm; every other call is LOCAL.
 */
#ifndef DM_TRAIN_H
#define DM_TRAIN_H

#include <cjson/cJSON.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_features.h"
#include "dm_model.h"
#include "dm_status.h"

typedef struct {
  const char *in_path;       /* store or selection */
  const char *out_path;      /* model file */
  const char *backend;       /* registry name: "kde", "svdd", "null" */
  const void *backend_opts;  /* the backend's options struct, NULL = defaults */
  dm_feature_spec features;
  int pca_dim;               /* 0 = no PCA */
  double train_fraction;     /* (0, 1], default 0.9 */
  int split_global;          /* 1: pool = first fraction of all background */
  int64_t max_train;         /* 0 = every pool row */
  uint64_t seed;
  const char *background;    /* comma-separated process names, NULL = SM ones */
  const char *xsec;          /* process table file, NULL = the default */
  int64_t batch;             /* events per rank per read (default 65536) */
  int progress;              /* DM_PROGRESS_* mode (dm_progress.h), same on every rank */
  double progress_interval;  /* seconds between progress lines; 0 = the mode's default */
  int weighted;              /* fit with event weights */
  int64_t pool_mb;           /* memory per rank for the fitted rows; 0 = no limit */
  int64_t select_hold;       /* the subsample's selection holds its candidates once
                                fewer than this many remain over all ranks (0 =
                                65536; 1 takes every round through the store) */
  const char *command_line;  /* for provenance */
} dm_train_opts;

typedef struct {
  int64_t n_events;          /* events in the store */
  int64_t n_background;      /* of which background */
  int64_t n_pool;            /* training pool (transform fit) */
  int64_t n_train;           /* rows the backend was fitted on */
  int n_background_processes;
  char background[1024];     /* their names, comma-separated (truncated) */
  char weight_source[64];    /* weighted: which column ("" otherwise) */
  double n_train_eff;        /* weighted: Kish count of the fitted rows */
  int pool_streamed;         /* 1: the fitted rows were streamed (pool_mb) */
  int64_t pool_bytes;        /* the largest rank's in-memory estimate of them */
  int dim_in, dim;
  double pca_explained;
  double seconds_scan, seconds_features, seconds_fit, seconds_write, seconds_total;
  cJSON *backend_info;       /* what the backend reported (owned; may be NULL) */
} dm_train_report;

/* LOCAL. Defaults: highlevel features, no PCA, fraction 0.9, all rows,
 * seed 1, SM background, batch 65536. backend and paths must be set. */
void dm_train_opts_default(dm_train_opts *o);

/* COLLECTIVE. Train and write opts->out_path (written as .tmp, renamed when
 * every rank succeeded). The report is filled on every rank. */
dm_status dm_train_run(const dm_train_opts *opts, MPI_Comm comm, dm_train_report *rep);

/* LOCAL. Free what a report owns; accepts a zeroed report. */
void dm_train_report_free(dm_train_report *rep);

/* COLLECTIVE. Distributed selection: among all ranks' keys (n_local each),
 * mark the m smallest (ties by rank order, then local order) in take[]
 * (0/1). *n_taken = min(m, total). m <= 0 takes all. */
dm_status dm_train_select_smallest(const uint64_t *keys, int64_t n_local, int64_t m,
                                   MPI_Comm comm, unsigned char *take, int64_t *n_taken);

/* The search behind dm_train_select_smallest, fed key by key so that the
 * keys need not be held (the train stage recomputes them in each pass over
 * the store):
 *     dm_train_radix_begin(&r, m, comm);                      COLLECTIVE, agreed
 *     do {
 *       for every key of this rank: dm_train_radix_add(&r, key);   LOCAL
 *       dm_train_radix_round(&r, comm);                       COLLECTIVE, agreed
 *     } while (r.bits < 64 and the candidates are still too many to hold);
 *     dm_train_radix_free(&r);                                LOCAL
 * Each round fixes the next 16 bits of the m-th smallest key (1 <= m <= the
 * keys over all ranks). After a round, the candidates are the keys whose
 * high `bits` bits equal prefix's: the wanted key is the k-th smallest of
 * them, and every key below them is among the m smallest. Memory: two
 * histograms of 65536 counts (1 MiB), whatever the number of keys. */
typedef struct {
  int64_t k;            /* 1-based rank of the wanted key among the candidates */
  uint64_t prefix;      /* its high `bits` bits (the others 0) */
  int bits;             /* bits fixed: 0, 16, 32, 48 or 64 */
  int64_t n_cand;       /* candidates over all ranks */
  int64_t n_cand_local; /* candidates on this rank */
  int64_t below_local;  /* this rank's keys below the candidates */
  int64_t *hist, *sum;  /* this round's counts by next digit: local, all ranks */
} dm_train_radix;

dm_status dm_train_radix_begin(dm_train_radix *r, int64_t m, MPI_Comm comm);
void dm_train_radix_free(dm_train_radix *r);
dm_status dm_train_radix_round(dm_train_radix *r, MPI_Comm comm);

/* LOCAL. Does key share the digits fixed so far? */
static inline int dm_train_radix_candidate(const dm_train_radix *r, uint64_t key)
{
  return r->bits == 0 || (key >> (64 - r->bits)) == (r->prefix >> (64 - r->bits));
}

/* LOCAL. Count a key of this rank in the current round (feed each key once
 * a round, in any order). */
static inline void dm_train_radix_add(dm_train_radix *r, uint64_t key)
{
  if (r->bits < 64 && dm_train_radix_candidate(r, key))
    r->hist[(key >> (48 - r->bits)) & 0xffff]++;
}

#endif
