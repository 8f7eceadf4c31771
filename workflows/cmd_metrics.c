/* dmpipe metrics: the challenge's metrics from score files, merged score
 * histograms, counting significance; also the published-table summary and
 * histogram merging. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_efftable.h"
#include "dm_metrics.h"

static const char usage[] =
    "usage: dmpipe metrics --scores CHANNEL=SCORES.h5 [--scores CHANNEL=SCORES.h5 ...] [options]\n"
    "       dmpipe metrics --efficiency-table FILE.csv [--json OUT]\n"
    "       dmpipe metrics --merge-hist OUT.h5 IN.h5 [IN.h5 ...]\n"
    "\n"
    "Per signal and channel: AUC, signal efficiency eps_S at background efficiency\n"
    "eps_B = 1e-2, 1e-3, 1e-4 (ROC linearly interpolated in eps_B), SI = eps_S/sqrt(eps_B),\n"
    "best SI; per signal the total improvement TI = max of best SI over channels; and\n"
    "min/median/max TI over signals, as the Dark Machines challenge defined them. ROC\n"
    "quantities are exact (distributed order statistics), identical for any rank count.\n"
    "Also fills per-process score histograms (quantile-adaptive bins resolving eps_B = 1e-4).\n"
    "\n"
    "Inputs and roles:\n"
    "  --scores CHANNEL=FILE   a score file (dmpipe score) of one channel; repeat per channel,\n"
    "                          and repeat a channel to take several files together (e.g. the\n"
    "                          test background and each signal scored separately): their events\n"
    "                          are pooled, their process tables merged by name\n"
    "  --store CHANNEL=FILE    the scored store of a one-file channel, for event weights\n"
    "                          (default: the store named in each score file): the weights of\n"
    "                          dmpipe weight (/derived/weight) if present, else the archive's; read\n"
    "                          only when weights are needed (--weighted, --hist-out, --lumi)\n"
    "  --background sm|NAMES   background processes: 'sm' (default) = the SM processes of the\n"
    "                          process table, or a comma-separated list of process names\n"
    "  --signals bsm|NAMES     signal processes: 'bsm' (default) or a comma-separated list\n"
    "  --xsec FILE             process table giving each process's kind (default: the shipped\n"
    "                          data/processes.csv); names it lacks are BSM if they start with a\n"
    "                          known signal prefix (gluino, stop, Zp, glgl, sqsq, stlp, monojet,\n"
    "                          monotop, monoV, chacha, chaneut, pp23mt, pp24mt), else SM\n"
    "  --weighted              weight events by their store weights in the ROC metrics\n"
    "                          (default: unweighted, as the challenge)\n"
    "\n"
    "Which events count, and which figures:\n"
    "  (default)               only events the model did not train on: a score file's\n"
    "                          /scores/train column (dmpipe score) marks the training events,\n"
    "                          which are left out; a file without the column is an error\n"
    "  --include-train         count every event, training events too (biased upwards: the\n"
    "                          behaviour of earlier versions, for comparison only)\n"
    "  --min-bkg-per-wp K      a working point eps_B is resolved when the channel's evaluated\n"
    "                          background holds at least K/eps_B events (weighted: Kish's\n"
    "                          effective count); default 10, so eps_B = 1e-4 needs 100000\n"
    "  --allow-unresolved      let best SI and TI use unresolved working points (they are\n"
    "                          still marked); default: they are shown as \"unresolved\" and\n"
    "                          skipped, and a signal with no resolved point has no TI\n"
    "\n"
    "Histograms:\n"
    "  --hist-out FILE         write the per-process histograms of every channel (dmpipe-hist)\n"
    "  --hist-edges FILE       take bin edges from this histogram file (same channel names), so\n"
    "                          the output can be merged with it; default: adaptive edges at exact\n"
    "                          background quantiles\n"
    "  --hist-min-count N      adaptive bins hold at least N background events (default 10)\n"
    "  --hist-per-decade N     adaptive bins per decade of eps_B below 1e-2 (default 20)\n"
    "\n"
    "Counting significance (from the weighted histograms):\n"
    "  --lumi L                luminosity in fb^-1 at which to quote s, b and Z (default: off)\n"
    "  --weight-lumi L         luminosity the store's weights are normalised to (default 10)\n"
    "  --threshold-eff-b LIST  working points as weighted background efficiencies, comma-\n"
    "                          separated (default 1e-2,1e-3,1e-4); the cut is the lowest bin edge\n"
    "                          with background efficiency <= the target\n"
    "  --bkg-uncertainty R     relative background uncertainty for the Asimov Z with\n"
    "                          uncertainty (default 0)\n"
    "\n"
    "Other modes:\n"
    "  --efficiency-table CSV  summarise a published per-model table (columns Signal,Model,Chan,\n"
    "                          AUC,1e-2,1e-3,1e-4): each model's min/median/max TI over its\n"
    "                          signals; models lacking a channel of the table are dropped\n"
    "  --merge-hist OUT        merge the histogram files given as arguments (same edges) into OUT\n"
    "\n"
    "Reading the output: per channel, how many events the score files hold, how many\n"
    "training events were left out, and how many background events were evaluated;\n"
    "for each working point eps_B whether it is resolved (the evaluated background\n"
    "holds >= K/eps_B events) and how many it needs. Per signal and channel: signal\n"
    "and background events behind the row, AUC with its standard error (Hanley and\n"
    "McNeil), eps_S per working point (\"unresolved\" where the background is too\n"
    "small; with --allow-unresolved the number marked '*'), best SI over resolved\n"
    "points; '!' marks fewer than 10 K signal events. TI and min/median/max TI use\n"
    "resolved points only; signals without any are listed as unresolved and counted\n"
    "apart. Significance rows say in a note why a figure is missing (no background\n"
    "above the cut, unresolved working point, coarse bins). JSON: the same, with\n"
    "\"unresolved\" strings in place of numbers that may not be quoted.\n"
    "\n"
    "Memory:\n"
    "  --rows-mb M             MiB per rank for the score rows the exact ROC metrics hold at\n"
    "                          once (default 3, at least 0.01): when a rank's background and\n"
    "                          signal rows take more (24 bytes a row, 48 with --weighted), the\n"
    "                          score files are read again, one range of scores per pass, so\n"
    "                          memory per rank does not grow with the number of events; the\n"
    "                          results are the same to the bit\n"
    "\n"
    "Output:\n"
    "  --json FILE             also write the results as JSON\n"
    "  --help                  this text\n";

static int run_efftable(const char *path, const char *json, MPI_Comm comm)
{
  dm_efftable_report rep;
  dm_status s = dm_efftable_run(path, comm, &rep);
  if (s == DM_OK && dm_rank(comm) == 0) {
    printf("%-44s %8s %10s %10s %10s\n", "model", "signals", "min TI", "median TI", "max TI");
    for (int m = 0; m < rep.n_models; m++) {
      const dm_efftable_model *mo = &rep.models[m];
      if (mo->complete)
        printf("%-44s %8d %10.4f %10.4f %10.4f\n", mo->name, mo->n_signals, mo->min_ti,
               mo->median_ti, mo->max_ti);
      else
        printf("%-44s dropped: no rows for channel %s\n", mo->name, mo->missing);
    }
  }
  if (s == DM_OK && json) {
    cJSON *j = cJSON_CreateObject();
    cJSON *models = cJSON_AddObjectToObject(j, "models");
    cJSON *dropped = cJSON_AddObjectToObject(j, "dropped");
    for (int m = 0; m < rep.n_models; m++) {
      const dm_efftable_model *mo = &rep.models[m];
      if (!mo->complete) {
        cJSON_AddStringToObject(dropped, mo->name, mo->missing);
        continue;
      }
      cJSON *x = cJSON_AddObjectToObject(models, mo->name);
      dm_cli_json_num(x, "min_ti", mo->min_ti);
      dm_cli_json_num(x, "median_ti", mo->median_ti);
      dm_cli_json_num(x, "max_ti", mo->max_ti);
      cJSON_AddNumberToObject(x, "signals", mo->n_signals);
    }
    s = dm_cli_write_json_agreed(json, j, comm);
    cJSON_Delete(j);
  }
  dm_efftable_report_free(&rep);
  return dm_cli_finish("metrics", s, comm);
}

/* One eps_S or SI cell: the number, "unresolved", or the number marked '*'
 * when --allow-unresolved lets it count. */
static const char *cell(char *buf, size_t cap, double v, int resolved, int allow,
                        const char *fmt)
{
  if (!resolved && !allow) {
    snprintf(buf, cap, "unresolved");
    return buf;
  }
  snprintf(buf, cap, fmt, v);
  if (!resolved) {
    size_t l = strlen(buf);
    if (l + 1 < cap) {
      buf[l] = '*';
      buf[l + 1] = '\0';
    }
  }
  return buf;
}

static void print_report(const dm_metrics_report *r, const dm_metrics_opts *o)
{
  static const char *eps_names[3] = {"1e-2", "1e-3", "1e-4"};
  printf("metrics (%s, %s): background %s\n", o->weighted ? "weighted" : "unweighted",
         o->include_train ? "ALL events, training events included (--include-train)"
                          : "held-out events only",
         r->background_names);
  int any_few = 0, any_unres = 0;
  for (int c = 0; c < r->n_channels; c++) {
    const dm_metrics_channel *ch = &r->channels[c];
    printf("  channel %-8s %d score file%s, %lld events", ch->name, ch->n_files,
           ch->n_files == 1 ? "" : "s", (long long)ch->n_events);
    if (o->include_train)
      printf(" (training events included)\n");
    else
      printf("; %lld training events left out (%lld background)\n",
             (long long)ch->n_train_excluded, (long long)ch->n_train_background);
    printf("           evaluated background: %lld events (weight %.6g", (long long)ch->n_background,
           ch->w_background);
    if (o->weighted)
      printf(", effective count %.6g", ch->n_background_eff);
    printf("), %d histogram bins; weights: %s\n", ch->n_bins, ch->weights);
    printf("           working points:");
    int n_res = 0;
    for (int k = 0; k < DM_METRICS_N_EPS; k++) {
      printf("  eps_B %s %s (needs %lld)", eps_names[k],
             ch->resolved[k] ? "resolved" : "unresolved", (long long)ch->needed[k]);
      n_res += ch->resolved[k];
      any_unres |= !ch->resolved[k];
    }
    printf("\n");
    if (n_res == 0)
      printf("  warning: channel %s: no working point is resolved: %.6g background events, "
             "eps_B = 1e-2 needs %lld; its eps_S and SI rest on too few events%s\n",
             ch->name, ch->n_background_eff, (long long)ch->needed[0],
             o->allow_unresolved ? " (counted anyway: --allow-unresolved)"
                                 : " and are not used for best SI or TI");
  }
  printf("\n%-30s %-8s %9s %9s %8s %8s %11s %11s %11s %10s\n", "signal", "channel", "sig evts",
         "bkg evts", "AUC", "+-", "eS@1e-2", "eS@1e-3", "eS@1e-4", "best SI");
  for (int i = 0; i < r->n_rows; i++) {
    const dm_metrics_row *x = &r->rows[i];
    char e[3][24], b[24];
    for (int k = 0; k < DM_METRICS_N_EPS; k++)
      cell(e[k], sizeof e[k], x->eps_s[k], x->resolved[k], o->allow_unresolved, "%.5f");
    if (isnan(x->best_si))
      snprintf(b, sizeof b, "unresolved");
    else
      snprintf(b, sizeof b, "%.4f", x->best_si);
    printf("%-30s %-8s %9lld %9lld %8.5f %8.5f %11s %11s %11s %10s%s\n", x->signal, x->channel,
           (long long)x->n_signal, (long long)x->n_background, x->auc, x->auc_err, e[0], e[1],
           e[2], b, x->few_signal ? " !" : "");
    any_few |= x->few_signal;
  }
  if (any_unres)
    printf("unresolved: the channel's evaluated background has fewer than %g/eps_B events, so\n"
           "eps_S there rests on fewer than %g background events above the cut; %s\n",
           o->min_bkg_per_wp, o->min_bkg_per_wp,
           o->allow_unresolved ? "shown with '*' and used for best SI and TI (--allow-unresolved)"
                               : "not used for best SI or TI (--allow-unresolved to use them)");
  if (any_few)
    printf("!: fewer than %g signal events: an eps_S below 0.1 rests on fewer than %g of them\n",
           10 * o->min_bkg_per_wp, o->min_bkg_per_wp);
  printf("+-: the AUC's standard error (Hanley and McNeil) from the event counts\n");
  printf("\n%-34s %10s  %s\n", "signal", "TI", "channel");
  for (int i = 0; i < r->n_ti; i++) {
    if (isnan(r->ti[i].ti))
      printf("%-34s %10s  (no resolved working point in any channel)\n", r->ti[i].signal,
             "unresolved");
    else
      printf("%-34s %10.4f  %s\n", r->ti[i].signal, r->ti[i].ti, r->ti[i].channel);
  }
  if (r->n_ti - r->n_ti_unresolved > 0)
    printf("TI over %d signals: min %.4f  median %.4f  max %.4f", r->n_ti - r->n_ti_unresolved,
           r->ti_min, r->ti_median, r->ti_max);
  else
    printf("TI: no signal has a resolved working point, so no TI is quoted");
  if (r->n_ti_unresolved)
    printf("  (%d more signal%s without a resolved working point left out)", r->n_ti_unresolved,
           r->n_ti_unresolved == 1 ? "" : "s");
  printf("\n");
  if (r->n_signif > 0) {
    printf("\ncounting significance at %.4g fb^-1 (background uncertainty %.3g)\n", o->lumi,
           o->bkg_uncertainty);
    printf("%-30s %-8s %8s %11s %10s %10s %11s %11s %8s %8s %8s  %s\n", "signal", "channel",
           "target", "cut", "eff_B", "eff_S", "s", "b", "s/vb", "Z_A", "Z_A,unc", "note");
    for (int i = 0; i < r->n_signif; i++) {
      const dm_metrics_signif *g = &r->signif[i];
      printf("%-30s %-8s %8.1e %11.5g %10.3e %10.3e %11.4g %11.4g %8.3f %8.3f %8.3f  %s\n",
             g->signal, g->channel, g->target_eff_b, g->threshold, g->eff_b, g->eff_s, g->s,
             g->b, g->z_simple, g->z_asimov, g->z_asimov_unc, g->note);
    }
  }
  printf("\n%.3f s\n", r->seconds);
}

/* A number, or the string "unresolved" when it may not be quoted. */
static void json_wp(cJSON *o, const char *k, double v, int usable)
{
  if (usable)
    dm_cli_json_num(o, k, v);
  else
    cJSON_AddStringToObject(o, k, "unresolved");
}

static cJSON *report_json(const dm_metrics_report *r, const dm_metrics_opts *o)
{
  static const char *eps_names[3] = {"1e-2", "1e-3", "1e-4"};
  cJSON *j = cJSON_CreateObject();
  cJSON_AddBoolToObject(j, "weighted", o->weighted);
  cJSON_AddBoolToObject(j, "include_train", o->include_train);
  dm_cli_json_num(j, "min_bkg_per_wp", o->min_bkg_per_wp);
  cJSON_AddBoolToObject(j, "allow_unresolved", o->allow_unresolved);
  cJSON_AddStringToObject(j, "background", r->background_names);
  cJSON_AddStringToObject(j, "signals", r->signal_names);
  cJSON *ch = cJSON_AddArrayToObject(j, "channels");
  for (int c = 0; c < r->n_channels; c++) {
    const dm_metrics_channel *cc = &r->channels[c];
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "name", cc->name);
    cJSON *files = cJSON_AddArrayToObject(x, "scores");
    for (int i = 0; i < o->n_inputs; i++)
      if (!strcmp(o->inputs[i].name, cc->name))
        cJSON_AddItemToArray(files, cJSON_CreateString(o->inputs[i].scores));
    cJSON_AddNumberToObject(x, "events", (double)cc->n_events);
    cJSON_AddNumberToObject(x, "train_events_excluded", (double)cc->n_train_excluded);
    cJSON_AddNumberToObject(x, "train_background_excluded", (double)cc->n_train_background);
    cJSON_AddNumberToObject(x, "background_events", (double)cc->n_background);
    dm_cli_json_num(x, "background_weight", cc->w_background);
    dm_cli_json_num(x, "background_effective_events", cc->n_background_eff);
    cJSON *wp = cJSON_AddObjectToObject(x, "working_points");
    for (int k = 0; k < DM_METRICS_N_EPS; k++) {
      cJSON *w = cJSON_AddObjectToObject(wp, eps_names[k]);
      cJSON_AddBoolToObject(w, "resolved", cc->resolved[k]);
      cJSON_AddNumberToObject(w, "needed", (double)cc->needed[k]);
    }
    cJSON_AddNumberToObject(x, "bins", cc->n_bins);
    cJSON_AddStringToObject(x, "weights", cc->weights);
    cJSON_AddItemToArray(ch, x);
  }
  cJSON *rows = cJSON_AddArrayToObject(j, "results");
  for (int i = 0; i < r->n_rows; i++) {
    const dm_metrics_row *x = &r->rows[i];
    cJSON *o2 = cJSON_CreateObject();
    cJSON_AddStringToObject(o2, "signal", x->signal);
    cJSON_AddStringToObject(o2, "channel", x->channel);
    cJSON_AddNumberToObject(o2, "events", (double)x->n_signal);
    cJSON_AddNumberToObject(o2, "signal_events", (double)x->n_signal);
    cJSON_AddNumberToObject(o2, "background_events", (double)x->n_background);
    dm_cli_json_num(o2, "auc", x->auc);
    dm_cli_json_num(o2, "auc_stderr", x->auc_err);
    cJSON_AddBoolToObject(o2, "few_signal_events", x->few_signal);
    cJSON *e = cJSON_AddObjectToObject(o2, "eps_s");
    cJSON *si = cJSON_AddObjectToObject(o2, "si");
    cJSON *res = cJSON_AddObjectToObject(o2, "resolved");
    for (int k = 0; k < DM_METRICS_N_EPS; k++) {
      int usable = x->resolved[k] || o->allow_unresolved;
      json_wp(e, eps_names[k], x->eps_s[k], usable);
      json_wp(si, eps_names[k], x->si[k], usable);
      cJSON_AddBoolToObject(res, eps_names[k], x->resolved[k]);
    }
    json_wp(o2, "best_si", x->best_si, !isnan(x->best_si));
    cJSON_AddItemToArray(rows, o2);
  }
  cJSON *ti = cJSON_AddObjectToObject(j, "total_improvement");
  for (int i = 0; i < r->n_ti; i++) {
    cJSON *x = cJSON_AddObjectToObject(ti, r->ti[i].signal);
    json_wp(x, "ti", r->ti[i].ti, !isnan(r->ti[i].ti));
    cJSON_AddStringToObject(x, "channel", r->ti[i].channel);
  }
  cJSON *sum = cJSON_AddObjectToObject(j, "summary");
  dm_cli_json_num(sum, "min_ti", r->ti_min);
  dm_cli_json_num(sum, "median_ti", r->ti_median);
  dm_cli_json_num(sum, "max_ti", r->ti_max);
  cJSON_AddNumberToObject(sum, "signals", r->n_ti - r->n_ti_unresolved);
  cJSON_AddNumberToObject(sum, "signals_unresolved", r->n_ti_unresolved);
  if (r->n_signif > 0) {
    cJSON *sg = cJSON_AddArrayToObject(j, "significance");
    for (int i = 0; i < r->n_signif; i++) {
      const dm_metrics_signif *g = &r->signif[i];
      cJSON *x = cJSON_CreateObject();
      cJSON_AddStringToObject(x, "signal", g->signal);
      cJSON_AddStringToObject(x, "channel", g->channel);
      dm_cli_json_num(x, "lumi_fb", o->lumi);
      dm_cli_json_num(x, "target_eff_b", g->target_eff_b);
      dm_cli_json_num(x, "threshold", g->threshold);
      dm_cli_json_num(x, "eff_b", g->eff_b);
      dm_cli_json_num(x, "eff_s", g->eff_s);
      dm_cli_json_num(x, "s", g->s);
      dm_cli_json_num(x, "b", g->b);
      dm_cli_json_num(x, "b_mc_error", g->b_mc_err);
      dm_cli_json_num(x, "z_s_over_sqrt_b", g->z_simple);
      dm_cli_json_num(x, "z_asimov", g->z_asimov);
      dm_cli_json_num(x, "z_asimov_with_uncertainty", g->z_asimov_unc);
      dm_cli_json_num(x, "bkg_uncertainty", o->bkg_uncertainty);
      dm_cli_json_num(x, "background_effective_events", g->n_background_eff);
      cJSON_AddBoolToObject(x, "resolved", g->resolved);
      cJSON_AddStringToObject(x, "note", g->note);
      cJSON_AddItemToArray(sg, x);
    }
  }
  dm_cli_json_num(j, "seconds", r->seconds);
  return j;
}

/* "CHANNEL=FILE" into name and path. */
static dm_status split_pair(const char *flag, const char *text, char *name, size_t ncap,
                            char *path, size_t pcap)
{
  const char *eq = strchr(text, '=');
  if (!eq || eq == text || !eq[1])
    return dm_error(DM_ERR_ARG, "%s: '%s' is not CHANNEL=FILE", flag, text);
  size_t nl = (size_t)(eq - text);
  if (nl >= ncap || strlen(eq + 1) >= pcap)
    return dm_error(DM_ERR_ARG, "%s: '%s' is too long", flag, text);
  for (size_t i = 0; i < nl; i++)
    if (text[i] == '/' || text[i] == ',')
      return dm_error(DM_ERR_ARG, "%s: channel name '%.*s' may not contain '/' or ','", flag,
                      (int)nl, text);
  memcpy(name, text, nl);
  name[nl] = '\0';
  snprintf(path, pcap, "%s", eq + 1);
  return DM_OK;
}

int dm_cmd_metrics(int argc, char **argv, MPI_Comm comm)
{
  static dm_metrics_opts o; /* large (paths); static keeps it off the stack */
  dm_metrics_opts_default(&o);
  o.command_line = dm_cli_command_line();
  const char *json = NULL, *efftable = NULL, *merge_out = NULL;
  char store_name[DM_METRICS_MAX_CHANNELS][64];
  char store_path[DM_METRICS_MAX_CHANNELS][DM_PATH_MAX];
  int n_store = 0;
  enum { O_SCORES = 1000, O_STORE, O_BKG, O_SIG, O_XSEC, O_W, O_HOUT, O_HEDGES, O_HMIN, O_HPD,
         O_LUMI, O_WLUMI, O_THR, O_UNC, O_EFF, O_MERGE, O_JSON, O_HELP, O_INCL, O_KMIN,
         O_ALLOWU, O_ROWSMB };
  static const struct option longopts[] = {
      {"scores", required_argument, 0, O_SCORES},
      {"store", required_argument, 0, O_STORE},
      {"background", required_argument, 0, O_BKG},
      {"signals", required_argument, 0, O_SIG},
      {"xsec", required_argument, 0, O_XSEC},
      {"weighted", no_argument, 0, O_W},
      {"hist-out", required_argument, 0, O_HOUT},
      {"hist-edges", required_argument, 0, O_HEDGES},
      {"hist-min-count", required_argument, 0, O_HMIN},
      {"hist-per-decade", required_argument, 0, O_HPD},
      {"lumi", required_argument, 0, O_LUMI},
      {"weight-lumi", required_argument, 0, O_WLUMI},
      {"threshold-eff-b", required_argument, 0, O_THR},
      {"bkg-uncertainty", required_argument, 0, O_UNC},
      {"efficiency-table", required_argument, 0, O_EFF},
      {"merge-hist", required_argument, 0, O_MERGE},
      {"json", required_argument, 0, O_JSON},
      {"include-train", no_argument, 0, O_INCL},
      {"min-bkg-per-wp", required_argument, 0, O_KMIN},
      {"allow-unresolved", no_argument, 0, O_ALLOWU},
      {"rows-mb", required_argument, 0, O_ROWSMB},
      {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c;
  dm_status s = DM_OK;
  int64_t v;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_SCORES:
      if (o.n_inputs == DM_METRICS_MAX_INPUTS) {
        s = dm_error(DM_ERR_ARG, "--scores: at most %d files", DM_METRICS_MAX_INPUTS);
        break;
      }
      s = split_pair("--scores", optarg, o.inputs[o.n_inputs].name,
                     sizeof o.inputs[0].name, o.inputs[o.n_inputs].scores,
                     sizeof o.inputs[0].scores);
      if (s == DM_OK)
        o.n_inputs++;
      break;
    case O_STORE:
      if (n_store == DM_METRICS_MAX_CHANNELS) {
        s = dm_error(DM_ERR_ARG, "--store: at most %d channels", DM_METRICS_MAX_CHANNELS);
        break;
      }
      s = split_pair("--store", optarg, store_name[n_store], sizeof store_name[0],
                     store_path[n_store], sizeof store_path[0]);
      if (s == DM_OK)
        n_store++;
      break;
    case O_BKG: o.background = optarg; break;
    case O_SIG: o.signals = optarg; break;
    case O_XSEC: o.proctable = optarg; break;
    case O_W: o.weighted = 1; break;
    case O_HOUT: o.hist_out = optarg; break;
    case O_HEDGES: o.hist_edges = optarg; break;
    case O_HMIN:
      s = dm_cli_i64("--hist-min-count", optarg, 1, 1 << 30, &v);
      o.hist_min_count = (int)v;
      break;
    case O_HPD:
      s = dm_cli_i64("--hist-per-decade", optarg, 1, 1000, &v);
      o.hist_per_decade = (int)v;
      break;
    case O_LUMI: s = dm_cli_f64("--lumi", optarg, 1e-12, 1e12, &o.lumi); break;
    case O_WLUMI: s = dm_cli_f64("--weight-lumi", optarg, 1e-12, 1e12, &o.weight_lumi); break;
    case O_THR:
      o.n_thresholds = DM_METRICS_MAX_THRESHOLDS;
      s = dm_cli_f64_list("--threshold-eff-b", optarg, 1e-15, 1.0, o.thresholds,
                          &o.n_thresholds);
      break;
    case O_UNC: s = dm_cli_f64("--bkg-uncertainty", optarg, 0, 100, &o.bkg_uncertainty); break;
    case O_EFF: efftable = optarg; break;
    case O_MERGE: merge_out = optarg; break;
    case O_JSON: json = optarg; break;
    case O_INCL: o.include_train = 1; break;
    case O_KMIN: s = dm_cli_f64("--min-bkg-per-wp", optarg, 1e-9, 1e12, &o.min_bkg_per_wp); break;
    case O_ALLOWU: o.allow_unresolved = 1; break;
    case O_ROWSMB: s = dm_cli_f64("--rows-mb", optarg, 0.01, 1e9, &o.rows_mb); break;
    case O_HELP: return dm_cli_help(usage, comm);
    default:
      return dm_cli_usage_error("metrics", comm, "unknown option or missing value '%s'",
                                argv[optind - 1]);
    }
    if (s != DM_OK)
      return dm_cli_usage_error("metrics", comm, "%s", dm_error_message());
  }
  int modes = (efftable != NULL) + (merge_out != NULL) + (o.n_inputs > 0);
  if (modes != 1)
    return dm_cli_usage_error("metrics", comm,
                              "give exactly one of --scores, --efficiency-table, --merge-hist");
  if (efftable) {
    if (optind < argc)
      return dm_cli_usage_error("metrics", comm, "unexpected argument '%s'", argv[optind]);
    return run_efftable(efftable, json, comm);
  }
  if (merge_out) {
    if (optind >= argc)
      return dm_cli_usage_error("metrics", comm, "--merge-hist needs input histogram files");
    s = dm_hist_files_merge(merge_out, (const char *const *)(argv + optind), argc - optind,
                              NULL, comm, o.command_line);
    if (s == DM_OK && dm_rank(comm) == 0)
      printf("merged %d histogram files into %s\n", argc - optind, merge_out);
    return dm_cli_finish("metrics", s, comm);
  }
  if (optind < argc)
    return dm_cli_usage_error("metrics", comm, "unexpected argument '%s'", argv[optind]);
  for (int i = 0; i < n_store; i++) {
    int k = 0;
    while (k < o.n_inputs && strcmp(o.inputs[k].name, store_name[i]) != 0)
      k++;
    if (k == o.n_inputs)
      return dm_cli_usage_error("metrics", comm, "--store %s=...: no --scores for channel %s",
                                store_name[i], store_name[i]);
    for (int j = k + 1; j < o.n_inputs; j++)
      if (strcmp(o.inputs[j].name, store_name[i]) == 0)
        return dm_cli_usage_error("metrics", comm,
                                  "--store %s=...: channel %s has several score files; each "
                                  "uses the store it names",
                                  store_name[i], store_name[i]);
    snprintf(o.inputs[k].store, sizeof o.inputs[k].store, "%s", store_path[i]);
  }
  dm_metrics_report rep;
  s = dm_metrics_run(&o, comm, &rep);
  if (s == DM_OK && dm_rank(comm) == 0)
    print_report(&rep, &o);
  if (s == DM_OK && json) {
    cJSON *j = report_json(&rep, &o);
    s = dm_cli_write_json_agreed(json, j, comm);
    cJSON_Delete(j);
  }
  dm_metrics_report_free(&rep);
  return dm_cli_finish("metrics", s, comm);
}
