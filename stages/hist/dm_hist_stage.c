/* The hist stage: stream a store (or selection) and its scores files in
 * rounds, fill per-process histograms locally, reduce them exactly once. */
#include "dm_hist_stage.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_hist_file.h"
#include "dm_physics.h"
#include "dm_progress.h"
#include "dm_prov.h"
#include "dm_scores_file.h"
#include "dm_store.h"
#include "dm_text.h"

typedef struct {
  dm_scores *sc;
  char var[64];
  int has_split;         /* the file has /scores/train */
  const dm_hist_spec *spec;
  dm_hist_spec resolved; /* spec with an auto range resolved */
  int hist;              /* index into the histogram set */
} score_in;

typedef struct {
  dm_store *st;
  dm_derived *pd;
  int use_derived_w;
  int unit; /* every event weighs 1 */
  score_in sin[DM_HIST_MAX_SCORES];
  int n_sin;
  dm_hist *hs;
  int n_hs;
  int phys_var[DM_HIST_MAX_SPECS]; /* physics variable of histogram h (-1: a score) */
  /* per-round buffers */
  dm_events ev;
  double *w, *x;
  double *vals;     /* [count][DM_VAR_COUNT] */
  int64_t *eid;
  uint16_t *proc;
  uint8_t *keep;
} hist_state;

static const dm_hist_spec *find_spec(const dm_hist_opts *o, const char *name)
{
  for (int i = 0; i < o->n_specs; i++)
    if (!strcmp(o->specs[i].name, name))
      return &o->specs[i];
  return NULL;
}

/* Every rank reads the same store metadata, so the name is the same. */
static void channel_name(const dm_hist_opts *o, dm_store *st, char *out, size_t cap)
{
  if (o->channel) {
    snprintf(out, cap, "%s", o->channel);
    return;
  }
  if (dm_h5_attr_get_str(dm_store_file(st), "selection_name", out, cap) != DM_OK || !out[0])
    snprintf(out, cap, "all");
  dm_error_clear();
  for (char *p = out; *p; p++)
    if (*p == '/')
      *p = '_';
}

static dm_status open_scores(hist_state *hs, const dm_hist_opts *o, MPI_Comm comm)
{
  int64_t n = dm_store_n_events(hs->st);
  for (int i = 0; i < o->n_scores; i++) {
    score_in *si = &hs->sin[hs->n_sin];
    DM_FORWARD(dm_agree(dm_scores_open(o->scores[i], comm, &si->sc), comm));
    hs->n_sin++;
    if (dm_scores_n_events(si->sc) != n)
      return dm_error(DM_ERR_SCHEMA, "%s has %lld scores but %s has %lld events: not its scores",
                      o->scores[i], (long long)dm_scores_n_events(si->sc), o->in_path,
                      (long long)n);
    if (o->score_names[i])
      snprintf(si->var, sizeof si->var, "%s", o->score_names[i]);
    else
      snprintf(si->var, sizeof si->var, "score_%s", dm_scores_get_meta(si->sc)->model_kind);
    for (int j = 0; j < hs->n_sin - 1; j++)
      if (!strcmp(hs->sin[j].var, si->var))
        return dm_error(DM_ERR_ARG,
                        "two scores files give variable '%s' (%s, %s); name them with "
                        "--scores NAME=FILE",
                        si->var, o->scores[j], o->scores[i]);
    si->has_split = dm_h5_exists(dm_scores_file(si->sc), "scores/train");
    si->spec = find_spec(o, si->var);
    if (!si->spec)
      si->spec = find_spec(o, "score");
    if (!si->spec)
      return dm_error(DM_ERR_ARG, "no binning for %s (give --var %s:NBINS:LO:HI or score:...)",
                      si->var, si->var);
    si->resolved = *si->spec;
    memcpy(si->resolved.name, si->var, sizeof si->resolved.name);
  }
  return DM_OK;
}

/* Rows [begin, begin + count) of scores file si: scores in hs->x, keep flags
 * (test split) in hs->keep; checks the rows are the store's events when ev
 * is given. Collective reads. */
static dm_status read_scores(hist_state *hs, score_in *si, int64_t begin, int64_t count,
                             const dm_events *ev)
{
  dm_status s = dm_scores_read(si->sc, begin, count, hs->eid, hs->proc, hs->x);
  if (si->has_split) {
    dm_status t = dm_h5_col_read(dm_scores_file(si->sc), "scores/train", H5T_NATIVE_UINT8, begin,
                                 count, hs->keep);
    if (s == DM_OK)
      s = t;
  }
  if (s != DM_OK)
    return s;
  for (int64_t i = 0; i < count; i++) {
    hs->keep[i] = si->has_split ? hs->keep[i] == 0 : 1;
    if (ev && (hs->eid[i] != ev->event_id[i] || hs->proc[i] != ev->process[i]))
      return dm_error(DM_ERR_SCHEMA,
                      "%s: row %lld is event %lld of process %s, but the store's event %lld is "
                      "event %lld of process %s: not the scores of this store",
                      dm_scores_path(si->sc), (long long)(begin + i), (long long)hs->eid[i],
                      hs->proc[i] < dm_scores_n_processes(si->sc)
                          ? dm_scores_process_name(si->sc, hs->proc[i])
                          : "?",
                      (long long)(begin + i), (long long)ev->event_id[i],
                      dm_store_process_name(hs->st, ev->process[i]));
    if (hs->keep[i] && isnan(hs->x[i]))
      return dm_error(DM_ERR_NUMERIC, "%s: row %lld: score is NaN", dm_scores_path(si->sc),
                      (long long)(begin + i));
  }
  return DM_OK;
}

static dm_status alloc_round(hist_state *hs, int64_t batch)
{
  size_t m = (size_t)(batch > 0 ? batch : 1);
  hs->w = malloc(m * sizeof(double));
  hs->x = malloc(m * sizeof(double));
  hs->vals = malloc(m * DM_VAR_COUNT * sizeof(double));
  hs->eid = malloc(m * sizeof(int64_t));
  hs->proc = malloc(m * sizeof(uint16_t));
  hs->keep = malloc(m);
  if (!hs->w || !hs->x || !hs->vals || !hs->eid || !hs->proc || !hs->keep)
    return dm_error(DM_ERR_NOMEM, "no memory for %lld events per round", (long long)batch);
  return DM_OK;
}

/* Auto ranges: one pass over each such scores file's kept rows. */
static dm_status resolve_ranges(hist_state *hs, int64_t batch, MPI_Comm comm)
{
  int rank = dm_rank(comm), size = dm_size(comm);
  int64_t n = dm_store_n_events(hs->st);
  for (int i = 0; i < hs->n_sin; i++) {
    score_in *si = &hs->sin[i];
    if (!isnan(si->resolved.lo))
      continue;
    double lo = INFINITY, hi = -INFINITY;
    dm_status s = DM_OK;
    int64_t rounds = dm_physics_rounds(n, batch, size);
    for (int64_t k = 0; s == DM_OK && k < rounds; k++) {
      int64_t begin, count;
      dm_physics_round(n, batch, k, rank, size, &begin, &count);
      s = dm_agree(read_scores(hs, si, begin, count, NULL), comm);
      for (int64_t j = 0; s == DM_OK && j < count; j++)
        if (hs->keep[j] && isfinite(hs->x[j])) {
          lo = hs->x[j] < lo ? hs->x[j] : lo;
          hi = hs->x[j] > hi ? hs->x[j] : hi;
        }
    }
    DM_FORWARD(s);
    lo = dm_allmin_f64(lo, comm);
    hi = dm_allmax_f64(hi, comm);
    if (!(lo <= hi)) { /* no finite score in the split */
      lo = 0;
      hi = 1;
    }
    /* The largest score must fall inside the last bin, not in the overflow. */
    double top = nextafter(hi, INFINITY);
    if (!(top > lo) || (top - lo) / si->resolved.n_bins <= 0 ||
        lo + (top - lo) / si->resolved.n_bins == lo) {
      top = lo + (fabs(lo) > 1 ? fabs(lo) : 1);
    }
    si->resolved.lo = lo;
    si->resolved.hi = top;
    si->resolved.log_scale = 0;
  }
  return DM_OK;
}

static dm_status make_hists(hist_state *hs, const dm_hist_opts *o, const char *channel,
                            const char *wsrc)
{
  int P = dm_store_n_processes(hs->st);
  const char **names = malloc((size_t)(P > 0 ? P : 1) * sizeof(char *));
  if (!names)
    return dm_error(DM_ERR_NOMEM, "no memory for histograms");
  for (int p = 0; p < P; p++)
    names[p] = dm_store_process_name(hs->st, p);
  int cap = o->n_specs + hs->n_sin;
  hs->hs = calloc((size_t)(cap > 0 ? cap : 1), sizeof(dm_hist));
  dm_status s = hs->hs ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for histograms");
  for (int i = 0; s == DM_OK && i < o->n_specs + hs->n_sin; i++) {
    const dm_hist_spec *sp;
    int v = -1;
    if (i < o->n_specs) {
      sp = &o->specs[i];
      v = dm_physics_var_index(sp->name);
      if (v < 0 || o->no_physics)
        continue; /* score binnings are used through their scores files */
    } else {
      sp = &hs->sin[i - o->n_specs].resolved;
      hs->sin[i - o->n_specs].hist = hs->n_hs;
    }
    double *edges = malloc((size_t)(sp->n_bins + 1) * sizeof(double));
    s = edges ? dm_hist_spec_edges(sp, edges) : dm_error(DM_ERR_NOMEM, "no memory for edges");
    dm_hist *h = &hs->hs[hs->n_hs];
    if (s == DM_OK)
      s = dm_hist_init(h, channel, sp->name, P, names, sp->n_bins, edges);
    free(edges);
    if (s != DM_OK)
      break;
    hs->phys_var[hs->n_hs++] = v;
    h->log_scale = sp->log_scale;
    snprintf(h->weights, sizeof h->weights, "%s", wsrc);
    if (v >= 0) {
      snprintf(h->binning, sizeof h->binning, "%d %s bins over [%.17g, %.17g)", sp->n_bins,
               sp->log_scale ? "log-spaced" : "equal", sp->lo, sp->hi);
      snprintf(h->subset, sizeof h->subset, "all events");
    } else {
      score_in *si = &hs->sin[i - o->n_specs];
      int autorange = isnan(si->spec->lo);
      snprintf(h->binning, sizeof h->binning, "%d %s bins over [%.17g, %.17g)%s", sp->n_bins,
               sp->log_scale ? "log-spaced" : "equal", sp->lo, sp->hi,
               autorange ? " (auto: the range of the filled scores)" : "");
      snprintf(h->subset, sizeof h->subset, "%s",
               si->has_split ? "test split (scores/train == 0)"
                             : "all events (training split unknown: no scores/train)");
    }
  }
  free(names);
  return s;
}

/* The physics variables of this round's events into their histograms. */
static dm_status fill_round(hist_state *hs, int64_t count)
{
  const dm_events *ev = &hs->ev;
  for (int64_t i = 0; i < count; i++)
    dm_physics_event(ev, i, &hs->vals[i * DM_VAR_COUNT]);
  const double *w = hs->unit ? NULL : hs->use_derived_w ? hs->w : ev->weight;
  for (int h = 0; h < hs->n_hs; h++) {
    int v = hs->phys_var[h];
    if (v < 0)
      continue;
    for (int64_t i = 0; i < count; i++)
      hs->x[i] = hs->vals[i * DM_VAR_COUNT + v];
    DM_FORWARD(dm_hist_fill_local(&hs->hs[h], ev->process, hs->x, w, NULL, count));
  }
  return DM_OK;
}

static dm_status stream(hist_state *hs, const dm_hist_opts *o, int64_t batch, MPI_Comm comm)
{
  int rank = dm_rank(comm), size = dm_size(comm);
  int64_t n = dm_store_n_events(hs->st);
  dm_progress *pr = dm_progress_start(comm, "hist", 0, o->progress, o->progress_interval);
  dm_status s = DM_OK;
  int64_t rounds = dm_physics_rounds(n, batch, size);
  for (int64_t k = 0; s == DM_OK && k < rounds; k++) {
    int64_t begin, count;
    dm_physics_round(n, batch, k, rank, size, &begin, &count);
    s = dm_store_read(hs->st, begin, count, 0, &hs->ev);
    if (hs->use_derived_w) {
      dm_status t = dm_derived_read(hs->pd, "weight", begin, count, hs->w);
      s = s == DM_OK ? t : s;
    }
    s = dm_agree(s, comm);
    if (s == DM_OK)
      s = dm_agree(fill_round(hs, count), comm);
    /* Each scores file: its rows of this round (checked to be these events),
     * with these events' weights. */
    for (int i = 0; s == DM_OK && i < hs->n_sin; i++) {
      score_in *si = &hs->sin[i];
      dm_status t = read_scores(hs, si, begin, count, &hs->ev);
      if (t == DM_OK)
        t = dm_hist_fill_local(&hs->hs[si->hist], hs->ev.process, hs->x,
                               hs->unit            ? NULL
                               : hs->use_derived_w ? hs->w
                                                   : hs->ev.weight,
                               hs->keep, count);
      s = dm_agree(t, comm);
    }
    dm_progress_add(pr, count, 0);
    dm_progress_tick(pr);
  }
  dm_progress_finish(pr);
  for (int h = 0; s == DM_OK && h < hs->n_hs; h++)
    s = dm_hist_allreduce(&hs->hs[h], comm);
  return s;
}

/* Inputs for provenance: the store and each scores file with size and
 * checksum (computed by all ranks together, agreed, so the attribute is the
 * same everywhere). */
static dm_status inputs_text(const dm_hist_opts *o, MPI_Comm comm, char **out)
{
  size_t cap = 256 + (size_t)(o->n_scores + 1) * (DM_PATH_MAX + 64);
  char *t = calloc(cap, 1);
  dm_status s = dm_agree(t ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory"), comm);
  size_t len = 0;
  for (int i = -1; s == DM_OK && i < o->n_scores; i++) {
    const char *p = i < 0 ? o->in_path : o->scores[i];
    char hex[33];
    int64_t sz = 0;
    s = dm_checksum_file_tree(p, comm, hex, &sz);
    if (s == DM_OK)
      len += (size_t)snprintf(t + len, cap - len, "%s\t%lld\t" DM_TREE_ALGO ":%s\n", p,
                              (long long)sz, hex);
  }
  if (s != DM_OK) {
    free(t);
    return s;
  }
  *out = t;
  return DM_OK;
}

dm_status dm_hist_run(const dm_hist_opts *o, MPI_Comm comm, dm_hist_report *rep)
{
  memset(rep, 0, sizeof *rep);
  double t0 = MPI_Wtime();
  if (o->n_scores > DM_HIST_MAX_SCORES)
    return dm_error(DM_ERR_ARG, "at most %d scores files", DM_HIST_MAX_SCORES);
  hist_state hs;
  memset(&hs, 0, sizeof hs);
  int64_t batch = o->batch_events > 0 ? o->batch_events : DM_PHYSICS_BATCH_DEFAULT;
  dm_status s = dm_agree(dm_store_open(o->in_path, comm, 0, &hs.st), comm);
  if (s == DM_OK)
    s = dm_agree(dm_derived_open(o->in_path, dm_store_file(hs.st), dm_store_n_events(hs.st),
                                 comm, &hs.pd),
                 comm);
  if (s == DM_OK) {
    hs.unit = o->unit_weights;
    hs.use_derived_w = !hs.unit && dm_derived_has(hs.pd, "weight");
    snprintf(rep->weight_source, sizeof rep->weight_source, "%s",
             hs.unit            ? DM_HIST_W_UNIT
             : hs.use_derived_w ? DM_HIST_W_DERIVED
                                : DM_HIST_W_ARCHIVE);
    channel_name(o, hs.st, rep->channel, sizeof rep->channel);
    rep->n_events = dm_store_n_events(hs.st);
    s = dm_agree(open_scores(&hs, o, comm), comm);
  }
  if (s == DM_OK)
    s = dm_agree(alloc_round(&hs, batch), comm);
  if (s == DM_OK)
    s = resolve_ranges(&hs, batch, comm);
  if (s == DM_OK)
    s = dm_agree(make_hists(&hs, o, rep->channel, rep->weight_source), comm);
  if (s == DM_OK && hs.n_hs == 0)
    s = dm_error(DM_ERR_ARG, "nothing to histogram: no variable binning and no scores file");
  if (s == DM_OK)
    s = stream(&hs, o, batch, comm);
  char *inputs = NULL;
  if (s == DM_OK)
    s = inputs_text(o, comm, &inputs);
  if (s == DM_OK)
    s = dm_hist_file_write(o->out_path, hs.hs, hs.n_hs, comm,
                           o->command_line ? o->command_line : "", inputs);
  free(inputs);
  rep->n_hists = hs.n_hs;
  for (int i = 0; i < hs.n_sin; i++) {
    rep->n_scores_test_split += hs.sin[i].has_split;
    dm_scores_close(hs.sin[i].sc);
  }
  dm_hist_free_set(hs.hs, hs.n_hs);
  dm_events_free(&hs.ev);
  free(hs.w);
  free(hs.x);
  free(hs.vals);
  free(hs.eid);
  free(hs.proc);
  free(hs.keep);
  dm_derived_close(hs.pd);
  dm_store_close(hs.st);
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}

/* ---- per-process weights for merging ---- */

static dm_status weights_parse(const char *path, const char *text, size_t len,
                               dm_hist_scale *sc)
{
  cJSON *j = cJSON_ParseWithLength(text, len);
  if (!j)
    return dm_error(DM_ERR_FORMAT, "%s: not JSON", path);
  dm_status s = DM_OK;
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "format_version");
  const cJSON *resc = cJSON_GetObjectItemCaseSensitive(j, "rescaled");
  const cJSON *procs = cJSON_GetObjectItemCaseSensitive(j, "processes");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "dmpipe-weights"))
    s = dm_error(DM_ERR_SCHEMA, "%s is not the JSON of dmpipe weight (format dmpipe-weights)",
                 path);
  else if (!cJSON_IsNumber(ver) || ver->valuedouble < 2)
    s = dm_error(DM_ERR_SCHEMA,
                 "%s was written by an older dmpipe weight, whose JSON weights are rounded to "
                 "15 digits: run dmpipe weight --json again",
                 path);
  else if (cJSON_IsTrue(resc))
    s = dm_error(DM_ERR_SCHEMA,
                 "%s: weights rescaled from the store's own (dmpipe weight --rescale-lumi) are "
                 "one per event, not one per process: histograms can be given weights per "
                 "process only from a process table (dmpipe weight --lumi)",
                 path);
  else if (!cJSON_IsArray(procs))
    s = dm_error(DM_ERR_SCHEMA, "%s: no processes list", path);
  int n = s == DM_OK ? cJSON_GetArraySize(procs) : 0;
  if (s == DM_OK) {
    sc->names = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    sc->weight = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    sc->events = calloc((size_t)(n > 0 ? n : 1), sizeof(int64_t));
    if (!sc->names || !sc->weight || !sc->events)
      s = dm_error(DM_ERR_NOMEM, "no memory reading %s", path);
  }
  const cJSON *p;
  int i = 0;
  const cJSON *list = s == DM_OK ? procs : (const cJSON *)NULL;
  cJSON_ArrayForEach(p, list)
  {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(p, "weight");
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(p, "events");
    if (!cJSON_IsString(name) || !(cJSON_IsNumber(w) || cJSON_IsNull(w)) ||
        !cJSON_IsNumber(ev) || ev->valuedouble < 0 || ev->valuedouble != floor(ev->valuedouble)) {
      s = dm_error(DM_ERR_SCHEMA, "%s: processes[%d] lacks a name, a weight or an event count",
                   path, i);
      break;
    }
    size_t l = strlen(name->valuestring) + 1;
    if (!(sc->names[i] = malloc(l))) {
      s = dm_error(DM_ERR_NOMEM, "no memory reading %s", path);
      break;
    }
    memcpy(sc->names[i], name->valuestring, l);
    /* null: no cross section (dmpipe weight --allow-unknown), NaN weights. */
    sc->weight[i] = cJSON_IsNumber(w) ? w->valuedouble : NAN;
    sc->events[i] = (int64_t)ev->valuedouble;
    sc->n = ++i;
  }
  cJSON_Delete(j);
  return s;
}

dm_status dm_hist_weights_load(const char *path, MPI_Comm comm, dm_hist_scale *sc)
{
  memset(sc, 0, sizeof *sc);
  snprintf(sc->path, sizeof sc->path, "%s", path);
  snprintf(sc->label, sizeof sc->label, "%s", DM_HIST_W_DERIVED);
  char *text = NULL;
  size_t len = 0;
  /* Every rank parses the same bytes; agreed all the same. */
  dm_status s = dm_text_read_bcast(path, "weights file", (size_t)1 << 26, comm, &text, &len);
  if (s == DM_OK)
    s = weights_parse(path, text, len, sc);
  free(text);
  s = dm_agree(s, comm);
  if (s != DM_OK)
    dm_hist_scale_free(sc);
  return s;
}
