/* dm_store_vds.h - PRIVATE to io/ (dm_store.c): the virtual columns of a
 * catalog and the table of its parts (dm_store.h, "catalogs").
 *
 * A catalog's columns that concatenate unchanged are HDF5 virtual datasets:
 * part i's rows of a column follow those of parts 0..i-1, mapped onto the
 * same column of part i's file. The file names in the mappings are relative
 * (HDF5 looks for a relative source beside the virtual dataset's file
 * first), so the catalog and its parts folder can move together.
 *
 * HDF5 returns the fill value, silently, for the rows of a source it cannot
 * open: the table written beside the mappings (root attribute
 * "catalog_parts": file, n_events, n_objects, store_id per part) is what a
 * reader checks every part against before any row is read
 * (dm_store_vds_check). All calls are LOCAL unless marked COLLECTIVE.
 */
#ifndef DM_STORE_VDS_H
#define DM_STORE_VDS_H

#include <hdf5.h>
#include <stdint.h>

#include "dm_derived.h"
#include "dm_status.h"

/* Longest part name (relative to the catalog's folder), NUL included. */
#define DM_STORE_VDS_FILE_MAX 512

typedef struct {
  char file[DM_STORE_VDS_FILE_MAX]; /* as the mappings name it */
  int64_t n_events, n_objects;
  char store_id[DM_STORE_ID_LEN];
} dm_store_vds_part;

/* COLLECTIVE (metadata, same arguments on every rank). Create the virtual
 * dataset `path` of `type` over parts[0..n): n_objects rows per part when
 * `objects`, else n_events; parts without rows get no mapping. */
dm_status dm_store_vds_create(hid_t file, const char *path, hid_t type,
                              const dm_store_vds_part *parts, int n, int objects);

/* COLLECTIVE (attribute writes). The root attributes "catalog" = 1 and
 * "catalog_parts" (the table). */
dm_status dm_store_vds_write_table(hid_t file, const dm_store_vds_part *parts, int n);

/* 1 if the open file is a catalog (root attribute "catalog" nonzero). On a
 * file opened through MPI-IO every rank calls it (a collective metadata
 * read). */
int dm_store_vds_is_catalog(hid_t file);

/* Read the table of the catalog open as `file` (path names it in messages);
 * *parts is malloc'd (free it). */
dm_status dm_store_vds_read_table(hid_t file, const char *path, dm_store_vds_part **parts,
                                  int *n);

/* The path of part `p` as a reader finds it: the catalog's folder + p->file. */
dm_status dm_store_vds_part_path(const char *catalog_path, const dm_store_vds_part *p, char *out,
                                 size_t cap);

/* Check the catalog at `path` (open as `file`, its table parts[0..n)) before
 * anything is read through it: every part is present beside it, opens, is a
 * store (not a catalog) with the recorded store_id, n_events and n_objects;
 * each virtual column cols[c] (objects[c]: rows are objects) maps exactly
 * those parts, in order, onto the same column. DM_ERR_SCHEMA naming the
 * catalog and the part (or column) otherwise. */
dm_status dm_store_vds_check(hid_t file, const char *path, const dm_store_vds_part *parts, int n,
                             const char *const *cols, const int *objects, int ncols);

#endif
