/* dm_dataset_private.h - private to stages/dataset: the selection as a rank
 * holds it, the draw plan, and the writer of ordered parts. Not part of the
 * stage's interface. */
#ifndef DM_DATASET_PRIVATE_H
#define DM_DATASET_PRIVATE_H

#include <mpi.h>
#include <stdint.h>

#include "dm_h5.h"
#include "dm_status.h"
#include "dm_store.h"
#include "dm_text_out.h"

/* Stream tags: each kind of draw has its own family of random streams. */
enum { DM_DS_TAG_DRAW = 1, DM_DS_TAG_SHUFFLE = 2, DM_DS_TAG_DECOY = 3 };

/* A channel's selection: this rank's contiguous block of events in memory,
 * plus per-process totals every rank holds alike. */
typedef struct {
  char path[DM_PATH_MAX];
  char what[DM_PATH_MAX + 64]; /* its name in messages */
  dm_store *st;
  int dbl;                  /* double-precision store */
  int n_proc;
  int *kind;                /* per process: 0 sm, 1 bsm (process table) */
  int64_t n, begin;         /* events in the selection; this rank's first */
  dm_events ev;             /* this rank's block (decoys may be appended after it) */
  int64_t n_block;          /* events of the block (ev.n_events may grow beyond) */
  double *w;                /* weights of the block */
  int64_t *pk;              /* per block event: its index among its process's selected events */
  int64_t *n_sel;           /* per process: selected events */
  double *sumw;             /* per process: exact sum of weights, rounded once */
  char parent_checksum[33];
  char weight_source[64];   /* "derived/weight" or "events/weight" */
  double weight_lumi;       /* fb^-1 the weights are for */
} dm_ds_sel;

/* COLLECTIVE. Open the selection, read this rank's block and its weights,
 * count and sum per process, take the kinds from the process table (a
 * process the table lacks is DM_ERR_UNKNOWN naming it). */
dm_status dm_ds_sel_load(const char *path, const char *what, const char *xsec_path,
                         double weight_lumi, MPI_Comm comm, dm_ds_sel *sel);
/* COLLECTIVE. Close and free; accepts a zeroed struct. */
void dm_ds_sel_free(dm_ds_sel *sel);

/* LOCAL. Expected events per fb^-1 of process p. */
static inline double dm_ds_rate(const dm_ds_sel *sel, int p)
{
  return sel->sumw[p] / sel->weight_lumi;
}

/* LOCAL. The rounding rule: floor(mu + 1/2), 0 for mu <= 0 or NaN. */
int64_t dm_ds_round(double mu);

/* LOCAL. The largest luminosity with 3 significant digits at which every
 * process p with use[p] set draws floor(scale[p] rate[p] L + 1/2) <=
 * avail[p] events; *limiting is the process whose bound is smallest (-1 if
 * no process constrains: DM_ERR_ARG). */
dm_status dm_ds_lumi_max(const double *rate, const double *scale, const int64_t *avail,
                         const int *use, int n, double *lumi, int *limiting);

/* LOCAL. %g text of a luminosity (file names, manifest). */
void dm_ds_lumi_text(double lumi, char out[32]);

/* LOCAL. 64-bit FNV-1a of a string: stream ids from names, not indices. */
uint64_t dm_ds_name_hash(const char *s);

/* The draw plan of a channel, identical on every rank. Items are the drawn
 * events in process order (c = 0..n_real-1), then decoys (n_real + j). */
typedef struct {
  int n_proc;
  int64_t *avail_off;  /* n_proc + 1: offsets of each process's available events */
  int64_t *item_of;    /* [avail_off[p] + ak]: item drawn from available event ak of p, or -1 */
  uint16_t *item_proc; /* per real item: its process */
  int64_t n_real, n_decoy, n_total;
  int64_t *decoy_src;  /* per decoy: its source item (< n_real) */
  int64_t *dest;       /* per item: output position */
} dm_ds_plan;

/* LOCAL. Draw want[p] of avail[p] events per process (partial Fisher-Yates,
 * stream (seed, chan ^ TAG_DRAW, name hash)), shuffle all n_real + n_decoy
 * items (Fisher-Yates from the end, stream (seed, chan ^ TAG_SHUFFLE, 0));
 * decoy j's source is uniform below n_real from stream (seed, chan ^
 * TAG_DECOY, j), whose later numbers the decoy's owner uses to transform
 * it. want[p] <= avail[p] must hold. */
dm_status dm_ds_plan_make(uint64_t seed, const char *channel, int n_proc,
                          const char *const *names, const int64_t *avail, const int64_t *want,
                          int64_t n_decoy, dm_ds_plan *pl);
void dm_ds_plan_free(dm_ds_plan *pl);

/* An event a rank contributes to an ordered output: its index in the
 * selection's ev, its global output position, the weight to print. */
typedef struct {
  int64_t src, pos;
  double weight;
} dm_ds_item;

/* A rank's items, sorted by position before writing. */
typedef struct {
  int64_t n, cap;
  dm_ds_item *v;
} dm_ds_items;

dm_status dm_ds_items_push(dm_ds_items *it, int64_t src, int64_t pos, double weight);
void dm_ds_items_sort(dm_ds_items *it);
void dm_ds_items_free(dm_ds_items *it);

/* How parts are written. */
typedef struct {
  int renumber;            /* event ID = position + 1 */
  const char *blind_name;  /* non-NULL: every process field this name (index 0) */
  int64_t batch;           /* positions per rank per round */
} dm_ds_fmt;

/* COLLECTIVE. Write the items with positions in [lo, hi) (every position
 * there held by exactly one rank's item) in position order: CSV text to csv
 * (may be NULL) and events to stw (may be NULL). proc_counts[n_proc] (may be
 * NULL) receives, summed over ranks, the events written per process. Items
 * must be sorted by pos. Agreed status. */
dm_status dm_ds_write_range(const dm_ds_sel *sel, const dm_ds_items *it, int64_t lo, int64_t hi,
                            dm_text_out *csv, dm_store_writer *stw, const dm_ds_fmt *fmt,
                            int64_t *proc_counts, MPI_Comm comm);

/* The manifest (manifest.json). */
#define DM_DS_MANIFEST_FORMAT "dmpipe-dataset-manifest"
#define DM_DS_MANIFEST_VERSION 1

/* LOCAL. want[p] = floor(scale[p] rate[p] lumi + 1/2) for use[p], else 0;
 * DM_ERR_ARG naming the first process whose want exceeds avail[p] (with
 * the expected count and the largest luminosity it allows). */
dm_status dm_ds_check_counts(const dm_ds_sel *sel, const char *chan, const double *rate,
                             const double *scale, const int64_t *avail, const int *use,
                             double lumi, int64_t *want);

/* COLLECTIVE. DIR/BASE.csv with the items at positions [0, N) (N: items
 * over all ranks), and the stores DIR/BASE_train.h5 ([0, n_train)) and
 * DIR/BASE_test.h5 ([n_train, N)); events per process of each part. */
dm_status dm_ds_write_background(const dm_ds_sel *sel, const dm_ds_items *it, const char *dir,
                                 const char *base, int64_t n_train, const dm_ds_fmt *fmt,
                                 const char *command_line, int64_t *c_train, int64_t *c_test,
                                 MPI_Comm comm);

/* COLLECTIVE. DIR/BASE.csv and DIR/BASE.h5 with the items at [lo, hi). */
dm_status dm_ds_write_part(const dm_ds_sel *sel, const dm_ds_items *it, const char *dir,
                           const char *base, int64_t lo, int64_t hi, const dm_ds_fmt *fmt,
                           const char *command_line, int64_t *counts, MPI_Comm comm);

/* COLLECTIVE. Checksum DIR/FILE on rank 0 and append its manifest entry to
 * the array `files` (every rank builds the same JSON). */
struct cJSON;
dm_status dm_ds_manifest_file(struct cJSON *files, const char *dir, const char *file,
                              const char *role, const char *chan, double lumi,
                              const dm_ds_sel *sel, const int64_t *counts, MPI_Comm comm);

/* COLLECTIVE. Rank 0's XXH3-128 and size of a file, on every rank. */
dm_status dm_ds_checksum(const char *path, char hex[33], int64_t *size, MPI_Comm comm);

/* The store layout of every part: fixed, so it never depends on content. */
dm_store_layout dm_ds_layout(const dm_ds_sel *sel);

/* LOCAL. The process names of the selection (pointer array, owned by sel's
 * store). */
const char *const *dm_ds_names(const dm_ds_sel *sel, const char **buf);

#endif
