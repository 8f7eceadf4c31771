/* dmpipe derive: the per-event derived variables of a store, as /derived. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "dm_cli_run.h"
#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_physics.h"

static const char help[] =
    "usage: dmpipe derive --in STORE.h5 [--force] [options]\n"
    "\n"
    "Compute, in one rank-parallel pass, the per-event columns ht, n_jets, n_bjets,\n"
    "n_leptons, n_photons, lead_jet_pt, met_over_ht, m_eff (GeV; jets = j and b,\n"
    "leptons = e and m; met_over_ht is +inf when ht = 0 < MET and 0 when both are 0)\n"
    "and store them under /derived (one new side file linked from the store's index,\n"
    "committed atomically; other derived columns such as weights are kept, not\n"
    "copied). Nothing is done when all of them exist already. Stages that need them\n"
    "call this themselves.\n"
    "\n"
    "  --in FILE      the store\n"
    "  --force        recompute even if the columns exist\n"
    "  --batch N      events per rank per round (default 65536)\n"
    "  --quiet        print nothing on success\n"
    DM_CLI_RUN_HELP
    "  --help         this text\n";

int dm_cmd_derive(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"in", required_argument, NULL, 'i'},    {"force", no_argument, NULL, 'f'},
      {"batch", required_argument, NULL, 'b'}, {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},        DM_CLI_RUN_LONGOPTS,
      {NULL, 0, NULL, 0}};
  dm_physics_opts o;
  memset(&o, 0, sizeof o);
  dm_cli_run run;
  dm_cli_run_init(&run);
  int quiet = 0;
  int64_t v = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'i': o.store_path = optarg; break;
    case 'f': o.force = 1; break;
    case 'b':
      if (dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 28, &v) != DM_OK)
        return dm_cli_usage_error("derive", comm, "%s", dm_error_message());
      o.batch_events = v;
      break;
    case 'q': quiet = 1; break;
    case 'h': return dm_cli_help(help, comm);
    default:
      if (dm_cli_run_is_option(c)) {
        if (dm_cli_run_option(&run, c, optarg) != DM_OK)
          return dm_cli_usage_error("derive", comm, "%s", dm_error_message());
        break;
      }
      return dm_cli_usage_error("derive", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (optind < argc)
    return dm_cli_usage_error("derive", comm, "unexpected argument '%s'", argv[optind]);
  if (!o.store_path)
    return dm_cli_usage_error("derive", comm, "--in is required");
  dm_physics_report rep;
  memset(&rep, 0, sizeof rep);
  dm_status s = dm_cli_run_setup(&run, comm, &o.progress, &o.progress_interval);
  if (s == DM_OK)
    s = dm_physics_ensure(&o, comm, &rep);
  if (s == DM_OK && !quiet && dm_rank(comm) == 0) {
    if (rep.computed)
      printf("derived columns for %lld events written in %.2f s (%.3g events/s)\n",
             (long long)rep.n_events, rep.seconds,
             rep.seconds > 0 ? (double)rep.n_events / rep.seconds : 0.0);
    else
      printf("derived columns for %lld events already present\n", (long long)rep.n_events);
  }
  return dm_cli_finish("derive", s, comm);
}
