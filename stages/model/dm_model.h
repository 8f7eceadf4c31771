/* dm_model.h - anomaly-model backends behind one interface, and the model as
 * the train and score stages see it: a feature transform (dm_features.h)
 * followed by a backend that maps transformed rows to scores.
 *
 * A backend is a table of function pointers (dm_model_backend) registered by
 * name in a static registry (dm_model.c): "kde" (dm_kde.c), "svdd" (the Deep
 * SVDD backend, any stages/model/dm_svdd*.c file that defines
 *     const dm_model_backend dm_model_backend_svdd = { .name = "svdd", ... };
 * is picked up at configure time), and "null" (scores every row 0: for tests
 * of the plumbing). Adding a backend means adding one table and one registry
 * line; train and score need no change.
 *
 * Conventions shared by every backend:
 *  - Rows are float, row-major, `dim` columns, already transformed.
 *  - A score is larger for more anomalous rows (KDE: -log p(x)).
 *  - Backend state is opaque (void *) and owned by the backend: created by
 *    fit or load, released by free (which accepts NULL).
 *  - Backend options are a backend-specific struct passed as const void *
 *    (NULL = the backend's defaults): the command that knows the backend
 *    fills it (cmd_train.c for kde, cmd_train_svdd.c for svdd).
 *  - Fit/score results must not depend on the number of ranks: random
 *    streams come from dm_rng_init(seed, work item...), never from the rank.
 */
#ifndef DM_MODEL_H
#define DM_MODEL_H

#include <cjson/cJSON.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "dm_features.h"
#include "dm_split.h"
#include "dm_status.h"

/* A training set read on demand instead of held in memory (the train stage's
 * bounded pool, dm_train.h): its rows live in a source of n_units ordered
 * units (the store's events), each unit holding at most one training row;
 * the training set is the rows of all units in unit order. */
typedef struct dm_model_stream {
  void *ctx;
  int64_t n_units;
  int64_t budget;    /* bytes per rank the training rows may take: the source
                        keeps its own read buffers within budget / 4, the
                        backend holds the rows it reads in the other 3/4 */
  int64_t budget_mb; /* the same as the user gave it (for the record) */
  int weighted;      /* read can deliver event weights */
  /* COLLECTIVE (every rank calls, each with its own range; count may be 0).
   * The training rows among units [begin, begin + count), in unit order,
   * into x (room for count rows of dim columns, transformed), their event
   * weights into w when w is not NULL (finite and > 0, else an error naming
   * the event), their number into *n. The same status on every rank. */
  dm_status (*read)(void *ctx, int64_t begin, int64_t count, float *x, double *w, int64_t *n,
                    MPI_Comm comm);
} dm_model_stream;

/* What a backend's fit is given. The training rows of all ranks, taken in
 * rank order, are the training set in store order. */
typedef struct {
  const float *x;            /* n_local x dim, transformed */
  int64_t n_local;           /* rows on this rank (may be 0) */
  int64_t n_total;           /* rows over all ranks */
  int dim;
  const int64_t *row_id;     /* n_local: global store index of each row, for
                                seeding per-row random streams */
  uint64_t seed;             /* the run's seed */
  const double *weight;      /* n_local event weights (finite, > 0), or NULL:
                                unit weights. A backend that cannot use
                                weights fails with DM_ERR_ARG. */
  const dm_model_stream *stream; /* NULL: the rows are x. Otherwise x is NULL,
                                n_local 0, row_id and weight NULL, and the
                                n_total rows come from the stream (only for a
                                backend with .streams set) */
} dm_model_data;

typedef struct dm_model_backend {
  const char *name;    /* registry key: "kde", "svdd", "null" */
  const char *summary; /* one line for --help and info */
  int version;         /* schema version of the backend's own group */

  /* COLLECTIVE. Fit on the training rows. opts: the backend's options
   * struct or NULL. info (may be NULL; identical on every rank): the
   * backend adds what a report should show (chosen bandwidth, final loss,
   * ...) as cJSON members. On success *state is a fitted model that can
   * score, save and describe on every rank. */
  dm_status (*fit)(const dm_model_data *train, const void *opts, MPI_Comm comm, void **state,
                   cJSON *info);

  /* COLLECTIVE. Scores of n rows (n may differ per rank and be 0). Every
   * rank of comm calls score the same number of times with the same comm,
   * so a backend may keep its parameters sharded over ranks and combine
   * partial results; a backend that needs no communication ignores comm.
   * Threads (OpenMP) are the backend's business. */
  dm_status (*score)(void *state, const float *x, int64_t n, int dim, double *score,
                     MPI_Comm comm);

  /* COLLECTIVE. Write the state into the (existing, empty) group `group` of
   * a file written by every rank of comm: attributes with dm_h5_attr_set_*,
   * arrays with dm_h5_array_write (identical data on every rank). */
  dm_status (*save)(const void *state, hid_t group, MPI_Comm comm);

  /* COLLECTIVE. Read the state back from `group` (file open on every rank
   * of comm). version: the group's backend version attribute (<= version
   * above, checked by the caller). Validates what it reads; a bad value is
   * DM_ERR_SCHEMA naming the dataset or attribute. */
  dm_status (*load)(hid_t group, int version, MPI_Comm comm, void **state);

  /* COLLECTIVE, optional (NULL: load is used). load, told the scoring-time
   * settings (n_set "KEY=VALUE" strings, as given to dmpipe score --set)
   * before it reads, so that a backend that shards its parameters reads
   * only this rank's share (KDE mode=sharded). The settings are applied
   * through set afterwards all the same: load_set only looks at them and
   * leaves unknown keys and bad values to set. */
  dm_status (*load_set)(hid_t group, int version, int n_set, const char *const *set,
                        MPI_Comm comm, void **state);

  /* LOCAL, optional (NULL: the backend has no settings). A scoring-time
   * setting given as key=value (dmpipe score --set KEY=VALUE), for example
   * the KDE's "mode=sharded". Unknown key or bad value: DM_ERR_ARG naming
   * it. Called with the same arguments on every rank. */
  dm_status (*set)(void *state, const char *key, const char *value);

  /* LOCAL. Human-readable description (parameters, sizes) for dmpipe info. */
  void (*describe)(const void *state, FILE *out);

  /* LOCAL. Free; accepts NULL. */
  void (*free)(void *state);

  /* 1: fit accepts a streamed training set (dm_model_data.stream). */
  int streams;
} dm_model_backend;

/* LOCAL. The backend registered under name, or NULL. */
const dm_model_backend *dm_model_backend_find(const char *name);
/* LOCAL. Registered backends, for listing: i in [0, count). */
int dm_model_backend_count(void);
const dm_model_backend *dm_model_backend_at(int i);

/* ---- a model: transform + backend ------------------------------------------ */

typedef struct {
  const dm_model_backend *backend;
  void *state;            /* the backend's */
  dm_transform transform; /* raw features -> backend rows */
  int backend_version;    /* version of the backend group as read or written */
  /* Training provenance (written by the train stage, shown by info). */
  int64_t n_train;        /* rows the backend was fitted on */
  int64_t n_train_pool;   /* training-part rows the transform was fitted on */
  uint64_t seed;
  dm_split *split;        /* which store events trained (owned; NULL when the file
                             predates the record) */
} dm_model;

/* COLLECTIVE. Write the model file at path (path.tmp renamed when every rank
 * succeeded; see dm_model_file.h for the schema). training: free text of
 * how the training rows were chosen ("" allowed). inputs: provenance lines
 * (see dm_prov.h). */
dm_status dm_model_save(const dm_model *m, const char *path, const char *training,
                        const char *command_line, const char *inputs, MPI_Comm comm);

/* COLLECTIVE. Read a model file; checks format, schema version and backend
 * name and version. On failure m is left empty. */
dm_status dm_model_load(dm_model *m, const char *path, MPI_Comm comm);

/* COLLECTIVE, agreed. The same, then the backend settings (n_set
 * "KEY=VALUE" strings, dmpipe score --set) applied in order through the
 * backend's set; the backend sees them before it reads (load_set), so it
 * can read only what they ask for. A malformed setting, or a backend
 * without settings, is DM_ERR_ARG naming it. */
dm_status dm_model_load_set(dm_model *m, const char *path, int n_set, const char *const *set,
                            MPI_Comm comm);

/* COLLECTIVE. Transform n raw rows and score them: the one call the score
 * stage makes per block (same call count on every rank, n may be 0).
 * work: caller's buffer of n * m->transform.dim floats. */
dm_status dm_model_score_raw(dm_model *m, const float *raw, int64_t n, float *work,
                             double *score, MPI_Comm comm);

/* LOCAL. Describe: backend, transform, training provenance. */
void dm_model_describe(const dm_model *m, FILE *out);

/* LOCAL. Free state and transform; accepts a zeroed model. */
void dm_model_free(dm_model *m);

/* COLLECTIVE. Open a model file read-only and print its description on
 * rank 0 (for dmpipe info). */
dm_status dm_model_info(const char *path, FILE *out, MPI_Comm comm);

#endif
