#include "dm_metrics.h"
#include "dm_metrics_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_proctable.h"
#include "dm_roc_scan.h"
#include "dm_scores_file.h"
#include "dm_signif.h"
#include "dm_xsum.h"

static const double k_eps_b[DM_METRICS_N_EPS] = {1e-2, 1e-3, 1e-4};

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
  o->rows_mb = 3;
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

/* COLLECTIVE. The histograms of every process: one more pass. */
static dm_status fill_hist(dm_hist *h, dm_metrics_rows *rows, MPI_Comm comm)
{
  dm_status l = DM_OK;
  for (;;) {
    dm_roc_rows r;
    int more = 0;
    DM_FORWARD(dm_metrics_rows_next(rows, &r, &more));
    if (!more)
      break;
    if (l == DM_OK)
      l = dm_hist_fill_local(h, rows->proc, r.score, rows->w, NULL, r.n);
  }
  DM_FORWARD_AGREED(l, comm);
  return dm_hist_allreduce(h, comm);
}

/* The checks dm_roc_compute makes, with its messages: the AUC of this
 * signal against this background exists. */
static dm_status roc_check(int64_t nb, double wb, int64_t ns, double ws)
{
  if (nb == 0 || !(wb > 0))
    return dm_error(DM_ERR_NUMERIC, "the background is empty (or has no positive weight)");
  if (ns == 0 || !(ws > 0))
    return dm_error(DM_ERR_NUMERIC, "the signal is empty (or has no positive weight)");
  /* Pair counts are int64 (2^63 pairs: e.g. 3e9 events against 3e9). */
  if (nb > INT64_MAX / ns)
    return dm_error(DM_ERR_ARG, "%lld background x %lld signal events: more pairs than the "
                    "AUC counts (2^63)", (long long)nb, (long long)ns);
  return DM_OK;
}

static double total_weight(dm_roc_scan *scan, int g)
{
  const dm_xsum *w = dm_roc_scan_weight(scan, g);
  return w ? dm_xsum_value(w) : (double)dm_roc_scan_count(scan, g);
}

static dm_status run_channel(const dm_metrics_opts *o, const int *files, int nf, role_spec *rb,
                             role_spec *rs, const dm_proctable *table, const dm_hist *edge_src,
                             MPI_Comm comm, dm_metrics_report *rep)
{
  const char *cname = o->inputs[files[0]].name;
  dm_scores **sc = calloc((size_t)nf, sizeof *sc);
  const dm_metrics_input **in = calloc((size_t)nf, sizeof *in);
  if (!sc || !in) {
    free(sc);
    free(in);
    return dm_error(DM_ERR_NOMEM, "no memory"); /* a few pointers: same everywhere */
  }
  dm_status s = DM_OK;
  for (int k = 0; s == DM_OK && k < nf; k++) {
    in[k] = &o->inputs[files[k]];
    s = dm_scores_open(in[k]->scores, comm, &sc[k]);
  }
  int np = 0, n_sig = 0, n_f = 0, rows_open = 0;
  const char **names = NULL;
  int *map = NULL, *role = NULL, *sig_proc = NULL;
  uint16_t *group = NULL;
  int64_t *per_proc = NULL;
  double *f = NULL, *edges = NULL;
  dm_osel_result *res = NULL;
  dm_metrics_rows rows;
  memset(&rows, 0, sizeof rows);
  dm_roc_scan *scan = NULL;
  dm_hist h = {0};
  const int need_w = o->weighted || o->hist_out || o->lumi > 0;
  const int want_hist = o->hist_out || o->lumi > 0;
  if (s == DM_OK)
    s = dm_agree(merge_tables(sc, nf, &names, &np, &map), comm);
  if (s == DM_OK) {
    size_t n1 = (size_t)(np > 0 ? np : 1);
    role = calloc(n1, sizeof(int));
    sig_proc = calloc(n1, sizeof(int));
    group = calloc(n1, sizeof(uint16_t));
    per_proc = calloc(n1, sizeof(int64_t));
    s = role && sig_proc && group && per_proc ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
    s = dm_agree(s, comm);
  }
  for (int i = 0; s == DM_OK && i < np; i++) {
    int b = role_match(rb, names[i], table), g = role_match(rs, names[i], table);
    if (b && g)
      /* Same arguments on every rank, so every rank fails here together. */
      s = dm_error(DM_ERR_ARG, "process '%s' is both background and signal", names[i]);
    role[i] = b ? DM_METRICS_ROLE_BKG : g ? DM_METRICS_ROLE_SIG : DM_METRICS_ROLE_NONE;
    if (role[i] == DM_METRICS_ROLE_SIG)
      sig_proc[n_sig] = i;
    group[i] = (uint16_t)(role[i] == DM_METRICS_ROLE_BKG ? 1
                          : role[i] == DM_METRICS_ROLE_SIG ? 2 + n_sig++ : 0);
  }
  if (s == DM_OK) {
    rows.nf = nf;
    rows.sc = sc;
    rows.in = in;
    rows.map = map;
    rows.np = np;
    rows.role = role;
    rows.group = group;
    rows.need_w = need_w;
    rows.roc_weights = o->weighted;
    rows.kish = o->weighted;
    rows.include_train = o->include_train;
    s = dm_metrics_rows_open(&rows, comm);
    rows_open = 1;
  }
  if (s == DM_OK)
    s = dm_agree(dm_roc_scan_create(n_sig, o->weighted, o->rows_mb * 1048576.0, &scan), comm);
  /* The first pass reads and checks every row and counts. */
  if (s == DM_OK)
    s = dm_roc_scan_read(scan, dm_metrics_rows_next, &rows, comm);
  int64_t n_events = 0;
  for (int k = 0; k < nf; k++)
    n_events += sc[k] ? dm_scores_n_events(sc[k]) : 0;
  if (s != DM_OK)
    goto done;
  memcpy(per_proc, rows.per_proc, (size_t)np * sizeof *per_proc);
  s = dm_allsum_i64_array(per_proc, np, comm);
  if (s == DM_OK)
    s = dm_allsum_i64_array(rows.excl, 2, comm);
  if (s == DM_OK && o->weighted)
    s = dm_xsum_allreduce(rows.kish_sum, 2, comm);
  if (s != DM_OK)
    goto done;
  double lo = dm_allmin_f64(rows.lo, comm), hi = dm_allmax_f64(rows.hi, comm);

  dm_metrics_channel *ch = &rep->channels[rep->n_channels++];
  memset(ch, 0, sizeof *ch);
  snprintf(ch->name, sizeof ch->name, "%s", cname);
  snprintf(ch->weights, sizeof ch->weights, "%s", need_w ? rows.weight_source : "none (unit)");
  ch->n_files = nf;
  ch->n_events = n_events;
  ch->n_train_excluded = rows.excl[0];
  ch->n_train_background = rows.excl[1];
  for (int i = 0; i < np; i++) {
    if (role[i] == DM_METRICS_ROLE_BKG && per_proc[i] > 0)
      append_name(rep->background_names, sizeof rep->background_names, names[i]);
    if (role[i] == DM_METRICS_ROLE_SIG && per_proc[i] > 0)
      append_name(rep->signal_names, sizeof rep->signal_names, names[i]);
  }
  if (o->weighted) {
    s = dm_xsum_check(dm_roc_scan_weight(scan, 1), 1, "the total weight");
    if (s != DM_OK) {
      dm_error_context("weights");
      goto done;
    }
  }
  int64_t nb = dm_roc_scan_count(scan, 1);
  double wb = total_weight(scan, 1);
  ch->n_background = nb;
  ch->w_background = wb;
  ch->n_background_eff = (double)nb;
  if (o->weighted) {
    /* Kish's effective number of the background weights. */
    double sw = dm_xsum_value(&rows.kish_sum[0]), sw2 = dm_xsum_value(&rows.kish_sum[1]);
    ch->n_background_eff = sw2 > 0 ? sw * sw / sw2 : 0.0;
  }
  for (int k = 0; k < DM_METRICS_N_EPS; k++) {
    ch->needed[k] = (int64_t)ceil(o->min_bkg_per_wp / k_eps_b[k] * (1 - 1e-12));
    ch->resolved[k] = ch->n_background_eff >= (double)ch->needed[k];
  }
  if (nb == 0) {
    s = dm_error(DM_ERR_ARG,
                 "channel %s: no background events to evaluate among its processes (%lld "
                 "training events left out; --include-train counts them)",
                 cname, (long long)rows.excl[1]);
    goto done;
  }
  int any_signal = 0;
  for (int j = 0; j < n_sig; j++) {
    int p = sig_proc[j];
    if (per_proc[p] == 0)
      continue;
    any_signal = 1;
    if (o->weighted) {
      s = dm_xsum_check(dm_roc_scan_weight(scan, 2 + j), 1, "the total weight");
      if (s != DM_OK) {
        dm_error_context("weights");
        goto done;
      }
    }
    s = roc_check(nb, wb, dm_roc_scan_count(scan, 2 + j), total_weight(scan, 2 + j));
    if (s != DM_OK) {
      dm_error_context("channel %s, signal %s", cname, names[p]);
      goto done;
    }
  }
  if (!edge_src) {
    s = dm_metrics_edge_targets(nb, o, &f, &n_f);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK)
    s = dm_agree(dm_roc_scan_queries(scan, k_eps_b, any_signal ? DM_METRICS_N_EPS : 0, f, n_f),
                 comm);
  /* Pass by pass over the scores, while anything is asked. */
  int done = !any_signal && n_f == 0;
  while (s == DM_OK && !done) {
    s = dm_roc_scan_settle(scan, comm, &done);
    if (s == DM_OK && !done)
      s = dm_roc_scan_read(scan, dm_metrics_rows_next, &rows, comm);
  }
  if (s != DM_OK)
    goto done;
  ch->n_passes = dm_roc_scan_passes(scan);
  /* ROC metrics, one signal process at a time, in the channel's order. */
  for (int j = 0; s == DM_OK && j < n_sig; j++) {
    int p = sig_proc[j];
    if (per_proc[p] == 0)
      continue;
    dm_metrics_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.signal, sizeof r.signal, "%s", names[p]);
    snprintf(r.channel, sizeof r.channel, "%s", cname);
    r.n_signal = dm_roc_scan_count(scan, 2 + j);
    r.n_background = nb;
    s = dm_roc_scan_auc(scan, j, &r.auc);
    if (s != DM_OK) {
      dm_error_context("channel %s, signal %s", cname, names[p]);
      break;
    }
    for (int k = 0; k < DM_METRICS_N_EPS; k++)
      r.eps_s[k] = dm_roc_scan_eps_s(scan, j, k);
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
  /* The same on every rank: every figure above is. */
  if (s != DM_OK)
    goto done;

  /* Histograms of every process. */
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
  } else {
    res = malloc((size_t)(n_f > 0 ? n_f : 1) * sizeof *res);
    s = res ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for histogram edges");
    for (int q = 0; s == DM_OK && q < n_f; q++)
      res[q] = *dm_roc_scan_quantile(scan, q);
    if (s == DM_OK)
      s = dm_metrics_edges_from(res, n_f, lo, hi, o, &edges, &n_edges, binning, sizeof binning);
  }
  s = dm_agree(s, comm);
  /* The scan's buffers go before the histograms take theirs. */
  dm_roc_scan_free(scan);
  scan = NULL;
  if (s == DM_OK)
    /* Without filling, a histogram of no process: the same checks of the
     * edges, none of the memory. */
    s = dm_agree(dm_hist_init(&h, cname, "score", want_hist ? np : 0, names, n_edges - 1, edges),
                 comm);
  if (s == DM_OK) {
    snprintf(h.binning, sizeof h.binning, "%s", binning);
    ch->n_bins = h.n_bins;
  }
  if (s == DM_OK && want_hist) {
    /* Filled only when written or used: one more pass. */
    s = fill_hist(&h, &rows, comm);
    ch->n_passes++;
  }
  if (s == DM_OK && want_hist) {
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
    int n_bn = 0, n_sn = 0;
    s = bn && sn ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
    for (int i = 0; s == DM_OK && i < np; i++) {
      if (role[i] == DM_METRICS_ROLE_BKG)
        bn[n_bn++] = names[i];
      else if (role[i] == DM_METRICS_ROLE_SIG && per_proc[i] > 0)
        sn[n_sn++] = names[i];
    }
    if (s == DM_OK)
      s = dm_metrics_signif_from_hist(hh, bn, n_bn, sn, n_sn, o, rep);
    free(bn);
    free(sn);
    s = dm_agree(s, comm);
  }
done:
  dm_roc_scan_free(scan);
  dm_hist_free(&h);
  free(edges);
  free(f);
  free(res);
  if (rows_open) {
    dm_status c = dm_metrics_rows_close(&rows);
    if (s == DM_OK)
      s = c;
  }
  free(role);
  free(sig_proc);
  free(group);
  free(per_proc);
  free(names);
  free(map);
  for (int k = 0; k < nf; k++) {
    dm_status c = dm_scores_close(sc[k]);
    if (s == DM_OK)
      s = c;
  }
  free(sc);
  free(in);
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
  if (!(o->rows_mb >= 0.01 && o->rows_mb <= 1e9))
    return dm_error(DM_ERR_ARG, "--rows-mb %g must be within 0.01 .. 1e9", o->rows_mb);
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
