/* dm_derived.h - per-event columns added to a store after ingest (weights,
 * H_T, object counts, ...), kept in a sidecar file next to the store:
 *
 *     STORE.h5  ->  STORE.derived.h5   (group /derived, one 1-D column each)
 *
 * Why a sidecar: HDF5 cannot add datasets to a file atomically, and a crash
 * while a store is open for writing can corrupt it. So the store is never
 * modified after ingest; every update writes a complete new sidecar as
 * a temporary of the run (dm_atomic.h; copying the columns it does not replace) and renames
 * it over the old one. The rename is the commit: a crash leaves the previous
 * sidecar (or none) in place.
 *
 * A sidecar records the identity of its store (the "store_key" attribute:
 * the store's "derived_key" root attribute if it has one, else its creation
 * time and event count). A sidecar whose key does not match its store (left
 * over from an earlier store of the same name) is ignored as if absent.
 *
 * Stores may also carry an HDF5 external link /derived -> (STORE.derived.h5,
 * "/derived") so h5py and h5dump see /derived/<name> in the store itself.
 * dmpipe's own code should not rely on that link: opening it from an MPI-IO
 * handle opens the sidecar collectively (a LOCAL call must not do that), and
 * the link names the sidecar of the store's name when it was written, so a
 * renamed store's link points at the old name while this API finds
 * NEWNAME.derived.h5 by name.
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

/* LOCAL. "dir/x.h5" -> "dir/x.derived.h5" (a name without ".h5" gets
 * ".derived.h5" appended). cap >= DM_PATH_MAX is always enough. */
dm_status dm_derived_sidecar_path(const char *store_path, char *out, size_t cap);

/* COLLECTIVE (metadata reads on an MPI-IO file). The identity string of an
 * open store that a sidecar must carry. */
dm_status dm_derived_store_key(hid_t store_file, char *out, size_t cap);

/* COLLECTIVE. Create the external link /derived in a store being written
 * (file open for writing, final path store_final_path). The link target is
 * the sidecar's base name, so it resolves next to the store wherever the pair
 * is moved. Dangling until a sidecar exists, which HDF5 and h5py accept. */
dm_status dm_derived_link(hid_t store_file, const char *store_final_path);

/* ---- reading ---------------------------------------------------------------- */

typedef struct dm_derived dm_derived;

/* COLLECTIVE. Open the sidecar of the store at store_path, whose open handle
 * is store_file and which holds n_events events. No sidecar, or a stale one,
 * gives a handle with no columns (not an error). A sidecar with the right key
 * but a column of the wrong length is DM_ERR_SCHEMA naming it. */
dm_status dm_derived_open(const char *store_path, hid_t store_file, int64_t n_events,
                          MPI_Comm comm, dm_derived **d);

/* COLLECTIVE. Accepts NULL. */
dm_status dm_derived_close(dm_derived *d);

/* LOCAL. Columns present (valid sidecar only), by index in file order. */
int dm_derived_count(const dm_derived *d);
const char *dm_derived_name(const dm_derived *d, int i);
/* LOCAL. 1 if column `name` exists. */
int dm_derived_has(const dm_derived *d, const char *name);
/* LOCAL. The sidecar's HDF5 handle (H5I_INVALID_HID when none), to read a
 * column's attributes. */
hid_t dm_derived_file(const dm_derived *d);

/* COLLECTIVE (count may be 0). Read column `name`[begin, begin+count) as
 * double. A missing column is DM_ERR_UNKNOWN naming it and the sidecar. */
dm_status dm_derived_read(dm_derived *d, const char *name, int64_t begin, int64_t count,
                          double *out);

/* COLLECTIVE. Read with the column's own native type into buf (which must
 * hold count elements of dm_derived_native_size bytes). For copying columns
 * unchanged. */
dm_status dm_derived_read_raw(dm_derived *d, int i, int64_t begin, int64_t count, void *buf);
/* LOCAL. Native memory type of column i (owned by the handle; do not close). */
hid_t dm_derived_native_type(const dm_derived *d, int i);

/* ---- writing ---------------------------------------------------------------- */

typedef struct dm_derived_writer dm_derived_writer;

/* COLLECTIVE. Start a new sidecar for the store at store_path (identity
 * store_key, n_events events; -1 when not known yet, as while a selection is
 * written: then finish takes the length of the first column). The new sidecar is written to
 * a temporary of the run. If `keep` is not NULL, its columns that this writer does not
 * add itself are copied unchanged (with their attributes) by finish. */
dm_status dm_derived_writer_create(const char *store_path, const char *store_key, int64_t n_events,
                                   dm_derived *keep, MPI_Comm comm, dm_derived_writer **w);

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

/* COLLECTIVE. Copy the kept columns, check every column holds n_events
 * values, agree on `local`, close, and rename the temporary over the sidecar
 * (or remove the temporary file on failure). Frees w; returns the agreed
 * status. The `keep` reader stays open and must still be closed by the
 * caller (after this call). */
dm_status dm_derived_writer_finish(dm_derived_writer *w, dm_status local);

#endif
