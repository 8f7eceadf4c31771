#include "dm_h5.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_io_tune.h"
#include "dm_mpiio_guard.h"
#include "dm_zstd_filter.h"

void dm_h5_quiet(void)
{
  const char *dbg = getenv("DMPIPE_HDF5_DEBUG");
  if (!dbg || strcmp(dbg, "1"))
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* After a collective write: did the file system refuse bytes of this file
 * (dm_mpiio_guard.h)? The caller agrees on it before the next collective. */
static dm_status written(hid_t obj)
{
  int err = dm_mpiio_error_of(obj);
  if (!err)
    return DM_OK;
  char name[DM_PATH_MAX] = "";
  H5Fget_name(obj, name, sizeof name);
  return dm_error(DM_ERR_IO, "writing %s failed: %s", name, dm_strerror_io(err));
}

#define DM_H5_READ_MDC ((size_t)256 << 10)

/* A file opened read-only is read in order, so its metadata cache needs
 * little more than the object headers and, per dataset, the path from the
 * root of its chunk index to the current chunk: a few dozen entries. HDF5
 * counts the cache in bytes as stored, but holds a node of a version 1
 * B-tree chunk index (64 chunks) as 18 KiB in memory against 2 KiB in the
 * file; with HDF5's default size (2 MiB of stored bytes) every node read
 * stays: 6.5 MiB after a store of 1e8 events, up to 18 MiB per file. DM_H5_READ_MDC holds about 120 nodes (2.2 MiB in memory); a whole
 * select of 1e8 events makes as many metadata reads with it as with the
 * default. DMPIPE_H5_MDC (dm_io_tune.h), applied after, still sets it. */
static int read_only_mdc(hid_t fapl)
{
  H5AC_cache_config_t c;
  memset(&c, 0, sizeof c);
  c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  if (H5Pget_mdc_config(fapl, &c) < 0)
    return 0;
  c.set_initial_size = 1;
  c.initial_size = DM_H5_READ_MDC;
  c.max_size = DM_H5_READ_MDC;
  c.min_size = DM_H5_READ_MDC;
  return H5Pset_mdc_config(fapl, &c) >= 0;
}

/* Every HDF5 file opened through MPI-IO gets its settings here: the
 * defaults below, then the user's tuning (dm_io_tune.h). */
static hid_t mpio_fapl(MPI_Comm comm, const dm_io_tune *t, int readonly)
{
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0)
    return fapl;
  if (readonly && !read_only_mdc(fapl)) {
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
  /* Metadata reads and writes collective: one rank reads, all get it. This
   * keeps 1000 ranks from hammering the file system for the same header.
   * Newest file format: compact links and faster extendible datasets. */
  MPI_Info info = dm_io_tune_info(t);
  if (H5Pset_fapl_mpio(fapl, comm, info) < 0 || H5Pset_all_coll_metadata_ops(fapl, 1) < 0 ||
      H5Pset_coll_metadata_write(fapl, 1) < 0 ||
      H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0 ||
      dm_io_tune_fapl(t, fapl) != DM_OK) {
    dm_io_tune_info_free(&info);
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
  /* HDF5 keeps its own copy. */
  dm_io_tune_info_free(&info);
  return fapl;
}

static hid_t coll_dxpl(void)
{
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  if (dxpl >= 0 && H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0) {
    H5Pclose(dxpl);
    return H5I_INVALID_HID;
  }
  return dxpl;
}

/* Is this dataset's file opened through MPI-IO? Serial files use the default
 * transfer property list. The answer is kept for the last file asked about:
 * H5Fget_access_plist duplicates the file's MPI communicator (a collective
 * agreement on a context id), which made every small read cost a round of
 * messages; HDF5 never hands out a file id twice in a process. */
static hid_t dxpl_for(hid_t obj)
{
  static hid_t last_file = H5I_INVALID_HID;
  static int last_mpio;
  hid_t file = H5Iget_file_id(obj);
  int mpio = 0;
  if (file >= 0 && file == last_file) {
    mpio = last_mpio;
  } else {
    hid_t fapl = file >= 0 ? H5Fget_access_plist(file) : H5I_INVALID_HID;
    mpio = fapl >= 0 && H5Pget_driver(fapl) == H5FD_MPIO;
    if (fapl >= 0) {
      H5Pclose(fapl);
      last_file = file;
      last_mpio = mpio;
    }
  }
  if (file >= 0)
    H5Fclose(file);
  return mpio ? coll_dxpl() : H5Pcreate(H5P_DATASET_XFER);
}

dm_status dm_h5_out_create(dm_h5_out *out, const char *final_path, MPI_Comm comm)
{
  memset(out, 0, sizeof *out);
  out->file = H5I_INVALID_HID;
  out->comm = comm;
  dm_status s = dm_zstd_filter_register();
  DM_FORWARD_AGREED(s, comm);
  dm_io_tune tune;
  DM_FORWARD(dm_io_tune_get(comm, &tune));
  DM_FORWARD(dm_atomic_begin_all(&out->at, final_path, comm));
  snprintf(out->final_path, sizeof out->final_path, "%s", out->at.final_path);
  snprintf(out->tmp_path, sizeof out->tmp_path, "%s", out->at.tmp_path);
  s = dm_io_tune_create(&tune, out->tmp_path, comm);
  if (s != DM_OK)
    return dm_h5_settle(H5I_INVALID_HID, NULL, s, &out->at, comm);
  hid_t fapl = mpio_fapl(comm, &tune, 0);
  hid_t file = fapl >= 0 ? H5Fcreate(out->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : -1;
  if (fapl >= 0)
    H5Pclose(fapl);
  s = file >= 0 ? dm_mpiio_guard(file, &out->guard)
                : dm_error(DM_ERR_HDF5, "cannot create HDF5 file %s", out->tmp_path);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    void *g = out->guard;
    out->guard = NULL;
    return dm_h5_settle(file, g, s, &out->at, comm);
  }
  out->file = file;
  return DM_OK;
}

dm_status dm_h5_settle(hid_t file, void *guard, dm_status agreed, dm_atomic *a, MPI_Comm comm)
{
  dm_status s = agreed;
  if (file >= 0) {
    /* H5Fclose flushes: a full disk shows up here, recorded by the guard. */
    herr_t e = H5Fclose(file);
    int err = dm_mpiio_unguard(guard);
    dm_status c = DM_OK;
    if (err)
      c = dm_error(DM_ERR_IO, "writing %s failed: %s", a->tmp_path, dm_strerror_io(err));
    else if (e < 0)
      c = dm_error(DM_ERR_IO, "closing %s failed", a->tmp_path);
    c = dm_agree(c, comm);
    if (s == DM_OK)
      s = c;
  } else {
    dm_mpiio_unguard(guard);
  }
  return dm_atomic_settle_all(a, s, comm);
}

dm_status dm_h5_out_finish(dm_h5_out *out, dm_status local)
{
  dm_status s = dm_agree(local, out->comm);
  hid_t file = out->file;
  void *g = out->guard;
  out->file = H5I_INVALID_HID;
  out->guard = NULL;
  return dm_h5_settle(file, g, s, &out->at, out->comm);
}

dm_status dm_h5_open(const char *path, MPI_Comm comm, int readwrite, hid_t *file)
{
  *file = H5I_INVALID_HID;
  dm_status s = dm_zstd_filter_register();
  s = dm_agree(s, comm);
  if (s != DM_OK)
    return s;
  /* A clear message for the common cases before HDF5 gets involved. */
  s = DM_OK;
  if (dm_rank(comm) == 0) {
    if (access(path, readwrite ? R_OK | W_OK : R_OK) != 0)
      s = dm_error(DM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    else if (H5Fis_hdf5(path) <= 0)
      s = dm_error(DM_ERR_SCHEMA, "%s is not an HDF5 file", path);
  }
  s = dm_agree(s, comm);
  if (s != DM_OK)
    return s;
  dm_io_tune tune;
  DM_FORWARD(dm_io_tune_get(comm, &tune));
  hid_t fapl = mpio_fapl(comm, &tune, !readwrite);
  hid_t f = fapl >= 0 ? H5Fopen(path, readwrite ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl) : -1;
  if (fapl >= 0)
    H5Pclose(fapl);
  if (!dm_alltrue(f >= 0, comm)) {
    if (f >= 0)
      H5Fclose(f);
    return dm_error(DM_ERR_HDF5, "cannot open HDF5 file %s", path);
  }
  *file = f;
  return DM_OK;
}

dm_status dm_h5_close(hid_t file)
{
  if (file < 0)
    return DM_OK;
  if (H5Fclose(file) < 0)
    return dm_error(DM_ERR_IO, "closing an HDF5 file failed");
  return DM_OK;
}

dm_status dm_h5_open_serial(const char *path, int readwrite, hid_t *file)
{
  *file = H5I_INVALID_HID;
  DM_FORWARD(dm_zstd_filter_register());
  if (access(path, readwrite ? R_OK | W_OK : R_OK) != 0)
    return dm_error(DM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  if (H5Fis_hdf5(path) <= 0)
    return dm_error(DM_ERR_SCHEMA, "%s is not an HDF5 file", path);
  hid_t f = H5Fopen(path, readwrite ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0)
    return dm_error(DM_ERR_HDF5, "cannot open HDF5 file %s", path);
  *file = f;
  return DM_OK;
}

/* ---- groups ---------------------------------------------------------------- */

dm_status dm_h5_group_ensure(hid_t loc, const char *path)
{
  if (dm_h5_exists(loc, path))
    return DM_OK;
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t g = H5Gcreate2(loc, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Pclose(lcpl);
  if (g < 0)
    return dm_error(DM_ERR_HDF5, "cannot create group %s", path);
  H5Gclose(g);
  return DM_OK;
}

int dm_h5_exists(hid_t loc, const char *path)
{
  /* H5Lexists fails on a missing intermediate group: walk the path. */
  char buf[DM_PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return 0;
  for (char *p = buf + (buf[0] == '/'); *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0)
        return 0;
      *p = '/';
    }
  }
  return H5Lexists(loc, buf, H5P_DEFAULT) > 0;
}

/* ---- columns --------------------------------------------------------------- */

dm_status dm_h5_col_create(hid_t loc, const char *path, hid_t type, const dm_h5_layout *layout,
                           hid_t *dset)
{
  *dset = H5I_INVALID_HID;
  if (layout->chunk <= 0)
    return dm_error(DM_ERR_ARG, "chunk size must be positive for %s", path);
  hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = (hsize_t)layout->chunk;
  hid_t space = H5Screate_simple(1, &zero, &unlimited);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  dm_status s = DM_OK;
  if (space < 0 || dcpl < 0 || lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
      H5Pset_chunk(dcpl, 1, &chunk) < 0)
    s = dm_error(DM_ERR_HDF5, "cannot set up the layout of dataset %s", path);
  /* Parallel HDF5 requires early allocation for filtered datasets? No: it
   * needs incremental allocation to be consistent; the default (incremental
   * for chunked) is what collective filtered writes expect. Fill values are
   * never read (every element is written), so skip writing them. */
  if (s == DM_OK && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0)
    s = dm_error(DM_ERR_HDF5, "cannot set the fill time of dataset %s", path);
  if (s == DM_OK && layout->zstd_level > 0) {
    unsigned int level = (unsigned int)layout->zstd_level;
    if (H5Tget_size(type) > 1 && H5Pset_shuffle(dcpl) < 0)
      s = dm_error(DM_ERR_HDF5, "cannot set the shuffle filter on %s", path);
    else if (H5Pset_filter(dcpl, DM_ZSTD_FILTER_ID, H5Z_FLAG_MANDATORY, 1, &level) < 0)
      s = dm_error(DM_ERR_HDF5, "cannot set the zstd filter on %s", path);
  }
  if (s == DM_OK) {
    *dset = H5Dcreate2(loc, path, type, space, lcpl, dcpl, H5P_DEFAULT);
    if (*dset < 0)
      s = dm_error(DM_ERR_HDF5, "cannot create dataset %s", path);
  }
  if (lcpl >= 0)
    H5Pclose(lcpl);
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (space >= 0)
    H5Sclose(space);
  return s;
}

dm_status dm_h5_col_resize(hid_t dset, int64_t length)
{
  hsize_t n = (hsize_t)length;
  if (H5Dset_extent(dset, &n) < 0)
    return dm_error(DM_ERR_HDF5, "cannot extend a dataset to %lld elements", (long long)length);
  return written(dset);
}

/* Select [off, off + n) of fspace (all of mspace), or nothing when n == 0.
 * On failure both select nothing, so the rank still takes part in the
 * collective transfer that follows (a rank that skipped it would leave the
 * others waiting); the caller reports the failure after the transfer. */
static int select_range(hid_t fspace, hid_t mspace, int64_t offset, int64_t n)
{
  hsize_t cnt = (hsize_t)n, off = (hsize_t)offset;
  if (fspace >= 0 && mspace >= 0 &&
      (n > 0 ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &off, NULL, &cnt, NULL) >= 0
             : H5Sselect_none(fspace) >= 0 && H5Sselect_none(mspace) >= 0))
    return 1;
  if (fspace >= 0)
    H5Sselect_none(fspace);
  if (mspace >= 0)
    H5Sselect_none(mspace);
  return 0;
}

dm_status dm_h5_col_write_at(hid_t dset, hid_t mem_type, const void *buf, int64_t offset,
                             int64_t n)
{
  hid_t fspace = H5Dget_space(dset);
  hsize_t cnt = (hsize_t)n;
  hid_t mspace = H5Screate_simple(1, &cnt, NULL);
  int sel = select_range(fspace, mspace, offset, n);
  hid_t dxpl = dxpl_for(dset);
  /* HDF5 wants a non-NULL buffer even for an empty selection. */
  static const char dummy[16];
  herr_t e = H5Dwrite(dset, mem_type, mspace, fspace, dxpl, n > 0 && sel ? buf : dummy);
  if (dxpl >= 0)
    H5Pclose(dxpl);
  if (mspace >= 0)
    H5Sclose(mspace);
  if (fspace >= 0)
    H5Sclose(fspace);
  if (!sel)
    return dm_error(DM_ERR_HDF5, "cannot select %lld elements at %lld of a dataset",
                    (long long)n, (long long)offset);
  if (e < 0)
    return dm_error(DM_ERR_IO, "writing %lld elements at %lld failed (disk full?)", (long long)n,
                    (long long)offset);
  return written(dset);
}

dm_status dm_h5_col_append(hid_t dset, hid_t mem_type, const void *buf, int64_t local_n,
                           MPI_Comm comm, int64_t *first)
{
  int64_t prefix = 0, total = 0;
  dm_exscan_i64(local_n, comm, &prefix, &total);
  hid_t space = H5Dget_space(dset);
  hsize_t cur = 0;
  dm_status s = space >= 0 && H5Sget_simple_extent_dims(space, &cur, NULL) == 1
                    ? DM_OK
                    : dm_error(DM_ERR_HDF5, "cannot read the length of a column");
  if (space >= 0)
    H5Sclose(space);
  DM_FORWARD_AGREED(s, comm);
  if (first)
    *first = (int64_t)cur + prefix;
  if (total == 0)
    return DM_OK;
  s = dm_h5_col_resize(dset, (int64_t)cur + total);
  s = dm_agree(s, comm);
  if (s != DM_OK)
    return s;
  s = dm_h5_col_write_at(dset, mem_type, buf, (int64_t)cur + prefix, local_n);
  return dm_agree(s, comm);
}

dm_status dm_h5_dset_read(hid_t dset, hid_t mem_type, int64_t begin, int64_t n, void *buf)
{
  hid_t fspace = H5Dget_space(dset);
  hsize_t cnt = (hsize_t)n;
  hid_t mspace = H5Screate_simple(1, &cnt, NULL);
  int sel = select_range(fspace, mspace, begin, n);
  /* The raw data moves by independent transfer, even from a file opened
   * through MPI-IO (metadata reads stay collective: H5Pset_all_coll_metadata_ops).
   * HDF5 1.10's collective path for compressed chunks bypasses the chunk
   * cache: a chunk that two consecutive reads share (every object chunk, and
   * an event chunk at each batch boundary) was read from disk and
   * decompressed twice. Measured on select (4e6 events, one rank): 469 MB
   * read from a 211 MB store and 5.6 s of CPU collective, 255 MB and 1.9 s
   * independent. Each rank reads whole chunks of its own range; there is
   * nothing for two-phase aggregation to merge. */
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  static char dummy[16];
  herr_t e = H5Dread(dset, mem_type, mspace, fspace, dxpl, n > 0 && sel ? buf : dummy);
  if (dxpl >= 0)
    H5Pclose(dxpl);
  if (mspace >= 0)
    H5Sclose(mspace);
  if (fspace >= 0)
    H5Sclose(fspace);
  if (!sel)
    return dm_error(DM_ERR_HDF5, "cannot select %lld elements at %lld of a dataset (past its "
                    "end?)", (long long)n, (long long)begin);
  if (e < 0)
    return dm_error(DM_ERR_HDF5, "reading %lld elements at %lld failed", (long long)n,
                    (long long)begin);
  return DM_OK;
}

/* HDF5's own chunk cache size for a new file access list (1 MiB), against
 * which a file whose cache was set (DMPIPE_H5_CHUNK_CACHE) is told apart. */
static size_t default_cache_bytes(void)
{
  static size_t bytes;
  if (!bytes) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    int mdc = 0;
    size_t slots = 0, nbytes = 0;
    double w0 = 0;
    if (fapl >= 0 && H5Pget_cache(fapl, &mdc, &slots, &nbytes, &w0) >= 0)
      bytes = nbytes;
    if (fapl >= 0)
      H5Pclose(fapl);
  }
  return bytes;
}

hid_t dm_h5_col_open(hid_t loc, const char *path)
{
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0)
    return d;
  /* A cache of one chunk: a column is read in order, and consecutive reads
   * share at most the chunk at their boundary. A larger chunk than the
   * file's cache (a double-precision store's 2 MiB object chunks) would
   * bypass it and be read twice at every batch boundary; HDF5's default
   * 1 MiB would keep several chunks of a small column (eight of the 16-bit
   * process index), more of them the further a run reads: memory that grows
   * with the store up to 1 MiB a column and saves no decompression. A cache
   * set larger with DMPIPE_H5_CHUNK_CACHE is kept. */
  hid_t dcpl = H5Dget_create_plist(d), dapl = H5Dget_access_plist(d), type = H5Dget_type(d);
  hsize_t chunk = 0;
  size_t slots = 0, nbytes = 0;
  double w0 = 0;
  int ok = dcpl >= 0 && dapl >= 0 && type >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
           H5Pget_chunk(dcpl, 1, &chunk) == 1 &&
           H5Pget_chunk_cache(dapl, &slots, &nbytes, &w0) >= 0;
  size_t need = ok ? (size_t)chunk * H5Tget_size(type) : 0;
  if (ok && need < nbytes && nbytes != default_cache_bytes())
    need = nbytes;
  if (type >= 0)
    H5Tclose(type);
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (ok && need != nbytes && H5Pset_chunk_cache(dapl, slots, need, w0) >= 0) {
    H5Dclose(d);
    d = H5Dopen2(loc, path, dapl);
  }
  if (dapl >= 0)
    H5Pclose(dapl);
  return d;
}

dm_status dm_h5_col_read(hid_t loc, const char *path, hid_t mem_type, int64_t begin, int64_t n,
                         void *buf)
{
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0)
    return dm_error(DM_ERR_SCHEMA, "dataset %s is missing", path);
  dm_status s = dm_h5_dset_read(d, mem_type, begin, n, buf);
  H5Dclose(d);
  if (s != DM_OK)
    dm_error_context("%s", path);
  return s;
}

dm_status dm_h5_col_length(hid_t loc, const char *path, int64_t *length)
{
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0)
    return dm_error(DM_ERR_SCHEMA, "dataset %s is missing", path);
  hid_t space = H5Dget_space(d);
  int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  hsize_t dims[8] = {0};
  if (nd >= 0 && nd <= 8 && H5Sget_simple_extent_dims(space, dims, NULL) < 0)
    nd = -1;
  if (space >= 0)
    H5Sclose(space);
  H5Dclose(d);
  if (nd < 0)
    return dm_error(DM_ERR_HDF5, "cannot read the shape of dataset %s", path);
  if (nd != 1)
    return dm_error(DM_ERR_SCHEMA, "dataset %s is not one-dimensional", path);
  *length = (int64_t)dims[0];
  return DM_OK;
}

/* ---- small arrays ---------------------------------------------------------- */

/* COLLECTIVE, agreed. A contiguous dataset at path, its missing groups made
 * on the way. Agreed because the writes that follow are collective: a rank
 * whose create failed must not return while the others go on to write. */
static dm_status create_array(hid_t loc, const char *path, hid_t type, hid_t space,
                              MPI_Comm comm, hid_t *out)
{
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t d = H5Dcreate2(loc, path, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Pclose(lcpl);
  dm_status s =
      dm_agree(d < 0 ? dm_error(DM_ERR_HDF5, "cannot create dataset %s", path) : DM_OK, comm);
  if (s != DM_OK && d >= 0)
    H5Dclose(d);
  *out = s == DM_OK ? d : H5I_INVALID_HID;
  return s;
}

dm_status dm_h5_array_write(hid_t loc, const char *path, hid_t type, int ndims,
                            const int64_t *dims, const void *buf, MPI_Comm comm)
{
  if (ndims < 1 || ndims > 4)
    return dm_error(DM_ERR_INTERNAL, "array %s: rank %d not supported", path, ndims);
  hsize_t hd[4];
  for (int i = 0; i < ndims; i++)
    hd[i] = (hsize_t)dims[i];
  hid_t space = H5Screate_simple(ndims, hd, NULL);
  hid_t d = H5I_INVALID_HID;
  dm_status cs = create_array(loc, path, type, space, comm, &d);
  if (cs != DM_OK) {
    H5Sclose(space);
    return cs;
  }
  hsize_t total = 1;
  for (int i = 0; i < ndims; i++)
    total *= hd[i];
  /* An empty array has no data to write, and H5Dwrite rejects a zero-sized
   * extent; total is the same on every rank, so all skip together. */
  if (total == 0) {
    H5Sclose(space);
    H5Dclose(d);
    return DM_OK;
  }
  hid_t mspace = H5Scopy(space);
  if (dm_rank(comm) != 0) {
    H5Sselect_none(space);
    H5Sselect_none(mspace);
  }
  hid_t dxpl = dxpl_for(d);
  static const char dummy[16];
  herr_t e = H5Dwrite(d, type, mspace, space, dxpl, buf ? buf : dummy);
  H5Pclose(dxpl);
  H5Sclose(mspace);
  H5Sclose(space);
  H5Dclose(d);
  dm_status st = e < 0 ? dm_error(DM_ERR_IO, "writing dataset %s failed", path) : written(loc);
  /* Only rank 0 transfers data, so only rank 0 learns of a refused write:
   * agreed here, or the next collective call would find rank 0 missing. */
  return dm_agree(st, comm);
}

dm_status dm_h5_array_write_rows(hid_t loc, const char *path, hid_t type, const int64_t *dims,
                                 int64_t block, dm_h5_rows_fill fill, void *ctx, MPI_Comm comm)
{
  int writer = dm_rank(comm) == 0;
  hsize_t hd[2] = {(hsize_t)dims[0], (hsize_t)dims[1]};
  if (block < 1)
    block = 1;
  int64_t nb0 = dims[0] < block ? dims[0] : block;
  void *buf = writer ? malloc((size_t)(nb0 > 0 ? nb0 : 1) * (size_t)(dims[1] > 0 ? dims[1] : 1) *
                              H5Tget_size(type))
                     : NULL;
  DM_FORWARD_AGREED(buf || !writer ? DM_OK
                                   : dm_error(DM_ERR_NOMEM, "no memory for rows of dataset %s",
                                              path),
                    comm);
  hid_t space = H5Screate_simple(2, hd, NULL);
  hid_t d = H5I_INVALID_HID;
  dm_status cs = create_array(loc, path, type, space, comm, &d);
  if (cs != DM_OK) {
    H5Sclose(space);
    free(buf);
    return cs;
  }
  hid_t dxpl = dxpl_for(d);
  herr_t e = 0;
  /* Every rank takes part in each write (collective transfer on an MPI-IO
   * file); an empty array writes nothing, as with dm_h5_array_write. */
  for (int64_t j0 = 0; dims[1] > 0 && j0 < dims[0]; j0 += block) {
    int64_t nb = dims[0] - j0 < block ? dims[0] - j0 : block;
    hsize_t off[2] = {(hsize_t)j0, 0}, cnt[2] = {(hsize_t)nb, hd[1]};
    hid_t mspace = H5Screate_simple(2, cnt, NULL);
    if (writer) {
      fill(ctx, j0, nb, buf);
      if (H5Sselect_hyperslab(space, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0)
        e = -1;
    } else {
      H5Sselect_none(space);
      H5Sselect_none(mspace);
    }
    static const char dummy[16];
    if (H5Dwrite(d, type, mspace, space, dxpl, buf ? buf : dummy) < 0)
      e = -1;
    H5Sclose(mspace);
  }
  H5Pclose(dxpl);
  H5Sclose(space);
  H5Dclose(d);
  free(buf);
  dm_status st = e < 0 ? dm_error(DM_ERR_IO, "writing dataset %s failed", path) : written(loc);
  return dm_agree(st, comm);
}

/* Shape of an open dataset of rank <= 4 (-1 when unreadable or larger). */
static int array_shape(hid_t d, hsize_t hd[4])
{
  hid_t space = H5Dget_space(d);
  int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  if (nd >= 0 && nd <= 4 && H5Sget_simple_extent_dims(space, hd, NULL) < 0)
    nd = -1;
  if (space >= 0)
    H5Sclose(space);
  return nd > 4 ? -1 : nd;
}

dm_status dm_h5_array_dims(hid_t loc, const char *path, int *ndims, int64_t *dims)
{
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0)
    return dm_error(DM_ERR_SCHEMA, "dataset %s is missing", path);
  hsize_t hd[4] = {0};
  int nd = array_shape(d, hd);
  H5Dclose(d);
  if (nd < 0)
    return dm_error(DM_ERR_SCHEMA, "dataset %s has an unreadable shape or rank above 4", path);
  for (int i = 0; i < nd; i++)
    dims[i] = (int64_t)hd[i];
  *ndims = nd;
  return DM_OK;
}

dm_status dm_h5_array_read_rows(hid_t loc, const char *path, hid_t mem_type, int64_t begin,
                                int64_t n, void *buf)
{
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0)
    return dm_error(DM_ERR_SCHEMA, "dataset %s is missing", path);
  hsize_t hd[4] = {0}, off[4] = {0}, cnt[4] = {0};
  int nd = array_shape(d, hd);
  int ok = nd >= 1 && begin >= 0 && n >= 0 && (hsize_t)(begin + n) <= hd[0];
  hid_t fspace = H5Dget_space(d), mspace = H5I_INVALID_HID;
  if (ok) {
    for (int i = 0; i < nd; i++)
      cnt[i] = hd[i];
    off[0] = (hsize_t)begin;
    cnt[0] = (hsize_t)n;
    mspace = H5Screate_simple(nd, cnt, NULL);
    /* An empty share still takes part in the collective read. */
    ok = fspace >= 0 && mspace >= 0 &&
         (n > 0 ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0
                : H5Sselect_none(fspace) >= 0 && H5Sselect_none(mspace) >= 0);
  }
  if (!ok && fspace >= 0) {
    /* Still take part in the collective read, with nothing selected. */
    H5Sselect_none(fspace);
    if (mspace < 0) {
      hsize_t one = 1;
      mspace = H5Screate_simple(1, &one, NULL);
    }
    H5Sselect_none(mspace);
  }
  hid_t dxpl = dxpl_for(d);
  static char dummy[16];
  herr_t e = H5Dread(d, mem_type, mspace, fspace, dxpl, ok && n > 0 ? buf : dummy);
  H5Pclose(dxpl);
  if (mspace >= 0)
    H5Sclose(mspace);
  if (fspace >= 0)
    H5Sclose(fspace);
  H5Dclose(d);
  if (!ok)
    return dm_error(DM_ERR_SCHEMA, "dataset %s: cannot select rows %lld..%lld (it has %lld)", path,
                    (long long)begin, (long long)(begin + n), (long long)(nd >= 1 ? hd[0] : 0));
  if (e < 0)
    return dm_error(DM_ERR_HDF5, "reading rows %lld..%lld of dataset %s failed", (long long)begin,
                    (long long)(begin + n), path);
  return DM_OK;
}

dm_status dm_h5_array_read(hid_t loc, const char *path, hid_t mem_type, int *ndims,
                           int64_t *dims, int64_t *count, void **buf)
{
  *buf = NULL;
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0)
    return dm_error(DM_ERR_SCHEMA, "dataset %s is missing", path);
  hsize_t hd[4] = {0};
  int nd = array_shape(d, hd);
  if (nd < 0) {
    H5Dclose(d);
    return dm_error(DM_ERR_SCHEMA, "dataset %s has rank %d", path, nd);
  }
  int64_t total = 1;
  for (int i = 0; i < nd; i++) {
    dims[i] = (int64_t)hd[i];
    total *= dims[i];
  }
  *ndims = nd;
  *count = total;
  size_t sz = H5Tget_size(mem_type);
  void *b = malloc(total > 0 ? (size_t)total * sz : 1);
  if (!b) {
    H5Dclose(d);
    return dm_error(DM_ERR_NOMEM, "no memory to read %s", path);
  }
  hid_t dxpl = dxpl_for(d);
  /* Nothing to read from an empty array (never written, see array_write). */
  herr_t e = total > 0 ? H5Dread(d, mem_type, H5S_ALL, H5S_ALL, dxpl, b) : 0;
  H5Pclose(dxpl);
  H5Dclose(d);
  if (e < 0) {
    free(b);
    return dm_error(DM_ERR_HDF5, "reading dataset %s failed", path);
  }
  *buf = b;
  return DM_OK;
}

dm_status dm_h5_strings_write(hid_t loc, const char *path, const char *const *strs, int64_t n,
                              MPI_Comm comm)
{
  size_t width = 1;
  for (int64_t i = 0; i < n; i++) {
    size_t l = strlen(strs[i]);
    if (l > width)
      width = l;
  }
  char *block = calloc(n > 0 ? (size_t)n : 1, width);
  if (!block)
    return dm_error(DM_ERR_NOMEM, "no memory for %s", path);
  for (int64_t i = 0; i < n; i++)
    memcpy(block + (size_t)i * width, strs[i], strlen(strs[i]));
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, width);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  H5Tset_cset(t, H5T_CSET_UTF8);
  int64_t dims[1] = {n};
  dm_status s = dm_h5_array_write(loc, path, t, 1, dims, block, comm);
  H5Tclose(t);
  free(block);
  return s;
}

dm_status dm_h5_strings_read(hid_t loc, const char *path, char ***strs, int64_t *n)
{
  *strs = NULL;
  *n = 0;
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0)
    return dm_error(DM_ERR_SCHEMA, "dataset %s is missing", path);
  hid_t ft = H5Dget_type(d);
  if (H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0) {
    H5Tclose(ft);
    H5Dclose(d);
    return dm_error(DM_ERR_SCHEMA, "dataset %s is not a fixed-width string table", path);
  }
  size_t width = H5Tget_size(ft);
  /* HDF5 refuses to convert between character sets: read in the file's. */
  H5T_cset_t cset = H5Tget_cset(ft);
  H5Tclose(ft);
  H5Dclose(d);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, width);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  H5Tset_cset(t, cset);
  int nd = 0;
  int64_t dims[4], count = 0;
  void *raw = NULL;
  dm_status s = dm_h5_array_read(loc, path, t, &nd, dims, &count, &raw);
  H5Tclose(t);
  if (s != DM_OK)
    return s;
  char **out = malloc((size_t)count * sizeof(char *) + (size_t)count * (width + 1) + 1);
  if (!out) {
    free(raw);
    return dm_error(DM_ERR_NOMEM, "no memory for %s", path);
  }
  char *text = (char *)(out + count);
  for (int64_t i = 0; i < count; i++) {
    out[i] = text + (size_t)i * (width + 1);
    memcpy(out[i], (char *)raw + (size_t)i * width, width);
    out[i][width] = '\0';
  }
  free(raw);
  *strs = out;
  *n = count;
  return DM_OK;
}

/* ---- attributes ------------------------------------------------------------ */

static dm_status attr_write(hid_t obj, const char *name, hid_t type, hid_t space, const void *v)
{
  if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0)
    return dm_error(DM_ERR_HDF5, "cannot replace attribute %s", name);
  hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0)
    return dm_error(DM_ERR_HDF5, "cannot create attribute %s", name);
  herr_t e = H5Awrite(a, type, v);
  H5Aclose(a);
  if (e < 0)
    return dm_error(DM_ERR_HDF5, "cannot write attribute %s", name);
  return DM_OK;
}

dm_status dm_h5_attr_set_str(hid_t obj, const char *name, const char *value)
{
  hid_t t = H5Tcopy(H5T_C_S1);
  size_t len = strlen(value);
  H5Tset_size(t, len > 0 ? len : 1);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  H5Tset_cset(t, H5T_CSET_UTF8);
  hid_t sp = H5Screate(H5S_SCALAR);
  dm_status s = attr_write(obj, name, t, sp, len > 0 ? value : "");
  H5Sclose(sp);
  H5Tclose(t);
  return s;
}

dm_status dm_h5_attr_set_i64(hid_t obj, const char *name, int64_t value)
{
  hid_t sp = H5Screate(H5S_SCALAR);
  dm_status s = attr_write(obj, name, H5T_NATIVE_INT64, sp, &value);
  H5Sclose(sp);
  return s;
}

dm_status dm_h5_attr_set_f64(hid_t obj, const char *name, double value)
{
  hid_t sp = H5Screate(H5S_SCALAR);
  dm_status s = attr_write(obj, name, H5T_NATIVE_DOUBLE, sp, &value);
  H5Sclose(sp);
  return s;
}

dm_status dm_h5_attr_set_f64_array(hid_t obj, const char *name, const double *v, int n)
{
  hsize_t d = (hsize_t)n;
  hid_t sp = H5Screate_simple(1, &d, NULL);
  dm_status s = attr_write(obj, name, H5T_NATIVE_DOUBLE, sp, v);
  H5Sclose(sp);
  return s;
}

dm_status dm_h5_attr_set_str_at(hid_t loc, const char *path, const char *name, const char *value)
{
  hid_t o = H5Oopen(loc, path, H5P_DEFAULT);
  if (o < 0)
    return dm_error(DM_ERR_SCHEMA, "object %s is missing", path);
  dm_status s = dm_h5_attr_set_str(o, name, value);
  H5Oclose(o);
  return s;
}

dm_status dm_h5_attr_get_str(hid_t obj, const char *name, char *buf, size_t cap)
{
  if (H5Aexists(obj, name) <= 0)
    return dm_error(DM_ERR_SCHEMA, "attribute %s is missing", name);
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t ft = H5Aget_type(a);
  dm_status s = DM_OK;
  if (H5Tget_class(ft) != H5T_STRING) {
    s = dm_error(DM_ERR_SCHEMA, "attribute %s is not a string", name);
  } else if (H5Tis_variable_str(ft) > 0) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ft));
    char *v = NULL;
    if (H5Aread(a, mt, &v) < 0 || !v) {
      s = dm_error(DM_ERR_HDF5, "cannot read attribute %s", name);
    } else {
      snprintf(buf, cap, "%s", v);
      H5free_memory(v);
    }
    H5Tclose(mt);
  } else {
    size_t len = H5Tget_size(ft);
    char *tmp = calloc(1, len + 1);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, len);
    H5Tset_strpad(mt, H5T_STR_NULLPAD);
    H5Tset_cset(mt, H5Tget_cset(ft));
    if (!tmp || H5Aread(a, mt, tmp) < 0)
      s = dm_error(DM_ERR_HDF5, "cannot read attribute %s", name);
    else
      snprintf(buf, cap, "%s", tmp);
    H5Tclose(mt);
    free(tmp);
  }
  H5Tclose(ft);
  H5Aclose(a);
  return s;
}

static dm_status attr_read_num(hid_t obj, const char *name, hid_t mt, void *v)
{
  if (H5Aexists(obj, name) <= 0)
    return dm_error(DM_ERR_SCHEMA, "attribute %s is missing", name);
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  herr_t e = H5Aread(a, mt, v);
  H5Aclose(a);
  if (e < 0)
    return dm_error(DM_ERR_SCHEMA, "cannot read attribute %s as a number", name);
  return DM_OK;
}

dm_status dm_h5_attr_get_i64(hid_t obj, const char *name, int64_t *value)
{
  return attr_read_num(obj, name, H5T_NATIVE_INT64, value);
}

dm_status dm_h5_attr_get_f64(hid_t obj, const char *name, double *value)
{
  return attr_read_num(obj, name, H5T_NATIVE_DOUBLE, value);
}
