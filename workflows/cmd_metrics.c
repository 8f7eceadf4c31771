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
    "  --scores CHANNEL=FILE   a score file (dmpipe score) for one channel; repeat per channel\n"
    "  --store CHANNEL=FILE    the scored store of that channel, for event weights (default:\n"
    "                          the store named in the score file): the weights of dmpipe weight\n"
    "                          (/derived/weight) if present, else the archive's; read only when\n"
    "                          weights are needed (--weighted, --hist-out, --lumi)\n"
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

static void print_report(const dm_metrics_report *r, const dm_metrics_opts *o)
{
  printf("metrics (%s): background %s\n", o->weighted ? "weighted" : "unweighted",
         r->background_names);
  for (int c = 0; c < r->n_channels; c++)
    printf("  channel %-8s %12lld events, %12lld background (weight %.6g), %d bins; weights: %s\n",
           r->channels[c].name, (long long)r->channels[c].n_events,
           (long long)r->channels[c].n_background, r->channels[c].w_background,
           r->channels[c].n_bins, r->channels[c].weights);
  printf("\n%-34s %-8s %10s %8s %9s %9s %9s %8s\n", "signal", "channel", "events", "AUC",
         "eS@1e-2", "eS@1e-3", "eS@1e-4", "best SI");
  for (int i = 0; i < r->n_rows; i++) {
    const dm_metrics_row *x = &r->rows[i];
    printf("%-34s %-8s %10lld %8.5f %9.5f %9.5f %9.5f %8.4f\n", x->signal, x->channel,
           (long long)x->n_signal, x->auc, x->eps_s[0], x->eps_s[1], x->eps_s[2], x->best_si);
  }
  printf("\n%-34s %10s  %s\n", "signal", "TI", "channel");
  for (int i = 0; i < r->n_ti; i++)
    printf("%-34s %10.4f  %s\n", r->ti[i].signal, r->ti[i].ti, r->ti[i].channel);
  printf("TI over %d signals: min %.4f  median %.4f  max %.4f\n", r->n_ti, r->ti_min,
         r->ti_median, r->ti_max);
  if (r->n_signif > 0) {
    printf("\ncounting significance at %.4g fb^-1 (background uncertainty %.3g)\n", o->lumi,
           o->bkg_uncertainty);
    printf("%-30s %-8s %8s %11s %10s %10s %11s %11s %8s %8s %8s\n", "signal", "channel",
           "target", "cut", "eff_B", "eff_S", "s", "b", "s/vb", "Z_A", "Z_A,unc");
    for (int i = 0; i < r->n_signif; i++) {
      const dm_metrics_signif *g = &r->signif[i];
      printf("%-30s %-8s %8.1e %11.5g %10.3e %10.3e %11.4g %11.4g %8.3f %8.3f %8.3f\n",
             g->signal, g->channel, g->target_eff_b, g->threshold, g->eff_b, g->eff_s, g->s,
             g->b, g->z_simple, g->z_asimov, g->z_asimov_unc);
    }
  }
  printf("\n%.3f s\n", r->seconds);
}

static cJSON *report_json(const dm_metrics_report *r, const dm_metrics_opts *o)
{
  static const char *eps_names[3] = {"1e-2", "1e-3", "1e-4"};
  cJSON *j = cJSON_CreateObject();
  cJSON_AddBoolToObject(j, "weighted", o->weighted);
  cJSON_AddStringToObject(j, "background", r->background_names);
  cJSON_AddStringToObject(j, "signals", r->signal_names);
  cJSON *ch = cJSON_AddArrayToObject(j, "channels");
  for (int c = 0; c < r->n_channels; c++) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "name", r->channels[c].name);
    cJSON_AddStringToObject(x, "scores", o->inputs[c].scores);
    cJSON_AddNumberToObject(x, "events", (double)r->channels[c].n_events);
    cJSON_AddNumberToObject(x, "background_events", (double)r->channels[c].n_background);
    dm_cli_json_num(x, "background_weight", r->channels[c].w_background);
    cJSON_AddNumberToObject(x, "bins", r->channels[c].n_bins);
    cJSON_AddStringToObject(x, "weights", r->channels[c].weights);
    cJSON_AddItemToArray(ch, x);
  }
  cJSON *rows = cJSON_AddArrayToObject(j, "results");
  for (int i = 0; i < r->n_rows; i++) {
    const dm_metrics_row *x = &r->rows[i];
    cJSON *o2 = cJSON_CreateObject();
    cJSON_AddStringToObject(o2, "signal", x->signal);
    cJSON_AddStringToObject(o2, "channel", x->channel);
    cJSON_AddNumberToObject(o2, "events", (double)x->n_signal);
    dm_cli_json_num(o2, "auc", x->auc);
    cJSON *e = cJSON_AddObjectToObject(o2, "eps_s");
    cJSON *si = cJSON_AddObjectToObject(o2, "si");
    for (int k = 0; k < DM_METRICS_N_EPS; k++) {
      dm_cli_json_num(e, eps_names[k], x->eps_s[k]);
      dm_cli_json_num(si, eps_names[k], x->si[k]);
    }
    dm_cli_json_num(o2, "best_si", x->best_si);
    cJSON_AddItemToArray(rows, o2);
  }
  cJSON *ti = cJSON_AddObjectToObject(j, "total_improvement");
  for (int i = 0; i < r->n_ti; i++) {
    cJSON *x = cJSON_AddObjectToObject(ti, r->ti[i].signal);
    dm_cli_json_num(x, "ti", r->ti[i].ti);
    cJSON_AddStringToObject(x, "channel", r->ti[i].channel);
  }
  cJSON *sum = cJSON_AddObjectToObject(j, "summary");
  dm_cli_json_num(sum, "min_ti", r->ti_min);
  dm_cli_json_num(sum, "median_ti", r->ti_median);
  dm_cli_json_num(sum, "max_ti", r->ti_max);
  cJSON_AddNumberToObject(sum, "signals", r->n_ti);
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
         O_LUMI, O_WLUMI, O_THR, O_UNC, O_EFF, O_MERGE, O_JSON, O_HELP };
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
      if (o.n_inputs == DM_METRICS_MAX_CHANNELS) {
        s = dm_error(DM_ERR_ARG, "--scores: at most %d channels", DM_METRICS_MAX_CHANNELS);
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
    s = dm_metrics_merge_hist(merge_out, (const char *const *)(argv + optind), argc - optind,
                              comm, o.command_line);
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
