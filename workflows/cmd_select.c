/* dmpipe select: a challenge channel or user cuts applied to a store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_cli_run.h"
#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_cuts.h"
#include "dm_select.h"
#include "dm_text.h"

static const char help[] =
    "usage: dmpipe select --in STORE.h5 (--channel NAME | --cuts FILE) --out SEL.h5\n"
    "                     [--cutflow FILE.json] [options]\n"
    "\n"
    "Apply one of the challenge channels or a file of cuts to a store. SEL.h5 is a\n"
    "store with the same schema (selected events in input order, their objects, the\n"
    "process table with selected counts), recording the parent's checksum and the\n"
    "cuts; its /derived (side files SEL.derived-ID*.h5) holds the derived columns of\n"
    "the selected events, the parent's weights included.\n"
    "A cutflow (count, sum of weights, sum of squared weights per process and cut,\n"
    "with SM/BSM totals) is printed on rank 0. Identical output on any rank count.\n"
    "\n"
    "  --in FILE          store to select from (read only)\n"
    "  --channel NAME     built-in channel: chan1 chan2a chan2b chan3 (GeV):\n"
    "                       chan1  ht>=600, met>=200, met/ht>=0.2, >=4 jets pT>50,\n"
    "                              >=1 jet pT>200\n"
    "                       chan2a met>=50, >=3 leptons pT>15\n"
    "                       chan2b met>=50, >=2 leptons pT>15, ht>=50\n"
    "                       chan3  ht>=600, met>=100\n"
    "  --cuts FILE        cuts from an INI file (format: data/cuts/example.ini)\n"
    "  --out FILE         selected store to write (as FILE.<host>-<pid>.tmp, then renamed)\n"
    "  --cutflow FILE     also write the cutflow as JSON\n"
    "  --xsec FILE        process table for SM/BSM totals (default: the shipped\n"
    "                     data/processes.csv); processes missing from it count as\n"
    "                     'other'\n"
    "  --batch N          events per rank per round (default 65536): bounds memory\n"
    "  --piece-objects N  read each round in pieces of at most N objects (default\n"
    "                     262144): bounds the objects held whatever the density\n"
    "  --zstd-level N     compression of SEL.h5, 0 = none (default 3)\n"
    "  --print-cuts       print the selection as a cut file and exit\n"
    "  --quiet            do not print the cutflow table\n"
    DM_CLI_RUN_HELP
    "  --help             this text\n"
    "\n"
    "Thresholds compare in the store's precision (float32 unless ingested with\n"
    "double precision): a value equal to a threshold passes '>=' and fails '>'.\n"
    "Weights for the cutflow come from /derived/weight (dmpipe weight) when present,\n"
    "else from /events/weight.\n";

int dm_cmd_select(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"in", required_argument, NULL, 'i'},      {"channel", required_argument, NULL, 'c'},
      {"cuts", required_argument, NULL, 'k'},    {"out", required_argument, NULL, 'o'},
      {"cutflow", required_argument, NULL, 'f'}, {"xsec", required_argument, NULL, 'x'},
      {"batch", required_argument, NULL, 'b'},   {"zstd-level", required_argument, NULL, 'z'},
      {"print-cuts", no_argument, NULL, 'P'},    {"quiet", no_argument, NULL, 'q'},
      {"piece-objects", required_argument, NULL, 'O'},
      {"help", no_argument, NULL, 'h'},          DM_CLI_RUN_LONGOPTS,
      {NULL, 0, NULL, 0}};
  dm_select_opts o;
  memset(&o, 0, sizeof o);
  dm_cli_run run;
  dm_cli_run_init(&run);
  const char *channel = NULL, *cuts_file = NULL;
  int quiet = 0, print_cuts = 0;
  int64_t v = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'i': o.in_path = optarg; break;
    case 'c': channel = optarg; break;
    case 'k': cuts_file = optarg; break;
    case 'o': o.out_path = optarg; break;
    case 'f': o.cutflow_path = optarg; break;
    case 'x': o.xsec_path = optarg; break;
    case 'b':
      if (dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 28, &v) != DM_OK)
        return dm_cli_usage_error("select", comm, "%s", dm_error_message());
      o.batch_events = v;
      break;
    case 'O':
      if (dm_cli_i64("--piece-objects", optarg, 1, (int64_t)1 << 40, &v) != DM_OK)
        return dm_cli_usage_error("select", comm, "%s", dm_error_message());
      o.piece_objects = v;
      break;
    case 'z':
      if (dm_cli_i64("--zstd-level", optarg, 0, 22, &v) != DM_OK)
        return dm_cli_usage_error("select", comm, "%s", dm_error_message());
      o.zstd_level = v == 0 ? -1 : (int)v;
      break;
    case 'P': print_cuts = 1; break;
    case 'q': quiet = 1; break;
    case 'h': return dm_cli_help(help, comm);
    default:
      if (dm_cli_run_is_option(c)) {
        if (dm_cli_run_option(&run, c, optarg) != DM_OK)
          return dm_cli_usage_error("select", comm, "%s", dm_error_message());
        break;
      }
      return dm_cli_usage_error("select", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (optind < argc)
    return dm_cli_usage_error("select", comm, "unexpected argument '%s'", argv[optind]);
  if (!channel == !cuts_file)
    return dm_cli_usage_error("select", comm, "give exactly one of --channel and --cuts");
  if (!print_cuts && (!o.in_path || !o.out_path))
    return dm_cli_usage_error("select", comm, "--in and --out are required");
  dm_cutset cs;
  dm_status s;
  if (channel) {
    s = dm_cuts_channel(channel, &cs);
    if (s != DM_OK)
      return dm_cli_usage_error("select", comm, "--channel: %s", dm_error_message());
  } else {
    /* Rank 0 reads the cut file and every rank parses its bytes: ranks
     * reading it themselves could see different files (a node-local path,
     * an edit in between) and run different cutflows, whose reductions
     * would not match. */
    char *text = NULL;
    size_t len = 0;
    s = dm_text_read_bcast(cuts_file, "cut file", (size_t)1 << 20, comm, &text, &len);
    if (s == DM_OK)
      s = dm_agree(dm_cuts_parse(text, cuts_file, &cs), comm);
    free(text);
    if (s != DM_OK)
      return dm_cli_finish("select", s, comm);
  }
  if (!print_cuts) {
    s = dm_cli_check_outputs(comm, "--out", o.out_path, "--cutflow", o.cutflow_path, NULL);
    if (s != DM_OK)
      return dm_cli_finish("select", s, comm);
  }
  if (print_cuts) {
    char text[8192];
    if (dm_rank(comm) == 0 && dm_cuts_format(&cs, text, sizeof text) >= 0)
      fputs(text, stdout);
    return 0;
  }
  o.cuts = &cs;
  o.command_line = dm_cli_command_line();
  dm_select_report rep;
  memset(&rep, 0, sizeof rep);
  s = dm_cli_run_setup(&run, comm, &o.progress, &o.progress_interval);
  if (s == DM_OK)
    s = dm_select_run(&o, comm, &rep);
  if (s == DM_OK && !quiet && dm_rank(comm) == 0) {
    dm_cutflow_print(stdout, &rep);
    printf("wrote %s (%lld events) in %.2f s\n", o.out_path, (long long)rep.n_out, rep.seconds);
  }
  dm_select_report_free(&rep);
  return dm_cli_finish("select", s, comm);
}
