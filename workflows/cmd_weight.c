/* dmpipe weight: cross-section weights at a luminosity, as /derived/weight. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_weight.h"

static const char help[] =
    "usage: dmpipe weight --in STORE.h5 --lumi L [--xsec FILE] [--allow-unknown] [options]\n"
    "\n"
    "Compute w = sigma[pb] x L[fb^-1] x 1000 / N for every event, with N the number of\n"
    "events of its process in the store, and store it as /derived/weight: a new\n"
    "side file STORE.derived-ID.<n>.h5 linked from the store's index, committed\n"
    "atomically; other derived columns are kept, not copied, and the store itself\n"
    "is not modified. /events/weight (the archive's own weight) is left as it is.\n"
    "A store holding exactly the 10 fb^-1 counts gets w = 1 at --lumi 10.\n"
    "\n"
    "  --in FILE         the store\n"
    "  --lumi L          integrated luminosity in fb^-1 (> 0)\n"
    "  --xsec FILE       process table (CSV: name,kind,sigma_pb,...); default: the\n"
    "                    shipped data/processes.csv\n"
    "  --allow-unknown   weight processes missing from the table (or without a cross\n"
    "                    section) as NaN instead of failing\n"
    "  --batch N         events per rank per round (default 65536)\n"
    "  --json FILE       also write the per-process weights as JSON\n"
    "  --quiet           do not print the table\n"
    "  --progress        print progress on stderr (default: when stderr is a tty)\n"
    "  --help            this text\n";

static cJSON *report_json(const dm_weight_report *r)
{
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "format", "dmpipe-weights");
  cJSON_AddNumberToObject(root, "lumi_fb", r->lumi_fb);
  cJSON_AddStringToObject(root, "xsec_table", r->xsec_path);
  cJSON_AddStringToObject(root, "xsec_checksum", r->xsec_checksum);
  cJSON_AddNumberToObject(root, "events", (double)r->n_events);
  cJSON_AddNumberToObject(root, "unknown_processes", r->n_unknown);
  cJSON *a = cJSON_AddArrayToObject(root, "processes");
  for (int p = 0; p < r->n_proc; p++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->proc[p].name);
    cJSON_AddNumberToObject(o, "events", (double)r->proc[p].n_events);
    cJSON_AddNumberToObject(o, "sigma_pb", r->proc[p].sigma_pb);
    cJSON_AddNumberToObject(o, "weight", r->proc[p].weight);
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
      {"quiet", no_argument, NULL, 'q'},         {"progress", no_argument, NULL, 'p'},
      {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
  dm_weight_opts o;
  memset(&o, 0, sizeof o);
  o.progress = dm_cli_stderr_is_tty();
  o.lumi_fb = NAN;
  const char *json = NULL;
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
    case 'x': o.xsec_path = optarg; break;
    case 'u': o.allow_unknown = 1; break;
    case 'b':
      if (dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 28, &v) != DM_OK)
        return dm_cli_usage_error("weight", comm, "%s", dm_error_message());
      o.batch_events = v;
      break;
    case 'j': json = optarg; break;
    case 'q': quiet = 1; break;
    case 'p': o.progress = 1; break;
    case 'h': return dm_cli_help(help, comm);
    default:
      return dm_cli_usage_error("weight", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (optind < argc)
    return dm_cli_usage_error("weight", comm, "unexpected argument '%s'", argv[optind]);
  if (!o.store_path)
    return dm_cli_usage_error("weight", comm, "--in is required");
  if (isnan(o.lumi_fb))
    return dm_cli_usage_error("weight", comm, "--lumi is required");
  dm_weight_report rep;
  dm_status s = dm_weight_run(&o, comm, &rep);
  if (s == DM_OK && dm_rank(comm) == 0) {
    if (!quiet) {
      printf("weights at %g fb^-1 from %s (xxh3 %s)\n", rep.lumi_fb, rep.xsec_path,
             rep.xsec_checksum);
      printf("  %-40s %14s %14s %16s\n", "process", "events", "sigma [pb]", "weight");
      for (int p = 0; p < rep.n_proc; p++)
        printf("  %-40s %14lld %14.6g %16.8g\n", rep.proc[p].name,
               (long long)rep.proc[p].n_events, rep.proc[p].sigma_pb, rep.proc[p].weight);
      if (rep.n_unknown)
        printf("  %d process(es) without a cross section: weight NaN\n", rep.n_unknown);
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
