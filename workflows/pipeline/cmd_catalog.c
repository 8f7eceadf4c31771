/* dmpipe catalog: join per-sample stores into one store (dmpipe nightly's
 * catalog; stages/nightly/dm_catalog.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "dm_catalog.h"
#include "dm_cmd.h"
#include "dm_comm.h"

static const char help[] =
    "usage: dmpipe catalog --out CATALOG.h5 [--zstd-level L] [--batch N] STORE.h5...\n"
    "\n"
    "Joins per-sample stores (dmpipe ingest of one CSV file each) into one ordinary store\n"
    "that every stage and h5py read: events in the order of the arguments, obj_offset made\n"
    "global, process indices mapped onto the union of the process tables (first appearance\n"
    "first). Stores of CSV files given in the same order as to one `dmpipe ingest` give a\n"
    "catalog whose datasets equal that ingest's, and whose `inputs` attribute lists the\n"
    "same CSV checksums. Compressed columns are copied in parallel; no CSV is parsed.\n"
    "(A copy, not HDF5 virtual datasets: parallel HDF5 1.10 cannot read virtual datasets\n"
    "through MPI-IO, which every stage uses.)\n"
    "\n"
    "  --out FILE        the catalog (written as FILE.tmp, renamed on success)\n"
    "  --zstd-level L    compression, 0 = none (default 1, as ingest)\n"
    "  --batch N         events per rank per round (default 65536)\n"
    "  --quiet           no summary line\n"
    "  --help            this text\n";

int dm_cmd_catalog(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {{"out", required_argument, NULL, 'o'},
                                            {"zstd-level", required_argument, NULL, 'z'},
                                            {"batch", required_argument, NULL, 'b'},
                                            {"quiet", no_argument, NULL, 'q'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
  dm_catalog_opts o;
  memset(&o, 0, sizeof o);
  o.zstd_level = 1;
  int quiet = 0;
  int64_t v;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'o': o.out = optarg; break;
    case 'z':
      if (dm_cli_i64("--zstd-level", optarg, 0, 22, &v) != DM_OK)
        return dm_cli_usage_error("catalog", comm, "%s", dm_error_message());
      o.zstd_level = (int)v;
      break;
    case 'b':
      if (dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 28, &v) != DM_OK)
        return dm_cli_usage_error("catalog", comm, "%s", dm_error_message());
      o.batch = v;
      break;
    case 'q': quiet = 1; break;
    case 'h': return dm_cli_help(help, comm);
    default:
      return dm_cli_usage_error("catalog", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (!o.out)
    return dm_cli_usage_error("catalog", comm, "--out is required");
  if (optind >= argc)
    return dm_cli_usage_error("catalog", comm, "no sample store given");
  o.inputs = (const char *const *)argv + optind;
  o.n_inputs = argc - optind;
  o.command_line = dm_cli_command_line();
  dm_catalog_report rep;
  dm_status s = dm_catalog_run(&o, comm, &rep);
  if (s == DM_OK && !quiet && dm_rank(comm) == 0)
    printf("catalog %s: %d samples, %lld events, %lld objects, %d processes\n", o.out,
           rep.n_inputs, (long long)rep.n_events, (long long)rep.n_objects, rep.n_processes);
  return dm_cli_finish("catalog", s, comm);
}
