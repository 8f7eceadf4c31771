/* dmpipe catalog: one store over per-sample stores, without a copy of their
 * events (dmpipe nightly's catalog; stages/nightly/dm_catalog.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "dm_catalog.h"
#include "dm_cmd.h"
#include "dm_comm.h"

static const char help[] =
    "usage: dmpipe catalog --out CATALOG.h5 [--zstd-level L] [--batch N] STORE.h5...\n"
    "\n"
    "Joins per-sample stores (dmpipe ingest of one CSV file each) into one store that every\n"
    "stage and h5py read as one store of all samples: events in the order of the arguments,\n"
    "obj_offset made global, process indices mapped onto the union of the process tables\n"
    "(first appearance first). Stores of CSV files given in the same order as to one\n"
    "`dmpipe ingest` give a catalog whose datasets equal that ingest's, and whose `inputs`\n"
    "attribute lists the same CSV checksums.\n"
    "\n"
    "The catalog holds no copy of the events: its columns are HDF5 virtual datasets over\n"
    "the sample stores, except obj_offset and process, which are written (in parallel;\n"
    "only these two columns of the samples are read). It reaches the samples through its\n"
    "own hard links, CATALOG.parts/NAME-ID.h5 (ID: 16 hex digits of the sample's store_id),\n"
    "so a sample store replaced later (nightly re-ingests a changed sample under the same\n"
    "name) does not change what the catalog reads; where a hard link is impossible (another\n"
    "file system) the part is a copy, and the summary says so. After the catalog is in\n"
    "place, the parts it no longer names are removed. Keep CATALOG.h5 and CATALOG.parts\n"
    "together (they move together); stages check every part when they open the catalog:\n"
    "a missing or replaced part is an error naming it. Stages open a catalog with HDF5's\n"
    "POSIX driver on every rank, since parallel HDF5 1.10 cannot read virtual datasets\n"
    "through MPI-IO.\n"
    "\n"
    "  --out FILE        the catalog (written aside and renamed on success)\n"
    "  --zstd-level L    compression of obj_offset and process, 0 = none (default 1)\n"
    "  --batch N         events per rank per round (default 1048576)\n"
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
  if (s == DM_OK && rep.n_copied > 0 && dm_rank(comm) == 0)
    fprintf(stderr,
            "dmpipe catalog: warning: %d part%s of %s copied, not hard-linked (the parts "
            "folder is on another file system, or links are not permitted there): they take "
            "their samples' space again\n",
            rep.n_copied, rep.n_copied == 1 ? "" : "s", o.out);
  if (s == DM_OK && !quiet && dm_rank(comm) == 0)
    printf("catalog %s: %d samples, %lld events, %lld objects, %d processes; parts: %d linked, "
           "%d copied, %d kept, %d removed\n",
           o.out, rep.n_inputs, (long long)rep.n_events, (long long)rep.n_objects,
           rep.n_processes, rep.n_linked, rep.n_copied, rep.n_kept, rep.n_removed);
  return dm_cli_finish("catalog", s, comm);
}
