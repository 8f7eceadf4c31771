/* The secret set (dm_dataset.h): background and injected signals at a
 * luminosity, decoys, one shuffle, blinded CSV and store, sealed labels. */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_csv.h"
#include "dm_dataset.h"
#include "dm_dataset_private.h"
#include "dm_labels_file.h"
#include "dm_prov.h"
#include "dm_rng.h"
#include "dm_sha256.h"
#include "dm_text.h"

#define BLIND_NAME "unlabeled"

void dm_dataset_secret_opts_default(dm_dataset_secret_opts *o)
{
  memset(o, 0, sizeof *o);
  o->decoy_fraction = 0.1;
  o->weight_lumi = 10;
}

typedef struct {
  uint16_t p;
  int64_t id;
} ex_key;

static int cmp_key(const void *a, const void *b)
{
  const ex_key *x = a, *y = b;
  if (x->p != y->p)
    return x->p < y->p ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* Every (process, event ID) of the stores a manifest lists, as processes of
 * this selection, sorted. The manifest must come from the same parent. */
static dm_status read_exclusions(const char *manifest, const dm_ds_sel *sel, MPI_Comm comm,
                                 ex_key **keys, int64_t *n_keys)
{
  *keys = NULL;
  *n_keys = 0;
  char *text = NULL;
  size_t len = 0;
  DM_FORWARD(dm_text_read_bcast(manifest, "dataset manifest", (size_t)64 << 20, comm, &text, &len));
  cJSON *root = cJSON_ParseWithLength(text, len);
  free(text);
  dm_status s = DM_OK;
  const cJSON *pc = cJSON_GetObjectItemCaseSensitive(root, "parent_checksum");
  const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
  if (!root || !cJSON_IsString(pc) || !cJSON_IsArray(files))
    s = dm_error(DM_ERR_FORMAT, "%s: not a dataset manifest (no parent_checksum or files)",
                 manifest);
  else if (strcmp(pc->valuestring, sel->parent_checksum))
    s = dm_error(DM_ERR_ARG, "%s was built from another store (parent checksum %s) than %s "
                 "(%s): its events cannot be excluded", manifest, pc->valuestring, sel->what,
                 sel->parent_checksum);
  /* The same text on every rank: the same outcome. */
  char dir[DM_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", manifest);
  char *d = dirname(dir);
  const cJSON *f;
  cJSON_ArrayForEach(f, files)
  {
    if (s != DM_OK)
      break;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(f, "file");
    if (!cJSON_IsString(fn))
      continue;
    size_t fl = strlen(fn->valuestring);
    if (fl < 3 || strcmp(fn->valuestring + fl - 3, ".h5"))
      continue;
    char path[DM_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", d, fn->valuestring) >= (int)sizeof path) {
      s = dm_error(DM_ERR_ARG, "path too long: %s/%s", d, fn->valuestring);
      break;
    }
    dm_store *st = NULL;
    s = dm_store_open(path, comm, 0, &st);
    if (s != DM_OK) {
      dm_error_context("excluding the events of %s", manifest);
      break;
    }
    int64_t n = dm_store_n_events(st);
    int np = dm_store_n_processes(st);
    int map[np > 0 ? np : 1];
    for (int q = 0; q < np; q++) {
      map[q] = -1;
      for (int p = 0; p < sel->n_proc; p++)
        if (!strcmp(dm_store_process_name(st, q), dm_store_process_name(sel->st, p)))
          map[q] = p;
    }
    int64_t *id = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    uint16_t *pr = malloc(sizeof(uint16_t) * (size_t)(n > 0 ? n : 1));
    ex_key *k2 = realloc(*keys, sizeof(ex_key) * (size_t)(*n_keys + n + 1));
    if (k2)
      *keys = k2;
    s = dm_agree(!id || !pr || !k2 ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
    if (s == DM_OK) {
      hid_t sf = dm_store_file(st);
      dm_status r1 = dm_h5_col_read(sf, "events/event_id", H5T_NATIVE_INT64, 0, n, id);
      dm_status r2 = dm_h5_col_read(sf, "events/process", H5T_NATIVE_UINT16, 0, n, pr);
      s = dm_agree(r1 != DM_OK ? r1 : r2, comm);
    }
    for (int64_t i = 0; s == DM_OK && i < n; i++)
      if (pr[i] < np && map[pr[i]] >= 0)
        (*keys)[(*n_keys)++] = (ex_key){(uint16_t)map[pr[i]], id[i]};
    free(id);
    free(pr);
    dm_store_close(st);
  }
  cJSON_Delete(root);
  if (s == DM_OK)
    qsort(*keys, (size_t)*n_keys, sizeof(ex_key), cmp_key);
  return s;
}

/* Turn a copy of a real event into decoy j: rotation in phi by a uniform
 * angle, eta -> -eta with probability 1/2, angles rounded to the archive's
 * 6 significant digits. */
static double round6(double v)
{
  char t[40];
  size_t n = dm_csv_format_g(v, 6, t);
  double r = v;
  dm_csv_parse_number(t, n, &r);
  return r;
}

static double rotate(double phi, double a)
{
  double v = fmod(phi + a + M_PI, 2 * M_PI);
  if (v < 0)
    v += 2 * M_PI;
  return round6(v - M_PI);
}

static dm_status append_decoy(dm_ds_sel *sel, int64_t src, dm_rng *r)
{
  dm_events *ev = &sel->ev;
  int64_t n = ev->n_events, o0 = ev->obj_offset[src], no = ev->obj_offset[src + 1] - o0;
  int64_t m = ev->n_objects;
  DM_FORWARD(dm_events_reserve(ev, n + 1, m + no, sel->dbl));
  double a = -M_PI + 2 * M_PI * dm_rng_uniform(r);
  int flip = (int)(dm_rng_u64(r) >> 63);
  ev->event_id[n] = ev->event_id[src];
  ev->process[n] = ev->process[src];
  ev->weight[n] = ev->weight[src];
  double met = sel->dbl ? ev->met_d[src] : ev->met[src];
  double mphi = rotate(sel->dbl ? ev->met_phi_d[src] : ev->met_phi[src], a);
  ev->met[n] = (float)met;
  ev->met_phi[n] = (float)mphi;
  if (sel->dbl) {
    ev->met_d[n] = met;
    ev->met_phi_d[n] = mphi;
  }
  for (int64_t k = 0; k < no; k++) {
    int64_t s = o0 + k, t = m + k;
    double eta = sel->dbl ? ev->eta_d[s] : ev->eta[s];
    double phi = rotate(sel->dbl ? ev->phi_d[s] : ev->phi[s], a);
    eta = flip ? -eta : eta;
    ev->type[t] = ev->type[s];
    ev->e[t] = ev->e[s];
    ev->pt[t] = ev->pt[s];
    ev->eta[t] = (float)eta;
    ev->phi[t] = (float)phi;
    if (sel->dbl) {
      ev->e_d[t] = ev->e_d[s];
      ev->pt_d[t] = ev->pt_d[s];
      ev->eta_d[t] = eta;
      ev->phi_d[t] = phi;
    }
  }
  ev->obj_offset[n + 1] = m + no;
  ev->n_events = n + 1;
  ev->n_objects = m + no;
  return DM_OK;
}

typedef struct {
  int64_t c, i;
} item_src;

static int cmp_item(const void *a, const void *b)
{
  const item_src *x = a, *y = b;
  return (x->c > y->c) - (x->c < y->c);
}

dm_status dm_dataset_secret_run(const dm_dataset_secret_opts *o, MPI_Comm comm,
                                dm_dataset_report *rep)
{
  double t0 = MPI_Wtime();
  memset(rep, 0, sizeof *rep);
  if (!o->out_dir || !o->channel.selection)
    return dm_error(DM_ERR_ARG, "dataset secret needs a selection and an output folder");
  if (!(o->decoy_fraction >= 0 && o->decoy_fraction <= 0.9))
    return dm_error(DM_ERR_ARG, "--decoys %g is outside [0, 0.9]", o->decoy_fraction);
  if (!(o->weight_lumi > 0) || !(o->lumi >= 0) || !isfinite(o->lumi))
    return dm_error(DM_ERR_ARG, "luminosities must be positive");
  if (o->n_inject < 0 || o->n_inject > DM_DATASET_MAX_INJECT)
    return dm_error(DM_ERR_ARG, "at most %d injected signals", DM_DATASET_MAX_INJECT);
  int rank = dm_rank(comm), size = dm_size(comm);
  const char *chan = o->channel.name;
  dm_dataset_channel_report *cr = &rep->channels[0];
  rep->n_channels = 1;
  snprintf(cr->name, sizeof cr->name, "%s", chan);
  dm_ds_sel sel;
  dm_status s = dm_ds_sel_load(o->channel.selection, o->channel.what, o->xsec_path,
                               o->weight_lumi, comm, &sel);
  if (s != DM_OK) {
    dm_ds_sel_free(&sel);
    return s;
  }
  snprintf(rep->parent_checksum, sizeof rep->parent_checksum, "%s", sel.parent_checksum);
  int np = sel.n_proc;
  const char *names[np > 0 ? np : 1];
  dm_ds_names(&sel, names);
  int *use = calloc((size_t)np, sizeof(int)), *injected = calloc((size_t)np, sizeof(int));
  double *rate = calloc((size_t)np, sizeof(double)), *scale = calloc((size_t)np, sizeof(double));
  int64_t *want = calloc((size_t)np, sizeof(int64_t)), *avail = calloc((size_t)np, sizeof(int64_t));
  int64_t *ak = malloc(sizeof(int64_t) * (size_t)(sel.n_block > 0 ? sel.n_block : 1));
  cr->proc = calloc((size_t)np, sizeof *cr->proc);
  s = (!use || !injected || !rate || !scale || !want || !avail || !ak || !cr->proc)
          ? dm_error(DM_ERR_NOMEM, "no memory")
          : DM_OK;
  s = dm_agree(s, comm);
  /* Roles: SM background, and the injected signals with their MU. */
  for (int p = 0; s == DM_OK && p < np; p++) {
    use[p] = sel.kind[p] == 0;
    scale[p] = 1;
    rate[p] = dm_ds_rate(&sel, p);
  }
  for (int k = 0; s == DM_OK && k < o->n_inject; k++) {
    int found = -1;
    for (int p = 0; p < np; p++)
      if (!strcmp(names[p], o->inject[k].name))
        found = p;
    if (found < 0)
      s = dm_error(DM_ERR_UNKNOWN, "--inject: unknown signal '%s': not a process of %s",
                   o->inject[k].name, sel.what);
    else if (sel.kind[found] != 1)
      s = dm_error(DM_ERR_ARG, "--inject: '%s' is an SM process (background), not a signal",
                   o->inject[k].name);
    else if (injected[found])
      s = dm_error(DM_ERR_ARG, "--inject: '%s' is named twice", o->inject[k].name);
    else if (!(o->inject[k].mu >= 0) || !isfinite(o->inject[k].mu))
      s = dm_error(DM_ERR_ARG, "--inject: %s=%g: MU must be finite and >= 0", o->inject[k].name,
                   o->inject[k].mu);
    else {
      injected[found] = 1;
      use[found] = 1;
      scale[found] = o->inject[k].mu;
    }
  }
  s = dm_agree(s, comm);
  /* Exclusions, then each event's index among its process's available
   * events (global, store order). */
  ex_key *keys = NULL;
  int64_t n_keys = 0;
  if (s == DM_OK && o->exclude_manifest)
    s = read_exclusions(o->exclude_manifest, &sel, comm, &keys, &n_keys);
  if (s == DM_OK) {
    int64_t *cnt = calloc((size_t)np, sizeof(int64_t)), *pre = calloc((size_t)np, sizeof(int64_t));
    s = dm_agree(!cnt || !pre ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
    for (int64_t i = 0; s == DM_OK && i < sel.n_block; i++) {
      ex_key k = {sel.ev.process[i], sel.ev.event_id[i]};
      int ex = n_keys > 0 && bsearch(&k, keys, (size_t)n_keys, sizeof k, cmp_key) != NULL;
      ak[i] = ex ? -1 : cnt[k.p]++;
    }
    if (s == DM_OK) {
      memcpy(pre, cnt, sizeof(int64_t) * (size_t)np);
      MPI_Exscan(MPI_IN_PLACE, pre, np, MPI_INT64_T, MPI_SUM, comm);
      if (rank == 0)
        memset(pre, 0, sizeof(int64_t) * (size_t)np);
      for (int64_t i = 0; i < sel.n_block; i++)
        if (ak[i] >= 0)
          ak[i] += pre[sel.ev.process[i]];
      memcpy(avail, cnt, sizeof(int64_t) * (size_t)np);
      s = dm_allsum_i64_array(avail, np, comm);
    }
    free(cnt);
    free(pre);
  }
  free(keys);
  double lumi = o->lumi;
  int limiting = -1;
  if (s == DM_OK) {
    if (lumi == 0)
      s = dm_ds_lumi_max(rate, scale, avail, use, np, &lumi, &limiting);
    if (s != DM_OK)
      dm_error_context("%s", chan);
    if (s == DM_OK)
      s = dm_ds_check_counts(&sel, chan, rate, scale, avail, use, lumi, want);
    s = dm_agree(s, comm);
  }
  dm_ds_plan plan;
  memset(&plan, 0, sizeof plan);
  int64_t n_real = 0, n_decoy = 0;
  if (s == DM_OK) {
    for (int p = 0; p < np; p++)
      n_real += want[p];
    double f = o->decoy_fraction;
    n_decoy = dm_ds_round(f / (1 - f) * (double)n_real);
    s = dm_agree(dm_ds_plan_make(o->seed, chan, np, names, avail, want, n_decoy, &plan), comm);
  }
  /* The real events, then the decoys made by the owners of their sources. */
  dm_ds_items items;
  memset(&items, 0, sizeof items);
  item_src *mine = malloc(sizeof(item_src) * (size_t)(sel.n_block > 0 ? sel.n_block : 1));
  int64_t n_mine = 0;
  s = dm_agree(s == DM_OK && !mine ? dm_error(DM_ERR_NOMEM, "no memory") : s, comm);
  for (int64_t i = 0; s == DM_OK && i < sel.n_block; i++) {
    int p = sel.ev.process[i];
    int64_t c = (ak[i] >= 0 && want[p] > 0) ? plan.item_of[plan.avail_off[p] + ak[i]] : -1;
    if (c < 0)
      continue;
    s = dm_ds_items_push(&items, i, plan.dest[c], 1.0);
    mine[n_mine++] = (item_src){c, i};
  }
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    qsort(mine, (size_t)n_mine, sizeof *mine, cmp_item);
    uint64_t ch = dm_ds_name_hash(chan);
    for (int64_t j = 0; s == DM_OK && j < n_decoy; j++) {
      item_src key = {plan.decoy_src[j], 0};
      item_src *hit = n_mine ? bsearch(&key, mine, (size_t)n_mine, sizeof key, cmp_item) : NULL;
      if (!hit)
        continue;
      /* The stream that drew the source goes on to draw the transform. */
      dm_rng r;
      dm_rng_init(&r, o->seed, ch ^ DM_DS_TAG_DECOY, (uint64_t)j);
      (void)dm_rng_below(&r, (uint64_t)plan.n_real);
      int64_t at = sel.ev.n_events;
      s = append_decoy(&sel, hit->i, &r);
      if (s == DM_OK)
        s = dm_ds_items_push(&items, at, plan.dest[plan.n_real + j], 1.0);
    }
    s = dm_agree(s, comm);
  }
  free(mine);
  dm_ds_items_sort(&items);

  /* Blinded outputs: CSV, store (finished last, with the labels' SHA-256),
   * labels in between. */
  char csv_path[DM_PATH_MAX], st_path[DM_PATH_MAX], lb_path[DM_PATH_MAX];
  snprintf(csv_path, sizeof csv_path, "%s/unlabeled_%s.csv", o->out_dir, chan);
  snprintf(st_path, sizeof st_path, "%s/unlabeled_%s.h5", o->out_dir, chan);
  snprintf(lb_path, sizeof lb_path, "%s/labels_%s.h5", o->out_dir, chan);
  int64_t n_total = plan.n_total;
  dm_ds_fmt fmt = {1, BLIND_NAME, o->batch_events};
  dm_text_out *csv = NULL;
  dm_store_writer *w = NULL;
  int64_t *counts = calloc((size_t)np, sizeof(int64_t));
  if (s == DM_OK)
    s = dm_agree(!counts ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
  if (s == DM_OK)
    s = dm_text_out_create(csv_path, comm, &csv);
  if (s == DM_OK) {
    dm_store_layout lay = dm_ds_layout(&sel);
    s = dm_store_writer_create(st_path, &lay, comm, &w);
    if (s == DM_OK)
      s = dm_ds_write_range(&sel, &items, 0, n_total, csv, w, &fmt, counts, comm);
    s = dm_text_out_finish(csv, s);
  }
  int csv_done = s == DM_OK, labels_done = 0;
  char csv_sum[33] = "";
  int64_t csv_size = 0;
  if (s == DM_OK)
    s = dm_ds_checksum(csv_path, csv_sum, &csv_size, comm);
  /* Labels: every rank fills its block of positions from the plan alone. */
  if (w && s == DM_OK) {
    int64_t b, e;
    dm_partition(n_total, rank, size, &b, &e);
    int64_t m = e - b;
    int64_t *id = malloc(sizeof(int64_t) * (size_t)(m > 0 ? m : 1));
    uint16_t *pr = malloc(sizeof(uint16_t) * (size_t)(m > 0 ? m : 1));
    uint8_t *kd = malloc((size_t)(m > 0 ? m : 1));
    s = dm_agree(!id || !pr || !kd ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
    for (int64_t c = 0; s == DM_OK && c < n_total; c++) {
      int64_t t = plan.dest[c];
      if (t < b || t >= e)
        continue;
      int64_t real = c < plan.n_real ? c : plan.decoy_src[c - plan.n_real];
      id[t - b] = t + 1;
      pr[t - b] = plan.item_proc[real];
      kd[t - b] = c >= plan.n_real ? DM_LABEL_DECOY
                  : injected[plan.item_proc[real]] ? DM_LABEL_SIGNAL
                                                   : DM_LABEL_BACKGROUND;
    }
    dm_labels_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.channel, sizeof meta.channel, "%s", chan);
    meta.lumi_fb = lumi;
    snprintf(meta.seed, sizeof meta.seed, "%llu", (unsigned long long)o->seed);
    size_t off = 0;
    for (int k = 0; k < o->n_inject && off < sizeof meta.injected; k++)
      off += (size_t)snprintf(meta.injected + off, sizeof meta.injected - off, "%s%s=%.17g",
                              k ? "," : "", o->inject[k].name, o->inject[k].mu);
    meta.decoy_fraction = o->decoy_fraction;
    snprintf(meta.parent_checksum, sizeof meta.parent_checksum, "%s", sel.parent_checksum);
    snprintf(meta.unlabeled_csv_checksum, sizeof meta.unlabeled_csv_checksum, "%s", csv_sum);
    if (s == DM_OK) {
      s = dm_labels_write(lb_path, &meta, id, pr, kd, m, names, np,
                          o->command_line ? o->command_line : "", comm);
      labels_done = s == DM_OK;
    }
    free(id);
    free(pr);
    free(kd);
  }
  if (s == DM_OK) {
    if (rank == 0)
      s = dm_sha256_file(lb_path, rep->labels_sha256);
    s = dm_agree(s, comm);
    if (s == DM_OK)
      MPI_Bcast(rep->labels_sha256, 65, MPI_CHAR, 0, comm);
  }
  if (w) {
    hid_t f = dm_store_writer_file(w);
    if (s == DM_OK) {
      dm_status a = dm_h5_attr_set_str(f, "labels_sha256", rep->labels_sha256);
      if (a == DM_OK)
        a = dm_h5_attr_set_str(f, "channel", chan);
      if (a == DM_OK)
        a = dm_h5_attr_set_str(f, "blinding", "shuffled; IDs renumbered 1..N; process '" BLIND_NAME
                               "'; weight 1; decoys included (see labels)");
      s = dm_agree(a, comm);
    }
    const char *bn[1] = {BLIND_NAME};
    int64_t bc[1] = {n_total};
    /* The command line names the injection: withheld from participants. */
    s = dm_store_writer_finish(w, s, bn, bc, 1,
                               "dmpipe dataset secret (command line withheld: see the labels file)",
                               "");
  }
  /* A failure after the labels were written must not leave them behind
   * without their unlabeled store (or the reverse). */
  if (s != DM_OK && rank == 0) {
    if (labels_done)
      remove(lb_path);
    if (csv_done)
      remove(csv_path);
  }
  if (s == DM_OK) {
    cr->lumi = lumi;
    dm_ds_lumi_text(lumi, cr->lumi_text);
    if (limiting >= 0)
      snprintf(cr->limiting, sizeof cr->limiting, "%s", names[limiting]);
    snprintf(cr->weight_source, sizeof cr->weight_source, "%s", sel.weight_source);
    cr->weight_lumi = sel.weight_lumi;
    cr->n_selected = sel.n;
    cr->n_background = 0;
    cr->n_decoys = n_decoy;
    cr->n_proc = np;
    for (int p = 0; p < np; p++) {
      dm_dataset_proc_row *r = &cr->proc[p];
      snprintf(r->name, sizeof r->name, "%s", names[p]);
      r->kind = sel.kind[p];
      r->selected = sel.n_sel[p];
      r->available = avail[p];
      r->expected = use[p] ? scale[p] * rate[p] * lumi : 0;
      r->drawn = want[p];
      if (!injected[p])
        cr->n_background += want[p];
      cr->n_excluded += sel.n_sel[p] - avail[p];
    }
    rep->n_files = 3;
  }
  dm_ds_items_free(&items);
  dm_ds_plan_free(&plan);
  free(counts);
  free(use);
  free(injected);
  free(rate);
  free(scale);
  free(want);
  free(avail);
  free(ak);
  dm_ds_sel_free(&sel);
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}
