/* dm_scores_file.h - the score file (format "dmpipe-scores"): one anomaly
 * score per event of a scored store, in the store's event order.
 *
 * Schema, version DM_SCORES_VERSION:
 *   /scores/event_id    int64     event ID as in the store
 *   /scores/process     uint16    index into /processes (the store's)
 *   /scores/score       float64   larger = more anomalous
 *   /scores/train       uint8     optional: 1 = the event was one of the
 *                                 model's training events (dm_split.h in
 *                                 stages/model); all 0 when the scored store
 *                                 is not the one the model trained on; absent
 *                                 when that is unknown (a model file without
 *                                 its training record, or an older writer)
 *   /processes/name     fixed-length strings   (copied from the store)
 *   /processes/n_events int64                  (copied from the store)
 * The three /scores columns are chunked and zstd-compressed (dm_h5_col_*)
 * and always have equal length.
 * Root attributes: provenance (dm_prov.h, format DM_FORMAT_SCORES), plus
 *   model_kind      string  backend name ("kde", "svdd", ...)
 *   model_path      string  the model file as given on the command line
 *   model_checksum  string  XXH3-128 hex of the model file ("" if unknown)
 *   store_path      string  the scored store (or selection) as given
 *   store_checksum  string  XXH3-128 hex of that store ("" if unknown)
 *   channel         string  channel name if known ("" otherwise)
 *   n_scores        int64   length of the /scores columns
 *   train_marking   string  how /scores/train was filled ("same store as the
 *                           model's training store", or why all are 0), or
 *                           why the file has no such column
 *   n_train         int64   with /scores/train: events marked 1
 *
 * Calls marked COLLECTIVE must be made by every rank of the communicator the
 * file was created or opened with, in the same order (count 0 where a rank
 * has nothing). LOCAL calls do no communication.
 */
#ifndef DM_SCORES_FILE_H
#define DM_SCORES_FILE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_h5.h"
#include "dm_status.h"

#define DM_SCORES_VERSION 1

/* Identity of the model and store behind a score file. Strings must be
 * identical on every rank when writing (they become attributes). */
typedef struct {
  char model_kind[32];
  char model_path[DM_PATH_MAX];
  char model_checksum[33];
  char store_path[DM_PATH_MAX];
  char store_checksum[33];
  char channel[64];
} dm_scores_meta;

/* ---- writing ------------------------------------------------------------- */

typedef struct dm_scores_writer dm_scores_writer;

/* COLLECTIVE. Start a score file at `path` (written to a temporary of the run until
 * finished). layout may be NULL: zstd level 3, 65536 scores per chunk. */
dm_status dm_scores_writer_create(const char *path, const dm_scores_meta *meta,
                                  const dm_h5_layout *layout, MPI_Comm comm,
                                  dm_scores_writer **w);

/* COLLECTIVE. Append each rank's block of n scores after everything written
 * so far, in rank order (rank r's block follows those of ranks < r), so a
 * stage that reads contiguous event ranges in rank order writes the store's
 * order. Any rank may pass n = 0 (pointers may then be NULL). A non-finite
 * score is written as is; readers decide what to do with it. */
dm_status dm_scores_writer_append(dm_scores_writer *w, const int64_t *event_id,
                                  const uint16_t *process, const double *score, int64_t n);

/* COLLECTIVE. Finish: write the process table (identical on every rank; the
 * store's), the meta and provenance attributes, agree on `local`, close, and
 * rename to the final name if every rank succeeded (else remove the
 * temporary file). Frees w. w may be NULL on every rank (after a failed
 * create, which every rank sees alike): then it only agrees on `local`.
 * Returns the agreed status. */
dm_status dm_scores_writer_finish(dm_scores_writer *w, dm_status local,
                                  const char *const *proc_names, const int64_t *proc_events,
                                  int n_proc, const char *command_line, const char *inputs);

/* COLLECTIVE. Give the file a /scores/train column (call once, right after
 * create, before any append). */
dm_status dm_scores_writer_add_train(dm_scores_writer *w);

/* COLLECTIVE. Append the training flags of the rows just appended (same n
 * on each rank as its last dm_scores_writer_append). Finish checks that the
 * column has the length of the others. */
dm_status dm_scores_writer_append_train(dm_scores_writer *w, const uint8_t *train, int64_t n);

/* LOCAL. The open HDF5 file of a writer (extra attributes or groups; such
 * writes are collective as usual). */
hid_t dm_scores_writer_file(const dm_scores_writer *w);

/* ---- reading ------------------------------------------------------------- */

typedef struct dm_scores dm_scores;

/* COLLECTIVE. Open a score file read-only; checks the format and version,
 * that the three columns have equal length, and reads the process table and
 * meta attributes. Errors name the path. Reads are meant front to back: each
 * column caches one chunk (dm_h5_col_open), so a reader holds at most a
 * chunk a column whatever the file's length. */
dm_status dm_scores_open(const char *path, MPI_Comm comm, dm_scores **sc);

/* COLLECTIVE. Close; accepts NULL. */
dm_status dm_scores_close(dm_scores *sc);

/* LOCAL accessors. */
int64_t dm_scores_n_events(const dm_scores *sc);
int dm_scores_n_processes(const dm_scores *sc);
const char *dm_scores_process_name(const dm_scores *sc, int i);
int64_t dm_scores_process_events(const dm_scores *sc, int i);
const dm_scores_meta *dm_scores_get_meta(const dm_scores *sc);
const char *dm_scores_path(const dm_scores *sc);
hid_t dm_scores_file(const dm_scores *sc);

/* LOCAL. 1 if the file has a /scores/train column (same on every rank). */
int dm_scores_has_train(const dm_scores *sc);

/* COLLECTIVE (every rank calls; count may be 0). Rows [begin, begin +
 * count) of /scores/train; a file without the column is DM_ERR_SCHEMA. */
dm_status dm_scores_read_train(dm_scores *sc, int64_t begin, int64_t count, uint8_t *train);

/* COLLECTIVE (every rank calls; count may be 0). Read rows
 * [begin, begin + count) into the given arrays; any of the three may be
 * NULL to skip that column. A process index outside the table is
 * DM_ERR_SCHEMA naming the file and row. */
dm_status dm_scores_read(dm_scores *sc, int64_t begin, int64_t count, int64_t *event_id,
                         uint16_t *process, double *score);

#endif
