/* dmpipe export: flags -> dm_export_opts, run the stage, print the report. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "dm_cli_run.h"
#include "dm_cmd.h"
#include "dm_export.h"

static const char usage[] =
    "usage: dmpipe export --in STORE.h5 --out FILE.csv [--no-trailing-semicolon]\n"
    "\n"
    "Write an event store back in the Dark Machines CSV format, one line per event in\n"
    "store order (energies in MeV). Runs alone or under mpirun -np N; every rank formats\n"
    "its own blocks and writes them at their byte offsets into FILE.csv.<host>-<pid>.tmp, renamed to\n"
    "FILE.csv when every rank succeeded. Single-precision stores print 6 significant\n"
    "digits (for archive inputs, the same numbers as the input); double-precision stores\n"
    "print the shortest text that reads back to the stored value.\n"
    "\n"
    "options:\n"
    "  --in FILE                 the store to read\n"
    "  --out FILE                the CSV file to write\n"
    "  --no-trailing-semicolon   end lines without the archive's trailing ';'\n"
    "  --block-events N          events per rank per round (default 65536; memory bound)\n"
    DM_CLI_RUN_HELP
    "  --help                    this text\n";

int dm_cmd_export(int argc, char **argv, MPI_Comm comm)
{
  dm_export_opts o;
  dm_export_opts_default(&o);
  enum { O_IN = 1000, O_OUT, O_NOSEMI, O_BLOCK, O_HELP };
  static const struct option longopts[] = {{"in", required_argument, 0, O_IN},
                                           {"out", required_argument, 0, O_OUT},
                                           {"no-trailing-semicolon", no_argument, 0, O_NOSEMI},
                                           {"block-events", required_argument, 0, O_BLOCK},
                                           {"help", no_argument, 0, O_HELP},
                                           DM_CLI_RUN_LONGOPTS,
                                           {0, 0, 0, 0}};
  dm_cli_run run;
  dm_cli_run_init(&run);
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_IN: o.in = optarg; break;
    case O_OUT: o.out = optarg; break;
    case O_NOSEMI: o.trailing_semicolon = 0; break;
    case O_BLOCK:
      if (dm_cli_i64("--block-events", optarg, 1, (int64_t)1 << 30, &o.block_events) != DM_OK)
        return dm_cli_usage_error("export", comm, "%s", dm_error_message());
      break;
    case O_HELP: return dm_cli_help(usage, comm);
    default:
      if (dm_cli_run_is_option(c)) {
        if (dm_cli_run_option(&run, c, optarg) != DM_OK)
          return dm_cli_usage_error("export", comm, "%s", dm_error_message());
        break;
      }
      return dm_cli_usage_error("export", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (!o.in || !o.out)
    return dm_cli_usage_error("export", comm, "--in STORE.h5 and --out FILE.csv are required");
  if (optind < argc)
    return dm_cli_usage_error("export", comm, "unexpected argument '%s'", argv[optind]);
  dm_status out_ok = dm_cli_check_outputs(comm, "--out", o.out, NULL);
  if (out_ok != DM_OK)
    return dm_cli_finish("export", out_ok, comm);
  dm_export_report rep;
  memset(&rep, 0, sizeof rep);
  dm_status s = dm_cli_run_setup(&run, comm, &o.progress, &o.progress_interval);
  if (s == DM_OK)
    s = dm_export_run(&o, comm, &rep);
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (s == DM_OK && rank == 0) {
    printf("export: %s -> %s\n", o.in, o.out);
    printf("  %-10s %lld\n", "events", (long long)rep.n_events);
    printf("  %-10s %.1f MB\n", "written", (double)rep.bytes / 1e6);
    printf("  %-10s %.2f s, %.1f MB/s (%d ranks)\n", "time", rep.seconds,
           rep.seconds > 0 ? (double)rep.bytes / 1e6 / rep.seconds : 0.0, rep.n_ranks);
    fflush(stdout);
  }
  return dm_cli_finish("export", s, comm);
}
