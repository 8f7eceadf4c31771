/* The event store (dm_store.h): batches in memory, the collective writer and
 * the range reader. Column layout and chunking live here; what goes into a
 * batch (parsing, selection) is the business of the stages. */
#include "dm_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_chunk_writer.h"
#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_prov.h"
#include "dm_store_vds.h"

static const char *const obj_codes[DM_OBJ_NTYPES] = {"j", "b", "e-", "e+", "m-", "m+", "g"};

const char *dm_obj_code(int type)
{
  return type >= 0 && type < DM_OBJ_NTYPES ? obj_codes[type] : "?";
}

/* ---- batches ---------------------------------------------------------------- */

void dm_events_free(dm_events *ev)
{
  if (!ev)
    return;
  free(ev->event_id);
  free(ev->process);
  free(ev->weight);
  free(ev->met);
  free(ev->met_phi);
  free(ev->obj_offset);
  free(ev->type);
  free(ev->e);
  free(ev->pt);
  free(ev->eta);
  free(ev->phi);
  free(ev->met_d);
  free(ev->met_phi_d);
  free(ev->e_d);
  free(ev->pt_d);
  free(ev->eta_d);
  free(ev->phi_d);
  memset(ev, 0, sizeof *ev);
}

void dm_events_clear(dm_events *ev)
{
  ev->n_events = 0;
  ev->n_objects = 0;
  ev->first_event = 0;
  if (ev->obj_offset)
    ev->obj_offset[0] = 0;
}

static int grow(void **p, int64_t n, size_t elem)
{
  void *q = realloc(*p, (size_t)(n > 0 ? n : 1) * elem);
  if (!q)
    return 0;
  *p = q;
  return 1;
}

/* Room for n_events and n_objects. Appending event by event (exact == 0)
 * grows geometrically so that it stays linear; a whole batch read at once
 * (exact) takes only what it needs: batches of a store differ a little in
 * their object count, and half again the largest one seen would be held
 * for the rest of the pass. */
static dm_status events_reserve(dm_events *ev, int64_t n_events, int64_t n_objects,
                                int want_double, int exact)
{
  int ok = 1;
  if (n_events > ev->cap_events || !ev->obj_offset || (want_double && !ev->met_d)) {
    int64_t cap = ev->cap_events;
    if (n_events > cap)
      cap = exact || n_events > cap * 3 / 2 ? n_events : cap * 3 / 2;
    if (cap < 16)
      cap = 16;
    ok = ok && grow((void **)&ev->event_id, cap, sizeof(int64_t));
    ok = ok && grow((void **)&ev->process, cap, sizeof(uint16_t));
    ok = ok && grow((void **)&ev->weight, cap, sizeof(double));
    ok = ok && grow((void **)&ev->met, cap, sizeof(float));
    ok = ok && grow((void **)&ev->met_phi, cap, sizeof(float));
    int fresh = ev->obj_offset == NULL;
    ok = ok && grow((void **)&ev->obj_offset, cap + 1, sizeof(int64_t));
    if (ok && fresh)
      ev->obj_offset[0] = 0;
    if (want_double || ev->met_d) {
      ok = ok && grow((void **)&ev->met_d, cap, sizeof(double));
      ok = ok && grow((void **)&ev->met_phi_d, cap, sizeof(double));
    }
    if (!ok)
      return dm_error(DM_ERR_NOMEM, "no memory for a batch of %lld events", (long long)cap);
    ev->cap_events = cap;
  }
  if (n_objects > ev->cap_objects || !ev->type || (want_double && !ev->e_d)) {
    int64_t cap = ev->cap_objects;
    if (n_objects > cap)
      cap = exact || n_objects > cap * 3 / 2 ? n_objects : cap * 3 / 2;
    if (cap < 64)
      cap = 64;
    ok = ok && grow((void **)&ev->type, cap, sizeof(uint8_t));
    ok = ok && grow((void **)&ev->e, cap, sizeof(float));
    ok = ok && grow((void **)&ev->pt, cap, sizeof(float));
    ok = ok && grow((void **)&ev->eta, cap, sizeof(float));
    ok = ok && grow((void **)&ev->phi, cap, sizeof(float));
    if (want_double || ev->e_d) {
      ok = ok && grow((void **)&ev->e_d, cap, sizeof(double));
      ok = ok && grow((void **)&ev->pt_d, cap, sizeof(double));
      ok = ok && grow((void **)&ev->eta_d, cap, sizeof(double));
      ok = ok && grow((void **)&ev->phi_d, cap, sizeof(double));
    }
    if (!ok)
      return dm_error(DM_ERR_NOMEM, "no memory for a batch of %lld objects", (long long)cap);
    ev->cap_objects = cap;
  }
  return DM_OK;
}

dm_status dm_events_reserve(dm_events *ev, int64_t n_events, int64_t n_objects, int want_double)
{
  return events_reserve(ev, n_events, n_objects, want_double, 0);
}

/* ---- schema ------------------------------------------------------------------ */

/* Event columns in a fixed order; the float ones follow the precision. */
enum { C_EVENT_ID, C_PROCESS, C_WEIGHT, C_MET, C_MET_PHI, C_N_OBJ, C_OBJ_OFFSET, N_ECOLS };
enum { C_TYPE, C_E, C_PT, C_ETA, C_PHI, N_OCOLS };
static const char *const ecol_path[N_ECOLS] = {
    "/events/event_id", "/events/process", "/events/weight",    "/events/met",
    "/events/met_phi",  "/events/n_obj",   "/events/obj_offset"};
static const char *const ocol_path[N_OCOLS] = {"/objects/type", "/objects/e", "/objects/pt",
                                               "/objects/eta", "/objects/phi"};

/* The enum type of /objects/type: uint8 with the archive codes as names, so
 * h5py and h5dump show what each value means. Caller closes it. */
static hid_t obj_type_enum(void)
{
  hid_t t = H5Tenum_create(H5T_NATIVE_UINT8);
  for (int i = 0; i < DM_OBJ_NTYPES; i++) {
    uint8_t v = (uint8_t)i;
    H5Tenum_insert(t, obj_codes[i], &v);
  }
  return t;
}

/* ---- writer ------------------------------------------------------------------ */

/* The columns go through the chunk writer (dm_chunk_writer.h): each rank
 * compresses the chunks it holds and writes them itself; rank 0 keeps the
 * HDF5 metadata. Column c of the chunk writer is event column c for
 * c < N_ECOLS, then the object columns. */
struct dm_store_writer {
  dm_chunkw *cw;
  MPI_Comm comm;
  dm_store_layout layout;
  hid_t type_enum;
  int64_t n_events, n_objects; /* global, written so far */
  int64_t *scratch;            /* global object offsets / n_obj of a batch */
  int64_t scratch_cap;
  char path[DM_PATH_MAX];
  char id[DM_STORE_ID_LEN];
  int index_by_caller;
  dm_store_write_stats *stats_dst;
  /* A catalog: only the columns that cannot be concatenated go through the
   * chunk writer (cw_col[c] = their chunk writer column, -1 for the virtual
   * ones); the parts are the sources of the virtual columns. */
  int catalog;
  int cw_col[N_ECOLS + N_OCOLS];
  dm_store_vds_part *parts;
  int n_parts, cap_parts;
};

/* A catalog's columns that are virtual: all but the two whose values change
 * when stores are joined (c: event column, or N_ECOLS + object column). */
static int is_virtual(int c) { return c != C_PROCESS && c != C_OBJ_OFFSET; }

static const char *col_path(int c) { return c < N_ECOLS ? ecol_path[c] : ocol_path[c - N_ECOLS]; }

/* The file type of column c (the enum for /objects/type). */
static hid_t col_type(const dm_store_writer *w, int c)
{
  hid_t fl = w->layout.precision_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
  const hid_t type[N_ECOLS + N_OCOLS] = {H5T_NATIVE_INT64, H5T_NATIVE_UINT16, H5T_NATIVE_DOUBLE,
                                         fl, fl, H5T_NATIVE_UINT16, H5T_NATIVE_INT64,
                                         w->type_enum, fl, fl, fl, fl};
  return type[c];
}

/* Append per-column buffers given for every column (store order) through
 * the chunk writer's columns. */
static dm_status cw_append(dm_store_writer *w, const void *const *bufs, const int64_t *n)
{
  const void *b[N_ECOLS + N_OCOLS] = {0};
  int64_t k[N_ECOLS + N_OCOLS] = {0};
  for (int c = 0; c < N_ECOLS + N_OCOLS; c++)
    if (w->cw_col[c] >= 0) {
      b[w->cw_col[c]] = bufs[c];
      k[w->cw_col[c]] = n[c];
    }
  return dm_chunkw_append(w->cw, b, k, NULL);
}

const char *dm_store_writer_id(const dm_store_writer *w) { return w->id; }
void dm_store_writer_index_by_caller(dm_store_writer *w) { w->index_by_caller = 1; }
void dm_store_writer_stats_to(dm_store_writer *w, dm_store_write_stats *dst) { w->stats_dst = dst; }

hid_t dm_store_writer_file(const dm_store_writer *w) { return dm_chunkw_file(w->cw); }

static void writer_free(dm_store_writer *w)
{
  if (w->type_enum >= 0)
    H5Tclose(w->type_enum);
  free(w->scratch);
  free(w->parts);
  free(w);
}

static dm_status writer_create(const char *path, const dm_store_layout *layout, int catalog,
                               MPI_Comm comm, dm_store_writer **wp)
{
  *wp = NULL;
  if (layout->zstd_level < 0 || layout->zstd_level > 22)
    return dm_error(DM_ERR_ARG, "zstd level %d is outside 0..22", layout->zstd_level);
  if (layout->chunk_events < 1 || layout->chunk_events > ((int64_t)1 << 22))
    return dm_error(DM_ERR_ARG, "chunk of %lld events is outside 1..4194304",
                    (long long)layout->chunk_events);
  dm_store_writer *w = calloc(1, sizeof *w);
  if (!dm_alltrue(w != NULL, comm)) {
    free(w);
    return dm_error(DM_ERR_NOMEM, "no memory for a store writer");
  }
  w->comm = comm;
  w->layout = *layout;
  w->type_enum = H5I_INVALID_HID;
  w->catalog = catalog;
  snprintf(w->path, sizeof w->path, "%s", path);
  dm_status s = DM_OK;
  if (dm_rank(comm) == 0)
    s = dm_derived_new_id(path, w->id);
  s = dm_agree(s, comm);
  MPI_Bcast(w->id, DM_STORE_ID_LEN, MPI_CHAR, 0, comm);
  if (s == DM_OK)
    s = dm_chunkw_create(path, comm, &w->cw);
  if (s != DM_OK) {
    writer_free(w);
    return s;
  }
  w->type_enum = obj_type_enum();
  /* Objects outnumber events about four to one: bigger chunks keep the
   * compressed blocks of both kinds about the same size. */
  dm_h5_layout el = {layout->zstd_level, layout->chunk_events};
  dm_h5_layout ol = {layout->zstd_level, layout->chunk_events * 4};
  for (int c = 0; c < N_ECOLS + N_OCOLS; c++) {
    w->cw_col[c] = -1;
    if (s == DM_OK && !(catalog && is_virtual(c)))
      s = dm_chunkw_add(w->cw, col_path(c), col_type(w, c), c < N_ECOLS ? &el : &ol,
                        &w->cw_col[c]);
  }
  if (s == DM_OK) {
    /* obj_offset starts with its leading 0 (N+1 entries in the end). */
    int64_t zero = 0, n[N_ECOLS + N_OCOLS] = {0};
    const void *bufs[N_ECOLS + N_OCOLS] = {0};
    n[C_OBJ_OFFSET] = dm_rank(comm) == 0 ? 1 : 0;
    bufs[C_OBJ_OFFSET] = &zero;
    s = cw_append(w, bufs, n);
  }
  if (s == DM_OK) {
    hid_t f = dm_chunkw_file(w->cw);
    s = dm_h5_attr_set_str(f, "precision", layout->precision_double ? "double" : "single");
    if (s == DM_OK)
      s = dm_h5_attr_set_str(f, "units",
                             "GeV for e, pt and met; eta dimensionless; phi and met_phi in "
                             "radians; weight in events per the archive's luminosity");
    if (s == DM_OK)
      s = dm_derived_link(f, path, w->id);
    s = dm_agree(s, comm);
  }
  if (s != DM_OK) {
    dm_chunkw_finish(w->cw, s);
    writer_free(w);
    return s;
  }
  *wp = w;
  return DM_OK;
}

dm_status dm_store_writer_create(const char *path, const dm_store_layout *layout, MPI_Comm comm,
                                 dm_store_writer **w)
{
  return writer_create(path, layout, 0, comm, w);
}

dm_status dm_store_writer_create_catalog(const char *path, const dm_store_layout *layout,
                                         MPI_Comm comm, dm_store_writer **w)
{
  return writer_create(path, layout, 1, comm, w);
}

dm_status dm_store_writer_add_part(dm_store_writer *w, const char *file, int64_t n_events,
                                   int64_t n_objects, const char *store_id)
{
  if (!w->catalog)
    return dm_error(DM_ERR_INTERNAL, "%s: parts added to a store that is not a catalog", w->path);
  if (!*file || strlen(file) >= DM_STORE_VDS_FILE_MAX || strlen(store_id) != DM_STORE_ID_LEN - 1 ||
      n_events < 0 || n_objects < 0)
    return dm_error(DM_ERR_ARG, "%s: bad part '%s' (name too long?)", w->path, file);
  if (w->n_parts == w->cap_parts) {
    int cap = w->cap_parts ? 2 * w->cap_parts : 16;
    dm_store_vds_part *p = realloc(w->parts, (size_t)cap * sizeof *p);
    if (!p)
      return dm_error(DM_ERR_NOMEM, "no memory for %d parts", cap);
    w->parts = p;
    w->cap_parts = cap;
  }
  dm_store_vds_part *p = &w->parts[w->n_parts++];
  memset(p, 0, sizeof *p);
  snprintf(p->file, sizeof p->file, "%s", file);
  snprintf(p->store_id, sizeof p->store_id, "%s", store_id);
  p->n_events = n_events;
  p->n_objects = n_objects;
  return DM_OK;
}

/* COLLECTIVE. A catalog's virtual columns and table, once every part's
 * events were appended (their totals must be the ones written). */
static dm_status finish_catalog(dm_store_writer *w, hid_t f)
{
  int64_t ne = 0, no = 0;
  for (int i = 0; i < w->n_parts; i++) {
    ne += w->parts[i].n_events;
    no += w->parts[i].n_objects;
  }
  if (ne != w->n_events || no != w->n_objects)
    return dm_error(DM_ERR_INTERNAL,
                    "%s: its parts hold %lld events and %lld objects, %lld and %lld were "
                    "appended", w->path, (long long)ne, (long long)no, (long long)w->n_events,
                    (long long)w->n_objects);
  for (int c = 0; c < N_ECOLS + N_OCOLS; c++)
    if (is_virtual(c))
      DM_FORWARD(dm_store_vds_create(f, col_path(c), col_type(w, c), w->parts, w->n_parts,
                                     c >= N_ECOLS));
  return dm_store_vds_write_table(f, w->parts, w->n_parts);
}

dm_status dm_store_writer_append(dm_store_writer *w, const dm_events *ev)
{
  MPI_Comm c = w->comm;
  int64_t ne = ev->n_events, no = ev->n_objects;
  int dbl = w->layout.precision_double;
  /* Local checks first, agreed, so a bad batch on one rank cannot leave the
   * others waiting inside a collective write. */
  dm_status s = DM_OK;
  if (ne < 0 || no < 0 || (ne > 0 && ev->obj_offset[ne] != no) ||
      (ne > 0 && ev->obj_offset[0] != 0))
    s = dm_error(DM_ERR_INTERNAL, "store append: inconsistent batch (%lld events, %lld objects)",
                 (long long)ne, (long long)no);
  else if (dbl && !w->catalog && ((ne > 0 && !ev->met_d) || (no > 0 && !ev->e_d)))
    s = dm_error(DM_ERR_INTERNAL, "store append: double-precision layout needs double arrays");
  /* Room for the global end offsets (int64) followed by n_obj (uint16). */
  int64_t need = ne + (ne + 3) / 4;
  if (s == DM_OK && need > w->scratch_cap) {
    int64_t cap = need > 2 * w->scratch_cap ? need : 2 * w->scratch_cap;
    int64_t *p = realloc(w->scratch, (size_t)cap * sizeof *p);
    if (!p)
      s = dm_error(DM_ERR_NOMEM, "no memory for %lld offsets", (long long)ne);
    else {
      w->scratch = p;
      w->scratch_cap = cap;
    }
  }
  DM_FORWARD(dm_agree(s, c));

  /* Objects are numbered before this batch is written: the offsets must be
   * global, so every rank needs the objects of the ranks before it. */
  int64_t obj_prefix = 0, total_obj = 0, total_ev = 0;
  dm_exscan_i64(no, c, &obj_prefix, &total_obj);
  dm_exscan_i64(ne, c, NULL, &total_ev);
  int64_t first_obj = w->n_objects + obj_prefix;
  int64_t *off = w->scratch;
  /* No arithmetic on a NULL scratch (a rank with no events this batch). */
  uint16_t *nobj = w->scratch ? (uint16_t *)(w->scratch + ne) : NULL;
  for (int64_t i = 0; i < ne; i++) {
    int64_t k = ev->obj_offset[i + 1] - ev->obj_offset[i];
    nobj[i] = (uint16_t)(k > 65535 ? 65535 : k);
    off[i] = ev->obj_offset[i + 1] + first_obj;
  }
  const void *bufs[N_ECOLS + N_OCOLS] = {
      ev->event_id, ev->process, ev->weight,
      dbl ? (void *)ev->met_d : (void *)ev->met,
      dbl ? (void *)ev->met_phi_d : (void *)ev->met_phi,
      nobj, off,
      ev->type, dbl ? (void *)ev->e_d : (void *)ev->e,
      dbl ? (void *)ev->pt_d : (void *)ev->pt,
      dbl ? (void *)ev->eta_d : (void *)ev->eta,
      dbl ? (void *)ev->phi_d : (void *)ev->phi};
  int64_t n[N_ECOLS + N_OCOLS];
  for (int i = 0; i < N_ECOLS; i++)
    n[i] = ne;
  for (int i = 0; i < N_OCOLS; i++)
    n[N_ECOLS + i] = no;
  s = cw_append(w, bufs, n);
  if (s == DM_OK) {
    w->n_events += total_ev;
    w->n_objects += total_obj;
  }
  return s;
}

int64_t dm_store_writer_n_events(const dm_store_writer *w) { return w->n_events; }
int64_t dm_store_writer_n_objects(const dm_store_writer *w) { return w->n_objects; }

dm_status dm_store_writer_finish(dm_store_writer *w, dm_status local, const char *const *proc_names,
                                 const int64_t *proc_events, int n_proc, const char *command_line,
                                 const char *inputs)
{
  if (!w)
    return local;
  /* The last partial chunks first: rank 0 writes the metadata after them. */
  dm_status s = dm_chunkw_flush(w->cw, local);
  if (w->stats_dst) {
    dm_chunkw_stats cs;
    dm_chunkw_get_stats(w->cw, &cs);
    *w->stats_dst = (dm_store_write_stats){cs.compress, cs.allocate, cs.write, cs.place,
                                           cs.chunks, cs.addr_wait, cs.writebacks};
  }
  hid_t f = dm_chunkw_file(w->cw);
  if (s == DM_OK) {
    int64_t dims[1] = {n_proc};
    s = dm_h5_strings_write(f, "/processes/name", proc_names, n_proc, w->comm);
    if (s == DM_OK)
      s = dm_h5_array_write(f, "/processes/n_events", H5T_NATIVE_INT64, 1, dims, proc_events,
                            w->comm);
    if (s == DM_OK)
      s = dm_h5_attr_set_i64(f, "n_events", w->n_events);
    if (s == DM_OK)
      s = dm_h5_attr_set_i64(f, "n_objects", w->n_objects);
    /* Agreed before the collective calls that follow (the catalog's virtual
     * columns, provenance, the derived index): an attribute write can fail
     * on one rank alone. */
    s = dm_agree(s, w->comm);
    if (w->catalog && s == DM_OK)
      s = dm_agree(finish_catalog(w, f), w->comm);
    if (s == DM_OK)
      s = dm_prov_write(f, DM_FORMAT_STORE, w->catalog ? DM_STORE_VERSION : DM_STORE_VERSION_PLAIN,
                        command_line, inputs);
  }
  /* The index before the store's rename: a store under its final name
   * always has one. Removed again if the store fails. */
  int index_made = 0;
  if (s == DM_OK && !w->index_by_caller) {
    s = dm_derived_index_create(w->path, w->id, w->n_events, w->comm);
    index_made = s == DM_OK;
  }
  /* A store replaced under the same name takes its side files with it
   * (listed before the rename, removed after it). */
  char *old_side = s == DM_OK && dm_rank(w->comm) == 0 ? dm_derived_side_files(w->path) : NULL;
  s = dm_chunkw_finish(w->cw, s);
  if (s != DM_OK && index_made && dm_rank(w->comm) == 0)
    dm_derived_remove_new(w->path, w->id);
  if (s == DM_OK)
    dm_derived_remove_listed(old_side);
  free(old_side);
  writer_free(w);
  return s;
}

/* ---- reader ------------------------------------------------------------------ */

struct dm_store {
  hid_t file;
  MPI_Comm comm;
  char path[DM_PATH_MAX];
  int64_t n_events, n_objects;
  int is_double;
  int n_proc;
  char **proc_names; /* one block from dm_h5_strings_read */
  int64_t *proc_events;
  hid_t ecol[N_ECOLS], ocol[N_OCOLS];
  /* The derived columns (dm_derived.h); never NULL once opened. */
  dm_derived *derived;
  uint16_t *nobj; /* /events/n_obj of the batch being read, to check offsets */
  int64_t nobj_cap;
  /* A catalog's table of parts (n_parts 0 otherwise) and their paths. */
  dm_store_vds_part *parts;
  int n_parts;
  char **part_paths;
};

dm_status dm_store_close(dm_store *st)
{
  if (!st)
    return DM_OK;
  for (int i = 0; i < N_ECOLS; i++)
    if (st->ecol[i] >= 0)
      H5Dclose(st->ecol[i]);
  for (int i = 0; i < N_OCOLS; i++)
    if (st->ocol[i] >= 0)
      H5Dclose(st->ocol[i]);
  dm_status s = dm_derived_close(st->derived);
  dm_status c = dm_h5_close(st->file);
  if (s == DM_OK)
    s = c;
  free(st->proc_names);
  free(st->proc_events);
  free(st->nobj);
  for (int i = 0; st->part_paths && i < st->n_parts; i++)
    free(st->part_paths[i]);
  free(st->part_paths);
  free(st->parts);
  free(st);
  return s;
}

/* Schema checks and the small tables, every rank the same calls. */
static dm_status store_load(dm_store *st)
{
  const char *path = st->path;
  DM_FORWARD(dm_prov_check(st->file, path, DM_FORMAT_STORE, DM_STORE_VERSION, NULL));
  for (int i = 0; i < N_ECOLS; i++) {
    st->ecol[i] = dm_h5_col_open(st->file, ecol_path[i]);
    if (st->ecol[i] < 0)
      return dm_error(DM_ERR_SCHEMA, "%s: dataset %s is missing", path, ecol_path[i]);
  }
  for (int i = 0; i < N_OCOLS; i++) {
    st->ocol[i] = dm_h5_col_open(st->file, ocol_path[i]);
    if (st->ocol[i] < 0)
      return dm_error(DM_ERR_SCHEMA, "%s: dataset %s is missing", path, ocol_path[i]);
  }
  int64_t len = 0;
  DM_FORWARD(dm_h5_col_length(st->file, ecol_path[C_EVENT_ID], &st->n_events));
  DM_FORWARD(dm_h5_col_length(st->file, ocol_path[C_TYPE], &st->n_objects));
  for (int i = 0; i < N_ECOLS; i++) {
    DM_FORWARD(dm_h5_col_length(st->file, ecol_path[i], &len));
    int64_t want = st->n_events + (i == C_OBJ_OFFSET);
    if (len != want)
      return dm_error(DM_ERR_SCHEMA, "%s: %s has %lld entries, expected %lld", path,
                      ecol_path[i], (long long)len, (long long)want);
  }
  for (int i = 0; i < N_OCOLS; i++) {
    DM_FORWARD(dm_h5_col_length(st->file, ocol_path[i], &len));
    if (len != st->n_objects)
      return dm_error(DM_ERR_SCHEMA, "%s: %s has %lld entries, expected %lld", path,
                      ocol_path[i], (long long)len, (long long)st->n_objects);
  }
  /* The counts the writer recorded must be the ones the datasets hold: a
   * store cut short or spliced by hand shows up here first. */
  int64_t attr = 0;
  if (dm_h5_attr_get_i64(st->file, "n_events", &attr) == DM_OK && attr != st->n_events)
    return dm_error(DM_ERR_SCHEMA, "%s: /events/event_id has %lld entries but the file says "
                    "n_events = %lld", path, (long long)st->n_events, (long long)attr);
  if (dm_h5_attr_get_i64(st->file, "n_objects", &attr) == DM_OK && attr != st->n_objects)
    return dm_error(DM_ERR_SCHEMA, "%s: /objects/type has %lld entries but the file says "
                    "n_objects = %lld", path, (long long)st->n_objects, (long long)attr);
  hid_t t = H5Dget_type(st->ecol[C_MET]);
  st->is_double = H5Tget_size(t) == 8;
  H5Tclose(t);
  int64_t np = 0, nc = 0;
  dm_status s = dm_h5_strings_read(st->file, "/processes/name", &st->proc_names, &np);
  int nd = 0;
  int64_t dims[4];
  if (s == DM_OK)
    s = dm_h5_array_read(st->file, "/processes/n_events", H5T_NATIVE_INT64, &nd, dims, &nc,
                         (void **)&st->proc_events);
  if (s != DM_OK) {
    dm_error_context("%s", path);
    return s;
  }
  if (nc != np || np > 65536)
    return dm_error(DM_ERR_SCHEMA, "%s: /processes has %lld names and %lld counts", path,
                    (long long)np, (long long)nc);
  st->n_proc = (int)np;
  return DM_OK;
}

/* COLLECTIVE, agreed. The offsets' two ends, which no batch check covers
 * alone: obj_offset[0] == 0 and obj_offset[n_events] == the objects' length.
 * Together with the checks of every batch read (non-decreasing, each step
 * equal to n_obj), they make the offsets a partition of /objects. */
static dm_status offsets_ends(dm_store *st)
{
  int64_t first = -1, last = -1;
  dm_status s = dm_h5_dset_read(st->ecol[C_OBJ_OFFSET], H5T_NATIVE_INT64, 0, 1, &first);
  if (s == DM_OK)
    s = dm_h5_dset_read(st->ecol[C_OBJ_OFFSET], H5T_NATIVE_INT64, st->n_events, 1, &last);
  if (s != DM_OK)
    dm_error_context("%s: reading /events/obj_offset", st->path);
  else if (first != 0)
    s = dm_error(DM_ERR_SCHEMA, "%s: /events/obj_offset[0] is %lld, expected 0", st->path,
                 (long long)first);
  else if (last != st->n_objects)
    s = dm_error(DM_ERR_SCHEMA,
                 "%s: /events/obj_offset[%lld] (the last) is %lld but /objects has %lld "
                 "entries", st->path, (long long)st->n_events, (long long)last,
                 (long long)st->n_objects);
  return dm_agree(s, st->comm);
}

/* COLLECTIVE, agreed. Open the file of the store at path through MPI-IO or,
 * for a catalog, with the default driver on every rank, read-only (see
 * dm_store_open in dm_store.h), its table in *parts (NULL, 0 otherwise) and
 * every part checked by rank 0. */
static dm_status file_open(const char *path, MPI_Comm comm, int readwrite, hid_t *file,
                           dm_store_vds_part **parts, int *n_parts)
{
  *parts = NULL;
  *n_parts = 0;
  DM_FORWARD(dm_h5_open(path, comm, readwrite, file));
  /* A collective metadata read on the MPI-IO file: the same on every rank. */
  if (!dm_store_vds_is_catalog(*file))
    return DM_OK;
  dm_status s = dm_h5_close(*file);
  *file = H5I_INVALID_HID;
  if (s == DM_OK && readwrite)
    s = dm_error(DM_ERR_ARG, "%s is a catalog, which is only ever read", path);
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = dm_agree(dm_h5_open_serial(path, 0, file), comm);
  if (s == DM_OK)
    s = dm_agree(dm_store_vds_read_table(*file, path, parts, n_parts), comm);
  if (s == DM_OK && dm_rank(comm) == 0) {
    const char *cols[N_ECOLS + N_OCOLS];
    int objects[N_ECOLS + N_OCOLS], nc = 0;
    for (int c = 0; c < N_ECOLS + N_OCOLS; c++)
      if (is_virtual(c)) {
        cols[nc] = col_path(c);
        objects[nc++] = c >= N_ECOLS;
      }
    s = dm_store_vds_check(*file, path, *parts, *n_parts, cols, objects, nc);
  }
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    if (*file >= 0)
      H5Fclose(*file);
    *file = H5I_INVALID_HID;
    free(*parts);
    *parts = NULL;
    *n_parts = 0;
  }
  return s;
}

dm_status dm_store_open_file(const char *path, MPI_Comm comm, hid_t *file)
{
  dm_store_vds_part *parts = NULL;
  int n = 0;
  dm_status s = file_open(path, comm, 0, file, &parts, &n);
  free(parts);
  return s;
}

/* LOCAL. The paths of a catalog's parts, as opened. */
static dm_status part_paths(dm_store *st)
{
  st->part_paths = calloc(st->n_parts > 0 ? (size_t)st->n_parts : 1, sizeof *st->part_paths);
  if (!st->part_paths)
    return dm_error(DM_ERR_NOMEM, "no memory");
  char p[DM_PATH_MAX];
  for (int i = 0; i < st->n_parts; i++) {
    DM_FORWARD(dm_store_vds_part_path(st->path, &st->parts[i], p, sizeof p));
    if (!(st->part_paths[i] = strdup(p)))
      return dm_error(DM_ERR_NOMEM, "no memory");
  }
  return DM_OK;
}

dm_status dm_store_open(const char *path, MPI_Comm comm, int readwrite, dm_store **out)
{
  *out = NULL;
  dm_store *st = calloc(1, sizeof *st);
  if (!dm_alltrue(st != NULL, comm)) {
    free(st);
    return dm_error(DM_ERR_NOMEM, "no memory to open %s", path);
  }
  st->comm = comm;
  st->file = H5I_INVALID_HID;
  for (int i = 0; i < N_ECOLS; i++)
    st->ecol[i] = H5I_INVALID_HID;
  for (int i = 0; i < N_OCOLS; i++)
    st->ocol[i] = H5I_INVALID_HID;
  snprintf(st->path, sizeof st->path, "%s", path);
  dm_status s = file_open(path, comm, readwrite, &st->file, &st->parts, &st->n_parts);
  if (s == DM_OK)
    s = dm_agree(part_paths(st), comm);
  if (s == DM_OK)
    s = dm_agree(store_load(st), comm);
  if (s == DM_OK)
    s = offsets_ends(st);
  /* Through dm_derived, not by following the /derived link in HDF5: it
   * checks the pairing and looks beside the store only (dm_derived.h). */
  if (s == DM_OK)
    s = dm_agree(dm_derived_open(path, st->file, st->n_events, comm, &st->derived), comm);
  if (s != DM_OK) {
    dm_store_close(st);
    return s;
  }
  *out = st;
  return DM_OK;
}

int64_t dm_store_n_events(const dm_store *st) { return st->n_events; }
int64_t dm_store_n_objects(const dm_store *st) { return st->n_objects; }
int dm_store_n_processes(const dm_store *st) { return st->n_proc; }
const char *dm_store_process_name(const dm_store *st, int i)
{
  return i >= 0 && i < st->n_proc ? st->proc_names[i] : "?";
}
int64_t dm_store_process_events(const dm_store *st, int i)
{
  return i >= 0 && i < st->n_proc ? st->proc_events[i] : 0;
}
int dm_store_is_double(const dm_store *st) { return st->is_double; }
dm_derived *dm_store_derived(const dm_store *st) { return st->derived; }
hid_t dm_store_file(const dm_store *st) { return st->file; }
const char *dm_store_path(const dm_store *st) { return st->path; }
MPI_Comm dm_store_comm(const dm_store *st) { return st->comm; }
int dm_store_n_parts(const dm_store *st) { return st->n_parts; }
const char *dm_store_part_path(const dm_store *st, int i)
{
  return i >= 0 && i < st->n_parts ? st->part_paths[i] : "";
}

dm_status dm_store_identify(const char *path, char id[DM_STORE_ID_LEN], int64_t *n_events,
                            int64_t *n_objects)
{
  hid_t f = H5I_INVALID_HID;
  DM_FORWARD(dm_h5_open_serial(path, 0, &f));
  dm_status s = dm_prov_check(f, path, DM_FORMAT_STORE, DM_STORE_VERSION, NULL);
  if (s == DM_OK && dm_store_vds_is_catalog(f))
    s = dm_error(DM_ERR_SCHEMA, "%s is a catalog, not a store of events of its own", path);
  if (s == DM_OK)
    s = dm_derived_store_key(f, path, id, DM_STORE_ID_LEN);
  if (s == DM_OK)
    s = dm_h5_col_length(f, ecol_path[C_EVENT_ID], n_events);
  if (s == DM_OK)
    s = dm_h5_col_length(f, ocol_path[C_TYPE], n_objects);
  int64_t a = 0;
  if (s == DM_OK && dm_h5_attr_get_i64(f, "n_events", &a) == DM_OK && a != *n_events)
    s = dm_error(DM_ERR_SCHEMA, "%s: /events/event_id has %lld entries but the file says "
                 "n_events = %lld", path, (long long)*n_events, (long long)a);
  if (s == DM_OK && dm_h5_attr_get_i64(f, "n_objects", &a) == DM_OK && a != *n_objects)
    s = dm_error(DM_ERR_SCHEMA, "%s: /objects/type has %lld entries but the file says "
                 "n_objects = %lld", path, (long long)*n_objects, (long long)a);
  if (s != DM_OK && !strstr(dm_error_message(), path))
    dm_error_context("%s", path);
  H5Fclose(f);
  return s;
}

dm_status dm_store_catalog_parts(const char *path, char **list)
{
  *list = NULL;
  hid_t f = H5I_INVALID_HID;
  DM_FORWARD(dm_h5_open_serial(path, 0, &f));
  dm_store_vds_part *p = NULL;
  int n = 0;
  dm_status s = DM_OK;
  if (dm_store_vds_is_catalog(f))
    s = dm_store_vds_read_table(f, path, &p, &n);
  H5Fclose(f);
  size_t len = 1;
  for (int i = 0; s == DM_OK && i < n; i++)
    len += strlen(p[i].file) + 1;
  char *out = s == DM_OK ? malloc(len) : NULL;
  if (s == DM_OK && !out)
    s = dm_error(DM_ERR_NOMEM, "no memory");
  if (s == DM_OK) {
    size_t k = 0;
    for (int i = 0; i < n; i++)
      k += (size_t)sprintf(out + k, "%s\n", p[i].file);
    out[k] = '\0';
    *list = out;
  }
  free(p);
  return s;
}

/* COLLECTIVE (one read). A read whose failure names the file, the dataset
 * and the range: a truncated or damaged file fails here, chunk by chunk. */
static dm_status read_checked(const dm_store *st, const char *name, hid_t d, hid_t type,
                              int64_t begin, int64_t n, void *buf)
{
  dm_status s = dm_h5_dset_read(d, type, begin, n, buf);
  if (s != DM_OK)
    s = dm_error(s, "%s: cannot read %s[%lld..%lld) (damaged or truncated file?)", st->path, name,
                 (long long)begin, (long long)(begin + n));
  return s;
}

/* LOCAL. Offsets of events [begin, begin+count) as read (count+1 entries,
 * global): inside [0, n_objects], non-decreasing, each step equal to the
 * event's n_obj (which saturates at 65535). Batches overlap by one offset,
 * so checking each batch checks the whole column. */
static dm_status check_offsets(const dm_store *st, int64_t begin, int64_t count,
                               const int64_t *off)
{
  if (count == 0)
    return DM_OK;
  if (off[0] < 0 || off[0] > st->n_objects)
    return dm_error(DM_ERR_SCHEMA,
                    "%s: /events/obj_offset[%lld] is %lld, outside [0, %lld] (the objects)",
                    st->path, (long long)begin, (long long)off[0], (long long)st->n_objects);
  for (int64_t i = 0; i < count; i++) {
    int64_t k = off[i + 1] - off[i];
    if (k < 0 || off[i + 1] > st->n_objects)
      return dm_error(DM_ERR_SCHEMA,
                      "%s: /events/obj_offset[%lld] is %lld after %lld: offsets must not "
                      "decrease nor pass the %lld objects",
                      st->path, (long long)(begin + i + 1), (long long)off[i + 1],
                      (long long)off[i], (long long)st->n_objects);
    if ((k > 65535 ? 65535 : k) != st->nobj[i])
      return dm_error(DM_ERR_SCHEMA,
                      "%s: /events/n_obj[%lld] is %d but /events/obj_offset gives the event "
                      "%lld objects", st->path, (long long)(begin + i), st->nobj[i],
                      (long long)k);
  }
  return DM_OK;
}

/* Read a float column into float (and double, if asked) arrays: a double
 * store is read once as double and narrowed in memory. c: event column
 * index, or N_ECOLS + object column index. */
static dm_status read_real(const dm_store *st, int c, int64_t begin, int64_t n, float *f,
                           double *dd)
{
  const char *name = c < N_ECOLS ? ecol_path[c] : ocol_path[c - N_ECOLS];
  hid_t d = c < N_ECOLS ? st->ecol[c] : st->ocol[c - N_ECOLS];
  if (dd) {
    DM_FORWARD(read_checked(st, name, d, H5T_NATIVE_DOUBLE, begin, n, dd));
    for (int64_t i = 0; i < n; i++)
      f[i] = (float)dd[i];
    return DM_OK;
  }
  return read_checked(st, name, d, H5T_NATIVE_FLOAT, begin, n, f);
}

dm_status dm_store_read(dm_store *st, int64_t begin, int64_t count, int want_double,
                        dm_events *ev)
{
  dm_status s = DM_OK;
  if (begin < 0 || count < 0 || begin + count > st->n_events)
    s = dm_error(DM_ERR_ARG, "%s: events [%lld, %lld) are outside the store's %lld", st->path,
                 (long long)begin, (long long)(begin + count), (long long)st->n_events);
  if (s == DM_OK)
    s = events_reserve(ev, count, 0, want_double, 1);
  /* want_double must agree too: it decides how many reads follow. */
  int dbl_all = dm_alltrue(want_double, st->comm), dbl_any = !dm_alltrue(!want_double, st->comm);
  if (s == DM_OK && dbl_all != dbl_any)
    s = dm_error(DM_ERR_INTERNAL, "dm_store_read: want_double differs between ranks");
  DM_FORWARD(dm_agree(s, st->comm));
  ev->n_events = count;
  ev->first_event = begin;
  /* Offsets first: they say which objects to read. A rank with no events
   * reads nothing but still takes part in every collective read. */
  if (count > st->nobj_cap) {
    uint16_t *p = realloc(st->nobj, (size_t)count * sizeof *p);
    if (p) {
      st->nobj = p;
      st->nobj_cap = count;
    }
  }
  s = dm_agree(count > st->nobj_cap
                   ? dm_error(DM_ERR_NOMEM, "no memory for %lld object counts", (long long)count)
                   : DM_OK,
               st->comm);
  if (s != DM_OK)
    return s;
  s = read_checked(st, ecol_path[C_OBJ_OFFSET], st->ecol[C_OBJ_OFFSET], H5T_NATIVE_INT64, begin,
                   count > 0 ? count + 1 : 0, ev->obj_offset);
  dm_status sn = read_checked(st, ecol_path[C_N_OBJ], st->ecol[C_N_OBJ], H5T_NATIVE_UINT16,
                              begin, count, st->nobj);
  if (s == DM_OK)
    s = sn;
  if (s == DM_OK)
    s = check_offsets(st, begin, count, ev->obj_offset);
  int64_t o0 = 0, no = 0;
  if (s == DM_OK && count > 0) {
    o0 = ev->obj_offset[0];
    no = ev->obj_offset[count] - o0;
  }
  if (s == DM_OK)
    s = events_reserve(ev, count, no, want_double, 1);
  DM_FORWARD(dm_agree(s, st->comm));
  for (int64_t i = 0; i <= count && count > 0; i++)
    ev->obj_offset[i] -= o0;
  if (count == 0)
    ev->obj_offset[0] = 0;
  ev->n_objects = no;
  /* Every read is made on every rank even after a failure, so the
   * collective calls stay matched; the first error is kept. */
  int d = want_double;
  dm_status r[10];
  r[0] = read_checked(st, ecol_path[C_EVENT_ID], st->ecol[C_EVENT_ID], H5T_NATIVE_INT64, begin,
                      count, ev->event_id);
  r[1] = read_checked(st, ecol_path[C_PROCESS], st->ecol[C_PROCESS], H5T_NATIVE_UINT16, begin,
                      count, ev->process);
  r[2] = read_checked(st, ecol_path[C_WEIGHT], st->ecol[C_WEIGHT], H5T_NATIVE_DOUBLE, begin,
                      count, ev->weight);
  r[3] = read_real(st, C_MET, begin, count, ev->met, d ? ev->met_d : NULL);
  r[4] = read_real(st, C_MET_PHI, begin, count, ev->met_phi, d ? ev->met_phi_d : NULL);
  r[5] = read_checked(st, ocol_path[C_TYPE], st->ocol[C_TYPE], H5T_NATIVE_UINT8, o0, no,
                      ev->type);
  r[6] = read_real(st, N_ECOLS + C_E, o0, no, ev->e, d ? ev->e_d : NULL);
  r[7] = read_real(st, N_ECOLS + C_PT, o0, no, ev->pt, d ? ev->pt_d : NULL);
  r[8] = read_real(st, N_ECOLS + C_ETA, o0, no, ev->eta, d ? ev->eta_d : NULL);
  r[9] = read_real(st, N_ECOLS + C_PHI, o0, no, ev->phi, d ? ev->phi_d : NULL);
  for (int i = 0; i < 10 && s == DM_OK; i++)
    s = r[i];
  /* The values that index something: a process outside the table or an
   * object type outside the enum would be read as another one downstream. */
  for (int64_t i = 0; s == DM_OK && i < count; i++)
    if (ev->process[i] >= st->n_proc)
      s = dm_error(DM_ERR_SCHEMA,
                   "%s: /events/process[%lld] is %d but /processes has %d entries", st->path,
                   (long long)(begin + i), ev->process[i], st->n_proc);
  for (int64_t j = 0; s == DM_OK && j < no; j++)
    if (ev->type[j] >= DM_OBJ_NTYPES)
      s = dm_error(DM_ERR_SCHEMA,
                   "%s: /objects/type[%lld] is %d, not an object type (0..%d: j b e- e+ m- m+ g)",
                   st->path, (long long)(o0 + j), ev->type[j], DM_OBJ_NTYPES - 1);
  return dm_agree(s, st->comm);
}

dm_status dm_store_read_process(dm_store *st, int64_t begin, int64_t count, uint16_t *process)
{
  return dm_store_read_index(st, begin, count, process, NULL);
}

dm_status dm_store_read_index(dm_store *st, int64_t begin, int64_t count, uint16_t *process,
                              int64_t *obj_offset)
{
  dm_status s = DM_OK;
  if (begin < 0 || count < 0 || begin + count > st->n_events)
    s = dm_error(DM_ERR_ARG, "%s: events [%lld, %lld) are outside the store's %lld", st->path,
                 (long long)begin, (long long)(begin + count), (long long)st->n_events);
  int64_t *off = NULL;
  if (s == DM_OK && count > st->nobj_cap) {
    uint16_t *p = realloc(st->nobj, (size_t)count * sizeof *p);
    if (p) {
      st->nobj = p;
      st->nobj_cap = count;
    }
  }
  if (s == DM_OK) {
    off = obj_offset ? obj_offset : malloc((size_t)(count + 1) * sizeof *off);
    if (!off || count > st->nobj_cap)
      s = dm_error(DM_ERR_NOMEM, "no memory for the index of %lld events", (long long)count);
  }
  s = dm_agree(s, st->comm);
  if (s != DM_OK) {
    if (off != obj_offset)
      free(off);
    return s;
  }
  /* Every read on every rank, so the collective calls stay matched. */
  dm_status r[3];
  r[0] = read_checked(st, ecol_path[C_OBJ_OFFSET], st->ecol[C_OBJ_OFFSET], H5T_NATIVE_INT64,
                      begin, count > 0 ? count + 1 : 0, off);
  r[1] = read_checked(st, ecol_path[C_N_OBJ], st->ecol[C_N_OBJ], H5T_NATIVE_UINT16, begin, count,
                      st->nobj);
  r[2] = read_checked(st, ecol_path[C_PROCESS], st->ecol[C_PROCESS], H5T_NATIVE_UINT16, begin,
                      count, process);
  for (int i = 0; i < 3 && s == DM_OK; i++)
    s = r[i];
  if (s == DM_OK)
    s = check_offsets(st, begin, count, off);
  for (int64_t i = 0; s == DM_OK && i < count; i++)
    if (process[i] >= st->n_proc)
      s = dm_error(DM_ERR_SCHEMA,
                   "%s: /events/process[%lld] is %d but /processes has %d entries", st->path,
                   (long long)(begin + i), process[i], st->n_proc);
  if (off != obj_offset)
    free(off);
  return dm_agree(s, st->comm);
}

dm_status dm_store_verify(dm_store *st, int64_t batch)
{
  if (batch <= 0)
    batch = 65536;
  int rank = dm_rank(st->comm), size = dm_size(st->comm);
  int64_t per_round = batch * size;
  dm_events ev;
  memset(&ev, 0, sizeof ev);
  dm_status s = DM_OK;
  for (int64_t r0 = 0; s == DM_OK && r0 < st->n_events; r0 += per_round) {
    int64_t m = st->n_events - r0 < per_round ? st->n_events - r0 : per_round, b, e;
    dm_partition(m, rank, size, &b, &e);
    s = dm_store_read(st, r0 + b, e - b, 0, &ev);
  }
  dm_events_free(&ev);
  return s;
}

int dm_store_has_derived(const dm_store *st, const char *name)
{
  return st->derived && dm_derived_has(st->derived, name);
}

dm_status dm_store_read_derived(dm_store *st, const char *name, int64_t begin, int64_t count,
                                double *out)
{
  dm_status s = DM_OK;
  if (begin < 0 || count < 0 || begin + count > st->n_events)
    s = dm_error(DM_ERR_ARG, "%s: events [%lld, %lld) are outside the store's %lld", st->path,
                 (long long)begin, (long long)(begin + count), (long long)st->n_events);
  DM_FORWARD(dm_agree(s, st->comm));
  s = dm_derived_read(st->derived, name, begin, count, out);
  if (s != DM_OK)
    dm_error_context("%s", st->path);
  return dm_agree(s, st->comm);
}
