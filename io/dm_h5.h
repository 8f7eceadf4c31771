/* dm_h5.h - the HDF5 layer every file format of dmpipe is built on:
 * outputs written under a temporary name and renamed only when every rank
 * succeeded, extendible 1-D columns written collectively, small replicated
 * arrays, attributes.
 *
 * Parallel HDF5 rules this layer encodes (see HDF5's collective-call list):
 *  - file/dataset/group/attribute creation, extension and attribute writes are
 *    COLLECTIVE with identical arguments on every rank;
 *  - writes to compressed datasets must be collective transfers; a rank with
 *    nothing to write still takes part with an empty selection;
 *  - the memory type must equal the file type for collective writes.
 * Every function returns a dm_status; none aborts. "agreed": the status is
 * the same on every rank on return. "not agreed": agree on it (dm_agree,
 * DM_FORWARD_AGREED) before the next collective call. Writes that the file
 * system refuses are reported by the write call that made them, on the rank
 * that made them (dm_mpiio_guard.h).
 */
#ifndef DM_H5_H
#define DM_H5_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_atomic.h"
#include "dm_status.h"

/* ---- files ---------------------------------------------------------------- */

/* An output in progress: HDF5 file open at a temporary name unique to the
 * run (dm_atomic.h: claimed, synced, renamed), renamed to final_path by
 * dm_h5_out_finish when every rank agrees the write succeeded. */
typedef struct {
  hid_t file;
  MPI_Comm comm;
  char final_path[DM_PATH_MAX];
  char tmp_path[DM_PATH_MAX]; /* the same on every rank */
  dm_atomic at;               /* rank 0: the claim and the temporary */
  void *guard;                /* failed MPI-IO writes under HDF5 (dm_mpiio_guard.h) */
} dm_h5_out;

/* COLLECTIVE. Claim final_path and create its temporary (dm_atomic_begin_all)
 * with the MPI-IO driver. On failure no file handle is open, no claim held
 * and nothing left on disk; the status is agreed. */
dm_status dm_h5_out_create(dm_h5_out *out, const char *final_path, MPI_Comm comm);

/* COLLECTIVE. Agree on `local` over the communicator; close the file; if all
 * ranks are ok, rank 0 commits it under its final name (synced, renamed; the
 * result is agreed too), otherwise rank 0 removes the temporary file.
 * Returns the agreed status, so every rank returns the same way. */
dm_status dm_h5_out_finish(dm_h5_out *out, dm_status local);

/* COLLECTIVE. The end of every HDF5 output: close `file` (if valid; its
 * result counts, since a full disk shows up at the final flush, and so do
 * MPI-IO failures recorded under `guard`, which may be NULL), agree on the
 * status, then settle `a` (dm_atomic_settle_all: commit on success, remove
 * the temporary otherwise). `agreed` must already be the same on every rank.
 * Returns the agreed status. dm_h5_out_finish and the chunk writer use it. */
dm_status dm_h5_settle(hid_t file, void *guard, dm_status agreed, dm_atomic *a, MPI_Comm comm);

/* COLLECTIVE, agreed. Open an existing file through MPI-IO, read-only or
 * read-write. A missing or non-HDF5 file is DM_ERR_IO naming the path. */
dm_status dm_h5_open(const char *path, MPI_Comm comm, int readwrite, hid_t *file);

/* COLLECTIVE. Close a file opened by dm_h5_open (accepts H5I_INVALID_HID). */
dm_status dm_h5_close(hid_t file);

/* LOCAL. Open a file with the default (POSIX, non-MPI) driver, for a file that
 * one rank reads or writes alone (small outputs written by rank 0). */
dm_status dm_h5_open_serial(const char *path, int readwrite, hid_t *file);

/* ---- columns: extendible 1-D datasets -------------------------------------- */

typedef struct {
  int zstd_level;  /* 0: no compression; 1..22 zstd (with shuffle first) */
  int64_t chunk;   /* elements per chunk (> 0) */
} dm_h5_layout;

/* COLLECTIVE, not agreed. Create an extendible 1-D dataset of `type` at `path` (parent
 * groups are created), length 0, chunked per `layout`. */
dm_status dm_h5_col_create(hid_t loc, const char *path, hid_t type, const dm_h5_layout *layout,
                           hid_t *dset);

/* COLLECTIVE, agreed. Append each rank's local_n elements in rank order: rank r's
 * elements follow those of ranks < r. The dataset is extended once for all.
 * mem_type must equal the dataset's type. *first (may be NULL) receives this
 * rank's global index of its first element. */
dm_status dm_h5_col_append(hid_t dset, hid_t mem_type, const void *buf, int64_t local_n,
                           MPI_Comm comm, int64_t *first);

/* COLLECTIVE, not agreed. Set the length of a 1-D dataset (same value on every rank). */
dm_status dm_h5_col_resize(hid_t dset, int64_t length);

/* COLLECTIVE, not agreed. Write n elements at global index `offset` (each rank its own
 * disjoint range, n may be 0). The dataset must be long enough. */
dm_status dm_h5_col_write_at(hid_t dset, hid_t mem_type, const void *buf, int64_t offset,
                             int64_t n);

/* COLLECTIVE (every rank calls, n may be 0: HDF5's metadata reads are collective),
 * not agreed. Read elements [begin, begin+n) of the 1-D dataset at `path` under
 * `loc` into buf, converting to mem_type. The raw chunks are read independently
 * and go through the dataset's chunk cache (DMPIPE_H5_CHUNK_CACHE), so a chunk
 * shared by two consecutive reads of an open dataset is read once. */
dm_status dm_h5_col_read(hid_t loc, const char *path, hid_t mem_type, int64_t begin, int64_t n,
                         void *buf);

/* Same, through an open dataset handle. */
dm_status dm_h5_dset_read(hid_t dset, hid_t mem_type, int64_t begin, int64_t n, void *buf);

/* COLLECTIVE for a file opened through MPI-IO (an H5Dopen2), not agreed. Open
 * the 1-D column at `path` for reads in batches: its chunk cache holds
 * exactly one whole chunk (or DMPIPE_H5_CHUNK_CACHE's bytes when set larger),
 * so the chunk two consecutive reads share is read and decompressed once,
 * and a run that reads on holds no more of the column than one that stops
 * early. A negative id if it cannot be opened. */
hid_t dm_h5_col_open(hid_t loc, const char *path);

/* LOCAL (metadata read). Length of the 1-D dataset at path; DM_ERR_SCHEMA if
 * it does not exist. */
dm_status dm_h5_col_length(hid_t loc, const char *path, int64_t *length);

/* LOCAL. 1 if a link `path` exists under loc (intermediate groups checked). */
int dm_h5_exists(hid_t loc, const char *path);

/* ---- small arrays, identical on every rank --------------------------------- */

/* COLLECTIVE, agreed. Write an N-d array (ndims <= 4) that every rank holds identically;
 * only rank 0's data is transferred (buf may be NULL on the other ranks). Contiguous,
 * uncompressed (small data). */
dm_status dm_h5_array_write(hid_t loc, const char *path, hid_t type, int ndims,
                            const int64_t *dims, const void *buf, MPI_Comm comm);

/* Rows [begin, begin + n) of an array being written, into buf (n rows). */
typedef void (*dm_h5_rows_fill)(void *ctx, int64_t begin, int64_t n, void *buf);

/* COLLECTIVE, agreed. The same dataset as dm_h5_array_write of a 2-D array
 * [dims[0], dims[1]] of `type`, whose rows rank 0 produces `block` at a time
 * with fill (called on rank 0 only): for an array that rank 0 holds in
 * another layout (the KDE's column-major reference), so that it is never
 * held whole in the file's layout beside it. */
dm_status dm_h5_array_write_rows(hid_t loc, const char *path, hid_t type, const int64_t *dims,
                                 int64_t block, dm_h5_rows_fill fill, void *ctx, MPI_Comm comm);

/* COLLECTIVE, not agreed. Read a whole array (any shape) as mem_type into a malloc'ed
 * buffer; dims (capacity 4) and *ndims receive the shape, *count the number of
 * elements. Free with free(). */
dm_status dm_h5_array_read(hid_t loc, const char *path, hid_t mem_type, int *ndims,
                           int64_t *dims, int64_t *count, void **buf);

/* LOCAL (metadata read). Shape of the array at path: *ndims (<= 4) and dims
 * (capacity 4); DM_ERR_SCHEMA if it is missing. */
dm_status dm_h5_array_dims(hid_t loc, const char *path, int *ndims, int64_t *dims);

/* COLLECTIVE (every rank calls, n may be 0), not agreed. Rows [begin, begin+n)
 * of the array at path (its first dimension; the others whole) as mem_type
 * into buf (the caller's, n times the row size). Rows past the end are
 * DM_ERR_SCHEMA naming the dataset. For arrays too large to hold whole on
 * every rank (each rank reads its share). */
dm_status dm_h5_array_read_rows(hid_t loc, const char *path, hid_t mem_type, int64_t begin,
                                int64_t n, void *buf);

/* COLLECTIVE, agreed. Fixed-width string table (names); width includes no NUL. */
dm_status dm_h5_strings_write(hid_t loc, const char *path, const char *const *strs, int64_t n,
                              MPI_Comm comm);
/* COLLECTIVE, not agreed. Read a string table; *strs is one malloc'ed block (array of
 * pointers followed by the text): free(*strs) frees all. */
dm_status dm_h5_strings_read(hid_t loc, const char *path, char ***strs, int64_t *n);

/* ---- attributes (COLLECTIVE on a file open for writing: same value on every
 * rank, not agreed; LOCAL to read) ------------------------------------------------------- */
dm_status dm_h5_attr_set_str(hid_t obj, const char *name, const char *value);
dm_status dm_h5_attr_set_i64(hid_t obj, const char *name, int64_t value);
dm_status dm_h5_attr_set_f64(hid_t obj, const char *name, double value);
dm_status dm_h5_attr_set_f64_array(hid_t obj, const char *name, const double *v, int n);
dm_status dm_h5_attr_get_str(hid_t obj, const char *name, char *buf, size_t cap);
dm_status dm_h5_attr_get_i64(hid_t obj, const char *name, int64_t *value);
dm_status dm_h5_attr_get_f64(hid_t obj, const char *name, double *value);
/* Attribute on the object at path under loc (opens and closes it). */
dm_status dm_h5_attr_set_str_at(hid_t loc, const char *path, const char *name, const char *value);

/* ---- groups ------------------------------------------------------------------ */
/* COLLECTIVE, not agreed. Create the group and any missing parents; ok if it exists. */
dm_status dm_h5_group_ensure(hid_t loc, const char *path);

/* LOCAL. Quiet HDF5's own error stack printing (we print our own messages).
 * Call once at start. DMPIPE_HDF5_DEBUG=1 in the environment keeps it on. */
void dm_h5_quiet(void);

#endif
