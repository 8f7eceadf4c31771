/* The score stage: model + store -> score file, streamed in rounds. */
#include "dm_score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_features.h"
#include "dm_model.h"
#include "dm_physics.h"
#include "dm_progress.h"
#include "dm_prov.h"
#include "dm_scores_file.h"
#include "dm_store.h"

void dm_score_opts_default(dm_score_opts *o)
{
  memset(o, 0, sizeof *o);
  o->batch = DM_PHYSICS_BATCH_DEFAULT;
  o->checksums = 1;
}

/* COLLECTIVE, agreed. Provenance checksum of a file (all ranks read a share),
 * or none when checksums are off. */
static dm_status checksum_opt(const char *path, int enabled, MPI_Comm comm, char hex[33],
                              int64_t *size)
{
  hex[0] = '\0';
  *size = 0;
  return enabled ? dm_checksum_file_tree(path, comm, hex, size) : DM_OK;
}

dm_status dm_score_run(const dm_score_opts *o, MPI_Comm comm, dm_score_report *rep)
{
  memset(rep, 0, sizeof *rep);
  rep->score_min = INFINITY;
  rep->score_max = -INFINITY;
  if (o->batch < 1)
    return dm_error(DM_ERR_ARG, "batch %lld must be >= 1", (long long)o->batch);
  if (o->n_set < 0 || o->n_set > DM_SCORE_MAX_SET)
    return dm_error(DM_ERR_ARG, "at most %d --set options", DM_SCORE_MAX_SET);
  double t0 = MPI_Wtime();
  dm_model m;
  /* Settings go with the load: a sharded backend reads only its share. */
  DM_FORWARD(dm_model_load_set(&m, o->model_path, o->n_set, o->set, comm));
  snprintf(rep->backend, sizeof rep->backend, "%s", m.backend->name);
  rep->dim = m.transform.dim;
  dm_store *st = NULL;
  dm_status s = dm_store_open(o->in_path, comm, 0, &st);
  if (s != DM_OK) {
    dm_model_free(&m);
    return s;
  }
  int64_t n = dm_store_n_events(st);
  rep->n_events = n;
  dm_scores_meta meta;
  memset(&meta, 0, sizeof meta);
  snprintf(meta.model_kind, sizeof meta.model_kind, "%s", m.backend->name);
  snprintf(meta.model_path, sizeof meta.model_path, "%s", o->model_path);
  snprintf(meta.store_path, sizeof meta.store_path, "%s", o->in_path);
  snprintf(meta.channel, sizeof meta.channel, "%s", o->channel ? o->channel : "");
  int64_t msize = 0, ssize = 0;
  s = checksum_opt(o->model_path, o->checksums, comm, meta.model_checksum, &msize);
  /* The training record compares store identities: the store's checksum is
   * needed whenever the model has one, --no-checksums or not. */
  if (s == DM_OK)
    s = checksum_opt(o->in_path, o->checksums || m.split, comm, meta.store_checksum, &ssize);
  dm_split_marker *marker = NULL;
  if (s == DM_OK && m.split && strcmp(m.split->checksum_algo, DM_SPLIT_CHECKSUM_ALGO) != 0) {
    /* Checksums of two algorithms never match: no verdict rather than a
     * wrong "all 0". Same file on every rank: same branch. */
    snprintf(rep->train_marking, sizeof rep->train_marking,
             "no /scores/train column: the model records a '%s' checksum of its training "
             "store, this dmpipe computes '%s'",
             m.split->checksum_algo, DM_SPLIT_CHECKSUM_ALGO);
    dm_split_free(m.split);
    m.split = NULL;
  }
  char parent[33] = "";
  if (s == DM_OK && m.split &&
      dm_h5_attr_get_str(dm_store_file(st), "parent_checksum", parent, sizeof parent) != DM_OK) {
    parent[0] = '\0'; /* not a selection; same answer on every rank */
    dm_error_clear();
  }
  if (s == DM_OK && m.split && strcmp(m.split->store_checksum, meta.store_checksum) != 0 &&
      ((parent[0] && !strcmp(parent, m.split->store_checksum)) ||
       (m.split->parent_checksum[0] &&
        !strcmp(m.split->parent_checksum, meta.store_checksum)))) {
    /* Related by selection: some training events are here, at positions
     * this store does not record. "All 0" would be a lie; no column makes
     * metrics refuse unless told --include-train. */
    snprintf(rep->train_marking, sizeof rep->train_marking,
             "no /scores/train column: this store %s the model's training store %s, so some "
             "of its events trained the model and cannot be identified here; score the "
             "training store itself to mark them",
             parent[0] && !strcmp(parent, m.split->store_checksum) ? "is a selection of"
                                                                  : "is the parent of",
             m.split->store_path);
    dm_split_free(m.split);
    m.split = NULL;
  }
  if (s == DM_OK && m.split) {
    if (!strcmp(m.split->store_checksum, meta.store_checksum)) {
      const char **pn = malloc((size_t)dm_store_n_processes(st) * sizeof *pn + 1);
      s = pn ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
      for (int i = 0; pn && i < dm_store_n_processes(st); i++)
        pn[i] = dm_store_process_name(st, i);
      if (s == DM_OK)
        s = dm_split_marker_new(m.split, pn, dm_store_n_processes(st), &marker);
      free(pn);
      if (s != DM_OK)
        dm_error_context("%s", o->in_path);
      snprintf(rep->train_marking, sizeof rep->train_marking,
               "same store as the model's training store: its %lld training events are 1",
               (long long)m.split->n_pool);
    } else {
      snprintf(rep->train_marking, sizeof rep->train_marking,
               "all 0: the model trained on %s (" DM_SPLIT_CHECKSUM_ALGO " %s), this store differs",
               m.split->store_path, m.split->store_checksum);
    }
    s = dm_agree(s, comm);
  } else if (s == DM_OK && !rep->train_marking[0]) {
    snprintf(rep->train_marking, sizeof rep->train_marking,
             "no /scores/train column: the model file does not record its training events");
  }
  char inputs[2 * DM_PATH_MAX + 256];
  snprintf(inputs, sizeof inputs,
           "%s\t%lld\t" DM_TREE_ALGO ":%s\n%s\t%lld\t" DM_TREE_ALGO ":%s", o->model_path,
           (long long)msize, meta.model_checksum, o->in_path, (long long)ssize,
           meta.store_checksum);
  dm_scores_writer *w = NULL;
  if (s == DM_OK)
    s = dm_scores_writer_create(o->out_path, &meta, NULL, comm, &w);
  if (s == DM_OK && m.split)
    s = dm_scores_writer_add_train(w);
  double t1 = MPI_Wtime();
  rep->seconds_load = t1 - t0;

  int dim_in = m.transform.dim_in, dim = m.transform.dim;
  int64_t B = o->batch;
  dm_features_batch ev;
  memset(&ev, 0, sizeof ev);
  float *raw = NULL, *work = NULL;
  double *score = NULL;
  uint8_t *train = NULL;
  if (s == DM_OK) {
    raw = malloc((size_t)B * dim_in * sizeof *raw);
    work = malloc((size_t)B * dim * sizeof *work);
    score = malloc((size_t)B * sizeof *score);
    train = calloc((size_t)B, 1);
    s = raw && work && score && train ? DM_OK
                             : dm_error(DM_ERR_NOMEM, "no memory for a batch of %lld events",
                                        (long long)B);
    s = dm_agree(s, comm);
  }
  int P = dm_size(comm), r = dm_rank(comm);
  int64_t rounds = dm_physics_rounds(n, B, P);
  dm_progress *prog =
      s == DM_OK ? dm_progress_start(comm, "score", 0, o->progress, o->progress_interval) : NULL;
  dm_progress_expect(prog, n);
  double tf = 0, ts = 0, tw = 0;
  for (int64_t k = 0; s == DM_OK && k < rounds; k++) {
    int64_t b, c;
    dm_physics_round(n, B, k, r, P, &b, &c);
    double a = MPI_Wtime();
    s = dm_agree(dm_features_read(st, &m.transform.spec, b, c, &ev, raw), comm);
    double a2 = MPI_Wtime();
    tf += a2 - a;
    if (s == DM_OK)
      s = dm_agree(dm_model_score_raw(&m, raw, c, work, score, comm), comm);
    double a3 = MPI_Wtime();
    ts += a3 - a2;
    if (s == DM_OK) {
      for (int64_t i = 0; i < c; i++) {
        if (!isfinite(score[i])) {
          rep->n_nonfinite++;
          continue;
        }
        if (score[i] < rep->score_min)
          rep->score_min = score[i];
        if (score[i] > rep->score_max)
          rep->score_max = score[i];
      }
      s = dm_scores_writer_append(w, ev.event_id, ev.process, score, c);
    }
    if (s == DM_OK && marker)
      s = dm_split_mark(marker, ev.process, c, train, comm);
    if (s == DM_OK && m.split) {
      for (int64_t i = 0; i < c; i++)
        rep->n_train += train[i];
      s = dm_scores_writer_append_train(w, train, c);
    }
    tw += MPI_Wtime() - a3;
    dm_progress_add(prog, c, 0);
    dm_progress_tick(prog);
  }
  dm_progress_finish(prog);
  if (s == DM_OK && m.split) {
    /* Every training event found, per process, or the store is not the one
     * recorded (a checksum collision would be the only way here). */
    int64_t marked = 0;
    s = dm_split_marker_finish(marker, o->in_path, comm, &marked);
    marker = NULL;
    rep->n_train = dm_allsum_i64(rep->n_train, comm);
    if (s == DM_OK)
      s = dm_agree(dm_h5_attr_set_i64(dm_scores_writer_file(w), "n_train", rep->n_train), comm);
  }
  /* With or without the column: how it was filled, or why it is absent. */
  if (s == DM_OK)
    s = dm_agree(dm_h5_attr_set_str(dm_scores_writer_file(w), "train_marking", rep->train_marking),
                 comm);
  dm_split_marker_free(marker); /* left over only after a failure */
  double t2 = MPI_Wtime();
  const char **names = malloc((size_t)dm_store_n_processes(st) * sizeof *names + 1);
  int64_t *events = malloc((size_t)dm_store_n_processes(st) * sizeof *events + 1);
  if (s == DM_OK && (!names || !events))
    s = dm_error(DM_ERR_NOMEM, "no memory for the process table");
  for (int i = 0; names && events && i < dm_store_n_processes(st); i++) {
    names[i] = dm_store_process_name(st, i);
    events[i] = dm_store_process_events(st, i);
  }
  s = dm_scores_writer_finish(w, s, names, events, names && events ? dm_store_n_processes(st) : 0,
                              o->command_line, inputs);
  tw += MPI_Wtime() - t2;
  free(names);
  free(events);
  free(raw);
  free(work);
  free(score);
  free(train);
  dm_features_batch_free(&ev);
  dm_store_close(st);
  dm_model_free(&m);
  rep->n_nonfinite = dm_allsum_i64(rep->n_nonfinite, comm);
  rep->score_min = dm_allmin_f64(rep->score_min, comm);
  rep->score_max = dm_allmax_f64(rep->score_max, comm);
  rep->seconds_features = dm_allmax_f64(tf, comm);
  rep->seconds_score = dm_allmax_f64(ts, comm);
  rep->seconds_write = dm_allmax_f64(tw, comm);
  rep->seconds_total = dm_allmax_f64(MPI_Wtime() - t0, comm);
  rep->events_per_second = rep->seconds_total > 0 ? (double)n / rep->seconds_total : 0;
  return s;
}
