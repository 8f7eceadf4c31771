/* dm_catalog.c - one store over per-sample stores (see dm_catalog.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_catalog.h"
#include "dm_catalog_parts.h"
#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_store.h"

typedef struct {
  char **names;
  int64_t *counts;
  int n, cap;
} proc_table;

static int table_find_or_add(proc_table *t, const char *name)
{
  for (int i = 0; i < t->n; i++)
    if (!strcmp(t->names[i], name))
      return i;
  if (t->n == t->cap) {
    int nc = t->cap ? 2 * t->cap : 64;
    char **nn = realloc(t->names, nc * sizeof *nn);
    int64_t *ncnt = realloc(t->counts, nc * sizeof *ncnt);
    if (nn)
      t->names = nn;
    if (ncnt)
      t->counts = ncnt;
    if (!nn || !ncnt)
      return -1;
    t->cap = nc;
  }
  t->names[t->n] = strdup(name);
  if (!t->names[t->n])
    return -1;
  t->counts[t->n] = 0;
  return t->n++;
}

/* Sums of the samples' ingest numbers, kept as catalog attributes. */
static const char *const sum_attrs[] = {"source_bytes", "source_lines", "rejected_lines",
                                        "inexact_float32_values", NULL};

/* Append the sample's "inputs" attribute (one input per line) to *buf. */
static dm_status add_inputs(hid_t f, char **buf, size_t *len, size_t *cap, char *attr,
                            size_t attr_cap)
{
  if (dm_h5_attr_get_str(f, "inputs", attr, attr_cap) != DM_OK) {
    dm_error_clear(); /* a sample without it is fine */
    return DM_OK;
  }
  size_t l = strlen(attr);
  if (*len + l + 2 > *cap) {
    size_t c = *cap;
    while (*len + l + 2 > c)
      c *= 2;
    char *n = realloc(*buf, c);
    if (!n)
      return dm_error(DM_ERR_NOMEM, "no memory");
    *buf = n;
    *cap = c;
  }
  memcpy(*buf + *len, attr, l);
  *len += l;
  if (l && attr[l - 1] != '\n')
    (*buf)[(*len)++] = '\n';
  (*buf)[*len] = '\0';
  return DM_OK;
}

/* COLLECTIVE. Rounds of size x batch events; rank r takes the r-th slice,
 * and the writer appends the slices in rank order: the sample's order. Only
 * the index is read (process, obj_offset): the other columns are mapped. */
static dm_status append_index(dm_store *st, dm_store_writer *w, const int *map, int64_t batch,
                              dm_events *ev)
{
  MPI_Comm comm = dm_store_comm(st);
  int rank = dm_rank(comm), size = dm_size(comm);
  int64_t n = dm_store_n_events(st);
  dm_status s = DM_OK;
  for (int64_t r0 = 0; s == DM_OK && r0 < n; r0 += batch * size) {
    int64_t b = r0 + batch * rank, c = 0;
    if (b < n)
      c = n - b < batch ? n - b : batch;
    else
      b = n;
    s = dm_agree(dm_events_reserve(ev, c, 0, 0), comm);
    if (s == DM_OK)
      s = dm_store_read_index(st, b, c, ev->process, ev->obj_offset);
    if (s != DM_OK)
      break;
    int64_t o0 = c > 0 ? ev->obj_offset[0] : 0;
    for (int64_t e = 0; e <= c && c > 0; e++)
      ev->obj_offset[e] -= o0;
    ev->obj_offset[0] = 0;
    ev->n_events = c;
    ev->n_objects = ev->obj_offset[c];
    ev->first_event = b;
    for (int64_t e = 0; e < c; e++)
      ev->process[e] = (uint16_t)map[ev->process[e]];
    s = dm_store_writer_append(w, ev);
  }
  return s;
}

dm_status dm_catalog_run(const dm_catalog_opts *o, MPI_Comm comm, dm_catalog_report *rep)
{
  memset(rep, 0, sizeof *rep);
  int rank = dm_rank(comm);
  if (o->n_inputs < 1)
    return dm_error(DM_ERR_ARG, "catalog: no sample store given");
  int64_t batch = o->batch > 0 ? o->batch : (int64_t)1 << 20;
  dm_catparts parts;
  DM_FORWARD(dm_agree(dm_catparts_init(&parts, o->out), comm));
  proc_table tab = {0};
  dm_status s = DM_OK;
  dm_store_writer *w = NULL;
  int precision = -1;
  int64_t sums[4] = {0, 0, 0, 0};
  size_t icap = 4096, ilen = 0;
  char *inputs = malloc(icap);
  char *attr = malloc(1 << 16);
  dm_events ev = {0};
  if (!inputs || !attr)
    s = dm_error(DM_ERR_NOMEM, "no memory");
  else
    inputs[0] = '\0';
  s = dm_agree(s, comm);
  for (int i = 0; i < o->n_inputs && s == DM_OK; i++) {
    const char *path = o->inputs[i];
    dm_store *st = NULL;
    s = dm_store_open(path, comm, 0, &st);
    if (s != DM_OK)
      break;
    hid_t f = dm_store_file(st);
    char id[DM_STORE_ID_LEN] = "";
    if (dm_store_n_parts(st) > 0)
      s = dm_error(DM_ERR_ARG, "catalog: %s is a catalog itself; give the sample stores it joins",
                   path);
    else
      s = dm_derived_store_key(f, path, id, sizeof id);
    /* Every rank reads the same table, so the mapping is identical. */
    int np = dm_store_n_processes(st);
    int *map = malloc(((size_t)np + 1) * sizeof *map);
    if (s == DM_OK && !map)
      s = dm_error(DM_ERR_NOMEM, "no memory");
    for (int p = 0; s == DM_OK && p < np; p++) {
      map[p] = table_find_or_add(&tab, dm_store_process_name(st, p));
      if (map[p] < 0)
        s = dm_error(DM_ERR_NOMEM, "no memory");
      else if (map[p] > 65535)
        s = dm_error(DM_ERR_FORMAT, "catalog: more than 65535 processes");
      else
        tab.counts[map[p]] += dm_store_process_events(st, p);
    }
    int dbl = dm_store_is_double(st);
    if (s == DM_OK && precision >= 0 && dbl != precision)
      s = dm_error(DM_ERR_FORMAT,
                   "catalog: %s is %s precision, the samples before it %s (ingest them alike)",
                   path, dbl ? "double" : "single", precision ? "double" : "single");
    s = dm_agree(s, comm);
    /* The catalog's output is claimed before any part is made. */
    if (s == DM_OK && !w) {
      precision = dbl;
      dm_store_layout lay = {o->zstd_level, 65536, dbl};
      s = dm_store_writer_create_catalog(o->out, &lay, comm, &w);
    }
    char rel[DM_PATH_MAX];
    int64_t ne = dm_store_n_events(st), no = dm_store_n_objects(st);
    if (s == DM_OK)
      s = dm_catparts_name(&parts, path, id, rel, sizeof rel);
    int how = -1;
    if (s == DM_OK && rank == 0)
      s = dm_catparts_make(&parts, path, rel, id, ne, no, &how);
    s = dm_agree(s, comm);
    MPI_Bcast(&how, 1, MPI_INT, 0, comm);
    rep->n_linked += how == DM_CATPART_LINKED;
    rep->n_copied += how == DM_CATPART_COPIED;
    rep->n_kept += how == DM_CATPART_KEPT;
    if (s == DM_OK)
      s = dm_store_writer_add_part(w, rel, ne, no, id);
    /* Provenance and ingest numbers: metadata reads, same on every rank. */
    for (int k = 0; s == DM_OK && sum_attrs[k]; k++) {
      int64_t v = 0;
      if (dm_h5_attr_get_i64(f, sum_attrs[k], &v) == DM_OK)
        sums[k] += v;
      dm_error_clear();
    }
    if (s == DM_OK)
      s = add_inputs(f, &inputs, &ilen, &icap, attr, 1 << 16);
    s = dm_agree(s, comm);
    if (s == DM_OK)
      s = append_index(st, w, map, batch, &ev);
    free(map);
    dm_status cs = dm_store_close(st);
    if (s == DM_OK)
      s = cs;
    rep->n_inputs++;
  }
  if (w) {
    /* The new links must be on disk before the catalog that names them. */
    if (s == DM_OK && rank == 0)
      s = dm_catparts_sync(&parts);
    s = dm_agree(s, comm);
    hid_t f = dm_store_writer_file(w);
    for (int k = 0; s == DM_OK && sum_attrs[k]; k++)
      s = dm_h5_attr_set_i64(f, sum_attrs[k], sums[k]);
    s = dm_agree(s, comm);
    rep->n_events = dm_store_writer_n_events(w);
    rep->n_objects = dm_store_writer_n_objects(w);
    s = dm_store_writer_finish(w, s, (const char *const *)tab.names, tab.counts, tab.n,
                               o->command_line ? o->command_line : "dmpipe catalog",
                               inputs ? inputs : "");
    /* After the commit (or a failure): the parts the catalog in place does
     * not name go, whatever this run made or the previous catalog used. */
    int removed = rank == 0 ? dm_catparts_prune(&parts, o->out) : 0;
    MPI_Bcast(&removed, 1, MPI_INT, 0, comm);
    rep->n_removed = removed;
  }
  rep->n_processes = tab.n;
  dm_events_free(&ev);
  for (int i = 0; i < tab.n; i++)
    free(tab.names[i]);
  free(tab.names);
  free(tab.counts);
  free(inputs);
  free(attr);
  return s;
}
