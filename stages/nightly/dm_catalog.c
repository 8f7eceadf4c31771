/* dm_catalog.c - join per-sample stores into one (see dm_catalog.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_catalog.h"
#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_store.h"

#define NAME_MAX_LEN 256

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

dm_status dm_catalog_run(const dm_catalog_opts *o, MPI_Comm comm, dm_catalog_report *rep)
{
  memset(rep, 0, sizeof *rep);
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (o->n_inputs < 1)
    return dm_error(DM_ERR_ARG, "catalog: no sample store given");
  int64_t batch = o->batch > 0 ? o->batch : 65536;
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
  s = dm_agree(s, comm);
  for (int i = 0; i < o->n_inputs && s == DM_OK; i++) {
    const char *path = o->inputs[i];
    dm_store *st = NULL;
    s = dm_store_open(path, comm, 0, &st);
    if (s != DM_OK)
      break;
    /* Every rank reads the same table, so the mapping is identical. */
    int np = dm_store_n_processes(st);
    int *map = malloc(((size_t)np + 1) * sizeof *map);
    if (!map)
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
    if (s == DM_OK && !w) {
      precision = dbl;
      dm_store_layout lay = {o->zstd_level, 65536, dbl};
      s = dm_store_writer_create(o->out, &lay, comm, &w);
    }
    /* Provenance and ingest numbers: metadata reads, same on every rank. */
    hid_t f = dm_store_file(st);
    for (int k = 0; s == DM_OK && sum_attrs[k]; k++) {
      int64_t v = 0;
      if (dm_h5_attr_get_i64(f, sum_attrs[k], &v) == DM_OK)
        sums[k] += v;
      dm_error_clear();
    }
    if (s == DM_OK && dm_h5_attr_get_str(f, "inputs", attr, 1 << 16) == DM_OK) {
      size_t l = strlen(attr);
      if (ilen + l + 2 > icap) {
        while (ilen + l + 2 > icap)
          icap *= 2;
        char *ni = realloc(inputs, icap);
        if (!ni)
          s = dm_error(DM_ERR_NOMEM, "no memory");
        else
          inputs = ni;
      }
      if (s == DM_OK) {
        memcpy(inputs + ilen, attr, l);
        ilen += l;
        if (l && attr[l - 1] != '\n')
          inputs[ilen++] = '\n';
      }
    }
    if (s == DM_OK)
      dm_error_clear(); /* a sample without these attributes is fine */
    s = dm_agree(s, comm);
    /* Rounds of size x batch events; rank r takes the r-th slice, and the
     * writer appends the slices in rank order: the sample's order. */
    int64_t n = dm_store_n_events(st);
    for (int64_t r0 = 0; s == DM_OK && r0 < n; r0 += batch * size) {
      int64_t b = r0 + batch * rank, c = 0;
      if (b < n)
        c = n - b < batch ? n - b : batch;
      else
        b = n;
      s = dm_store_read(st, b, c, dbl, &ev);
      if (s == DM_OK)
        for (int64_t e = 0; e < ev.n_events; e++)
          ev.process[e] = (uint16_t)map[ev.process[e]];
      s = dm_agree(s, comm);
      if (s == DM_OK)
        s = dm_store_writer_append(w, &ev);
    }
    free(map);
    dm_status cs = dm_store_close(st);
    if (s == DM_OK)
      s = cs;
    rep->n_inputs++;
  }
  if (w) {
    hid_t f = dm_store_writer_file(w);
    for (int k = 0; s == DM_OK && sum_attrs[k]; k++)
      s = dm_h5_attr_set_i64(f, sum_attrs[k], sums[k]);
    s = dm_agree(s, comm);
    rep->n_events = dm_store_writer_n_events(w);
    rep->n_objects = dm_store_writer_n_objects(w);
    if (inputs)
      inputs[ilen] = 0;
    s = dm_store_writer_finish(w, s, (const char *const *)tab.names, tab.counts, tab.n,
                               o->command_line ? o->command_line : "dmpipe catalog",
                               inputs ? inputs : "");
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
