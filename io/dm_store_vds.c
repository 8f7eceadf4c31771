/* A catalog's virtual columns and the table of its parts (dm_store_vds.h). */
#include "dm_store_vds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_h5.h"
#include "dm_store.h"

#define TABLE_ATTR "catalog_parts"
#define FLAG_ATTR "catalog"

static int64_t rows_of(const dm_store_vds_part *p, int objects)
{
  return objects ? p->n_objects : p->n_events;
}

dm_status dm_store_vds_create(hid_t file, const char *path, hid_t type,
                              const dm_store_vds_part *parts, int n, int objects)
{
  hsize_t total = 0;
  for (int i = 0; i < n; i++)
    total += (hsize_t)rows_of(&parts[i], objects);
  hid_t vspace = H5Screate_simple(1, &total, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  dm_status s = vspace >= 0 && dcpl >= 0 && H5Pset_layout(dcpl, H5D_VIRTUAL) >= 0
                    ? DM_OK
                    : dm_error(DM_ERR_HDF5, "cannot set up the virtual dataset %s", path);
  hsize_t start = 0;
  for (int i = 0; s == DM_OK && i < n; i++) {
    hsize_t rows = (hsize_t)rows_of(&parts[i], objects);
    if (rows == 0)
      continue; /* HDF5 refuses empty mappings; the part adds no rows */
    hid_t sspace = H5Screate_simple(1, &rows, NULL);
    if (sspace < 0 ||
        H5Sselect_hyperslab(vspace, H5S_SELECT_SET, &start, NULL, &rows, NULL) < 0 ||
        H5Pset_virtual(dcpl, vspace, parts[i].file, path, sspace) < 0)
      s = dm_error(DM_ERR_HDF5, "cannot map %s rows [%llu, %llu) onto %s", path,
                   (unsigned long long)start, (unsigned long long)(start + rows), parts[i].file);
    if (sspace >= 0)
      H5Sclose(sspace);
    start += rows;
  }
  if (s == DM_OK && H5Sselect_all(vspace) < 0)
    s = dm_error(DM_ERR_HDF5, "cannot set up the virtual dataset %s", path);
  if (s == DM_OK) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(file, path, type, vspace, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (d < 0)
      s = dm_error(DM_ERR_HDF5, "cannot create the virtual dataset %s", path);
    else
      H5Dclose(d);
  }
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (vspace >= 0)
    H5Sclose(vspace);
  return s;
}

static hid_t str_type(size_t width, H5T_str_t pad)
{
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, width);
  H5Tset_strpad(t, pad);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

/* The table's type in memory: a dm_store_vds_part per part (in the file the
 * strings are only as wide as needed). */
static hid_t mem_table_type(void)
{
  hid_t ft = str_type(DM_STORE_VDS_FILE_MAX, H5T_STR_NULLTERM),
        it = str_type(DM_STORE_ID_LEN, H5T_STR_NULLTERM);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(dm_store_vds_part));
  H5Tinsert(t, "file", HOFFSET(dm_store_vds_part, file), ft);
  H5Tinsert(t, "n_events", HOFFSET(dm_store_vds_part, n_events), H5T_NATIVE_INT64);
  H5Tinsert(t, "n_objects", HOFFSET(dm_store_vds_part, n_objects), H5T_NATIVE_INT64);
  H5Tinsert(t, "store_id", HOFFSET(dm_store_vds_part, store_id), it);
  H5Tclose(ft);
  H5Tclose(it);
  return t;
}

dm_status dm_store_vds_write_table(hid_t file, const dm_store_vds_part *parts, int n)
{
  size_t width = 1;
  for (int i = 0; i < n; i++)
    if (strlen(parts[i].file) > width)
      width = strlen(parts[i].file);
  /* In the file: packed, strings exactly as wide as the longest (h5py shows
   * a structured array: f.attrs["catalog_parts"]["file"]). */
  hid_t ft = H5Tcreate(H5T_COMPOUND, width + 16 + DM_STORE_ID_LEN - 1);
  hid_t fs = str_type(width, H5T_STR_NULLPAD), is = str_type(DM_STORE_ID_LEN - 1, H5T_STR_NULLPAD);
  H5Tinsert(ft, "file", 0, fs);
  H5Tinsert(ft, "n_events", width, H5T_STD_I64LE);
  H5Tinsert(ft, "n_objects", width + 8, H5T_STD_I64LE);
  H5Tinsert(ft, "store_id", width + 16, is);
  H5Tclose(fs);
  H5Tclose(is);
  hid_t mt = mem_table_type();
  hsize_t dims = (hsize_t)n;
  hid_t sp = n > 0 ? H5Screate_simple(1, &dims, NULL) : H5Screate(H5S_NULL);
  dm_status s = DM_OK;
  if (H5Aexists(file, TABLE_ATTR) > 0 && H5Adelete(file, TABLE_ATTR) < 0)
    s = dm_error(DM_ERR_HDF5, "cannot replace attribute %s", TABLE_ATTR);
  hid_t a = s == DM_OK ? H5Acreate2(file, TABLE_ATTR, ft, sp, H5P_DEFAULT, H5P_DEFAULT)
                       : H5I_INVALID_HID;
  if (s == DM_OK && (a < 0 || (n > 0 && H5Awrite(a, mt, parts) < 0)))
    s = dm_error(DM_ERR_HDF5, "cannot write the table of %d parts (attribute %s)", n, TABLE_ATTR);
  if (a >= 0)
    H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(ft);
  H5Tclose(mt);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(file, FLAG_ATTR, 1);
  return s;
}

int dm_store_vds_is_catalog(hid_t file)
{
  int64_t v = 0;
  if (H5Aexists(file, FLAG_ATTR) <= 0)
    return 0;
  return dm_h5_attr_get_i64(file, FLAG_ATTR, &v) == DM_OK && v != 0;
}

/* A ".." component: a name that leaves the catalog's folder. */
static int has_dotdot(const char *f)
{
  for (const char *c = f; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
    if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
      return 1;
  return 0;
}

dm_status dm_store_vds_read_table(hid_t file, const char *path, dm_store_vds_part **parts, int *n)
{
  *parts = NULL;
  *n = 0;
  if (H5Aexists(file, TABLE_ATTR) <= 0)
    return dm_error(DM_ERR_SCHEMA, "%s is a catalog without its table of parts (attribute %s)",
                    path, TABLE_ATTR);
  hid_t a = H5Aopen(file, TABLE_ATTR, H5P_DEFAULT);
  hid_t ft = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
  hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
  dm_status s = DM_OK;
  hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  int fi = ft >= 0 && H5Tget_class(ft) == H5T_COMPOUND ? H5Tget_member_index(ft, "file") : -1;
  if (a < 0 || np < 0 || fi < 0 || H5Tget_member_index(ft, "n_events") < 0 ||
      H5Tget_member_index(ft, "n_objects") < 0 || H5Tget_member_index(ft, "store_id") < 0)
    s = dm_error(DM_ERR_SCHEMA, "%s: attribute %s is not a table of parts", path, TABLE_ATTR);
  if (s == DM_OK) {
    hid_t mft = H5Tget_member_type(ft, (unsigned)fi);
    size_t w = H5Tget_size(mft);
    H5Tclose(mft);
    if (w >= DM_STORE_VDS_FILE_MAX || np > 1000000)
      s = dm_error(DM_ERR_SCHEMA, "%s: its table of parts has names of %zu bytes or %lld parts",
                   path, w, (long long)np);
  }
  if (s == DM_OK) {
    *parts = calloc(np > 0 ? (size_t)np : 1, sizeof **parts);
    if (!*parts)
      s = dm_error(DM_ERR_NOMEM, "no memory for the table of %lld parts", (long long)np);
  }
  if (s == DM_OK && np > 0) {
    hid_t mt = mem_table_type();
    if (H5Aread(a, mt, *parts) < 0)
      s = dm_error(DM_ERR_SCHEMA, "%s: cannot read its table of parts", path);
    H5Tclose(mt);
  }
  for (hssize_t i = 0; s == DM_OK && i < np; i++) {
    dm_store_vds_part *p = &(*parts)[i];
    p->file[sizeof p->file - 1] = '\0';
    p->store_id[DM_STORE_ID_LEN - 1] = '\0';
    /* Only names below the catalog's folder: what it reads is what it
     * checks, wherever the folder is. */
    if (!p->file[0] || p->file[0] == '/' || has_dotdot(p->file) || p->n_events < 0 ||
        p->n_objects < 0)
      s = dm_error(DM_ERR_SCHEMA, "%s: part %lld of its table is malformed ('%s')", path,
                   (long long)i, p->file);
  }
  if (sp >= 0)
    H5Sclose(sp);
  if (ft >= 0)
    H5Tclose(ft);
  if (a >= 0)
    H5Aclose(a);
  if (s != DM_OK) {
    free(*parts);
    *parts = NULL;
    return s;
  }
  *n = (int)np;
  return DM_OK;
}

dm_status dm_store_vds_part_path(const char *catalog_path, const dm_store_vds_part *p, char *out,
                                 size_t cap)
{
  const char *slash = strrchr(catalog_path, '/');
  int dl = slash ? (int)(slash - catalog_path) + 1 : 0;
  int w = snprintf(out, cap, "%.*s%s", dl, catalog_path, p->file);
  if (w < 0 || (size_t)w >= cap)
    return dm_error(DM_ERR_ARG, "path too long: %s beside %s", p->file, catalog_path);
  return DM_OK;
}

/* One part: present, opens, the store recorded. */
static dm_status check_part(const char *path, const dm_store_vds_part *p)
{
  char full[DM_PATH_MAX];
  DM_FORWARD(dm_store_vds_part_path(path, p, full, sizeof full));
  if (access(full, F_OK) != 0)
    return dm_error(DM_ERR_SCHEMA,
                    "%s: its part %s is missing (%s): a catalog reads its events from the "
                    "files of its parts folder, which must stay beside it; make the catalog "
                    "again (dmpipe catalog)",
                    path, full, strerror(errno));
  char id[DM_STORE_ID_LEN];
  int64_t ne = -1, no = -1;
  dm_status s = dm_store_identify(full, id, &ne, &no);
  if (s != DM_OK) {
    char why[1024];
    snprintf(why, sizeof why, "%s", dm_error_message());
    return dm_error(DM_ERR_SCHEMA,
                    "%s: its part %s cannot be read as the store the catalog was made from "
                    "(truncated, damaged or replaced?): %s",
                    path, full, why);
  }
  if (strcmp(id, p->store_id))
    return dm_error(DM_ERR_SCHEMA,
                    "%s: its part %s is another store (store_id %s; the catalog was made from "
                    "store_id %s): it was replaced; make the catalog again",
                    path, full, id, p->store_id);
  if (ne != p->n_events || no != p->n_objects)
    return dm_error(DM_ERR_SCHEMA,
                    "%s: its part %s holds %lld events and %lld objects, the catalog recorded "
                    "%lld and %lld",
                    path, full, (long long)ne, (long long)no, (long long)p->n_events,
                    (long long)p->n_objects);
  return DM_OK;
}

/* The name of mapping k (file or dataset), as HDF5 stored it. */
static int mapping_name(hid_t dcpl, size_t k, int file, char *buf, size_t cap)
{
  ssize_t n = file ? H5Pget_virtual_filename(dcpl, k, buf, cap)
                   : H5Pget_virtual_dsetname(dcpl, k, buf, cap);
  return n >= 0 && (size_t)n < cap;
}

/* A mapping's source selection covers the whole source column of `rows`
 * rows: "all" (as written; HDF5 keeps no extent for it, the source's length
 * is checked with the part), or exactly those rows. */
static int src_whole(hid_t ss, hsize_t rows)
{
  H5S_sel_type t = H5Sget_select_type(ss);
  if (t == H5S_SEL_ALL)
    return 1;
  hsize_t lo = 0, hi = 0;
  return t == H5S_SEL_HYPERSLABS && H5Sget_select_npoints(ss) == (hssize_t)rows &&
         H5Sget_select_bounds(ss, &lo, &hi) >= 0 && lo == 0 && hi == rows - 1;
}

/* One virtual column: its mappings are the parts with rows, in order, each
 * onto the whole of the same column of the part. */
static dm_status check_column(hid_t file, const char *path, const char *col,
                              const dm_store_vds_part *parts, int n, int objects)
{
  hid_t d = H5Dopen2(file, col, H5P_DEFAULT);
  if (d < 0)
    return dm_error(DM_ERR_SCHEMA, "%s: dataset %s is missing", path, col);
  hid_t dcpl = H5Dget_create_plist(d);
  hid_t space = H5Dget_space(d);
  hsize_t len = 0;
  size_t count = 0;
  dm_status s = DM_OK;
  if (dcpl < 0 || space < 0 || H5Sget_simple_extent_ndims(space) != 1 ||
      H5Sget_simple_extent_dims(space, &len, NULL) != 1)
    s = dm_error(DM_ERR_SCHEMA, "%s: cannot read the shape of %s", path, col);
  else if (H5Pget_layout(dcpl) != H5D_VIRTUAL || H5Pget_virtual_count(dcpl, &count) < 0)
    s = dm_error(DM_ERR_SCHEMA, "%s: %s is not a virtual dataset, as a catalog's is", path, col);
  hsize_t start = 0;
  size_t k = 0;
  char name[DM_STORE_VDS_FILE_MAX];
  for (int i = 0; s == DM_OK && i < n; i++) {
    hsize_t rows = (hsize_t)rows_of(&parts[i], objects);
    if (rows == 0)
      continue;
    hsize_t lo = 0, hi = 0;
    hid_t vs = k < count ? H5Pget_virtual_vspace(dcpl, k) : H5I_INVALID_HID;
    hid_t ss = k < count ? H5Pget_virtual_srcspace(dcpl, k) : H5I_INVALID_HID;
    int ok = vs >= 0 && ss >= 0 && mapping_name(dcpl, k, 1, name, sizeof name) &&
             !strcmp(name, parts[i].file) && mapping_name(dcpl, k, 0, name, sizeof name) &&
             !strcmp(name, col) && H5Sget_select_npoints(vs) == (hssize_t)rows &&
             H5Sget_select_bounds(vs, &lo, &hi) >= 0 && lo == start && hi == start + rows - 1 &&
             src_whole(ss, rows);
    if (vs >= 0)
      H5Sclose(vs);
    if (ss >= 0)
      H5Sclose(ss);
    if (!ok)
      s = dm_error(DM_ERR_SCHEMA,
                   "%s: %s does not map rows [%llu, %llu) onto %s:%s as its table of parts "
                   "says (mapping %zu)",
                   path, col, (unsigned long long)start, (unsigned long long)(start + rows),
                   parts[i].file, col, k);
    start += rows;
    k++;
  }
  if (s == DM_OK && (k != count || start != len))
    s = dm_error(DM_ERR_SCHEMA,
                 "%s: %s has %zu mappings over %llu rows, its table of parts %zu over %llu",
                 path, col, count, (unsigned long long)len, k, (unsigned long long)start);
  if (space >= 0)
    H5Sclose(space);
  if (dcpl >= 0)
    H5Pclose(dcpl);
  H5Dclose(d);
  return s;
}

dm_status dm_store_vds_check(hid_t file, const char *path, const dm_store_vds_part *parts, int n,
                             const char *const *cols, const int *objects, int ncols)
{
  /* HDF5 tries the folders of HDF5_VDS_PREFIX before the catalog's own:
   * the files checked here would not be the ones read. */
  const char *prefix = getenv("HDF5_VDS_PREFIX");
  if (prefix && *prefix)
    return dm_error(DM_ERR_ARG,
                    "%s is a catalog and HDF5_VDS_PREFIX is set (%s): HDF5 would look for its "
                    "parts there before its own folder; unset HDF5_VDS_PREFIX",
                    path, prefix);
  for (int i = 0; i < n; i++)
    DM_FORWARD(check_part(path, &parts[i]));
  for (int c = 0; c < ncols; c++)
    DM_FORWARD(check_column(file, path, cols[c], parts, n, objects[c]));
  return DM_OK;
}
