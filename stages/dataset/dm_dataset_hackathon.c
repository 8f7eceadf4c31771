/* The hackathon set (dm_dataset.h): per channel a unit-weight background at
 * a luminosity, shuffled and split, every selected signal beside it, and a
 * manifest of everything. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_dataset.h"
#include "dm_dataset_private.h"
#include "dm_prov.h"

void dm_dataset_hackathon_opts_default(dm_dataset_hackathon_opts *o)
{
  memset(o, 0, sizeof *o);
  o->signals = "bsm";
  o->train_fraction = 0.9;
  o->seed = 1;
  o->weight_lumi = 10;
}

/* Which processes are signals here: the BSM ones, or the named ones (each
 * must be a BSM process of the store). */
static dm_status pick_signals(const dm_ds_sel *sel, const char *spec, int *is_sig)
{
  int np = sel->n_proc;
  memset(is_sig, 0, sizeof(int) * (size_t)np);
  if (!spec || !strcmp(spec, "bsm")) {
    for (int p = 0; p < np; p++)
      is_sig[p] = sel->kind[p] == 1;
    return DM_OK;
  }
  const char *q = spec;
  while (*q) {
    const char *e = strchr(q, ',');
    size_t n = e ? (size_t)(e - q) : strlen(q);
    int found = -1;
    for (int p = 0; p < np && found < 0; p++) {
      const char *nm = dm_store_process_name(sel->st, p);
      if (strlen(nm) == n && !strncmp(nm, q, n))
        found = p;
    }
    if (n == 0)
      return dm_error(DM_ERR_ARG, "--signals: empty name in '%s'", spec);
    if (found < 0)
      return dm_error(DM_ERR_UNKNOWN, "--signals: unknown signal '%.*s': not a process of %s",
                      (int)n, q, sel->what);
    if (sel->kind[found] != 1)
      return dm_error(DM_ERR_ARG, "--signals: '%.*s' is an SM process (background), not a signal",
                      (int)n, q);
    is_sig[found] = 1;
    q += n;
    if (*q == ',')
      q++;
  }
  return DM_OK;
}

dm_status dm_dataset_hackathon_run(const dm_dataset_hackathon_opts *o, MPI_Comm comm,
                                   dm_dataset_report *rep)
{
  double t0 = MPI_Wtime();
  memset(rep, 0, sizeof *rep);
  if (o->n_channels < 1 || o->n_channels > DM_DATASET_MAX_CHANNELS || !o->out_dir)
    return dm_error(DM_ERR_ARG, "dataset hackathon needs 1..%d channels and an output folder",
                    DM_DATASET_MAX_CHANNELS);
  if (!(o->train_fraction > 0 && o->train_fraction <= 1))
    return dm_error(DM_ERR_ARG, "--train-fraction %g is outside (0, 1]", o->train_fraction);
  if (!(o->weight_lumi > 0) || !(o->lumi >= 0) || !isfinite(o->lumi))
    return dm_error(DM_ERR_ARG, "luminosities must be positive");
  int rank = dm_rank(comm);
  cJSON *root = cJSON_CreateObject(), *chans = cJSON_CreateObject(), *files = cJSON_CreateArray();
  dm_status s = dm_agree(!root || !chans || !files ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK,
                         comm);
  if (s == DM_OK) {
    cJSON_AddStringToObject(root, "format", DM_DS_MANIFEST_FORMAT);
    cJSON_AddNumberToObject(root, "version", DM_DS_MANIFEST_VERSION);
    cJSON_AddStringToObject(root, "kind", "hackathon");
    cJSON_AddStringToObject(root, "parent", o->parent_path ? o->parent_path : "");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(root, "seed", seed);
    cJSON_AddNumberToObject(root, "train_fraction", o->train_fraction);
    cJSON_AddStringToObject(root, "rounding", "events of a process = floor(mu + 1/2), "
                                              "mu = exact sum of its selected weights x L / L_w");
    cJSON_AddStringToObject(root, "command_line", o->command_line ? o->command_line : "");
  }
  for (int ci = 0; s == DM_OK && ci < o->n_channels; ci++) {
    const char *chan = o->channels[ci].name;
    dm_dataset_channel_report *cr = &rep->channels[ci];
    rep->n_channels = ci + 1;
    snprintf(cr->name, sizeof cr->name, "%s", chan);
    dm_ds_sel sel;
    s = dm_ds_sel_load(o->channels[ci].selection, o->channels[ci].what, o->xsec_path,
                       o->weight_lumi, comm, &sel);
    if (s != DM_OK) {
      dm_ds_sel_free(&sel);
      break;
    }
    int np = sel.n_proc;
    if (ci == 0)
      snprintf(rep->parent_checksum, sizeof rep->parent_checksum, "%s", sel.parent_checksum);
    else if (strcmp(rep->parent_checksum, sel.parent_checksum))
      s = dm_error(DM_ERR_ARG, "%s selects from a different store than the first channel's",
                   sel.what);
    int *is_sig = calloc((size_t)np, sizeof(int)), *use = calloc((size_t)np, sizeof(int));
    double *rate = calloc((size_t)np, sizeof(double)), *one = calloc((size_t)np, sizeof(double));
    int64_t *want = calloc((size_t)np, sizeof(int64_t));
    cr->proc = calloc((size_t)np, sizeof *cr->proc);
    if (s == DM_OK && (!is_sig || !use || !rate || !one || !want || !cr->proc))
      s = dm_error(DM_ERR_NOMEM, "no memory");
    if (s == DM_OK)
      s = pick_signals(&sel, o->signals, is_sig);
    s = dm_agree(s, comm);
    dm_ds_plan plan;
    memset(&plan, 0, sizeof plan);
    double lumi = o->lumi;
    int limiting = -1;
    if (s == DM_OK) {
      cr->n_proc = np;
      for (int p = 0; p < np; p++) {
        use[p] = sel.kind[p] == 0;
        rate[p] = dm_ds_rate(&sel, p);
        one[p] = 1;
      }
      if (lumi == 0)
        s = dm_ds_lumi_max(rate, one, sel.n_sel, use, np, &lumi, &limiting);
      if (s != DM_OK)
        dm_error_context("%s", chan);
      if (s == DM_OK)
        s = dm_ds_check_counts(&sel, chan, rate, one, sel.n_sel, use, lumi, want);
      s = dm_agree(s, comm);
    }
    if (s == DM_OK) {
      cr->lumi = lumi;
      dm_ds_lumi_text(lumi, cr->lumi_text);
      if (limiting >= 0)
        snprintf(cr->limiting, sizeof cr->limiting, "%s", dm_store_process_name(sel.st, limiting));
      snprintf(cr->weight_source, sizeof cr->weight_source, "%s", sel.weight_source);
      cr->weight_lumi = sel.weight_lumi;
      cr->n_selected = sel.n;
      const char *names[np > 0 ? np : 1];
      dm_ds_names(&sel, names);
      for (int p = 0; p < np; p++) {
        dm_dataset_proc_row *pr = &cr->proc[p];
        snprintf(pr->name, sizeof pr->name, "%s", names[p]);
        pr->kind = sel.kind[p];
        pr->selected = pr->available = sel.n_sel[p];
        pr->expected = use[p] ? rate[p] * lumi : 0;
        pr->drawn = want[p];
      }
      s = dm_ds_plan_make(o->seed, chan, np, names, sel.n_sel, want, 0, &plan);
      s = dm_agree(s, comm);
    }
    /* The background: positions [0, N_train) train, [N_train, N) test. */
    dm_ds_items items;
    memset(&items, 0, sizeof items);
    for (int64_t i = 0; s == DM_OK && i < sel.n_block; i++) {
      int p = sel.ev.process[i];
      int64_t c = want[p] > 0 ? plan.item_of[plan.avail_off[p] + sel.pk[i]] : -1;
      if (c >= 0)
        s = dm_ds_items_push(&items, i, plan.dest[c], 1.0);
    }
    s = dm_agree(s, comm);
    dm_ds_items_sort(&items);
    int64_t n_bkg = plan.n_real, n_train = dm_ds_round(o->train_fraction * (double)n_bkg);
    cr->n_background = n_bkg;
    cr->n_train = n_train;
    cr->n_test = n_bkg - n_train;
    dm_ds_fmt fmt = {0, NULL, o->batch_events};
    cJSON *cj = cJSON_CreateObject();
    if (s == DM_OK && cj) {
      cJSON_AddNumberToObject(cj, "lumi_fb", lumi);
      cJSON_AddStringToObject(cj, "lumi_text", cr->lumi_text);
      cJSON_AddStringToObject(cj, "limiting_process", cr->limiting);
      cJSON_AddStringToObject(cj, "weight_source", cr->weight_source);
      cJSON_AddNumberToObject(cj, "weight_lumi_fb", cr->weight_lumi);
      cJSON_AddNumberToObject(cj, "selected_events", (double)sel.n);
      cJSON_AddNumberToObject(cj, "background_events", (double)n_bkg);
      cJSON_AddNumberToObject(cj, "train_events", (double)n_train);
      cJSON_AddNumberToObject(cj, "test_events", (double)(n_bkg - n_train));
      cJSON *ex = cJSON_AddObjectToObject(cj, "expected");
      for (int p = 0; p < np; p++)
        if (use[p] && cr->proc[p].expected > 0)
          cJSON_AddNumberToObject(ex, cr->proc[p].name, cr->proc[p].expected);
      /* What each signal's weights say it contributes at L (its file holds
       * every selected event, weighted). */
      cJSON *sx = cJSON_AddObjectToObject(cj, "signal_expected");
      for (int p = 0; p < np; p++)
        if (is_sig[p] && sel.n_sel[p] > 0)
          cJSON_AddNumberToObject(sx, cr->proc[p].name, rate[p] * lumi);
      cJSON_AddItemToObject(chans, chan, cj);
    } else if (cj) {
      cJSON_Delete(cj);
    }
    if (s == DM_OK) {
      int64_t *c_train = calloc((size_t)np, sizeof(int64_t));
      int64_t *c_test = calloc((size_t)np, sizeof(int64_t));
      s = dm_agree(!c_train || !c_test ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
      char base[256];
      snprintf(base, sizeof base, "background_%s_%s", chan, cr->lumi_text);
      if (s == DM_OK)
        s = dm_ds_write_background(&sel, &items, o->out_dir, base, n_train, &fmt,
                                   o->command_line, c_train, c_test, comm);
      for (int p = 0; s == DM_OK && p < np; p++) {
        cr->proc[p].n_train = c_train[p];
        cr->proc[p].n_test = c_test[p];
      }
      if (s == DM_OK) {
        char f[DM_PATH_MAX];
        snprintf(f, sizeof f, "%s.csv", base);
        int64_t both[np > 0 ? np : 1];
        for (int p = 0; p < np; p++)
          both[p] = c_train[p] + c_test[p];
        s = dm_ds_manifest_file(files, o->out_dir, f, "background", chan, lumi, &sel, both, comm);
        snprintf(f, sizeof f, "%s_train.h5", base);
        if (s == DM_OK)
          s = dm_ds_manifest_file(files, o->out_dir, f, "train", chan, lumi, &sel, c_train, comm);
        snprintf(f, sizeof f, "%s_test.h5", base);
        if (s == DM_OK)
          s = dm_ds_manifest_file(files, o->out_dir, f, "test", chan, lumi, &sel, c_test, comm);
        rep->n_files += 3;
      }
      free(c_train);
      free(c_test);
    }
    dm_ds_items_free(&items);
    /* Signals: every selected event, in store order, weight in pb. */
    for (int p = 0; s == DM_OK && p < np; p++) {
      if (!is_sig[p] || sel.n_sel[p] == 0)
        continue;
      for (int64_t i = 0; s == DM_OK && i < sel.n_block; i++)
        if (sel.ev.process[i] == p)
          s = dm_ds_items_push(&items, i, sel.pk[i], sel.w[i] / (1000.0 * sel.weight_lumi));
      s = dm_agree(s, comm);
      int64_t *cnt = calloc((size_t)np, sizeof(int64_t));
      s = dm_agree(s == DM_OK && !cnt ? dm_error(DM_ERR_NOMEM, "no memory") : s, comm);
      char base[256], f[DM_PATH_MAX];
      snprintf(base, sizeof base, "%s_%s", dm_store_process_name(sel.st, p), chan);
      if (s == DM_OK)
        s = dm_ds_write_part(&sel, &items, o->out_dir, base, 0, sel.n_sel[p], &fmt,
                             o->command_line, cnt, comm);
      snprintf(f, sizeof f, "%s.csv", base);
      if (s == DM_OK)
        s = dm_ds_manifest_file(files, o->out_dir, f, "signal", chan, lumi, &sel, cnt, comm);
      snprintf(f, sizeof f, "%s.h5", base);
      if (s == DM_OK)
        s = dm_ds_manifest_file(files, o->out_dir, f, "signal", chan, lumi, &sel, cnt, comm);
      cr->proc[p].drawn = sel.n_sel[p];
      cr->n_signal_files++;
      rep->n_files += 2;
      free(cnt);
      dm_ds_items_free(&items);
    }
    dm_ds_plan_free(&plan);
    free(is_sig);
    free(use);
    free(rate);
    free(one);
    free(want);
    dm_ds_sel_free(&sel);
  }
  if (s == DM_OK) {
    cJSON_AddStringToObject(root, "parent_checksum", rep->parent_checksum);
    cJSON_AddItemToObject(root, "channels", chans);
    cJSON_AddItemToObject(root, "files", files);
    chans = files = NULL;
    char *text = rank == 0 ? cJSON_Print(root) : NULL;
    char path[DM_PATH_MAX];
    snprintf(path, sizeof path, "%s/manifest.json", o->out_dir);
    s = dm_agree(rank == 0 && !text ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
    if (s == DM_OK) {
      size_t n = text ? strlen(text) : 0;
      if (text)
        text[n++] = '\n'; /* over the NUL: the file ends with a newline */
      s = dm_text_out_write_whole(path, text, n, comm);
    }
    free(text);
  }
  cJSON_Delete(chans);
  cJSON_Delete(files);
  cJSON_Delete(root);
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}
