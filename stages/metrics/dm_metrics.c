#include "dm_metrics.h"
#include "dm_metrics_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_osel.h"
#include "dm_proctable.h"
#include "dm_prov.h"
#include "dm_roc.h"
#include "dm_scores_file.h"
#include "dm_signif.h"
#include "dm_store.h"
#include "dm_xsum.h"

static const double k_eps_b[DM_METRICS_N_EPS] = {1e-2, 1e-3, 1e-4};

enum { ROLE_NONE = 0, ROLE_BKG = 1, ROLE_SIG = 2 };

void dm_metrics_opts_default(dm_metrics_opts *o)
{
  memset(o, 0, sizeof *o);
  o->hist_min_count = 10;
  o->hist_per_decade = 20;
  o->weight_lumi = 10.0;
  o->n_thresholds = 3;
  o->thresholds[0] = 1e-2;
  o->thresholds[1] = 1e-3;
  o->thresholds[2] = 1e-4;
  o->min_bkg_per_wp = 10;
}

void dm_metrics_report_free(dm_metrics_report *rep)
{
  if (!rep)
    return;
  free(rep->rows);
  free(rep->ti);
  free(rep->signif);
  dm_hist_free_set(rep->hist, rep->n_hist);
  memset(rep, 0, sizeof *rep);
}

/* ---- roles ----------------------------------------------------------------- */

/* Signal name prefixes of the archive and of the challenge files, for
 * processes the table does not know. */
static int looks_bsm(const char *name)
{
  static const char *const pre[] = {"gluino", "stop",    "Zp",     "glgl",   "sqsq",
                                    "stlp",   "monojet", "monotop", "monoV", "chacha",
                                    "chaneut", "pp23mt", "pp24mt"};
  for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
    if (strncmp(name, pre[i], strlen(pre[i])) == 0)
      return 1;
  return 0;
}

typedef struct {
  int is_kind;      /* 1: "sm"/"bsm" */
  int want_bsm;     /* for is_kind */
  int n;
  char **names;     /* for lists */
  int *seen;
} role_spec;

static void role_free(role_spec *r)
{
  free(r->names);
  free(r->seen);
}

static dm_status role_parse(const char *text, const char *kind, const char *flag, role_spec *r)
{
  memset(r, 0, sizeof *r);
  if (!text || strcmp(text, kind) == 0) {
    r->is_kind = 1;
    r->want_bsm = strcmp(kind, "bsm") == 0;
    return DM_OK;
  }
  size_t len = strlen(text);
  int n = 1;
  for (size_t i = 0; i < len; i++)
    n += text[i] == ',';
  /* One block: pointers, flags, then a copy of the text cut at commas. */
  r->names = malloc((size_t)n * sizeof(char *) + len + 1);
  r->seen = calloc((size_t)n, sizeof(int));
  if (!r->names || !r->seen) {
    role_free(r);
    return dm_error(DM_ERR_NOMEM, "no memory for %s", flag);
  }
  char *copy = (char *)(r->names + n);
  memcpy(copy, text, len + 1);
  r->n = 0;
  for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
    r->names[r->n++] = tok;
  if (r->n == 0) {
    role_free(r);
    return dm_error(DM_ERR_ARG, "%s: empty process list", flag);
  }
  return DM_OK;
}

static int role_match(role_spec *r, const char *name, const dm_proctable *t)
{
  if (r->is_kind) {
    const dm_process *p = t ? dm_proctable_find(t, name) : NULL;
    int bsm = p ? p->kind == DM_PROC_BSM : looks_bsm(name);
    return bsm == r->want_bsm;
  }
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->names[i], name) == 0) {
      r->seen[i] = 1;
      return 1;
    }
  return 0;
}

static void append_name(char *buf, size_t cap, const char *name)
{
  size_t l = strlen(buf);
  if (strstr(buf, name)) {
    /* Exact-token check: avoid listing a name twice over channels. */
    const char *p = buf;
    size_t n = strlen(name);
    while ((p = strstr(p, name)) != NULL) {
      if ((p == buf || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
        return;
      p += n;
    }
  }
  snprintf(buf + l, cap - l, "%s%s", l ? "," : "", name);
}

/* ---- one channel -------------------------------------------------------------- */

/* This rank's rows of a channel (all its files), training events left out
 * unless include_train; proc indexes the channel's merged process table. */
typedef struct {
  int64_t n, cap; /* local rows */
  uint16_t *proc;
  double *score, *weight;
  char weight_source[64];
} chan_data;

static void chan_data_free(chan_data *d)
{
  free(d->proc);
  free(d->score);
  free(d->weight);
  memset(d, 0, sizeof *d);
}

static dm_status chan_data_reserve(chan_data *d, int64_t more, int need_w)
{
  if (d->n + more <= d->cap && d->proc)
    return DM_OK;
  /* Exactly what is asked: a channel grows once per score file, by the
   * file's whole block. */
  int64_t cap = d->n + more;
  size_t m = (size_t)(cap > 0 ? cap : 1);
  uint16_t *p = realloc(d->proc, m * sizeof *p);
  if (p)
    d->proc = p;
  double *s = realloc(d->score, m * sizeof *s);
  if (s)
    d->score = s;
  double *w = need_w ? realloc(d->weight, m * sizeof *w) : NULL;
  if (w)
    d->weight = w;
  if (!p || !s || (need_w && !w))
    return dm_error(DM_ERR_NOMEM, "no memory for %lld scores", (long long)cap);
  d->cap = cap;
  return DM_OK;
}

/* COLLECTIVE. This rank's block of one file's event weights: the derived
 * "weight" column (dmpipe weight) if the store has one, else the archive's
 * /events/weight. */
static dm_status read_weights(dm_scores *sc, const dm_metrics_input *in, int64_t b, int64_t nloc,
                              double *w, char *source, size_t source_cap, MPI_Comm comm)
{
  int64_t n = dm_scores_n_events(sc);
  const char *store = in->store[0] ? in->store : dm_scores_get_meta(sc)->store_path;
  if (!store[0])
    /* same on every rank: the attribute is the same */
    return dm_error(DM_ERR_ARG,
                    "%s names no store; event weights need one (give --store %s=STORE.h5)",
                    in->scores, in->name);
  hid_t f;
  /* As a store is opened: a catalog's columns are virtual (dm_store.h). */
  DM_FORWARD(dm_store_open_file(store, comm, &f));
  int64_t len = -1;
  dm_status l = dm_prov_check(f, store, "dmpipe-store", 1000, NULL);
  if (l == DM_OK)
    l = dm_h5_col_length(f, "events/weight", &len);
  if (l == DM_OK && len != n)
    l = dm_error(DM_ERR_SCHEMA, "%s has %lld events but %s has %lld scores: not the scored store",
                 store, (long long)len, in->scores, (long long)n);
  dm_status s = dm_agree(l, comm);
  dm_derived *dd = NULL;
  if (s == DM_OK)
    s = dm_derived_open(store, f, n, comm, &dd);
  if (s == DM_OK && dm_derived_has(dd, "weight")) {
    snprintf(source, source_cap, "derived weight (dmpipe weight)");
    s = dm_agree(dm_derived_read(dd, "weight", b, nloc, w), comm);
  } else if (s == DM_OK) {
    snprintf(source, source_cap, "archive weight (/events/weight)");
    s = dm_agree(dm_h5_col_read(f, "events/weight", H5T_NATIVE_DOUBLE, b, nloc, w), comm);
  }
  dm_derived_close(dd);
  dm_h5_close(f);
  if (s != DM_OK && dm_error_message()[0] && !strstr(dm_error_message(), store))
    dm_error_context("%s", store);
  return s;
}

/* COLLECTIVE. Append this rank's block of one score file to d. map[] takes
 * the file's process index to the channel's; role[] is per channel index.
 * excl[0] / excl[1] count the training events left out / of which
 * background (local). The block is read straight into d's arrays and the
 * training rows squeezed out in place: besides what d keeps (10 bytes a row,
 * 18 weighted) only the training flags (1 byte a row) are held. */
static dm_status read_input(dm_scores *sc, const dm_metrics_input *in, const int *map,
                            const int *role, int need_w, int include_train, MPI_Comm comm,
                            chan_data *d, int64_t excl[2])
{
  int64_t n = dm_scores_n_events(sc), b = 0, e = 0;
  dm_partition(n, dm_rank(comm), dm_size(comm), &b, &e);
  int64_t nl = e - b;
  uint8_t *train = calloc((size_t)(nl > 0 ? nl : 1), 1);
  dm_status s = train ? chan_data_reserve(d, nl, need_w)
                      : dm_error(DM_ERR_NOMEM, "no memory for %lld scores", (long long)nl);
  s = dm_agree(s, comm);
  uint16_t *proc = s == DM_OK ? d->proc + d->n : NULL;
  double *score = s == DM_OK ? d->score + d->n : NULL;
  double *w = s == DM_OK && need_w ? d->weight + d->n : NULL;
  if (s == DM_OK)
    s = dm_agree(dm_scores_read(sc, b, nl, NULL, proc, score), comm);
  if (s == DM_OK && !include_train) {
    /* Same answer on every rank: the file is the same. */
    if (!dm_scores_has_train(sc))
      s = dm_error(DM_ERR_SCHEMA,
                   "%s has no /scores/train column, so which events trained the model is "
                   "unknown (score file of an older dmpipe, or a model file without its "
                   "training record): re-run dmpipe score, or pass --include-train to count "
                   "every event",
                   in->scores);
    else
      s = dm_agree(dm_scores_read_train(sc, b, nl, train), comm);
  }
  if (s == DM_OK) {
    dm_status l = DM_OK;
    for (int64_t i = 0; i < nl; i++)
      if (!isfinite(score[i])) {
        l = dm_error(DM_ERR_NUMERIC, "%s: row %lld: score %g is not finite", in->scores,
                     (long long)(b + i), score[i]);
        break;
      }
    s = dm_agree(l, comm);
  }
  char source[64] = "";
  if (s == DM_OK && need_w)
    s = read_weights(sc, in, b, nl, w, source, sizeof source, comm);
  if (s == DM_OK && need_w) {
    dm_status l = DM_OK;
    for (int64_t i = 0; i < nl; i++)
      if (!train[i] && role[map[proc[i]]] != ROLE_NONE && !isfinite(w[i])) {
        l = dm_error(DM_ERR_NUMERIC,
                     "%s: event %lld (process %s): weight %g is not finite; give the process "
                     "a cross section (dmpipe weight --xsec) or leave it out of --background "
                     "and --signals",
                     in->store[0] ? in->store : dm_scores_get_meta(sc)->store_path,
                     (long long)(b + i), dm_scores_process_name(sc, proc[i]), w[i]);
        break;
      }
    s = dm_agree(l, comm);
    if (s == DM_OK) {
      /* Files of one channel may take weights from different places. */
      if (!d->weight_source[0])
        snprintf(d->weight_source, sizeof d->weight_source, "%s", source);
      else if (strcmp(d->weight_source, source) != 0)
        snprintf(d->weight_source, sizeof d->weight_source, "mixed (per file)");
    }
  }
  if (s == DM_OK) {
    /* Kept rows move down over the training ones (k <= i). */
    int64_t k = 0;
    for (int64_t i = 0; i < nl; i++) {
      int c = map[proc[i]];
      if (train[i]) {
        excl[0]++;
        excl[1] += role[c] == ROLE_BKG;
        continue;
      }
      proc[k] = (uint16_t)c;
      score[k] = score[i];
      if (need_w)
        w[k] = w[i];
      k++;
    }
    d->n += k;
  }
  free(train);
  return s;
}
/* Values (and weights) of the local rows whose process passes `sel`. */
static dm_status pick(const chan_data *d, const int *sel, int want_w, double **v, double **w,
                      int64_t *n)
{
  int64_t k = 0;
  for (int64_t i = 0; i < d->n; i++)
    k += sel[d->proc[i]] != 0;
  *v = malloc((size_t)(k > 0 ? k : 1) * sizeof(double));
  *w = want_w ? malloc((size_t)(k > 0 ? k : 1) * sizeof(double)) : NULL;
  if (!*v || (want_w && !*w)) {
    free(*v);
    free(*w);
    *v = *w = NULL;
    return dm_error(DM_ERR_NOMEM, "no memory for %lld scores", (long long)k);
  }
  k = 0;
  for (int64_t i = 0; i < d->n; i++)
    if (sel[d->proc[i]]) {
      (*v)[k] = d->score[i];
      if (want_w)
        (*w)[k] = d->weight[i];
      k++;
    }
  *n = k;
  return DM_OK;
}

static dm_status build_set(const chan_data *d, const int *sel, int weighted, MPI_Comm comm,
                           dm_osel_set *set)
{
  double *v = NULL, *w = NULL;
  int64_t n = 0;
  dm_status s = dm_agree(pick(d, sel, weighted, &v, &w, &n), comm);
  if (s == DM_OK)
    s = dm_osel_build(set, v, weighted ? w : NULL, n, comm);
  free(v);
  free(w);
  return s;
}

static dm_status add_row(dm_metrics_report *rep, const dm_metrics_row *r)
{
  dm_metrics_row *g = realloc(rep->rows, (size_t)(rep->n_rows + 1) * sizeof *g);
  if (!g)
    return dm_error(DM_ERR_NOMEM, "no memory for result rows");
  rep->rows = g;
  rep->rows[rep->n_rows++] = *r;
  return DM_OK;
}

/* Hanley & McNeil (Radiology 143 (1982) 29), the standard error of an AUC
 * estimated from n_s signal and n_b background events. */
static double auc_stderr(double a, double ns, double nb)
{
  if (!(ns > 0 && nb > 0) || !isfinite(a))
    return NAN;
  double q1 = a / (2 - a), q2 = 2 * a * a / (1 + a);
  double v = (a * (1 - a) + (ns - 1) * (q1 - a * a) + (nb - 1) * (q2 - a * a)) / (ns * nb);
  return v > 0 ? sqrt(v) : 0.0;
}

/* COLLECTIVE. Kish effective number of the local background weights. */
static double kish_count(const chan_data *d, const int *sel, MPI_Comm comm, dm_status *s)
{
  dm_xsum a[2];
  memset(a, 0, sizeof a);
  for (int64_t i = 0; i < d->n; i++)
    if (sel[d->proc[i]]) {
      dm_xsum_add(&a[0], d->weight[i]);
      dm_xsum_add(&a[1], d->weight[i] * d->weight[i]);
    }
  *s = dm_xsum_allreduce(a, 2, comm);
  double sw = dm_xsum_value(&a[0]), sw2 = dm_xsum_value(&a[1]);
  return sw2 > 0 ? sw * sw / sw2 : 0.0;
}

/* The channel's merged process table: names of every file, first seen first. */
static dm_status merge_tables(dm_scores **sc, int nf, const char ***names_out, int *np_out,
                              int **map_out)
{
  int cap = 0;
  for (int k = 0; k < nf; k++)
    cap += dm_scores_n_processes(sc[k]);
  const char **names = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *names);
  int *map = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *map);
  if (!names || !map) {
    free(names);
    free(map);
    return dm_error(DM_ERR_NOMEM, "no memory for process tables");
  }
  int np = 0, off = 0;
  for (int k = 0; k < nf; k++) {
    for (int i = 0; i < dm_scores_n_processes(sc[k]); i++) {
      const char *nm = dm_scores_process_name(sc[k], i);
      int j = 0;
      while (j < np && strcmp(names[j], nm) != 0)
        j++;
      if (j == np)
        names[np++] = nm;
      map[off + i] = j;
    }
    off += dm_scores_n_processes(sc[k]);
  }
  if (np > 65535) {
    free(names);
    free(map);
    return dm_error(DM_ERR_ARG, "%d distinct processes in one channel: at most 65535", np);
  }
  *names_out = names;
  *np_out = np;
  *map_out = map;
  return DM_OK;
}

static dm_status run_channel(const dm_metrics_opts *o, const int *files, int nf, role_spec *rb,
                             role_spec *rs, const dm_proctable *table, const dm_hist *edge_src,
                             MPI_Comm comm, dm_metrics_report *rep)
{
  const char *cname = o->inputs[files[0]].name;
  dm_scores **sc = calloc((size_t)nf, sizeof *sc);
  if (!sc)
    return dm_error(DM_ERR_NOMEM, "no memory"); /* calloc of a few pointers: same everywhere */
  dm_status s = DM_OK;
  for (int k = 0; s == DM_OK && k < nf; k++)
    s = dm_scores_open(o->inputs[files[k]].scores, comm, &sc[k]);
  int np = 0;
  const char **names = NULL;
  int *map = NULL, *role = NULL, *sel = NULL;
  int64_t *per_proc = NULL;
  chan_data d = {0};
  dm_osel_set bkg_u = {0}, bkg_w = {0};
  dm_hist h = {0};
  double *edges = NULL;
  int need_w = o->weighted || o->hist_out || o->lumi > 0;
  if (s == DM_OK)
    s = dm_agree(merge_tables(sc, nf, &names, &np, &map), comm);
  if (s == DM_OK) {
    role = calloc((size_t)(np > 0 ? np : 1), sizeof(int));
    sel = calloc((size_t)(np > 0 ? np : 1), sizeof(int));
    per_proc = calloc((size_t)(np > 0 ? np : 1), sizeof(int64_t));
    s = role && sel && per_proc ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
    s = dm_agree(s, comm);
  }
  for (int i = 0; s == DM_OK && i < np; i++) {
    int b = role_match(rb, names[i], table), g = role_match(rs, names[i], table);
    if (b && g)
      /* Same arguments on every rank, so every rank fails here together. */
      s = dm_error(DM_ERR_ARG, "process '%s' is both background and signal", names[i]);
    role[i] = b ? ROLE_BKG : g ? ROLE_SIG : ROLE_NONE;
  }
  int64_t excl[2] = {0, 0}, n_events = 0;
  for (int k = 0, off = 0; s == DM_OK && k < nf; k++) {
    s = read_input(sc[k], &o->inputs[files[k]], map + off, role, need_w, o->include_train, comm,
                   &d, excl);
    n_events += dm_scores_n_events(sc[k]);
    off += dm_scores_n_processes(sc[k]);
  }
  if (s != DM_OK)
    goto done;
  for (int64_t i = 0; i < d.n; i++)
    per_proc[d.proc[i]]++;
  s = dm_allsum_i64_array(per_proc, np, comm);
  if (s == DM_OK)
    s = dm_allsum_i64_array(excl, 2, comm);
  if (s != DM_OK)
    goto done;

  dm_metrics_channel *ch = &rep->channels[rep->n_channels++];
  memset(ch, 0, sizeof *ch);
  snprintf(ch->name, sizeof ch->name, "%s", cname);
  snprintf(ch->weights, sizeof ch->weights, "%s", need_w ? d.weight_source : "none (unit)");
  ch->n_files = nf;
  ch->n_events = n_events;
  ch->n_train_excluded = excl[0];
  ch->n_train_background = excl[1];
  for (int i = 0; i < np; i++) {
    sel[i] = role[i] == ROLE_BKG;
    if (sel[i] && per_proc[i] > 0)
      append_name(rep->background_names, sizeof rep->background_names, names[i]);
    if (role[i] == ROLE_SIG && per_proc[i] > 0)
      append_name(rep->signal_names, sizeof rep->signal_names, names[i]);
  }
  /* Weighted runs sort once: the unweighted view (for histogram edges)
   * shares the weighted set's keys. */
  dm_osel_set *bkg_own = o->weighted ? &bkg_w : &bkg_u;
  s = build_set(&d, sel, o->weighted, comm, bkg_own);
  if (s != DM_OK)
    goto done;
  if (o->weighted) {
    bkg_u = bkg_w;
    bkg_u.weight = NULL;
    bkg_u.w_total = (double)bkg_u.n_total;
  }
  ch->n_background = bkg_u.n_total;
  ch->w_background = o->weighted ? bkg_w.w_total : (double)bkg_u.n_total;
  ch->n_background_eff = (double)bkg_u.n_total;
  if (o->weighted) {
    ch->n_background_eff = kish_count(&d, sel, comm, &s);
    if (s != DM_OK)
      goto done;
  }
  for (int k = 0; k < DM_METRICS_N_EPS; k++) {
    ch->needed[k] = (int64_t)ceil(o->min_bkg_per_wp / k_eps_b[k] * (1 - 1e-12));
    ch->resolved[k] = ch->n_background_eff >= (double)ch->needed[k];
  }
  if (bkg_u.n_total == 0) {
    s = dm_error(DM_ERR_ARG,
                 "channel %s: no background events to evaluate among its processes (%lld "
                 "training events left out; --include-train counts them)",
                 cname, (long long)excl[1]);
    goto done;
  }

  /* ROC metrics, one signal process at a time. */
  for (int p = 0; s == DM_OK && p < np; p++) {
    if (role[p] != ROLE_SIG || per_proc[p] == 0)
      continue;
    for (int i = 0; i < np; i++)
      sel[i] = i == p;
    dm_osel_set sg = {0};
    s = build_set(&d, sel, o->weighted, comm, &sg);
    if (s != DM_OK)
      break;
    dm_metrics_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.signal, sizeof r.signal, "%s", names[p]);
    snprintf(r.channel, sizeof r.channel, "%s", cname);
    r.n_signal = sg.n_total;
    r.n_background = bkg_u.n_total;
    s = dm_roc_compute(o->weighted ? &bkg_w : &bkg_u, &sg, k_eps_b, DM_METRICS_N_EPS, comm,
                       &r.auc, r.eps_s);
    dm_osel_free(&sg);
    if (s != DM_OK) {
      dm_error_context("channel %s, signal %s", cname, names[p]);
      break;
    }
    r.auc_err = auc_stderr(r.auc, (double)r.n_signal, (double)r.n_background);
    r.few_signal = (double)r.n_signal < 10.0 * o->min_bkg_per_wp;
    r.best_si = NAN;
    for (int k = 0; k < DM_METRICS_N_EPS; k++) {
      r.si[k] = r.eps_s[k] / sqrt(k_eps_b[k]);
      r.resolved[k] = ch->resolved[k];
      if ((r.resolved[k] || o->allow_unresolved) && !(r.si[k] <= r.best_si))
        r.best_si = r.si[k];
    }
    s = add_row(rep, &r);
  }
  if (s != DM_OK)
    goto done;

  /* Histograms of every process. */
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < d.n; i++) {
    if (d.score[i] < lo)
      lo = d.score[i];
    if (d.score[i] > hi)
      hi = d.score[i];
  }
  lo = dm_allmin_f64(lo, comm);
  hi = dm_allmax_f64(hi, comm);
  int n_edges = 0;
  char binning[256] = "";
  if (edge_src) {
    n_edges = edge_src->n_bins + 1;
    edges = malloc((size_t)n_edges * sizeof(double));
    s = edges ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for edges");
    if (s == DM_OK)
      memcpy(edges, edge_src->edges, (size_t)n_edges * sizeof(double));
    if (snprintf(binning, sizeof binning, "%s (edges from %s)", edge_src->binning, o->hist_edges) < 0)
      binning[0] = '\0';
    s = dm_agree(s, comm);
  } else {
    s = dm_metrics_adaptive_edges(&bkg_u, lo, hi, o, comm, &edges, &n_edges, binning, sizeof binning);
  }
  if (s == DM_OK)
    s = dm_agree(dm_hist_init(&h, cname, "score", np, names, n_edges - 1, edges), comm);
  if (s == DM_OK) {
    snprintf(h.binning, sizeof h.binning, "%s", binning);
    s = dm_hist_fill(&h, d.proc, d.score, d.weight, NULL, d.n, comm);
  }
  if (s == DM_OK) {
    ch->n_bins = h.n_bins;
    dm_hist *g = realloc(rep->hist, (size_t)(rep->n_hist + 1) * sizeof *g);
    s = g ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for histograms");
    s = dm_agree(s, comm);
    if (s == DM_OK) {
      rep->hist = g;
      rep->hist[rep->n_hist++] = h;
      memset(&h, 0, sizeof h);
    }
  }
  if (s == DM_OK && o->lumi > 0) {
    const dm_hist *hh = &rep->hist[rep->n_hist - 1];
    const char **bn = malloc((size_t)(np > 0 ? np : 1) * sizeof(char *));
    const char **sn = malloc((size_t)(np > 0 ? np : 1) * sizeof(char *));
    int nb = 0, ns = 0;
    s = bn && sn ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
    for (int i = 0; s == DM_OK && i < np; i++) {
      if (role[i] == ROLE_BKG)
        bn[nb++] = names[i];
      else if (role[i] == ROLE_SIG && per_proc[i] > 0)
        sn[ns++] = names[i];
    }
    if (s == DM_OK)
      s = dm_metrics_signif_from_hist(hh, bn, nb, sn, ns, o, rep);
    free(bn);
    free(sn);
    s = dm_agree(s, comm);
  }
done:
  dm_hist_free(&h);
  free(edges);
  if (o->weighted)
    dm_osel_free(&bkg_w); /* bkg_u is a view of it */
  else
    dm_osel_free(&bkg_u);
  chan_data_free(&d);
  free(role);
  free(sel);
  free(per_proc);
  free(names);
  free(map);
  for (int k = 0; k < nf; k++) {
    dm_status c = dm_scores_close(sc[k]);
    if (s == DM_OK)
      s = c;
  }
  free(sc);
  return s;
}

static int cmp_ti(const void *a, const void *b)
{
  double x = ((const dm_metrics_ti *)a)->ti, y = ((const dm_metrics_ti *)b)->ti;
  return x < y ? -1 : x > y;
}

static dm_status total_improvement(dm_metrics_report *rep)
{
  rep->ti = calloc((size_t)(rep->n_rows > 0 ? rep->n_rows : 1), sizeof *rep->ti);
  if (!rep->ti)
    return dm_error(DM_ERR_NOMEM, "no memory");
  for (int r = 0; r < rep->n_rows; r++) {
    const dm_metrics_row *x = &rep->rows[r];
    int k = 0;
    while (k < rep->n_ti && strcmp(rep->ti[k].signal, x->signal) != 0)
      k++;
    if (k == rep->n_ti) {
      rep->n_ti++;
      snprintf(rep->ti[k].signal, sizeof rep->ti[k].signal, "%s", x->signal);
      rep->ti[k].ti = NAN; /* until a channel has a usable working point */
    }
    /* A NaN best SI (no usable working point in that channel) never wins. */
    if (x->best_si > rep->ti[k].ti || (isnan(rep->ti[k].ti) && !isnan(x->best_si))) {
      rep->ti[k].ti = x->best_si;
      snprintf(rep->ti[k].channel, sizeof rep->ti[k].channel, "%s", x->channel);
    }
  }
  dm_metrics_ti *sorted = malloc((size_t)(rep->n_ti > 0 ? rep->n_ti : 1) * sizeof *sorted);
  if (!sorted)
    return dm_error(DM_ERR_NOMEM, "no memory");
  int n = 0;
  for (int i = 0; i < rep->n_ti; i++)
    if (!isnan(rep->ti[i].ti))
      sorted[n++] = rep->ti[i];
  rep->n_ti_unresolved = rep->n_ti - n;
  if (n == 0) {
    rep->ti_min = rep->ti_median = rep->ti_max = NAN;
    free(sorted);
    return DM_OK;
  }
  qsort(sorted, (size_t)n, sizeof *sorted, cmp_ti);
  rep->ti_min = sorted[0].ti;
  rep->ti_max = sorted[n - 1].ti;
  rep->ti_median = n % 2 ? sorted[n / 2].ti : (sorted[n / 2 - 1].ti + sorted[n / 2].ti) / 2.0;
  free(sorted);
  return DM_OK;
}

dm_status dm_metrics_run(const dm_metrics_opts *o, MPI_Comm comm, dm_metrics_report *rep)
{
  memset(rep, 0, sizeof *rep);
  double t0 = MPI_Wtime();
  if (o->n_inputs < 1 || o->n_inputs > DM_METRICS_MAX_INPUTS)
    return dm_error(DM_ERR_ARG, "give 1 to %d score files (--scores CHANNEL=FILE), not %d",
                    DM_METRICS_MAX_INPUTS, o->n_inputs);
  if (!(o->min_bkg_per_wp > 0))
    return dm_error(DM_ERR_ARG, "--min-bkg-per-wp %g must be > 0", o->min_bkg_per_wp);
  /* Channels in order of first appearance; files of one channel together. */
  int chan_of[DM_METRICS_MAX_INPUTS], n_chan = 0;
  for (int i = 0; i < o->n_inputs; i++) {
    chan_of[i] = -1;
    for (int j = 0; j < i && chan_of[i] < 0; j++)
      if (strcmp(o->inputs[i].name, o->inputs[j].name) == 0)
        chan_of[i] = chan_of[j];
    if (chan_of[i] < 0)
      chan_of[i] = n_chan++;
    for (int j = 0; j < i; j++)
      if (strcmp(o->inputs[i].scores, o->inputs[j].scores) == 0)
        return dm_error(DM_ERR_ARG, "score file %s is given twice", o->inputs[i].scores);
  }
  if (n_chan > DM_METRICS_MAX_CHANNELS)
    return dm_error(DM_ERR_ARG, "%d channels: at most %d", n_chan, DM_METRICS_MAX_CHANNELS);
  role_spec rb, rs;
  DM_FORWARD(role_parse(o->background, "sm", "--background", &rb));
  dm_status s = role_parse(o->signals, "bsm", "--signals", &rs);
  if (s != DM_OK) {
    role_free(&rb);
    return s;
  }
  dm_proctable *table = NULL;
  if (rb.is_kind || rs.is_kind)
    s = dm_proctable_load_comm(o->proctable, comm, &table);
  dm_hist *edge_set = NULL;
  int n_edge_set = 0;
  if (s == DM_OK && o->hist_edges)
    s = dm_hist_file_read(o->hist_edges, comm, &edge_set, &n_edge_set);
  for (int c = 0; s == DM_OK && c < n_chan; c++) {
    int files[DM_METRICS_MAX_INPUTS], nf = 0;
    for (int i = 0; i < o->n_inputs; i++)
      if (chan_of[i] == c)
        files[nf++] = i;
    const char *cname = o->inputs[files[0]].name;
    const dm_hist *src = NULL;
    if (edge_set) {
      for (int k = 0; k < n_edge_set; k++)
        if (strcmp(edge_set[k].channel, cname) == 0 &&
            strcmp(edge_set[k].variable, "score") == 0)
          src = &edge_set[k];
      if (!src) {
        s = dm_error(DM_ERR_ARG, "%s has no score histogram of channel '%s' to take edges from",
                     o->hist_edges, cname);
        break;
      }
    }
    s = run_channel(o, files, nf, &rb, &rs, table, src, comm, rep);
  }
  /* Explicit names must exist somewhere: a typo must not silently drop a
   * process from the background. */
  role_spec *lists[2] = {&rb, &rs};
  const char *flags[2] = {"--background", "--signals"};
  for (int l = 0; s == DM_OK && l < 2; l++)
    for (int i = 0; s == DM_OK && i < lists[l]->n; i++)
      if (!lists[l]->seen[i])
        s = dm_error(DM_ERR_UNKNOWN, "%s: process '%s' is in none of the score files", flags[l],
                     lists[l]->names[i]);
  if (s == DM_OK)
    s = total_improvement(rep);
  s = dm_agree(s, comm);
  if (s == DM_OK && o->hist_out) {
    char inputs[8192] = "";
    for (int c = 0; c < o->n_inputs; c++) {
      size_t l = strlen(inputs);
      snprintf(inputs + l, sizeof inputs - l, "%s=%s\n", o->inputs[c].name, o->inputs[c].scores);
    }
    s = dm_hist_file_write(o->hist_out, rep->hist, rep->n_hist, comm, o->command_line, inputs);
  }
  dm_hist_free_set(edge_set, n_edge_set);
  dm_proctable_free(table);
  role_free(&rb);
  role_free(&rs);
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}
