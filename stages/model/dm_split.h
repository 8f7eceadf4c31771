/* dm_split.h - which events of a store a model was trained on: the split
 * rule, its parameters and the identity of the store, as the model file
 * records them, and the marker that applies the rule again when that same
 * store is scored (dmpipe score writes the result as /scores/train, and
 * dmpipe metrics leaves those events out).
 *
 * The rule (the train stage's, dm_train.h): background = the processes
 * listed here; per class the first pool[class] background events in store
 * order are training events. The classes are the background processes
 * (rule "per-process", pool = floor(fraction x N_process)) or all background
 * together (rule "global", pool = floor(fraction x N_background)). A
 * "training event" is an event of this pool: the transform (standardisation,
 * PCA) was fitted on every one of them and the backend on all of them or on
 * a subsample (--max-train); none of the others took part in any fit.
 *
 * Identity: the store is the same when its XXH3-128 file checksum equals
 * store_checksum (a store is never modified after it is written). A store
 * related by selection (a selection of the training store, or the parent of
 * a training selection: a store's "parent_checksum" attribute) holds some of
 * the training events but not their positions: score gives no verdict there.
 * Any other store shares no training events.
 *
 * In the model file, group /training (absent in files of older dmpipe):
 *   attributes  rule str ("per-process"|"global"), fraction f64,
 *               store_path str (as given to train), store_checksum str (hex),
 *               store_checksum_algo str (DM_SPLIT_CHECKSUM_ALGO when written),
 *               store_parent_checksum str (the training store's own
 *               "parent_checksum" when it is a selection, else ""),
 *               store_events i64, n_pool i64, weighted i64 (1: fitted with
 *               event weights), weight_source str ("" when unweighted)
 *   datasets    background [n_bg] str (the background processes),
 *               pool [n_bg] i64 (training events of each of them)
 *
 * Calls are LOCAL unless marked COLLECTIVE.
 */
#ifndef DM_SPLIT_H
#define DM_SPLIT_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_h5.h"
#include "dm_prov.h"
#include "dm_status.h"

#define DM_SPLIT_GROUP "training"
/* The algorithm of the store checksum that train records and score
 * computes (dm_checksum_file_tree, io/dm_prov.h); a record made with another
 * algorithm cannot be compared, and score then says so. */
#define DM_SPLIT_CHECKSUM_ALGO DM_TREE_ALGO

typedef struct {
  int global;                  /* 0: per-process rule, 1: global rule */
  double fraction;             /* train fraction in (0, 1] */
  char store_path[DM_PATH_MAX];
  char store_checksum[33];     /* XXH3-128 hex of the training store */
  char checksum_algo[32];      /* its algorithm ("" in a record without one) */
  char parent_checksum[33];    /* the training store's parent (a selection's), or "" */
  int64_t store_events;
  int64_t n_pool;              /* training events in all */
  int weighted;                /* the fit used event weights */
  char weight_source[64];      /* which column ("" when unweighted) */
  int n_bg;
  char **bg_names;             /* n_bg names (one malloc'ed block) */
  int64_t *bg_pool;            /* n_bg: training events per background process */
} dm_split;

/* LOCAL. Free what a split owns and the struct itself; accepts NULL. */
void dm_split_free(dm_split *sp);

/* LOCAL. A deep copy of names into sp->bg_names (n names). */
dm_status dm_split_set_names(dm_split *sp, const char *const *names, int n);

/* COLLECTIVE. Write the /training group into an open file (same split on
 * every rank). */
dm_status dm_split_save(const dm_split *sp, hid_t file, MPI_Comm comm);

/* COLLECTIVE. Read the /training group; *out = NULL (and DM_OK) when the
 * file has none. Bad contents are DM_ERR_SCHEMA naming path. Agreed. */
dm_status dm_split_load(hid_t file, const char *path, MPI_Comm comm, dm_split **out);

/* LOCAL. One line describing the split (for info and reports). */
void dm_split_describe(const dm_split *sp, char *buf, size_t cap);

/* ---- marking the training events of a store ------------------------------- */

typedef struct dm_split_marker dm_split_marker;

/* LOCAL. A marker for a store with these processes (its /processes table,
 * identical on every rank). A background process of the split that the
 * store lacks is DM_ERR_SCHEMA. */
dm_status dm_split_marker_new(const dm_split *sp, const char *const *store_proc, int n_proc,
                              dm_split_marker **m);

/* COLLECTIVE. Mark this rank's n events (train[i] = 1 for a training
 * event). Successive calls walk the store in order: in each call, rank r's
 * events follow those of ranks < r, and all of them follow every event of
 * earlier calls. n may be 0. */
dm_status dm_split_mark(dm_split_marker *m, const uint16_t *proc, int64_t n, uint8_t *train,
                        MPI_Comm comm);

/* LOCAL. Release a marker without the check (after a failure); accepts NULL. */
void dm_split_marker_free(dm_split_marker *m);

/* COLLECTIVE. After the whole store: check that the marked events per
 * background process equal the recorded pool (DM_ERR_SCHEMA otherwise:
 * the store is not the one the model trained on). *n_marked receives the
 * total. Frees m (accepts NULL on every rank: then *n_marked = 0). Agreed. */
dm_status dm_split_marker_finish(dm_split_marker *m, const char *store_path, MPI_Comm comm,
                                 int64_t *n_marked);

#endif
