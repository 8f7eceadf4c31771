/* dm_h5_vfd.h - PRIVATE to io/: an HDF5 file driver for the one process that
 * keeps a file's metadata while other processes write its chunk data.
 *
 * It behaves like HDF5's POSIX driver (pread/pwrite on one descriptor), except
 * that raw-data writes can be switched off: then HDF5 still allocates file
 * space for a chunk written with H5Dwrite_chunk and records it in the chunk
 * index, but the bytes are not written, because the process that compressed
 * the chunk writes them at that address itself (dm_chunk_writer.c). The file
 * it leaves is a plain HDF5 file; readers use any driver.
 *
 * Why not the MPI-IO driver: parallel HDF5 1.10 refuses direct chunk writes
 * (collective transfer: "MPI_File_set_view failed: MPI_ERR_TYPE"; independent
 * transfer from several ranks: the ranks' metadata diverge and H5Fclose
 * hangs), and its collective filtered write compresses inside the library on
 * the calling thread with a fresh buffer per chunk.
 *
 * The driver keeps no metadata accumulator or sieve buffer, so no cached copy
 * of a region can ever be flushed over chunk bytes written by another process.
 * All calls are LOCAL.
 */
#ifndef DM_H5_VFD_H
#define DM_H5_VFD_H

#include <hdf5.h>
#include <stdint.h>

#include "dm_status.h"

/* A file access property list using the driver (registered on first use).
 * Close it with H5Pclose. H5I_INVALID_HID on failure.
 * Writes never fail towards HDF5: the first failed write or truncation of a
 * file stores its errno in *err (set it to 0 first; it must outlive the
 * file), and the file's later writes are dropped, so H5Fclose still succeeds
 * and the caller, seeing *err != 0, discards the file (dm_chunk_writer.c).
 * HDF5 1.10 cannot close a file whose final flush failed: it leaves a broken
 * identifier that crashes its clean-up at exit. */
hid_t dm_h5_vfd_fapl(int *err);

/* Switch raw-data writes of an open file (created with that fapl) off
 * (discard = 1) or on again. DM_ERR_HDF5 if the file uses another driver. */
dm_status dm_h5_vfd_discard_raw(hid_t file, int discard);

/* The last raw-data write HDF5 made while raw writes were off: where and how
 * many bytes, and how many such writes so far. H5Dwrite_chunk makes exactly
 * one, at the address the chunk index records for the chunk (the file has
 * no user block, so HDF5's addresses are file offsets): the chunk writer
 * reads the address here instead of asking HDF5, whose
 * H5Dget_chunk_info_by_coord walks the whole chunk index in 1.10 (its cost
 * grows with the chunks already written: 290 us per chunk at 73,000). */
typedef struct {
  uint64_t addr, size, count;
} dm_h5_vfd_raw;

/* The record of a file open with this driver (NULL for another driver);
 * valid while the file is open. */
const dm_h5_vfd_raw *dm_h5_vfd_raw_record(hid_t file);

#endif
