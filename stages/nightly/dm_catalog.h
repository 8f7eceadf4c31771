/* dm_catalog.h - one store of all samples, over per-sample stores.
 *
 * Nightly reprocessing ingests each archive sample into a store of its own,
 * so a new or changed sample costs one ingest. The catalog is a store
 * (io/dm_store.h, "Catalogs") that every stage and h5py read as one store of
 * all samples: events in the samples' order, obj_offset made global, process
 * indices mapped onto the union of the samples' process tables in order of
 * first appearance. For samples given in the order of their CSV files, the
 * catalog's datasets equal those of one ingest of all the CSV files, and its
 * "inputs" attribute lists the same CSV checksums.
 *
 * It holds no copy of the samples' events: its columns that concatenate
 * unchanged are HDF5 virtual datasets over the sample stores, and only
 * obj_offset and process (whose values change) are written, in parallel.
 *
 * Its parts. The virtual datasets never name the sample stores themselves:
 * nightly replaces a changed sample by renaming a new samples/NAME.h5 over
 * the old one, which must not change what a committed catalog reads. For
 * CATALOG.h5 the parts are hard links (link(2)) to the sample stores in the
 * folder CATALOG.parts beside it, one per store, named NAME-I.h5 (I = the
 * first 16 hex digits of the store's store_id, random per store), so a
 * re-ingested sample gets a new part and the old catalog keeps its own. Where
 * the file system refuses a hard link (another file system, EXDEV; not
 * permitted, EPERM) the part is a copy, written aside and renamed
 * (dm_atomic.h); the report counts those. A part already there is kept when
 * it is the same file or the same store. The mappings name the parts
 * relative to the catalog's folder, so the catalog and its parts folder move
 * together.
 *
 * Order of work: the catalog's output is claimed (dm_atomic.h) before any
 * part is made, the parts folder is synced before the catalog is committed,
 * and after it (or after a failure), with the claim taken again, the parts
 * that the catalog now under CATALOG.h5 does not name are removed. A new
 * catalog therefore never touches a part the previous one reads until it has
 * replaced it, and a run killed at any moment leaves the previous catalog
 * readable (the next run removes what it left).
 */
#ifndef DM_CATALOG_H
#define DM_CATALOG_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

typedef struct {
  const char *out;              /* the catalog (written aside, renamed) */
  const char *const *inputs;    /* per-sample stores, in catalog order */
  int n_inputs;
  int zstd_level;               /* of obj_offset and process: 1..22, 0 = none */
  int64_t batch;                /* events per rank per round (0: 1048576) */
  const char *command_line;     /* provenance */
} dm_catalog_opts;

typedef struct {
  int64_t n_events, n_objects;
  int n_processes, n_inputs;
  /* Parts: new hard links, copies (no hard link possible), kept from an
   * earlier catalog, and parts removed because the catalog now in place no
   * longer names them. The same on every rank. */
  int n_linked, n_copied, n_kept, n_removed;
} dm_catalog_report;

/* COLLECTIVE over comm; agreed status. Reads every input store's index
 * (obj_offset, process), makes the parts, writes the catalog and removes the
 * parts no longer named. All inputs must have the same precision and a
 * store_id, and none may be a catalog. */
dm_status dm_catalog_run(const dm_catalog_opts *o, MPI_Comm comm, dm_catalog_report *rep);

#endif
