/* Counts, part files and manifest entries shared by the hackathon and
 * secret sets (dm_dataset_private.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_dataset.h"
#include "dm_dataset_private.h"
#include "dm_prov.h"

dm_status dm_ds_check_counts(const dm_ds_sel *sel, const char *chan, const double *rate,
                             const double *scale, const int64_t *avail, const int *use,
                             double lumi, int64_t *want)
{
  for (int p = 0; p < sel->n_proc; p++) {
    double mu = scale[p] * rate[p] * lumi;
    want[p] = use[p] ? dm_ds_round(mu) : 0;
    if (want[p] > avail[p]) {
      const char *name = dm_store_process_name(sel->st, p);
      double lmax = ((double)avail[p] + 0.5) / (scale[p] * rate[p]);
      char excl[96] = "";
      if (avail[p] < sel->n_sel[p])
        snprintf(excl, sizeof excl, " (%lld of its %lld selected events are excluded)",
                 (long long)(sel->n_sel[p] - avail[p]), (long long)sel->n_sel[p]);
      return dm_error(DM_ERR_ARG,
                      "%s: too few events of %s: %.6g expected at %g fb^-1 (%lld after "
                      "rounding), %lld available in %s%s; %s allows below %.6g fb^-1 "
                      "(--lumi max takes the largest luminosity every process allows)",
                      chan, name, mu, lumi, (long long)want[p], (long long)avail[p], sel->what,
                      excl, name, lmax);
    }
  }
  return DM_OK;
}

dm_store_layout dm_ds_layout(const dm_ds_sel *sel)
{
  dm_store_layout l = {3, 65536, sel->dbl};
  return l;
}

/* Provenance "inputs" of a part: the parent store's checksum (the
 * selection it passed through is a temporary file). */
static void inputs_text(const dm_ds_sel *sel, char *out, size_t cap)
{
  snprintf(out, cap, "parent\txxh3-128\t%s", sel->parent_checksum);
}

static dm_status path_in(const char *dir, const char *file, char *out)
{
  if (snprintf(out, DM_PATH_MAX, "%s/%s", dir, file) >= DM_PATH_MAX)
    return dm_error(DM_ERR_ARG, "path too long: %s/%s", dir, file);
  return DM_OK;
}

static dm_status finish_store(dm_store_writer *w, dm_status s, const dm_ds_sel *sel,
                              const int64_t *counts, const char *command_line)
{
  const char *names[sel->n_proc > 0 ? sel->n_proc : 1];
  dm_ds_names(sel, names);
  char inputs[DM_PATH_MAX + 128];
  inputs_text(sel, inputs, sizeof inputs);
  return dm_store_writer_finish(w, s, names, counts, sel->n_proc,
                                command_line ? command_line : "", inputs);
}

dm_status dm_ds_write_background(const dm_ds_sel *sel, const dm_ds_items *it, const char *dir,
                                 const char *base, int64_t n_train, const dm_ds_fmt *fmt,
                                 const char *command_line, int64_t *c_train, int64_t *c_test,
                                 MPI_Comm comm)
{
  char csv_path[DM_PATH_MAX], tr_path[DM_PATH_MAX], te_path[DM_PATH_MAX], f[DM_PATH_MAX];
  snprintf(f, sizeof f, "%s.csv", base);
  dm_status s = path_in(dir, f, csv_path);
  snprintf(f, sizeof f, "%s_train.h5", base);
  if (s == DM_OK)
    s = path_in(dir, f, tr_path);
  snprintf(f, sizeof f, "%s_test.h5", base);
  if (s == DM_OK)
    s = path_in(dir, f, te_path);
  DM_FORWARD(dm_agree(s, comm));
  int64_t n = dm_allsum_i64(it->n, comm);
  dm_store_layout lay = dm_ds_layout(sel);
  dm_text_out *csv = NULL;
  DM_FORWARD(dm_text_out_create(csv_path, comm, &csv));
  dm_store_writer *w = NULL;
  s = dm_store_writer_create(tr_path, &lay, comm, &w);
  if (s == DM_OK) {
    s = dm_ds_write_range(sel, it, 0, n_train, csv, w, fmt, c_train, comm);
    s = finish_store(w, s, sel, c_train, command_line);
  }
  if (s == DM_OK)
    s = dm_store_writer_create(te_path, &lay, comm, &w);
  if (s == DM_OK) {
    s = dm_ds_write_range(sel, it, n_train, n, csv, w, fmt, c_test, comm);
    s = finish_store(w, s, sel, c_test, command_line);
  }
  return dm_text_out_finish(csv, s);
}

dm_status dm_ds_write_part(const dm_ds_sel *sel, const dm_ds_items *it, const char *dir,
                           const char *base, int64_t lo, int64_t hi, const dm_ds_fmt *fmt,
                           const char *command_line, int64_t *counts, MPI_Comm comm)
{
  char csv_path[DM_PATH_MAX], st_path[DM_PATH_MAX], f[DM_PATH_MAX];
  snprintf(f, sizeof f, "%s.csv", base);
  dm_status s = path_in(dir, f, csv_path);
  snprintf(f, sizeof f, "%s.h5", base);
  if (s == DM_OK)
    s = path_in(dir, f, st_path);
  DM_FORWARD(dm_agree(s, comm));
  dm_store_layout lay = dm_ds_layout(sel);
  dm_text_out *csv = NULL;
  DM_FORWARD(dm_text_out_create(csv_path, comm, &csv));
  dm_store_writer *w = NULL;
  s = dm_store_writer_create(st_path, &lay, comm, &w);
  if (s == DM_OK) {
    s = dm_ds_write_range(sel, it, lo, hi, csv, w, fmt, counts, comm);
    s = finish_store(w, s, sel, counts, command_line);
  }
  return dm_text_out_finish(csv, s);
}

dm_status dm_ds_checksum(const char *path, char hex[33], int64_t *size, MPI_Comm comm)
{
  dm_status s = DM_OK;
  *size = 0;
  if (dm_rank(comm) == 0)
    s = dm_checksum_file(path, hex, size);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    MPI_Bcast(hex, 33, MPI_CHAR, 0, comm);
    MPI_Bcast(size, 1, MPI_INT64_T, 0, comm);
  }
  return s;
}

dm_status dm_ds_manifest_file(struct cJSON *files, const char *dir, const char *file,
                              const char *role, const char *chan, double lumi,
                              const dm_ds_sel *sel, const int64_t *counts, MPI_Comm comm)
{
  char path[DM_PATH_MAX], hex[33] = "";
  int64_t size = 0;
  DM_FORWARD(dm_agree(path_in(dir, file, path), comm));
  DM_FORWARD(dm_ds_checksum(path, hex, &size, comm));
  cJSON *e = cJSON_CreateObject();
  if (!dm_alltrue(e != NULL, comm))
    return dm_error(DM_ERR_NOMEM, "no memory");
  cJSON_AddStringToObject(e, "file", file);
  cJSON_AddStringToObject(e, "role", role);
  cJSON_AddStringToObject(e, "channel", chan);
  cJSON_AddNumberToObject(e, "lumi_fb", lumi);
  int64_t tot = 0;
  cJSON *pr = cJSON_CreateObject();
  for (int p = 0; p < sel->n_proc; p++)
    if (counts[p] > 0) {
      cJSON_AddNumberToObject(pr, dm_store_process_name(sel->st, p), (double)counts[p]);
      tot += counts[p];
    }
  cJSON_AddNumberToObject(e, "events", (double)tot);
  cJSON_AddItemToObject(e, "processes", pr);
  cJSON_AddNumberToObject(e, "bytes", (double)size);
  cJSON_AddStringToObject(e, "checksum", hex);
  cJSON_AddStringToObject(e, "checksum_kind", "xxh3-128");
  cJSON_AddItemToArray(files, e);
  return DM_OK;
}

void dm_dataset_report_free(dm_dataset_report *rep)
{
  for (int c = 0; c < DM_DATASET_MAX_CHANNELS; c++)
    free(rep->channels[c].proc);
  memset(rep, 0, sizeof *rep);
}

void dm_dataset_report_print(FILE *f, const dm_dataset_report *rep, int secret)
{
  for (int c = 0; c < rep->n_channels; c++) {
    const dm_dataset_channel_report *cr = &rep->channels[c];
    fprintf(f, "%s: L = %s fb^-1%s%s%s, weights from %s at %g fb^-1, %lld selected events\n",
            cr->name, cr->lumi_text, cr->limiting[0] ? " (largest allowed; limited by " : "",
            cr->limiting, cr->limiting[0] ? ")" : "", cr->weight_source, cr->weight_lumi,
            (long long)cr->n_selected);
    if (secret)
      fprintf(f, "  %-34s %4s %10s %10s %12s %10s\n", "process", "kind", "selected", "available",
              "expected", "drawn");
    else
      fprintf(f, "  %-34s %4s %10s %12s %10s %10s %10s\n", "process", "kind", "selected",
              "expected", "drawn", "train", "test");
    for (int p = 0; p < cr->n_proc; p++) {
      const dm_dataset_proc_row *r = &cr->proc[p];
      if (r->selected == 0)
        continue;
      if (secret)
        fprintf(f, "  %-34s %4s %10lld %10lld %12.3f %10lld\n", r->name, r->kind ? "bsm" : "sm",
                (long long)r->selected, (long long)r->available, r->expected,
                (long long)r->drawn);
      else if (r->kind == 0)
        fprintf(f, "  %-34s %4s %10lld %12.3f %10lld %10lld %10lld\n", r->name, "sm",
                (long long)r->selected, r->expected, (long long)r->drawn, (long long)r->n_train,
                (long long)r->n_test);
      else
        fprintf(f, "  %-34s %4s %10lld %12s %10lld %21s\n", r->name, "bsm",
                (long long)r->selected, "-", (long long)r->drawn,
                r->drawn ? "signal file" : "not a signal here");
    }
    if (secret)
      fprintf(f, "  background %lld, decoys %lld, excluded %lld\n", (long long)cr->n_background,
              (long long)cr->n_decoys, (long long)cr->n_excluded);
    else
      fprintf(f, "  background %lld = train %lld + test %lld; %lld signal files\n",
              (long long)cr->n_background, (long long)cr->n_train, (long long)cr->n_test,
              (long long)cr->n_signal_files);
  }
}
