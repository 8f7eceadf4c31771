/* dm_io_tune.h - file-system tuning for clusters, set from the environment
 * and applied in one place to every file dmpipe writes or reads through
 * HDF5 or MPI-IO (dm_h5_out_create, dm_h5_open, the store's chunk writer,
 * generate's CSV files).
 *
 *   DMPIPE_H5_ALIGNMENT=THRESHOLD:BYTES  H5Pset_alignment: every HDF5 object
 *       (a chunk, a contiguous dataset, a metadata block) of at least
 *       THRESHOLD bytes starts at a multiple of BYTES (e.g. 256K:4M for a
 *       Lustre stripe of 4 MiB). Only new files.
 *   DMPIPE_H5_META_BLOCK=BYTES           H5Pset_meta_block_size: metadata
 *       is allocated in blocks of at least BYTES (HDF5's default 2 KiB).
 *   DMPIPE_H5_MDC=BYTES                  the metadata cache's initial and
 *       largest size, 1K to 128M (H5Pset_mdc_config; HDF5 starts at 2 MiB
 *       and may grow to 32 MiB; a file opened read-only through dm_h5_open
 *       has 256 KiB unless this is set, dm_h5.c).
 *   DMPIPE_H5_CHUNK_CACHE=BYTES          the raw-data chunk cache of each
 *       open dataset (H5Pset_cache; HDF5's default 1 MiB): reads that cross
 *       a chunk boundary decompress the chunk once when it fits. Unset, a
 *       store column read in batches (dm_h5_col_open) gets exactly one chunk;
 *       set, the larger of this and one chunk.
 *   DMPIPE_MPIIO_HINTS=KEY=VALUE[,KEY=VALUE...]  MPI_Info hints given to
 *       every MPI_File_open (through H5Pset_fapl_mpio for HDF5 files), e.g.
 *       cb_buffer_size=16777216,cb_nodes=8,romio_cb_write=enable,
 *       striping_unit=4194304,striping_factor=16. Hints that only apply
 *       when a file is created (striping) do apply: with hints set, a new
 *       output's temporary is created through MPI-IO with them
 *       (dm_io_tune_create).
 *   DMPIPE_WRITEBACK=BYTES|0            the store writer (ingest, select)
 *       starts the kernel's write-back of what each rank wrote every BYTES
 *       (default 8M; sync_file_range), so the fsync that commits the store
 *       finds little left to write; 0 turns it off (the kernel's own
 *       write-back only).
 * BYTES: a whole number with an optional K, M or G suffix (KiB, MiB, GiB;
 * "KiB" and "k" are accepted too). A value that does not parse is an error
 * naming the variable and the value. Unset or empty: HDF5's and MPI's own
 * defaults, exactly as without this layer (but for the read-only metadata
 * cache above).
 *
 * Where the environment could differ between ranks, rank 0's settings are
 * used by all (HDF5 requires the same file settings on every rank).
 */
#ifndef DM_IO_TUNE_H
#define DM_IO_TUNE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

#define DM_IO_TUNE_HINTS_MAX 2048
#define DM_IO_TUNE_WRITEBACK_DEFAULT ((int64_t)8 << 20)

typedef struct {
  int64_t align_threshold, align_bytes; /* 0: HDF5's default (no alignment) */
  int64_t meta_block;                   /* 0: default */
  int64_t mdc_bytes;                    /* 0: default */
  int64_t chunk_cache;                  /* 0: default */
  int64_t writeback;                    /* 0: DM_IO_TUNE_WRITEBACK_DEFAULT; -1: off */
  char hints[DM_IO_TUNE_HINTS_MAX];     /* normalised "k=v,k=v"; "" none */
} dm_io_tune;

/* LOCAL. Parse one variable's value into t (the other fields untouched).
 * name is one of the variables above; value NULL or "" leaves the default.
 * DM_ERR_ARG naming the variable and the value if it does not parse. */
dm_status dm_io_tune_parse(dm_io_tune *t, const char *name, const char *value);

/* LOCAL. All the variables from this process's environment. */
dm_status dm_io_tune_from_env(dm_io_tune *t);

/* COLLECTIVE, agreed. Every rank parses its own environment (so a bad value
 * is reported, naming it, on every rank that has it); then rank 0's settings
 * are given to all. */
dm_status dm_io_tune_get(MPI_Comm comm, dm_io_tune *t);

/* LOCAL. Bytes a rank writes between starts of early write-back (the
 * default when unset), or 0 when it is off. */
int64_t dm_io_tune_writeback(const dm_io_tune *t);

/* LOCAL. An MPI_Info holding the hints, or MPI_INFO_NULL when there are
 * none. Free with dm_io_tune_info_free. */
MPI_Info dm_io_tune_info(const dm_io_tune *t);
void dm_io_tune_info_free(MPI_Info *info);

/* LOCAL. Apply alignment, metadata block size, metadata cache and chunk
 * cache to a file access property list (any driver). The hints go to the
 * mpio driver by the caller (H5Pset_fapl_mpio with dm_io_tune_info). */
dm_status dm_io_tune_fapl(const dm_io_tune *t, hid_t fapl);

/* COLLECTIVE, agreed. With hints set, rank 0 replaces the empty temporary
 * `tmp_path` (just made by dm_atomic_begin_all, which holds the claim) by
 * one created through MPI-IO with the hints, so creation-time hints
 * (striping_unit, striping_factor on Lustre) take effect; without hints,
 * nothing happens. On failure the temporary may be missing: the caller's
 * clean-up (dm_atomic_settle_all) copes. */
dm_status dm_io_tune_create(const dm_io_tune *t, const char *tmp_path, MPI_Comm comm);

#endif
