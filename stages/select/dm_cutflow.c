/* Cutflow output: the readable table and the JSON file. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_atomic.h"
#include "dm_select.h"

static const char *const kind_names[DM_KIND_COUNT] = {"sm", "bsm", "other", "all"};

void dm_select_report_free(dm_select_report *rep)
{
  free(rep->proc_names);
  free(rep->proc_kind);
  free(rep->row_names);
  free(rep->row_defs);
  free(rep->rows);
  free(rep->totals);
  memset(rep, 0, sizeof *rep);
}

static void print_block(FILE *f, const char *label, const dm_select_report *rep,
                        const dm_cutflow_row *rows)
{
  fprintf(f, "%s\n", label);
  fprintf(f, "  %-24s %14s %11s %16s %16s\n", "cut", "events", "eff", "sum w", "sum w^2");
  for (int c = 0; c < rep->n_rows; c++) {
    double eff = c > 0 && rows[c - 1].count > 0 ? (double)rows[c].count / rows[c - 1].count : NAN;
    char e[16];
    if (c == 0 || isnan(eff))
      snprintf(e, sizeof e, "-");
    else
      snprintf(e, sizeof e, "%.4f", eff);
    fprintf(f, "  %-24s %14lld %11s %16.8g %16.8g\n", rep->row_names[c], (long long)rows[c].count,
            e, rows[c].sumw, rows[c].sumw2);
  }
}

void dm_cutflow_print(FILE *f, const dm_select_report *rep)
{
  fprintf(f, "selection %s: %lld of %lld events kept; weights from %s\n", rep->selection,
          (long long)rep->n_out, (long long)rep->n_in, rep->weight_source);
  for (int c = 1; c < rep->n_rows; c++)
    fprintf(f, "  cut %d %-20s %s\n", c, rep->row_names[c], rep->row_defs[c]);
  char label[160];
  for (int k = 0; k < DM_KIND_COUNT; k++) {
    const dm_cutflow_row *r = rep->totals + (size_t)k * rep->n_rows;
    if (k != DM_KIND_ALL && r[0].count == 0)
      continue;
    snprintf(label, sizeof label, "total %s", kind_names[k]);
    print_block(f, label, rep, r);
  }
  for (int p = 0; p < rep->n_proc; p++) {
    const dm_cutflow_row *r = rep->rows + (size_t)p * rep->n_rows;
    if (r[0].count == 0)
      continue;
    snprintf(label, sizeof label, "process %s (%s)", rep->proc_names[p],
             kind_names[rep->proc_kind[p]]);
    print_block(f, label, rep, r);
  }
}

static cJSON *rows_json(const dm_select_report *rep, const dm_cutflow_row *rows)
{
  cJSON *a = cJSON_CreateArray();
  for (int c = 0; a && c < rep->n_rows; c++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "cut", rep->row_names[c]);
    cJSON_AddNumberToObject(o, "count", (double)rows[c].count);
    /* cJSON writes non-finite numbers as null: a NaN sum (unknown cross
     * section) stays visible as null rather than becoming 0. */
    cJSON_AddNumberToObject(o, "sumw", rows[c].sumw);
    cJSON_AddNumberToObject(o, "sumw2", rows[c].sumw2);
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

char *dm_cutflow_json(const dm_select_report *rep, const char *in_path)
{
  cJSON *root = cJSON_CreateObject();
  if (!root)
    return NULL;
  cJSON_AddStringToObject(root, "format", "dmpipe-cutflow");
  cJSON_AddNumberToObject(root, "version", 1);
  cJSON_AddStringToObject(root, "input", in_path);
  cJSON_AddStringToObject(root, "input_checksum", rep->in_checksum);
  cJSON_AddStringToObject(root, "selection", rep->selection);
  cJSON_AddStringToObject(root, "weight_source", rep->weight_source);
  cJSON_AddNumberToObject(root, "events_in", (double)rep->n_in);
  cJSON_AddNumberToObject(root, "events_selected", (double)rep->n_out);
  cJSON *cuts = cJSON_AddArrayToObject(root, "cuts");
  for (int c = 1; c < rep->n_rows; c++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", rep->row_names[c]);
    cJSON_AddStringToObject(o, "definition", rep->row_defs[c]);
    cJSON_AddItemToArray(cuts, o);
  }
  cJSON *tot = cJSON_AddObjectToObject(root, "totals");
  for (int k = 0; k < DM_KIND_COUNT; k++)
    cJSON_AddItemToObject(tot, kind_names[k], rows_json(rep, rep->totals + (size_t)k * rep->n_rows));
  cJSON *procs = cJSON_AddArrayToObject(root, "processes");
  for (int p = 0; p < rep->n_proc; p++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", rep->proc_names[p]);
    cJSON_AddStringToObject(o, "kind", kind_names[rep->proc_kind[p]]);
    cJSON_AddItemToObject(o, "rows", rows_json(rep, rep->rows + (size_t)p * rep->n_rows));
    cJSON_AddItemToArray(procs, o);
  }
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  return text;
}

dm_status dm_cutflow_write(const dm_select_report *rep, const char *in_path, const char *path,
                           MPI_Comm comm)
{
  dm_status s = DM_OK;
  if (dm_rank(comm) == 0) {
    char *text = dm_cutflow_json(rep, in_path);
    if (!text)
      s = dm_error(DM_ERR_NOMEM, "no memory for the cutflow JSON");
    if (s == DM_OK) {
      size_t len = strlen(text);
      char *t2 = realloc(text, len + 2);
      if (t2) {
        text = t2;
        memcpy(text + len, "\n", 2);
        s = dm_atomic_write_text(path, text);
      } else {
        s = dm_error(DM_ERR_NOMEM, "no memory for the cutflow JSON");
      }
    }
    free(text);
  }
  return dm_agree(s, comm);
}
