/* Derived columns (dm_derived.h): the store's link, its index and the parts. */
#include "dm_derived.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_prov.h"

#define INDEX_FORMAT "dmpipe-derived-index"
#define PART_FORMAT "dmpipe-derived-part"
#define DERIVED_VERSION 2
/* Hex digits of the identity that go into file names: 64 bits are unique
 * enough for names; the pairing itself is checked on all 128. */
#define ID_NAME_DIGITS 16
/* Parts an index may name (each update adds at most one). */
#define MAX_PARTS DM_DERIVED_MAX_COLUMNS
#define BASE_MAX 512

/* ---- names ------------------------------------------------------------------- */

dm_status dm_derived_new_id(const char *store_path, char id[DM_STORE_ID_LEN])
{
  struct {
    unsigned char rnd[16];
    struct timespec ts;
    long pid;
    char path[256];
  } seed;
  memset(&seed, 0, sizeof seed);
  /* Random bytes make two stores distinct even when written at the same
   * time under the same name (two jobs on two nodes); the rest only helps
   * where the system generator is unavailable. */
  ssize_t got = getrandom(seed.rnd, sizeof seed.rnd, GRND_NONBLOCK);
  (void)got;
  clock_gettime(CLOCK_REALTIME, &seed.ts);
  seed.pid = (long)getpid();
  snprintf(seed.path, sizeof seed.path, "%s", store_path);
  dm_checksum_buf(&seed, sizeof seed, id);
  return DM_OK;
}

/* "dir/stem" of a store path: dir (with its slash, may be empty) and stem
 * (base name without ".h5"). */
static dm_status split_store(const char *store_path, char *dir, size_t dcap, char *stem,
                             size_t scap)
{
  const char *slash = strrchr(store_path, '/');
  const char *base = slash ? slash + 1 : store_path;
  size_t dl = (size_t)(base - store_path), bl = strlen(base);
  if (bl > 3 && !strcmp(base + bl - 3, ".h5"))
    bl -= 3;
  if (dl >= dcap || bl >= scap || bl == 0)
    return dm_error(DM_ERR_ARG, "bad or too long store path: %s", store_path);
  memcpy(dir, store_path, dl);
  dir[dl] = '\0';
  memcpy(stem, base, bl);
  stem[bl] = '\0';
  return DM_OK;
}

dm_status dm_derived_index_path(const char *store_path, const char *id, char *out, size_t cap)
{
  char dir[DM_PATH_MAX], stem[BASE_MAX];
  DM_FORWARD(split_store(store_path, dir, sizeof dir, stem, sizeof stem));
  int w = snprintf(out, cap, "%s%s.derived-%.*s.h5", dir, stem, ID_NAME_DIGITS, id);
  if (w < 0 || (size_t)w >= cap)
    return dm_error(DM_ERR_ARG, "path too long: %s", store_path);
  return DM_OK;
}

/* Part g of an index: "X.derived-I.h5" -> "X.derived-I.<g>.h5". */
static dm_status part_path(const char *index_path, int64_t g, char *out, size_t cap)
{
  size_t n = strlen(index_path);
  int w = snprintf(out, cap, "%.*s.%lld.h5", (int)(n - 3), index_path, (long long)g);
  if (w < 0 || (size_t)w >= cap)
    return dm_error(DM_ERR_ARG, "path too long: %s", index_path);
  return DM_OK;
}

static const char *base_name(const char *p)
{
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* The file beside `near` (same folder) called `base`. */
static dm_status beside(const char *near, const char *base, char *out, size_t cap)
{
  int dl = (int)(base_name(near) - near);
  int w = snprintf(out, cap, "%.*s%s", dl, near, base);
  if (w < 0 || (size_t)w >= cap)
    return dm_error(DM_ERR_ARG, "path too long: %s", near);
  return DM_OK;
}

dm_status dm_derived_store_key(hid_t store_file, const char *store_path, char *out, size_t cap)
{
  if (H5Aexists(store_file, "store_id") <= 0)
    return dm_error(DM_ERR_SCHEMA,
                    "%s was written before stores had an identity (no store_id attribute): "
                    "derived columns cannot be paired with it safely; ingest or select it again",
                    store_path);
  DM_FORWARD(dm_h5_attr_get_str(store_file, "store_id", out, cap));
  if (strlen(out) != DM_STORE_ID_LEN - 1)
    return dm_error(DM_ERR_SCHEMA, "%s: malformed store_id '%s'", store_path, out);
  return DM_OK;
}

dm_status dm_derived_link(hid_t store_file, const char *store_path, const char *id)
{
  char idx[DM_PATH_MAX];
  DM_FORWARD(dm_derived_index_path(store_path, id, idx, sizeof idx));
  if (H5Lexists(store_file, "derived", H5P_DEFAULT) > 0)
    return dm_error(DM_ERR_SCHEMA, "%s already has a /derived entry", store_path);
  DM_FORWARD(dm_h5_attr_set_str(store_file, "store_id", id));
  /* The base name only: HDF5 then looks beside the store first. */
  if (H5Lcreate_external(base_name(idx), "/derived", store_file, "derived", H5P_DEFAULT,
                         H5P_DEFAULT) < 0)
    return dm_error(DM_ERR_HDF5, "cannot create the link /derived -> %s", base_name(idx));
  return DM_OK;
}

/* ---- the index ---------------------------------------------------------------- */

typedef struct {
  char name[DM_DERIVED_NAME_MAX];
  char part[BASE_MAX]; /* part file base name */
} index_entry;

/* COLLECTIVE. Write an index naming entries[0..n) (atomically). */
static dm_status write_index(const char *index_path, const char *id, int64_t n_events,
                             int64_t generation, const index_entry *e, int n, MPI_Comm comm)
{
  dm_h5_out out;
  DM_FORWARD(dm_h5_out_create(&out, index_path, comm));
  dm_status s = dm_h5_attr_set_str(out.file, "format", INDEX_FORMAT);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(out.file, "format_version", DERIVED_VERSION);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(out.file, "store_id", id);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(out.file, "n_events", n_events);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(out.file, "generation", generation);
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t g = s == DM_OK ? H5Gcreate2(out.file, "derived", H5P_DEFAULT, gcpl, H5P_DEFAULT)
                       : H5I_INVALID_HID;
  H5Pclose(gcpl);
  if (s == DM_OK && g < 0)
    s = dm_error(DM_ERR_HDF5, "cannot create /derived in %s", out.tmp_path);
  for (int i = 0; s == DM_OK && i < n; i++) {
    char target[DM_DERIVED_NAME_MAX + 16];
    snprintf(target, sizeof target, "/derived/%s", e[i].name);
    if (H5Lcreate_external(e[i].part, target, g, e[i].name, H5P_DEFAULT, H5P_DEFAULT) < 0)
      s = dm_error(DM_ERR_HDF5, "%s: cannot link %s to %s", out.tmp_path, e[i].name, e[i].part);
  }
  if (g >= 0)
    H5Gclose(g);
  return dm_h5_out_finish(&out, dm_agree(s, comm));
}

dm_status dm_derived_index_create(const char *store_path, const char *id, int64_t n_events,
                                  MPI_Comm comm)
{
  char idx[DM_PATH_MAX];
  DM_FORWARD(dm_agree(dm_derived_index_path(store_path, id, idx, sizeof idx), comm));
  return write_index(idx, id, n_events, 0, NULL, 0, comm);
}

void dm_derived_remove_new(const char *store_path, const char *id)
{
  char idx[DM_PATH_MAX], part[DM_PATH_MAX];
  if (dm_derived_index_path(store_path, id, idx, sizeof idx) != DM_OK)
    return;
  unlink(idx);
  if (part_path(idx, 1, part, sizeof part) == DM_OK)
    unlink(part);
}

static dm_status link_file(hid_t loc, const char *name, const char *where, char *file, size_t cap,
                           char *obj, size_t ocap);

/* Append path + '\n' to a growing list. */
static int list_add(char **list, size_t *len, size_t *cap, const char *path)
{
  size_t n = strlen(path) + 1;
  if (*len + n + 1 > *cap) {
    size_t c = 2 * (*len + n + 1) + 256;
    char *q = realloc(*list, c);
    if (!q)
      return 0;
    *list = q;
    *cap = c;
  }
  memcpy(*list + *len, path, n - 1);
  (*list)[*len + n - 1] = '\n';
  *len += n;
  (*list)[*len] = '\0';
  return 1;
}

/* 1 if an index base name ends in "derived-I.h5" for identity id. */
static int names_id(const char *base, const char *id)
{
  char suffix[64];
  int n = snprintf(suffix, sizeof suffix, ".derived-%.*s.h5", ID_NAME_DIGITS, id);
  size_t l = strlen(base);
  return n > 0 && l > (size_t)n && !strcmp(base + l - (size_t)n, suffix);
}

char *dm_derived_side_files(const char *store_path)
{
  if (access(store_path, R_OK) != 0 || H5Fis_hdf5(store_path) <= 0)
    return NULL;
  char *list = NULL, id[DM_STORE_ID_LEN + 8], base[BASE_MAX], idx[DM_PATH_MAX];
  size_t len = 0, cap = 0;
  hid_t f = H5I_INVALID_HID, x = H5I_INVALID_HID, g = H5I_INVALID_HID;
  /* Best effort and silent: a failure here only leaves files behind. */
  H5E_BEGIN_TRY
  {
    f = H5Fopen(store_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0 && H5Aexists(f, "store_id") > 0 &&
        dm_h5_attr_get_str(f, "store_id", id, sizeof id) == DM_OK &&
        link_file(f, "derived", store_path, base, sizeof base, NULL, 0) == DM_OK &&
        names_id(base, id) &&
        beside(store_path, base, idx, sizeof idx) == DM_OK && access(idx, F_OK) == 0 &&
        list_add(&list, &len, &cap, idx)) {
      char have[DM_STORE_ID_LEN + 8] = "";
      x = H5Fopen(idx, H5F_ACC_RDONLY, H5P_DEFAULT);
      if (x >= 0 && dm_h5_attr_get_str(x, "store_id", have, sizeof have) == DM_OK &&
          !strcmp(have, id) && (g = H5Gopen2(x, "derived", H5P_DEFAULT)) >= 0) {
        hsize_t n = 0;
        H5G_info_t gi;
        if (H5Gget_info(g, &gi) >= 0)
          n = gi.nlinks;
        for (hsize_t i = 0; i < n; i++) {
          char name[DM_DERIVED_NAME_MAX], part[BASE_MAX], path[DM_PATH_MAX];
          if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                 H5P_DEFAULT) < 0 ||
              link_file(g, name, idx, part, sizeof part, NULL, 0) != DM_OK ||
              strncmp(part, base, strlen(base) - 3) ||
              beside(idx, part, path, sizeof path) != DM_OK)
            continue;
          if (!strstr(list, path))
            list_add(&list, &len, &cap, path);
        }
      }
    }
    if (g >= 0)
      H5Gclose(g);
    if (x >= 0)
      H5Fclose(x);
    if (f >= 0)
      H5Fclose(f);
  }
  H5E_END_TRY;
  return list;
}

void dm_derived_remove_listed(const char *list)
{
  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, '\n');
    if (!e)
      break;
    char path[DM_PATH_MAX];
    snprintf(path, sizeof path, "%.*s", (int)(e - p), p);
    unlink(path);
    p = e + 1;
  }
}

/* ---- reading ---------------------------------------------------------------- */

struct dm_derived {
  MPI_Comm comm;
  hid_t index;
  char index_path[DM_PATH_MAX];
  char id[DM_STORE_ID_LEN];
  int64_t n_events, generation;
  int n;
  index_entry col[DM_DERIVED_MAX_COLUMNS];
  int part_of[DM_DERIVED_MAX_COLUMNS];
  hid_t dset[DM_DERIVED_MAX_COLUMNS];
  hid_t native[DM_DERIVED_MAX_COLUMNS];
  int n_parts;
  char part[MAX_PARTS][BASE_MAX];
  hid_t part_file[MAX_PARTS];
};

static void reader_release(dm_derived *d)
{
  for (int i = 0; i < d->n; i++) {
    if (d->dset[i] >= 0)
      H5Dclose(d->dset[i]);
    if (d->native[i] >= 0)
      H5Tclose(d->native[i]);
    d->dset[i] = d->native[i] = H5I_INVALID_HID;
  }
  for (int p = 0; p < d->n_parts; p++)
    dm_h5_close(d->part_file[p]);
  d->n_parts = 0;
  d->n = 0;
  if (d->index >= 0)
    dm_h5_close(d->index);
  d->index = H5I_INVALID_HID;
}

/* The file an external link at loc/name points to, as a base name (dmpipe
 * writes base names only; anything with a folder in it is refused, so a
 * link can never reach outside the store's folder). */
static dm_status link_file(hid_t loc, const char *name, const char *where, char *file, size_t cap,
                           char *obj, size_t ocap)
{
  H5L_info_t info;
  if (H5Lget_info(loc, name, &info, H5P_DEFAULT) < 0)
    return dm_error(DM_ERR_SCHEMA, "%s: cannot read the link %s", where, name);
  if (info.type != H5L_TYPE_EXTERNAL)
    return dm_error(DM_ERR_SCHEMA, "%s: %s is not an external link to derived columns", where,
                    name);
  size_t n = info.u.val_size;
  char *buf = malloc(n ? n : 1);
  if (!buf)
    return dm_error(DM_ERR_NOMEM, "no memory");
  const char *f = NULL, *o = NULL;
  unsigned flags = 0;
  dm_status s = DM_OK;
  if (H5Lget_val(loc, name, buf, n, H5P_DEFAULT) < 0 ||
      H5Lunpack_elink_val(buf, n, &flags, &f, &o) < 0)
    s = dm_error(DM_ERR_SCHEMA, "%s: cannot read the link %s", where, name);
  else if (!*f || strchr(f, '/') || strlen(f) >= cap || (obj && strlen(o) >= ocap))
    s = dm_error(DM_ERR_SCHEMA, "%s: the link %s names '%s', not a file beside it", where, name,
                 f);
  if (s == DM_OK) {
    strcpy(file, f);
    if (obj)
      strcpy(obj, o);
  }
  free(buf);
  return s;
}

/* COLLECTIVE. Open a side file (index or part) of store `store_path`, check
 * it is present, of the right format and of this store. */
static dm_status open_side(const char *path, const char *store_path, const char *format,
                           const char *id, int64_t n_events, MPI_Comm comm, hid_t *file)
{
  *file = H5I_INVALID_HID;
  int exists = dm_rank(comm) == 0 ? access(path, R_OK) == 0 : 0;
  MPI_Bcast(&exists, 1, MPI_INT, 0, comm);
  if (!exists)
    return dm_error(DM_ERR_IO,
                    "%s: its derived columns file %s is missing (a store travels with its "
                    "side files %.*s*)",
                    store_path, path, (int)strlen(base_name(path)) - 3, base_name(path));
  DM_FORWARD(dm_h5_open(path, comm, 0, file));
  char fmt[64] = "", have[DM_STORE_ID_LEN + 8] = "";
  int64_t n = -1;
  dm_status s = DM_OK;
  if (H5Aexists(*file, "format") <= 0 ||
      dm_h5_attr_get_str(*file, "format", fmt, sizeof fmt) != DM_OK || strcmp(fmt, format))
    s = dm_error(DM_ERR_SCHEMA, "%s is not a %s file", path, format);
  else if (H5Aexists(*file, "store_id") <= 0 ||
           dm_h5_attr_get_str(*file, "store_id", have, sizeof have) != DM_OK ||
           strcmp(have, id))
    s = dm_error(DM_ERR_SCHEMA,
                 "%s belongs to another store (store_id %s, %s has %s): refusing to pair "
                 "them; was it copied from another run?",
                 path, have[0] ? have : "none", store_path, id);
  else if (dm_h5_attr_get_i64(*file, "n_events", &n) != DM_OK || n != n_events)
    s = dm_error(DM_ERR_SCHEMA, "%s holds columns of %lld events, %s has %lld", path,
                 (long long)n, store_path, (long long)n_events);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    dm_h5_close(*file);
    *file = H5I_INVALID_HID;
  }
  return s;
}

typedef struct {
  dm_derived *d;
  dm_status s;
} list_ctx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *arg)
{
  list_ctx *c = arg;
  dm_derived *d = c->d;
  (void)g;
  (void)info;
  if (d->n >= DM_DERIVED_MAX_COLUMNS || strlen(name) >= DM_DERIVED_NAME_MAX) {
    c->s = dm_error(DM_ERR_SCHEMA, "%s: too many derived columns or too long a name (%s)",
                    d->index_path, name);
    return -1;
  }
  strcpy(d->col[d->n].name, name);
  d->n++;
  return 0;
}

/* Open column i: its part (shared by the columns of one update) and dataset. */
static dm_status open_column(dm_derived *d, const char *store_path, int i)
{
  char where[DM_PATH_MAX + 16], obj[DM_DERIVED_NAME_MAX + 16];
  snprintf(where, sizeof where, "%s:/derived", d->index_path);
  hid_t g = H5Gopen2(d->index, "derived", H5P_DEFAULT);
  if (g < 0)
    return dm_error(DM_ERR_SCHEMA, "%s has no /derived group", d->index_path);
  dm_status s = link_file(g, d->col[i].name, where, d->col[i].part, sizeof d->col[i].part, obj,
                          sizeof obj);
  H5Gclose(g);
  s = dm_agree(s, d->comm);
  if (s != DM_OK)
    return s;
  int p = 0;
  while (p < d->n_parts && strcmp(d->part[p], d->col[i].part))
    p++;
  if (p == d->n_parts) {
    char path[DM_PATH_MAX];
    if (p >= MAX_PARTS)
      return dm_error(DM_ERR_SCHEMA, "%s names too many parts", d->index_path);
    DM_FORWARD(beside(d->index_path, d->col[i].part, path, sizeof path));
    DM_FORWARD(open_side(path, store_path, PART_FORMAT, d->id, d->n_events, d->comm,
                         &d->part_file[p]));
    strcpy(d->part[p], d->col[i].part);
    d->n_parts++;
  }
  d->part_of[i] = p;
  int64_t len = -1;
  s = dm_h5_col_length(d->part_file[p], obj, &len);
  if (s == DM_OK && len != d->n_events)
    s = dm_error(DM_ERR_SCHEMA, "%s:%s has %lld values, the store has %lld events",
                 d->col[i].part, obj, (long long)len, (long long)d->n_events);
  if (s == DM_OK) {
    d->dset[i] = dm_h5_col_open(d->part_file[p], obj);
    hid_t ft = d->dset[i] >= 0 ? H5Dget_type(d->dset[i]) : H5I_INVALID_HID;
    d->native[i] = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_ASCEND) : H5I_INVALID_HID;
    H5T_class_t cls = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
    if (ft >= 0)
      H5Tclose(ft);
    if (d->native[i] < 0)
      s = dm_error(DM_ERR_HDF5, "%s: cannot open %s", d->col[i].part, obj);
    else if (cls != H5T_INTEGER && cls != H5T_FLOAT)
      s = dm_error(DM_ERR_SCHEMA, "%s: %s is not numeric", d->col[i].part, obj);
  }
  return dm_agree(s, d->comm);
}

dm_status dm_derived_open(const char *store_path, hid_t store_file, int64_t n_events,
                          MPI_Comm comm, dm_derived **out)
{
  *out = NULL;
  dm_derived *d = calloc(1, sizeof *d);
  if (!dm_alltrue(d != NULL, comm)) {
    free(d);
    return dm_error(DM_ERR_NOMEM, "no memory");
  }
  d->comm = comm;
  d->index = H5I_INVALID_HID;
  d->n_events = n_events;
  for (int i = 0; i < DM_DERIVED_MAX_COLUMNS; i++)
    d->dset[i] = d->native[i] = H5I_INVALID_HID;
  /* A store from before identities: no columns (see dm_derived.h). */
  if (!dm_alltrue(H5Aexists(store_file, "store_id") > 0, comm)) {
    *out = d;
    return DM_OK;
  }
  char base[BASE_MAX];
  dm_status s = dm_derived_store_key(store_file, store_path, d->id, sizeof d->id);
  if (s == DM_OK)
    s = link_file(store_file, "derived", store_path, base, sizeof base, NULL, 0);
  if (s == DM_OK)
    s = beside(store_path, base, d->index_path, sizeof d->index_path);
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = open_side(d->index_path, store_path, INDEX_FORMAT, d->id, n_events, comm, &d->index);
  if (s == DM_OK) {
    s = dm_h5_attr_get_i64(d->index, "generation", &d->generation);
    list_ctx c = {d, DM_OK};
    hid_t g = s == DM_OK ? H5Gopen2(d->index, "derived", H5P_DEFAULT) : H5I_INVALID_HID;
    hsize_t idx = 0;
    if (s == DM_OK &&
        (g < 0 || H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, list_cb, &c) < 0))
      s = c.s != DM_OK ? c.s : dm_error(DM_ERR_HDF5, "%s: cannot list /derived", d->index_path);
    if (g >= 0)
      H5Gclose(g);
    s = dm_agree(s, comm);
  }
  for (int i = 0; s == DM_OK && i < d->n; i++)
    s = open_column(d, store_path, i);
  if (s != DM_OK) {
    reader_release(d);
    free(d);
    return s;
  }
  *out = d;
  return DM_OK;
}

dm_status dm_derived_close(dm_derived *d)
{
  if (!d)
    return DM_OK;
  reader_release(d);
  free(d);
  return DM_OK;
}

int dm_derived_count(const dm_derived *d) { return d ? d->n : 0; }
const char *dm_derived_name(const dm_derived *d, int i) { return d->col[i].name; }
hid_t dm_derived_dataset(const dm_derived *d, int i) { return d->dset[i]; }
hid_t dm_derived_native_type(const dm_derived *d, int i) { return d->native[i]; }
const char *dm_derived_index(const dm_derived *d) { return d ? d->index_path : ""; }

static int find_col(const dm_derived *d, const char *name)
{
  for (int i = 0; d && i < d->n; i++)
    if (!strcmp(d->col[i].name, name))
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
    return dm_error(DM_ERR_UNKNOWN, "derived column '%s' is missing (%s)", name,
                    d->index_path[0] ? d->index_path : "the store has no derived columns");
  DM_FORWARD(check_range(d, name, begin, count));
  dm_status s = dm_h5_dset_read(d->dset[i], H5T_NATIVE_DOUBLE, begin, count, out);
  if (s != DM_OK)
    dm_error_context("%s:/derived/%s", d->col[i].part, name);
  return s;
}

dm_status dm_derived_read_raw(dm_derived *d, int i, int64_t begin, int64_t count, void *buf)
{
  DM_FORWARD(check_range(d, d->col[i].name, begin, count));
  dm_status s = dm_h5_dset_read(d->dset[i], d->native[i], begin, count, buf);
  if (s != DM_OK)
    dm_error_context("%s:/derived/%s", d->col[i].part, d->col[i].name);
  return s;
}

/* ---- writing ---------------------------------------------------------------- */

struct dm_derived_writer {
  dm_h5_out out; /* the new part */
  hid_t group;
  int64_t n_events, generation;
  char id[DM_STORE_ID_LEN];
  char index_path[DM_PATH_MAX];
  dm_derived *current;
  int n;
  char names[DM_DERIVED_MAX_COLUMNS][DM_DERIVED_NAME_MAX];
  hid_t dset[DM_DERIVED_MAX_COLUMNS];
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
                                   dm_derived *current, MPI_Comm comm, dm_derived_writer **out)
{
  *out = NULL;
  dm_derived_writer *w = calloc(1, sizeof *w);
  if (!dm_alltrue(w != NULL, comm)) {
    free(w);
    return dm_error(DM_ERR_NOMEM, "no memory");
  }
  w->group = H5I_INVALID_HID;
  w->n_events = n_events;
  w->current = current;
  snprintf(w->id, sizeof w->id, "%s", store_key);
  dm_status s = DM_OK;
  if (current && !current->index_path[0])
    s = dm_error(DM_ERR_SCHEMA,
                 "%s was written before stores had an identity (no store_id attribute): "
                 "derived columns cannot be added to it; ingest or select it again",
                 store_path);
  else if (current && strcmp(current->id, store_key))
    s = dm_error(DM_ERR_INTERNAL, "derived columns of %s opened for another store", store_path);
  else if (current) {
    snprintf(w->index_path, sizeof w->index_path, "%s", current->index_path);
    w->generation = current->generation + 1;
  } else {
    s = dm_derived_index_path(store_path, store_key, w->index_path, sizeof w->index_path);
    w->generation = 1;
  }
  char part[DM_PATH_MAX];
  if (s == DM_OK)
    s = part_path(w->index_path, w->generation, part, sizeof part);
  if (s == DM_OK && strlen(base_name(part)) >= BASE_MAX)
    s = dm_error(DM_ERR_ARG, "file name too long: %s", part);
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = dm_h5_out_create(&w->out, part, comm);
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
    s = dm_h5_attr_set_str(w->out.file, "format", PART_FORMAT);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(w->out.file, "format_version", DERIVED_VERSION);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(w->out.file, "store_id", store_key);
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

/* Attributes of a carried-over column, copied byte for byte with their own
 * type (numbers and fixed-length strings; variable-length ones are skipped
 * since they cannot be written through MPI-IO). */
static herr_t copy_attr_cb(hid_t src, const char *name, const H5A_info_t *info, void *arg)
{
  hid_t dst = *(hid_t *)arg;
  (void)info;
  hid_t a = H5Aopen(src, name, H5P_DEFAULT);
  if (a < 0)
    return -1;
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  herr_t rc = 0;
  if (H5Tis_variable_str(t) <= 0 && H5Tdetect_class(t, H5T_VLEN) <= 0) {
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    size_t sz = H5Tget_size(t) * (size_t)(np > 0 ? np : 1);
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
  dm_status s = add_column(w, d->col[i].name, ft, col);
  H5Tclose(ft);
  s = dm_agree(s, w->out.comm);
  if (s != DM_OK)
    return s;
  hid_t dst = w->dset[*col];
  if (H5Aiterate2(d->dset[i], H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr_cb, &dst) < 0)
    s = dm_error(DM_ERR_HDF5, "cannot copy the attributes of /derived/%s", d->col[i].name);
  return dm_agree(s, w->out.comm);
}

/* The new index: the current columns in their order (those this update
 * rewrote now in the new part), then the new ones. */
static int plan_index(const dm_derived_writer *w, const char *new_part, index_entry *e)
{
  int n = 0;
  const dm_derived *c = w->current;
  for (int i = 0; c && i < c->n; i++) {
    e[n] = c->col[i];
    for (int j = 0; j < w->n; j++)
      if (!strcmp(w->names[j], c->col[i].name))
        snprintf(e[n].part, sizeof e[n].part, "%.*s", BASE_MAX - 1, new_part);
    n++;
  }
  for (int j = 0; j < w->n; j++) {
    int old = 0;
    for (int i = 0; c && i < c->n; i++)
      old |= !strcmp(w->names[j], c->col[i].name);
    if (old)
      continue;
    snprintf(e[n].name, sizeof e[n].name, "%s", w->names[j]);
    snprintf(e[n].part, sizeof e[n].part, "%.*s", BASE_MAX - 1, new_part);
    n++;
  }
  return n;
}

dm_status dm_derived_writer_finish(dm_derived_writer *w, dm_status local)
{
  MPI_Comm comm = w->out.comm;
  dm_status s = dm_agree(local, comm);
  for (int i = 0; s == DM_OK && i < w->n; i++) {
    hid_t sp = H5Dget_space(w->dset[i]);
    hsize_t len = 0;
    H5Sget_simple_extent_dims(sp, &len, NULL);
    H5Sclose(sp);
    if (w->n_events < 0)
      w->n_events = (int64_t)len;
    if ((int64_t)len != w->n_events)
      s = dm_error(DM_ERR_INTERNAL, "derived column %s has %lld values for %lld events",
                   w->names[i], (long long)len, (long long)w->n_events);
  }
  if (w->n_events < 0)
    w->n_events = 0;
  if (s == DM_OK)
    s = dm_agree(dm_h5_attr_set_i64(w->out.file, "n_events", w->n_events), comm);
  for (int i = 0; i < w->n; i++)
    H5Dclose(w->dset[i]);
  if (w->group >= 0)
    H5Gclose(w->group);
  char part[DM_PATH_MAX];
  snprintf(part, sizeof part, "%s", w->out.final_path);
  s = dm_h5_out_finish(&w->out, s);
  index_entry *e = calloc(2 * DM_DERIVED_MAX_COLUMNS, sizeof *e);
  int n = 0;
  if (!dm_alltrue(e != NULL, comm) && s == DM_OK)
    s = dm_error(DM_ERR_NOMEM, "no memory");
  if (s == DM_OK) {
    n = plan_index(w, base_name(part), e);
    if (n > DM_DERIVED_MAX_COLUMNS)
      s = dm_error(DM_ERR_ARG, "more than %d derived columns", DM_DERIVED_MAX_COLUMNS);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK)
    s = write_index(w->index_path, w->id, w->n_events, w->generation, e, n, comm);
  if (dm_rank(comm) == 0) {
    if (s != DM_OK) {
      /* The previous index still rules and does not name the new part. */
      unlink(part);
    } else if (w->current) {
      /* Parts the new index no longer names (e.g. the last weights). Only
       * files the old index named are touched. */
      for (int p = 0; p < w->current->n_parts; p++) {
        int used = 0;
        for (int i = 0; i < n; i++)
          used |= !strcmp(e[i].part, w->current->part[p]);
        char path[DM_PATH_MAX];
        if (!used && beside(w->index_path, w->current->part[p], path, sizeof path) == DM_OK)
          unlink(path);
      }
    }
  }
  free(e);
  free(w);
  return s;
}
