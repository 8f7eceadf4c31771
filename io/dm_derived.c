#include "dm_derived.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_h5.h"

#define DERIVED_FORMAT "dmpipe-derived"
#define DERIVED_VERSION 1
/* Events each rank copies per round when carrying columns over: bounds
 * memory to a few MB per rank whatever the store's size. */
#define COPY_BATCH ((int64_t)1 << 18)

dm_status dm_derived_sidecar_path(const char *store_path, char *out, size_t cap)
{
  size_t n = strlen(store_path);
  int w;
  if (n > 3 && !strcmp(store_path + n - 3, ".h5"))
    w = snprintf(out, cap, "%.*s.derived.h5", (int)(n - 3), store_path);
  else
    w = snprintf(out, cap, "%s.derived.h5", store_path);
  if (w < 0 || (size_t)w >= cap)
    return dm_error(DM_ERR_ARG, "path too long: %s", store_path);
  return DM_OK;
}

dm_status dm_derived_store_key(hid_t store_file, char *out, size_t cap)
{
  char created[128] = "";
  if (H5Aexists(store_file, "derived_key") > 0)
    return dm_h5_attr_get_str(store_file, "derived_key", out, cap);
  if (H5Aexists(store_file, "created") > 0)
    DM_FORWARD(dm_h5_attr_get_str(store_file, "created", created, sizeof created));
  int64_t n = 0;
  DM_FORWARD(dm_h5_col_length(store_file, "/events/event_id", &n));
  if ((size_t)snprintf(out, cap, "created=%s events=%lld", created, (long long)n) >= cap)
    return dm_error(DM_ERR_INTERNAL, "store key too long");
  return DM_OK;
}

dm_status dm_derived_link(hid_t store_file, const char *store_final_path)
{
  char side[DM_PATH_MAX];
  DM_FORWARD(dm_derived_sidecar_path(store_final_path, side, sizeof side));
  const char *base = strrchr(side, '/');
  base = base ? base + 1 : side;
  if (H5Lexists(store_file, "derived", H5P_DEFAULT) > 0)
    return dm_error(DM_ERR_SCHEMA, "%s already has a /derived entry", store_final_path);
  if (H5Lcreate_external(base, "/derived", store_file, "derived", H5P_DEFAULT, H5P_DEFAULT) < 0)
    return dm_error(DM_ERR_HDF5, "cannot create the link /derived -> %s", base);
  return DM_OK;
}

/* ---- reading ---------------------------------------------------------------- */

struct dm_derived {
  MPI_Comm comm;
  hid_t file;
  char path[DM_PATH_MAX];
  int64_t n_events;
  int n;
  char names[DM_DERIVED_MAX_COLUMNS][DM_DERIVED_NAME_MAX];
  hid_t dset[DM_DERIVED_MAX_COLUMNS];
  hid_t native[DM_DERIVED_MAX_COLUMNS];
};

typedef struct {
  dm_derived *d;
  dm_status s;
} list_ctx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *arg)
{
  list_ctx *c = arg;
  dm_derived *d = c->d;
  if (d->n >= DM_DERIVED_MAX_COLUMNS) {
    c->s = dm_error(DM_ERR_SCHEMA, "%s: more than %d derived columns", d->path,
                    DM_DERIVED_MAX_COLUMNS);
    return -1;
  }
  if (strlen(name) >= DM_DERIVED_NAME_MAX) {
    c->s = dm_error(DM_ERR_SCHEMA, "%s: column name too long: %s", d->path, name);
    return -1;
  }
  strcpy(d->names[d->n], name);
  d->dset[d->n] = H5I_INVALID_HID;
  d->native[d->n] = H5I_INVALID_HID;
  d->n++;
  return 0;
}

static void reader_release(dm_derived *d)
{
  for (int i = 0; i < d->n; i++) {
    if (d->dset[i] >= 0)
      H5Dclose(d->dset[i]);
    if (d->native[i] >= 0)
      H5Tclose(d->native[i]);
  }
  d->n = 0;
}

dm_status dm_derived_open(const char *store_path, hid_t store_file, int64_t n_events,
                          MPI_Comm comm, dm_derived **out)
{
  *out = NULL;
  dm_derived *d = calloc(1, sizeof *d);
  if (!d)
    return dm_error(DM_ERR_NOMEM, "no memory");
  d->comm = comm;
  d->file = H5I_INVALID_HID;
  d->n_events = n_events;
  dm_status s = dm_derived_sidecar_path(store_path, d->path, sizeof d->path);
  char want[256] = "";
  if (s == DM_OK)
    s = dm_derived_store_key(store_file, want, sizeof want);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    free(d);
    return s;
  }
  int exists = dm_rank(comm) == 0 ? access(d->path, F_OK) == 0 : 0;
  MPI_Bcast(&exists, 1, MPI_INT, 0, comm);
  if (!exists) {
    *out = d;
    return DM_OK;
  }
  s = dm_h5_open(d->path, comm, 0, &d->file);
  if (s != DM_OK) {
    free(d);
    return s;
  }
  char have[256] = "";
  int valid = H5Aexists(d->file, "store_key") > 0 &&
              dm_h5_attr_get_str(d->file, "store_key", have, sizeof have) == DM_OK &&
              !strcmp(have, want) && H5Lexists(d->file, "derived", H5P_DEFAULT) > 0;
  /* Metadata reads are collective, so every rank sees the same answer; the
   * agreement only guards against a file changing underneath. */
  valid = dm_alltrue(valid, comm);
  if (valid) {
    list_ctx c = {d, DM_OK};
    hid_t g = H5Gopen2(d->file, "derived", H5P_DEFAULT);
    hsize_t idx = 0;
    if (g < 0 || H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, list_cb, &c) < 0) {
      /* Creation order is tracked by our writer; fall back to names. */
      reader_release(d);
      idx = 0;
      c.s = DM_OK;
      if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &c) < 0)
        s = c.s != DM_OK ? c.s : dm_error(DM_ERR_HDF5, "%s: cannot list /derived", d->path);
    }
    for (int i = 0; s == DM_OK && i < d->n; i++) {
      char p[DM_DERIVED_NAME_MAX + 16];
      snprintf(p, sizeof p, "/derived/%s", d->names[i]);
      int64_t len = -1;
      s = dm_h5_col_length(d->file, p, &len);
      if (s == DM_OK && len != n_events)
        s = dm_error(DM_ERR_SCHEMA, "%s: %s has %lld values, the store has %lld events", d->path,
                     p, (long long)len, (long long)n_events);
      if (s == DM_OK) {
        d->dset[i] = H5Dopen2(d->file, p, H5P_DEFAULT);
        hid_t ft = d->dset[i] >= 0 ? H5Dget_type(d->dset[i]) : H5I_INVALID_HID;
        d->native[i] = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_ASCEND) : H5I_INVALID_HID;
        H5T_class_t cls = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
        if (ft >= 0)
          H5Tclose(ft);
        if (d->native[i] < 0)
          s = dm_error(DM_ERR_HDF5, "%s: cannot open %s", d->path, p);
        else if (cls != H5T_INTEGER && cls != H5T_FLOAT)
          s = dm_error(DM_ERR_SCHEMA, "%s: %s is not numeric", d->path, p);
      }
    }
    if (g >= 0)
      H5Gclose(g);
  }
  s = dm_agree(s, comm);
  if (s != DM_OK || !valid) {
    reader_release(d);
    dm_h5_close(d->file);
    d->file = H5I_INVALID_HID;
    if (s != DM_OK) {
      free(d);
      return s;
    }
  }
  *out = d;
  return DM_OK;
}

dm_status dm_derived_close(dm_derived *d)
{
  if (!d)
    return DM_OK;
  reader_release(d);
  dm_status s = dm_h5_close(d->file);
  free(d);
  return s;
}

int dm_derived_count(const dm_derived *d) { return d ? d->n : 0; }
const char *dm_derived_name(const dm_derived *d, int i) { return d->names[i]; }
hid_t dm_derived_file(const dm_derived *d) { return d ? d->file : H5I_INVALID_HID; }
hid_t dm_derived_native_type(const dm_derived *d, int i) { return d->native[i]; }

static int find_col(const dm_derived *d, const char *name)
{
  for (int i = 0; d && i < d->n; i++)
    if (!strcmp(d->names[i], name))
      return i;
  return -1;
}

int dm_derived_has(const dm_derived *d, const char *name) { return find_col(d, name) >= 0; }

static dm_status check_range(const dm_derived *d, const char *name, int64_t begin, int64_t count)
{
  if (begin < 0 || count < 0 || begin + count > d->n_events)
    return dm_error(DM_ERR_INTERNAL, "%s: range [%lld, %lld) outside %lld events", name,
                    (long long)begin, (long long)(begin + count), (long long)d->n_events);
  return DM_OK;
}

dm_status dm_derived_read(dm_derived *d, const char *name, int64_t begin, int64_t count,
                          double *out)
{
  int i = find_col(d, name);
  if (i < 0)
    return dm_error(DM_ERR_UNKNOWN, "derived column '%s' is missing (%s)", name, d->path);
  DM_FORWARD(check_range(d, name, begin, count));
  dm_status s = dm_h5_dset_read(d->dset[i], H5T_NATIVE_DOUBLE, begin, count, out);
  if (s != DM_OK)
    dm_error_context("%s:/derived/%s", d->path, name);
  return s;
}

dm_status dm_derived_read_raw(dm_derived *d, int i, int64_t begin, int64_t count, void *buf)
{
  DM_FORWARD(check_range(d, d->names[i], begin, count));
  dm_status s = dm_h5_dset_read(d->dset[i], d->native[i], begin, count, buf);
  if (s != DM_OK)
    dm_error_context("%s:/derived/%s", d->path, d->names[i]);
  return s;
}

/* ---- writing ---------------------------------------------------------------- */

struct dm_derived_writer {
  dm_h5_out out;
  hid_t group;
  int64_t n_events;
  dm_derived *keep;
  int n;
  char names[DM_DERIVED_MAX_COLUMNS][DM_DERIVED_NAME_MAX];
  hid_t dset[DM_DERIVED_MAX_COLUMNS];
  dm_status failed; /* first local failure, reported at finish */
};

static dm_status add_column(dm_derived_writer *w, const char *name, hid_t type, int *col)
{
  for (int i = 0; i < w->n; i++)
    if (!strcmp(w->names[i], name))
      return dm_error(DM_ERR_ARG, "derived column '%s' added twice", name);
  if (w->n >= DM_DERIVED_MAX_COLUMNS || strlen(name) >= DM_DERIVED_NAME_MAX || !*name ||
      strchr(name, '/'))
    return dm_error(DM_ERR_ARG, "bad or one too many derived column name '%s'", name);
  /* Chunks of 64 Ki values: big enough for zstd to work well, small enough
   * that a rank's share of a small store still spans whole chunks. */
  dm_h5_layout lay = {.zstd_level = 3, .chunk = 65536};
  hid_t d;
  DM_FORWARD(dm_h5_col_create(w->group, name, type, &lay, &d));
  strcpy(w->names[w->n], name);
  w->dset[w->n] = d;
  *col = w->n++;
  return DM_OK;
}

dm_status dm_derived_writer_create(const char *store_path, const char *store_key, int64_t n_events,
                                   dm_derived *keep, MPI_Comm comm, dm_derived_writer **out)
{
  *out = NULL;
  dm_derived_writer *w = calloc(1, sizeof *w);
  if (!w)
    return dm_error(DM_ERR_NOMEM, "no memory");
  w->group = H5I_INVALID_HID;
  w->n_events = n_events;
  w->keep = keep;
  char side[DM_PATH_MAX];
  dm_status s = dm_derived_sidecar_path(store_path, side, sizeof side);
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = dm_h5_out_create(&w->out, side, comm);
  if (s != DM_OK) {
    free(w);
    return s;
  }
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  w->group = H5Gcreate2(w->out.file, "derived", H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  s = w->group < 0 ? dm_error(DM_ERR_HDF5, "cannot create /derived in %s", w->out.tmp_path)
                   : DM_OK;
  if (s == DM_OK)
    s = dm_h5_attr_set_str(w->out.file, "format", DERIVED_FORMAT);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(w->out.file, "format_version", DERIVED_VERSION);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(w->out.file, "store_key", store_key);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    if (w->group >= 0)
      H5Gclose(w->group);
    dm_h5_out_finish(&w->out, s);
    free(w);
    return s;
  }
  *out = w;
  return DM_OK;
}

dm_status dm_derived_writer_add(dm_derived_writer *w, const char *name, hid_t type, int *col)
{
  *col = -1;
  dm_status s = add_column(w, name, type, col);
  return dm_agree(s, w->out.comm);
}

dm_status dm_derived_writer_append(dm_derived_writer *w, int col, hid_t mem_type, const void *buf,
                                   int64_t n)
{
  if (col < 0 || col >= w->n)
    return dm_error(DM_ERR_INTERNAL, "bad derived column index %d", col);
  dm_status s = dm_h5_col_append(w->dset[col], mem_type, buf, n, w->out.comm, NULL);
  if (s != DM_OK)
    dm_error_context("%s:/derived/%s", w->out.tmp_path, w->names[col]);
  return s;
}

dm_status dm_derived_writer_attr_str(dm_derived_writer *w, int col, const char *key,
                                     const char *value)
{
  return dm_h5_attr_set_str(w->dset[col], key, value);
}

dm_status dm_derived_writer_attr_f64(dm_derived_writer *w, int col, const char *key, double value)
{
  return dm_h5_attr_set_f64(w->dset[col], key, value);
}

/* Attributes of a kept column, copied byte for byte with their own type
 * (numbers and fixed-length strings; variable-length ones are skipped since
 * they cannot be written through MPI-IO). */
static herr_t copy_attr_cb(hid_t src, const char *name, const H5A_info_t *info, void *arg)
{
  hid_t dst = *(hid_t *)arg;
  hid_t a = H5Aopen(src, name, H5P_DEFAULT);
  if (a < 0)
    return -1;
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  herr_t rc = 0;
  if (H5Tis_variable_str(t) <= 0 && H5Tdetect_class(t, H5T_VLEN) <= 0) {
    size_t sz = H5Tget_size(t) * (size_t)(H5Sget_simple_extent_npoints(sp) > 0
                                              ? H5Sget_simple_extent_npoints(sp)
                                              : 1);
    void *buf = calloc(1, sz ? sz : 1);
    hid_t b = -1;
    if (!buf || H5Aread(a, t, buf) < 0 ||
        (b = H5Acreate2(dst, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 || H5Awrite(b, t, buf) < 0)
      rc = -1;
    if (b >= 0)
      H5Aclose(b);
    free(buf);
  }
  H5Tclose(t);
  H5Sclose(sp);
  H5Aclose(a);
  return rc;
}

dm_status dm_derived_writer_add_like(dm_derived_writer *w, dm_derived *d, int i, int *col)
{
  hid_t ft = H5Dget_type(d->dset[i]);
  dm_status s = add_column(w, d->names[i], ft, col);
  H5Tclose(ft);
  s = dm_agree(s, w->out.comm);
  if (s != DM_OK)
    return s;
  hid_t dst = w->dset[*col];
  if (H5Aiterate2(d->dset[i], H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr_cb, &dst) < 0)
    s = dm_error(DM_ERR_HDF5, "cannot copy the attributes of /derived/%s", d->names[i]);
  return dm_agree(s, w->out.comm);
}

static dm_status copy_kept(dm_derived_writer *w)
{
  dm_derived *k = w->keep;
  MPI_Comm comm = w->out.comm;
  int rank = dm_rank(comm), size = dm_size(comm);
  if (w->n_events < 0 && dm_derived_count(k) > 0)
    return dm_error(DM_ERR_INTERNAL, "kept derived columns need the event count up front");
  dm_status s = DM_OK;
  for (int i = 0; s == DM_OK && i < dm_derived_count(k); i++) {
    int mine = 0;
    for (int j = 0; j < w->n; j++)
      mine |= !strcmp(w->names[j], k->names[i]);
    if (mine)
      continue;
    int col = -1;
    s = dm_derived_writer_add_like(w, k, i, &col);
    size_t esz = H5Tget_size(k->native[i]);
    void *buf = s == DM_OK ? malloc((size_t)COPY_BATCH * esz) : NULL;
    if (s == DM_OK && !buf)
      s = dm_error(DM_ERR_NOMEM, "no memory to copy /derived/%s", k->names[i]);
    s = dm_agree(s, comm);
    /* Rounds over global blocks of size*COPY_BATCH events, each split over
     * the ranks: appends in rank order then keep the global event order. */
    int64_t block = (int64_t)size * COPY_BATCH;
    for (int64_t g0 = 0; s == DM_OK && g0 < w->n_events; g0 += block) {
      int64_t g1 = g0 + block < w->n_events ? g0 + block : w->n_events, b, e;
      dm_partition(g1 - g0, rank, size, &b, &e);
      s = dm_derived_read_raw(k, i, g0 + b, e - b, buf);
      s = dm_agree(s, comm);
      if (s == DM_OK)
        s = dm_derived_writer_append(w, col, k->native[i], buf, e - b);
    }
    free(buf);
  }
  return s;
}

dm_status dm_derived_writer_finish(dm_derived_writer *w, dm_status local)
{
  MPI_Comm comm = w->out.comm;
  dm_status s = dm_agree(local, comm);
  if (s == DM_OK && w->keep)
    s = dm_agree(copy_kept(w), comm);
  for (int i = 0; s == DM_OK && i < w->n; i++) {
    int64_t len = -1;
    hid_t sp = H5Dget_space(w->dset[i]);
    hsize_t d = 0;
    H5Sget_simple_extent_dims(sp, &d, NULL);
    H5Sclose(sp);
    len = (int64_t)d;
    if (w->n_events < 0)
      w->n_events = len;
    if (len != w->n_events)
      s = dm_error(DM_ERR_INTERNAL, "derived column %s has %lld values for %lld events",
                   w->names[i], (long long)len, (long long)w->n_events);
  }
  if (s == DM_OK)
    s = dm_agree(dm_h5_attr_set_i64(w->out.file, "n_events", w->n_events), comm);
  for (int i = 0; i < w->n; i++)
    H5Dclose(w->dset[i]);
  if (w->group >= 0)
    H5Gclose(w->group);
  s = dm_h5_out_finish(&w->out, s);
  free(w);
  return s;
}
