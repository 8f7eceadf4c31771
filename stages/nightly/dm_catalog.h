/* dm_catalog.h - one store of all samples, from per-sample stores.
 *
 * Nightly reprocessing ingests each archive sample into a store of its own,
 * so a new or changed sample costs one ingest. The catalog joins them into an
 * ordinary store (io/dm_store.h) that every stage and h5py read as one:
 * events in the samples' order, obj_offset made global, process indices
 * mapped onto the union of the samples' process tables in order of first
 * appearance. For samples given in the order of their CSV files, the
 * catalog's datasets equal those of one ingest of all the CSV files, and its
 * "inputs" attribute lists the same CSV checksums.
 *
 * Why a copy and not HDF5 virtual datasets: parallel HDF5 1.10 refuses to
 * read a virtual dataset through MPI-IO ("parallel reads not supported on
 * virtual datasets"), and every stage reads through MPI-IO. The copy streams
 * compressed columns (no CSV parsing), in parallel.
 */
#ifndef DM_CATALOG_H
#define DM_CATALOG_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

typedef struct {
  const char *out;              /* the catalog (written as out.tmp, renamed) */
  const char *const *inputs;    /* per-sample stores, in catalog order */
  int n_inputs;
  int zstd_level;               /* 1..22, 0 = none */
  int64_t batch;                /* events per rank per round */
  const char *command_line;     /* provenance */
} dm_catalog_opts;

typedef struct {
  int64_t n_events, n_objects;
  int n_processes, n_inputs;
} dm_catalog_report;

/* COLLECTIVE over comm; agreed status. Reads every input store, writes the
 * catalog. All inputs must have the same precision. */
dm_status dm_catalog_run(const dm_catalog_opts *o, MPI_Comm comm, dm_catalog_report *rep);

#endif
