/* The train stage: scan -> pool and subsample -> transform fit (streamed)
 * -> backend fit -> model file. */
#include "dm_train.h"
#include "dm_train_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_progress.h"
#include "dm_proctable.h"
#include "dm_prov.h"
#include "dm_rng.h"
#include "dm_store.h"

void dm_train_opts_default(dm_train_opts *o)
{
  memset(o, 0, sizeof *o);
  dm_feature_spec_default(&o->features);
  o->train_fraction = 0.9;
  o->seed = 1;
  o->batch = 65536;
}

void dm_train_report_free(dm_train_report *rep)
{
  if (rep && rep->backend_info) {
    cJSON_Delete(rep->backend_info);
    rep->backend_info = NULL;
  }
}

/* LOCAL (identical on every rank: the store's process table and the
 * process table file are the same everywhere). is_bg[p] for every store
 * process. */
static dm_status background_set(const dm_train_opts *o, dm_store *st, const dm_proctable *tab,
                                unsigned char *is_bg, dm_train_report *rep)
{
  int np = dm_store_n_processes(st);
  memset(is_bg, 0, (size_t)np);
  if (o->background && o->background[0]) {
    const char *p = o->background;
    while (*p) {
      const char *e = strchr(p, ',');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      int found = 0;
      for (int i = 0; i < np; i++)
        if (strlen(dm_store_process_name(st, i)) == len &&
            !strncmp(dm_store_process_name(st, i), p, len)) {
          is_bg[i] = 1;
          found = 1;
        }
      if (!found)
        return dm_error(DM_ERR_UNKNOWN, "--background: process '%.*s' is not in %s", (int)len, p,
                        dm_store_path(st));
      p += len + (e ? 1 : 0);
    }
  } else {
    for (int i = 0; i < np; i++) {
      const dm_process *pr = dm_proctable_find(tab, dm_store_process_name(st, i));
      if (!pr)
        return dm_error(DM_ERR_UNKNOWN,
                        "process '%s' of %s is not in the process table %s: add it there "
                        "(--xsec FILE) or name the background with --background",
                        dm_store_process_name(st, i), dm_store_path(st),
                        dm_proctable_source(tab));
      is_bg[i] = pr->kind == DM_PROC_SM;
    }
  }
  rep->background[0] = '\0';
  size_t used = 0;
  for (int i = 0; i < np; i++) {
    if (!is_bg[i])
      continue;
    rep->n_background_processes++;
    int w = snprintf(rep->background + used, sizeof rep->background - used, "%s%s",
                     used ? "," : "", dm_store_process_name(st, i));
    if (w > 0 && used + (size_t)w < sizeof rep->background)
      used += (size_t)w;
  }
  return DM_OK;
}

static void batch_range(const train_ctx *c, int64_t k, int64_t *b, int64_t *n)
{
  int64_t start = c->ev0 + k * c->batch;
  *b = start < c->ev1 ? start : c->ev1;
  *n = start < c->ev1 ? (c->ev1 - start < c->batch ? c->ev1 - start : c->batch) : 0;
}

/* The pool is taken per class (dm_train_pool_class): per background process
 * by default (the first train_fraction of each process, so every process
 * trains even when the store is ordered process by process), or one class
 * for all background (the first train_fraction of all background events in
 * store order). */
/* Is this background event (met in store order on this rank) a pool row? */
static int in_pool(train_ctx *c, uint16_t proc)
{
  int k = dm_train_pool_class(c, proc);
  return c->cls_before[k] + c->cls_seen[k]++ < c->cls_pool[k];
}

/* Pass 1: the process column only. Counts background per class, then hashes
 * the rank's pool rows. */
static dm_status scan_pass(train_ctx *c, dm_train_report *rep)
{
  hid_t f = dm_store_file(c->st);
  int np = dm_store_n_processes(c->st);
  uint16_t *proc = malloc((size_t)c->o->batch * sizeof *proc);
  int64_t *cnt = calloc((size_t)np + 1, sizeof *cnt);
  int64_t *tot = calloc((size_t)np + 1, sizeof *tot);
  c->cls_before = calloc((size_t)np + 1, sizeof *c->cls_before);
  c->cls_pool = calloc((size_t)np + 1, sizeof *c->cls_pool);
  c->cls_seen = calloc((size_t)np + 1, sizeof *c->cls_seen);
  dm_status s = proc && cnt && tot && c->cls_before && c->cls_pool && c->cls_seen
                    ? DM_OK
                    : dm_error(DM_ERR_NOMEM, "no memory for a batch");
  s = dm_agree(s, c->comm);
  for (int64_t k = 0; s == DM_OK && k < c->rounds; k++) {
    int64_t b, n;
    batch_range(c, k, &b, &n);
    /* Verified: offsets, n_obj and process indices of the range. */
    s = dm_store_read_process(c->st, b, n, proc);
    for (int64_t i = 0; s == DM_OK && i < n; i++) {
      if (c->is_bg[proc[i]])
        cnt[dm_train_pool_class(c, proc[i])]++;
    }
    s = dm_agree(s, c->comm);
  }
  if (s == DM_OK) {
    MPI_Exscan(cnt, c->cls_before, np + 1, MPI_INT64_T, MPI_SUM, c->comm);
    if (dm_rank(c->comm) == 0)
      memset(c->cls_before, 0, (size_t)(np + 1) * sizeof *c->cls_before);
    MPI_Allreduce(cnt, tot, np + 1, MPI_INT64_T, MPI_SUM, c->comm);
  }
  int64_t bg_total = 0, pool = 0;
  c->pool_local = 0;
  for (int k = 0; s == DM_OK && k <= np; k++) {
    bg_total += tot[k];
    c->cls_pool[k] = (int64_t)floor(c->o->train_fraction * (double)tot[k]);
    pool += c->cls_pool[k];
    int64_t mine = c->cls_pool[k] - c->cls_before[k];
    c->pool_local += mine < 0 ? 0 : (mine > cnt[k] ? cnt[k] : mine);
  }
  free(cnt);
  free(tot);
  rep->n_background = bg_total;
  if (s == DM_OK && pool < 2)
    s = dm_error(DM_ERR_NUMERIC,
                 "%s: %lld background events, training pool %lld: nothing to train on "
                 "(check --background and --train-fraction)",
                 dm_store_path(c->st), (long long)bg_total, (long long)pool);
  rep->n_pool = pool;
  /* A subsample only when max_train is below the pool: without one every
   * pool row trains. Its selection's first round is counted in the pass
   * below. */
  c->selecting = c->o->max_train > 0 && c->o->max_train < pool;
  if (s == DM_OK && c->selecting)
    s = dm_train_radix_begin(&c->radix, c->o->max_train, c->comm);
  s = dm_agree(s, c->comm);
  /* Second look at the process column for the pool rows' global indices
   * (cheap next to the event reads that follow; avoids holding the whole
   * column). */
  int64_t seen = 0;
  c->proc_pool = calloc((size_t)np + 1, sizeof *c->proc_pool);
  c->cls_cut = calloc((size_t)np + 1, sizeof *c->cls_cut);
  if (s == DM_OK && (!c->proc_pool || !c->cls_cut))
    s = dm_error(DM_ERR_NOMEM, "no memory");
  s = dm_agree(s, c->comm);
  if (s == DM_OK)
    memset(c->cls_seen, 0, (size_t)(np + 1) * sizeof *c->cls_seen);
  for (int64_t k = 0; s == DM_OK && k < c->rounds; k++) {
    int64_t b, n;
    batch_range(c, k, &b, &n);
    if (seen >= c->pool_local)
      n = 0; /* nothing left to hash here, but keep the collective read */
    s = dm_agree(dm_h5_col_read(f, "/events/process", H5T_NATIVE_UINT16, b, n, proc), c->comm);
    for (int64_t i = 0; s == DM_OK && i < n && seen < c->pool_local; i++)
      if (c->is_bg[proc[i]] && in_pool(c, proc[i])) {
        c->proc_pool[proc[i]]++;
        /* The class's last pool row: its pool ends after this event. */
        int k = dm_train_pool_class(c, proc[i]);
        if (c->cls_before[k] + c->cls_seen[k] == c->cls_pool[k])
          c->cls_cut[k] = b + i + 1;
        if (c->selecting)
          dm_train_radix_add(&c->radix, dm_rng_hash(c->o->seed, (uint64_t)(b + i), 0));
        seen++;
      }
  }
  free(proc);
  /* What the model file records of the split (dm_split.h). */
  if (s == DM_OK)
    s = dm_allsum_i64_array(c->proc_pool, np, c->comm);
  /* One rank holds each class's last pool row (the others have 0). */
  if (s == DM_OK &&
      MPI_Allreduce(MPI_IN_PLACE, c->cls_cut, np + 1, MPI_INT64_T, MPI_MAX, c->comm) !=
          MPI_SUCCESS)
    s = dm_error(DM_ERR_MPI, "MPI_Allreduce of the pool ends failed");
  return s;
}

/* The selection holds the candidates (key and event index, 16 bytes each)
 * once a round has narrowed them down to fewer than this many over all ranks
 * (opts->select_hold); until then every round is one more pass over the
 * process column. The keys of distinct events differ (dm_rng_hash is a
 * bijection of the event index for a fixed seed), so the first round leaves
 * about pool / 65536: 1 MiB at most, whatever the pool. */
#define SELECT_HOLD 65536

/* One pass over this rank's pool rows in store order (the process column
 * only): every row's key into the selection's round, or, with cand_key set,
 * the candidates' keys and event indices kept (r->n_cand_local of them).
 * COLLECTIVE, agreed. */
static dm_status key_pass(train_ctx *c, dm_train_radix *r, uint64_t *cand_key, int64_t *cand_idx)
{
  int np = dm_store_n_processes(c->st);
  uint16_t *proc = malloc((size_t)c->batch * sizeof *proc);
  dm_status s = dm_agree(proc ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory"), c->comm);
  memset(c->cls_seen, 0, (size_t)(np + 1) * sizeof *c->cls_seen);
  int64_t seen = 0, nc = 0;
  for (int64_t k = 0; s == DM_OK && k < c->rounds; k++) {
    int64_t b, n;
    batch_range(c, k, &b, &n);
    if (seen >= c->pool_local)
      n = 0; /* nothing left here, but keep the collective read */
    s = dm_agree(dm_h5_col_read(dm_store_file(c->st), "/events/process", H5T_NATIVE_UINT16, b,
                                n, proc),
                 c->comm);
    for (int64_t i = 0; s == DM_OK && i < n && seen < c->pool_local; i++) {
      if (!c->is_bg[proc[i]] || !in_pool(c, proc[i]))
        continue;
      uint64_t h = dm_rng_hash(c->o->seed, (uint64_t)(b + i), 0);
      if (!cand_key)
        dm_train_radix_add(r, h);
      else if (dm_train_radix_candidate(r, h) && nc < r->n_cand_local) {
        cand_key[nc] = h;
        cand_idx[nc++] = b + i;
      }
      seen++;
    }
  }
  free(proc);
  if (s == DM_OK && (seen != c->pool_local || (cand_key && nc != r->n_cand_local)))
    s = dm_error(DM_ERR_INTERNAL, "%s: the store changed between passes",
                 dm_store_path(c->st));
  return dm_agree(s, c->comm);
}

/* COLLECTIVE, agreed. After scan_pass counted the first round: the rule
 * that names the subsample (c->sel_hash, c->sel_tie, dm_train_selected) and
 * this rank's share of it, without holding a key per pool row. The
 * subsample is the one dm_train_select_smallest marks on all pool keys. */
static dm_status select_rule(train_ctx *c)
{
  dm_train_radix *r = &c->radix;
  int64_t hold = c->o->select_hold > 0 ? c->o->select_hold : SELECT_HOLD;
  dm_status s = dm_train_radix_round(r, c->comm);
  while (s == DM_OK && r->bits < 64 && r->n_cand >= hold) {
    s = key_pass(c, r, NULL, NULL);
    if (s == DM_OK)
      s = dm_train_radix_round(r, c->comm);
  }
  int64_t nl = r->n_cand_local > 0 ? r->n_cand_local : 1;
  uint64_t *key = NULL;
  int64_t *idx = NULL;
  unsigned char *take = NULL;
  if (s == DM_OK) {
    key = malloc((size_t)nl * sizeof *key);
    idx = malloc((size_t)nl * sizeof *idx);
    take = malloc((size_t)nl);
    s = dm_agree(key && idx && take ? DM_OK
                                    : dm_error(DM_ERR_NOMEM, "no memory for %lld selection keys",
                                               (long long)nl),
                 c->comm);
  }
  if (s == DM_OK)
    s = key_pass(c, r, key, idx);
  /* The k smallest candidates (ties in store order: ranks hold consecutive
   * ranges); the subsample is every key below them and those. */
  int64_t got = 0;
  if (s == DM_OK)
    s = dm_train_select_smallest(key, r->n_cand_local, r->k, c->comm, take, &got);
  if (s == DM_OK) {
    /* T: the largest key taken; the tie cut: one past the last taken event
     * whose key is T. */
    uint64_t T = 0;
    int64_t tie = 0, taken = 0;
    for (int64_t i = 0; i < r->n_cand_local; i++)
      if (take[i]) {
        taken++;
        T = key[i] > T ? key[i] : T;
      }
    MPI_Allreduce(MPI_IN_PLACE, &T, 1, MPI_UINT64_T, MPI_MAX, c->comm);
    for (int64_t i = 0; i < r->n_cand_local; i++)
      if (take[i] && key[i] == T)
        tie = idx[i] + 1;
    c->sel_hash = T;
    c->sel_tie = dm_allmax_i64(tie, c->comm);
    c->n_take_local = r->below_local + taken;
  }
  free(key);
  free(idx);
  free(take);
  dm_train_radix_free(r);
  return s;
}

dm_status dm_train_check_weight(const train_ctx *c, int64_t row, uint16_t proc, double w)
{
  if (w > 0 && isfinite(w))
    return DM_OK;
  return dm_error(DM_ERR_NUMERIC,
                  "%s: event %lld (process %s): weight %g from the %s; --weighted needs finite "
                  "weights > 0",
                  dm_store_path(c->st), (long long)row, dm_store_process_name(c->st, proc), w,
                  c->dd ? "derived weight column" : "/events/weight column");
}

/* Event passes: extract raw features of the pool rows; feed them to the
 * transform; on the first pass also keep the subsample rows. */
static dm_status feature_pass(train_ctx *c, dm_transform *t, int keep, dm_progress *prog,
                              double *sw)
{
  dm_features_batch ev;
  memset(&ev, 0, sizeof ev);
  float *raw = malloc((size_t)c->batch * c->dim_in * sizeof *raw);
  /* Streamed: the first pass also reads the weights, for Kish's count. */
  int want_w = c->o->weighted && (keep || (c->streamed && sw != NULL));
  double *w = want_w ? malloc((size_t)c->batch * sizeof *w) : NULL;
  dm_status s = raw && (!want_w || w)
                    ? DM_OK
                    : dm_error(DM_ERR_NOMEM, "no memory for a feature batch");
  s = dm_agree(s, c->comm);
  int64_t seen = 0, kept = 0;
  int np = dm_store_n_processes(c->st);
  memset(c->cls_seen, 0, (size_t)(np + 1) * sizeof *c->cls_seen);
  for (int64_t k = 0; s == DM_OK && k < c->rounds; k++) {
    int64_t b, n;
    batch_range(c, k, &b, &n);
    if (seen >= c->pool_local)
      n = 0;
    s = dm_agree(dm_features_read(c->st, &c->o->features, b, n, &ev, raw), c->comm);
    if (s == DM_OK && want_w)
      s = dm_agree(c->dd ? dm_derived_read(c->dd, "weight", b, n, w)
                         : dm_h5_col_read(dm_store_file(c->st), "/events/weight",
                                          H5T_NATIVE_DOUBLE, b, n, w),
                   c->comm);
    if (s != DM_OK)
      break;
    int64_t np_rows = 0;
    for (int64_t i = 0; i < n && seen < c->pool_local; i++) {
      if (ev.process[i] >= np || !c->is_bg[ev.process[i]] || !in_pool(c, ev.process[i]))
        continue;
      /* The pool rows are packed to the front of raw in place for the
       * transform (row np_rows <= i: only rows already dealt with, or row i
       * itself, are overwritten), rather than copied to a second batch-sized
       * buffer. */
      float *r = raw + np_rows * c->dim_in;
      if (np_rows < i)
        memcpy(r, raw + i * c->dim_in, (size_t)c->dim_in * sizeof *r);
      np_rows++;
      if (want_w && !keep && dm_train_selected(c, b + i)) {
        if (s == DM_OK)
          s = dm_train_check_weight(c, b + i, ev.process[i], w[i]);
        sw[0] += w[i];
        sw[1] += w[i] * w[i];
      }
      if (keep && dm_train_selected(c, b + i)) {
        memcpy(c->sel + kept * c->dim_in, r, (size_t)c->dim_in * sizeof *r);
        if (want_w) {
          if (s == DM_OK)
            s = dm_train_check_weight(c, b + i, ev.process[i], w[i]);
          c->sel_w[kept] = w[i];
        }
        c->sel_row[kept++] = b + i;
      }
      seen++;
    }
    dm_transform_add(t, raw, np_rows);
    dm_progress_add(prog, n, 0);
    dm_progress_tick(prog);
    s = dm_agree(s, c->comm);
  }
  if (s == DM_OK && (seen != c->pool_local || (keep && kept != c->n_take_local)))
    s = dm_error(DM_ERR_INTERNAL, "%s: the store changed between passes",
                 dm_store_path(c->st));
  dm_features_batch_free(&ev);
  free(raw);
  free(w);
  return dm_agree(s, c->comm);
}

static dm_status input_line(const char *path, MPI_Comm comm, char *out, size_t cap,
                            char hex[33])
{
  hex[0] = '\0';
  int64_t size = 0;
  DM_FORWARD(dm_checksum_file_tree(path, comm, hex, &size));
  snprintf(out, cap, "%s\t%lld\t" DM_TREE_ALGO ":%s", path, (long long)size, hex);
  return DM_OK;
}

/* LOCAL (identical on every rank). The record of which events trained. */
static dm_status make_split(const train_ctx *c, const dm_train_report *rep, const char *hex,
                            dm_split **out)
{
  *out = NULL;
  int np = dm_store_n_processes(c->st), nb = 0;
  dm_split *sp = calloc(1, sizeof *sp);
  const char **names = malloc((size_t)(np > 0 ? np : 1) * sizeof *names);
  if (sp)
    sp->bg_pool = malloc((size_t)(np > 0 ? np : 1) * sizeof *sp->bg_pool);
  if (!sp || !names || !sp->bg_pool) {
    free(names);
    dm_split_free(sp);
    return dm_error(DM_ERR_NOMEM, "no memory");
  }
  for (int p = 0; p < np; p++)
    if (c->is_bg[p]) {
      names[nb] = dm_store_process_name(c->st, p);
      sp->bg_pool[nb++] = c->proc_pool[p];
    }
  dm_status s = dm_split_set_names(sp, names, nb);
  free(names);
  sp->global = c->o->split_global;
  sp->fraction = c->o->train_fraction;
  snprintf(sp->store_path, sizeof sp->store_path, "%s", c->o->in_path);
  snprintf(sp->store_checksum, sizeof sp->store_checksum, "%s", hex);
  snprintf(sp->checksum_algo, sizeof sp->checksum_algo, "%s", DM_SPLIT_CHECKSUM_ALGO);
  /* A selection names its parent: a store scored later may be that parent. */
  if (dm_h5_attr_get_str(dm_store_file(c->st), "parent_checksum", sp->parent_checksum,
                         sizeof sp->parent_checksum) != DM_OK) {
    sp->parent_checksum[0] = '\0';
    dm_error_clear();
  }
  sp->store_events = rep->n_events;
  sp->n_pool = rep->n_pool;
  sp->weighted = c->o->weighted;
  snprintf(sp->weight_source, sizeof sp->weight_source, "%s", rep->weight_source);
  if (s != DM_OK) {
    dm_split_free(sp);
    return s;
  }
  *out = sp;
  return DM_OK;
}

dm_status dm_train_run(const dm_train_opts *o, MPI_Comm comm, dm_train_report *rep)
{
  memset(rep, 0, sizeof *rep);
  double t0 = MPI_Wtime();
  const dm_model_backend *be = dm_model_backend_find(o->backend);
  if (!be)
    return dm_error(DM_ERR_UNKNOWN, "unknown model '%s'", o->backend ? o->backend : "(none)");
  if (!(o->train_fraction > 0 && o->train_fraction <= 1))
    return dm_error(DM_ERR_ARG, "--train-fraction %g outside (0, 1]", o->train_fraction);
  if (o->batch < 1 || o->max_train < 0)
    return dm_error(DM_ERR_ARG, "batch must be >= 1 and --max-train >= 0");
  if (o->pool_mb < 0 || o->pool_mb > ((int64_t)1 << 30))
    return dm_error(DM_ERR_ARG, "--pool-mb %lld outside 1..%lld", (long long)o->pool_mb,
                    (long long)1 << 30);
  train_ctx c;
  memset(&c, 0, sizeof c);
  c.o = o;
  c.comm = comm;
  c.batch = o->batch;
  dm_model m;
  memset(&m, 0, sizeof m);
  dm_transform *t = &m.transform;
  dm_proctable *tab = NULL;
  dm_progress *prog = NULL;
  cJSON *info = NULL;
  dm_status s = dm_features_dim(&o->features, &c.dim_in);
  s = dm_agree(s, comm);
  if (s != DM_OK)
    return s;
  DM_FORWARD(dm_store_open(o->in_path, comm, 0, &c.st));
  rep->n_events = dm_store_n_events(c.st);
  dm_partition(rep->n_events, dm_rank(comm), dm_size(comm), &c.ev0, &c.ev1);
  c.rounds = dm_allmax_i64((c.ev1 - c.ev0 + o->batch - 1) / o->batch, comm);
  if (!(o->background && o->background[0]))
    s = dm_proctable_load_comm(o->xsec, comm, &tab);
  c.is_bg = calloc((size_t)dm_store_n_processes(c.st) + 1, 1);
  if (s == DM_OK && !c.is_bg)
    s = dm_error(DM_ERR_NOMEM, "no memory");
  if (s == DM_OK)
    s = background_set(o, c.st, tab, c.is_bg, rep);
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = scan_pass(&c, rep);
  if (s == DM_OK && c.selecting) {
    s = select_rule(&c);
    rep->n_train = o->max_train;
  } else if (s == DM_OK) {
    rep->n_train = rep->n_pool;
    c.n_take_local = c.pool_local;
  }
  /* Hold the fitted rows, or stream them when some rank's share would not
   * fit the budget (the same decision on every rank). */
  int dim_fit = o->pca_dim > 0 ? o->pca_dim : c.dim_in;
  if (s == DM_OK) {
    rep->pool_bytes = dm_allmax_i64(dm_train_pool_bytes(&c, c.n_take_local, dim_fit), comm);
    c.streamed = be->streams && o->pool_mb > 0 && rep->pool_bytes > (o->pool_mb << 20);
    rep->pool_streamed = c.streamed;
  }
  if (s == DM_OK && c.streamed) {
    dm_train_stream_malloc();
    /* Every later read within the budget, the transform's passes too. */
    c.batch = dm_train_stream_batch(&c, dim_fit);
    c.rounds = dm_allmax_i64((c.ev1 - c.ev0 + c.batch - 1) / c.batch, comm);
  }
  double t1 = MPI_Wtime();
  rep->seconds_scan = t1 - t0;
  if (s == DM_OK && !c.streamed) {
    c.sel = malloc((size_t)(c.n_take_local > 0 ? c.n_take_local : 1) * c.dim_in * sizeof(float));
    c.sel_row = malloc((size_t)(c.n_take_local > 0 ? c.n_take_local : 1) * sizeof(int64_t));
    if (o->weighted)
      c.sel_w = malloc((size_t)(c.n_take_local > 0 ? c.n_take_local : 1) * sizeof(double));
    s = c.sel && c.sel_row && (!o->weighted || c.sel_w) ? DM_OK
                           : dm_error(DM_ERR_NOMEM, "no memory for %lld training rows",
                                      (long long)c.n_take_local);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK && o->weighted) {
    /* The same choice as the metrics make: dmpipe weight's column when the
     * store has one, else the archive's. */
    s = dm_derived_open(o->in_path, dm_store_file(c.st), rep->n_events, comm, &c.dd);
    if (s == DM_OK && !dm_derived_has(c.dd, "weight")) {
      dm_derived_close(c.dd);
      c.dd = NULL;
    }
    snprintf(rep->weight_source, sizeof rep->weight_source, "%s",
             c.dd ? "derived weight (dmpipe weight)" : "archive weight (/events/weight)");
  }
  if (s == DM_OK)
    s = dm_agree(dm_transform_begin(t, &o->features, o->pca_dim), comm);
  if (s == DM_OK)
    prog = dm_progress_start(comm, "train: features", 0, o->progress, o->progress_interval);
  int again = 1, first = 1;
  double sw[2] = {0, 0};
  while (s == DM_OK && again) {
    s = feature_pass(&c, t, first && !c.streamed, prog, first ? sw : NULL);
    if (s == DM_OK)
      s = dm_transform_end_pass(t, comm, &again);
    first = 0;
  }
  dm_progress_finish(prog);
  double t2 = MPI_Wtime();
  rep->seconds_features = t2 - t1;
  float *x = NULL;
  if (s == DM_OK) {
    rep->dim_in = t->dim_in;
    rep->dim = t->dim;
    rep->pca_explained = t->pca_explained;
    if (!c.streamed) {
      x = malloc((size_t)(c.n_take_local > 0 ? c.n_take_local : 1) * t->dim * sizeof *x);
      s = x ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for the transformed rows");
      if (s == DM_OK)
        dm_transform_apply(t, c.sel, c.n_take_local, x);
      /* The raw rows are done with: the backend fits on x, and the fit
       * (a gathered KDE reference, the SVDD's per-row state) is where a
       * large pool peaks. */
      free(c.sel);
      c.sel = NULL;
    }
    s = dm_agree(s, comm);
  }
  if (s == DM_OK && o->weighted) {
    /* Kish's effective count of the fitted rows, for the report (streamed:
     * summed by the first feature pass). */
    for (int64_t i = 0; !c.streamed && i < c.n_take_local; i++) {
      sw[0] += c.sel_w[i];
      sw[1] += c.sel_w[i] * c.sel_w[i];
    }
    MPI_Allreduce(MPI_IN_PLACE, sw, 2, MPI_DOUBLE, MPI_SUM, comm);
    rep->n_train_eff = sw[1] > 0 ? sw[0] * sw[0] / sw[1] : 0;
  }
  dm_model_stream src;
  memset(&src, 0, sizeof src);
  if (s == DM_OK && c.streamed) {
    c.tf = t;
    s = dm_train_stream_source(&c, t->dim, &src);
  }
  if (s == DM_OK) {
    dm_model_data data = {.x = x,
                          .n_local = c.streamed ? 0 : c.n_take_local,
                          .n_total = rep->n_train,
                          .dim = t->dim,
                          .row_id = c.streamed ? NULL : c.sel_row,
                          .seed = o->seed,
                          .weight = o->weighted && !c.streamed ? c.sel_w : NULL,
                          .stream = c.streamed ? &src : NULL};
    info = cJSON_CreateObject();
    m.backend = be;
    m.backend_version = be->version;
    s = be->fit(&data, o->backend_opts, comm, &m.state, info);
    s = dm_agree(s, comm);
  }
  /* The fitted model holds what it needs (the KDE its gathered reference):
   * the rows are not held through the write. */
  free(x);
  x = NULL;
  double t3 = MPI_Wtime();
  rep->seconds_fit = t3 - t2;
  if (s == DM_OK) {
    m.n_train = rep->n_train;
    m.n_train_pool = rep->n_pool;
    m.seed = o->seed;
    char training[1200], inputs[DM_PATH_MAX + 128];
    snprintf(training, sizeof training,
             "first %.6g of %s in store order (%lld of %lld; processes "
             "%s); backend fitted on %lld of them, the smallest hash(seed, event index)",
             o->train_fraction,
             o->split_global ? "the background events" : "each background process's events",
             (long long)rep->n_pool, (long long)rep->n_background,
             rep->background, (long long)rep->n_train);
    char hex[33];
    s = input_line(o->in_path, comm, inputs, sizeof inputs, hex);
    if (s == DM_OK)
      s = dm_agree(make_split(&c, rep, hex, &m.split), comm);
    if (s == DM_OK)
      s = dm_model_save(&m, o->out_path, training, o->command_line, inputs, comm);
  }
  rep->seconds_write = MPI_Wtime() - t3;
  rep->seconds_total = MPI_Wtime() - t0;
  if (s == DM_OK)
    rep->backend_info = info;
  else
    cJSON_Delete(info);
  free(x);
  free(c.sel);
  free(c.sel_row);
  free(c.sel_w);
  dm_derived_close(c.dd);
  dm_train_stream_free(&c);
  free(c.cls_cut);
  dm_train_radix_free(&c.radix);
  free(c.is_bg);
  free(c.cls_before);
  free(c.cls_pool);
  free(c.cls_seen);
  free(c.proc_pool);
  dm_model_free(&m);
  dm_proctable_free(tab);
  dm_status cs = dm_store_close(c.st);
  return s != DM_OK ? s : cs;
}
