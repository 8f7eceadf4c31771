/* The metadata-keeper's HDF5 file driver (dm_h5_vfd.h). */
#include "dm_h5_vfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VFD_MAGIC 0x646d7666u /* tells our file struct from another driver's */
#define VFD_MAXADDR (((haddr_t)1 << (8 * sizeof(off_t) - 1)) - 1)

typedef struct {
  H5FD_t pub; /* must come first: HDF5 fills it in */
  unsigned magic;
  int fd;
  haddr_t eoa, eof;
  dev_t dev;
  ino_t ino;
  int discard_raw;
  dm_h5_vfd_raw raw; /* the last raw-data write dropped while discarding */
  int failed;
  int *errp; /* where the first failed write's errno goes (the caller's) */
} vfd_file;

/* A failed write or truncation is recorded, and every later write of the
 * file is dropped while HDF5 is told it succeeded. Why: when the metadata
 * flush at H5Fclose fails, HDF5 1.10 leaves a half-destroyed file behind its
 * identifier, and its clean-up at MPI_Finalize then crashes on it (SIGSEGV in
 * H5F__close_cb on a full disk). A failed file is removed anyway, so its
 * remaining bytes do not matter; the caller learns of the failure from *errp. */
static void vfd_fail(vfd_file *f, int err)
{
  if (f->errp && *f->errp == 0)
    *f->errp = err ? err : EIO;
  f->failed = 1;
}

static H5FD_t *vfd_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr)
{
  if (!name || !*name || maxaddr == 0 || maxaddr > VFD_MAXADDR)
    return NULL;
  int o = (flags & H5F_ACC_RDWR) ? O_RDWR : O_RDONLY;
  /* No O_TRUNC: truncating sets ext4's write-back-at-close mark even on an
   * empty file (see dm_h5_tmp_create); a file with bytes is cut below. */
  if (flags & H5F_ACC_CREAT)
    o |= O_CREAT;
  if (flags & H5F_ACC_EXCL)
    o |= O_EXCL;
  int fd = open(name, o, 0666);
  if (fd < 0)
    return NULL;
  struct stat st;
  vfd_file *f = calloc(1, sizeof *f);
  if (!f || fstat(fd, &st) != 0) {
    free(f);
    close(fd);
    return NULL;
  }
  if ((flags & H5F_ACC_TRUNC) && st.st_size > 0) {
    if (ftruncate(fd, 0) != 0) {
      free(f);
      close(fd);
      return NULL;
    }
    st.st_size = 0;
  }
  f->magic = VFD_MAGIC;
  f->fd = fd;
  int *const *info = H5Pget_driver_info(fapl);
  f->errp = info ? *info : NULL;
  f->eof = (haddr_t)st.st_size;
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  return &f->pub;
}

static herr_t vfd_close(H5FD_t *file)
{
  vfd_file *f = (vfd_file *)file;
  int e = close(f->fd);
  free(f);
  return e == 0 ? 0 : -1;
}

static int vfd_cmp(const H5FD_t *a, const H5FD_t *b)
{
  const vfd_file *x = (const vfd_file *)a, *y = (const vfd_file *)b;
  if (x->dev != y->dev)
    return x->dev < y->dev ? -1 : 1;
  if (x->ino != y->ino)
    return x->ino < y->ino ? -1 : 1;
  return 0;
}

static herr_t vfd_query(const H5FD_t *file, unsigned long *flags)
{
  (void)file;
  /* Allocation aggregation only: no accumulator and no sieve buffer, which
   * could hold a stale copy of bytes that another process writes. */
  *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_AGGREGATE_SMALLDATA;
  return 0;
}

static haddr_t vfd_get_eoa(const H5FD_t *file, H5FD_mem_t type)
{
  (void)type;
  return ((const vfd_file *)file)->eoa;
}

static herr_t vfd_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t addr)
{
  (void)type;
  ((vfd_file *)file)->eoa = addr;
  return 0;
}

static haddr_t vfd_get_eof(const H5FD_t *file, H5FD_mem_t type)
{
  (void)type;
  return ((const vfd_file *)file)->eof;
}

static herr_t vfd_get_handle(H5FD_t *file, hid_t fapl, void **handle)
{
  (void)fapl;
  *handle = file;
  return 0;
}

static herr_t vfd_read(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                       void *buf)
{
  (void)type;
  (void)dxpl;
  vfd_file *f = (vfd_file *)file;
  char *p = buf;
  while (size > 0) {
    ssize_t n = pread(f->fd, p, size, (off_t)addr);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0) { /* past the end of the file: HDF5 expects zeros */
      memset(p, 0, size);
      break;
    }
    p += n;
    addr += (haddr_t)n;
    size -= (size_t)n;
  }
  return 0;
}

static herr_t vfd_write(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                        const void *buf)
{
  (void)dxpl;
  vfd_file *f = (vfd_file *)file;
  haddr_t end = addr + size;
  if (f->discard_raw && type == H5FD_MEM_DRAW) {
    f->raw.addr = (uint64_t)addr;
    f->raw.size = (uint64_t)size;
    f->raw.count++;
  } else if (!f->failed) {
    const char *p = buf;
    while (size > 0) {
      ssize_t n = pwrite(f->fd, p, size, (off_t)addr);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        vfd_fail(f, n < 0 ? errno : ENOSPC);
        break;
      }
      p += n;
      addr += (haddr_t)n;
      size -= (size_t)n;
    }
  }
  if (end > f->eof)
    f->eof = end;
  return 0;
}

static herr_t vfd_truncate(H5FD_t *file, hid_t dxpl, hbool_t closing)
{
  (void)dxpl;
  (void)closing;
  vfd_file *f = (vfd_file *)file;
  /* The real size, not f->eof: other processes wrote chunk data. Every
   * allocated byte lies below the EOA, so the file ends exactly there. */
  struct stat st;
  if (!f->failed && fstat(f->fd, &st) != 0)
    vfd_fail(f, errno);
  if (!f->failed && (haddr_t)st.st_size != f->eoa && ftruncate(f->fd, (off_t)f->eoa) != 0)
    vfd_fail(f, errno);
  f->eof = f->eoa;
  return 0;
}

static const H5FD_class_t vfd_class = {
    "dmpipe-metadata",
    VFD_MAXADDR,
    H5F_CLOSE_WEAK,
    NULL, /* terminate */
    NULL, /* sb_size: no driver info block, so any driver reads the file */
    NULL,
    NULL,
    sizeof(int *), /* fapl_size: the driver info is the caller's errno slot */
    NULL,
    NULL,
    NULL,
    0, /* dxpl_size */
    NULL,
    NULL,
    vfd_open,
    vfd_close,
    vfd_cmp,
    vfd_query,
    NULL, /* get_type_map */
    NULL, /* alloc */
    NULL, /* free */
    vfd_get_eoa,
    vfd_set_eoa,
    vfd_get_eof,
    vfd_get_handle,
    vfd_read,
    vfd_write,
    NULL, /* flush: writes go straight to the descriptor */
    vfd_truncate,
    NULL, /* lock */
    NULL, /* unlock */
    H5FD_FLMAP_DICHOTOMY,
};

static hid_t vfd_id = H5I_INVALID_HID;

hid_t dm_h5_vfd_fapl(int *err)
{
  if (vfd_id < 0 || H5Iis_valid(vfd_id) <= 0)
    vfd_id = H5FDregister(&vfd_class);
  hid_t id = vfd_id;
  if (id < 0)
    return H5I_INVALID_HID;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0)
    return fapl;
  if (H5Pset_driver(fapl, id, &err) < 0) {
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
  return fapl;
}

static vfd_file *ours(hid_t file)
{
  hid_t fapl = H5Fget_access_plist(file);
  int mine = fapl >= 0 && vfd_id >= 0 && H5Pget_driver(fapl) == vfd_id;
  if (fapl >= 0)
    H5Pclose(fapl);
  void *h = NULL;
  if (!mine || H5Fget_vfd_handle(file, H5P_DEFAULT, &h) < 0 || !h ||
      ((vfd_file *)h)->magic != VFD_MAGIC)
    return NULL;
  return h;
}

const dm_h5_vfd_raw *dm_h5_vfd_raw_record(hid_t file)
{
  vfd_file *f = ours(file);
  return f ? &f->raw : NULL;
}

dm_status dm_h5_vfd_discard_raw(hid_t file, int discard)
{
  vfd_file *f = ours(file);
  if (!f)
    return dm_error(DM_ERR_HDF5, "file is not open with the metadata driver");
  f->discard_raw = discard;
  return DM_OK;
}
