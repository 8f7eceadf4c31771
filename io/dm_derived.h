/* dm_derived.h - per-event columns added to a store after it was written
 * (weights, H_T, object counts, ...), reachable from the store itself.
 *
 * On disk, for a store STEM.h5 with identity ID (32 hex digits, the store's
 * "store_id" root attribute, random at creation) and I = the first 16 digits:
 *
 *   STEM.h5                 /derived = external link -> (STEM.derived-I.h5, /derived)
 *   STEM.derived-I.h5       the INDEX: /derived/<name> = external link ->
 *                           (STEM.derived-I.<g>.h5, /derived/<name>)
 *   STEM.derived-I.<g>.h5   PARTS: the columns one update wrote (generation g)
 *
 * so h5py and h5dump read f["derived/ht"] straight from the store. Why this
 * shape:
 *  - the store is never modified after it is written (HDF5 cannot add a
 *    dataset atomically, and a crash while a file is open for writing can
 *    corrupt it), so its link is made once, when the store is created, and
 *    names a file that every later update replaces atomically: the index;
 *  - an update writes only its own columns, into a new part (written as .tmp
 *    and renamed), then a new index (tmp + rename: the commit) linking the
 *    columns it keeps to their old parts, then removes the parts nothing links
 *    to any more. Adding or replacing a column never copies the others (at
 *    1e9 events a full rewrite would be ~80 GB); a crash at any point leaves
 *    the previous index and every part it names intact;
 *  - HDF5 looks for an external link's file beside the linking file first and
 *    then in the current directory: names carrying the store's identity can
 *    only ever match the right files (or byte copies of them), wherever the
 *    folder is moved or copied and whatever the working directory;
 *  - dmpipe itself never follows the links through HDF5: it reads the link
 *    values, looks for the files beside the store only, and refuses an index
 *    or part whose store_id differs from the store's (another run's file
 *    swapped in) or that is missing (a store copied without its side files).
 *
 * One update at a time per store: two weight/derive runs on the same store
 * at the same time are not guarded against (both write the next generation,
 * and the last to commit wins); run them one after the other.
 *
 * Every store and selection gets its (empty) index when it is written; the
 * store and its side files travel together (copy STEM.h5 and STEM.derived-*).
 * Stores without a store_id (written before identities existed) read as
 * having no derived columns, and adding columns to them is refused (ingest
 * again).
 *
 * Columns are float64 or integer; readers convert to double. Calls are
 * COLLECTIVE over the communicator given at open/create unless marked LOCAL.
 */
#ifndef DM_DERIVED_H
#define DM_DERIVED_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

#define DM_DERIVED_MAX_COLUMNS 64
#define DM_DERIVED_NAME_MAX 64
/* A store identity: 32 hex digits and the terminating NUL. */
#define DM_STORE_ID_LEN 33

/* LOCAL. A fresh store identity (random: 128 bits from the system's
 * generator, mixed with the path, time and process). Call on one rank and
 * broadcast. */
dm_status dm_derived_new_id(const char *store_path, char id[DM_STORE_ID_LEN]);

/* LOCAL. The index file of a store written at store_path with identity id:
 * "dir/STEM.derived-I.h5" (STEM = the base name without ".h5"). */
dm_status dm_derived_index_path(const char *store_path, const char *id, char *out, size_t cap);

/* COLLECTIVE (metadata read). The store's identity (its store_id root
 * attribute); DM_ERR_SCHEMA naming store_path when it has none. */
dm_status dm_derived_store_key(hid_t store_file, const char *store_path, char *out, size_t cap);

/* COLLECTIVE. In a store being written (to be renamed to store_path): the
 * store_id attribute and the external link /derived to its index. */
dm_status dm_derived_link(hid_t store_file, const char *store_path, const char *id);

/* COLLECTIVE. Write the empty index of a new store (atomically). */
dm_status dm_derived_index_create(const char *store_path, const char *id, int64_t n_events,
                                  MPI_Comm comm);

/* LOCAL (one rank). Remove the index and first part of a new store whose
 * writing failed after they were committed. */
void dm_derived_remove_new(const char *store_path, const char *id);

/* LOCAL (one rank). The side files (index and column files) of the store now
 * at store_path, as a malloc'd list of paths separated and ended by '\n'
 * (NULL when there is no such store or it has none). For a writer that is
 * about to replace that store: once the new one is in place, the old
 * store's files name nothing (dm_derived_remove_listed). Only files beside the
 * store whose names carry its identity are listed. */
char *dm_derived_side_files(const char *store_path);
/* LOCAL. Remove the files of such a list; accepts NULL. */
void dm_derived_remove_listed(const char *list);

/* ---- reading ---------------------------------------------------------------- */

typedef struct dm_derived dm_derived;

/* COLLECTIVE. The derived columns of the store at store_path, whose open
 * handle is store_file and which holds n_events events. Errors (agreed):
 * DM_ERR_IO when the index or a part is missing beside the store,
 * DM_ERR_SCHEMA when one belongs to another store or a column has the wrong
 * length, each naming the files. */
dm_status dm_derived_open(const char *store_path, hid_t store_file, int64_t n_events,
                          MPI_Comm comm, dm_derived **d);

/* COLLECTIVE. Accepts NULL. */
dm_status dm_derived_close(dm_derived *d);

/* LOCAL. Columns present, by index in the index file's order. */
int dm_derived_count(const dm_derived *d);
const char *dm_derived_name(const dm_derived *d, int i);
/* LOCAL. 1 if column `name` exists. */
int dm_derived_has(const dm_derived *d, const char *name);
/* LOCAL. The open dataset of column i (to read its attributes). */
hid_t dm_derived_dataset(const dm_derived *d, int i);
/* LOCAL. The index file's path ("" for a store without identity). */
const char *dm_derived_index(const dm_derived *d);

/* COLLECTIVE (count may be 0). Read column `name`[begin, begin+count) as
 * double. A missing column is DM_ERR_UNKNOWN naming it and the index. */
dm_status dm_derived_read(dm_derived *d, const char *name, int64_t begin, int64_t count,
                          double *out);

/* COLLECTIVE. Read with the column's own native type into buf (which must
 * hold count elements of H5Tget_size(dm_derived_native_type) bytes). For
 * copying columns unchanged. */
dm_status dm_derived_read_raw(dm_derived *d, int i, int64_t begin, int64_t count, void *buf);
/* LOCAL. Native memory type of column i (owned by the handle; do not close). */
hid_t dm_derived_native_type(const dm_derived *d, int i);

/* ---- writing ---------------------------------------------------------------- */

typedef struct dm_derived_writer dm_derived_writer;

/* COLLECTIVE. Start an update of the derived columns of the store at
 * store_path, identity store_key, n_events events (-1 when not known yet, as
 * while a selection is written: then finish takes the length of the first
 * column). `current` is the store's open reader (its columns stay, except
 * those this writer adds again), or NULL for a store being written, whose
 * index this update creates. */
dm_status dm_derived_writer_create(const char *store_path, const char *store_key, int64_t n_events,
                                   dm_derived *current, MPI_Comm comm, dm_derived_writer **w);

/* COLLECTIVE. Add column `name` with file type `type` (a native numeric
 * type); *col receives its index for append/attr calls. Adding the same name
 * twice is DM_ERR_ARG. */
dm_status dm_derived_writer_add(dm_derived_writer *w, const char *name, hid_t type, int *col);

/* COLLECTIVE. Add a column with the type and attributes of column i of the
 * reader d (to carry a column over to a subset of events). */
dm_status dm_derived_writer_add_like(dm_derived_writer *w, dm_derived *d, int i, int *col);

/* COLLECTIVE. Append each rank's n values after those written so far, in
 * rank order (see dm_h5_col_append). mem_type must equal the column's type. */
dm_status dm_derived_writer_append(dm_derived_writer *w, int col, hid_t mem_type, const void *buf,
                                   int64_t n);

/* COLLECTIVE (same values on every rank). Attributes of a column. */
dm_status dm_derived_writer_attr_str(dm_derived_writer *w, int col, const char *key,
                                     const char *value);
dm_status dm_derived_writer_attr_f64(dm_derived_writer *w, int col, const char *key, double value);

/* COLLECTIVE. Agree on `local`, check every new column holds n_events values,
 * commit the part, then the new index (the commit point), then remove the
 * parts no longer linked. On failure nothing changes on disk. Frees w;
 * returns the agreed status. `current` stays open and must still be closed
 * by the caller (after this call). */
dm_status dm_derived_writer_finish(dm_derived_writer *w, dm_status local);

#endif
