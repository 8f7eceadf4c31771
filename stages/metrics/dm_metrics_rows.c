/* A channel's rows, read in batches from its score files (and event weights
 * from the scored stores), for the ROC scan and the histograms: see
 * dm_metrics_impl.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_metrics_impl.h"
#include "dm_prov.h"
#include "dm_store.h"

/* Rows per batch and rank: a score file's chunk (dmpipe writes 65536 rows a
 * chunk), 13 bytes a row (21 with weights); few batches make few collective
 * reads, and the chunk cache keeps the chunk that consecutive batches
 * share. */
#define ROWS_BATCH 65536

struct dm_metrics_weights {
  hid_t file, dset;  /* the store, and /events/weight when no derived weight */
  dm_derived *dd;
  int open;
  char store[DM_PATH_MAX];
};

dm_status dm_metrics_rows_open(dm_metrics_rows *r, MPI_Comm comm)
{
  r->comm = comm;
  r->batch = ROWS_BATCH;
  size_t nf = (size_t)(r->nf > 0 ? r->nf : 1), np = (size_t)(r->np > 0 ? r->np : 1);
  r->ws = calloc(nf, sizeof *r->ws);
  r->b = calloc(nf, sizeof *r->b);
  r->e = calloc(nf, sizeof *r->e);
  r->n_batches = calloc(nf, sizeof *r->n_batches);
  r->off = calloc(nf, sizeof *r->off);
  r->per_proc = calloc(np, sizeof *r->per_proc);
  int ok = r->ws && r->b && r->e && r->n_batches && r->off && r->per_proc;
  int size = dm_size(comm), rank = dm_rank(comm);
  int64_t most = 1;
  for (int k = 0, off = 0; ok && k < r->nf; k++) {
    r->ws[k].file = r->ws[k].dset = H5I_INVALID_HID;
    int64_t n = dm_scores_n_events(r->sc[k]), b0, e0;
    dm_partition(n, rank, size, &r->b[k], &r->e[k]);
    /* Every rank makes as many reads as the largest block needs (rank 0's),
     * some of them empty: the reads are collective. */
    dm_partition(n, 0, size, &b0, &e0);
    r->n_batches[k] = (e0 - b0 + r->batch - 1) / r->batch;
    if (e0 - b0 > most)
      most = e0 - b0;
    r->off[k] = off;
    off += dm_scores_n_processes(r->sc[k]);
  }
  /* A batch never holds more than a block. */
  size_t m = (size_t)(most < r->batch ? most : r->batch);
  if (ok) {
    r->proc = malloc(m * sizeof *r->proc);
    r->grp = malloc(m * sizeof *r->grp);
    r->score = malloc(m * sizeof *r->score);
    r->train = calloc(m, 1);
    r->w = r->need_w ? malloc(m * sizeof *r->w) : NULL;
    ok = r->proc && r->grp && r->score && r->train && (!r->need_w || r->w);
  }
  dm_status s = ok ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for score batches");
  r->lo = INFINITY;
  r->hi = -INFINITY;
  return dm_agree(s, comm);
}

dm_status dm_metrics_rows_close(dm_metrics_rows *r)
{
  dm_status s = DM_OK;
  for (int k = 0; r->ws && k < r->nf; k++) {
    struct dm_metrics_weights *w = &r->ws[k];
    if (!w->open)
      continue;
    dm_status c = dm_derived_close(w->dd);
    if (w->dset >= 0)
      H5Dclose(w->dset);
    dm_status d = dm_h5_close(w->file);
    if (s == DM_OK)
      s = c != DM_OK ? c : d;
  }
  free(r->ws);
  free(r->b);
  free(r->e);
  free(r->n_batches);
  free(r->off);
  free(r->per_proc);
  free(r->proc);
  free(r->grp);
  free(r->score);
  free(r->train);
  free(r->w);
  r->ws = NULL;
  r->b = r->e = r->n_batches = r->per_proc = NULL;
  r->off = NULL;
  r->proc = r->grp = NULL;
  r->score = r->w = NULL;
  r->train = NULL;
  return s;
}

/* COLLECTIVE. Open file k's event weights: the derived "weight" column
 * (dmpipe weight) if the store has one, else the archive's /events/weight.
 * Kept open for the later passes. */
static dm_status weights_open(dm_metrics_rows *r, int k)
{
  struct dm_metrics_weights *ws = &r->ws[k];
  dm_scores *sc = r->sc[k];
  const dm_metrics_input *in = r->in[k];
  int64_t n = dm_scores_n_events(sc);
  const char *store = in->store[0] ? in->store : dm_scores_get_meta(sc)->store_path;
  if (!store[0])
    /* same on every rank: the attribute is the same */
    return dm_error(DM_ERR_ARG,
                    "%s names no store; event weights need one (give --store %s=STORE.h5)",
                    in->scores, in->name);
  snprintf(ws->store, sizeof ws->store, "%s", store);
  hid_t f;
  /* As a store is opened: a catalog's columns are virtual (dm_store.h). */
  DM_FORWARD(dm_store_open_file(store, r->comm, &f));
  int64_t len = -1;
  dm_status l = dm_prov_check(f, store, "dmpipe-store", 1000, NULL);
  if (l == DM_OK)
    l = dm_h5_col_length(f, "events/weight", &len);
  if (l == DM_OK && len != n)
    l = dm_error(DM_ERR_SCHEMA, "%s has %lld events but %s has %lld scores: not the scored store",
                 store, (long long)len, in->scores, (long long)n);
  dm_status s = dm_agree(l, r->comm);
  dm_derived *dd = NULL;
  if (s == DM_OK)
    s = dm_derived_open(store, f, n, r->comm, &dd);
  const char *source = "";
  hid_t dset = H5I_INVALID_HID;
  if (s == DM_OK && dm_derived_has(dd, "weight")) {
    source = "derived weight (dmpipe weight)";
  } else if (s == DM_OK) {
    source = "archive weight (/events/weight)";
    dset = dm_h5_col_open(f, "events/weight");
    s = dm_agree(dset >= 0 ? DM_OK : dm_error(DM_ERR_HDF5, "cannot open events/weight"),
                 r->comm);
  }
  if (s != DM_OK) {
    dm_derived_close(dd);
    if (dset >= 0)
      H5Dclose(dset);
    dm_h5_close(f);
    if (dm_error_message()[0] && !strstr(dm_error_message(), store))
      dm_error_context("%s", store);
    return s;
  }
  ws->file = f;
  ws->dd = dd;
  ws->dset = dset;
  ws->open = 1;
  /* Files of one channel may take weights from different places. */
  if (!r->weight_source[0])
    snprintf(r->weight_source, sizeof r->weight_source, "%s", source);
  else if (strcmp(r->weight_source, source) != 0)
    snprintf(r->weight_source, sizeof r->weight_source, "mixed (per file)");
  return DM_OK;
}

static dm_status weights_read(dm_metrics_rows *r, int k, int64_t b, int64_t n, double *w)
{
  struct dm_metrics_weights *ws = &r->ws[k];
  dm_status s = ws->dd && dm_derived_has(ws->dd, "weight")
                    ? dm_derived_read(ws->dd, "weight", b, n, w)
                    : dm_h5_dset_read(ws->dset, H5T_NATIVE_DOUBLE, b, n, w);
  if (s != DM_OK && dm_error_message()[0] && !strstr(dm_error_message(), ws->store))
    dm_error_context("%s", ws->store);
  return s;
}

/* COLLECTIVE. Batch i of file k: read, check (first pass), drop training
 * rows, map processes. */
static dm_status read_batch(dm_metrics_rows *r, int k, int64_t i, int64_t *n_out)
{
  dm_scores *sc = r->sc[k];
  const dm_metrics_input *in = r->in[k];
  const int *map = r->map + r->off[k];
  const int first = r->pass == 0;
  int64_t b = r->b[k] + i * r->batch;
  if (b > r->e[k])
    b = r->e[k];
  int64_t c = r->e[k] - b < r->batch ? r->e[k] - b : r->batch;
  MPI_Comm comm = r->comm;
  dm_status s = dm_agree(dm_scores_read(sc, b, c, NULL, r->proc, r->score), comm);
  if (s == DM_OK && !r->include_train) {
    /* Same answer on every rank: the file is the same. */
    if (!dm_scores_has_train(sc))
      s = dm_error(DM_ERR_SCHEMA,
                   "%s has no /scores/train column, so which events trained the model is "
                   "unknown (score file of an older dmpipe, or a model file without its "
                   "training record): re-run dmpipe score, or pass --include-train to count "
                   "every event",
                   in->scores);
    else
      s = dm_agree(dm_scores_read_train(sc, b, c, r->train), comm);
  }
  if (s == DM_OK && first) {
    dm_status l = DM_OK;
    for (int64_t t = 0; t < c; t++)
      if (!isfinite(r->score[t])) {
        l = dm_error(DM_ERR_NUMERIC, "%s: row %lld: score %g is not finite", in->scores,
                     (long long)(b + t), r->score[t]);
        break;
      }
    s = dm_agree(l, comm);
  }
  if (s == DM_OK && r->need_w) {
    if (!r->ws[k].open)
      s = weights_open(r, k);
    if (s == DM_OK)
      s = dm_agree(weights_read(r, k, b, c, r->w), comm);
  }
  if (s == DM_OK && r->need_w && first) {
    dm_status l = DM_OK;
    for (int64_t t = 0; t < c; t++)
      if (!r->train[t] && r->role[map[r->proc[t]]] != DM_METRICS_ROLE_NONE &&
          !isfinite(r->w[t])) {
        l = dm_error(DM_ERR_NUMERIC,
                     "%s: event %lld (process %s): weight %g is not finite; give the process "
                     "a cross section (dmpipe weight --xsec) or leave it out of --background "
                     "and --signals",
                     in->store[0] ? in->store : dm_scores_get_meta(sc)->store_path,
                     (long long)(b + t), dm_scores_process_name(sc, r->proc[t]), r->w[t]);
        break;
      }
    s = dm_agree(l, comm);
  }
  if (s != DM_OK)
    return s;
  /* Kept rows move down over the training ones (m <= t). */
  int64_t m = 0;
  for (int64_t t = 0; t < c; t++) {
    int p = map[r->proc[t]];
    if (r->train[t]) {
      if (first) {
        r->excl[0]++;
        r->excl[1] += r->role[p] == DM_METRICS_ROLE_BKG;
      }
      continue;
    }
    double x = r->score[t];
    r->proc[m] = (uint16_t)p;
    r->grp[m] = r->group[p];
    r->score[m] = x;
    if (r->need_w)
      r->w[m] = r->w[t];
    if (first) {
      r->per_proc[p]++;
      if (x < r->lo)
        r->lo = x;
      if (x > r->hi)
        r->hi = x;
      if (r->kish && r->role[p] == DM_METRICS_ROLE_BKG) {
        dm_xsum_add(&r->kish_sum[0], r->w[t]);
        dm_xsum_add(&r->kish_sum[1], r->w[t] * r->w[t]);
      }
    }
    m++;
  }
  *n_out = m;
  return DM_OK;
}

dm_status dm_metrics_rows_next(void *ctx, dm_roc_rows *rows, int *more)
{
  dm_metrics_rows *r = ctx;
  while (r->file < r->nf && r->next_batch >= r->n_batches[r->file]) {
    r->file++;
    r->next_batch = 0;
  }
  if (r->file == r->nf) {
    /* The end of a pass (the same batch count on every rank): the next
     * call starts again. */
    *more = 0;
    r->file = 0;
    r->next_batch = 0;
    r->pass++;
    return DM_OK;
  }
  int64_t n = 0;
  dm_status s = read_batch(r, r->file, r->next_batch, &n);
  if (s != DM_OK)
    return s;
  r->next_batch++;
  rows->n = n;
  rows->group = r->grp;
  rows->score = r->score;
  rows->weight = r->roc_weights ? r->w : NULL;
  *more = 1;
  return DM_OK;
}
