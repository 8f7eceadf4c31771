#include "dm_efftable.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_text.h"

enum { COL_SIGNAL, COL_MODEL, COL_CHAN, COL_AUC, COL_E2, COL_E3, COL_E4, N_COLS };
static const char *const col_names[N_COLS] = {"Signal", "Model", "Chan", "AUC",
                                              "1e-2",   "1e-3",  "1e-4"};
static const double col_eps[3] = {1e-2, 1e-3, 1e-4};

#define MAX_FIELDS 64

typedef struct {
  char **v;
  int n, cap;
} strset;

static int strset_index(strset *s, const char *x, size_t len)
{
  for (int i = 0; i < s->n; i++)
    if (strlen(s->v[i]) == len && memcmp(s->v[i], x, len) == 0)
      return i;
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    char **nv = realloc(s->v, (size_t)cap * sizeof(char *));
    if (!nv)
      return -1;
    s->v = nv;
    s->cap = cap;
  }
  char *c = malloc(len + 1);
  if (!c)
    return -1;
  memcpy(c, x, len);
  c[len] = '\0';
  s->v[s->n] = c;
  return s->n++;
}

static void strset_free(strset *s)
{
  for (int i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
}

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  int model, signal, chan;
  double best_si;
} eff_row;

void dm_efftable_report_free(dm_efftable_report *rep)
{
  if (!rep)
    return;
  free(rep->models);
  memset(rep, 0, sizeof *rep);
}

static dm_status summarise(const eff_row *rows, int n_rows, strset *models, strset *signals,
                           strset *chans, dm_efftable_report *rep)
{
  rep->n_models = models->n;
  rep->models = calloc((size_t)(models->n > 0 ? models->n : 1), sizeof *rep->models);
  double *best = malloc((size_t)(signals->n > 0 ? signals->n : 1) * sizeof(double));
  if (!rep->models || !best) {
    free(best);
    return dm_error(DM_ERR_NOMEM, "no memory for %d models", models->n);
  }
  rep->n_channels = chans->n;
  for (int c = 0; c < chans->n && c < 16; c++)
    snprintf(rep->channels[c], sizeof rep->channels[c], "%s", chans->v[c]);
  for (int m = 0; m < models->n; m++) {
    dm_efftable_model *mo = &rep->models[m];
    snprintf(mo->name, sizeof mo->name, "%s", models->v[m]);
    int have[16] = {0};
    for (int s = 0; s < signals->n; s++)
      best[s] = -1.0;
    for (int r = 0; r < n_rows; r++) {
      if (rows[r].model != m)
        continue;
      have[rows[r].chan] = 1;
      if (rows[r].best_si > best[rows[r].signal])
        best[rows[r].signal] = rows[r].best_si;
    }
    int k = 0;
    for (int s = 0; s < signals->n; s++)
      if (best[s] >= 0)
        best[k++] = best[s];
    qsort(best, (size_t)k, sizeof(double), cmp_d);
    mo->n_signals = k;
    mo->min_ti = k ? best[0] : NAN;
    mo->max_ti = k ? best[k - 1] : NAN;
    mo->median_ti = k == 0 ? NAN : (k % 2 ? best[k / 2] : (best[k / 2 - 1] + best[k / 2]) / 2.0);
    mo->complete = 1;
    for (int c = 0; c < chans->n; c++) {
      if (have[c])
        continue;
      mo->complete = 0;
      size_t l = strlen(mo->missing);
      snprintf(mo->missing + l, sizeof mo->missing - l, "%s%s", l ? "," : "", chans->v[c]);
    }
  }
  free(best);
  return DM_OK;
}

dm_status dm_efftable_parse(const char *text, size_t len, const char *source,
                            dm_efftable_report *rep)
{
  memset(rep, 0, sizeof *rep);
  strset models = {0}, signals = {0}, chans = {0};
  eff_row *rows = NULL;
  int n_rows = 0, cap = 0;
  int col[N_COLS];
  int have_header = 0, n_header = 0;
  dm_status s = DM_OK;
  size_t pos = 0;
  int line_no = 0;
  const char *f[MAX_FIELDS];
  size_t fl[MAX_FIELDS];
  const char *line;
  size_t ll;
  while (s == DM_OK && dm_text_next_line(text, len, &pos, &line, &ll)) {
    line_no++;
    if (ll == 0 || line[0] == '#')
      continue;
    if (memchr(line, '"', ll)) {
      s = dm_error(DM_ERR_FORMAT, "%s:%d: quoted fields are not supported", source, line_no);
      break;
    }
    int nf = dm_text_split(line, ll, 0, f, fl, MAX_FIELDS);
    if (nf < 0) {
      s = dm_error(DM_ERR_FORMAT, "%s:%d: more than %d fields", source, line_no, MAX_FIELDS);
      break;
    }
    if (!have_header) {
      for (int c = 0; c < N_COLS; c++) {
        col[c] = -1;
        for (int i = 0; i < nf; i++)
          if (fl[i] == strlen(col_names[c]) && memcmp(f[i], col_names[c], fl[i]) == 0)
            col[c] = i;
        if (col[c] < 0 && (c != COL_AUC)) {
          s = dm_error(DM_ERR_FORMAT, "%s:%d: header lacks the column '%s' (needs Signal,Model,"
                       "Chan,1e-2,1e-3,1e-4)", source, line_no, col_names[c]);
          break;
        }
      }
      have_header = 1;
      n_header = nf;
      continue;
    }
    if (nf != n_header) {
      s = dm_error(DM_ERR_FORMAT, "%s:%d: %d fields, the header has %d", source, line_no, nf,
                   n_header);
      break;
    }
    double si = -1.0;
    for (int k = 0; k < 3; k++) {
      int c = col[COL_E2 + k];
      double v = 0;
      if (!dm_text_f64(f[c], fl[c], &v) || v < 0 || v > 1) {
        s = dm_error(DM_ERR_FORMAT, "%s:%d: column %s: '%.*s' is not an efficiency in [0, 1]",
                     source, line_no, col_names[COL_E2 + k], (int)fl[c], f[c]);
        break;
      }
      double x = v / sqrt(col_eps[k]);
      if (x > si)
        si = x;
    }
    if (s != DM_OK)
      break;
    if (fl[col[COL_SIGNAL]] == 0 || fl[col[COL_MODEL]] == 0 || fl[col[COL_CHAN]] == 0) {
      s = dm_error(DM_ERR_FORMAT, "%s:%d: empty Signal, Model or Chan", source, line_no);
      break;
    }
    if (n_rows == cap) {
      cap = cap ? 2 * cap : 1024;
      eff_row *nr = realloc(rows, (size_t)cap * sizeof *rows);
      if (!nr) {
        s = dm_error(DM_ERR_NOMEM, "no memory for %s", source);
        break;
      }
      rows = nr;
    }
    eff_row *r = &rows[n_rows];
    r->model = strset_index(&models, f[col[COL_MODEL]], fl[col[COL_MODEL]]);
    r->signal = strset_index(&signals, f[col[COL_SIGNAL]], fl[col[COL_SIGNAL]]);
    r->chan = strset_index(&chans, f[col[COL_CHAN]], fl[col[COL_CHAN]]);
    r->best_si = si;
    if (r->model < 0 || r->signal < 0 || r->chan < 0) {
      s = dm_error(DM_ERR_NOMEM, "no memory for %s", source);
      break;
    }
    if (chans.n > 16) {
      s = dm_error(DM_ERR_FORMAT, "%s:%d: more than 16 distinct channels", source, line_no);
      break;
    }
    n_rows++;
  }
  if (s == DM_OK && !have_header)
    s = dm_error(DM_ERR_FORMAT, "%s: no header line", source);
  if (s == DM_OK && n_rows == 0)
    s = dm_error(DM_ERR_FORMAT, "%s: no data rows", source);
  if (s == DM_OK) {
    rep->n_rows = n_rows;
    s = summarise(rows, n_rows, &models, &signals, &chans, rep);
  }
  free(rows);
  strset_free(&models);
  strset_free(&signals);
  strset_free(&chans);
  if (s != DM_OK)
    dm_efftable_report_free(rep);
  return s;
}

dm_status dm_efftable_run(const char *path, MPI_Comm comm, dm_efftable_report *rep)
{
  memset(rep, 0, sizeof *rep);
  /* Rank 0 reads and broadcasts, so every rank parses identical text and
   * fails or succeeds together. */
  char *text = NULL;
  size_t n = 0;
  DM_FORWARD(dm_text_read_bcast(path, "efficiency table", (size_t)1 << 30, comm, &text, &n));
  dm_status s = dm_efftable_parse(text, n, path, rep);
  free(text);
  return s;
}
