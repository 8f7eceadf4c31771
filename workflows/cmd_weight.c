/* dmpipe weight: cross-section weights at a luminosity, as /derived/weight. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dm_cli_run.h"
#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_weight.h"

static const char help[] =
    "usage: dmpipe weight --in STORE.h5 --lumi L [--xsec FILE] [--allow-unknown] [options]\n"
    "       dmpipe weight --in STORE.h5 --rescale-lumi L [--store-lumi L0] [options]\n"
    "\n"
    "Compute w = sigma[pb] x L[fb^-1] x 1000 / N for every event, with N the number of\n"
    "events of its process in the store, and store it as /derived/weight: a new\n"
    "side file STORE.derived-ID.<n>.h5 linked from the store's index, committed\n"
    "atomically; other derived columns are kept, not copied, and the store itself\n"
    "is not modified. /events/weight (the archive's own weight) is left as it is.\n"
    "A store holding exactly the 10 fb^-1 counts gets w = 1 at --lumi 10.\n"
    "\n"
    "Two weight columns: /events/weight is the store's own (the archive's, as\n"
    "ingested, never changed); /derived/weight is this command's. The table shows\n"
    "both per process and their ratio (computed / own mean) and warns where the\n"
    "ratio departs from 1 by more than --tolerance or the own weights vary within a\n"
    "process: a cross section that differs from the archive's, or a store holding\n"
    "a subset of a process's events. Compare at the luminosity the store's weights\n"
    "are for (10 fb^-1 for the Dark Machines archive).\n"
    "\n"
    "With --rescale-lumi L no table is used: /derived/weight = /events/weight x\n"
    "L / L0 event by event (L0 = --store-lumi, default 10), the store's own\n"
    "normalisation at another luminosity.\n"
    "\n"
    "  --in FILE         the store\n"
    "  --lumi L          integrated luminosity in fb^-1 (> 0)\n"
    "  --rescale-lumi L  instead of --lumi: the store's own weights rescaled to L fb^-1\n"
    "  --store-lumi L0   the luminosity the store's own weights are for (default 10)\n"
    "  --tolerance R     relative difference from the store's own weights that warns\n"
    "                    (default 0.001)\n"
    "  --xsec FILE       process table (CSV: name,kind,sigma_pb,...); default: the\n"
    "                    shipped data/processes.csv\n"
    "  --allow-unknown   weight processes missing from the table (or without a cross\n"
    "                    section) as NaN instead of failing\n"
    "  --batch N         events per rank per round (default 65536)\n"
    "  --json FILE       also write the per-process weights as JSON (17 significant\n"
    "                    digits: each reads back as the same double)\n"
    "  --quiet           do not print the table\n"
    DM_CLI_RUN_HELP
    "  --help            this text\n";

static cJSON *report_json(const dm_weight_report *r)
{
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "format", "dmpipe-weights");
  /* 2: every weight printed exactly (17 digits), so dmpipe hist --scale-weights
   * reads the very doubles of /derived/weight. */
  cJSON_AddNumberToObject(root, "format_version", 2);
  cJSON_AddNumberToObject(root, "lumi_fb", r->lumi_fb);
  cJSON_AddStringToObject(root, "xsec_table", r->xsec_path);
  cJSON_AddStringToObject(root, "xsec_checksum", r->xsec_checksum);
  cJSON_AddNumberToObject(root, "events", (double)r->n_events);
  cJSON_AddNumberToObject(root, "unknown_processes", r->n_unknown);
  cJSON_AddBoolToObject(root, "rescaled", r->rescaled);
  cJSON_AddNumberToObject(root, "store_lumi_fb", r->store_lumi_fb);
  cJSON_AddNumberToObject(root, "tolerance", r->tolerance);
  cJSON_AddNumberToObject(root, "disagreeing_processes", r->n_disagree);
  cJSON *a = cJSON_AddArrayToObject(root, "processes");
  for (int p = 0; p < r->n_proc; p++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->proc[p].name);
    cJSON_AddNumberToObject(o, "events", (double)r->proc[p].n_events);
    cJSON_AddNumberToObject(o, "sigma_pb", r->proc[p].sigma_pb);
    dm_cli_json_exact(o, "weight", r->proc[p].weight);
    dm_cli_json_num(o, "own_weight_sum", r->proc[p].own_sum);
    dm_cli_json_num(o, "own_weight_min", r->proc[p].own_min);
    dm_cli_json_num(o, "own_weight_max", r->proc[p].own_max);
    dm_cli_json_num(o, "ratio_to_own", r->proc[p].ratio);
    cJSON_AddBoolToObject(o, "disagrees", r->proc[p].disagree);
    cJSON_AddItemToArray(a, o);
  }
  return root;
}

int dm_cmd_weight(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"in", required_argument, NULL, 'i'},      {"lumi", required_argument, NULL, 'l'},
      {"xsec", required_argument, NULL, 'x'},    {"allow-unknown", no_argument, NULL, 'u'},
      {"batch", required_argument, NULL, 'b'},   {"json", required_argument, NULL, 'j'},
      {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
      {"rescale-lumi", required_argument, NULL, 'r'},
      {"store-lumi", required_argument, NULL, 's'},
      {"tolerance", required_argument, NULL, 't'},
      DM_CLI_RUN_LONGOPTS,                       {NULL, 0, NULL, 0}};
  dm_weight_opts o;
  memset(&o, 0, sizeof o);
  dm_cli_run run;
  dm_cli_run_init(&run);
  o.lumi_fb = NAN;
  const char *json = NULL;
  double rescale_lumi = NAN;
  int quiet = 0;
  int64_t v = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'i': o.store_path = optarg; break;
    case 'l':
      if (dm_cli_f64("--lumi", optarg, 1e-300, 1e300, &o.lumi_fb) != DM_OK)
        return dm_cli_usage_error("weight", comm, "%s", dm_error_message());
      break;
    case 'r':
      if (dm_cli_f64("--rescale-lumi", optarg, 1e-300, 1e300, &rescale_lumi) != DM_OK)
        return dm_cli_usage_error("weight", comm, "%s", dm_error_message());
      break;
    case 's':
      if (dm_cli_f64("--store-lumi", optarg, 1e-300, 1e300, &o.store_lumi_fb) != DM_OK)
        return dm_cli_usage_error("weight", comm, "%s", dm_error_message());
      break;
    case 't':
      if (dm_cli_f64("--tolerance", optarg, 1e-15, 1e6, &o.tolerance) != DM_OK)
        return dm_cli_usage_error("weight", comm, "%s", dm_error_message());
      break;
    case 'x': o.xsec_path = optarg; break;
    case 'u': o.allow_unknown = 1; break;
    case 'b':
      if (dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 28, &v) != DM_OK)
        return dm_cli_usage_error("weight", comm, "%s", dm_error_message());
      o.batch_events = v;
      break;
    case 'j': json = optarg; break;
    case 'q': quiet = 1; break;
    case 'h': return dm_cli_help(help, comm);
    default:
      if (dm_cli_run_is_option(c)) {
        if (dm_cli_run_option(&run, c, optarg) != DM_OK)
          return dm_cli_usage_error("weight", comm, "%s", dm_error_message());
        break;
      }
      return dm_cli_usage_error("weight", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (optind < argc)
    return dm_cli_usage_error("weight", comm, "unexpected argument '%s'", argv[optind]);
  if (!o.store_path)
    return dm_cli_usage_error("weight", comm, "--in is required");
  if (!isnan(rescale_lumi)) {
    if (!isnan(o.lumi_fb) || o.xsec_path || o.allow_unknown)
      return dm_cli_usage_error("weight", comm,
                                "--rescale-lumi uses no table: give it without --lumi, --xsec "
                                "and --allow-unknown");
    o.rescale = 1;
    o.lumi_fb = rescale_lumi;
  } else if (o.store_lumi_fb > 0) {
    return dm_cli_usage_error("weight", comm, "--store-lumi goes with --rescale-lumi");
  }
  if (isnan(o.lumi_fb))
    return dm_cli_usage_error("weight", comm, "--lumi (or --rescale-lumi) is required");
  dm_weight_report rep;
  memset(&rep, 0, sizeof rep);
  dm_status s = dm_cli_run_setup(&run, comm, &o.progress, &o.progress_interval);
  if (s == DM_OK)
    s = dm_weight_run(&o, comm, &rep);
  if (s == DM_OK && dm_rank(comm) == 0) {
    if (!quiet) {
      if (rep.rescaled)
        printf("weights at %g fb^-1: the store's own /events/weight x %g / %g (no table)\n",
               rep.lumi_fb, rep.lumi_fb, rep.store_lumi_fb);
      else
        printf("weights at %g fb^-1 from %s (xxh3 %s)\n", rep.lumi_fb, rep.xsec_path,
               rep.xsec_checksum);
      printf("  %-32s %12s %12s %14s %14s %12s\n", "process", "events", "sigma [pb]",
             rep.rescaled ? "new weight" : "weight", "own weight", "ratio");
      for (int p = 0; p < rep.n_proc; p++) {
        const dm_weight_process *w = &rep.proc[p];
        double own = w->n_events > 0 ? w->own_sum / (double)w->n_events : NAN;
        printf("  %-32s %12lld %12.6g %14.8g %14.8g %12.6g%s\n", w->name, (long long)w->n_events,
               w->sigma_pb, w->weight, own, w->ratio, w->disagree ? "  <- disagrees" : "");
      }
      if (rep.n_unknown)
        printf("  %d process(es) without a cross section: weight NaN\n", rep.n_unknown);
      printf("  own weight: the store's /events/weight (mean per process); ratio = weight / "
             "own weight%s\n",
             rep.rescaled ? "" : " (1 when the table and the store agree at this luminosity)");
    }
    for (int p = 0; p < rep.n_proc; p++) {
      const dm_weight_process *w = &rep.proc[p];
      if (!w->disagree)
        continue;
      if (isnan(w->weight) && !isnan(w->own_sum))
        fprintf(stderr,
                "dmpipe weight: warning: process %s: no cross section, weight NaN; the store's "
                "own weight is %.8g\n",
                w->name, w->own_sum / (double)w->n_events);
      else if (!(w->own_max - w->own_min <=
                 rep.tolerance * fabs(w->own_sum / (double)w->n_events)))
        fprintf(stderr,
                "dmpipe weight: warning: process %s: the store's own weights vary from %.8g to "
                "%.8g within the process\n",
                w->name, w->own_min, w->own_max);
      else
        fprintf(stderr,
                "dmpipe weight: warning: process %s: weight %.8g is %.6g x the store's own "
                "/events/weight %.8g (tolerance %g)\n",
                w->name, w->weight, w->ratio, w->own_sum / (double)w->n_events, rep.tolerance);
    }
    if (!quiet) {
      printf("wrote /derived/weight for %lld events in %.2f s\n", (long long)rep.n_events,
             rep.seconds);
    }
  }
  if (s == DM_OK && json) {
    cJSON *j = dm_rank(comm) == 0 ? report_json(&rep) : NULL;
    s = dm_cli_write_json_agreed(json, j, comm);
    cJSON_Delete(j);
  }
  dm_weight_report_free(&rep);
  return dm_cli_finish("weight", s, comm);
}
