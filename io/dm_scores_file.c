#include "dm_scores_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_prov.h"

#define COL_EVENT_ID "scores/event_id"
#define COL_PROCESS "scores/process"
#define COL_SCORE "scores/score"
#define COL_TRAIN "scores/train"

struct dm_scores_writer {
  dm_h5_out out;
  hid_t d_id, d_proc, d_score, d_train;
  int64_t n_total, n_train_rows;
  dm_h5_layout layout;
  dm_scores_meta meta;
};

static void close_dsets(dm_scores_writer *w)
{
  if (w->d_id >= 0)
    H5Dclose(w->d_id);
  if (w->d_proc >= 0)
    H5Dclose(w->d_proc);
  if (w->d_score >= 0)
    H5Dclose(w->d_score);
  if (w->d_train >= 0)
    H5Dclose(w->d_train);
  w->d_id = w->d_proc = w->d_score = w->d_train = H5I_INVALID_HID;
}

dm_status dm_scores_writer_create(const char *path, const dm_scores_meta *meta,
                                  const dm_h5_layout *layout, MPI_Comm comm,
                                  dm_scores_writer **wout)
{
  *wout = NULL;
  dm_h5_layout def = {3, 65536};
  if (!layout)
    layout = &def;
  dm_scores_writer *w = calloc(1, sizeof *w);
  dm_status s = w ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for score writer %s", path);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    free(w);
    return s;
  }
  w->d_id = w->d_proc = w->d_score = w->d_train = H5I_INVALID_HID;
  w->layout = *layout;
  if (meta)
    w->meta = *meta;
  s = dm_h5_out_create(&w->out, path, comm);
  if (s != DM_OK) {
    free(w);
    return s;
  }
  s = dm_h5_col_create(w->out.file, COL_EVENT_ID, H5T_NATIVE_INT64, layout, &w->d_id);
  if (s == DM_OK)
    s = dm_h5_col_create(w->out.file, COL_PROCESS, H5T_NATIVE_UINT16, layout, &w->d_proc);
  if (s == DM_OK)
    s = dm_h5_col_create(w->out.file, COL_SCORE, H5T_NATIVE_DOUBLE, layout, &w->d_score);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    dm_error_context("creating %s", path);
    close_dsets(w);
    dm_h5_out_finish(&w->out, s);
    free(w);
    return s;
  }
  *wout = w;
  return DM_OK;
}

dm_status dm_scores_writer_append(dm_scores_writer *w, const int64_t *event_id,
                                  const uint16_t *process, const double *score, int64_t n)
{
  MPI_Comm comm = w->out.comm;
  /* Every column goes through the same exscan, so the three stay aligned. */
  DM_FORWARD(dm_h5_col_append(w->d_id, H5T_NATIVE_INT64, event_id, n, comm, NULL));
  DM_FORWARD(dm_h5_col_append(w->d_proc, H5T_NATIVE_UINT16, process, n, comm, NULL));
  DM_FORWARD(dm_h5_col_append(w->d_score, H5T_NATIVE_DOUBLE, score, n, comm, NULL));
  w->n_total += dm_allsum_i64(n, comm);
  return DM_OK;
}

dm_status dm_scores_writer_add_train(dm_scores_writer *w)
{
  dm_status s = w->d_train >= 0 || w->n_total > 0
                    ? dm_error(DM_ERR_INTERNAL, "%s: the train column comes first, once",
                               w->out.final_path)
                    : DM_OK;
  if (s == DM_OK)
    s = dm_h5_col_create(w->out.file, COL_TRAIN, H5T_NATIVE_UINT8, &w->layout, &w->d_train);
  return dm_agree(s, w->out.comm);
}

dm_status dm_scores_writer_append_train(dm_scores_writer *w, const uint8_t *train, int64_t n)
{
  if (w->d_train < 0)
    return dm_error(DM_ERR_INTERNAL, "%s has no train column", w->out.final_path);
  DM_FORWARD(dm_h5_col_append(w->d_train, H5T_NATIVE_UINT8, train, n, w->out.comm, NULL));
  w->n_train_rows += dm_allsum_i64(n, w->out.comm);
  return DM_OK;
}

hid_t dm_scores_writer_file(const dm_scores_writer *w) { return w->out.file; }

static dm_status write_tail(dm_scores_writer *w, const char *const *proc_names,
                            const int64_t *proc_events, int n_proc, const char *command_line,
                            const char *inputs)
{
  hid_t f = w->out.file;
  DM_FORWARD(dm_h5_strings_write(f, "processes/name", proc_names, n_proc, w->out.comm));
  int64_t dims[1] = {n_proc};
  DM_FORWARD(dm_h5_array_write(f, "processes/n_events", H5T_NATIVE_INT64, 1, dims, proc_events,
                               w->out.comm));
  const dm_scores_meta *m = &w->meta;
  DM_FORWARD(dm_h5_attr_set_str(f, "model_kind", m->model_kind));
  DM_FORWARD(dm_h5_attr_set_str(f, "model_path", m->model_path));
  DM_FORWARD(dm_h5_attr_set_str(f, "model_checksum", m->model_checksum));
  DM_FORWARD(dm_h5_attr_set_str(f, "store_path", m->store_path));
  DM_FORWARD(dm_h5_attr_set_str(f, "store_checksum", m->store_checksum));
  DM_FORWARD(dm_h5_attr_set_str(f, "channel", m->channel));
  DM_FORWARD(dm_h5_attr_set_i64(f, "n_scores", w->n_total));
  return dm_prov_write(f, DM_FORMAT_SCORES, DM_SCORES_VERSION, command_line ? command_line : "",
                       inputs ? inputs : "");
}

dm_status dm_scores_writer_finish(dm_scores_writer *w, dm_status local,
                                  const char *const *proc_names, const int64_t *proc_events,
                                  int n_proc, const char *command_line, const char *inputs)
{
  if (!w)
    return local; /* every rank holds NULL after a failed create: nothing to agree on */
  MPI_Comm comm = w->out.comm;
  dm_status s = dm_agree(local, comm);
  if (s == DM_OK) {
    /* The process table must be identical everywhere (attribute and small
     * array writes are collective); a mismatch would corrupt the file. */
    int ok = n_proc >= 0 && n_proc <= 65536;
    for (int i = 0; ok && i < n_proc; i++)
      ok = proc_names[i] != NULL;
    s = ok ? DM_OK : dm_error(DM_ERR_INTERNAL, "%s: bad process table", w->out.final_path);
    if (s == DM_OK && w->d_train >= 0 && w->n_train_rows != w->n_total)
      s = dm_error(DM_ERR_INTERNAL, "%s: %lld train flags for %lld scores", w->out.final_path,
                   (long long)w->n_train_rows, (long long)w->n_total);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK)
    s = dm_agree(write_tail(w, proc_names, proc_events, n_proc, command_line, inputs), comm);
  close_dsets(w);
  s = dm_h5_out_finish(&w->out, s);
  free(w);
  return s;
}

/* ---- reading --------------------------------------------------------------- */

struct dm_scores {
  hid_t file;
  hid_t d_id, d_proc, d_score, d_train;
  int64_t n;
  char **names;
  int64_t *proc_events;
  int n_proc;
  dm_scores_meta meta;
  char path[DM_PATH_MAX];
};

static dm_status read_meta(dm_scores *sc)
{
  hid_t f = sc->file;
  const char *p = sc->path;
  DM_FORWARD(dm_prov_check(f, p, DM_FORMAT_SCORES, DM_SCORES_VERSION, NULL));
  int64_t la = 0, lb = 0, lc = 0;
  dm_status ls = dm_h5_col_length(f, COL_EVENT_ID, &la);
  if (ls == DM_OK)
    ls = dm_h5_col_length(f, COL_PROCESS, &lb);
  if (ls == DM_OK)
    ls = dm_h5_col_length(f, COL_SCORE, &lc);
  if (ls != DM_OK) { /* the message names the dataset; say which file */
    dm_error_context("%s", p);
    return ls;
  }
  if (la != lb || la != lc)
    return dm_error(DM_ERR_SCHEMA,
                    "%s: /scores columns differ in length (event_id %lld, process %lld, "
                    "score %lld)",
                    p, (long long)la, (long long)lb, (long long)lc);
  sc->n = la;
  /* Identity attributes are informative: a file from an older writer that
   * lacks one still reads. */
  dm_scores_meta *m = &sc->meta;
  if (dm_h5_attr_get_str(f, "model_kind", m->model_kind, sizeof m->model_kind) != DM_OK)
    m->model_kind[0] = '\0';
  if (dm_h5_attr_get_str(f, "model_path", m->model_path, sizeof m->model_path) != DM_OK)
    m->model_path[0] = '\0';
  if (dm_h5_attr_get_str(f, "model_checksum", m->model_checksum, sizeof m->model_checksum) !=
      DM_OK)
    m->model_checksum[0] = '\0';
  if (dm_h5_attr_get_str(f, "store_path", m->store_path, sizeof m->store_path) != DM_OK)
    m->store_path[0] = '\0';
  if (dm_h5_attr_get_str(f, "store_checksum", m->store_checksum, sizeof m->store_checksum) !=
      DM_OK)
    m->store_checksum[0] = '\0';
  if (dm_h5_attr_get_str(f, "channel", m->channel, sizeof m->channel) != DM_OK)
    m->channel[0] = '\0';
  dm_error_clear();

  int64_t nn = 0;
  dm_status s = dm_h5_strings_read(f, "processes/name", &sc->names, &nn);
  if (s != DM_OK) {
    dm_error_context("%s", p);
    return s;
  }
  int nd = 0;
  int64_t dims[4], count = 0;
  void *buf = NULL;
  s = dm_h5_array_read(f, "processes/n_events", H5T_NATIVE_INT64, &nd, dims, &count, &buf);
  if (s != DM_OK) {
    dm_error_context("%s", p);
    return s;
  }
  sc->proc_events = buf;
  if (count != nn || nn > 65536)
    return dm_error(DM_ERR_SCHEMA, "%s: /processes/name has %lld entries, n_events %lld", p,
                    (long long)nn, (long long)count);
  sc->n_proc = (int)nn;
  /* Readers go front to back: one cached chunk per column is all they
   * need, and bounds what a reader holds. */
  sc->d_id = dm_h5_col_open(f, COL_EVENT_ID);
  sc->d_proc = dm_h5_col_open(f, COL_PROCESS);
  sc->d_score = dm_h5_col_open(f, COL_SCORE);
  if (sc->d_id < 0 || sc->d_proc < 0 || sc->d_score < 0)
    return dm_error(DM_ERR_HDF5, "%s: cannot open the /scores columns", p);
  if (dm_h5_exists(f, COL_TRAIN)) {
    int64_t lt = 0;
    DM_FORWARD(dm_h5_col_length(f, COL_TRAIN, &lt));
    if (lt != la)
      return dm_error(DM_ERR_SCHEMA, "%s: /%s has %lld rows, /%s %lld", p, COL_TRAIN,
                      (long long)lt, COL_SCORE, (long long)la);
    sc->d_train = dm_h5_col_open(f, COL_TRAIN);
    if (sc->d_train < 0)
      return dm_error(DM_ERR_HDF5, "%s: cannot open /%s", p, COL_TRAIN);
  }
  return DM_OK;
}

dm_status dm_scores_open(const char *path, MPI_Comm comm, dm_scores **out)
{
  *out = NULL;
  dm_scores *sc = calloc(1, sizeof *sc);
  dm_status s = sc ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory to open %s", path);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    free(sc);
    return s;
  }
  sc->d_id = sc->d_proc = sc->d_score = sc->d_train = H5I_INVALID_HID;
  snprintf(sc->path, sizeof sc->path, "%s", path);
  s = dm_h5_open(path, comm, 0, &sc->file);
  if (s != DM_OK) {
    free(sc);
    return s;
  }
  s = dm_agree(read_meta(sc), comm);
  if (s != DM_OK) {
    dm_scores_close(sc);
    return s;
  }
  *out = sc;
  return DM_OK;
}

dm_status dm_scores_close(dm_scores *sc)
{
  if (!sc)
    return DM_OK;
  if (sc->d_id >= 0)
    H5Dclose(sc->d_id);
  if (sc->d_proc >= 0)
    H5Dclose(sc->d_proc);
  if (sc->d_score >= 0)
    H5Dclose(sc->d_score);
  if (sc->d_train >= 0)
    H5Dclose(sc->d_train);
  dm_status s = dm_h5_close(sc->file);
  free(sc->names);
  free(sc->proc_events);
  free(sc);
  return s;
}

int64_t dm_scores_n_events(const dm_scores *sc) { return sc->n; }
int dm_scores_n_processes(const dm_scores *sc) { return sc->n_proc; }
const char *dm_scores_process_name(const dm_scores *sc, int i) { return sc->names[i]; }
int64_t dm_scores_process_events(const dm_scores *sc, int i) { return sc->proc_events[i]; }
const dm_scores_meta *dm_scores_get_meta(const dm_scores *sc) { return &sc->meta; }
const char *dm_scores_path(const dm_scores *sc) { return sc->path; }
hid_t dm_scores_file(const dm_scores *sc) { return sc->file; }

dm_status dm_scores_read(dm_scores *sc, int64_t begin, int64_t count, int64_t *event_id,
                         uint16_t *process, double *score)
{
  dm_status s = DM_OK;
  if (count < 0 || begin < 0 || begin + count > sc->n)
    s = dm_error(DM_ERR_ARG, "%s: rows [%lld, %lld) are outside the %lld scores", sc->path,
                 (long long)begin, (long long)(begin + count), (long long)sc->n);
  if (s != DM_OK)
    count = 0;
  /* Reads are collective transfers: every rank reads every requested column
   * (an empty selection where it passed NULL or had an error), so the column
   * choice need not agree across ranks. */
  static int64_t d64[1];
  static uint16_t d16[1];
  static double dd[1];
  dm_status r;
  r = dm_h5_dset_read(sc->d_id, H5T_NATIVE_INT64, begin, event_id ? count : 0,
                      event_id ? event_id : d64);
  if (s == DM_OK && r != DM_OK)
    s = r;
  r = dm_h5_dset_read(sc->d_proc, H5T_NATIVE_UINT16, begin, process ? count : 0,
                      process ? process : d16);
  if (s == DM_OK && r != DM_OK)
    s = r;
  r = dm_h5_dset_read(sc->d_score, H5T_NATIVE_DOUBLE, begin, score ? count : 0,
                      score ? score : dd);
  if (s == DM_OK && r != DM_OK)
    s = r;
  if (s == DM_OK && process) {
    for (int64_t i = 0; i < count; i++)
      if (process[i] >= sc->n_proc) {
        s = dm_error(DM_ERR_SCHEMA, "%s: row %lld has process index %u, the table has %d",
                     sc->path, (long long)(begin + i), (unsigned)process[i], sc->n_proc);
        break;
      }
  }
  if (s != DM_OK && dm_error_message()[0] && strstr(dm_error_message(), sc->path) == NULL)
    dm_error_context("%s", sc->path);
  return s;
}

int dm_scores_has_train(const dm_scores *sc) { return sc->d_train >= 0; }

dm_status dm_scores_read_train(dm_scores *sc, int64_t begin, int64_t count, uint8_t *train)
{
  if (sc->d_train < 0)
    return dm_error(DM_ERR_SCHEMA, "%s has no /%s column", sc->path, COL_TRAIN);
  dm_status s = DM_OK;
  if (count < 0 || begin < 0 || begin + count > sc->n) {
    s = dm_error(DM_ERR_ARG, "%s: rows [%lld, %lld) are outside the %lld scores", sc->path,
                 (long long)begin, (long long)(begin + count), (long long)sc->n);
    count = 0; /* the read below is a collective transfer: take part with nothing */
  }
  static uint8_t d8[1];
  dm_status r = dm_h5_dset_read(sc->d_train, H5T_NATIVE_UINT8, begin < 0 ? 0 : begin, count,
                                train && count ? train : d8);
  if (s == DM_OK)
    s = r;
  for (int64_t i = 0; s == DM_OK && i < count; i++)
    if (train[i] > 1)
      s = dm_error(DM_ERR_SCHEMA, "%s: /%s row %lld is %u, not 0 or 1", sc->path, COL_TRAIN,
                   (long long)(begin + i), (unsigned)train[i]);
  if (s != DM_OK && dm_error_message()[0] && strstr(dm_error_message(), sc->path) == NULL)
    dm_error_context("%s", sc->path);
  return s;
}
