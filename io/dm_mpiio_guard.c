/* Failed MPI-IO writes under HDF5, recorded instead of returned
 * (dm_mpiio_guard.h). */
#include "dm_mpiio_guard.h"

#include <mpi.h>
#include <string.h>

#include "dm_comm.h"

/* Few files are open for writing at once (a store and its sidecar). */
#define GUARD_SLOTS 16

static struct {
  MPI_File fh;
  hid_t file;
  int used, err;
} guard[GUARD_SLOTS];

static int find(MPI_File fh)
{
  for (int i = 0; i < GUARD_SLOTS; i++)
    if (guard[i].used && guard[i].fh == fh)
      return i;
  return -1;
}

/* The outcome HDF5 sees: on a guarded handle a failure is recorded and the
 * call reported complete (status counting every element, since HDF5 also
 * looks at how much was written). */
static int outcome(MPI_File fh, int rc, MPI_Status *status, MPI_Datatype type, int count)
{
  int i = find(fh);
  if (i < 0)
    return rc;
  int err = 0;
  if (rc != MPI_SUCCESS) {
    err = dm_mpi_errno(rc);
  } else if (status && status != MPI_STATUS_IGNORE && type != MPI_DATATYPE_NULL) {
    /* Open MPI's ompio reports a write that the file system refused (a full
     * disk) as a success that wrote fewer bytes, or none: compare. */
    MPI_Count got = 0, want = 0;
    int tsize = 0;
    if (MPI_Type_size(type, &tsize) == MPI_SUCCESS &&
        MPI_Get_elements_x(status, MPI_BYTE, &got) == MPI_SUCCESS) {
      want = (MPI_Count)tsize * count;
      if (got != want && got != MPI_UNDEFINED)
        err = DM_ESHORT;
    }
  }
  if (!err)
    return rc;
  if (!guard[i].err)
    guard[i].err = err;
  /* In bytes: HDF5 compares the bytes written with type size x count (for
   * a derived type, count basic elements would be fewer bytes). */
  int tsize = 0;
  if (status && status != MPI_STATUS_IGNORE && type != MPI_DATATYPE_NULL &&
      MPI_Type_size(type, &tsize) == MPI_SUCCESS)
    MPI_Status_set_elements_x(status, MPI_BYTE, (MPI_Count)tsize * count);
  return MPI_SUCCESS;
}

int MPI_File_write_at(MPI_File fh, MPI_Offset offset, const void *buf, int count,
                      MPI_Datatype datatype, MPI_Status *status)
{
  int rc = PMPI_File_write_at(fh, offset, buf, count, datatype, status);
  return outcome(fh, rc, status, datatype, count);
}

int MPI_File_write_at_all(MPI_File fh, MPI_Offset offset, const void *buf, int count,
                          MPI_Datatype datatype, MPI_Status *status)
{
  int rc = PMPI_File_write_at_all(fh, offset, buf, count, datatype, status);
  return outcome(fh, rc, status, datatype, count);
}

int MPI_File_set_size(MPI_File fh, MPI_Offset size)
{
  return outcome(fh, PMPI_File_set_size(fh, size), NULL, MPI_DATATYPE_NULL, 0);
}

int MPI_File_sync(MPI_File fh)
{
  return outcome(fh, PMPI_File_sync(fh), NULL, MPI_DATATYPE_NULL, 0);
}

dm_status dm_mpiio_guard(hid_t file, void **token)
{
  *token = NULL;
  hid_t fapl = H5Fget_access_plist(file);
  int mpio = fapl >= 0 && H5Pget_driver(fapl) == H5FD_MPIO;
  void *h = NULL;
  if (!mpio || H5Fget_vfd_handle(file, fapl, &h) < 0 || !h) {
    if (fapl >= 0)
      H5Pclose(fapl);
    return dm_error(DM_ERR_INTERNAL, "not an MPI-IO file: nothing to guard");
  }
  H5Pclose(fapl);
  MPI_File fh = *(MPI_File *)h;
  for (int i = 0; i < GUARD_SLOTS; i++)
    if (!guard[i].used) {
      guard[i].used = 1;
      guard[i].fh = fh;
      guard[i].file = file;
      guard[i].err = 0;
      *token = &guard[i];
      return DM_OK;
    }
  return dm_error(DM_ERR_INTERNAL, "more than %d HDF5 files open for writing", GUARD_SLOTS);
}

int dm_mpiio_error_of(hid_t obj)
{
  int any = 0;
  for (int i = 0; i < GUARD_SLOTS; i++)
    any |= guard[i].used && guard[i].err;
  if (!any) /* the common case costs nothing */
    return 0;
  /* By file identifier: H5Fget_access_plist would duplicate the file's
   * communicator, a collective call that only this rank would make. */
  hid_t file = H5Iget_file_id(obj);
  if (file < 0)
    return 0;
  int err = 0;
  for (int i = 0; i < GUARD_SLOTS; i++)
    if (guard[i].used && guard[i].file == file)
      err = guard[i].err;
  H5Idec_ref(file);
  return err;
}

int dm_mpiio_unguard(void *token)
{
  if (!token)
    return 0;
  int i = (int)((char *)token - (char *)guard) / (int)sizeof guard[0];
  int err = guard[i].err;
  memset(&guard[i], 0, sizeof guard[i]);
  return err;
}
