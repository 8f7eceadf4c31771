/* The labels file of a blinded dataset (dm_labels_file.h). */
#include "dm_labels_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_prov.h"

const char *dm_label_kind_name(int kind)
{
  switch (kind) {
  case DM_LABEL_BACKGROUND: return "background";
  case DM_LABEL_SIGNAL: return "signal";
  case DM_LABEL_DECOY: return "decoy";
  default: return "?";
  }
}

struct dm_labels {
  hid_t file;
  char path[DM_PATH_MAX];
  int64_t n;
  char **names;
  int64_t n_proc;
  dm_labels_meta meta;
};

static const char *const col_path[3] = {"labels/event_id", "labels/process", "labels/kind"};

dm_status dm_labels_write(const char *path, const dm_labels_meta *m, const int64_t *event_id,
                          const uint16_t *process, const uint8_t *kind,
                          int64_t n,
                          const char *const *proc_names, int n_proc, const char *command_line,
                          MPI_Comm comm)
{
  dm_h5_out out;
  DM_FORWARD(dm_h5_out_create(&out, path, comm));
  const hid_t type[3] = {H5T_NATIVE_INT64, H5T_NATIVE_UINT16, H5T_NATIVE_UINT8};
  const void *buf[3] = {event_id, process, kind};
  /* Fixed chunking and compression whatever the rows hold. */
  dm_h5_layout lay = {3, 65536};
  dm_status s = DM_OK;
  int64_t total = dm_allsum_i64(n, comm);
  for (int c = 0; c < 3 && s == DM_OK; c++) {
    hid_t d = H5I_INVALID_HID;
    s = dm_agree(dm_h5_col_create(out.file, col_path[c], type[c], &lay, &d), comm);
    if (s == DM_OK)
      s = dm_agree(dm_h5_col_append(d, type[c], buf[c], n, comm, NULL), comm);
    if (d >= 0)
      H5Dclose(d);
  }
  int64_t *counts = calloc((size_t)(n_proc > 0 ? n_proc : 1), sizeof *counts);
  s = dm_agree(s == DM_OK && !counts ? dm_error(DM_ERR_NOMEM, "no memory") : s, comm);
  if (s == DM_OK) {
    for (int64_t i = 0; i < n; i++)
      if (process[i] < n_proc)
        counts[process[i]]++;
    s = dm_allsum_i64_array(counts, n_proc, comm);
  }
  if (s == DM_OK)
    s = dm_agree(dm_h5_strings_write(out.file, "processes/name", proc_names, n_proc, comm), comm);
  if (s == DM_OK) {
    int64_t dims[1] = {n_proc};
    s = dm_agree(dm_h5_array_write(out.file, "processes/n_events", H5T_NATIVE_INT64, 1, dims,
                                   counts, comm),
                 comm);
  }
  free(counts);
  if (s == DM_OK) {
    dm_status a = dm_prov_write(out.file, DM_FORMAT_LABELS, DM_LABELS_VERSION, command_line, "");
    hid_t f = out.file;
    if (a == DM_OK) a = dm_h5_attr_set_str(f, "channel", m->channel);
    if (a == DM_OK) a = dm_h5_attr_set_f64(f, "lumi_fb", m->lumi_fb);
    if (a == DM_OK) a = dm_h5_attr_set_str(f, "seed", m->seed);
    if (a == DM_OK) a = dm_h5_attr_set_str(f, "injected", m->injected);
    if (a == DM_OK) a = dm_h5_attr_set_f64(f, "decoy_fraction", m->decoy_fraction);
    if (a == DM_OK) a = dm_h5_attr_set_str(f, "parent_checksum", m->parent_checksum);
    if (a == DM_OK) a = dm_h5_attr_set_str(f, "unlabeled_csv_checksum", m->unlabeled_csv_checksum);
    if (a == DM_OK) a = dm_h5_attr_set_i64(f, "n_events", total);
    s = dm_agree(a, comm);
  }
  return dm_h5_out_finish(&out, s);
}

dm_status dm_labels_open(const char *path, MPI_Comm comm, dm_labels **lbp)
{
  *lbp = NULL;
  dm_labels *lb = calloc(1, sizeof *lb);
  if (!dm_alltrue(lb != NULL, comm)) {
    free(lb);
    return dm_error(DM_ERR_NOMEM, "no memory");
  }
  lb->file = H5I_INVALID_HID;
  snprintf(lb->path, sizeof lb->path, "%s", path);
  dm_status s = dm_h5_open(path, comm, 0, &lb->file);
  if (s == DM_OK)
    s = dm_agree(dm_prov_check(lb->file, path, DM_FORMAT_LABELS, DM_LABELS_VERSION, NULL), comm);
  int64_t len[3] = {0};
  for (int c = 0; c < 3 && s == DM_OK; c++) {
    s = dm_h5_col_length(lb->file, col_path[c], &len[c]);
    if (s == DM_OK && len[c] != len[0])
      s = dm_error(DM_ERR_SCHEMA, "%s: /%s has %lld rows, /%s %lld", path, col_path[c],
                   (long long)len[c], col_path[0], (long long)len[0]);
    if (s != DM_OK)
      dm_error_context("%s", path);
    s = dm_agree(s, comm);
  }
  lb->n = len[0];
  if (s == DM_OK) {
    s = dm_h5_strings_read(lb->file, "processes/name", &lb->names, &lb->n_proc);
    if (s == DM_OK && (lb->n_proc < 1 || lb->n_proc > 65535))
      s = dm_error(DM_ERR_SCHEMA, "%s: %lld processes", path, (long long)lb->n_proc);
    if (s != DM_OK)
      dm_error_context("%s", path);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK) {
    dm_labels_meta *m = &lb->meta;
    hid_t f = lb->file;
    dm_status a = dm_h5_attr_get_str(f, "channel", m->channel, sizeof m->channel);
    if (a == DM_OK) a = dm_h5_attr_get_f64(f, "lumi_fb", &m->lumi_fb);
    if (a == DM_OK) a = dm_h5_attr_get_str(f, "seed", m->seed, sizeof m->seed);
    if (a == DM_OK) a = dm_h5_attr_get_str(f, "injected", m->injected, sizeof m->injected);
    if (a == DM_OK) a = dm_h5_attr_get_f64(f, "decoy_fraction", &m->decoy_fraction);
    if (a == DM_OK)
      a = dm_h5_attr_get_str(f, "parent_checksum", m->parent_checksum, sizeof m->parent_checksum);
    if (a == DM_OK)
      a = dm_h5_attr_get_str(f, "unlabeled_csv_checksum", m->unlabeled_csv_checksum,
                             sizeof m->unlabeled_csv_checksum);
    if (a != DM_OK)
      dm_error_context("%s", path);
    s = dm_agree(a, comm);
  }
  if (s != DM_OK) {
    dm_labels_close(lb);
    return s;
  }
  *lbp = lb;
  return DM_OK;
}

dm_status dm_labels_close(dm_labels *lb)
{
  if (!lb)
    return DM_OK;
  dm_status s = dm_h5_close(lb->file);
  free(lb->names);
  free(lb);
  return s;
}

int64_t dm_labels_n_events(const dm_labels *lb) { return lb->n; }
int dm_labels_n_processes(const dm_labels *lb) { return (int)lb->n_proc; }
const char *dm_labels_process_name(const dm_labels *lb, int i) { return lb->names[i]; }
const dm_labels_meta *dm_labels_get_meta(const dm_labels *lb) { return &lb->meta; }

dm_status dm_labels_read(dm_labels *lb, int64_t begin, int64_t count, int64_t *event_id,
                         uint16_t *process, uint8_t *kind)
{
  /* Every rank reads every column (collective transfers: no rank may skip
   * one), into a scratch buffer where the caller skips it. Checks come after
   * all reads; the status is this rank's (the caller agrees). */
  void *tmp = malloc((size_t)(count > 0 ? count : 1) * 8);
  dm_status s = tmp ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for %lld labels", (long long)count);
  static int64_t dummy[1];
  void *bufs[3] = {event_id ? (void *)event_id : tmp, process ? (void *)process : tmp,
                   kind ? (void *)kind : tmp};
  const hid_t types[3] = {H5T_NATIVE_INT64, H5T_NATIVE_UINT16, H5T_NATIVE_UINT8};
  for (int c = 0; c < 3; c++) {
    dm_status r = dm_h5_col_read(lb->file, col_path[c], types[c], begin, tmp ? count : 0,
                                 tmp ? bufs[c] : dummy);
    if (s == DM_OK)
      s = r;
  }
  if (s == DM_OK && process)
    for (int64_t i = 0; i < count && s == DM_OK; i++)
      if (process[i] >= lb->n_proc)
        s = dm_error(DM_ERR_SCHEMA, "%s: row %lld names process %u of %lld", lb->path,
                     (long long)(begin + i), process[i], (long long)lb->n_proc);
  if (s == DM_OK && kind)
    for (int64_t i = 0; i < count && s == DM_OK; i++)
      if (kind[i] > DM_LABEL_DECOY)
        s = dm_error(DM_ERR_SCHEMA, "%s: row %lld has label kind %u", lb->path,
                     (long long)(begin + i), kind[i]);
  if (s != DM_OK && !strstr(dm_error_message(), lb->path))
    dm_error_context("%s", lb->path);
  free(tmp);
  return s;
}
