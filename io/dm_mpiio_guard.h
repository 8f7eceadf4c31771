/* dm_mpiio_guard.h - PRIVATE to io/: keep a failed write from breaking a
 * parallel HDF5 file's close.
 *
 * Parallel HDF5 1.10 cannot survive a failed MPI-IO write: when the final
 * metadata flush of H5Fclose fails (a full disk, a quota, a file-size limit)
 * the ranks leave the close at different points and hang in its collectives,
 * or the close "fails" leaving a half-destroyed identifier that HDF5's own
 * clean-up crashes on inside MPI_Finalize (SIGSEGV). Neither can be repaired
 * from outside the library.
 *
 * So the MPI-IO calls HDF5 makes on a guarded file go through this layer
 * (MPI's profiling interface: this file defines MPI_File_write_at,
 * MPI_File_write_at_all, MPI_File_set_size and MPI_File_sync and forwards
 * each to its PMPI_ twin). A call that fails on a guarded handle is still
 * made on every rank (collectives stay matched), its error is recorded, and
 * HDF5 is told it succeeded; HDF5 then closes the file normally, the caller
 * reads the recorded errno, and the agreed failure removes the temporary
 * file (its bytes do not matter). Handles not under guard (dmpipe's own
 * MPI-IO) see every error unchanged.
 *
 * All calls are LOCAL; only the thread that calls MPI uses them.
 */
#ifndef DM_MPIIO_GUARD_H
#define DM_MPIIO_GUARD_H

#include <hdf5.h>

#include "dm_status.h"

/* Put the MPI-IO handle behind `file` (opened with the mpio driver) under
 * guard. *token receives what dm_mpiio_unguard needs after the file is
 * closed. DM_ERR_INTERNAL if the file is not an MPI-IO file or the table is
 * full. */
dm_status dm_mpiio_guard(hid_t file, void **token);

/* The errno of the first failed write on the guarded file that holds obj (a
 * file, dataset or group), 0 if none or not guarded. Check it after each
 * collective write and agree on it before the next: HDF5 reads back what it
 * believes it wrote (a partly filled chunk is read, extended and rewritten),
 * and a dropped write read back fails on one rank only. */
int dm_mpiio_error_of(hid_t obj);

/* Release the guard (after H5Fclose) and return the errno of the first
 * failed write, truncation or sync on it (0: none). Accepts NULL. */
int dm_mpiio_unguard(void *token);

#endif
